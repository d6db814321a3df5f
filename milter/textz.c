/*
 * textz.c - long texts kept compressed in Redis.  See pd_textz.h.
 */
#include "pd_textz.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#define HEAD 6   /* "\0Z" and the length */

bool pd_textz_is_packed(const char *p, size_t len)
{
    return len >= HEAD && p[0] == '\0' && p[1] == 'Z';
}

int pd_textz_pack(pd_buf *out, const char *p, size_t len)
{
    pd_buf_reset(out);
    if (len >= 64 && len <= PD_TEXTZ_MAX) {
        uLongf zlen = compressBound((uLong)len);
        if (pd_buf_reserve(out, HEAD + zlen) < 0)
            return -1;
        unsigned char *d = (unsigned char *)out->data;
        d[0] = '\0';
        d[1] = 'Z';
        for (int i = 0; i < 4; i++)
            d[2 + i] = (unsigned char)((uint32_t)len >> (8 * i));
        if (compress2(d + HEAD, &zlen, (const Bytef *)p, (uLong)len, 6) == Z_OK &&
            HEAD + zlen <= len - len / 8) {
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
    uLongf got = n;
    if (uncompress((Bytef *)out->data, &got, s + HEAD, (uLong)(len - HEAD)) != Z_OK || got != n) {
        pd_buf_reset(out);
        return -1;
    }
    out->len = n;
    out->data[n] = '\0';
    return 0;
}
