/*
 * record.c - encode and decode the record of one mail.  See pd_record.h.
 */
#include "pd_record.h"
#include "pd_outcome.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put_u16(pd_buf *b, uint16_t v)
{
    unsigned char x[2] = { (unsigned char)(v & 0xff), (unsigned char)(v >> 8) };
    return pd_buf_append(b, x, 2);
}

static int put_u32(pd_buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v & 0xff), (unsigned char)((v >> 8) & 0xff),
                           (unsigned char)((v >> 16) & 0xff), (unsigned char)(v >> 24) };
    return pd_buf_append(b, x, 4);
}

int pd_record_encode(pd_buf *out, const struct pd_field_view f[PD_F_COUNT])
{
    if (put_u16(out, PD_F_COUNT) < 0)
        return -1;
    for (int i = 0; i < PD_F_COUNT; i++) {
        if (f[i].len > UINT32_MAX || put_u32(out, (uint32_t)f[i].len) < 0 ||
            pd_buf_append(out, f[i].p ? f[i].p : "", f[i].len) < 0)
            return -1;
    }
    return 0;
}

static struct pd_field_view sv(const char *s)
{
    struct pd_field_view v = { s ? s : "", s ? strlen(s) : 0 };
    return v;
}

int pd_record_build(pd_buf *out, const char *list_id, const struct pd_mail *m,
                    const struct pd_classified *c, int64_t when, unsigned flags)
{
    char version[PD_UTOA_MAX + 1] = "", index[PD_UTOA_MAX + 1] = "",
         total[PD_UTOA_MAX + 1] = "", tbuf[PD_UTOA_MAX + 1], fl[8];
    if (c->subj.patch_tag) {
        pd_itoa(c->subj.version, version);
        if (c->subj.index >= 0) {
            pd_itoa(c->subj.index, index);
            pd_itoa(c->subj.total, total);
        }
    }
    pd_itoa(when, tbuf);
    size_t nf = 0;
    if (flags & PD_REC_TRUNCATED)
        fl[nf++] = 't';
    if (m->synthetic_mid)
        fl[nf++] = 's';
    if (m->parse_failed)
        fl[nf++] = 'p';
    if (c->inbody_from)
        fl[nf++] = 'i';
    fl[nf] = '\0';

    pd_buf refs = PD_BUF_INIT, revs = PD_BUF_INIT, trailers = PD_BUF_INIT, notice = PD_BUF_INIT;
    struct pd_outcome oc;
    memset(&oc, 0, sizeof oc);
    int rc = -1;
    if (pd_buf_puts(&refs, "") < 0 || pd_buf_puts(&revs, "") < 0)
        goto out;
    /* what a reply says about the patches: trailers, an applied notice */
    if (c->cls == PD_REPLY && pd_outcome_parse(m->text_body, &oc) < 0)
        goto out;
    if (pd_outcome_encode_trailers(&oc, &trailers) < 0 || pd_outcome_encode_notice(&oc, &notice) < 0)
        goto out;
    for (size_t i = 0; i < m->nrefs; i++)
        if ((i && pd_buf_putc(&refs, '\n') < 0) || pd_buf_puts(&refs, m->references[i]) < 0)
            goto out;
    for (size_t i = 0; i < c->nreviewers; i++)
        if ((i && pd_buf_putc(&revs, '\n') < 0) || pd_buf_puts(&revs, c->reviewers[i].addr) < 0 ||
            pd_buf_putc(&revs, '\t') < 0 || pd_buf_puts(&revs, c->reviewers[i].name) < 0)
            goto out;

    bool keep_text = c->cls == PD_COVER || c->cls == PD_PATCH || c->cls == PD_PULL;
    struct pd_field_view f[PD_F_COUNT];
    f[PD_F_FORMAT] = sv(PD_RECORD_FORMAT);
    f[PD_F_LIST] = sv(list_id);
    f[PD_F_MID] = sv(m->message_id);
    f[PD_F_CLASS] = sv(pd_class_name(c->cls));
    f[PD_F_VERSION] = sv(version);
    f[PD_F_INDEX] = sv(index);
    f[PD_F_TOTAL] = sv(total);
    f[PD_F_NAME] = sv(c->ident.name);
    f[PD_F_ADDR] = sv(c->ident.addr);
    f[PD_F_SUBJECT] = sv(m->subject);
    f[PD_F_TITLE] = sv(c->subj.title);
    f[PD_F_AUTHOR] = sv(c->author);
    f[PD_F_ROOT] = sv(c->thread_root);
    f[PD_F_IRT] = sv(m->in_reply_to);
    f[PD_F_REFS] = sv(refs.data);
    f[PD_F_REVIEWERS] = sv(revs.data);
    f[PD_F_TIME] = sv(tbuf);
    f[PD_F_FLAGS] = sv(fl);
    f[PD_F_EXCERPT] = sv(keep_text ? c->excerpt : "");
    f[PD_F_HEADERS] = sv(keep_text ? m->raw_headers : "");
    f[PD_F_PREFIXES] = sv(c->subj.prefixes);
    f[PD_F_TRAILERS] = sv(trailers.data);
    f[PD_F_NOTICE] = sv(notice.data);
    rc = pd_record_encode(out, f);
out:
    pd_outcome_clear(&oc);
    pd_buf_free(&refs);
    pd_buf_free(&revs);
    pd_buf_free(&trailers);
    pd_buf_free(&notice);
    return rc;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int pd_record_decode(const void *payload, size_t len, struct pd_record *r)
{
    const unsigned char *p = payload;
    memset(r, 0, sizeof *r);
    if (len < 2)
        return -1;
    unsigned count = (unsigned)p[0] | (unsigned)p[1] << 8;
    if (count < PD_F_COUNT_V1)
        return -1;   /* a newer writer may add fields; an older one lacks the last ones */
    size_t off = 2;
    for (unsigned i = 0; i < count; i++) {
        if (len - off < 4)
            return -1;
        uint32_t fl = get_u32(p + off);
        off += 4;
        if (fl > len - off)
            return -1;
        if (i < PD_F_COUNT) {
            r->f[i].p = (const char *)p + off;
            r->f[i].len = fl;
        }
        off += fl;
    }
    if (off != len)
        return -1;
    for (unsigned i = count; i < PD_F_COUNT; i++)
        r->f[i].p = "";   /* a record from before these fields: empty */
    if (r->f[PD_F_FORMAT].len != 1 || r->f[PD_F_FORMAT].p[0] != PD_RECORD_FORMAT[0])
        return -1;
    return 0;
}
