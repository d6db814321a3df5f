/*
 * pd_classify.h - the classification rules of DESIGN.md: subject tags, the
 * class of a mail, the identity "based on email body", the thread root,
 * review trailers and the commit-message excerpt shown in the digest.
 *
 *   struct pd_classified c;
 *   if (pd_classify(&mail, &c) < 0) ... out of memory ...
 *   ... c.cls, c.subj.title, c.ident ...
 *   pd_classified_clear(&c);
 *
 * pd_subject_parse() is usable on its own (it is what the unit tests and the
 * fuzzer drive).  All functions are pure: no I/O, no global state.
 */
#ifndef PD_CLASSIFY_H
#define PD_CLASSIFY_H

#include "pd_mail.h"
#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>

enum pd_class { PD_PATCH, PD_COVER, PD_REPLY, PD_PULL, PD_OTHER, PD_NCLASSES };

struct pd_subject {
    bool marker;          /* a leading Re:/Aw:/Sv:/Fwd:/Fw: was stripped */
    bool patch_tag;       /* a leading [...] group holds the word PATCH or RFC */
    bool git_pull;        /* a leading [...] group holds GIT PULL */
    int version;          /* from vN / PATCHvN; 1 when the tag has none */
    int index, total;     /* from i/n; -1 when the tag has none */
    char *prefixes;       /* other words of the patch tag ("RFC net-next"), "" if none */
    char *title;          /* what follows the tag groups, trimmed */
};

struct pd_reviewer {
    char *name;
    char *addr;
};

struct pd_classified {
    enum pd_class cls;
    struct pd_subject subj;
    struct pd_addr ident;       /* identity based on email body */
    bool inbody_from;           /* ident came from an in-body From: line */
    char *author;               /* header From, decoded: "Name <addr>" */
    char *thread_root;          /* first References id, else In-Reply-To, else own id */
    struct pd_reviewer *reviewers;   /* trailers given in a reply, distinct addresses */
    size_t nreviewers;
    char *excerpt;              /* covers and patches: body up to the end of the diffstat */
};

const char *pd_class_name(enum pd_class c);
int pd_class_from_name(const char *name);   /* -1 when unknown */

int pd_subject_parse(const char *subject, struct pd_subject *s);
void pd_subject_clear(struct pd_subject *s);

/* "Name <addr>", or "<addr>" when there is no name; "" for no address. */
char *pd_identity_format(const struct pd_addr *a);
/* The same appended to b, from name[0..nlen) and addr[0..alen) (nothing
 * for no address); 0, or -1 out of memory. */
int pd_identity_put(pd_buf *b, const char *name, size_t nlen, const char *addr, size_t alen);

bool pd_body_has_diff(const char *body);
bool pd_body_is_pull_request(const char *body);
/* Cut a body at the end of its diffstat, else before its diff, else before
 * its signature; trailing blank lines dropped.  Caller frees. */
char *pd_body_excerpt(const char *body);

/* The body after git's in-body header block (a first From: line, Date: and
 * Subject: lines right after it, the blank lines around them): a pointer
 * into body; body itself when it has no such block. */
const char *pd_body_skip_inbody_headers(const char *body);

int pd_classify(const struct pd_mail *m, struct pd_classified *c);
void pd_classified_clear(struct pd_classified *c);

#endif
