/*
 * classify.c - DESIGN.md's classification rules, applied to a parsed mail.
 * See pd_classify.h.  Each rule is one function named after it, in the order
 * DESIGN.md gives them, so the two can be read side by side.
 */
#include "pd_classify.h"
#include "pd_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PD_MAX_EXCERPT (64 * 1024)
#define PD_MAX_REVIEWERS 50          /* per mail: more is not review, it is abuse */
#define PD_MAX_ADDR_LINE 2000        /* longer From:/trailer lines are not parsed */
/* Trailer lines of one reply read through the address parser: a real reply
 * gives a few; a crafted one with a hundred thousand must not cost seconds. */
#define PD_MAX_TRAILER_LINES 100

static const char *const class_names[PD_NCLASSES] = { "patch", "cover", "reply", "pull", "other" };

const char *pd_class_name(enum pd_class c)
{
    return (c >= 0 && c < PD_NCLASSES) ? class_names[c] : "other";
}

int pd_class_from_name(const char *name)
{
    for (int i = 0; i < PD_NCLASSES; i++)
        if (strcmp(name, class_names[i]) == 0)
            return i;
    return -1;
}

/* ---- subject ---- */

static const char *const markers[] = { "re:", "aw:", "sv:", "fwd:", "fw:" };

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

static int small_int(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n && v < 1000000; i++)
        v = v * 10 + (s[i] - '0');
    return v > 1000000 ? 1000000 : (int)v;
}

/* The word PATCH at g[i]: not inside a longer word, though "PATCHv3" counts. */
static bool patch_word_at(const char *g, size_t n, size_t i)
{
    if (n - i < 5 || strncasecmp(g + i, "patch", 5) != 0)
        return false;
    if (i > 0 && is_alnum(g[i - 1]))
        return false;
    if (i + 5 == n || !is_alnum(g[i + 5]))
        return true;
    return (g[i + 5] == 'v' || g[i + 5] == 'V') && i + 6 < n && isdigit((unsigned char)g[i + 6]);
}

/* The word RFC at g[i], not inside a longer word. */
static bool rfc_word_at(const char *g, size_t n, size_t i)
{
    return n - i >= 3 && strncasecmp(g + i, "rfc", 3) == 0 && (i == 0 || !is_alnum(g[i - 1])) &&
           (i + 3 == n || !is_alnum(g[i + 3]));
}

/* The patch tag: a group holding the word PATCH, or the word RFC ("[RFC 1/6]"
 * reads as "[RFC PATCH 1/6]"). */
static bool group_has_patch(const char *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (patch_word_at(g, n, i) || rfc_word_at(g, n, i))
            return true;
    return false;
}

/* "v3" at g[i], a word of its own or right after PATCH; *end past it. */
static bool version_at(const char *g, size_t n, size_t i, int *v, size_t *end)
{
    if (g[i] != 'v' && g[i] != 'V')
        return false;
    if (i > 0 && is_alnum(g[i - 1]) && !(i >= 5 && patch_word_at(g, n, i - 5)))
        return false;
    size_t j = i + 1;
    while (j < n && isdigit((unsigned char)g[j]))
        j++;
    if (j == i + 1 || (j < n && is_alnum(g[j])))
        return false;
    *v = small_int(g + i + 1, j - i - 1);
    /* "v5.5" is version 5; the ".5" belongs to the word, not to the prefixes */
    while (j + 1 < n && g[j] == '.' && isdigit((unsigned char)g[j + 1])) {
        j++;
        while (j < n && isdigit((unsigned char)g[j]))
            j++;
    }
    *end = j;
    return true;
}

/* "3/7" at g[i], not inside a longer word; *end past it. */
static bool index_at(const char *g, size_t n, size_t i, int *a, int *b, size_t *end)
{
    if (!isdigit((unsigned char)g[i]) || (i > 0 && is_alnum(g[i - 1])))
        return false;
    size_t j = i;
    while (j < n && isdigit((unsigned char)g[j]))
        j++;
    if (j >= n || g[j] != '/')
        return false;
    size_t k = j + 1;
    while (k < n && isdigit((unsigned char)g[k]))
        k++;
    if (k == j + 1 || (k < n && is_alnum(g[k])))
        return false;
    *a = small_int(g + i, j - i);
    *b = small_int(g + j + 1, k - j - 1);
    *end = k;
    return true;
}

/* Version, index/total (the first of each) and the remaining words. */
static int parse_patch_group(const char *g, size_t n, struct pd_subject *s)
{
    pd_buf pre = PD_BUF_INIT;
    if (pd_buf_puts(&pre, "") < 0)
        return -1;
    bool have_version = false, have_index = false, pending_space = false;
    size_t i = 0;
    while (i < n) {
        size_t end;
        int a, b;
        if (patch_word_at(g, n, i)) {
            i += 5;
            continue;
        }
        if (!have_version && version_at(g, n, i, &a, &end)) {
            s->version = a;
            have_version = true;
            i = end;
            continue;
        }
        if (!have_index && index_at(g, n, i, &a, &b, &end)) {
            s->index = a;
            s->total = b;
            have_index = true;
            i = end;
            continue;
        }
        char c = g[i++];
        if (c == ' ' || c == '\t' || c == ',') {
            pending_space = pre.len > 0;
            continue;
        }
        if ((pending_space && pd_buf_putc(&pre, ' ') < 0) || pd_buf_putc(&pre, c) < 0) {
            pd_buf_free(&pre);
            return -1;
        }
        pending_space = false;
    }
    free(s->prefixes);
    s->prefixes = pd_buf_steal(&pre);
    return s->prefixes ? 0 : -1;
}

static bool contains_ci(const char *s, size_t n, const char *needle)
{
    size_t l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (strncasecmp(s + i, needle, l) == 0)
            return true;
    return false;
}

int pd_subject_parse(const char *subject, struct pd_subject *s)
{
    memset(s, 0, sizeof *s);
    s->version = 1;
    s->index = s->total = -1;
    const char *p = subject;
    /* 1. leading reply/forward markers, any case, repeated */
    for (;;) {
        p = skip_blanks(p);
        bool hit = false;
        for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
            size_t l = strlen(markers[i]);
            if (strncasecmp(p, markers[i], l) == 0) {
                p += l;
                s->marker = hit = true;
                break;
            }
        }
        if (!hit)
            break;
    }
    /* 2. leading [...] groups */
    for (;;) {
        p = skip_blanks(p);
        if (*p != '[')
            break;
        const char *close = strchr(p, ']');
        if (!close)
            break;
        const char *g = p + 1;
        size_t gl = (size_t)(close - g);
        if (contains_ci(g, gl, "git pull"))
            s->git_pull = true;
        if (!s->patch_tag && group_has_patch(g, gl)) {
            s->patch_tag = true;
            if (parse_patch_group(g, gl, s) < 0)
                return -1;
        }
        p = close + 1;
    }
    if (!s->prefixes && !(s->prefixes = strdup("")))
        return -1;
    s->title = strdup(p);
    if (!s->title) {
        pd_subject_clear(s);
        return -1;
    }
    pd_trim(s->title);
    return 0;
}

void pd_subject_clear(struct pd_subject *s)
{
    free(s->prefixes);
    free(s->title);
    s->prefixes = s->title = NULL;
}

/* ---- body ---- */

/* Iterate lines: *line and *len give the current one (without '\n'). */
static bool next_line(const char **cur, const char **line, size_t *len)
{
    if (!*cur || !**cur)
        return false;
    const char *nl = strchr(*cur, '\n');
    *line = *cur;
    *len = nl ? (size_t)(nl - *cur) : strlen(*cur);
    *cur = nl ? nl + 1 : *cur + *len;
    return true;
}

static bool line_starts(const char *line, size_t len, const char *prefix)
{
    size_t l = strlen(prefix);
    return len >= l && memcmp(line, prefix, l) == 0;
}

/* The body scans below find their lines with strstr() (the text body has
 * no NUL and no CR) instead of walking line by line: a crafted body of six
 * million empty lines costs a walk 20 ns a line, and each scan here a few
 * milliseconds. */

/* The first line at or after from (a line start of body) that starts with
 * prefix (at most 30 bytes); NULL when none. */
static const char *find_line(const char *body, const char *from, const char *prefix)
{
    size_t pl = strlen(prefix);
    char pat[32];
    if (pl + 1 >= sizeof pat)
        return NULL;
    if (from == body && strncmp(body, prefix, pl) == 0)
        return body;
    pat[0] = '\n';
    memcpy(pat + 1, prefix, pl + 1);
    const char *hit = strstr(from == body ? body : from - 1, pat);
    return hit ? hit + 1 : NULL;
}

/* The line after the one at p; NULL at the last line. */
static const char *line_after(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : NULL;
}

static const char *earliest(const char *a, const char *b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* Start of the diff: "diff --git ", "Index: ", or "--- x" followed by "+++ y".
 * Returns the offset of that line, or -1.  The third is found from its
 * "+++ " line: a body of a million "--- " lines then costs one scan. */
static long diff_start(const char *body)
{
    const char *d = earliest(find_line(body, body, "diff --git "), find_line(body, body, "Index: "));
    for (const char *p = body; (p = find_line(body, p, "+++ ")) != NULL && (!d || p < d); p++) {
        if (p == body)
            continue;
        const char *prev = p - 1;   /* the previous line's '\n' */
        while (prev > body && prev[-1] != '\n')
            prev--;
        if (strncmp(prev, "--- ", 4) == 0) {
            d = earliest(d, prev);
            break;
        }
    }
    return d ? (long)(d - body) : -1;
}

bool pd_body_has_diff(const char *body)
{
    return diff_start(body) >= 0;
}

bool pd_body_is_pull_request(const char *body)
{
    return strstr(body, "The following changes since commit") &&
           strstr(body, "are available in the Git repository at");
}

/* " 3 files changed, 10 insertions(+), 2 deletions(-)" */
static bool is_diffstat_summary(const char *line, size_t len)
{
    size_t i = 0;
    if (i < len && line[i] == ' ')
        i++;
    else
        return false;
    size_t d = i;
    while (i < len && isdigit((unsigned char)line[i]))
        i++;
    if (i == d)
        return false;
    return line_starts(line + i, len - i, " file changed") ||
           line_starts(line + i, len - i, " files changed");
}

/* The first diffstat summary line starting before limit: a line " N"
 * followed by what (" file changed" or " files changed"); NULL when none. */
static const char *find_summary(const char *body, const char *limit, const char *what)
{
    for (const char *p = body; (p = strstr(p, what)) != NULL && p < limit; p++) {
        const char *q = p;
        while (q > body && isdigit((unsigned char)q[-1]))
            q--;
        if (q == p || q == body || q[-1] != ' ')
            continue;
        q--;
        if (q == body || q[-1] == '\n')
            return q;
    }
    return NULL;
}

/* The signature line, exactly "-- "; NULL when none. */
static const char *find_signature(const char *body)
{
    for (const char *p = body; (p = find_line(body, p, "-- ")) != NULL;) {
        if (p[3] == '\n' || p[3] == '\0')
            return p;
        if (!(p = line_after(p)))
            break;
    }
    return NULL;
}

static bool is_diffstat_tail(const char *line, size_t len)
{
    return line_starts(line, len, " create mode") || line_starts(line, len, " delete mode") ||
           line_starts(line, len, " rename ") || line_starts(line, len, " mode change");
}

static char *body_excerpt(const char *body, long dstart);

char *pd_body_excerpt(const char *body)
{
    return body_excerpt(body, diff_start(body));
}

/* The excerpt of body, whose diff starts at dstart (-1: none). */
static char *body_excerpt(const char *body, long dstart)
{
    size_t end = strlen(body);
    const char *limit = body + (dstart >= 0 ? (size_t)dstart : end);
    const char *cur, *line;
    size_t len;
    bool found = false;
    /* 1. the diffstat summary (before the diff) and its mode lines */
    const char *sum = earliest(find_summary(body, limit, " file changed"),
                               find_summary(body, limit, " files changed"));
    if (sum) {
        cur = sum;
        if (next_line(&cur, &line, &len) && is_diffstat_summary(line, len)) {
            end = (size_t)(cur - body);
            while (next_line(&cur, &line, &len) && is_diffstat_tail(line, len))
                end = (size_t)(cur - body);
            found = true;
        }
    }
    /* 2. else before the diff; 3. else before the signature */
    if (!found) {
        if (dstart >= 0) {
            end = (size_t)dstart;
        } else {
            const char *sig = find_signature(body);
            if (sig)
                end = (size_t)(sig - body);
        }
    }
    while (end > 0 && (body[end - 1] == '\n' || body[end - 1] == ' ' || body[end - 1] == '\t'))
        end--;
    if (end > PD_MAX_EXCERPT) {
        end = PD_MAX_EXCERPT;
        /* do not cut a UTF-8 sequence in half */
        while (end > 0 && ((unsigned char)body[end] & 0xC0) == 0x80)
            end--;
    }
    return pd_strndup(body, end);
}

/* ---- identity ---- */

int pd_identity_put(pd_buf *b, const char *name, size_t nlen, const char *addr, size_t alen)
{
    if (!alen)
        return 0;
    if (nlen && (pd_buf_append(b, name, nlen) < 0 || pd_buf_putc(b, ' ') < 0))
        return -1;
    return pd_buf_putc(b, '<') < 0 || pd_buf_append(b, addr, alen) < 0 || pd_buf_putc(b, '>') < 0
               ? -1
               : 0;
}

char *pd_identity_format(const struct pd_addr *a)
{
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_puts(&b, "") < 0 ||
        pd_identity_put(&b, a->name ? a->name : "", a->name ? strlen(a->name) : 0,
                        a->addr ? a->addr : "", a->addr ? strlen(a->addr) : 0) < 0) {
        pd_buf_free(&b);
        return NULL;
    }
    return pd_buf_steal(&b);
}

static bool is_dmarc_rewrite(const struct pd_mail *m)
{
    const char *n = m->from.name;
    size_t l = strlen(n);
    if (!*m->xorig.addr || l < 5)
        return false;
    /* "Name via List": " via " followed by at least one more word */
    for (size_t i = 0; i + 5 < l; i++)
        if (memcmp(n + i, " via ", 5) == 0 && n[i + 5] != ' ')
            return true;
    return false;
}

static int copy_addr(struct pd_addr *dst, const struct pd_addr *src)
{
    dst->name = strdup(src->name ? src->name : "");
    dst->addr = strdup(src->addr ? src->addr : "");
    dst->written = strdup(src->written ? src->written : "");
    return (dst->name && dst->addr && dst->written) ? 0 : -1;
}

/* The identity based on email body. */
static int body_identity(const struct pd_mail *m, struct pd_classified *c)
{
    /* the first non-blank line, from its start */
    const char *body = m->text_body, *cur = body + strspn(body, " \t\n"), *line;
    while (cur > body && cur[-1] != '\n')
        cur--;
    size_t len;
    while (next_line(&cur, &line, &len)) {
        if (line_starts(line, len, "From:") && len <= PD_MAX_ADDR_LINE) {
            char *v = pd_strndup(line + 5, len - 5);
            if (!v)
                return -1;
            struct pd_addr a;
            int rc = pd_addr_parse(v, &a);
            free(v);
            if (rc == 0) {
                c->ident = a;
                c->inbody_from = true;
                return 0;
            }
            pd_addr_clear(&a);
        }
        break;  /* only the first non-blank line counts */
    }
    return copy_addr(&c->ident, is_dmarc_rewrite(m) ? &m->xorig : &m->from);
}

/* The body after git's in-body header block: the From: line and any Date: or
 * Subject: lines right after it, and the blank lines that end the block. */
const char *pd_body_skip_inbody_headers(const char *body)
{
    const char *cur = body, *line;
    size_t len;
    enum { BEFORE, HEADERS, AFTER } state = BEFORE;
    while (next_line(&cur, &line, &len)) {
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len) {            /* blank lines around the block go too */
            body = cur;
            if (state == HEADERS)
                state = AFTER;
            continue;
        }
        if ((state == BEFORE && line_starts(line, len, "From:")) ||
            (state == HEADERS && (line_starts(line, len, "Date:") ||
                                  line_starts(line, len, "Subject:")))) {
            state = HEADERS;
            body = cur;
            continue;
        }
        break;
    }
    return body;
}

/* ---- review trailers in replies ---- */

static const char *const trailer_keys[] = { "Reviewed-by:", "Acked-by:", "Tested-by:" };

static int add_reviewer(struct pd_classified *c, struct pd_addr *a)
{
    free(a->written);
    a->written = NULL;
    for (size_t i = 0; i < c->nreviewers; i++)
        if (strcmp(c->reviewers[i].addr, a->addr) == 0) {
            pd_addr_clear(a);
            return 0;
        }
    struct pd_reviewer *nv = realloc(c->reviewers, (c->nreviewers + 1) * sizeof *nv);
    if (!nv) {
        pd_addr_clear(a);
        return -1;
    }
    c->reviewers = nv;
    nv[c->nreviewers].name = a->name;
    nv[c->nreviewers].addr = a->addr;
    c->nreviewers++;
    return 0;
}

/* Trailer lines above the signature, not quoted: each "-by:" found, whose
 * line starts (after blanks) with one of trailer_keys. */
static int reply_trailers(const char *body, struct pd_classified *c)
{
    const char *sig = find_signature(body);
    int parsed = 0;
    for (const char *p = body; c->nreviewers < PD_MAX_REVIEWERS && parsed < PD_MAX_TRAILER_LINES &&
                               (p = strstr(p, "-by:")) != NULL && (!sig || p < sig); p += 4) {
        const char *key = NULL;
        for (size_t k = 0; k < sizeof trailer_keys / sizeof trailer_keys[0] && !key; k++) {
            size_t kl = strlen(trailer_keys[k]) - 4;   /* "Reviewed" */
            if ((size_t)(p - body) >= kl && memcmp(p - kl, trailer_keys[k], kl) == 0)
                key = p - kl;
        }
        if (!key)
            continue;
        const char *ls = key;
        while (ls > body && (ls[-1] == ' ' || ls[-1] == '\t'))
            ls--;
        if (ls > body && ls[-1] != '\n')
            continue;   /* not at the start of its line */
        const char *v = p + 4, *nl = strchr(v, '\n');
        size_t vlen = nl ? (size_t)(nl - v) : strlen(v);
        if ((size_t)(v - ls) + vlen > PD_MAX_ADDR_LINE || !memchr(v, '@', vlen))
            continue;   /* too long, or no address: nothing to parse */
        parsed++;
        char *val = pd_strndup(v, vlen);
        if (!val)
            return -1;
        struct pd_addr a;
        int rc = pd_addr_parse(val, &a);
        free(val);
        if (rc == 0) {
            if (add_reviewer(c, &a) < 0)
                return -1;
        } else {
            pd_addr_clear(&a);
        }
    }
    return 0;
}

/* ---- the class, first match wins ---- */

/* *dstart: where the text body's diff starts (diff_start()), found here
 * when the rules need it, else left at -2. */
static enum pd_class decide_class(const struct pd_mail *m, const struct pd_subject *s,
                                  long *dstart)
{
    if (s->marker || (m->threaded && !s->patch_tag))
        return PD_REPLY;
    if (s->git_pull || pd_body_is_pull_request(m->text_body))
        return PD_PULL;
    if (s->patch_tag && s->index == 0)
        return PD_COVER;
    if (s->patch_tag && ((*dstart = diff_start(m->text_body)) >= 0 || m->has_patch_part))
        return PD_PATCH;
    return PD_OTHER;
}

int pd_classify(const struct pd_mail *m, struct pd_classified *c)
{
    memset(c, 0, sizeof *c);
    if (pd_subject_parse(m->subject, &c->subj) < 0)
        goto oom;
    long dstart = -2;
    c->cls = decide_class(m, &c->subj, &dstart);
    if (body_identity(m, c) < 0)
        goto oom;
    /* the Author line shows the address as written */
    struct pd_addr shown = { m->from.name, m->from.written ? m->from.written : m->from.addr, NULL };
    if (!(c->author = pd_identity_format(&shown)))
        goto oom;
    const char *root = m->nrefs ? m->references[0]
                       : *m->in_reply_to ? m->in_reply_to : m->message_id;
    if (!(c->thread_root = strdup(root)))
        goto oom;
    if (c->cls == PD_REPLY && reply_trailers(m->text_body, c) < 0)
        goto oom;
    if (c->cls == PD_COVER || c->cls == PD_PATCH || c->cls == PD_PULL) {
        if (dstart == -2)
            dstart = diff_start(m->text_body);
        if (!(c->excerpt = body_excerpt(m->text_body, dstart)))
            goto oom;
    } else if (!(c->excerpt = strdup(""))) {
        goto oom;
    }
    return 0;
oom:
    pd_classified_clear(c);
    return -1;
}

void pd_classified_clear(struct pd_classified *c)
{
    pd_subject_clear(&c->subj);
    pd_addr_clear(&c->ident);
    free(c->author);
    free(c->thread_root);
    for (size_t i = 0; i < c->nreviewers; i++) {
        free(c->reviewers[i].name);
        free(c->reviewers[i].addr);
    }
    free(c->reviewers);
    free(c->excerpt);
    memset(c, 0, sizeof *c);
}
