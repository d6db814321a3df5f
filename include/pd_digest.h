/*
 * pd_digest.h - the digest mail of one window: text/plain, UTF-8, in the
 * layout of DESIGN.md ("Digest") and the reference digests.  Pure: it
 * renders what pd_store_read_window() + pd_store_read_posts() read, no I/O.
 *
 *   struct pd_digest_opts o = { .top_n = cfg->top_n, .map = map_or_NULL,
 *                               .from = cfg->digest_from, .to = cfg->digest_to,
 *                               .date = w.closed };
 *   pd_buf mail = PD_BUF_INIT;
 *   if (pd_digest_mail(&w, &o, &mail) < 0) ... out of memory ...
 *
 * Everything a sender wrote is cleaned on the way in: valid UTF-8, no CR,
 * no control characters, one-line fields kept on one line, so no input can
 * add a header or break the layout.  A body with a line longer than SMTP
 * allows (998 bytes) is sent quoted-printable, else 8bit.
 */
#ifndef PD_DIGEST_H
#define PD_DIGEST_H

#include "pd_config.h"
#include "pd_domainmap.h"
#include "pd_store.h"
#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_DIGEST_SEPARATOR \
    "----------------------------------------------------------------------"

struct pd_digest_opts {
    int top_n;                          /* rows per table */
    const struct pd_domainmap *map;     /* employers table; NULL: none */
    const char *from, *to;              /* header addresses; NULL: left out */
    int64_t date;                       /* Date header, unix time */
    int format;                         /* PD_FORMAT_* bits (pd_config.h); 0: text */
    const char *page;                   /* the patch page (pd_page.h) for the */
    size_t page_len;                    /*   markdown part; NULL: none */
};

/* Whether post i of w is a New: entry: not a resend, and a cover, a patch
 * without i/n, or the lowest-numbered patch of its series in the window
 * (the first to arrive of that number).  The patch page (pd_page.h) shows
 * the same entries. */
bool pd_digest_is_new(const struct pd_window *w, size_t i);
/* Append s cleaned, as every text from a mail is before it goes into a
 * digest: valid UTF-8 (bad bytes become U+FFFD), CRs dropped, control
 * characters made spaces; newlines and TABs kept only when multiline.
 * NULL appends nothing.  0, or -1 when out of memory. */
int pd_digest_put_clean(pd_buf *out, const char *s, bool multiline);
/* The body text alone.  0, or -1 out of memory. */
int pd_digest_body(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out);
/* The whole mail, headers and body, LF line ends.  0, or -1 out of memory.
 * By format: text/plain, the text digest (the default); text/markdown, the
 * page alone; both: multipart/mixed, the text digest then the page (inline,
 * named <list>-<N>.md).  Mixed, not alternative: the page is another
 * document (new patches with their headers, no tables), not another
 * rendering of the text, and a reader must see both; mail readers that do
 * not know text/markdown show it as text.  A part with a line over 998
 * bytes is quoted-printable. */
int pd_digest_mail(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out);
/* "<patchdigest.N.<from9>.<opened>.<list>@<DigestFrom's domain>>": from the
 * list, the window number, its opening head and time, so a window's digest
 * always carries the same one, and a list whose chain starts again (Redis
 * lost its data) does not reuse an old one.  0, or -1. */
int pd_digest_message_id(const struct pd_window *w, const char *from, pd_buf *out);

#endif
