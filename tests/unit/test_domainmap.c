/*
 * test_domainmap.c - the gitdm domain map: the shipped QEMU map parses,
 * lookups go from the whole address to ever shorter domains, dated lines,
 * and bad lines are named by file:line.
 */
#include "unit_util.h"

#include "pd_domainmap.h"

#include <time.h>

static struct pd_domainmap *parse(const char *text)
{
    struct pd_domainmap *m;
    char err[256];
    int rc = pd_domainmap_parse("test.map", text, strlen(text), &m, err, sizeof err);
    if (rc < 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

static void test_qemu_map(void **state)
{
    (void)state;
    char *path = corpus_path("domain-maps/qemu-contrib-gitdm-domain-map");
    struct pd_domainmap *m;
    char err[512];
    assert_int_equal(pd_domainmap_load(path, &m, err, sizeof err), 0);
    assert_true(pd_domainmap_size(m) >= 30);
    int64_t now = time(NULL);
    assert_string_equal(pd_domainmap_lookup(m, "someone@redhat.com", now), "Red Hat");
    assert_string_equal(pd_domainmap_lookup(m, "x@linux.ibm.com", now), "IBM");
    assert_string_equal(pd_domainmap_lookup(m, "x@us.ibm.com", now), "IBM");
    assert_string_equal(pd_domainmap_lookup(m, "x@cmss.chinamobile.com", now), "China Mobile");
    assert_string_equal(pd_domainmap_lookup(m, "x@quicinc.com", now),
                        "Qualcomm Innovation Center");
    assert_null(pd_domainmap_lookup(m, "x@example.org", now));
    assert_null(pd_domainmap_lookup(m, "x@com", now));
    pd_domainmap_free(m);
    free(path);
}

static void test_most_specific_wins(void **state)
{
    (void)state;
    struct pd_domainmap *m = parse("# comment\n\n"
                                   "example.com   Example   # trailing comment\n"
                                   "lab.example.com Example Labs\n"
                                   "boss@example.com  The Boss Inc\n");
    assert_string_equal(pd_domainmap_lookup(m, "a@example.com", 0), "Example");
    assert_string_equal(pd_domainmap_lookup(m, "a@x.lab.example.com", 0), "Example Labs");
    assert_string_equal(pd_domainmap_lookup(m, "a@lab.example.com", 0), "Example Labs");
    assert_string_equal(pd_domainmap_lookup(m, "boss@example.com", 0), "The Boss Inc");
    assert_string_equal(pd_domainmap_lookup(m, "a@eu.example.com", 0), "Example");
    pd_domainmap_free(m);
}

static void test_dated_lines(void **state)
{
    (void)state;
    struct pd_domainmap *m = parse("jane@example.org  Old Corp  < 2015-06-01\n"
                                   "jane@example.org  Middle Corp < 2020-01-01\n"
                                   "jane@example.org  New Corp\n");
    assert_string_equal(pd_domainmap_lookup(m, "jane@example.org", 1262304000), "Old Corp");
    assert_string_equal(pd_domainmap_lookup(m, "jane@example.org", 1500000000), "Middle Corp");
    assert_string_equal(pd_domainmap_lookup(m, "jane@example.org", 1700000000), "New Corp");
    pd_domainmap_free(m);
}

static void test_case_insensitive_keys(void **state)
{
    (void)state;
    struct pd_domainmap *m = parse("Huawei.COM Huawei\n");
    assert_string_equal(pd_domainmap_lookup(m, "a@huawei.com", 0), "Huawei");
    pd_domainmap_free(m);
}

static void test_bad_lines_named(void **state)
{
    (void)state;
    struct pd_domainmap *m = NULL;
    char err[256];
    const char *bad[] = { "ok.com Ok\nlonely.com\n", "ok.com Ok\nx.com X < 2020-13-01\n",
                          "ok.com Ok\nx.com    < 2020-01-01\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pd_domainmap_parse("my.map", bad[i], strlen(bad[i]), &m, err, sizeof err),
                         -1);
        assert_null(m);
        assert_true(strncmp(err, "my.map:2: ", 10) == 0);
    }
    assert_int_equal(pd_domainmap_load("/nonexistent/map", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/map"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qemu_map),
        cmocka_unit_test(test_most_specific_wins),
        cmocka_unit_test(test_dated_lines),
        cmocka_unit_test(test_case_insensitive_keys),
        cmocka_unit_test(test_bad_lines_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
