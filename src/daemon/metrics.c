/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.c - sync counters, the sync-duration histogram and proxy health.
 *
 * Every field of struct metrics_state is written by the sync loop (main
 * thread) and read by the HTTP thread, always under state_lock. Readers copy
 * a snapshot under the lock and format it outside, so a slow client never
 * holds up a sync.
 *
 * Health follows kube-proxy's proxierHealthServer
 * (pkg/proxy/healthcheck/proxier_health.go):
 *
 *   event                      oldest pending queue      last updated
 *   -------------------------  ------------------------  ------------
 *   start                      none                      never
 *   metrics_change_queued()    set if none, else kept    -
 *   metrics_sync_done(ok)      cleared                   now
 *   metrics_sync_done(failed)  kept                      -
 *
 *   healthy  <=>  (never synced || no pending queue || now - oldest pending < health_timeout)
 *                 && (no heartbeat yet ||  now - last heartbeat < health_timeout)
 *
 * The heartbeat is ours (kube-proxy's loop cannot block in the ways a
 * single-threaded C loop can): the main loop beats at every turn, and a
 * loop that stopped turning is unhealthy after the same timeout as a
 * change left unsynced.
 *
 * The age of the pending queue is measured on CLOCK_MONOTONIC so a wall
 * clock step cannot flip health; the times reported (JSON, gauges) are
 * wall clock.
 */
#include "daemon/metrics.h"

#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* kube-proxy: prometheus.ExponentialBuckets(0.001, 2, 15) */
#define SYNC_BUCKETS      15
#define SYNC_BUCKET_START 0.001
/*
 * kube-proxy's network programming buckets: merge() starts from a 0 bucket,
 * then 0.25, 0.5; 1..59 by 1; 60..115 by 5; 120..300 by 30.
 */
#define NETPROG_BUCKETS 81
/* trigger times remembered between two syncs; more are dropped */
#define TRIGGERS_MAX 4096

/* One histogram: per-bucket (not cumulative) counts, [n] the +Inf overflow. */
struct histo {
	uint64_t b[NETPROG_BUCKETS + 1];
	uint64_t count;
	double sum;
};

/* Per address family: index 0 IPv4, 1 IPv6 (label ip_family). */
struct fam_state {
	struct histo sync, full, partial, netprog;
	uint64_t nft_sync_failures;
};

struct metrics_state {
	double health_timeout; /* seconds */

	bool beating;                     /* metrics_heartbeat() was called */
	struct timespec beat_mono;        /* its last call */
	bool queued;                      /* a change is waiting for a successful sync */
	struct timespec queued_mono;      /* when the oldest such change arrived */
	bool synced;                      /* at least one sync has succeeded */
	struct timespec last_ok_real;     /* wall time of the last successful sync */
	struct timespec last_queued_real; /* wall time of the last queued change */

	uint64_t service_changes;
	uint64_t endpoint_changes;
	uint64_t syncs_ok;
	uint64_t syncs_error;
	unsigned programmed_services;
	unsigned programmed_endpoints;
	bool node_ineligible; /* the Node is being deleted (metrics_set_node_eligible) */
	/* kubeproxy_{livez,healthz}_total: [healthz][healthy] answers */
	uint64_t probe_total[2][2];

	struct fam_state fam[2];
	unsigned services_pending, endpoints_pending;
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_state state;
/* last-change-trigger-times of EndpointSlices waiting for a sync (state_lock);
 * kept out of state, which readers copy */
static double triggers[TRIGGERS_MAX];
static int trigger_fam[TRIGGERS_MAX];
static size_t n_triggers;

static void lock(void)
{
	pthread_mutex_lock(&state_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&state_lock);
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static double ts_seconds(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

/* Upper bound of histogram bucket i; exact, as 0.001 * 2^i is a scaling by a power of two. */
static double sync_bucket_le(int i)
{
	return ldexp(SYNC_BUCKET_START, i);
}

static double netprog_bucket_le(int i)
{
	if (i < 3)
		return 0.25 * i; /* 0, 0.25, 0.5 */
	if (i < 3 + 59)
		return i - 2; /* 1 .. 59 */
	if (i < 3 + 59 + 12)
		return 60 + 5 * (i - 62); /* 60 .. 115 */
	return 120 + 30 * (i - 74);       /* 120 .. 300 */
}

static void histo_observe(struct histo *h, int n, double (*le)(int), double v)
{
	int i;

	for (i = 0; i < n; i++)
		if (v <= le(i))
			break;
	h->b[i]++;
	h->count++;
	h->sum += v;
}

static int fam_index(int family)
{
	return family == AF_INET6 ? 1 : 0;
}

/*
 * Reset everything and set the health timeout (kube-proxy uses twice the
 * sync period). A timeout <= 0 makes any queued change unhealthy at once.
 */
void metrics_init(double health_timeout_sec)
{
	lock();
	memset(&state, 0, sizeof(state));
	n_triggers = 0;
	state.health_timeout = health_timeout_sec;
	unlock();
}

void metrics_heartbeat(void)
{
	struct timespec mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	lock();
	state.beating = true;
	state.beat_mono = mono;
	unlock();
}

/*
 * Record that a change needs a sync. Only the oldest pending change counts
 * for health (as kube-proxy's QueuedUpdate); the last_queued gauge follows
 * every call.
 */
void metrics_change_queued(void)
{
	struct timespec mono, real;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	lock();
	if (!state.queued) {
		state.queued = true;
		state.queued_mono = mono;
	}
	state.last_queued_real = real;
	unlock();
}

void metrics_add_changes(unsigned services, unsigned endpoints)
{
	lock();
	state.service_changes += services;
	state.endpoint_changes += endpoints;
	unlock();
}

/*
 * Every sync, ok or failed, is observed in the duration histograms of both
 * families (one pass programs both), in the full or partial one as well
 * (as kube-proxy does); only a successful one clears the pending queue,
 * moves the last-sync timestamp and observes the network programming
 * latency of the EndpointSlice changes it applied. A negative or NaN
 * duration counts as 0.
 */
void metrics_sync_result(double duration_sec, bool full, int failed_family)
{
	struct timespec real;
	double now;

	if (!(duration_sec > 0))
		duration_sec = 0;
	clock_gettime(CLOCK_REALTIME, &real);
	now = ts_seconds(&real);
	lock();
	for (int f = 0; f < 2; f++) {
		struct fam_state *fs = &state.fam[f];

		histo_observe(&fs->sync, SYNC_BUCKETS, sync_bucket_le, duration_sec);
		histo_observe(full ? &fs->full : &fs->partial, SYNC_BUCKETS, sync_bucket_le,
		              duration_sec);
	}
	if (failed_family) {
		state.fam[fam_index(failed_family)].nft_sync_failures++;
		state.syncs_error++;
		unlock();
		return;
	}
	state.syncs_ok++;
	state.queued = false;
	state.synced = true;
	state.last_ok_real = real;
	state.services_pending = state.endpoints_pending = 0;
	for (size_t i = 0; i < n_triggers; i++) {
		double lat = now - triggers[i];

		histo_observe(&state.fam[trigger_fam[i]].netprog, NETPROG_BUCKETS,
		              netprog_bucket_le, lat > 0 ? lat : 0);
	}
	n_triggers = 0;
	unlock();
}

void metrics_sync_done(double duration_sec, int ok)
{
	metrics_sync_result(duration_sec, false, ok ? 0 : AF_INET);
}

void metrics_note_trigger_time(int family, double unix_seconds)
{
	lock();
	if (n_triggers < TRIGGERS_MAX) {
		triggers[n_triggers] = unix_seconds;
		trigger_fam[n_triggers++] = fam_index(family);
	}
	unlock();
}

void metrics_add_pending(unsigned services, unsigned endpoints)
{
	lock();
	state.services_pending += services;
	state.endpoints_pending += endpoints;
	unlock();
}

void metrics_set_programmed(unsigned services, unsigned endpoints)
{
	lock();
	state.programmed_services = services;
	state.programmed_endpoints = endpoints;
	unlock();
}

/*
 * Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros
 * dropped) in UTC; NULL (never happened) prints Go's zero time, which is
 * what kube-proxy reports in that case.
 */
static void fmt_rfc3339(char *buf, size_t len, const struct timespec *t)
{
	char date[32], frac[16] = "";
	struct tm tm;

	if (!t) {
		snprintf(buf, len, "0001-01-01T00:00:00Z");
		return;
	}
	gmtime_r(&t->tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (t->tv_nsec) {
		size_t n;

		snprintf(frac, sizeof(frac), ".%09ld", (long)t->tv_nsec);
		for (n = strlen(frac); frac[n - 1] == '0';)
			frac[--n] = '\0';
	}
	snprintf(buf, len, "%s%sZ", date, frac);
}

void metrics_set_node_eligible(bool eligible)
{
	lock();
	state.node_ineligible = !eligible;
	unlock();
}

/*
 * kube-proxy's ProxyHealthServer.Health() and its JSON (json.Marshal of
 * ProxyHealth): healthy while starting up (no sync yet) or when no change
 * has waited longer than the timeout. svcproxy syncs both families in one
 * pass, so both carry the same status once a sync has succeeded. As
 * kube-proxy, a healthy answer reports lastUpdated = currentTime at the top
 * level (compatibility with releases where it meant "the sync loop ran").
 *
 * /healthz (healthz true) adds nodeEligible and is healthy only when the
 * Node is eligible and - unlike kube-proxy, as issue 8 asks - after the
 * first successful sync, so a readiness probe never passes on rules built
 * from nothing. Returns 1 healthy, 0 not; the body is truncated (still
 * NUL-terminated) if len is short; 512 bytes is always enough.
 */
static int health_body(char *buf, size_t len, bool healthz)
{
	struct timespec mono, real, last_ok;
	char last_s[48], now_s[48], fam_s[48], eligible[32] = "", status[256] = "";
	bool healthy, synced, node_ok;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	lock();
	synced = state.synced;
	healthy =
	    !synced || !state.queued || ts_diff(&mono, &state.queued_mono) < state.health_timeout;
	if (state.beating && ts_diff(&mono, &state.beat_mono) >= state.health_timeout)
		healthy = false;
	last_ok = state.last_ok_real;
	node_ok = !state.node_ineligible;
	unlock();

	fmt_rfc3339(now_s, sizeof(now_s), &real);
	fmt_rfc3339(last_s, sizeof(last_s), healthy ? &real : synced ? &last_ok : NULL);
	if (synced) {
		fmt_rfc3339(fam_s, sizeof(fam_s), &last_ok);
		snprintf(status, sizeof(status),
		         ",\"status\":{\"IPv4\":{\"lastUpdated\":\"%s\",\"healthy\":%s},"
		         "\"IPv6\":{\"lastUpdated\":\"%s\",\"healthy\":%s}}",
		         fam_s, healthy ? "true" : "false", fam_s, healthy ? "true" : "false");
	}
	if (healthz)
		snprintf(eligible, sizeof(eligible), ",\"nodeEligible\":%s",
		         node_ok ? "true" : "false");
	if (buf && len)
		snprintf(buf, len,
		         "{\"lastUpdated\":\"%s\",\"currentTime\":\"%s\"%s,"
		         "\"healthy\":%s%s}",
		         last_s, now_s, eligible, healthy ? "true" : "false", status);
	if (healthz)
		healthy = healthy && node_ok && synced;
	lock();
	state.probe_total[healthz][healthy]++;
	unlock();
	return healthy ? 1 : 0;
}

int metrics_health(char *buf, size_t len)
{
	return health_body(buf, len, false);
}

int metrics_healthz(char *buf, size_t len)
{
	return health_body(buf, len, true);
}

/*
 * Shortest decimal form that reads back as the same double, laid out as
 * Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' client uses
 * for values and bucket bounds: "10", "0.25", "1e+06", "1e-05".
 */
static void fmt_float(char *buf, size_t len, double v)
{
	char e[32];
	int prec, exp, eprec = 6;

	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	exp = atoi(strchr(e, 'e') + 1);
	/* Go: shortest uses precision 6 for the choice, or the digit count
	 * when all digits are before the point */
	if (eprec > prec && prec >= exp + 1)
		eprec = prec;
	if (exp < -4 || exp >= eprec)
		snprintf(buf, len, "%.*e", prec - 1, v);
	else
		snprintf(buf, len, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
}

static void write_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_gauge(FILE *f, const char *name, const char *help, double v)
{
	char num[32];

	fmt_float(num, sizeof(num), v);
	write_header(f, name, "gauge", help);
	fprintf(f, "%s %s\n", name, num);
}

static void write_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	write_header(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static const char *const fam_label[2] = {"IPv4", "IPv6"};

/* One histogram family with the ip_family label, both families. */
static void write_histo(FILE *f, const char *name, const char *help, const struct fam_state *fam,
                        size_t off, int n, double (*le)(int))
{
	char les[32], num[32];

	write_header(f, name, "histogram", help);
	for (int fi = 0; fi < 2; fi++) {
		const struct histo *h = (const struct histo *)((const char *)&fam[fi] + off);
		uint64_t cum = 0;

		for (int i = 0; i <= n; i++) {
			cum += h->b[i];
			fmt_float(les, sizeof(les), i < n ? le(i) : INFINITY);
			fprintf(f, "%s_bucket{ip_family=\"%s\",le=\"%s\"} %llu\n", name,
			        fam_label[fi], les, (unsigned long long)cum);
		}
		fmt_float(num, sizeof(num), h->sum);
		fprintf(f, "%s_sum{ip_family=\"%s\"} %s\n", name, fam_label[fi], num);
		fprintf(f, "%s_count{ip_family=\"%s\"} %llu\n", name, fam_label[fi],
		        (unsigned long long)h->count);
	}
}

/* A gauge with the same value for both families (one pass programs both). */
static void write_fam_gauge(FILE *f, const char *name, const char *help, double v)
{
	char num[32];

	fmt_float(num, sizeof(num), v);
	write_header(f, name, "gauge", help);
	for (int fi = 0; fi < 2; fi++)
		fprintf(f, "%s{ip_family=\"%s\"} %s\n", name, fam_label[fi], num);
}

/* set before the HTTP thread starts, read-only after: no lock */
static void (*write_extra)(FILE *f);

void metrics_set_extra(void (*write)(FILE *f))
{
	write_extra = write;
}

void metrics_write_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	write_counter(f, name, help, v);
}

/*
 * Prometheus text format 0.0.4. kube-proxy's metrics keep its names,
 * labels (ip_family: one series per family) and help text (with the
 * "[ALPHA]" tag component-base adds); svcproxy_* are ours. Write errors
 * are left in f's error indicator for the caller.
 */
void metrics_write(FILE *f)
{
	struct metrics_state s;

	lock();
	s = state;
	unlock();

	write_histo(f, "kubeproxy_sync_proxy_rules_duration_seconds",
	            "[ALPHA] SyncProxyRules latency in seconds", s.fam,
	            offsetof(struct fam_state, sync), SYNC_BUCKETS, sync_bucket_le);
	write_histo(f, "kubeproxy_sync_full_proxy_rules_duration_seconds",
	            "[ALPHA] SyncProxyRules latency in seconds for full resyncs", s.fam,
	            offsetof(struct fam_state, full), SYNC_BUCKETS, sync_bucket_le);
	write_histo(f, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
	            "[ALPHA] SyncProxyRules latency in seconds for partial resyncs", s.fam,
	            offsetof(struct fam_state, partial), SYNC_BUCKETS, sync_bucket_le);
	write_histo(f, "kubeproxy_network_programming_duration_seconds",
	            "[ALPHA] In Cluster Network Programming Latency in seconds", s.fam,
	            offsetof(struct fam_state, netprog), NETPROG_BUCKETS, netprog_bucket_le);
	write_fam_gauge(f, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
	                "[ALPHA] The last time proxy rules were successfully synced",
	                s.synced ? ts_seconds(&s.last_ok_real) : 0);
	write_fam_gauge(f, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
	                "[ALPHA] The last time a sync of proxy rules was queued",
	                ts_seconds(&s.last_queued_real));
	write_header(f, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total", "counter",
	             "[ALPHA] Cumulative proxy nftables sync failures");
	for (int fi = 0; fi < 2; fi++)
		fprintf(f,
		        "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"%s\"} "
		        "%llu\n",
		        fam_label[fi], (unsigned long long)s.fam[fi].nft_sync_failures);
	write_gauge(f, "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
	            "[ALPHA] Pending proxy rules Endpoint changes", s.endpoints_pending);
	write_counter(f, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
	              "[ALPHA] Cumulative proxy rules Endpoint changes", s.endpoint_changes);
	write_gauge(f, "kubeproxy_sync_proxy_rules_service_changes_pending",
	            "[ALPHA] Pending proxy rules Service changes", s.services_pending);
	write_counter(f, "kubeproxy_sync_proxy_rules_service_changes_total",
	              "[ALPHA] Cumulative proxy rules Service changes", s.service_changes);
	for (int hz = 0; hz < 2; hz++) {
		const char *name =
		    hz ? "kubeproxy_proxy_healthz_total" : "kubeproxy_proxy_livez_total";

		write_header(f, name, "counter",
		             hz ? "[ALPHA] Cumulative proxy healthz HTTP status"
		                : "[ALPHA] Cumulative proxy livez HTTP status");
		fprintf(f, "%s{code=\"200\"} %llu\n", name,
		        (unsigned long long)s.probe_total[hz][1]);
		fprintf(f, "%s{code=\"503\"} %llu\n", name,
		        (unsigned long long)s.probe_total[hz][0]);
	}

	write_header(f, "svcproxy_syncs_total", "counter",
	             "Syncs of the dataplane, by result (ok, error)");
	fprintf(f, "svcproxy_syncs_total{result=\"ok\"} %llu\n", (unsigned long long)s.syncs_ok);
	fprintf(f, "svcproxy_syncs_total{result=\"error\"} %llu\n",
	        (unsigned long long)s.syncs_error);
	write_gauge(f, "svcproxy_programmed_services",
	            "Services svcproxy has programmed in the dataplane", s.programmed_services);
	write_gauge(f, "svcproxy_programmed_endpoints",
	            "Endpoints svcproxy has programmed in the dataplane", s.programmed_endpoints);
	if (write_extra)
		write_extra(f);
}
