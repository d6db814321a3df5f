/*
 * page.c - the patch page (Markdown) of a window.  See pd_page.h.
 *
 *   pd_page_render(&window, &opts, &out);      the page, every New: entry
 *   pd_page_entry(subj, author, hdrs, text, &opts, &out);   one entry
 *   pd_page_path(pattern, list_id, number, &path);          DigestPage
 *   pd_page_write(path, data, len, err, errlen);            publish it
 *
 * The entries are the text digest's New: entries (pd_digest_is_new()), so
 * the two digests of a window always name the same mails.
 */
#include "pd_page.h"
#include "pd_digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* s as pd_digest_put_clean() makes it, in a string of its own ("" for
 * NULL).  NULL when out of memory. */
static char *clean(const char *s, bool multiline)
{
    pd_buf b = PD_BUF_INIT;
    if (pd_digest_put_clean(&b, s, multiline) < 0) {
        pd_buf_free(&b);
        return NULL;
    }
    return pd_buf_steal(&b);
}

/* Inline text of a heading: one line, and no HTML, entity, code span,
 * emphasis with *, link or image can start in it (backslash escapes,
 * which CommonMark renders as the plain character).  '[' and '_' stay as
 * written: patch tags are bracketed and titles name identifiers; neither
 * can make a link or break the line without what is escaped here.  A
 * trailing run of '#' is escaped, or it would read as a closing sequence. */
static int put_inline(pd_buf *out, const char *s)
{
    char *c = clean(s, false);
    if (!c)
        return -1;
    size_t len = strlen(c);
    /* where a trailing " ###" closing sequence would start */
    size_t hash = len;
    while (hash > 0 && (c[hash - 1] == ' ' || c[hash - 1] == '\t'))
        hash--;
    size_t tail = hash;
    while (hash > 0 && c[hash - 1] == '#')
        hash--;
    if (hash == tail || (hash > 0 && c[hash - 1] != ' ' && c[hash - 1] != '\t'))
        hash = (size_t)-1;
    int rc = pd_buf_reserve(out, len + 16);
    for (size_t i = 0; i < len && rc == 0; i++) {
        char ch = c[i];
        bool esc = ch == '\\' || ch == '`' || ch == '<' || ch == '&' || ch == '*' ||
                   (ch == '(' && i > 0 && c[i - 1] == ']') || i == hash;
        if (esc)
            rc = pd_buf_putc(out, '\\');
        if (rc == 0)
            rc = pd_buf_putc(out, ch);
    }
    free(c);
    return rc;
}

static bool atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr(".!#$%&'*+/=?^_`{|}~-", c));
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether <s> (n bytes) is a CommonMark email autolink. */
static bool email_autolink(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && atext(s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != '@')
        return false;
    i++;
    for (;;) {   /* labels: [A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])? */
        size_t st = i;
        while (i < n && (alnum(s[i]) || s[i] == '-'))
            i++;
        if (i == st || i - st > 63 || s[st] == '-' || s[i - 1] == '-')
            return false;
        if (i == n)
            return true;
        if (s[i] != '.')
            return false;
        i++;
    }
}

/* "From: Name <addr>": the address an autolink when it is a plain one. */
static int put_from(pd_buf *out, const char *author)
{
    char *a = clean(author, false);
    if (!a)
        return -1;
    int rc = pd_buf_puts(out, "##### From: ");
    size_t len = strlen(a);
    char *lt = strrchr(a, '<');
    if (rc == 0 && len > 0 && a[len - 1] == '>' && lt &&
        email_autolink(lt + 1, (size_t)(a + len - 1 - (lt + 1)))) {
        *lt = '\0';
        rc = put_inline(out, a);
        *lt = '<';
        if (rc == 0)
            rc = pd_buf_puts(out, lt);
    } else if (rc == 0) {
        rc = put_inline(out, a);
    }
    free(a);
    return rc;
}

static size_t longest_backticks(const char *s)
{
    size_t best = 0, run = 0;
    for (; *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

/* Whether the header field starting at line (name up to ':') is one of the
 * names asked for. */
static bool wanted(const char *line, size_t len, const struct pd_page_opts *o)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return false;
    size_t n = (size_t)(colon - line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < o->nheaders; i++)
        if (strlen(o->headers[i]) == n && strncasecmp(o->headers[i], line, n) == 0)
            return true;
    return false;
}

/* The header block, narrowed to the wanted names (with their continuation
 * lines), ending with a newline unless empty. */
static int headers_block(const char *hdrs, const struct pd_page_opts *o, pd_buf *out)
{
    bool all = !o || !o->headers || !o->nheaders, keep = all;
    const char *p = hdrs;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!all && *p != ' ' && *p != '\t')
            keep = wanted(p, len, o);
        if (keep && (pd_buf_append(out, p, len) < 0 || pd_buf_putc(out, '\n') < 0))
            return -1;
        p += len + (nl ? 1 : 0);
    }
    return pd_buf_puts(out, "");
}

/* The outcome lines of an entry's series (DESIGN.md "Outcomes"), under its
 * ##### line: one paragraph, a hard line break (a trailing backslash)
 * between lines. */
static int put_outcome_lines(pd_buf *out, const struct pd_outcome_block *ob)
{
    for (size_t i = 0; ob && i < ob->nlines; i++)
        if (put_inline(out, ob->lines[i]) < 0 ||
            pd_buf_puts(out, i + 1 < ob->nlines ? "\\\n" : "\n\n") < 0)
            return -1;
    return 0;
}

static int page_entry(const char *subject, const char *author, const char *headers,
                      const char *text, const struct pd_outcome_block *ob,
                      const struct pd_page_opts *o, pd_buf *out);

int pd_page_entry(const char *subject, const char *author, const char *headers,
                  const char *text, const struct pd_page_opts *o, pd_buf *out)
{
    return page_entry(subject, author, headers, text, NULL, o, out);
}

static int page_entry(const char *subject, const char *author, const char *headers,
                      const char *text, const struct pd_outcome_block *ob,
                      const struct pd_page_opts *o, pd_buf *out)
{
    pd_buf block = PD_BUF_INIT;
    char *h = clean(headers, true), *t = clean(text, true);
    int rc = -1;
    if (!h || !t)
        goto out;
    /* the text without leading blank lines and trailing blanks */
    char *ts = t;
    for (char *q = t;; q++) {
        if (*q == '\n')
            ts = q + 1;
        else if (*q != ' ' && *q != '\t')
            break;
    }
    size_t tl = strlen(ts);
    while (tl > 0 && (ts[tl - 1] == '\n' || ts[tl - 1] == ' ' || ts[tl - 1] == '\t'))
        tl--;
    ts[tl] = '\0';
    if (headers_block(h, o, &block) < 0)
        goto out;
    if (block.len && tl && pd_buf_putc(&block, '\n') < 0)
        goto out;
    if (tl && (pd_buf_append(&block, ts, tl) < 0 || pd_buf_puts(&block, "\n\n") < 0))
        goto out;
    size_t fence = longest_backticks(block.data ? block.data : "") + 1;
    if (fence < 3)
        fence = 3;
    if (pd_buf_puts(out, "#### ") < 0 || put_inline(out, subject) < 0 ||
        pd_buf_putc(out, '\n') < 0 || put_from(out, author) < 0 || pd_buf_puts(out, "\n\n") < 0 ||
        put_outcome_lines(out, ob) < 0)
        goto out;
    for (size_t i = 0; i < fence; i++)
        if (pd_buf_putc(out, '`') < 0)
            goto out;
    if (pd_buf_puts(out, "c\n") < 0 || pd_buf_append(out, block.data, block.len) < 0)
        goto out;
    for (size_t i = 0; i < fence; i++)
        if (pd_buf_putc(out, '`') < 0)
            goto out;
    rc = pd_buf_putc(out, '\n');
out:
    free(h);
    free(t);
    pd_buf_free(&block);
    return rc;
}

int pd_page_render(const struct pd_window *w, const struct pd_page_opts *o, pd_buf *out)
{
    if (pd_buf_puts(out, "") < 0)
        return -1;
    for (size_t i = 0; i < w->nposts; i++) {
        const struct pd_post *p = &w->posts[i];
        if (!pd_digest_is_new(w, i))
            continue;
        if (page_entry(p->subject, p->author, p->headers, p->excerpt,
                       pd_outcomes_find(&w->outcomes, p->series), o, out) < 0)
            return -1;
    }
    return 0;
}

int pd_page_path(const char *pattern, const char *list_id, long long number, pd_buf *out)
{
    if (pd_buf_puts(out, "") < 0)
        return -1;
    for (const char *p = pattern; *p; p++) {
        int rc;
        if (*p != '%' || !p[1]) {
            rc = pd_buf_putc(out, *p);
        } else if (*++p == 'w') {
            rc = pd_buf_printf(out, "%lld", number);
        } else if (*p == 'l') {
            rc = 0;
            for (const char *q = list_id; *q && rc == 0; q++) {
                char c = *q;
                bool plain = alnum(c) || (c && strchr("._@+-", c) && !(c == '.' && q == list_id));
                rc = plain ? pd_buf_putc(out, c) : pd_buf_printf(out, "%%%02X", (unsigned char)c);
            }
        } else {
            rc = pd_buf_putc(out, *p);   /* %% and anything the config let through */
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* mkdir -p of path's directory. */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char *d = strdup(path);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *p = d + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(d, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", d, strerror(errno));
            rc = -1;
        }
        *p = '/';
    }
    free(d);
    return rc;
}

int pd_page_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    if (make_parents(path, err, errlen) < 0)
        return -1;
    pd_buf tmp = PD_BUF_INIT;
    if (pd_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp.data, strerror(errno));
        pd_buf_free(&tmp);
        return -1;
    }
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp.data,
                     n < 0 ? strerror(errno) : "short write");
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
        rc = -1;
    }
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp.data, path) < 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp.data, path, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp.data);
    pd_buf_free(&tmp);
    return rc;
}
