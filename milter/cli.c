/*
 * cli.c - patchdigest, the command line.
 *
 *   patchdigest classify [-c FILE] FILE...
 *   patchdigest import   [-c FILE] [--list ID] FILE|DIR|ARCHIVE...
 *   patchdigest stats    [-c FILE] [--json | --prometheus]
 *   patchdigest flush    [-c FILE] [--list ID] [--force]
 *   patchdigest render   [-c FILE] [--list ID] [--window N] [--markdown]
 *
 * Options may stand anywhere after the command.  Each command is one
 * function cmd_<name>; the shared option parsing is parse_options().
 */
#include "pd_classify.h"
#include "pd_config.h"
#include "pd_digest.h"
#include "pd_domainmap.h"
#include "pd_flush.h"
#include "pd_gmime.h"
#include "pd_ingest.h"
#include "pd_log.h"
#include "pd_mail.h"
#include "pd_mailbox.h"
#include "pd_page.h"
#include "pd_stats.h"
#include "pd_store.h"
#include "pd_textz.h"
#include "pd_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PD_VERSION
#define PD_VERSION "0.1"
#endif

struct options {
    const char *config;
    bool config_given;
    bool json;
    bool prometheus;
    bool force;
    bool markdown;              /* render: the patch page instead of the mail */
    long long window;
    int wait_s;                 /* flush: -1 default */
    const char *list;
    char **args;
    int nargs;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: patchdigest COMMAND [options] [args]\n"
            "\n"
            "commands:\n"
            "  classify FILE...        print class, version, index/total, identity and title\n"
            "                          of each mail (no configuration or Redis needed)\n"
            "  import FILE|DIR...      record mbox, maildir and .eml mail as the milter would,\n"
            "                          and public-inbox v2 git archives (needs git)\n"
            "      --list ID           record into this list, whatever the mail's List-Id\n"
            "  stats                   print the open window of every list\n"
            "      --json              as JSON\n"
            "      --prometheus        in Prometheus' text format (for a textfile collector)\n"
            "  flush                   close the open window of every list, mail its digest\n"
            "                          (Sendmail) and finish any earlier flush left unsent\n"
            "      --list ID           only this list\n"
            "      --force             send a digest for an empty window too\n"
            "      --wait SECONDS      how long to wait for another flush's lock (default 75)\n"
            "  render                  print the digest mail of the open window, closing\n"
            "                          and sending nothing\n"
            "      --list ID           only this list\n"
            "      --window N          window N instead (a closed one still retained)\n"
            "      --markdown          print the window's patch page (Markdown) instead\n"
            "\n"
            "options:\n"
            "  -c, --config FILE       configuration file (default " PD_DEFAULT_CONFIG ")\n"
            "  -h, --help              this text\n"
            "  -V, --version           print the version\n");
}

/* A whole decimal number from lo to hi; 0, or -1. */
static int parse_number(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    long long n;
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "prometheus", no_argument, NULL, 'P' },
        { "list", required_argument, NULL, 'l' },
        { "force", no_argument, NULL, 'f' },
        { "window", required_argument, NULL, 'w' },
        { "markdown", no_argument, NULL, 'M' },
        { "wait", required_argument, NULL, 'W' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->wait_s = -1;
    o->config = PD_DEFAULT_CONFIG;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config = optarg; o->config_given = true; break;
        case 'j': o->json = true; break;
        case 'P': o->prometheus = true; break;
        case 'l': o->list = optarg; break;
        case 'f': o->force = true; break;
        case 'M': o->markdown = true; break;
        case 'W':
            if (parse_number(optarg, 0, 86400, &n) < 0) {
                fprintf(stderr, "patchdigest: --wait needs a number of seconds (0 to 86400)\n");
                return -1;
            }
            o->wait_s = (int)n;
            break;
        case 'w':
            if (parse_number(optarg, 1, LLONG_MAX, &o->window) < 0) {
                fprintf(stderr, "patchdigest: --window needs a window number (1, 2, ...)\n");
                return -1;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    return 0;
}

static int load_config(const struct options *o, struct pd_config *cfg)
{
    char err[1024];
    if (pd_config_load(o->config, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest: %s\n", err);
        return -1;
    }
    pd_log_set_level(cfg->log_level);
    return 0;
}

/* ---- classify ---- */

struct classify_ctx {
    int failed;
};

static void print_field(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

/* A mail read without the GMime it needed (it cannot be loaded) is not
 * printed as if read in full: it is reported, as an unreadable file is,
 * and the walk goes on (0; the exit status says it).  -1 (out of memory)
 * otherwise. */
static int gmime_stop(struct classify_ctx *ctx, const char *label, unsigned long failed_before)
{
    if (pd_gmime_failed_needs() == failed_before)
        return -1;
    fprintf(stderr, "patchdigest: %s: %s\n", label, pd_gmime_error());
    ctx->failed = 1;
    return 0;
}

static int classify_one(void *arg, const char *label, const char *data, size_t len)
{
    struct classify_ctx *ctx = arg;
    struct pd_mail m;
    struct pd_classified c;
    unsigned long gmime_failed = pd_gmime_failed_needs();
    if (pd_mail_parse(&m, data, len) < 0)
        return gmime_stop(ctx, label, gmime_failed);
    if (pd_classify(&m, &c) < 0) {
        pd_mail_clear(&m);
        return gmime_stop(ctx, label, gmime_failed);
    }
    if (pd_gmime_failed_needs() != gmime_failed) {
        pd_classified_clear(&c);
        pd_mail_clear(&m);
        return gmime_stop(ctx, label, gmime_failed);
    }
    char *ident = pd_identity_format(&c.ident);
    if (!ident) {
        pd_classified_clear(&c);
        pd_mail_clear(&m);
        return -1;
    }
    print_field(label);
    printf("\t%s\t", pd_class_name(c.cls));
    if (c.subj.patch_tag)
        printf("v%d\t", c.subj.version);
    else
        printf("-\t");
    if (c.subj.patch_tag && c.subj.index >= 0)
        printf("%d/%d\t", c.subj.index, c.subj.total);
    else
        printf("-\t");
    print_field(*ident ? ident : "<>");   /* no sender address at all */
    putchar('\t');
    print_field(c.subj.title);
    putchar('\n');
    free(ident);
    pd_classified_clear(&c);
    pd_mail_clear(&m);
    return 0;
}

static void report_read_error(void *arg, const char *path, int err, const char *msg)
{
    struct classify_ctx *ctx = arg;
    if (msg)
        fprintf(stderr, "patchdigest: %s\n", msg);
    else
        fprintf(stderr, "patchdigest: %s: %s\n", path, strerror(err));
    ctx->failed = 1;
}

static int cmd_classify(const struct options *o)
{
    if (o->nargs == 0) {
        fprintf(stderr, "patchdigest classify: no files given\n");
        return 2;
    }
    if (o->config_given) {   /* only checked: classify needs nothing from it */
        struct pd_config cfg;
        if (load_config(o, &cfg) < 0)
            return 1;
        pd_config_clear(&cfg);
    }
    struct classify_ctx ctx = { 0 };
    struct pd_mailbox_dir dir = PD_MAILBOX_DIR_INIT;
    int status = 0;
    for (int i = 0; i < o->nargs && status == 0; i++) {
        int rc = pd_mailbox_each_in(&dir, o->args[i], classify_one, report_read_error, &ctx, NULL);
        if (rc != 0 && !ctx.failed) {
            fprintf(stderr, "patchdigest: %s: out of memory\n", o->args[i]);
            status = 1;
        } else if (fflush(stdout) != 0) {
            fprintf(stderr, "patchdigest: cannot write output: %s\n", strerror(errno));
            status = 1;
        }
    }
    pd_mailbox_dir_close(&dir);
    return status ? status : ctx.failed ? 1 : 0;
}

/* ---- import ---- */

#define IMPORT_BATCH 64      /* a batch's records, while Redis keeps up */
#define IMPORT_BATCH_MAX 128 /* ... and while it has batches waiting */
#define IMPORT_BATCHES 6
#define IMPORT_FIRST 16     /* the first batch; each next one twice, up to IMPORT_BATCH */

/* Import parses and records at once.  The main thread parses mails into a
 * batch of records (IMPORT_FIRST for the first, twice as many for each
 * next, up to IMPORT_BATCH) and writes each full batch in Redis's protocol
 * (pd_store_prepare, its texts compressed); a shipper thread sends it to
 * Redis (pd_store_send) and, before it waits for that batch's answers,
 * sends the next one if it is ready, so Redis starts on it as soon as it
 * is done with the first (pd_store_receive).  IMPORT_BATCHES batches go
 * round: one filled, the others with the shipper or Redis.  Batches go
 * out in order on the shipper's connection.  The shipper only writes and
 * reads: it wakes on Redis's answers, on Redis's core.
 *
 * Small batches keep the two cores busy: a batch of 256 left a core
 * idle while the first one was parsed and while Redis recorded the last
 * two (a quarter of the wall time; 64 in 6 batches, the first of 16, is
 * a sixth faster side by side, for 6% more of Redis's work a mail: each
 * batch has its sums and its script text to hash).  When Redis falls
 * behind (a batch is waiting for the shipper when this one is full), the
 * batch grows to IMPORT_BATCH_MAX instead: Redis would not start on it
 * sooner, and does a twentieth less work a mail in batches of 128. */
struct import_batch {
    char ids[IMPORT_BATCH_MAX][64];
    struct pd_store_item items[IMPORT_BATCH_MAX];
    size_t queued;
    struct pd_store_sent *prep;   /* its commands, written by the main thread */
};

struct import_ctx {
    struct pd_config *cfg;
    struct pd_store *store;
    struct pd_textz *z;           /* the main thread's compressor */
    const char *list;
    char run[17];
    uint64_t n;
    size_t limit;                 /* records the batch being filled takes */
    struct import_batch batch[IMPORT_BATCHES];
    /* the records of the batch being filled: once written in Redis's
     * protocol they are not read again, so one set serves every batch (six
     * sets had been a few MB of heap, each page of it faulted in) */
    pd_buf payload[IMPORT_BATCH_MAX];
    int filling;                  /* the batch the main thread fills */
    uint64_t mails, records, ignored, new_mails, duplicates, failed_files;
    uint64_t shipped;             /* records Redis has taken */
    struct pd_mailbox_stats archive;
    /* the shipper: */
    pthread_t shipper;
    bool shipper_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int queue[IMPORT_BATCHES];    /* full batches, oldest first */
    int nqueued;
    int busy;                     /* batches handed over and not yet answered */
    bool quit;
    bool ship_failed;
    char ship_err[512];
};

/* The first failure of the import, kept to be said once; under x->mu. */
static void import_failed(struct import_ctx *x, const char *err)
{
    if (!x->ship_failed) {
        x->ship_failed = true;
        snprintf(x->ship_err, sizeof x->ship_err, "%s", err);
    }
}

/* Count a batch's answers; under x->mu. */
static void import_count(struct import_ctx *x, struct import_batch *b, int rc, const char *err)
{
    if (rc < 0)
        import_failed(x, err);
    for (size_t i = 0; rc == 0 && i < b->queued; i++) {
        if (b->items[i].result >= 2)
            x->new_mails++;
        else if (b->items[i].result == 1)
            x->duplicates++;
    }
    if (rc == 0)
        x->shipped += b->queued;
    b->queued = 0;
    x->busy--;
    pthread_cond_broadcast(&x->cv);
}

static void *import_shipper(void *arg)
{
    struct import_ctx *x = arg;
    struct import_batch *sent_b = NULL;   /* sent, answers not read yet */
    struct pd_store_sent *sent = NULL;
    char err[512];
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->nqueued && !sent_b && !x->quit)
            pthread_cond_wait(&x->cv, &x->mu);
        struct import_batch *b = NULL;
        if (x->nqueued) {
            b = &x->batch[x->queue[0]];
            memmove(x->queue, x->queue + 1, (size_t)--x->nqueued * sizeof x->queue[0]);
        } else if (!sent_b) {
            break;   /* quit, and nothing left */
        }
        bool failed = x->ship_failed;
        pthread_mutex_unlock(&x->mu);

        /* the next batch goes out before the answers of the one before */
        struct pd_store_sent *next = NULL;
        int rc_next = 0;
        if (b) {
            next = b->prep;
            b->prep = NULL;
            if (failed) {
                rc_next = -1;   /* the connection is gone: count it as not recorded */
                snprintf(err, sizeof err, "%s", "redis: an earlier batch failed");
            } else {
                rc_next = pd_store_send(x->store, next, err, sizeof err);
            }
            if (rc_next < 0) {
                pd_store_sent_free(next);
                next = NULL;
            }
        }
        char err2[512] = "";
        int rc_prev = 0;
        if (sent_b)
            rc_prev = pd_store_receive(x->store, sent, err2, sizeof err2);

        pthread_mutex_lock(&x->mu);
        if (sent_b)
            import_count(x, sent_b, rc_prev, err2);
        sent_b = NULL;
        sent = NULL;
        if (b && rc_next < 0) {
            import_count(x, b, -1, err);
        } else if (b) {
            sent_b = b;
            sent = next;
        }
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* Wait until every batch handed over is answered; -1 when one failed (said
 * on stderr once). */
static int import_wait_idle(struct import_ctx *x)
{
    pthread_mutex_lock(&x->mu);
    while (x->busy)
        pthread_cond_wait(&x->cv, &x->mu);
    int rc = x->ship_failed ? -1 : 0;
    pthread_mutex_unlock(&x->mu);
    return rc;
}

/* Write the batch being filled in Redis's protocol (compressing its texts:
 * here, so the shipper that shares a core with Redis only writes and
 * reads), hand it to the shipper and go on with a free one. */
static int import_flush(struct import_ctx *x)
{
    struct import_batch *b = &x->batch[x->filling];
    if (!b->queued)
        return 0;
    for (size_t i = 0; i < b->queued; i++)
        b->items[i] = (struct pd_store_item){ x->payload[i].data, x->payload[i].len,
                                              b->ids[i], 0 };
    char err[512];
    if (pd_store_prepare(x->store, x->z, b->items, b->queued, &b->prep, err, sizeof err) < 0) {
        pthread_mutex_lock(&x->mu);
        import_failed(x, err);
        pthread_mutex_unlock(&x->mu);
        return -1;
    }
    for (size_t i = 0; i < b->queued; i++) {   /* x->payload is the next batch's now */
        b->items[i].payload = NULL;
        b->items[i].len = 0;
    }
    pthread_mutex_lock(&x->mu);
    /* one batch filled, the others with the shipper: wait for one back */
    while (x->busy == IMPORT_BATCHES - 1 && !x->ship_failed)
        pthread_cond_wait(&x->cv, &x->mu);
    int rc = x->ship_failed ? -1 : 0;
    if (rc < 0) {
        pd_store_sent_free(b->prep);
        b->prep = NULL;
    } else {
        x->queue[x->nqueued++] = x->filling;
        x->busy++;
        pthread_cond_broadcast(&x->cv);
        /* a free one: queued and sent batches hold records until
         * import_count() empties them */
        for (int k = 0; k < IMPORT_BATCHES; k++) {
            if (k != x->filling && x->batch[k].queued == 0) {
                x->filling = k;
                break;
            }
        }
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

static int import_emit(void *arg, const char *list_id, const char *payload, size_t len)
{
    (void)list_id;
    struct import_ctx *x = arg;
    struct import_batch *b = &x->batch[x->filling];
    if (b->queued >= IMPORT_BATCH_MAX)
        return -1;   /* a batch that could not be handed over: stop */
    pd_buf *p = &x->payload[b->queued];
    pd_buf_reset(p);
    if (pd_buf_append(p, payload, len) < 0)
        return -1;
    /* a record id unique to this run: importing again counts duplicates */
    snprintf(b->ids[b->queued], sizeof b->ids[0], "import:%s:%" PRIu64, x->run, x->n++);
    b->queued++;
    x->records++;
    if (b->queued < x->limit)
        return 0;
    if (x->limit < IMPORT_BATCH) {
        /* small batches first, so Redis starts early */
        x->limit = x->limit * 2 < IMPORT_BATCH ? x->limit * 2 : IMPORT_BATCH;
        return import_flush(x);
    }
    /* while batches wait for Redis, this one grows (up to IMPORT_BATCH_MAX):
     * Redis gets to it no later, and does less work for it (each batch
     * costs Redis its script's text to hash and the window's sums to
     * write) */
    if (b->queued < IMPORT_BATCH_MAX) {
        pthread_mutex_lock(&x->mu);
        bool waiting = x->nqueued > 0;
        pthread_mutex_unlock(&x->mu);
        if (waiting)
            return 0;
    }
    return import_flush(x);
}

static int import_one(void *arg, const char *label, const char *data, size_t len)
{
    struct import_ctx *x = arg;
    struct pd_ingest_result res;
    x->mails++;
    int rc = pd_ingest(x->cfg, data, len, NULL, 0, x->list, false, (int64_t)time(NULL),
                       import_emit, x, &res);
    if (rc == 0 && res.lists == 0 && !res.own_digest) {
        x->ignored++;
        pd_log(PD_LOG_DEBUG, "%s: belongs to no configured list (use --list)", label);
    }
    free(res.message_id);
    /* stop the walk: a positive value, -1 is a file that could not be read */
    return rc < 0 ? 1 : 0;
}

static void import_read_error(void *arg, const char *path, int err, const char *msg)
{
    struct import_ctx *x = arg;
    if (msg)
        fprintf(stderr, "patchdigest import: %s\n", msg);
    else
        fprintf(stderr, "patchdigest import: %s: %s\n", path, strerror(err));
    x->failed_files++;
}

static int cmd_import(const struct options *o)
{
    if (o->nargs == 0) {
        fprintf(stderr, "patchdigest import: no files given\n");
        return 2;
    }
    struct pd_config cfg;
    if (load_config(o, &cfg) < 0)
        return 1;
    if (o->list && !pd_config_find_list(&cfg, o->list)) {
        fprintf(stderr, "patchdigest import: --list %s: no such list in %s\n", o->list, o->config);
        pd_config_clear(&cfg);
        return 2;
    }
    /* the batches' buffers (a few MB) come and go: keep them in the heap,
     * not mapped and unmapped each time (page faults, and on a machine of
     * several cores a TLB flush on each) */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    struct import_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        pd_config_clear(&cfg);
        return 1;
    }
    x->cfg = &cfg;
    x->limit = IMPORT_FIRST;
    x->list = o->list ? pd_config_find_list(&cfg, o->list)->id : NULL;
    char rnd[41], seed[64];
    snprintf(seed, sizeof seed, "%ld.%ld.%llu", (long)getpid(), (long)time(NULL),
             (unsigned long long)pd_now_us());
    pd_sha1_hex(seed, strlen(seed), rnd);
    memcpy(x->run, rnd, 16);
    char err[512];
    int status = 0;
    if (pd_store_connect(&x->store, &cfg, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest import: %s\n", err);
        status = 1;
        goto out;
    }
    /* the chain heads the batches go on from (pd_store_plan_chain()) */
    for (size_t i = 0; i < cfg.nlists && status == 0; i++) {
        if (x->list && strcmp(cfg.lists[i].id, x->list) != 0)
            continue;
        if (pd_store_plan_chain(x->store, cfg.lists[i].id, err, sizeof err) < 0) {
            fprintf(stderr, "patchdigest import: %s\n", err);
            status = 1;
        }
    }
    if (status)
        goto out;
    if (!(x->z = pd_textz_new())) {
        fprintf(stderr, "patchdigest import: out of memory\n");
        status = 1;
        goto out;
    }
    if (pthread_mutex_init(&x->mu, NULL) != 0 || pthread_cond_init(&x->cv, NULL) != 0 ||
        pthread_create(&x->shipper, NULL, import_shipper, x) != 0) {
        fprintf(stderr, "patchdigest import: cannot start its Redis thread\n");
        status = 1;
        goto out;
    }
    x->shipper_started = true;
    struct pd_mailbox_dir dir = PD_MAILBOX_DIR_INIT;
    for (int i = 0; i < o->nargs && status == 0; i++) {
        int rc = pd_mailbox_each_in(&dir, o->args[i], import_one, import_read_error, x,
                                    &x->archive);
        if (rc != 0 && x->failed_files == 0)
            status = 1;
    }
    pd_mailbox_dir_close(&dir);
    if (status && *pd_gmime_error())
        fprintf(stderr, "patchdigest import: %s\n", pd_gmime_error());
    if (status == 0 && import_flush(x) < 0)
        status = 1;
    if (import_wait_idle(x) < 0) {
        fprintf(stderr, "patchdigest import: %s\n", x->ship_err);
        status = 1;
    }
    if (x->failed_files)
        status = 1;
    uint64_t sent = x->shipped;
    fprintf(stderr,
            "patchdigest import: %" PRIu64 " mails read, %" PRIu64 " recorded (%" PRIu64
            " new, %" PRIu64 " duplicates), %" PRIu64 " for no configured list\n",
            x->mails, sent, x->new_mails, x->duplicates, x->ignored);
    if (sent < x->records)
        fprintf(stderr, "patchdigest import: %" PRIu64 " records not recorded; import "
                "again: Redis counts a mail once\n", x->records - sent);
    if (x->archive.git_epochs)
        fprintf(stderr,
                "patchdigest import: %" PRIu64 " git epochs read; %" PRIu64
                " messages removed from the archive and %" PRIu64
                " commits without a message skipped\n",
                x->archive.git_epochs, x->archive.removed, x->archive.no_message);
out:
    if (x->shipper_started) {
        pthread_mutex_lock(&x->mu);
        x->quit = true;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->shipper, NULL);
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
    }
    /* RedisReplicas (issue 19): the records count once the replicas have them */
    if (status == 0 && x->store && cfg.redis_replicas > 0) {
        int got = pd_store_wait_replicas(x->store, cfg.redis_replicas, 10000, err, sizeof err);
        if (got < cfg.redis_replicas) {
            if (got < 0)
                fprintf(stderr, "patchdigest import: %s\n", err);
            else
                fprintf(stderr, "patchdigest import: %d of the %d replicas (RedisReplicas) "
                        "confirmed the records\n", got, cfg.redis_replicas);
            fprintf(stderr, "patchdigest import: a failover may lose them: import again once "
                    "the replicas are back (Redis counts a mail once)\n");
            status = 1;
        }
    }
    pd_store_free(x->store);
    pd_textz_free(x->z);
    for (int k = 0; k < IMPORT_BATCHES; k++)
        pd_store_sent_free(x->batch[k].prep);
    for (size_t i = 0; i < IMPORT_BATCH_MAX; i++)
        pd_buf_free(&x->payload[i]);
    free(x);
    pd_config_clear(&cfg);
    return status;
}

/* ---- stats ---- */

static int cmd_stats(const struct options *o)
{
    struct pd_config cfg;
    if (load_config(o, &cfg) < 0)
        return 1;
    /* the milter's health first: it is what to look at when Redis is down */
    struct pd_status milter;
    bool have_milter = pd_status_read(cfg.status_file, &milter) == 0;
    if (!have_milter && errno != ENOENT)
        fprintf(stderr, "patchdigest stats: StatusFile %s: %s\n", cfg.status_file,
                strerror(errno));
    struct pd_store *s = NULL;
    char err[512];
    int status = 0;
    if (pd_store_connect(&s, &cfg, 5000, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest stats: %s\n", err);
        status = 1;
    }
    struct pd_window *w = calloc(cfg.nlists ? cfg.nlists : 1, sizeof *w);
    size_t n = 0;
    pd_buf out = PD_BUF_INIT;
    if (!w) {
        fprintf(stderr, "patchdigest stats: out of memory\n");
        status = 1;
    }
    for (; s && w && n < cfg.nlists; n++)
        if (pd_store_read_window(s, &cfg.lists[n], 0, &w[n], err, sizeof err) < 0) {
            fprintf(stderr, "patchdigest stats: list %s: %s\n", cfg.lists[n].id, err);
            status = 1;
            break;
        }
    if (w) {
        /* with Redis down, the milter's part alone; the exit status says it failed */
        int64_t now = (int64_t)time(NULL);
        const struct pd_status *m = have_milter ? &milter : NULL;
        int rc = o->prometheus ? pd_stats_prometheus(&out, w, n, m, now)
                 : o->json     ? pd_stats_json(&out, w, n, m, now)
                               : pd_stats_text(&out, w, n, m, now);
        if (rc < 0 || fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
            fprintf(stderr, "patchdigest stats: cannot write output\n");
            status = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        pd_window_clear(&w[i]);
    free(w);
    pd_buf_free(&out);
    pd_store_free(s);
    pd_config_clear(&cfg);
    return status;
}

/* ---- flush and render ---- */

/* The lists a command works on: --list, or every configured one.  NULL
 * (and a message) when --list names no configured list. */
static const struct pd_list *first_list(const struct options *o, const struct pd_config *cfg,
                                        size_t *n, const char *cmd)
{
    if (!o->list) {
        *n = cfg->nlists;
        return cfg->lists;
    }
    const struct pd_list *l = pd_config_find_list(cfg, o->list);
    if (!l) {
        fprintf(stderr, "patchdigest %s: list %s is not in %s\n", cmd, o->list, cfg->path);
        return NULL;
    }
    *n = 1;
    return l;
}

/* Configuration, domain map and Redis for flush and render; 0 or -1. */
static int open_all(const struct options *o, const char *cmd, struct pd_config *cfg,
                    struct pd_domainmap **map, struct pd_store **s)
{
    char err[1024];
    *map = NULL;
    *s = NULL;
    if (load_config(o, cfg) < 0)
        return -1;
    if (cfg->domain_map && pd_domainmap_load(cfg->domain_map, map, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest %s: %s\n", cmd, err);
        pd_config_clear(cfg);
        return -1;
    }
    if (pd_store_connect(s, cfg, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "patchdigest %s: %s\n", cmd, err);
        pd_domainmap_free(*map);
        pd_config_clear(cfg);
        return -1;
    }
    return 0;
}

static void close_all(struct pd_config *cfg, struct pd_domainmap *map, struct pd_store *s)
{
    pd_store_free(s);
    pd_domainmap_free(map);
    pd_config_clear(cfg);
}

static int cmd_flush(const struct options *o)
{
    struct pd_config cfg;
    struct pd_domainmap *map;
    struct pd_store *s;
    if (open_all(o, "flush", &cfg, &map, &s) < 0)
        return 1;
    int status = 0;
    size_t n = 0;
    const struct pd_list *lists = first_list(o, &cfg, &n, "flush");
    if (!lists)
        status = 1;
    else if (!cfg.digest_from) {
        fprintf(stderr, "patchdigest flush: %s: DigestFrom and DigestTo must be set\n", cfg.path);
        status = 1;
        n = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!pd_config_digest_to(&cfg, &lists[i])) {
            fprintf(stderr, "patchdigest flush: %s: DigestFrom and DigestTo must be set "
                    "(or ListDigestTo for list %s)\n", cfg.path, lists[i].id);
            status = 1;
            n = 0;
        }
    for (size_t i = 0; i < n; i++) {
        struct pd_flush_opts fo = { .force = o->force, .map = map, .report = stdout,
                                    .lock_wait_ms = o->wait_s < 0 ? 0
                                                    : o->wait_s == 0 ? 1 : o->wait_s * 1000 };
        struct pd_flush_result r;
        char err[1024];
        /* with sentinels, a flush cut by a failover is tried again on the
         * new master (issue 19): it finds the window pending or still open */
        int tries = cfg.sentinel_master ? 3 : 1;
        for (int t = 1; t <= tries; t++) {
            if (pd_flush_list(s, &cfg, &lists[i], &fo, &r, err, sizeof err) == 0)
                break;
            if (strncmp(err, "redis", 5) != 0)
                t = tries;   /* not Redis's trouble: trying again would not help */
            fprintf(stderr, "patchdigest flush: list %s: %s%s\n", lists[i].id, err,
                    t < tries ? "; asking the sentinels and trying again" : "");
            if (t == tries)
                status = 1;
            /* a Redis error leaves the connection unusable: reconnect */
            pd_store_free(s);
            s = NULL;
            if (t < tries) {
                struct timespec pause = { 1, 0 };
                nanosleep(&pause, NULL);
            }
            if (pd_store_connect(&s, &cfg, 10000, err, sizeof err) < 0) {
                fprintf(stderr, "patchdigest flush: %s\n", err);
                s = NULL;
                status = 1;
                break;
            }
        }
        if (!s)
            break;
    }
    if (fflush(stdout) != 0)
        status = 1;
    close_all(&cfg, map, s);
    return status;
}

static int cmd_render(const struct options *o)
{
    struct pd_config cfg;
    struct pd_domainmap *map;
    struct pd_store *s;
    if (open_all(o, "render", &cfg, &map, &s) < 0)
        return 1;
    int status = 0;
    size_t n = 0;
    const struct pd_list *lists = first_list(o, &cfg, &n, "render");
    if (!lists)
        status = 1;
    for (size_t i = 0; i < n && status == 0; i++) {
        struct pd_window w;
        char err[1024];
        pd_buf mail = PD_BUF_INIT;
        if (pd_flush_read(s, &lists[i], o->window, &w, err, sizeof err) < 0) {
            fprintf(stderr, "patchdigest render: list %s: %s\n", lists[i].id, err);
            status = 1;
            break;
        }
        if (o->window && !w.exists) {
            fprintf(stderr, "patchdigest render: list %s: window %lld is not in Redis "
                    "(never opened, or older than the Retention)\n", lists[i].id, o->window);
            status = 1;
        } else {
            struct pd_digest_opts d = { .top_n = cfg.top_n, .map = map, .from = cfg.digest_from,
                                        .to = pd_config_digest_to(&cfg, &lists[i]),
                                        .date = w.closed ? w.closed : time(NULL),
                                        .format = cfg.digest_format };
            struct pd_page_opts po = { .headers = cfg.page_headers,
                                       .nheaders = cfg.npage_headers };
            /* the page alone (--markdown), or the mail as flush sends it */
            pd_buf page = PD_BUF_INIT;
            bool need_page = o->markdown || (cfg.digest_format & PD_FORMAT_MARKDOWN);
            int r = need_page ? pd_page_render(&w, &po, &page) : 0;
            d.page = page.data;
            d.page_len = page.len;
            if (r == 0 && !o->markdown)
                r = pd_digest_mail(&w, &d, &mail);
            else if (r == 0)
                r = pd_buf_append(&mail, page.data, page.len);
            pd_buf_free(&page);
            if (r < 0 || (i > 0 && fputs("\n", stdout) == EOF) ||
                fwrite(mail.data, 1, mail.len, stdout) != mail.len) {
                fprintf(stderr, "patchdigest render: list %s: cannot write the digest\n",
                        lists[i].id);
                status = 1;
            }
        }
        pd_buf_free(&mail);
        pd_window_clear(&w);
    }
    if (fflush(stdout) != 0)
        status = 1;
    close_all(&cfg, map, s);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("patchdigest %s\n", PD_VERSION);
        return 0;
    }
    struct options o;
    if (parse_options(argc - 1, argv + 1, &o) < 0) {
        usage(stderr);
        return 2;
    }
    pd_log_open("patchdigest", 0, PD_LOG_WARNING);
    if (strcmp(cmd, "classify") == 0)
        return cmd_classify(&o);
    if (strcmp(cmd, "import") == 0)
        return cmd_import(&o);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(&o);
    if (strcmp(cmd, "flush") == 0)
        return cmd_flush(&o);
    if (strcmp(cmd, "render") == 0)
        return cmd_render(&o);
    fprintf(stderr, "patchdigest: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
