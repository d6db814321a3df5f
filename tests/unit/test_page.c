/*
 * test_page.c - pd_page_entry() / pd_page_render() / pd_page_path() /
 * pd_page_write(), and the multipart digest mail (DigestFormat both): the
 * entry layout of reference 004, the fence, escaping in the headings,
 * PageHeaders, which posts are entries, the page file.
 */
#include "unit_util.h"

#include "pd_config.h"
#include "pd_digest.h"
#include "pd_page.h"

#include <sys/stat.h>
#include <unistd.h>

static const struct pd_list kvm = { "kvm.vger.kernel.org", "KVM" };

static char *entry(const char *subject, const char *author, const char *headers,
                   const char *text, const struct pd_page_opts *o)
{
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_page_entry(subject, author, headers, text, o, &b), 0);
    return pd_buf_steal(&b);
}

static void test_layout_of_004(void **state)
{
    (void)state;
    char *e = entry("[PATCH 1/2] x: fix", "Ann Author <ann@example.org>",
                    "From: Ann Author <ann@example.org>\nSubject: [PATCH 1/2] x:\n fix\n",
                    "\n\nFix it.\n---\n a.c | 2 +-\n 1 file changed, 1 insertion(+)\n\n", NULL);
    assert_string_equal(e, "#### [PATCH 1/2] x: fix\n"
                           "##### From: Ann Author <ann@example.org>\n"
                           "\n"
                           "```c\n"
                           "From: Ann Author <ann@example.org>\n"
                           "Subject: [PATCH 1/2] x:\n fix\n"
                           "\n"
                           "Fix it.\n---\n a.c | 2 +-\n 1 file changed, 1 insertion(+)\n"
                           "\n"
                           "```\n");
    free(e);
}

static void test_fence_outgrows_backticks(void **state)
{
    (void)state;
    char *e = entry("s", "a <a@b.c>", "X-A: ````` five\n", "``````` seven\n", NULL);
    assert_non_null(strstr(e, "\n````````c\n"));       /* eight */
    assert_true(strlen(e) > 9 && strcmp(e + strlen(e) - 9, "````````\n") == 0);
    free(e);
    e = entry("s", "a <a@b.c>", "", "no ticks", NULL);
    assert_non_null(strstr(e, "\n```c\nno ticks\n\n```\n"));
    free(e);
}

static void test_headings_escaped_one_line(void **state)
{
    (void)state;
    char *e = entry("a\nb\r<i>&amp; `c` *d* [e](javascript:f) \\ ##",
                    "<b>Bad</b> <not an address>", "", "t", NULL);
    assert_non_null(strstr(e, "#### a b\\<i>\\&amp; \\`c\\` \\*d\\* [e]\\(javascript:f) \\\\ \\##\n"));
    assert_non_null(strstr(e, "##### From: \\<b>Bad\\</b> \\<not an address>\n"));
    free(e);
    /* underscores and brackets of titles stay as written */
    e = entry("[PATCH v2] x86/perf: guest_get_msrs", "Ann <ann@example.org>", "", "t", NULL);
    assert_true(strncmp(e, "#### [PATCH v2] x86/perf: guest_get_msrs\n"
                           "##### From: Ann <ann@example.org>\n", 75) == 0);
    free(e);
}

static void test_page_headers_narrow(void **state)
{
    (void)state;
    char *names[] = { "subject", "MESSAGE-ID" };
    struct pd_page_opts o = { names, 2 };
    char *e = entry("s", "a <a@b.c>",
                    "Received: from x\n by y\nSubject: one\n two\nTo: z\nMessage-ID: <m@x>\n",
                    "t", &o);
    assert_non_null(strstr(e, "```c\nSubject: one\n two\nMessage-ID: <m@x>\n\nt\n\n```\n"));
    free(e);
}

static struct pd_post *add_post(struct pd_window *w, enum pd_class cls, const char *subject,
                                const char *series, int index, bool resend)
{
    w->posts = realloc(w->posts, (w->nposts + 1) * sizeof *w->posts);
    assert_non_null(w->posts);
    struct pd_post *p = &w->posts[w->nposts++];
    memset(p, 0, sizeof *p);
    p->cls = cls;
    p->subject = strdup(subject);
    p->title = strdup(subject);
    p->author = strdup("Ann <ann@example.org>");
    p->ident = strdup("Ann <ann@example.org>");
    p->excerpt = strdup("text");
    p->headers = strdup("Subject: x\n");
    p->series = strdup(series);
    p->version = 1;
    p->index = index;
    p->total = index < 0 ? -1 : 3;
    p->resend = resend;
    return p;
}

static void win_init(struct pd_window *w)
{
    memset(w, 0, sizeof *w);
    w->list = &kvm;
    w->number = 4;
    w->exists = true;
    w->closed = w->opened = 1764000000;
    snprintf(w->from, sizeof w->from, "%s", "df7682d40aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    snprintf(w->to, sizeof w->to, "%s", "b50ef847abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
}

static void test_entries_are_the_new_ones(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_post(&w, PD_PATCH, "[PATCH 2/3] two", "s1", 2, false);
    add_post(&w, PD_COVER, "[PATCH 0/3] cover", "s1", 0, false);
    add_post(&w, PD_PATCH, "[PATCH 1/3] one", "s1", 1, false);
    add_post(&w, PD_PATCH, "[PATCH 3/3] three", "s1", 3, false);
    add_post(&w, PD_PATCH, "[PATCH] single", "s2", -1, false);
    add_post(&w, PD_PATCH, "[PATCH] again", "s3", -1, true);
    pd_buf b = PD_BUF_INIT;
    struct pd_page_opts o = { NULL, 0 };
    assert_int_equal(pd_page_render(&w, &o, &b), 0);
    const char *want[] = { "#### [PATCH 0/3] cover\n", "#### [PATCH 1/3] one\n",
                           "#### [PATCH] single\n" };
    const char *p = b.data;
    for (size_t i = 0; i < 3; i++) {
        p = strstr(p, want[i]);
        assert_non_null(p);
        p++;
    }
    assert_null(strstr(b.data, "two"));
    assert_null(strstr(b.data, "three"));
    assert_null(strstr(b.data, "again"));
    pd_buf_free(&b);
    pd_window_clear(&w);
}

static void test_mixed_mail(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_post(&w, PD_PATCH, "[PATCH] single", "s2", -1, false);
    pd_buf page = PD_BUF_INIT, mail = PD_BUF_INIT;
    struct pd_page_opts po = { NULL, 0 };
    assert_int_equal(pd_page_render(&w, &po, &page), 0);
    /* a page holding the boundary the mail would otherwise use */
    assert_int_equal(pd_buf_puts(&page, "--=_patchdigest_4_df7682d40\n"), 0);
    struct pd_digest_opts o = { .top_n = 15, .from = "d@example.org", .to = "l@example.org",
                                .date = w.closed, .format = PD_FORMAT_TEXT | PD_FORMAT_MARKDOWN,
                                .page = page.data, .page_len = page.len };
    assert_int_equal(pd_digest_mail(&w, &o, &mail), 0);
    assert_non_null(strstr(mail.data, "Content-Type: multipart/mixed; "
                                      "boundary=\"=_patchdigest_4_df7682d40_\"\n"));
    assert_non_null(strstr(mail.data, "\n--=_patchdigest_4_df7682d40_\n"
                                      "Content-Type: text/markdown; charset=UTF-8; "
                                      "variant=CommonMark\n"
                                      "Content-Disposition: inline; "
                                      "filename=\"kvm.vger.kernel.org-4.md\"\n"));
    assert_non_null(strstr(mail.data, "--=_patchdigest_4_df7682d40\n\n--=_patchdigest_4_df7682d40_--\n"));
    assert_non_null(strstr(mail.data, "Subject: KVM mailing list update from df7682d40 to b50ef847a\n"));
    pd_buf_free(&mail);
    /* markdown alone */
    o.format = PD_FORMAT_MARKDOWN;
    assert_int_equal(pd_digest_mail(&w, &o, &mail), 0);
    assert_non_null(strstr(mail.data, "\nContent-Type: text/markdown; charset=UTF-8"));
    assert_null(strstr(mail.data, "text/plain"));
    assert_null(strstr(mail.data, "multipart"));
    pd_buf_free(&mail);
    pd_buf_free(&page);
    pd_window_clear(&w);
}

static void test_path_and_write(void **state)
{
    (void)state;
    pd_buf p = PD_BUF_INIT;
    assert_int_equal(pd_page_path("/x/%l/%w.md %%", "kvm.vger.kernel.org", 12, &p), 0);
    assert_string_equal(p.data, "/x/kvm.vger.kernel.org/12.md %");
    pd_buf_free(&p);
    assert_int_equal(pd_page_path("/x/%l", "../a/b c", 1, &p), 0);
    assert_string_equal(p.data, "/x/%2E.%2Fa%2Fb%20c");
    pd_buf_free(&p);

    char dir[] = "/tmp/pdpageXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/a/b/1.md", dir);
    assert_int_equal(pd_page_write(path, "hello\n", 6, err, sizeof err), 0);
    pd_buf r = PD_BUF_INIT;
    assert_int_equal(pd_read_file(path, &r), 0);
    assert_string_equal(r.data, "hello\n");
    pd_buf_free(&r);
    assert_int_equal(pd_page_write(path, "again\n", 6, err, sizeof err), 0);
    assert_int_equal(pd_read_file(path, &r), 0);
    assert_string_equal(r.data, "again\n");
    pd_buf_free(&r);
    /* a directory where the file should be: an error, not a crash */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/a", dir);
    assert_int_equal(pd_page_write(bad, "x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, bad));
    unlink(path);
    snprintf(path, sizeof path, "%s/a/b", dir);
    rmdir(path);
    rmdir(bad);
    rmdir(dir);
}

/* Load a configuration from text; returns pd_config_load()'s result. */
static int load(const char *text, struct pd_config *cfg, char *err, size_t errlen)
{
    char path[] = "/tmp/pdpageconfXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = pd_config_load(path, cfg, err, errlen);
    unlink(path);
    return rc;
}

#define BASE "Socket unix:/run/x.sock\nRedis unix:/run/r.sock\nList kvm.vger.kernel.org KVM\n"

static void test_config_keys(void **state)
{
    (void)state;
    struct pd_config cfg;
    char err[512];
    assert_int_equal(load(BASE, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.digest_format, PD_FORMAT_TEXT);
    assert_null(cfg.digest_page);
    assert_int_equal(cfg.npage_headers, 0);
    pd_config_clear(&cfg);
    assert_int_equal(load(BASE "DigestFormat both\nDigestPage /var/p/%l/%w.md\n"
                          "PageHeaders From, Subject  Message-ID\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.digest_format, PD_FORMAT_TEXT | PD_FORMAT_MARKDOWN);
    assert_string_equal(cfg.digest_page, "/var/p/%l/%w.md");
    assert_int_equal(cfg.npage_headers, 3);
    assert_string_equal(cfg.page_headers[2], "Message-ID");
    pd_config_clear(&cfg);
    assert_int_equal(load(BASE "DigestFormat Markdown\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.digest_format, PD_FORMAT_MARKDOWN);
    pd_config_clear(&cfg);
    static const char *const bad[][2] = {
        { BASE "DigestFormat html\n", ":4: DigestFormat must be" },
        { BASE "DigestPage pages/%w.md\n", ":4: DigestPage must be an absolute path" },
        { BASE "DigestPage /p/%x.md\n", ":4: DigestPage: % may only" },
        { BASE "PageHeaders Sub:ject\n", ":4: PageHeaders" },
        { BASE "PageHeaders ,\n", ":4: PageHeaders needs" },
        { BASE "DigestPage /p/%w.md\nList other.example.org O\n", ":4: DigestPage needs %l" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(load(bad[i][0], &cfg, err, sizeof err), -1);
        if (!strstr(err, bad[i][1]))
            fail_msg("case %zu: %s", i, err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_of_004),
        cmocka_unit_test(test_fence_outgrows_backticks),
        cmocka_unit_test(test_headings_escaped_one_line),
        cmocka_unit_test(test_page_headers_narrow),
        cmocka_unit_test(test_entries_are_the_new_ones),
        cmocka_unit_test(test_mixed_mail),
        cmocka_unit_test(test_path_and_write),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
