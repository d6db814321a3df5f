/*
 * feeder.c -- standalone MTA-side milter protocol client for testing.
 *
 * Plays the MTA side of the Sendmail milter protocol (version 6, the way
 * Postfix speaks it) and feeds mail files to a milter.  It does not use
 * libmilter; only the protocol constants come from <libmilter/mfdef.h>.
 *
 * usage: feeder -s SOCKET [-j CONNECTIONS] [-m MAILS_PER_CONNECTION]
 *               [-r RCPT]... [-t TIMEOUT_SECONDS] [-R RETRIES] [-p PACE_MS]
 *               [-q] [-v] [-A] [-o RESULTS_FILE] FILE... | -l LISTFILE
 *
 * Wire format: every packet is a 4-byte big-endian length (counting the
 * command byte and the data), a 1-byte command, then the data.
 *
 * Files are handed out one at a time to -j worker threads.  Each worker
 * keeps one milter connection for up to -m mails (OPTNEG, CONNECT and HELO
 * once, then MAIL .. BODYEOB per mail, QUIT at the end), honouring exactly
 * what the milter negotiated away (SMFIP_NO*) and which replies it asked
 * not to send (SMFIP_NR_*).  Macros are sent for every stage, even a
 * skipped one, as Postfix does.  A mail whose connection fails (refused,
 * EOF, timeout, protocol error) is retried on a new connection after
 * 200 ms, up to -R times; each attempt gets a new queue id ("i" macro).
 * With -p, each worker pauses PACE_MS milliseconds after each mail, so that
 * a fault a test injects lands while mail is still flowing.
 *
 * Output: with -o, one "FILE<TAB>RESULT<TAB>LATENCY_US<TAB>ATTEMPTS" line
 * per mail, in input order; RESULT is accept, continue, reject, discard,
 * tempfail, noanswer or modified.  LATENCY_US is measured from sending the
 * command that got the deciding reply (normally BODYEOB) to that reply.
 * stdout gets exactly one summary line:
 *   fed N answered N accepted N late N noanswer N max_latency_ms X
 *   p50_ms X p99_ms X mps X
 * ("accepted" counts accept and continue; "late" counts answers slower
 * than 1000 ms).  Exit status: 0 if every mail was answered accept or
 * continue, 1 otherwise, 2 on usage errors.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -pthread \
 *           tests/feeder.c -o build/feeder
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <libmilter/mfdef.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Constants                                                                */

#define PROG "feeder"

/* What we offer in SMFIC_OPTNEG: everything Postfix offers. */
#define OFFER_VERSION 6u
#define OFFER_ACTIONS ((uint32_t)SMFI_CURR_ACTS) /* 0x1FF */
#define OFFER_PROTO                                                         \
    ((uint32_t)(SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL |             \
                SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH |  \
                SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA |             \
                SMFIP_SKIP | SMFIP_RCPT_REJ | SMFIP_NR_CONN |               \
                SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |             \
                SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH |              \
                SMFIP_NR_BODY | SMFIP_HDR_LEADSPC))

#define DEFAULT_SENDER_ADDR "sender@example.org"
#define DEFAULT_RCPT "<list@example.org>"
#define MAX_ADDR_LEN 254                         /* RFC 5321 path limit */
#define MAX_REPLY_LEN (4u * 1024u * 1024u)       /* > MILTER_MDS_1M */
#define MAX_MAIL_SIZE ((size_t)256 * 1024 * 1024) /* refuse bigger files */
#define MAX_JOBS 4096ul
#define RETRY_DELAY_NS 200000000L                /* 200 ms */
#define LATE_US 1000000                          /* "late": > 1000 ms */

/* What the fake SMTP client looks like. */
#define CONNECT_HOST "localhost"
#define CONNECT_ADDR "127.0.0.1"
#define CONNECT_PORT 25
#define HELO_NAME "localhost"

enum result {
    RES_NONE = 0,
    RES_ACCEPT,
    RES_CONTINUE,
    RES_REJECT,
    RES_DISCARD,
    RES_TEMPFAIL,
    RES_NOANSWER,
    RES_MODIFIED
};

static const char *const result_name[] = {
    "none",     "accept",   "continue", "reject",
    "discard",  "tempfail", "noanswer", "modified",
};

struct result_rec {
    enum result res;
    int64_t lat_us;
    unsigned attempts;
};

/* ------------------------------------------------------------------------ */
/* Configuration and shared state                                           */

static struct {
    const char *spec;                 /* -s as given */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int is_inet;
    unsigned long jobs;               /* -j */
    unsigned long per_conn;           /* -m */
    unsigned long retries;            /* -R */
    int64_t timeout_us;               /* -t */
    int quiet;                        /* -q */
    int verbose;                      /* -v */
    int abort_after_mail;             /* -A */
    unsigned long pace_ms;            /* -p: pause of each worker after each mail */
    char **rcpts;                     /* "<addr>" as sent in SMFIC_RCPT */
    char **rcpt_addrs;                /* addr without brackets (macro) */
    size_t nrcpts;
} cfg;

static char **g_files;
static size_t g_nfiles, g_files_cap;
static struct result_rec *g_results;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t g_next;                 /* next file index, under g_mu */
static atomic_ullong g_qid;           /* queue id counter */

/* ------------------------------------------------------------------------ */
/* Small utilities                                                          */

static void errmsg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* One fprintf per line keeps lines from different threads whole. */
    (void)fprintf(stderr, PROG ": %s\n", line);
}

#define NOTE(...)                \
    do {                         \
        if (!cfg.quiet)          \
            errmsg(__VA_ARGS__); \
    } while (0)
#define VERBOSE(...)             \
    do {                         \
        if (cfg.verbose)         \
            errmsg(__VA_ARGS__); \
    } while (0)

static const char *errstr(int e, char *buf, size_t len)
{
    /* GNU strerror_r: thread-safe, returns a pointer to the message. */
    return strerror_r(e, buf, len);
}

static int64_t now_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        errmsg("clock_gettime(CLOCK_MONOTONIC) failed");
        abort();
    }
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR)
            return;
    }
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int printable_cmd(int c)
{
    return (c > 0x20 && c < 0x7f) ? c : '?';
}

/* Growable byte buffer.  Errors are sticky (oom) and checked by the user. */
struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static int buf_reserve(struct buf *b, size_t extra)
{
    size_t need, nc;
    char *np;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    nc = b->cap ? b->cap : 256;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) {
            nc = need;
            break;
        }
        nc *= 2;
    }
    np = realloc(b->p, nc);
    if (np == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = nc;
    return 0;
}

static void buf_add(struct buf *b, const void *d, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_addc(struct buf *b, char c)
{
    buf_add(b, &c, 1);
}

/* Add a C string including its terminating NUL. */
static void buf_adds0(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s) + 1);
}

static void buf_reset(struct buf *b)
{
    b->len = 0;
    b->oom = 0;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

struct hdr {
    size_t name_off, name_len; /* in msg.raw */
    size_t val_off, val_len;   /* in msg.vals; raw value, CRs removed */
};

struct msg {
    char *raw;
    size_t rawlen;
    struct hdr *hdrs;
    size_t nhdrs, hcap;
    struct buf vals;                  /* header values, concatenated */
    struct buf body;                  /* body converted to CRLF */
    char sender_addr[MAX_ADDR_LEN + 1];
    char sender[MAX_ADDR_LEN + 3];    /* "<addr>" */
};

static void msg_free(struct msg *m)
{
    free(m->raw);
    free(m->hdrs);
    buf_free(&m->vals);
    buf_free(&m->body);
    memset(m, 0, sizeof *m);
}

static int read_whole_file(const char *path, char **out, size_t *outlen,
                           char *err, size_t errlen)
{
    char eb[128];
    struct stat st;
    size_t cap, len = 0;
    char *p, *np;
    int fd, e;

    *out = NULL;
    *outlen = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        (void)snprintf(err, errlen, "open: %s", errstr(e, eb, sizeof eb));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        (void)snprintf(err, errlen, "fstat: %s", errstr(e, eb, sizeof eb));
        (void)close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        (void)snprintf(err, errlen, "is a directory");
        (void)close(fd);
        return -1;
    }
    cap = 4096;
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((unsigned long long)st.st_size > MAX_MAIL_SIZE) {
            (void)snprintf(err, errlen, "file too large (%lld bytes)",
                           (long long)st.st_size);
            (void)close(fd);
            return -1;
        }
        cap = (size_t)st.st_size + 1; /* +1: detect growth without realloc */
    }
    p = malloc(cap);
    if (p == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        (void)close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r;

        if (len == cap) {
            if (cap >= MAX_MAIL_SIZE) {
                (void)snprintf(err, errlen, "file too large");
                free(p);
                (void)close(fd);
                return -1;
            }
            cap = cap * 2 > MAX_MAIL_SIZE ? MAX_MAIL_SIZE : cap * 2;
            np = realloc(p, cap);
            if (np == NULL) {
                (void)snprintf(err, errlen, "out of memory");
                free(p);
                (void)close(fd);
                return -1;
            }
            p = np;
        }
        r = read(fd, p + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            (void)snprintf(err, errlen, "read: %s", errstr(e, eb, sizeof eb));
            free(p);
            (void)close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (close(fd) != 0) {
        e = errno;
        (void)snprintf(err, errlen, "close: %s", errstr(e, eb, sizeof eb));
        free(p);
        return -1;
    }
    *out = p;
    *outlen = len;
    return 0;
}

static int is_ftext(unsigned char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

static int addr_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("<>()\\,;\"", c) == NULL;
}

/* Validate an address candidate and store "<addr>" in the message. */
static int set_sender(struct msg *m, const char *a, size_t n)
{
    size_t i, at = 0, nat = 0;

    if (n < 3 || n > MAX_ADDR_LEN)
        return -1;
    for (i = 0; i < n; i++) {
        if (!addr_char_ok((unsigned char)a[i]))
            return -1;
        if (a[i] == '@') {
            nat++;
            at = i;
        }
    }
    if (nat != 1 || at == 0 || at == n - 1)
        return -1;
    memcpy(m->sender_addr, a, n);
    m->sender_addr[n] = '\0';
    return 0;
}

/*
 * Take the sender address from a From: header value: the first <...>
 * outside quoted strings and comments, else the first bare token with an
 * '@'.  Returns 0 when a plausible address was found.
 */
static int sender_from_header(struct msg *m, const char *v, size_t n)
{
    size_t i;
    int inq = 0, depth = 0;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];

        if (inq) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                inq = 0;
            continue;
        }
        if (depth > 0) {
            if (ch == '\\')
                i++;
            else if (ch == '(')
                depth++;
            else if (ch == ')')
                depth--;
            continue;
        }
        if (ch == '"') {
            inq = 1;
        } else if (ch == '(') {
            depth = 1;
        } else if (ch == '<') {
            const char *s = v + i + 1;
            const char *e = memchr(s, '>', n - i - 1);

            if (e == NULL)
                return -1;
            return set_sender(m, s, (size_t)(e - s));
        }
    }
    /* No angle brackets: look for a bare addr-spec token. */
    inq = depth = 0;
    for (i = 0; i < n;) {
        unsigned char ch = (unsigned char)v[i];

        if (inq) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                inq = 0;
            i++;
            continue;
        }
        if (depth > 0) {
            if (ch == '\\')
                i++;
            else if (ch == '(')
                depth++;
            else if (ch == ')')
                depth--;
            i++;
            continue;
        }
        if (ch == '"') {
            inq = 1;
            i++;
        } else if (ch == '(') {
            depth = 1;
            i++;
        } else if (isspace(ch) || ch == ',') {
            i++;
        } else {
            size_t s = i;

            while (i < n && !isspace((unsigned char)v[i]) && v[i] != ',' &&
                   v[i] != '"' && v[i] != '(')
                i++;
            if (memchr(v + s, '@', i - s) != NULL)
                return set_sender(m, v + s, i - s);
        }
    }
    return -1;
}

static int msg_add_hdr(struct msg *m, size_t name_off, size_t name_len)
{
    if (m->nhdrs == m->hcap) {
        size_t nc = m->hcap ? m->hcap * 2 : 32;
        struct hdr *nh;

        if (nc > SIZE_MAX / sizeof *nh)
            return -1;
        nh = realloc(m->hdrs, nc * sizeof *nh);
        if (nh == NULL)
            return -1;
        m->hdrs = nh;
        m->hcap = nc;
    }
    m->hdrs[m->nhdrs].name_off = name_off;
    m->hdrs[m->nhdrs].name_len = name_len;
    m->hdrs[m->nhdrs].val_off = m->vals.len;
    m->hdrs[m->nhdrs].val_len = 0;
    m->nhdrs++;
    return 0;
}

/*
 * Load and parse one mail file.  Header values are stored exactly as
 * received (leading whitespace kept, continuation lines joined with "\n",
 * line-ending CRs removed); the body is converted to CRLF line endings.
 */
static int msg_load(const char *path, struct msg *m, char *err, size_t errlen)
{
    const char *p, *end, *body;
    size_t i, extra, blen;
    int have_cur = 0;

    memset(m, 0, sizeof *m);
    if (read_whole_file(path, &m->raw, &m->rawlen, err, errlen) != 0)
        return -1;
    p = m->raw;
    end = m->raw + m->rawlen;

    /* mbox separator line */
    if (m->rawlen >= 5 && memcmp(p, "From ", 5) == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        p = nl ? nl + 1 : end;
    }

    body = end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;      /* end of line content */
        const char *next = nl ? nl + 1 : end;

        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) {                       /* empty line: end of header */
            body = next;
            break;
        }
        if (*p == ' ' || *p == '\t') {
            if (!have_cur) {                 /* no header to continue */
                body = p;
                break;
            }
            buf_addc(&m->vals, '\n');
            buf_add(&m->vals, p, (size_t)(le - p));
            m->hdrs[m->nhdrs - 1].val_len += 1 + (size_t)(le - p);
        } else {
            const char *colon = memchr(p, ':', (size_t)(le - p));
            const char *ne;
            const char *q;

            if (colon == NULL) {
                body = p;                    /* not a header: body starts */
                break;
            }
            ne = colon;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;                        /* obsolete "Name :" syntax */
            for (q = p; q < ne && is_ftext((unsigned char)*q); q++)
                ;
            if (ne == p || q != ne) {
                body = p;
                break;
            }
            if (msg_add_hdr(m, (size_t)(p - m->raw), (size_t)(ne - p)) != 0) {
                (void)snprintf(err, errlen, "out of memory");
                return -1;
            }
            buf_add(&m->vals, colon + 1, (size_t)(le - colon - 1));
            m->hdrs[m->nhdrs - 1].val_len = (size_t)(le - colon - 1);
            have_cur = 1;
        }
        p = next;
    }
    if (m->vals.oom) {
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }

    /* Body with bare LF converted to CRLF. */
    blen = (size_t)(end - body);
    extra = 0;
    for (i = 0; i < blen; i++)
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
            extra++;
    if (buf_reserve(&m->body, blen + extra) != 0) {
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < blen; i++) {
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
            m->body.p[m->body.len++] = '\r';
        m->body.p[m->body.len++] = body[i];
    }

    /* Envelope sender from the first From: header, else a fixed one. */
    strcpy(m->sender_addr, DEFAULT_SENDER_ADDR);
    for (i = 0; i < m->nhdrs; i++) {
        const struct hdr *h = &m->hdrs[i];

        if (h->name_len == 4 &&
            strncasecmp(m->raw + h->name_off, "From", 4) == 0) {
            if (sender_from_header(m, m->vals.p + h->val_off, h->val_len) != 0)
                strcpy(m->sender_addr, DEFAULT_SENDER_ADDR);
            break;
        }
    }
    /* sender_addr is at most MAX_ADDR_LEN, sender has room for "<>" */
    (void)snprintf(m->sender, sizeof m->sender, "<%s>", m->sender_addr);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Milter connection                                                        */

struct conn {
    int fd;
    unsigned worker;
    uint32_t version, actions, pflags; /* negotiated */
    struct buf out;                    /* packet data being built */
    struct buf in;                     /* data of the last packet read */
    int decided;                       /* connection-level verdict */
    enum result decided_res;
    int64_t decided_lat;
    unsigned long mails;               /* mails sent on this connection */
    char err[256];
};

static void seterr(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seterr(struct conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(c->err, sizeof c->err, fmt, ap) < 0)
        c->err[0] = '\0';
    va_end(ap);
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        if (close(c->fd) != 0)
            VERBOSE("worker %u: close: %d", c->worker, errno);
        c->fd = -1;
    }
}

/* Wait until fd is ready for events, or fail at deadline. */
static int wait_io(struct conn *c, short events, int64_t deadline,
                   const char *what)
{
    for (;;) {
        struct pollfd pfd;
        int64_t left = deadline - now_us();
        int ms, r;

        if (left <= 0) {
            seterr(c, "timeout (%.1f s) %s", (double)cfg.timeout_us / 1e6,
                   what);
            return -1;
        }
        ms = left / 1000 + 1 > INT_MAX ? INT_MAX : (int)(left / 1000 + 1);
        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;
        r = poll(&pfd, 1, ms);
        if (r < 0) {
            char eb[128];

            if (errno == EINTR)
                continue;
            seterr(c, "poll: %s", errstr(errno, eb, sizeof eb));
            return -1;
        }
        if (r > 0)
            return 0; /* the next syscall reports errors/EOF */
    }
}

static int conn_writev(struct conn *c, struct iovec *iov, int n)
{
    int64_t deadline = now_us() + cfg.timeout_us;

    while (n > 0) {
        struct msghdr mh;
        ssize_t w;
        size_t left;

        if (iov->iov_len == 0) {
            iov++;
            n--;
            continue;
        }
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            char eb[128];

            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_io(c, POLLOUT, deadline, "writing to milter") != 0)
                    return -1;
                continue;
            }
            seterr(c, "write: %s", errstr(errno, eb, sizeof eb));
            return -1;
        }
        left = (size_t)w;
        while (left > 0 && n > 0) {
            if (left >= iov->iov_len) {
                left -= iov->iov_len;
                iov->iov_len = 0;
                iov++;
                n--;
            } else {
                iov->iov_base = (char *)iov->iov_base + left;
                iov->iov_len -= left;
                left = 0;
            }
        }
    }
    return 0;
}

static int send_packet(struct conn *c, char cmd, const void *data, size_t len)
{
    unsigned char hdr[5];
    struct iovec iov[2];

    if (len > UINT32_MAX - 1) {
        seterr(c, "packet too large (%zu bytes)", len);
        return -1;
    }
    put32(hdr, (uint32_t)len + 1);
    hdr[4] = (unsigned char)cmd;
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    iov[1].iov_base = (void *)(uintptr_t)data;
    iov[1].iov_len = len;
    return conn_writev(c, iov, len > 0 ? 2 : 1);
}

/* Send the packet built in c->out. */
static int send_built(struct conn *c, char cmd)
{
    if (c->out.oom) {
        seterr(c, "out of memory building '%c' packet", cmd);
        return -1;
    }
    return send_packet(c, cmd, c->out.p, c->out.len);
}

static int conn_read(struct conn *c, void *dst, size_t n, int64_t deadline)
{
    char *p = dst;

    while (n > 0) {
        ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);

        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0) {
            seterr(c, "connection closed by milter");
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_io(c, POLLIN, deadline, "waiting for milter reply") != 0)
                return -1;
            continue;
        }
        {
            char eb[128];

            seterr(c, "read: %s", errstr(errno, eb, sizeof eb));
        }
        return -1;
    }
    return 0;
}

/* Read one packet; its data goes to c->in (NUL-terminated for safety). */
static int read_packet(struct conn *c, int64_t deadline, char *cmd)
{
    unsigned char hdr[5];
    uint32_t len;

    if (conn_read(c, hdr, sizeof hdr, deadline) != 0)
        return -1;
    len = get32(hdr);
    if (len < 1 || len > MAX_REPLY_LEN) {
        seterr(c, "bad reply packet length %lu", (unsigned long)len);
        return -1;
    }
    *cmd = (char)hdr[4];
    buf_reset(&c->in);
    if (buf_reserve(&c->in, (size_t)len) != 0) { /* len-1 data + NUL */
        seterr(c, "out of memory reading reply");
        return -1;
    }
    if (conn_read(c, c->in.p, (size_t)len - 1, deadline) != 0)
        return -1;
    c->in.len = (size_t)len - 1;
    c->in.p[c->in.len] = '\0';
    return 0;
}

/*
 * Wait for the milter's answer to event.  Returns the deciding reply:
 * SMFIR_CONTINUE, SMFIR_SKIP (body chunks only), SMFIR_ACCEPT,
 * SMFIR_REJECT, SMFIR_DISCARD, SMFIR_TEMPFAIL (a 4xx SMFIR_REPLYCODE maps
 * here, a 5xx one to SMFIR_REJECT) or SMFIR_SHUTDOWN; -1 on failure.
 * Modification requests are accepted after end-of-body only and set
 * *modified.  SMFIR_PROGRESS restarts the timeout.
 */
static int wait_reply(struct conn *c, char event, int *modified)
{
    int64_t deadline = now_us() + cfg.timeout_us;

    for (;;) {
        char cmd;
        size_t len;

        if (read_packet(c, deadline, &cmd) != 0)
            return -1;
        len = c->in.len;
        switch (cmd) {
        case SMFIR_PROGRESS:
            if (len != 0)
                break;
            deadline = now_us() + cfg.timeout_us;
            continue;
        case SMFIR_CONTINUE:
        case SMFIR_ACCEPT:
        case SMFIR_REJECT:
        case SMFIR_DISCARD:
        case SMFIR_TEMPFAIL:
        case SMFIR_SHUTDOWN:
            if (len != 0)
                break;
            return cmd;
        case SMFIR_SKIP:
            if (len != 0)
                break;
            if (event != SMFIC_BODY) {
                seterr(c, "SMFIR_SKIP in reply to '%c'", event);
                return -1;
            }
            return cmd;
        case SMFIR_REPLYCODE:
            if (len < 3 || (c->in.p[0] != '4' && c->in.p[0] != '5') ||
                !isdigit((unsigned char)c->in.p[1]) ||
                !isdigit((unsigned char)c->in.p[2])) {
                seterr(c, "malformed SMFIR_REPLYCODE \"%.60s\"", c->in.p);
                return -1;
            }
            VERBOSE("worker %u: reply code to '%c': %.200s", c->worker, event,
                    c->in.p);
            return c->in.p[0] == '4' ? SMFIR_TEMPFAIL : SMFIR_REJECT;
        case SMFIR_ADDRCPT:
        case SMFIR_DELRCPT:
        case SMFIR_ADDRCPT_PAR:
        case SMFIR_REPLBODY:
        case SMFIR_CHGFROM:
        case SMFIR_ADDHEADER:
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER:
        case SMFIR_QUARANTINE:
            if (event != SMFIC_BODYEOB) {
                seterr(c, "modification request '%c' in reply to '%c'", cmd,
                       event);
                return -1;
            }
            VERBOSE("worker %u: milter requested modification '%c'",
                    c->worker, cmd);
            *modified = 1;
            continue;
        default:
            seterr(c, "unexpected reply '%c' (0x%02x) to '%c'",
                   printable_cmd((unsigned char)cmd), (unsigned char)cmd,
                   event);
            return -1;
        }
        seterr(c, "reply '%c' to '%c' carries %zu unexpected data bytes", cmd,
               event, len);
        return -1;
    }
}

/* Send a command and, unless the milter asked for no reply, wait for it. */
static int step(struct conn *c, char cmd, const void *data, size_t len,
                int noreply, int64_t *t0, int *modified)
{
    *t0 = now_us();
    if (send_packet(c, cmd, data, len) != 0)
        return -1;
    if (noreply)
        return SMFIR_CONTINUE;
    return wait_reply(c, cmd, modified);
}

static int step_built(struct conn *c, char cmd, int noreply, int64_t *t0,
                      int *modified)
{
    if (c->out.oom) {
        seterr(c, "out of memory building '%c' packet", cmd);
        return -1;
    }
    return step(c, cmd, c->out.p, c->out.len, noreply, t0, modified);
}

/* SMFIC_MACRO for stage: kv is a NULL-terminated name/value list. */
static int send_macros(struct conn *c, char stage, const char *const *kv)
{
    size_t i;

    buf_reset(&c->out);
    buf_addc(&c->out, stage);
    for (i = 0; kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
        buf_adds0(&c->out, kv[i]);
        buf_adds0(&c->out, kv[i + 1]);
    }
    return send_built(c, SMFIC_MACRO);
}

static enum result verdict(int r, int modified)
{
    switch (r) {
    case SMFIR_ACCEPT:
        return modified ? RES_MODIFIED : RES_ACCEPT;
    case SMFIR_CONTINUE:
        return modified ? RES_MODIFIED : RES_CONTINUE;
    case SMFIR_REJECT:
        return RES_REJECT;
    case SMFIR_DISCARD:
        return RES_DISCARD;
    default: /* SMFIR_TEMPFAIL, SMFIR_SHUTDOWN */
        return RES_TEMPFAIL;
    }
}

static void conn_quit(struct conn *c)
{
    if (c->fd < 0)
        return;
    /* No reply is expected; a failed write only means it is gone already. */
    if (send_packet(c, SMFIC_QUIT, NULL, 0) != 0)
        VERBOSE("worker %u: sending QUIT: %s", c->worker, c->err);
    conn_close(c);
}

static void log_symlists(struct conn *c)
{
    const unsigned char *p = (const unsigned char *)c->in.p + MILTER_OPTLEN;
    size_t left = c->in.len - MILTER_OPTLEN;

    while (left >= 4) {
        uint32_t stage = get32(p);
        const char *s = (const char *)p + 4;
        const char *z = memchr(s, '\0', left - 4);

        if (z == NULL)
            break;
        VERBOSE("worker %u: milter macro list for stage %lu: \"%s\" (ignored)",
                c->worker, (unsigned long)stage, s);
        left -= 4 + (size_t)(z - s) + 1;
        p += 4 + (size_t)(z - s) + 1;
    }
}

/* Record a verdict given at CONNECT/HELO time: it applies to every mail. */
static void decide_conn(struct conn *c, int r, int64_t t0, char event)
{
    if (r == SMFIR_DISCARD) {
        /* Postfix: "DISCARD action is not allowed for connect or helo" */
        NOTE("worker %u: milter answered DISCARD to '%c'; ignored as "
             "Postfix does",
             c->worker, event);
        return;
    }
    c->decided = 1;
    c->decided_res = verdict(r, 0);
    c->decided_lat = now_us() - t0;
    VERBOSE("worker %u: milter answered '%s' to '%c': applies to all mails "
            "of this connection",
            c->worker, result_name[c->decided_res], event);
}

static int conn_open(struct conn *c)
{
    unsigned char opt[MILTER_OPTLEN];
    char eb[128];
    char cmd;
    int64_t t0;
    int r, mod = 0;

    c->decided = 0;
    c->decided_lat = 0;
    c->mails = 0;
    c->err[0] = '\0';

    c->fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        seterr(c, "socket: %s", errstr(errno, eb, sizeof eb));
        return -1;
    }
    {
        /* Linux applies SO_SNDTIMEO to blocking connect() as well. */
        struct timeval tv;

        tv.tv_sec = (time_t)(cfg.timeout_us / 1000000);
        tv.tv_usec = (suseconds_t)(cfg.timeout_us % 1000000);
        if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
            seterr(c, "setsockopt(SO_SNDTIMEO): %s",
                   errstr(errno, eb, sizeof eb));
            goto fail;
        }
    }
    if (connect(c->fd, (const struct sockaddr *)&cfg.addr, cfg.addrlen) != 0) {
        if (errno == EINPROGRESS || errno == EAGAIN)
            seterr(c, "connect %s: timed out", cfg.spec);
        else
            seterr(c, "connect %s: %s", cfg.spec, errstr(errno, eb, sizeof eb));
        goto fail;
    }
    if (cfg.is_inet) {
        int one = 1;

        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) !=
            0) {
            seterr(c, "setsockopt(TCP_NODELAY): %s",
                   errstr(errno, eb, sizeof eb));
            goto fail;
        }
    }

    /* Option negotiation. */
    put32(opt, OFFER_VERSION);
    put32(opt + 4, OFFER_ACTIONS);
    put32(opt + 8, OFFER_PROTO);
    if (send_packet(c, SMFIC_OPTNEG, opt, sizeof opt) != 0)
        goto fail;
    if (read_packet(c, now_us() + cfg.timeout_us, &cmd) != 0)
        goto fail;
    if (cmd != SMFIC_OPTNEG) {
        seterr(c, "unexpected reply '%c' (0x%02x) to OPTNEG",
               printable_cmd((unsigned char)cmd), (unsigned char)cmd);
        goto fail;
    }
    if (c->in.len < MILTER_OPTLEN) {
        seterr(c, "short OPTNEG reply (%zu bytes)", c->in.len);
        goto fail;
    }
    c->version = get32((const unsigned char *)c->in.p);
    c->actions = get32((const unsigned char *)c->in.p + 4);
    c->pflags = get32((const unsigned char *)c->in.p + 8);
    if (c->version < 2 || c->version > OFFER_VERSION) {
        seterr(c, "milter protocol version %lu not supported",
               (unsigned long)c->version);
        goto fail;
    }
    if ((c->actions & ~OFFER_ACTIONS) != 0) {
        seterr(c, "milter requests actions 0x%lx beyond offered 0x%lx",
               (unsigned long)c->actions, (unsigned long)OFFER_ACTIONS);
        goto fail;
    }
    if ((c->pflags & ~OFFER_PROTO) != 0) {
        VERBOSE("worker %u: milter protocol flags 0x%lx include unoffered "
                "0x%lx; ignored",
                c->worker, (unsigned long)c->pflags,
                (unsigned long)(c->pflags & ~OFFER_PROTO));
        c->pflags &= OFFER_PROTO;
    }
    VERBOSE("worker %u: negotiated version %lu actions 0x%03lx protocol "
            "0x%06lx",
            c->worker, (unsigned long)c->version, (unsigned long)c->actions,
            (unsigned long)c->pflags);
    if (cfg.verbose && c->in.len > MILTER_OPTLEN)
        log_symlists(c);

    /* Connection-level events; macros are sent even for skipped events,
     * as Postfix does. */
    {
        static const char *const kv[] = { "j", CONNECT_HOST, "{daemon_name}",
                                          PROG, "v", PROG, NULL };

        if (send_macros(c, SMFIC_CONNECT, kv) != 0)
            goto fail;
    }
    if (!(c->pflags & SMFIP_NOCONNECT)) {
        unsigned char port[2] = { (CONNECT_PORT >> 8) & 0xff,
                                  CONNECT_PORT & 0xff };

        buf_reset(&c->out);
        buf_adds0(&c->out, CONNECT_HOST);
        buf_addc(&c->out, SMFIA_INET);
        buf_add(&c->out, port, sizeof port);
        buf_adds0(&c->out, CONNECT_ADDR);
        r = step_built(c, SMFIC_CONNECT, (c->pflags & SMFIP_NR_CONN) != 0, &t0, &mod);
        if (r < 0)
            goto fail;
        if (r != SMFIR_CONTINUE)
            decide_conn(c, r, t0, SMFIC_CONNECT);
    }
    if (!c->decided && !(c->pflags & SMFIP_NOHELO)) {
        buf_reset(&c->out);
        buf_adds0(&c->out, HELO_NAME);
        r = step_built(c, SMFIC_HELO, (c->pflags & SMFIP_NR_HELO) != 0, &t0, &mod);
        if (r < 0)
            goto fail;
        if (r != SMFIR_CONTINUE)
            decide_conn(c, r, t0, SMFIC_HELO);
    }
    return 0;

fail:
    conn_close(c);
    return -1;
}

/*
 * Send one mail on an open connection.  Returns 0 when the milter answered
 * (*res and *lat set; the connection may have been closed afterwards), -1
 * when the connection failed before an answer (c->err says why).
 */
static int send_mail(struct conn *c, const struct msg *m, enum result *res,
                     int64_t *lat)
{
    const uint32_t pf = c->pflags;
    char qid[32];
    int64_t t0;
    int r = SMFIR_CONTINUE, mod = 0, n;
    size_t i;

    if (c->decided) {
        *res = c->decided_res;
        *lat = c->decided_lat;
        c->decided_lat = 0; /* later mails were "answered" instantly */
        return 0;
    }

    n = snprintf(qid, sizeof qid, "%010llX",
                 (unsigned long long)atomic_fetch_add(&g_qid, 1) + 1);
    if (n < 0 || (size_t)n >= sizeof qid) {
        seterr(c, "cannot format queue id");
        return -1;
    }
    t0 = now_us();

    /* MAIL FROM */
    {
        const char *const kv[] = { "i", qid, "{mail_addr}", m->sender_addr,
                                   NULL };

        if (send_macros(c, SMFIC_MAIL, kv) != 0)
            return -1;
    }
    if (!(pf & SMFIP_NOMAIL)) {
        buf_reset(&c->out);
        buf_adds0(&c->out, m->sender);
        r = step_built(c, SMFIC_MAIL, (pf & SMFIP_NR_MAIL) != 0, &t0, &mod);
        if (r < 0)
            return -1;
        if (r != SMFIR_CONTINUE)
            goto early;
    }

    /* RCPT TO */
    {
        size_t ok = 0;
        int worst = SMFIR_REJECT;

        for (i = 0; i < cfg.nrcpts; i++) {
            const char *const kv[] = { "{rcpt_addr}", cfg.rcpt_addrs[i],
                                       NULL };

            if (send_macros(c, SMFIC_RCPT, kv) != 0)
                return -1;
            if (pf & SMFIP_NORCPT) {
                ok++;
                continue;
            }
            buf_reset(&c->out);
            buf_adds0(&c->out, cfg.rcpts[i]);
            r = step_built(c, SMFIC_RCPT, (pf & SMFIP_NR_RCPT) != 0, &t0, &mod);
            if (r < 0)
                return -1;
            if (r == SMFIR_CONTINUE)
                ok++;
            else if (r == SMFIR_REJECT || r == SMFIR_TEMPFAIL) {
                if (r == SMFIR_TEMPFAIL)
                    worst = r; /* a client would retry */
            } else {
                goto early; /* accept/discard the message, or shutdown */
            }
        }
        if (ok == 0) {
            r = worst;
            goto early;
        }
    }

    /* DATA */
    {
        const char *const kv[] = { "i", qid, NULL };

        if (send_macros(c, SMFIC_DATA, kv) != 0)
            return -1;
    }
    if (!(pf & SMFIP_NODATA)) {
        r = step(c, SMFIC_DATA, NULL, 0, (pf & SMFIP_NR_DATA) != 0, &t0, &mod);
        if (r < 0)
            return -1;
        if (r != SMFIR_CONTINUE)
            goto early;
    }

    /* Headers */
    if (!(pf & SMFIP_NOHDRS)) {
        for (i = 0; i < m->nhdrs; i++) {
            const struct hdr *h = &m->hdrs[i];
            const char *v = m->vals.p + h->val_off;
            size_t vlen = h->val_len;

            /* Without HDR_LEADSPC, eat one space after the colon as
             * sendmail and Postfix do. */
            if (!(pf & SMFIP_HDR_LEADSPC) && vlen > 0 && v[0] == ' ') {
                v++;
                vlen--;
            }
            buf_reset(&c->out);
            buf_add(&c->out, m->raw + h->name_off, h->name_len);
            buf_addc(&c->out, '\0');
            buf_add(&c->out, v, vlen);
            buf_addc(&c->out, '\0');
            r = step_built(c, SMFIC_HEADER, (pf & SMFIP_NR_HDR) != 0, &t0, &mod);
            if (r < 0)
                return -1;
            if (r != SMFIR_CONTINUE)
                goto early;
        }
    }

    /* End of headers */
    {
        const char *const kv[] = { "i", qid, NULL };

        if (send_macros(c, SMFIC_EOH, kv) != 0)
            return -1;
    }
    if (!(pf & SMFIP_NOEOH)) {
        r = step(c, SMFIC_EOH, NULL, 0, (pf & SMFIP_NR_EOH) != 0, &t0, &mod);
        if (r < 0)
            return -1;
        if (r != SMFIR_CONTINUE)
            goto early;
    }

    /* Body */
    if (!(pf & SMFIP_NOBODY)) {
        size_t off, chunk;

        for (off = 0; off < m->body.len; off += chunk) {
            chunk = m->body.len - off;
            if (chunk > MILTER_CHUNK_SIZE)
                chunk = MILTER_CHUNK_SIZE;
            r = step(c, SMFIC_BODY, m->body.p + off, chunk,
                     (pf & SMFIP_NR_BODY) != 0, &t0, &mod);
            if (r < 0)
                return -1;
            if (r == SMFIR_SKIP) {
                r = SMFIR_CONTINUE;
                break;
            }
            if (r != SMFIR_CONTINUE)
                goto early;
        }
    }

    /* End of body: the final answer. */
    {
        const char *const kv[] = { "i", qid, NULL };

        if (send_macros(c, SMFIC_BODYEOB, kv) != 0)
            return -1;
    }
    t0 = now_us();
    if (send_packet(c, SMFIC_BODYEOB, NULL, 0) != 0)
        return -1;
    r = wait_reply(c, SMFIC_BODYEOB, &mod);
    if (r < 0)
        return -1;
    *lat = now_us() - t0;
    *res = verdict(r, mod);
    if (r == SMFIR_SHUTDOWN) {
        conn_quit(c);
    } else if (cfg.abort_after_mail &&
               send_packet(c, SMFIC_ABORT, NULL, 0) != 0) {
        NOTE("worker %u: sending ABORT after mail: %s", c->worker, c->err);
        conn_close(c);
    }
    return 0;

early:
    /* The milter decided before end-of-body: end the transaction like an
     * MTA does (RSET -> SMFIC_ABORT). */
    *lat = now_us() - t0;
    *res = verdict(r, mod);
    if (r == SMFIR_SHUTDOWN) {
        conn_quit(c);
    } else if (send_packet(c, SMFIC_ABORT, NULL, 0) != 0) {
        NOTE("worker %u: sending ABORT: %s", c->worker, c->err);
        conn_close(c);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */

static size_t next_file(void)
{
    size_t idx = SIZE_MAX;
    int e;

    if ((e = pthread_mutex_lock(&g_mu)) != 0) {
        errmsg("pthread_mutex_lock: error %d", e);
        abort();
    }
    if (g_next < g_nfiles)
        idx = g_next++;
    if ((e = pthread_mutex_unlock(&g_mu)) != 0) {
        errmsg("pthread_mutex_unlock: error %d", e);
        abort();
    }
    return idx;
}

static void *worker(void *arg)
{
    struct conn c;
    size_t idx;

    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.worker = (unsigned)(uintptr_t)arg;

    while ((idx = next_file()) != SIZE_MAX) {
        const char *path = g_files[idx];
        struct result_rec *rr = &g_results[idx];
        struct msg m;
        char err[256];

        if (msg_load(path, &m, err, sizeof err) != 0) {
            errmsg("%s: %s", path, err);
            rr->res = RES_NOANSWER;
            rr->lat_us = 0;
            rr->attempts = 0;
            msg_free(&m);
            continue;
        }
        for (;;) {
            enum result res = RES_NONE;
            int64_t lat = 0;
            int ok;

            rr->attempts++;
            ok = (c.fd >= 0 || conn_open(&c) == 0) &&
                 send_mail(&c, &m, &res, &lat) == 0;
            if (ok) {
                rr->res = res;
                rr->lat_us = lat;
                if (c.fd >= 0 && ++c.mails >= cfg.per_conn)
                    conn_quit(&c);
                break;
            }
            conn_close(&c);
            if (rr->attempts > cfg.retries) {
                NOTE("%s: no answer (attempt %u): %s", path, rr->attempts,
                     c.err);
                rr->res = RES_NOANSWER;
                rr->lat_us = 0;
                break;
            }
            NOTE("%s: no answer (attempt %u of %lu): %s; retrying", path,
                 rr->attempts, cfg.retries + 1, c.err);
            sleep_ns(RETRY_DELAY_NS);
        }
        msg_free(&m);
        if (cfg.pace_ms)
            sleep_ns((long)cfg.pace_ms * 1000000L);
    }
    conn_quit(&c);
    buf_free(&c.out);
    buf_free(&c.in);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */

static void usage(void)
{
    (void)fprintf(stderr,
        "usage: " PROG " -s SOCKET [-j CONNECTIONS] [-m MAILS_PER_CONNECTION]\n"
        "              [-r RCPT]... [-t TIMEOUT_SECONDS] [-R RETRIES] [-q] [-v]"
        " [-A]\n"
        "              [-o RESULTS_FILE] FILE... | -l LISTFILE\n"
        "  -s SOCKET  unix:/path, local:/path, inet:port@host, "
        "inet6:port@host\n"
        "  -j N       parallel connections/worker threads (default 1)\n"
        "  -m N       mails per connection (default 10)\n"
        "  -r RCPT    envelope recipient, repeatable (default "
        DEFAULT_RCPT ")\n"
        "  -t SECS    timeout per reply, connect and write (default 10)\n"
        "  -R N       retries of a mail that got no answer (default 0)\n"
        "  -p MS      each worker pauses MS ms after each mail (default 0)\n"
        "  -o FILE    write FILE<TAB>RESULT<TAB>LATENCY_US<TAB>ATTEMPTS "
        "lines\n"
        "  -l FILE    read mail file paths, one per line ('-' = stdin)\n"
        "  -q         no per-mail diagnostics on stderr\n"
        "  -v         verbose protocol diagnostics on stderr\n"
        "  -A         send SMFIC_ABORT after every completed mail (as\n"
        "             Postfix smtpd does before the next MAIL FROM)\n"
        "exit: 0 all mails accept/continue, 1 otherwise, 2 usage error\n");
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_socket(const char *spec)
{
    const char *rest;
    int family;

    memset(&cfg.addr, 0, sizeof cfg.addr);
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 ||
        spec[0] == '/') {
        struct sockaddr_un *sun = (struct sockaddr_un *)&cfg.addr;
        const char *path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof sun->sun_path) {
            errmsg("bad unix socket path in \"%s\"", spec);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, len + 1);
        cfg.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                  len + 1);
        cfg.is_inet = 0;
        return 0;
    }
    if (strncmp(spec, "inet:", 5) == 0) {
        family = AF_INET;
        rest = spec + 5;
    } else if (strncmp(spec, "inet6:", 6) == 0) {
        family = AF_INET6;
        rest = spec + 6;
    } else {
        errmsg("bad socket \"%s\": want unix:/path or inet:port@host", spec);
        return -1;
    }
    {
        char port[16], host[256];
        const char *at = strchr(rest, '@');
        size_t plen = at ? (size_t)(at - rest) : strlen(rest);
        const char *h = at ? at + 1 : (family == AF_INET ? "127.0.0.1" : "::1");
        unsigned long pnum;
        struct addrinfo hints, *ai = NULL;
        int e;

        if (plen == 0 || plen >= sizeof port) {
            errmsg("bad port in socket \"%s\"", spec);
            return -1;
        }
        memcpy(port, rest, plen);
        port[plen] = '\0';
        if (parse_ulong(port, 1, 65535, &pnum) != 0) {
            errmsg("bad port \"%s\" in socket \"%s\"", port, spec);
            return -1;
        }
        if (strlen(h) == 0 || strlen(h) >= sizeof host) {
            errmsg("bad host in socket \"%s\"", spec);
            return -1;
        }
        strcpy(host, h);
        if (family == AF_INET6 && host[0] == '[' &&
            host[strlen(host) - 1] == ']') {
            memmove(host, host + 1, strlen(host) - 2);
            host[strlen(host) - 2] = '\0';
        }
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        e = getaddrinfo(host, port, &hints, &ai);
        if (e != 0) {
            errmsg("cannot resolve \"%s\": %s", host, gai_strerror(e));
            return -1;
        }
        if (ai == NULL || ai->ai_addrlen > sizeof cfg.addr) {
            errmsg("cannot resolve \"%s\"", host);
            freeaddrinfo(ai);
            return -1;
        }
        memcpy(&cfg.addr, ai->ai_addr, ai->ai_addrlen);
        cfg.addrlen = ai->ai_addrlen;
        cfg.is_inet = 1;
        freeaddrinfo(ai);
    }
    return 0;
}

static int add_file(const char *path)
{
    char *dup;

    if (g_nfiles == g_files_cap) {
        size_t nc = g_files_cap ? g_files_cap * 2 : 256;
        char **nf;

        if (nc > SIZE_MAX / sizeof *nf)
            return -1;
        nf = realloc(g_files, nc * sizeof *nf);
        if (nf == NULL)
            return -1;
        g_files = nf;
        g_files_cap = nc;
    }
    dup = strdup(path);
    if (dup == NULL)
        return -1;
    g_files[g_nfiles++] = dup;
    return 0;
}

static int read_list(const char *listfile)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0, is_stdin = strcmp(listfile, "-") == 0;

    f = is_stdin ? stdin : fopen(listfile, "r");
    if (f == NULL) {
        char eb[128];

        errmsg("%s: %s", listfile, errstr(errno, eb, sizeof eb));
        return -1;
    }
    errno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n != strlen(line)) {
            errmsg("%s: NUL byte in file name", listfile);
            rc = -1;
            break;
        }
        if (add_file(line) != 0) {
            errmsg("out of memory");
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        errmsg("%s: read error", listfile);
        rc = -1;
    }
    free(line);
    if (!is_stdin && fclose(f) != 0) {
        errmsg("%s: close error", listfile);
        rc = -1;
    }
    return rc;
}

static int add_rcpt(const char *arg)
{
    size_t len = strlen(arg), i;
    const char *a = arg;
    char **nr, **na, *full, *bare;

    if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
        a = arg + 1;
        len -= 2;
    }
    if (len == 0 || len > MAX_ADDR_LEN) {
        errmsg("bad recipient \"%s\"", arg);
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (!addr_char_ok((unsigned char)a[i])) {
            errmsg("bad recipient \"%s\"", arg);
            return -1;
        }
    }
    nr = realloc(cfg.rcpts, (cfg.nrcpts + 1) * sizeof *nr);
    if (nr == NULL)
        goto oom;
    cfg.rcpts = nr;
    na = realloc(cfg.rcpt_addrs, (cfg.nrcpts + 1) * sizeof *na);
    if (na == NULL)
        goto oom;
    cfg.rcpt_addrs = na;
    full = malloc(len + 3);
    bare = malloc(len + 1);
    if (full == NULL || bare == NULL) {
        free(full);
        free(bare);
        goto oom;
    }
    full[0] = '<';
    memcpy(full + 1, a, len);
    full[len + 1] = '>';
    full[len + 2] = '\0';
    memcpy(bare, a, len);
    bare[len] = '\0';
    cfg.rcpts[cfg.nrcpts] = full;
    cfg.rcpt_addrs[cfg.nrcpts] = bare;
    cfg.nrcpts++;
    return 0;

oom:
    errmsg("out of memory");
    return -1;
}

static void free_all(void)
{
    size_t i;

    for (i = 0; i < g_nfiles; i++)
        free(g_files[i]);
    free(g_files);
    g_files = NULL;
    g_nfiles = g_files_cap = 0;
    for (i = 0; i < cfg.nrcpts; i++) {
        free(cfg.rcpts[i]);
        free(cfg.rcpt_addrs[i]);
    }
    free(cfg.rcpts);
    free(cfg.rcpt_addrs);
    cfg.rcpts = cfg.rcpt_addrs = NULL;
    cfg.nrcpts = 0;
    free(g_results);
    g_results = NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t percentile(const int64_t *v, size_t n, unsigned pct)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (n * pct + 99) / 100;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

int main(int argc, char **argv)
{
    const char *results_path = NULL;
    FILE *results = NULL;
    struct sigaction sa;
    pthread_t *tids = NULL;
    unsigned long nthreads, started = 0, i;
    double secs;
    int64_t t_start, t_end, *lats = NULL;
    size_t answered = 0, accepted = 0, late = 0, noanswer = 0, nl = 0;
    int opt, status = 0, e;
    double tsec = 10.0;

    cfg.jobs = 1;
    cfg.per_conn = 10;
    cfg.retries = 0;

    opterr = 0;
    while ((opt = getopt(argc, argv, ":s:j:m:r:t:R:p:qvAo:l:h")) != -1) {
        switch (opt) {
        case 's':
            cfg.spec = optarg;
            break;
        case 'j':
            if (parse_ulong(optarg, 1, MAX_JOBS, &cfg.jobs) != 0) {
                errmsg("-j wants 1..%lu", MAX_JOBS);
                goto usage_error;
            }
            break;
        case 'm':
            if (parse_ulong(optarg, 1, ULONG_MAX, &cfg.per_conn) != 0) {
                errmsg("-m wants a positive number");
                goto usage_error;
            }
            break;
        case 'r':
            if (add_rcpt(optarg) != 0)
                goto usage_error;
            break;
        case 't': {
            char *end;

            errno = 0;
            tsec = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(tsec > 0) ||
                tsec > 86400) {
                errmsg("-t wants seconds in (0, 86400]");
                goto usage_error;
            }
            break;
        }
        case 'R':
            if (parse_ulong(optarg, 0, 1000000, &cfg.retries) != 0) {
                errmsg("-R wants a number >= 0");
                goto usage_error;
            }
            break;
        case 'p':
            if (parse_ulong(optarg, 0, 60000, &cfg.pace_ms) != 0) {
                errmsg("-p wants milliseconds 0..60000");
                goto usage_error;
            }
            break;
        case 'q':
            cfg.quiet = 1;
            break;
        case 'v':
            cfg.verbose = 1;
            break;
        case 'A':
            cfg.abort_after_mail = 1;
            break;
        case 'o':
            results_path = optarg;
            break;
        case 'l':
            if (read_list(optarg) != 0)
                goto usage_error;
            break;
        case 'h':
            usage();
            free_all();
            return 0;
        case ':':
            errmsg("option -%c needs an argument", optopt);
            goto usage_error;
        default:
            errmsg("unknown option -%c", printable_cmd(optopt));
            goto usage_error;
        }
    }
    for (; optind < argc; optind++) {
        if (add_file(argv[optind]) != 0) {
            errmsg("out of memory");
            free_all();
            return 1;
        }
    }
    if (cfg.spec == NULL) {
        errmsg("-s SOCKET is required");
        goto usage_error;
    }
    if (g_nfiles == 0) {
        errmsg("no mail files given");
        goto usage_error;
    }
    if (parse_socket(cfg.spec) != 0)
        goto usage_error;
    if (cfg.nrcpts == 0 && add_rcpt(DEFAULT_RCPT) != 0) {
        free_all();
        return 1;
    }
    cfg.timeout_us = (int64_t)(tsec * 1e6);
    if (cfg.timeout_us < 1000)
        cfg.timeout_us = 1000;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGPIPE, &sa, NULL) != 0) {
        errmsg("cannot ignore SIGPIPE");
        free_all();
        return 1;
    }

    if (results_path != NULL) {
        results = fopen(results_path, "w");
        if (results == NULL) {
            char eb[128];

            errmsg("%s: %s", results_path, errstr(errno, eb, sizeof eb));
            goto usage_error;
        }
    }

    g_results = calloc(g_nfiles, sizeof *g_results);
    nthreads = cfg.jobs < g_nfiles ? cfg.jobs : (unsigned long)g_nfiles;
    tids = calloc(nthreads, sizeof *tids);
    if (g_results == NULL || tids == NULL) {
        errmsg("out of memory");
        free(tids);
        if (results != NULL)
            (void)fclose(results);
        free_all();
        return 1;
    }

    t_start = now_us();
    for (i = 0; i < nthreads; i++) {
        e = pthread_create(&tids[i], NULL, worker, (void *)(uintptr_t)i);
        if (e != 0) {
            char eb[128];

            errmsg("pthread_create: %s", errstr(e, eb, sizeof eb));
            break;
        }
        started++;
    }
    if (started == 0) {
        free(tids);
        if (results != NULL)
            (void)fclose(results);
        free_all();
        return 1;
    }
    for (i = 0; i < started; i++) {
        e = pthread_join(tids[i], NULL);
        if (e != 0) {
            errmsg("pthread_join: error %d", e);
            status = 1;
        }
    }
    t_end = now_us();
    free(tids);

    /* Per-mail results and statistics. */
    lats = malloc((g_nfiles ? g_nfiles : 1) * sizeof *lats);
    if (lats == NULL) {
        errmsg("out of memory");
        if (results != NULL)
            (void)fclose(results);
        free_all();
        return 1;
    }
    for (i = 0; i < g_nfiles; i++) {
        const struct result_rec *r = &g_results[i];

        if (r->res == RES_NONE) {   /* cannot happen; be defensive */
            status = 1;
            continue;
        }
        if (r->res != RES_ACCEPT && r->res != RES_CONTINUE)
            status = 1;
        if (r->res == RES_NOANSWER) {
            noanswer++;
        } else {
            answered++;
            lats[nl++] = r->lat_us;
            if (r->lat_us > LATE_US)
                late++;
            if (r->res == RES_ACCEPT || r->res == RES_CONTINUE)
                accepted++;
        }
        if (results != NULL &&
            fprintf(results, "%s\t%s\t%lld\t%u\n", g_files[i],
                    result_name[r->res], (long long)r->lat_us,
                    r->attempts) < 0) {
            errmsg("%s: write error", results_path);
            (void)fclose(results);
            results = NULL;
            status = 1;
        }
    }
    if (results != NULL && fclose(results) != 0) {
        errmsg("%s: write error", results_path);
        status = 1;
    }
    qsort(lats, nl, sizeof *lats, cmp_i64);
    secs = (double)(t_end - t_start) / 1e6;
    if (printf("fed %zu answered %zu accepted %zu late %zu noanswer %zu "
               "max_latency_ms %.3f p50_ms %.3f p99_ms %.3f mps %.1f\n",
               g_nfiles, answered, accepted, late, noanswer,
               nl ? (double)lats[nl - 1] / 1000.0 : 0.0,
               (double)percentile(lats, nl, 50) / 1000.0,
               (double)percentile(lats, nl, 99) / 1000.0,
               secs > 0 ? (double)g_nfiles / secs : 0.0) < 0 ||
        fflush(stdout) != 0) {
        errmsg("cannot write summary");
        status = 1;
    }
    free(lats);
    free_all();
    return status;

usage_error:
    usage();
    free_all();
    return 2;
}
