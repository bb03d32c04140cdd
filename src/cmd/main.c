/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - command line: svcproxy COMMAND [OPTIONS]; see usage texts below.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/kpconfig.h"
#include "common/log.h"
#include "common/mem.h"

static const char usage_main[] =
    "Usage: svcproxy COMMAND [OPTIONS]\n"
    "\n"
    "Makes Kubernetes Service addresses real on this node: traffic to\n"
    "ServiceIP:port is rewritten by the kernel (nftables) to a ready endpoint\n"
    "PodIP:targetPort. Nothing listens on a Service address.\n"
    "\n"
    "Commands:\n"
    "  run      sync, then watch the sources and keep the kernel in sync\n"
    "  sync     one full sync to the kernel, then exit\n"
    "  check    validate manifests; touches nothing\n"
    "  show     what is programmed now, read back from the kernel\n"
    "  trace    where a new connection goes, and why, hop by hop\n"
    "  cleanup  remove everything svcproxy put in the kernel\n"
    "\n"
    "'svcproxy COMMAND --help' describes each command's options.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid input.\n";

static const char usage_source[] =
    "Source:\n"
    "  --manifests PATH            Kubernetes manifests: a file, or a directory of\n"
    "                              *.yaml, *.yml, *.json (repeatable). v1 Service,\n"
    "                              discovery.k8s.io/v1 EndpointSlice, v1 Endpoints,\n"
    "                              v1 Node; other kinds are skipped.\n"
    "  --kubeconfig FILE           the Kubernetes API, with the credentials of\n"
    "                              FILE (exclusive with --manifests)\n"
    "  --master URL                the API server's address; overrides the\n"
    "                              kubeconfig's server\n"
    "  (none of these, in a pod)   the API with the pod's service account\n";

static const char usage_validation[] =
    "Validation (what the cluster's API server allows):\n"
    "  --service-node-port-range A-B  nodePorts and healthCheckNodePorts outside\n"
    "                              it are refused (default 30000-32767)\n"
    "  --external-ip-cidrs LIST    comma-separated CIDRs: spec.externalIPs outside\n"
    "                              them are refused (CVE-2020-8554); default: any\n"
    "Unknown fields in manifests are warnings; they refuse nothing.\n";

static const char usage_proxy[] =
    "Proxy options (kube-proxy's names):\n"
    "  --hostname-override NAME    this node's name, matched against endpoints'\n"
    "                              nodeName (default: the host name)\n"
    "  --cluster-cidr LIST         comma-separated pod CIDRs (IPv4 and/or IPv6);\n"
    "                              Service traffic from outside them is masqueraded\n"
    "  --masquerade-all            masquerade all Service traffic\n"
    "  --nodeport-addresses LIST   comma-separated CIDRs and/or 'primary' (this\n"
    "                              node's primary IPs) or 'all': NodePorts only on\n"
    "                              node addresses inside them (default: 'primary'\n"
    "                              with --kubeconfig, as kube-proxy's nftables\n"
    "                              mode; every local address but loopback with\n"
    "                              --manifests)\n"
    "  --bind-address IP           this node's primary IP (kube-proxy's meaning:\n"
    "                              nothing binds to it); default: the source\n"
    "                              address of the default route, per family\n"
    "  --proxy-mode nftables       accepted for kube-proxy compatibility; other\n"
    "                              modes are an error\n"
    "  --config FILE               kube-proxy's KubeProxyConfiguration\n"
    "                              (kubeproxy.config.k8s.io/v1alpha1, YAML or\n"
    "                              JSON). As in kube-proxy, the file replaces\n"
    "                              the flags that have a field in it (they are\n"
    "                              ignored, with a warning); --hostname-override,\n"
    "                              --master, -v/--v and --log-format still apply\n"
    "  --dataplane nft|bpf         nft (default): nftables NAT for all traffic;\n"
    "                              bpf: TCP/UDP connects from this node's processes\n"
    "                              and pods, to ClusterIPs, externalIPs, LB IPs\n"
    "                              and NodePorts, are sent to an endpoint by cgroup\n"
    "                              socket programs (no NAT); nftables keeps only\n"
    "                              NodePorts, externalIPs and LB IPs for traffic\n"
    "                              from other hosts, and SCTP (no hook at all\n"
    "                              without them); ClusterIPs are not served to\n"
    "                              other hosts\n"
    "  --cgroup-root PATH          bpf: the cgroup v2 directory to attach to\n"
    "                              (default: the cgroup v2 mount)\n"
    "  --bpf-pin-path PATH         bpf: where maps and links are pinned (default\n"
    "                              /sys/fs/bpf/svcproxy; a bpffs is mounted at its\n"
    "                              parent when there is none and it is an empty\n"
    "                              directory)\n"
    "  -v, --verbose               debug logging; --v=N as kube-proxy's (N >= 4\n"
    "                              is debug)\n"
    "  --log-format text|json      one line per event (default text)\n";

static const char usage_run_extra[] =
    "Daemon options:\n"
    "  --min-sync-period DUR       least time between two syncs (default 1s);\n"
    "                              changes arriving faster are batched; also\n"
    "                              --iptables-min-sync-period\n"
    "  --sync-period DUR           full reconcile against the kernel, repairing\n"
    "                              drift (default 30s); also --iptables-sync-period\n"
    "  --healthz-bind-address A    /healthz and /livez (default 0.0.0.0:10256\n"
    "                              with --kubeconfig, 127.0.0.1:10256 with\n"
    "                              --manifests; \"\" disables)\n"
    "  --metrics-bind-address A    /metrics (default 127.0.0.1:10249; \"\" disables)\n"
    "DUR is e.g. 100ms, 1s, 2m30s. A is IP:PORT or [IPv6]:PORT.\n";

static void usage_for(const char *cmd, FILE *f)
{
	if (!strcmp(cmd, "run") || !strcmp(cmd, "sync")) {
		fprintf(
		    f, "Usage: svcproxy %s (--manifests PATH... | --kubeconfig FILE) [OPTIONS]\n\n",
		    strcmp(cmd, "run") ? "sync" : "run");
		fputs(
		    !strcmp(cmd, "run")
		        ? "Sync the Services of the sources to the kernel, then watch the sources\n"
		          "and apply every change. Stops on SIGTERM or SIGINT and leaves the\n"
		          "rules in place ('svcproxy cleanup' removes them). A restart adopts\n"
		          "what is programmed without interrupting connections. SIGHUP re-reads\n"
		          "the sources and resyncs in full; a failed sync is retried in full\n"
		          "with backoff. One instance per network namespace: a second exits 1.\n\n"
		        : "One full sync of the sources' Services to the kernel, then exit.\n"
		          "Invalid objects are reported and skipped (exit status 2); the valid\n"
		          "ones are programmed.\n\n",
		    f);
		fputs(usage_source, f);
		fputs(usage_validation, f);
		fputs(usage_proxy, f);
		if (!strcmp(cmd, "run"))
			fputs(usage_run_extra, f);
	} else if (!strcmp(cmd, "check")) {
		fputs("Usage: svcproxy check [--manifests PATH...] [--config FILE]\n\n"
		      "Validate manifests and/or a KubeProxyConfiguration file and print\n"
		      "every problem with its file, object and field (warnings for fields\n"
		      "svcproxy ignores). Touches nothing. Exit status 0 when all is valid,\n"
		      "2 otherwise.\n\n",
		      f);
		fputs(usage_source, f);
		fputs("  --config FILE               kube-proxy's KubeProxyConfiguration; prints\n"
		      "                              the settings svcproxy takes from it\n",
		      f);
		fputs(usage_validation, f);
	} else if (!strcmp(cmd, "show")) {
		fputs("Usage: svcproxy show [services|rules|bpf] [--bpf-pin-path PATH]\n\n"
		      "Read back what is programmed in the kernel now:\n"
		      "  services  each Service address with its endpoints, in slot order\n"
		      "            (default); with the bpf dataplane the table's (what enters\n"
		      "            from other hosts), then the socket programs' maps\n"
		      "  rules     the chains and rules of svcproxy's tables, as the kernel\n"
		      "            holds them (netlink bytecode)\n"
		      "  bpf       the bpf dataplane's pinned maps: each Service address\n"
		      "            with its endpoint slots, and the programs' counters\n",
		      f);
	} else if (!strcmp(cmd, "trace")) {
		fputs("Usage: svcproxy trace SRC DST:PORT [tcp|udp|sctp] [--bpf-pin-path PATH]\n\n"
		      "Explain what the kernel does with a new connection from SRC to\n"
		      "DST:PORT (default tcp), hop by hop: which chain and set decide, which\n"
		      "endpoints it may be DNATed to with their chances, masquerade or not,\n"
		      "or why it is rejected or dropped. Read from the live tables and this\n"
		      "node's addresses (run it in the node's network namespace); nothing is\n"
		      "sent. DST may be [IPv6]:PORT. With the bpf dataplane's maps pinned\n"
		      "(at --bpf-pin-path, default /sys/fs/bpf/svcproxy), it first says what\n"
		      "its socket programs do with a connect from a process in their cgroup.\n",
		      f);
	} else if (!strcmp(cmd, "cleanup")) {
		fputs("Usage: svcproxy cleanup [--kube-proxy] [--bpf-pin-path PATH]\n\n"
		      "Remove svcproxy's nftables tables and its pinned BPF maps and links\n"
		      "(which detaches its socket programs), and the bpffs it mounted for\n"
		      "them, if nothing else is in it. Established connections keep their\n"
		      "conntrack entries; nothing else in the kernel is touched.\n\n"
		      "  --bpf-pin-path PATH  where the bpf dataplane's maps and links are\n"
		      "                pinned (default /sys/fs/bpf/svcproxy)\n"
		      "  --kube-proxy  instead, remove what kube-proxy left behind, as\n"
		      "                'kube-proxy --cleanup' does: its nftables tables ip/ip6\n"
		      "                kube-proxy and its KUBE-* iptables chains (nat, filter,\n"
		      "                mangle; IPv4 and IPv6; legacy and nft), with the jumps\n"
		      "                to them. kubelet's KUBE-FIREWALL, KUBE-MARK-DROP and\n"
		      "                KUBE-KUBELET-CANARY and all other chains stay. Run it\n"
		      "                after kube-proxy is removed from the node.\n",
		      f);
	}
}

enum {
	OPT_MANIFESTS = 256,
	OPT_KUBECONFIG,
	OPT_MASTER,
	OPT_HOSTNAME,
	OPT_CLUSTER_CIDR,
	OPT_MASQ_ALL,
	OPT_NODEPORT_ADDRS,
	OPT_BIND_ADDR,
	OPT_PROXY_MODE,
	OPT_CONFIG,
	OPT_MIN_SYNC,
	OPT_SYNC,
	OPT_HEALTHZ,
	OPT_METRICS,
	OPT_LOG_FORMAT,
	OPT_KLOG_V,
	OPT_NODE_PORT_RANGE,
	OPT_EXTERNAL_IP_CIDRS,
	OPT_DATAPLANE,
	OPT_CGROUP_ROOT,
	OPT_BPF_PIN_PATH,
	OPT_HELP,
	OPT_VERSION,
	OPT_KUBE_PROXY,
	OPT_END,
};

static const struct option long_opts[] = {
    {"manifests", required_argument, NULL, OPT_MANIFESTS},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"master", required_argument, NULL, OPT_MASTER},
    {"hostname-override", required_argument, NULL, OPT_HOSTNAME},
    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
    {"masquerade-all", no_argument, NULL, OPT_MASQ_ALL},
    {"nodeport-addresses", required_argument, NULL, OPT_NODEPORT_ADDRS},
    {"bind-address", required_argument, NULL, OPT_BIND_ADDR},
    {"proxy-mode", required_argument, NULL, OPT_PROXY_MODE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"min-sync-period", required_argument, NULL, OPT_MIN_SYNC},
    {"iptables-min-sync-period", required_argument, NULL, OPT_MIN_SYNC},
    {"sync-period", required_argument, NULL, OPT_SYNC},
    {"iptables-sync-period", required_argument, NULL, OPT_SYNC},
    {"healthz-bind-address", required_argument, NULL, OPT_HEALTHZ},
    {"metrics-bind-address", required_argument, NULL, OPT_METRICS},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"service-node-port-range", required_argument, NULL, OPT_NODE_PORT_RANGE},
    {"external-ip-cidrs", required_argument, NULL, OPT_EXTERNAL_IP_CIDRS},
    {"dataplane", required_argument, NULL, OPT_DATAPLANE},
    {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
    {"bpf-pin-path", required_argument, NULL, OPT_BPF_PIN_PATH},
    {"verbose", no_argument, NULL, 'v'},
    {"v", required_argument, NULL, OPT_KLOG_V},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"kube-proxy", no_argument, NULL, OPT_KUBE_PROXY},
    {NULL, 0, NULL, 0},
};

/* What the command line said besides struct options. */
struct cmdline {
	const char *cmd;
	int verbosity;
	int json;
	bool seen[OPT_END]; /* given on the command line */
};

static int bad_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "svcproxy CMD: <message>" and a pointer to --help; returns EXIT_USAGE. */
static int bad_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "svcproxy %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'svcproxy %s --help'.\n", cmd);
	return EXIT_USAGE;
}

/* Options valid for each command. */
static bool opt_allowed(const char *cmd, int opt)
{
	bool daemon = !strcmp(cmd, "run"), syncing = daemon || !strcmp(cmd, "sync");

	switch (opt) {
	case OPT_HELP:
	case OPT_VERSION:
	case 'v':
	case OPT_KLOG_V:
	case OPT_LOG_FORMAT:
		return true;
	case OPT_MANIFESTS:
	case OPT_CONFIG:
	case OPT_NODE_PORT_RANGE:
	case OPT_EXTERNAL_IP_CIDRS:
		return syncing || !strcmp(cmd, "check");
	case OPT_KUBE_PROXY:
		return !strcmp(cmd, "cleanup");
	case OPT_KUBECONFIG:
	case OPT_MASTER:
	case OPT_HOSTNAME:
	case OPT_CLUSTER_CIDR:
	case OPT_MASQ_ALL:
	case OPT_NODEPORT_ADDRS:
	case OPT_BIND_ADDR:
	case OPT_PROXY_MODE:
	case OPT_DATAPLANE:
	case OPT_CGROUP_ROOT:
		return syncing;
	case OPT_BPF_PIN_PATH:
		return syncing || !strcmp(cmd, "cleanup") || !strcmp(cmd, "show") ||
		       !strcmp(cmd, "trace");
	default:
		return daemon;
	}
}

/*
 * --nodeport-addresses: CIDRs and the keywords 'primary' and 'all'
 * (kube-proxy's). Returns 0, or -EINVAL with *bad at the element.
 */
static int nodeport_list_parse(const char *s, struct options *o, const char **bad)
{
	char *copy = xstrdup(s), *save = NULL;
	size_t n = 2;

	for (const char *p = s; *p; p++)
		n += *p == ',';
	free(o->nodeport_cidrs);
	o->nodeport_cidrs = xcalloc(2 * n, sizeof(struct cidr));
	o->n_nodeport_cidrs = 0;
	o->nodeport_primary = false;
	for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		*bad = s + (e - copy);
		if (!strcmp(e, "primary")) {
			o->nodeport_primary = true;
		} else if (!strcmp(e, "all")) {
			cidr_parse("0.0.0.0/0", &o->nodeport_cidrs[o->n_nodeport_cidrs++]);
			cidr_parse("::/0", &o->nodeport_cidrs[o->n_nodeport_cidrs++]);
		} else if (!strchr(e, '/') ||
		           cidr_parse(e, &o->nodeport_cidrs[o->n_nodeport_cidrs++]) < 0) {
			free(copy);
			return -EINVAL;
		}
	}
	free(copy);
	return 0;
}

/* "A-B" or "A", ports 1-65535 with A <= B (kube-apiserver's PortRange). 0 or -EINVAL. */
static int port_range_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			return -EINVAL;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end || a < 1 || a > b || b > 65535)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* What the API server allows: 0, or the exit status of a usage error. */
static int take_validation_opt(const char *cmd, int opt, const char *arg, struct options *o)
{
	const char *bad = NULL;

	if (opt == OPT_NODE_PORT_RANGE) {
		if (port_range_parse(arg, &o->decode.node_port_min, &o->decode.node_port_max))
			return bad_usage(cmd,
			                 "--service-node-port-range: '%s' is not a range of ports "
			                 "like 30000-32767",
			                 arg);
		return 0;
	}
	free(o->external_ip_cidrs);
	o->external_ip_cidrs = NULL;
	o->decode.n_external_ip_cidrs = 0;
	if (*arg &&
	    cidr_list_parse(arg, &o->external_ip_cidrs, &o->decode.n_external_ip_cidrs, &bad))
		return bad_usage(cmd,
		                 "--external-ip-cidrs: '%s' is not a list of CIDRs like "
		                 "203.0.113.0/24,2001:db8::/64",
		                 arg);
	o->decode.external_ip_cidrs = o->external_ip_cidrs;
	return 0;
}

/* --(min-)sync-period and aliases: 0, or the exit status of a usage error. */
static int duration_flag(const char *cmd, int opt, const char *arg, struct options *o)
{
	double d;

	if (duration_parse(arg, &d) < 0 || d < 0)
		return bad_usage(cmd, "'%s' is not a duration like 100ms, 1s or 2m", arg);
	if (opt == OPT_MIN_SYNC)
		o->min_sync_period = d;
	else if (d == 0)
		return bad_usage(cmd, "--sync-period must be above zero");
	else
		o->sync_period = d;
	return 0;
}

/* One option of struct options; 0, or the exit status of a usage error. */
static int take_proxy_opt(const char *cmd, int opt, const char *arg, struct options *o)
{
	const char *bad = NULL;
	int ret;

	switch (opt) {
	case OPT_KUBECONFIG:
	case OPT_MASTER:
		if (!*arg)
			return bad_usage(cmd, "--%s: empty value",
			                 opt == OPT_KUBECONFIG ? "kubeconfig" : "master");
		*(opt == OPT_KUBECONFIG ? &o->kubeconfig : &o->master) = arg;
		return 0;
	case OPT_CONFIG:
		if (!*arg)
			return bad_usage(cmd, "--config: empty file name");
		o->config = arg;
		return 0;
	case OPT_HOSTNAME:
		if (!*arg)
			return bad_usage(cmd, "--hostname-override: empty name");
		o->hostname = arg;
		return 0;
	case OPT_CLUSTER_CIDR:
		free(o->cluster_cidrs);
		ret = cidr_list_parse(arg, &o->cluster_cidrs, &o->n_cluster_cidrs, &bad);
		if (ret)
			return bad_usage(cmd,
			                 "--cluster-cidr: '%s' is not a list of CIDRs like "
			                 "10.244.0.0/16,fd00:10:244::/48",
			                 arg);
		return 0;
	case OPT_MASQ_ALL:
		o->masquerade_all = true;
		return 0;
	case OPT_NODEPORT_ADDRS:
		if (nodeport_list_parse(arg, o, &bad))
			return bad_usage(
			    cmd,
			    "--nodeport-addresses: '%.*s' is not a CIDR like 192.168.0.0/24, "
			    "'primary' or 'all'",
			    (int)strcspn(bad, ","), bad);
		return 0;
	case OPT_BIND_ADDR:
		if (ipaddr_parse(arg, &o->bind_address) < 0)
			return bad_usage(cmd, "--bind-address: '%s' is not an IP address", arg);
		if (!memcmp(o->bind_address.raw, (uint8_t[16]){0}, ipaddr_len(&o->bind_address)))
			o->bind_address.family = 0; /* 0.0.0.0 / ::, kube-proxy's "unset" */
		return 0;
	case OPT_PROXY_MODE:
		if (*arg && strcmp(arg, "nftables"))
			return bad_usage(cmd,
			                 "--proxy-mode: '%s' is not supported: svcproxy programs "
			                 "nftables (--proxy-mode nftables)",
			                 arg);
		return 0;
	case OPT_MIN_SYNC:
	case OPT_SYNC:
		return duration_flag(cmd, opt, arg, o);
	case OPT_DATAPLANE:
		if (strcmp(arg, "nft") && strcmp(arg, "bpf"))
			return bad_usage(cmd, "--dataplane: '%s' is neither nft nor bpf", arg);
		o->dataplane_bpf = !strcmp(arg, "bpf");
		return 0;
	case OPT_CGROUP_ROOT:
	case OPT_BPF_PIN_PATH:
		if (*arg != '/')
			return bad_usage(cmd, "--%s: '%s' is not an absolute path",
			                 opt == OPT_CGROUP_ROOT ? "cgroup-root" : "bpf-pin-path",
			                 arg);
		*(opt == OPT_CGROUP_ROOT ? &o->cgroup_root : &o->bpf_pin_path) = arg;
		return 0;
	case OPT_HEALTHZ:
		o->healthz_addr = arg;
		return 0;
	case OPT_METRICS:
		o->metrics_addr = arg;
		return 0;
	case OPT_NODE_PORT_RANGE:
	case OPT_EXTERNAL_IP_CIDRS:
		return take_validation_opt(cmd, opt, arg, o);
	}
	return 0;
}

/* getopt loop. Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct cmdline *cl, struct options *o)
{
	const char *cmd = cl->cmd;
	char *end;
	int opt, ret, li;
	long v;

	optind = 2;
	opterr = 0;
	while ((li = -1, opt = getopt_long(argc, argv, "v", long_opts, &li)) != -1) {
		if (opt == '?')
			return bad_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return bad_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (!opt_allowed(cmd, opt))
			return bad_usage(cmd, "option '%s%s' does not apply to this command",
			                 li >= 0 ? "--" : "-", li >= 0 ? long_opts[li].name : "v");
		if (opt < OPT_END)
			cl->seen[opt] = true;
		switch (opt) {
		case OPT_HELP:
			usage_for(cmd, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			printf("svcproxy %s\n", SVCPROXY_VERSION);
			return EXIT_OK;
		case 'v':
			cl->verbosity++;
			break;
		case OPT_KLOG_V:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0 || v > 100)
				return bad_usage(cmd, "--v: '%s' is not a log level (0-100)",
				                 optarg);
			/* klog: 0-3 are the info levels, 4 and up debug */
			cl->verbosity = v >= 4;
			break;
		case OPT_LOG_FORMAT:
			if (!strcmp(optarg, "json"))
				cl->json = 1;
			else if (strcmp(optarg, "text"))
				return bad_usage(cmd, "--log-format: '%s' is neither text nor json",
				                 optarg);
			else
				cl->json = 0;
			break;
		case OPT_MANIFESTS:
			o->manifests[o->n_manifests++] = optarg;
			break;
		case OPT_KUBE_PROXY:
			break; /* seen[] */
		default:
			ret = take_proxy_opt(cmd, opt, optarg, o);
			if (ret)
				return ret;
		}
	}
	return -1;
}

/* The host name, lower-cased, as kube-proxy's default node name. */
static void default_hostname(char *host, size_t len)
{
	if (gethostname(host, len) < 0)
		snprintf(host, len, "localhost");
	host[len - 1] = '\0';
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* After a successful parse: what the source and defaults need. */
static int finish_options(struct cmdline *cl, struct options *o, char *host, size_t host_len)
{
	const char *cmd = cl->cmd;
	bool api;

	o->in_cluster = !o->n_manifests && !o->kubeconfig && !o->master &&
	                getenv("KUBERNETES_SERVICE_HOST") && strcmp(cmd, "check");
	api = o->kubeconfig || o->master || o->in_cluster;

	if (o->n_manifests && api)
		return bad_usage(cmd, "--manifests and %s are exclusive: one source at a time",
		                 o->kubeconfig ? "--kubeconfig" : "--master");
	if (!strcmp(cmd, "check"))
		return o->n_manifests || o->config
		           ? -1
		           : bad_usage(cmd,
		                       "nothing to check: --manifests PATH and/or --config FILE");
	if (!o->n_manifests && !api)
		return bad_usage(cmd, "a source is needed: --manifests PATH or --kubeconfig FILE "
		                      "(or in-cluster credentials in a Pod)");
	/* kube-proxy's defaults with an API source; loopback for manifests (SPEC §4) */
	if (api && !o->config && !cl->seen[OPT_HEALTHZ])
		o->healthz_addr = "0.0.0.0:10256";
	if (api && !o->config && !cl->seen[OPT_NODEPORT_ADDRS])
		o->nodeport_primary = true;
	if (!o->hostname) {
		default_hostname(host, host_len);
		o->hostname = host;
	}
	return -1;
}

/* Flags the config file replaces (kube-proxy: "ignored if --config is given"). */
static const struct {
	int opt;
	const char *name;
} config_fields[] = {
    {OPT_KUBECONFIG, "--kubeconfig"},        {OPT_CLUSTER_CIDR, "--cluster-cidr"},
    {OPT_MASQ_ALL, "--masquerade-all"},      {OPT_NODEPORT_ADDRS, "--nodeport-addresses"},
    {OPT_BIND_ADDR, "--bind-address"},       {OPT_PROXY_MODE, "--proxy-mode"},
    {OPT_MIN_SYNC, "--min-sync-period"},     {OPT_SYNC, "--sync-period"},
    {OPT_HEALTHZ, "--healthz-bind-address"}, {OPT_METRICS, "--metrics-bind-address"},
};

/*
 * --config FILE: load it and let it replace the flags that have a field,
 * as kube-proxy's Options.Complete() does; the logging flags and
 * --hostname-override given on the command line win over the file.
 * Warnings go to *warns. Returns -1 to go on, else the exit status.
 */
static int config_apply(struct cmdline *cl, struct options *o, struct kpconfig *kc,
                        struct diag *warns)
{
	struct diag errs = {0};

	if (kpconfig_load(o->config, kc, &errs, warns) < 0) {
		for (size_t i = 0; i < warns->n; i++)
			fprintf(stderr, "svcproxy %s: warning: %s\n", cl->cmd, warns->msgs[i]);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "svcproxy %s: %s\n", cl->cmd, errs.msgs[i]);
		diag_clear(&errs);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(config_fields) / sizeof(config_fields[0]); i++)
		if (cl->seen[config_fields[i].opt])
			diag_add(warns,
			         "%s is ignored because --config is given (as in kube-proxy): "
			         "set it in %s",
			         config_fields[i].name, o->config);
	if (kc->kubeconfig && o->n_manifests)
		return bad_usage(cl->cmd,
		                 "%s sets clientConnection.kubeconfig: it cannot be combined with "
		                 "--manifests",
		                 o->config);
	o->kubeconfig = kc->kubeconfig;
	if (!cl->seen[OPT_HOSTNAME] && kc->hostname)
		o->hostname = kc->hostname;
	o->healthz_addr = kc->healthz_addr;
	o->metrics_addr = kc->metrics_addr;
	o->bind_address = kc->bind_address;
	free(o->cluster_cidrs);
	o->cluster_cidrs = kc->cluster_cidrs;
	o->n_cluster_cidrs = kc->n_cluster_cidrs;
	kc->cluster_cidrs = NULL;
	free(o->nodeport_cidrs);
	o->nodeport_cidrs = kc->nodeport_cidrs;
	o->n_nodeport_cidrs = kc->n_nodeport_cidrs;
	kc->nodeport_cidrs = NULL;
	/* unset: 'primary' in nftables mode or from the API (in-cluster too), as kube-proxy */
	o->nodeport_primary =
	    kc->nodeport_primary ||
	    (!kc->nodeport_set && (kc->nftables_mode || o->kubeconfig || o->master ||
	                           (!o->n_manifests && getenv("KUBERNETES_SERVICE_HOST"))));
	o->masquerade_all = kc->masquerade_all;
	o->sync_period = kc->sync_period;
	o->min_sync_period = kc->min_sync_period;
	if (!cl->seen['v'] && !cl->seen[OPT_KLOG_V] && kc->verbosity >= 0)
		cl->verbosity = kc->verbosity >= 4;
	if (!cl->seen[OPT_LOG_FORMAT] && kc->log_json >= 0)
		cl->json = kc->log_json;
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = {
	    .min_sync_period = 1,
	    .sync_period = 30,
	    .healthz_addr = "127.0.0.1:10256",
	    .metrics_addr = "127.0.0.1:10249",
	};
	struct cmdline cl = {0};
	struct kpconfig kc = {0};
	struct diag warns = {0};
	const char *cmd;
	char host[256];
	int ret;

	/*
	 * A fixed mmap threshold (glibc's default value, but no longer raised
	 * on the fly when a mapped block is freed): blocks of 128 KiB and more
	 * (the model's growing arrays, the sync's buffers) are mapped and go
	 * back to the kernel when freed, instead of leaving holes in the heap
	 * after the threshold has grown. 5 MB less peak RSS at 10k Services x
	 * 10 endpoints (with the read buffers reused, manifest_impl.h), no
	 * measurable cost in time.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("svcproxy %s\n", SVCPROXY_VERSION);
		return EXIT_OK;
	}
	cmd = cl.cmd = argv[1];
	if (strcmp(cmd, "run") && strcmp(cmd, "sync") && strcmp(cmd, "check") &&
	    strcmp(cmd, "show") && strcmp(cmd, "cleanup") && strcmp(cmd, "trace")) {
		fprintf(stderr, "svcproxy: unknown command '%s'\n\n%s", cmd, usage_main);
		return EXIT_USAGE;
	}

	const char *manifests[argc]; /* at most one per argument; nothing to free */

	o.manifests = manifests;
	ret = parse_args(argc, argv, &cl, &o);
	if (ret >= 0)
		goto out;
	ret = EXIT_OK;
	if (!strcmp(cmd, "show")) {
		const char *what = optind < argc ? argv[optind++] : "services";

		log_setup(cl.verbosity, cl.json);
		if (optind < argc)
			return bad_usage(cmd, "unexpected argument '%s'", argv[optind]);
		return cmd_show(what, &o);
	}
	if (!strcmp(cmd, "trace")) {
		log_setup(cl.verbosity, cl.json);
		if (argc - optind < 2 || argc - optind > 3)
			return bad_usage(cmd, "needs SRC DST:PORT [tcp|udp|sctp]");
		return cmd_trace(argv[optind], argv[optind + 1],
		                 argc - optind == 3 ? argv[optind + 2] : NULL, o.bpf_pin_path);
	}
	if (optind < argc) {
		ret = bad_usage(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!strcmp(cmd, "cleanup")) {
		log_setup(cl.verbosity, cl.json);
		return cl.seen[OPT_KUBE_PROXY] ? cmd_cleanup_kube_proxy() : cmd_cleanup(&o);
	}
	if (o.config) {
		ret = config_apply(&cl, &o, &kc, &warns);
		if (ret >= 0)
			goto out;
	}
	log_setup(cl.verbosity, cl.json);
	for (size_t i = 0; i < warns.n; i++) {
		if (!strcmp(cmd, "check"))
			fprintf(stderr, "warning: %s\n", warns.msgs[i]);
		else
			log_warn("config", "%s", warns.msgs[i]);
	}
	ret = finish_options(&cl, &o, host, sizeof(host));
	if (ret >= 0)
		goto out;
	if (!strcmp(cmd, "check")) {
		ret = o.config ? config_print(&o, &kc) : EXIT_OK;
		if (o.n_manifests && cmd_check(&o) != EXIT_OK)
			ret = EXIT_USAGE;
		goto out;
	}
	if (o.nodeport_primary)
		nodeport_resolve_primary(&o);
	if (o.config && !strcmp(cmd, "run"))
		conntrack_apply_config(&kc.ct);
	ret = cmd_run(&o, !strcmp(cmd, "sync"));
out:
	diag_clear(&warns);
	kpconfig_free(&kc);
	free(o.cluster_cidrs);
	free(o.nodeport_cidrs);
	free(o.external_ip_cidrs);
	return ret;
}
