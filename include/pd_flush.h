/*
 * pd_flush.h - flush a list: close its open window, mail the digest, mark
 * it sent; finish what an earlier flush left undone.
 *
 *   struct pd_flush_opts o = { .force = false, .map = map };
 *   struct pd_flush_result r;
 *   if (pd_flush_list(store, cfg, list, &o, &r, err, sizeof err) < 0)
 *       ... err names what failed; closed windows stay pending ...
 *
 * The steps, under the list's lock in Redis (SET NX PX, renewed before each
 * step): close the open window and open the next in one Lua call (an empty
 * window only with force); then for every closed window not yet sent, oldest
 * first: render its digest (and its patch page when DigestFormat or
 * DigestPage asks: the page file is written first, so a page that cannot be
 * written leaves the window pending), hand it to Sendmail, mark it sent.  A flush that
 * dies after the close leaves the window pending, and the next flush sends
 * it; the digest's Message-ID and Date come from the window, so sending it
 * again gives the same mail.  A flush that finds the lock taken waits for
 * it, then only finishes pending windows: the other flush did the close.
 * The lock of a flush that died on this host is taken over at once; one of
 * another host expires after lock_ttl_ms.
 *
 * With RedisReplicas N > 0, no digest is sent before WAIT says N replicas
 * have the closed windows; else they stay pending for the next flush.  So
 * a master killed during a flush either leaves the window closed on the
 * replica that takes over (the next flush sends the same digest) or open
 * there (the next flush closes it): one digest per window either way.
 */
#ifndef PD_FLUSH_H
#define PD_FLUSH_H

#include "pd_config.h"
#include "pd_domainmap.h"
#include "pd_store.h"

#include <stdbool.h>
#include <stdio.h>

struct pd_flush_opts {
    bool force;                       /* close and send an empty window too */
    const struct pd_domainmap *map;   /* employers table; NULL: none */
    int lock_ttl_ms;                  /* 0: 60 s */
    int lock_wait_ms;                 /* 0: 75 s */
    int sendmail_timeout_ms;          /* 0: 120 s */
    FILE *report;                     /* one line per window handled; NULL: none */
};

struct pd_flush_result {
    long long closed;                 /* window closed by this flush, 0 none */
    size_t sent;                      /* digests handed to Sendmail */
    bool waited;                      /* another flush held the lock */
};

int pd_flush_list(struct pd_store *s, const struct pd_config *cfg, const struct pd_list *l,
                  const struct pd_flush_opts *o, struct pd_flush_result *res, char *err,
                  size_t errlen);

/* Read window number (0: the open one) with everything its digest shows. */
int pd_flush_read(struct pd_store *s, const struct pd_list *l, long long number,
                  struct pd_window *w, char *err, size_t errlen);

#endif
