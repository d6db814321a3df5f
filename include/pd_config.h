/*
 * pd_config.h - the configuration file shared by patchdigest-milter and
 * patchdigest.
 *
 * The file holds "Key value" lines; blank lines and lines starting with '#'
 * are ignored; keys are case-insensitive.  Every key is documented in
 * conf/patchdigest.conf and patchdigest.conf(5).
 *
 *   struct pd_config cfg;
 *   char err[512];
 *   if (pd_config_load(path, &cfg, err, sizeof err) < 0) { print err; exit; }
 *   ... cfg.lists[i].id ...
 *   pd_config_clear(&cfg);
 *
 * pd_config_load() fills defaults first, then the file; on error it leaves
 * "file:line: what is wrong" in err and cfg cleared.  pd_config_defaults()
 * alone gives a configuration for commands that need no file (classify).
 */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PD_DEFAULT_CONFIG "/etc/patchdigest/patchdigest.conf"

struct pd_list {
    char *id;     /* List-Id as configured, e.g. kvm.vger.kernel.org */
    char *name;   /* human name used in the digest, e.g. KVM */
};

struct pd_config {
    char *path;

    char *socket;            /* unix:/path | local:/path | inet:port@host | inet6:port@host */
    char *redis;             /* as written */
    char *redis_path;        /* set for unix:/path */
    char *redis_host;        /* set for host:port */
    int redis_port;
    char *redis_password;    /* NULL when unset; never logged */
    int redis_database;
    /* RedisSentinel <master-name> <host:port>...: the master is asked of
     * the sentinels (pd_sentinel.h) instead of Redis's fixed address */
    char *sentinel_master;   /* NULL: no sentinels, Redis names the server */
    char **sentinel_hosts;   /* nsentinels hosts and ports */
    int *sentinel_ports;
    size_t nsentinels;
    char *sentinel_password; /* SentinelPassword; NULL when unset; never logged */
    int redis_replicas;      /* RedisReplicas: WAIT for this many replicas (0: none) */

    char *key_prefix;

    struct pd_list *lists;
    size_t nlists;

    char *digest_from;
    char *digest_to;
    int top_n;
    char *domain_map;        /* gitdm domain map for the employers table; NULL: none */

    char *journal_dir;
    uint64_t max_message_bytes;
    char *sendmail;
    uint64_t retention;      /* seconds */
    char *user;              /* NULL: do not change user */
    char *pid_file;
    char *status_file;       /* the milter's health, read by "patchdigest stats" */
    int socket_mode;         /* permissions of a unix socket, e.g. 0660 */
    char *socket_group;      /* group of a unix socket; NULL: the user's */
    int log_level;           /* enum pd_loglevel */
    int digest_format;       /* PD_FORMAT_TEXT, PD_FORMAT_MARKDOWN or both (bits) */
    char *digest_page;       /* path pattern of the Markdown page (%l, %w); NULL: none */
    char **page_headers;     /* header names the page shows; NULL (none given): all */
    size_t npage_headers;
    char *archive_url;       /* ArchiveURL: Link: lines, %m the Message-ID; NULL: none */
    char **list_digest_to;   /* ListDigestTo, by the index of lists[]; NULL: DigestTo */
    size_t nlists_digest_to; /* entries of list_digest_to (lists declared before the last one) */
};

/* DigestFormat: what the digest mail carries (bits). */
#define PD_FORMAT_TEXT 0x1       /* the text digest, text/plain */
#define PD_FORMAT_MARKDOWN 0x2   /* the patch page, text/markdown (pd_page.h) */

void pd_config_defaults(struct pd_config *cfg);
int pd_config_load(const char *path, struct pd_config *cfg, char *err, size_t errlen);
void pd_config_clear(struct pd_config *cfg);
/* The configured list with this id (case-insensitive), or NULL. */
const struct pd_list *pd_config_find_list(const struct pd_config *cfg, const char *id);
/* Where the digest of list l goes: its ListDigestTo, else DigestTo (NULL: none). */
const char *pd_config_digest_to(const struct pd_config *cfg, const struct pd_list *l);

#endif
