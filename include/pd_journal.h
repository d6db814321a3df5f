/*
 * pd_journal.h - the local append-only journal between the milter and Redis.
 *
 * A journal is a directory (JournalDir) holding numbered segment files
 * seg-<16 digits>.pdj, a file "shipped" that says how far Redis has the
 * records, a file "instance" with this journal's random id (part of every
 * record id, so that two milters never share ids) and a lock file: one
 * process at a time owns a journal.
 *
 * Each record is framed as  "PDJ1" | u32 length | u32 CRC-32C | payload
 * (little-endian).  Appends are one write() under a mutex; a failed or short
 * write is cut back off the file, so a reader never meets half a record that
 * an appender reported as written.  On open, a torn tail (a crash during
 * write) is logged and cut off.
 *
 *   struct pd_journal *j;
 *   if (pd_journal_open(&j, dir, err, sizeof err) < 0) ...;
 *   pd_journal_append(j, payload, len);               any thread
 *   struct pd_journal_pos pos = pd_journal_shipped(j); the reader (one thread)
 *   while (pd_journal_next(j, &pos, &payload, &at) == 1) { ship; }
 *   pd_journal_commit(j, pos, n);                     remember durably (n records)
 *   pd_journal_close(j);
 */
#ifndef PD_JOURNAL_H
#define PD_JOURNAL_H

#include "pd_util.h"

#include <stddef.h>
#include <stdint.h>

#define PD_JOURNAL_SEGMENT_BYTES (64u * 1024 * 1024)
#define PD_JOURNAL_MAX_RECORD (1u << 30)

struct pd_journal;

struct pd_journal_pos {
    uint64_t seq;   /* segment number */
    uint64_t off;   /* byte offset in the segment */
};

struct pd_journal_stats {
    uint64_t appended;        /* records appended since open */
    uint64_t append_errors;   /* appends that failed (disk full, I/O error) */
    uint64_t backlog_bytes;   /* bytes not yet shipped */
    uint64_t backlog_records; /* records not yet shipped (counted at open, then kept) */
    uint64_t skipped_bytes;   /* corrupt bytes skipped by the reader or at open */
};

int pd_journal_open(struct pd_journal **out, const char *dir, char *err, size_t errlen);
void pd_journal_close(struct pd_journal *j);
/* fsync what was appended (at exit, when the journal is left open). */
void pd_journal_sync(struct pd_journal *j);
const char *pd_journal_instance(const struct pd_journal *j);

/* Append one record; 0, or -1 with errno set (nothing is left half-written). */
int pd_journal_append(struct pd_journal *j, const void *payload, size_t len);

/* Where the reader starts: the last committed position. */
struct pd_journal_pos pd_journal_shipped(struct pd_journal *j);
/* Read the record at *pos into payload (replacing its content); on success
 * *at is the record's own position and *pos moves past it.  1 read, 0 none
 * yet, -1 I/O error. */
int pd_journal_next(struct pd_journal *j, struct pd_journal_pos *pos, pd_buf *payload,
                    struct pd_journal_pos *at);
/* Durably remember that everything before pos is in Redis; removes segments
 * wholly before it.  nrecords is how many records lie between the previous
 * commit and pos (for the backlog count).  0, or -1 on I/O error. */
int pd_journal_commit(struct pd_journal *j, struct pd_journal_pos pos, uint64_t nrecords);
/* Block until a record may be available or timeout_ms passed. */
void pd_journal_wait(struct pd_journal *j, struct pd_journal_pos pos, int timeout_ms);
void pd_journal_get_stats(struct pd_journal *j, struct pd_journal_pos shipped,
                          struct pd_journal_stats *st);

#endif
