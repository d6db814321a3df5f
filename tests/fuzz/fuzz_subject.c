/*
 * fuzz_subject.c - libFuzzer target: the subject/tag parser,
 * pd_subject_parse() (reply markers, [PATCH vN i/n] groups, prefixes,
 * title).  The bytes, up to the first NUL, are parsed twice: as given, and
 * after pd_decode_header_text() (unfolding and RFC 2047 decoding), which is
 * what the milter hands it.  Checks: the title and prefixes are set, i/n are
 * both -1 or both numbers, and the numbers stay within 0..1000000.
 *
 * Run:  make fuzz
 *       build/fuzz/fuzz_subject -max_len=4096 MYCORPUS build/fuzz/corpus/subject
 */
#define FUZZ_NAME "fuzz_subject"
#include "fuzz_util.h"
#include "pd_classify.h"
#include "pd_mail.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check(const char *subject)
{
    struct pd_subject s;
    if (pd_subject_parse(subject, &s) < 0)
        return;   /* out of memory */
    if (!s.title || !s.prefixes || s.version < 0 || s.version > 1000000 ||
        (s.index < 0) != (s.total < 0) || s.index < -1 || s.index > 1000000 ||
        s.total < -1 || s.total > 1000000) {
        fprintf(stderr, "fuzz_subject: inconsistent result for \"%s\"\n", subject);
        abort();
    }
    pd_subject_clear(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = malloc(size + 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    raw[size] = '\0';
    check(raw);
    char *dec = pd_decode_header_text(raw);
    if (dec)
        check(dec);
    free(dec);
    free(raw);
    return 0;
}
