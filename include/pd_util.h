/*
 * pd_util.h - small helpers shared by every module.
 *
 * pd_buf is a growable byte buffer that always stays NUL-terminated.  Every
 * function that can allocate returns 0 on success and -1 when memory ran out;
 * the buffer is then left as it was, so callers may report and carry on.
 *
 *   pd_buf b = PD_BUF_INIT;
 *   if (pd_buf_append(&b, data, len) < 0) ...;
 *   use b.data / b.len;
 *   pd_buf_free(&b);
 */
#ifndef PD_UTIL_H
#define PD_UTIL_H

#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdbool.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct {
    char *data;    /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
} pd_buf;

#define PD_BUF_INIT { NULL, 0, 0 }

/* Room for extra more bytes and the NUL.  The test is here, in line (a
 * call per append was a twentieth of import's parse); pd_buf_grow() makes
 * the room. */
int pd_buf_grow(pd_buf *b, size_t extra);
static inline int pd_buf_reserve(pd_buf *b, size_t extra)
{
    if (b->cap && extra < b->cap - b->len)
        return 0;
    return pd_buf_grow(b, extra);
}
static inline int pd_buf_append(pd_buf *b, const void *data, size_t len)
{
    if (pd_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}
int pd_buf_puts(pd_buf *b, const char *s);
static inline int pd_buf_putc(pd_buf *b, char c)
{
    if (pd_buf_reserve(b, 1) < 0)
        return -1;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}
int pd_buf_printf(pd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Decimal digits of a number, as printf's "%" PRIu64 / PRId64 writes them
 * (without printf: it was a twentieth of import's work). */
int pd_buf_put_uint(pd_buf *b, uint64_t v);
int pd_buf_put_int(pd_buf *b, int64_t v);
void pd_buf_reset(pd_buf *b);
void pd_buf_free(pd_buf *b);
/* Hand the buffer's string to the caller (never NULL on success). */
char *pd_buf_steal(pd_buf *b);

/* The decimal digits of v and a NUL into out (PD_UTOA_MAX bytes); their count. */
#define PD_UTOA_MAX 21
size_t pd_utoa(uint64_t v, char out[PD_UTOA_MAX]);
/* The same for a signed number ("-" first when negative); PD_UTOA_MAX + 1 bytes. */
size_t pd_itoa(int64_t v, char out[PD_UTOA_MAX + 1]);

/* The first c in [p, end), or NULL: 16 bytes at a time, in line.  For
 * short lines (header lines, most of a body's): a memchr() call a line
 * costs more than the search.  Every load stays within [p, end). */
static inline const char *pd_find_byte(const char *p, const char *end, char c)
{
#ifdef __SSE2__
    const __m128i v = _mm_set1_epi8(c);
    for (; end - p >= 16; p += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), v));
        if (m)
            return p + __builtin_ctz(m);
    }
#endif
    for (; p < end; p++)
        if (*p == c)
            return p;
    return NULL;
}

/* Duplicate at most n bytes; NULL when out of memory. */
char *pd_strndup(const char *s, size_t n);
/* Whether s[0..len) is valid UTF-8 without NUL bytes: what GLib's
 * g_utf8_validate(s, len, NULL) answers, with ASCII taken 16 bytes at a
 * time (8 without SSE2; GLib takes a byte at a time: a tenth of import's
 * parse). */
bool pd_utf8_valid(const char *s, size_t len);
/* s[0..len) (no NUL bytes) as valid UTF-8: each byte that starts no valid
 * sequence becomes U+FFFD, as GLib's g_utf8_make_valid() does it, but in
 * one pass (GLib's takes 40 ns an invalid byte).  Malloc'd; NULL when out
 * of memory. */
char *pd_utf8_make_valid(const char *s, size_t len);
/* Case-insensitive prefix test (ASCII). */
bool pd_starts_with_ci(const char *s, const char *prefix);
/* Trim ASCII blanks (space, tab, CR, LF) at both ends, in place. */
char *pd_trim(char *s);
/* Lower-case ASCII letters in place. */
void pd_ascii_lower(char *s);
/* A letter or digit of ASCII, whatever the locale. */
static inline bool pd_ascii_isalnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
/* The value of a hex digit (either case), or -1. */
static inline int pd_hex_value(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}
/* The value of a character of the base64 alphabet (RFC 4648), or -1. */
static inline int pd_base64_value(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}
/* Append s[0..len) in base64 (RFC 4648, with padding, no line breaks). */
int pd_base64_append(pd_buf *b, const void *s, size_t len);
/* Replace TAB, CR, LF and other C0 controls by a space, in place. */
void pd_flatten_controls(char *s);

/* CRC-32C (Castagnoli) of a byte range, continuing from crc (start with 0). */
uint32_t pd_crc32c(uint32_t crc, const void *data, size_t len);
/* The same by table, whatever the CPU has (for tests). */
uint32_t pd_crc32c_sw(uint32_t crc, const void *data, size_t len);

/* Hex SHA-1 of a byte range into out[41]; with the CPU's SHA extensions
 * where it has them (x86-64). */
void pd_sha1_hex(const void *data, size_t len, char out[41]);
/* The same without them, whatever the CPU has (for tests). */
void pd_sha1_hex_sw(const void *data, size_t len, char out[41]);

/* Parse "123", "4K", "10M", "1G" into bytes; -1 on a bad value. */
int pd_parse_size(const char *s, uint64_t *out);
/* Parse "3600", "30s", "15m", "12h", "90d", "2w" into seconds; -1 on a bad value. */
int pd_parse_duration(const char *s, uint64_t *out);

/* Read a whole file; -1 with errno set on failure (EISDIR: a directory). */
int pd_read_file(const char *path, pd_buf *out);
/* Append what is left to read of an open file, st (its fstat) sizing the
 * buffer: a regular file takes one read.  -1 with errno set on failure;
 * the caller closes fd. */
int pd_read_fd(int fd, const struct stat *st, pd_buf *out);

/* Fill out with 2*nbytes random hex digits and a NUL (out holds 2*nbytes+1
 * bytes), from /dev/urandom; 0, or -1 with errno set. */
int pd_random_hex(char *out, size_t nbytes);

/* Monotonic time in microseconds. */
uint64_t pd_now_us(void);

struct timespec;
/* The CLOCK_REALTIME instant ms milliseconds from now, for pthread_cond_timedwait. */
void pd_deadline_ms(struct timespec *ts, int ms);

#endif
