/*
 * mime.c - walk a mail's MIME structure in one linear pass.  See pd_mime.h.
 *
 * The walk keeps a stack of the open multiparts' boundaries and reads the
 * body a line at a time, looking only at lines that start with "--"
 * (memmem() finds the next one).  A part is: its header block (up to an empty
 * line, or a boundary line when the part has no content), then its content
 * up to the next boundary line of any open multipart.  Of a part's headers
 * only Content-Type, Content-Transfer-Encoding and Content-Disposition are
 * read (their last occurrence, as GMime goes by), as offsets into the mail.  Nothing is
 * copied but the text part's encoding and charset; the file-name parameter
 * of each part is decoded only to look at its end.
 *
 * Costs: each byte is looked at a bounded number of times; a line starting
 * with "--" is compared with at most PD_MIME_MAX_DEPTH boundaries, by
 * length first; a header value is read up to PD_MIME_MAX_VALUE bytes.
 */
#include "pd_mime.h"
#include "pd_rfc2047.h"
#include "pd_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum bkind { B_EOS, B_BOUND, B_END };

struct found {
    enum bkind kind;
    int level;          /* index in the boundary stack of the one matched */
};

struct walker {
    const char *p, *end;
    struct {
        const char *s;
        size_t n;
        uint64_t hash;
        char *own;
    } stack[PD_MIME_MAX_DEPTH];
    int nb;
    size_t entities;    /* boundary lines passed: parts begun */
    size_t dashes;      /* lines starting "--" that were no boundary */
    size_t param_bytes; /* bytes of parameters decoded */
    struct pd_mime *out;
    bool oom;
};

/* A part's headers: the last Content-Type, Content-Transfer-Encoding and
 * Content-Disposition, as slices of the mail (NULL when absent). */
enum { H_CT, H_CTE, H_CD, H_N };
struct hdrs {
    const char *v[H_N];
    size_t n[H_N];
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

static const char *next_line(const char *le, const char *end)
{
    return le < end ? le + 1 : end;
}

/* FNV-1a: boundaries are compared by length and hash before their bytes,
 * so that a line is checked against every open boundary in a few steps even
 * when all have the same length. */
static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Whether the line [ls, le) is a boundary of an open multipart: GMime's
 * check_boundary(), innermost first, the end form before the plain one. */
static struct found check_boundary(const struct walker *w, const char *ls, const char *le)
{
    struct found f = { B_EOS, -1 };
    size_t n = (size_t)(le - ls);
    if (w->nb == 0 || n < 2 || ls[0] != '-' || ls[1] != '-')
        return f;
    while (n > 2 && (ls[n - 1] == ' ' || ls[n - 1] == '\t' || ls[n - 1] == '\r'))
        n--;
    /* "--b--" is the end of b, else "--b" a boundary of b */
    bool endform = n >= 4 && ls[n - 1] == '-' && ls[n - 2] == '-';
    uint64_t hend = endform ? fnv(ls + 2, n - 4) : 0, hplain = fnv(ls + 2, n - 2);
    for (int i = w->nb - 1; i >= 0; i--) {
        size_t bl = w->stack[i].n;
        if (endform && n == bl + 4 && w->stack[i].hash == hend &&
            memcmp(ls + 2, w->stack[i].s, bl) == 0) {
            f.kind = B_END;
            f.level = i;
            return f;
        }
        if (n == bl + 2 && w->stack[i].hash == hplain && memcmp(ls + 2, w->stack[i].s, bl) == 0) {
            f.kind = B_BOUND;
            f.level = i;
            return f;
        }
    }
    return f;
}

/* Move w->p (at a line start) to the next boundary line, or to the end. */
static struct found scan_to_boundary(struct walker *w)
{
    struct found f = { B_EOS, -1 };
    if (w->nb == 0) {
        w->p = w->end;
        return f;
    }
    for (;;) {
        const char *ls = w->p;
        if (w->end - ls >= 2 && ls[0] == '-' && ls[1] == '-') {
            f = check_boundary(w, ls, line_end(ls, w->end));
            if (f.kind != B_EOS)
                return f;
            if (++w->dashes > PD_MIME_MAX_DASH_LINES) {
                /* a hundred thousand lines that look like boundaries and
                 * are not: crafted; the rest is not read */
                w->out->cut = true;
                w->p = w->end;
                return f;
            }
        }
        const char *nx = memmem(ls, (size_t)(w->end - ls), "\n--", 3);
        if (!nx) {
            w->p = w->end;
            return f;
        }
        w->p = nx + 1;
    }
}

static bool name_is(const char *s, size_t n, const char *name)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

/* Read a part's header block from w->p.  true: the part has content, which
 * starts at w->p; false: it has none, and *f says what ended it (w->p at that
 * boundary line, or the end).  *any tells whether there was any header line. */
static bool read_headers(struct walker *w, struct hdrs *h, struct found *f, bool *any)
{
    memset(h, 0, sizeof *h);
    *any = false;
    int cur = -1;   /* the header a continuation line belongs to */
    size_t lines = 0;
    while (w->p < w->end) {
        const char *ls = w->p, *le = line_end(ls, w->end);
        size_t n = (size_t)(le - ls);
        if (n && ls[n - 1] == '\r')
            n--;
        if (n == 0) {
            w->p = next_line(le, w->end);
            return true;
        }
        *f = check_boundary(w, ls, le);
        if (f->kind != B_EOS)
            return false;
        *any = true;
        if (++lines > PD_MIME_MAX_HEADER_LINES) {
            /* past the bound the lines are only looked through for the
             * end of the block */
            if (lines == PD_MIME_MAX_HEADER_LINES + 1)
                w->out->cut = true;
        } else if (ls[0] == ' ' || ls[0] == '\t') {
            if (cur >= 0)
                h->n[cur] = (size_t)(le - h->v[cur]);
        } else {
            cur = -1;
            const char *colon = memchr(ls, ':', n);
            if (colon) {
                size_t nn = (size_t)(colon - ls);
                int which = name_is(ls, nn, "Content-Type") ? H_CT
                          : name_is(ls, nn, "Content-Transfer-Encoding") ? H_CTE
                          : name_is(ls, nn, "Content-Disposition") ? H_CD : -1;
                if (which >= 0) {   /* the last one counts, as in GMime */
                    h->v[which] = colon + 1;
                    h->n[which] = (size_t)(le - (colon + 1));
                    cur = which;
                }
            }
        }
        w->p = next_line(le, w->end);
    }
    f->kind = B_EOS;
    f->level = -1;
    return false;
}

/* ---- header values ---- */

static bool is_ttoken(char c)
{
    return c > ' ' && c < 127 && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* Skip blanks and (nested) comments. */
static const char *skip_cfws(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (depth) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')')
                depth--;
        } else if (*p == '(') {
            depth++;
        } else if (!is_blank(*p)) {
            break;
        }
        p++;
    }
    return p;
}

/* type/subtype of a Content-Type value, as GMime's
 * g_mime_parse_content_type(): false when there is none. */
static bool parse_type(const char *v, size_t n, const char **t, size_t *tn,
                       const char **s, size_t *sn)
{
    const char *end = v + n, *p = skip_cfws(v, end);
    *t = p;
    while (p < end && is_ttoken(*p))
        p++;
    *tn = (size_t)(p - *t);
    p = skip_cfws(p, end);
    if (p >= end || *p != '/')
        return false;
    p = skip_cfws(p + 1, end);
    *s = p;
    while (p < end && is_ttoken(*p))
        p++;
    *sn = (size_t)(p - *s);
    return *sn > 0;
}

static bool token_eq(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

struct piece {
    long idx;
    bool enc;
    bool quoted;
    const char *s;
    size_t n;
};

static int piece_cmp(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Where the quoted string or token at p ends (p at its first byte). */
static const char *value_end(const char *p, const char *end, bool *quoted)
{
    *quoted = p < end && *p == '"';
    if (*quoted) {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && p + 1 < end)
                p++;
        return p;
    }
    while (p < end && *p != ';')
        p++;
    return p;
}

/* Append a piece's value to b: unquoted, or percent-decoded. */
static int put_piece(pd_buf *b, const struct piece *pc, bool first_encoded)
{
    const char *p = pc->s, *end = pc->s + pc->n;
    if (pc->enc && first_encoded) {
        /* charset'language'value */
        const char *q1 = memchr(p, '\'', (size_t)(end - p));
        const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
        if (q2)
            p = q2 + 1;
    }
    if (!pc->enc && !(pc->quoted && memchr(p, '\\', (size_t)(end - p))))
        return pd_buf_append(b, p, (size_t)(end - p));   /* as it is */
    for (; p < end; p++) {
        char c = *p;
        if (pc->quoted && c == '\\' && p + 1 < end) {
            c = *++p;
        } else if (pc->enc && c == '%' && end - p >= 3 && pd_hex_value((unsigned char)p[1]) >= 0 &&
                   pd_hex_value((unsigned char)p[2]) >= 0) {
            c = (char)(pd_hex_value((unsigned char)p[1]) << 4 | pd_hex_value((unsigned char)p[2]));
            p += 2;
        }
        if (pd_buf_putc(b, c) < 0)
            return -1;
    }
    return 0;
}

int pd_mime_param(const char *v, size_t n, const char *name, char **out, bool *cut)
{
    *out = NULL;
    if (n > PD_MIME_MAX_VALUE) {
        n = PD_MIME_MAX_VALUE;
        *cut = true;
    }
    size_t nl = strlen(name);
    const char *p = v, *end = v + n;
    struct piece plain = { 0, false, false, NULL, 0 };
    bool have_plain = false;
    struct piece *pieces = NULL;
    size_t np = 0;
    bool quoted;
    /* the parameters start at the first ';' outside a quoted string */
    while (p < end && *p != ';') {
        if (*p == '"')
            p = value_end(p, end, &quoted);
        if (p < end)
            p++;
    }
    while (p < end && *p == ';') {
        p = skip_cfws(p + 1, end);
        const char *ns = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t nn = (size_t)(p - ns);
        while (nn && is_blank(ns[nn - 1]))
            nn--;
        if (p >= end || *p != '=')
            continue;
        p = skip_cfws(p + 1, end);
        const char *vs = p;
        p = value_end(p, end, &quoted);
        const char *ve = p;
        if (quoted) {
            vs++;
            if (p < end)
                p++;
        } else {
            while (ve > vs && is_blank(ve[-1]))
                ve--;
        }
        while (p < end && *p != ';') {   /* anything after the value */
            if (*p == '"')
                p = value_end(p, end, &quoted);
            if (p < end)
                p++;
        }
        struct piece pc = { 0, false, quoted, vs, (size_t)(ve - vs) };
        if (nn == nl && strncasecmp(ns, name, nl) == 0) {
            if (!have_plain) {
                plain = pc;
                have_plain = true;
            }
            continue;
        }
        if (nn <= nl || strncasecmp(ns, name, nl) != 0 || ns[nl] != '*')
            continue;
        /* name*, name*N or name*N* */
        const char *q = ns + nl + 1, *qe = ns + nn;
        if (q == qe) {
            pc.enc = true;
        } else {
            long idx = 0;
            const char *d = q;
            while (q < qe && *q >= '0' && *q <= '9' && idx < 100000)
                idx = idx * 10 + (*q++ - '0');
            if (q == d || (q < qe && !(q + 1 == qe && *q == '*')))
                continue;
            pc.idx = idx;
            pc.enc = q < qe;
        }
        if (np >= PD_MIME_MAX_PIECES) {
            *cut = true;
            continue;
        }
        if (np % 16 == 0) {
            struct piece *nv = realloc(pieces, (np + 16) * sizeof *nv);
            if (!nv) {
                free(pieces);
                return -1;
            }
            pieces = nv;
        }
        pieces[np++] = pc;
    }
    if (!np && !have_plain)
        return 0;
    pd_buf b = PD_BUF_INIT;
    int rc = pd_buf_puts(&b, "");
    if (np) {
        qsort(pieces, np, sizeof *pieces, piece_cmp);
        for (size_t i = 0; rc == 0 && i < np; i++)
            rc = put_piece(&b, &pieces[i], i == 0);
    } else {
        rc = put_piece(&b, &plain, false);
    }
    free(pieces);
    if (rc < 0) {
        pd_buf_free(&b);
        return -1;
    }
    if (!np && strstr(b.data, "=?")) {
        char *dec = pd_rfc2047_decode(b.data);
        pd_buf_free(&b);
        if (!dec)
            return -1;
        *out = dec;
        return 1;
    }
    *out = pd_buf_steal(&b);
    return 1;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

bool pd_mime_patch_part(const char *type, size_t tlen, const char *subtype, size_t slen,
                        const char *filename)
{
    if (type && subtype && token_eq(type, tlen, "text") &&
        (token_eq(subtype, slen, "x-patch") || token_eq(subtype, slen, "x-diff")))
        return true;
    return filename && (ends_with_ci(filename, ".patch") || ends_with_ci(filename, ".diff"));
}

/* The value slice of header k, bounded. */
static size_t value_len(struct walker *w, const struct hdrs *h, int k)
{
    if (h->n[k] > PD_MIME_MAX_VALUE) {
        w->out->cut = true;
        return PD_MIME_MAX_VALUE;
    }
    return h->n[k];
}

/* An encoding that hides an attached message from GMime's parser. */
static bool encoded_cte(const struct hdrs *h)
{
    if (!h->v[H_CTE])
        return false;
    const char *s = h->v[H_CTE];
    size_t n = h->n[H_CTE] > 64 ? 64 : h->n[H_CTE];
    while (n && is_blank(*s))
        s++, n--;
    while (n && is_blank(s[n - 1]))
        n--;
    return token_eq(s, n, "base64") || token_eq(s, n, "quoted-printable") ||
           token_eq(s, n, "uuencode") || token_eq(s, n, "x-uuencode") ||
           token_eq(s, n, "x-uue");
}

static char *trimmed_copy(const char *s, size_t n)
{
    while (n && is_blank(*s))
        s++, n--;
    while (n && is_blank(s[n - 1]))
        n--;
    return pd_strndup(s, n);
}

/* Whether n more bytes of parameters may be decoded (PD_MIME_MAX_PARAM_BYTES
 * in all); when not, the walk reads less. */
static bool budget(struct walker *w, size_t n)
{
    if (w->param_bytes + n > PD_MIME_MAX_PARAM_BYTES) {
        w->out->cut = true;
        return false;
    }
    w->param_bytes += n;
    return true;
}

/* A leaf part with content [s, e): is it the text body, does it carry a patch? */
static void leaf(struct walker *w, const struct hdrs *h, bool typed, const char *t, size_t tn,
                 const char *st, size_t sn, const char *s, const char *e)
{
    struct pd_mime *o = w->out;
    if (token_eq(t, tn, "message") &&
        (token_eq(st, sn, "rfc822") || token_eq(st, sn, "rfc2822") ||
         token_eq(st, sn, "global") || token_eq(st, sn, "news")) && !encoded_cte(h))
        return;   /* an attached mail is not this one */
    o->parts++;
    if (!typed && h->v[H_CT]) {
        /* a Content-Type GMime cannot read makes the part's own type this */
        t = "application";
        tn = strlen(t);
        st = "octet-stream";
        sn = strlen(st);
    }
    bool text_plain = token_eq(t, tn, "text") && token_eq(st, sn, "plain");
    /* the file name matters while a patch part may still be found, or when
     * this part could be the text body */
    bool want_name = !o->has_patch_part || (!o->has_text && text_plain);
    char *fn = NULL;
    int r = 0;
    if (want_name && h->v[H_CD] && budget(w, value_len(w, h, H_CD)))
        r = pd_mime_param(h->v[H_CD], value_len(w, h, H_CD), "filename", &fn, &o->cut);
    if (want_name && r == 0 && h->v[H_CT] && typed && budget(w, value_len(w, h, H_CT)))
        r = pd_mime_param(h->v[H_CT], value_len(w, h, H_CT), "name", &fn, &o->cut);
    if (r < 0) {
        w->oom = true;
        return;
    }
    bool is_text = token_eq(t, tn, "text");
    if (pd_mime_patch_part(t, tn, st, sn, fn))
        o->has_patch_part = true;
    if (!o->has_text && !fn && is_text && token_eq(st, sn, "plain")) {
        o->has_text = true;
        o->text = s;
        o->text_len = (size_t)(e - s);
        if (h->v[H_CTE] && !(o->text_cte = trimmed_copy(h->v[H_CTE], value_len(w, h, H_CTE))))
            w->oom = true;
        if (h->v[H_CT] && pd_mime_param(h->v[H_CT], value_len(w, h, H_CT), "charset",
                                        &o->text_charset, &o->cut) < 0)
            w->oom = true;
    }
    free(fn);
}

static void pop(struct walker *w)
{
    w->nb--;
    free(w->stack[w->nb].own);
    w->stack[w->nb].own = NULL;
}

/* The type of an entity with headers h: GMime's default (text/plain, or
 * message/rfc822 inside a multipart/digest) when it has no valid one.
 * Returns whether its Content-Type gave one. */
static bool resolve_type(struct walker *w, const struct hdrs *h, bool in_digest,
                         const char **t, size_t *tn, const char **st, size_t *sn)
{
    if (h->v[H_CT] && parse_type(h->v[H_CT], value_len(w, h, H_CT), t, tn, st, sn))
        return true;
    *t = in_digest ? "message" : "text";
    *st = in_digest ? "rfc822" : "plain";
    *tn = strlen(*t);
    *sn = strlen(*st);
    return false;
}

/* The entity whose headers are h and whose content starts at w->p, nested
 * depth multiparts deep; returns what ended it. */
static struct found entity(struct walker *w, const struct hdrs *h, int depth, bool in_digest)
{
    const char *t, *st;
    size_t tn, sn;
    bool typed = resolve_type(w, h, in_digest, &t, &tn, &st, &sn);
    if (token_eq(t, tn, "multipart")) {
        char *boundary = NULL;
        int r = pd_mime_param(h->v[H_CT], value_len(w, h, H_CT), "boundary", &boundary,
                              &w->out->cut);
        if (r < 0) {
            w->oom = true;
            return (struct found){ B_EOS, -1 };
        }
        if (r == 0 || depth >= PD_MIME_MAX_DEPTH) {
            if (r)
                w->out->cut = true;   /* nested too deep: read as a preamble */
            free(boundary);
            return scan_to_boundary(w);
        }
        int me = w->nb++;
        w->stack[me].own = boundary;
        w->stack[me].s = boundary;
        w->stack[me].n = strlen(boundary);
        w->stack[me].hash = fnv(boundary, w->stack[me].n);
        bool digest = token_eq(st, sn, "digest");
        struct found f = scan_to_boundary(w);   /* the preamble */
        while (!w->oom && f.kind == B_BOUND && f.level == me) {
            if (++w->entities > PD_MIME_MAX_PARTS) {
                /* enough: no real mail has this many parts; the rest is
                 * not read */
                w->out->cut = true;
                w->p = w->end;
                f.kind = B_EOS;
                break;
            }
            w->p = next_line(line_end(w->p, w->end), w->end);
            struct hdrs ph;
            bool any;
            if (read_headers(w, &ph, &f, &any)) {
                f = entity(w, &ph, depth + 1, digest);
            } else if (any) {
                /* headers and no content: an empty part (none at all: no part) */
                const char *pt, *pst;
                size_t ptn, psn;
                bool ptyped = resolve_type(w, &ph, digest, &pt, &ptn, &pst, &psn);
                if (!token_eq(pt, ptn, "multipart"))
                    leaf(w, &ph, ptyped, pt, ptn, pst, psn, w->p, w->p);
            }
        }
        if (!w->oom && f.kind == B_END && f.level == me) {
            w->p = next_line(line_end(w->p, w->end), w->end);
            pop(w);
            return scan_to_boundary(w);   /* the epilogue */
        }
        pop(w);
        return f;
    }
    const char *s = w->p;
    struct found f = scan_to_boundary(w);
    const char *e = w->p;
    if (f.kind != B_EOS && e > s && e[-1] == '\n') {
        e--;   /* the last line end belongs to the boundary */
        if (e > s && e[-1] == '\r')
            e--;
    }
    leaf(w, h, typed, t, tn, st, sn, s, e);
    return f;
}

int pd_mime_walk(struct pd_mime *mw, const char *body, size_t len,
                 const char *ct, const char *cte, const char *cd)
{
    memset(mw, 0, sizeof *mw);
    struct walker w;
    memset(&w, 0, sizeof w);
    w.p = body;
    w.end = body + len;
    w.out = mw;
    struct hdrs h;
    memset(&h, 0, sizeof h);
    const char *vals[H_N] = { ct, cte, cd };
    for (int i = 0; i < H_N; i++)
        if (vals[i]) {
            h.v[i] = vals[i];
            h.n[i] = strlen(vals[i]);
        }
    entity(&w, &h, 0, false);
    while (w.nb)
        pop(&w);
    if (w.oom) {
        pd_mime_clear(mw);
        return -1;
    }
    return 0;
}

void pd_mime_clear(struct pd_mime *w)
{
    free(w->text_cte);
    free(w->text_charset);
    memset(w, 0, sizeof *w);
}

static bool cte_is(const char *s, const char *v)
{
    size_t n = strlen(v);
    return strncasecmp(s, v, n) == 0 && (s[n] == '\0' || is_blank(s[n]));
}

enum pd_cte pd_mime_cte(const char *cte)
{
    if (!cte)
        return PD_CTE_IDENTITY;
    while (is_blank(*cte))
        cte++;
    if (cte_is(cte, "base64"))
        return PD_CTE_BASE64;
    if (cte_is(cte, "quoted-printable"))
        return PD_CTE_QP;
    if (cte_is(cte, "uuencode") || cte_is(cte, "x-uuencode") || cte_is(cte, "x-uue"))
        return PD_CTE_UUENCODE;
    return PD_CTE_IDENTITY;   /* 7bit, 8bit, binary, or one GMime does not know */
}

long pd_mime_qp_decode(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        const char *eq = memchr(s + i, '=', n - i);
        size_t run = (eq ? (size_t)(eq - s) : n) - i;
        memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (!eq)
            break;
        i++;   /* the "=" */
        if (i < n && s[i] == '\n') {
            i++;
        } else if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n') {
            i += 2;
        } else if (i + 1 < n && pd_hex_value((unsigned char)s[i]) >= 0 &&
                   pd_hex_value((unsigned char)s[i + 1]) >= 0) {
            out[o++] = (char)(pd_hex_value((unsigned char)s[i]) << 4 |
                              pd_hex_value((unsigned char)s[i + 1]));
            i += 2;
        } else {
            return -1;
        }
    }
    return (long)o;
}

long pd_mime_base64_decode(const char *s, size_t n, char *out)
{
    uint32_t saved = 0;
    size_t o = 0, pad = 0;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            /* the padding of the last quartet: "xx==" or "xxx=" */
            if (k < 2 || k + (int)++pad > 4)
                return -1;
            if (k + (int)pad == 4) {
                if (k == 2) {
                    out[o++] = (char)(saved >> 4);
                } else {
                    out[o++] = (char)(saved >> 10);
                    out[o++] = (char)(saved >> 2);
                }
                k = 0;
            }
            continue;
        }
        int v = pd_base64_value(c);
        if (v < 0 || pad)
            return -1;   /* not the alphabet, or after the padding */
        saved = saved << 6 | (uint32_t)v;
        if (++k == 4) {
            out[o++] = (char)(saved >> 16);
            out[o++] = (char)(saved >> 8);
            out[o++] = (char)saved;
            saved = 0;
            k = 0;
        }
    }
    if (k)
        return -1;   /* an unfinished quartet */
    return (long)o;
}
