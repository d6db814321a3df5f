/*
 * pd_log.h - one logging call for every module.
 *
 * Log lines are single lines: pd_log() replaces any control character in the
 * formatted text by a space, so nothing a mail contains can forge a log line.
 * Before pd_log_open() lines go to stderr.  pd_log_open(ident, to_syslog,
 * level) chooses syslog (daemon facility) or stderr and the lowest level
 * written.  Thread-safe.
 */
#ifndef PD_LOG_H
#define PD_LOG_H

enum pd_loglevel { PD_LOG_ERR = 0, PD_LOG_WARNING, PD_LOG_NOTICE, PD_LOG_INFO, PD_LOG_DEBUG };

void pd_log_open(const char *ident, int to_syslog, enum pd_loglevel level);
void pd_log_set_level(enum pd_loglevel level);
/* Parse "err", "warning", "notice", "info", "debug"; -1 when unknown. */
int pd_log_parse_level(const char *s);
void pd_log(enum pd_loglevel level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
