/*
 * pd_mail.h - parse one raw RFC 5322 message into the fields patchdigest
 * needs, decoded to UTF-8, in time linear in its size whatever its shape
 * (the MIME structure is walked by pd_mime.h; GMime decodes the text part).
 *
 * Modelled on git's mailinfo: one context struct, then setup/run/clear.
 *
 *   struct pd_mail m;
 *   pd_mail_parse(&m, data, len);   never fails on bad mail: it records what it
 *                                   can and sets m.parse_failed; returns -1 only
 *                                   when memory ran out, or when the mail needs
 *                                   GMime (pd_gmime.h, loaded when first
 *                                   needed) and it cannot be loaded
 *   ... m.subject, m.text_body ...
 *   pd_mail_clear(&m);
 *
 * Every string field is non-NULL after a successful parse ("" when absent),
 * valid UTF-8, and free of NUL bytes.  Header values are unfolded; subject and
 * names are RFC 2047 decoded and have control characters turned into spaces.
 */
#ifndef PD_MAIL_H
#define PD_MAIL_H

#include <stdbool.h>
#include <stddef.h>

/* Header that marks patchdigest's own digest mails; the milter skips them. */
#define PD_MARKER_HEADER "X-Patchdigest-Digest"
/* Longer headers are cut before parsing (GMime's decoding of a crafted long
 * header takes quadratic time). */
#define PD_MAX_HEADER_BYTES (16 * 1024)
/* Upper bound on the header block kept verbatim for the patch page. */
#define PD_MAX_RAW_HEADERS (256 * 1024)

struct pd_addr {
    char *name;   /* decoded display name, "" when none */
    char *addr;   /* lower-cased address, "" when none */
    char *written; /* the address as written (case kept), "" when none */
};

struct pd_mail {
    char *subject;          /* unfolded, decoded */
    char *message_id;       /* without <> and blanks; synthetic when absent */
    bool synthetic_mid;
    char *in_reply_to;      /* first id of In-Reply-To, "" when none */
    char **references;      /* ids of References, in order */
    size_t nrefs;
    bool threaded;          /* In-Reply-To or References present and not blank */
    char *list_id;          /* the id inside List-Id's <>, lower-cased */
    char *date;             /* Date header, unfolded */
    struct pd_addr from;    /* header From */
    struct pd_addr xorig;   /* X-Original-From (DMARC rewrites) */
    char *text_body;        /* first text/plain part without filename, decoded, no CR */
    bool has_text_body;
    bool has_patch_part;    /* text/x-patch or text/x-diff part, or *.patch / *.diff file */
    bool has_marker;        /* carries PD_MARKER_HEADER */
    char *raw_headers;      /* header block as received, CRs removed, bounded */
    bool parse_failed;      /* malformed: no entity at all, or a limit cut what was read */
    bool plain_path;        /* read from the raw bytes, not GMime's MIME tree */
};

int pd_mail_parse(struct pd_mail *m, const char *data, size_t len);
/* The same through GMime's MIME tree, the reference the tests compare
 * pd_mail_parse() with: pd_mail_parse() reads plain text mail (one
 * text/plain part, 7bit or 8bit, UTF-8 or ASCII) from the raw bytes and
 * every other mail through the MIME walk.  Never for untrusted mail: GMime
 * builds every part first (slow, or a crash, on crafted mail). */
int pd_mail_parse_gmime(struct pd_mail *m, const char *data, size_t len);
void pd_mail_clear(struct pd_mail *m);

/* Normalise a Message-ID-like header value: the text inside the first <...>
 * (or the trimmed value when there is none), unfolded, control characters
 * turned into spaces, made valid UTF-8.  Caller frees. */
char *pd_mid_normalize(const char *raw);
/* Parse one address ("Name <a@b>", RFC 2047 allowed) into out; 0 when an
 * address was found, -1 otherwise (out then holds empty strings). */
int pd_addr_parse(const char *value, struct pd_addr *out);
/* The same, always through GMime's parser: pd_addr_parse() reads the
 * common forms ("Name <a@b>", "<a@b>", "a@b") itself.  For the tests. */
int pd_addr_parse_gmime(const char *value, struct pd_addr *out);
void pd_addr_clear(struct pd_addr *a);
/* Decode RFC 2047 words of an unstructured header value (already unfolded);
 * the result is valid UTF-8 without control characters.  Caller frees. */
char *pd_decode_header_text(const char *raw);

#endif
