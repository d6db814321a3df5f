/*
 * milterproto.c - the milter protocol, served (include/pd_milterproto.h).
 *
 *   pd_milterproto_listen(&mp, spec, err, errlen);
 *   pd_milterproto_start(mp, &ops, arg, threads);
 *   ...
 *   pd_milterproto_stop(mp);
 *   pd_milterproto_free(mp);
 *
 * A packet is a 32-bit length (network order, counting the command byte),
 * a command byte and its data.  The MTA sends commands; the milter answers
 * those that want an answer with a packet of its own: 'c' (continue) to a
 * step it did not negotiate away or took no "no reply" flag for, 'O' to
 * the option negotiation, 'a' (accept) at end of body.  Macros ('D') come
 * before the step they belong to and are never answered.
 *
 * The threads share one epoll set: the listening socket, an eventfd that
 * says stop, and the connections.  The socket and the connections are
 * armed one-shot: the thread that gets a connection's event reads what
 * has come (as much as its buffer takes), handles every whole packet in
 * it, and arms the connection again; so no two threads ever hold one
 * connection, and its packets are handled in the order they came.  The
 * list of open connections (for the stop) has a lock, taken only when a
 * connection opens or closes.
 *
 * Every error path closes only its own connection.
 */
#include "pd_milterproto.h"

#include "pd_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The protocol's values (libmilter's mfdef.h, which this file does not need). */
#define PROT_VERSION 6
#define PROT_VERSION_MIN 2
#define P_NOCONNECT 0x1UL
#define P_NOHELO 0x2UL
#define P_NOMAIL 0x4UL
#define P_NOEOH 0x40UL
#define P_NR_HDR 0x80UL
#define P_NOUNKNOWN 0x100UL
#define P_NODATA 0x200UL
#define P_NR_CONN 0x1000UL
#define P_NR_HELO 0x2000UL
#define P_NR_MAIL 0x4000UL
#define P_NR_RCPT 0x8000UL
#define P_NR_DATA 0x10000UL
#define P_NR_UNKN 0x20000UL
#define P_NR_EOH 0x40000UL
#define P_NR_BODY 0x80000UL
#define P_HDR_LEADSPC 0x100000UL

/* What the filter asks of the MTA (what the MTA offers of it). */
#define P_WANT (P_NOCONNECT | P_NOHELO | P_NOMAIL | P_NOUNKNOWN | P_NODATA | P_NOEOH |  \
                P_NR_HDR | P_NR_BODY | P_NR_RCPT | P_HDR_LEADSPC | P_NR_CONN | P_NR_HELO | \
                P_NR_MAIL | P_NR_DATA | P_NR_UNKN | P_NR_EOH)

#define READ_MIN 16384            /* room a read gets at least */
#define KEEP_MAX 65536            /* an idle connection keeps a buffer up to this */
#define WRITE_WAIT_MS 1000        /* a reply the MTA does not read (its socket buffer full
                                     of unread replies) closes the connection */
#define ACCEPT_BURST 64           /* connections accepted per wake-up at most */
/* a connection's buffer at most: a whole packet begun and a read's room */
#define BUF_MAX (4 + PD_MILTERPROTO_MAX_PACKET + READ_MIN)

struct mconn {
    int fd;
    atomic_llong active;          /* unix time of the last bytes read (the idle sweep) */
    void *state;                  /* the filter's (ops->open) */
    unsigned long pflags;         /* negotiated protocol flags */
    unsigned char *buf;           /* bytes read and not yet handled: [0, len) */
    size_t len, cap;
    char *qid_conn, *qid_mail;    /* macro i, sent at a connection step, at a mail step */
    struct mconn *prev, *next;    /* the open connections */
};

struct pd_milterproto {
    int lfd, efd, stopfd;
    char *unix_path;              /* removed at free */
    const struct pd_milterproto_ops *ops;
    void *arg;
    pthread_t *threads;
    unsigned nthreads;
    pthread_mutex_t mu;           /* the list below, the counts, the sweep's time */
    struct mconn *conns;
    unsigned long accepted, open;
    int idle_s;                   /* a connection silent this long is closed */
    time_t swept;                 /* the last idle sweep */
    dev_t unix_dev;               /* the socket file made, removed at free if still ours */
    ino_t unix_ino;
    /* the tags of the epoll set's two fds that are not connections */
    char tag_listen, tag_stop;
};

/* ---- the listening socket ---- */

static int listen_unix(struct pd_milterproto *mp, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof sun.sun_path) {
        snprintf(err, errlen, "socket path %s: too long for a unix socket", path);
        return -1;
    }
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, len + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        if (unlink(path) < 0) {
            snprintf(err, errlen, "cannot remove the old socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!(mp->unix_path = strdup(path)) || lstat(path, &st) < 0) {
        snprintf(err, errlen, mp->unix_path ? "%s: %s" : "out of memory", path,
                 strerror(errno));
        close(fd);
        unlink(path);
        free(mp->unix_path);
        mp->unix_path = NULL;
        return -1;
    }
    mp->unix_dev = st.st_dev;
    mp->unix_ino = st.st_ino;
    mp->lfd = fd;
    return 0;
}

static int listen_inet(struct pd_milterproto *mp, const char *spec, int family, char *err,
                       size_t errlen)
{
    const char *rest = strchr(spec, ':') + 1;
    const char *at = strchr(rest, '@');
    char port[16], host[256];
    size_t plen = at ? (size_t)(at - rest) : strlen(rest);
    if (plen == 0 || plen >= sizeof port) {
        snprintf(err, errlen, "Socket %s: bad port", spec);
        return -1;
    }
    memcpy(port, rest, plen);
    port[plen] = '\0';
    const char *h = NULL;
    if (at) {
        size_t hlen = strlen(at + 1);
        if (hlen >= sizeof host) {
            snprintf(err, errlen, "Socket %s: host name too long", spec);
            return -1;
        }
        memcpy(host, at + 1, hlen + 1);
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
            memmove(host, host + 1, hlen - 2);
            host[hlen - 2] = '\0';
        }
        h = host;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int e = getaddrinfo(h, port, &hints, &ai);
    if (e != 0) {
        snprintf(err, errlen, "Socket %s: %s", spec, gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    mp->lfd = fd;
    return 0;
}

int pd_milterproto_listen(struct pd_milterproto **out, const char *spec, char *err,
                          size_t errlen)
{
    *out = NULL;
    struct pd_milterproto *mp = calloc(1, sizeof *mp);
    if (!mp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mp->lfd = mp->efd = mp->stopfd = -1;
    mp->idle_s = PD_MILTERPROTO_IDLE_S;
    if (pthread_mutex_init(&mp->mu, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        free(mp);
        return -1;
    }
    int rc;
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)
        rc = listen_unix(mp, strchr(spec, ':') + 1, err, errlen);
    else if (spec[0] == '/')
        rc = listen_unix(mp, spec, err, errlen);
    else if (strncmp(spec, "inet:", 5) == 0)
        rc = listen_inet(mp, spec, AF_INET, err, errlen);
    else if (strncmp(spec, "inet6:", 6) == 0)
        rc = listen_inet(mp, spec, AF_INET6, err, errlen);
    else {
        snprintf(err, errlen, "Socket %s: must be unix:/path or inet:port@host", spec);
        rc = -1;
    }
    if (rc < 0) {
        pd_milterproto_free(mp);
        return -1;
    }
    *out = mp;
    return 0;
}

/* ---- a connection ---- */

static void conn_close(struct pd_milterproto *mp, struct mconn *c)
{
    if (c->state)
        mp->ops->close(c->state);
    /* out of the list before its fd is closed: the idle sweep, which
     * shuts down listed connections' fds, never meets a reused number */
    pthread_mutex_lock(&mp->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        mp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mp->open--;
    pthread_mutex_unlock(&mp->mu);
    close(c->fd);
    free(c->buf);
    free(c->qid_conn);
    free(c->qid_mail);
    free(c);
}

/* Write one reply packet; 0, or -1 (the connection is to be closed). */
static int reply(struct mconn *c, char cmd, const void *data, size_t len)
{
    unsigned char pkt[5 + 12];
    if (len > sizeof pkt - 5)
        return -1;
    uint32_t n = htonl((uint32_t)(len + 1));
    memcpy(pkt, &n, 4);
    pkt[4] = (unsigned char)cmd;
    if (len)
        memcpy(pkt + 5, data, len);
    size_t off = 0, total = len + 5;
    while (off < total) {
        ssize_t w = send(c->fd, pkt + off, total - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = c->fd, .events = POLLOUT };
            int r = poll(&p, 1, WRITE_WAIT_MS);
            if (r > 0 || (r < 0 && errno == EINTR))
                continue;
            pd_log(PD_LOG_WARNING, "milter connection: the MTA reads no reply for %d s; "
                   "closing it", WRITE_WAIT_MS / 1000);
        }
        return -1;
    }
    return 0;
}

/* Answer continue to a step unless the MTA agreed to no reply for it. */
static int cont(struct mconn *c, unsigned long nr_flag)
{
    return (c->pflags & nr_flag) ? 0 : reply(c, 'c', NULL, 0);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

static int optneg(struct mconn *c, const unsigned char *d, size_t len)
{
    if (len < 12) {
        pd_log(PD_LOG_WARNING, "milter connection: option negotiation of %zu bytes; closing "
               "it", len);
        return -1;
    }
    uint32_t version = get32(d), protocol = get32(d + 8);
    if (version < PROT_VERSION_MIN) {
        pd_log(PD_LOG_WARNING, "milter connection: the MTA speaks milter protocol version %u, "
               "below %d; closing it", (unsigned)version, PROT_VERSION_MIN);
        return -1;
    }
    c->pflags = protocol & P_WANT;
    unsigned char out[12];
    uint32_t v[3] = { htonl(version < PROT_VERSION ? version : PROT_VERSION), 0,
                      htonl((uint32_t)c->pflags) };
    memcpy(out, v, sizeof out);
    return reply(c, 'O', out, sizeof out);
}

/* Macros: the first byte is the step they belong to, then NUL-ended
 * name/value pairs.  Only the queue id (i, or {i}) is kept. */
static void macros(struct mconn *c, const unsigned char *d, size_t len)
{
    if (len < 1)
        return;
    bool conn_step = d[0] == 'C' || d[0] == 'H';
    const char *p = (const char *)d + 1, *end = (const char *)d + len;
    while (p < end) {
        const char *name_end = memchr(p, '\0', (size_t)(end - p));
        if (!name_end)
            return;
        const char *val = name_end + 1;
        const char *val_end = val < end ? memchr(val, '\0', (size_t)(end - val)) : NULL;
        if (!val_end)
            return;
        if (strcmp(p, "i") == 0 || strcmp(p, "{i}") == 0) {
            char **slot = conn_step ? &c->qid_conn : &c->qid_mail;
            free(*slot);
            *slot = *val ? strdup(val) : NULL;   /* none when out of memory */
        }
        p = val_end + 1;
    }
}

static void mail_done(struct mconn *c)
{
    free(c->qid_mail);
    c->qid_mail = NULL;
}

/* One packet: 0 go on, -1 close the connection. */
static int packet(struct pd_milterproto *mp, struct mconn *c, char cmd, unsigned char *d,
                  size_t len)
{
    const struct pd_milterproto_ops *ops = mp->ops;
    switch (cmd) {
    case 'O':
        return optneg(c, d, len);
    case 'D':
        macros(c, d, len);
        return 0;
    case 'C':
        return cont(c, P_NR_CONN);
    case 'H':
        return cont(c, P_NR_HELO);
    case 'M':
        return cont(c, P_NR_MAIL);
    case 'T':
        return cont(c, P_NR_DATA);
    case 'U':
        return cont(c, P_NR_UNKN);
    case 'N':
        return cont(c, P_NR_EOH);
    case 'R':
        if (len == 0 || d[len - 1] != '\0') {
            pd_log(PD_LOG_WARNING, "milter connection: a recipient packet without its NUL; "
                   "closing it");
            return -1;
        }
        ops->rcpt(c->state, (const char *)d);
        return cont(c, P_NR_RCPT);
    case 'L': {
        const unsigned char *nul = len ? memchr(d, '\0', len) : NULL;
        if (!nul || nul == d || d[len - 1] != '\0' || nul == d + len - 1) {
            pd_log(PD_LOG_WARNING, "milter connection: a header packet without its name or "
                   "NULs; closing it");
            return -1;
        }
        ops->header(c->state, (const char *)d, (const char *)nul + 1,
                    (c->pflags & P_HDR_LEADSPC) != 0);
        return cont(c, P_NR_HDR);
    }
    case 'B':
        ops->body(c->state, d, len);
        return cont(c, P_NR_BODY);
    case 'E': {
        if (len)
            ops->body(c->state, d, len);
        ops->eom(c->state, c->qid_mail ? c->qid_mail : c->qid_conn);
        mail_done(c);
        return reply(c, 'a', NULL, 0);
    }
    case 'A':
        ops->abort(c->state);
        mail_done(c);
        return 0;
    case 'K':   /* quit, and a new connection follows on this socket */
        ops->abort(c->state);
        mail_done(c);
        free(c->qid_conn);
        c->qid_conn = NULL;
        return 0;
    case 'Q':
        return -1;
    default:
        pd_log(PD_LOG_WARNING, "milter connection: unknown command 0x%02x; closing it",
               (unsigned)(unsigned char)cmd);
        return -1;
    }
}

/* Handle every whole packet in the buffer; keep the rest at its start.
 * 0, or -1 to close. */
static int handle(struct pd_milterproto *mp, struct mconn *c)
{
    size_t off = 0;
    while (c->len - off >= 4) {
        uint32_t n = get32(c->buf + off);
        if (n == 0 || n > PD_MILTERPROTO_MAX_PACKET) {
            pd_log(PD_LOG_WARNING, "milter connection: a packet of %lu bytes (at most %d); "
                   "closing it", (unsigned long)n, PD_MILTERPROTO_MAX_PACKET);
            return -1;
        }
        if (c->len - off - 4 < n)
            break;
        unsigned char *p = c->buf + off;
        off += 4 + (size_t)n;
        if (packet(mp, c, (char)p[4], p + 5, n - 1) < 0)
            return -1;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return 0;
}

/* Make room for at least READ_MIN more bytes, and for the whole of a
 * packet begun.  0, or -1 out of memory (or a packet too big: handle()
 * says which when it sees the length). */
static int room(struct mconn *c)
{
    size_t need = c->len + READ_MIN;
    if (c->len >= 4) {
        size_t whole = 4 + (size_t)get32(c->buf);
        if (whole <= 4 + PD_MILTERPROTO_MAX_PACKET && whole > need)
            need = whole;
    }
    if (need <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : READ_MIN * 2;
    while (cap < need)
        cap *= 2;
    if (cap > BUF_MAX)
        cap = need > BUF_MAX ? need : BUF_MAX;
    unsigned char *nb = realloc(c->buf, cap);
    if (!nb)
        return -1;
    c->buf = nb;
    c->cap = cap;
    return 0;
}

/* The connection is readable: read what has come, handle it.  0 to arm
 * it again, -1 to close it. */
static int serve(struct pd_milterproto *mp, struct mconn *c)
{
    for (;;) {
        if (room(c) < 0) {
            pd_log(PD_LOG_ERR, "milter connection: out of memory; closing it");
            return -1;
        }
        size_t want = c->cap - c->len;
        ssize_t n = read(c->fd, c->buf + c->len, want);
        if (n > 0) {
            c->len += (size_t)n;
            atomic_store_explicit(&c->active, (long long)time(NULL), memory_order_relaxed);
            if (handle(mp, c) < 0)
                return -1;
            if ((size_t)n < want)
                break;
            continue;
        }
        if (n == 0)
            return -1;   /* the MTA closed it; a packet cut off is dropped */
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return -1;
    }
    if (c->len == 0 && c->cap > KEEP_MAX) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    return 0;
}

/* Arm fd for one event.  0, or -1 (logged; ENOMEM is all epoll_ctl can
 * give here). */
static int arm(struct pd_milterproto *mp, int fd, void *tag, int op)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = tag };
    if (epoll_ctl(mp->efd, op, fd, &ev) == 0)
        return 0;
    pd_log(PD_LOG_ERR, "epoll_ctl: %s", strerror(errno));
    return -1;
}

/* How often the idle sweep runs, in seconds: once a minute, and every
 * second for an idle timeout under a minute (the tests'). */
static int sweep_every_s(const struct pd_milterproto *mp)
{
    return mp->idle_s < 60 ? 1 : 60;
}

/* Connections silent for idle_s are shut down (their thread then reads
 * the end and closes them): a half-open TCP connection, or an MTA that
 * went away mid-mail, would otherwise be kept for ever (libmilter's
 * default is the same 7210 s).  Once a minute at most, by whichever
 * thread finds its wait timed out. */
static void sweep_idle(struct pd_milterproto *mp)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&mp->mu);
    if (now - mp->swept >= sweep_every_s(mp)) {
        mp->swept = now;
        for (struct mconn *c = mp->conns; c; c = c->next) {
            long long t = atomic_load_explicit(&c->active, memory_order_relaxed);
            if (now - t >= mp->idle_s) {
                pd_log(PD_LOG_WARNING, "milter connection: nothing from the MTA for %d s; "
                       "closing it", mp->idle_s);
                shutdown(c->fd, SHUT_RDWR);
                atomic_store_explicit(&c->active, (long long)now, memory_order_relaxed);
            }
        }
    }
    pthread_mutex_unlock(&mp->mu);
}

static void accept_some(struct pd_milterproto *mp)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(mp->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* accept(2): errors of the connection, not of the socket */
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
                errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN ||
                errno == EHOSTUNREACH || errno == ENETUNREACH || errno == EOPNOTSUPP)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                static time_t said;
                time_t now = time(NULL);
                if (now != said)
                    pd_log(PD_LOG_ERR, "accepting a milter connection: %s", strerror(errno));
                said = now;
                usleep(50 * 1000);   /* out of files, most likely: let some close */
            }
            break;
        }
        struct mconn *c = calloc(1, sizeof *c);
        if (c) {
            c->fd = fd;
            atomic_init(&c->active, (long long)time(NULL));
        }
        if (!c || !(c->state = mp->ops->open(mp->arg))) {
            pd_log(PD_LOG_ERR, "milter connection: out of memory; closing it");
            free(c);
            close(fd);
            continue;
        }
        pthread_mutex_lock(&mp->mu);
        c->next = mp->conns;
        if (mp->conns)
            mp->conns->prev = c;
        mp->conns = c;
        mp->accepted++;
        mp->open++;
        pthread_mutex_unlock(&mp->mu);
        if (arm(mp, fd, c, EPOLL_CTL_ADD) < 0)
            conn_close(mp, c);
    }
    /* not armed again, no connection would ever be taken: try until it is */
    while (arm(mp, mp->lfd, &mp->tag_listen, EPOLL_CTL_MOD) < 0)
        usleep(100 * 1000);
}

static void *worker(void *arg)
{
    struct pd_milterproto *mp = arg;
    for (;;) {
        struct epoll_event ev;
        int n = epoll_wait(mp->efd, &ev, 1, sweep_every_s(mp) * 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            pd_log(PD_LOG_ERR, "epoll_wait: %s; a milter thread stops", strerror(errno));
            return NULL;
        }
        if (n == 0) {
            sweep_idle(mp);
            continue;
        }
        if (ev.data.ptr == &mp->tag_stop)
            return NULL;   /* level-triggered: every thread sees it */
        if (ev.data.ptr == &mp->tag_listen) {
            accept_some(mp);
            continue;
        }
        struct mconn *c = ev.data.ptr;
        if (serve(mp, c) < 0 || arm(mp, c->fd, c, EPOLL_CTL_MOD) < 0)
            conn_close(mp, c);
    }
}

int pd_milterproto_start(struct pd_milterproto *mp, const struct pd_milterproto_ops *ops,
                         void *arg, unsigned threads)
{
    mp->ops = ops;
    mp->arg = arg;
    if (threads < 1)
        threads = 1;
    if ((mp->efd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (mp->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return -1;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &mp->tag_stop };
    if (epoll_ctl(mp->efd, EPOLL_CTL_ADD, mp->stopfd, &ev) < 0)
        return -1;
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = &mp->tag_listen;
    if (epoll_ctl(mp->efd, EPOLL_CTL_ADD, mp->lfd, &ev) < 0)
        return -1;
    if (!(mp->threads = calloc(threads, sizeof *mp->threads)))
        return -1;
    for (unsigned i = 0; i < threads; i++) {
        int e = pthread_create(&mp->threads[i], NULL, worker, mp);
        if (e) {
            errno = e;
            pd_milterproto_stop(mp);
            return -1;
        }
        mp->nthreads++;
    }
    return 0;
}

void pd_milterproto_stop(struct pd_milterproto *mp)
{
    if (!mp || mp->stopfd < 0)
        return;
    uint64_t one = 1;
    if (write(mp->stopfd, &one, sizeof one) < 0)
        pd_log(PD_LOG_ERR, "cannot stop the milter threads: %s", strerror(errno));
    for (unsigned i = 0; i < mp->nthreads; i++)
        pthread_join(mp->threads[i], NULL);
    mp->nthreads = 0;
    if (mp->lfd >= 0) {
        close(mp->lfd);
        mp->lfd = -1;
    }
    /* no thread runs now: the connections are this thread's alone */
    while (mp->conns)
        conn_close(mp, mp->conns);
}

void pd_milterproto_set_idle(struct pd_milterproto *mp, int seconds)
{
    mp->idle_s = seconds > 0 ? seconds : 1;
}

void pd_milterproto_counts(struct pd_milterproto *mp, unsigned long *accepted,
                           unsigned long *open)
{
    pthread_mutex_lock(&mp->mu);
    *accepted = mp->accepted;
    *open = mp->open;
    pthread_mutex_unlock(&mp->mu);
}

void pd_milterproto_free(struct pd_milterproto *mp)
{
    if (!mp)
        return;
    pd_milterproto_stop(mp);
    if (mp->lfd >= 0)
        close(mp->lfd);
    if (mp->efd >= 0)
        close(mp->efd);
    if (mp->stopfd >= 0)
        close(mp->stopfd);
    struct stat st;
    if (mp->unix_path && lstat(mp->unix_path, &st) == 0 && st.st_dev == mp->unix_dev &&
        st.st_ino == mp->unix_ino)
        unlink(mp->unix_path);   /* still ours, not a later milter's */
    free(mp->unix_path);
    free(mp->threads);
    pthread_mutex_destroy(&mp->mu);
    free(mp);
}
