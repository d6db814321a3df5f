/*
 * digest.c - render the digest mail of a window.  See pd_digest.h.
 *
 * The body, in order: the chain line and the title line; the Top-N tables
 * (domains, contributors, then what the reference digests lack: employers
 * when a domain map is configured, reviewers, most discussed threads); the
 * patch list (every series of the window with its patches); the commit
 * messages (New: entries, Exist:/Skip: lines for resends).  Every string
 * that came from a mail goes through pd_digest_put_clean().
 */
#include "pd_digest.h"
#include "pd_classify.h"
#include "pd_mail.h"
#include "pd_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LINE 998   /* RFC 5322 line limit, without CRLF */

int pd_digest_put_clean(pd_buf *out, const char *s, bool multiline)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    char *valid = NULL;
    if (!pd_utf8_valid(s, len)) {
        if (!(valid = pd_utf8_make_valid(s, len)))
            return -1;
        s = valid;
        len = strlen(s);
    }
    int rc = pd_buf_reserve(out, len);
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            continue;
        if ((c == '\n' || c == '\t') && multiline)
            ;
        else if (c < 0x20 || c == 0x7f)
            c = ' ';
        rc = pd_buf_putc(out, (char)c);
    }
    free(valid);
    return rc;
}

static int put_line(pd_buf *out, const char *prefix, const char *s)
{
    if (pd_buf_puts(out, prefix) < 0 || pd_digest_put_clean(out, s, false) < 0)
        return -1;
    return pd_buf_putc(out, '\n');
}

static int put_head9(pd_buf *out, const char *head)
{
    return pd_buf_printf(out, "%.9s", head);
}

/* ---- tables ---- */

/* "Top N <what>", a blank line, the rows, a blank line.  wide: the
 * contributor layout, two blanks between count and text. */
static int put_table(pd_buf *out, int top_n, const char *what, const struct pd_table *t,
                     bool wide)
{
    if (pd_buf_printf(out, "Top %d %s\n\n", top_n, what) < 0)
        return -1;
    for (size_t i = 0; i < t->n && i < (size_t)top_n; i++) {
        if (pd_buf_printf(out, wide ? "%7lld  " : "%7lld ", t->rows[i].count) < 0 ||
            put_line(out, "", t->rows[i].label) < 0)
            return -1;
    }
    return pd_buf_putc(out, '\n');
}

/* Employers: the contributors' mails summed by the map's employer. */
static int put_employers(pd_buf *out, const struct pd_window *w, const struct pd_digest_opts *o)
{
    struct pd_table t = { calloc(w->contributors.n + 1, sizeof(struct pd_row)), 0 };
    if (!t.rows)
        return -1;
    int64_t when = w->closed ? w->closed : o->date;
    for (size_t i = 0; i < w->contributors.n; i++) {
        const char *who = pd_domainmap_lookup(o->map, w->contributors.rows[i].key, when);
        if (!who)
            who = "(Unknown)";
        size_t k = 0;
        while (k < t.n && strcmp(t.rows[k].label, who) != 0)
            k++;
        if (k == t.n) {
            t.rows[k].label = (char *)who;   /* borrowed: the map or the literal */
            t.n++;
        }
        t.rows[k].count += w->contributors.rows[i].count;
    }
    pd_table_sort(&t);
    int rc = put_table(out, o->top_n, "contributor employers (Based on Email Body)", &t, false);
    free(t.rows);
    return rc;
}

/* ---- the patch list ---- */

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int index_of(const struct pd_post *p)
{
    return p->index < 0 ? 1 : p->index;
}

/* The series' patches of the window in index order, then arrival. */
static size_t series_patches(const struct pd_window *w, const char *key, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nposts; i++) {
        const struct pd_post *p = &w->posts[i];
        if (p->cls != PD_PATCH || !same(p->series, key))
            continue;
        size_t j = n++;
        while (j > 0 && index_of(&w->posts[idx[j - 1]]) > index_of(p)) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return n;
}

static int put_patch_list(pd_buf *out, const struct pd_window *w)
{
    if (pd_buf_puts(out, "===== Patch list in this time period =====\n\n") < 0)
        return -1;
    size_t *idx = calloc(w->nposts + 1, sizeof *idx);
    if (!idx)
        return -1;
    int rc = 0;
    for (size_t s = 0; s < w->nseries && rc == 0; s++) {
        const struct pd_series *x = &w->series[s];
        size_t n = series_patches(w, x->key, idx);
        bool cover = false, fresh = false;
        for (size_t i = 0; i < w->nposts; i++)
            if (same(w->posts[i].series, x->key)) {
                cover |= w->posts[i].cls == PD_COVER;
                fresh |= !w->posts[i].resend;
            }
        if (!fresh)
            continue;   /* only resends: the Exist: lines tell of them */
        /* distinct indexes seen */
        size_t seen = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || index_of(&w->posts[idx[i]]) != index_of(&w->posts[idx[i - 1]]))
                seen++;
        int total = x->total > 0 ? x->total : 1;
        if (put_line(out, "", x->subject) < 0 || pd_buf_puts(out, "  ") < 0 ||
            pd_digest_put_clean(out, *x->ident ? x->ident : "(no sender address)", false) < 0 ||
            pd_buf_printf(out, ", v%d, %s%zu of %d patch%s\n", x->version,
                          cover ? "cover letter and " : "", seen, total,
                          total == 1 ? "" : "es") < 0) {
            rc = -1;
            break;
        }
        /* what happened to it: Supersedes, Review, Applied, Link */
        const struct pd_outcome_block *ob = pd_outcomes_find(&w->outcomes, x->key);
        for (size_t i = 0; ob && i < ob->nlines && rc == 0; i++)
            rc = put_line(out, "  ", ob->lines[i]);
        if (rc < 0)
            break;
        /* a lone patch is its own head line */
        bool lone = n == 1 && !cover && same(w->posts[idx[0]].subject, x->subject);
        for (size_t i = 0; i < n && !lone && rc == 0; i++)
            rc = put_line(out, "  ", w->posts[idx[i]].subject);
        if (rc == 0)
            rc = pd_buf_putc(out, '\n');
    }
    free(idx);
    if (rc == 0)
        rc = pd_buf_putc(out, '\n');
    return rc;
}

/* ---- outcomes: the two sections after the patch list ---- */

static int put_outcome_sections(pd_buf *out, const struct pd_window *w)
{
    const struct pd_outcomes *o = &w->outcomes;
    if (pd_buf_puts(out, "===== Applied in this time period =====\n\n") < 0)
        return -1;
    for (size_t i = 0; i < o->napplied; i++)
        if (put_line(out, "", o->applied[i]) < 0)
            return -1;
    if ((o->napplied == 0 && pd_buf_puts(out, "(none)\n") < 0) || pd_buf_putc(out, '\n') < 0)
        return -1;
    if (pd_buf_puts(out, "===== Earlier series with activity in this time period =====\n\n") < 0)
        return -1;
    for (size_t i = 0; i < o->nearlier; i++) {
        const struct pd_outcome_block *b = &o->earlier[i];
        if (put_line(out, "", b->key) < 0)
            return -1;
        for (size_t k = 0; k < b->nlines; k++)
            if (put_line(out, k == 0 ? "" : "  ", b->lines[k]) < 0)
                return -1;
        if (pd_buf_putc(out, '\n') < 0)
            return -1;
    }
    if (o->nearlier == 0 && pd_buf_puts(out, "(none)\n\n") < 0)
        return -1;
    return pd_buf_putc(out, '\n');
}

/* ---- the commit messages ---- */

/* Whether post i opens its series in this window: the lowest-numbered patch
 * the window holds (the first to arrive of that number). */
static bool first_of_series(const struct pd_window *w, size_t i)
{
    const struct pd_post *p = &w->posts[i];
    for (size_t k = 0; k < w->nposts; k++) {
        const struct pd_post *q = &w->posts[k];
        if (k == i || q->cls != PD_PATCH || q->index < 0 || !same(q->series, p->series))
            continue;
        if (q->index < p->index || (q->index == p->index && k < i))
            return false;
    }
    return true;
}

static size_t leading_blank_lines(const char *s)
{
    size_t skip = 0, i = 0;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')
            i++;
        if (s[i] != '\n')
            return skip;
        skip = ++i;
    }
}

bool pd_digest_is_new(const struct pd_window *w, size_t i)
{
    const struct pd_post *p = &w->posts[i];
    return !p->resend && !(p->cls == PD_PATCH && p->index >= 0 && !first_of_series(w, i));
}

static int put_entries(pd_buf *out, const struct pd_window *w)
{
    if (pd_buf_puts(out, "===== Patch Commit Messages ====\n\n") < 0)
        return -1;
    for (size_t i = 0; i < w->nposts; i++) {
        const struct pd_post *p = &w->posts[i];
        if (p->resend) {
            if (put_line(out, "Exist: ", p->subject) < 0 || put_line(out, " Skip: ", p->subject) < 0)
                return -1;
            continue;
        }
        if (!pd_digest_is_new(w, i))
            continue;
        if (put_line(out, "New:  ", p->title) < 0 || put_line(out, "", p->subject) < 0 ||
            put_line(out, "Author: ", p->author) < 0 || pd_buf_putc(out, '\n') < 0)
            return -1;
        /* the text after git's in-body From: (the Author line and the
         * tables already say who wrote it), without leading blank lines */
        const char *text = p->inbody_from ? pd_body_skip_inbody_headers(p->excerpt) : p->excerpt;
        text += leading_blank_lines(text);
        if (*text && (pd_digest_put_clean(out, text, true) < 0 || pd_buf_puts(out, "\n\n") < 0))
            return -1;
        if (pd_buf_puts(out, PD_DIGEST_SEPARATOR "\n\n") < 0)
            return -1;
    }
    return 0;
}

int pd_digest_body(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out)
{
    const char *name = w->list && w->list->name ? w->list->name : "";
    if (pd_buf_puts(out, "From ") < 0 || put_head9(out, w->from) < 0 ||
        pd_buf_puts(out, " to ") < 0 || put_head9(out, w->to) < 0 ||
        pd_buf_putc(out, '\n') < 0 || pd_digest_put_clean(out, name, false) < 0 ||
        pd_buf_puts(out, " mailing list update from ") < 0 || put_head9(out, w->from) < 0 ||
        pd_buf_puts(out, " to ") < 0 || put_head9(out, w->to) < 0 ||
        pd_buf_puts(out, "\n\n") < 0)
        return -1;
    if (put_table(out, o->top_n, "contributor Email domains (Based on Email Body)", &w->domains,
                  false) < 0 ||
        put_table(out, o->top_n, "contributors (Based on Email Body)", &w->contributors, true) < 0 ||
        (o->map && put_employers(out, w, o) < 0) ||
        put_table(out, o->top_n, "reviewers (Based on review trailers in replies)", &w->reviewers,
                  true) < 0 ||
        put_table(out, o->top_n, "most discussed threads (replies)", &w->threads, true) < 0)
        return -1;
    if (put_patch_list(out, w) < 0 || put_outcome_sections(out, w) < 0 || put_entries(out, w) < 0)
        return -1;
    return 0;
}

/* ---- the mail ---- */

int pd_digest_message_id(const struct pd_window *w, const char *from, pd_buf *out)
{
    const char *at = from ? strrchr(from, '@') : NULL;
    const char *dom = at && at[1] ? at + 1 : "patchdigest.invalid";
    size_t dl = strcspn(dom, "> \t");
    /* The opening time tells apart two windows of one number and head:
     * Redis lost its data and the list's chain started again. */
    if (pd_buf_printf(out, "<patchdigest.%lld.%.9s.%lld.", w->number, w->from,
                      (long long)w->opened) < 0)
        return -1;
    /* the list id as a dot-atom: letters, digits, - _ and single inner dots */
    const char *id = w->list ? w->list->id : "";
    char prev = '.';
    for (const char *p = id; *p; p++) {
        char c = *p;
        bool atom = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
        int rc;
        if (atom || (c == '.' && prev != '.' && p[1]))
            rc = pd_buf_putc(out, c);
        else
            rc = pd_buf_printf(out, "=%02X", (unsigned char)c);
        if (rc < 0)
            return -1;
        prev = c;
    }
    return pd_buf_printf(out, "@%.*s>", (int)dl, dom);
}

static bool ascii_only(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* The Subject header value: as is when ASCII, else RFC 2047 encoded words
 * (base64, each from at most 45 bytes, never splitting a character). */
static int put_subject(pd_buf *out, const char *subject)
{
    if (ascii_only(subject))
        return put_line(out, "Subject: ", subject);
    if (pd_buf_puts(out, "Subject:") < 0)
        return -1;
    size_t len = strlen(subject);
    for (size_t pos = 0; pos < len;) {
        size_t n = len - pos < 45 ? len - pos : 45;
        while (pos + n < len && ((unsigned char)subject[pos + n] & 0xC0) == 0x80)
            n--;
        if (pd_buf_printf(out, "%s=?UTF-8?B?", pos ? "\n " : " ") < 0 ||
            pd_base64_append(out, subject + pos, n) < 0 || pd_buf_puts(out, "?=") < 0)
            return -1;
        pos += n;
    }
    return pd_buf_putc(out, '\n');
}

static bool needs_qp(const pd_buf *body)
{
    size_t run = 0;
    for (size_t i = 0; i < body->len; i++) {
        if (body->data[i] == '\n')
            run = 0;
        else if (++run > MAX_LINE)
            return true;
    }
    return false;
}

/* Quoted-printable, lines of at most 76 characters (RFC 2045). */
static int put_qp(pd_buf *out, const pd_buf *body)
{
    size_t col = 0;
    for (size_t i = 0; i < body->len; i++) {
        unsigned char c = (unsigned char)body->data[i];
        if (c == '\n') {
            if (pd_buf_putc(out, '\n') < 0)
                return -1;
            col = 0;
            continue;
        }
        bool last = i + 1 == body->len || body->data[i + 1] == '\n';
        bool plain = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        size_t need = plain ? 1 : 3;
        if (col + need > 75) {
            if (pd_buf_puts(out, "=\n") < 0)
                return -1;
            col = 0;
        }
        if ((plain ? pd_buf_putc(out, (char)c) : pd_buf_printf(out, "=%02X", c)) < 0)
            return -1;
        col += need;
    }
    return 0;
}

/* One part's body: 8bit, or quoted-printable when a line is too long. */
static int put_body(pd_buf *out, const pd_buf *body)
{
    return needs_qp(body) ? put_qp(out, body) : pd_buf_append(out, body->data, body->len);
}

static int put_cte(pd_buf *out, const pd_buf *body)
{
    return pd_buf_printf(out, "Content-Transfer-Encoding: %s\n",
                         needs_qp(body) ? "quoted-printable" : "8bit");
}

#define MD_TYPE "Content-Type: text/markdown; charset=UTF-8; variant=CommonMark\n"

/* multipart/mixed: the text digest, then the page.  The boundary is
 * derived from the window and made longer until neither part holds it.
 * The line end before a delimiter belongs to the delimiter (RFC 2046), so
 * one is added: each part keeps its own last newline. */
static int put_mixed(pd_buf *out, const struct pd_window *w, const pd_buf *text,
                     const pd_buf *page)
{
    pd_buf b = PD_BUF_INIT;
    int rc = -1;
    if (pd_buf_printf(&b, "=_patchdigest_%lld_%.9s", w->number, w->from) < 0)
        goto out;
    while ((text->len && strstr(text->data, b.data)) || (page->len && strstr(page->data, b.data)))
        if (pd_buf_putc(&b, '_') < 0)
            goto out;
    if (pd_buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\n", b.data) < 0 ||
        pd_buf_puts(out, "Auto-Submitted: auto-generated\n") < 0 ||
        pd_buf_printf(out, PD_MARKER_HEADER ": window %lld of ", w->number) < 0 ||
        put_line(out, "", w->list ? w->list->id : "") < 0 ||
        pd_buf_printf(out, "\nThe digest, and the patch page in Markdown.\n\n--%s\n"
                      "Content-Type: text/plain; charset=UTF-8\n", b.data) < 0 ||
        put_cte(out, text) < 0 || pd_buf_putc(out, '\n') < 0 || put_body(out, text) < 0 ||
        pd_buf_printf(out, "\n--%s\n" MD_TYPE "Content-Disposition: inline; filename=\"",
                      b.data) < 0)
        goto out;
    /* the file name: the list id's safe characters, and the window number */
    for (const char *p = w->list ? w->list->id : ""; *p; p++)
        if (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '-' || *p == '_') && pd_buf_putc(out, *p) < 0)
            goto out;
    if (pd_buf_printf(out, "-%lld.md\"\n", w->number) < 0 || put_cte(out, page) < 0 ||
        pd_buf_putc(out, '\n') < 0 || put_body(out, page) < 0 ||
        pd_buf_printf(out, "\n--%s--\n", b.data) < 0)
        goto out;
    rc = 0;
out:
    pd_buf_free(&b);
    return rc;
}

int pd_digest_mail(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out)
{
    pd_buf body = PD_BUF_INIT, subject = PD_BUF_INIT, mid = PD_BUF_INIT;
    int rc = -1;
    if (pd_digest_body(w, o, &body) < 0 || pd_digest_message_id(w, o->from, &mid) < 0)
        goto out;
    /* the subject is the body's second line */
    const char *l2 = memchr(body.data, '\n', body.len);
    const char *e2 = l2 ? memchr(l2 + 1, '\n', body.len - (size_t)(l2 + 1 - body.data)) : NULL;
    if (!l2 || !e2 || pd_buf_append(&subject, l2 + 1, (size_t)(e2 - l2 - 1)) < 0 ||
        pd_buf_puts(&subject, "") < 0)
        goto out;
    char date[64];
    time_t t = (time_t)o->date;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm))
        snprintf(date, sizeof date, "Thu, 01 Jan 1970 00:00:00 +0000");
    bool md = (o->format & PD_FORMAT_MARKDOWN) && o->page;
    bool txt = !md || (o->format & PD_FORMAT_TEXT);
    pd_buf page = { (char *)(md ? o->page : ""), md ? o->page_len : 0, 0 };  /* borrowed */
    if ((o->from && put_line(out, "From: ", o->from) < 0) ||
        (o->to && put_line(out, "To: ", o->to) < 0) || put_subject(out, subject.data) < 0 ||
        pd_buf_printf(out, "Date: %s\n", date) < 0 ||
        pd_buf_printf(out, "Message-ID: %s\n", mid.data) < 0 ||
        pd_buf_puts(out, "MIME-Version: 1.0\n") < 0)
        goto out;
    if (md && txt) {
        rc = put_mixed(out, w, &body, &page);
        goto out;
    }
    if (md) {
        if (pd_buf_puts(out, MD_TYPE) < 0 || put_cte(out, &page) < 0 ||
            pd_buf_puts(out, "Auto-Submitted: auto-generated\n") < 0 ||
            pd_buf_printf(out, PD_MARKER_HEADER ": window %lld of ", w->number) < 0 ||
            put_line(out, "", w->list ? w->list->id : "") < 0 || pd_buf_putc(out, '\n') < 0 ||
            put_body(out, &page) < 0)
            goto out;
        rc = 0;
        goto out;
    }
    bool qp = needs_qp(&body);
    if (pd_buf_puts(out, "Content-Type: text/plain; charset=UTF-8\n") < 0 ||
        pd_buf_printf(out, "Content-Transfer-Encoding: %s\n", qp ? "quoted-printable" : "8bit") < 0 ||
        pd_buf_puts(out, "Auto-Submitted: auto-generated\n") < 0 ||
        pd_buf_printf(out, PD_MARKER_HEADER ": window %lld of ", w->number) < 0 ||
        put_line(out, "", w->list ? w->list->id : "") < 0 || pd_buf_putc(out, '\n') < 0)
        goto out;
    if ((qp ? put_qp(out, &body) : pd_buf_append(out, body.data, body.len)) < 0)
        goto out;
    rc = 0;
out:
    pd_buf_free(&body);
    pd_buf_free(&subject);
    pd_buf_free(&mid);
    return rc;
}
