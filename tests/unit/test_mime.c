/*
 * test_mime.c - the MIME walk (milter/mime.c): GMime's boundary rules, the
 * text part and patch parts it finds, parameters, and each limit: reached,
 * the walk reads less and says so (cut); one under it, it does not.
 * test_mail.c checks the walk against GMime's tree on the whole corpus.
 */
#include "unit_util.h"

#include "pd_mime.h"

static void walk(const char *body, const char *ct, struct pd_mime *w)
{
    assert_int_equal(pd_mime_walk(w, body, strlen(body), ct, NULL, NULL), 0);
}

static char *text_of(const struct pd_mime *w)
{
    assert_true(w->has_text);
    return pd_strndup(w->text, w->text_len);
}

static void test_boundary_rules(void **state)
{
    (void)state;
    struct pd_mime w;
    /* trailing blanks after a boundary; the last line end belongs to it */
    walk("preamble\r\n--b \t\r\n\r\nthe text\r\n--b--\r\nepilogue\r\n", "multipart/mixed; boundary=b", &w);
    char *t = text_of(&w);
    assert_string_equal(t, "the text");
    free(t);
    assert_false(w.cut);
    pd_mime_clear(&w);
    /* "--bx" is no boundary of b: it is text */
    walk("--b\n\none\n--bx\ntwo\n--b--\n", "multipart/mixed; boundary=b", &w);
    t = text_of(&w);
    assert_string_equal(t, "one\n--bx\ntwo");
    free(t);
    pd_mime_clear(&w);
    /* a parent's boundary ends the inner multipart and its part */
    walk("--a\nContent-Type: multipart/alternative; boundary=c\n\n--c\n"
         "Content-Type: text/html\n\n<p>\n--a\n\nouter text\n--a--\n",
         "multipart/mixed; boundary=a", &w);
    t = text_of(&w);
    assert_string_equal(t, "outer text");
    free(t);
    assert_int_equal(w.parts, 2);
    pd_mime_clear(&w);
    /* the innermost boundary first when two are equal: the inner multipart
     * takes the html part and ends at "--b--"; the outer goes on */
    walk("--b\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n"
         "<p>\n--b--\nafter\n--b\n\nlast\n--b--\n", "multipart/mixed; boundary=b", &w);
    t = text_of(&w);
    assert_string_equal(t, "last");
    free(t);
    pd_mime_clear(&w);
}

static void test_parts_skipped_and_defaults(void **state)
{
    (void)state;
    struct pd_mime w;
    /* an attached message is not this mail; in a digest, no type means one */
    walk("--b\nContent-Type: message/rfc822\n\nSubject: x\n\ninside\n--b\n"
         "Content-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: a@b\n\nin digest\n--d--\n"
         "--b\n\nreal\n--b--\n", "multipart/mixed; boundary=b", &w);
    char *t = text_of(&w);
    assert_string_equal(t, "real");
    free(t);
    pd_mime_clear(&w);
    /* a Content-Type GMime cannot read is application/octet-stream */
    walk("--b\nContent-Type: text\n\nnot text\n--b\n\nyes\n--b--\n",
         "multipart/mixed; boundary=b", &w);
    t = text_of(&w);
    assert_string_equal(t, "yes");
    free(t);
    pd_mime_clear(&w);
    /* no boundary parameter: everything is preamble */
    walk("--b\n\nx\n--b--\n", "multipart/mixed", &w);
    assert_false(w.has_text);
    pd_mime_clear(&w);
    /* no Content-Type at the top: text/plain */
    walk("just text\n", NULL, &w);
    t = text_of(&w);
    assert_string_equal(t, "just text\n");
    free(t);
    pd_mime_clear(&w);
}

static void test_patch_parts_and_file_names(void **state)
{
    (void)state;
    static const char *const patchy[] = {
        "Content-Type: text/x-patch\n",
        "Content-Type: TEXT/X-DIFF; charset=us-ascii\n",
        "Content-Disposition: attachment; filename=\"fix.PATCH\"\n",
        "Content-Type: application/octet-stream; name=fix.diff\n",
        "Content-Disposition: attachment; filename*0=\"fi\"; filename*1=\"x.pa\"; filename*2=tch\n",
        "Content-Disposition: attachment; filename*=utf-8''fix%2Epatch\n",
        "Content-Disposition: attachment; filename*1*=%2Epatch; filename*0*=utf-8'en'fix\n",
        "Content-Type: text/plain; name=\"=?utf-8?q?fix=2Ediff?=\"\n",
    };
    for (size_t i = 0; i < sizeof patchy / sizeof patchy[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "--b\n%s\n+code\n--b--\n", patchy[i]);
        struct pd_mime w;
        walk(body, "multipart/mixed; boundary=b", &w);
        if (!w.has_patch_part)
            fail_msg("not a patch part: %s", patchy[i]);
        /* a text part with a file name is not the body */
        assert_false(w.has_text);
        pd_mime_clear(&w);
    }
    struct pd_mime w;
    walk("--b\nContent-Disposition: attachment; filename=notes.txt\n\nx\n--b--\n",
         "multipart/mixed; boundary=b", &w);
    assert_false(w.has_patch_part);
    assert_false(w.has_text);
    pd_mime_clear(&w);
    /* the text part's encoding and charset */
    walk("--b\nContent-Type: text/plain; charset*=iso-8859-1''\nContent-Transfer-Encoding:  "
         "Quoted-Printable \n\ncaf=E9\n--b--\n", "multipart/mixed; boundary=b", &w);
    assert_string_equal(w.text_cte, "Quoted-Printable");
    assert_string_equal(w.text_charset, "");
    pd_mime_clear(&w);
    walk("--b\nContent-Type: text/plain; format=flowed; charset=\"ISO-8859-1\"\n\nx\n--b--\n",
         "multipart/mixed; boundary=b", &w);
    assert_string_equal(w.text_charset, "ISO-8859-1");
    assert_null(w.text_cte);
    pd_mime_clear(&w);
}

/* A multipart body of n parts, each unit; malloc'd. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_buf_puts(&b, head), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pd_buf_puts(&b, unit), 0);
    assert_int_equal(pd_buf_puts(&b, tail), 0);
    return pd_buf_steal(&b);
}

static bool cut_of(const char *body, const char *ct)
{
    struct pd_mime w;
    walk(body, ct, &w);
    bool cut = w.cut;
    pd_mime_clear(&w);
    return cut;
}

static void test_limit_parts(void **state)
{
    (void)state;
    const char *ct = "multipart/mixed; boundary=b";
    char *at = repeat("", "--b\n\nx\n", PD_MIME_MAX_PARTS, "--b--\n");
    char *over = repeat("", "--b\n\nx\n", PD_MIME_MAX_PARTS + 1, "--b--\n");
    assert_false(cut_of(at, ct));
    assert_true(cut_of(over, ct));
    free(at);
    free(over);
}

static void test_limit_depth(void **state)
{
    (void)state;
    pd_buf at = PD_BUF_INIT, over = PD_BUF_INIT;
    /* the top multipart and PD_MIME_MAX_DEPTH - 1 more inside it */
    for (int i = 1; i < PD_MIME_MAX_DEPTH; i++)
        assert_int_equal(pd_buf_printf(&at, "--n%d\nContent-Type: multipart/mixed; boundary=n%d\n\n",
                                       i - 1, i), 0);
    assert_int_equal(pd_buf_printf(&over, "%s--n%d\nContent-Type: multipart/mixed; boundary=n%d\n\n",
                                   at.data, PD_MIME_MAX_DEPTH - 1, PD_MIME_MAX_DEPTH), 0);
    assert_int_equal(pd_buf_printf(&at, "--n%d\n\ndeep\n", PD_MIME_MAX_DEPTH - 1), 0);
    assert_int_equal(pd_buf_printf(&over, "--n%d\n\ndeep\n", PD_MIME_MAX_DEPTH), 0);
    struct pd_mime w;
    walk(at.data, "multipart/mixed; boundary=n0", &w);
    assert_false(w.cut);
    char *t = text_of(&w);
    assert_string_equal(t, "deep\n");
    free(t);
    pd_mime_clear(&w);
    walk(over.data, "multipart/mixed; boundary=n0", &w);
    assert_true(w.cut);
    assert_false(w.has_text);
    pd_mime_clear(&w);
    pd_buf_free(&at);
    pd_buf_free(&over);
}

static void test_limit_header_lines_and_values(void **state)
{
    (void)state;
    const char *ct = "multipart/mixed; boundary=b";
    char *at = repeat("--b\n", "X-H: v\n", PD_MIME_MAX_HEADER_LINES, "\nx\n--b--\n");
    char *over = repeat("--b\n", "X-H: v\n", PD_MIME_MAX_HEADER_LINES + 1, "\nx\n--b--\n");
    assert_false(cut_of(at, ct));
    assert_true(cut_of(over, ct));
    free(at);
    free(over);
    /* a folded Content-Type value of PD_MIME_MAX_VALUE bytes, and one more
     * (the value: everything after the colon, up to its last line's end) */
    char unit[128];
    snprintf(unit, sizeof unit, " x=%0100d;\n", 0);
    size_t ul = strlen(unit), base = strlen(" text/plain;\n");
    size_t n = (PD_MIME_MAX_VALUE - base) / ul - 1;
    char *head = repeat("--b\nContent-Type: text/plain;\n", unit, n, "");
    size_t k = PD_MIME_MAX_VALUE - base - n * ul - 1;   /* " " and k bytes end it */
    char *z = malloc(k + 2);
    assert_non_null(z);
    memset(z, 'z', k + 1);
    z[k + 1] = '\0';
    pd_buf b1 = PD_BUF_INIT, b2 = PD_BUF_INIT;
    assert_int_equal(pd_buf_printf(&b1, "%s %.*s\n\nx\n--b--\n", head, (int)k, z), 0);
    assert_int_equal(pd_buf_printf(&b2, "%s %.*s\n\nx\n--b--\n", head, (int)k + 1, z), 0);
    assert_false(cut_of(b1.data, ct));
    assert_true(cut_of(b2.data, ct));
    free(z);
    free(head);
    pd_buf_free(&b1);
    pd_buf_free(&b2);
}

static void test_limit_pieces_dashes_params(void **state)
{
    (void)state;
    const char *ct = "multipart/mixed; boundary=b";
    pd_buf at = PD_BUF_INIT, over = PD_BUF_INIT;
    assert_int_equal(pd_buf_puts(&at, "--b\nContent-Disposition: attachment"), 0);
    for (int i = 0; i < PD_MIME_MAX_PIECES; i++)
        assert_int_equal(pd_buf_printf(&at, ";\n filename*%d=a", i), 0);
    assert_int_equal(pd_buf_printf(&over, "%s;\n filename*%d=a", at.data, PD_MIME_MAX_PIECES), 0);
    assert_int_equal(pd_buf_puts(&at, "\n\nx\n--b--\n"), 0);
    assert_int_equal(pd_buf_puts(&over, "\n\nx\n--b--\n"), 0);
    assert_false(cut_of(at.data, ct));
    assert_true(cut_of(over.data, ct));
    pd_buf_free(&at);
    pd_buf_free(&over);

    char *d1 = repeat("--b\n\n", "--x\n", PD_MIME_MAX_DASH_LINES, "--b--\n");
    char *d2 = repeat("--b\n\n", "--x\n", PD_MIME_MAX_DASH_LINES + 1, "--b--\n");
    assert_false(cut_of(d1, ct));
    assert_true(cut_of(d2, ct));
    free(d1);
    free(d2);

    /* file-name parameters: PD_MIME_MAX_PARAM_BYTES decoded in all */
    char unit[1100];
    snprintf(unit, sizeof unit, "--b\nContent-Type: application/x; name=%01000d\n\nx\n", 0);
    size_t per = strlen(" application/x; name=") + 1000;   /* the value */
    char *p1 = repeat("", unit, PD_MIME_MAX_PARAM_BYTES / per, "--b--\n");
    char *p2 = repeat("", unit, PD_MIME_MAX_PARAM_BYTES / per + 1, "--b--\n");
    assert_false(cut_of(p1, ct));
    assert_true(cut_of(p2, ct));
    free(p1);
    free(p2);
}

/* The mail that killed the milter with SIGSEGV: an attached message whose
 * To: nests 350,000 address groups (GMime recursed once per group while it
 * built the attached message).  The walk never builds it. */
static void test_attached_nested_groups_regression(void **state)
{
    (void)state;
    char *mail = repeat("From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n"
                        "--b\n\nthe text\n--b\nContent-Type: message/rfc822\n\nFrom: c@d\nTo: ",
                        "g: ", 350000, "\nSubject: inner\n\nx\n--b--\n");
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, mail, strlen(mail)), 0);
    assert_string_equal(m.text_body, "the text");
    assert_false(m.parse_failed);
    pd_mail_clear(&m);
    free(mail);
}

/* The transfer decoders (pd_mime_qp_decode, pd_mime_base64_decode) against
 * GMime's on thousands of texts: encoded by the rules with line ends of
 * either kind, hex digits of either case, blanks and short lines; then the
 * same texts broken (a stray "=", an "=" and one digit, a byte outside
 * the alphabet, a quartet cut, padding in the middle).  Where they decode
 * (well-formed text) the bytes must be GMime's; a broken text they must
 * leave to GMime (-1) unless it decodes to GMime's bytes all the same. */
#include "pd_gmime.h"

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

/* b[0..n) in quoted-printable into o, and into want what decoding gives
 * back: b with each line end as written (LF or CRLF). */
static void qp_encode(pd_buf *o, pd_buf *want, const unsigned char *b, size_t n)
{
    const char *eol = rnd(2) ? "\r\n" : "\n";
    static const char hexu[] = "0123456789ABCDEF", hexl[] = "0123456789abcdef";
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        const char *hex = rnd(4) ? hexu : hexl;
        if (b[i] == '\n') {
            assert_int_equal(pd_buf_puts(o, eol), 0);
            assert_int_equal(pd_buf_puts(want, eol), 0);
            col = 0;
            continue;
        }
        assert_int_equal(pd_buf_putc(want, (char)b[i]), 0);
        if (b[i] >= 33 && b[i] <= 126 && b[i] != '=') {
            assert_int_equal(pd_buf_putc(o, (char)b[i]), 0);
        } else {
            char e[3] = { '=', hex[b[i] >> 4], hex[b[i] & 15] };
            assert_int_equal(pd_buf_append(o, e, 3), 0);
        }
        if (++col > 60 || !rnd(40)) {
            assert_int_equal(pd_buf_puts(o, "="), 0);
            assert_int_equal(pd_buf_puts(o, eol), 0);
            col = 0;
        }
    }
}

static void b64_encode(pd_buf *o, const unsigned char *b, size_t n)
{
    pd_buf raw = PD_BUF_INIT;
    assert_int_equal(pd_base64_append(&raw, b, n), 0);
    size_t line = rnd(3) ? 76 : 4 * (1 + rnd(20));
    for (size_t i = 0; i < raw.len; i += line) {
        size_t k = raw.len - i < line ? raw.len - i : line;
        assert_int_equal(pd_buf_append(o, raw.data + i, k), 0);
        assert_int_equal(pd_buf_puts(o, rnd(2) ? "\r\n" : rnd(5) ? "\n" : " \n"), 0);
    }
    pd_buf_free(&raw);
}

static void break_text(pd_buf *t)
{
    static const char *junk[] = { "=", "=Z", "=4", "=\r", "*", "==", "=4=", "A", "AB=", "\x80" };
    if (!t->len)
        return;
    size_t at = rnd((unsigned)t->len);
    const char *j = junk[rnd(sizeof junk / sizeof junk[0])];
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_buf_append(&b, t->data, at), 0);
    assert_int_equal(pd_buf_puts(&b, j), 0);
    if (rnd(3))
        assert_int_equal(pd_buf_append(&b, t->data + at, t->len - at), 0);   /* else cut */
    pd_buf_free(t);
    *t = b;
}

/* GMime's bytes, kept in the pd_buf arg */
static void *keep_bytes(const char *bytes, size_t len, void *arg)
{
    pd_buf *b = arg;
    return pd_buf_append(b, bytes, len) == 0 ? b : NULL;
}

static void test_transfer_decoding_equals_gmime(void **state)
{
    (void)state;
    int decoded[2] = { 0, 0 }, left[2] = { 0, 0 };
    for (int round = 0; round < 4000; round++) {
        /* every eighth text longer than GMime's 4096-byte reads */
        unsigned char bytes[6000];
        size_t n = round % 8 == 7 ? 3000 + rnd(3000) : rnd(700);
        for (size_t i = 0; i < n; i++) {
            unsigned r = rnd(10);
            bytes[i] = r < 6 ? (unsigned char)(' ' + rnd(95)) : r < 8 ? '\n' : (unsigned char)rnd(256);
        }
        int qp = round % 2;
        pd_buf t = PD_BUF_INIT, back = PD_BUF_INIT;
        if (qp) {
            qp_encode(&t, &back, bytes, n);
        } else {
            b64_encode(&t, bytes, n);
            assert_int_equal(pd_buf_append(&back, (const char *)bytes, n), 0);
        }
        if (round % 4 >= 2)
            break_text(&t);
        const char *text = t.data ? t.data : "";
        char *mine = malloc(t.len + 1);
        assert_non_null(mine);
        long got = qp ? pd_mime_qp_decode(text, t.len, mine) : pd_mime_base64_decode(text, t.len, mine);
        pd_buf gm = PD_BUF_INIT;
        assert_non_null(pd_gmime_decode(text, t.len, qp ? "quoted-printable" : "base64", NULL,
                                        keep_bytes, &gm));
        const char *want = gm.data ? gm.data : "";
        size_t wantlen = gm.len;
        if (round % 4 < 2) {
            if (got < 0)
                print_error("well-formed %s text not decoded:\n%s\n", qp ? "QP" : "base64", text);
            assert_true(got >= 0);
            assert_int_equal((size_t)got, back.len);
            assert_memory_equal(mine, back.data ? back.data : "", back.len);
        }
        if (got >= 0) {
            if ((size_t)got != wantlen || memcmp(mine, want, wantlen) != 0)
                print_error("%s differs from GMime's on:\n%s\n", qp ? "QP" : "base64", text);
            assert_int_equal((size_t)got, wantlen);
            assert_memory_equal(mine, want, wantlen);
            decoded[qp]++;
        } else {
            left[qp]++;
        }
        pd_buf_free(&gm);
        free(mine);
        pd_buf_free(&t);
        pd_buf_free(&back);
    }
    /* hand-made edges: padding alone or too long, soft breaks and "=" at
     * the ends */
    static const char *const edges[][2] = {
        { "b", "Q===" }, { "b", "====" }, { "b", "=" }, { "b", "==" }, { "b", "QQ=" },
        { "b", "QQ==" }, { "b", "QQQ=" }, { "b", "QQQ==" }, { "b", "QUJD" }, { "b", "QUJD====" },
        { "b", "QQ=\n=" }, { "b", "QQ= =" }, { "b", "QQ==QQ==" }, { "b", "Q" }, { "b", "" },
        { "b", " \r\n" }, { "b", "QU\nJD\n" }, { "b", "QQ=\r\n" },
        { "q", "=" }, { "q", "a=" }, { "q", "a=4" }, { "q", "a=\r" }, { "q", "=\r\n" },
        { "q", "=\n" }, { "q", "==41" }, { "q", "=4g" }, { "q", "=c3=a9" }, { "q", "" },
        { "q", "a=\n\nb" }, { "q", "=\r=\n" },
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        const char *text = edges[i][1];
        bool q = edges[i][0][0] == 'q';
        size_t n = strlen(text);
        char *mine = malloc(n + 1);
        assert_non_null(mine);
        long got = q ? pd_mime_qp_decode(text, n, mine) : pd_mime_base64_decode(text, n, mine);
        pd_buf gm = PD_BUF_INIT;
        assert_non_null(pd_gmime_decode(text, n, q ? "quoted-printable" : "base64", NULL,
                                        keep_bytes, &gm));
        if (got >= 0 && ((size_t)got != gm.len || memcmp(mine, gm.data ? gm.data : "", gm.len)))
            print_error("%s edge \"%s\" differs from GMime's\n", q ? "QP" : "base64", text);
        if (got >= 0) {
            assert_int_equal((size_t)got, gm.len);
            assert_memory_equal(mine, gm.data ? gm.data : "", gm.len);
        }
        pd_buf_free(&gm);
        free(mine);
    }
    print_message("# base64: %d decoded, %d left to GMime; quoted-printable: %d decoded, %d left\n",
                  decoded[0], left[0], decoded[1], left[1]);
    assert_true(left[0] > 100 && left[1] > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary_rules),
        cmocka_unit_test(test_transfer_decoding_equals_gmime),
        cmocka_unit_test(test_parts_skipped_and_defaults),
        cmocka_unit_test(test_patch_parts_and_file_names),
        cmocka_unit_test(test_limit_parts),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_header_lines_and_values),
        cmocka_unit_test(test_limit_pieces_dashes_params),
        cmocka_unit_test(test_attached_nested_groups_regression),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
