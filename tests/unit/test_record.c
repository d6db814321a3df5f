/*
 * test_record.c - pd_record_build() / pd_record_encode() / pd_record_decode():
 * every field round-trips, and malformed payloads are rejected.
 */
#include "unit_util.h"

#include "pd_classify.h"
#include "pd_record.h"

static void assert_field_at(const struct pd_record *r, int i, const char *want, const char *file,
                            int line)
{
    size_t wl = strlen(want);
    if (r->f[i].len != wl || (wl && memcmp(r->f[i].p, want, wl) != 0)) {
        print_error("%s:%d: field %d: expected \"%s\", got \"%.*s\"\n", file, line, i, want,
                    (int)r->f[i].len, r->f[i].p ? r->f[i].p : "");
        fail();
    }
}

#define FIELD(r, i, want) assert_field_at((r), (i), (want), __FILE__, __LINE__)

struct built {
    struct pd_mail m;
    struct pd_classified c;
    pd_buf payload;
};

static void build(const char *text, const char *list, int64_t when, unsigned flags, struct built *b)
{
    memset(b, 0, sizeof *b);
    parse_string(text, &b->m);
    assert_int_equal(pd_classify(&b->m, &b->c), 0);
    assert_int_equal(pd_record_build(&b->payload, list, &b->m, &b->c, when, flags), 0);
}

static void unbuild(struct built *b)
{
    pd_classified_clear(&b->c);
    pd_mail_clear(&b->m);
    pd_buf_free(&b->payload);
}

static const char patch_mail[] =
    "From: Sender Person <sender@corp.example>\n"
    "Subject: [RFC PATCH net-next v2 3/7] net: do a thing\n"
    "Message-ID: <patch3@corp.example>\n"
    "In-Reply-To: <cover@corp.example>\n"
    "References: <cover@corp.example> <patch2@corp.example>\n"
    "\n"
    "From: Real Author <Real@Upstream.ORG>\n"
    "\n"
    "Do the thing.\n"
    "\n"
    "Signed-off-by: Real Author <real@upstream.org>\n"
    "---\n"
    " a.c | 2 +-\n"
    " 1 file changed, 1 insertion(+), 1 deletion(-)\n"
    "\n"
    "diff --git a/a.c b/a.c\n"
    "--- a/a.c\n"
    "+++ b/a.c\n"
    "@@ -1 +1 @@\n"
    "-a\n"
    "+b\n";

static void test_build_decode_patch(void **state)
{
    (void)state;
    struct built b;
    build(patch_mail, "netdev.vger.kernel.org", 1628115000, PD_REC_TRUNCATED, &b);
    struct pd_record r;
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_FORMAT, PD_RECORD_FORMAT);
    FIELD(&r, PD_F_LIST, "netdev.vger.kernel.org");
    FIELD(&r, PD_F_MID, "patch3@corp.example");
    FIELD(&r, PD_F_CLASS, "patch");
    FIELD(&r, PD_F_VERSION, "2");
    FIELD(&r, PD_F_INDEX, "3");
    FIELD(&r, PD_F_TOTAL, "7");
    FIELD(&r, PD_F_NAME, "Real Author");
    FIELD(&r, PD_F_ADDR, "real@upstream.org");
    FIELD(&r, PD_F_SUBJECT, "[RFC PATCH net-next v2 3/7] net: do a thing");
    FIELD(&r, PD_F_TITLE, "net: do a thing");
    FIELD(&r, PD_F_AUTHOR, "Sender Person <sender@corp.example>");
    FIELD(&r, PD_F_ROOT, "cover@corp.example");
    FIELD(&r, PD_F_IRT, "cover@corp.example");
    FIELD(&r, PD_F_REFS, "cover@corp.example\npatch2@corp.example");
    FIELD(&r, PD_F_REVIEWERS, "");
    FIELD(&r, PD_F_TIME, "1628115000");
    FIELD(&r, PD_F_FLAGS, "ti");
    FIELD(&r, PD_F_EXCERPT,
          "From: Real Author <Real@Upstream.ORG>\n\nDo the thing.\n\n"
          "Signed-off-by: Real Author <real@upstream.org>\n---\n a.c | 2 +-\n"
          " 1 file changed, 1 insertion(+), 1 deletion(-)");
    FIELD(&r, PD_F_HEADERS,
          "From: Sender Person <sender@corp.example>\n"
          "Subject: [RFC PATCH net-next v2 3/7] net: do a thing\n"
          "Message-ID: <patch3@corp.example>\n"
          "In-Reply-To: <cover@corp.example>\n"
          "References: <cover@corp.example> <patch2@corp.example>\n");
    FIELD(&r, PD_F_PREFIXES, "RFC net-next");
    /* the views point into the payload */
    const char *lo = b.payload.data, *hi = b.payload.data + b.payload.len;
    for (int i = 0; i < PD_F_COUNT; i++)
        assert_true(r.f[i].p >= lo && r.f[i].p + r.f[i].len <= hi);
    unbuild(&b);
}

static void test_build_decode_reply_with_reviewers(void **state)
{
    (void)state;
    struct built b;
    build("From: Rita Reviewer <rita@example.org>\n"
          "Subject: Re: [PATCH v2 3/7] net: do a thing\n"
          "Message-ID: <reply@example.org>\n"
          "In-Reply-To: <patch3@corp.example>\n"
          "References: <cover@corp.example> <patch3@corp.example>\n"
          "\n"
          "> +b\n\n"
          "Reviewed-by: Rita Reviewer <rita@example.org>\n"
          "Acked-by: Al Acker <AL@example.org>\n",
          "netdev.vger.kernel.org", -5, 0, &b);
    struct pd_record r;
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_CLASS, "reply");
    /* the reply still carries the tag's numbers */
    FIELD(&r, PD_F_VERSION, "2");
    FIELD(&r, PD_F_INDEX, "3");
    FIELD(&r, PD_F_TOTAL, "7");
    FIELD(&r, PD_F_NAME, "Rita Reviewer");
    FIELD(&r, PD_F_ADDR, "rita@example.org");
    FIELD(&r, PD_F_ROOT, "cover@corp.example");
    FIELD(&r, PD_F_IRT, "patch3@corp.example");
    FIELD(&r, PD_F_REFS, "cover@corp.example\npatch3@corp.example");
    FIELD(&r, PD_F_REVIEWERS, "rita@example.org\tRita Reviewer\nal@example.org\tAl Acker");
    FIELD(&r, PD_F_TIME, "-5");
    FIELD(&r, PD_F_FLAGS, "");
    /* replies keep neither text nor headers */
    FIELD(&r, PD_F_EXCERPT, "");
    FIELD(&r, PD_F_HEADERS, "");
    FIELD(&r, PD_F_PREFIXES, "");
    /* the outcome fields (pd_outcome.h): trailers by kind, no notice */
    FIELD(&r, PD_F_TRAILERS, "r\trita@example.org\tRita Reviewer\na\tal@example.org\tAl Acker");
    FIELD(&r, PD_F_NOTICE, "");
    unbuild(&b);
}

static void test_build_decode_notice(void **state)
{
    (void)state;
    struct built b;
    build("From: Maintainer <maint@example.org>\n"
          "Subject: Re: [PATCH 0/2] net: two things\n"
          "Message-ID: <ty@example.org>\n"
          "In-Reply-To: <cover@corp.example>\n"
          "\n"
          "Applied to net-next (main), thanks!\n\n"
          "[1/2] net: one\n      commit: ABCDEF0123456789\n",
          "netdev.vger.kernel.org", 1, 0, &b);
    struct pd_record r;
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_CLASS, "reply");
    FIELD(&r, PD_F_TRAILERS, "");
    FIELD(&r, PD_F_NOTICE, "net-next (main)\n\n1\t2\tabcdef012345\tnet: one");
    unbuild(&b);
    /* a patch's own text is never read for notices or trailers */
    build("From: A <a@example.org>\nSubject: [PATCH] x\nMessage-ID: <p@x>\n\n"
          "Applied to next.\nReviewed-by: R <r@example.org>\n---\n"
          "diff --git a/x b/x\n--- a/x\n+++ b/x\n",
          "netdev.vger.kernel.org", 1, 0, &b);
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_CLASS, "patch");
    FIELD(&r, PD_F_TRAILERS, "");
    FIELD(&r, PD_F_NOTICE, "");
    unbuild(&b);
}

static void test_build_decode_other_without_tag(void **state)
{
    (void)state;
    struct built b;
    build("From: someone@example.org\nSubject: hello\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n\nhi\n",
          "kvm.vger.kernel.org", 0, 0, &b);
    struct pd_record r;
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_CLASS, "other");
    FIELD(&r, PD_F_VERSION, "");
    FIELD(&r, PD_F_INDEX, "");
    FIELD(&r, PD_F_TOTAL, "");
    FIELD(&r, PD_F_NAME, "");
    FIELD(&r, PD_F_ADDR, "someone@example.org");
    FIELD(&r, PD_F_AUTHOR, "<someone@example.org>");
    FIELD(&r, PD_F_MID, b.m.message_id);
    FIELD(&r, PD_F_ROOT, b.m.message_id);
    FIELD(&r, PD_F_IRT, "");
    FIELD(&r, PD_F_REFS, "");
    FIELD(&r, PD_F_TIME, "0");
    FIELD(&r, PD_F_FLAGS, "s");     /* synthetic Message-ID */
    FIELD(&r, PD_F_TITLE, "hello");
    FIELD(&r, PD_F_EXCERPT, "");
    FIELD(&r, PD_F_HEADERS, "");
    unbuild(&b);
}

static void test_build_patch_without_index(void **state)
{
    (void)state;
    struct built b;
    build("From: A <a@x>\nSubject: [PATCH] single\nMessage-ID: <s@x>\n\n"
          "Text.\n---\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n",
          "l", 1, 0, &b);
    struct pd_record r;
    assert_int_equal(pd_record_decode(b.payload.data, b.payload.len, &r), 0);
    FIELD(&r, PD_F_CLASS, "patch");
    FIELD(&r, PD_F_VERSION, "1");
    FIELD(&r, PD_F_INDEX, "");
    FIELD(&r, PD_F_TOTAL, "");
    FIELD(&r, PD_F_EXCERPT, "Text.\n---");
    FIELD(&r, PD_F_LIST, "l");
    unbuild(&b);
}

static void test_build_appends(void **state)
{
    (void)state;
    struct built b;
    build(patch_mail, "x", 1, 0, &b);
    size_t one = b.payload.len;
    assert_int_equal(pd_record_build(&b.payload, "x", &b.m, &b.c, 1, 0), 0);
    assert_int_equal(b.payload.len, 2 * one);
    assert_memory_equal(b.payload.data, b.payload.data + one, one);
    unbuild(&b);
}

/* ---- encode / decode directly ---- */

static void fill_fields(struct pd_field_view f[PD_F_COUNT], char storage[PD_F_COUNT][24])
{
    for (int i = 0; i < PD_F_COUNT; i++) {
        snprintf(storage[i], sizeof storage[i], "field-%d", i);
        f[i].p = storage[i];
        f[i].len = strlen(storage[i]);
    }
    f[PD_F_FORMAT].p = PD_RECORD_FORMAT;
    f[PD_F_FORMAT].len = 1;
}

static void test_encode_decode_all_fields(void **state)
{
    (void)state;
    struct pd_field_view f[PD_F_COUNT];
    char storage[PD_F_COUNT][24];
    fill_fields(f, storage);
    /* binary content, NULs included, survives */
    static const char bin[] = { 'a', '\0', '\xff', '\n', 'b' };
    f[PD_F_EXCERPT].p = bin;
    f[PD_F_EXCERPT].len = sizeof bin;
    pd_buf out = PD_BUF_INIT;
    assert_int_equal(pd_record_encode(&out, f), 0);
    size_t want_len = 2;
    for (int i = 0; i < PD_F_COUNT; i++)
        want_len += 4 + f[i].len;
    assert_int_equal(out.len, want_len);
    assert_int_equal((unsigned char)out.data[0], PD_F_COUNT);
    assert_int_equal((unsigned char)out.data[1], 0);
    struct pd_record r;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), 0);
    for (int i = 0; i < PD_F_COUNT; i++) {
        assert_int_equal(r.f[i].len, f[i].len);
        assert_memory_equal(r.f[i].p, f[i].p, f[i].len);
    }
    pd_buf_free(&out);
}

static void test_encode_empty_fields(void **state)
{
    (void)state;
    struct pd_field_view f[PD_F_COUNT];
    memset(f, 0, sizeof f);     /* every field NULL, length 0 */
    f[PD_F_FORMAT].p = PD_RECORD_FORMAT;
    f[PD_F_FORMAT].len = 1;
    pd_buf out = PD_BUF_INIT;
    assert_int_equal(pd_record_encode(&out, f), 0);
    assert_int_equal(out.len, 2 + 4 * PD_F_COUNT + 1);
    /* u16 count, then u32 1 and "1", then u32 0 for every other field */
    unsigned char want[2 + 4 * PD_F_COUNT + 1];
    memset(want, 0, sizeof want);
    want[0] = PD_F_COUNT;
    want[2] = 1;
    want[6] = '1';
    assert_memory_equal(out.data, want, sizeof want);
    struct pd_record r;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), 0);
    for (int i = 1; i < PD_F_COUNT; i++)
        assert_int_equal(r.f[i].len, 0);
    pd_buf_free(&out);
    /* all empty, the format too: encodes, but is not a valid record */
    memset(f, 0, sizeof f);
    assert_int_equal(pd_record_encode(&out, f), 0);
    assert_int_equal(out.len, 2 + 4 * PD_F_COUNT);
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    pd_buf_free(&out);
}

static void encode_filled(pd_buf *out)
{
    struct pd_field_view f[PD_F_COUNT];
    char storage[PD_F_COUNT][24];
    fill_fields(f, storage);
    assert_int_equal(pd_record_encode(out, f), 0);
}

static void test_decode_rejects_truncated(void **state)
{
    (void)state;
    pd_buf out = PD_BUF_INIT;
    encode_filled(&out);
    struct pd_record r;
    for (size_t n = 0; n < out.len; n++) {
        /* a copy of exactly n bytes, so that a read past it is caught by tools */
        char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, out.data, n);
        if (pd_record_decode(copy, n, &r) != -1)
            print_error("a payload cut to %zu of %zu bytes was accepted\n", n, out.len);
        assert_int_equal(pd_record_decode(copy, n, &r), -1);
        free(copy);
    }
    assert_int_equal(pd_record_decode(out.data, out.len, &r), 0);
    pd_buf_free(&out);
}

static void test_decode_rejects_trailing_bytes(void **state)
{
    (void)state;
    pd_buf out = PD_BUF_INIT;
    encode_filled(&out);
    assert_int_equal(pd_buf_putc(&out, 'x'), 0);
    struct pd_record r;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    pd_buf_free(&out);
}

static void test_decode_rejects_wrong_counts(void **state)
{
    (void)state;
    pd_buf out = PD_BUF_INIT;
    struct pd_record r;
    /* fewer fields than this reader knows */
    encode_filled(&out);
    out.data[0] = PD_F_COUNT - 1;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    out.data[0] = 0;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    /* more fields announced than present */
    out.data[0] = PD_F_COUNT + 1;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    out.data[0] = (char)0xff;
    out.data[1] = (char)0xff;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    pd_buf_free(&out);
    /* a field length beyond the payload */
    encode_filled(&out);
    memset(out.data + 2, 0xff, 4);
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    pd_buf_free(&out);
}

static void test_decode_accepts_newer_writer(void **state)
{
    (void)state;
    /* a newer writer adds a field at the end: the known ones still decode */
    pd_buf out = PD_BUF_INIT;
    encode_filled(&out);
    out.data[0] = PD_F_COUNT + 1;
    unsigned char extra[4] = { 3, 0, 0, 0 };
    assert_int_equal(pd_buf_append(&out, extra, 4), 0);
    assert_int_equal(pd_buf_puts(&out, "new"), 0);
    struct pd_record r;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), 0);
    assert_int_equal(r.f[PD_F_PREFIXES].len, strlen("field-20"));
    assert_memory_equal(r.f[PD_F_PREFIXES].p, "field-20", strlen("field-20"));
    pd_buf_free(&out);
}

static void test_decode_accepts_v1_record(void **state)
{
    (void)state;
    /* a record from before the trailers and notice fields: they read empty */
    struct pd_field_view f[PD_F_COUNT];
    char storage[PD_F_COUNT][24];
    fill_fields(f, storage);
    pd_buf out = PD_BUF_INIT;
    assert_int_equal(pd_buf_putc(&out, PD_F_COUNT_V1), 0);
    assert_int_equal(pd_buf_putc(&out, 0), 0);
    for (int i = 0; i < PD_F_COUNT_V1; i++) {
        unsigned char l[4] = { (unsigned char)f[i].len, 0, 0, 0 };
        assert_int_equal(pd_buf_append(&out, l, 4), 0);
        assert_int_equal(pd_buf_append(&out, f[i].p, f[i].len), 0);
    }
    struct pd_record r;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), 0);
    assert_int_equal(r.f[PD_F_PREFIXES].len, f[PD_F_PREFIXES].len);
    assert_int_equal(r.f[PD_F_TRAILERS].len, 0);
    assert_non_null(r.f[PD_F_TRAILERS].p);
    assert_int_equal(r.f[PD_F_NOTICE].len, 0);
    assert_non_null(r.f[PD_F_NOTICE].p);
    /* fewer still is refused */
    out.data[0] = PD_F_COUNT_V1 - 1;
    assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
    pd_buf_free(&out);
}

static void test_decode_rejects_wrong_format(void **state)
{
    (void)state;
    static const char *const formats[] = { "2", "0", "", "11", "1x" };
    for (size_t k = 0; k < sizeof formats / sizeof formats[0]; k++) {
        struct pd_field_view f[PD_F_COUNT];
        char storage[PD_F_COUNT][24];
        fill_fields(f, storage);
        f[PD_F_FORMAT].p = formats[k];
        f[PD_F_FORMAT].len = strlen(formats[k]);
        pd_buf out = PD_BUF_INIT;
        assert_int_equal(pd_record_encode(&out, f), 0);
        struct pd_record r;
        if (pd_record_decode(out.data, out.len, &r) != -1)
            print_error("format \"%s\" accepted\n", formats[k]);
        assert_int_equal(pd_record_decode(out.data, out.len, &r), -1);
        pd_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_decode_patch),
        cmocka_unit_test(test_build_decode_reply_with_reviewers),
        cmocka_unit_test(test_build_decode_notice),
        cmocka_unit_test(test_build_decode_other_without_tag),
        cmocka_unit_test(test_build_patch_without_index),
        cmocka_unit_test(test_build_appends),
        cmocka_unit_test(test_encode_decode_all_fields),
        cmocka_unit_test(test_encode_empty_fields),
        cmocka_unit_test(test_decode_rejects_truncated),
        cmocka_unit_test(test_decode_rejects_trailing_bytes),
        cmocka_unit_test(test_decode_rejects_wrong_counts),
        cmocka_unit_test(test_decode_accepts_newer_writer),
        cmocka_unit_test(test_decode_accepts_v1_record),
        cmocka_unit_test(test_decode_rejects_wrong_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
