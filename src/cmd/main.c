/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - command line: svcproxy COMMAND [OPTIONS]; see usage texts below.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
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
    "                              kubeconfig's server\n";

static const char usage_proxy[] =
    "Proxy options (kube-proxy's names):\n"
    "  --hostname-override NAME    this node's name, matched against endpoints'\n"
    "                              nodeName (default: the host name)\n"
    "  --cluster-cidr LIST         comma-separated pod CIDRs (IPv4 and/or IPv6);\n"
    "                              Service traffic from outside them is masqueraded\n"
    "  --masquerade-all            masquerade all Service traffic\n"
    "  --nodeport-addresses LIST   comma-separated CIDRs: NodePorts only on node\n"
    "                              addresses inside them (default: every local\n"
    "                              address but loopback)\n"
    "  -v, --verbose               debug logging\n"
    "  --log-format text|json      one line per event (default text)\n";

static const char usage_run_extra[] =
    "Daemon options:\n"
    "  --min-sync-period DUR       least time between two syncs (default 1s);\n"
    "                              changes arriving faster are batched\n"
    "  --sync-period DUR           full reconcile against the kernel, repairing\n"
    "                              drift (default 30s)\n"
    "  --healthz-bind-address A    /healthz and /livez (default 127.0.0.1:10256;\n"
    "                              \"\" disables)\n"
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
		          "what is programmed without interrupting connections.\n\n"
		        : "One full sync of the sources' Services to the kernel, then exit.\n"
		          "Invalid objects are reported and skipped (exit status 2); the valid\n"
		          "ones are programmed.\n\n",
		    f);
		fputs(usage_source, f);
		fputs(usage_proxy, f);
		if (!strcmp(cmd, "run"))
			fputs(usage_run_extra, f);
	} else if (!strcmp(cmd, "check")) {
		fputs("Usage: svcproxy check --manifests PATH...\n\n"
		      "Validate manifests and print every problem with its file, object and\n"
		      "field. Touches nothing. Exit status 0 when all is valid, 2 otherwise.\n\n",
		      f);
		fputs(usage_source, f);
	} else if (!strcmp(cmd, "show")) {
		fputs("Usage: svcproxy show [services|rules]\n\n"
		      "Read back what is programmed in the kernel now:\n"
		      "  services  each Service address with its endpoints, in slot order\n"
		      "            (default)\n"
		      "  rules     the chains and rules of svcproxy's tables, as the kernel\n"
		      "            holds them (netlink bytecode)\n",
		      f);
	} else if (!strcmp(cmd, "trace")) {
		fputs("Usage: svcproxy trace SRC DST:PORT [tcp|udp|sctp]\n\n"
		      "Explain what the kernel does with a new connection from SRC to\n"
		      "DST:PORT (default tcp), hop by hop: which chain and set decide, which\n"
		      "endpoints it may be DNATed to with their chances, masquerade or not,\n"
		      "or why it is rejected or dropped. Read from the live tables and this\n"
		      "node's addresses (run it in the node's network namespace); nothing is\n"
		      "sent. DST may be [IPv6]:PORT.\n",
		      f);
	} else if (!strcmp(cmd, "cleanup")) {
		fputs("Usage: svcproxy cleanup\n\n"
		      "Remove svcproxy's nftables tables. Established connections keep their\n"
		      "conntrack entries; nothing else in the kernel is touched.\n",
		      f);
	}
}

/* Go-style duration: "1s", "100ms", "2m30s", "1h". Returns seconds or -1. */
static double parse_duration(const char *s)
{
	double total = 0;
	const char *p = s;

	if (!*p)
		return -1;
	if (!strcmp(p, "0"))
		return 0;
	while (*p) {
		char *end;
		double v;
		double mult;

		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno || v < 0 || !isfinite(v))
			return -1;
		p = end;
		if (!strncmp(p, "ms", 2)) {
			mult = 1e-3;
			p += 2;
		} else if (!strncmp(p, "us", 2)) {
			mult = 1e-6;
			p += 2;
		} else if (!strncmp(p, "ns", 2)) {
			mult = 1e-9;
			p += 2;
		} else if (*p == 's') {
			mult = 1;
			p++;
		} else if (*p == 'm') {
			mult = 60;
			p++;
		} else if (*p == 'h') {
			mult = 3600;
			p++;
		} else {
			return -1;
		}
		total += v * mult;
	}
	return total;
}

enum {
	OPT_MANIFESTS = 256,
	OPT_KUBECONFIG,
	OPT_MASTER,
	OPT_HOSTNAME,
	OPT_CLUSTER_CIDR,
	OPT_MASQ_ALL,
	OPT_NODEPORT_ADDRS,
	OPT_MIN_SYNC,
	OPT_SYNC,
	OPT_HEALTHZ,
	OPT_METRICS,
	OPT_LOG_FORMAT,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"manifests", required_argument, NULL, OPT_MANIFESTS},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"master", required_argument, NULL, OPT_MASTER},
    {"hostname-override", required_argument, NULL, OPT_HOSTNAME},
    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
    {"masquerade-all", no_argument, NULL, OPT_MASQ_ALL},
    {"nodeport-addresses", required_argument, NULL, OPT_NODEPORT_ADDRS},
    {"min-sync-period", required_argument, NULL, OPT_MIN_SYNC},
    {"sync-period", required_argument, NULL, OPT_SYNC},
    {"healthz-bind-address", required_argument, NULL, OPT_HEALTHZ},
    {"metrics-bind-address", required_argument, NULL, OPT_METRICS},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
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
	case 'v':
	case OPT_LOG_FORMAT:
		return true;
	case OPT_MANIFESTS:
		return syncing || !strcmp(cmd, "check");
	case OPT_KUBECONFIG:
	case OPT_MASTER:
	case OPT_HOSTNAME:
	case OPT_CLUSTER_CIDR:
	case OPT_MASQ_ALL:
	case OPT_NODEPORT_ADDRS:
		return syncing;
	default:
		return daemon;
	}
}

int main(int argc, char **argv)
{
	struct options o = {
	    .min_sync_period = 1,
	    .sync_period = 30,
	    .healthz_addr = "127.0.0.1:10256",
	    .metrics_addr = "127.0.0.1:10249",
	};
	const char *cmd;
	int verbosity = 0, json = 0, opt, ret;
	char host[256];

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	cmd = argv[1];
	if (strcmp(cmd, "run") && strcmp(cmd, "sync") && strcmp(cmd, "check") &&
	    strcmp(cmd, "show") && strcmp(cmd, "cleanup") && strcmp(cmd, "trace")) {
		fprintf(stderr, "svcproxy: unknown command '%s'\n\n%s", cmd, usage_main);
		return EXIT_USAGE;
	}

	const char *manifests[argc]; /* at most one per argument; nothing to free */

	o.manifests = manifests;
	optind = 2;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "v", long_opts, NULL)) != -1) {
		const char *bad = NULL;

		if (opt == '?')
			return bad_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return bad_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (!opt_allowed(cmd, opt))
			return bad_usage(cmd, "option '%s' does not apply to this command",
			                 argv[optind - 1]);
		switch (opt) {
		case OPT_HELP:
			usage_for(cmd, stdout);
			return EXIT_OK;
		case 'v':
			verbosity++;
			break;
		case OPT_LOG_FORMAT:
			if (!strcmp(optarg, "json"))
				json = 1;
			else if (strcmp(optarg, "text"))
				return bad_usage(cmd, "--log-format: '%s' is neither text nor json",
				                 optarg);
			break;
		case OPT_MANIFESTS:
			o.manifests[o.n_manifests++] = optarg;
			break;
		case OPT_KUBECONFIG:
		case OPT_MASTER:
			if (!*optarg)
				return bad_usage(cmd, "--%s: empty value",
				                 opt == OPT_KUBECONFIG ? "kubeconfig" : "master");
			*(opt == OPT_KUBECONFIG ? &o.kubeconfig : &o.master) = optarg;
			break;
		case OPT_HOSTNAME:
			if (!*optarg)
				return bad_usage(cmd, "--hostname-override: empty name");
			o.hostname = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			free(o.cluster_cidrs);
			ret = cidr_list_parse(optarg, &o.cluster_cidrs, &o.n_cluster_cidrs, &bad);
			if (ret)
				return bad_usage(cmd,
				                 "--cluster-cidr: '%s' is not a list of CIDRs like "
				                 "10.244.0.0/16,fd00:10:244::/48",
				                 optarg);
			break;
		case OPT_MASQ_ALL:
			o.masquerade_all = true;
			break;
		case OPT_NODEPORT_ADDRS:
			free(o.nodeport_cidrs);
			ret = cidr_list_parse(optarg, &o.nodeport_cidrs, &o.n_nodeport_cidrs, &bad);
			if (ret)
				return bad_usage(
				    cmd,
				    "--nodeport-addresses: '%s' is not a list of CIDRs "
				    "like 192.168.0.0/24,fd00::/64",
				    optarg);
			break;
		case OPT_MIN_SYNC:
		case OPT_SYNC: {
			double d = parse_duration(optarg);

			if (d < 0)
				return bad_usage(cmd, "'%s' is not a duration like 100ms, 1s or 2m",
				                 optarg);
			if (opt == OPT_MIN_SYNC)
				o.min_sync_period = d;
			else if (d == 0)
				return bad_usage(cmd, "--sync-period must be above zero");
			else
				o.sync_period = d;
			break;
		}
		case OPT_HEALTHZ:
			o.healthz_addr = optarg;
			break;
		case OPT_METRICS:
			o.metrics_addr = optarg;
			break;
		}
	}
	log_setup(verbosity, json);

	if (!strcmp(cmd, "show")) {
		const char *what = optind < argc ? argv[optind++] : "services";

		if (optind < argc)
			return bad_usage(cmd, "unexpected argument '%s'", argv[optind]);
		return cmd_show(what);
	}
	if (!strcmp(cmd, "trace")) {
		if (argc - optind < 2 || argc - optind > 3)
			return bad_usage(cmd, "needs SRC DST:PORT [tcp|udp|sctp]");
		return cmd_trace(argv[optind], argv[optind + 1],
		                 argc - optind == 3 ? argv[optind + 2] : NULL);
	}
	if (optind < argc)
		return bad_usage(cmd, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(cmd, "cleanup"))
		return cmd_cleanup();
	if (o.n_manifests && (o.kubeconfig || o.master))
		return bad_usage(cmd, "--manifests and %s are exclusive: one source at a time",
		                 o.kubeconfig ? "--kubeconfig" : "--master");
	if (!o.n_manifests && !o.kubeconfig && !o.master)
		return bad_usage(cmd, "a source is needed: --manifests PATH or --kubeconfig FILE");
	if (!o.n_manifests) /* the API source is wired in by source/kube */
		return bad_usage(cmd, "the Kubernetes API source is not available yet");
	if (!strcmp(cmd, "check"))
		return cmd_check(&o);

	if (!o.hostname) {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		for (char *p = host; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		o.hostname = host;
	}
	ret = cmd_run(&o, !strcmp(cmd, "sync"));
	free(o.cluster_cidrs);
	free(o.nodeport_cidrs);
	return ret;
}
