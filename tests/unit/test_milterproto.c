/*
 * test_milterproto.c - the milter protocol engine (milter/milterproto.c)
 * served on a real unix socket, spoken to as an MTA would: negotiation
 * with and without the "no reply" flags, a session cut into single bytes
 * and one of many packets in one write, the queue id from the macros,
 * abort and quit-new-connection, the packets that close only their own
 * connection, a header of 200 KB, and a stop with connections open.
 */
#include "unit_util.h"

#include "pd_milterproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdatomic.h>
#include <time.h>

/* ---- what the callbacks saw, one line each ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pd_buf seen = PD_BUF_INIT;
/* What went wrong on the engine's threads, where cmocka's assertions may
 * not run (they are not thread-safe): checked at teardown. */
static atomic_int thread_faults;

static void note(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    if (pd_buf_append(&seen, line, strlen(line)) < 0 || pd_buf_append(&seen, "\n", 1) < 0)
        atomic_fetch_add(&thread_faults, 1);
    pthread_mutex_unlock(&log_mu);
}

/* The lines seen so far (caller frees), and they are forgotten. */
static char *take_seen(void)
{
    pthread_mutex_lock(&log_mu);
    char *s = strndup(seen.data ? seen.data : "", seen.len);
    pd_buf_reset(&seen);
    pthread_mutex_unlock(&log_mu);
    assert_non_null(s);
    return s;
}

/* Wait up to 5 s for `want` to be n times among the lines seen (the
 * callbacks run on the engine's threads: those of a closing connection
 * after the client saw the close, those of packets sent behind one that
 * is answered maybe after the answer). */
static void wait_seen_n(const char *want, int n)
{
    for (int i = 0; i < 500; i++) {
        int k = 0;
        pthread_mutex_lock(&log_mu);
        for (const char *p = seen.data, *end = seen.data + seen.len;
             p && (p = memmem(p, (size_t)(end - p), want, strlen(want))) != NULL;
             p += strlen(want))
            k++;
        pthread_mutex_unlock(&log_mu);
        if (k >= n)
            return;
        usleep(10000);
    }
    char *s = take_seen();
    print_error("waited for \"%s\"; seen:\n%s\n", want, s);
    free(s);
    fail();
}

static void wait_seen(const char *want)
{
    wait_seen_n(want, 1);
}

/* The lines seen so far are exactly want (and are forgotten). */
static void assert_seen(const char *want)
{
    char *got = take_seen();
    assert_string_equal(got, want);
    free(got);
}

static int opened;   /* its address is the arg handed to open() */
static void *cb_open(void *arg)
{
    if (arg != &opened)
        atomic_fetch_add(&thread_faults, 1);
    return &opened;
}
static void cb_rcpt(void *c, const char *addr) { (void)c; note("rcpt %s", addr); }
static void cb_header(void *c, const char *name, const char *value, bool leadspc)
{
    (void)c;
    if (strlen(value) > 100)
        note("header %s: %zu bytes lead=%d", name, strlen(value), leadspc);
    else
        note("header %s:%s lead=%d", name, value, leadspc);
}
static void cb_body(void *c, const unsigned char *chunk, size_t len)
{
    (void)c;
    note("body %.*s", (int)len, (const char *)chunk);
}
static void cb_eom(void *c, const char *qid) { (void)c; note("eom %s", qid ? qid : "(none)"); }
static void cb_abort(void *c) { (void)c; note("abort"); }
static void cb_close(void *c) { (void)c; note("close"); }

static const struct pd_milterproto_ops ops = {
    .open = cb_open, .rcpt = cb_rcpt, .header = cb_header, .body = cb_body,
    .eom = cb_eom, .abort = cb_abort, .close = cb_close,
};

/* ---- an engine on a socket in a temporary directory ---- */

struct served {
    char dir[64], path[100];
    struct pd_milterproto *mp;
};

static int setup(void **state)
{
    struct served *s = calloc(1, sizeof *s);
    assert_non_null(s);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/pdmp.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof s->path, "%s/m.sock", s->dir);
    char spec[160], err[256];
    snprintf(spec, sizeof spec, "unix:%s", s->path);
    assert_int_equal(pd_milterproto_listen(&s->mp, spec, err, sizeof err), 0);
    assert_int_equal(pd_milterproto_start(s->mp, &ops, &opened, 2), 0);
    free(take_seen());
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct served *s = *state;
    pd_milterproto_free(s->mp);
    rmdir(s->dir);
    free(s);
    free(take_seen());
    assert_int_equal(atomic_exchange(&thread_faults, 0), 0);
    return 0;
}

static struct sockaddr_un sun_of(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof sun.sun_path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    return sun;
}

static int client(const struct served *s)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = sun_of(s->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    struct timeval tv = { .tv_sec = 5 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    return fd;
}

/* Append a packet to b. */
static void pkt(pd_buf *b, char cmd, const void *data, size_t len)
{
    uint32_t n = htonl((uint32_t)len + 1);
    assert_int_equal(pd_buf_append(b, &n, 4), 0);
    assert_int_equal(pd_buf_append(b, &cmd, 1), 0);
    if (len)
        assert_int_equal(pd_buf_append(b, data, len), 0);
}

static void optneg(pd_buf *b, uint32_t version, uint32_t actions, uint32_t protocol)
{
    uint32_t v[3] = { htonl(version), htonl(actions), htonl(protocol) };
    pkt(b, 'O', v, sizeof v);
}

static void send_all(int fd, const void *p, size_t len)
{
    assert_int_equal(write(fd, p, len), (ssize_t)len);
}

static void recv_exact(int fd, void *p, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)p + got, len - got);
        if (n <= 0)
            print_error("reply: %s\n", n == 0 ? "connection closed" : strerror(errno));
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* Read one reply: its command; its data into data (up to 64 bytes). */
static char reply(int fd, unsigned char *data, size_t *len)
{
    unsigned char h[5];
    recv_exact(fd, h, 5);
    uint32_t n;
    memcpy(&n, h, 4);
    n = ntohl(n);
    assert_true(n >= 1 && n <= 65);
    unsigned char tmp[64];
    recv_exact(fd, data ? data : tmp, n - 1);
    if (len)
        *len = n - 1;
    return (char)h[4];
}

/* The connection is closed by the engine: read gives 0 (or a reset,
 * when bytes the engine did not read were left: a timeout is an error). */
static void assert_closed(int fd)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) > 0)
        ;
    if (n < 0)
        assert_int_equal(errno, ECONNRESET);
}

/* The mail every session below sends after negotiation. */
static void a_mail(pd_buf *b, const char *macro_name)
{
    char m[64];
    int n = snprintf(m, sizeof m, "E%s%cQ1D2%c", macro_name, '\0', '\0');
    pkt(b, 'D', m, (size_t)n);
    pkt(b, 'R', "<list@example.org>\0SIZE=10", 27);
    pkt(b, 'L', "Subject\0 [PATCH] x", 19);
    pkt(b, 'L', "From\0 A <a@example.org>", 24);
    pkt(b, 'B', "line one\r\n", 10);
    pkt(b, 'E', "last\r\n", 6);
}

static const char *mail_seen =
    "rcpt <list@example.org>\n"
    "header Subject: [PATCH] x lead=1\n"
    "header From: A <a@example.org> lead=1\n"
    "body line one\r\n\n"
    "body last\r\n\n"
    "eom Q1D2\n";

/* Version 6, every flag offered: the engine takes what it wants, answers
 * only the negotiation and the end of body (ACCEPT). */
static void test_no_reply_flags(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    a_mail(&b, "{i}");
    send_all(fd, b.data, b.len);
    unsigned char d[64];
    size_t len;
    assert_int_equal(reply(fd, d, &len), 'O');
    assert_int_equal(len, 12);
    uint32_t v[3];
    memcpy(v, d, 12);
    assert_int_equal(ntohl(v[0]), 6);
    assert_int_equal(ntohl(v[1]), 0);   /* no actions: it never changes mail */
    assert_int_equal(ntohl(v[2]), 0x1ff3c7);   /* no steps but rcpt, hdrs, body; no replies */
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen(mail_seen);
    /* a second mail on the same connection, its queue id as plain i */
    pd_buf_reset(&b);
    a_mail(&b, "i");
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen(mail_seen);
    pd_buf_reset(&b);
    pkt(&b, 'Q', NULL, 0);
    send_all(fd, b.data, b.len);
    assert_closed(fd);
    close(fd);
    wait_seen("close\n");
    pd_buf_free(&b);
}

/* Version 2, nothing offered: every step is answered with continue, the
 * header values come without their leading blank. */
static void test_every_step_answered(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 2, 0x1ff, 0);
    send_all(fd, b.data, b.len);
    unsigned char d[64];
    size_t len;
    assert_int_equal(reply(fd, d, &len), 'O');
    uint32_t v[3];
    memcpy(v, d, 12);
    assert_int_equal(ntohl(v[0]), 2);
    assert_int_equal(ntohl(v[2]), 0);
    const char steps[] = "CHMRTLNBU";
    for (const char *st = steps; *st; st++) {
        pd_buf_reset(&b);
        if (*st == 'L')
            pkt(&b, 'L', "Subject\0x", 10);
        else if (*st == 'R')
            pkt(&b, 'R', "<r@x>", 6);
        else
            pkt(&b, *st, "x", 2);   /* "x\0": what each carries does not matter */
        send_all(fd, b.data, b.len);
        assert_int_equal(reply(fd, NULL, NULL), 'c');
    }
    pd_buf_reset(&b);
    pkt(&b, 'E', NULL, 0);
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    char *got = take_seen();
    assert_non_null(strstr(got, "header Subject:x lead=0\n"));
    assert_non_null(strstr(got, "rcpt <r@x>\n"));
    assert_non_null(strstr(got, "eom (none)\n"));
    free(got);
    close(fd);
    wait_seen("close\n");
    pd_buf_free(&b);
}

/* A session that comes one byte at a time is the same session. */
static void test_one_byte_at_a_time(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    a_mail(&b, "i");
    for (size_t i = 0; i < b.len; i++) {
        send_all(fd, b.data + i, 1);
        if (i % 7 == 0)
            usleep(200);   /* let the engine see the pieces apart */
    }
    assert_int_equal(reply(fd, NULL, NULL), 'O');
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen(mail_seen);
    close(fd);
    pd_buf_free(&b);
}

/* Abort forgets the mail's queue id; the connection's own stays. */
static void test_abort_and_quit_nc(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    pkt(&b, 'D', "Cj\0mx.example.org\0i\0CONNQ\0", 26);
    pkt(&b, 'D', "Mi\0MAILQ\0", 9);
    pkt(&b, 'L', "Subject\0 one", 13);
    pkt(&b, 'A', NULL, 0);
    pkt(&b, 'L', "Subject\0 two", 13);
    pkt(&b, 'E', NULL, 0);
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'O');
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen("header Subject: one lead=1\nabort\n"
                             "header Subject: two lead=1\neom CONNQ\n");
    /* K: the MTA reuses the connection for another; both ids are forgotten */
    pd_buf_reset(&b);
    pkt(&b, 'D', "Mi\0MAILQ2\0", 10);
    pkt(&b, 'K', NULL, 0);
    pkt(&b, 'E', NULL, 0);
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen("abort\neom (none)\n");
    close(fd);
    pd_buf_free(&b);
}

/* Each bad packet closes its own connection (and calls close); a session
 * open on another connection meanwhile goes on. */
static void test_bad_packets_close_their_connection(void **state)
{
    struct served *s = *state;
    int other = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    send_all(other, b.data, b.len);
    assert_int_equal(reply(other, NULL, NULL), 'O');
    struct { const char *name; const char *bytes; size_t len; bool neg; } bad[] = {
        { "length 0", "\0\0\0\0", 4, false },
        { "length 0xffffffff", "\xff\xff\xff\xffO", 5, false },
        { "length 256 KiB + 1", "\x00\x04\x00\x01L", 5, true },
        { "unknown command", "\0\0\0\x02zq", 6, true },
        { "version 1", "\0\0\0\x0dO\0\0\0\x01\0\0\0\0\0\0\0\0", 17, false },
        { "negotiation too short", "\0\0\0\x03O\0\0", 7, false },
        { "header without NULs", "\0\0\0\x08LSubject", 12, true },
        { "header with one NUL", "\0\0\0\x09LSubject\0", 13, true },
        { "header without a name", "\0\0\0\x04L\0x\0", 8, true },
        { "recipient without NUL", "\0\0\0\x04R<a>", 8, true },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = client(s);
        pd_buf_reset(&b);
        if (bad[i].neg)
            optneg(&b, 6, 0x1ff, 0x1fffff);
        assert_int_equal(pd_buf_append(&b, bad[i].bytes, bad[i].len), 0);
        send_all(fd, b.data, b.len);
        if (bad[i].neg)
            assert_int_equal(reply(fd, NULL, NULL), 'O');
        print_message("%s\n", bad[i].name);
        assert_closed(fd);
        close(fd);
        wait_seen("close\n");
        free(take_seen());
    }
    pd_buf_reset(&b);
    a_mail(&b, "i");
    send_all(other, b.data, b.len);
    assert_int_equal(reply(other, NULL, NULL), 'a');
    assert_seen(mail_seen);
    close(other);
    pd_buf_free(&b);
}

/* A header of 200 KB (Postfix's header_size_limit may allow it) is one
 * packet: the buffer grows to it. */
static void test_big_header(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    size_t n = 200 * 1024;
    char *h = malloc(n + 10);
    assert_non_null(h);
    memcpy(h, "X-Big\0", 6);
    memset(h + 6, 'v', n);
    h[6 + n] = '\0';
    pkt(&b, 'L', h, n + 7);
    pkt(&b, 'E', NULL, 0);
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'O');
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    assert_seen("header X-Big: 204800 bytes lead=1\neom (none)\n");
    free(h);
    close(fd);
    pd_buf_free(&b);
}

/* The stop closes every open connection (close is called for each) and
 * nothing is accepted after. */
static void test_stop_closes_connections(void **state)
{
    struct served *s = *state;
    int fds[5];
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    pkt(&b, 'L', "Subject\0 half a mail", 21);
    for (int i = 0; i < 5; i++) {
        fds[i] = client(s);
        send_all(fds[i], b.data, b.len);
        assert_int_equal(reply(fds[i], NULL, NULL), 'O');
    }
    wait_seen_n("header Subject: half a mail", 5);
    unsigned long accepted, open;
    pd_milterproto_counts(s->mp, &accepted, &open);
    assert_int_equal(open, 5);
    assert_int_equal(accepted, 5);
    free(take_seen());
    pd_milterproto_stop(s->mp);
    pd_milterproto_counts(s->mp, &accepted, &open);
    assert_int_equal(open, 0);
    assert_seen("close\nclose\nclose\nclose\nclose\n");
    for (int i = 0; i < 5; i++) {
        assert_closed(fds[i]);
        close(fds[i]);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = sun_of(s->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), -1);
    close(fd);
    pd_buf_free(&b);
}

/* The socket's spec: what the config accepts, and a stale socket file. */
static void test_listen_specs(void **state)
{
    (void)state;
    char err[256];
    struct pd_milterproto *mp;
    assert_int_equal(pd_milterproto_listen(&mp, "tcp:1@x", err, sizeof err), -1);
    assert_non_null(strstr(err, "unix:/path or inet:port@host"));
    assert_int_equal(pd_milterproto_listen(&mp, "inet:0@127.0.0.1", err, sizeof err), 0);
    pd_milterproto_free(mp);
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (v6 >= 0) {
        close(v6);
        int rc = pd_milterproto_listen(&mp, "inet6:0@[::1]", err, sizeof err);
        if (rc == 0)
            pd_milterproto_free(mp);
        else if (!strstr(err, "Cannot assign"))   /* a host without ::1 */
            fail_msg("inet6:0@[::1]: %s", err);
    }
    assert_int_equal(pd_milterproto_listen(&mp, "inet:x@127.0.0.1", err, sizeof err), -1);
    /* a regular file where the socket goes is not removed */
    char dir[64], path[100], spec[160];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pdmp.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(spec, sizeof spec, "local:%s", path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(pd_milterproto_listen(&mp, spec, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a socket"));
    unlink(path);
    /* a stale socket (its milter gone) is replaced; free removes it */
    assert_int_equal(pd_milterproto_listen(&mp, spec, err, sizeof err), 0);
    pd_milterproto_free(mp);
    assert_int_equal(access(path, F_OK), -1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = sun_of(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    assert_int_equal(pd_milterproto_listen(&mp, spec, err, sizeof err), 0);
    pd_milterproto_free(mp);
    rmdir(dir);
}

/* A packet of exactly 256 KiB is taken; an MTA speaking a version above
 * 6 is answered with 6; an empty queue id is none. */
static void test_limits(void **state)
{
    struct served *s = *state;
    int fd = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 7, 0x1ff, 0x1fffff);
    pkt(&b, 'D', "Ei\0\0", 4);
    size_t n = PD_MILTERPROTO_MAX_PACKET - 1;   /* the data: the command byte is the rest */
    char *h = malloc(n);
    assert_non_null(h);
    memset(h, 'v', n);
    memcpy(h, "X-Max\0", 6);
    h[n - 1] = '\0';
    pkt(&b, 'L', h, n);
    pkt(&b, 'E', NULL, 0);
    send_all(fd, b.data, b.len);
    unsigned char d[64];
    size_t len;
    assert_int_equal(reply(fd, d, &len), 'O');
    uint32_t v;
    memcpy(&v, d, 4);
    assert_int_equal(ntohl(v), 6);
    assert_int_equal(reply(fd, NULL, NULL), 'a');
    char *got = take_seen();
    char want[128];
    snprintf(want, sizeof want, "header X-Max: %zu bytes lead=1\neom (none)\n", n - 7);
    assert_string_equal(got, want);
    free(got);
    free(h);
    close(fd);
    pd_buf_free(&b);
}

/* An MTA that reads none of its replies is cut off once they fill the
 * socket (the engine waits a second for room, not for ever), and other
 * connections are answered meanwhile. */
static void test_peer_that_reads_no_reply(void **state)
{
    struct served *s = *state;
    int hog = client(s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0);   /* no "no reply" flag: every step is answered */
    for (int i = 0; i < 200000; i++)
        pkt(&b, 'T', NULL, 0);
    int fl = fcntl(hog, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(hog, F_SETFL, fl | O_NONBLOCK), 0);
    int64_t until = (int64_t)pd_now_us() + 20 * 1000000;
    bool closed = false;
    size_t off = 0;
    int answered = 0;
    while ((int64_t)pd_now_us() < until && !closed) {
        if (off < b.len) {
            ssize_t w = send(hog, b.data + off, b.len - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                closed = true;   /* EPIPE or ECONNRESET: the engine closed it */
        } else {
            char c;
            closed = recv(hog, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
        }
        int fd = client(s);
        pd_buf g = PD_BUF_INIT;
        optneg(&g, 6, 0x1ff, 0x1fffff);
        send_all(fd, g.data, g.len);
        assert_int_equal(reply(fd, NULL, NULL), 'O');
        answered++;
        close(fd);
        pd_buf_free(&g);
        usleep(20000);
    }
    print_message("# %zu of %zu bytes taken, %d other connections answered meanwhile\n", off,
                  b.len, answered);
    assert_true(closed);
    close(hog);
    pd_buf_free(&b);
}

/* A connection silent for the idle timeout is closed. */
static void test_idle_connection_closed(void **state)
{
    (void)state;
    char dir[64], path[100], spec[160], err[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pdmp.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/i.sock", dir);
    snprintf(spec, sizeof spec, "unix:%s", path);
    struct served s = { .mp = NULL };
    snprintf(s.path, sizeof s.path, "%s", path);
    assert_int_equal(pd_milterproto_listen(&s.mp, spec, err, sizeof err), 0);
    pd_milterproto_set_idle(s.mp, 1);
    assert_int_equal(pd_milterproto_start(s.mp, &ops, &opened, 2), 0);
    free(take_seen());
    int fd = client(&s);
    pd_buf b = PD_BUF_INIT;
    optneg(&b, 6, 0x1ff, 0x1fffff);
    pkt(&b, 'L', "Subject\0 then nothing", 22);
    send_all(fd, b.data, b.len);
    assert_int_equal(reply(fd, NULL, NULL), 'O');
    int64_t t0 = (int64_t)pd_now_us();
    assert_closed(fd);   /* within the 5 s receive timeout */
    int64_t waited = (int64_t)pd_now_us() - t0;
    print_message("# closed after %.1f s\n", (double)waited / 1e6);
    assert_true(waited >= 900000);
    wait_seen("close\n");
    close(fd);
    pd_milterproto_free(s.mp);
    rmdir(dir);
    free(take_seen());
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_reply_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_step_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_quit_nc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_packets_close_their_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_big_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_closes_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_that_reads_no_reply, setup, teardown),
        cmocka_unit_test(test_idle_connection_closed),
        cmocka_unit_test(test_listen_specs),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
