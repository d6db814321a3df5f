/*
 * pd_textz.h - long texts kept compressed in Redis.
 *
 * A mail's header block and its excerpt are most of what Redis keeps per
 * mail (record.lua); compressed they take a third of the room or less.  A
 * packed text is "\0D", the original length (u32, little-endian), then one
 * zstd frame (level 1) made with the dictionary milter/textz.dict: what
 * list mail's header blocks and commit messages have in common (Received
 * lines of vger, List- headers, Signed-off-by and the like), trained with
 * "make textz-dict" on every second post of the kvm-ppc corpus.  On the
 * other posts it packs these texts to 28% of their size against 49%
 * without it, in 62% of the time (a text of 2 KB has little of its own to
 * match); on the texts of kvm's posts and the parser fixtures, to 52%
 * against 65%, in half the time.
 * The frame carries the dictionary's id (1346633729); a frame with another
 * id is refused, not misread.  A new dictionary needs a new id and the old
 * one kept for reading until the retention has passed.
 *
 * Texts packed by earlier versions still read: "\0S", the length, a zstd
 * frame without dictionary, and "\0Z", the length, a zlib stream.  A text that does not shrink by an eighth is kept as it is.
 * Texts never start with a NUL byte, so unpacking tells packed and plain
 * apart, and plain texts written by older versions read as they are.
 *
 *   struct pd_textz *z = pd_textz_new();      one per thread; NULL: out of memory
 *   pd_buf p = PD_BUF_INIT, t = PD_BUF_INIT;
 *   if (pd_textz_pack(z, &p, text, len) < 0) ... out of memory ...
 *   if (pd_textz_unpack(&t, p.data, p.len) < 0) ... corrupt or out of memory ...
 *   pd_textz_free(z);
 */
#ifndef PD_TEXTZ_H
#define PD_TEXTZ_H

#include "pd_util.h"

#include <stdbool.h>
#include <stddef.h>

/* The longest text packed or unpacked (longer ones are kept as they are). */
#define PD_TEXTZ_MAX (16u * 1024 * 1024)

/* A compressor's state, kept between texts (a fresh one per text costs
 * twice the time on mail-sized texts).  Not shared between threads. */
struct pd_textz;

struct pd_textz *pd_textz_new(void);
void pd_textz_free(struct pd_textz *z);

/* out = the text, packed when that saves an eighth.  z may be NULL (a
 * one-off state).  0, or -1 out of memory. */
int pd_textz_pack(struct pd_textz *z, pd_buf *out, const char *p, size_t len);
/* out = the text, unpacked when packed (either form).  0, or -1 corrupt or
 * out of memory. */
int pd_textz_unpack(pd_buf *out, const char *p, size_t len);
bool pd_textz_is_packed(const char *p, size_t len);

#endif
