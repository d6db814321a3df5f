/*
 * domainmap.c - email domain -> employer, gitdm's map format.  See
 * pd_domainmap.h.  The entries sit in one array sorted by key, then date
 * (undated last), and are found by binary search.
 */
#include "pd_domainmap.h"
#include "pd_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNDATED INT64_MAX

struct entry {
    char *key;        /* lower-case domain or address */
    char *employer;
    int64_t until;    /* unix time the line stops applying; UNDATED */
};

struct pd_domainmap {
    struct entry *e;
    size_t n, cap;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->until < y->until ? -1 : x->until > y->until ? 1 : 0;
}

/* "yyyy-mm-dd" -> unix time of its midnight UTC; -1 when malformed. */
static int64_t parse_date(const char *s)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 ||
        d > 31 || y < 1970 || y > 9999)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
    return (int64_t)timegm(&tm);
}

static const char *parse_line(struct pd_domainmap *m, char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *p = pd_trim(line);
    if (!*p)
        return NULL;
    char *key = p;
    while (*p && !isspace((unsigned char)*p))
        p++;
    if (!*p)
        return "an employer is needed after the domain";
    *p++ = '\0';
    char *employer = pd_trim(p);
    int64_t until = UNDATED;
    char *lt = strrchr(employer, '<');
    if (lt) {
        until = parse_date(pd_trim(lt + 1));
        if (until < 0)
            return "a date must read \"< yyyy-mm-dd\"";
        *lt = '\0';
        employer = pd_trim(employer);
    }
    if (!*employer)
        return "an employer is needed after the domain";
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 64;
        struct entry *ne = realloc(m->e, nc * sizeof *ne);
        if (!ne)
            return "out of memory";
        m->e = ne;
        m->cap = nc;
    }
    struct entry *e = &m->e[m->n];
    e->key = strdup(key);
    e->employer = strdup(employer);
    if (!e->key || !e->employer) {
        free(e->key);
        free(e->employer);
        return "out of memory";
    }
    pd_ascii_lower(e->key);
    e->until = until;
    m->n++;
    return NULL;
}

int pd_domainmap_parse(const char *name, const char *text, size_t len,
                       struct pd_domainmap **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pd_domainmap *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        char *line = pd_strndup(text + pos, l);
        const char *why = line ? (memchr(text + pos, '\0', l) ? "a NUL byte" : parse_line(m, line))
                               : "out of memory";
        free(line);
        if (why) {
            snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
            pd_domainmap_free(m);
            return -1;
        }
        pos += l + (nl ? 1 : 0);
    }
    qsort(m->e, m->n, sizeof *m->e, entry_cmp);
    *out = m;
    return 0;
}

int pd_domainmap_load(const char *path, struct pd_domainmap **out, char *err, size_t errlen)
{
    pd_buf b = PD_BUF_INIT;
    if (pd_read_file(path, &b) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        pd_buf_free(&b);
        *out = NULL;
        return -1;
    }
    int rc = pd_domainmap_parse(path, b.data ? b.data : "", b.len, out, err, errlen);
    pd_buf_free(&b);
    return rc;
}

/* The first entry of key whose date is after when. */
static const char *find(const struct pd_domainmap *m, const char *key, int64_t when)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {   /* the first entry with e.key >= key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->e[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < m->n && strcmp(m->e[i].key, key) == 0; i++)
        if (m->e[i].until > when)
            return m->e[i].employer;
    return NULL;
}

const char *pd_domainmap_lookup(const struct pd_domainmap *m, const char *addr, int64_t when)
{
    if (!m || !addr)
        return NULL;
    const char *who = find(m, addr, when);
    if (who)
        return who;
    const char *dom = strrchr(addr, '@');
    dom = dom ? dom + 1 : addr;
    /* the domain, then without its leading labels, down to two labels */
    while (dom && *dom) {
        if ((who = find(m, dom, when)))
            return who;
        const char *dot = strchr(dom, '.');
        if (!dot || !strchr(dot + 1, '.'))
            break;
        dom = dot + 1;
    }
    return NULL;
}

size_t pd_domainmap_size(const struct pd_domainmap *m)
{
    return m ? m->n : 0;
}

void pd_domainmap_free(struct pd_domainmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].employer);
    }
    free(m->e);
    free(m);
}
