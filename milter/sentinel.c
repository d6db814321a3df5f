/*
 * sentinel.c - find the Redis master through Redis Sentinel, with plain
 * hiredis commands.  See pd_sentinel.h; pd_store_connect() (store.c) is the
 * caller.
 */
#include "pd_sentinel.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One sentinel: 0 with host and port set, -1 with err set. */
static int ask_one(const struct pd_config *cfg, size_t i, struct timeval tv, char *host,
                   size_t hostlen, int *port, char *err, size_t errlen)
{
    const char *sh = cfg->sentinel_hosts[i];
    int sp = cfg->sentinel_ports[i];
    redisContext *c = redisConnectWithTimeout(sh, sp, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "sentinel %s:%d: cannot connect: %s", sh, sp,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    int rc = -1;
    redisReply *r = NULL;
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "sentinel %s:%d: cannot set a timeout: %s", sh, sp, c->errstr);
        goto out;
    }
    if (cfg->sentinel_password) {
        /* the error names AUTH, never its argument */
        r = redisCommand(c, "AUTH %s", cfg->sentinel_password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "sentinel %s:%d: AUTH %s: %s", sh, sp,
                     r ? "refused" : "failed", r ? r->str : c->errstr);
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", cfg->sentinel_master);
    if (!r) {
        snprintf(err, errlen, "sentinel %s:%d: SENTINEL get-master-addr-by-name: %s", sh, sp,
                 c->errstr);
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "sentinel %s:%d: SENTINEL get-master-addr-by-name refused: %s",
                 sh, sp, r->str);
        goto out;
    }
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(err, errlen, "sentinel %s:%d does not know a master named %s", sh, sp,
                 cfg->sentinel_master);
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "sentinel %s:%d: unexpected reply to get-master-addr-by-name",
                 sh, sp);
        goto out;
    }
    char *end;
    long p = strtol(r->element[1]->str, &end, 10);
    if (*end || p < 1 || p > 65535 || r->element[0]->len == 0 ||
        r->element[0]->len >= hostlen) {
        snprintf(err, errlen, "sentinel %s:%d: unusable master address in its reply", sh, sp);
        goto out;
    }
    memcpy(host, r->element[0]->str, r->element[0]->len + 1);
    *port = (int)p;
    rc = 0;
out:
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

int pd_sentinel_master(const struct pd_config *cfg, int timeout_ms, char *host, size_t hostlen,
                       int *port, char *err, size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    char last[512] = "no sentinel configured";
    for (size_t i = 0; i < cfg->nsentinels; i++)
        if (ask_one(cfg, i, tv, host, hostlen, port, last, sizeof last) == 0)
            return 0;
    snprintf(err, errlen, "redis: no sentinel named the master %s (%zu asked; last: %s)",
             cfg->sentinel_master ? cfg->sentinel_master : "", cfg->nsentinels, last);
    return -1;
}

int pd_sentinel_role_is_master(struct redisContext *c, char *role, size_t rolelen, char *err,
                               size_t errlen)
{
    redisReply *r = redisCommand(c, "ROLE");
    if (!r) {
        snprintf(err, errlen, "redis: ROLE: %s", c->err ? c->errstr : "no reply");
        return -1;
    }
    int rc = -1;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: ROLE refused: %s", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               r->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "redis: unexpected reply to ROLE");
    } else {
        snprintf(role, rolelen, "%s", r->element[0]->str);
        rc = strcmp(r->element[0]->str, "master") == 0 ? 1 : 0;
    }
    freeReplyObject(r);
    return rc;
}
