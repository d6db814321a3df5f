/*
 * journal.c - the local append-only journal.  See pd_journal.h.
 *
 * Appenders (milter threads) and the one reader (the writer thread) share the
 * struct under a mutex only for the tail position (append_seq/append_size):
 * the reader never reads beyond what appenders finished writing, so it needs
 * no locking for the data itself.
 */
#include "pd_journal.h"
#include "pd_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAGIC "PDJ1"
#define FRAME_HDR 12

struct pd_journal {
    char *dir;
    int dirfd;
    int lockfd;
    char instance[33];

    pthread_mutex_t mu;
    pthread_cond_t cond;
    int append_fd;           /* current segment, O_APPEND */
    uint64_t append_seq;
    uint64_t append_size;
    uint64_t first_seq;      /* oldest segment still on disk */
    uint64_t appended, append_errors, skipped_bytes;
    uint64_t unshipped_at_open;   /* records after the shipped position at open */
    uint64_t committed;           /* records committed since open */

    /* reader side */
    int read_fd;
    uint64_t read_seq;
    struct pd_journal_pos shipped;
};

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_name(char *buf, size_t n, uint64_t seq)
{
    snprintf(buf, n, "seg-%016" PRIu64 ".pdj", seq);
}

static int open_segment(struct pd_journal *j, uint64_t seq, int flags)
{
    char name[64];
    seg_name(name, sizeof name, seq);
    return openat(j->dirfd, name, flags | O_CLOEXEC, 0640);
}

static int fsync_dir(struct pd_journal *j)
{
    return fsync(j->dirfd);
}

/* Read exactly n bytes at off; returns bytes read (short at EOF) or -1. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Check the frame at off within [0, limit).  1 valid (*len = payload length),
 * 0 invalid or incomplete, -1 I/O error.  If payload is given, it receives it. */
static int check_frame(int fd, uint64_t off, uint64_t limit, uint32_t *len, pd_buf *payload)
{
    unsigned char hdr[FRAME_HDR];
    if (limit - off < FRAME_HDR)
        return 0;
    ssize_t r = pread_full(fd, hdr, FRAME_HDR, off);
    if (r < 0)
        return -1;
    if (r < FRAME_HDR || memcmp(hdr, FRAME_MAGIC, 4) != 0)
        return 0;
    uint32_t l = get_u32(hdr + 4), crc = get_u32(hdr + 8);
    if (l > PD_JOURNAL_MAX_RECORD || l > limit - off - FRAME_HDR)
        return 0;
    pd_buf tmp = PD_BUF_INIT;
    pd_buf *b = payload ? payload : &tmp;
    pd_buf_reset(b);
    if (pd_buf_reserve(b, l) < 0)
        return -1;
    r = pread_full(fd, b->data, l, off + FRAME_HDR);
    if (r < 0) {
        pd_buf_free(&tmp);
        return -1;
    }
    int ok = (uint32_t)r == l && pd_crc32c(0, b->data, l) == crc;
    b->len = ok ? l : 0;
    b->data[b->len] = '\0';
    pd_buf_free(&tmp);
    *len = l;
    return ok;
}

/* Write the shipped position in place, at a fixed width, so that a full
 * disk cannot keep the journal from recording how far it shipped (and so
 * from freeing segments): the file is made when the journal is opened.  A
 * torn write reads as unreadable and replays, which is harmless. */
static int write_shipped(struct pd_journal *j, struct pd_journal_pos pos)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%020" PRIu64 " %020" PRIu64 "\n", pos.seq, pos.off);
    bool created = false;
    int fd = openat(j->dirfd, "shipped", O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = openat(j->dirfd, "shipped", O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        created = true;
    }
    if (fd < 0)
        return -1;
    int ok = pwrite(fd, buf, (size_t)n, 0) == n && fdatasync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        errno = saved;
        return -1;
    }
    return created ? fsync_dir(j) : 0;
}

static int read_shipped(struct pd_journal *j)
{
    j->shipped.seq = j->first_seq;
    j->shipped.off = 0;
    int fd = openat(j->dirfd, "shipped", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? write_shipped(j, j->shipped) : -1;
    char buf[128];
    ssize_t n = pread_full(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    uint64_t seq, off;
    if (sscanf(buf, "%" SCNu64 " %" SCNu64, &seq, &off) == 2) {
        if (seq < j->first_seq) {
            seq = j->first_seq;
            off = 0;
        }
        j->shipped.seq = seq;
        j->shipped.off = off;
    } else {
        pd_log(PD_LOG_WARNING, "journal %s: unreadable shipped file, replaying from the oldest segment",
               j->dir);
    }
    return 0;
}

static int load_instance(struct pd_journal *j)
{
    int fd = openat(j->dirfd, "instance", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = pread_full(fd, j->instance, 32, 0);
        close(fd);
        if (n == 32) {
            j->instance[32] = '\0';
            return 0;
        }
    }
    if (pd_random_hex(j->instance, 16) < 0)
        return -1;
    fd = openat(j->dirfd, "instance.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int ok = write(fd, j->instance, 32) == 32 && fsync(fd) == 0;
    close(fd);
    if (!ok || renameat(j->dirfd, "instance.tmp", j->dirfd, "instance") < 0)
        return -1;
    return fsync_dir(j);
}

/* Find the segments on disk: first and last sequence numbers. */
/* Whether name is exactly what seg_name() writes: "seg-", 16 digits, ".pdj". */
static bool parse_seg_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 24 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 20, ".pdj") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *seq = v;
    return true;
}

/* The segments on disk numbered above after: first and last (1 and 1 when
 * there are none). */
static int scan_segments_after(struct pd_journal *j, uint64_t after, uint64_t *first,
                               uint64_t *last)
{
    int fd = dup(j->dirfd);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    *first = UINT64_MAX;
    *last = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t seq;
        if (parse_seg_name(e->d_name, &seq) && seq > after) {
            if (seq < *first)
                *first = seq;
            if (seq > *last)
                *last = seq;
        }
    }
    closedir(d);
    if (*first == UINT64_MAX)
        *first = *last = 1;
    return 0;
}

static int scan_segments(struct pd_journal *j, uint64_t *first, uint64_t *last)
{
    return scan_segments_after(j, 0, first, last);
}

/* Cut a torn tail off the last segment. */
static int repair_tail(struct pd_journal *j, int fd, uint64_t seq)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    uint64_t size = (uint64_t)st.st_size, off = 0;
    for (;;) {
        uint32_t len;
        int ok = check_frame(fd, off, size, &len, NULL);
        if (ok < 0)
            return -1;
        if (ok) {
            off += FRAME_HDR + len;
            continue;
        }
        if (off >= size)
            break;
        /* A bad frame followed by good ones is damage inside the file, not a
         * torn tail: keep it all, the reader skips the bad bytes. */
        uint64_t next = off + 1;
        for (; next < size; next++) {
            int v = check_frame(fd, next, size, &len, NULL);
            if (v < 0)
                return -1;
            if (v)
                break;
        }
        if (next >= size)
            break;   /* nothing valid after it: the tail is torn */
        pd_log(PD_LOG_ERR, "journal %s: %" PRIu64 " corrupt bytes at segment %" PRIu64
               " offset %" PRIu64 "; the records after them are kept", j->dir, next - off,
               seq, off);
        off = next;
    }
    if (off < size) {
        char name[64];
        seg_name(name, sizeof name, seq);
        pd_log(PD_LOG_WARNING,
               "journal %s/%s: torn record at offset %" PRIu64 " (%" PRIu64
               " bytes, never acknowledged) cut off",
               j->dir, name, off, size - off);
        j->skipped_bytes += size - off;
        if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0)
            return -1;
    }
    j->append_size = off;
    return 0;
}

/* Count the frames from the shipped position to the end, reading their
 * headers only (for the backlog in records; a run of corrupt bytes ends the
 * count of its segment).  -1 on I/O error. */
static int count_unshipped(struct pd_journal *j, uint64_t *n)
{
    *n = 0;
    uint64_t seq = j->shipped.seq > j->first_seq ? j->shipped.seq : j->first_seq;
    for (; seq <= j->append_seq; seq++) {
        int fd = open_segment(j, seq, O_RDONLY);
        if (fd < 0) {
            uint64_t first, last;
            if (errno != ENOENT || scan_segments_after(j, seq, &first, &last) < 0)
                return -1;
            if (first <= seq || first > j->append_seq)
                break;
            seq = first - 1;   /* a gap: on at the next segment on disk */
            continue;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close(fd);
            return -1;
        }
        uint64_t limit = (uint64_t)st.st_size;
        uint64_t off = seq == j->shipped.seq ? j->shipped.off : 0;
        while (limit - off >= FRAME_HDR && off < limit) {
            unsigned char hdr[FRAME_HDR];
            ssize_t r = pread_full(fd, hdr, FRAME_HDR, off);
            if (r < 0) {
                close(fd);
                return -1;
            }
            if (r < FRAME_HDR || memcmp(hdr, FRAME_MAGIC, 4) != 0)
                break;
            uint32_t l = get_u32(hdr + 4);
            if (l > PD_JOURNAL_MAX_RECORD || l > limit - off - FRAME_HDR)
                break;
            (*n)++;
            off += FRAME_HDR + l;
        }
        close(fd);
    }
    return 0;
}

int pd_journal_open(struct pd_journal **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    struct pd_journal *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "journal %s: out of memory", dir);
        return -1;
    }
    j->dirfd = j->lockfd = j->append_fd = j->read_fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cond, NULL);
    const char *what = "cannot create directory";
    if (!(j->dir = strdup(dir)))
        goto fail;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        goto fail;
    what = "cannot open directory";
    if ((j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto fail;
    what = "cannot open lock file";
    if ((j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
        goto fail;
    if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "journal %s: in use by another process (each milter needs its own JournalDir)",
                 dir);
        pd_journal_close(j);
        return -1;
    }
    what = "cannot create instance id";
    if (load_instance(j) < 0)
        goto fail;
    what = "cannot list segments";
    uint64_t first, last;
    if (scan_segments(j, &first, &last) < 0)
        goto fail;
    j->first_seq = first;
    j->append_seq = last;
    what = "cannot open last segment";
    j->append_fd = open_segment(j, last, O_RDWR | O_CREAT | O_APPEND);
    if (j->append_fd < 0)
        goto fail;
    what = "cannot check last segment";
    if (repair_tail(j, j->append_fd, last) < 0)
        goto fail;
    what = "cannot read shipped position";
    if (read_shipped(j) < 0)
        goto fail;
    if (j->shipped.seq == j->append_seq && j->shipped.off > j->append_size) {
        pd_log(PD_LOG_WARNING, "journal %s: shipped position beyond the end of the last segment "
               "(lost writes?); resuming at its end", dir);
        j->shipped.off = j->append_size;
    }
    what = "cannot count the records not yet shipped";
    if (count_unshipped(j, &j->unshipped_at_open) < 0)
        goto fail;
    *out = j;
    return 0;
fail:
    snprintf(err, errlen, "journal %s: %s: %s", dir, what, strerror(errno));
    pd_journal_close(j);
    return -1;
}

void pd_journal_close(struct pd_journal *j)
{
    if (!j)
        return;
    if (j->append_fd >= 0) {
        if (fsync(j->append_fd) < 0)
            pd_log(PD_LOG_WARNING, "journal %s: fsync: %s", j->dir, strerror(errno));
        close(j->append_fd);
    }
    if (j->read_fd >= 0)
        close(j->read_fd);
    if (j->lockfd >= 0)
        close(j->lockfd);
    if (j->dirfd >= 0)
        close(j->dirfd);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cond);
    free(j->dir);
    free(j);
}

void pd_journal_sync(struct pd_journal *j)
{
    pthread_mutex_lock(&j->mu);
    if (j->append_fd >= 0 && fsync(j->append_fd) < 0)
        pd_log(PD_LOG_WARNING, "journal %s: fsync: %s", j->dir, strerror(errno));
    pthread_mutex_unlock(&j->mu);
}

const char *pd_journal_instance(const struct pd_journal *j)
{
    return j->instance;
}

/* Start the next segment; the old one's descriptor goes to *old, for the
 * caller to sync and close after unlocking (a 64 MB fsync must not hold up
 * the mail threads). */
static int rotate_locked(struct pd_journal *j, int *old)
{
    int fd = open_segment(j, j->append_seq + 1, O_RDWR | O_CREAT | O_APPEND | O_TRUNC);
    if (fd < 0)
        return -1;
    *old = j->append_fd;
    j->append_fd = fd;
    j->append_seq++;
    j->append_size = 0;
    return 0;
}

int pd_journal_append(struct pd_journal *j, const void *payload, size_t len)
{
    if (len > PD_JOURNAL_MAX_RECORD) {
        errno = EFBIG;
        return -1;
    }
    unsigned char hdr[FRAME_HDR];
    memcpy(hdr, FRAME_MAGIC, 4);
    put_u32(hdr + 4, (uint32_t)len);
    put_u32(hdr + 8, pd_crc32c(0, payload, len));
    pd_buf frame = PD_BUF_INIT;
    if (pd_buf_append(&frame, hdr, FRAME_HDR) < 0 || pd_buf_append(&frame, payload, len) < 0) {
        pd_buf_free(&frame);
        errno = ENOMEM;
        return -1;
    }
    int rc = 0, saved = 0;
    int old_fd = -1;
    pthread_mutex_lock(&j->mu);
    if (j->append_size >= PD_JOURNAL_SEGMENT_BYTES && rotate_locked(j, &old_fd) < 0)
        pd_log(PD_LOG_WARNING, "journal %s: cannot start a new segment: %s", j->dir,
               strerror(errno));
    size_t done = 0;
    while (done < frame.len) {
        ssize_t w = write(j->append_fd, frame.data + done, frame.len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            saved = errno;
            break;
        }
        done += (size_t)w;
    }
    if (rc < 0) {
        /* Cut the partial frame off, so the file stays a list of whole records. */
        if (done && ftruncate(j->append_fd, (off_t)j->append_size) < 0) {
            /* The partial frame stays: count it, so the reader's limit stays
             * the file's end and it resyncs past the junk. */
            struct stat st;
            pd_log(PD_LOG_ERR, "journal %s: cannot cut a failed write: %s", j->dir,
                   strerror(errno));
            if (fstat(j->append_fd, &st) == 0)
                j->append_size = (uint64_t)st.st_size;
        }
        j->append_errors++;
        /* Out of room, and Redis has every record of this segment: start a
         * new segment and remove this one, so the journal frees itself and
         * the next mail can be journalled (the reader still holds the old
         * file open and moves on at its end). */
        if ((saved == ENOSPC || saved == EFBIG || saved == EDQUOT) && j->append_size > 0 &&
            j->shipped.seq == j->append_seq && j->shipped.off == j->append_size &&
            old_fd < 0 && rotate_locked(j, &old_fd) == 0) {
            char name[64];
            seg_name(name, sizeof name, j->append_seq - 1);
            if (unlinkat(j->dirfd, name, 0) < 0)
                pd_log(PD_LOG_WARNING, "journal %s: cannot remove %s: %s", j->dir, name,
                       strerror(errno));
            else
                pd_log(PD_LOG_NOTICE, "journal %s: out of room; its records are all in Redis, "
                       "so it starts again with an empty segment", j->dir);
            j->first_seq = j->append_seq;
            pthread_cond_broadcast(&j->cond);   /* the reader lets go of the old file */
        }
    } else {
        j->append_size += frame.len;
        j->appended++;
        pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&j->mu);
    pd_buf_free(&frame);
    if (old_fd >= 0) {
        if (fsync(old_fd) < 0 || fsync_dir(j) < 0)
            pd_log(PD_LOG_WARNING, "journal %s: fsync: %s", j->dir, strerror(errno));
        close(old_fd);
    }
    if (rc < 0)
        errno = saved;
    return rc;
}

struct pd_journal_pos pd_journal_shipped(struct pd_journal *j)
{
    pthread_mutex_lock(&j->mu);
    struct pd_journal_pos pos = j->shipped;
    pthread_mutex_unlock(&j->mu);
    return pos;
}

static void tail(struct pd_journal *j, uint64_t *seq, uint64_t *size)
{
    pthread_mutex_lock(&j->mu);
    *seq = j->append_seq;
    *size = j->append_size;
    pthread_mutex_unlock(&j->mu);
}

int pd_journal_next(struct pd_journal *j, struct pd_journal_pos *pos, pd_buf *payload,
                    struct pd_journal_pos *at)
{
    for (;;) {
        uint64_t tseq, tsize;
        tail(j, &tseq, &tsize);
        if (pos->seq > tseq)
            return 0;
        if (j->read_fd < 0 || j->read_seq != pos->seq) {
            if (j->read_fd >= 0)
                close(j->read_fd);
            j->read_fd = open_segment(j, pos->seq, O_RDONLY);
            j->read_seq = pos->seq;
            if (j->read_fd < 0) {
                if (errno == ENOENT && pos->seq < tseq) {
                    /* a gap: go on at the next segment on disk, not one
                     * number at a time (a gap may be huge) */
                    uint64_t first, last;
                    if (scan_segments_after(j, pos->seq, &first, &last) < 0)
                        return -1;
                    pos->seq = first > pos->seq && first <= tseq ? first : tseq;
                    pos->off = 0;
                    continue;
                }
                return -1;
            }
        }
        uint64_t limit;
        if (pos->seq == tseq) {
            limit = tsize;
        } else {
            struct stat st;
            if (fstat(j->read_fd, &st) < 0)
                return -1;
            limit = (uint64_t)st.st_size;
        }
        if (pos->off >= limit) {
            if (pos->seq == tseq)
                return 0;
            pos->seq++;
            pos->off = 0;
            continue;
        }
        uint32_t len;
        int ok = check_frame(j->read_fd, pos->off, limit, &len, payload);
        if (ok < 0)
            return -1;
        if (ok) {
            *at = *pos;
            pos->off += FRAME_HDR + len;
            return 1;
        }
        /* Corrupt bytes inside the journal: find the next valid frame. */
        uint64_t start = pos->off, off = pos->off + 1;
        for (; off < limit; off++) {
            int v = check_frame(j->read_fd, off, limit, &len, NULL);
            if (v < 0)
                return -1;
            if (v)
                break;
        }
        pd_log(PD_LOG_ERR, "journal %s: %" PRIu64 " corrupt bytes at segment %" PRIu64
               " offset %" PRIu64 " skipped", j->dir, off - start, pos->seq, start);
        pthread_mutex_lock(&j->mu);
        j->skipped_bytes += off - start;
        pthread_mutex_unlock(&j->mu);
        pos->off = off;
    }
}

int pd_journal_commit(struct pd_journal *j, struct pd_journal_pos pos, uint64_t nrecords)
{
    /* The records must be on disk before the position that says they were
     * shipped: after a power loss the segment must not be shorter than it. */
    pthread_mutex_lock(&j->mu);
    int sfd = pos.seq == j->append_seq ? dup(j->append_fd) : -1;
    pthread_mutex_unlock(&j->mu);
    if (sfd >= 0) {
        int r = fdatasync(sfd);
        close(sfd);
        if (r < 0)
            return -1;
    }
    if (write_shipped(j, pos) < 0)
        return -1;
    pthread_mutex_lock(&j->mu);
    j->shipped = pos;
    j->committed += nrecords;
    pthread_mutex_unlock(&j->mu);
    /* Remove segments wholly shipped. */
    pthread_mutex_lock(&j->mu);
    uint64_t first = j->first_seq;
    pthread_mutex_unlock(&j->mu);
    for (uint64_t s = first; s < pos.seq; s++) {
        char name[64];
        seg_name(name, sizeof name, s);
        if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT)
            pd_log(PD_LOG_WARNING, "journal %s: cannot remove %s: %s", j->dir, name,
                   strerror(errno));
    }
    pthread_mutex_lock(&j->mu);
    if (pos.seq > j->first_seq)
        j->first_seq = pos.seq;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

void pd_journal_wait(struct pd_journal *j, struct pd_journal_pos pos, int timeout_ms)
{
    struct timespec ts;
    pd_deadline_ms(&ts, timeout_ms);
    pthread_mutex_lock(&j->mu);
    while (pos.seq == j->append_seq && pos.off >= j->append_size) {
        if (pthread_cond_timedwait(&j->cond, &j->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&j->mu);
}

void pd_journal_get_stats(struct pd_journal *j, struct pd_journal_pos shipped,
                          struct pd_journal_stats *st)
{
    pthread_mutex_lock(&j->mu);
    st->appended = j->appended;
    st->append_errors = j->append_errors;
    st->skipped_bytes = j->skipped_bytes;
    uint64_t seq = j->append_seq, size = j->append_size;
    uint64_t have = j->unshipped_at_open + j->appended, gone = j->committed;
    pthread_mutex_unlock(&j->mu);
    if (shipped.seq == seq)
        st->backlog_bytes = size > shipped.off ? size - shipped.off : 0;
    else
        st->backlog_bytes = (seq - shipped.seq) * PD_JOURNAL_SEGMENT_BYTES + size - shipped.off;
    /* corrupt frames skipped by the reader can make the count drift: the
     * bytes are exact, and no bytes means no records */
    st->backlog_records = st->backlog_bytes == 0 || gone >= have ? 0 : have - gone;
}
