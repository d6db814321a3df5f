/*
 * test_subject.c - pd_subject_parse(): reply markers, patch tags, version,
 * index/total, prefixes and title (DESIGN.md "Classification (per mail)").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_classify.h"

struct expect {
    bool marker, patch_tag, git_pull;
    int version, index, total;
    const char *prefixes, *title;
};

static void check_at(const char *subject, struct expect e, const char *file, int line)
{
    struct pd_subject s;
    int rc = pd_subject_parse(subject, &s);
    if (rc != 0 || s.marker != e.marker || s.patch_tag != e.patch_tag ||
        s.git_pull != e.git_pull || s.version != e.version || s.index != e.index ||
        s.total != e.total || !s.prefixes || strcmp(s.prefixes, e.prefixes) != 0 || !s.title ||
        strcmp(s.title, e.title) != 0) {
        print_error("%s:%d: subject \"%s\"\n"
                    "  expected rc=0 marker=%d patch=%d pull=%d v=%d %d/%d prefixes=\"%s\" title=\"%s\"\n"
                    "  actual   rc=%d marker=%d patch=%d pull=%d v=%d %d/%d prefixes=\"%s\" title=\"%s\"\n",
                    file, line, subject, e.marker, e.patch_tag, e.git_pull, e.version, e.index,
                    e.total, e.prefixes, e.title, rc, s.marker, s.patch_tag, s.git_pull,
                    s.version, s.index, s.total, s.prefixes ? s.prefixes : "(null)",
                    s.title ? s.title : "(null)");
        pd_subject_clear(&s);
        fail();
    }
    pd_subject_clear(&s);
}

#define CHECK(subj, ...) check_at((subj), (struct expect){ __VA_ARGS__ }, __FILE__, __LINE__)

/* field order: marker, patch_tag, git_pull, version, index, total, prefixes, title */

static void test_plain_subject(void **state)
{
    (void)state;
    CHECK("Hello world", false, false, false, 1, -1, -1, "", "Hello world");
    CHECK("KVM: x86: fix a bug", false, false, false, 1, -1, -1, "", "KVM: x86: fix a bug");
}

static void test_reply_markers_each(void **state)
{
    (void)state;
    CHECK("Re: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("RE: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("re: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Aw: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("AW: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Sv: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("SV: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Fwd: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("FWD: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Fw: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("FW: hello", true, false, false, 1, -1, -1, "", "hello");
}

static void test_reply_markers_repeated_and_blanks(void **state)
{
    (void)state;
    CHECK("Re: Re: Fwd: hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Re:Re:Aw:hello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("  Re:  \t Fwd:   hello  ", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Re:\thello", true, false, false, 1, -1, -1, "", "hello");
    CHECK("Re: Re: [PATCH v2 7/7] KVM: selftests: x", true, true, false, 2, 7, 7, "",
          "KVM: selftests: x");
}

static void test_not_reply_markers(void **state)
{
    (void)state;
    /* words that merely begin like a marker, and markers not at the start */
    CHECK("Review: foo", false, false, false, 1, -1, -1, "", "Review: foo");
    CHECK("Reply to all", false, false, false, 1, -1, -1, "", "Reply to all");
    CHECK("Fwdx: foo", false, false, false, 1, -1, -1, "", "Fwdx: foo");
    CHECK("foo Re: bar", false, false, false, 1, -1, -1, "", "foo Re: bar");
    CHECK("[PATCH] Re: foo", false, true, false, 1, -1, -1, "", "Re: foo");
}

static void test_patch_tag_simple(void **state)
{
    (void)state;
    CHECK("[PATCH] x", false, true, false, 1, -1, -1, "", "x");
    CHECK("[patch] x", false, true, false, 1, -1, -1, "", "x");
    CHECK("[Patch] x", false, true, false, 1, -1, -1, "", "x");
    CHECK("[PATCH]x", false, true, false, 1, -1, -1, "", "x");
}

static void test_patch_tag_version_index(void **state)
{
    (void)state;
    CHECK("[PATCH v2 3/7] KVM: x86: do it", false, true, false, 2, 3, 7, "", "KVM: x86: do it");
    CHECK("[PATCH 1/2 v2] two", false, true, false, 2, 1, 2, "", "two");
    CHECK("[PATCH 3/7] no version", false, true, false, 1, 3, 7, "", "no version");
    CHECK("[PATCH V4] upper v", false, true, false, 4, -1, -1, "", "upper v");
    CHECK("[PATCH v12 10/12] two digits", false, true, false, 12, 10, 12, "", "two digits");
    CHECK("[PATCH,v2,1/3] commas", false, true, false, 2, 1, 3, "", "commas");
    CHECK("[PATCH 02/30] leading zeros", false, true, false, 1, 2, 30, "", "leading zeros");
    CHECK("[PATCH v2 00/13] cover", false, true, false, 2, 0, 13, "", "cover");
}

static void test_patch_tag_patchv(void **state)
{
    (void)state;
    CHECK("[PATCHv3 0/5] cover", false, true, false, 3, 0, 5, "", "cover");
    CHECK("[PATCHV2 1/5] upper", false, true, false, 2, 1, 5, "", "upper");
    CHECK("[RFC PATCHv2] rfc", false, true, false, 2, -1, -1, "RFC", "rfc");
}

static void test_patch_tag_prefixes(void **state)
{
    (void)state;
    CHECK("[RFC PATCH net-next v6 0/8] net: a series", false, true, false, 6, 0, 8,
          "RFC net-next", "net: a series");
    CHECK("[kvm-unit-tests PATCH] x86: test", false, true, false, 1, -1, -1, "kvm-unit-tests",
          "x86: test");
    CHECK("[PATCH RESEND v3 2/4] again", false, true, false, 3, 2, 4, "RESEND", "again");
    CHECK("[PATCH v2 net] fix", false, true, false, 2, -1, -1, "net", "fix");
    CHECK("[PATCH kernel v2] KVM: PPC: Use arch_get_random_seed_long", false, true, false, 2, -1,
          -1, "kernel", "KVM: PPC: Use arch_get_random_seed_long");
    CHECK("[RFC PATCH v0 0/5] PPC: KVM: pseries: Asynchronous page fault", false, true, false, 0,
          0, 5, "RFC", "PPC: KVM: pseries: Asynchronous page fault");
}

static void test_patch_tag_dotted_version(void **state)
{
    (void)state;
    /* "v5.5" reads as version 5; the ".5" is part of the version word, not a prefix */
    CHECK("[PATCH v5.5 02/30] x", false, true, false, 5, 2, 30, "", "x");
}

static void test_patch_tag_v0(void **state)
{
    (void)state;
    CHECK("[PATCH v0 0/5] zero", false, true, false, 0, 0, 5, "", "zero");
}

static void test_git_pull(void **state)
{
    (void)state;
    CHECK("[GIT PULL] KVM changes for 5.14", false, false, true, 1, -1, -1, "",
          "KVM changes for 5.14");
    CHECK("[git pull] lower", false, false, true, 1, -1, -1, "", "lower");
    CHECK("[GIT PULL v2] again", false, false, true, 1, -1, -1, "", "again");
    CHECK("Re: [GIT PULL] KVM", true, false, true, 1, -1, -1, "", "KVM");
    CHECK("[PULL] not git", false, false, false, 1, -1, -1, "", "not git");
}

static void test_several_tag_groups(void **state)
{
    (void)state;
    CHECK("[SLOF] [PATCH] x", false, true, false, 1, -1, -1, "", "x");
    CHECK("[SLOF][PATCH v2 1/3] x", false, true, false, 2, 1, 3, "", "x");
    CHECK("[PATCH 1/3] [foo] bar", false, true, false, 1, 1, 3, "", "bar");
    /* the first group holding PATCH or RFC is the patch tag */
    CHECK("[RFC] [PATCH v2] y", false, true, false, 1, -1, -1, "RFC", "y");
}

/* DESIGN.md's amendment: the word RFC makes a patch tag, like PATCH. */
static void test_rfc_is_patch_tag(void **state)
{
    (void)state;
    CHECK("[RFC 0/6] KVM: cover", false, true, false, 1, 0, 6, "RFC", "KVM: cover");
    CHECK("[RFC 1/6] KVM: one", false, true, false, 1, 1, 6, "RFC", "KVM: one");
    CHECK("[rfc v3 2/4] lower", false, true, false, 3, 2, 4, "rfc", "lower");
    CHECK("[RFC] lone", false, true, false, 1, -1, -1, "RFC", "lone");
    CHECK("[RFC PATCH 1/6] both", false, true, false, 1, 1, 6, "RFC", "both");
    CHECK("Re: [RFC 1/6] answered", true, true, false, 1, 1, 6, "RFC", "answered");
    /* not the word RFC */
    CHECK("[RFCs] x", false, false, false, 1, -1, -1, "", "x");
    CHECK("[RFC1234] x", false, false, false, 1, -1, -1, "", "x");
    CHECK("[XRFC] x", false, false, false, 1, -1, -1, "", "x");
}

static void test_not_patch_tags(void **state)
{
    (void)state;
    CHECK("[PATCHES] x", false, false, false, 1, -1, -1, "", "x");
    CHECK("[PATCHSET] x", false, false, false, 1, -1, -1, "", "x");
    CHECK("[dispatch] x", false, false, false, 1, -1, -1, "", "x");
    CHECK("[Bug 123] x", false, false, false, 1, -1, -1, "", "x");
}

static void test_unclosed_tag(void **state)
{
    (void)state;
    CHECK("[PATCH v2 1/2 foo bar", false, false, false, 1, -1, -1, "", "[PATCH v2 1/2 foo bar");
    CHECK("Re: [PATCH", true, false, false, 1, -1, -1, "", "[PATCH");
    CHECK("[SLOF] [PATCH x", false, false, false, 1, -1, -1, "", "[PATCH x");
}

static void test_title_trimming(void **state)
{
    (void)state;
    CHECK("   [PATCH v2]    spaced title \t ", false, true, false, 2, -1, -1, "", "spaced title");
    CHECK("[PATCH] KVM: SVM: Ensure SPEC_CTRL[63:32] is context switched between guests", false,
          true, false, 1, -1, -1, "",
          "KVM: SVM: Ensure SPEC_CTRL[63:32] is context switched between guests");
    CHECK("[PATCH]   inner   blanks   kept", false, true, false, 1, -1, -1, "",
          "inner   blanks   kept");
}

static void test_title_empty(void **state)
{
    (void)state;
    CHECK("", false, false, false, 1, -1, -1, "", "");
    CHECK("   ", false, false, false, 1, -1, -1, "", "");
    CHECK("[PATCH]", false, true, false, 1, -1, -1, "", "");
    CHECK("[PATCH v3 0/2]   ", false, true, false, 3, 0, 2, "", "");
    CHECK("Re: ", true, false, false, 1, -1, -1, "", "");
}

static void test_non_ascii_title(void **state)
{
    (void)state;
    CHECK("[PATCH] Ünïcödé ✓ 日本語", false, true, false, 1, -1, -1, "", "Ünïcödé ✓ 日本語");
    CHECK("Sv: Slobodan Pristap – Слободен Пристап", true, false, false, 1, -1, -1, "",
          "Slobodan Pristap – Слободен Пристап");
    CHECK("[PATCH v2 1/2] é", false, true, false, 2, 1, 2, "", "é");
}

static void test_huge_numbers(void **state)
{
    (void)state;
    const char *subjects[] = {
        "[PATCH 4294967297/4294967298] x",
        "[PATCH 99999999999999999999999999999999/99999999999999999999999999999999] x",
        "[PATCH 2147483648/2147483649] x",
    };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        struct pd_subject s;
        assert_int_equal(pd_subject_parse(subjects[i], &s), 0);
        assert_true(s.patch_tag);
        /* no wrap-around: large values stay large (clamped), never small or negative */
        assert_true(s.index >= 1000000);
        assert_true(s.total >= s.index);
        assert_int_equal(s.version, 1);
        assert_string_equal(s.title, "x");
        pd_subject_clear(&s);
    }
    struct pd_subject s;
    assert_int_equal(pd_subject_parse("[PATCH v99999999999999999999 1/2] x", &s), 0);
    assert_true(s.version >= 1000000);
    assert_int_equal(s.index, 1);
    assert_int_equal(s.total, 2);
    pd_subject_clear(&s);
}

static void test_index_zero_and_bounds(void **state)
{
    (void)state;
    CHECK("[PATCH 0/0] x", false, true, false, 1, 0, 0, "", "x");
    CHECK("[PATCH 1000/1000] x", false, true, false, 1, 1000, 1000, "", "x");
    /* i/n inside a longer word is not an index */
    CHECK("[PATCH x1/2] y", false, true, false, 1, -1, -1, "x1/2", "y");
}

static void test_clear_is_idempotent(void **state)
{
    (void)state;
    struct pd_subject s;
    assert_int_equal(pd_subject_parse("[PATCH] x", &s), 0);
    pd_subject_clear(&s);
    assert_null(s.title);
    assert_null(s.prefixes);
    pd_subject_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_subject),
        cmocka_unit_test(test_reply_markers_each),
        cmocka_unit_test(test_reply_markers_repeated_and_blanks),
        cmocka_unit_test(test_not_reply_markers),
        cmocka_unit_test(test_patch_tag_simple),
        cmocka_unit_test(test_patch_tag_version_index),
        cmocka_unit_test(test_patch_tag_patchv),
        cmocka_unit_test(test_patch_tag_prefixes),
        cmocka_unit_test(test_patch_tag_dotted_version),
        cmocka_unit_test(test_patch_tag_v0),
        cmocka_unit_test(test_git_pull),
        cmocka_unit_test(test_several_tag_groups),
        cmocka_unit_test(test_rfc_is_patch_tag),
        cmocka_unit_test(test_not_patch_tags),
        cmocka_unit_test(test_unclosed_tag),
        cmocka_unit_test(test_title_trimming),
        cmocka_unit_test(test_title_empty),
        cmocka_unit_test(test_non_ascii_title),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_index_zero_and_bounds),
        cmocka_unit_test(test_clear_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
