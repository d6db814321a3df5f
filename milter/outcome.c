/*
 * outcome.c - the review trailers and the applied notice of a reply, as
 * DESIGN.md's "Outcomes" section gives them.  See pd_outcome.h: call
 * pd_outcome_parse() on a reply's text body, then encode its results into
 * the record.  One pass over the lines, each line looked at a bounded number
 * of times; nothing here decides what a notice applies (record.lua does).
 */
#include "pd_outcome.h"
#include "pd_mail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- lines ---- */

#ifdef __SSE2__
/* The '\n' bytes of p[0..16), one bit each (p has 16 bytes to read). */
static inline unsigned newlines16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
}
#endif

/* The next line of the body (which ends at end), found 16 bytes at a time
 * in line (pd_find_byte()): a crafted body of millions of short lines
 * costs no call a line. */
static bool next_line(const char **cur, const char *end, const char **line, size_t *len)
{
    const char *p = *cur;
    if (!p || !*p)
        return false;
    const char *q = pd_find_byte(p, end, '\n');
    if (!q)
        q = end;
    *line = p;
    *len = (size_t)(q - p);
    *cur = *q ? q + 1 : q;
    return true;
}

/* A line's first byte that may matter (may_matter()), and those that stop
 * skip_dull(): these, the signature's '-' and the end.  And the bytes that
 * end a line. */
#define MATTERS 1
#define WAKES 2
static const unsigned char first_byte[256] = {
    ['R'] = MATTERS, ['A'] = MATTERS, ['T'] = MATTERS,      /* Reviewed-by: Acked-by: Tested-by: */
    ['a'] = MATTERS, ['q'] = MATTERS, ['Q'] = MATTERS, ['p'] = MATTERS, ['P'] = MATTERS,
    ['m'] = MATTERS, ['M'] = MATTERS, ['t'] = MATTERS,      /* notices */
    ['['] = MATTERS,                                        /* [i/n] title */
    ['-'] = WAKES, ['\0'] = WAKES,
};
static const unsigned char line_end[256] = { ['\0'] = 1, ['\n'] = 1 };

/* Whether a line starting with c can be a trailer, a notice or a listed
 * entry: most lines are none, and are passed over at this one test. */
static bool may_matter(char c)
{
    return first_byte[(unsigned char)c] == MATTERS;
}

/* Whether a line (of 2 bytes or more) starts with the first two letters
 * of a verb, "thanks" or "patch": most lines do not, and go no further. */
static inline bool notice_start(const char *s)
{
    /* ASCII lower case (a byte from 0x80 up matches no letter below) */
    char c0 = (char)(s[0] >= 'A' && s[0] <= 'Z' ? s[0] + 32 : s[0]);
    char c1 = (char)(s[1] >= 'A' && s[1] <= 'Z' ? s[1] + 32 : s[1]);
    return (c0 == 't' && c1 == 'h') || (c0 == 'a' && c1 == 'p') || (c0 == 'q' && c1 == 'u') ||
           (c0 == 'p' && (c1 == 'u' || c1 == 'a')) || (c0 == 'm' && c1 == 'e');
}

/* Whether a line (of 2 bytes or more, its first byte one that may_matter())
 * starts as a trailer (trailer_keys, case as written), a notice
 * (notice_start()) or a listed entry ("[" and a digit) can: its first two
 * bytes, so that long lines of other text go by with a look at two. */
static inline bool starts_matter(const char *s)
{
    return (s[0] == 'R' && s[1] == 'e') || (s[0] == 'A' && s[1] == 'c') ||
           (s[0] == 'T' && s[1] == 'e') || (s[0] == '[' && s[1] >= '0' && s[1] <= '9') ||
           notice_start(s);
}

/* The shortest line that can be a notice ("Patch", pd_notice_line()); an
 * entry line or a trailer is longer. */
#define MIN_LINE 5

/* Whether a line of len bytes (at least len, when its end is not known
 * yet) is worth reading: long enough, and starting as a trailer, a notice
 * or a listed entry can.  Every other line is passed over. */
static inline bool worth_reading(const char *s, size_t len)
{
    return len >= MIN_LINE && may_matter(s[0]) && starts_matter(s);
}

/* Past the lines that neither may_matter() (or are shorter than MIN_LINE)
 * nor may be the signature ("-- "), from the line start p: each is looked
 * at only for its end, a table lookup a byte (a crafted body of millions
 * of short lines goes by at a few instructions a line), long ones by
 * strchr(). */
static const char *skip_dull(const char *p, const char *end)
{
    for (;;) {
        unsigned char f = first_byte[(unsigned char)*p];
        if (f == WAKES)
            return p;
#ifdef __SSE2__
        /* the lines that end within the next 16 bytes, from one compare:
         * a body of millions of short lines costs a few instructions a
         * line, not a look at each byte */
        if (end - p >= 16) {
            const char *ls = p;
            for (unsigned m = newlines16(p); m; m &= m - 1) {
                const char *nl = p + __builtin_ctz(m);
                if (first_byte[(unsigned char)*ls] == WAKES || worth_reading(ls, (size_t)(nl - ls)))
                    return ls;
                ls = nl + 1;
            }
            if (ls != p) {
                p = ls;
                continue;
            }
            if (worth_reading(p, 16))
                return p;   /* a line of 16 bytes or more */
            const char *nl = memchr(p + 16, '\n', (size_t)(end - p - 16));
            p = nl ? nl + 1 : end;
            continue;
        }
#endif
        const char *q = p;
        while (!line_end[(unsigned char)*q] && q - p < 16)
            q++;
        /* a line that may matter, unless it is shorter than anything this
         * file reads (a notice, 5 bytes; an entry, 6; a trailer, 10) */
        if (worth_reading(p, line_end[(unsigned char)*q] ? (size_t)(q - p) : 16))
            return p;
        if (!line_end[(unsigned char)*q]) {
            const char *nl = strchr(q, '\n');
            q = nl ? nl : q + strlen(q);
        }
        p = *q ? q + 1 : q;
    }
}

static bool starts_ci(const char *s, size_t n, const char *prefix)
{
    size_t l = strlen(prefix);
    return n >= l && strncasecmp(s, prefix, l) == 0;
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) != 0;
}

/* ---- trailers ---- */

static const struct {
    const char *key;
    enum pd_trailer_kind kind;
} trailer_keys[] = {
    { "Reviewed-by:", PD_TRAILER_REVIEWED },
    { "Acked-by:", PD_TRAILER_ACKED },
    { "Tested-by:", PD_TRAILER_TESTED },
};

static int add_trailer(struct pd_outcome *o, enum pd_trailer_kind kind, struct pd_addr *a)
{
    for (size_t i = 0; i < o->ntrailers; i++)
        if (o->trailers[i].kind == kind && strcmp(o->trailers[i].addr, a->addr) == 0) {
            pd_addr_clear(a);
            return 0;
        }
    struct pd_trailer *nt = realloc(o->trailers, (o->ntrailers + 1) * sizeof *nt);
    if (!nt) {
        pd_addr_clear(a);
        return -1;
    }
    o->trailers = nt;
    nt[o->ntrailers].kind = kind;
    nt[o->ntrailers].name = a->name;
    nt[o->ntrailers].addr = a->addr;
    o->ntrailers++;
    free(a->written);
    a->name = a->addr = a->written = NULL;
    return 0;
}

static int trailer_line(struct pd_outcome *o, const char *line, size_t len)
{
    if (o->ntrailers >= PD_OUTCOME_MAX_TRAILERS || o->parsed >= PD_OUTCOME_MAX_PARSED ||
        len > PD_OUTCOME_MAX_LINE)
        return 0;
    for (size_t k = 0; k < sizeof trailer_keys / sizeof trailer_keys[0]; k++) {
        if (line[0] != trailer_keys[k].key[0])
            continue;   /* most lines: one compare, not a strlen and a memcmp */
        size_t kl = strlen(trailer_keys[k].key);
        if (len < kl || memcmp(line, trailer_keys[k].key, kl) != 0)
            continue;
        if (!memchr(line + kl, '@', len - kl))
            return 0;   /* no address: nothing to parse */
        o->parsed++;
        char *v = pd_strndup(line + kl, len - kl);
        if (!v)
            return -1;
        struct pd_addr a;
        int rc = pd_addr_parse(v, &a);
        free(v);
        if (rc == 0)
            return add_trailer(o, trailer_keys[k].kind, &a);
        if (!a.name || !a.addr || !a.written) {
            pd_addr_clear(&a);
            return -1;
        }
        pd_addr_clear(&a);
        return 0;
    }
    return 0;
}

/* ---- the notice line ---- */

/* A patch number or range at s[*i]: "3" or "1-20". */
static bool number_at(const char *s, size_t n, size_t *i, long *a, long *b)
{
    size_t j = *i;
    if (j >= n || !isdigit((unsigned char)s[j]))
        return false;
    long x = 0, y;
    while (j < n && isdigit((unsigned char)s[j])) {
        if (x < 1000000)
            x = x * 10 + (s[j] - '0');
        j++;
    }
    y = x;
    if (j + 1 < n && s[j] == '-' && isdigit((unsigned char)s[j + 1])) {
        j++;
        y = 0;
        while (j < n && isdigit((unsigned char)s[j])) {
            if (y < 1000000)
                y = y * 10 + (s[j] - '0');
            j++;
        }
    }
    if (j < n && is_word_char(s[j]))
        return false;   /* "3rd", "5x": not a number */
    *a = x;
    *b = y;
    *i = j;
    return true;
}

struct numbers {
    int *v;
    size_t n;
};

static int add_numbers(struct numbers *nums, long a, long b)
{
    if (!nums)
        return 0;
    for (long k = a; k <= b && nums->n < PD_OUTCOME_MAX_NUMBERS; k++) {
        int *nv = realloc(nums->v, (nums->n + 1) * sizeof *nv);
        if (!nv)
            return -1;
        nums->v = nv;
        nums->v[nums->n++] = (int)k;
    }
    return 0;
}

/* Patch numbers at s[*i] after a blank: "3+5", "1-20 and 22-28", "1, 2".
 * *i past them when there were some; 1 found, 0 none, -1 out of memory. */
static int numbers_at(const char *s, size_t n, size_t *i, struct numbers *nums)
{
    size_t j = *i;
    long a, b;
    if (j >= n || s[j] != ' ')
        return 0;
    j++;
    if (!number_at(s, n, &j, &a, &b))
        return 0;
    if (add_numbers(nums, a, b) < 0)
        return -1;
    size_t end = j;
    for (;;) {
        size_t k = end;
        while (k < n && s[k] == ' ')
            k++;
        if (k < n && (s[k] == ',' || s[k] == '+'))
            k++;
        else if (k + 3 <= n && strncasecmp(s + k, "and", 3) == 0 && k > end)
            k += 3;
        else
            break;
        while (k < n && s[k] == ' ')
            k++;
        if (!number_at(s, n, &k, &a, &b))
            break;
        if (add_numbers(nums, a, b) < 0)
            return -1;
        end = k;
    }
    *i = end;
    return 1;
}

/* " to X" or " for X" at s[i]: the start of X, else 0. */
static size_t to_for_at(const char *s, size_t n, size_t i)
{
    size_t k;
    if (starts_ci(s + i, n - i, " to "))
        k = i + 4;
    else if (starts_ci(s + i, n - i, " for "))
        k = i + 5;
    else
        return 0;
    return k < n && s[k] != ' ' && s[k] != '\t' ? k : 0;
}

static size_t word_end(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] != ' ' && s[i] != '\t')
        i++;
    return i;
}

static bool trailing_punct(char c)
{
    return c == ',' || c == '.' || c == '!' || c == ':';
}

/* The branch at s[k]: a word, a parenthesised word after it included,
 * trailing ",.!:" dropped. */
static char *branch_at(const char *s, size_t n, size_t k)
{
    size_t e = word_end(s, n, k);
    if (!trailing_punct(s[e - 1]) && e + 1 < n && s[e] == ' ' && s[e + 1] == '(')
        e = word_end(s, n, e + 1);
    while (e > k && trailing_punct(s[e - 1]))
        e--;
    return pd_strndup(s + k, e - k);
}

/* What follows the verb at s[i] makes it a notice line. */
static int after_verb(const char *s, size_t n, size_t i, char **branch, struct numbers *nums)
{
    if (i == n || trailing_punct(s[i]))
        return 1;
    size_t k = to_for_at(s, n, i);
    if (!k) {
        if (starts_ci(s + i, n - i, " thanks"))
            return 1;
        /* patch numbers, "patch" or "patches" allowed before them */
        size_t j = i;
        if (starts_ci(s + j, n - j, " patches "))
            j += 8;
        else if (starts_ci(s + j, n - j, " patch "))
            j += 6;
        int r = numbers_at(s, n, &j, nums);
        if (r <= 0)
            return r;
        k = to_for_at(s, n, j);
    }
    if (k && branch && !(*branch = branch_at(s, n, k)))
        return -1;
    return 1;
}

int pd_notice_line(const char *s, size_t n, char **branch, int **numbers, size_t *nnumbers)
{
    static const char *const verbs[] = { "thanks, applied", "thanks, queued", "applied",
                                         "queued", "pushed", "merged" };
    struct numbers nums = { NULL, 0 };
    if (branch)
        *branch = NULL;
    if (numbers) {
        *numbers = NULL;
        *nnumbers = 0;
    }
    if (n > PD_OUTCOME_MAX_LINE || n < 5)
        return 0;
    /* the first two letters of a verb, "thanks" or "patch", before anything
     * costlier: most lines are none */
    if (!notice_start(s))
        return 0;
    int rc = 0;
    for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
        if (starts_ci(s, n, verbs[v])) {
            rc = after_verb(s, n, strlen(verbs[v]), branch, numbers ? &nums : NULL);
            goto out;
        }
    /* "Patch 1 applied to powerpc/next.", "Patches 1-3 applied to x" */
    size_t j = starts_ci(s, n, "patches") ? 7 : starts_ci(s, n, "patch") ? 5 : 0;
    if (j == 0 || (j < n && is_word_char(s[j])))
        goto out;
    for (size_t k = j; k + 10 <= n; k++)
        if (strncasecmp(s + k, "applied to", 10) == 0 && (k == 0 || !is_word_char(s[k - 1]))) {
            size_t m = j;
            if (numbers_at(s, n, &m, numbers ? &nums : NULL) < 0) {
                rc = -1;
                goto out;
            }
            rc = after_verb(s, n, k + 7, branch, NULL);
            break;
        }
out:
    if (rc <= 0) {
        free(nums.v);
        if (branch) {
            free(*branch);
            *branch = NULL;
        }
        return rc;
    }
    if (numbers) {
        *numbers = nums.v;
        *nnumbers = nums.n;
    }
    return 1;
}

/* ---- listed entries: "[i/n] title" then a line holding a commit id ---- */

static bool is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

/* The commit id a line holds: "commit: <hex>", or a URL ending in 7-40 hex
 * digits.  Copies its first 12 digits, lower-case, into out. */
static bool commit_in(const char *s, size_t n, char out[13])
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    size_t start = n;
    for (size_t k = 0; k + 7 <= n; k++)
        if (strncasecmp(s + k, "commit: ", 8) == 0 && k + 8 < n) {
            size_t h = k + 8;
            while (h < n && s[h] == ' ')
                h++;
            size_t e = h;
            while (e < n && is_hex(s[e]))
                e++;
            if (e - h >= 7 && e - h <= 40 && (e == n || !is_word_char(s[e]))) {
                start = h;
                n = e;
                goto found;
            }
            break;
        }
    {
        bool url = false;
        for (size_t k = 0; k + 3 <= n; k++)
            if (memcmp(s + k, "://", 3) == 0)
                url = true;
        if (!url)
            return false;
        size_t e = n;
        while (start > 0 && is_hex(s[start - 1]))
            start--;
        if (e - start < 7 || e - start > 40 || (start > 0 && is_word_char(s[start - 1])))
            return false;
    }
found:;
    size_t l = n - start < 12 ? n - start : 12;
    for (size_t k = 0; k < l; k++)
        out[k] = (char)tolower((unsigned char)s[start + k]);
    out[l] = '\0';
    return true;
}

/* "[i/n] title": index, total and where the title starts. */
static bool entry_line(const char *s, size_t n, int *idx, int *tot, size_t *title)
{
    size_t j = 1;
    long a = 0, b = 0;
    if (n < 6 || s[0] != '[' || !isdigit((unsigned char)s[1]))
        return false;
    while (j < n && isdigit((unsigned char)s[j]) && j < 8)
        a = a * 10 + (s[j++] - '0');
    if (j >= n || s[j] != '/' || !isdigit((unsigned char)s[j + 1]))
        return false;
    j++;
    size_t d = j;
    while (j < n && isdigit((unsigned char)s[j]) && j - d < 7)
        b = b * 10 + (s[j++] - '0');
    if (j + 1 >= n || s[j] != ']' || (s[j + 1] != ' ' && s[j + 1] != '\t'))
        return false;
    j++;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    if (j == n)
        return false;
    *idx = (int)a;
    *tot = (int)b;
    *title = j;
    return true;
}

static int add_entry(struct pd_notice *nt, int idx, int tot, const char *t, size_t tl,
                     const char commit[13])
{
    if (nt->nentries >= PD_OUTCOME_MAX_ENTRIES)
        return 0;
    struct pd_applied_entry *ne = realloc(nt->entries, (nt->nentries + 1) * sizeof *ne);
    if (!ne)
        return -1;
    nt->entries = ne;
    struct pd_applied_entry *e = &ne[nt->nentries];
    if (!(e->title = pd_strndup(t, tl)))
        return -1;
    pd_trim(e->title);
    for (char *p = e->title; *p; p++)
        if (*p == '\t' || *p == '\r')
            *p = ' ';
    e->index = idx;
    e->total = tot;
    memcpy(e->commit, commit, 13);
    nt->nentries++;
    return 0;
}

/* ---- the whole reply ---- */

int pd_outcome_parse(const char *body, struct pd_outcome *o)
{
    memset(o, 0, sizeof *o);
    const char *cur = body ? body : "", *line;
    const char *end = cur + strlen(cur);
    size_t len;
    /* the previous text line, when it was a "[i/n] title" line */
    const char *pend = NULL;
    size_t plen = 0, ptitle = 0;
    int pidx = 0, ptot = 0;
    for (;;) {
        if (!pend)
            cur = skip_dull(cur, end);   /* the line after an entry line is always read */
        if (!next_line(&cur, end, &line, &len))
            break;
        if (len == 3 && memcmp(line, "-- ", 3) == 0)
            break;   /* the signature */
        if (pend) {
            char commit[13];
            if (commit_in(line, len, commit) &&
                add_entry(&o->notice, pidx, ptot, pend + ptitle, plen - ptitle, commit) < 0)
                goto oom;
            pend = NULL;
        }
        if (!worth_reading(line, len))
            continue;   /* quoted ('>'), blank, short, or nothing this file reads */
        if (len > PD_OUTCOME_MAX_LINE)
            continue;
        if (trailer_line(o, line, len) < 0)
            goto oom;
        if (!o->notice.found && notice_start(line)) {
            int r = pd_notice_line(line, len, &o->notice.branch, &o->notice.numbers,
                                   &o->notice.nnumbers);
            if (r < 0)
                goto oom;
            o->notice.found = r == 1;
        }
        if (entry_line(line, len, &pidx, &ptot, &ptitle)) {
            pend = line;
            plen = len;
        }
    }
    if (o->notice.found && !o->notice.branch && !(o->notice.branch = strdup("")))
        goto oom;
    return 0;
oom:
    pd_outcome_clear(o);
    return -1;
}

void pd_outcome_clear(struct pd_outcome *o)
{
    for (size_t i = 0; i < o->ntrailers; i++) {
        free(o->trailers[i].name);
        free(o->trailers[i].addr);
    }
    free(o->trailers);
    free(o->notice.branch);
    free(o->notice.numbers);
    for (size_t i = 0; i < o->notice.nentries; i++)
        free(o->notice.entries[i].title);
    free(o->notice.entries);
    memset(o, 0, sizeof *o);
}

/* ---- the record's fields ---- */

static int put_field(pd_buf *out, const char *s)
{
    for (; *s; s++)
        if (pd_buf_putc(out, *s == '\t' || *s == '\n' ? ' ' : *s) < 0)
            return -1;
    return 0;
}

int pd_outcome_encode_trailers(const struct pd_outcome *o, pd_buf *out)
{
    static const char kinds[] = { 'r', 'a', 't' };
    if (pd_buf_puts(out, "") < 0)
        return -1;
    for (size_t i = 0; i < o->ntrailers; i++)
        if (pd_buf_printf(out, "%s%c\t", i ? "\n" : "", kinds[o->trailers[i].kind]) < 0 ||
            put_field(out, o->trailers[i].addr) < 0 || pd_buf_putc(out, '\t') < 0 ||
            put_field(out, o->trailers[i].name) < 0)
            return -1;
    return 0;
}

int pd_outcome_encode_notice(const struct pd_outcome *o, pd_buf *out)
{
    const struct pd_notice *n = &o->notice;
    if (pd_buf_puts(out, "") < 0)
        return -1;
    if (!n->found)
        return 0;
    if (put_field(out, n->branch ? n->branch : "") < 0 || pd_buf_putc(out, '\n') < 0)
        return -1;
    for (size_t i = 0; i < n->nnumbers; i++)
        if (pd_buf_printf(out, "%s%d", i ? "," : "", n->numbers[i]) < 0)
            return -1;
    for (size_t i = 0; i < n->nentries; i++)
        if (pd_buf_printf(out, "\n%d\t%d\t%s\t", n->entries[i].index, n->entries[i].total,
                          n->entries[i].commit) < 0 ||
            put_field(out, n->entries[i].title) < 0)
            return -1;
    return 0;
}

/* ---- what the flush read back ---- */

static void block_clear(struct pd_outcome_block *b)
{
    free(b->key);
    for (size_t i = 0; i < b->nlines; i++)
        free(b->lines[i]);
    free(b->lines);
}

const struct pd_outcome_block *pd_outcomes_find(const struct pd_outcomes *o, const char *key)
{
    for (size_t i = 0; o && key && i < o->nseries; i++)
        if (strcmp(o->series[i].key, key) == 0)
            return &o->series[i];
    return NULL;
}

void pd_outcomes_clear(struct pd_outcomes *o)
{
    for (size_t i = 0; i < o->nseries; i++)
        block_clear(&o->series[i]);
    free(o->series);
    for (size_t i = 0; i < o->nearlier; i++)
        block_clear(&o->earlier[i]);
    free(o->earlier);
    for (size_t i = 0; i < o->napplied; i++)
        free(o->applied[i]);
    free(o->applied);
    memset(o, 0, sizeof *o);
}
