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

#include "pd_domainmap.h"
#include "pd_store.h"
#include "pd_util.h"

#include <stdint.h>

#define PD_DIGEST_SEPARATOR \
    "----------------------------------------------------------------------"

struct pd_digest_opts {
    int top_n;                          /* rows per table */
    const struct pd_domainmap *map;     /* employers table; NULL: none */
    const char *from, *to;              /* header addresses; NULL: left out */
    int64_t date;                       /* Date header, unix time */
};

/* The body text alone.  0, or -1 out of memory. */
int pd_digest_body(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out);
/* The whole mail, headers and body, LF line ends.  0, or -1 out of memory. */
int pd_digest_mail(const struct pd_window *w, const struct pd_digest_opts *o, pd_buf *out);
/* "<patchdigest.N.<from9>.<opened>.<list>@<DigestFrom's domain>>": from the
 * list, the window number, its opening head and time, so a window's digest
 * always carries the same one, and a list whose chain starts again (Redis
 * lost its data) does not reuse an old one.  0, or -1. */
int pd_digest_message_id(const struct pd_window *w, const char *from, pd_buf *out);

#endif
