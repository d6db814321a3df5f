/*
 * test_outcome.c - pd_outcome_parse(): the review trailers and the applied
 * notice of a reply (DESIGN.md "Outcomes"), over every real notice of the
 * kvm-ppc corpus and over hand-made edge cases: quoted notices, text that
 * is no notice, patch numbers, branches, listed [i/n] entries with commit
 * ids, the signature, the bounds on a hostile mail.
 *
 * PD_DUMP=1 build/tests/test_outcome prints what the corpus test reads
 * (file, branch, numbers, entries), to compare with
 * tests/refoutcomes.py notices <files>.
 */
#include "unit_util.h"

#include "pd_classify.h"
#include "pd_outcome.h"

#include <dirent.h>
#include <time.h>

#define KVM_PPC "kvm-ppc.vger.kernel.org.0/eml"

static void parse(const char *body, struct pd_outcome *o)
{
    assert_int_equal(pd_outcome_parse(body, o), 0);
}

/* ---- the notice line ---- */

static void check_notice_at(const char *line, int want, const char *branch, const char *nums,
                            const char *file, int at)
{
    char *b = NULL;
    int *n = NULL;
    size_t nn = 0;
    int r = pd_notice_line(line, strlen(line), &b, &n, &nn);
    pd_buf got = PD_BUF_INIT;
    for (size_t i = 0; i < nn; i++)
        assert_int_equal(pd_buf_printf(&got, "%s%d", i ? "," : "", n[i]), 0);
    assert_int_equal(pd_buf_puts(&got, ""), 0);
    bool ok = r == want && (want != 1 || (strcmp(b ? b : "", branch) == 0 &&
                                          strcmp(got.data, nums) == 0));
    if (!ok)
        print_error("%s:%d: \"%s\": want %d branch \"%s\" numbers \"%s\", got %d \"%s\" \"%s\"\n",
                    file, at, line, want, branch, nums, r, b ? b : "", got.data);
    free(b);
    free(n);
    pd_buf_free(&got);
    if (!ok)
        fail();
}

#define NOTICE(line, branch, nums) check_notice_at((line), 1, (branch), (nums), __FILE__, __LINE__)
#define NOT_NOTICE(line) check_notice_at((line), 0, "", "", __FILE__, __LINE__)

static void test_notice_verbs(void **state)
{
    (void)state;
    NOTICE("Applied", "", "");
    NOTICE("Applied, thanks!", "", "");
    NOTICE("applied.", "", "");
    NOTICE("QUEUED!", "", "");
    NOTICE("Pushed: all of them", "", "");
    NOTICE("Merged thanks", "", "");
    NOTICE("Queued, thanks.", "", "");
    NOTICE("Thanks, applied.", "", "");
    NOTICE("Thanks, queued to kvm/next.", "kvm/next", "");
    NOTICE("thanks, applied to x86/urgent!", "x86/urgent", "");
}

static void test_notice_branches(void **state)
{
    (void)state;
    NOTICE("Applied to next, thanks!", "next", "");
    NOTICE("Applied to powerpc/next.", "powerpc/next", "");
    NOTICE("Applied to kvmtool (master), thanks!", "kvmtool (master)", "");
    NOTICE("Applied for ppc-7.0", "ppc-7.0", "");
    NOTICE("Applied to arm/queue", "arm/queue", "");
    NOTICE("Applied to vfio next branch for v5.20 with a conversion", "vfio", "");
    /* the to/for must directly follow the verb */
    NOTICE("Queued, thanks Alice for the ACK!", "", "");
    NOTICE("Applied, thanks, to next", "", "");
    NOTICE("Applied thanks to Bob", "", "");
}

static void test_notice_numbers(void **state)
{
    (void)state;
    NOTICE("Queued 3+5, thanks.", "", "3,5");
    NOTICE("Queued 1-3 and 6-7.", "", "1,2,3,6,7");
    NOTICE("Applied patches 1-3", "", "1,2,3");
    NOTICE("Applied patch 2 to kvm/queue, thanks.", "kvm/queue", "2");
    NOTICE("Applied 1, 2 and 4 to next.", "next", "1,2,4");
    NOTICE("Patch 1 applied to powerpc/next.", "powerpc/next", "1");
    NOTICE("Patches 2-3 applied to powerpc/fixes.", "powerpc/fixes", "2,3");
    /* a huge range is bounded */
    char *b = NULL;
    int *n = NULL;
    size_t nn = 0;
    assert_int_equal(pd_notice_line("Queued 1-999999999", 18, &b, &n, &nn), 1);
    assert_int_equal(nn, PD_OUTCOME_MAX_NUMBERS);
    free(b);
    free(n);
}

static void test_not_notices(void **state)
{
    (void)state;
    NOT_NOTICE("Applied this series and tested it");
    NOT_NOTICE("applied?");
    NOT_NOTICE("applied without much fuss so that future versions can be x86-only.");
    NOT_NOTICE("queued dec, because it's level triggered");
    NOT_NOTICE("Applied-by: someone");
    NOT_NOTICE("Appliedx");
    NOT_NOTICE("Applied to");
    NOT_NOTICE("  Applied to next, thanks!");      /* not at column 0 */
    NOT_NOTICE("The patch was applied to next.");  /* Patch must open the line */
    NOT_NOTICE("Patchwork applied to next");
    NOT_NOTICE("Queued 3rd in line");
    NOT_NOTICE("I applied it to next.");
}

/* ---- whole replies ---- */

static void test_quoted_notice_is_none(void **state)
{
    (void)state;
    struct pd_outcome o;
    parse("On Monday Bob wrote:\n> Applied to next, thanks!\n>\n> [1/2] foo\n>       commit: "
          "0123456789abcdef\n\nWhy was this applied?\n", &o);
    assert_false(o.notice.found);
    assert_int_equal(o.notice.nentries, 0);
    pd_outcome_clear(&o);
}

static void test_first_notice_line_counts(void **state)
{
    (void)state;
    struct pd_outcome o;
    parse("Applied this series and tested it.\nQueued 3+5, thanks.\nApplied to next.\n", &o);
    assert_true(o.notice.found);
    assert_string_equal(o.notice.branch, "");
    assert_int_equal(o.notice.nnumbers, 2);
    assert_int_equal(o.notice.numbers[0], 3);
    assert_int_equal(o.notice.numbers[1], 5);
    pd_outcome_clear(&o);
}

static void test_signature_ends_the_text(void **state)
{
    (void)state;
    struct pd_outcome o;
    parse("Looks fine.\n-- \nApplied to next.\nReviewed-by: A <a@example.org>\n", &o);
    assert_false(o.notice.found);
    assert_int_equal(o.ntrailers, 0);
    pd_outcome_clear(&o);
}

static void test_b4_ty_entries(void **state)
{
    (void)state;
    struct pd_outcome o;
    parse("On Tue, 7 Jun 2022 14:14:25 +0100, Marc Zyngier wrote:\n> blah\n\n"
          "Applied to fixes, thanks!\n\n"
          "[1/3] KVM: arm64: Don't read a HW interrupt pending state in user context\n"
          "      commit: BFB5ED4097C7ABCDEF0123456789abcdef012345\n"
          "[2/3] KVM: arm64:  Re-spaced   title\n"
          "      (no commit id here)\n"
          "[03/3] KVM: arm64: third\n"
          "      https://git.kernel.org/powerpc/c/2ac78e0c00184a9ba53d507be7549c69a3f566b6\n"
          "\nBest regards,\n", &o);
    assert_true(o.notice.found);
    assert_string_equal(o.notice.branch, "fixes");
    assert_int_equal(o.notice.nentries, 2);
    assert_int_equal(o.notice.entries[0].index, 1);
    assert_int_equal(o.notice.entries[0].total, 3);
    assert_string_equal(o.notice.entries[0].commit, "bfb5ed4097c7");
    assert_string_equal(o.notice.entries[0].title,
                        "KVM: arm64: Don't read a HW interrupt pending state in user context");
    assert_int_equal(o.notice.entries[1].index, 3);
    assert_string_equal(o.notice.entries[1].commit, "2ac78e0c0018");
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_outcome_encode_notice(&o, &b), 0);
    assert_string_equal(b.data, "fixes\n\n1\t3\tbfb5ed4097c7\tKVM: arm64: Don't read a HW interrupt "
                        "pending state in user context\n3\t3\t2ac78e0c0018\tKVM: arm64: third");
    pd_buf_free(&b);
    pd_outcome_clear(&o);
}

static void test_commit_ids(void **state)
{
    (void)state;
    struct pd_outcome o;
    /* too short, not hex, no URL: no entry */
    parse("Applied.\n[1/2] a\n  commit: 12345\n[2/2] b\n  see 0123456789abcdef\n"
          "[1/1] c\n  https://example.org/c/0123456789abcdef0123456789abcdef0123456789\n", &o);
    assert_true(o.notice.found);
    assert_int_equal(o.notice.nentries, 0);
    pd_outcome_clear(&o);
    /* a title whose entry line is quoted does not count, nor a blank title */
    parse("Applied.\n> [1/2] a\n  commit: 0123456789ab\n[2/2]  \n  commit: 0123456789ab\n", &o);
    assert_int_equal(o.notice.nentries, 0);
    pd_outcome_clear(&o);
    /* the notice itself: no notice, entries are read but mean nothing */
    parse("[1/2] a\n  commit: 0123456789ab\n", &o);
    assert_false(o.notice.found);
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_outcome_encode_notice(&o, &b), 0);
    assert_string_equal(b.data, "");
    pd_buf_free(&b);
    pd_outcome_clear(&o);
}

static void test_trailers(void **state)
{
    (void)state;
    struct pd_outcome o;
    parse("Reviewed-by: Ann Reviewer <Ann@Example.org>\n"
          "Acked-by: Ann Reviewer <ann@example.org>\n"
          "Reviewed-by: Ann Again <ann@example.org>\n"   /* same kind and address */
          " Tested-by: Indented <t@example.org>\n"         /* not at column 0 */
          "> Tested-by: Quoted <q@example.org>\n"
          "reviewed-by: Lower Case <l@example.org>\n"     /* that case only */
          "Tested-by: No Address\n"
          "Tested-by: =?UTF-8?q?Micha=C5=82?= <m@example.org>\n", &o);
    assert_int_equal(o.ntrailers, 3);
    assert_int_equal(o.trailers[0].kind, PD_TRAILER_REVIEWED);
    assert_string_equal(o.trailers[0].addr, "ann@example.org");
    assert_string_equal(o.trailers[0].name, "Ann Reviewer");
    assert_int_equal(o.trailers[1].kind, PD_TRAILER_ACKED);
    assert_int_equal(o.trailers[2].kind, PD_TRAILER_TESTED);
    assert_string_equal(o.trailers[2].name, "Michał");
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_outcome_encode_trailers(&o, &b), 0);
    assert_string_equal(b.data, "r\tann@example.org\tAnn Reviewer\na\tann@example.org\tAnn "
                                "Reviewer\nt\tm@example.org\tMichał");
    pd_buf_free(&b);
    pd_outcome_clear(&o);
}

/* Lines shorter than any notice, entry or trailer are passed over unread
 * (a crafted body of millions of "a" lines), and hide nothing after them:
 * not the notice, not an entry whose commit line is short, not a trailer,
 * nor the signature. */
static void test_short_lines_skipped(void **state)
{
    (void)state;
    pd_buf b = PD_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        assert_int_equal(pd_buf_puts(&b, "a\nR\nAp\nTest\n[1/\n-\n"), 0);
    assert_int_equal(pd_buf_puts(&b, "Queued\n"   /* as short as a notice gets but one */
                                     "a\n"
                                     "[1/2] x\n"
                                     "      commit: 0123456789ab\n"
                                     "Tq\n"
                                     "Reviewed-by: Ann Reviewer <ann@example.org>\n"
                                     "ap\n"
                                     "-- \n"
                                     "Tested-by: After Signature <t@example.org>\n"), 0);
    struct pd_outcome o;
    parse(b.data, &o);
    assert_true(o.notice.found);
    assert_string_equal(o.notice.branch, "");
    assert_int_equal(o.notice.nentries, 1);
    assert_string_equal(o.notice.entries[0].title, "x");
    assert_string_equal(o.notice.entries[0].commit, "0123456789ab");
    assert_int_equal(o.ntrailers, 1);
    assert_string_equal(o.trailers[0].addr, "ann@example.org");
    pd_outcome_clear(&o);
    pd_buf_free(&b);
}

/* A hostile reply: many trailer, notice and entry lines, one long line.
 * The work is one pass; what is kept is bounded. */
static void test_hostile_reply_is_bounded(void **state)
{
    (void)state;
    pd_buf b = PD_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        assert_int_equal(pd_buf_printf(&b, "Reviewed-by: R%d <r%d@example.org>\n"
                                           "[%d/20000] title %d\n commit: %012x\n"
                                           "Queued %d-%d\n", i, i, i, i, i, i, i + 900000), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(pd_buf_putc(&b, i % 2 ? ' ' : '1'), 0);
    assert_int_equal(pd_buf_putc(&b, '\n'), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct pd_outcome o;
    parse(b.data, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(o.ntrailers, PD_OUTCOME_MAX_TRAILERS);
    assert_int_equal(o.notice.nentries, PD_OUTCOME_MAX_ENTRIES);
    assert_int_equal(o.notice.nnumbers, PD_OUTCOME_MAX_NUMBERS);
    if (s > 10.0) {   /* linear: well under a second unsanitized */
        print_error("parsing a %zu-byte reply took %.2f s\n", b.len, s);
        fail();
    }
    pd_outcome_clear(&o);
    pd_buf_free(&b);
}

/* ---- every notice of the kvm-ppc corpus ---- */

struct expect {
    const char *file;      /* the file name's first five characters */
    const char *branch;
    const char *numbers;
    int entries;
};

/* Read by hand from the mails and checked against tests/refoutcomes.py. */
static const struct expect corpus_notices[] = {
#include "outcome_notices.inc"
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus_notices(void **state)
{
    (void)state;
    char *dir = corpus_path(KVM_PPC);
    DIR *d = opendir(dir);
    if (!d)
        print_error("cannot open %s (set PD_CORPUS?)\n", dir);
    assert_non_null(d);
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".eml") != 0)
            continue;
        names = realloc(names, (nn + 1) * sizeof *names);
        assert_non_null(names);
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, name_cmp);
    assert_true(nn >= 1500);
    bool dump = getenv("PD_DUMP") != NULL;
    size_t k = 0, nexp = sizeof corpus_notices / sizeof corpus_notices[0];
    int bad = 0;
    for (size_t i = 0; i < nn; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", KVM_PPC, names[i]);
        struct pd_mail m;
        struct pd_classified c;
        parse_corpus(rel, &m);
        assert_int_equal(pd_classify(&m, &c), 0);
        struct pd_outcome o;
        memset(&o, 0, sizeof o);
        if (c.cls == PD_REPLY)
            parse(m.text_body, &o);
        if (o.notice.found) {
            pd_buf nums = PD_BUF_INIT;
            assert_int_equal(pd_buf_puts(&nums, ""), 0);
            for (size_t j = 0; j < o.notice.nnumbers; j++)
                assert_int_equal(pd_buf_printf(&nums, "%s%d", j ? "," : "", o.notice.numbers[j]), 0);
            if (dump) {
                printf("    { \"%.5s\", \"%s\", \"%s\", %zu },\n", names[i], o.notice.branch,
                       nums.data, o.notice.nentries);
            } else if (k >= nexp || strncmp(names[i], corpus_notices[k].file, 5) != 0) {
                print_error("%s: a notice the table does not list\n", names[i]);
                bad++;
            } else {
                const struct expect *x = &corpus_notices[k++];
                if (strcmp(o.notice.branch, x->branch) != 0 || strcmp(nums.data, x->numbers) != 0 ||
                    (int)o.notice.nentries != x->entries) {
                    print_error("%s: branch \"%s\" numbers \"%s\" %zu entries; want \"%s\" "
                                "\"%s\" %d\n", names[i], o.notice.branch, nums.data,
                                o.notice.nentries, x->branch, x->numbers, x->entries);
                    bad++;
                }
            }
            pd_buf_free(&nums);
        } else if (!dump && k < nexp && strncmp(names[i], corpus_notices[k].file, 5) == 0) {
            print_error("%s: the table lists a notice, none was read\n", names[i]);
            bad++;
            k++;
        }
        pd_outcome_clear(&o);
        pd_classified_clear(&c);
        pd_mail_clear(&m);
        free(names[i]);
    }
    free(names);
    free(dir);
    if (!dump && k != nexp) {
        print_error("%zu of the table's %zu notices found\n", k, nexp);
        bad++;
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice_verbs),
        cmocka_unit_test(test_notice_branches),
        cmocka_unit_test(test_notice_numbers),
        cmocka_unit_test(test_not_notices),
        cmocka_unit_test(test_quoted_notice_is_none),
        cmocka_unit_test(test_first_notice_line_counts),
        cmocka_unit_test(test_signature_ends_the_text),
        cmocka_unit_test(test_b4_ty_entries),
        cmocka_unit_test(test_commit_ids),
        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_short_lines_skipped),
        cmocka_unit_test(test_hostile_reply_is_bounded),
        cmocka_unit_test(test_corpus_notices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
