/*
 * writer.c - the thread that ships the journal to Redis.  See pd_writer.h.
 */
#include "pd_writer.h"
#include "pd_log.h"
#include "pd_store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_BYTES (16u * 1024 * 1024)
#define REDIS_TIMEOUT_MS 5000

struct pd_writer {
    const struct pd_config *cfg;
    struct pd_journal *j;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    int64_t drain_deadline_us;    /* when stopping: give up after this */
    struct pd_writer_stats st;
    struct pd_journal_pos shipped;
};

static void sleep_interruptible(struct pd_writer *w, int ms)
{
    struct timespec ts;
    pd_deadline_ms(&ts, ms);
    pthread_mutex_lock(&w->mu);
    if (!w->stopping)
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    pthread_mutex_unlock(&w->mu);
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
    sleep_interruptible(w, *backoff);
    *backoff = *backoff * 2 > 5000 ? 5000 : *backoff * 2;
    return false;
}

struct batch {
    pd_buf payload[PD_WRITER_BATCH];
    char ids[PD_WRITER_BATCH][80];
    struct pd_store_item items[PD_WRITER_BATCH];
    size_t n;
};

static void *writer_main(void *arg)
{
    struct pd_writer *w = arg;
    struct batch *b = calloc(1, sizeof *b);
    if (!b) {
        pd_log(PD_LOG_ERR, "writer: out of memory; records stay in the journal");
        return NULL;
    }
    struct pd_store *store = NULL;
    struct pd_journal_pos pos = pd_journal_shipped(w->j);
    int backoff = 100;
    bool down_logged = false;
    char err[512];
    const char *instance = pd_journal_instance(w->j);

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
            if (down_logged)
                pd_log(PD_LOG_NOTICE, "redis %s is back; shipping the journal", w->cfg->redis);
            down_logged = false;
            backoff = 100;
            pthread_mutex_lock(&w->mu);
            w->st.redis_up = true;
            pthread_mutex_unlock(&w->mu);
        }

        /* Gather a batch. */
        struct pd_journal_pos start = pos;
        size_t bytes = 0;
        b->n = 0;
        int r = 0;
        while (b->n < PD_WRITER_BATCH && bytes < BATCH_BYTES) {
            struct pd_journal_pos at;
            r = pd_journal_next(w->j, &pos, &b->payload[b->n], &at);
            if (r != 1)
                break;
            snprintf(b->ids[b->n], sizeof b->ids[b->n], "%s:%" PRIu64 ":%" PRIu64, instance,
                     at.seq, at.off);
            b->items[b->n].payload = b->payload[b->n].data;
            b->items[b->n].len = b->payload[b->n].len;
            b->items[b->n].record_id = b->ids[b->n];
            b->items[b->n].result = 0;
            bytes += b->payload[b->n].len;
            b->n++;
        }
        if (r < 0)
            pd_log(PD_LOG_ERR, "writer: cannot read the journal: %s", strerror(errno));
        if (b->n == 0) {
            if (should_quit(w, true))
                break;
            if (r < 0)
                sleep_interruptible(w, 1000);
            else
                pd_journal_wait(w->j, pos, 500);
            continue;
        }

        if (pd_store_record(store, b->items, b->n, err, sizeof err) < 0) {
            pd_log(PD_LOG_WARNING, "%s; %zu records wait in the journal, retrying", err, b->n);
            pd_store_free(store);
            store = NULL;
            pos = start;
            down_logged = true;
            if (back_off(w, &backoff))
                break;
            continue;
        }
        if (pd_journal_commit(w->j, pos) < 0)
            pd_log(PD_LOG_ERR, "writer: cannot save the shipped position: %s (records will be "
                   "replayed, which changes nothing)", strerror(errno));
        pthread_mutex_lock(&w->mu);
        w->shipped = pos;
        w->st.shipped += b->n;
        for (size_t i = 0; i < b->n; i++) {
            switch (b->items[i].result) {
            case 0: w->st.replays++; break;
            case 1: w->st.duplicates++; break;
            case 2: case 3: w->st.new_mails++; break;
            default: w->st.refused++; break;
            }
        }
        w->st.round_trips = pd_store_round_trips(store);
        w->st.last_shipped = (int64_t)time(NULL);
        pthread_mutex_unlock(&w->mu);
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
    w->j = j;
    w->shipped = pd_journal_shipped(j);
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

void pd_writer_stop(struct pd_writer *w, int drain_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    w->drain_deadline_us = (int64_t)pd_now_us() + (int64_t)drain_ms * 1000;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w);
}

void pd_writer_get_stats(struct pd_writer *w, struct pd_writer_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    struct pd_journal_pos shipped = w->shipped;
    pthread_mutex_unlock(&w->mu);
    pd_journal_get_stats(w->j, shipped, &st->journal);
}
