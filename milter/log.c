/*
 * log.c - stderr or syslog logging, one line per event, level-filtered.
 * See pd_log.h.
 */
#include "pd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "patchdigest";
static int log_syslog;
static volatile int log_level = PD_LOG_INFO;

static const char *const level_names[] = { "err", "warning", "notice", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

void pd_log_open(const char *ident, int to_syslog, enum pd_loglevel level)
{
    log_ident = ident;
    log_syslog = to_syslog;
    log_level = level;
    if (to_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void pd_log_set_level(enum pd_loglevel level)
{
    log_level = level;
}

int pd_log_parse_level(const char *s)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(s, "error") == 0)
        return PD_LOG_ERR;
    return -1;
}

void pd_log(enum pd_loglevel level, const char *fmt, ...)
{
    if ((int)level > log_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (log_syslog) {
        syslog(syslog_prio[level], "%s", line);
        return;
    }
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    fprintf(stderr, "%s[%s]: %s\n", log_ident, level_names[level], line);
}
