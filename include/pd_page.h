/*
 * pd_page.h - the patch page of a window: the second digest, in Markdown
 * (CommonMark), as in reference 004.  Pure rendering, like pd_digest.h; plus
 * the two helpers the flush needs to publish it as a file.
 *
 * One entry per New: entry of the text digest (pd_digest_is_new()), in
 * arrival order:
 *
 *   #### <subject, unfolded and decoded, on one line>
 *   ##### From: <Name <addr>, the header From>
 *
 *   ```c
 *   <the header block as received: order and folding kept; PageHeaders
 *    may narrow it to some names>
 *
 *   <the text up to the end of the diffstat, decoded>
 *
 *   ```
 *
 * Nothing a sender writes can leave its entry: the fence is longer than any
 * run of backticks inside the block, the subject and name are made one line
 * and have the characters that would start HTML, an entity, a code span,
 * emphasis or a link escaped, and the text is valid UTF-8 without CR or
 * other control characters (TAB and newline kept).
 *
 *   struct pd_page_opts po = { .headers = cfg->page_headers,
 *                              .nheaders = cfg->npage_headers };
 *   pd_buf page = PD_BUF_INIT;
 *   if (pd_page_render(&window, &po, &page) < 0) ... out of memory ...
 *   pd_buf path = PD_BUF_INIT;
 *   if (pd_page_path(cfg->digest_page, list->id, window.number, &path) < 0) ...
 *   if (pd_page_write(path.data, page.data, page.len, err, sizeof err) < 0) ...
 */
#ifndef PD_PAGE_H
#define PD_PAGE_H

#include "pd_store.h"
#include "pd_util.h"

#include <stddef.h>

struct pd_page_opts {
    char *const *headers;    /* header names to show (case-insensitive); NULL: all */
    size_t nheaders;
};

/* The page of a window read with pd_store_read_posts().  Under each
 * entry's ##### line, its series' outcome lines (Supersedes, Review,
 * Applied, Link: DESIGN.md "Outcomes") as one paragraph.  Appends to out;
 * 0, or -1 out of memory. */
int pd_page_render(const struct pd_window *w, const struct pd_page_opts *o, pd_buf *out);

/* One entry from its parts (each may be NULL or ""): subject, author
 * ("Name <addr>"), the raw header block, the text.  0, or -1. */
int pd_page_entry(const char *subject, const char *author, const char *headers,
                  const char *text, const struct pd_page_opts *o, pd_buf *out);

/* Expand a DigestPage pattern: %l the list id (bytes outside
 * [A-Za-z0-9._@+-], and a leading '.', as %XX, so it stays one path
 * component), %w the window number, %% a %.  0, or -1 (out of memory). */
int pd_page_path(const char *pattern, const char *list_id, long long number, pd_buf *out);

/* Write data to path atomically (a temporary file in the same directory,
 * fsync, rename), mode 0644, creating missing directories (0755).  0, or
 * -1 with err set. */
int pd_page_write(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
