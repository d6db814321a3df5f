/*
 * util.c - growable buffers, string helpers, CRC-32C, SHA-1,
 * size and duration parsing.  See pd_util.h for the contract.
 */
#include "pd_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#endif

int pd_buf_grow(pd_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int pd_buf_puts(pd_buf *b, const char *s)
{
    return pd_buf_append(b, s, strlen(s));
}

size_t pd_utoa(uint64_t v, char out[PD_UTOA_MAX])
{
    char tmp[PD_UTOA_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t pd_itoa(int64_t v, char out[PD_UTOA_MAX + 1])
{
    if (v >= 0)
        return pd_utoa((uint64_t)v, out);
    out[0] = '-';
    /* -(v + 1) + 1: INT64_MIN has no positive twin */
    return 1 + pd_utoa((uint64_t)(-(v + 1)) + 1, out + 1);
}

int pd_buf_put_uint(pd_buf *b, uint64_t v)
{
    char d[PD_UTOA_MAX];
    return pd_buf_append(b, d, pd_utoa(v, d));
}

int pd_buf_put_int(pd_buf *b, int64_t v)
{
    char d[PD_UTOA_MAX + 1];
    return pd_buf_append(b, d, pd_itoa(v, d));
}

int pd_buf_printf(pd_buf *b, const char *fmt, ...)
{
    /* into the room the buffer has, once; a second time only when it did
     * not fit (formatting twice, to size and then to write, had been a
     * tenth of import's record building) */
    size_t room = b->data ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (room)
        b->data[b->len] = '\0';   /* a cut text was written past the end: until it is redone */
    if (n < 0 || pd_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void pd_buf_reset(pd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void pd_buf_free(pd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *pd_buf_steal(pd_buf *b)
{
    if (!b->data && pd_buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *s = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

char *pd_strndup(const char *s, size_t n)
{
    size_t l = strnlen(s, n);
    char *p = malloc(l + 1);
    if (!p)
        return NULL;
    memcpy(p, s, l);
    p[l] = '\0';
    return p;
}

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 when none
 * starts there (Unicode's table of well-formed sequences: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
static inline size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < need + 1 || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return need + 1;
}

bool pd_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        /* ASCII without NUL taken in blocks; then a window of 16 bytes a
         * byte at a time, so text that is mostly not ASCII does not try
         * a block at every character */
#ifdef __SSE2__
        const __m128i zero = _mm_setzero_si128();
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, zero))))
                break;
            p += 16;
        }
#else
        /* 8 bytes at a time (a word with no high bit set holds a zero byte
         * exactly when this finds one) */
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if ((w & highs) || ((w - ones) & ~w & highs))
                break;
            p += 8;
        }
#endif
        const unsigned char *stop = end - p > 16 ? p + 16 : end;
        while (p < stop) {
            unsigned c = *p;
            if (c < 0x80) {
                if (c == 0)
                    return false;
                p++;
                continue;
            }
            /* the sequences of 2 and 3 bytes (most text that is not
             * ASCII) here, those of 4 and the errors by utf8_seq() */
            if (c >= 0xC2 && c <= 0xDF && end - p >= 2 && (p[1] & 0xC0) == 0x80) {
                p += 2;
                continue;
            }
            if ((c & 0xF0) == 0xE0 && end - p >= 3 && (p[2] & 0xC0) == 0x80) {
                /* E0 A0-BF, ED 80-9F (no surrogates), the others 80-BF */
                unsigned b = p[1];
                if (c == 0xE0 ? (b & 0xE0) == 0xA0 : c == 0xED ? (b & 0xE0) == 0x80
                                                             : (b & 0xC0) == 0x80) {
                    p += 3;
                    continue;
                }
            }
            size_t k = utf8_seq(p, (size_t)(end - p));
            if (!k)
                return false;
            p += k;
        }
    }
    return true;
}

char *pd_utf8_make_valid(const char *s, size_t len)
{
    /* Room for the worst case: an invalid byte becomes U+FFFD, 3 bytes
     * for 1, and only bytes from 0x80 up can be invalid; what is not used
     * is given back at the end (only the pages written were touched).
     * Counting those bytes is cheap (8 at a time); a second decoding pass
     * to size the output exactly cost as much as the repair. */
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t high = 0, i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        /* the high bits, one a byte, summed by the multiply into the top byte */
        high += (size_t)((((w & 0x8080808080808080ull) >> 7) * 0x0101010101010101ull) >> 56);
    }
    for (; i < len; i++)
        high += p[i] >= 0x80;
    if (high > (SIZE_MAX - 1 - len) / 2)
        return NULL;
    char *out = malloc(len + 2 * high + 1), *o = out;
    if (!out)
        return NULL;
    while (p < end) {
        if (*p < 0x80) {
            *o++ = (char)*p++;
            continue;
        }
        /* a byte that no continuation byte follows starts no sequence
         * (the usual invalid byte: Latin-1 text and the like) */
        size_t k = p + 1 < end && (p[1] & 0xC0) == 0x80 ? utf8_seq(p, (size_t)(end - p)) : 0;
        if (k) {
            memcpy(o, p, k);
            o += k;
            p += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    *o = '\0';
    char *fit = realloc(out, (size_t)(o - out) + 1);
    return fit ? fit : out;
}

int pd_base64_append(pd_buf *b, const void *s, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX - 3) / 4 * 3 || pd_buf_reserve(b, (len + 2) / 3 * 4) < 0)
        return -1;
    const unsigned char *p = s;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        *o++ = abc[v & 63];
    }
    if (len - i) {
        uint32_t v = (uint32_t)p[i] << 16 | (len - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = len - i == 2 ? abc[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

bool pd_starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *pd_trim(char *s)
{
    char *p = s;
    while (is_blank(*p))
        p++;
    size_t l = strlen(p);
    while (l && is_blank(p[l - 1]))
        l--;
    memmove(s, p, l);
    s[l] = '\0';
    return s;
}

void pd_ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

void pd_flatten_controls(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

/* What the CPU offers the code below, asked once (CPUID) for every thread
 * (x86-64): the crc32 instruction (SSE4.2), and the SHA extensions with
 * the SSSE3 and SSE4.1 their code also uses.  Valgrind's CPU has no SHA
 * extensions: under it the portable SHA-1 runs. */
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static bool cpu_crc32, cpu_sha;

static void cpu_init(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    cpu_crc32 = c & (1u << 20);
    bool ssse3_sse41 = (c & (1u << 9)) && (c & (1u << 19));
    cpu_sha = ssse3_sse41 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
#endif
}

/* CRC-32C (Castagnoli), as iSCSI and ext4 use it.  On x86-64 with SSE4.2
 * the crc32 instruction does eight bytes at a time (the journal checksums
 * every record twice, on append and on read: byte by byte that was 4% of
 * the milter's CPU); elsewhere a table, a byte at a time.  Both give the
 * same value: tests/unit/test_journal.c compares them. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t pd_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t pd_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&cpu_once, cpu_init);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (cpu_crc32)
        return crc32c_hw(crc, data, len);
#endif
    return pd_crc32c_sw(crc, data, len);
}

/* SHA-1 (FIPS 180-4), one 64-byte block into the state h.  Written here
 * rather than through GLib's GChecksum, whose object, allocation and hex
 * string cost three times the hash on the short texts hashed here (a few
 * per mail: ids, subjects, keys), and which could fail. */
static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* The 80 steps written out, the variables' roles rotating instead of
 * their values moving, and the schedule kept in 16 words (as in the
 * public-domain SHA-1 of Steve Reid and others): a loop over a 80-word
 * schedule took twice the instructions. */
#define SHA1_BLK(i) \
    (w[(i) & 15] = rol32(w[((i) + 13) & 15] ^ w[((i) + 8) & 15] ^ w[((i) + 2) & 15] ^ \
                         w[(i) & 15], 1))
#define SHA1_R0(v, x, y, z, u, i) \
    u += ((x & (y ^ z)) ^ z) + w[i] + 0x5A827999u + rol32(v, 5); x = rol32(x, 30)
#define SHA1_R1(v, x, y, z, u, i) \
    u += ((x & (y ^ z)) ^ z) + SHA1_BLK(i) + 0x5A827999u + rol32(v, 5); x = rol32(x, 30)
#define SHA1_R2(v, x, y, z, u, i) \
    u += (x ^ y ^ z) + SHA1_BLK(i) + 0x6ED9EBA1u + rol32(v, 5); x = rol32(x, 30)
#define SHA1_R3(v, x, y, z, u, i) \
    u += (((x | y) & z) | (x & y)) + SHA1_BLK(i) + 0x8F1BBCDCu + rol32(v, 5); x = rol32(x, 30)
#define SHA1_R4(v, x, y, z, u, i) \
    u += (x ^ y ^ z) + SHA1_BLK(i) + 0xCA62C1D6u + rol32(v, 5); x = rol32(x, 30)
#define SHA1_5(R, i) \
    R(a, b, c, d, e, i); R(e, a, b, c, d, (i) + 1); R(d, e, a, b, c, (i) + 2); \
    R(c, d, e, a, b, (i) + 3); R(b, c, d, e, a, (i) + 4)

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    SHA1_5(SHA1_R0, 0);
    SHA1_5(SHA1_R0, 5);
    SHA1_5(SHA1_R0, 10);
    SHA1_R0(a, b, c, d, e, 15);
    SHA1_R1(e, a, b, c, d, 16);
    SHA1_R1(d, e, a, b, c, 17);
    SHA1_R1(c, d, e, a, b, 18);
    SHA1_R1(b, c, d, e, a, 19);
    SHA1_5(SHA1_R2, 20);
    SHA1_5(SHA1_R2, 25);
    SHA1_5(SHA1_R2, 30);
    SHA1_5(SHA1_R2, 35);
    SHA1_5(SHA1_R3, 40);
    SHA1_5(SHA1_R3, 45);
    SHA1_5(SHA1_R3, 50);
    SHA1_5(SHA1_R3, 55);
    SHA1_5(SHA1_R4, 60);
    SHA1_5(SHA1_R4, 65);
    SHA1_5(SHA1_R4, 70);
    SHA1_5(SHA1_R4, 75);
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1_blocks_sw(uint32_t h[5], const unsigned char *p, size_t nblocks)
{
    for (; nblocks; p += 64, nblocks--)
        sha1_block(h, p);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same with the SHA extensions (sha1rnds4 does four steps, sha1msg1
 * and sha1msg2 the schedule): a tenth of the time.  Four steps k (0 to
 * 19) take the schedule words x = m[k % 4] into e (the "e" of the steps,
 * e0 and e1 in turn) and prepare words of later steps in the other three
 * (m1 = m[(k + 1) % 4], and so on), as Intel's paper on the extensions
 * lays them out; the first and last steps have fewer to prepare. */
#define SHA1_NI_4(k, x, e, eo, m1, m2, m3) \
    do { \
        e = (k) == 0 ? _mm_add_epi32(e, x) : _mm_sha1nexte_epu32(e, x); \
        eo = abcd; \
        if ((k) >= 3 && (k) <= 18) \
            m1 = _mm_sha1msg2_epu32(m1, x); \
        abcd = _mm_sha1rnds4_epu32(abcd, e, (k) / 5); \
        if ((k) >= 1 && (k) <= 16) \
            m3 = _mm_sha1msg1_epu32(m3, x); \
        if ((k) >= 2 && (k) <= 17) \
            m2 = _mm_xor_si128(m2, x); \
    } while (0)

__attribute__((target("sha,ssse3,sse4.1")))
static void sha1_blocks_ni(uint32_t h[5], const unsigned char *p, size_t nblocks)
{
    /* the words big-endian, the first in the top lane */
    const __m128i swap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0x1B);
    __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0), e1;
    for (; nblocks; p += 64, nblocks--) {
        __m128i abcd0 = abcd, e00 = e0;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), swap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), swap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), swap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), swap);
        SHA1_NI_4(0, m0, e0, e1, m1, m2, m3);
        SHA1_NI_4(1, m1, e1, e0, m2, m3, m0);
        SHA1_NI_4(2, m2, e0, e1, m3, m0, m1);
        SHA1_NI_4(3, m3, e1, e0, m0, m1, m2);
        SHA1_NI_4(4, m0, e0, e1, m1, m2, m3);
        SHA1_NI_4(5, m1, e1, e0, m2, m3, m0);
        SHA1_NI_4(6, m2, e0, e1, m3, m0, m1);
        SHA1_NI_4(7, m3, e1, e0, m0, m1, m2);
        SHA1_NI_4(8, m0, e0, e1, m1, m2, m3);
        SHA1_NI_4(9, m1, e1, e0, m2, m3, m0);
        SHA1_NI_4(10, m2, e0, e1, m3, m0, m1);
        SHA1_NI_4(11, m3, e1, e0, m0, m1, m2);
        SHA1_NI_4(12, m0, e0, e1, m1, m2, m3);
        SHA1_NI_4(13, m1, e1, e0, m2, m3, m0);
        SHA1_NI_4(14, m2, e0, e1, m3, m0, m1);
        SHA1_NI_4(15, m3, e1, e0, m0, m1, m2);
        SHA1_NI_4(16, m0, e0, e1, m1, m2, m3);
        SHA1_NI_4(17, m1, e1, e0, m2, m3, m0);
        SHA1_NI_4(18, m2, e0, e1, m3, m0, m1);
        SHA1_NI_4(19, m3, e1, e0, m0, m1, m2);
        e0 = _mm_sha1nexte_epu32(e0, e00);
        abcd = _mm_add_epi32(abcd, abcd0);
    }
    _mm_storeu_si128((__m128i *)(void *)h, _mm_shuffle_epi32(abcd, 0x1B));
    h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}
#endif

static void sha1_digest(const void *data, size_t len, char out[41], bool sw)
{
    uint32_t h[5] = { 0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u };
    void (*blocks)(uint32_t *, const unsigned char *, size_t) = sha1_blocks_sw;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    pthread_once(&cpu_once, cpu_init);
    if (!sw && cpu_sha)
        blocks = sha1_blocks_ni;
#else
    (void)sw;
#endif
    const unsigned char *p = data;
    size_t n = len;
    blocks(h, p, n / 64);
    p += n - n % 64;
    n %= 64;
    /* the rest, 0x80, zeros, and the length in bits (64-bit big-endian) */
    unsigned char tail[128];
    memset(tail, 0, sizeof tail);
    if (n)
        memcpy(tail, p, n);
    tail[n] = 0x80;
    size_t tl = n + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    blocks(h, tail, tl / 64);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        unsigned v = (h[i / 4] >> (24 - 8 * (i % 4))) & 0xff;
        out[2 * i] = hex[v >> 4];
        out[2 * i + 1] = hex[v & 15];
    }
    out[40] = '\0';
}

void pd_sha1_hex(const void *data, size_t len, char out[41])
{
    sha1_digest(data, len, out, false);
}

void pd_sha1_hex_sw(const void *data, size_t len, char out[41])
{
    sha1_digest(data, len, out, true);
}

static int parse_scaled(const char *s, uint64_t *out, const char *units,
                        const uint64_t *factors)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t f = 1;
    if (*end) {
        const char *u = strchr(units, tolower((unsigned char)*end));
        if (!u || !*u)
            return -1;
        f = factors[u - units];
        end++;
        if (*end == 'b' || *end == 'B')  /* "10MB" */
            end++;
        if (*end)
            return -1;
    }
    if (f && v > UINT64_MAX / f)
        return -1;
    *out = v * f;
    return 0;
}

int pd_parse_size(const char *s, uint64_t *out)
{
    static const uint64_t f[] = { 1024ull, 1024ull * 1024, 1024ull * 1024 * 1024 };
    return parse_scaled(s, out, "kmg", f);
}

int pd_parse_duration(const char *s, uint64_t *out)
{
    static const uint64_t f[] = { 1, 60, 3600, 86400, 7 * 86400 };
    return parse_scaled(s, out, "smhdw", f);
}

int pd_read_fd(int fd, const struct stat *st, pd_buf *out)
{
    /* ask for one byte more than the file holds: a shorter read is its end
     * (a regular file is not read short but at its end) */
    size_t want = S_ISREG(st->st_mode) && st->st_size >= 0 ? (size_t)st->st_size + 1 : 65536;
    for (;;) {
        if (pd_buf_reserve(out, want < 4096 ? 4096 : want) < 0) {
            errno = ENOMEM;
            return -1;
        }
        size_t room = out->cap - out->len - 1;
        ssize_t n = read(fd, out->data + out->len, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (n == 0 || (S_ISREG(st->st_mode) && (size_t)n < room))
            return 0;
        want = 65536;   /* it grew, or is no regular file: on to its end */
    }
}

int pd_read_file(const char *path, pd_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        rc = -1;
    }
    if (rc == 0)
        rc = pd_read_fd(fd, &st, out);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

uint64_t pd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void pd_deadline_ms(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int pd_random_hex(char *out, size_t nbytes)
{
    unsigned char rnd[64];
    if (nbytes > sizeof rnd) {
        errno = EINVAL;
        return -1;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = read(fd, rnd + got, nbytes - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}
