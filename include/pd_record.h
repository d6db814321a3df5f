/*
 * pd_record.h - one recorded mail, as the journal stores it and as the Redis
 * record script receives it.
 *
 * A record is an ordered list of PD_F_COUNT byte strings (the fields below).
 * Its encoding ("payload") is:  u16 field count, then per field u32 length and
 * the bytes; integers little-endian.  The journal wraps the payload in a
 * checksummed frame (pd_journal.h); the Redis writer passes the fields, in this
 * order, as the ARGV of the record script (milter/record.lua), so adding a
 * field means adding it at the end here and there.
 *
 *   pd_buf payload = PD_BUF_INIT;
 *   pd_record_build(&payload, list_id, &mail, &classified, now, flags);
 *   struct pd_record r;
 *   if (pd_record_decode(payload.data, payload.len, &r) < 0) ... corrupt ...
 *   r.f[PD_F_MID].p, r.f[PD_F_MID].len
 */
#ifndef PD_RECORD_H
#define PD_RECORD_H

#include "pd_classify.h"
#include "pd_mail.h"
#include "pd_util.h"

#include <stddef.h>
#include <stdint.h>

#define PD_RECORD_FORMAT "1"

enum pd_field {
    PD_F_FORMAT,      /* PD_RECORD_FORMAT */
    PD_F_LIST,        /* configured list id */
    PD_F_MID,         /* Message-ID, normalised */
    PD_F_CLASS,       /* patch cover reply pull other */
    PD_F_VERSION,     /* "2", "" without patch tag */
    PD_F_INDEX,       /* "3", "" without i/n */
    PD_F_TOTAL,       /* "7", "" without i/n */
    PD_F_NAME,        /* identity name (based on email body) */
    PD_F_ADDR,        /* identity address, lower-case */
    PD_F_SUBJECT,     /* subject, unfolded and decoded */
    PD_F_TITLE,       /* title */
    PD_F_AUTHOR,      /* header From, "Name <addr>" */
    PD_F_ROOT,        /* thread root id */
    PD_F_IRT,         /* In-Reply-To id */
    PD_F_REFS,        /* References ids, one per line */
    PD_F_REVIEWERS,   /* "addr\tName" per line */
    PD_F_TIME,        /* arrival, unix seconds */
    PD_F_FLAGS,       /* letters: t truncated, s synthetic id, p parse failure, i in-body From */
    PD_F_EXCERPT,     /* covers, patches, pulls: body up to the end of the diffstat */
    PD_F_HEADERS,     /* covers and patches: the header block as received */
    PD_F_PREFIXES,    /* patch tag words other than PATCH, vN and i/n */
    PD_F_TRAILERS,    /* replies: review trailers, "kind\taddr\tname" per line (pd_outcome.h) */
    PD_F_NOTICE,      /* replies: the applied notice, "" when none (pd_outcome.h) */
    PD_F_COUNT
};

/* Records written before PD_F_TRAILERS existed have this many fields; the
 * missing ones decode as empty. */
#define PD_F_COUNT_V1 (PD_F_PREFIXES + 1)

struct pd_field_view {
    const char *p;
    size_t len;
};

struct pd_record {
    struct pd_field_view f[PD_F_COUNT];
};

/* Flags for pd_record_build(). */
#define PD_REC_TRUNCATED 0x1

/* Encode one mail for one list into out (appended).  0, or -1 out of memory. */
int pd_record_build(pd_buf *out, const char *list_id, const struct pd_mail *m,
                    const struct pd_classified *c, int64_t when, unsigned flags);
/* Encode fields given directly (tests, fuzzers).  0, or -1 out of memory. */
int pd_record_encode(pd_buf *out, const struct pd_field_view f[PD_F_COUNT]);
/* Decode a payload; views point into it.  0, or -1 when malformed. */
int pd_record_decode(const void *payload, size_t len, struct pd_record *r);

#endif
