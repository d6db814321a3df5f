/*
 * fuzz_journal.c - libFuzzer target: the journal reader.  The bytes become
 * the one segment file (seg-0000000000000001.pdj) of a journal directory
 * that also holds an "instance" and a "shipped" file ("1 0"); then
 * pd_journal_open() (which cuts a torn tail off) and pd_journal_next() until
 * it has read every record, each payload also handed to pd_record_decode().
 * Last, one record is appended and must be read back whole: whatever the
 * segment held, the journal must not lose a record written after it.
 *
 * One temporary directory per process (in /dev/shm when it is writable, so
 * the journal's fsync calls cost nothing; else $TMPDIR or /tmp), emptied
 * before each input and removed at exit.
 *
 * Run:  make fuzz
 *       build/fuzz/fuzz_journal -max_len=65536 MYCORPUS build/fuzz/corpus/journal
 */
#define FUZZ_NAME "fuzz_journal"
#include "fuzz_util.h"
#include "pd_journal.h"
#include "pd_log.h"
#include "pd_record.h"
#include "pd_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEGMENT "seg-0000000000000001.pdj"
#define INSTANCE "0123456789abcdef0123456789abcdef"
#define PROBE "fuzz_journal probe record"

static char dir[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_file(const char *name, const void *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fuzz_write_file(path, data, len, 0640);
}

/* Remove every file of the directory; keep the directory itself. */
static void empty_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        fuzz_die(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) < 0 && errno != ENOENT)
            fuzz_die(path);
    }
    closedir(d);
}

static void remove_dir(void)
{
    if (!dir[0])
        return;
    empty_dir();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    snprintf(dir, sizeof dir, "%s/pd-fuzz-journal-XXXXXX", fuzz_tmp_base());
    if (!mkdtemp(dir))
        fuzz_die("mkdtemp");
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    empty_dir();
    write_file("instance", INSTANCE, 32);
    write_file("shipped", "1 0\n", 4);
    write_file(SEGMENT, data, size);

    struct pd_journal *j;
    char err[512];
    if (pd_journal_open(&j, dir, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_journal: %s\n", err);
        abort();   /* a damaged segment must not stop the milter */
    }
    if (strcmp(pd_journal_instance(j), INSTANCE) != 0)
        abort();
    struct pd_journal_pos pos = pd_journal_shipped(j), at;
    pd_buf payload = PD_BUF_INIT;
    int rc;
    size_t n = 0;
    while ((rc = pd_journal_next(j, &pos, &payload, &at)) == 1) {
        struct pd_record r;
        (void)pd_record_decode(payload.data, payload.len, &r);
        if (++n > size)
            abort();   /* more records than bytes: the reader is going round */
    }
    if (rc < 0)
        fuzz_die("pd_journal_next");

    struct pd_journal_pos end = pos;
    if (pd_journal_append(j, PROBE, strlen(PROBE)) < 0)
        fuzz_die("pd_journal_append");
    rc = pd_journal_next(j, &pos, &payload, &at);
    if (rc != 1 || at.seq != end.seq || at.off != end.off || payload.len != strlen(PROBE) ||
        memcmp(payload.data, PROBE, payload.len) != 0) {
        fprintf(stderr, "fuzz_journal: the record appended after the input was not read back "
                "(rc %d)\n", rc);
        abort();
    }
    if (pd_journal_next(j, &pos, &payload, &at) != 0)
        abort();
    pd_buf_free(&payload);
    pd_journal_close(j);
    return 0;
}
