/*
 * pd_status.h - the milter's health, as the status file it writes and
 * "patchdigest stats" reads.
 *
 * The milter fills a struct pd_status from its counters and the writer's
 * (pd_writer_get_stats) about once a second and writes it with
 * pd_status_write(): "name value" lines, replaced atomically (write a
 * temporary file, rename), so a reader never sees half a file.  The values
 * are counts since the milter started, except where the name says otherwise.
 *
 *   struct pd_status st = { 0 };
 *   st.v[PD_ST_MAILS] = ...;
 *   pd_status_write(cfg.status_file, &st);          0, or -1 with errno
 *
 *   if (pd_status_read(cfg.status_file, &st) == 0)  -1 with errno (ENOENT: no milter)
 *       pd_status_json(&buf, &st, now);     or _text, _prometheus
 */
#ifndef PD_STATUS_H
#define PD_STATUS_H

#include "pd_util.h"

#include <stdint.h>

enum pd_status_field {
    PD_ST_PID,                 /* the milter's process id */
    PD_ST_STARTED,             /* unix time it started */
    PD_ST_UPDATED,             /* unix time of this status */
    PD_ST_REDIS_UP,            /* 1 when the writer's last Redis call worked */
    PD_ST_JOURNAL_OPEN,        /* 0 while JournalDir cannot be opened */
    PD_ST_MAILS,               /* mails answered at end of message */
    PD_ST_RECORDED,            /* records made (a mail for two lists makes two) */
    PD_ST_IGNORED,             /* mails for no configured list */
    PD_ST_TRUNCATED,           /* mails longer than MaxMessageBytes */
    PD_ST_PARSE_FAILURES,      /* malformed mails, recorded as well as they could be */
    PD_ST_OWN_DIGESTS,         /* our own digests, skipped */
    PD_ST_NOT_RECORDED,        /* mails lost to out of memory */
    PD_ST_JOURNAL_ERRORS,      /* records the journal could not take */
    PD_ST_DIRECT,              /* ... of them kept in memory for Redis */
    PD_ST_DIRECT_SHIPPED,      /* ... of those Redis took */
    PD_ST_DIRECT_WAITING,      /* ... waiting in memory now */
    PD_ST_DIRECT_LOST,         /* ... dropped: memory limit reached (not recorded) */
    PD_ST_BACKLOG_BYTES,       /* journal bytes not yet in Redis */
    PD_ST_BACKLOG_RECORDS,     /* journal records not yet in Redis */
    PD_ST_SKIPPED_BYTES,       /* corrupt journal bytes skipped */
    PD_ST_SHIPPED,             /* records Redis answered for */
    PD_ST_NEW_MAILS,           /* ... that were new Message-IDs */
    PD_ST_DUPLICATES,          /* ... that were Message-IDs seen before */
    PD_ST_REPLAYS,             /* ... that Redis already had (journal replay) */
    PD_ST_REFUSED,             /* ... that Redis refused as malformed */
    PD_ST_ROUND_TRIPS,         /* Redis round trips of the writer */
    PD_ST_LAST_SHIPPED,        /* unix time of the last batch Redis took, 0 never */
    /* Redis Sentinel and replicas (issue 19) */
    PD_ST_FAILOVERS,           /* times the sentinels' master changed */
    PD_ST_LAST_FAILOVER,       /* unix time of the last change, 0 never */
    PD_ST_REPLICAS_WAITING,    /* 1 while records wait for RedisReplicas replicas */
    PD_ST_COUNT
};

struct pd_status {
    long long v[PD_ST_COUNT];
    /* the Redis (master) the writer uses or last used: "host:port", "" none;
     * the line "redis_master <address>" of the file */
    char redis_master[300];
};

/* The field's name in the file and in JSON, e.g. "journal_errors". */
const char *pd_status_name(enum pd_status_field f);

int pd_status_write(const char *path, const struct pd_status *st);
/* Names it does not know are skipped (a newer milter may write more). */
int pd_status_read(const char *path, struct pd_status *st);
/* As a JSON object; "age" is now minus updated. */
int pd_status_json(pd_buf *out, const struct pd_status *st, int64_t now);
int pd_status_text(pd_buf *out, const struct pd_status *st, int64_t now);
/* In Prometheus' text format; st NULL (no status file): patchdigest_milter_up 0 alone. */
int pd_status_prometheus(pd_buf *out, const struct pd_status *st, int64_t now);

#endif
