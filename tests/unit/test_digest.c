/*
 * test_digest.c - pd_digest_body() / pd_digest_mail(): the reference layout
 * on a window built in memory, which patch opens a series, resends, in-body
 * From, hostile text that must not break the mail, the employers table.
 */
#include "unit_util.h"

#include "pd_digest.h"
#include "pd_domainmap.h"

static const struct pd_list kvm = { "kvm.vger.kernel.org", "KVM" };

/* A window under construction: every string is strdup'ed so that
 * pd_window_clear() frees it as it frees what the store reads. */
static void win_init(struct pd_window *w)
{
    memset(w, 0, sizeof *w);
    w->list = &kvm;
    w->number = 7;
    w->exists = true;
    w->state = PD_WINDOW_CLOSED;
    w->opened = 1763990000;
    w->closed = 1764000000;
    snprintf(w->from, sizeof w->from, "%s", "df7682d40aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    snprintf(w->to, sizeof w->to, "%s", "b50ef847abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
}

static void add_row(struct pd_table *t, const char *label, const char *key, long long count)
{
    t->rows = realloc(t->rows, (t->n + 1) * sizeof *t->rows);
    assert_non_null(t->rows);
    t->rows[t->n].label = strdup(label);
    t->rows[t->n].key = strdup(key);
    t->rows[t->n].count = count;
    t->n++;
}

static struct pd_post *add_post(struct pd_window *w, enum pd_class cls, const char *subject,
                                const char *title, const char *series, int index, int total,
                                const char *excerpt)
{
    w->posts = realloc(w->posts, (w->nposts + 1) * sizeof *w->posts);
    assert_non_null(w->posts);
    struct pd_post *p = &w->posts[w->nposts++];
    memset(p, 0, sizeof *p);
    p->cls = cls;
    p->subject = strdup(subject);
    p->title = strdup(title);
    p->author = strdup("Ann Author <Ann@Example.org>");
    p->ident = strdup("Ann Author <ann@example.org>");
    p->excerpt = strdup(excerpt);
    p->series = strdup(series);
    p->version = 1;
    p->index = index;
    p->total = total;
    return p;
}

static void add_series(struct pd_window *w, const char *key, const char *subject, int total)
{
    w->series = realloc(w->series, (w->nseries + 1) * sizeof *w->series);
    assert_non_null(w->series);
    struct pd_series *x = &w->series[w->nseries++];
    x->key = strdup(key);
    x->subject = strdup(subject);
    x->ident = strdup("Ann Author <ann@example.org>");
    x->version = 1;
    x->total = total;
}

/* An outcome block: key, then lines, NULL-terminated. */
static void add_block(struct pd_outcome_block **v, size_t *n, const char *key, ...)
{
    *v = realloc(*v, (*n + 1) * sizeof **v);
    assert_non_null(*v);
    struct pd_outcome_block *b = &(*v)[(*n)++];
    memset(b, 0, sizeof *b);
    b->key = strdup(key);
    va_list ap;
    va_start(ap, key);
    for (const char *l; (l = va_arg(ap, const char *)) != NULL;) {
        b->lines = realloc(b->lines, (b->nlines + 1) * sizeof *b->lines);
        assert_non_null(b->lines);
        b->lines[b->nlines++] = strdup(l);
    }
    va_end(ap);
}

static void add_applied(struct pd_window *w, const char *line)
{
    w->outcomes.applied = realloc(w->outcomes.applied,
                                  (w->outcomes.napplied + 1) * sizeof *w->outcomes.applied);
    assert_non_null(w->outcomes.applied);
    w->outcomes.applied[w->outcomes.napplied++] = strdup(line);
}

static char *render(const struct pd_window *w, const struct pd_domainmap *map)
{
    struct pd_digest_opts o = { .top_n = 15, .map = map, .from = "digest@example.org",
                                .to = "kvm@vger.kernel.org", .date = w->closed };
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_digest_body(w, &o, &b), 0);
    return pd_buf_steal(&b);
}

static void test_reference_layout(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_row(&w.domains, "kernel.org", "kernel.org", 9);
    add_row(&w.domains, "amazon.com", "amazon.com", 1);
    add_row(&w.contributors, "Marc Zyngier <maz@kernel.org>", "maz@kernel.org", 4);
    add_series(&w, "s1", "[PATCH] KVM: arm64: Fix it", 1);
    add_post(&w, PD_PATCH, "[PATCH] KVM: arm64: Fix it", "KVM: arm64: Fix it", "s1", -1, -1,
             "Fix it.\n\nSigned-off-by: A <a@b>\n---\n a.c | 2 +-\n"
             " 1 file changed, 1 insertion(+), 1 deletion(-)");
    /* what happened to the patches (DESIGN.md "Outcomes") */
    add_block(&w.outcomes.series, &w.outcomes.nseries, "s1",
              "Review: 1 reply, Reviewed-by 1, Acked-by 0, Tested-by 0",
              "Applied: 1 of 1 to fixes by Marc Zyngier <maz@kernel.org>",
              "Link: https://lore.kernel.org/r/1%40x", (const char *)NULL);
    add_block(&w.outcomes.earlier, &w.outcomes.nearlier, "[PATCH v2 0/3] KVM: earlier",
              "  Bob <bob@example.org>, v2, cover letter and 3 of 3 patches",
              "Supersedes: v1 [PATCH 0/3] KVM: earlier",
              "Review: 2 replies, Reviewed-by 0, Acked-by 1, Tested-by 0", (const char *)NULL);
    add_applied(&w, "fixes by Marc Zyngier <maz@kernel.org>");
    add_applied(&w, "  bfb5ed4097c7 [1/1] KVM: arm64: Fix it");
    add_applied(&w, "(unknown branch) by Paolo Bonzini <pbonzini@redhat.com>");
    add_applied(&w, "  - [0/3] KVM: earlier");
    char *got = render(&w, NULL);
    const char *want =
        "From df7682d40 to b50ef847a\n"
        "KVM mailing list update from df7682d40 to b50ef847a\n"
        "\n"
        "Top 15 contributor Email domains (Based on Email Body)\n"
        "\n"
        "      9 kernel.org\n"
        "      1 amazon.com\n"
        "\n"
        "Top 15 contributors (Based on Email Body)\n"
        "\n"
        "      4  Marc Zyngier <maz@kernel.org>\n"
        "\n"
        "Top 15 reviewers (Based on review trailers in replies)\n"
        "\n"
        "\n"
        "Top 15 most discussed threads (replies)\n"
        "\n"
        "\n"
        "===== Patch list in this time period =====\n"
        "\n"
        "[PATCH] KVM: arm64: Fix it\n"
        "  Ann Author <ann@example.org>, v1, 1 of 1 patch\n"
        "  Review: 1 reply, Reviewed-by 1, Acked-by 0, Tested-by 0\n"
        "  Applied: 1 of 1 to fixes by Marc Zyngier <maz@kernel.org>\n"
        "  Link: https://lore.kernel.org/r/1%40x\n"
        "\n"
        "\n"
        "===== Applied in this time period =====\n"
        "\n"
        "fixes by Marc Zyngier <maz@kernel.org>\n"
        "  bfb5ed4097c7 [1/1] KVM: arm64: Fix it\n"
        "(unknown branch) by Paolo Bonzini <pbonzini@redhat.com>\n"
        "  - [0/3] KVM: earlier\n"
        "\n"
        "===== Earlier series with activity in this time period =====\n"
        "\n"
        "[PATCH v2 0/3] KVM: earlier\n"
        "  Bob <bob@example.org>, v2, cover letter and 3 of 3 patches\n"
        "  Supersedes: v1 [PATCH 0/3] KVM: earlier\n"
        "  Review: 2 replies, Reviewed-by 0, Acked-by 1, Tested-by 0\n"
        "\n"
        "\n"
        "===== Patch Commit Messages ====\n"
        "\n"
        "New:  KVM: arm64: Fix it\n"
        "[PATCH] KVM: arm64: Fix it\n"
        "Author: Ann Author <Ann@Example.org>\n"
        "\n"
        "Fix it.\n"
        "\n"
        "Signed-off-by: A <a@b>\n"
        "---\n"
        " a.c | 2 +-\n"
        " 1 file changed, 1 insertion(+), 1 deletion(-)\n"
        "\n"
        "----------------------------------------------------------------------\n"
        "\n";
    assert_string_equal(got, want);
    free(got);
    pd_window_clear(&w);
}

/* Without notices and earlier series, both sections say (none). */
static void test_outcome_sections_empty(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    char *got = render(&w, NULL);
    assert_non_null(strstr(got, "\n\n===== Applied in this time period =====\n\n(none)\n\n"
                                "===== Earlier series with activity in this time period =====\n\n"
                                "(none)\n\n\n===== Patch Commit Messages ====\n"));
    free(got);
    pd_window_clear(&w);
}

static void test_top_n_cuts_tables(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    char label[32];
    for (int i = 0; i < 20; i++) {
        snprintf(label, sizeof label, "d%02d.example", i);
        add_row(&w.domains, label, label, 20 - i);
    }
    char *got = render(&w, NULL);
    assert_non_null(strstr(got, "     20 d00.example\n"));
    assert_non_null(strstr(got, "      6 d14.example\n\n"));
    assert_null(strstr(got, "d15.example"));
    free(got);
    pd_window_clear(&w);
}

/* New: covers, patches without i/n, the lowest-numbered patch of each series
 * in the window (patch 2 when patch 1 is not there); Exist/Skip for resends;
 * arrival order. */
static void test_entries_which_and_order(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_series(&w, "a", "[PATCH 2/3] a: two", 3);
    add_series(&w, "b", "[PATCH v2 0/2] b: cover", 2);
    add_post(&w, PD_PATCH, "[PATCH 3/3] a: three", "a: three", "a", 3, 3, "three");
    add_post(&w, PD_PATCH, "[PATCH 2/3] a: two", "a: two", "a", 2, 3, "two");
    add_post(&w, PD_PATCH, "[PATCH v2 1/2] b: one", "b: one", "b", 1, 2, "b one");
    add_post(&w, PD_COVER, "[PATCH v2 0/2] b: cover", "b: cover", "b", 0, 2, "cover");
    add_post(&w, PD_PATCH, "[PATCH v2 2/2] b: two", "b: two", "b", 2, 2, "b two");
    struct pd_post *r = add_post(&w, PD_COVER, "[PATCH v2 0/2] b: cover", "b: cover", "c", 0, 2,
                                 "cover again");
    r->resend = true;
    char *got = render(&w, NULL);
    const char *e = strstr(got, "===== Patch Commit Messages ====\n");
    assert_non_null(e);
    const char *want =
        "===== Patch Commit Messages ====\n\n"
        "New:  a: two\n[PATCH 2/3] a: two\nAuthor: Ann Author <Ann@Example.org>\n\ntwo\n\n"
        PD_DIGEST_SEPARATOR "\n\n"
        "New:  b: one\n[PATCH v2 1/2] b: one\nAuthor: Ann Author <Ann@Example.org>\n\nb one\n\n"
        PD_DIGEST_SEPARATOR "\n\n"
        "New:  b: cover\n[PATCH v2 0/2] b: cover\nAuthor: Ann Author <Ann@Example.org>\n\ncover\n\n"
        PD_DIGEST_SEPARATOR "\n\n"
        "Exist: [PATCH v2 0/2] b: cover\n"
        " Skip: [PATCH v2 0/2] b: cover\n";
    assert_string_equal(e, want);
    /* the patch list: every series, its patches in index order */
    assert_non_null(strstr(got, "[PATCH 2/3] a: two\n"
                                "  Ann Author <ann@example.org>, v1, 2 of 3 patches\n"
                                "  [PATCH 2/3] a: two\n"
                                "  [PATCH 3/3] a: three\n\n"));
    assert_non_null(strstr(got, "[PATCH v2 0/2] b: cover\n"
                                "  Ann Author <ann@example.org>, v1, cover letter and 2 of 2 "
                                "patches\n"
                                "  [PATCH v2 1/2] b: one\n"
                                "  [PATCH v2 2/2] b: two\n\n"));
    free(got);
    pd_window_clear(&w);
}

static void test_inbody_from_and_blank_lines(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_series(&w, "s", "[PATCH] x: y", 1);
    struct pd_post *p = add_post(&w, PD_PATCH, "[PATCH] x: y", "x: y", "s", -1, -1,
                                 "\nFrom: Real Author <real@corp.example>\n"
                                 "Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n\nThe text.\n---\n"
                                 " 1 file changed, 1 insertion(+)");
    p->inbody_from = true;
    add_post(&w, PD_PATCH, "[PATCH] x: z", "x: z", "t", -1, -1, "\n\n  \nLeading blanks go.");
    char *got = render(&w, NULL);
    assert_non_null(strstr(got, "Author: Ann Author <Ann@Example.org>\n\nThe text.\n---\n"
                                " 1 file changed, 1 insertion(+)\n\n" PD_DIGEST_SEPARATOR));
    assert_null(strstr(got, "Real Author"));
    assert_non_null(strstr(got, "Author: Ann Author <Ann@Example.org>\n\nLeading blanks go.\n\n"));
    free(got);
    pd_window_clear(&w);
}

/* Count the header lines of a mail (up to the blank line). */
static int header_lines(const char *mail, const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *l = mail; l && *l && *l != '\n'; l = strchr(l, '\n'), l = l ? l + 1 : l)
        if (strncasecmp(l, name, nl) == 0)
            n++;
    return n;
}

static void test_hostile_text_stays_in_place(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    add_row(&w.contributors, "Evil\r\nBcc: victim@example.org <e@x>", "e@x", 1);
    add_series(&w, "s", "[PATCH] a\r\nX-Injected: yes", 1);
    add_post(&w, PD_PATCH, "[PATCH] a\r\nX-Injected: yes\n\nbody", "a\nX-Injected: yes", "s", -1,
             -1, "bad \xff\xfe bytes\x01\x07 and\ttab\r\nend");
    struct pd_digest_opts o = { .top_n = 15, .from = "digest@example.org",
                                .to = "kvm@vger.kernel.org", .date = 0 };
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_digest_mail(&w, &o, &b), 0);
    assert_int_equal(header_lines(b.data, "X-Injected"), 0);
    assert_int_equal(header_lines(b.data, "Bcc"), 0);
    assert_null(strstr(b.data, "\nX-Injected"));
    assert_null(strstr(b.data, "\nBcc"));
    assert_null(strchr(b.data, '\r'));
    assert_true(g_utf8_validate(b.data, (gssize)b.len, NULL));
    assert_non_null(strstr(b.data, "New:  a X-Injected: yes\n[PATCH] a X-Injected: yes  body\n"));
    assert_non_null(strstr(b.data, "bad \xef\xbf\xbd\xef\xbf\xbd bytes   and\ttab\nend"));
    assert_non_null(strstr(b.data, "      1  Evil Bcc: victim@example.org <e@x>\n"));
    pd_buf_free(&b);
    pd_window_clear(&w);
}

static void test_long_lines_go_quoted_printable(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    char *longline = malloc(5001);
    assert_non_null(longline);
    memset(longline, 'x', 5000);
    longline[5000] = '\0';
    add_series(&w, "s", "[PATCH] long", 1);
    add_post(&w, PD_PATCH, "[PATCH] long", "long", "s", -1, -1, longline);
    struct pd_digest_opts o = { .top_n = 15, .from = "d@example.org", .to = "k@example.org" };
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_digest_mail(&w, &o, &b), 0);
    assert_non_null(strstr(b.data, "Content-Transfer-Encoding: quoted-printable\n"));
    size_t run = 0, longest = 0;
    const char *body = strstr(b.data, "\n\n");
    assert_non_null(body);
    for (size_t i = (size_t)(body - b.data); i < b.len; i++) {
        run = b.data[i] == '\n' ? 0 : run + 1;
        if (run > longest)
            longest = run;
    }
    assert_true(longest <= 76);
    /* decoded back (GMime), the text is whole */
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, b.data, b.len), 0);
    assert_non_null(strstr(m.text_body, longline));
    pd_mail_clear(&m);
    free(longline);
    pd_buf_free(&b);
    pd_window_clear(&w);
}

static void test_headers_and_message_id(void **state)
{
    (void)state;
    struct pd_window w;
    win_init(&w);
    struct pd_list odd = { "we ird..list@x", "Łista" };
    w.list = &odd;
    struct pd_digest_opts o = { .top_n = 15, .from = "Digest <digest@lists.example.org>",
                                .to = "readers@example.org", .date = 1764000000 };
    pd_buf a = PD_BUF_INIT, b = PD_BUF_INIT;
    assert_int_equal(pd_digest_mail(&w, &o, &a), 0);
    assert_int_equal(pd_digest_mail(&w, &o, &b), 0);
    assert_string_equal(a.data, b.data);   /* the same window: the same mail */
    assert_non_null(strstr(a.data, "From: Digest <digest@lists.example.org>\n"
                                   "To: readers@example.org\n"
                                   "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(a.data, "Date: Mon, 24 Nov 2025 16:00:00 +0000\n"));
    assert_non_null(strstr(a.data, "Message-ID: <patchdigest.7.df7682d40.1763990000.we=20ird.=2Elist=40x"
                                   "@lists.example.org>\n"));
    assert_non_null(strstr(a.data, "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
                                   "Content-Transfer-Encoding: 8bit\n"
                                   "Auto-Submitted: auto-generated\n"
                                   PD_MARKER_HEADER ": window 7 of we ird..list@x\n\n"
                                   "From df7682d40 to b50ef847a\n"
                                   "Łista mailing list update from"));
    /* the encoded Subject decodes to the second line */
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, a.data, a.len), 0);
    assert_string_equal(m.subject, "Łista mailing list update from df7682d40 to b50ef847a");
    pd_mail_clear(&m);
    pd_buf_free(&a);
    pd_buf_free(&b);
    w.list = &kvm;
    pd_window_clear(&w);
}

static void test_employers_table(void **state)
{
    (void)state;
    const char map_text[] = "ibm.com IBM\n"
                            "redhat.com Red Hat\n"
                            "old@redhat.com Example Corp < 2020-01-01\n";
    struct pd_domainmap *map;
    char err[256];
    assert_int_equal(pd_domainmap_parse("map", map_text, strlen(map_text), &map, err, sizeof err),
                     0);
    struct pd_window w;
    win_init(&w);
    add_row(&w.contributors, "A <a@linux.ibm.com>", "a@linux.ibm.com", 3);
    add_row(&w.contributors, "B <b@ibm.com>", "b@ibm.com", 2);
    add_row(&w.contributors, "C <c@redhat.com>", "c@redhat.com", 4);
    add_row(&w.contributors, "D <d@nowhere.example>", "d@nowhere.example", 1);
    add_row(&w.contributors, "O <old@redhat.com>", "old@redhat.com", 1);
    char *got = render(&w, map);
    assert_non_null(strstr(got, "Top 15 contributor employers (Based on Email Body)\n\n"
                                "      5 IBM\n"
                                "      5 Red Hat\n"
                                "      1 (Unknown)\n\n"));
    free(got);
    pd_window_clear(&w);
    pd_domainmap_free(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_layout),
        cmocka_unit_test(test_outcome_sections_empty),
        cmocka_unit_test(test_top_n_cuts_tables),
        cmocka_unit_test(test_entries_which_and_order),
        cmocka_unit_test(test_inbody_from_and_blank_lines),
        cmocka_unit_test(test_hostile_text_stays_in_place),
        cmocka_unit_test(test_long_lines_go_quoted_printable),
        cmocka_unit_test(test_headers_and_message_id),
        cmocka_unit_test(test_employers_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
