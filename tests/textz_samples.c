/*
 * textz_samples.c - write the texts patchdigest keeps compressed in Redis
 * (each record's excerpt and header block, pd_textz.h) one file each, to
 * train the compression dictionary on: "make textz-dict" runs it over
 * list mail and hands the files to "zstd --train".
 *
 *   textz_samples OUTDIR FILE.eml...
 *
 * Every second file is skipped (--all takes them all), so the other half
 * of the mail measures the dictionary on texts it was not trained on.
 */
#include "pd_config.h"
#include "pd_ingest.h"
#include "pd_mail.h"
#include "pd_record.h"
#include "pd_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pd_list list = { "samples.example.org", "Samples" };

struct out {
    const char *dir;
    unsigned long n;
};

static int write_sample(struct out *o, const char *kind, struct pd_field_view f)
{
    if (f.len == 0)
        return 0;
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/%06lu.%s", o->dir, o->n++, kind);
    if (k < 0 || (size_t)k >= sizeof path) {
        fprintf(stderr, "textz_samples: %s: path too long\n", o->dir);
        return -1;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(f.p, 1, f.len, fp) != f.len || fclose(fp) != 0) {
        fprintf(stderr, "textz_samples: %s: %s\n", path, strerror(errno));
        if (fp)
            fclose(fp);
        return -1;
    }
    return 0;
}

static int emit(void *arg, const char *list_id, const char *payload, size_t len)
{
    (void)list_id;
    struct out *o = arg;
    struct pd_record r;
    if (pd_record_decode(payload, len, &r) < 0) {
        fprintf(stderr, "textz_samples: a record does not decode\n");
        return -1;
    }
    if (write_sample(o, "x", r.f[PD_F_EXCERPT]) < 0 || write_sample(o, "h", r.f[PD_F_HEADERS]) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int first = 2;
    int every = 2;
    if (argc > 1 && strcmp(argv[1], "--all") == 0) {
        every = 1;
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: textz_samples [--all] OUTDIR FILE...\n");
        return 2;
    }
    struct pd_config cfg;
    pd_config_defaults(&cfg);
    cfg.lists = &list;
    cfg.nlists = 1;
    struct out o = { argv[1], 0 };
    for (int i = first; i < argc; i += every) {
        pd_buf b = PD_BUF_INIT;
        if (pd_read_file(argv[i], &b) < 0) {
            fprintf(stderr, "textz_samples: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        struct pd_ingest_result res;
        int rc = pd_ingest(&cfg, b.data ? b.data : "", b.len, NULL, 0, list.id, false, 0, emit,
                           &o, &res);
        free(res.message_id);
        pd_buf_free(&b);
        if (rc != 0) {
            fprintf(stderr, "textz_samples: %s: could not be read as mail\n", argv[i]);
            return 1;
        }
    }
    printf("%lu texts in %s\n", o.n, o.dir);
    return 0;
}
