/*
 * test_journal.c - pd_journal in a temporary directory: append and read back,
 * commit and resume, torn tails cut at open, corrupt records skipped, the
 * lock, the instance id and the on-disk frame format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_journal.h"
#include "pd_util.h"

#define SEG1 "seg-0000000000000001.pdj"
#define FRAME_HDR 12

struct fixture {
    char dir[64];
    char seg[128];
    struct pd_journal *open[4];   /* closed by teardown when a test fails early */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/pdj-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->seg, sizeof f->seg, "%s/%s", f->dir, SEG1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 4; i++)
        pd_journal_close(f->open[i]);
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct pd_journal *jopen(struct fixture *f)
{
    struct pd_journal *j = NULL;
    char err[512] = "";
    int rc = pd_journal_open(&j, f->dir, err, sizeof err);
    if (rc != 0)
        print_error("pd_journal_open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    for (int i = 0; i < 4; i++)
        if (!f->open[i]) {
            f->open[i] = j;
            return j;
        }
    fail_msg("too many open journals");
    return NULL;
}

static void jclose(struct fixture *f, struct pd_journal *j)
{
    for (int i = 0; i < 4; i++)
        if (f->open[i] == j)
            f->open[i] = NULL;
    pd_journal_close(j);
}

/* Record i: "record-<i>-" followed by i bytes of filler, so sizes differ. */
static void make_payload(int i, pd_buf *b)
{
    pd_buf_reset(b);
    assert_int_equal(pd_buf_printf(b, "record-%d-", i), 0);
    for (int k = 0; k < i; k++)
        assert_int_equal(pd_buf_putc(b, (char)('a' + k % 26)), 0);
}

static void append_n(struct pd_journal *j, int from, int to)
{
    pd_buf b = PD_BUF_INIT;
    for (int i = from; i < to; i++) {
        make_payload(i, &b);
        assert_int_equal(pd_journal_append(j, b.data, b.len), 0);
    }
    pd_buf_free(&b);
}

/* Read records from *pos, expecting the payloads of the given indexes, then none. */
static void expect_records(struct pd_journal *j, struct pd_journal_pos *pos, const int *idx,
                           size_t n, struct pd_journal_pos *ats)
{
    pd_buf got = PD_BUF_INIT, want = PD_BUF_INIT;
    for (size_t k = 0; k < n; k++) {
        struct pd_journal_pos at;
        int rc = pd_journal_next(j, pos, &got, &at);
        if (rc != 1)
            print_error("record #%zu (payload %d): pd_journal_next returned %d\n", k, idx[k], rc);
        assert_int_equal(rc, 1);
        make_payload(idx[k], &want);
        if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0)
            print_error("record #%zu: expected \"%s\", got \"%.*s\"\n", k, want.data,
                        (int)got.len, got.data);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        assert_int_equal(pos->seq, at.seq);
        assert_int_equal(pos->off, at.off + FRAME_HDR + want.len);
        if (ats)
            ats[k] = at;
    }
    struct pd_journal_pos at;
    assert_int_equal(pd_journal_next(j, pos, &got, &at), 0);
    pd_buf_free(&got);
    pd_buf_free(&want);
}

static void expect_range(struct pd_journal *j, struct pd_journal_pos *pos, int from, int to,
                         struct pd_journal_pos *ats)
{
    int idx[256];
    assert_true(to - from <= 256);
    for (int i = from; i < to; i++)
        idx[i - from] = i;
    expect_records(j, pos, idx, (size_t)(to - from), ats);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static int frame_len(int i)
{
    pd_buf b = PD_BUF_INIT;
    make_payload(i, &b);
    int n = FRAME_HDR + (int)b.len;
    pd_buf_free(&b);
    return n;
}

/* ---- tests ---- */

static void test_append_and_read_in_order(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    assert_int_equal(pos.seq, 1);
    assert_int_equal(pos.off, 0);
    /* nothing yet */
    pd_buf b = PD_BUF_INIT;
    struct pd_journal_pos at;
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 0);
    pd_buf_free(&b);
    append_n(j, 0, 100);
    struct pd_journal_pos ats[100];
    expect_range(j, &pos, 0, 100, ats);
    uint64_t off = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ats[i].seq, 1);
        assert_int_equal(ats[i].off, off);
        off += (uint64_t)frame_len(i);
    }
    assert_int_equal(file_size(f->seg), (off_t)off);
    struct pd_journal_stats st;
    pd_journal_get_stats(j, pd_journal_shipped(j), &st);
    assert_int_equal(st.appended, 100);
    assert_int_equal(st.append_errors, 0);
    assert_int_equal(st.skipped_bytes, 0);
    assert_int_equal(st.backlog_bytes, off);
    /* records appended after the reader caught up are read too */
    append_n(j, 100, 102);
    expect_range(j, &pos, 100, 102, NULL);
    jclose(f, j);
}

static void test_empty_payload(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    assert_int_equal(pd_journal_append(j, "", 0), 0);
    assert_int_equal(pd_journal_append(j, "x", 1), 0);
    struct pd_journal_pos pos = pd_journal_shipped(j), at;
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 1);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'x');
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 0);
    pd_buf_free(&b);
    jclose(f, j);
}

static void test_frame_format_on_disk(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    assert_int_equal(pd_journal_append(j, "123456789", 9), 0);
    jclose(f, j);
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_read_file(f->seg, &b), 0);
    /* "PDJ1", u32 length 9, u32 CRC-32C("123456789") = 0xE3069283, payload */
    static const unsigned char want[] = { 'P', 'D', 'J', '1', 9, 0, 0, 0, 0x83, 0x92, 0x06, 0xE3,
                                          '1', '2', '3', '4', '5', '6', '7', '8', '9' };
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    pd_buf_free(&b);
}

static void test_commit_and_resume(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 20);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 20, NULL);
    /* commit after record 11 */
    struct pd_journal_pos c = { 1, 0 };
    for (int i = 0; i < 12; i++)
        c.off += (uint64_t)frame_len(i);
    assert_int_equal(pd_journal_commit(j, c, 12), 0);
    assert_int_equal(pd_journal_shipped(j).seq, c.seq);
    assert_int_equal(pd_journal_shipped(j).off, c.off);
    struct pd_journal_stats st;
    pd_journal_get_stats(j, c, &st);
    assert_int_equal(st.backlog_bytes, (uint64_t)file_size(f->seg) - c.off);
    assert_int_equal(st.backlog_records, 8);
    jclose(f, j);

    j = jopen(f);
    pos = pd_journal_shipped(j);
    /* counted again from the disk at open */
    pd_journal_get_stats(j, pos, &st);
    assert_int_equal(st.backlog_records, 8);
    assert_int_equal(pos.seq, c.seq);
    assert_int_equal(pos.off, c.off);
    expect_range(j, &pos, 12, 20, NULL);
    /* new appends go after the old records */
    append_n(j, 20, 23);
    expect_range(j, &pos, 20, 23, NULL);
    pd_journal_get_stats(j, pd_journal_shipped(j), &st);
    assert_int_equal(st.backlog_records, 11);
    assert_int_equal(pd_journal_commit(j, pos, 11), 0);
    pd_journal_get_stats(j, pos, &st);
    assert_int_equal(st.backlog_records, 0);
    assert_int_equal(st.backlog_bytes, 0);
    jclose(f, j);

    j = jopen(f);
    pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 0, NULL);
    jclose(f, j);
}

static void test_unreadable_shipped_replays_all(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 3);
    jclose(f, j);
    char p[256];
    snprintf(p, sizeof p, "%s/shipped", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("garbage\n", fp);
    fclose(fp);
    j = jopen(f);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    assert_int_equal(pos.seq, 1);
    assert_int_equal(pos.off, 0);
    expect_range(j, &pos, 0, 3, NULL);
    jclose(f, j);
}

static void test_torn_tail_truncated_record(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 5);
    jclose(f, j);
    off_t full = file_size(f->seg);
    /* cut in the middle of the last record's payload */
    off_t cut = full - frame_len(4) / 2;
    assert_int_equal(truncate(f->seg, cut), 0);
    j = jopen(f);
    assert_int_equal(file_size(f->seg), full - frame_len(4));
    struct pd_journal_stats st;
    pd_journal_get_stats(j, pd_journal_shipped(j), &st);
    assert_int_equal(st.skipped_bytes, (uint64_t)(cut - (full - frame_len(4))));
    struct pd_journal_pos pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 4, NULL);
    /* appending after the repair continues cleanly */
    append_n(j, 4, 6);
    expect_range(j, &pos, 4, 6, NULL);
    jclose(f, j);
    j = jopen(f);
    pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 6, NULL);
    jclose(f, j);
}

static void test_torn_tail_cut_in_header(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 3);
    jclose(f, j);
    off_t full = file_size(f->seg);
    assert_int_equal(truncate(f->seg, full - frame_len(2) + 5), 0);
    j = jopen(f);
    assert_int_equal(file_size(f->seg), full - frame_len(2));
    struct pd_journal_pos pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 2, NULL);
    jclose(f, j);
}

static void test_torn_tail_garbage_appended(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 3);
    jclose(f, j);
    off_t full = file_size(f->seg);
    int fd = open(f->seg, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    static const char junk[] = "PDJ1\x40\x00\x00\x00garbage that is not a record";
    assert_int_equal(write(fd, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    close(fd);
    j = jopen(f);
    assert_int_equal(file_size(f->seg), full);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 3, NULL);
    append_n(j, 3, 4);
    expect_range(j, &pos, 3, 4, NULL);
    jclose(f, j);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void test_corrupt_record_skipped_while_open(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 6);
    /* flip one payload byte of record 2 */
    off_t off2 = frame_len(0) + frame_len(1);
    flip_byte(f->seg, off2 + FRAME_HDR + 3);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    static const int idx[] = { 0, 1, 3, 4, 5 };
    expect_records(j, &pos, idx, 5, NULL);
    struct pd_journal_stats st;
    pd_journal_get_stats(j, pos, &st);
    assert_int_equal(st.skipped_bytes, (uint64_t)frame_len(2));
    jclose(f, j);
}

static void test_corrupt_header_skipped_while_open(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 4);
    /* break the magic of record 1 */
    flip_byte(f->seg, frame_len(0));
    struct pd_journal_pos pos = pd_journal_shipped(j);
    static const int idx[] = { 0, 2, 3 };
    expect_records(j, &pos, idx, 3, NULL);
    jclose(f, j);
}

static void test_corrupt_record_skipped_after_reopen(void **state)
{
    /* A flipped byte in the middle of the segment (bit rot, not a crash
     * during write) must cost that record only: the records after it were
     * acknowledged and must still be read after a restart. */
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 6);
    jclose(f, j);
    off_t full = file_size(f->seg);
    off_t off2 = frame_len(0) + frame_len(1);
    flip_byte(f->seg, off2 + FRAME_HDR + 3);
    j = jopen(f);
    assert_int_equal(file_size(f->seg), full);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    static const int idx[] = { 0, 1, 3, 4, 5 };
    expect_records(j, &pos, idx, 5, NULL);
    jclose(f, j);
}

static void test_second_open_fails_while_open(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    struct pd_journal *j2 = (struct pd_journal *)1;
    char err[512] = "";
    assert_int_equal(pd_journal_open(&j2, f->dir, err, sizeof err), -1);
    assert_null(j2);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "in use"));
    /* the first one still works */
    append_n(j, 0, 1);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    expect_range(j, &pos, 0, 1, NULL);
    jclose(f, j);
    /* once closed, the journal can be opened again */
    j = jopen(f);
    jclose(f, j);
}

static void test_instance_id(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    char first[64];
    const char *id = pd_journal_instance(j);
    assert_int_equal(strlen(id), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", id[i]));
    snprintf(first, sizeof first, "%s", id);
    jclose(f, j);
    j = jopen(f);
    assert_string_equal(pd_journal_instance(j), first);
    jclose(f, j);
    /* it is what the instance file holds */
    char p[256];
    snprintf(p, sizeof p, "%s/instance", f->dir);
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_read_file(p, &b), 0);
    assert_int_equal(b.len, 32);
    assert_memory_equal(b.data, first, 32);
    pd_buf_free(&b);
}

static void test_instance_differs_between_journals(void **state)
{
    struct fixture *f = *state;
    void *other_state = NULL;
    assert_int_equal(setup(&other_state), 0);
    struct fixture *g = other_state;
    struct pd_journal *a = jopen(f), *b = jopen(g);
    assert_string_not_equal(pd_journal_instance(a), pd_journal_instance(b));
    jclose(f, a);
    jclose(g, b);
    teardown(&other_state);
}

static void test_rotation_and_commit_removes_old_segments(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    size_t big = 1u << 20;
    char *payload = malloc(big);
    assert_non_null(payload);
    /* 64 records of 1 MiB fill segment 1 past 64 MiB; the 65th starts segment 2 */
    for (int i = 0; i < 65; i++) {
        memset(payload, 'A' + i % 26, big);
        assert_int_equal(pd_journal_append(j, payload, big), 0);
    }
    char seg2[160];
    snprintf(seg2, sizeof seg2, "%s/seg-0000000000000002.pdj", f->dir);
    assert_int_equal(file_size(f->seg), 64 * (off_t)(big + FRAME_HDR));
    assert_int_equal(file_size(seg2), (off_t)(big + FRAME_HDR));
    struct pd_journal_pos pos = pd_journal_shipped(j), at;
    pd_buf b = PD_BUF_INIT;
    for (int i = 0; i < 65; i++) {
        assert_int_equal(pd_journal_next(j, &pos, &b, &at), 1);
        assert_int_equal(b.len, big);
        assert_int_equal(b.data[0], 'A' + i % 26);
        assert_int_equal(b.data[big - 1], 'A' + i % 26);
        assert_int_equal(at.seq, i < 64 ? 1 : 2);
    }
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 0);
    assert_int_equal(pos.seq, 2);
    assert_int_equal(pos.off, big + FRAME_HDR);
    assert_int_equal(pd_journal_commit(j, pos, 65), 0);
    /* segment 1 is wholly shipped: removed */
    struct stat st;
    assert_int_equal(stat(f->seg, &st), -1);
    assert_int_equal(errno, ENOENT);
    jclose(f, j);
    j = jopen(f);
    pos = pd_journal_shipped(j);
    assert_int_equal(pos.seq, 2);
    assert_int_equal(pos.off, big + FRAME_HDR);
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 0);
    assert_int_equal(pd_journal_append(j, "after", 5), 0);
    assert_int_equal(pd_journal_next(j, &pos, &b, &at), 1);
    assert_int_equal(at.seq, 2);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "after", 5);
    pd_buf_free(&b);
    free(payload);
    jclose(f, j);
}

static void test_append_too_big(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    char small[1] = { 0 };
    errno = 0;
    assert_int_equal(pd_journal_append(j, small, (size_t)PD_JOURNAL_MAX_RECORD + 1), -1);
    assert_int_equal(errno, EFBIG);
    struct pd_journal_stats st;
    pd_journal_get_stats(j, pd_journal_shipped(j), &st);
    assert_int_equal(st.appended, 0);
    assert_int_equal(file_size(f->seg), 0);
    jclose(f, j);
}

static void test_wait(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    uint64_t t0 = pd_now_us();
    pd_journal_wait(j, pos, 100);
    uint64_t waited = pd_now_us() - t0;
    assert_true(waited >= 90000);
    append_n(j, 0, 1);
    t0 = pd_now_us();
    pd_journal_wait(j, pos, 5000);
    assert_true(pd_now_us() - t0 < 1000000);
    jclose(f, j);
}

static void test_open_error_message(void **state)
{
    struct fixture *f = *state;
    char p[256];
    snprintf(p, sizeof p, "%s/file", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    struct pd_journal *j = NULL;
    char err[512] = "";
    /* a regular file where the directory should be */
    assert_int_equal(pd_journal_open(&j, p, err, sizeof err), -1);
    assert_null(j);
    assert_non_null(strstr(err, p));
}

/* A journal out of room (RLIMIT_FSIZE, as a full disk) whose records Redis
 * all has starts again with an empty segment: the next append works, the
 * full segment is gone, and the reader goes on without losing or repeating
 * a record. */
static void test_full_journal_frees_itself(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct pd_journal *j = jopen(f);
    small = old;
    small.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    pd_buf b = PD_BUF_INIT;
    int n = 0;
    for (;; n++) {
        make_payload(n, &b);
        if (pd_journal_append(j, b.data, b.len) < 0)
            break;
    }
    int e = errno;
    assert_true(n > 10);
    assert_int_equal(e, EFBIG);
    struct stat st;
    assert_int_equal(stat(f->seg, &st), 0);
    assert_true(st.st_size <= 4096);   /* the failed frame was cut off */

    /* not shipped yet: the journal keeps its records and keeps failing */
    make_payload(n, &b);
    assert_int_equal(pd_journal_append(j, b.data, b.len), -1);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    int *idx = calloc((size_t)n, sizeof *idx);
    assert_non_null(idx);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    expect_records(j, &pos, idx, (size_t)n, NULL);
    assert_int_equal(pd_journal_commit(j, pos, (uint64_t)n), 0);

    /* all shipped: the failing append starts a new segment and drops the old */
    assert_int_equal(pd_journal_append(j, b.data, b.len), -1);
    assert_int_equal(stat(f->seg, &st), -1);
    assert_int_equal(pd_journal_append(j, b.data, b.len), 0);
    int next[] = { n };
    expect_records(j, &pos, next, 1, NULL);
    assert_int_equal(pos.seq, 2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    struct pd_journal_stats js;
    pd_journal_get_stats(j, pos, &js);
    assert_int_equal(js.append_errors, 3);
    free(idx);
    pd_buf_free(&b);
    jclose(f, j);
}

/* Names that are not exactly seg-<16 digits>.pdj are not segments: a stray
 * seg--1.pdj must not become segment 2^64-1; and a gap between segments is
 * crossed at once, however big. */
static void test_stray_segment_names_and_gaps(void **state)
{
    struct fixture *f = *state;
    struct pd_journal *j = jopen(f);
    append_n(j, 0, 3);
    jclose(f, j);
    const char *stray[] = { "seg--1.pdj", "seg-1.pdj", "seg-+000000000000009.pdj",
                            "seg-00000000000000099.pdj", "seg-0000000000000009.pdjx" };
    for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->dir, stray[i]);
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fclose(fp);
    }
    /* a real segment far ahead: the reader jumps the gap */
    char far[512];
    snprintf(far, sizeof far, "%s/seg-9000000000000000.pdj", f->dir);
    FILE *fp = fopen(far, "w");
    assert_non_null(fp);
    fclose(fp);
    j = jopen(f);
    append_n(j, 3, 4);
    struct pd_journal_pos pos = pd_journal_shipped(j);
    int idx[] = { 0, 1, 2, 3 };
    expect_records(j, &pos, idx, 4, NULL);
    assert_int_equal(pos.seq, 9000000000000000ull);
    jclose(f, j);
    for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->dir, stray[i]);
        unlink(p);
    }
}

/* The CRC-32C of the records: the check value of the standard (RFC 3720
 * B.4), and the CPU's crc32 instruction (where there is one) agreeing with
 * the table at every length and alignment, in pieces and at once. */
static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(pd_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(pd_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    unsigned char zeros[32] = {0};
    assert_int_equal(pd_crc32c(0, zeros, 32), 0x8A9136AAu);
    unsigned char buf[1100];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 1 + len / 8) {
            uint32_t want = pd_crc32c_sw(0, buf + off, len);
            assert_int_equal(pd_crc32c(0, buf + off, len), want);
            size_t half = len / 3;
            assert_int_equal(pd_crc32c(pd_crc32c(0, buf + off, half), buf + off + half,
                                       len - half), want);
        }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_append_and_read_in_order),
        T(test_empty_payload),
        T(test_frame_format_on_disk),
        T(test_commit_and_resume),
        T(test_unreadable_shipped_replays_all),
        T(test_torn_tail_truncated_record),
        T(test_torn_tail_cut_in_header),
        T(test_torn_tail_garbage_appended),
        T(test_corrupt_record_skipped_while_open),
        T(test_corrupt_header_skipped_while_open),
        T(test_corrupt_record_skipped_after_reopen),
        T(test_second_open_fails_while_open),
        T(test_instance_id),
        T(test_instance_differs_between_journals),
        T(test_rotation_and_commit_removes_old_segments),
        T(test_append_too_big),
        T(test_wait),
        T(test_open_error_message),
        T(test_full_journal_frees_itself),
        T(test_stray_segment_names_and_gaps),
        cmocka_unit_test(test_crc32c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
