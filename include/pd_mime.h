/*
 * pd_mime.h - walk the MIME structure of a mail in one pass over its bytes,
 * and find what patchdigest reads of it: the text body part and whether a
 * part carries a patch.
 *
 * GMime builds every part, every attached message and every header object
 * before anything can be looked at, and a crafted mail makes that slow or
 * crashes it (a million empty parts; address groups nested 50,000 deep in an
 * attached message's To:).  This walker reads the structure as GMime's parser
 * does (the same boundary rules: a line "--b" or "--b--" and optional
 * trailing blanks, innermost boundary first, a parent's boundary ending
 * every part inside it; the last line end before a boundary belongs to the
 * boundary), but keeps nothing but offsets, never looks inside attached
 * messages, reads only the Content-Type, Content-Transfer-Encoding and
 * Content-Disposition of each part, and does work linear in the mail's size
 * whatever its shape.  Where a limit stops it (the PD_MIME_MAX_* below:
 * nesting, parts, a header value's bytes, a parameter's RFC 2231 pieces, a
 * part's header lines, lines that look like boundaries and are not, the
 * parameter bytes decoded in all) it reads less, or stops, and sets cut.
 *
 *   struct pd_mime w;
 *   if (pd_mime_walk(&w, body, body_len, ct, cte, cd) < 0)   out of memory
 *   ... w.has_text: w.text[0..w.text_len) is the first text/plain part
 *       without a file name, still transfer-encoded (w.text_cte), in
 *       charset w.text_charset (NULL when none given) ...
 *   pd_mime_clear(&w);
 *
 * ct, cte and cd are the top entity's header values (NULL when absent);
 * body is what follows its header block.
 */
#ifndef PD_MIME_H
#define PD_MIME_H

#include <stdbool.h>
#include <stddef.h>

#define PD_MIME_MAX_DEPTH 16            /* nested multiparts walked */
#define PD_MIME_MAX_PARTS 10000         /* boundaries passed; the rest is not read */
#define PD_MIME_MAX_VALUE (16 * 1024)   /* bytes of a part's header value read */
#define PD_MIME_MAX_PIECES 256          /* RFC 2231 pieces of one parameter */
#define PD_MIME_MAX_HEADER_LINES 1000   /* header lines of a part read */
#define PD_MIME_MAX_DASH_LINES 100000   /* lines "--..." that are no boundary */
#define PD_MIME_MAX_PARAM_BYTES (1024 * 1024)   /* file-name parameters decoded */

struct pd_mime {
    bool has_text;
    const char *text;       /* a slice of the body given to pd_mime_walk */
    size_t text_len;
    char *text_cte;         /* its Content-Transfer-Encoding, NULL when none */
    char *text_charset;     /* its charset parameter, decoded; NULL when none */
    bool has_patch_part;    /* text/x-patch, text/x-diff, *.patch or *.diff */
    size_t parts;           /* leaf parts seen */
    bool cut;               /* a limit was reached: the walk read less */
};

int pd_mime_walk(struct pd_mime *w, const char *body, size_t len,
                 const char *ct, const char *cte, const char *cd);
void pd_mime_clear(struct pd_mime *w);

/* The value of parameter name (case-insensitive) of a Content-Type or
 * Content-Disposition value v[0..n), decoded as GMime decodes it: quoted
 * strings unquoted, RFC 2231 pieces joined and percent-decoded, RFC 2047
 * words decoded.  1 and *out (malloc'd) when found, 0 when not, -1 when
 * memory ran out.  *cut is set when a limit was reached. */
int pd_mime_param(const char *v, size_t n, const char *name, char **out, bool *cut);

/* Whether a leaf part is a patch (has_patch_part): text/x-patch or
 * text/x-diff (type and subtype compared without case; either may be
 * NULL), or a file name ending in .patch or .diff (any case).  The MIME
 * walk and the GMime reference (pd_mail_parse_gmime) both ask here. */
bool pd_mime_patch_part(const char *type, size_t tlen, const char *subtype, size_t slen,
                        const char *filename);

/* A Content-Transfer-Encoding value as GMime reads it
 * (g_mime_content_encoding_from_string(): blanks before, any case, a blank
 * or the end after): one copied as it is (7bit, 8bit, binary, an unknown
 * one, NULL), or one decoded. */
enum pd_cte { PD_CTE_IDENTITY, PD_CTE_QP, PD_CTE_BASE64, PD_CTE_UUENCODE };
enum pd_cte pd_mime_cte(const char *cte);

/* Transfer decoding of well-formed text, without GMime (pd_gmime.h).
 * Quoted-printable: every "=" is followed by two hex digits (either case)
 * or by a line end ("=\n", "=\r\n": a soft break, dropped).  Base64: only
 * the alphabet, blanks and line ends, a whole number of quartets, "=" only
 * to pad the last.  For such text every decoder gives the same bytes,
 * GMime's too (test_mime compares them); for anything else these return
 * -1 and GMime decodes it as it always did.  out has room for n bytes;
 * the decoded length, or -1. */
long pd_mime_qp_decode(const char *s, size_t n, char *out);
long pd_mime_base64_decode(const char *s, size_t n, char *out);

#endif
