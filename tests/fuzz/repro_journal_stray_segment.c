/*
 * repro_journal_stray_segment.c - reproducer for a journal.c bug found while
 * writing fuzz_journal (by reading scan_segments(), not by the fuzzer, whose
 * input is one segment's content, not the directory's file names).
 *
 * scan_segments() takes any name sscanf() reads as "seg-%16" SCNu64 ".%4s"
 * for a segment, and %llu accepts a sign and fewer than 16 digits.  In a
 * journal that has a segment 1, a stray file "seg--1.pdj" is read as segment
 * 18446744073709551615 (UINT64_MAX): pd_journal_open() makes that the last
 * segment (and creates seg-18446744073709551615.pdj to append to), and
 * pd_journal_next(), from the shipped position in segment 1, then steps
 * through every missing sequence number one openat() at a time, 2^64 of
 * them: the writer thread never ships a record again (pd_journal_commit()
 * would likewise try to unlink 2^64 names).  A real-looking name far ahead,
 * e.g. seg-9000000000000000.pdj, does the same.  (In an empty journal the
 * stray name is mistaken for "no segment at all", as its number equals the
 * UINT64_MAX that scan_segments() starts "first" with.)
 *
 * A fix: accept only "seg-" + exactly 16 digits + ".pdj", and let the
 * reader jump over a gap to the next segment on disk instead of walking it.
 *
 * Build and run from the top of the source tree (after "make"):
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -o build/repro_journal_stray_segment \
 *       tests/fuzz/repro_journal_stray_segment.c build/libpatchdigest.a \
 *       $(pkg-config --libs gmime-3.0 hiredis) -pthread
 *   build/repro_journal_stray_segment
 * Exit 0: the record appended after open is read back within 5 s (fixed);
 * exit 1: pd_journal_next() is still walking the gap after 5 s (the bug).
 */
#include "pd_journal.h"
#include "pd_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pd-repro-journal-XXXXXX";

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "BUG: pd_journal_next() still walking the sequence gap after 5 s\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    cleanup();
    _exit(1);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    atexit(cleanup);
    struct pd_journal *j;
    char err[512];
    /* a journal in use: segment 1 holds a record */
    if (pd_journal_open(&j, dir, err, sizeof err) < 0 || pd_journal_append(j, "old", 3) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pd_journal_close(j);

    char path[128];
    snprintf(path, sizeof path, "%s/seg--1.pdj", dir);   /* the stray file */
    int fd = open(path, O_WRONLY | O_CREAT, 0640);
    if (fd < 0)
        return 2;
    close(fd);

    if (pd_journal_open(&j, dir, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct pd_journal_pos pos = pd_journal_shipped(j), at;
    fprintf(stderr, "shipped position: segment %llu offset %llu\n", (unsigned long long)pos.seq,
           (unsigned long long)pos.off);
    if (pd_journal_append(j, "record", 6) < 0)
        return 2;
    signal(SIGALRM, on_alarm);
    alarm(5);
    pd_buf p = PD_BUF_INIT;
    int rc;
    while ((rc = pd_journal_next(j, &pos, &p, &at)) == 1 &&
           !(p.len == 6 && memcmp(p.data, "record", 6) == 0))
        ;
    alarm(0);
    fprintf(stderr, "pd_journal_next: %d, the appended record %s\n", rc,
            rc == 1 ? "read back" : "not read");
    pd_buf_free(&p);
    pd_journal_close(j);
    return rc == 1 ? 0 : 1;
}
