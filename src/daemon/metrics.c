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
 *   healthy  <=>  no pending queue  ||  now - oldest pending < health_timeout
 *
 * The age of the pending queue is measured on CLOCK_MONOTONIC so a wall
 * clock step cannot flip health; the times reported (JSON, gauges) are
 * wall clock.
 */
#include "daemon/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* kube-proxy: prometheus.ExponentialBuckets(0.001, 2, 15) */
#define SYNC_BUCKETS      15
#define SYNC_BUCKET_START 0.001

struct metrics_state {
	double health_timeout; /* seconds */

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

	/* per-bucket (not cumulative) counts; [SYNC_BUCKETS] is the +Inf overflow */
	uint64_t sync_bucket[SYNC_BUCKETS + 1];
	uint64_t sync_count;
	double sync_sum;
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_state state;

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

/*
 * Reset everything and set the health timeout (kube-proxy uses twice the
 * sync period). A timeout <= 0 makes any queued change unhealthy at once.
 */
void metrics_init(double health_timeout_sec)
{
	lock();
	memset(&state, 0, sizeof(state));
	state.health_timeout = health_timeout_sec;
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
 * Every sync, ok or failed, is observed in the duration histogram (as
 * kube-proxy does); only a successful one clears the pending queue and
 * moves the last-sync timestamp. A negative or NaN duration counts as 0.
 */
void metrics_sync_done(double duration_sec, int ok)
{
	struct timespec real;
	int i;

	if (!(duration_sec > 0))
		duration_sec = 0;
	clock_gettime(CLOCK_REALTIME, &real);
	lock();
	for (i = 0; i < SYNC_BUCKETS; i++)
		if (duration_sec <= sync_bucket_le(i))
			break;
	state.sync_bucket[i]++;
	state.sync_count++;
	state.sync_sum += duration_sec;
	if (ok) {
		state.syncs_ok++;
		state.queued = false;
		state.synced = true;
		state.last_ok_real = real;
	} else {
		state.syncs_error++;
	}
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

/* Shortest decimal form that reads back as the same double (as Go's 'g', -1). */
static void fmt_float(char *buf, size_t len, double v)
{
	int prec;

	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, len, "%.17g", v);
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

/*
 * Prometheus text format 0.0.4. kube-proxy's metrics keep its names and
 * help text (with the "[ALPHA]" tag component-base adds); svcproxy_* are
 * ours. Write errors are left in f's error indicator for the caller.
 */
void metrics_write(FILE *f)
{
	static const char dur[] = "kubeproxy_sync_proxy_rules_duration_seconds";
	struct metrics_state s;
	char le[32], num[32];
	uint64_t cum = 0;
	int i;

	lock();
	s = state;
	unlock();

	write_header(f, dur, "histogram", "[ALPHA] SyncProxyRules latency in seconds");
	for (i = 0; i <= SYNC_BUCKETS; i++) {
		cum += s.sync_bucket[i];
		fmt_float(le, sizeof(le), i < SYNC_BUCKETS ? sync_bucket_le(i) : INFINITY);
		fprintf(f, "%s_bucket{le=\"%s\"} %llu\n", dur, le, (unsigned long long)cum);
	}
	fmt_float(num, sizeof(num), s.sync_sum);
	fprintf(f, "%s_sum %s\n", dur, num);
	fprintf(f, "%s_count %llu\n", dur, (unsigned long long)s.sync_count);

	write_gauge(f, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
	            "[ALPHA] The last time proxy rules were successfully synced",
	            s.synced ? ts_seconds(&s.last_ok_real) : 0);
	write_gauge(f, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
	            "[ALPHA] The last time a sync of proxy rules was queued",
	            ts_seconds(&s.last_queued_real));
	write_counter(f, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
	              "[ALPHA] Cumulative proxy rules Endpoint changes", s.endpoint_changes);
	write_counter(f, "kubeproxy_sync_proxy_rules_service_changes_total",
	              "[ALPHA] Cumulative proxy rules Service changes", s.service_changes);

	for (int hz = 0; hz < 2; hz++) {
		const char *name = hz ? "kubeproxy_healthz_total" : "kubeproxy_livez_total";

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
}
