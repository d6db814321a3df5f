/*
 * test_classify.c - pd_classify(): the class rules of DESIGN.md in their
 * order, the identity "based on email body", the thread root, review
 * trailers, and pd_body_excerpt() / pd_body_has_diff() /
 * pd_body_is_pull_request(); plus a few real mails of the kvm-ppc corpus.
 */
#include "unit_util.h"

#include "pd_classify.h"

#define KVM_PPC "kvm-ppc.vger.kernel.org.0/eml/"

struct parsed {
    struct pd_mail m;
    struct pd_classified c;
};

static void classify_text(const char *text, struct parsed *p)
{
    parse_string(text, &p->m);
    assert_int_equal(pd_classify(&p->m, &p->c), 0);
}

static void classify_file(const char *rel, struct parsed *p)
{
    parse_corpus(rel, &p->m);
    assert_int_equal(pd_classify(&p->m, &p->c), 0);
}

static void done(struct parsed *p)
{
    pd_classified_clear(&p->c);
    pd_mail_clear(&p->m);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0) {
        print_error("expected \"%s\" to start with \"%s\"\n", s, prefix);
        fail();
    }
}

static void check_class_at(const char *text, enum pd_class want, const char *file, int line)
{
    struct parsed p;
    classify_text(text, &p);
    if (p.c.cls != want) {
        print_error("%s:%d: expected class %s, got %s for mail:\n%s\n", file, line,
                    pd_class_name(want), pd_class_name(p.c.cls), text);
        done(&p);
        fail();
    }
    done(&p);
}

#define CHECK_CLASS(text, want) check_class_at((text), (want), __FILE__, __LINE__)

#define HDR "From: Ann Author <ann@example.org>\nMessage-ID: <m1@example.org>\n"

static const char diff_git[] =
    "Fix it.\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"
    " x.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
    "diff --git a/x.c b/x.c\nindex 1..2 100644\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n"
    "-- \n2.31.1\n";

/* ---- class names ---- */

static void test_class_names(void **state)
{
    (void)state;
    assert_string_equal(pd_class_name(PD_PATCH), "patch");
    assert_string_equal(pd_class_name(PD_COVER), "cover");
    assert_string_equal(pd_class_name(PD_REPLY), "reply");
    assert_string_equal(pd_class_name(PD_PULL), "pull");
    assert_string_equal(pd_class_name(PD_OTHER), "other");
    assert_int_equal(pd_class_from_name("patch"), PD_PATCH);
    assert_int_equal(pd_class_from_name("cover"), PD_COVER);
    assert_int_equal(pd_class_from_name("reply"), PD_REPLY);
    assert_int_equal(pd_class_from_name("pull"), PD_PULL);
    assert_int_equal(pd_class_from_name("other"), PD_OTHER);
    assert_int_equal(pd_class_from_name("Patch"), -1);
    assert_int_equal(pd_class_from_name(""), -1);
}

/* ---- 1. reply ---- */

static void test_reply_by_marker(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: Re: hello\n\nthanks\n", PD_REPLY);
    CHECK_CLASS(HDR "Subject: Aw: hello\n\nthanks\n", PD_REPLY);
    /* a marker wins over a patch tag and a diff */
    {
        char mail[2048];
        snprintf(mail, sizeof mail, HDR "Subject: Re: [PATCH v2 1/3] x\n\n%s", diff_git);
        CHECK_CLASS(mail, PD_REPLY);
    }
}

static void test_reply_by_in_reply_to_without_tag(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: hello\nIn-Reply-To: <p@x>\n\nthanks\n", PD_REPLY);
    CHECK_CLASS(HDR "Subject: hello\nReferences: <p@x>\n\nthanks\n", PD_REPLY);
    /* threaded but patch-tagged: not a reply */
    char mail[2048];
    snprintf(mail, sizeof mail,
             HDR "Subject: [PATCH v2 2/3] x\nIn-Reply-To: <c@x>\nReferences: <c@x>\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_PATCH);
    /* "has In-Reply-To": even one of free text, as old mailers write */
    CHECK_CLASS(HDR "Subject: hello\nIn-Reply-To: your mail\n\nthanks\n", PD_REPLY);
    /* an empty header is no header */
    CHECK_CLASS(HDR "Subject: hello\nIn-Reply-To: \n\nthanks\n", PD_OTHER);
}

/* ---- 2. pull ---- */

static void test_pull_by_tag(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [GIT PULL] KVM changes for 5.14\n\nplease pull\n", PD_PULL);
    CHECK_CLASS(HDR "Subject: [GIT PULL] [PATCH 0/2] both\n\nplease pull\n", PD_PULL);
}

static void test_pull_by_body(void **state)
{
    (void)state;
    static const char body[] =
        "Hi Linus,\n\n"
        "The following changes since commit 1234567890abcdef:\n\n"
        "  Linux 5.14-rc4 (2021-08-01)\n\n"
        "are available in the Git repository at:\n\n"
        "  https://git.kernel.org/pub/scm/virt/kvm/kvm.git tags/for-linus\n";
    char mail[2048];
    snprintf(mail, sizeof mail, HDR "Subject: KVM fixes for 5.14-rc5\n\n%s", body);
    CHECK_CLASS(mail, PD_PULL);
    /* a pull request body wins over a cover tag (rule 2 before rule 3) */
    snprintf(mail, sizeof mail, HDR "Subject: [PATCH 0/3] KVM fixes\n\n%s", body);
    CHECK_CLASS(mail, PD_PULL);
    /* only one of the two phrases: not a pull request */
    CHECK_CLASS(HDR "Subject: question\n\nThe following changes since commit abc look odd\n",
                PD_OTHER);
    CHECK_CLASS(HDR "Subject: question\n\nwhat are available in the Git repository at kernel.org?\n",
                PD_OTHER);
}

/* ---- 3. cover ---- */

static void test_cover_index_zero(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [PATCH v3 0/5] series\n\nThis series does things.\n", PD_COVER);
    CHECK_CLASS(HDR "Subject: [PATCHv3 0/5] series\n\ntext\n", PD_COVER);
    /* a cover with a diff is still a cover */
    char mail[2048];
    snprintf(mail, sizeof mail, HDR "Subject: [RFC PATCH 0/1] x\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_COVER);
}

/* ---- 4. patch ---- */

static void test_patch_by_diff_git(void **state)
{
    (void)state;
    char mail[2048];
    snprintf(mail, sizeof mail, HDR "Subject: [PATCH] x\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_PATCH);
    snprintf(mail, sizeof mail, HDR "Subject: [PATCH 2/3] x\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_PATCH);
}

static void test_patch_by_index_line(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [PATCH] svn style\n\ntext\nIndex: foo.c\n"
                "===================================================================\n"
                "@@ -1 +1 @@\n-a\n+b\n",
                PD_PATCH);
}

static void test_patch_by_minus_plus_pair(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [PATCH] plain diff\n\ntext\n--- a/foo.c\n+++ b/foo.c\n@@ -1 +1 @@\n",
                PD_PATCH);
    CHECK_CLASS(HDR "Subject: [PATCH] plain diff\n\ntext\n--- foo.c.orig\t2021-01-01\n"
                "+++ foo.c\t2021-01-02\n",
                PD_PATCH);
    /* a --- line without its +++ line is no diff */
    CHECK_CLASS(HDR "Subject: [PATCH] no diff\n\ntext\n--- a/foo.c\nsomething\n+++ b/foo.c\n",
                PD_OTHER);
    /* the "---" separator alone is no diff */
    CHECK_CLASS(HDR "Subject: [PATCH] no diff\n\ntext\n---\n x | 1 +\n", PD_OTHER);
    /* "diff --git" must start the line */
    CHECK_CLASS(HDR "Subject: [PATCH] no diff\n\nrun  diff --git a b\n", PD_OTHER);
}

static void test_patch_by_attachment(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [PATCH] attached\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                "--B\nContent-Type: text/plain\n\nsee attached\n"
                "--B\nContent-Type: text/x-patch\n\nxx\n--B--\n",
                PD_PATCH);
    CHECK_CLASS(HDR "Subject: [PATCH] attached\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                "--B\nContent-Type: text/plain\n\nsee attached\n"
                "--B\nContent-Type: text/x-diff\n\nxx\n--B--\n",
                PD_PATCH);
    CHECK_CLASS(HDR "Subject: [PATCH] attached\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                "--B\nContent-Type: text/plain\n\nsee attached\n"
                "--B\nContent-Type: application/octet-stream\n"
                "Content-Disposition: attachment; filename=\"fix.diff\"\n\nxx\n--B--\n",
                PD_PATCH);
    CHECK_CLASS(HDR "Subject: [PATCH] attached\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                "--B\nContent-Type: text/plain\n\nsee attached\n"
                "--B\nContent-Type: application/octet-stream\n"
                "Content-Disposition: attachment; filename=\"0001-fix.patch\"\n\nxx\n--B--\n",
                PD_PATCH);
    /* the same attachment without a patch tag is no patch */
    CHECK_CLASS(HDR "Subject: look at this\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                "--B\nContent-Type: text/plain\n\nsee attached\n"
                "--B\nContent-Type: text/x-patch\n\nxx\n--B--\n",
                PD_OTHER);
}

static void test_patch_file_fixture(void **state)
{
    (void)state;
    struct parsed p;
    classify_file("fixtures/public-inbox-t/plack-attached-patch.eml", &p);
    assert_int_equal(p.c.cls, PD_PATCH);
    assert_string_equal(p.c.subj.title, "asdf");
    done(&p);
}

/* ---- 5. other ---- */

static void test_other(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: [PATCH v2 3/4] tagged but no diff\n\njust words\n", PD_OTHER);
    CHECK_CLASS(HDR "Subject: a new thread\n\nhello\n", PD_OTHER);
    CHECK_CLASS(HDR "Subject: [Bug 12345] crash\n\ntrace\n", PD_OTHER);
    /* a diff without a patch tag is not a patch */
    char mail[2048];
    snprintf(mail, sizeof mail, HDR "Subject: some fix\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_OTHER);
}

/* ---- first match wins ---- */

static void test_first_match_wins(void **state)
{
    (void)state;
    CHECK_CLASS(HDR "Subject: Re: [GIT PULL] KVM changes\n\nPulled, thanks.\n", PD_REPLY);
    CHECK_CLASS(HDR "Subject: Re: [PATCH 0/3] series\n\nLooks good.\n", PD_REPLY);
    /* threaded [GIT PULL] without patch tag: rule 1 */
    CHECK_CLASS(HDR "Subject: [GIT PULL] v2\nIn-Reply-To: <old@x>\n\nplease pull\n", PD_REPLY);
    /* [GIT PULL] with a diff and an index-0 patch tag: pull */
    char mail[2048];
    snprintf(mail, sizeof mail, HDR "Subject: [GIT PULL][PATCH 0/1] x\n\n%s", diff_git);
    CHECK_CLASS(mail, PD_PULL);
}

/* ---- identity ---- */

static void test_identity_header_from(void **state)
{
    (void)state;
    struct parsed p;
    classify_text("From: \"Ann Author\" <Ann.Author@Example.ORG>\nMessage-ID: <i1@x>\n"
                  "Subject: hello\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.name, "Ann Author");
    assert_string_equal(p.c.ident.addr, "ann.author@example.org");
    assert_false(p.c.inbody_from);
    assert_string_equal(p.c.author, "Ann Author <Ann.Author@Example.ORG>");   /* as written */
    done(&p);
}

static void test_identity_inbody_from_first_line(void **state)
{
    (void)state;
    struct parsed p;
    char mail[2048];
    snprintf(mail, sizeof mail,
             "From: Sender Person <sender@corp.example>\nMessage-ID: <i2@x>\n"
             "Subject: [PATCH 1/2] x\n\n\n  \nFrom: Real Author <Real@Upstream.ORG>\n\n%s",
             diff_git);
    classify_text(mail, &p);
    assert_int_equal(p.c.cls, PD_PATCH);
    assert_true(p.c.inbody_from);
    assert_string_equal(p.c.ident.name, "Real Author");
    assert_string_equal(p.c.ident.addr, "real@upstream.org");
    /* Author: stays the header From */
    assert_string_equal(p.c.author, "Sender Person <sender@corp.example>");
    done(&p);
}

static void test_identity_inbody_from_any_class(void **state)
{
    (void)state;
    struct parsed p;
    classify_text("From: Sender <s@x>\nMessage-ID: <i3@x>\nSubject: Re: hi\n\n"
                  "From: =?UTF-8?q?Micha=C5=82=20Winiarski?= <Michal@X.org>\n\nreply text\n",
                  &p);
    assert_int_equal(p.c.cls, PD_REPLY);
    assert_true(p.c.inbody_from);
    assert_string_equal(p.c.ident.name, "Michał Winiarski");
    assert_string_equal(p.c.ident.addr, "michal@x.org");
    done(&p);
}

static void test_identity_inbody_from_not_first(void **state)
{
    (void)state;
    struct parsed p;
    classify_text("From: Sender <s@x>\nMessage-ID: <i4@x>\nSubject: hi\n\n"
                  "Hello,\nFrom: Other Person <other@x>\n",
                  &p);
    assert_false(p.c.inbody_from);
    assert_string_equal(p.c.ident.name, "Sender");
    assert_string_equal(p.c.ident.addr, "s@x");
    done(&p);
    /* a quoted or indented From: is not a From: line */
    classify_text("From: Sender <s@x>\nMessage-ID: <i5@x>\nSubject: hi\n\n"
                  "> From: Other Person <other@x>\n",
                  &p);
    assert_false(p.c.inbody_from);
    assert_string_equal(p.c.ident.addr, "s@x");
    done(&p);
    /* a From: line without an address does not override */
    classify_text("From: Sender <s@x>\nMessage-ID: <i6@x>\nSubject: hi\n\nFrom: nobody\n", &p);
    assert_false(p.c.inbody_from);
    assert_string_equal(p.c.ident.addr, "s@x");
    done(&p);
}

static void test_identity_dmarc_rewrite(void **state)
{
    (void)state;
    struct parsed p;
    classify_text("From: John Doe via KVM <kvm@vger.kernel.org>\n"
                  "X-Original-From: John Doe <John.Doe@Example.COM>\n"
                  "Message-ID: <d1@x>\nSubject: hello\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.name, "John Doe");
    assert_string_equal(p.c.ident.addr, "john.doe@example.com");
    assert_false(p.c.inbody_from);
    assert_string_equal(p.c.author, "John Doe via KVM <kvm@vger.kernel.org>");
    done(&p);
    /* "via" without X-Original-From: the header From */
    classify_text("From: John Doe via KVM <kvm@vger.kernel.org>\nMessage-ID: <d2@x>\n"
                  "Subject: hello\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.name, "John Doe via KVM");
    assert_string_equal(p.c.ident.addr, "kvm@vger.kernel.org");
    done(&p);
    /* X-Original-From without a rewritten From: the header From */
    classify_text("From: Jane Roe <jane@x>\nX-Original-From: Someone <someone@y>\n"
                  "Message-ID: <d3@x>\nSubject: hello\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.addr, "jane@x");
    done(&p);
    /* an in-body From: beats the DMARC original */
    classify_text("From: John Doe via KVM <kvm@vger.kernel.org>\n"
                  "X-Original-From: John Doe <john@example.com>\n"
                  "Message-ID: <d4@x>\nSubject: hello\n\nFrom: Real <real@z>\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.addr, "real@z");
    assert_true(p.c.inbody_from);
    done(&p);
}

static void test_identity_decoded_names(void **state)
{
    (void)state;
    struct parsed p;
    classify_text("From: =?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?= =?UTF-8?B?INCf0YDQuNGB0YLQsNC/?= "
                  "<Contact@SlobodenPristap.MK>\nMessage-ID: <n1@x>\nSubject: hi\n\nbody\n",
                  &p);
    assert_string_equal(p.c.ident.name, "Слободен Пристап");
    assert_string_equal(p.c.ident.addr, "contact@slobodenpristap.mk");
    assert_string_equal(p.c.author, "Слободен Пристап <Contact@SlobodenPristap.MK>");
    done(&p);
}

static void test_identity_format(void **state)
{
    (void)state;
    struct pd_addr a = { "Name", "a@b", "A@b" };
    char *s = pd_identity_format(&a);
    assert_string_equal(s, "Name <a@b>");
    free(s);
    struct pd_addr b = { "", "a@b", "a@b" };
    s = pd_identity_format(&b);
    assert_string_equal(s, "<a@b>");
    free(s);
    struct pd_addr c = { "Name", "", "" };
    s = pd_identity_format(&c);
    assert_string_equal(s, "");
    free(s);
    struct parsed p;
    classify_text("From: bare@Example.org\nMessage-ID: <f1@x>\nSubject: hi\n\nbody\n", &p);
    assert_string_equal(p.c.author, "<bare@Example.org>");
    assert_string_equal(p.c.ident.name, "");
    done(&p);
}

/* ---- thread root ---- */

static void test_thread_root(void **state)
{
    (void)state;
    struct parsed p;
    classify_text(HDR "Subject: Re: x\nIn-Reply-To: <parent@x>\n"
                  "References: <root@x> <mid@x> <parent@x>\n\nt\n",
                  &p);
    assert_string_equal(p.c.thread_root, "root@x");
    done(&p);
    classify_text(HDR "Subject: Re: x\nIn-Reply-To: <parent@x>\n\nt\n", &p);
    assert_string_equal(p.c.thread_root, "parent@x");
    done(&p);
    classify_text(HDR "Subject: x\n\nt\n", &p);
    assert_string_equal(p.c.thread_root, "m1@example.org");
    done(&p);
}

/* ---- reviewers ---- */

static void test_reviewers_in_reply(void **state)
{
    (void)state;
    struct parsed p;
    classify_text(HDR "Subject: Re: [PATCH] x\nIn-Reply-To: <p@x>\n\n"
                  "> Signed-off-by: Someone <someone@x>\n"
                  "> Reviewed-by: Quoted Person <quoted@x>\n"
                  "  > Acked-by: Quoted Too <quoted2@x>\n"
                  "\n"
                  "Reviewed-by: Rita Reviewer <Rita@Example.ORG>\n"
                  "Acked-by: Al Acker <al@example.org>\n"
                  "Tested-by: Tess Tester <tess@example.org>\n"
                  "Tested-by: Rita R. <rita@example.org>\n"
                  "Reviewed-by: nobody in particular\n"
                  "\n"
                  "-- \n"
                  "Reviewed-by: Sig Nature <sig@example.org>\n",
                  &p);
    assert_int_equal(p.c.cls, PD_REPLY);
    assert_int_equal(p.c.nreviewers, 3);
    assert_string_equal(p.c.reviewers[0].name, "Rita Reviewer");
    assert_string_equal(p.c.reviewers[0].addr, "rita@example.org");
    assert_string_equal(p.c.reviewers[1].name, "Al Acker");
    assert_string_equal(p.c.reviewers[1].addr, "al@example.org");
    assert_string_equal(p.c.reviewers[2].name, "Tess Tester");
    assert_string_equal(p.c.reviewers[2].addr, "tess@example.org");
    done(&p);
}

static void test_reviewers_not_in_patch(void **state)
{
    (void)state;
    struct parsed p;
    char mail[2048];
    snprintf(mail, sizeof mail,
             HDR "Subject: [PATCH v2 2/2] x\nIn-Reply-To: <c@x>\n\n"
                 "Reviewed-by: Rita Reviewer <rita@example.org>\n%s",
             diff_git);
    classify_text(mail, &p);
    assert_int_equal(p.c.cls, PD_PATCH);
    assert_int_equal(p.c.nreviewers, 0);
    done(&p);
    classify_text(HDR "Subject: [PATCH 0/2] cover\n\nAcked-by: Al <al@example.org>\n", &p);
    assert_int_equal(p.c.cls, PD_COVER);
    assert_int_equal(p.c.nreviewers, 0);
    done(&p);
}

static void test_reviewers_corpus(void **state)
{
    (void)state;
    struct parsed p;
    classify_file(KVM_PPC "00023-cba6a64d8.eml", &p);
    assert_int_equal(p.c.cls, PD_REPLY);
    assert_int_equal(p.c.nreviewers, 1);
    assert_string_equal(p.c.reviewers[0].name, "Nicholas Piggin");
    assert_string_equal(p.c.reviewers[0].addr, "npiggin@gmail.com");
    assert_string_equal(p.c.thread_root, "20210805212616.2641017-1-farosas@linux.ibm.com");
    done(&p);
}

/* ---- excerpt ---- */

static void check_excerpt_at(const char *body, const char *want, const char *file, int line)
{
    char *got = pd_body_excerpt(body);
    if (!got || strcmp(got, want) != 0) {
        print_error("%s:%d: excerpt\n  expected \"%s\"\n  actual   \"%s\"\n", file, line, want,
                    got ? got : "(null)");
        free(got);
        fail();
    }
    free(got);
}

#define CHECK_EXCERPT(body, want) check_excerpt_at((body), (want), __FILE__, __LINE__)

static void test_excerpt_diffstat(void **state)
{
    (void)state;
    CHECK_EXCERPT("Fix it.\n\nSigned-off-by: A <a@x>\n---\n"
                  " a.c | 2 +-\n b.c | 1 +\n"
                  " 2 files changed, 2 insertions(+), 1 deletion(-)\n"
                  " create mode 100644 b.c\n"
                  " delete mode 100644 c.c\n"
                  " rename d.c => e.c (100%)\n"
                  " mode change 100644 => 100755 f.sh\n"
                  "\n"
                  "diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n",
                  "Fix it.\n\nSigned-off-by: A <a@x>\n---\n"
                  " a.c | 2 +-\n b.c | 1 +\n"
                  " 2 files changed, 2 insertions(+), 1 deletion(-)\n"
                  " create mode 100644 b.c\n"
                  " delete mode 100644 c.c\n"
                  " rename d.c => e.c (100%)\n"
                  " mode change 100644 => 100755 f.sh");
    /* singular, and a line after the summary that is not a mode line */
    CHECK_EXCERPT("Msg\n---\n a | 1 +\n 1 file changed, 1 insertion(+)\n"
                  " not a mode line\n create mode 100644 a\n\ndiff --git a/a b/a\n",
                  "Msg\n---\n a | 1 +\n 1 file changed, 1 insertion(+)");
    /* a cover letter: diffstat and no diff, then a signature */
    CHECK_EXCERPT("Cover text.\n\nA (2):\n  x\n  y\n\n a | 1 +\n 1 file changed, 1 insertion(+)\n"
                  "\n-- \n2.31.1\n",
                  "Cover text.\n\nA (2):\n  x\n  y\n\n a | 1 +\n 1 file changed, 1 insertion(+)");
}

static void test_excerpt_before_diff(void **state)
{
    (void)state;
    CHECK_EXCERPT("Fix it.\n\nSigned-off-by: A <a@x>\n---\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n"
                  " 2 files changed, 3 insertions(+)\n",
                  "Fix it.\n\nSigned-off-by: A <a@x>\n---");
    CHECK_EXCERPT("svn\n\nIndex: foo.c\n====\n", "svn");
    CHECK_EXCERPT("plain\n--- a/f\n+++ b/f\n@@\n", "plain");
}

static void test_excerpt_before_signature(void **state)
{
    (void)state;
    CHECK_EXCERPT("hello\n\nthanks\n-- \nsig line\n", "hello\n\nthanks");
    /* "--" without the blank is not a signature separator */
    CHECK_EXCERPT("hello\n--\nmore\n", "hello\n--\nmore");
    CHECK_EXCERPT("no signature at all\n", "no signature at all");
}

static void test_excerpt_trailing_blank_lines(void **state)
{
    (void)state;
    CHECK_EXCERPT("a\n\n\n\n", "a");
    CHECK_EXCERPT("a\nb\n\n\n-- \nx\n", "a\nb");
    CHECK_EXCERPT("", "");
    CHECK_EXCERPT("\n\n", "");
}

static void test_excerpt_bounded_on_char_boundary(void **state)
{
    (void)state;
    /* "x" then 40000 two-byte characters: byte 65536 is inside a character */
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_buf_putc(&b, 'x'), 0);
    for (int i = 0; i < 40000; i++)
        assert_int_equal(pd_buf_puts(&b, "\xc3\xa9"), 0);
    char *got = pd_body_excerpt(b.data);
    assert_non_null(got);
    assert_int_equal(strlen(got), 65535);
    assert_true(g_utf8_validate(got, -1, NULL));
    assert_memory_equal(got, b.data, 65535);
    free(got);
    pd_buf_free(&b);
}

static void test_body_predicates(void **state)
{
    (void)state;
    assert_true(pd_body_has_diff("x\ndiff --git a/b c/d\n"));
    assert_true(pd_body_has_diff("Index: x\n"));
    assert_true(pd_body_has_diff("--- a\n+++ b\n"));
    assert_false(pd_body_has_diff("--- a\n\n+++ b\n"));
    assert_false(pd_body_has_diff("+++ b\n--- a\n"));
    assert_false(pd_body_has_diff(" diff --git a b\n"));
    assert_false(pd_body_has_diff(""));
    assert_true(pd_body_is_pull_request(
        "The following changes since commit x\nare available in the Git repository at:\n"));
    assert_false(pd_body_is_pull_request("The following changes since commit x\n"));
    assert_false(pd_body_is_pull_request(""));
}

static void test_excerpt_only_for_cover_patch_pull(void **state)
{
    (void)state;
    struct parsed p;
    classify_text(HDR "Subject: Re: x\n\nreply text\n", &p);
    assert_string_equal(p.c.excerpt, "");
    done(&p);
    classify_text(HDR "Subject: [PATCH 0/2] series\n\ncover text\n\n-- \n2.31\n", &p);
    assert_string_equal(p.c.excerpt, "cover text");
    done(&p);
}

/* ---- corpus ---- */

static void test_corpus_patch(void **state)
{
    (void)state;
    struct parsed p;
    classify_file(KVM_PPC "00001-ef0faac2a.eml", &p);
    assert_int_equal(p.c.cls, PD_PATCH);
    assert_true(p.c.subj.patch_tag);
    assert_int_equal(p.c.subj.version, 2);
    assert_int_equal(p.c.subj.index, 7);
    assert_int_equal(p.c.subj.total, 7);
    assert_string_equal(p.c.subj.title, "KVM: selftests: Support multiple slots in dirty_log_perf_test");
    assert_string_equal(p.c.ident.name, "David Matlack");
    assert_string_equal(p.c.ident.addr, "dmatlack@google.com");
    assert_string_equal(p.c.thread_root, "20210804222844.1419481-1-dmatlack@google.com");
    assert_prefix(p.c.excerpt, "Introduce a new option to dirty_log_perf_test: -x number_of_slots.");
    const char *tail = " 6 files changed, 84 insertions(+), 20 deletions(-)";
    size_t el = strlen(p.c.excerpt), tl = strlen(tail);
    assert_true(el > tl);
    assert_string_equal(p.c.excerpt + el - tl, tail);
    assert_int_equal(p.c.nreviewers, 0);
    done(&p);
}

static void test_corpus_cover(void **state)
{
    (void)state;
    struct parsed p;
    classify_file(KVM_PPC "00003-caf87e464.eml", &p);
    assert_int_equal(p.c.cls, PD_COVER);
    assert_int_equal(p.c.subj.version, 0);
    assert_int_equal(p.c.subj.index, 0);
    assert_int_equal(p.c.subj.total, 5);
    assert_string_equal(p.c.subj.prefixes, "RFC");
    assert_string_equal(p.c.subj.title, "PPC: KVM: pseries: Asynchronous page fault");
    assert_string_equal(p.c.thread_root, "20210805072439.501481-1-bharata@linux.ibm.com");
    assert_prefix(p.c.excerpt, "Hi,\n\nThis series adds asynchronous page fault");
    const char *tail = " 22 files changed, 574 insertions(+), 21 deletions(-)\n"
                       " create mode 100644 arch/powerpc/include/asm/async-pf.h\n"
                       " create mode 100644 arch/powerpc/include/asm/kvm_book3s_esn.h\n"
                       " create mode 100644 arch/powerpc/kvm/book3s_hv_esn.c\n"
                       " create mode 100644 arch/powerpc/platforms/pseries/async-pf.c";
    size_t el = strlen(p.c.excerpt), tl = strlen(tail);
    assert_true(el > tl);
    assert_string_equal(p.c.excerpt + el - tl, tail);
    done(&p);
}

static void test_corpus_reply(void **state)
{
    (void)state;
    struct parsed p;
    classify_file(KVM_PPC "00002-b20197f3b.eml", &p);
    assert_int_equal(p.c.cls, PD_REPLY);
    assert_true(p.c.subj.marker);
    /* the folded subject is unfolded: one blank where the line broke */
    assert_string_equal(p.m.subject, "Re: [PATCH v1 11/55] powerpc/time: add API for KVM to re-arm "
                                     "the host timer/decrementer");
    assert_string_equal(p.c.thread_root, "20210726035036.739609-1-npiggin@gmail.com");
    assert_string_equal(p.c.ident.addr, "christophe.leroy@csgroup.eu");
    assert_string_equal(p.c.excerpt, "");
    done(&p);
}

static void test_corpus_patch_with_prefix(void **state)
{
    (void)state;
    struct parsed p;
    classify_file(KVM_PPC "00010-f6a8459b4.eml", &p);
    assert_int_equal(p.c.cls, PD_PATCH);
    assert_string_equal(p.c.subj.prefixes, "kernel");
    assert_int_equal(p.c.subj.version, 2);
    assert_int_equal(p.c.subj.index, -1);
    assert_string_equal(p.c.thread_root, "20210805075649.2086567-1-aik@ozlabs.ru");
    const char *tail = "---\n arch/powerpc/kvm/book3s_hv.c | 2 +-\n"
                       " 1 file changed, 1 insertion(+), 1 deletion(-)";
    size_t el = strlen(p.c.excerpt), tl = strlen(tail);
    assert_true(el > tl);
    assert_string_equal(p.c.excerpt + el - tl, tail);
    done(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_reply_by_marker),
        cmocka_unit_test(test_reply_by_in_reply_to_without_tag),
        cmocka_unit_test(test_pull_by_tag),
        cmocka_unit_test(test_pull_by_body),
        cmocka_unit_test(test_cover_index_zero),
        cmocka_unit_test(test_patch_by_diff_git),
        cmocka_unit_test(test_patch_by_index_line),
        cmocka_unit_test(test_patch_by_minus_plus_pair),
        cmocka_unit_test(test_patch_by_attachment),
        cmocka_unit_test(test_patch_file_fixture),
        cmocka_unit_test(test_other),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_identity_header_from),
        cmocka_unit_test(test_identity_inbody_from_first_line),
        cmocka_unit_test(test_identity_inbody_from_any_class),
        cmocka_unit_test(test_identity_inbody_from_not_first),
        cmocka_unit_test(test_identity_dmarc_rewrite),
        cmocka_unit_test(test_identity_decoded_names),
        cmocka_unit_test(test_identity_format),
        cmocka_unit_test(test_thread_root),
        cmocka_unit_test(test_reviewers_in_reply),
        cmocka_unit_test(test_reviewers_not_in_patch),
        cmocka_unit_test(test_reviewers_corpus),
        cmocka_unit_test(test_excerpt_diffstat),
        cmocka_unit_test(test_excerpt_before_diff),
        cmocka_unit_test(test_excerpt_before_signature),
        cmocka_unit_test(test_excerpt_trailing_blank_lines),
        cmocka_unit_test(test_excerpt_bounded_on_char_boundary),
        cmocka_unit_test(test_body_predicates),
        cmocka_unit_test(test_excerpt_only_for_cover_patch_pull),
        cmocka_unit_test(test_corpus_patch),
        cmocka_unit_test(test_corpus_cover),
        cmocka_unit_test(test_corpus_reply),
        cmocka_unit_test(test_corpus_patch_with_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
