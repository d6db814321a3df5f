/*
 * textz.c - long texts kept compressed in Redis.  See pd_textz.h.
 */
#include "pd_textz.h"

#include "textz_dict.h"   /* pd_textz_dict[]: milter/textz.dict */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define HEAD 6      /* "\0D", "\0S" or "\0Z", and the length */
#define LEVEL 1     /* zstd's level: see pd_textz.h */

struct pd_textz {
    ZSTD_CCtx *cc;
};

/* The dictionary, digested once and shared by every thread (zstd's
 * dictionaries are read only once made); NULL when making them failed
 * (out of memory: texts are then packed without it). */
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;
static ZSTD_CDict *cdict;
static ZSTD_DDict *ddict;
static unsigned dict_id;

static void dict_init(void)
{
    cdict = ZSTD_createCDict(pd_textz_dict, sizeof pd_textz_dict, LEVEL);
    ddict = ZSTD_createDDict(pd_textz_dict, sizeof pd_textz_dict);
    dict_id = ZSTD_getDictID_fromDict(pd_textz_dict, sizeof pd_textz_dict);
}

static const ZSTD_CDict *the_cdict(void)
{
    pthread_once(&dict_once, dict_init);
    return cdict;
}

struct pd_textz *pd_textz_new(void)
{
    struct pd_textz *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->cc = ZSTD_createCCtx();
    if (!z->cc) {
        free(z);
        return NULL;
    }
    return z;
}

void pd_textz_free(struct pd_textz *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->cc);
    free(z);
}

bool pd_textz_is_packed(const char *p, size_t len)
{
    return len >= HEAD && p[0] == '\0' && (p[1] == 'D' || p[1] == 'S' || p[1] == 'Z');
}

int pd_textz_pack(struct pd_textz *z, pd_buf *out, const char *p, size_t len)
{
    pd_buf_reset(out);
    if (len >= 64 && len <= PD_TEXTZ_MAX) {
        size_t bound = ZSTD_compressBound(len);
        if (pd_buf_reserve(out, HEAD + bound) < 0)
            return -1;
        unsigned char *d = (unsigned char *)out->data;
        const ZSTD_CDict *cd = the_cdict();
        d[0] = '\0';
        d[1] = cd ? 'D' : 'S';
        for (int i = 0; i < 4; i++)
            d[2 + i] = (unsigned char)((uint32_t)len >> (8 * i));
        size_t zlen;
        if (cd) {
            ZSTD_CCtx *one = z ? NULL : ZSTD_createCCtx();
            ZSTD_CCtx *cc = z ? z->cc : one;
            zlen = cc ? ZSTD_compress_usingCDict(cc, d + HEAD, bound, p, len, cd)
                      : (size_t)-1;   /* out of memory: kept as it is */
            ZSTD_freeCCtx(one);
        } else {
            zlen = z ? ZSTD_compressCCtx(z->cc, d + HEAD, bound, p, len, LEVEL)
                     : ZSTD_compress(d + HEAD, bound, p, len, LEVEL);
        }
        if (!ZSTD_isError(zlen) && HEAD + zlen <= len - len / 8) {
            out->len = HEAD + zlen;
            out->data[out->len] = '\0';
            return 0;
        }
        pd_buf_reset(out);
    }
    return pd_buf_append(out, p, len);
}

int pd_textz_unpack(pd_buf *out, const char *p, size_t len)
{
    pd_buf_reset(out);
    if (!pd_textz_is_packed(p, len))
        return pd_buf_append(out, p, len);
    const unsigned char *s = (const unsigned char *)p;
    uint32_t n = 0;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)s[2 + i] << (8 * i);
    if (n > PD_TEXTZ_MAX || pd_buf_reserve(out, n ? n : 1) < 0)
        return -1;
    bool ok;
    if (s[1] == 'D') {
        /* a frame made with our dictionary, and no other */
        pthread_once(&dict_once, dict_init);
        ZSTD_DCtx *dc = ddict && ZSTD_getDictID_fromFrame(s + HEAD, len - HEAD) == dict_id
                            ? ZSTD_createDCtx()
                            : NULL;
        size_t got = dc ? ZSTD_decompress_usingDDict(dc, out->data, n, s + HEAD, len - HEAD, ddict)
                        : (size_t)-1;
        ZSTD_freeDCtx(dc);
        ok = dc && !ZSTD_isError(got) && got == n;
    } else if (s[1] == 'S') {
        size_t got = ZSTD_decompress(out->data, n, s + HEAD, len - HEAD);
        ok = !ZSTD_isError(got) && got == n;
    } else {
        uLongf got = n;
        ok = uncompress((Bytef *)out->data, &got, s + HEAD, (uLong)(len - HEAD)) == Z_OK &&
             got == n;
    }
    if (!ok) {
        pd_buf_reset(out);
        return -1;
    }
    out->len = n;
    out->data[n] = '\0';
    return 0;
}
