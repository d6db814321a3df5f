/*
 * pd_gmime.h - GMime (and the GLib it brings), loaded when first needed.
 *
 * Most list mail never needs GMime: plain text is read from its raw bytes
 * (mail.c) and MIME structure by mime.c.  GMime is needed to decode a text
 * part in base64, quoted-printable or another charset, for addresses beyond
 * the common forms and for encoded words in other charsets.  Mapping GMime
 * and the twenty libraries it pulls in costs every process about 2.5 ms of
 * CPU at start, a tenth of what "patchdigest import" takes for 1500 posts,
 * so patchdigest is not linked with it: this module opens it with dlopen()
 * and is the only one that calls it.
 *
 * How to call:
 *   pd_gmime_load(err, len)   load now and wait (the milter, at start: it
 *                             fails there, with the reason, not on a mail)
 *   pd_gmime_preload()        start loading on a thread of its own
 *   pd_gmime_nowait(true)     on this thread, an operation that finds GMime
 *                             not loaded yet fails at once instead of
 *                             waiting, and marks the thread:
 *   pd_gmime_missed()         true (once) when an operation failed so since
 *                             the last call; the caller does the work again
 *                             once pd_gmime_ready()
 * Every operation below loads GMime when nothing did yet, and waits for a
 * load under way.  When GMime cannot be loaded (not installed) they fail as
 * when memory runs out, and pd_gmime_error() says why.
 */
#ifndef PD_GMIME_H
#define PD_GMIME_H

#include <stdbool.h>
#include <stddef.h>

int pd_gmime_load(char *err, size_t errlen);
void pd_gmime_preload(void);
bool pd_gmime_ready(void);          /* a load has ended (well or not) */
/* Wait for a load under way to end (before exit: a process must not end
 * while another thread is in dlopen() or GMime's start). */
void pd_gmime_settle(void);
void pd_gmime_nowait(bool on);
bool pd_gmime_missed(void);
const char *pd_gmime_error(void);   /* "" while no load failed */

/* A Content-Transfer-Encoding value as g_mime_content_encoding_from_string()
 * reads it (blanks before, any case, a blank or the end after): one GMime
 * copies as it is (7bit, 8bit, binary, an unknown one, NULL), or decodes.
 * Needs no GMime. */
enum pd_cte { PD_CTE_IDENTITY, PD_CTE_QP, PD_CTE_BASE64, PD_CTE_UUENCODE };
enum pd_cte pd_gmime_cte(const char *cte);

/* s[0..n) decoded from transfer encoding cte and converted from charset
 * (NULL: none) to UTF-8 by GMime's filters; *out malloc'd and
 * NUL-terminated, *outlen its length.  0, or -1. */
int pd_gmime_decode(const char *s, size_t n, const char *cte, const char *charset,
                    char **out, size_t *outlen);

/* The first mailbox of an address list (GMime's parser; a group's first
 * member counts): *addr and *name (NULL when it has none) malloc'd.  1
 * found, 0 none, -1 failed. */
int pd_gmime_first_mailbox(const char *value, char **name, char **addr);

/* g_convert_with_fallback(s, n, "UTF-8", from, fallback): malloc'd,
 * NUL-terminated, its length in *outlen; NULL when it cannot convert. */
char *pd_gmime_to_utf8(const char *s, size_t n, const char *from, const char *fallback,
                       size_t *outlen);

/* GMime's MIME tree of a whole mail, the reference the tests compare the
 * walk of mime.c with (pd_mail_parse_gmime()).  NULL when GMime builds
 * nothing or failed. */
struct pd_gmime_tree;
struct pd_gmime_tree *pd_gmime_tree_parse(const char *data, size_t len);
/* The raw value of the first header name of the top entity, or NULL. */
const char *pd_gmime_tree_header(struct pd_gmime_tree *t, const char *name);
/* A leaf of the tree: its media type, file name and, for a text/plain
 * part (or one without a type), decode() gives its text. */
struct pd_gmime_leaf {
    const char *type, *subtype, *filename;
    bool text_plain;
    void *part;
};
/* Call fn on each leaf part in order, down to depth levels and at most
 * parts parts (message/rfc822 parts are not looked into); stops when fn
 * returns non-zero, and returns that. */
int pd_gmime_tree_walk(struct pd_gmime_tree *t, int depth, int parts,
                       int (*fn)(void *arg, const struct pd_gmime_leaf *leaf), void *arg);
/* The content of a leaf, as pd_gmime_decode() gives it. */
int pd_gmime_leaf_decode(const struct pd_gmime_leaf *leaf, char **out, size_t *outlen);
void pd_gmime_tree_free(struct pd_gmime_tree *t);

#endif
