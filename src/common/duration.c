/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * duration.c - Go's time.ParseDuration, for flags and config files written
 * for Kubernetes components (duration.h).
 */
#include "common/duration.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int duration_parse(const char *s, double *seconds)
{
	static const struct {
		const char *u;
		double mult;
	} units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
	             {"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600}};
	double total = 0, sign = 1;
	const char *p = s;

	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	if (!strcmp(p, "0")) {
		*seconds = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		double v;
		size_t k, best = 0, best_len = 0;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno || !isfinite(v) || (end[-1] == '.' && end - p == 1))
			return -EINVAL;
		p = end;
		/* the longest unit that matches: "ms" before "m" */
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			size_t ul = strlen(units[k].u);

			if (!strncmp(p, units[k].u, ul) && ul > best_len) {
				best = k;
				best_len = ul;
			}
		}
		if (!best_len)
			return -EINVAL; /* Go: "missing unit in duration" */
		total += v * units[best].mult;
		p += best_len;
	}
	*seconds = sign * total;
	return 0;
}
