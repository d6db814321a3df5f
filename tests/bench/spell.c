/*
 * spell.c - a fixed amount of work, timed: `make bench` runs it alone on
 * one core, then twice at once on two, to tell how much the machine's two
 * cores slow each other at that moment (bench.py, "spell" in bench.json).
 *
 *   spell            prints the milliseconds the work took
 *
 * The work is zlib's deflate at level 1 of 512 KB of generated text, eight
 * times: integer work on data that fits the core's caches, as zstd's and
 * the parse's in `patchdigest import`.  On the 2-vCPU machines this was
 * written on, two copies at once took as long as one alone in some spells
 * and 1.4 to 1.5 times as long in others: then the two vCPUs share a
 * physical core, and import's two processes (the client and redis-server)
 * lose most of their overlap, while the one-core Python baseline loses
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#define TEXT (512 * 1024)
#define ROUNDS 8

int main(void)
{
    static const char *words[] = { "the ", "patch ", "kvm ", "ppc ", "series ", "of ",
                                   "reviewed-by: ", "guest ", "memory ", "\n", "signed-off-by: ",
                                   "to ", "a ", "commit ", "fix ", "in " };
    static unsigned char text[TEXT];
    size_t n = 0;
    unsigned x = 12345;
    while (n < TEXT) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % (sizeof words / sizeof words[0])];
        while (*w && n < TEXT)
            text[n++] = (unsigned char)*w++;
    }
    uLongf bound = compressBound(TEXT);
    unsigned char *out = malloc(bound);
    if (!out) {
        fprintf(stderr, "spell: out of memory\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uLongf len = bound;
        text[r] ^= 1;   /* not the same input twice */
        if (compress2(out, &len, text, TEXT, 1) != Z_OK) {
            fprintf(stderr, "spell: deflate failed\n");
            free(out);
            return 1;
        }
        total += len;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(out);
    printf("%.3f %lu\n", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, total);
    return 0;
}
