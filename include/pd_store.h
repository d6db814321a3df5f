/*
 * pd_store.h - everything patchdigest does with Redis.
 *
 * A pd_store is one hiredis connection, set up with AUTH and SELECT as the
 * configuration says and the record script loaded.  Commands carry a timeout,
 * so a frozen Redis turns into an error, never a hang.  Not thread-safe: use
 * one pd_store per thread.
 *
 *   struct pd_store *s;
 *   if (pd_store_connect(&s, cfg, 2000, err, sizeof err) < 0) ...;
 *   pd_store_record(s, items, n, err, sizeof err);   one pipelined round trip
 *   pd_store_read_window(s, list, 0, &window, err, sizeof err);
 *   pd_store_free(s);
 *
 * Key layout: see milter/record.lua.  pd_store_base() gives the prefix of
 * every key of a list: "<KeyPrefix>{<list id, escaped>}:"; the list id is
 * escaped (%XX for anything outside [A-Za-z0-9._@+-]) so that no id can
 * reach into another list's keys or break the hash tag.
 */
#ifndef PD_STORE_H
#define PD_STORE_H

#include "pd_config.h"
#include "pd_util.h"

#include <stddef.h>
#include <stdint.h>

struct pd_store;

struct pd_store_item {
    const char *payload;      /* encoded record (pd_record.h) */
    size_t len;
    const char *record_id;    /* unique per record: journal instance and position */
    int result;               /* out: 0 replay, 1 duplicate, 2 new, 3 new resend */
};

int pd_store_connect(struct pd_store **out, const struct pd_config *cfg, int timeout_ms,
                     char *err, size_t errlen);
void pd_store_free(struct pd_store *s);

/* Record the items in one pipelined round trip (EVALSHA each; NOSCRIPT makes
 * it load the script and send the batch again, which is harmless because
 * replays change nothing).  0, or -1 with err set: the connection is then
 * unusable and must be freed.  A record Redis refuses as malformed is logged
 * and skipped (0, result -1), so one bad record cannot stop the journal. */
int pd_store_record(struct pd_store *s, struct pd_store_item *items, size_t n,
                    char *err, size_t errlen);
uint64_t pd_store_round_trips(const struct pd_store *s);

/* One counted table: rows ordered by count, then label in byte order. */
struct pd_row {
    char *label;
    long long count;
};

struct pd_table {
    struct pd_row *rows;
    size_t n;
};

/* The counters of one window of one list. */
struct pd_window {
    const struct pd_list *list;
    long long number;
    char from[41], to[41];          /* chain heads, 40 hex */
    long long mails, duplicates, resends, truncated;
    long long classes[5];           /* indexed by enum pd_class */
    struct pd_table domains, contributors, reviewers;
};

/* Read window number (0: the open one) of a list.  0, or -1 with err set. */
int pd_store_read_window(struct pd_store *s, const struct pd_list *l, long long number,
                         struct pd_window *w, char *err, size_t errlen);
void pd_window_clear(struct pd_window *w);

/* "<prefix>{<escaped list>}:"; caller frees; NULL when out of memory. */
char *pd_store_base(const char *prefix, const char *list_id);

#endif
