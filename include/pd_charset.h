/*
 * pd_charset.h - text in a named charset as UTF-8, without GMime, where
 * the conversion is exact.
 *
 * GMime (its charset filter, for a body) and GLib (g_convert(), for an
 * encoded word) convert with glibc's iconv.  For the charsets named here
 * both open the converter glibc opens for the name as written, and for
 * text that converts without an error (no invalid or incomplete sequence,
 * nothing converted irreversibly) they give exactly iconv's bytes.  Such
 * text is converted here; anything else (another charset, or text with an
 * error, which GMime and GLib each repair in their own way) is left to
 * GMime, so the bytes stay GMime's.  Loading GMime costs a command some
 * 3 ms; most list mail outside UTF-8 is in one of these charsets.
 *
 *   pd_buf out = PD_BUF_INIT;
 *   int rc = pd_charset_to_utf8("iso-8859-1", s, n, &out);
 *   rc 1: out holds the text (appended); 0: not done here (out as it was);
 *   -1: out of memory
 *
 * ISO-8859-1 is converted here byte by byte (it is U+0000..U+00FF); the
 * others with iconv, each conversion with a converter of its own (no
 * lock).  pd_charset_pin() keeps a converter from a charset open: glibc
 * unloads a charset's gconv module when its last converter closes, and
 * GMime would load it again for every mail.  The native charsets' modules
 * are kept this way at their first use, each in a slot of its own; other
 * charsets in up to PD_CHARSET_OPEN slots, the first ones met.
 */
#ifndef PD_CHARSET_H
#define PD_CHARSET_H

#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>

#define PD_CHARSET_OPEN 32

/* Whether charset is one converted here (text without errors). */
bool pd_charset_native(const char *charset);

int pd_charset_to_utf8(const char *charset, const char *s, size_t n, pd_buf *out);

/* Keep a converter from charset to UTF-8 open (see above). */
void pd_charset_pin(const char *charset);

#endif
