/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - one line per event, text or JSON, to stderr.
 *
 * Every line names its subsystem ("manifest", "nft", "sync", ...).
 * Text:  2026-11-27T05:10:19.123Z info  sync: 3 services, 5 endpoints, 1.2 ms
 * JSON:  {"ts":"...","level":"info","subsys":"sync","msg":"..."}
 */
#ifndef SVCPROXY_LOG_H
#define SVCPROXY_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* verbosity: 0 = info and above, >=1 adds debug (-v) */
void log_setup(int verbosity, int json);
int log_json_enabled(void);
void log_msg(enum log_level lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(sub, ...)   log_msg(LOG_LVL_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_LVL_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_LVL_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_msg(LOG_LVL_DEBUG, sub, __VA_ARGS__)

#endif
