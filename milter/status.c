/*
 * status.c - the milter's status file.  See pd_status.h.
 */
#include "pd_status.h"
#include "pd_stats.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const names[PD_ST_COUNT] = {
    "pid", "started", "updated", "redis_up", "journal_open", "mails", "recorded", "ignored",
    "truncated", "parse_failures", "own_digests", "not_recorded", "journal_errors", "direct",
    "direct_shipped", "direct_waiting", "direct_lost", "journal_backlog_bytes",
    "journal_backlog_records", "journal_skipped_bytes", "shipped", "new_mails", "duplicates",
    "replays", "refused", "redis_round_trips", "last_shipped",
    "failovers", "last_failover", "replicas_waiting",
};

/* For Prometheus: the metric (NULL: not exported), its type and help. */
static const struct {
    const char *metric, *type, *help;
} prom[PD_ST_COUNT] = {
    [PD_ST_STARTED] = { "patchdigest_milter_start_time_seconds", "gauge",
                        "When the milter started (unix time)." },
    [PD_ST_REDIS_UP] = { "patchdigest_redis_up", "gauge",
                         "1 when the milter's last Redis call worked." },
    [PD_ST_JOURNAL_OPEN] = { "patchdigest_journal_open", "gauge",
                             "0 while JournalDir cannot be opened." },
    [PD_ST_MAILS] = { "patchdigest_mails_total", "counter",
                      "Mails answered at end of message." },
    [PD_ST_RECORDED] = { "patchdigest_records_total", "counter",
                         "Records made (a mail for two lists makes two)." },
    [PD_ST_IGNORED] = { "patchdigest_ignored_mails_total", "counter",
                        "Mails for no configured list." },
    [PD_ST_TRUNCATED] = { "patchdigest_truncated_mails_total", "counter",
                          "Mails longer than MaxMessageBytes, recorded from their head." },
    [PD_ST_PARSE_FAILURES] = { "patchdigest_parse_failures_total", "counter",
                               "Malformed mails, recorded as well as they could be." },
    [PD_ST_OWN_DIGESTS] = { "patchdigest_own_digests_total", "counter",
                            "patchdigest's own digests, skipped." },
    [PD_ST_NOT_RECORDED] = { "patchdigest_not_recorded_mails_total", "counter",
                             "Mails not recorded for lack of memory." },
    [PD_ST_JOURNAL_ERRORS] = { "patchdigest_journal_errors_total", "counter",
                               "Records the journal could not take." },
    [PD_ST_DIRECT] = { "patchdigest_direct_records_total", "counter",
                       "Records the journal could not take, kept in memory for Redis." },
    [PD_ST_DIRECT_WAITING] = { "patchdigest_direct_records_waiting", "gauge",
                               "Records waiting in memory for Redis." },
    [PD_ST_DIRECT_LOST] = { "patchdigest_direct_records_lost_total", "counter",
                            "Records lost: neither the journal nor memory could keep them." },
    [PD_ST_BACKLOG_BYTES] = { "patchdigest_journal_backlog_bytes", "gauge",
                              "Journal bytes not yet in Redis." },
    [PD_ST_BACKLOG_RECORDS] = { "patchdigest_journal_backlog_records", "gauge",
                                "Journal records not yet in Redis." },
    [PD_ST_SKIPPED_BYTES] = { "patchdigest_journal_skipped_bytes_total", "counter",
                              "Corrupt journal bytes skipped." },
    [PD_ST_SHIPPED] = { "patchdigest_shipped_records_total", "counter",
                        "Records Redis answered for." },
    [PD_ST_DUPLICATES] = { "patchdigest_duplicate_records_total", "counter",
                           "Records of Message-IDs Redis had seen before." },
    [PD_ST_REFUSED] = { "patchdigest_refused_records_total", "counter",
                        "Records Redis refused as malformed." },
    [PD_ST_ROUND_TRIPS] = { "patchdigest_redis_round_trips_total", "counter",
                            "Redis round trips of the writer." },
    [PD_ST_LAST_SHIPPED] = { "patchdigest_last_shipped_time_seconds", "gauge",
                             "When Redis last took a batch (unix time, 0 never)." },
    [PD_ST_FAILOVERS] = { "patchdigest_redis_failovers_total", "counter",
                          "Times the master the sentinels name changed." },
    [PD_ST_LAST_FAILOVER] = { "patchdigest_redis_last_failover_time_seconds", "gauge",
                              "When the milter last saw the master change (unix time, 0 never)." },
    [PD_ST_REPLICAS_WAITING] = { "patchdigest_redis_replicas_waiting", "gauge",
                                 "1 while records wait in the journal for RedisReplicas replicas." },
};

/* The master's address as it may stand in a line, a JSON string and a
 * Prometheus label: printable ASCII without blanks, quotes or backslashes. */
static bool address_ok(const char *a)
{
    for (; *a; a++)
        if (*a <= ' ' || *a >= 127 || *a == '"' || *a == '\\')
            return false;
    return true;
}

const char *pd_status_name(enum pd_status_field f)
{
    return (unsigned)f < PD_ST_COUNT ? names[f] : "?";
}

int pd_status_write(const char *path, const struct pd_status *st)
{
    pd_buf b = PD_BUF_INIT;
    for (int i = 0; i < PD_ST_COUNT; i++)
        if (pd_buf_printf(&b, "%s %lld\n", names[i], st->v[i]) < 0) {
            pd_buf_free(&b);
            errno = ENOMEM;
            return -1;
        }
    if (st->redis_master[0] && address_ok(st->redis_master) &&
        pd_buf_printf(&b, "redis_master %s\n", st->redis_master) < 0) {
        pd_buf_free(&b);
        errno = ENOMEM;
        return -1;
    }
    pd_buf tmp = PD_BUF_INIT;
    if (pd_buf_printf(&tmp, "%s.tmp", path) < 0) {
        pd_buf_free(&b);
        errno = ENOMEM;
        return -1;
    }
    int rc = -1, e = 0;
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
    } else {
        ssize_t n = write(fd, b.data, b.len);
        e = n < 0 ? errno : ENOSPC;
        if (close(fd) < 0 && n == (ssize_t)b.len) {
            e = errno;
            n = -1;
        }
        if (n == (ssize_t)b.len) {
            rc = rename(tmp.data, path);
            e = errno;
        }
        if (rc < 0)
            unlink(tmp.data);
    }
    pd_buf_free(&b);
    pd_buf_free(&tmp);
    errno = e;
    return rc;
}

int pd_status_read(const char *path, struct pd_status *st)
{
    memset(st, 0, sizeof *st);
    pd_buf b = PD_BUF_INIT;
    if (pd_read_file(path, &b) < 0) {
        int e = errno;
        pd_buf_free(&b);
        errno = e;
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(b.data ? b.data : "", "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        if (strcmp(line, "redis_master") == 0 && address_ok(sp + 1))
            snprintf(st->redis_master, sizeof st->redis_master, "%s", sp + 1);
        for (int i = 0; i < PD_ST_COUNT; i++)
            if (strcmp(line, names[i]) == 0)
                st->v[i] = strtoll(sp + 1, NULL, 10);
    }
    pd_buf_free(&b);
    return 0;
}

int pd_status_json(pd_buf *out, const struct pd_status *st, int64_t now)
{
    if (pd_buf_printf(out, "{\"age\":%lld", (long long)(now - st->v[PD_ST_UPDATED])) < 0)
        return -1;
    for (int i = 0; i < PD_ST_COUNT; i++)
        if (pd_buf_printf(out, ",\"%s\":%lld", names[i], st->v[i]) < 0)
            return -1;
    if (pd_buf_puts(out, ",\"redis_master\":") < 0 ||
        (st->redis_master[0] ? pd_json_string(out, st->redis_master) : pd_buf_puts(out, "null")) < 0)
        return -1;
    return pd_buf_putc(out, '}');
}

static int status_text_main(pd_buf *out, const struct pd_status *st, int64_t now)
{
    const long long *v = st->v;
    long long age = (long long)now - v[PD_ST_UPDATED];
    return pd_buf_printf(
        out,
        "milter: pid %lld, status %lld s old%s\n"
        "  Redis %s, journal %s: %lld records (%lld bytes) wait for Redis\n"
        "  mails %lld: recorded %lld, ignored %lld, truncated %lld, malformed %lld, "
        "own digests %lld, not recorded %lld\n"
        "  journal errors %lld: sent directly to Redis %lld, waiting in memory %lld, lost %lld\n"
        "  shipped %lld: new %lld, duplicates %lld, replays %lld, refused %lld; "
        "%lld round trips\n",
        v[PD_ST_PID], age, age > 10 ? " (not running?)" : "", v[PD_ST_REDIS_UP] ? "up" : "DOWN",
        v[PD_ST_JOURNAL_OPEN] ? "open" : "NOT OPEN", v[PD_ST_BACKLOG_RECORDS],
        v[PD_ST_BACKLOG_BYTES], v[PD_ST_MAILS],
        v[PD_ST_RECORDED], v[PD_ST_IGNORED], v[PD_ST_TRUNCATED], v[PD_ST_PARSE_FAILURES],
        v[PD_ST_OWN_DIGESTS], v[PD_ST_NOT_RECORDED], v[PD_ST_JOURNAL_ERRORS],
        v[PD_ST_DIRECT_SHIPPED], v[PD_ST_DIRECT_WAITING], v[PD_ST_DIRECT_LOST],
        v[PD_ST_SHIPPED], v[PD_ST_NEW_MAILS], v[PD_ST_DUPLICATES], v[PD_ST_REPLAYS],
        v[PD_ST_REFUSED], v[PD_ST_ROUND_TRIPS]) < 0 ? -1 : 0;
}

/* Redis Sentinel (issue 19): the master in use, failovers seen. */
static int status_text_master(pd_buf *out, const struct pd_status *st)
{
    const long long *v = st->v;
    if (!st->redis_master[0] && !v[PD_ST_FAILOVERS])
        return 0;
    if (pd_buf_printf(out, "  Redis master %s; failovers seen %lld",
                      st->redis_master[0] ? st->redis_master : "(none yet)",
                      v[PD_ST_FAILOVERS]) < 0)
        return -1;
    if (v[PD_ST_LAST_FAILOVER]) {
        time_t t = (time_t)v[PD_ST_LAST_FAILOVER];
        struct tm tm;
        char when[64];
        if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
            snprintf(when, sizeof when, "%lld", v[PD_ST_LAST_FAILOVER]);
        if (pd_buf_printf(out, ", the last at %s", when) < 0)
            return -1;
    }
    return pd_buf_printf(out, "%s\n", v[PD_ST_REPLICAS_WAITING]
                         ? "; records wait for the replicas (RedisReplicas)" : "") < 0 ? -1 : 0;
}

int pd_status_text(pd_buf *out, const struct pd_status *st, int64_t now)
{
    return status_text_main(out, st, now) < 0 || status_text_master(out, st) < 0 ? -1 : 0;
}

int pd_status_prometheus(pd_buf *out, const struct pd_status *st, int64_t now)
{
    long long age = st ? (long long)now - st->v[PD_ST_UPDATED] : -1;
    if (pd_buf_printf(out, "# HELP patchdigest_milter_up 1 when the milter's status file was "
                           "updated in the last 10 seconds.\n"
                           "# TYPE patchdigest_milter_up gauge\n"
                           "patchdigest_milter_up %d\n",
                      st && age >= 0 && age <= 10) < 0)
        return -1;
    if (!st)
        return 0;
    for (int i = 0; i < PD_ST_COUNT; i++)
        if (prom[i].metric &&
            pd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", prom[i].metric,
                          prom[i].help, prom[i].metric, prom[i].type, prom[i].metric,
                          st->v[i]) < 0)
            return -1;
    if (st->redis_master[0] &&
        pd_buf_printf(out, "# HELP patchdigest_redis_master The Redis master the milter uses "
                           "(the label), always 1.\n"
                           "# TYPE patchdigest_redis_master gauge\n"
                           "patchdigest_redis_master{address=\"%s\"} 1\n", st->redis_master) < 0)
        return -1;
    return 0;
}
