/*
 * mail.c - parse a raw message into struct pd_mail.  See pd_mail.h.
 *
 * Three paths give the same fields: for the plain text mail that most of a
 * list's traffic is, the raw bytes (plain_headers()): the header values and
 * the body are slices of the mail; for every other mail, the MIME walk
 * (pd_mime.h), with GMime's filters decoding only the text part; and, for
 * the tests only, GMime's MIME tree (pd_mail_parse_gmime()).
 *
 * What this file decides: which part is "the text body" (the first text/plain
 * part without a filename, not looking inside attached messages), how bodies
 * are decoded (transfer encoding, then charset to UTF-8, then CRs and NULs
 * dropped, then invalid UTF-8 repaired), and how Message-IDs are normalised.
 */
#include "pd_mail.h"
#include "pd_charset.h"
#include "pd_gmime.h"
#include "pd_mime.h"
#include "pd_rfc2047.h"
#include "pd_util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Copy s[0..len) to o while it is ASCII without CR or NUL, 16 bytes at a
 * time (a block that holds another byte is copied but not counted); how
 * many bytes were copied and counted. */
static size_t ascii_copy(const char *s, size_t len, char *o)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i cr = _mm_set1_epi8('\r'), zero = _mm_setzero_si128();
    for (; len - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        _mm_storeu_si128((__m128i *)(void *)(o + i), v);
        /* a byte above 0x7f has its top bit set, and so has a match */
        if (_mm_movemask_epi8(_mm_or_si128(
                v, _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, zero)))))
            return i;
    }
#endif
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\0' || c > 0x7f)
            return i;
        o[i] = (char)c;
    }
    return i;
}

/* s[0..len) as valid UTF-8 without NUL or CR bytes (and, unless
 * keep_newlines, with the other control characters turned into spaces);
 * malloc'd, NULL when out of memory. */
static char *utf8_clean(const char *s, size_t len, bool keep_newlines)
{
    if (len == 0)
        return strdup("");   /* s may be NULL then (GMime's empty byte array) */
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_reserve(&b, len) < 0)
        return NULL;
    size_t ascii = 0;   /* b.data starts with this many bytes of ASCII, no CR or NUL among them */
    if (keep_newlines) {
        /* most list mail is ASCII text with LF line ends: copied 16 bytes
         * at a time while no byte is a CR, a NUL or above 0x7f, it needs
         * no other pass (it was three: two memchr() and the UTF-8 check) */
        ascii = ascii_copy(s, len, b.data);
        if (ascii == len) {
            b.data[len] = '\0';
            return b.data;
        }
        s += ascii;
        len -= ascii;
        b.len = ascii;
        /* the rest of bodies and header blocks, CR and NUL bytes dropped.
         * A rest with neither is one copy; otherwise 16 or 8 bytes
         * at a time, a byte at a time only in the words that hold a CR or
         * a NUL (CRLF text, as every MTA hands a body over: one word a
         * line; and no memchr() call a line, which a crafted body of
         * millions of empty lines made slow) */
        if (!memchr(s, '\r', len) && !memchr(s, '\0', len)) {
            memcpy(b.data + ascii, s, len);
            b.len = ascii + len;
        } else {
            const char *p = s, *end = s + len;
            char *o = b.data + ascii;   /* a local: b.len in memory costs 5x */
#ifdef __SSE2__
            /* 16 bytes at a time: a block without CR or NUL is one store;
             * a block with some, one store for each run of kept bytes (the
             * bytes past the run are written over by the next store), so a
             * crafted body of a CR every third byte costs a few
             * instructions a byte.  o never passes p, and the loads and
             * stores stay within the 32 bytes from p */
            const __m128i cr = _mm_set1_epi8('\r'), zero = _mm_setzero_si128();
            while (end - p >= 32) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                unsigned m = (unsigned)_mm_movemask_epi8(
                    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, zero)));
                if (!m) {
                    _mm_storeu_si128((__m128i *)(void *)o, v);
                    o += 16;
                    p += 16;
                    continue;
                }
                unsigned start = 0;
                for (; m; m &= m - 1) {
                    unsigned pos = (unsigned)__builtin_ctz(m);
                    _mm_storeu_si128((__m128i *)(void *)o,
                                     _mm_loadu_si128((const __m128i *)(const void *)(p + start)));
                    o += pos - start;
                    start = pos + 1;
                }
                _mm_storeu_si128((__m128i *)(void *)o,
                                 _mm_loadu_si128((const __m128i *)(const void *)(p + start)));
                o += 16 - start;
                p += 16;
            }
#endif
            const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
            while (end - p >= 8) {
                uint64_t w, x;
                memcpy(&w, p, 8);
                x = w ^ (ones * '\r');
                /* a zero byte in w (NUL) or in x (CR): the lowest one found
                 * is exact (bits above it may not be) */
                uint64_t hit = ((w - ones) & ~w & highs) | ((x - ones) & ~x & highs);
                memcpy(o, p, 8);
                if (!hit) {
                    o += 8;
                    p += 8;
                    continue;
                }
                /* keep the bytes before it, drop it, go on just after it */
                size_t k = (size_t)__builtin_ctzll(hit) / 8;
                o += k;
                p += k + 1;
            }
            for (; p < end; p++) {
                char c = *p;
                *o = c;
                o += (c != '\r') & (c != '\0');
            }
            b.len = (size_t)(o - b.data);
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (c == '\0' || c == '\r')
                continue;
            if ((unsigned char)c < 0x20 || c == 0x7f)
                c = ' ';
            b.data[b.len++] = c;
        }
    }
    b.data[b.len] = '\0';
    /* no sequence starts in the ASCII bytes */
    if (pd_utf8_valid(b.data + ascii, b.len - ascii))
        return b.data;
    char *out = pd_utf8_make_valid(b.data, b.len);
    pd_buf_free(&b);
    return out;
}

static char *unfold(const char *raw)
{
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_reserve(&b, strlen(raw)) < 0)
        return NULL;
    for (const char *p = raw; *p; p++)
        if (*p != '\r' && *p != '\n')
            b.data[b.len++] = *p;
    b.data[b.len] = '\0';
    return pd_trim(b.data);
}

char *pd_decode_header_text(const char *raw)
{
    char *u = unfold(raw);
    if (!u)
        return NULL;
    char *dec = pd_rfc2047_decode(u);
    free(u);
    if (!dec)
        return NULL;
    char *out = utf8_clean(dec, strlen(dec), false);
    free(dec);
    if (out)
        pd_trim(out);
    return out;
}

/* s with control characters turned into spaces and made valid UTF-8; frees
 * s (NULL in, NULL out). */
static char *single_line_utf8(char *s)
{
    if (!s)
        return NULL;
    char *out = utf8_clean(s, strlen(s), false);
    free(s);
    return out;
}

char *pd_mid_normalize(const char *raw)
{
    /* the common case, an id of printable ASCII without blanks in <>: what
     * the steps below give, without their three copies */
    const char *lt = strchr(raw, '<');
    if (lt) {
        const char *p = lt + 1;
        while (*p > ' ' && *p < 0x7f && *p != '<' && *p != '>')
            p++;
        if (*p == '>' && p > lt + 1)
            return pd_strndup(lt + 1, (size_t)(p - lt - 1));
    }
    char *u = unfold(raw);
    if (!u)
        return NULL;
    char *ult = strchr(u, '<');
    char *gt = ult ? strchr(ult, '>') : NULL;
    if (ult && gt) {
        *gt = '\0';
        memmove(u, ult + 1, strlen(ult + 1) + 1);
        pd_trim(u);
    }
    /* Ids are text like any other field: an 8-bit byte that is not UTF-8
     * must not reach Redis or the digest as it is. */
    return single_line_utf8(u);
}

/* All <...> ids of a References header, in order. */
static int parse_references(const char *raw, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *p = raw;
    while ((p = strchr(p, '<')) != NULL) {
        const char *gt = strchr(p, '>');
        if (!gt)
            break;
        char *tmp = pd_strndup(p, (size_t)(gt - p + 1));
        if (!tmp)
            return -1;
        char *id = pd_mid_normalize(tmp);
        free(tmp);
        if (!id)
            return -1;
        if (!*id) {
            free(id);
        } else {
            char **nv = realloc(*out, (*n + 1) * sizeof *nv);
            if (!nv) {
                free(id);
                return -1;
            }
            *out = nv;
            nv[(*n)++] = id;
        }
        p = gt + 1;
    }
    return 0;
}

void pd_addr_clear(struct pd_addr *a)
{
    free(a->name);
    free(a->addr);
    free(a->written);
    a->name = a->addr = a->written = NULL;
}

static void collapse_spaces(char *s)
{
    char *w = s;
    bool sp = false;
    for (char *r = s; *r; r++) {
        if (*r == ' ' || *r == '\t') {
            sp = true;
            continue;
        }
        if (sp && w != s)
            *w++ = ' ';
        sp = false;
        *w++ = *r;
    }
    *w = '\0';
}

/* The display name as written before "<addr>": quotes and backslash escapes
 * removed, encoded words decoded, parenthesised text kept ("Name (Company)"
 * is how people sign).  NULL when the value has no "phrase <addr>" form. */
static char *phrase_before_angle(const char *v)
{
    const char *start = v, *lt = NULL;
    bool q = false;
    for (const char *p = v; *p; p++) {
        if (q) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                q = false;
            continue;
        }
        if (*p == '"')
            q = true;
        else if (*p == ',')
            start = p + 1;   /* a list: the name of the mailbox holding the '<' */
        else if (*p == '<') {
            lt = p;
            break;
        }
    }
    if (!lt)
        return NULL;
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_puts(&b, "") < 0)
        return NULL;
    q = false;
    for (const char *p = start; p < lt; p++) {
        if (*p == '"') {
            q = !q;
            continue;
        }
        if (q && *p == '\\' && p + 1 < lt)
            p++;
        if (pd_buf_putc(&b, *p) < 0) {
            pd_buf_free(&b);
            return NULL;
        }
    }
    char *dec = pd_rfc2047_decode(b.data);
    pd_buf_free(&b);
    return dec;
}

static int pd_addr_parse_full(char *u, struct pd_addr *out, bool gmime_only);

/* out takes name, addr and written (the empty strings it held are freed). */
static void addr_take(struct pd_addr *out, char *name, char *addr, char *written)
{
    free(out->name);
    free(out->addr);
    free(out->written);
    out->name = name;
    out->addr = addr;
    out->written = written;
}

/* An address as the common forms write it, in which GMime's parser would
 * find nothing else: a dot-atom local part, one '@', a domain of letters,
 * digits, dots and hyphens (no IDN "xn--" label: GMime decodes those). */
static bool plain_addr(const char *a, size_t n)
{
    const char *at = memchr(a, '@', n);
    if (!at || at == a || at == a + n - 1 || memchr(at + 1, '@', (size_t)(a + n - at - 1)))
        return false;
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";
    for (const char *p = a; p < at; p++)
        if (!pd_ascii_isalnum(*p) && !strchr(atext, *p))
            return false;
    for (const char *p = at + 1; p < a + n; p++)
        if (!pd_ascii_isalnum(*p) && *p != '.' && *p != '-')
            return false;
    for (const char *p = a; p < a + n; p++)
        if (*p == '.' && (p == a || p == at - 1 || p == at + 1 || p == a + n - 1 ||
                          p[1] == '.'))
            return false;
    for (const char *p = at + 1; p + 4 <= a + n; p++)
        if ((p == at + 1 || p[-1] == '.') && strncasecmp(p, "xn--", 4) == 0)
            return false;
    return true;
}

/* The common forms, read without GMime: "Name <addr>", "<addr>" and
 * "addr", in printable ASCII, with no quotes, comments, encoded words,
 * lists, groups or escapes, and a plain_addr().  What the full parse
 * below gives for them (test_mail compares both on the corpus's From
 * and trailer lines), at a small part of its cost: GMime's address
 * parser was a tenth of "import".  u is unfolded and trimmed.  1 done,
 * 0 not such a form, -1 out of memory. */
static int addr_simple(const char *u, struct pd_addr *out)
{
    const char *lt = NULL, *gt = NULL;
    for (const char *p = u; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x7f || (c < 0x20 && c != '\t') || c == '"' || c == '(' || c == ')' ||
            c == ',' || c == ';' || c == ':' || c == '\\' || c == '[' || c == ']')
            return 0;
        if (c == '=' && p[1] == '?')
            return 0;
        if (c == '<') {
            if (lt)
                return 0;
            lt = p;
        } else if (c == '>') {
            if (gt || !lt)
                return 0;
            gt = p;
        }
    }
    const char *a;
    size_t an, nn = 0;
    if (lt) {
        if (!gt || gt[1] != '\0')   /* u is trimmed: '>' must end it */
            return 0;
        a = lt + 1;
        an = (size_t)(gt - a);
        nn = (size_t)(lt - u);
        if (memchr(u, '@', nn))
            return 0;
        const char *ns = u;
        while (ns < lt && (*ns == ' ' || *ns == '\t'))
            ns++;
        if (*ns == '.')
            return 0;   /* GMime's parser finds no mailbox after a leading "." */
    } else {
        if (gt || strpbrk(u, " \t"))
            return 0;
        a = u;
        an = strlen(u);
    }
    if (!plain_addr(a, an))
        return 0;
    char *n = strndup(u, nn), *addr = strndup(a, an), *w = strndup(a, an);
    if (!n || !addr || !w) {
        free(n);
        free(addr);
        free(w);
        return -1;
    }
    collapse_spaces(n);
    pd_trim(n);
    if (strcasecmp(n, addr) == 0)
        n[0] = '\0';
    pd_ascii_lower(addr);
    out->name = n;   /* out held nothing yet (pd_addr_parse()) */
    out->addr = addr;
    out->written = w;
    return 1;
}

/* out holds empty strings (what a value without an address gives); 0, or
 * -1 out of memory. */
static int addr_init(struct pd_addr *out)
{
    out->name = strdup("");
    out->addr = strdup("");
    out->written = strdup("");
    return out->name && out->addr && out->written ? 0 : -1;
}

int pd_addr_parse(const char *value, struct pd_addr *out)
{
    char *u = unfold(value);
    /* the common forms fill out themselves; the rest starts from empty strings */
    int simple = u && *u ? addr_simple(u, out) : 0;
    if (simple > 0) {
        free(u);
        return 0;
    }
    if (addr_init(out) < 0 || simple < 0 || !u || !*u) {
        /* nothing (a header absent or blank): no address, as GMime finds */
        free(u);
        return -1;
    }
    return pd_addr_parse_full(u, out, false);
}

int pd_addr_parse_gmime(const char *value, struct pd_addr *out)
{
    if (addr_init(out) < 0)
        return -1;
    return pd_addr_parse_full(unfold(value), out, true);
}

/* A display name and one address in angle brackets, of forms GMime's
 * parser reads as they look (the address of a plain_addr()): v is
 * "phrase <addr> trailer", where the phrase holds no specials outside
 * quoted strings and comments, quoted strings no backslash, comments no
 * nesting and no quote, and nothing in it is a control character or (but
 * in valid UTF-8) a byte above 0x7f, and the trailer is blanks,
 * printable ASCII without any of "\<> and comments without nesting.  The
 * address's bytes, or NULL. */
static const char *angle_addr(const char *v, size_t *an)
{
    bool q = false, utf8_checked = false, started = false;
    int comment = 0;
    const char *p = v;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* a phrase that starts with "." (after blanks and comments) is
         * one GMime's parser finds no mailbox in */
        if (!q && !comment && !started && c != ' ' && c != '\t' && c != '(') {
            if (c == '.')
                return NULL;
            started = true;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return NULL;
        if (c >= 0x80 && !utf8_checked) {
            if (!pd_utf8_valid(v, strlen(v)))
                return NULL;
            utf8_checked = true;
        }
        if (q) {
            if (c == '\\')
                return NULL;
            q = c != '"';
        } else if (comment) {
            if (c == '(' || c == '"' || c == '\\' || c == '<' || c == '>')
                return NULL;
            comment = c != ')';
        } else if (c == '"') {
            q = true;
        } else if (c == '(') {
            comment = 1;
        } else if (c == '<') {
            break;
        } else if (strchr(")>@,;:\\[]", c)) {
            return NULL;
        }
    }
    if (*p != '<')
        return NULL;
    const char *a = p + 1, *gt = strchr(a, '>');
    if (!gt)
        return NULL;
    /* after it, blanks, printable text without quotes or brackets ("[1]")
     * and comments without nesting, quotes or backslashes ("(Comment)"):
     * GMime's parser has made the mailbox by then, skips such comments and
     * reads the rest as further addresses or skips it (an unbalanced
     * comment would make it drop them all) */
    bool in_comment = false;
    for (const char *t = gt + 1; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if ((c < 0x20 && c != '\t') || c >= 0x7f || strchr("\"\\<>", c) ||
            (c == '(' && in_comment) || (c == ')' && !in_comment))
            return NULL;
        if (c == '(' || c == ')')
            in_comment = c == '(';
    }
    if (in_comment)
        return NULL;
    *an = (size_t)(gt - a);
    return plain_addr(a, *an) ? a : NULL;
}

/* The full parse of u, unfolded and trimmed (GMime's, but for the forms of
 * angle_addr(), unless gmime_only); frees u. */
static int pd_addr_parse_full(char *u, struct pd_addr *out, bool gmime_only)
{
    char *norm = u ? pd_rfc2047_normalize(u) : NULL;
    if (!norm) {
        free(u);
        return -1;
    }
    char *gname = NULL, *gaddr = NULL;
    /* no "@" (nor an encoded word, in case GMime decoded one into an "@"):
     * no address, whatever GMime made of the rest */
    bool no_at = !gmime_only && !strchr(norm, '@') && !strstr(norm, "=?");
    size_t an = 0;
    const char *ang = gmime_only || no_at ? NULL : angle_addr(norm, &an);
    /* the phrase as written, which the name is (GMime's name only when
     * there is none, as when an encoded word holds a quote) */
    char *written = ang ? phrase_before_angle(u) : NULL;
    int found = no_at                ? 0
                : ang && written     ? ((gaddr = strndup(ang, an)) ? 1 : -1)
                                     : pd_gmime_first_mailbox(norm, &gname, &gaddr);
    free(norm);
    if (found < 0) {
        free(written);
        free(u);
        return -1;
    }
    int rc = -1;
    if (found && *gaddr && strchr(gaddr, '@')) {
        if (!written)
            written = phrase_before_angle(u);
        const char *name = written ? written : gname;
        char *n = utf8_clean(name ? name : "", name ? strlen(name) : 0, false);
        char *a = utf8_clean(gaddr, strlen(gaddr), false);
        if (n && a) {
            collapse_spaces(n);
            pd_trim(n);
            /* A name that is only the address again adds nothing. */
            if (strcasecmp(n, a) == 0)
                n[0] = '\0';
            pd_trim(a);
            for (char *p = a; *p; p++)
                if (*p == ' ')
                    *p = '_';
            char *w = strdup(a);
            if (w) {
                pd_ascii_lower(a);
                addr_take(out, n, a, w);
                rc = 0;
            } else {
                free(n);
                free(a);
            }
        } else {
            free(n);
            free(a);
        }
    }
    free(written);
    free(gname);
    free(gaddr);
    free(u);
    return rc;
}

/* Text GMime decoded, as valid UTF-8 (pd_gmime_take_fn). */
static void *take_text(const char *bytes, size_t len, void *arg)
{
    (void)arg;
    return utf8_clean(bytes, len, true);
}

/* The text part the MIME walk found: s[0..n) in transfer encoding cte,
 * as valid UTF-8 (utf8_clean()).  Text in UTF-8 or ASCII, or in a charset
 * of pd_charset.h that converts without an error, is decoded here when its
 * quoted-printable or base64 is well formed (pd_mime.h); anything else by
 * GMime. */
static char *decode_slice(const char *s, size_t n, const char *cte, const char *charset)
{
    bool utf8 = !charset || strcasecmp(charset, "utf-8") == 0 ||
                strcasecmp(charset, "us-ascii") == 0;
    enum pd_cte enc = pd_mime_cte(cte);
    if (enc == PD_CTE_IDENTITY && utf8)
        return utf8_clean(s, n, true);   /* what GMime's filters would give, without copies */
    if (enc == PD_CTE_UUENCODE || !(utf8 || pd_charset_native(charset)))
        return pd_gmime_decode(s, n, cte, charset, take_text, NULL);
    char *dec = NULL, *out = NULL;
    const char *text = s;
    size_t len = n;
    if (enc != PD_CTE_IDENTITY) {
        if (!(dec = malloc(n ? n : 1)))
            return NULL;
        long got = enc == PD_CTE_QP ? pd_mime_qp_decode(s, n, dec)
                                    : pd_mime_base64_decode(s, n, dec);
        if (got < 0)
            goto by_gmime;   /* not well formed */
        text = dec;
        len = (size_t)got;
    }
    if (utf8) {
        out = utf8_clean(text, len, true);
    } else {
        pd_buf conv = PD_BUF_INIT;
        int rc = pd_charset_to_utf8(charset, text, len, &conv);
        if (rc > 0)
            out = utf8_clean(conv.data ? conv.data : "", conv.len, true);
        pd_buf_free(&conv);
        if (rc == 0)
            goto by_gmime;   /* an error in the text */
    }
    free(dec);
    return out;
by_gmime:
    free(dec);
    return pd_gmime_decode(s, n, cte, charset, take_text, NULL);
}

#define PD_MAX_MIME_DEPTH 64
#define PD_MAX_MIME_PARTS 10000

/* A leaf of GMime's tree (the reference parse): the patch part, and the
 * first text/plain part without a file name is the text. */
static int gmime_leaf(void *arg, const struct pd_gmime_leaf *leaf)
{
    struct pd_mail *m = arg;
    if (pd_mime_patch_part(leaf->type, leaf->type ? strlen(leaf->type) : 0, leaf->subtype,
                           leaf->subtype ? strlen(leaf->subtype) : 0, leaf->filename))
        m->has_patch_part = true;
    if (!m->has_text_body && !leaf->filename && leaf->text_plain) {
        char *body = pd_gmime_leaf_decode(leaf, take_text, NULL);
        if (!body)
            return -1;
        free(m->text_body);
        m->text_body = body;
        m->has_text_body = true;
    }
    return 0;
}

/* Where a mail's header block ends and its body starts (head_scan()),
 * found once per parse and handed to everything that needs it: on a crafted
 * mail of two million header lines each pass costs tens of milliseconds. */
struct head {
    size_t end;     /* as an MTA reads it: just past the newline of the last
                       header line, where the empty line starts (blank), or
                       where the first line that is neither a header field
                       nor its continuation starts (that line is the first
                       of the body); the mail's length when every line is a
                       header line */
    bool blank;     /* an empty line ended it */
    size_t body;    /* where the body starts */
};

/* The header block as received, bounded. */
static char *raw_header_block(const char *data, const struct head *hd)
{
    size_t end = hd->end;
    if (end > PD_MAX_RAW_HEADERS)
        end = PD_MAX_RAW_HEADERS;
    return utf8_clean(data, end, true);
}

static char *synthetic_mid(const struct pd_mail *m, const char *from_raw,
                           const char *data, size_t len, const struct head *hd)
{
    /* Line endings differ between paths (the MTA sends CRLF, an mbox has LF):
     * hash the body without CRs and the From unfolded, so every path that
     * delivers the mail derives the same id. */
    const char *body = data + hd->body;
    size_t blen = len - (size_t)(body - data);
    pd_buf nocr = PD_BUF_INIT;
    if (pd_buf_reserve(&nocr, blen) < 0)
        return NULL;
    for (size_t i = 0; i < blen; i++)
        if (body[i] != '\r')
            nocr.data[nocr.len++] = body[i];
    char bodyhash[41], idhash[41];
    pd_sha1_hex(nocr.data, nocr.len, bodyhash);
    pd_buf_free(&nocr);
    char *from = unfold(from_raw ? from_raw : "");
    if (!from)
        return NULL;
    pd_buf b = PD_BUF_INIT;
    int rc = pd_buf_printf(&b, "%s\n%s\n%s\n%s", m->date, from, m->subject, bodyhash);
    free(from);
    if (rc < 0)
        return NULL;
    pd_sha1_hex(b.data, b.len, idhash);
    pd_buf_free(&b);
    pd_buf id = PD_BUF_INIT;
    if (pd_buf_printf(&id, "%s@patchdigest.invalid", idhash) < 0)
        return NULL;
    return pd_buf_steal(&id);
}

static bool blank(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static int dup_or_empty(char **dst, const char *src)
{
    *dst = strdup(src ? src : "");
    return *dst ? 0 : -1;
}

/* GMime's header decoding takes time quadratic in a header's length on
 * crafted input (a 200 KB Subject of "=?a?q?x" costs seconds), so headers
 * longer than PD_MAX_HEADER_BYTES are cut before GMime sees them.  A header
 * block that a line other than a header ends gets the empty line an MTA puts
 * there (GMime would take that line for a bad header and the body would start
 * later than the MTA's, and every path that delivers a mail must read it the
 * same).  Returns a malloc'd copy when something was changed, NULL (with *oom
 * false) when nothing needed to be. */
static char *cut_long_headers(const char *data, size_t len, const struct head *hd,
                              size_t *outlen, bool *oom, bool *shortened)
{
    *oom = false;
    *shortened = false;
    size_t hlen = hd->body, start = 0;
    bool separate = !hd->blank && hlen < len;
    bool need = separate;
    /* no header is longer than the block they are in: most blocks are a
     * few KB, and need no look at each header */
    if (hlen <= PD_MAX_HEADER_BYTES && !separate)
        return NULL;
    for (const char *nl = hlen ? memchr(data, '\n', hlen) : NULL; nl;
         nl = memchr(nl + 1, '\n', hlen - (size_t)(nl + 1 - data))) {
        size_t i = (size_t)(nl - data);
        if (i + 1 < hlen && (data[i + 1] == ' ' || data[i + 1] == '\t'))
            continue;   /* folded: the same header goes on */
        if (i + 1 - start > PD_MAX_HEADER_BYTES)
            need = *shortened = true;
        start = i + 1;
        if (start >= hlen)
            break;
    }
    if (hlen - start > PD_MAX_HEADER_BYTES)
        need = *shortened = true;
    if (!need)
        return NULL;
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_reserve(&b, len + 1) < 0) {
        *oom = true;
        return NULL;
    }
    start = 0;
    for (size_t i = 0; i <= hlen; i++) {
        bool end = i == hlen || (data[i] == '\n' &&
                   !(i + 1 < hlen && (data[i + 1] == ' ' || data[i + 1] == '\t')));
        if (!end)
            continue;
        size_t n = (i < hlen ? i + 1 : i) - start;
        if (n > PD_MAX_HEADER_BYTES) {
            pd_buf_append(&b, data + start, PD_MAX_HEADER_BYTES);
            pd_buf_putc(&b, '\n');
        } else {
            pd_buf_append(&b, data + start, n);
        }
        start = i + 1;
    }
    if (separate)
        pd_buf_putc(&b, '\n');
    pd_buf_append(&b, data + hlen, len - hlen);   /* room was reserved: cannot fail */
    *outlen = b.len;
    return pd_buf_steal(&b);
}

/* The headers pd_mail_parse reads, each the raw value of its first
 * occurrence as GMime gives it: everything after the colon, folding and the
 * final line end kept; NULL when absent. */
enum {
    H_SUBJECT, H_FROM, H_XOF, H_MID, H_IRT, H_REFS, H_LID, H_DATE, H_MARKER,
    H_CT, H_CTE, H_CD, H_COUNT
};
static const char *const header_names[H_COUNT] = {
    "Subject", "From", "X-Original-From", "Message-ID", "In-Reply-To", "References",
    "List-Id", "Date", PD_MARKER_HEADER, "Content-Type", "Content-Transfer-Encoding",
    "Content-Disposition",
};
#define LEN(s) (sizeof s - 1)
static const size_t header_lens[H_COUNT] = {
    LEN("Subject"), LEN("From"), LEN("X-Original-From"), LEN("Message-ID"),
    LEN("In-Reply-To"), LEN("References"), LEN("List-Id"), LEN("Date"),
    LEN(PD_MARKER_HEADER), LEN("Content-Type"), LEN("Content-Transfer-Encoding"),
    LEN("Content-Disposition"),
};
#undef LEN

struct raw_values {
    const char *v[H_COUNT];
    int seen[H_COUNT];    /* how often each occurs (plain path) */
    /* the plain path's copies of the values, one after the other, each
     * with its NUL: one allocation a mail, not one a header */
    char *copies;
    size_t used;
};

static void raw_values_clear(struct raw_values *h)
{
    free(h->copies);
}

/* s[0..n) without leading and trailing blanks (SP, TAB, CR, LF). */
static void trim(const char **s, size_t *n)
{
    while (*n && strchr(" \t\r\n", (*s)[0]))
        (*s)++, (*n)--;
    while (*n && strchr(" \t\r\n", (*s)[*n - 1]))
        (*n)--;
}

static bool token_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* Whether a Content-Type value is one the plain path reads exactly as the
 * GMime path would: text/plain, no name (GMime takes it for a file name),
 * charset (if any) utf-8 or us-ascii (no conversion), parameters of the
 * plain form name=token or name="text" only.  Anything else, including
 * comments, RFC 2231 parameters and quoting with backslashes, is left to
 * GMime. */
static bool plain_content_type(const char *v)
{
    const char *p = v;
    size_t n = strcspn(p, ";");
    const char *type = p;
    size_t tn = n;
    trim(&type, &tn);
    if (!token_is(type, tn, "text/plain"))
        return false;
    p += n;
    bool charset = false;
    while (*p == ';') {
        p++;
        size_t pn = strcspn(p, "=;");
        const char *name = p;
        trim(&name, &pn);
        p += strcspn(p, "=;");
        if (pn == 0 && *p != '=')
            continue;               /* an empty parameter: "text/plain;" */
        if (*p != '=' || pn == 0 || memchr(name, '*', pn) || memchr(name, '(', pn) ||
            memchr(name, '"', pn) || token_is(name, pn, "name"))
            return false;
        p++;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        const char *val = p;
        size_t vn;
        if (*p == '"') {
            val = ++p;
            vn = strcspn(p, "\"\\");
            if (p[vn] != '"')
                return false;
            p += vn + 1;
        } else {
            vn = strcspn(p, ";");
            trim(&val, &vn);
            p += strcspn(p, ";");
            if (vn == 0 || memchr(val, '(', vn) || memchr(val, '"', vn) ||
                memchr(val, ' ', vn) || memchr(val, '\t', vn))
                return false;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p && *p != ';')
            return false;
        if (token_is(name, pn, "charset")) {
            if (charset || !(token_is(val, vn, "utf-8") || token_is(val, vn, "us-ascii")))
                return false;
            charset = true;
        }
    }
    return *p == '\0';
}

/* Which of header_names[] the name p[0..n) is (case aside), or -1. */
static int header_index(const char *p, size_t n)
{
    for (int i = 0; i < H_COUNT; i++)
        if (n == header_lens[i] && (p[0] | 0x20) == (header_names[i][0] | 0x20) &&
            strncasecmp(p, header_names[i], n) == 0)
            return i;
    return -1;
}

/* The header block of data[0..len) in one pass: *hd, and in h (zeroed by
 * the caller) the raw values of header_names[], each the first occurrence
 * (the last of Content-*: the one GMime's parser goes by), copied into one
 * allocation.  Finding the block's end and its values had been two walks
 * of its lines.  0, or -1 when memory ran out. */
static int head_scan(const char *data, size_t len, struct head *hd, struct raw_values *h)
{
    const char *vs[H_COUNT], *ve[H_COUNT];
    const char *p = data, *end = data + len;
    int cur = -1;   /* the header being read, when one of header_names[] to keep */
    size_t hend = len;
    bool blank = false;
    while (p < end) {
        const char *nl = pd_find_byte(p, end, '\n');
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0 && nl) {
            blank = true;
            hend = (size_t)(p - data);
            break;
        }
        if (*p == ' ' || *p == '\t') {
            if (p == data) {   /* a continuation of nothing */
                hend = 0;
                break;
            }
        } else {
            /* a field: a name of printable ASCII, blanks, a colon */
            size_t nn = 0, k;
            while (nn < n && p[nn] > ' ' && p[nn] < 127 && p[nn] != ':')
                nn++;
            for (k = nn; k < n && (p[k] == ' ' || p[k] == '\t'); k++)
                ;
            if (nn == 0 || k >= n || p[k] != ':') {
                hend = (size_t)(p - data);
                break;
            }
            if (cur >= 0)
                ve[cur] = p;
            cur = header_index(p, nn);
            if (cur >= 0 && (h->seen[cur]++ == 0 || cur == H_CT || cur == H_CTE || cur == H_CD))
                vs[cur] = p + k + 1;
            else
                cur = -1;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (cur >= 0)
        ve[cur] = data + hend;
    hd->end = hend;
    hd->blank = blank;
    hd->body = blank ? hend + (data[hend] == '\n' ? 1 : 2) : hend;
    /* the values, each with a NUL after it */
    size_t need = 0;
    for (int i = 0; i < H_COUNT; i++)
        if (h->seen[i])
            need += (size_t)(ve[i] - vs[i]) + 1;
    if (!need)
        return 0;
    if (!(h->copies = malloc(need)))
        return -1;
    for (int i = 0; i < H_COUNT; i++) {
        if (!h->seen[i])
            continue;
        size_t vn = (size_t)(ve[i] - vs[i]);
        char *c = h->copies + h->used;
        memcpy(c, vs[i], vn);
        c[vn] = '\0';
        h->used += vn + 1;
        h->v[i] = c;
    }
    return 0;
}

/* The plain path: most list mail is one text/plain part in 7bit or 8bit,
 * UTF-8 or ASCII, and for it GMime's MIME tree (a fifth of the milter's CPU)
 * is not needed: the raw header values and the body are slices of the mail.
 * Whether the mail is such a mail, by the values in h (head_scan()), and
 * its header block plain too (ended by an empty line, no NUL byte); if
 * not, it goes through the MIME walk.  pd_mail_parse_gmime() is the
 * reference: tests/unit/test_mail.c checks that both give the same fields
 * on every mail of the corpus. */
static bool plain_headers(const char *data, const struct head *hd, const struct raw_values *h)
{
    size_t hend = hd->end;
    if (!hd->blank || hend == 0 || memchr(data, '\0', hend))
        return false;
    /* GMime's view of the MIME headers is left to GMime when they repeat */
    if (h->seen[H_CT] > 1 || h->seen[H_CTE] > 1 || h->seen[H_CD] > 1)
        return false;
    if (h->v[H_CT] && !plain_content_type(h->v[H_CT]))
        return false;
    if (h->v[H_CTE]) {
        const char *e = h->v[H_CTE];
        size_t en = strlen(e);
        trim(&e, &en);
        if (!token_is(e, en, "7bit") && !token_is(e, en, "8bit") && !token_is(e, en, "binary"))
            return false;
    }
    if (h->v[H_CD]) {
        /* a bare disposition names no file; anything more goes to GMime */
        const char *d = h->v[H_CD];
        size_t dn = strlen(d);
        trim(&d, &dn);
        if (!token_is(d, dn, "inline") && !token_is(d, dn, "attachment"))
            return false;
    }
    return true;
}

/* The fields common to both paths, from the raw header values. */
static int fill_fields(struct pd_mail *m, const struct raw_values *h, const char *data,
                       const struct head *hd)
{
    const char *irt = h->v[H_IRT], *refs = h->v[H_REFS];
    if (!(m->subject = pd_decode_header_text(h->v[H_SUBJECT] ? h->v[H_SUBJECT] : "")))
        return -1;
    if (!(m->date = h->v[H_DATE] ? single_line_utf8(unfold(h->v[H_DATE])) : strdup("")))
        return -1;
    if (pd_addr_parse(h->v[H_FROM] ? h->v[H_FROM] : "", &m->from) < 0 &&
        (!m->from.name || !m->from.addr))
        return -1;
    if (pd_addr_parse(h->v[H_XOF] ? h->v[H_XOF] : "", &m->xorig) < 0 &&
        (!m->xorig.name || !m->xorig.addr))
        return -1;
    if (irt) {
        if (!(m->in_reply_to = pd_mid_normalize(irt)))
            return -1;
        /* In-Reply-To may be free text; keep it only when it held an id. */
        if (!strchr(irt, '<') && !strchr(m->in_reply_to, '@'))
            m->in_reply_to[0] = '\0';
    } else if (dup_or_empty(&m->in_reply_to, "") < 0) {
        return -1;
    }
    if (refs && parse_references(refs, &m->references, &m->nrefs) < 0)
        return -1;
    m->threaded = !blank(irt) || !blank(refs);
    if (h->v[H_LID]) {
        if (!(m->list_id = pd_mid_normalize(h->v[H_LID])))
            return -1;
        pd_ascii_lower(m->list_id);
    } else if (dup_or_empty(&m->list_id, "") < 0) {
        return -1;
    }
    m->has_marker = h->v[H_MARKER] != NULL;
    if (!(m->raw_headers = raw_header_block(data, hd)))
        return -1;
    return 0;
}

/* The Message-ID, or one made from the mail when it has none. */
static int fill_message_id(struct pd_mail *m, const struct raw_values *h,
                           const char *data, size_t len, const struct head *hd)
{
    if (h->v[H_MID] && !(m->message_id = pd_mid_normalize(h->v[H_MID])))
        return -1;
    if (!m->message_id || !*m->message_id) {
        free(m->message_id);
        if (!(m->message_id = synthetic_mid(m, h->v[H_FROM], data, len, hd)))
            return -1;
        m->synthetic_mid = true;
    }
    return 0;
}

/* Parse through GMime (the MIME tree) or, when force_gmime is false and the
 * mail is plain text (plain_headers()), from the raw bytes. */
static int parse(struct pd_mail *m, const char *data, size_t len, bool force_gmime)
{
    memset(m, 0, sizeof *m);
    int rc = -1;
    bool oom;
    size_t cutlen = 0;
    struct raw_values h;
    memset(&h, 0, sizeof h);
    struct pd_gmime_tree *tree = NULL;
    bool shortened;
    struct head hd;
    char *cut = NULL;
    if (head_scan(data, len, &hd, &h) < 0)
        goto out;
    cut = cut_long_headers(data, len, &hd, &cutlen, &oom, &shortened);
    if (oom)
        goto out;
    if (cut) {
        data = cut;
        len = cutlen;
        raw_values_clear(&h);
        memset(&h, 0, sizeof h);
        if (head_scan(data, len, &hd, &h) < 0)
            goto out;
    }
    /* the plain path only when the header block was left as it came */
    if (!cut && !force_gmime && plain_headers(data, &hd, &h)) {
        if (!(m->text_body = utf8_clean(data + hd.body, len - hd.body, true)))
            goto out;
        m->has_text_body = true;
        m->plain_path = true;
    } else if (!force_gmime) {
        /* everything else: the MIME walk (pd_mime.h), linear in the mail's
         * size whatever its shape, and GMime only to decode the text part */
        const char *body = data + hd.body;   /* h holds the block's values (head_scan()) */
        struct pd_mime mw;
        if (len == 0) {
            /* nothing at all: GMime builds no entity either */
            m->parse_failed = true;
            goto fields;
        }
        if (pd_mime_walk(&mw, body, len - (size_t)(body - data), h.v[H_CT], h.v[H_CTE],
                         h.v[H_CD]) < 0)
            goto out;
        m->has_patch_part = mw.has_patch_part;
        m->parse_failed = mw.cut;
        if (mw.has_text) {
            m->text_body = decode_slice(mw.text, mw.text_len, mw.text_cte, mw.text_charset);
            m->has_text_body = m->text_body != NULL;
        }
        bool failed = mw.has_text && !m->text_body;
        pd_mime_clear(&mw);
        if (failed)
            goto out;
    fields:;
    } else {
        raw_values_clear(&h);
        memset(&h, 0, sizeof h);
        tree = pd_gmime_tree_parse(data, len);
        if (!tree)
            m->parse_failed = true;
        for (int i = 0; tree && i < H_COUNT; i++)
            h.v[i] = pd_gmime_tree_header(tree, header_names[i]);
    }
    if (shortened)
        m->parse_failed = true;   /* a header was cut: read in part */
    if (fill_fields(m, &h, data, &hd) < 0)
        goto out;
    if (tree && pd_gmime_tree_walk(tree, PD_MAX_MIME_DEPTH, PD_MAX_MIME_PARTS, gmime_leaf, m) < 0)
        goto out;
    if (!m->text_body && dup_or_empty(&m->text_body, "") < 0)
        goto out;
    if (fill_message_id(m, &h, data, len, &hd) < 0)
        goto out;
    rc = 0;
out:
    pd_gmime_tree_free(tree);
    raw_values_clear(&h);
    free(cut);
    if (rc < 0)
        pd_mail_clear(m);
    return rc;
}

int pd_mail_parse(struct pd_mail *m, const char *data, size_t len)
{
    return parse(m, data, len, false);
}

int pd_mail_parse_gmime(struct pd_mail *m, const char *data, size_t len)
{
    return parse(m, data, len, true);
}

void pd_mail_clear(struct pd_mail *m)
{
    free(m->subject);
    free(m->message_id);
    free(m->in_reply_to);
    for (size_t i = 0; i < m->nrefs; i++)
        free(m->references[i]);
    free(m->references);
    free(m->list_id);
    free(m->date);
    pd_addr_clear(&m->from);
    pd_addr_clear(&m->xorig);
    free(m->text_body);
    free(m->raw_headers);
    memset(m, 0, sizeof *m);
}
