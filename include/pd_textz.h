/*
 * pd_textz.h - long texts kept compressed in Redis.
 *
 * A mail's header block and its excerpt are most of what Redis keeps per
 * mail (record.lua); zlib takes them to a third or so.  A packed text is
 * "\0Z", the original length (u32, little-endian), then a zlib stream; a
 * text that does not shrink by an eighth is kept as it is.  Texts never
 * start with a NUL byte, so unpacking tells the two apart, and texts
 * written before (plain) read as they are.
 *
 *   pd_buf z = PD_BUF_INIT, t = PD_BUF_INIT;
 *   if (pd_textz_pack(&z, text, len) < 0) ... out of memory ...
 *   if (pd_textz_unpack(&t, z.data, z.len) < 0) ... corrupt or out of memory ...
 */
#ifndef PD_TEXTZ_H
#define PD_TEXTZ_H

#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>

/* The longest text packed or unpacked (longer ones are kept as they are). */
#define PD_TEXTZ_MAX (16u * 1024 * 1024)

/* out = the text, packed when that saves an eighth.  0, or -1 out of memory. */
int pd_textz_pack(pd_buf *out, const char *p, size_t len);
/* out = the text, unpacked when packed.  0, or -1 corrupt or out of memory. */
int pd_textz_unpack(pd_buf *out, const char *p, size_t len);
bool pd_textz_is_packed(const char *p, size_t len);

#endif
