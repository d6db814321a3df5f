/*
 * unit_util.h - helpers shared by the cmocka unit tests (not a test itself:
 * the Makefile only builds tests/unit/test_*.c).
 *
 * Fixture mails live in ../shared/corpus relative to the repository root (the
 * tests run with the repository root as current directory); the environment
 * variable PD_CORPUS overrides that directory.
 */
#ifndef PD_UNIT_UTIL_H
#define PD_UNIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_mail.h"
#include "pd_util.h"

/* Path of a corpus file, e.g. corpus_path("fixtures/git-t5100/empty"). Caller frees. */
static inline char *corpus_path(const char *rel)
{
    const char *base = getenv("PD_CORPUS");
    if (!base || !*base)
        base = "../shared/corpus";
    size_t n = strlen(base) + 1 + strlen(rel) + 1;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", base, rel);
    return p;
}

/* Read a corpus file into b (the test fails when it cannot be read). */
static inline void read_corpus(const char *rel, pd_buf *b)
{
    char *p = corpus_path(rel);
    int rc = pd_read_file(p, b);
    if (rc < 0)
        print_error("cannot read corpus file %s (set PD_CORPUS?)\n", p);
    free(p);
    assert_int_equal(rc, 0);
    assert_non_null(b->data);
}

/* Parse a corpus file with pd_mail_parse; the caller clears m. */
static inline void parse_corpus(const char *rel, struct pd_mail *m)
{
    pd_buf b = PD_BUF_INIT;
    read_corpus(rel, &b);
    assert_int_equal(pd_mail_parse(m, b.data, b.len), 0);
    pd_buf_free(&b);
}

/* Parse a mail given as a C string; the caller clears m. */
static inline void parse_string(const char *text, struct pd_mail *m)
{
    assert_int_equal(pd_mail_parse(m, text, strlen(text)), 0);
}

/* A temporary directory and a file in it, for the tests on files:
 *   static int setup(void **state) { return tmp_setup(state, "pdconf", "patchdigest.conf"); }
 *   cmocka_unit_test_setup_teardown(fn, setup, tmp_teardown)
 * then struct tmp_fixture *f = *state; f->path.  The directory is made under
 * $TMPDIR when that is short enough, else /tmp. */
struct tmp_fixture {
    char dir[64];
    char path[128];
};

static inline int tmp_setup(void **state, const char *prefix, const char *name)
{
    struct tmp_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/%s-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp",
             prefix);
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    *state = f;
    return 0;
}

static inline int tmp_teardown(void **state)
{
    struct tmp_fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Every string field of a parsed mail is non-NULL and NUL-free valid UTF-8. */
static inline void assert_utf8(const char *s)
{
    assert_non_null(s);
    assert_true(g_utf8_validate(s, -1, NULL));
}

static inline void assert_mail_strings_valid(const struct pd_mail *m)
{
    assert_utf8(m->subject);
    assert_utf8(m->message_id);
    assert_true(m->message_id[0] != '\0');
    assert_utf8(m->in_reply_to);
    assert_utf8(m->list_id);
    assert_utf8(m->date);
    assert_utf8(m->from.name);
    assert_utf8(m->from.addr);
    assert_utf8(m->xorig.name);
    assert_utf8(m->xorig.addr);
    assert_utf8(m->text_body);
    assert_utf8(m->raw_headers);
    for (size_t i = 0; i < m->nrefs; i++)
        assert_utf8(m->references[i]);
}

#endif
