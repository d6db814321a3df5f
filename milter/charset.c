/*
 * charset.c - text in a named charset as UTF-8, without GMime, where the
 * conversion is exact.  See pd_charset.h.
 *
 * The charsets: ISO-8859-1 to -16 (also spelt iso8859-N and iso_8859-N;
 * ISO-8859-1 also latin1), Windows-1250 to -1258, KOI8-R, KOI8-U,
 * ISO-2022-JP, EUC-JP, Shift_JIS, EUC-KR, Big5, GBK, GB18030, and "utf8",
 * each by the name as written (any case).  For these names GMime's
 * g_mime_charset_iconv_name() and glibc name the same gconv module
 * ("windows-1252" is GMime's "CP1252" and glibc's alias of it,
 * "shift_jis" GMime's "shift-jis", both glibc's SJIS), and GLib opens the
 * name as written.  Other spellings and charsets (gb2312, which
 * GMime opens as GBK and GLib as EUC-CN, and the two differ; ...) stay
 * with GMime.
 *
 * Converters are opened once and kept (PD_CHARSET_OPEN in all); one
 * mutex guards the table and each conversion, which resets the
 * converter's state first.  Mail in these charsets is a few percent of a
 * list's: the milter's threads seldom meet here.
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

static const char *const others[] = { "koi8-r", "koi8-u", "iso-2022-jp", "euc-jp", "shift_jis",
                                      "euc-kr", "big5", "gbk", "gb18030", "utf8" };

/* "prefix" then a decimal number from lo to hi, nothing more */
static bool numbered(const char *s, const char *prefix, int lo, int hi)
{
    size_t pn = strlen(prefix);
    if (strncasecmp(s, prefix, pn) != 0)
        return false;
    s += pn;
    int v = 0;
    size_t digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 5; s++, digits++)
        v = v * 10 + (*s - '0');
    return digits && !*s && s[-digits] != '0' && v >= lo && v <= hi;
}

/* ISO-8859-N by one of the names GMime reads as "iso-8859-N" and glibc
 * has as aliases of it: iso-8859-N, iso8859-N, iso_8859-N */
static bool iso8859(const char *charset, int lo, int hi)
{
    return numbered(charset, "iso-8859-", lo, hi) || numbered(charset, "iso8859-", lo, hi) ||
           numbered(charset, "iso_8859-", lo, hi);
}

static bool latin1_name(const char *charset)
{
    return iso8859(charset, 1, 1) || strcasecmp(charset, "latin1") == 0;
}

bool pd_charset_native(const char *charset)
{
    if (!charset)
        return false;
    if (iso8859(charset, 1, 16) || numbered(charset, "windows-", 1250, 1258) ||
        strcasecmp(charset, "latin1") == 0)
        return true;
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        if (strcasecmp(charset, others[i]) == 0)
            return true;
    return false;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[40];
    iconv_t cd;
} open_cds[PD_CHARSET_OPEN];
static int nopen;

/* The converter from charset, opened if need be; (iconv_t)-1 when it
 * cannot be or the table is full.  Called with mu held. */
static iconv_t converter(const char *charset)
{
    for (int i = 0; i < nopen; i++)
        if (strcasecmp(open_cds[i].name, charset) == 0)
            return open_cds[i].cd;
    if (nopen == PD_CHARSET_OPEN || strlen(charset) >= sizeof open_cds[0].name)
        return (iconv_t)-1;
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd != (iconv_t)-1) {
        snprintf(open_cds[nopen].name, sizeof open_cds[nopen].name, "%s", charset);
        open_cds[nopen++].cd = cd;
    }
    return cd;
}

void pd_charset_pin(const char *charset)
{
    if (!charset)
        return;
    pthread_mutex_lock(&mu);
    (void)converter(charset);
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
 * out: 1 done, 0 the text has an error (out as it was), -1 no memory.
 * Called with mu held. */
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
    if (!pd_charset_native(charset))
        return 0;
    if (latin1_name(charset))
        return latin1(s, n, out);
    pthread_mutex_lock(&mu);
    iconv_t cd = converter(charset);
    int rc = cd == (iconv_t)-1 ? 0 : convert(cd, s, n, out);
    pthread_mutex_unlock(&mu);
    return rc;
}
