/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int log_verbosity;
static int log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(int verbosity, int json)
{
	log_verbosity = verbosity;
	log_json = json;
}

int log_json_enabled(void)
{
	return log_json;
}

/* Write s as a JSON string body (no quotes). */
static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_msg(enum log_level lvl, const char *subsys, const char *fmt, ...)
{
	char msg[4096], ts[64];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (lvl == LOG_LVL_DEBUG && log_verbosity < 1)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);

	flockfile(stderr);
	if (log_json) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"subsys\":\"", ts,
		        level_names[lvl]);
		json_escape(stderr, subsys);
		fputs("\",\"msg\":\"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s %s: %s\n", ts, level_names[lvl], subsys, msg);
	}
	funlockfile(stderr);
}
