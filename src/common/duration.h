/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * duration.h - durations as Kubernetes components write them.
 */
#ifndef SVCPROXY_DURATION_H
#define SVCPROXY_DURATION_H

/*
 * Go's time.ParseDuration ("300ms", "1.5h", "2h45m", "0"; units ns, us, µs,
 * ms, s, m, h; a sign allowed) into seconds. Returns 0, or -EINVAL.
 */
int duration_parse(const char *s, double *seconds);

#endif
