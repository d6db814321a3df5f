/*
 * writer.c - the thread that ships the journal to Redis.  See pd_writer.h.
 */
#include "pd_writer.h"
#include "pd_log.h"
#include "pd_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BATCH_BYTES (16u * 1024 * 1024)
#define REDIS_TIMEOUT_MS 5000
#define DIRECT_MAX_BYTES (32u * 1024 * 1024)
#define JOURNAL_RETRY_US (10u * 1000 * 1000)
/* in a burst, a batch smaller than this waits for more records until
 * LINGER_MS after the previous batch */
#define LINGER_RECORDS 64
#define LINGER_MS 50

/* The writer's nice value above the milter's: answering the MTA comes
 * first, shipping can wait (the records are in the journal). */
#define WRITER_NICE 10

/* RedisReplicas: how long one WAIT blocks the writer (not the mail) */
#define WAIT_TIMEOUT_MS 1000

/* A record the journal could not take, waiting in memory for Redis. */
struct direct {
    struct direct *next;
    char id[80];
    size_t len;
    char payload[];
};

struct pd_writer {
    const struct pd_config *cfg;
    _Atomic(struct pd_journal *) j;   /* NULL while JournalDir cannot be opened */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    int64_t drain_deadline_us;    /* when stopping: give up after this */
    struct pd_writer_stats st;
    struct pd_journal_pos shipped;
    /* the direct queue, under mu */
    struct direct *dhead, **dtail;
    size_t dbytes;
    uint64_t dnext;
    char dnonce[17];              /* makes direct record ids unique per start */
    char instance[33];            /* used when there is no journal */
};

/* Wait up to ms, or until woken (a direct record, a stop).  Once stopping,
 * no wait at all, but with while_stopping a wait up to the drain's
 * deadline (a retry loop with no wait would spin a core until then). */
static void sleep_interruptible(struct pd_writer *w, int ms, bool while_stopping)
{
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        int64_t left = while_stopping ? (w->drain_deadline_us - (int64_t)pd_now_us()) / 1000 : 0;
        ms = left < ms ? (left > 0 ? (int)left : 0) : ms;
    }
    if (ms > 0) {
        struct timespec ts;
        pd_deadline_ms(&ts, ms);
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
}

static bool is_stopping(struct pd_writer *w)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

static bool should_quit(struct pd_writer *w, bool idle)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stopping;
    int64_t deadline = w->drain_deadline_us;
    pthread_mutex_unlock(&w->mu);
    if (!stop)
        return false;
    return idle || (int64_t)pd_now_us() >= deadline;
}

/* Redis is unreachable or failed: mark it down and wait before the next try.
 * Returns true when the writer should stop instead. */
static bool back_off(struct pd_writer *w, int *backoff)
{
    pthread_mutex_lock(&w->mu);
    w->st.redis_up = false;
    pthread_mutex_unlock(&w->mu);
    if (should_quit(w, false))
        return true;
    sleep_interruptible(w, *backoff, true);
    *backoff = *backoff * 2 > 5000 ? 5000 : *backoff * 2;
    return false;
}

struct batch {
    pd_buf payload[PD_WRITER_BATCH];
    char ids[PD_WRITER_BATCH][80];
    struct pd_store_item items[PD_WRITER_BATCH];
    struct direct *direct[PD_WRITER_BATCH];
    size_t n;
};

/* Count Redis's answers for a shipped batch; under w->mu. */
static void count_results(struct pd_writer *w, const struct pd_store_item *items, size_t n)
{
    w->st.shipped += n;
    for (size_t i = 0; i < n; i++) {
        switch (items[i].result) {
        case 0: w->st.replays++; break;
        case 1: w->st.duplicates++; break;
        case 2: case 3: w->st.new_mails++; break;
        default: w->st.refused++; break;
        }
    }
    w->st.last_shipped = (int64_t)time(NULL);
}

/* Take up to PD_WRITER_BATCH records of the direct queue into b. */
static void take_direct(struct pd_writer *w, struct batch *b)
{
    pthread_mutex_lock(&w->mu);
    b->n = 0;
    while (w->dhead && b->n < PD_WRITER_BATCH) {
        struct direct *d = w->dhead;
        w->dhead = d->next;
        w->dbytes -= d->len;
        b->direct[b->n] = d;
        b->items[b->n] = (struct pd_store_item){ d->payload, d->len, d->id, 0 };
        b->n++;
    }
    if (!w->dhead)
        w->dtail = &w->dhead;
    pthread_mutex_unlock(&w->mu);
}

/* Redis failed them: back to the front of the queue, in their order. */
static void put_back_direct(struct pd_writer *w, struct batch *b)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = b->n; i-- > 0;) {
        struct direct *d = b->direct[i];
        d->next = w->dhead;
        if (!w->dhead)
            w->dtail = &d->next;
        w->dhead = d;
        w->dbytes += d->len;
    }
    pthread_mutex_unlock(&w->mu);
    b->n = 0;
}

/* ---- RedisReplicas (issue 19) ---- */

/* Wait until cfg->redis_replicas replicas have every write so far: 1 they
 * do; 0 the writer stops first (the records stay where they are); -1 the
 * connection failed, or the sentinels name another master (err set): the
 * caller drops the connection and sends the records again.  Logs once when
 * records start waiting for the replicas and once when they stop. */
static int confirm_replicas(struct pd_writer *w, struct pd_store *store, size_t n, char *err,
                            size_t errlen)
{
    int want = w->cfg->redis_replicas;
    if (want <= 0)
        return 1;
    for (;;) {
        int got = pd_store_wait_replicas(store, want, WAIT_TIMEOUT_MS, err, errlen);
        if (got < 0)
            return -1;
        pthread_mutex_lock(&w->mu);
        bool was_waiting = w->st.replicas_waiting;
        w->st.replicas_waiting = got < want;
        pthread_mutex_unlock(&w->mu);
        if (got >= want) {
            if (was_waiting)
                pd_log(PD_LOG_NOTICE, "redis %s: %d replica(s) have the records again; the "
                       "journal ships on", pd_store_address(store), got);
            return 1;
        }
        if (!was_waiting)
            pd_log(PD_LOG_WARNING, "redis %s: %d of the %d replicas (RedisReplicas) have the "
                   "last %zu records; they stay in the journal until enough do (no mail waits)",
                   pd_store_address(store), got, want, n);
        if (should_quit(w, false))
            return 0;
        int moved = pd_store_master_moved(store, w->cfg, err, errlen);
        if (moved == 1) {
            snprintf(err, errlen, "redis %s: the sentinels name another master now",
                     pd_store_address(store));
            return -1;
        }
    }
}

/* A connection is up: note which master it is; a change is a failover,
 * logged once. */
static void note_master(struct pd_writer *w, struct pd_store *store)
{
    const char *addr = pd_store_address(store);
    pthread_mutex_lock(&w->mu);
    bool first = !w->st.master[0];
    bool changed = !first && strcmp(w->st.master, addr) != 0;
    char was[sizeof w->st.master];
    snprintf(was, sizeof was, "%s", w->st.master);
    snprintf(w->st.master, sizeof w->st.master, "%s", addr);
    if (changed) {
        w->st.failovers++;
        w->st.last_failover = (int64_t)time(NULL);
    }
    pthread_mutex_unlock(&w->mu);
    if (!w->cfg->sentinel_master)
        return;
    if (first)
        pd_log(PD_LOG_NOTICE, "redis master %s, named by the sentinels of %s", addr,
               w->cfg->sentinel_master);
    else if (changed)
        pd_log(PD_LOG_NOTICE, "redis master of %s is now %s (was %s): a failover; records "
               "not yet confirmed are sent again", w->cfg->sentinel_master, addr, was);
}

/* Ship the direct batch b; 0 sent, -1 Redis failed (records put back). */
static int ship_direct(struct pd_writer *w, struct pd_store *store, struct batch *b,
                       char *err, size_t errlen)
{
    if (pd_store_record(store, b->items, b->n, err, errlen) < 0) {
        put_back_direct(w, b);
        return -1;
    }
    /* they exist nowhere else: kept until the replicas have them */
    int c = confirm_replicas(w, store, b->n, err, errlen);
    if (c <= 0) {
        if (c == 0)
            snprintf(err, errlen, "stopping before the replicas confirmed");
        put_back_direct(w, b);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    count_results(w, b->items, b->n);
    w->st.direct_shipped += b->n;
    w->st.round_trips = pd_store_round_trips(store);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < b->n; i++)
        free(b->direct[i]);
    b->n = 0;
    return 0;
}

/* JournalDir could not be opened at start: try again now and then. */
static void retry_journal(struct pd_writer *w, struct pd_journal_pos *pos, uint64_t *next_try)
{
    if (pd_now_us() < *next_try)
        return;
    *next_try = pd_now_us() + JOURNAL_RETRY_US;
    struct pd_journal *j;
    char err[512];
    if (pd_journal_open(&j, w->cfg->journal_dir, err, sizeof err) < 0)
        return;
    *pos = pd_journal_shipped(j);
    pthread_mutex_lock(&w->mu);
    w->shipped = *pos;
    pthread_mutex_unlock(&w->mu);
    atomic_store(&w->j, j);
    pd_log(PD_LOG_NOTICE, "journal %s can be used again; mail is journalled from now on",
           w->cfg->journal_dir);
}

static void *writer_main(void *arg)
{
    struct pd_writer *w = arg;
    /* Linux gives each thread its own nice value */
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, (id_t)gettid());
    if ((nice_now != -1 || errno == 0) &&
        setpriority(PRIO_PROCESS, (id_t)gettid(), nice_now + WRITER_NICE) < 0)
        pd_log(PD_LOG_DEBUG, "writer: cannot lower its priority: %s", strerror(errno));
    struct batch *b = calloc(1, sizeof *b);
    if (!b) {
        pd_log(PD_LOG_ERR, "writer: out of memory; records stay in the journal");
        return NULL;
    }
    struct pd_store *store = NULL;
    struct pd_journal *j = atomic_load(&w->j);
    struct pd_journal_pos pos = { 0, 0 };
    if (j)
        pos = pd_journal_shipped(j);
    uint64_t next_journal_try = pd_now_us() + JOURNAL_RETRY_US;
    int backoff = 100;
    int64_t last_ship_us = 0;     /* when the last journal batch went out */
    bool down_logged = false;
    char err[512];

    for (;;) {
        if (!store) {
            if (should_quit(w, true) && (int64_t)pd_now_us() >= w->drain_deadline_us)
                break;
            if (pd_store_connect(&store, w->cfg, REDIS_TIMEOUT_MS, err, sizeof err) < 0) {
                if (!down_logged)
                    pd_log(PD_LOG_WARNING, "%s; records wait in the journal, retrying", err);
                down_logged = true;
                if (back_off(w, &backoff))
                    break;
                continue;
            }
            note_master(w, store);
            if (down_logged)
                pd_log(PD_LOG_NOTICE, "redis %s is back; shipping the journal", w->cfg->redis);
            down_logged = false;
            backoff = 100;
            pthread_mutex_lock(&w->mu);
            w->st.redis_up = true;
            pthread_mutex_unlock(&w->mu);
        }
        if (!j) {
            retry_journal(w, &pos, &next_journal_try);
            j = atomic_load(&w->j);
        }

        /* Records the journal could not take exist nowhere else: they go first. */
        take_direct(w, b);
        if (b->n) {
            if (ship_direct(w, store, b, err, sizeof err) < 0) {
                pd_log(PD_LOG_WARNING, "%s; records the journal could not take wait in memory, "
                       "retrying", err);
                pd_store_free(store);
                store = NULL;
                down_logged = true;
                if (back_off(w, &backoff))
                    break;
            }
            continue;
        }
        if (!j) {
            if (should_quit(w, true))
                break;
            sleep_interruptible(w, 500, false);
            continue;
        }

        /* Gather a batch of the journal.  In a burst (the last batch went
         * out less than LINGER_MS ago), having caught up with fewer than
         * LINGER_RECORDS, wait until LINGER_MS after the last batch for
         * more: one round trip (and one commit of the position) then
         * carries dozens of mails instead of one or two.  A mail after a
         * quiet spell goes out at once; none waits longer than LINGER_MS. */
        const char *instance = pd_journal_instance(j);
        struct pd_journal_pos start = pos;
        size_t bytes = 0;
        int r = 0;
        for (;;) {
            while (b->n < PD_WRITER_BATCH && bytes < BATCH_BYTES) {
                struct pd_journal_pos at;
                r = pd_journal_next(j, &pos, &b->payload[b->n], &at);
                if (r != 1)
                    break;
                snprintf(b->ids[b->n], sizeof b->ids[b->n], "%s:%" PRIu64 ":%" PRIu64,
                         instance, at.seq, at.off);
                b->items[b->n] = (struct pd_store_item){ b->payload[b->n].data,
                                                         b->payload[b->n].len, b->ids[b->n], 0 };
                bytes += b->payload[b->n].len;
                b->n++;
            }
            if (r < 0 || b->n == 0 || b->n >= LINGER_RECORDS || bytes >= BATCH_BYTES ||
                is_stopping(w))
                break;
            /* in a burst, a batch goes out LINGER_MS after the last one */
            int64_t now = (int64_t)pd_now_us();
            int64_t linger_until = last_ship_us + LINGER_MS * 1000;
            if (now >= linger_until)
                break;
            /* not woken by each append; a direct record or a stop wakes it */
            sleep_interruptible(w, (int)((linger_until - now + 999) / 1000), false);
        }
        if (r < 0)
            pd_log(PD_LOG_ERR, "writer: cannot read the journal: %s", strerror(errno));
        if (b->n == 0) {
            if (should_quit(w, true))
                break;
            if (r < 0)
                sleep_interruptible(w, 1000, false);
            else
                pd_journal_wait(j, pos, 200);
            continue;
        }

        if (pd_store_record(store, b->items, b->n, err, sizeof err) < 0) {
            pd_log(PD_LOG_WARNING, "%s; %zu records wait in the journal, retrying", err, b->n);
            pd_store_free(store);
            store = NULL;
            pos = start;
            b->n = 0;
            down_logged = true;
            if (back_off(w, &backoff))
                break;
            continue;
        }
        /* RedisReplicas: the position moves only once the replicas have the batch */
        int confirmed = confirm_replicas(w, store, b->n, err, sizeof err);
        if (confirmed <= 0) {
            if (confirmed < 0)
                pd_log(PD_LOG_WARNING, "%s; %zu records wait in the journal and are sent again",
                       err, b->n);
            pd_store_free(store);
            store = NULL;
            pos = start;
            b->n = 0;
            if (confirmed == 0)
                break;   /* stopping: they stay in the journal for the next start */
            down_logged = true;
            if (back_off(w, &backoff))
                break;
            continue;
        }
        last_ship_us = (int64_t)pd_now_us();
        if (pd_journal_commit(j, pos, b->n) < 0)
            pd_log(PD_LOG_ERR, "writer: cannot save the shipped position: %s (records will be "
                   "replayed, which changes nothing)", strerror(errno));
        pthread_mutex_lock(&w->mu);
        w->shipped = pos;
        count_results(w, b->items, b->n);
        w->st.round_trips = pd_store_round_trips(store);
        pthread_mutex_unlock(&w->mu);
        b->n = 0;
    }
    pd_store_free(store);
    for (size_t i = 0; i < PD_WRITER_BATCH; i++)
        pd_buf_free(&b->payload[i]);
    free(b);
    return NULL;
}

int pd_writer_start(struct pd_writer **out, const struct pd_config *cfg, struct pd_journal *j)
{
    struct pd_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->cfg = cfg;
    atomic_init(&w->j, j);
    w->dtail = &w->dhead;
    if (j)
        w->shipped = pd_journal_shipped(j);
    if (pd_random_hex(w->dnonce, 8) < 0 || pd_random_hex(w->instance, 16) < 0) {
        int e = errno;
        free(w);
        errno = e;
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    int e = pthread_create(&w->thread, NULL, writer_main, w);
    if (e) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        free(w);
        errno = e;
        return -1;
    }
    *out = w;
    return 0;
}

struct pd_journal *pd_writer_journal(struct pd_writer *w)
{
    return atomic_load(&w->j);
}

int pd_writer_direct(struct pd_writer *w, const char *payload, size_t len)
{
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->dbytes + len > DIRECT_MAX_BYTES) {
        w->st.direct_dropped++;
        pthread_mutex_unlock(&w->mu);
        errno = ENOBUFS;
        return -1;
    }
    struct direct *d = malloc(sizeof *d + len);
    if (!d) {
        w->st.direct_dropped++;
        pthread_mutex_unlock(&w->mu);
        errno = ENOMEM;
        return -1;
    }
    struct pd_journal *j = atomic_load(&w->j);
    snprintf(d->id, sizeof d->id, "%s:d%s:%" PRIu64, j ? pd_journal_instance(j) : w->instance,
             w->dnonce, w->dnext++);
    d->next = NULL;
    d->len = len;
    memcpy(d->payload, payload, len);
    *w->dtail = d;
    w->dtail = &d->next;
    w->dbytes += len;
    w->st.direct_queued++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void pd_writer_stop(struct pd_writer *w, int drain_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    bool joined = w->stopping;
    w->stopping = true;
    w->drain_deadline_us = (int64_t)pd_now_us() + (int64_t)drain_ms * 1000;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (joined)
        return;
    pthread_join(w->thread, NULL);
    /* nothing is queued after this: pd_writer_direct() refuses once stopping */
    pthread_mutex_lock(&w->mu);
    size_t lost = 0;
    while (w->dhead) {
        struct direct *d = w->dhead;
        w->dhead = d->next;
        free(d);
        lost++;
    }
    w->dtail = &w->dhead;
    w->dbytes = 0;
    w->st.direct_dropped += lost;
    pthread_mutex_unlock(&w->mu);
    if (lost)
        pd_log(PD_LOG_ERR, "%zu records the journal could not take are lost: Redis did not "
               "take them before exit", lost);
}

void pd_writer_free(struct pd_writer *w)
{
    if (!w)
        return;
    pd_writer_stop(w, 0);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w);
}

void pd_writer_get_stats(struct pd_writer *w, struct pd_writer_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    st->direct_waiting = 0;
    for (struct direct *d = w->dhead; d; d = d->next)
        st->direct_waiting++;
    struct pd_journal_pos shipped = w->shipped;
    pthread_mutex_unlock(&w->mu);
    struct pd_journal *j = atomic_load(&w->j);
    st->journal_open = j != NULL;
    if (j)
        pd_journal_get_stats(j, shipped, &st->journal);
    else
        memset(&st->journal, 0, sizeof st->journal);
}
