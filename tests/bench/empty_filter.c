/*
 * empty_filter.c - the benchmark's empty milter: the protocol's own limit.
 *
 *   empty_filter -s SOCKET        (unix:/path, local:/path or inet:PORT@HOST)
 *
 * A libmilter program that negotiates away the same steps and replies as
 * patchdigest-milter (the flag set of cb_negotiate in milter/milter.c),
 * receives recipients, headers and body as patchdigest-milter does, and
 * answers ACCEPT at end of message, doing nothing else.  "make bench"
 * compares patchdigest-milter's mails/s and latency with this one's;
 * "make check" only checks that it builds and answers (test_bench_smoke).
 * It runs in the foreground until SIGTERM or SIGINT.
 */
#include <libmilter/mfapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conn {
    unsigned long pflags;     /* what the MTA agreed to */
};

static sfsistat reply(SMFICTX *ctx, unsigned long nr_flag)
{
    const struct conn *c = smfi_getpriv(ctx);
    return (c && (c->pflags & nr_flag)) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3, unsigned long *pf0,
                             unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    (void)f0;
    (void)f2;
    (void)f3;
    /* the same set as patchdigest-milter's cb_negotiate */
    unsigned long want = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NOUNKNOWN |
                         SMFIP_NODATA | SMFIP_NOEOH | SMFIP_NR_HDR | SMFIP_NR_BODY |
                         SMFIP_NR_RCPT | SMFIP_HDR_LEADSPC | SMFIP_NR_CONN | SMFIP_NR_HELO |
                         SMFIP_NR_MAIL | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH;
    *pf0 = 0;
    *pf1 = f1 & want;
    *pf2 = *pf3 = 0;
    struct conn *c = smfi_getpriv(ctx);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (c && smfi_setpriv(ctx, c) != MI_SUCCESS) {
            free(c);
            c = NULL;
        }
    }
    if (c)
        c->pflags = *pf1;
    return SMFIS_CONTINUE;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    (void)argv;
    return reply(ctx, SMFIP_NR_RCPT);
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name;
    (void)value;
    return reply(ctx, SMFIP_NR_HDR);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void)chunk;
    (void)len;
    return reply(ctx, SMFIP_NR_BODY);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_ACCEPT;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c) {
        smfi_setpriv(ctx, NULL);
        free(c);
    }
    return SMFIS_CONTINUE;
}

static struct smfiDesc filter = {
    "empty", SMFI_VERSION, 0,
    NULL,          /* connect */
    NULL,          /* helo */
    NULL,          /* envfrom */
    cb_envrcpt,
    cb_header,
    NULL,          /* eoh */
    cb_body,
    cb_eom,
    NULL,          /* abort */
    cb_close,
    NULL,          /* unknown */
    NULL,          /* data */
    cb_negotiate,
};

int main(int argc, char **argv)
{
    const char *sock = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "s:")) != -1) {
        switch (opt) {
        case 's': sock = optarg; break;
        default: sock = NULL; optind = argc + 1; break;
        }
    }
    if (!sock || optind != argc) {
        fprintf(stderr, "usage: empty_filter -s SOCKET\n");
        return 2;
    }
    /* the same packet limit as patchdigest-milter */
    if (smfi_setmaxdatasize(256 * 1024 - 1) == 0)
        fprintf(stderr, "empty_filter: cannot raise libmilter's packet limit\n");
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(filter) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "empty_filter: cannot set up the milter socket %s\n", sock);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
