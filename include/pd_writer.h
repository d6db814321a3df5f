/*
 * pd_writer.h - the writer thread: ships journal records to Redis.
 *
 *   struct pd_writer *w;
 *   pd_writer_start(&w, cfg, journal);     starts the thread (journal may be NULL)
 *   j = pd_writer_journal(w);              the journal to append to, or NULL
 *   pd_writer_direct(w, payload, len);     a record the journal could not take
 *   pd_writer_get_stats(w, &st);           any thread
 *   pd_writer_stop(w, drain_ms);           ships what it can within drain_ms, joins
 *   pd_writer_free(w);                     stops (if not yet) and frees
 *
 * The thread reads records from the last shipped position, sends them in
 * pipelined batches (one round trip per batch of up to PD_WRITER_BATCH
 * records), and commits the position after Redis answered for the whole
 * batch.  When Redis is down or refuses, it drops the connection and tries
 * again with exponential backoff (100 ms to 5 s); records wait in the
 * journal.  The milter threads never wait for it.
 *
 * When the journal cannot take a record (JournalDir full, unwritable, or
 * not openable at start) the milter hands the record to pd_writer_direct():
 * it waits in memory (up to 32 MiB; beyond that it is dropped and counted)
 * and is sent to Redis ahead of the journal.  A journal that could not be
 * opened at start is tried again every 10 s.  Records still in memory at
 * exit are lost and logged.
 *
 * With RedisReplicas N > 0 the position moves only once WAIT says that N
 * replicas have the batch; until then the thread asks WAIT again (and the
 * sentinels whether the master moved), records wait in the journal and
 * are sent again to the next master (a replay changes nothing).  The
 * records the journal could not take are freed only then too.
 *
 * After pd_writer_stop() the writer stays valid: a mail thread libmilter
 * has not finished may still call pd_writer_journal() (the journal stays
 * open) and pd_writer_direct() (which then refuses).  The milter never
 * frees it; pd_writer_free() is for programs that know no thread uses it.
 */
#ifndef PD_WRITER_H
#define PD_WRITER_H

#include "pd_config.h"
#include "pd_journal.h"

#include <stdbool.h>
#include <stdint.h>

/* Records per round trip at most.  Redis runs a batch's scripts in one go
 * (about 50 us of its CPU a mail); 512 made bursts of 20 ms that, on a host
 * that runs Redis too, doubled the milter's p99 at 64 connections; 128
 * still keeps to one round trip per hundred mails under load. */
#define PD_WRITER_BATCH 128

struct pd_writer;

struct pd_writer_stats {
    bool redis_up;
    uint64_t shipped;          /* records Redis answered for */
    uint64_t new_mails, duplicates, replays, refused;
    uint64_t round_trips;
    int64_t last_shipped;      /* unix time of the last batch, 0 never */
    uint64_t direct_queued;    /* records the journal could not take, kept in memory */
    uint64_t direct_shipped;   /* ... of them Redis answered for */
    uint64_t direct_dropped;   /* ... not kept: memory limit reached (lost) */
    uint64_t direct_waiting;   /* ... in memory now */
    bool journal_open;         /* false while JournalDir cannot be opened */
    /* Redis Sentinel and replicas (issue 19) */
    char master[300];          /* the Redis last connected to ("host:port"), "" never */
    uint64_t failovers;        /* times the master named by the sentinels changed */
    int64_t last_failover;     /* unix time of the last change, 0 never */
    bool replicas_waiting;     /* RedisReplicas not confirmed: records wait in the journal */
    struct pd_journal_stats journal;
};

int pd_writer_start(struct pd_writer **out, const struct pd_config *cfg, struct pd_journal *j);
void pd_writer_stop(struct pd_writer *w, int drain_ms);
void pd_writer_free(struct pd_writer *w);
struct pd_journal *pd_writer_journal(struct pd_writer *w);
/* 0 queued, or -1 (errno ENOBUFS: memory limit, ENOMEM) and counted as dropped. */
int pd_writer_direct(struct pd_writer *w, const char *payload, size_t len);
void pd_writer_get_stats(struct pd_writer *w, struct pd_writer_stats *st);

#endif
