/*
 * pd_gmime.h - GMime (and the GLib it brings), loaded when first needed.
 *
 * Most list mail never needs GMime: plain text is read from its raw bytes
 * (mail.c), MIME structure by mime.c, well-formed quoted-printable and
 * base64 text in UTF-8 is decoded by mime.c and the common address forms
 * are read by mail.c.  GMime is needed for text in another charset or in a
 * broken transfer encoding, for addresses beyond the common forms and for
 * encoded words in other charsets: 40 of the 1500 kvm-ppc posts.  Mapping
 * GMime and the twenty libraries it pulls in costs a process about 2.5 ms
 * of CPU, a twentieth of what "patchdigest import" takes for 1500 posts, so
 * patchdigest is not linked with it: this module opens it with dlopen()
 * and is the only one that calls it.
 *
 * How to call: nothing to set up.  Each operation below loads GMime the
 * first time one needs it (about 2.5 ms, once; other threads wait for that
 * load) and fails, as when memory runs out, when it cannot be loaded (not
 * installed): pd_gmime_error() then says why, and pd_gmime_failed_needs()
 * counts it.  A daemon calls
 * pd_gmime_load() at start instead, to fail there, with the reason, and
 * not at the first mail that needs it.
 */
#ifndef PD_GMIME_H
#define PD_GMIME_H

#include <stdbool.h>
#include <stddef.h>

int pd_gmime_load(char *err, size_t errlen);
const char *pd_gmime_error(void);   /* "" while no load failed */
/* How many operations of this thread needed GMime and could not load it:
 * a caller whose callees may take such a failure for "no address" or
 * "cannot convert" (and carry on with less) compares it before and after,
 * and fails instead (pd_ingest()). */
unsigned long pd_gmime_failed_needs(void);

/* s[0..n) decoded from transfer encoding cte and converted from charset
 * (NULL: none) to UTF-8 by GMime's filters, handed to take(bytes, len,
 * arg) where GMime holds them (no copy); take's value, or NULL when GMime
 * failed (take is not called then). */
typedef void *pd_gmime_take_fn(const char *bytes, size_t len, void *arg);
void *pd_gmime_decode(const char *s, size_t n, const char *cte, const char *charset,
                      pd_gmime_take_fn *take, void *arg);

/* The first mailbox of an address list (GMime's parser; a group's first
 * member counts): *addr and *name (NULL when it has none) malloc'd.  1
 * found, 0 none, -1 failed. */
int pd_gmime_first_mailbox(const char *value, char **name, char **addr);

/* g_convert_with_fallback(s, n, "UTF-8", from, fallback): 1 and *out
 * (malloc'd, NUL-terminated, *outlen long); 0 when it cannot convert (an
 * unknown charset, bytes invalid in it); -1 when memory ran out or GMime
 * cannot be loaded. */
int pd_gmime_to_utf8(const char *s, size_t n, const char *from, const char *fallback,
                     char **out, size_t *outlen);

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
void *pd_gmime_leaf_decode(const struct pd_gmime_leaf *leaf, pd_gmime_take_fn *take, void *arg);
void pd_gmime_tree_free(struct pd_gmime_tree *t);

#endif
