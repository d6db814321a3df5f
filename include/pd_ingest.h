/*
 * pd_ingest.h - from one raw mail to the records of the lists it belongs to.
 * The milter and "patchdigest import" both go through here, so a mail is
 * recorded the same way whichever path it took.
 *
 *   struct pd_ingest_result res;
 *   pd_ingest(cfg, data, len, rcpts, nrcpts, force_list, truncated, now,
 *             emit, arg, &res);
 *
 * The list: the configured list whose id matches the List-Id header; when
 * none does, every configured list one of the envelope recipients names
 * (list@domain matches list id "list.domain" or "list@domain").  force_list,
 * when not NULL, overrides both (import --list).  emit() is called once per
 * list with the encoded record; its non-zero return stops and is passed back.
 */
#ifndef PD_INGEST_H
#define PD_INGEST_H

#include "pd_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int (*pd_emit_fn)(void *arg, const char *list_id, const char *payload, size_t len);

struct pd_ingest_result {
    int lists;            /* records emitted */
    bool own_digest;      /* carried PD_MARKER_HEADER: skipped */
    bool parse_failed;    /* GMime could not parse it; recorded as well as possible */
    char *message_id;     /* for logs; caller frees (NULL when nothing was parsed) */
};

/* 0 done (res says what happened), -1 out of memory (or the mail needed
 * GMime and it cannot be loaded: pd_gmime_error()), else emit()'s value. */
int pd_ingest(const struct pd_config *cfg, const char *data, size_t len,
              const char *const *rcpts, size_t nrcpts, const char *force_list,
              bool truncated, int64_t when, pd_emit_fn emit, void *arg,
              struct pd_ingest_result *res);

/* Does this envelope recipient name the list? */
bool pd_rcpt_matches_list(const char *rcpt, const char *list_id);

#endif
