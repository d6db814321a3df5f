/*
 * store.c - the Redis side: connect, load the record script, record batches
 * of mails with pipelined EVALSHA, read a window back (stats, digest), and
 * the window operations of the flush (window.lua).
 * See pd_store.h; the key layout is documented in record.lua and window.lua.
 */
#include "pd_store.h"
#include "pd_log.h"
#include "pd_record.h"
#include "pd_sentinel.h"
#include "pd_textz.h"

#include "record_lua.h"
#include "window_lua.h"
#include "outcomes_lua.h"
#include "mails_lua.h"

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <errno.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

/* The chain heads a writer expects its lists to have (record.lua, "The
 * chain head"): it computes a batch's chain itself and the script takes it
 * when it expected right.  ids: the Message-ID hashes an import has sent
 * (an open-addressing set of their first 64 bits), so that a Message-ID
 * seen again is expected known, not new. */
struct chain {
    char *base;
    char head[41];
};

struct chains {
    struct chain *c;
    size_t n;
    uint64_t *ids;      /* 0: an empty slot */
    size_t nids, capids;
};

struct pd_store {
    redisContext *c;
    char sha[41];
    char *archive_url;        /* ArchiveURL, "" when unset */
    uint64_t round_trips;
    uint64_t retention;
    char *prefix;
    char addr[300];     /* the server connected to: "host:port" or the unix path */
    struct pd_textz *z; /* packs the long texts of records (pd_textz.h) */
    pd_buf resp;        /* a batch's commands in Redis's protocol (send_batch) */
    struct chains learnt;    /* pd_store_record: the heads the script last answered */
    struct chains planned;   /* import: the heads pd_store_prepare() expects */
};

static void set_err(char *err, size_t errlen, const char *what, const redisContext *c)
{
    snprintf(err, errlen, "redis: %s: %s", what, c && c->err ? c->errstr : "no reply");
}

char *pd_store_base(const char *prefix, const char *list_id)
{
    static const char hex[] = "0123456789ABCDEF";
    pd_buf b = PD_BUF_INIT;
    size_t n = strlen(list_id);
    /* at most 3 bytes a byte of the id, "{" and "}:" */
    if (n > (SIZE_MAX - strlen(prefix) - 4) / 3 || pd_buf_reserve(&b, strlen(prefix) + 3 * n + 3) < 0 ||
        pd_buf_puts(&b, prefix) < 0 || pd_buf_putc(&b, '{') < 0)
        goto oom;
    for (const unsigned char *p = (const unsigned char *)list_id; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '_' || *p == '-' || *p == '@' || *p == '+';
        char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
        if ((ok ? pd_buf_putc(&b, (char)*p) : pd_buf_append(&b, esc, 3)) < 0)
            goto oom;
    }
    if (pd_buf_puts(&b, "}:") < 0)
        goto oom;
    return pd_buf_steal(&b);
oom:
    pd_buf_free(&b);
    return NULL;
}

/* Send one command and wait for its reply; NULL with err set when the
 * connection failed or Redis answered an error.  The error names what was
 * asked, never its arguments: AUTH carries the password. */
static redisReply *command(struct pd_store *s, const char *what, char *err, size_t errlen,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(s->c, fmt, ap);
    va_end(ap);
    s->round_trips++;
    if (!r) {
        set_err(err, errlen, what, s->c);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: %s refused: %s", what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int load_script(struct pd_store *s, char *err, size_t errlen)
{
    redisReply *r = command(s, "SCRIPT LOAD", err, errlen, "SCRIPT LOAD %s", pd_record_lua);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        rc = 0;
    } else {
        snprintf(err, errlen, "redis: SCRIPT LOAD: unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

/* Connect to one server (within connect_tv) and AUTH: 0, or -1 with err
 * set (s->c may be set).  tv bounds each command. */
static int open_server(struct pd_store *s, const struct pd_config *cfg, const char *host,
                       int port, struct timeval connect_tv, struct timeval tv, char *err,
                       size_t errlen)
{
    if (cfg->redis_path && !host) {
        s->c = redisConnectUnixWithTimeout(cfg->redis_path, connect_tv);
        snprintf(s->addr, sizeof s->addr, "unix:%s", cfg->redis_path);
    } else {
        s->c = redisConnectWithTimeout(host, port, connect_tv);
        snprintf(s->addr, sizeof s->addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    }
    if (!s->c || s->c->err) {
        snprintf(err, errlen, "redis: cannot connect to %s%s%s: %s", cfg->redis,
                 cfg->sentinel_master ? ", at " : "", cfg->sentinel_master ? s->addr : "",
                 s->c ? s->c->errstr : "out of memory");
        return -1;
    }
    if (redisSetTimeout(s->c, tv) != REDIS_OK) {
        set_err(err, errlen, "set timeout", s->c);
        return -1;
    }
    redisReply *r;
    if (cfg->redis_password) {
        if (!(r = command(s, "AUTH", err, errlen, "AUTH %s", cfg->redis_password)))
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

/* ---- Redis Sentinel (issue 19): the master is asked of the sentinels ---- */

/* Ask the sentinels for the master, connect, AUTH, and check its ROLE; a
 * server that is gone or is not (or no longer) the master sends us back to
 * the sentinels: during a failover they name the old master until they
 * agree on the new one.  Tries for up to timeout_ms in all (at least three
 * times).  0, or -1 with err set. */
static int open_sentinel_master(struct pd_store *s, const struct pd_config *cfg,
                                struct timeval tv, int timeout_ms, char *err, size_t errlen)
{
    uint64_t deadline = pd_now_us() + (uint64_t)timeout_ms * 1000;
    for (int attempt = 0;; attempt++) {
        if (attempt) {
            if (attempt >= 3 && pd_now_us() >= deadline)
                return -1;
            struct timespec pause = { 0, 250 * 1000 * 1000 };
            nanosleep(&pause, NULL);
        }
        if (s->c) {
            redisFree(s->c);
            s->c = NULL;
        }
        char host[256], role[32];
        int port;
        int per_sentinel = timeout_ms < 1000 ? timeout_ms : 1000;
        if (pd_sentinel_master(cfg, per_sentinel, host, sizeof host, &port, err, errlen) < 0)
            continue;
        /* a dead master is asked about again soon, not waited for */
        struct timeval ctv = tv.tv_sec >= 2 ? (struct timeval){ 2, 0 } : tv;
        if (open_server(s, cfg, host, port, ctv, tv, err, errlen) < 0)
            continue;   /* the named master is gone: ask again */
        int m = pd_sentinel_role_is_master(s->c, role, sizeof role, err, errlen);
        if (m == 1)
            return 0;
        if (m == 0)
            snprintf(err, errlen, "redis: %s, named master of %s by the sentinels, is a %s",
                     s->addr, cfg->sentinel_master, role);
    }
}

int pd_store_connect(struct pd_store **out, const struct pd_config *cfg, int timeout_ms,
                     char *err, size_t errlen)
{
    *out = NULL;
    struct pd_store *s = calloc(1, sizeof *s);
    if (!s || !(s->prefix = strdup(cfg->key_prefix))) {
        free(s);
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    s->retention = cfg->retention;
    if (!(s->archive_url = strdup(cfg->archive_url ? cfg->archive_url : "")) ||
        !(s->z = pd_textz_new())) {
        free(s->archive_url);
        free(s->prefix);
        free(s);
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int rc = cfg->sentinel_master
             ? open_sentinel_master(s, cfg, tv, timeout_ms, err, errlen)
             : open_server(s, cfg, cfg->redis_host, cfg->redis_port, tv, tv, err, errlen);
    if (rc < 0) {
        pd_store_free(s);
        return -1;
    }
    redisReply *r;
    if (cfg->redis_database) {
        if (!(r = command(s, "SELECT", err, errlen, "SELECT %d", cfg->redis_database))) {
            pd_store_free(s);
            return -1;
        }
        freeReplyObject(r);
    }
    if (load_script(s, err, errlen) < 0) {
        pd_store_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

const char *pd_store_address(const struct pd_store *s)
{
    return s->addr;
}

int pd_store_wait_replicas(struct pd_store *s, int n, int timeout_ms, char *err, size_t errlen)
{
    redisReply *r = command(s, "WAIT", err, errlen, "WAIT %d %d", n, timeout_ms);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        rc = r->integer > 1000 ? 1000 : (int)r->integer;
    else
        snprintf(err, errlen, "redis: unexpected reply to WAIT");
    freeReplyObject(r);
    return rc;
}

int pd_store_master_moved(struct pd_store *s, const struct pd_config *cfg, char *err,
                          size_t errlen)
{
    if (!cfg->sentinel_master)
        return 0;
    char host[256], addr[300];
    int port;
    if (pd_sentinel_master(cfg, 1000, host, sizeof host, &port, err, errlen) < 0)
        return -1;
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    return strcmp(addr, s->addr) != 0;
}

static void chains_free(struct chains *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        free(ch->c[i].base);
    free(ch->c);
    free(ch->ids);
}

void pd_store_free(struct pd_store *s)
{
    if (!s)
        return;
    chains_free(&s->learnt);
    chains_free(&s->planned);
    if (s->c)
        redisFree(s->c);
    free(s->prefix);
    free(s->archive_url);
    pd_textz_free(s->z);
    pd_buf_free(&s->resp);
    free(s);
}

uint64_t pd_store_round_trips(const struct pd_store *s)
{
    return s->round_trips;
}

/* ---- recording ---- */

/* One EVALSHA of record.lua per list of a batch, carrying that list's
 * records in their order: EVALSHA <sha> 1 <base>meta <base> <ttl> <list>
 * <opened> <per>, then per record PER_RECORD values: the VALUES values the
 * script reads (record.lua says which) as one run of MessagePack strings,
 * which one cmsgpack.unpack() in the script turns into Lua strings (as
 * many values of the call cost Redis about 700 instructions each more, to
 * parse and hand over), then the PACKED parts of the mail.  Only what the
 * script reads goes: its strings cost it a few ns a byte.  The long texts go
 * ahead of the call, SET <base>H:<sha1(mid)> <block> NX EX <ttl> and SET
 * <base>X:<sha1(mid)> <excerpt> NX EX <ttl>, and record.lua keeps or
 * deletes them; the excerpt and likely-kept blocks are compressed
 * (pd_textz.h).  The mail's fixed values come packed (pack_mail()). */
#define HEAD_ARGS 10
#define HASHES 6          /* the sha1s record.lua would compute (see there) */
#define PACKED 3          /* the parts of the mail record.lua stores as they come */
#define VALUES 21         /* the values record.lua reads of a mail (below) */
#define PER_RECORD (1 + PACKED)

/* A batch's records of one list. */
struct group {
    char *list;          /* the list id */
    char *base;          /* <prefix>{<list>}: */
    size_t *idx;         /* the items it carries, in order */
    size_t n;
    size_t nsets;        /* SETs of header blocks and excerpts queued ahead of its EVALSHA */
};

/* The sha1s record.lua takes with a record: of the Message-ID, of the
 * record id (16 digits), and for covers and patches of the subject, the
 * series key ("<version> <root>") and the title with its blanks collapsed
 * (runs of blanks one space, trimmed: Lua's %s is C's isspace); of the
 * root.  0, or -1 out of memory. */
static int record_hashes(const struct pd_record *r, const char *rid, char h[HASHES][41],
                         pd_buf *tmp)
{
    const struct pd_field_view *f = r->f;
    pd_sha1_hex(f[PD_F_MID].p, f[PD_F_MID].len, h[0]);
    pd_sha1_hex(rid, strlen(rid), h[1]);
    h[1][16] = '\0';
    pd_sha1_hex(f[PD_F_ROOT].p, f[PD_F_ROOT].len, h[5]);
    bool post = (f[PD_F_CLASS].len == 5 && memcmp(f[PD_F_CLASS].p, "cover", 5) == 0) ||
                (f[PD_F_CLASS].len == 5 && memcmp(f[PD_F_CLASS].p, "patch", 5) == 0);
    if (!post) {
        h[2][0] = h[3][0] = h[4][0] = '\0';
        return 0;
    }
    pd_sha1_hex(f[PD_F_SUBJECT].p, f[PD_F_SUBJECT].len, h[2]);
    pd_buf_reset(tmp);
    if (pd_buf_append(tmp, f[PD_F_VERSION].p, f[PD_F_VERSION].len) < 0 ||
        pd_buf_putc(tmp, ' ') < 0 || pd_buf_append(tmp, f[PD_F_ROOT].p, f[PD_F_ROOT].len) < 0)
        return -1;
    pd_sha1_hex(tmp->data, tmp->len, h[3]);
    pd_buf_reset(tmp);
    bool blank = false;
    for (size_t i = 0; i < f[PD_F_TITLE].len; i++) {
        unsigned char c = (unsigned char)f[PD_F_TITLE].p[i];
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            blank = true;
            continue;
        }
        if (blank && tmp->len && pd_buf_putc(tmp, ' ') < 0)
            return -1;
        blank = false;
        if (pd_buf_putc(tmp, (char)c) < 0)
            return -1;
    }
    pd_sha1_hex(tmp->data ? tmp->data : "", tmp->len, h[4]);
    return 0;
}

/* MessagePack as Redis's cmsgpack writes it (record.lua's M:<sha1> is a
 * run of MessagePack values): a string (fixstr, str8, str16, str32), a
 * boolean, a non-negative integer.  0, or -1 out of memory. */

/* A value's head: n itself in the fix form (fix | n) below fixlimit, else
 * tag8, tag8 + 1 or tag8 + 2 and n in 1, 2 or 4 bytes, big-endian. */
static int mp_head(pd_buf *b, uint32_t n, unsigned char fix, uint32_t fixlimit,
                   unsigned char tag8)
{
    unsigned char h[5];
    size_t hl;
    if (n < fixlimit) {
        h[0] = (unsigned char)(fix | n);
        hl = 1;
    } else {
        int bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : 4;
        h[0] = (unsigned char)(tag8 + (bytes == 1 ? 0 : bytes == 2 ? 1 : 2));
        for (int i = 0; i < bytes; i++)
            h[1 + i] = (unsigned char)(n >> (8 * (bytes - 1 - i)));
        hl = 1 + (size_t)bytes;
    }
    return pd_buf_append(b, (const char *)h, hl);
}

static int mp_str(pd_buf *b, const char *p, size_t len)
{
    if (len > UINT32_MAX || mp_head(b, (uint32_t)len, 0xa0, 32, 0xd9) < 0)
        return -1;
    return pd_buf_append(b, p, len);
}

static int mp_bool(pd_buf *b, bool v)
{
    return pd_buf_putc(b, (char)(v ? 0xc3 : 0xc2));
}

static int mp_uint(pd_buf *b, uint32_t n)
{
    return mp_head(b, n, 0x00, 128, 0xcc);
}

static bool view_eq(struct pd_field_view a, const char *p, size_t len)
{
    return a.len == len && (len == 0 || memcmp(a.p, p, len) == 0);
}

/* The id a mail answers: In-Reply-To, else the last id of References. */
static struct pd_field_view parent_of(const struct pd_record *r)
{
    struct pd_field_view parent = r->f[PD_F_IRT];
    if (!parent.len) {
        const char *rp = r->f[PD_F_REFS].p;
        size_t rl = r->f[PD_F_REFS].len;
        while (rl && rp[rl - 1] == '\n')
            rl--;
        const char *nl = rl ? memrchr(rp, '\n', rl) : NULL;
        parent.p = nl ? nl + 1 : rp;
        parent.len = nl ? rl - (size_t)(nl + 1 - rp) : rl;
    }
    return parent;
}

/* The parts of the mail (record.lua's M:<sha1>, "The mail") that are the
 * record's own and never change, packed here once instead of by Lua:
 * mp[0] rid class parent series index total subject title mid addr name
 * author root, mp[1] version time flags prefixes, mp[2] tr.  record.lua
 * puts the values it decides between them.  rid is the record id's sha1
 * (16 digits), series the series key's (covers and patches), parent the
 * reply's (parent_of(), computed once by the caller); the rest as
 * record.lua documents it.  0, or -1 out of memory. */
static int pack_mail(const struct pd_record *r, char h[HASHES][41],
                     struct pd_field_view parent, pd_buf mp[PACKED], pd_buf *tmp)
{
    const struct pd_field_view *f = r->f;
    bool reply = view_eq(f[PD_F_CLASS], "reply", 5);
    bool post = view_eq(f[PD_F_CLASS], "cover", 5) || view_eq(f[PD_F_CLASS], "patch", 5);
    /* the identity: "Name <addr>", "<addr>" without a name, "" without an address */
    pd_buf_reset(tmp);
    if (pd_identity_put(tmp, f[PD_F_NAME].p, f[PD_F_NAME].len, f[PD_F_ADDR].p, f[PD_F_ADDR].len) < 0)
        return -1;
    const char *ident = tmp->data ? tmp->data : "";
    size_t identlen = tmp->len;
    struct pd_field_view subj = f[PD_F_SUBJECT], title = f[PD_F_TITLE];
    bool title_tail = title.len && title.len <= subj.len &&
                      memcmp(subj.p + subj.len - title.len, title.p, title.len) == 0;
    pd_buf *b = &mp[0];
    pd_buf_reset(b);
    if (mp_str(b, h[1], strlen(h[1])) < 0 ||
        mp_str(b, f[PD_F_CLASS].p, f[PD_F_CLASS].len) < 0 ||
        (!reply || !parent.len ? mp_bool(b, false)
         : view_eq(parent, f[PD_F_ROOT].p, f[PD_F_ROOT].len) ? mp_bool(b, true)
         : mp_str(b, parent.p, parent.len)) < 0 ||
        (post ? mp_str(b, h[3], strlen(h[3])) : mp_bool(b, false)) < 0 ||
        mp_str(b, f[PD_F_INDEX].p, f[PD_F_INDEX].len) < 0 ||
        mp_str(b, f[PD_F_TOTAL].p, f[PD_F_TOTAL].len) < 0 ||
        mp_str(b, subj.p, subj.len) < 0 ||
        (title_tail ? mp_uint(b, (uint32_t)title.len) : mp_str(b, title.p, title.len)) < 0 ||
        mp_str(b, f[PD_F_MID].p, f[PD_F_MID].len) < 0 ||
        mp_str(b, f[PD_F_ADDR].p, f[PD_F_ADDR].len) < 0 ||
        mp_str(b, f[PD_F_NAME].p, f[PD_F_NAME].len) < 0 ||
        (view_eq(f[PD_F_AUTHOR], ident, identlen) ? mp_bool(b, true)
         : mp_str(b, f[PD_F_AUTHOR].p, f[PD_F_AUTHOR].len)) < 0 ||
        (view_eq(f[PD_F_ROOT], f[PD_F_MID].p, f[PD_F_MID].len) ? mp_bool(b, true)
         : mp_str(b, f[PD_F_ROOT].p, f[PD_F_ROOT].len)) < 0)
        return -1;
    b = &mp[1];
    pd_buf_reset(b);
    if (mp_str(b, f[PD_F_VERSION].p, f[PD_F_VERSION].len) < 0 ||
        mp_str(b, f[PD_F_TIME].p, f[PD_F_TIME].len) < 0 ||
        mp_str(b, f[PD_F_FLAGS].p, f[PD_F_FLAGS].len) < 0 ||
        mp_str(b, f[PD_F_PREFIXES].p, f[PD_F_PREFIXES].len) < 0)
        return -1;
    b = &mp[2];
    pd_buf_reset(b);
    if ((reply && f[PD_F_TRAILERS].len ? mp_str(b, f[PD_F_TRAILERS].p, f[PD_F_TRAILERS].len)
                                       : mp_bool(b, false)) < 0)
        return -1;
    return 0;
}

/* Write a command, its arguments given with their lengths, in Redis's
 * protocol at the end of out (hiredis's redisAppendCommandArgv formats
 * each argument's length with its own printf, a tenth of import's
 * shipping thread).  0, or -1 out of memory. */
static int append_command(pd_buf *out, size_t argc, const char *const *argv,
                          const size_t *lens)
{
    size_t need = 16;
    for (size_t i = 0; i < argc; i++)
        need += lens[i] + 24;
    if (pd_buf_reserve(out, need) < 0)
        return -1;
    char *w = out->data + out->len;
    /* "*<argc>\r\n", then "$<len>\r\n<arg>\r\n" for each */
    for (size_t i = 0; i <= argc; i++) {
        size_t v = i == 0 ? argc : lens[i - 1];
        char digits[24];
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        *w++ = i == 0 ? '*' : '$';
        while (nd)
            *w++ = digits[--nd];
        *w++ = '\r';
        *w++ = '\n';
        if (i > 0) {
            if (lens[i - 1])
                memcpy(w, argv[i - 1], lens[i - 1]);
            w += lens[i - 1];
            *w++ = '\r';
            *w++ = '\n';
        }
    }
    out->len = (size_t)(w - out->data);
    return 0;
}

/* Write SET <base><kind><midh> <text> NX EX <ttl> to out, the text
 * compressed with z when pack (pd_textz.h) and counted in g->nsets; key
 * and buf are scratch.  0, or -1 with err set. */
static int queue_text(pd_buf *out, struct pd_textz *z, struct group *g, const char *kind,
                      const char *midh, struct pd_field_view text, bool pack, const char *ttl,
                      pd_buf *key, pd_buf *buf, char *err, size_t errlen)
{
    pd_buf_reset(key);
    pd_buf_reset(buf);
    if (pd_buf_puts(key, g->base) < 0 || pd_buf_puts(key, kind) < 0 || pd_buf_puts(key, midh) < 0 ||
        (pack ? pd_textz_pack(z, buf, text.p, text.len)
              : pd_buf_append(buf, text.p, text.len)) < 0) {
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    const char *sv[] = { "SET", key->data, buf->data ? buf->data : "", "NX", "EX", ttl };
    size_t sl[] = { 3, key->len, buf->len, 2, 2, strlen(ttl) };
    if (append_command(out, 6, sv, sl) < 0) {
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    g->nsets++;
    return 0;
}

/* The chain of base, NULL when unknown. */
static struct chain *chain_find(struct chains *ch, const char *base)
{
    for (size_t i = 0; ch && i < ch->n; i++)
        if (strcmp(ch->c[i].base, base) == 0)
            return &ch->c[i];
    return NULL;
}

/* Set base's head (40 hex digits); 0, or -1 out of memory. */
static int chain_set(struct chains *ch, const char *base, const char *head)
{
    struct chain *c = chain_find(ch, base);
    if (!c) {
        struct chain *n = realloc(ch->c, (ch->n + 1) * sizeof *n);
        if (!n)
            return -1;
        ch->c = n;
        c = &ch->c[ch->n];
        if (!(c->base = strdup(base)))
            return -1;
        ch->n++;
    }
    memcpy(c->head, head, 40);
    c->head[40] = '\0';
    return 0;
}

/* The slot of ids (cap slots, a power of 2) that holds k, or the empty
 * one where k would go. */
static size_t ids_slot(const uint64_t *ids, size_t cap, uint64_t k)
{
    size_t j = (size_t)(k * 0x9E3779B97F4A7C15u) & (cap - 1);
    while (ids[j] && ids[j] != k)
        j = (j + 1) & (cap - 1);
    return j;
}

/* Whether the Message-ID whose sha1 is midh (hex) was planned before, and
 * now is: 1 yes, 0 no, -1 out of memory.  After CHAIN_IDS ids (16 MB of
 * set) it takes no more: a Message-ID seen again after that is expected
 * new, the script finds it known and hashes the chain itself, for that
 * batch and, the expectations gone wrong, for the import's next ones. */
#define CHAIN_IDS (1u << 20)
static int chain_seen(struct chains *ch, const char *midh)
{
    uint64_t k = 0;
    for (int i = 0; i < 16; i++) {
        char c = midh[i];
        k = k << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    k |= 1;   /* never 0, the empty slot */
    if (ch->capids && ch->ids[ids_slot(ch->ids, ch->capids, k)] == k)
        return 1;
    if (ch->nids >= CHAIN_IDS)
        return 0;
    if (2 * (ch->nids + 1) > ch->capids) {
        size_t cap = ch->capids ? 2 * ch->capids : 1024;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < ch->capids; i++)
            if (ch->ids[i])
                t[ids_slot(t, cap, ch->ids[i])] = ch->ids[i];
        free(ch->ids);
        ch->ids = t;
        ch->capids = cap;
    }
    ch->ids[ids_slot(ch->ids, ch->capids, k)] = k;
    ch->nids++;
    return 0;
}

/* Write the EVALSHA of one group (and the SETs ahead of it) to out, its
 * texts compressed with z; 0, or -1 with err set. */
static int append_group(const struct pd_store *s, struct pd_textz *z, pd_buf *out,
                        struct group *g, struct pd_store_item *items, bool eval,
                        struct chains *ch, bool plan, char *err, size_t errlen)
{
    pd_buf key = PD_BUF_INIT;
    pd_buf ez = PD_BUF_INIT;   /* a text, packed (copied into out when written) */
    pd_buf (*mp)[PACKED] = calloc(g->n ? g->n : 1, sizeof *mp);
    pd_buf vals = PD_BUF_INIT;   /* each mail's values, in turn (their offsets: voff) */
    size_t *voff = calloc(g->n ? g->n : 1, sizeof *voff);
    pd_buf tmp = PD_BUF_INIT;
    size_t argc = HEAD_ARGS + g->n * PER_RECORD;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    pd_buf meta = PD_BUF_INIT;
    /* the chain the writer expects (record.lua): the head before, the head
     * after, one digit a mail; "" when the head before is unknown */
    struct chain *known = chain_find(ch, g->base);
    pd_buf chain = PD_BUF_INIT;
    char head[41];
    char (*mids)[41] = calloc(g->n ? g->n : 1, sizeof *mids);   /* the group's, for twins */
    int rc = -1;
    if (!argv || !lens || !mp || !voff || !mids || pd_buf_printf(&meta, "%smeta", g->base) < 0 ||
        (known && (pd_buf_append(&chain, known->head, 40) < 0 ||
                   pd_buf_append(&chain, known->head, 40) < 0))) {
        snprintf(err, errlen, "redis: out of memory");
        goto out;
    }
    if (known)
        memcpy(head, known->head, 41);
    char ttl[32], per[16];
    snprintf(ttl, sizeof ttl, "%" PRIu64, s->retention);
    snprintf(per, sizeof per, "%d", PER_RECORD);
    argv[0] = eval ? "EVAL" : "EVALSHA";
    argv[1] = eval ? pd_record_lua : s->sha;
    argv[2] = "1";
    argv[3] = meta.data;
    argv[4] = g->base;
    argv[5] = ttl;
    argv[6] = "";        /* the list id and the first mail's time: below */
    argv[7] = "";
    argv[8] = per;
    argv[9] = "";        /* the chain: below */
    for (size_t i = 0; i < HEAD_ARGS; i++)
        lens[i] = strlen(argv[i]);
    size_t a = HEAD_ARGS;
    for (size_t k = 0; k < g->n; k++) {
        struct pd_store_item *it = &items[g->idx[k]];
        struct pd_record r;
        if (pd_record_decode(it->payload, it->len, &r) < 0) {   /* decoded before */
            snprintf(err, errlen, "redis: a record changed while queued");
            goto out;
        }
        if (k == 0) {
            /* the window a batch opens, it opens with its first mail */
            argv[6] = r.f[PD_F_LIST].p;
            lens[6] = r.f[PD_F_LIST].len;
            argv[7] = r.f[PD_F_TIME].p;
            lens[7] = r.f[PD_F_TIME].len;
        }
        /* what: t truncated, x excerpt and h header block sent ahead */
        char what[4];
        size_t wn = 0;
        if (r.f[PD_F_FLAGS].len && memchr(r.f[PD_F_FLAGS].p, 't', r.f[PD_F_FLAGS].len))
            what[wn++] = 't';
        if (r.f[PD_F_EXCERPT].len)
            what[wn++] = 'x';
        if (r.f[PD_F_HEADERS].len)
            what[wn++] = 'h';
        /* the reply's review trailers: how many (their lines are packed) */
        size_t ntrailers = 0;
        const char *tp = r.f[PD_F_TRAILERS].p, *te = tp + r.f[PD_F_TRAILERS].len;
        while (tp < te) {
            const char *nl = memchr(tp, '\n', (size_t)(te - tp));
            if ((nl ? nl : te) > tp)
                ntrailers++;
            tp = nl ? nl + 1 : te;
        }
        char ntr[PD_UTOA_MAX];
        size_t ntrl = ntrailers ? pd_utoa(ntrailers, ntr) : 0;
        char hx[HASHES][41];   /* read only here: the values and packed parts copy them */
        if (record_hashes(&r, it->record_id, hx, &tmp) < 0) {
            snprintf(err, errlen, "redis: out of memory");
            goto out;
        }
        struct pd_field_view parent = parent_of(&r);
        if (known) {
            /* new, unless its Message-ID came earlier in the group (or, for
             * an import, in an earlier batch): the head moves on by it */
            bool twin = false;
            memcpy(mids[k], hx[0], 41);
            for (size_t j = 0; j < k && !twin; j++)
                twin = strcmp(mids[j], hx[0]) == 0;
            int seen = plan && !twin ? chain_seen(ch, hx[0]) : 0;
            if (seen < 0 || pd_buf_putc(&chain, twin || seen ? '0' : '1') < 0) {
                snprintf(err, errlen, "redis: out of memory");
                goto out;
            }
            if (!twin && !seen) {
                pd_buf_reset(&tmp);
                if (pd_buf_append(&tmp, head, 40) < 0 || pd_buf_putc(&tmp, '\n') < 0 ||
                    pd_buf_append(&tmp, r.f[PD_F_MID].p, r.f[PD_F_MID].len) < 0) {
                    snprintf(err, errlen, "redis: out of memory");
                    goto out;
                }
                pd_sha1_hex(tmp.data, tmp.len, head);
            }
        }
        /* what the script reads of the record, in its order (record.lua) */
        const struct pd_field_view v[VALUES] = {
            { it->record_id, strlen(it->record_id) },
            r.f[PD_F_MID], r.f[PD_F_CLASS], r.f[PD_F_VERSION], r.f[PD_F_INDEX],
            r.f[PD_F_TOTAL], r.f[PD_F_NAME], r.f[PD_F_ADDR], r.f[PD_F_SUBJECT],
            r.f[PD_F_ROOT], parent, r.f[PD_F_REVIEWERS], { what, wn }, { ntr, ntrl },
            r.f[PD_F_NOTICE],
            { hx[0], strlen(hx[0]) }, { hx[1], strlen(hx[1]) },
            { hx[2], strlen(hx[2]) }, { hx[3], strlen(hx[3]) },
            { hx[4], strlen(hx[4]) }, { hx[5], strlen(hx[5]) },
        };
        voff[k] = vals.len;
        for (int i = 0; i < VALUES; i++) {
            if (mp_str(&vals, v[i].p, v[i].len) < 0) {
                snprintf(err, errlen, "redis: out of memory");
                goto out;
            }
        }
        lens[a++] = vals.len - voff[k];   /* argv: below, once vals has stopped growing */
        if (pack_mail(&r, hx, parent, mp[k], &tmp) < 0) {
            snprintf(err, errlen, "redis: out of memory");
            goto out;
        }
        for (int i = 0; i < PACKED; i++) {
            argv[a] = mp[k][i].data;
            lens[a++] = mp[k][i].len;
        }
        /* the excerpt, compressed, ahead of the call (pd_textz.h); the
         * header block too, compressed when the page likely shows it (a
         * cover, a patch without i/n or 1/n, as record.lua decides it:
         * compressing costs the writer about 4 ns a byte, and the others
         * are mostly deleted) */
        bool likely = (r.f[PD_F_CLASS].len == 5 && memcmp(r.f[PD_F_CLASS].p, "cover", 5) == 0) ||
                      r.f[PD_F_INDEX].len == 0 ||
                      (r.f[PD_F_INDEX].len == 1 && r.f[PD_F_INDEX].p[0] == '1');
        if ((r.f[PD_F_EXCERPT].len &&
             queue_text(out, z, g, "X:", hx[0], r.f[PD_F_EXCERPT], true, ttl, &key, &ez, err,
                        errlen) < 0) ||
            (r.f[PD_F_HEADERS].len &&
             queue_text(out, z, g, "H:", hx[0], r.f[PD_F_HEADERS], likely, ttl, &key, &ez, err,
                        errlen) < 0))
            goto out;
    }
    for (size_t k = 0; k < g->n; k++)
        argv[HEAD_ARGS + k * PER_RECORD] = vals.data + voff[k];
    if (known) {
        memcpy(chain.data + 40, head, 40);
        argv[9] = chain.data;
        lens[9] = chain.len;
        /* import: the next batch expects the head this one should leave */
        if (plan)
            memcpy(known->head, head, 41);
    }
    if (append_command(out, argc, argv, lens) == 0)
        rc = 0;
    else
        snprintf(err, errlen, "redis: out of memory");
out:
    free(mids);
    pd_buf_free(&chain);
    free(argv);
    free(lens);
    pd_buf_free(&meta);
    pd_buf_free(&key);
    pd_buf_free(&tmp);
    for (size_t k = 0; mp && k < g->n; k++)
        for (int i = 0; i < PACKED; i++)
            pd_buf_free(&mp[k][i]);
    free(mp);
    pd_buf_free(&vals);
    free(voff);
    pd_buf_free(&ez);
    return rc;
}

static void groups_free(struct group *g, size_t ng)
{
    for (size_t i = 0; i < ng; i++) {
        free(g[i].list);
        free(g[i].base);
        free(g[i].idx);
    }
    free(g);
}

/* Split the batch by list, in order; malformed records are marked and left
 * out.  0, or -1 out of memory. */
static int group_batch(const struct pd_store *s, struct pd_store_item *items, size_t n,
                       struct group **out, size_t *nout)
{
    struct group *g = calloc(n ? n : 1, sizeof *g);
    size_t ng = 0;
    if (!g)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct pd_record r;
        if (pd_record_decode(items[i].payload, items[i].len, &r) < 0) {
            pd_log(PD_LOG_ERR, "record %s is malformed and was skipped", items[i].record_id);
            items[i].result = -1;
            continue;
        }
        struct pd_field_view list = r.f[PD_F_LIST];
        size_t k = 0;
        while (k < ng && !(strlen(g[k].list) == list.len && memcmp(g[k].list, list.p, list.len) == 0))
            k++;
        if (k == ng) {
            /* a new list: its key base (the lists' ids are distinct, and so are their bases) */
            g[k].list = pd_strndup(list.p, list.len);
            g[k].base = g[k].list ? pd_store_base(s->prefix, g[k].list) : NULL;
            g[k].idx = calloc(n, sizeof *g[k].idx);
            if (!g[k].list || !g[k].base || !g[k].idx) {
                groups_free(g, ng + 1);
                return -1;
            }
            ng++;
        }
        g[k].idx[g[k].n++] = i;
    }
    *out = g;
    *nout = ng;
    return 0;
}

/* A reply error that says the record itself is bad, not the server's state. */
static bool record_error(const char *msg)
{
    return strncmp(msg, "ERR", 3) == 0 || strncmp(msg, "WRONGTYPE", 9) == 0;
}

/* Write a batch's commands to out (EVAL with the script's text when eval,
 * else EVALSHA), its texts compressed with z, each list's chain as ch
 * expects it (plan: and ch moves on to the heads the batch should leave);
 * 0, or -1 with err set.  It reads only s's settings (and ch), so one
 * thread may write a batch while another sends or receives on s. */
static int queue_batch(const struct pd_store *s, struct pd_textz *z, pd_buf *out,
                       struct pd_store_item *items, size_t n, bool eval, struct chains *ch,
                       bool plan, struct group **gout, size_t *ngout, char *err, size_t errlen)
{
    struct group *g;
    size_t ng;
    if (group_batch(s, items, n, &g, &ng) < 0) {
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    for (size_t k = 0; k < ng; k++) {
        if (append_group(s, z, out, &g[k], items, eval, ch, plan, err, errlen) < 0) {
            groups_free(g, ng);
            return -1;
        }
    }
    *gout = g;
    *ngout = ng;
    return 0;
}

/* Read the answers of a queued batch into its items, and free g; 0, or -1
 * with err set.  *noscript: Redis did not have the script (EVALSHA).  The
 * chain heads the script answers go into learn (when not NULL). */
static int read_batch(struct pd_store *s, struct pd_store_item *items, struct group *g,
                      size_t ng, struct chains *learn, bool *noscript, char *err, size_t errlen)
{
    *noscript = false;
    int rc = 0;
    if (ng)
        s->round_trips++;
    for (size_t k = 0; k < ng; k++) {
        redisReply *r = NULL;
        for (size_t i = 0; i < g[k].nsets; i++) {
            if (redisGetReply(s->c, (void **)&r) != REDIS_OK || !r) {
                set_err(err, errlen, "SET", s->c);
                groups_free(g, ng);
                return -1;
            }
            if (r->type == REDIS_REPLY_ERROR) {   /* out of memory, read only: try later */
                snprintf(err, errlen, "redis: SET of a header block or excerpt: %s", r->str);
                rc = -1;
            }
            freeReplyObject(r);
            r = NULL;
        }
        if (redisGetReply(s->c, (void **)&r) != REDIS_OK || !r) {
            set_err(err, errlen, "EVALSHA", s->c);
            groups_free(g, ng);
            return -1;   /* the connection is gone; the caller drops it */
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == g[k].n + 1) {
            /* the last: the list's chain head after the batch */
            const redisReply *h = r->element[g[k].n];
            if (learn && h->type == REDIS_REPLY_STRING && h->len == 40 &&
                chain_set(learn, g[k].base, h->str) < 0) {
                snprintf(err, errlen, "redis: out of memory");
                rc = -1;
            }
            for (size_t i = 0; i < g[k].n; i++) {
                struct pd_store_item *it = &items[g[k].idx[i]];
                const redisReply *e = r->element[i];
                if (e->type == REDIS_REPLY_INTEGER) {
                    it->result = (int)e->integer;
                } else {
                    pd_log(PD_LOG_ERR, "record %s refused by Redis and skipped: %s",
                           it->record_id, e->type == REDIS_REPLY_ERROR ? e->str : "no result");
                    it->result = -1;
                }
            }
        } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            *noscript = true;
        } else if (r->type == REDIS_REPLY_ERROR && record_error(r->str)) {
            /* the script failed outside any one record: nothing of the
             * group can be told apart; its records are skipped */
            pd_log(PD_LOG_ERR, "%zu records refused by Redis and skipped: %s", g[k].n, r->str);
            for (size_t i = 0; i < g[k].n; i++)
                items[g[k].idx[i]].result = -1;
        } else {
            snprintf(err, errlen, "redis: EVALSHA: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;   /* keep reading the other replies, then fail the batch */
        }
        freeReplyObject(r);
    }
    groups_free(g, ng);
    return rc;
}

static int send_batch(struct pd_store *s, struct pd_store_item *items, size_t n,
                      bool *noscript, char *err, size_t errlen)
{
    struct group *g;
    size_t ng;
    *noscript = false;
    pd_buf_reset(&s->resp);
    if (queue_batch(s, s->z, &s->resp, items, n, false, &s->learnt, false, &g, &ng, err,
                    errlen) < 0)
        return -1;
    if (redisAppendFormattedCommand(s->c, s->resp.data, s->resp.len) != REDIS_OK) {
        set_err(err, errlen, "queue EVALSHA", s->c);
        groups_free(g, ng);
        return -1;
    }
    return read_batch(s, items, g, ng, &s->learnt, noscript, err, errlen);
}

int pd_store_record(struct pd_store *s, struct pd_store_item *items, size_t n, char *err,
                    size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        bool noscript;
        if (send_batch(s, items, n, &noscript, err, errlen) < 0)
            return -1;
        if (!noscript)
            return 0;
        pd_log(PD_LOG_NOTICE, "redis lost the record script (NOSCRIPT): loading it again");
        if (load_script(s, err, errlen) < 0)
            return -1;
    }
    snprintf(err, errlen, "redis: NOSCRIPT twice in a row");
    return -1;
}

struct pd_store_sent {
    struct pd_store_item *items;
    struct group *g;
    size_t ng;
    pd_buf bytes;         /* its commands in Redis's protocol */
};

void pd_store_sent_free(struct pd_store_sent *p)
{
    if (!p)
        return;
    groups_free(p->g, p->ng);
    pd_buf_free(&p->bytes);
    free(p);
}

int pd_store_plan_chain(struct pd_store *s, const char *list_id, char *err, size_t errlen)
{
    char *base = pd_store_base(s->prefix, list_id);
    if (!base) {
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    redisReply *r = command(s, "HGET", err, errlen, "HGET %smeta head", base);
    int rc = -1;
    if (r) {
        char h0[41];
        const char *head = NULL;
        if (r->type == REDIS_REPLY_STRING && r->len == 40)
            head = r->str;
        else if (r->type == REDIS_REPLY_NIL) {
            pd_sha1_hex(list_id, strlen(list_id), h0);   /* as the script opens it */
            head = h0;
        }
        rc = 0;
        if (head && chain_set(&s->planned, base, head) < 0) {
            snprintf(err, errlen, "redis: out of memory");
            rc = -1;
        }
        freeReplyObject(r);
    }
    free(base);
    return rc;
}

int pd_store_prepare(struct pd_store *s, struct pd_textz *z, struct pd_store_item *items,
                     size_t n, struct pd_store_sent **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pd_store_sent *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "redis: out of memory");
        return -1;
    }
    /* EVAL, not EVALSHA: Redis finds the script by its text's SHA-1 and
     * never answers NOSCRIPT, which a batch sent behind another could not
     * recover from in order */
    if (queue_batch(s, z, &p->bytes, items, n, true, &s->planned, true, &p->g, &p->ng, err,
                    errlen) < 0) {
        pd_buf_free(&p->bytes);
        free(p);
        return -1;
    }
    p->items = items;
    *out = p;
    return 0;
}

int pd_store_send(struct pd_store *s, struct pd_store_sent *p, char *err, size_t errlen)
{
    /* anything hiredis still holds to send goes first (in import, nothing) */
    int done = !s->c->err && sdslen(s->c->obuf) == 0;
    while (!done) {
        if (redisBufferWrite(s->c, &done) != REDIS_OK) {
            set_err(err, errlen, "send", s->c);
            return -1;
        }
    }
    /* then the batch, straight from its buffer to the socket: hiredis's
     * output buffer would be a copy of it, grown by reallocation (a few MB
     * an import, on the core Redis works on).  The socket's send timeout
     * is the connection's command timeout. */
    const char *d = p->bytes.data;
    size_t left = p->bytes.len;
    while (left) {
        ssize_t n = send(s->c->fd, d, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "redis: send: %s",
                     n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out"
                     : n < 0 ? strerror(errno) : "connection closed");
            /* the connection is of no further use: part of a batch went */
            s->c->err = REDIS_ERR_IO;
            snprintf(s->c->errstr, sizeof s->c->errstr, "%s", err);
            return -1;
        }
        d += n;
        left -= (size_t)n;
    }
    pd_buf_free(&p->bytes);
    return 0;
}

int pd_store_receive(struct pd_store *s, struct pd_store_sent *p, char *err, size_t errlen)
{
    bool noscript;
    int rc = read_batch(s, p->items, p->g, p->ng, NULL, &noscript, err, errlen);
    p->g = NULL;   /* read_batch() freed them */
    p->ng = 0;
    pd_store_sent_free(p);
    if (rc == 0 && noscript) {
        snprintf(err, errlen, "redis: NOSCRIPT for EVAL");
        rc = -1;
    }
    return rc;
}

/* ---- reading back ---- */

static const char *hash_get(const redisReply *h, const char *field)
{
    if (!h || (h->type != REDIS_REPLY_ARRAY))
        return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, field) == 0)
            return h->element[i + 1]->type == REDIS_REPLY_STRING ? h->element[i + 1]->str : NULL;
    return NULL;
}

static long long hash_num(const redisReply *h, const char *field)
{
    const char *v = hash_get(h, field);
    return v ? strtoll(v, NULL, 10) : 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct pd_row *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->label, y->label);
}

void pd_table_sort(struct pd_table *t)
{
    qsort(t->rows, t->n, sizeof *t->rows, row_cmp);
}

/* A zset member -> count table, labelled through an optional names hash; an
 * address missing from the names hash was never seen with a name: <addr>. */
static int read_table(const redisReply *z, const redisReply *names, struct pd_table *t)
{
    size_t n = z ? z->elements / 2 : 0;
    t->n = 0;
    t->rows = calloc(n ? n : 1, sizeof *t->rows);
    if (!t->rows)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *member = z->element[2 * i]->str;
        const char *label = names ? hash_get(names, member) : NULL;
        pd_buf b = PD_BUF_INIT;
        int rc = label ? pd_buf_puts(&b, label)
                 : names ? pd_buf_printf(&b, "<%s>", member) : pd_buf_puts(&b, member);
        if (rc < 0)
            return -1;
        const redisReply *sc = z->element[2 * i + 1];
        struct pd_row *row = &t->rows[t->n];
        row->count = sc->type == REDIS_REPLY_INTEGER ? sc->integer
                     : sc->str ? strtoll(sc->str, NULL, 10) : 0;
        row->label = pd_buf_steal(&b);
        row->key = strdup(member);
        if (!row->label || !row->key) {
            free(row->label);
            free(row->key);
            return -1;
        }
        t->n++;
    }
    pd_table_sort(t);
    return 0;
}

static void table_clear(struct pd_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].label);
        free(t->rows[i].key);
    }
    free(t->rows);
    t->rows = NULL;
    t->n = 0;
}

static void post_clear(struct pd_post *p)
{
    free(p->subject);
    free(p->title);
    free(p->author);
    free(p->ident);
    free(p->excerpt);
    free(p->headers);
    free(p->series);
}

static void series_clear(struct pd_series *x)
{
    free(x->key);
    free(x->subject);
    free(x->ident);
}

void pd_window_clear(struct pd_window *w)
{
    table_clear(&w->domains);
    table_clear(&w->contributors);
    table_clear(&w->reviewers);
    table_clear(&w->threads);
    for (size_t i = 0; i < w->nposts; i++)
        post_clear(&w->posts[i]);
    free(w->posts);
    for (size_t i = 0; i < w->nseries; i++)
        series_clear(&w->series[i]);
    free(w->series);
    pd_outcomes_clear(&w->outcomes);
    w->posts = NULL;
    w->series = NULL;
    w->nposts = w->nseries = 0;
}

int pd_store_read_window(struct pd_store *s, const struct pd_list *l, long long number,
                         struct pd_window *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->list = l;
    char *base = pd_store_base(s->prefix, l->id);
    if (!base) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    redisReply *meta = NULL, *h = NULL, *contrib = NULL, *names = NULL, *doms = NULL,
               *revs = NULL, *rnames = NULL;
    if (!(meta = command(s, "HGETALL", err, errlen, "HGETALL %smeta", base)))
        goto out;
    if (number <= 0) {
        const char *win = hash_get(meta, "window");
        number = win ? strtoll(win, NULL, 10) : 1;
    }
    w->number = number;
    if (!(h = command(s, "HGETALL", err, errlen, "HGETALL %sw:%lld", base, number)) ||
        !(contrib = command(s, "ZRANGE", err, errlen, "ZRANGE %sw:%lld:contributors 0 -1 WITHSCORES",
                            base, number)) ||
        !(names = command(s, "HGETALL", err, errlen, "HGETALL %sw:%lld:names", base, number)) ||
        !(doms = command(s, "ZRANGE", err, errlen, "ZRANGE %sw:%lld:domains 0 -1 WITHSCORES", base,
                         number)) ||
        !(revs = command(s, "ZRANGE", err, errlen, "ZRANGE %sw:%lld:reviewers 0 -1 WITHSCORES", base,
                         number)) ||
        !(rnames = command(s, "HGETALL", err, errlen, "HGETALL %sw:%lld:rnames", base, number)))
        goto out;
    const char *from = hash_get(h, "from");
    const char *to = hash_get(h, "to");
    if (from)
        snprintf(w->from, sizeof w->from, "%s", from);
    else
        pd_sha1_hex(l->id, strlen(l->id), w->from);   /* nothing recorded yet */
    snprintf(w->to, sizeof w->to, "%s", to ? to : w->from);
    w->exists = h->elements > 0;
    const char *state = hash_get(h, "state");
    w->state = !state ? PD_WINDOW_OPEN
               : strcmp(state, "sent") == 0 ? PD_WINDOW_SENT : PD_WINDOW_CLOSED;
    w->opened = hash_num(h, "opened");
    w->closed = hash_num(h, "closed");
    w->sent = hash_num(h, "sent");
    w->mails = hash_num(h, "mails");
    w->duplicates = hash_num(h, "duplicates");
    w->resends = hash_num(h, "resends");
    w->truncated = hash_num(h, "truncated");
    w->applied = hash_num(h, "applied");
    w->trailers = hash_num(h, "trailers");
    static const char *const cls[5] = { "class:patch", "class:cover", "class:reply",
                                        "class:pull", "class:other" };
    for (int c = 0; c < 5; c++)
        w->classes[c] = hash_num(h, cls[c]);
    if (read_table(doms, NULL, &w->domains) < 0 ||
        read_table(contrib, names, &w->contributors) < 0 ||
        read_table(revs, rnames, &w->reviewers) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    freeReplyObject(meta);
    freeReplyObject(h);
    freeReplyObject(contrib);
    freeReplyObject(names);
    freeReplyObject(doms);
    freeReplyObject(revs);
    freeReplyObject(rnames);
    free(base);
    if (rc < 0)
        pd_window_clear(w);
    return rc;
}

/* ---- what a digest shows: posts, series, threads ---- */

static int mails_each(struct pd_store *s, const char *base, const redisReply *ids,
                      const char *const *fields, size_t nf, redisReply ***out, char *err,
                      size_t errlen);

/* HMGET <base><prefix><id> fields... for every id of ids (an array reply),
 * pipelined; out[i] is the reply for ids->element[i] (caller frees each and
 * the array).  0, or -1 with err set.  Mails ("m:") are read by mails.lua. */
static int hmget_each(struct pd_store *s, const char *base, const char *prefix,
                      const redisReply *ids, const char *const *fields, size_t nf,
                      redisReply ***out, char *err, size_t errlen)
{
    if (strcmp(prefix, "m:") == 0)
        return mails_each(s, base, ids, fields, nf, out, err, errlen);
    size_t n = ids->elements;
    *out = calloc(n ? n : 1, sizeof **out);
    const char **argv = calloc(nf + 2, sizeof *argv);
    pd_buf key = PD_BUF_INIT;
    if (!*out || !argv) {
        free(*out);
        free(argv);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    argv[0] = "HMGET";
    for (size_t f = 0; f < nf; f++)
        argv[2 + f] = fields[f];
    int rc = 0;
    for (size_t done = 0; done < n && rc == 0;) {
        size_t chunk = n - done < 512 ? n - done : 512;
        for (size_t i = 0; i < chunk; i++) {
            const redisReply *id = ids->element[done + i];
            key.len = 0;
            if (pd_buf_printf(&key, "%s%s%s", base, prefix,
                              id->type == REDIS_REPLY_STRING ? id->str : "") < 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                chunk = i;
                break;
            }
            argv[1] = key.data;
            if (redisAppendCommandArgv(s->c, (int)(nf + 2), argv, NULL) != REDIS_OK) {
                set_err(err, errlen, "HMGET", s->c);
                rc = -1;
                chunk = i;
                break;
            }
        }
        s->round_trips++;
        for (size_t i = 0; i < chunk; i++) {
            void *r = NULL;
            if (redisGetReply(s->c, &r) != REDIS_OK || !r) {
                set_err(err, errlen, "HMGET", s->c);
                rc = -1;     /* the connection is unusable now; freed by the caller */
                chunk = i;
                break;
            }
            (*out)[done + i] = r;
            if (((redisReply *)r)->type == REDIS_REPLY_ERROR && rc == 0) {
                snprintf(err, errlen, "redis: HMGET refused: %s", ((redisReply *)r)->str);
                rc = -1;
            }
        }
        done += chunk;
    }
    pd_buf_free(&key);
    free(argv);
    return rc;
}

/* The fields of recorded mails (record.lua packs them; mails.lua unpacks
 * them, and reads mails recorded before as hashes): one EVAL per 512 ids,
 * out[i] an array reply like HMGET's for ids->element[i].  0, or -1 with err
 * set (the caller frees out with free_each). */
#define MAILS_CHUNK 512
static int mails_each(struct pd_store *s, const char *base, const redisReply *ids,
                      const char *const *fields, size_t nf, redisReply ***out, char *err,
                      size_t errlen)
{
    size_t n = ids->elements;
    char nfs[24];
    snprintf(nfs, sizeof nfs, "%zu", nf);
    size_t fixed = 5 + nf;
    *out = calloc(n ? n : 1, sizeof **out);
    const char **argv = calloc(fixed + MAILS_CHUNK, sizeof *argv);
    if (!*out || !argv) {
        free(*out);
        free(argv);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    argv[0] = "EVAL";
    argv[1] = pd_mails_lua;
    argv[2] = "0";
    argv[3] = base;
    argv[4] = nfs;
    for (size_t f = 0; f < nf; f++)
        argv[5 + f] = fields[f];
    int rc = 0;
    for (size_t done = 0; done < n && rc == 0;) {
        size_t chunk = n - done < MAILS_CHUNK ? n - done : MAILS_CHUNK;
        for (size_t i = 0; i < chunk; i++) {
            const redisReply *id = ids->element[done + i];
            argv[fixed + i] = id->type == REDIS_REPLY_STRING ? id->str : "";
        }
        redisReply *r = redisCommandArgv(s->c, (int)(fixed + chunk), argv, NULL);
        s->round_trips++;
        if (!r) {
            set_err(err, errlen, "mails", s->c);
            rc = -1;
        } else if (r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis: mails refused: %s", r->str);
            rc = -1;
        } else if (r->type != REDIS_REPLY_ARRAY || r->elements != chunk) {
            snprintf(err, errlen, "redis: unexpected reply to mails");
            rc = -1;
        } else {
            for (size_t i = 0; i < chunk; i++) {
                (*out)[done + i] = r->element[i];   /* taken over; freed by the caller */
                r->element[i] = NULL;
            }
        }
        freeReplyObject(r);
        done += chunk;
    }
    free(argv);
    return rc;
}

static void free_each(redisReply **r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        freeReplyObject(r[i]);
    free(r);
}

/* Field i of an HMGET reply, NULL when missing. */
static const char *field(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

static char *dup_field(const redisReply *r, size_t i, bool *oom)
{
    const char *v = field(r, i);
    char *d = strdup(v ? v : "");
    if (!d)
        *oom = true;
    return d;
}

/* A text field kept packed (pd_textz.h), unpacked; "" when missing or
 * corrupt (logged). */
static char *text_field(const redisReply *r, size_t i, bool *oom)
{
    const redisReply *e = r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
    if (!e || e->type != REDIS_REPLY_STRING)
        return dup_field(r, i, oom);
    pd_buf b = PD_BUF_INIT;
    if (pd_textz_unpack(&b, e->str, e->len) < 0) {
        pd_log(PD_LOG_ERR, "a text kept in Redis cannot be unpacked; shown empty");
        pd_buf_free(&b);
        return dup_field(NULL, 0, oom);
    }
    char *t = pd_buf_steal(&b);
    if (!t)
        *oom = true;
    return t;
}

static int num_field(const redisReply *r, size_t i, int none)
{
    const char *v = field(r, i);
    if (!v || !*v)
        return none;
    long n = strtol(v, NULL, 10);
    return n < 0 ? 0 : n > 1000000 ? 1000000 : (int)n;
}

/* The members of a window's list or zset, each with its HMGET reply. */
struct fetched {
    redisReply *ids;
    redisReply **m;       /* m[i]: the fields of ids->element[i] */
};

static void fetched_clear(struct fetched *x)
{
    if (x->ids)
        free_each(x->m, x->ids->elements);
    freeReplyObject(x->ids);
    x->ids = NULL;
    x->m = NULL;
}

/* range: "LRANGE" or "ZRANGE" of <base>w:<N>:<what>; then HMGET
 * <base><prefix><member> fields for each member. */
static int fetch_each(struct pd_store *s, const char *base, const struct pd_window *w,
                      const char *range, const char *what, const char *prefix,
                      const char *const *f, size_t nf, struct fetched *out, char *err,
                      size_t errlen)
{
    out->m = NULL;
    out->ids = command(s, range, err, errlen, "%s %sw:%lld:%s 0 -1", range, base, w->number,
                       what);
    if (!out->ids)
        return -1;
    if (hmget_each(s, base, prefix, out->ids, f, nf, &out->m, err, errlen) < 0) {
        fetched_clear(out);
        return -1;
    }
    return 0;
}

static int read_post_list(struct pd_store *s, const char *base, struct pd_window *w, char *err,
                          size_t errlen)
{
    static const char *const f[] = { "class", "subject", "title", "author", "ident", "excerpt",
                                     "series", "version", "index", "total", "resend", "flags",
                                     "headers" };
    struct fetched x;
    if (fetch_each(s, base, w, "LRANGE", "posts", "m:", f, sizeof f / sizeof f[0], &x, err,
                   errlen) < 0)
        return -1;
    size_t n = x.ids->elements;
    bool oom = !(w->posts = calloc(n ? n : 1, sizeof *w->posts));
    for (size_t i = 0; i < n && !oom; i++) {
        const char *cls = field(x.m[i], 0);
        if (!cls)
            continue;   /* the mail expired with the retention */
        struct pd_post *p = &w->posts[w->nposts++];
        p->cls = strcmp(cls, "cover") == 0 ? PD_COVER : PD_PATCH;
        p->subject = dup_field(x.m[i], 1, &oom);
        p->title = dup_field(x.m[i], 2, &oom);
        p->author = dup_field(x.m[i], 3, &oom);
        p->ident = dup_field(x.m[i], 4, &oom);
        p->excerpt = text_field(x.m[i], 5, &oom);
        p->series = dup_field(x.m[i], 6, &oom);
        p->version = num_field(x.m[i], 7, 1);
        p->index = num_field(x.m[i], 8, -1);
        p->total = num_field(x.m[i], 9, -1);
        const char *resend = field(x.m[i], 10);
        p->resend = resend && strcmp(resend, "1") == 0;
        const char *flags = field(x.m[i], 11);
        p->inbody_from = flags && strchr(flags, 'i');
        p->headers = text_field(x.m[i], 12, &oom);
    }
    fetched_clear(&x);
    if (oom)
        snprintf(err, errlen, "out of memory");
    return oom ? -1 : 0;
}

static int read_series_list(struct pd_store *s, const char *base, struct pd_window *w,
                            char *err, size_t errlen)
{
    static const char *const f[] = { "subject", "ident", "version", "total" };
    struct fetched x;
    if (fetch_each(s, base, w, "ZRANGE", "series", "s:", f, sizeof f / sizeof f[0], &x, err,
                   errlen) < 0)
        return -1;
    size_t n = x.ids->elements;
    bool oom = !(w->series = calloc(n ? n : 1, sizeof *w->series));
    for (size_t i = 0; i < n && !oom; i++) {
        if (!field(x.m[i], 0) && !field(x.m[i], 2))
            continue;   /* expired */
        struct pd_series *sr = &w->series[w->nseries++];
        const redisReply *id = x.ids->element[i];
        sr->key = strdup(id->type == REDIS_REPLY_STRING ? id->str : "");
        oom = !sr->key;
        sr->subject = dup_field(x.m[i], 0, &oom);
        sr->ident = dup_field(x.m[i], 1, &oom);
        sr->version = num_field(x.m[i], 2, 1);
        sr->total = num_field(x.m[i], 3, 1);
    }
    fetched_clear(&x);
    if (oom)
        snprintf(err, errlen, "out of memory");
    return oom ? -1 : 0;
}

/* A thread's label (DESIGN.md): a subject without its leading reply/forward
 * markers (Re:, Aw:, Sv:, Fwd:, Fw:, any case, repeated), tags kept, trimmed. */
static void strip_markers(char *s)
{
    static const char *const markers[] = { "re:", "aw:", "sv:", "fwd:", "fw:" };
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t i = 0, n = sizeof markers / sizeof markers[0];
        while (i < n && strncasecmp(p, markers[i], strlen(markers[i])) != 0)
            i++;
        if (i == n)
            break;
        p += strlen(markers[i]);
    }
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    memmove(s, p, len);
    s[len] = '\0';
}

/* Threads by replies, labelled with the root's subject when the root mail is
 * still known, else with the subject of the first reply seen; either without
 * its reply markers. */
static int read_threads(struct pd_store *s, const char *base, struct pd_window *w, char *err,
                        size_t errlen)
{
    static const char *const f[] = { "subject" };
    redisReply *z = NULL, *tsubj = NULL, *ids = NULL, **m = NULL;
    int rc = -1;
    if (!(z = command(s, "ZRANGE", err, errlen, "ZRANGE %sw:%lld:threads 0 -1 WITHSCORES", base,
                      w->number)) ||
        !(tsubj = command(s, "HGETALL", err, errlen, "HGETALL %sw:%lld:tsubj", base, w->number)))
        goto out;
    /* the members alone, for the lookup of their root mails */
    if (!(ids = calloc(1, sizeof *ids)) ||
        !(ids->element = calloc(z->elements / 2 + 1, sizeof *ids->element))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ids->type = REDIS_REPLY_ARRAY;
    for (size_t i = 0; i + 1 < z->elements; i += 2)
        ids->element[ids->elements++] = z->element[i];
    if (hmget_each(s, base, "m:", ids, f, 1, &m, err, errlen) < 0)
        goto out;
    if (read_table(z, tsubj, &w->threads) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* relabel with the roots' subjects, then sort again */
    for (size_t i = 0; i < w->threads.n; i++) {
        struct pd_row *row = &w->threads.rows[i];
        for (size_t k = 0; k < ids->elements; k++) {
            const char *subj = field(m[k], 0);
            if (subj && *subj && strcmp(ids->element[k]->str, row->key) == 0) {
                char *d = strdup(subj);
                if (!d) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
                free(row->label);
                row->label = d;
                break;
            }
        }
        strip_markers(row->label);
    }
    pd_table_sort(&w->threads);
    rc = 0;
out:
    if (ids) {
        free_each(m, ids->elements);
        free(ids->element);
        free(ids);
    }
    freeReplyObject(z);
    freeReplyObject(tsubj);
    return rc;
}

/* ---- outcomes (outcomes.lua) ---- */

/* One array of strings into lines; false when out of memory. */
static bool take_lines(const redisReply *a, size_t from, char ***lines, size_t *n)
{
    *n = 0;
    size_t cnt = a->elements > from ? a->elements - from : 0;
    if (!(*lines = calloc(cnt ? cnt : 1, sizeof **lines)))
        return false;
    for (size_t i = from; i < a->elements; i++) {
        const redisReply *e = a->element[i];
        if (!((*lines)[(*n)++] = strdup(e->type == REDIS_REPLY_STRING ? e->str : "")))
            return false;
    }
    return true;
}

static bool take_blocks(const redisReply *a, struct pd_outcome_block **out, size_t *n)
{
    *n = 0;
    if (!(*out = calloc(a->elements ? a->elements : 1, sizeof **out)))
        return false;
    for (size_t i = 0; i < a->elements; i++) {
        const redisReply *b = a->element[i];
        if (b->type != REDIS_REPLY_ARRAY || b->elements < 1 ||
            b->element[0]->type != REDIS_REPLY_STRING)
            continue;
        struct pd_outcome_block *x = &(*out)[(*n)++];
        if (!(x->key = strdup(b->element[0]->str)) || !take_lines(b, 1, &x->lines, &x->nlines))
            return false;
    }
    return true;
}

static int read_outcomes(struct pd_store *s, const char *base, struct pd_window *w, char *err,
                         size_t errlen)
{
    pd_buf meta = PD_BUF_INIT;
    char win[32];
    snprintf(win, sizeof win, "%lld", w->number);
    if (pd_buf_printf(&meta, "%smeta", base) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *argv[] = { "EVAL", pd_outcomes_lua, "1", meta.data, base, win, s->archive_url };
    redisReply *r = redisCommandArgv(s->c, 7, argv, NULL);
    s->round_trips++;
    pd_buf_free(&meta);
    if (!r) {
        set_err(err, errlen, "outcomes", s->c);
        return -1;
    }
    int rc = -1;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: outcomes refused: %s", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
               r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY ||
               r->element[2]->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis: unexpected reply to outcomes");
    } else if (!take_blocks(r->element[0], &w->outcomes.series, &w->outcomes.nseries) ||
               !take_blocks(r->element[1], &w->outcomes.earlier, &w->outcomes.nearlier) ||
               !take_lines(r->element[2], 0, &w->outcomes.applied, &w->outcomes.napplied)) {
        snprintf(err, errlen, "out of memory");
    } else {
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int pd_store_read_posts(struct pd_store *s, const struct pd_list *l, struct pd_window *w,
                        char *err, size_t errlen)
{
    char *base = pd_store_base(s->prefix, l->id);
    if (!base) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = (read_post_list(s, base, w, err, errlen) < 0 ||
              read_series_list(s, base, w, err, errlen) < 0 ||
              read_threads(s, base, w, err, errlen) < 0 ||
              read_outcomes(s, base, w, err, errlen) < 0) ? -1 : 0;
    free(base);
    return rc;
}

/* ---- windows and the flush lock (window.lua) ---- */

/* EVAL window.lua for one list: op, then its arguments.  NULL with err set
 * when Redis failed or refused; a lost lock says so. */
static redisReply *window_op(struct pd_store *s, const char *list_id, const char *op,
                             const char *token, const char *const *args, size_t nargs,
                             char *err, size_t errlen)
{
    char *base = pd_store_base(s->prefix, list_id);
    pd_buf meta = PD_BUF_INIT;
    const char *argv[16];
    if (!base || nargs > 9 || pd_buf_printf(&meta, "%smeta", base) < 0) {
        free(base);
        pd_buf_free(&meta);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pd_window_lua;
    argv[argc++] = "1";
    argv[argc++] = meta.data;
    argv[argc++] = op;
    argv[argc++] = base;
    argv[argc++] = token;
    for (size_t i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    redisReply *r = redisCommandArgv(s->c, (int)argc, argv, NULL);
    s->round_trips++;
    free(base);
    pd_buf_free(&meta);
    if (!r) {
        set_err(err, errlen, op, s->c);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "LOST", 4) == 0)
            snprintf(err, errlen, "the flush lock was lost (held past its time, taken by another flush)");
        else
            snprintf(err, errlen, "redis: window %s refused: %s", op, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int int_reply(redisReply *r, char *err, size_t errlen)
{
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_INTEGER ? (r->integer ? 1 : 0) : -1;
    if (rc < 0)
        snprintf(err, errlen, "redis: unexpected reply to a window operation");
    freeReplyObject(r);
    return rc;
}

int pd_store_lock(struct pd_store *s, const char *list_id, const char *token, int ttl_ms,
                  char *holder, size_t holderlen, char *err, size_t errlen)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", ttl_ms);
    const char *args[] = { ttl };
    redisReply *r = window_op(s, list_id, "lock", token, args, 1, err, errlen);
    if (!r)
        return -1;
    int rc;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        rc = 1;
    } else if (r->type == REDIS_REPLY_STRING) {
        snprintf(holder, holderlen, "%s", r->str);
        rc = 0;
    } else {
        snprintf(err, errlen, "redis: unexpected reply to lock");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

int pd_store_lock_steal(struct pd_store *s, const char *list_id, const char *token,
                        const char *old, int ttl_ms, char *err, size_t errlen)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", ttl_ms);
    const char *args[] = { ttl, old };
    return int_reply(window_op(s, list_id, "steal", token, args, 2, err, errlen), err, errlen);
}

int pd_store_lock_refresh(struct pd_store *s, const char *list_id, const char *token, int ttl_ms,
                          char *err, size_t errlen)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", ttl_ms);
    const char *args[] = { ttl };
    return int_reply(window_op(s, list_id, "refresh", token, args, 1, err, errlen), err, errlen);
}

int pd_store_unlock(struct pd_store *s, const char *list_id, const char *token, char *err,
                    size_t errlen)
{
    return int_reply(window_op(s, list_id, "unlock", token, NULL, 0, err, errlen), err, errlen);
}

int pd_store_close_window(struct pd_store *s, const char *list_id, const char *token,
                          int64_t now, enum pd_close_mode mode, long long *closed,
                          long long **pending, size_t *npending, char *err, size_t errlen)
{
    char when[24];
    snprintf(when, sizeof when, "%" PRId64, now);
    const char *args[] = { list_id, when,
                           mode == PD_CLOSE_ALWAYS ? "1" : mode == PD_CLOSE_NONE ? "-" : "0" };
    *closed = 0;
    *pending = NULL;
    *npending = 0;
    redisReply *r = window_op(s, list_id, "close", token, args, 3, err, errlen);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        snprintf(err, errlen, "redis: unexpected reply to close");
        goto out;
    }
    *closed = r->element[0]->integer;
    if (!(*pending = calloc(r->elements, sizeof **pending))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 1; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_INTEGER)
            (*pending)[(*npending)++] = r->element[i]->integer;
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

int pd_store_mark_sent(struct pd_store *s, const char *list_id, const char *token,
                       long long number, int64_t now, const char *message_id, char *err,
                       size_t errlen)
{
    char win[24], when[24], ttl[24];
    snprintf(win, sizeof win, "%lld", number);
    snprintf(when, sizeof when, "%" PRId64, now);
    snprintf(ttl, sizeof ttl, "%" PRIu64, s->retention);
    const char *args[] = { win, when, message_id, ttl };
    return int_reply(window_op(s, list_id, "sent", token, args, 4, err, errlen), err, errlen) < 0
           ? -1 : 0;
}
