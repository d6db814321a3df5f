/*
 * charset.c - text in a named charset as UTF-8, without GMime, where the
 * conversion is exact.  See pd_charset.h.
 *
 * The charsets (natives[] below): ISO-8859-1 to -16 but -12, which does
 * not exist (also spelt iso8859-N, and iso_8859-N where glibc knows that
 * name: not for -11 and -13; ISO-8859-1 also latin1), Windows-1250 to
 * -1258, KOI8-R, KOI8-U, ISO-2022-JP, EUC-JP, Shift_JIS, EUC-KR, Big5,
 * GBK, GB18030, and "utf8", each by the name as written (any case).  For
 * these names GMime's g_mime_charset_iconv_name() and glibc name the same
 * gconv module ("windows-1252" is GMime's "CP1252" and glibc's alias of
 * it, "shift_jis" GMime's "shift-jis", both glibc's SJIS), and GLib opens
 * the name as written, which glibc knows.  Other spellings and charsets
 * (gb2312, which GMime opens as GBK and GLib as EUC-CN, and the two
 * differ; ...) stay with GMime.
 *
 * Each conversion opens its own converter (a third of a microsecond when
 * the charset's module is loaded) and converts without a lock.  What keeps
 * the modules loaded: one converter a native charset, opened at its first
 * use and kept, in a slot of its own (a sender cannot take it); and up to
 * PD_CHARSET_OPEN more for the other charsets GMime and GLib convert from
 * (pd_charset_pin()), the first ones met.
 */
#include "pd_charset.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* the native charsets, by the glibc name their converter is opened with:
 * ISO-8859-N at N - 1, CP125N at 16 + N - 1250, then the others */
#define ISO_AT 0
#define CP_AT 16
#define OTHERS_AT 25
static const char *const natives[] = {
    "ISO-8859-1", "ISO-8859-2", "ISO-8859-3", "ISO-8859-4", "ISO-8859-5", "ISO-8859-6",
    "ISO-8859-7", "ISO-8859-8", "ISO-8859-9", "ISO-8859-10", "ISO-8859-11", NULL,
    "ISO-8859-13", "ISO-8859-14", "ISO-8859-15", "ISO-8859-16",
    "CP1250", "CP1251", "CP1252", "CP1253", "CP1254", "CP1255", "CP1256", "CP1257", "CP1258",
    "KOI8-R", "KOI8-U", "ISO-2022-JP", "EUC-JP", "SJIS", "EUC-KR", "BIG5", "GBK", "GB18030",
    "UTF-8",
};
#define NATIVES (sizeof natives / sizeof natives[0])
/* the names of the others, as written in mail (any case), in natives[]'s order */
static const char *const other_names[] = { "koi8-r", "koi8-u", "iso-2022-jp", "euc-jp",
                                           "shift_jis", "euc-kr", "big5", "gbk", "gb18030",
                                           "utf8" };
_Static_assert(OTHERS_AT + sizeof other_names / sizeof other_names[0] == NATIVES,
               "natives[] and other_names[] agree");

/* After "prefix", a decimal number without a leading 0 and nothing more:
 * the number, else -1. */
static int numbered(const char *s, const char *prefix)
{
    size_t pn = strlen(prefix);
    if (strncasecmp(s, prefix, pn) != 0)
        return -1;
    s += pn;
    int v = 0;
    size_t digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 5; s++, digits++)
        v = v * 10 + (*s - '0');
    return digits && !*s && s[-digits] != '0' ? v : -1;
}

/* The index in natives[] of charset, -1 when it is not one of them. */
static int native_index(const char *charset)
{
    if (!charset)
        return -1;
    int n = numbered(charset, "iso-8859-");
    if (n < 0)
        n = numbered(charset, "iso8859-");
    if (n < 0 && (n = numbered(charset, "iso_8859-")) >= 0 && (n == 11 || n == 13))
        n = -1;   /* names glibc does not know */
    if (n >= 1 && n <= 16 && n != 12)
        return ISO_AT + n - 1;
    if (strcasecmp(charset, "latin1") == 0)
        return ISO_AT;
    n = numbered(charset, "windows-");
    if (n >= 1250 && n <= 1258)
        return CP_AT + n - 1250;
    for (size_t i = 0; i < sizeof other_names / sizeof other_names[0]; i++)
        if (strcasecmp(charset, other_names[i]) == 0)
            return (int)(OTHERS_AT + i);
    return -1;
}

bool pd_charset_native(const char *charset)
{
    return native_index(charset) >= 0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    iconv_t cd;          /* kept open: the module stays loaded */
    signed char state;   /* 0 not opened yet, 1 open, -1 cannot be opened */
} kept[NATIVES];
static struct {
    char name[40];
    iconv_t cd;
} pins[PD_CHARSET_OPEN];
static int npins;

/* Native charset i's module loaded and kept: whether it can be. */
static bool keep_native(size_t i)
{
    pthread_mutex_lock(&mu);
    if (!kept[i].state) {
        kept[i].cd = iconv_open("UTF-8", natives[i]);
        kept[i].state = kept[i].cd == (iconv_t)-1 ? -1 : 1;
    }
    bool ok = kept[i].state > 0;
    pthread_mutex_unlock(&mu);
    return ok;
}

void pd_charset_pin(const char *charset)
{
    if (!charset)
        return;
    int i = native_index(charset);
    if (i >= 0) {
        (void)keep_native((size_t)i);
        return;
    }
    if (strlen(charset) >= sizeof pins[0].name)
        return;
    pthread_mutex_lock(&mu);
    bool have = false;
    for (int k = 0; k < npins && !have; k++)
        have = strcasecmp(pins[k].name, charset) == 0;
    if (!have && npins < PD_CHARSET_OPEN) {
        iconv_t cd = iconv_open("UTF-8", charset);
        if (cd != (iconv_t)-1) {
            snprintf(pins[npins].name, sizeof pins[npins].name, "%s", charset);
            pins[npins++].cd = cd;
        }
    }
    pthread_mutex_unlock(&mu);
}

static int latin1(const char *s, size_t n, pd_buf *out)
{
    if (n > SIZE_MAX / 2 || pd_buf_reserve(out, 2 * n) < 0)
        return -1;
    char *d = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *d++ = (char)c;
        } else {
            *d++ = (char)(0xC0 | (c >> 6));
            *d++ = (char)(0x80 | (c & 0x3F));
        }
    }
    out->len = (size_t)(d - out->data);
    *d = '\0';
    return 1;
}

/* iconv over all of s, then the shift back to the initial state, growing
 * out: 1 done, 0 the text has an error (out as it was), -1 no memory. */
static int convert(iconv_t cd, const char *s, size_t n, pd_buf *out)
{
    size_t start = out->len;
    (void)iconv(cd, NULL, NULL, NULL, NULL);   /* the initial state */
    char *in = (char *)s;
    size_t inleft = n;
    int rc = 1;
    for (bool flush = false;;) {
        /* UTF-8 of these charsets is at most 3 bytes a byte; each round
         * has room for a character at least, so the loop ends */
        if (inleft > (SIZE_MAX - 16) / 3 || pd_buf_reserve(out, inleft * 3 + 16) < 0) {
            rc = -1;
            break;
        }
        char *o = out->data + out->len;
        size_t oleft = out->cap - out->len - 1;
        size_t r = flush ? iconv(cd, NULL, NULL, &o, &oleft)
                         : iconv(cd, &in, &inleft, &o, &oleft);
        out->len = (size_t)(o - out->data);
        if (r == (size_t)-1 && errno == E2BIG)
            continue;
        if (r != 0) {
            /* EILSEQ or EINVAL (GMime and GLib each repair these their own
             * way), or a conversion iconv calls irreversible */
            rc = 0;
            break;
        }
        if (flush)
            break;
        flush = true;   /* all of s converted */
    }
    if (rc != 1)
        out->len = start;
    if (out->data)
        out->data[out->len] = '\0';
    return rc;
}

int pd_charset_to_utf8(const char *charset, const char *s, size_t n, pd_buf *out)
{
    int i = native_index(charset);
    if (i < 0)
        return 0;
    if (i == ISO_AT)
        return latin1(s, n, out);
    if (!keep_native((size_t)i))
        return 0;
    iconv_t cd = iconv_open("UTF-8", natives[i]);
    if (cd == (iconv_t)-1)
        return errno == ENOMEM ? -1 : 0;
    int rc = convert(cd, s, n, out);
    iconv_close(cd);
    return rc;
}
