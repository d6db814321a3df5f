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
 *   pd_store_read_window(s, list, 0, &window, err, sizeof err);   counters
 *   pd_store_read_posts(s, list, &window, err, sizeof err);      what a digest shows
 *   pd_store_free(s);
 *
 * The flush (pd_flush.h) closes windows and marks them sent under a per-list
 * lock through pd_store_lock() ... pd_store_unlock().
 *
 * Key layout: see milter/record.lua and milter/window.lua.  pd_store_base() gives the prefix of
 * every key of a list: "<KeyPrefix>{<list id, escaped>}:"; the list id is
 * escaped (%XX for anything outside [A-Za-z0-9._@+-]) so that no id can
 * reach into another list's keys or break the hash tag.
 */
#ifndef PD_STORE_H
#define PD_STORE_H

#include "pd_classify.h"
#include "pd_config.h"
#include "pd_outcome.h"
#include "pd_util.h"

#include <stdbool.h>
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

/* The same in three steps, for a caller that keeps Redis busy with one
 * batch while it prepares the next (import):
 *
 *   pd_store_prepare(s, z, items, n, &sent, err, errlen);   any thread
 *   pd_store_send(s, sent, err, errlen);                    the connection's thread
 *   pd_store_receive(s, sent, err, errlen);                 the connection's thread
 *
 * pd_store_prepare() writes a batch's commands in Redis's protocol, its
 * texts compressed with z (pd_textz.h: one per thread); it reads only s's
 * settings, so it runs beside a send or receive on s in another thread.
 * pd_store_send() writes them without waiting; pd_store_receive() reads
 * their answers into the items (which must live until then) and frees
 * sent.  Batches are received in the order sent, at most a few
 * outstanding.  Each is one EVAL, so no NOSCRIPT comes back to a batch sent
 * behind another.  All three: 0, or -1 with err set (after send or
 * receive the connection is then unusable).  pd_store_sent_free() frees a
 * batch prepared and not received.
 *
 * Each batch carries the chain head it expects its list to have and the
 * head it should leave (record.lua, "The chain head"), which saves the
 * script hashing the chain itself.  pd_store_record() expects the head
 * the script answered last; pd_store_prepare() goes on from the head
 * pd_store_plan_chain() read (call it for each list the import may record
 * into, before the first pd_store_send(); it reads, so not beside a send
 * or receive) and from the batches it prepared before; a list it has none
 * for, or a head that proves wrong, costs only the script's own hashing. */
int pd_store_plan_chain(struct pd_store *s, const char *list_id, char *err, size_t errlen);
struct pd_store_sent;
struct pd_textz;
int pd_store_prepare(struct pd_store *s, struct pd_textz *z, struct pd_store_item *items,
                     size_t n, struct pd_store_sent **sent, char *err, size_t errlen);
int pd_store_send(struct pd_store *s, struct pd_store_sent *sent, char *err, size_t errlen);
int pd_store_receive(struct pd_store *s, struct pd_store_sent *sent, char *err, size_t errlen);
void pd_store_sent_free(struct pd_store_sent *sent);

/* ---- Redis Sentinel and replicas (issue 19) ----
 * With RedisSentinel, pd_store_connect() asks the sentinels for the master
 * and checks its ROLE (pd_sentinel.h); a READONLY or MASTERDOWN reply
 * later is an error like a lost connection: free the store and connect
 * again, which asks the sentinels again. */
/* The server connected to: "host:port", "[v6]:port" or "unix:/path". */
const char *pd_store_address(const struct pd_store *s);
/* WAIT n timeout_ms: how many replicas have every write made so far (the
 * replication stream is one, so this covers other clients' earlier writes
 * too); -1 with err set on an error (the connection is then unusable). */
int pd_store_wait_replicas(struct pd_store *s, int n, int timeout_ms, char *err, size_t errlen);
/* Whether the sentinels now name another master than the one s is
 * connected to: 1 yes, 0 no (or no sentinels configured), -1 none answered. */
int pd_store_master_moved(struct pd_store *s, const struct pd_config *cfg, char *err,
                          size_t errlen);

/* One counted table: rows ordered by count, then label in byte order. */
struct pd_row {
    char *label;        /* what the digest shows */
    char *key;          /* what was counted: address, domain, sha1 of a thread root */
    long long count;
};

struct pd_table {
    struct pd_row *rows;
    size_t n;
};

/* Order a table's rows: count descending, then label in byte order. */
void pd_table_sort(struct pd_table *t);

/* A cover letter or patch of a window, as the digest shows it. */
struct pd_post {
    enum pd_class cls;              /* PD_COVER or PD_PATCH */
    char *subject, *title, *author, *ident, *excerpt;
    char *headers;                  /* header block as received; "" when not kept */
    char *series;                   /* key of its series (pd_series.key) */
    int version, index, total;      /* index and total -1 without i/n */
    bool resend;                    /* its subject was seen before */
    bool inbody_from;               /* its body opens with git's in-body From: */
};

/* A series that has mail in the window (its data spans windows). */
struct pd_series {
    char *key;
    char *subject;                  /* the cover's, else patch 1's, else the first seen */
    char *ident;                    /* the sender, "Name <addr>" */
    int version, total;
};

enum pd_window_state { PD_WINDOW_OPEN, PD_WINDOW_CLOSED, PD_WINDOW_SENT };

/* One window of one list. */
struct pd_window {
    const struct pd_list *list;
    long long number;
    bool exists;                    /* Redis still holds it */
    enum pd_window_state state;
    int64_t opened, closed, sent;   /* unix time; 0 when not (yet) */
    char from[41], to[41];          /* chain heads, 40 hex */
    long long mails, duplicates, resends, truncated;
    long long classes[5];           /* indexed by enum pd_class */
    struct pd_table domains, contributors, reviewers;
    /* filled by pd_store_read_posts() */
    struct pd_table threads;        /* replies per thread, labelled by the root's subject */
    struct pd_post *posts;          /* arrival order */
    size_t nposts;
    struct pd_series *series;       /* order of their first mail in the window */
    size_t nseries;
    long long applied, trailers;    /* patches applied by notices, review trailers given */
    struct pd_outcomes outcomes;    /* review, versions, applied, links (outcomes.lua) */
};

/* Read window number (0: the open one) of a list: its state and counters.
 * 0, or -1 with err set.  A window Redis no longer holds reads as empty
 * with exists false. */
int pd_store_read_window(struct pd_store *s, const struct pd_list *l, long long number,
                         struct pd_window *w, char *err, size_t errlen);
/* Add to a window read above its posts, series and threads, and its
 * outcomes (with ArchiveURL's links).  Posts whose mail expired are left
 * out.  0, or -1 with err set. */
int pd_store_read_posts(struct pd_store *s, const struct pd_list *l, struct pd_window *w,
                        char *err, size_t errlen);
void pd_window_clear(struct pd_window *w);

/* ---- windows and the flush lock: milter/window.lua ----
 * token identifies one flush ("host pid random").  Each returns -1 with err
 * set on a Redis error. */
/* 1 taken; 0 held by another flush, whose token is copied to holder. */
int pd_store_lock(struct pd_store *s, const char *list_id, const char *token, int ttl_ms,
                  char *holder, size_t holderlen, char *err, size_t errlen);
/* Take the lock over from a holder known dead: 1 done, 0 it changed meanwhile. */
int pd_store_lock_steal(struct pd_store *s, const char *list_id, const char *token,
                        const char *old, int ttl_ms, char *err, size_t errlen);
/* 1 still ours and renewed; 0 lost. */
int pd_store_lock_refresh(struct pd_store *s, const char *list_id, const char *token, int ttl_ms,
                          char *err, size_t errlen);
int pd_store_unlock(struct pd_store *s, const char *list_id, const char *token, char *err,
                    size_t errlen);
/* Close the open window and open the next: PD_CLOSE_IF_MAIL when it holds
 * mail, PD_CLOSE_ALWAYS even empty, PD_CLOSE_NONE not at all.  *closed is
 * its number, 0 when nothing was closed; pending (caller frees) lists every
 * closed window whose digest is not sent, oldest first. */
enum pd_close_mode { PD_CLOSE_IF_MAIL, PD_CLOSE_ALWAYS, PD_CLOSE_NONE };
int pd_store_close_window(struct pd_store *s, const char *list_id, const char *token,
                          int64_t now, enum pd_close_mode mode, long long *closed,
                          long long **pending, size_t *npending, char *err, size_t errlen);
/* The digest of window number went out: mark it, let its keys expire with
 * the retention. */
int pd_store_mark_sent(struct pd_store *s, const char *list_id, const char *token,
                       long long number, int64_t now, const char *message_id, char *err,
                       size_t errlen);

/* "<prefix>{<escaped list>}:"; caller frees; NULL when out of memory. */
char *pd_store_base(const char *prefix, const char *list_id);

#endif
