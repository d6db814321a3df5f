/*
 * flush.c - close a list's window and mail its digest.  See pd_flush.h for
 * the steps and what makes them safe to repeat.
 */
#include "pd_flush.h"
#include "pd_digest.h"
#include "pd_page.h"
#include "pd_sendmail.h"
#include "pd_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "host pid random": who holds a list's lock. */
static void make_token(char *tok, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p == ' ')
            *p = '_';
    char rnd[17];
    if (pd_random_hex(rnd, 8) < 0)
        snprintf(rnd, sizeof rnd, "%016llx",
                 (unsigned long long)(pd_now_us() ^ ((uint64_t)getpid() << 32)));
    snprintf(tok, len, "%s %ld %s", host, (long)getpid(), rnd);
}

/* Whether a lock holder is a process of this host that no longer runs. */
static bool holder_is_dead(const char *holder, const char *mine)
{
    const char *sp = strchr(holder, ' '), *msp = strchr(mine, ' ');
    if (!sp || !msp || sp - holder != msp - mine || memcmp(holder, mine, (size_t)(sp - holder)))
        return false;   /* another host: wait for the lock to expire */
    char *end;
    long pid = strtol(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || pid <= 0)
        return false;
    /* this process, another token: an earlier attempt of ours that failed
     * (a Redis failover cut it; the lock came over with the data) */
    if ((pid_t)pid == getpid())
        return strcmp(holder, mine) != 0;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Take the lock: 1 at once, 2 after waiting for another flush, -1 error. */
static int take_lock(struct pd_store *s, const struct pd_list *l, const char *token, int ttl,
                     int wait_ms, char *err, size_t errlen)
{
    uint64_t deadline = pd_now_us() + (uint64_t)wait_ms * 1000;
    bool waited = false;
    char holder[300] = "";
    for (;;) {
        int r = pd_store_lock(s, l->id, token, ttl, holder, sizeof holder, err, errlen);
        if (r < 0)
            return -1;
        if (r == 1)
            return waited ? 2 : 1;
        if (holder_is_dead(holder, token)) {
            r = pd_store_lock_steal(s, l->id, token, holder, ttl, err, errlen);
            if (r < 0)
                return -1;
            if (r == 1)
                return 1;   /* the dead flush's work is ours: a full flush */
            continue;
        }
        if (pd_now_us() >= deadline) {
            snprintf(err, errlen, "another flush holds the lock (%s); try again later", holder);
            return -1;
        }
        waited = true;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int pd_flush_read(struct pd_store *s, const struct pd_list *l, long long number,
                  struct pd_window *w, char *err, size_t errlen)
{
    if (pd_store_read_window(s, l, number, w, err, errlen) < 0)
        return -1;
    if (pd_store_read_posts(s, l, w, err, errlen) < 0) {
        pd_window_clear(w);
        return -1;
    }
    return 0;
}

/* The patch page of a window, when DigestFormat or DigestPage asks for it:
 * rendered into page, and written to the DigestPage file.  The file comes
 * before the mail: a page that cannot be written leaves the window pending
 * (the next flush writes it and sends the mail), and writing it again gives
 * the same file.  0, or -1 with err set. */
static int publish_page(const struct pd_config *cfg, const struct pd_list *l,
                        const struct pd_window *w, pd_buf *page, char *err, size_t errlen)
{
    if (!(cfg->digest_format & PD_FORMAT_MARKDOWN) && !cfg->digest_page)
        return 0;
    struct pd_page_opts po = { .headers = cfg->page_headers, .nheaders = cfg->npage_headers };
    if (pd_page_render(w, &po, page) < 0) {
        snprintf(err, errlen, "out of memory rendering the page of window %lld", w->number);
        return -1;
    }
    if (!cfg->digest_page)
        return 0;
    pd_buf path = PD_BUF_INIT;
    char why[768];
    int rc = -1;
    if (pd_page_path(cfg->digest_page, l->id, w->number, &path) < 0)
        snprintf(err, errlen, "out of memory");
    else if (pd_page_write(path.data, page->data, page->len, why, sizeof why) < 0)
        snprintf(err, errlen, "window %lld not sent: page: %s", w->number, why);
    else
        rc = 0;
    pd_buf_free(&path);
    return rc;
}

/* Render, hand over and mark one closed window. */
static int send_window(struct pd_store *s, const struct pd_config *cfg, const struct pd_list *l,
                       const struct pd_flush_opts *o, const char *token, int ttl,
                       long long number, char *err, size_t errlen)
{
    struct pd_window w;
    pd_buf mail = PD_BUF_INIT, mid = PD_BUF_INIT, page = PD_BUF_INIT;
    int rc = -1;
    if (pd_flush_read(s, l, number, &w, err, errlen) < 0)
        return -1;
    if (!w.exists) {
        snprintf(err, errlen, "window %lld is no longer in Redis", number);
        goto out;
    }
    struct pd_digest_opts d = { .top_n = cfg->top_n, .map = o->map, .from = cfg->digest_from,
                                .to = pd_config_digest_to(cfg, l),
                                .date = w.closed ? w.closed : time(NULL),
                                .format = cfg->digest_format };
    if (publish_page(cfg, l, &w, &page, err, errlen) < 0)
        goto out;
    d.page = page.data;
    d.page_len = page.len;
    if (pd_digest_mail(&w, &d, &mail) < 0 || pd_digest_message_id(&w, cfg->digest_from, &mid) < 0) {
        snprintf(err, errlen, "out of memory rendering window %lld", number);
        goto out;
    }
    int r = pd_store_lock_refresh(s, l->id, token, ttl, err, errlen);
    if (r <= 0) {
        if (r == 0)
            snprintf(err, errlen, "the flush lock was lost before window %lld was sent", number);
        goto out;
    }
    char why[512];
    if (pd_sendmail(cfg->sendmail, mail.data, mail.len,
                    o->sendmail_timeout_ms ? o->sendmail_timeout_ms : 120000, why,
                    sizeof why) < 0) {
        snprintf(err, errlen, "window %lld not sent: %s", number, why);
        goto out;
    }
    if (pd_store_mark_sent(s, l->id, token, number, time(NULL), mid.data, err, errlen) < 0)
        goto out;
    if (o->report)
        fprintf(o->report, "%s: window %lld sent: %lld mails, %s\n", l->id, number, w.mails,
                mid.data);
    rc = 0;
out:
    pd_window_clear(&w);
    pd_buf_free(&mail);
    pd_buf_free(&mid);
    pd_buf_free(&page);
    return rc;
}

int pd_flush_list(struct pd_store *s, const struct pd_config *cfg, const struct pd_list *l,
                  const struct pd_flush_opts *o, struct pd_flush_result *res, char *err,
                  size_t errlen)
{
    memset(res, 0, sizeof *res);
    int ttl = o->lock_ttl_ms ? o->lock_ttl_ms : 60000;
    char token[400];
    make_token(token, sizeof token);
    int got = take_lock(s, l, token, ttl, o->lock_wait_ms ? o->lock_wait_ms : 75000, err, errlen);
    if (got < 0)
        return -1;
    res->waited = got == 2;
    long long *pending = NULL;
    size_t npending = 0;
    int rc = -1;
    enum pd_close_mode mode = res->waited ? PD_CLOSE_NONE
                              : o->force ? PD_CLOSE_ALWAYS : PD_CLOSE_IF_MAIL;
    if (pd_store_close_window(s, l->id, token, time(NULL), mode, &res->closed, &pending,
                              &npending, err, errlen) < 0)
        goto out;
    /* RedisReplicas (issue 19): no digest goes out before the replicas hold
     * the closed window, so a failover cannot bring back a master on which
     * the window is still open, or holds other mail */
    if (cfg->redis_replicas > 0 && npending) {
        int got = pd_store_wait_replicas(s, cfg->redis_replicas, 5000, err, errlen);
        if (got < 0)
            goto out;
        if (got < cfg->redis_replicas) {
            snprintf(err, errlen, "%d of the %d replicas (RedisReplicas) confirmed the closed "
                     "window(s); no digest sent: they stay pending for the next flush", got,
                     cfg->redis_replicas);
            goto out;
        }
    }
    if (o->report && !res->closed && !npending)
        fprintf(o->report, "%s: nothing to send (%s)\n", l->id,
                res->waited ? "another flush sent it" : "the window holds no mail");
    for (size_t i = 0; i < npending; i++) {
        if (send_window(s, cfg, l, o, token, ttl, pending[i], err, errlen) < 0)
            goto out;
        res->sent++;
    }
    rc = 0;
out:
    free(pending);
    char uerr[256];
    if (pd_store_unlock(s, l->id, token, uerr, sizeof uerr) < 0 && rc == 0) {
        snprintf(err, errlen, "%s", uerr);
        rc = -1;
    }
    return rc;
}
