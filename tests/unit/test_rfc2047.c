/*
 * test_rfc2047.c - pd_rfc2047_decode() and pd_rfc2047_normalize(), and the
 * RFC 2047 section 8 examples (git t5100 rfc2047-samples.mbox) through
 * pd_mbox_split() and pd_mail_parse().
 */
#include "unit_util.h"

#include "pd_mailbox.h"
#include "pd_rfc2047.h"

#include <glib.h>

static void check_decode_at(const char *in, const char *want, const char *file, int line)
{
    char *out = pd_rfc2047_decode(in);
    if (!out || strcmp(out, want) != 0) {
        print_error("%s:%d: pd_rfc2047_decode(\"%s\")\n  expected \"%s\"\n  actual   \"%s\"\n",
                    file, line, in, want, out ? out : "(null)");
        free(out);
        fail();
    }
    free(out);
}

static void check_normalize_at(const char *in, const char *want, const char *file, int line)
{
    char *out = pd_rfc2047_normalize(in);
    if (!out || strcmp(out, want) != 0) {
        print_error("%s:%d: pd_rfc2047_normalize(\"%s\")\n  expected \"%s\"\n  actual   \"%s\"\n",
                    file, line, in, want, out ? out : "(null)");
        free(out);
        fail();
    }
    free(out);
}

#define DECODE(in, want) check_decode_at((in), (want), __FILE__, __LINE__)
#define NORMALIZE(in, want) check_normalize_at((in), (want), __FILE__, __LINE__)

static void test_q_words(void **state)
{
    (void)state;
    DECODE("=?UTF-8?q?Micha=C5=82=20Winiarski?=", "Michał Winiarski");
    DECODE("=?UTF-8?Q?Micha=C5=82_Winiarski?=", "Michał Winiarski");
    DECODE("=?utf-8?q?Micha=c5=82?=", "Michał");        /* lower-case hex */
    DECODE("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore");
    DECODE("=?UTF-8?Q?a=3Fb=3D=5F?=", "a?b=_");
}

static void test_b_words(void **state)
{
    (void)state;
    DECODE("=?UTF-8?B?TWljaGHFgiBXaW5pYXJza2k=?=", "Michał Winiarski");
    DECODE("=?utf-8?b?TWljaGHFgiBXaW5pYXJza2k=?=", "Michał Winiarski");
    DECODE("=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?=", "Слободен");
}

static void test_words_in_text(void **state)
{
    (void)state;
    DECODE("Re: =?UTF-8?Q?caf=C3=A9?= time", "Re: café time");
    DECODE("=?UTF-8?Q?caf=C3=A9?=(x)", "café(x)");
    DECODE("(=?UTF-8?Q?a?=)", "(a)");
    DECODE("x =?UTF-8?Q?a?= y =?UTF-8?Q?b?= z", "x a y b z");
}

static void test_adjacent_words_joined(void **state)
{
    (void)state;
    DECODE("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab");
    DECODE("=?UTF-8?Q?a?=   \t =?UTF-8?Q?b?=", "ab");
    DECODE("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=", "ab");
    DECODE("=?UTF-8?Q?a?=\n\t=?UTF-8?Q?b?=", "ab");
    DECODE("=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab");
    /* the space is in the encoded text: kept */
    DECODE("=?UTF-8?Q?a_?= =?UTF-8?Q?b?=", "a b");
    /* a word and a word in another charset are joined too */
    DECODE("=?ISO-8859-1?Q?=E9?= =?UTF-8?Q?=C3=A9?=", "éé");
}

static void test_adjacent_padded_base64_words(void **state)
{
    (void)state;
    /* GMime 3.2 loses everything after the first padded word */
    DECODE("=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?= =?UTF-8?B?INCf0YDQuNGB0YLQsNC/?=",
           "Слободен Пристап");
    DECODE("=?UTF-8?B?0KHQu9A=?= =?UTF-8?B?vtCx0L7QtNC10L0=?=", "Слободен");
    DECODE("=?UTF-8?B?YQ==?= =?UTF-8?B?Yg==?= =?UTF-8?B?Yw==?=", "abc");
}

static void test_iso_2022_jp(void **state)
{
    (void)state;
    DECODE("=?ISO-2022-JP?B?GyRCRnxLXDhsJE4lRiU5JUgbKEI=?=", "日本語のテスト");
    DECODE("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "日本語テスト");
    DECODE("=?iso-2022-jp?b?GyRCRnxLXDhsGyhC?= <a@b>", "日本語 <a@b>");
}

static void test_iso_8859_1(void **state)
{
    (void)state;
    DECODE("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld Jørn Simonsen");
    DECODE("=?iso-8859-1?q?Andr=E9?= Pirard", "André Pirard");
    DECODE("=?ISO8859-1?Q?Patrik_F=E4ltstr=F6m?=", "Patrik Fältström");
    DECODE("=?ISO-8859-15?Q?=A4?=", "€");
    DECODE("=?windows-1252?Q?=93q=94?=", "“q”");
}

static void test_utf8_split_across_words(void **state)
{
    (void)state;
    /* "ł" is C5 82: one byte in each word */
    DECODE("=?UTF-8?Q?Micha=C5?= =?UTF-8?Q?=82?=", "Michał");
    /* "Слободен" split in the middle of its third letter, base64 */
    DECODE("=?UTF-8?B?0KHQu9A=?= =?UTF-8?B?vtCx0L7QtNC10L0=?=", "Слободен");
    /* a three-byte character over three words */
    DECODE("=?UTF-8?Q?=E2?= =?UTF-8?Q?=80?= =?UTF-8?Q?=99?=", "’");
}

static void test_unknown_charset(void **state)
{
    (void)state;
    char *out = pd_rfc2047_decode("=?X-NO-SUCH-CHARSET?Q?caf=E9=FF=FE?= ok");
    assert_non_null(out);
    assert_true(g_utf8_validate(out, -1, NULL));
    assert_true(strncmp(out, "caf", 3) == 0);
    assert_non_null(strstr(out, " ok"));
    assert_null(strchr(out, '\xe9'));
    assert_null(strchr(out, '\xff'));
    free(out);
    /* ASCII content of an unknown charset is kept as it is */
    DECODE("=?X-NO-SUCH-CHARSET?Q?hello?=", "hello");
    /* invalid UTF-8 declared as UTF-8 is repaired, not passed through */
    out = pd_rfc2047_decode("=?UTF-8?Q?a=FFb?=");
    assert_non_null(out);
    assert_true(g_utf8_validate(out, -1, NULL));
    assert_true(out[0] == 'a' && out[strlen(out) - 1] == 'b');
    free(out);
}

static void test_malformed_words_left_as_text(void **state)
{
    (void)state;
    DECODE("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=");         /* unknown encoding */
    DECODE("=?UTF-8?Q?no end", "=?UTF-8?Q?no end");       /* not closed */
    DECODE("=??Q?x?=", "=??Q?x?=");                        /* empty charset */
    DECODE("=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=");         /* blank inside */
    DECODE("=?UTF 8?Q?ab?=", "=?UTF 8?Q?ab?=");           /* blank in charset */
    DECODE("=?UTF-8?Qab?=", "=?UTF-8?Qab?=");
    DECODE("a =? b", "a =? b");
    DECODE("=?", "=?");
    /* a malformed word between two good ones is kept with its blanks */
    DECODE("=?UTF-8?Q?a?= =?bad =?UTF-8?Q?b?=", "a =?bad b");
}

static void test_raw_8bit_text(void **state)
{
    (void)state;
    DECODE("caf\xe9 au lait", "café au lait");              /* Latin-1 */
    DECODE("\x93quoted\x94", "“quoted”");                   /* Windows-1252 */
    DECODE("J\xf8rn =?UTF-8?Q?caf=C3=A9?=", "Jørn café");
    /* valid UTF-8 outside words is left alone */
    DECODE("Jørn Ünïcödé", "Jørn Ünïcödé");
}

static void test_plain_text_unchanged(void **state)
{
    (void)state;
    DECODE("", "");
    DECODE("Hello, World <a@b.c>", "Hello, World <a@b.c>");
    DECODE("  spaces  kept  ", "  spaces  kept  ");
    DECODE("a = b ? c", "a = b ? c");
    DECODE("[PATCH v2 1/3] KVM: x86: fix", "[PATCH v2 1/3] KVM: x86: fix");
}

static void test_rfc2231_language(void **state)
{
    (void)state;
    DECODE("=?UTF-8*en?Q?hi?=", "hi");
}

static void test_normalize(void **state)
{
    (void)state;
    NORMALIZE("=?UTF-8?q?Micha=C5=82=20Winiarski?= <michal@example.com>",
              "=?UTF-8?B?TWljaGHFgiBXaW5pYXJza2k=?= <michal@example.com>");
    /* a run of adjacent words becomes one UTF-8 word */
    NORMALIZE("=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?= =?UTF-8?B?INCf0YDQuNGB0YLQsNC/?= <s@p.mk>",
              "=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvSDQn9GA0LjRgdGC0LDQvw==?= <s@p.mk>");
    NORMALIZE("=?ISO-8859-1?Q?Andr=E9?= Pirard <p@x>", "=?UTF-8?B?QW5kcsOp?= Pirard <p@x>");
    NORMALIZE("Plain Name <a@b.c>", "Plain Name <a@b.c>");
    NORMALIZE("", "");
    NORMALIZE("Malformed =?UTF-8?Q?x <a@b>", "Malformed =?UTF-8?Q?x <a@b>");
}

static void test_addr_parse_uses_normalize(void **state)
{
    (void)state;
    struct pd_addr a;
    assert_int_equal(pd_addr_parse("=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?= "
                                   "=?UTF-8?B?INCf0YDQuNGB0YLQsNC/?= <Contact@Slobodenpristap.MK>",
                                   &a),
                     0);
    assert_string_equal(a.name, "Слободен Пристап");
    assert_string_equal(a.addr, "contact@slobodenpristap.mk");
    pd_addr_clear(&a);
    assert_int_equal(pd_addr_parse("=?UTF-8?q?Micha=C5=82=20Winiarski?= <michal.winiarski@intel.com>",
                                   &a),
                     0);
    assert_string_equal(a.name, "Michał Winiarski");
    assert_string_equal(a.addr, "michal.winiarski@intel.com");
    pd_addr_clear(&a);
}

/* ---- the RFC 2047 section 8 examples ---- */

struct collected {
    char *data[32];
    size_t len[32];
    size_t n;
};

static int collect(void *arg, const char *label, const char *data, size_t len)
{
    (void)label;
    struct collected *c = arg;
    assert_true(c->n < 32);
    c->data[c->n] = malloc(len + 1);
    assert_non_null(c->data[c->n]);
    memcpy(c->data[c->n], data, len);
    c->data[c->n][len] = '\0';
    c->len[c->n] = len;
    c->n++;
    return 0;
}

static int samples_setup(void **state)
{
    struct collected *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    pd_buf b = PD_BUF_INIT;
    char *p = corpus_path("fixtures/git-t5100/rfc2047-samples.mbox");
    int rc = pd_read_file(p, &b);
    if (rc < 0)
        print_error("cannot read corpus file %s (set PD_CORPUS?)\n", p);
    free(p);
    if (rc < 0 || pd_mbox_split("rfc2047-samples.mbox", b.data, b.len, collect, c) != 0) {
        pd_buf_free(&b);
        free(c);
        return -1;
    }
    pd_buf_free(&b);
    *state = c;
    return 0;
}

static int samples_teardown(void **state)
{
    struct collected *c = *state;
    for (size_t i = 0; i < c->n; i++)
        free(c->data[i]);
    free(c);
    return 0;
}

static void parse_sample(void **state, size_t i, struct pd_mail *m)
{
    struct collected *c = *state;
    assert_true(i < c->n);
    assert_int_equal(pd_mail_parse(m, c->data[i], c->len[i]), 0);
    assert_mail_strings_valid(m);
}

static void test_samples_count(void **state)
{
    struct collected *c = *state;
    assert_int_equal(c->n, 11);
}

static void test_sample_keith_moore(void **state)
{
    struct pd_mail m;
    parse_sample(state, 0, &m);
    assert_string_equal(m.from.name, "Keith Moore");
    assert_string_equal(m.from.addr, "moore@cs.utk.edu");
    /* two adjacent words (ISO8859-1 then ISO8859-2) on folded lines */
    assert_string_equal(m.subject, "If you can read this you understand the example.");
    pd_mail_clear(&m);
}

static void test_sample_olle(void **state)
{
    struct pd_mail m;
    parse_sample(state, 1, &m);
    assert_string_equal(m.from.name, "Olle Järnefors");
    assert_string_equal(m.from.addr, "ojarnef@admin.kth.se");
    assert_string_equal(m.subject, "Time for ISO 10646?");
    pd_mail_clear(&m);
}

static void test_sample_patrik(void **state)
{
    struct pd_mail m;
    parse_sample(state, 2, &m);
    assert_string_equal(m.from.name, "Patrik Fältström");
    assert_string_equal(m.from.addr, "paf@nada.kth.se");
    assert_string_equal(m.subject, "Re: RFC-HDR care and feeding");
    pd_mail_clear(&m);
}

static void test_sample_borenstein(void **state)
{
    struct pd_mail m;
    parse_sample(state, 3, &m);
    /* the Hebrew text is a comment after the address, not the display name */
    assert_string_equal(m.from.name, "Nathaniel Borenstein");
    assert_string_equal(m.from.addr, "nsb@thumper.bellcore.com");
    assert_string_equal(m.subject, "Test of new header generator");
    pd_mail_clear(&m);
}

static void test_sample_subjects(void **state)
{
    /* RFC 2047 section 8: blanks between adjacent encoded words are ignored,
     * blanks between a word and text are kept. */
    static const char *const want[] = {
        "(a)", "(a b)", "(ab)", "(ab)", "(ab)", "(a b)", "(a b)",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct pd_mail m;
        parse_sample(state, 4 + i, &m);
        if (strcmp(m.subject, want[i]) != 0)
            print_error("sample #%zu: expected \"%s\", got \"%s\"\n", 5 + i, want[i], m.subject);
        assert_string_equal(m.subject, want[i]);
        assert_string_equal(m.from.addr, "");
        pd_mail_clear(&m);
    }
}

/* Words whose bytes are not valid UTF-8 are repaired as GLib's
 * g_utf8_make_valid() repairs them, NUL bytes too (each becomes U+FFFD). */
static void test_invalid_bytes_as_glib(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        const char *bytes;
        size_t n;
    } cases[] = {
        { "=?utf-8?q?a=00=FFb?=", "a\0\xFF" "b", 4 },
        { "=?utf-8?q?=00?=", "\0", 1 },
        { "=?utf-8?q?x=C3=00y=00?=", "x\xC3\0y\0", 5 },
        { "=?utf-8?b?/wD/?=", "\xFF\0\xFF", 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = pd_rfc2047_decode(cases[i].word);
        gchar *want = g_utf8_make_valid(cases[i].bytes, (gssize)cases[i].n);
        assert_non_null(got);
        assert_string_equal(got, want);
        g_free(want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q_words),
        cmocka_unit_test(test_invalid_bytes_as_glib),
        cmocka_unit_test(test_b_words),
        cmocka_unit_test(test_words_in_text),
        cmocka_unit_test(test_adjacent_words_joined),
        cmocka_unit_test(test_adjacent_padded_base64_words),
        cmocka_unit_test(test_iso_2022_jp),
        cmocka_unit_test(test_iso_8859_1),
        cmocka_unit_test(test_utf8_split_across_words),
        cmocka_unit_test(test_unknown_charset),
        cmocka_unit_test(test_malformed_words_left_as_text),
        cmocka_unit_test(test_raw_8bit_text),
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_rfc2231_language),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_addr_parse_uses_normalize),
        cmocka_unit_test_setup_teardown(test_samples_count, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_sample_keith_moore, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_sample_olle, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_sample_patrik, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_sample_borenstein, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_sample_subjects, samples_setup, samples_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
