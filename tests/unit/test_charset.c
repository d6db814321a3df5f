/*
 * test_charset.c - the conversions done without GMime (milter/charset.c)
 * against GMime's charset filter (a body) and GLib's g_convert (an encoded
 * word), on generated text in each charset: text the charset encodes, and
 * the same text broken (bytes flipped, inserted, cut).  Where the
 * conversion is done here it must give GMime's and GLib's bytes exactly;
 * text the charset encodes must always be done here.
 */
#include "unit_util.h"

#include "pd_charset.h"
#include "pd_gmime.h"

#include <iconv.h>

static unsigned rnd_state = 4242;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static void *keep_bytes(const char *bytes, size_t len, void *arg)
{
    pd_buf *b = arg;
    return pd_buf_append(b, bytes, len) == 0 ? b : NULL;
}

static void put_utf8(pd_buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    assert_int_equal(pd_buf_append(b, u, n), 0);
}

/* in[0..n) converted with cd (reset first): 0, or -1 when iconv refuses */
static int iconv_all(iconv_t cd, const char *in, size_t n, pd_buf *out)
{
    (void)iconv(cd, NULL, NULL, NULL, NULL);
    char *ip = (char *)in;
    size_t il = n;
    assert_int_equal(pd_buf_reserve(out, 8 * n + 16), 0);
    char *op = out->data + out->len;
    size_t ol = out->cap - out->len - 1;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1)
        return -1;
    out->len = (size_t)(op - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* Text that charset encodes: random characters of Latin, Cyrillic, Greek,
 * kana, CJK and Hangul, those it has, converted from UTF-8 by iconv. */
static void encodable_text(const char *charset, pd_buf *out)
{
    static const unsigned ranges[][2] = {
        { 0x20, 0x7E }, { 0x20, 0x7E }, { 0x20, 0x7E }, { 0xA0, 0xFF }, { 0x100, 0x17F },
        { 0x391, 0x3C9 }, { 0x410, 0x44F }, { 0x3041, 0x3096 }, { 0x30A1, 0x30FA },
        { 0x4E00, 0x4FFF }, { 0xAC00, 0xACFF }, { 0x2018, 0x2022 }, { 0x80, 0x9F },
    };
    iconv_t cd = iconv_open(charset, "UTF-8");
    assert_true(cd != (iconv_t)-1);
    pd_buf utf8 = PD_BUF_INIT;
    size_t want = rnd(8) == 0 ? 2000 + rnd(4000) : rnd(300);
    for (size_t tries = 0; tries < 4 * want + 50 && utf8.len < want; tries++) {
        unsigned r = rnd(sizeof ranges / sizeof ranges[0]);
        unsigned cp = ranges[r][0] + rnd(ranges[r][1] - ranges[r][0] + 1);
        if (rnd(12) == 0)
            cp = '\n';
        pd_buf one = PD_BUF_INIT, conv = PD_BUF_INIT;
        put_utf8(&one, cp);
        if (iconv_all(cd, one.data, one.len, &conv) == 0)
            assert_int_equal(pd_buf_append(&utf8, one.data, one.len), 0);
        pd_buf_free(&one);
        pd_buf_free(&conv);
    }
    assert_int_equal(iconv_all(cd, utf8.data ? utf8.data : "", utf8.len, out), 0);
    pd_buf_free(&utf8);
    iconv_close(cd);
}

/* t broken in one of several ways */
static void break_text(pd_buf *t)
{
    unsigned how = rnd(4);
    if (how == 0 && t->len) {
        for (int k = 0; k < 3; k++)
            t->data[rnd((unsigned)t->len)] = (char)(0x80 + rnd(128));
    } else if (how == 1) {
        assert_int_equal(pd_buf_putc(t, (char)(0x80 + rnd(128))), 0);
    } else if (how == 2 && t->len > 1) {
        t->len -= 1 + rnd((unsigned)(t->len < 3 ? t->len - 1 : 3));
        t->data[t->len] = '\0';
    } else {
        size_t at = t->len ? rnd((unsigned)t->len) : 0;
        t->data[at] = rnd(2) ? '\x1b' : '\0';
    }
}

/* s[0..n) in charset, here, through GMime's filter and through GLib: each
 * done here is theirs byte for byte.  1 when done here. */
static int compare(const char *charset, const char *s, size_t n)
{
    pd_buf mine = PD_BUF_INIT, body = PD_BUF_INIT;
    int rc = pd_charset_to_utf8(charset, s, n, &mine);
    assert_true(rc == 0 || rc == 1);
    assert_non_null(pd_gmime_decode(s, n, "8bit", charset, keep_bytes, &body));
    char *word = NULL;
    size_t wlen = 0;
    int got = pd_gmime_to_utf8(s, n, charset, "\xEF\xBF\xBD", &word, &wlen);
    assert_true(got >= 0);
    if (rc == 1) {
        if (mine.len != body.len || memcmp(mine.data ? mine.data : "", body.data ? body.data : "",
                                           mine.len) != 0)
            print_error("%s: %zu bytes differ from GMime's filter\n", charset, n);
        assert_int_equal(mine.len, body.len);
        assert_memory_equal(mine.data ? mine.data : "", body.data ? body.data : "", mine.len);
        assert_int_equal(got, 1);
        assert_int_equal(mine.len, wlen);
        assert_memory_equal(mine.data ? mine.data : "", word, wlen);
    } else {
        assert_int_equal(mine.len, 0);   /* nothing appended */
    }
    free(word);
    pd_buf_free(&mine);
    pd_buf_free(&body);
    return rc;
}

static void test_names(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "iso-8859-1", "ISO-8859-1", "iso-8859-15", "Iso-8859-2", "iso-8859-16", "windows-1250",
        "WINDOWS-1252", "Windows-1258", "koi8-r", "KOI8-U", "iso-2022-jp", "ISO-2022-JP",
        "euc-jp", "EUC-KR", "big5", "Shift_JIS", "GBK", "gb18030", "UTF8", "ISO8859-1",
        "iso_8859-15", "Latin1", "iso8859-2",
    };
    static const char *const no[] = {
        "latin2", "iso88591", "iso 8859-1", "iso-8859-01", "iso-8859-1x", "iso-8859-17",
        "iso-8859-0", "iso-8859-", "windows-1249", "windows-1259", "windows-cp1252",
        "windows-01252", "cp1252", "gb2312", "euc-cn", "sjis", "shift-jis", "utf-8", "us-ascii",
        "iso-2022-jp-2", "koi8", "x-unknown", "", "iso-8859-1 ", "iso-8859-12", "iso8859-12",
        "iso_8859-11", "iso_8859-13",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!pd_charset_native(yes[i]))
            print_error("%s not converted here\n", yes[i]);
        assert_true(pd_charset_native(yes[i]));
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (pd_charset_native(no[i]))
            print_error("%s converted here\n", no[i]);
        assert_false(pd_charset_native(no[i]));
    }
    assert_false(pd_charset_native(NULL));
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_charset_to_utf8("gb2312", "abc", 3, &b), 0);
    assert_int_equal(pd_charset_to_utf8("iso-8859-12", "abc", 3, &b), 0);   /* no such charset */
    assert_int_equal(b.len, 0);
    pd_buf_free(&b);
}

/* A mail naming many charsets (say, a subject of 40 encoded words, each in
 * another) fills the slots that keep other charsets' modules loaded; the
 * native charsets keep theirs, and are still converted here. */
static void test_native_slots_cannot_be_taken(void **state)
{
    (void)state;
    static const char *const many[] = {
        "CP437", "CP850", "CP852", "CP855", "CP857", "CP860", "CP861", "CP862", "CP863",
        "CP864", "CP865", "CP866", "CP869", "CP874", "CP737", "CP775", "MACINTOSH", "MAC-CYRILLIC",
        "KOI8-RU", "KOI8-T", "ARMSCII-8", "GEORGIAN-PS", "TCVN5712-1", "VISCII", "TIS-620",
        "HP-ROMAN8", "NEXTSTEP", "PT154", "RK1048", "MULELAO-1", "CP1125", "CP1133", "IBM037",
        "IBM273", "IBM277", "IBM278", "IBM280", "IBM284", "IBM285", "IBM297",
    };
    int pinned = 0;
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        iconv_t cd = iconv_open("UTF-8", many[i]);
        if (cd == (iconv_t)-1)
            continue;
        iconv_close(cd);
        pd_charset_pin(many[i]);
        pinned++;
    }
    assert_true(pinned > PD_CHARSET_OPEN);   /* the slots for others are full */
    static const char *const natives[] = { "euc-kr", "koi8-u", "iso-8859-13", "windows-1258" };
    for (size_t i = 0; i < sizeof natives / sizeof natives[0]; i++) {
        pd_buf b = PD_BUF_INIT;
        assert_int_equal(pd_charset_to_utf8(natives[i], "abc", 3, &b), 1);
        assert_string_equal(b.data, "abc");
        pd_buf_free(&b);
    }
}

static void test_each_charset_as_gmime_and_glib(void **state)
{
    (void)state;
    static const char *const charsets[] = {
        "iso-8859-1", "ISO-8859-2", "iso-8859-5", "iso-8859-7", "iso-8859-15", "windows-1250",
        "windows-1251", "WINDOWS-1252", "koi8-r", "koi8-u", "ISO-2022-JP", "euc-jp", "euc-kr",
        "big5", "shift_jis", "gbk", "GB18030", "utf8", "ISO8859-1", "iso_8859-2", "latin1",
        "ISO8859-15",
    };
    for (size_t c = 0; c < sizeof charsets / sizeof charsets[0]; c++) {
        const char *cs = charsets[c];
        int done = 0, left = 0;
        for (int round = 0; round < 300; round++) {
            pd_buf t = PD_BUF_INIT;
            encodable_text(cs, &t);
            bool broken = round % 3 == 2;
            if (broken)
                break_text(&t);
            int rc = compare(cs, t.data ? t.data : "", t.len);
            if (!broken) {
                if (rc != 1)
                    print_error("%s: text it encodes not converted here\n", cs);
                assert_int_equal(rc, 1);
            }
            done += rc == 1;
            left += rc == 0;
            pd_buf_free(&t);
        }
        /* random bytes: every byte value, most of them invalid in the multibyte ones */
        for (int round = 0; round < 100; round++) {
            char bytes[600];
            size_t n = rnd(sizeof bytes);
            for (size_t i = 0; i < n; i++)
                bytes[i] = (char)rnd(256);
            int rc = compare(cs, bytes, n);
            done += rc == 1;
            left += rc == 0;
            if (strcasecmp(cs, "iso-8859-1") == 0 || strcasecmp(cs, "ISO8859-1") == 0 ||
                strcasecmp(cs, "latin1") == 0)
                assert_int_equal(rc, 1);   /* every byte is a character */
        }
        print_message("# %s: %d converted here, %d left to GMime\n", cs, done, left);
    }
}

int main(void)
{
    char err[256];
    if (pd_gmime_load(err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_each_charset_as_gmime_and_glib),
        cmocka_unit_test(test_native_slots_cannot_be_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
