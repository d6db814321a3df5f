/*
 * pd_outcome.h - what a reply says about the patches it answers, as
 * DESIGN.md's "Outcomes" section reads it: the review trailers it gives and
 * the applied notice it carries (branch, patch numbers, listed [i/n] title
 * and commit entries).  Parsed from the reply's text at classification time;
 * the record script (milter/record.lua) decides what a notice applies, the
 * flush (milter/outcomes.lua) the rest.
 *
 *   struct pd_outcome o;
 *   if (pd_outcome_parse(body, &o) < 0) ... out of memory ...
 *   ... o.trailers[i], o.notice.found, o.notice.branch ...
 *   pd_outcome_encode_trailers(&o, &buf);   the record's fields (pd_record.h)
 *   pd_outcome_encode_notice(&o, &buf);
 *   pd_outcome_clear(&o);
 *
 * The text read is the body's lines up to the signature ("-- "); lines
 * starting with '>' are quoted and never count; lines are read as they
 * start, at column 0.  Work is bounded per mail (PD_OUTCOME_MAX_*): a
 * hostile mail of many lines costs one linear pass.  Pure: no I/O.
 */
#ifndef PD_OUTCOME_H
#define PD_OUTCOME_H

#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>

#define PD_OUTCOME_MAX_TRAILERS 50      /* trailers kept per mail */
#define PD_OUTCOME_MAX_ENTRIES 200      /* listed [i/n] entries kept per notice */
#define PD_OUTCOME_MAX_NUMBERS 1000     /* patch numbers kept per notice */
#define PD_OUTCOME_MAX_LINE 2000        /* longer lines are neither trailers nor notices */
#define PD_OUTCOME_MAX_PARSED 100       /* trailer lines read through the address parser */

enum pd_trailer_kind { PD_TRAILER_REVIEWED, PD_TRAILER_ACKED, PD_TRAILER_TESTED };

struct pd_trailer {
    enum pd_trailer_kind kind;
    char *name;                 /* decoded, "" when none */
    char *addr;                 /* lower-case */
};

struct pd_applied_entry {
    int index, total;           /* the listed [i/n] */
    char *title;                /* as listed, trimmed */
    char commit[13];            /* first 12 hex digits, lower case */
};

struct pd_notice {
    bool found;                 /* the reply has a notice line */
    char *branch;               /* "" when the line names none */
    int *numbers;               /* patch numbers the line names, in order */
    size_t nnumbers;
    struct pd_applied_entry *entries;   /* listed entries with a commit id */
    size_t nentries;
};

struct pd_outcome {
    struct pd_trailer *trailers;    /* distinct (kind, address), in order */
    size_t ntrailers;
    struct pd_notice notice;
    size_t parsed;                  /* trailer lines given to the address parser */
};

/* What the flush reads back (milter/outcomes.lua, pd_store_read_posts()):
 * the outcome lines of a window, raw text from mails (clean before showing). */
struct pd_outcome_block {
    char *key;          /* series of the window: pd_series.key; earlier: its head line */
    char **lines;       /* earlier series: the identity line first */
    size_t nlines;
};

struct pd_outcomes {
    struct pd_outcome_block *series;    /* the window's series */
    size_t nseries;
    struct pd_outcome_block *earlier;   /* earlier series with activity, in order */
    size_t nearlier;
    char **applied;                     /* "Applied in this time period" lines */
    size_t napplied;
};

/* The outcome lines of series key, NULL when none were read. */
const struct pd_outcome_block *pd_outcomes_find(const struct pd_outcomes *o, const char *key);
void pd_outcomes_clear(struct pd_outcomes *o);

/* Parse a reply's text body.  0, or -1 when out of memory (o cleared). */
int pd_outcome_parse(const char *body, struct pd_outcome *o);
/* Just the notice line rules on one line (tests): true when line is a
 * notice line; branch (caller frees, may be NULL) and numbers filled when
 * asked for.  -1 out of memory. */
int pd_notice_line(const char *line, size_t len, char **branch, int **numbers, size_t *nnumbers);
void pd_outcome_clear(struct pd_outcome *o);

/* The record's trailers field: "kind\taddr\tname" lines, kind r, a or t. */
int pd_outcome_encode_trailers(const struct pd_outcome *o, pd_buf *out);
/* The record's notice field: "" without a notice; else the branch line, the
 * numbers line (comma-separated), then "i\tn\tcommit\ttitle" per entry. */
int pd_outcome_encode_notice(const struct pd_outcome *o, pd_buf *out);

#endif
