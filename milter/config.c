/*
 * config.c - read and check the configuration file.  See pd_config.h.
 *
 * Each key has a setter that checks its value and returns NULL or a message;
 * pd_config_load() prefixes that message with file:line.  A key given twice
 * (other than the repeatable List) is an error too, so a typo cannot silently
 * shadow an earlier line.
 */
#include "pd_config.h"
#include "pd_log.h"
#include "pd_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void pd_config_defaults(struct pd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->key_prefix = strdup("pd:");
    cfg->top_n = 15;
    cfg->journal_dir = strdup("/var/lib/patchdigest/journal");
    cfg->max_message_bytes = 8u * 1024 * 1024;
    cfg->sendmail = strdup("/usr/sbin/sendmail -t -i");
    cfg->retention = 90u * 86400;
    cfg->pid_file = strdup("/run/patchdigest/patchdigest-milter.pid");
    cfg->status_file = strdup("/run/patchdigest/patchdigest-milter.status");
    cfg->socket_mode = 0660;
    cfg->log_level = PD_LOG_INFO;
    cfg->redis_port = 6379;
    cfg->digest_format = PD_FORMAT_TEXT;
}

void pd_config_clear(struct pd_config *cfg)
{
    free(cfg->path);
    free(cfg->socket);
    free(cfg->redis);
    free(cfg->redis_path);
    free(cfg->redis_host);
    free(cfg->redis_password);
    free(cfg->sentinel_master);
    for (size_t i = 0; i < cfg->nsentinels; i++)
        free(cfg->sentinel_hosts[i]);
    free(cfg->sentinel_hosts);
    free(cfg->sentinel_ports);
    free(cfg->sentinel_password);
    free(cfg->key_prefix);
    for (size_t i = 0; i < cfg->nlists; i++) {
        free(cfg->lists[i].id);
        free(cfg->lists[i].name);
    }
    for (size_t i = 0; i < cfg->nlists_digest_to; i++)
        free(cfg->list_digest_to[i]);
    free(cfg->list_digest_to);
    free(cfg->lists);
    free(cfg->digest_from);
    free(cfg->digest_to);
    free(cfg->domain_map);
    free(cfg->journal_dir);
    free(cfg->sendmail);
    free(cfg->user);
    free(cfg->pid_file);
    free(cfg->status_file);
    free(cfg->socket_group);
    free(cfg->digest_page);
    for (size_t i = 0; i < cfg->npage_headers; i++)
        free(cfg->page_headers[i]);
    free(cfg->page_headers);
    free(cfg->archive_url);
    memset(cfg, 0, sizeof *cfg);
}

const struct pd_list *pd_config_find_list(const struct pd_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->nlists; i++)
        if (strcasecmp(cfg->lists[i].id, id) == 0)
            return &cfg->lists[i];
    return NULL;
}

/* ---- value checkers: each returns NULL when fine, else a message ---- */

static const char *set_string(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s)
        return "out of memory";
    free(*dst);
    *dst = s;
    return NULL;
}

static const char *check_port(const char *p, int *port)
{
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || *end || end == p || v < 1 || v > 65535)
        return "port must be a number from 1 to 65535";
    *port = (int)v;
    return NULL;
}

static const char *set_socket(struct pd_config *cfg, const char *v)
{
    if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
        const char *p = strchr(v, ':') + 1;
        if (*p != '/')
            return "Socket unix:PATH needs an absolute path";
    } else if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
        const char *p = strchr(v, ':') + 1;
        char portbuf[16];
        const char *at = strchr(p, '@');
        size_t plen = at ? (size_t)(at - p) : strlen(p);
        if (plen == 0 || plen >= sizeof portbuf)
            return "Socket inet:PORT@HOST needs a port";
        memcpy(portbuf, p, plen);
        portbuf[plen] = '\0';
        int port;
        if (check_port(portbuf, &port))
            return "Socket inet:PORT@HOST: port must be a number from 1 to 65535";
        if (at && !at[1])
            return "Socket inet:PORT@HOST: empty host";
    } else {
        return "Socket must be unix:/path or inet:port@host";
    }
    return set_string(&cfg->socket, v);
}

static const char *set_redis(struct pd_config *cfg, const char *v)
{
    free(cfg->redis_path);
    free(cfg->redis_host);
    cfg->redis_path = cfg->redis_host = NULL;
    if (strncmp(v, "unix:", 5) == 0) {
        if (v[5] != '/')
            return "Redis unix:PATH needs an absolute path";
        cfg->redis_path = strdup(v + 5);
        if (!cfg->redis_path)
            return "out of memory";
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v)
            return "Redis must be unix:/path or host:port";
        const char *msg = check_port(colon + 1, &cfg->redis_port);
        if (msg)
            return "Redis host:port: port must be a number from 1 to 65535";
        const char *h = v;
        size_t hl = (size_t)(colon - v);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {  /* [::1]:6379 */
            h++;
            hl -= 2;
        }
        cfg->redis_host = pd_strndup(h, hl);
        if (!cfg->redis_host)
            return "out of memory";
    }
    return set_string(&cfg->redis, v);
}

/* RedisSentinel <master-name> <host:port> [<host:port>...] */
static const char *set_sentinel(struct pd_config *cfg, const char *v)
{
    size_t nl = strcspn(v, " \t");
    const char *p = v + nl;
    p += strspn(p, " \t");
    if (!*p)
        return "RedisSentinel needs a master name and at least one sentinel: "
               "RedisSentinel <master-name> <host:port> [<host:port>...]";
    if (!(cfg->sentinel_master = pd_strndup(v, nl)))
        return "out of memory";
    while (*p) {
        size_t n = strcspn(p, " \t");
        char *hp = pd_strndup(p, n);
        if (!hp)
            return "out of memory";
        char *colon = strrchr(hp, ':');
        int port;
        if (!colon || colon == hp || check_port(colon + 1, &port)) {
            free(hp);
            return "RedisSentinel: each sentinel must be host:port, the port from 1 to 65535";
        }
        *colon = '\0';
        char *h = hp;
        size_t hl = strlen(h);
        if (h[0] == '[' && hl >= 3 && h[hl - 1] == ']') {   /* [::1]:26379 */
            h[hl - 1] = '\0';
            h++;
        }
        char *host = strdup(h);
        free(hp);
        char **nh = host ? realloc(cfg->sentinel_hosts, (cfg->nsentinels + 1) * sizeof *nh) : NULL;
        if (nh)
            cfg->sentinel_hosts = nh;
        int *np = nh ? realloc(cfg->sentinel_ports, (cfg->nsentinels + 1) * sizeof *np) : NULL;
        if (!np) {
            free(host);
            return "out of memory";
        }
        cfg->sentinel_ports = np;
        cfg->sentinel_hosts[cfg->nsentinels] = host;
        cfg->sentinel_ports[cfg->nsentinels] = port;
        cfg->nsentinels++;
        p += n;
        p += strspn(p, " \t");
    }
    /* what messages name the Redis by */
    pd_buf b = PD_BUF_INIT;
    if (pd_buf_printf(&b, "sentinel master %s", cfg->sentinel_master) < 0) {
        pd_buf_free(&b);
        return "out of memory";
    }
    free(cfg->redis);
    cfg->redis = pd_buf_steal(&b);
    return cfg->redis ? NULL : "out of memory";
}

static const char *set_int(int *dst, const char *v, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi)
        return what;
    *dst = (int)n;
    return NULL;
}

static const char *add_list(struct pd_config *cfg, const char *v)
{
    const char *sp = v + strcspn(v, " \t");
    if (sp == v || !*sp)
        return "List needs a list id and a name: List <list-id> <Name>";
    const char *name = sp + strspn(sp, " \t");
    if (!*name)
        return "List needs a list id and a name: List <list-id> <Name>";
    char *id = pd_strndup(v, (size_t)(sp - v));
    if (!id)
        return "out of memory";
    if (id[0] == '<' && id[strlen(id) - 1] == '>') {   /* List <kvm.vger.kernel.org> */
        memmove(id, id + 1, strlen(id));
        id[strlen(id) - 1] = '\0';
    }
    if (!*id) {
        free(id);
        return "List id is empty";
    }
    if (pd_config_find_list(cfg, id)) {
        free(id);
        return "List given twice for the same list id";
    }
    struct pd_list *nl = realloc(cfg->lists, (cfg->nlists + 1) * sizeof *nl);
    if (!nl) {
        free(id);
        return "out of memory";
    }
    cfg->lists = nl;
    nl[cfg->nlists].id = id;
    nl[cfg->nlists].name = strdup(name);
    if (!nl[cfg->nlists].name) {
        free(id);
        return "out of memory";
    }
    cfg->nlists++;
    return NULL;
}

static const char *set_prefix(struct pd_config *cfg, const char *v)
{
    if (strpbrk(v, "{}"))
        return "KeyPrefix must not contain { or } (they mark Redis hash tags)";
    return set_string(&cfg->key_prefix, v);
}

static const char *set_address(char **dst, const char *v)
{
    if (!strchr(v, '@'))
        return "an email address is needed (user@domain)";
    if (strpbrk(v, "\r\n"))
        return "an address must be one line";
    return set_string(dst, v);
}

/* DigestPage: an absolute path; % only in %l (list id), %w (window
 * number) and %% (a %). */
static const char *set_page(struct pd_config *cfg, const char *v)
{
    if (v[0] != '/')
        return "DigestPage must be an absolute path";
    for (const char *p = v; *p; p++)
        if (*p == '%') {
            if (p[1] != 'l' && p[1] != 'w' && p[1] != '%')
                return "DigestPage: % may only stand in %l (list id), %w (window number) or %%";
            p++;
        }
    return set_string(&cfg->digest_page, v);
}

/* ---- outcomes: ArchiveURL, ListDigestTo ---- */

/* ArchiveURL: where a Message-ID can be read, %m standing in for it. */
static const char *set_archive_url(struct pd_config *cfg, const char *v)
{
    bool has_m = false;
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p <= 32 || (unsigned char)*p == 127)
            return "ArchiveURL must not hold blanks or control characters";
        if (*p == '%') {
            if (p[1] != 'm')
                return "ArchiveURL: % may only stand in %m (the Message-ID)";
            has_m = true;
            p++;
        }
    }
    if (!has_m)
        return "ArchiveURL needs %m (the Message-ID), e.g. https://lore.kernel.org/r/%m";
    return set_string(&cfg->archive_url, v);
}

/* ListDigestTo <list-id> <address>: the digest of that list (given by a List
 * line above) goes there instead of to DigestTo. */
static const char *set_list_digest_to(struct pd_config *cfg, const char *v)
{
    size_t n = strcspn(v, " \t");
    const char *addr = v + n + strspn(v + n, " \t");
    if (!*addr)
        return "ListDigestTo needs a list id and an address: ListDigestTo <list-id> <address>";
    char *id = pd_strndup(v, n);
    if (!id)
        return "out of memory";
    if (id[0] == '<' && n > 1 && id[n - 1] == '>') {
        memmove(id, id + 1, n);
        id[n - 2] = '\0';
    }
    size_t k = cfg->nlists;
    for (size_t i = 0; i < cfg->nlists; i++)
        if (strcasecmp(cfg->lists[i].id, id) == 0)
            k = i;
    free(id);
    if (k == cfg->nlists)
        return "ListDigestTo names a list no List line above declares";
    /* one slot per list: lists declared after this line get theirs too */
    char **nv = realloc(cfg->list_digest_to, cfg->nlists * sizeof *nv);
    if (!nv)
        return "out of memory";
    for (size_t i = cfg->nlists_digest_to; i < cfg->nlists; i++)
        nv[i] = NULL;
    cfg->list_digest_to = nv;
    cfg->nlists_digest_to = cfg->nlists;
    if (nv[k])
        return "ListDigestTo given twice for the same list";
    return set_address(&nv[k], addr);
}

const char *pd_config_digest_to(const struct pd_config *cfg, const struct pd_list *l)
{
    for (size_t i = 0; l && i < cfg->nlists_digest_to; i++)
        if (cfg->list_digest_to[i] && strcasecmp(cfg->lists[i].id, l->id) == 0)
            return cfg->list_digest_to[i];
    return cfg->digest_to;
}

/* PageHeaders: header names, separated by blanks or commas. */
static const char *set_page_headers(struct pd_config *cfg, const char *v)
{
    for (const char *p = v; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (!n)
            break;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127 || p[i] == ':')
                return "PageHeaders: header names are printable ASCII without ':'";
        char **nh = realloc(cfg->page_headers, (cfg->npage_headers + 1) * sizeof *nh);
        if (!nh)
            return "out of memory";
        cfg->page_headers = nh;
        if (!(nh[cfg->npage_headers] = pd_strndup(p, n)))
            return "out of memory";
        cfg->npage_headers++;
        p += n;
    }
    return cfg->npage_headers ? NULL : "PageHeaders needs header names";
}

enum { K_ARCHIVEURL, K_LISTDIGESTTO,   /* outcomes (DESIGN.md "Outcomes") */
       K_SOCKET, K_REDIS, K_REDISPASSWORD, K_REDISDATABASE, K_KEYPREFIX, K_LIST,
       K_DIGESTFROM, K_DIGESTTO, K_TOPN, K_JOURNALDIR, K_MAXMESSAGEBYTES,
       K_SENDMAIL, K_RETENTION, K_USER, K_PIDFILE, K_LOGLEVEL, K_DOMAINMAP, K_STATUSFILE,
       K_SOCKETMODE, K_SOCKETGROUP, K_DIGESTFORMAT, K_DIGESTPAGE, K_PAGEHEADERS,
       K_REDISSENTINEL, K_SENTINELPASSWORD, K_REDISREPLICAS, K_COUNT };

static const char *const key_names[K_COUNT] = {
    "ArchiveURL", "ListDigestTo",
    "Socket", "Redis", "RedisPassword", "RedisDatabase", "KeyPrefix", "List",
    "DigestFrom", "DigestTo", "TopN", "JournalDir", "MaxMessageBytes",
    "Sendmail", "Retention", "User", "PidFile", "LogLevel", "DomainMap", "StatusFile",
    "SocketMode", "SocketGroup", "DigestFormat", "DigestPage", "PageHeaders",
    "RedisSentinel", "SentinelPassword", "RedisReplicas",
};

static const char *apply(struct pd_config *cfg, int key, const char *v)
{
    uint64_t u;
    int lv;
    switch (key) {
    case K_SOCKET: return set_socket(cfg, v);
    case K_REDIS: return set_redis(cfg, v);
    case K_REDISPASSWORD: return set_string(&cfg->redis_password, v);
    case K_REDISSENTINEL: return set_sentinel(cfg, v);
    case K_SENTINELPASSWORD: return set_string(&cfg->sentinel_password, v);
    case K_REDISREPLICAS:
        return set_int(&cfg->redis_replicas, v, 0, 100, "RedisReplicas must be a number from 0 to 100");
    case K_REDISDATABASE:
        return set_int(&cfg->redis_database, v, 0, 1000000,
                       "RedisDatabase must be a number from 0");
    case K_KEYPREFIX: return set_prefix(cfg, v);
    case K_LIST: return add_list(cfg, v);
    case K_DIGESTFROM: return set_address(&cfg->digest_from, v);
    case K_DIGESTTO: return set_address(&cfg->digest_to, v);
    case K_TOPN: return set_int(&cfg->top_n, v, 1, 1000, "TopN must be a number from 1 to 1000");
    case K_JOURNALDIR:
        if (v[0] != '/')
            return "JournalDir must be an absolute path";
        return set_string(&cfg->journal_dir, v);
    case K_MAXMESSAGEBYTES:
        if (pd_parse_size(v, &u) < 0 || u < 4096 || u > (1ull << 30))
            return "MaxMessageBytes must be a size from 4K to 1G (e.g. 8M)";
        cfg->max_message_bytes = u;
        return NULL;
    case K_SENDMAIL: return set_string(&cfg->sendmail, v);
    case K_DOMAINMAP:
        if (v[0] != '/')
            return "DomainMap must be an absolute path";
        return set_string(&cfg->domain_map, v);
    case K_RETENTION:
        if (pd_parse_duration(v, &u) < 0 || u < 3600 || u > 10u * 365 * 86400)
            return "Retention must be a duration from 1h to 10 years (e.g. 90d)";
        cfg->retention = u;
        return NULL;
    case K_USER: return set_string(&cfg->user, v);
    case K_PIDFILE:
        if (v[0] != '/')
            return "PidFile must be an absolute path";
        return set_string(&cfg->pid_file, v);
    case K_STATUSFILE:
        if (v[0] != '/')
            return "StatusFile must be an absolute path";
        return set_string(&cfg->status_file, v);
    case K_SOCKETMODE: {
        char *end;
        errno = 0;
        long m = strtol(v, &end, 8);
        if (errno || *end || end == v || m < 0 || m > 0777 || v[0] != '0')
            return "SocketMode must be an octal mode from 0000 to 0777 (e.g. 0660)";
        cfg->socket_mode = (int)m;
        return NULL;
    }
    case K_SOCKETGROUP: return set_string(&cfg->socket_group, v);
    case K_DIGESTFORMAT:
        if (strcasecmp(v, "text") == 0)
            cfg->digest_format = PD_FORMAT_TEXT;
        else if (strcasecmp(v, "markdown") == 0)
            cfg->digest_format = PD_FORMAT_MARKDOWN;
        else if (strcasecmp(v, "both") == 0)
            cfg->digest_format = PD_FORMAT_TEXT | PD_FORMAT_MARKDOWN;
        else
            return "DigestFormat must be text, markdown or both";
        return NULL;
    case K_DIGESTPAGE: return set_page(cfg, v);
    case K_PAGEHEADERS: return set_page_headers(cfg, v);
    case K_ARCHIVEURL: return set_archive_url(cfg, v);
    case K_LISTDIGESTTO: return set_list_digest_to(cfg, v);
    case K_LOGLEVEL:
        lv = pd_log_parse_level(v);
        if (lv < 0)
            return "LogLevel must be one of err, warning, notice, info, debug";
        cfg->log_level = lv;
        return NULL;
    }
    return "unknown key";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int pd_config_load(const char *path, struct pd_config *cfg, char *err, size_t errlen)
{
    pd_config_defaults(cfg);
    cfg->path = strdup(path);
    FILE *f = fopen(path, "re");
    if (!f) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        pd_config_clear(cfg);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IWOTH)) {
        fail(err, errlen, "%s: refused: the file is world-writable (chmod o-w)", path);
        fclose(f);
        pd_config_clear(cfg);
        return -1;
    }
    int seen[K_COUNT] = { 0 };
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            rc = fail(err, errlen, "%s:%d: NUL byte in line", path, lineno);
            break;
        }
        char *s = pd_trim(line);
        if (!*s || *s == '#')
            continue;
        char *sp = s + strcspn(s, " \t");
        char *v = sp;
        if (*sp) {
            *sp = '\0';
            v = pd_trim(sp + 1);
        }
        int key = -1;
        for (int k = 0; k < K_COUNT; k++)
            if (strcasecmp(s, key_names[k]) == 0)
                key = k;
        if (key < 0) {
            rc = fail(err, errlen, "%s:%d: unknown key '%s'", path, lineno, s);
            break;
        }
        if (!*v) {
            rc = fail(err, errlen, "%s:%d: %s needs a value", path, lineno, key_names[key]);
            break;
        }
        if (key != K_LIST && key != K_LISTDIGESTTO && seen[key]) {
            rc = fail(err, errlen, "%s:%d: %s given twice (first on line %d)", path,
                      lineno, key_names[key], seen[key]);
            break;
        }
        seen[key] = lineno;
        const char *msg = apply(cfg, key, v);
        if (msg) {
            rc = fail(err, errlen, "%s:%d: %s", path, lineno, msg);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (rc == 0 && seen[K_REDIS] && seen[K_REDISSENTINEL])
        rc = fail(err, errlen, "%s:%d: Redis and RedisSentinel exclude each other (Redis is on "
                  "line %d): give one", path, seen[K_REDISSENTINEL] > seen[K_REDIS] ?
                  seen[K_REDISSENTINEL] : seen[K_REDIS], seen[K_REDIS]);
    if (rc == 0 && seen[K_SENTINELPASSWORD] && !seen[K_REDISSENTINEL])
        rc = fail(err, errlen, "%s:%d: SentinelPassword needs RedisSentinel", path,
                  seen[K_SENTINELPASSWORD]);
    if (rc == 0 && !seen[K_REDIS] && seen[K_REDISSENTINEL])
        seen[K_REDIS] = seen[K_REDISSENTINEL];   /* it names the Redis */
    if (rc == 0) {
        static const int required[] = { K_SOCKET, K_REDIS, K_LIST };
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (!seen[required[i]]) {
                rc = fail(err, errlen, "%s:%d: missing required key %s%s", path, lineno,
                          key_names[required[i]],
                          required[i] == K_REDIS ? " (or RedisSentinel)" : "");
                break;
            }
    }
    if (rc == 0 && cfg->digest_page && cfg->nlists > 1 && !strstr(cfg->digest_page, "%l"))
        rc = fail(err, errlen, "%s:%d: DigestPage needs %%l (the list id) when several lists "
                  "are configured", path, seen[K_DIGESTPAGE]);
    if (rc < 0)
        pd_config_clear(cfg);
    return rc;
}
