/*
 * rfc2047.c - decode RFC 2047 encoded words.  See pd_rfc2047.h.
 */
#include "pd_rfc2047.h"
#include "pd_charset.h"
#include "pd_gmime.h"
#include "pd_util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PD_RFC2047_MAX_WORD 200

struct word {
    const char *start, *end;      /* the whole =?...?= */
    char charset[64];
    pd_buf bytes;                 /* decoded payload */
};

static int decode_q(const char *p, size_t n, pd_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '_')
            c = ' ';
        else if (c == '=' && i + 2 < n) {
            int h = pd_hex_value((unsigned char)p[i + 1]);
            int l = pd_hex_value((unsigned char)p[i + 2]);
            if (h >= 0 && l >= 0) {
                c = (char)(h * 16 + l);
                i += 2;
            }
        }
        if (pd_buf_putc(out, c) < 0)
            return -1;
    }
    return 0;
}

static int decode_b(const char *p, size_t n, pd_buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '=')
            break;
        int v = pd_base64_value((unsigned char)p[i]);
        if (v < 0)
            continue;   /* tolerate junk */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (pd_buf_putc(out, (char)((acc >> bits) & 0xff)) < 0)
                return -1;
        }
    }
    return 0;
}

/* Parse an encoded word at p; true and w filled when there is one. */
static bool parse_word(const char *p, struct word *w)
{
    if (p[0] != '=' || p[1] != '?')
        return false;
    const char *cs = p + 2;
    const char *q1 = cs;
    while (*q1 && *q1 != '?' && (size_t)(q1 - cs) < sizeof w->charset - 1)
        q1++;
    if (*q1 != '?' || q1 == cs)
        return false;
    for (const char *x = cs; x < q1; x++)
        if (isspace((unsigned char)*x))
            return false;
    char enc = q1[1];
    if (!enc || q1[2] != '?' || !strchr("bBqQ", enc))
        return false;
    const char *text = q1 + 3;
    const char *q2 = text;
    /* The encoded text holds no '?' (RFC 2047: "any printable ASCII
     * character other than '?' or SPACE"), so the scan stops at the first
     * one, which must start "?=".  RFC 2047 caps a word at 75 characters;
     * allowing a little more for sloppy mailers still bounds the scan.  Each
     * byte is then looked at a bounded number of times, so "=?a?q?x"
     * repeated a million times costs linear time, not quadratic. */
    while (*q2 && *q2 != '?') {
        if (*q2 == ' ' || *q2 == '\t' || *q2 == '\r' || *q2 == '\n' ||
            q2 - p > PD_RFC2047_MAX_WORD)
            return false;
        q2++;
    }
    if (!*q2 || q2[1] != '=')
        return false;
    memcpy(w->charset, cs, (size_t)(q1 - cs));
    w->charset[q1 - cs] = '\0';
    char *star = strchr(w->charset, '*');   /* RFC 2231 language */
    if (star)
        *star = '\0';
    w->start = p;
    w->end = q2 + 2;
    pd_buf_reset(&w->bytes);
    if (pd_buf_puts(&w->bytes, "") < 0)
        return false;
    int rc = (enc == 'b' || enc == 'B') ? decode_b(text, (size_t)(q2 - text), &w->bytes)
                                        : decode_q(text, (size_t)(q2 - text), &w->bytes);
    return rc == 0;
}

/* s[0..len) as valid UTF-8, as GLib's g_utf8_make_valid() gives it: a
 * NUL byte too becomes U+FFFD (pd_utf8_make_valid() takes text without
 * them).  Malloc'd; NULL when out of memory. */
static char *make_valid(const char *s, size_t len)
{
    if (!memchr(s, '\0', len))
        return pd_utf8_make_valid(s, len);
    pd_buf b = PD_BUF_INIT;
    for (;;) {
        const char *nul = memchr(s, '\0', len);
        size_t n = nul ? (size_t)(nul - s) : len;
        char *v = pd_utf8_make_valid(s, n);
        int rc = v ? pd_buf_puts(&b, v) : -1;
        free(v);
        if (rc == 0 && nul)
            rc = pd_buf_puts(&b, "\xEF\xBF\xBD");
        if (rc < 0) {
            pd_buf_free(&b);
            return NULL;
        }
        if (!nul)
            break;
        s = nul + 1;
        len -= n + 1;
    }
    return b.data ? pd_buf_steal(&b) : strdup("");
}

/* bytes in charset as UTF-8: converted here where pd_charset.h does it
 * exactly, else g_convert_with_fallback(..., fallback) (pd_gmime_to_utf8(),
 * whose values this returns: 1 with *out and *outlen set, 0 it cannot
 * convert, -1 no memory or no GMime). */
static int to_utf8(const char *bytes, size_t n, const char *charset, const char *fallback,
                   char **out, size_t *outlen)
{
    pd_buf b = PD_BUF_INIT;
    int rc = pd_charset_to_utf8(charset, bytes, n, &b);
    if (rc > 0) {
        *outlen = b.len;
        if (!(*out = pd_buf_steal(&b)))
            rc = -1;
    }
    pd_buf_free(&b);
    return rc == 0 ? pd_gmime_to_utf8(bytes, n, charset, fallback, out, outlen) : rc;
}

/* Convert bytes in charset to valid UTF-8 and append. */
static int append_converted(pd_buf *out, const char *bytes, size_t n, const char *charset)
{
    if (!n)
        return 0;
    char *conv = NULL;
    size_t written = 0;
    if (charset && strcasecmp(charset, "utf-8") != 0 && strcasecmp(charset, "utf8") != 0 &&
        strcasecmp(charset, "us-ascii") != 0) {
        if (to_utf8(bytes, n, charset, "\xEF\xBF\xBD", &conv, &written) < 0)
            return -1;   /* no memory, or no GMime: not a text to guess at */
    }
    const char *src = conv ? conv : bytes;
    size_t len = conv ? written : n;
    int rc;
    if (pd_utf8_valid(src, len)) {
        rc = pd_buf_append(out, src, len);
    } else if (!conv && !charset) {
        /* raw 8-bit header text: Windows-1252 is what it usually is */
        char *w = NULL;
        if (to_utf8(src, len, "WINDOWS-1252", "?", &w, &written) < 0)
            return -1;
        char *v = w ? NULL : make_valid(src, len);
        rc = pd_buf_puts(out, w ? w : v ? v : "");
        free(w);
        free(v);
    } else {
        char *v = make_valid(src, len);
        rc = v ? pd_buf_puts(out, v) : -1;
        free(v);
    }
    free(conv);
    return rc;
}

static bool only_blanks(const char *a, const char *b)
{
    for (; a < b; a++)
        if (*a != ' ' && *a != '\t' && *a != '\r' && *a != '\n')
            return false;
    return true;
}

/* A run of adjacent encoded words: the bytes of the words in the current
 * charset, and the UTF-8 text of the words before a charset change. */
struct run {
    pd_buf bytes;
    char charset[64];
    pd_buf text;
};

/* Convert the pending bytes into the run's text. */
static int run_convert(struct run *r)
{
    int rc = r->bytes.len ? append_converted(&r->text, r->bytes.data, r->bytes.len, r->charset)
                          : 0;
    pd_buf_reset(&r->bytes);
    return rc;
}

/* End the run: its text goes to out, decoded or as one UTF-8 base64 word. */
static int run_end(struct run *r, pd_buf *out, bool normalize)
{
    if (run_convert(r) < 0)
        return -1;
    const char *t = r->text.data ? r->text.data : "";
    int rc;
    if (normalize) {
        rc = pd_buf_puts(out, "=?UTF-8?B?") < 0 || pd_base64_append(out, t, r->text.len) < 0 ||
             pd_buf_puts(out, "?=") < 0 ? -1 : 0;
    } else {
        rc = pd_buf_append(out, t, r->text.len);
    }
    pd_buf_reset(&r->text);
    return rc;
}

/* Walk the input: plain text and runs of encoded words.  In "normalize" mode
 * runs are re-encoded as one UTF-8 base64 word; otherwise decoded. */
static char *walk(const char *in, bool normalize)
{
    pd_buf out = PD_BUF_INIT;
    struct run run = { PD_BUF_INIT, "", PD_BUF_INIT };
    struct word w = { 0 };
    bool in_run = false, ok = true;
    const char *p = in, *plain_start = in;
    if (pd_buf_puts(&out, "") < 0)
        return NULL;

    while (ok && *p) {
        const char *eq = p;   /* the next "=?" (strchr: no rescan of the rest per word) */
        while ((eq = strchr(eq, '=')) != NULL && eq[1] != '?')
            eq++;
        if (!eq)
            break;
        if (!parse_word(eq, &w)) {
            p = eq + 2;
            continue;
        }
        /* text before the word: dropped when it is blank between two words */
        if (!(in_run && only_blanks(plain_start, eq))) {
            if (in_run)
                ok = run_end(&run, &out, normalize) == 0;
            if (ok && eq > plain_start)
                ok = append_converted(&out, plain_start, (size_t)(eq - plain_start), NULL) == 0;
            in_run = true;
        }
        if (ok && run.bytes.len && strcasecmp(run.charset, w.charset) != 0)
            ok = run_convert(&run) == 0;
        memcpy(run.charset, w.charset, sizeof run.charset);
        if (ok && pd_buf_append(&run.bytes, w.bytes.data, w.bytes.len) < 0)
            ok = false;
        p = plain_start = w.end;
    }
    if (ok && in_run)
        ok = run_end(&run, &out, normalize) == 0;
    if (ok)
        ok = append_converted(&out, plain_start, strlen(plain_start), NULL) == 0;
    pd_buf_free(&run.bytes);
    pd_buf_free(&run.text);
    pd_buf_free(&w.bytes);
    if (!ok) {
        pd_buf_free(&out);
        return NULL;
    }
    return pd_buf_steal(&out);
}

char *pd_rfc2047_decode(const char *in)
{
    return walk(in, false);
}

char *pd_rfc2047_normalize(const char *in)
{
    return walk(in, true);
}
