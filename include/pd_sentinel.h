/*
 * pd_sentinel.h - find the Redis master through Redis Sentinel.
 *
 * With "RedisSentinel <master-name> <host:port>..." in the configuration,
 * nothing connects to a fixed Redis address: pd_store_connect() asks the
 * sentinels, in the order configured, which server is the master
 * (SENTINEL get-master-addr-by-name), connects to it and checks with ROLE
 * that it says it is the master.  A connection error, a READONLY or
 * MASTERDOWN reply, or a ROLE other than master makes the caller drop the
 * connection and ask again: a server is never reconnected to by its
 * address, since a killed master restarted from its disk runs for a while
 * as a master with stale data before the sentinels make it a replica.
 * Debian's hiredis has no Sentinel support: these are plain commands.
 *
 *   char host[256];
 *   int port;
 *   if (pd_sentinel_master(cfg, 1000, host, sizeof host, &port, err, sizeof err) < 0)
 *       ... no sentinel answered, or none knows the master: err says why ...
 *   c = redisConnectWithTimeout(host, port, tv);  AUTH ...
 *   switch (pd_sentinel_role_is_master(c, role, sizeof role, err, sizeof err)) {
 *   case 1: a master; case 0: not (role names what it is); -1: error }
 *
 * timeout_ms bounds each sentinel's connect and reply.  SentinelPassword,
 * when set, is sent with AUTH to each sentinel; it is never logged.
 */
#ifndef PD_SENTINEL_H
#define PD_SENTINEL_H

#include "pd_config.h"

#include <stddef.h>

struct redisContext;

/* Ask the sentinels in turn for the master's address; the first that names
 * one wins.  0 with host and port set, or -1 with err set. */
int pd_sentinel_master(const struct pd_config *cfg, int timeout_ms, char *host, size_t hostlen,
                       int *port, char *err, size_t errlen);

/* ROLE on an open connection: 1 master, 0 another role (copied to role,
 * e.g. "slave"), -1 on a connection error or an error reply (err set). */
int pd_sentinel_role_is_master(struct redisContext *c, char *role, size_t rolelen, char *err,
                               size_t errlen);

#endif
