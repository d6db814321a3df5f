/*
 * fuzz_mail.c - libFuzzer target: the bytes as one whole mail, through the
 * path the milter takes at end of message: pd_ingest() (GMime parse, choice
 * of list, classification, record encoding).  The configuration holds one
 * List and the envelope recipient names it, so every input is classified
 * and recorded.  Beyond the sanitizers it checks what the writer and the
 * digest rely on: each record decodes again (pd_record_decode), carries the
 * list id, and every field is valid UTF-8 without NUL bytes (pd_mail.h).
 *
 * Run:  make fuzz        (builds every target, runs each for a bounded time)
 *       build/fuzz/fuzz_mail -max_len=262144 -dict=tests/fuzz/mail.dict \
 *           MYCORPUS build/fuzz/corpus/mail        (longer, your own corpus)
 */
#define FUZZ_NAME "fuzz_mail"
#include "fuzz_util.h"
#include "pd_config.h"
#include "pd_ingest.h"
#include "pd_log.h"
#include "pd_mail.h"
#include "pd_record.h"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_ID "kvm-ppc.vger.kernel.org"

static struct pd_config cfg;
static struct pd_list list = { LIST_ID, "KVM PPC" };
static const char *const rcpts[] = { "<kvm-ppc@vger.kernel.org>" };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int field)
{
    fprintf(stderr, "fuzz_mail: %s (record field %d)\n", what, field);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    pd_config_defaults(&cfg);
    cfg.lists = &list;
    cfg.nlists = 1;
    return 0;
}

static int emit(void *arg, const char *list_id, const char *payload, size_t len)
{
    size_t *n = arg;
    struct pd_record r;
    if (pd_record_decode(payload, len, &r) < 0)
        fail("record does not decode", -1);
    if (strcmp(list_id, LIST_ID) != 0 || r.f[PD_F_LIST].len != strlen(LIST_ID) ||
        memcmp(r.f[PD_F_LIST].p, LIST_ID, r.f[PD_F_LIST].len) != 0)
        fail("wrong list", PD_F_LIST);
    for (int i = 0; i < PD_F_COUNT; i++) {
        if (memchr(r.f[i].p, '\0', r.f[i].len))
            fail("NUL byte in a field", i);
        if (!g_utf8_validate(r.f[i].p, (gssize)r.f[i].len, NULL))
            fail("invalid UTF-8 in a field", i);
    }
    if (r.f[PD_F_MID].len == 0)
        fail("empty Message-ID", PD_F_MID);
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t emitted = 0;
    struct pd_ingest_result res;
    int rc = pd_ingest(&cfg, (const char *)data, size, rcpts, 1, NULL, false,
                       INT64_C(1700000000), emit, &emitted, &res);
    /* Out of memory (-1) is the only failure; any mail but a digest of our
     * own is recorded, once, for the one list. */
    if (rc == 0 && (!res.message_id || (size_t)res.lists != emitted ||
                    res.lists != (res.own_digest ? 0 : 1)))
        fail("not recorded once", -1);
    free(res.message_id);
    return 0;
}
