/*
 * milter.c - patchdigest-milter: what it does with each mail, and the daemon.
 *
 *   patchdigest-milter [-c FILE] [-f]
 *
 * Per connection it keeps a bounded copy of the current message (headers as
 * the MTA sends them, then the body) and the envelope recipients.  At end of
 * message it hands the copy to pd_ingest(), appends the records to the
 * journal, and the protocol engine answers ACCEPT.  Whatever goes wrong here
 * (out of memory, full disk, Redis down), the mail goes on and the trouble
 * is logged and counted.
 *
 * Threads: the protocol engine (milterproto.c) serves the MTA's connections
 * on a fixed set of threads (two a core) and calls the on_* functions
 * below; the writer ships the journal to Redis; the status thread rewrites
 * StatusFile every second.  The main thread takes the signals: SIGHUP
 * reloads the configuration (a new snapshot that mails started afterwards
 * use; a mail in progress keeps the one it started with, and no connection
 * is dropped).  SIGTERM and SIGINT wait for the mails in progress at that
 * moment to end (up to DRAIN_MAILS_S; connections are served meanwhile),
 * then stop the engine (which closes the connections), ship the journal to
 * Redis (up to DRAIN_JOURNAL_MS) and exit.
 */
#include "pd_config.h"
#include "pd_gmime.h"
#include "pd_ingest.h"
#include "pd_journal.h"
#include "pd_log.h"
#include "pd_mail.h"
#include "pd_milterproto.h"
#include "pd_status.h"
#include "pd_util.h"
#include "pd_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#ifndef PD_VERSION
#define PD_VERSION "0.1"
#endif

#define MAX_RCPTS 1000
#define DRAIN_MAILS_S 30          /* at stop: how long mails in progress may take */
#define DRAIN_JOURNAL_MS 10000    /* at stop: how long shipping the journal may take */

/* ---- the configuration: immutable snapshots, replaced on SIGHUP ---- */

struct snap {
    struct pd_config cfg;
    atomic_uint refs;
};

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snap *snap_now;      /* under snap_mu */
/* The configuration the milter started with: socket, journal, Redis and
 * the other settings a reload cannot change come from here.  Never freed. */
static const struct pd_config *boot;

static struct snap *snap_get(void)
{
    pthread_mutex_lock(&snap_mu);
    struct snap *s = snap_now;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&snap_mu);
    return s;
}

static void snap_put(struct snap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        pd_config_clear(&s->cfg);
        free(s);
    }
}

static struct pd_writer *writer;
static int64_t started;

static atomic_ulong n_mails, n_recorded, n_ignored, n_truncated, n_parse_failed,
    n_journal_errors, n_own_digests, n_not_recorded;
/* Mails begun and not yet ended or aborted, by the epoch they began in:
 * at stop the epoch moves on, and the milter waits for the old one. */
static atomic_long in_flight[2];
static atomic_uint epoch;
static atomic_bool journal_failing;   /* the last append failed */

struct conn {
    struct snap *snap;        /* the configuration of the current mail, or NULL */
    pd_buf msg;
    bool in_mail;             /* counted in in_flight[mail_epoch] */
    unsigned mail_epoch;
    bool in_body;
    bool truncated;
    bool oom;
    char **rcpts;
    size_t nrcpts;
};

/* A mail begins with its first recipient, header or body chunk: it takes
 * the configuration in force then, and counts as in progress. */
static const struct pd_config *mail_begin(struct conn *c)
{
    if (!c->in_mail) {
        c->in_mail = true;
        c->mail_epoch = atomic_load(&epoch) & 1;
        atomic_fetch_add(&in_flight[c->mail_epoch], 1);
    }
    if (!c->snap)
        c->snap = snap_get();
    return &c->snap->cfg;
}

static void conn_reset(struct conn *c)
{
    pd_buf_reset(&c->msg);
    c->in_body = c->truncated = c->oom = false;
    for (size_t i = 0; i < c->nrcpts; i++)
        free(c->rcpts[i]);
    c->nrcpts = 0;
    snap_put(c->snap);
    c->snap = NULL;
    if (c->in_mail) {
        c->in_mail = false;
        atomic_fetch_sub(&in_flight[c->mail_epoch], 1);
    }
}

static void conn_free(struct conn *c)
{
    conn_reset(c);
    free(c->rcpts);
    pd_buf_free(&c->msg);
    free(c);
}

/* Append to the message copy, up to MaxMessageBytes; the rest is dropped and
 * the mail recorded from its head. */
static void keep(struct conn *c, const void *data, size_t len)
{
    uint64_t max = mail_begin(c)->max_message_bytes;
    if (c->oom)
        return;
    size_t room = max > c->msg.len ? max - c->msg.len : 0;
    if (len > room) {
        c->truncated = true;
        len = room;
    }
    if (len && pd_buf_append(&c->msg, data, len) < 0)
        c->oom = true;
}

static void *on_open(void *arg)
{
    (void)arg;
    return calloc(1, sizeof(struct conn));
}

static void on_rcpt(void *cv, const char *addr)
{
    struct conn *c = cv;
    mail_begin(c);
    if (c->nrcpts < MAX_RCPTS) {
        char **nr = realloc(c->rcpts, (c->nrcpts + 1) * sizeof *nr);
        if (nr) {
            c->rcpts = nr;
            if ((nr[c->nrcpts] = strdup(addr)) != NULL)
                c->nrcpts++;
        }
    }
}

static void on_header(void *cv, const char *name, const char *value, bool leadspc)
{
    struct conn *c = cv;
    if (!c->in_body) {
        keep(c, name, strlen(name));
        keep(c, ":", 1);
        if (!leadspc)
            keep(c, " ", 1);
        keep(c, value, strlen(value));
        keep(c, "\n", 1);
    }
}

static void end_headers(struct conn *c)
{
    if (!c->in_body) {
        c->in_body = true;
        /* the separator must survive truncation, or the head would have no body */
        if (!c->oom && pd_buf_append(&c->msg, "\n", 1) < 0)
            c->oom = true;
    }
}

static void on_body(void *cv, const unsigned char *chunk, size_t len)
{
    struct conn *c = cv;
    mail_begin(c);
    end_headers(c);
    keep(c, chunk, len);
}

/* Append one record to the journal.  When the journal cannot take it
 * (disk full, JournalDir unwritable or not open) the writer keeps it in
 * memory and sends it to Redis directly: the mail is still recorded. */
struct eom {
    const char *qid;
    char lists[256];          /* the lists recorded for, for the log line */
};

static void note_list(struct eom *e, const char *list_id)
{
    size_t n = strlen(e->lists);
    if (n + 1 < sizeof e->lists)
        snprintf(e->lists + n, sizeof e->lists - n, "%s%s", n ? "," : "", list_id);
}

static int emit_journal(void *arg, const char *list_id, const char *payload, size_t len)
{
    struct eom *e = arg;
    const char *qid = e->qid;
    struct pd_journal *j = pd_writer_journal(writer);
    if (j && pd_journal_append(j, payload, len) == 0) {
        atomic_fetch_add(&n_recorded, 1);
        note_list(e, list_id);
        if (atomic_exchange(&journal_failing, false))
            pd_log(PD_LOG_NOTICE, "%s: journal %s takes records again", qid, boot->journal_dir);
        return 0;
    }
    const char *why = j ? strerror(errno) : "it could not be opened";
    atomic_fetch_add(&n_journal_errors, 1);
    if (!atomic_exchange(&journal_failing, true))
        pd_log(PD_LOG_ERR, "%s: journal %s: cannot write: %s; recording directly to Redis "
               "until it works again", qid, boot->journal_dir, why);
    if (pd_writer_direct(writer, payload, len) == 0) {
        atomic_fetch_add(&n_recorded, 1);
        note_list(e, list_id);
        pd_log(PD_LOG_INFO, "%s: list %s: not journalled (%s), sent directly to Redis", qid,
               list_id, why);
    } else {
        pd_log(PD_LOG_ERR, "%s: list %s: not journalled (%s) and %s: this mail is not recorded",
               qid, list_id, why, errno == ENOBUFS ? "32 MiB of records already wait for Redis"
                                                   : "out of memory");
    }
    return 0;
}

static void on_eom(void *cv, const char *qid)
{
    struct conn *c = cv;
    const struct pd_config *cfg = mail_begin(c);
    end_headers(c);
    if (!qid)
        qid = "NOQUEUE";
    atomic_fetch_add(&n_mails, 1);
    if (c->oom) {
        atomic_fetch_add(&n_not_recorded, 1);
        pd_log(PD_LOG_ERR, "%s: out of memory while buffering; mail not recorded", qid);
        conn_reset(c);
        return;
    }
    if (c->truncated)
        atomic_fetch_add(&n_truncated, 1);
    struct pd_ingest_result res;
    struct eom e = { .qid = qid, .lists = "" };
    int rc = pd_ingest(cfg, c->msg.data ? c->msg.data : "", c->msg.len,
                       (const char *const *)c->rcpts, c->nrcpts, NULL, c->truncated,
                       (int64_t)time(NULL), emit_journal, &e, &res);
    if (rc < 0) {
        atomic_fetch_add(&n_not_recorded, 1);
        pd_log(PD_LOG_ERR, "%s: out of memory while parsing; mail not recorded", qid);
    }
    else if (res.own_digest)
        atomic_fetch_add(&n_own_digests, 1);
    else if (res.lists == 0)
        atomic_fetch_add(&n_ignored, 1);
    if (res.parse_failed) {
        atomic_fetch_add(&n_parse_failed, 1);
        pd_log(PD_LOG_WARNING, "%s: malformed mail, recorded as well as it could be", qid);
    }
    if (rc == 0 && e.lists[0])
        pd_log(PD_LOG_INFO, "%s: recorded for %s: message-id=<%s>%s", qid, e.lists,
               res.message_id ? res.message_id : "", c->truncated ? " (truncated)" : "");
    else if (rc == 0)
        pd_log(PD_LOG_DEBUG, "%s: %s: message-id=<%s>", qid,
               res.own_digest ? "our own digest, skipped" : "for no configured list",
               res.message_id ? res.message_id : "");
    free(res.message_id);
    conn_reset(c);
}

static void on_abort(void *cv)
{
    conn_reset(cv);
}

static void on_close(void *cv)
{
    conn_free(cv);
}

static const struct pd_milterproto_ops ops = {
    .open = on_open, .rcpt = on_rcpt, .header = on_header, .body = on_body,
    .eom = on_eom, .abort = on_abort, .close = on_close,
};

static int write_pidfile(const char *path)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, (size_t)n) == n;
    int e = errno;
    close(fd);
    errno = e;
    return ok ? 0 : -1;
}

static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        pd_log(PD_LOG_ERR, "User %s: no such user", user);
        return -1;
    }
    if (getuid() == pw->pw_uid)
        return 0;
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        pd_log(PD_LOG_ERR, "cannot become user %s: %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: patchdigest-milter [-c FILE] [-f]\n"
               "  -c FILE  configuration file (default " PD_DEFAULT_CONFIG ")\n"
               "  -f       stay in the foreground and log to stderr\n"
               "  -V       print the version\n");
}

/* ---- the status file, written about once a second ---- */

static pthread_mutex_t status_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t status_cond = PTHREAD_COND_INITIALIZER;
static bool status_stop;

static void write_status(void)
{
    static bool failed;   /* log a failure once, until it works again */
    struct pd_writer_stats ws;
    pd_writer_get_stats(writer, &ws);
    struct pd_status st;
    memset(&st, 0, sizeof st);
    long long *v = st.v;
    v[PD_ST_PID] = (long long)getpid();
    v[PD_ST_STARTED] = started;
    v[PD_ST_UPDATED] = (long long)time(NULL);
    v[PD_ST_REDIS_UP] = ws.redis_up;
    v[PD_ST_JOURNAL_OPEN] = ws.journal_open;
    v[PD_ST_MAILS] = (long long)atomic_load(&n_mails);
    v[PD_ST_RECORDED] = (long long)atomic_load(&n_recorded);
    v[PD_ST_IGNORED] = (long long)atomic_load(&n_ignored);
    v[PD_ST_TRUNCATED] = (long long)atomic_load(&n_truncated);
    v[PD_ST_PARSE_FAILURES] = (long long)atomic_load(&n_parse_failed);
    v[PD_ST_OWN_DIGESTS] = (long long)atomic_load(&n_own_digests);
    v[PD_ST_NOT_RECORDED] = (long long)atomic_load(&n_not_recorded);
    v[PD_ST_JOURNAL_ERRORS] = (long long)atomic_load(&n_journal_errors);
    v[PD_ST_DIRECT] = (long long)ws.direct_queued;
    v[PD_ST_DIRECT_SHIPPED] = (long long)ws.direct_shipped;
    v[PD_ST_DIRECT_WAITING] = (long long)ws.direct_waiting;
    v[PD_ST_DIRECT_LOST] = (long long)ws.direct_dropped;
    v[PD_ST_BACKLOG_BYTES] = (long long)ws.journal.backlog_bytes;
    v[PD_ST_BACKLOG_RECORDS] = (long long)ws.journal.backlog_records;
    v[PD_ST_SKIPPED_BYTES] = (long long)ws.journal.skipped_bytes;
    v[PD_ST_SHIPPED] = (long long)ws.shipped;
    v[PD_ST_NEW_MAILS] = (long long)ws.new_mails;
    v[PD_ST_DUPLICATES] = (long long)ws.duplicates;
    v[PD_ST_REPLAYS] = (long long)ws.replays;
    v[PD_ST_REFUSED] = (long long)ws.refused;
    v[PD_ST_ROUND_TRIPS] = (long long)ws.round_trips;
    v[PD_ST_LAST_SHIPPED] = ws.last_shipped;
    v[PD_ST_FAILOVERS] = (long long)ws.failovers;
    v[PD_ST_LAST_FAILOVER] = ws.last_failover;
    v[PD_ST_REPLICAS_WAITING] = ws.replicas_waiting;
    snprintf(st.redis_master, sizeof st.redis_master, "%s", ws.master);
    if (pd_status_write(boot->status_file, &st) < 0) {
        if (!failed)
            pd_log(PD_LOG_WARNING, "cannot write StatusFile %s: %s (\"patchdigest stats\" "
                   "will not show the milter)", boot->status_file, strerror(errno));
        failed = true;
    } else {
        failed = false;
    }
}

static void *status_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&status_mu);
    while (!status_stop) {
        pthread_mutex_unlock(&status_mu);
        write_status();
        struct timespec ts;
        pd_deadline_ms(&ts, 1000);
        pthread_mutex_lock(&status_mu);
        if (!status_stop)
            pthread_cond_timedwait(&status_cond, &status_mu, &ts);
    }
    pthread_mutex_unlock(&status_mu);
    return NULL;
}

/* A unix socket gets SocketMode and SocketGroup (the MTA's group). */
static int socket_permissions(void)
{
    const char *path = NULL;
    if (strncmp(boot->socket, "unix:", 5) == 0)
        path = boot->socket + 5;
    else if (strncmp(boot->socket, "local:", 6) == 0)
        path = boot->socket + 6;
    else if (boot->socket[0] == '/')
        path = boot->socket;
    if (!path)
        return 0;
    gid_t gid = (gid_t)-1;
    if (boot->socket_group) {
        struct group *gr = getgrnam(boot->socket_group);
        if (!gr) {
            pd_log(PD_LOG_ERR, "SocketGroup %s: no such group", boot->socket_group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) ||
        chmod(path, (mode_t)boot->socket_mode) < 0) {
        pd_log(PD_LOG_ERR, "cannot set the owner or mode of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- reload (SIGHUP) ---- */

/* Settings a running milter cannot change: a reload keeps their values from
 * the start and says so.  Strings are copied (the snapshot owns its own). */
static int keep_str(char **now, const char *was, const char *key, bool secret)
{
    bool same = (!*now && !was) || (*now && was && strcmp(*now, was) == 0);
    if (same)
        return 0;
    if (secret)
        pd_log(PD_LOG_WARNING, "reload: %s changed; it takes effect at restart", key);
    else
        pd_log(PD_LOG_WARNING, "reload: %s changed to %s; it takes effect at restart (now %s)",
               key, *now ? *now : "(none)", was ? was : "(none)");
    char *copy = NULL;
    if (was && !(copy = strdup(was)))
        return -1;
    free(*now);
    *now = copy;
    return 0;
}

static int keep_num(long long *now, long long was, const char *key)
{
    if (*now != was) {
        pd_log(PD_LOG_WARNING, "reload: %s changed to %lld; it takes effect at restart (now %lld)",
               key, *now, was);
        *now = was;
    }
    return 0;
}

/* RedisSentinel's list of sentinels (issue 19): kept from the start when a
 * reload changes it, and said once.  0, or -1 out of memory. */
static int keep_sentinels(struct pd_config *n, const struct pd_config *b)
{
    bool same = n->nsentinels == b->nsentinels;
    for (size_t i = 0; same && i < n->nsentinels; i++)
        same = strcmp(n->sentinel_hosts[i], b->sentinel_hosts[i]) == 0 &&
               n->sentinel_ports[i] == b->sentinel_ports[i];
    if (same)
        return 0;
    pd_log(PD_LOG_WARNING, "reload: the sentinels of RedisSentinel changed; they take effect at "
           "restart");
    char **hosts = calloc(b->nsentinels ? b->nsentinels : 1, sizeof *hosts);
    int *ports = calloc(b->nsentinels ? b->nsentinels : 1, sizeof *ports);
    bool oom = !hosts || !ports;
    for (size_t i = 0; !oom && i < b->nsentinels; i++) {
        ports[i] = b->sentinel_ports[i];
        oom = !(hosts[i] = strdup(b->sentinel_hosts[i]));
    }
    if (oom) {
        for (size_t i = 0; hosts && i < b->nsentinels; i++)
            free(hosts[i]);
        free(hosts);
        free(ports);
        return -1;
    }
    for (size_t i = 0; i < n->nsentinels; i++)
        free(n->sentinel_hosts[i]);
    free(n->sentinel_hosts);
    free(n->sentinel_ports);
    n->sentinel_hosts = hosts;
    n->sentinel_ports = ports;
    n->nsentinels = b->nsentinels;
    return 0;
}

static int keep_restart_settings(struct pd_config *n, const struct pd_config *b)
{
    long long port = n->redis_port, db = n->redis_database, mode = n->socket_mode;
    long long retention = (long long)n->retention;
    if (keep_str(&n->socket, b->socket, "Socket", false) < 0 ||
        keep_str(&n->socket_group, b->socket_group, "SocketGroup", false) < 0 ||
        keep_str(&n->user, b->user, "User", false) < 0 ||
        keep_str(&n->pid_file, b->pid_file, "PidFile", false) < 0 ||
        keep_str(&n->journal_dir, b->journal_dir, "JournalDir", false) < 0 ||
        keep_str(&n->status_file, b->status_file, "StatusFile", false) < 0 ||
        keep_str(&n->redis, b->redis, "Redis", false) < 0 ||
        keep_str(&n->redis_path, b->redis_path, "Redis (path)", true) < 0 ||
        keep_str(&n->redis_host, b->redis_host, "Redis (host)", true) < 0 ||
        keep_str(&n->redis_password, b->redis_password, "RedisPassword", true) < 0 ||
        keep_str(&n->key_prefix, b->key_prefix, "KeyPrefix", false) < 0 ||
        keep_str(&n->sentinel_master, b->sentinel_master, "RedisSentinel (master name)",
                 false) < 0 ||
        keep_str(&n->sentinel_password, b->sentinel_password, "SentinelPassword", true) < 0 ||
        keep_sentinels(n, b) < 0)
        return -1;
    long long replicas = n->redis_replicas;
    keep_num(&replicas, b->redis_replicas, "RedisReplicas");
    n->redis_replicas = (int)replicas;
    keep_num(&port, b->redis_port, "Redis (port)");
    keep_num(&db, b->redis_database, "RedisDatabase");
    keep_num(&mode, b->socket_mode, "SocketMode");
    keep_num(&retention, (long long)b->retention, "Retention");
    n->redis_port = (int)port;
    n->redis_database = (int)db;
    n->socket_mode = (int)mode;
    n->retention = (uint64_t)retention;
    return 0;
}

/* Read the configuration file again.  A file with an error changes
 * nothing: the milter goes on with the configuration it has. */
static void reload(const char *path)
{
    char err[1024];
    struct snap *n = calloc(1, sizeof *n);
    if (!n) {
        pd_log(PD_LOG_ERR, "reload: out of memory; the configuration in use stays");
        return;
    }
    if (pd_config_load(path, &n->cfg, err, sizeof err) < 0) {
        pd_log(PD_LOG_ERR, "reload: %s; the configuration in use stays", err);
        free(n);
        return;
    }
    if (keep_restart_settings(&n->cfg, boot) < 0) {
        pd_log(PD_LOG_ERR, "reload: out of memory; the configuration in use stays");
        pd_config_clear(&n->cfg);
        free(n);
        return;
    }
    atomic_init(&n->refs, 1);
    pthread_mutex_lock(&snap_mu);
    struct snap *old = snap_now;
    snap_now = n;
    pthread_mutex_unlock(&snap_mu);
    snap_put(old);
    pd_log_set_level(n->cfg.log_level);
    pd_log(PD_LOG_NOTICE, "reloaded %s: %zu list(s); mails in progress finish with the "
           "configuration they started with", path, n->cfg.nlists);
}

/* Threads that serve the MTA's connections: two a core, so that a mail
 * whose parse takes long (tens of milliseconds for the worst crafted
 * MIME) leaves threads for the others, and at least 4. */
static unsigned serving_threads(void)
{
    int n = get_nprocs();
    n = n > 0 ? 2 * n : 4;
    return n < 4 ? 4 : n > 32 ? 32 : (unsigned)n;
}

/* A start that fails after the socket was opened: its file goes too. */
static int stop_early(struct pd_milterproto *mp)
{
    pd_milterproto_free(mp);
    return 1;
}

/* ---- signals: the main thread takes them through a pipe ---- */

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* the pipe is full: signals are already waiting to be handled */
    }
    errno = e;
}

/* Wait for signals (reloading on SIGHUP) until the milter is to stop. */
static void signal_loop(const char *conf)
{
    for (;;) {
        unsigned char b;
        ssize_t n = read(sig_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pd_log(PD_LOG_ERR, "signal pipe: %s; stopping", n < 0 ? strerror(errno) : "closed");
            return;
        }
        if (b == SIGHUP) {
            pd_log(PD_LOG_NOTICE, "SIGHUP: reloading %s", conf);
            reload(conf);
            continue;
        }
        pd_log(PD_LOG_NOTICE, "%s: stopping once the mails in progress have ended",
               b == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

/* Wait for the mails in progress now to end; the milter still serves every
 * connection meanwhile (mails begun from now on are recorded too, but not
 * waited for, beyond a short grace: a busy server always has some). */
static void drain_mails(void)
{
    unsigned old = atomic_fetch_add(&epoch, 1) & 1;
    long busy = atomic_load(&in_flight[old]);
    if (busy > 0) {
        pd_log(PD_LOG_NOTICE, "waiting up to %d s for %ld mail(s) in progress", DRAIN_MAILS_S,
               busy);
        int64_t until = (int64_t)pd_now_us() + DRAIN_MAILS_S * 1000000LL;
        while ((busy = atomic_load(&in_flight[old])) > 0 && (int64_t)pd_now_us() < until)
            usleep(10 * 1000);
        if (busy > 0)
            pd_log(PD_LOG_WARNING, "%ld mail(s) still in progress after %d s; stopping anyway "
                   "(the MTA applies its default action to them)", busy, DRAIN_MAILS_S);
    }
    int64_t grace = (int64_t)pd_now_us() + 1000000;
    while (atomic_load(&in_flight[old ^ 1]) > 0 && (int64_t)pd_now_us() < grace)
        usleep(10 * 1000);
}

static int setup_signals(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC) < 0 || fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
        sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = PD_DEFAULT_CONFIG;
    bool foreground = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:fhV")) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 'f': foreground = true; break;
        case 'V': printf("patchdigest-milter %s\n", PD_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    struct snap *first = calloc(1, sizeof *first);
    if (!first) {
        fprintf(stderr, "patchdigest-milter: out of memory\n");
        return 1;
    }
    if (pd_config_load(conf, &first->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest-milter: %s\n", err);
        free(first);
        return 1;
    }
    /* one reference for snap_now, one for boot, which lives until exit */
    atomic_init(&first->refs, 2);
    snap_now = first;
    boot = &first->cfg;
    pd_log_open("patchdigest-milter", !foreground, boot->log_level);
    signal(SIGPIPE, SIG_IGN);
    /* GMime now, not at the first mail that needs it: a milter without it
     * would record such mail badly, so it does not start (pd_gmime.h) */
    if (pd_gmime_load(err, sizeof err) < 0) {
        pd_log(PD_LOG_ERR, "%s", err);
        if (!foreground)
            fprintf(stderr, "patchdigest-milter: %s\n", err);
        return 1;
    }

    if (!foreground && daemon(0, 0) < 0) {
        pd_log(PD_LOG_ERR, "cannot become a daemon: %s", strerror(errno));
        return 1;
    }
    /* the socket is made with SocketMode from the start, then set exactly */
    umask((mode_t)(~boot->socket_mode & 0777));
    struct pd_milterproto *mp;
    if (pd_milterproto_listen(&mp, boot->socket, err, sizeof err) < 0) {
        pd_log(PD_LOG_ERR, "%s", err);
        return 1;
    }
    umask(007);
    if (socket_permissions() < 0)
        return stop_early(mp);
    if (!foreground && write_pidfile(boot->pid_file) < 0)
        pd_log(PD_LOG_WARNING, "cannot write PidFile %s: %s", boot->pid_file, strerror(errno));
    if (boot->user && drop_privileges(boot->user) < 0)
        return stop_early(mp);
    /* A journal beyond RLIMIT_FSIZE must fail its write, not kill the daemon. */
    signal(SIGXFSZ, SIG_IGN);
    struct pd_journal *journal = NULL;
    if (pd_journal_open(&journal, boot->journal_dir, err, sizeof err) < 0)
        pd_log(PD_LOG_ERR, "%s; mail is recorded directly to Redis until it can be opened "
               "(tried every 10 s)", err);
    started = (int64_t)time(NULL);
    /* Every thread but this one blocks SIGHUP, SIGTERM and SIGINT (they
     * inherit the mask), so the kernel hands those signals to this thread,
     * the one that handles them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (setup_signals() < 0) {
        pd_log(PD_LOG_ERR, "cannot set up signal handling: %s", strerror(errno));
        return stop_early(mp);
    }
    if (pd_writer_start(&writer, boot, journal) < 0) {
        pd_log(PD_LOG_ERR, "cannot start the writer thread: %s", strerror(errno));
        return stop_early(mp);
    }
    pthread_t status_thread;
    int e = pthread_create(&status_thread, NULL, status_main, NULL);
    if (e) {
        pd_log(PD_LOG_ERR, "cannot start the status thread: %s", strerror(e));
        return stop_early(mp);
    }
    if (pd_milterproto_start(mp, &ops, NULL, serving_threads()) < 0) {
        pd_log(PD_LOG_ERR, "cannot start the milter threads: %s", strerror(errno));
        return stop_early(mp);
    }
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    pd_log(PD_LOG_NOTICE, "patchdigest-milter %s listening on %s, %zu list(s), journal %s",
           PD_VERSION, boot->socket, boot->nlists, boot->journal_dir);

    signal_loop(conf);
    drain_mails();
    /* no connection is served from here on: the MTA applies its default
     * action to a mail still in progress (after DRAIN_MAILS_S) */
    pd_milterproto_stop(mp);
    pd_log(PD_LOG_NOTICE, "stopping: shipping the journal to Redis");
    pthread_mutex_lock(&status_mu);
    status_stop = true;
    pthread_cond_signal(&status_cond);
    pthread_mutex_unlock(&status_mu);
    pthread_join(status_thread, NULL);
    struct pd_journal *journal_now = pd_writer_journal(writer);
    pd_writer_stop(writer, DRAIN_JOURNAL_MS);
    write_status();
    struct pd_writer_stats ws;
    pd_writer_get_stats(writer, &ws);
    pd_log(ws.journal.backlog_records ? PD_LOG_WARNING : PD_LOG_NOTICE,
           "stopped: %lu mails seen, %lu records, %lu ignored, %lu truncated, %lu malformed, "
           "%lu journal errors, %lu own digests; %llu records (%llu bytes) left in the journal%s",
           atomic_load(&n_mails), atomic_load(&n_recorded), atomic_load(&n_ignored),
           atomic_load(&n_truncated), atomic_load(&n_parse_failed),
           atomic_load(&n_journal_errors), atomic_load(&n_own_digests),
           (unsigned long long)ws.journal.backlog_records,
           (unsigned long long)ws.journal.backlog_bytes,
           ws.journal.backlog_records ? " (shipped at the next start)" : "");
    /* The writer (stopped, not freed), the journal and the configuration
     * are left as they are until exit.  The journal is synced, so nothing
     * written is lost. */
    if (journal_now)
        pd_journal_sync(journal_now);
    pd_milterproto_free(mp);   /* removes a unix socket */
    if (!foreground)
        unlink(boot->pid_file);
    return 0;
}
