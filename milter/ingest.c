/*
 * ingest.c - choose the lists of a mail, parse, classify and encode it.
 * See pd_ingest.h.
 */
#include "pd_ingest.h"
#include "pd_classify.h"
#include "pd_gmime.h"
#include "pd_mail.h"
#include "pd_record.h"
#include "pd_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool pd_rcpt_matches_list(const char *rcpt, const char *list_id)
{
    const char *p = rcpt;
    while (*p == ' ' || *p == '<')
        p++;
    size_t n = strcspn(p, ">");
    while (n && p[n - 1] == ' ')
        n--;
    const char *at = memchr(p, '@', n);
    size_t idl = strlen(list_id);
    if (!at || idl != n)
        return false;
    /* list@domain against "list@domain" or "list.domain" */
    size_t local = (size_t)(at - p);
    if (strncasecmp(p, list_id, local) != 0)
        return false;
    if (list_id[local] != '@' && list_id[local] != '.')
        return false;
    return strncasecmp(at + 1, list_id + local + 1, n - local - 1) == 0;
}

int pd_ingest(const struct pd_config *cfg, const char *data, size_t len,
              const char *const *rcpts, size_t nrcpts, const char *force_list,
              bool truncated, int64_t when, pd_emit_fn emit, void *arg,
              struct pd_ingest_result *res)
{
    memset(res, 0, sizeof *res);
    /* a mail that needed GMime when it could not be loaded was read with
     * less (an address not found, a text not converted): not recorded */
    unsigned long gmime_failed = pd_gmime_failed_needs();
    struct pd_mail m;
    if (pd_mail_parse(&m, data, len) < 0)
        return -1;
    res->parse_failed = m.parse_failed;
    res->message_id = strdup(m.message_id);
    if (!res->message_id) {
        pd_mail_clear(&m);
        return -1;
    }
    if (m.has_marker) {
        res->own_digest = true;
        pd_mail_clear(&m);
        return 0;
    }

    const char *chosen[64];
    size_t nchosen = 0;
    if (force_list) {
        chosen[nchosen++] = force_list;
    } else {
        const struct pd_list *l = *m.list_id ? pd_config_find_list(cfg, m.list_id) : NULL;
        if (l) {
            chosen[nchosen++] = l->id;
        } else {
            for (size_t i = 0; i < cfg->nlists && nchosen < sizeof chosen / sizeof chosen[0]; i++)
                for (size_t r = 0; r < nrcpts; r++)
                    if (pd_rcpt_matches_list(rcpts[r], cfg->lists[i].id)) {
                        chosen[nchosen++] = cfg->lists[i].id;
                        break;
                    }
        }
    }
    if (nchosen == 0) {
        pd_mail_clear(&m);
        return 0;
    }

    struct pd_classified c;
    if (pd_classify(&m, &c) < 0) {
        pd_mail_clear(&m);
        return -1;
    }
    int rc = 0;
    /* the record holds the mail's header block and excerpt, and its fields:
     * room for them at once, not by doubling from a few bytes */
    pd_buf payload = PD_BUF_INIT;
    if (pd_buf_reserve(&payload, (len < PD_MAX_RAW_HEADERS ? len : PD_MAX_RAW_HEADERS) + 4096) < 0) {
        pd_classified_clear(&c);
        pd_mail_clear(&m);
        return -1;
    }
    for (size_t i = 0; i < nchosen && rc == 0; i++) {
        pd_buf_reset(&payload);
        if (pd_record_build(&payload, chosen[i], &m, &c, when,
                            truncated ? PD_REC_TRUNCATED : 0) < 0 ||
            pd_gmime_failed_needs() != gmime_failed) {
            rc = -1;
            break;
        }
        rc = emit(arg, chosen[i], payload.data, payload.len);
        if (rc == 0)
            res->lists++;
    }
    pd_buf_free(&payload);
    pd_classified_clear(&c);
    pd_mail_clear(&m);
    return rc;
}
