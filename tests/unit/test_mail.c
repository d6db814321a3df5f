/*
 * test_mail.c - pd_mail_parse() on fixture files and built mails: the text
 * body of multipart mail, transfer encodings, charsets, CRs and NULs,
 * patch attachments, Message-ID / References / In-Reply-To normalisation,
 * synthetic ids, and garbage input.
 */
#include "unit_util.h"

#include "pd_mailbox.h"
#include <inttypes.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* ---- fixture files ---- */

static void test_multipart_first_text_part(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/msg_iter-order.eml", &m);
    assert_mail_strings_valid(&m);
    assert_false(m.parse_failed);
    assert_true(m.has_text_body);
    assert_string_equal(m.text_body, "a\n");
    assert_string_equal(m.from.addr, "root@localhost");
    assert_string_equal(m.from.name, "");
    assert_string_equal(m.subject, "");
    pd_mail_clear(&m);
}

static void test_multipart_nested(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/msg_iter-nested.eml", &m);
    assert_mail_strings_valid(&m);
    assert_true(m.has_text_body);
    assert_string_equal(m.text_body, "a");
    pd_mail_clear(&m);
}

static void test_multipart_alternative_html_first(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/mda-mime.eml", &m);
    assert_mail_strings_valid(&m);
    assert_true(m.has_text_body);
    /* the text/plain part, quoted-printable with a soft break at its end */
    assert_string_equal(m.text_body, "hi = \"bye\"");
    assert_string_equal(m.message_id, "multipart-html-sucks@11");
    pd_mail_clear(&m);
}

static void test_multipart_skips_non_text(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/filter_base-junk.eml", &m);
    assert_true(m.has_text_body);
    assert_string_equal(m.text_body, "junk");
    pd_mail_clear(&m);
}

static void test_text_parts_with_filename_are_attachments(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/psgi_attach.eml", &m);
    assert_mail_strings_valid(&m);
    /* every text/plain part carries a filename: none is the text body */
    assert_false(m.has_text_body);
    assert_string_equal(m.text_body, "");
    assert_false(m.has_patch_part);
    assert_string_equal(m.message_id, "Z@B");
    pd_mail_clear(&m);
}

static void test_two_text_bodies_first_wins(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/plack-2-txt-bodies.eml", &m);
    assert_string_equal(m.text_body, "hi");
    assert_string_equal(m.in_reply_to, "irp@example.com");
    assert_int_equal(m.nrefs, 0);
    pd_mail_clear(&m);
}

static void test_embedded_message_not_entered(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/data_message_embed.eml", &m);
    assert_mail_strings_valid(&m);
    assert_string_equal(m.text_body, "testing embedded message harder\n");
    assert_false(m.has_patch_part);
    assert_string_equal(m.subject, "Re: embedded message test");
    assert_string_equal(m.message_id, "20200418222508.GA13918@dcvr");
    assert_string_equal(m.in_reply_to, "20200418222020.GA2745@dcvr");
    assert_int_equal(m.nrefs, 1);
    assert_string_equal(m.references[0], "20200418222020.GA2745@dcvr");
    assert_string_equal(m.from.name, "Eric Wong");
    assert_string_equal(m.from.addr, "e@yhbt.net");
    assert_string_equal(m.date, "Sat, 18 Apr 2020 22:25:08 +0000");
    pd_mail_clear(&m);
}

static void test_quoted_printable_body(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/plack-qp.eml", &m);
    assert_mail_strings_valid(&m);
    assert_string_equal(m.text_body, "hi = bye");
    assert_string_equal(m.subject, "QP");
    assert_string_equal(m.message_id, "qp@example.com");
    assert_false(m.synthetic_mid);
    pd_mail_clear(&m);
}

static void test_quoted_printable_unknown_charset(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/x-unknown-alpine.eml", &m);
    assert_mail_strings_valid(&m);
    /* X-UNKNOWN cannot be converted; the bytes are UTF-8 and kept */
    assert_string_equal(m.text_body, "\thttps://example.com/\n\n  \xe2\x80\xa2 bullet point\n");
    assert_string_equal(m.from.name, "Alpine User");
    assert_string_equal(m.date, "Sat, 13 Aug 2016 12:14:15 +0200 (CEST)");
    pd_mail_clear(&m);
}

static void test_iso_2022_jp_body(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/iso-2202-jp.eml", &m);
    assert_mail_strings_valid(&m);
    assert_string_equal(m.text_body, "|けいじゅ＠今はフリー(^^;;;です.\n");
    assert_string_equal(m.subject, "[ruby-dev:4]");
    assert_string_equal(m.message_id, "199707281508.AAA24167@hoyogw.example");
    assert_string_equal(m.from.addr, "matz@example.com");
    pd_mail_clear(&m);
}

static void test_utf8_headers_and_body(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/utf8.eml", &m);
    assert_string_equal(m.subject, "Testing for Eléanor");
    assert_string_equal(m.from.name, "Eléanor");
    assert_string_equal(m.from.addr, "e@example.com");
    assert_string_equal(m.text_body, "This is a test message for Eléanor\n");
    pd_mail_clear(&m);
}

static const char quoted_cr_body[] =
    "On different distro, pytest is suffixed with different patterns.\n"
    "\n"
    "---\n"
    " configure | 2 +-\n"
    " 1 file changed, 1 insertion(+), 1 deletion(-)\n"
    "\n"
    "diff --git a/configure b/configure\n"
    "index db3538b3..f7c1c095 100755\n"
    "--- a/configure\n"
    "+++ b/configure\n"
    "@@ -814,7 +814,7 @@ if [ $have_python3 -eq 1 ]; then\n"
    "     printf \"Checking for python3 pytest (>= 3.0)... \"\n"
    "     conf=$(mktemp)\n"
    "     printf \"[pytest]\\nminversion=3.0\\n\" > $conf\n"
    "-    if pytest-3 -c $conf --version >/dev/null 2>&1; then\n"
    "+    if \"$python\" -m pytest -c $conf --version >/dev/null 2>&1; then\n"
    "         printf \"Yes.\\n\"\n"
    "         have_python3_pytest=1\n"
    "     else\n"
    "-- \n"
    "2.28.0\n"
    "_______________________________________________\n"
    "example mailing list -- list@example.org\n"
    "To unsubscribe send an email to list-leave@example.org\n";

struct mbox_msgs {
    struct pd_mail m[8];
    size_t n;
};

static int parse_cb(void *arg, const char *label, const char *data, size_t len)
{
    (void)label;
    struct mbox_msgs *b = arg;
    assert_true(b->n < 8);
    assert_int_equal(pd_mail_parse(&b->m[b->n], data, len), 0);
    b->n++;
    return 0;
}

static void parse_mbox(const char *rel, struct mbox_msgs *out)
{
    memset(out, 0, sizeof *out);
    pd_buf b = PD_BUF_INIT;
    read_corpus(rel, &b);
    assert_int_equal(pd_mbox_split(rel, b.data, b.len, parse_cb, out), 0);
    pd_buf_free(&b);
}

static void clear_mbox(struct mbox_msgs *b)
{
    for (size_t i = 0; i < b->n; i++)
        pd_mail_clear(&b->m[i]);
}

static void test_base64_body_crs_dropped(void **state)
{
    (void)state;
    struct mbox_msgs b;
    parse_mbox("fixtures/git-t5100/quoted-cr.mbox", &b);
    assert_int_equal(b.n, 2);
    /* message 1: LF lines with one bare CR; message 2: CRLF lines, bare CRs */
    for (size_t i = 0; i < 2; i++) {
        assert_mail_strings_valid(&b.m[i]);
        assert_null(strchr(b.m[i].text_body, '\r'));
        assert_string_equal(b.m[i].text_body, quoted_cr_body);
        assert_string_equal(b.m[i].subject, "[PATCH v2] sample");
        assert_string_equal(b.m[i].from.name, "A U Thor");
        assert_string_equal(b.m[i].from.addr, "mail@example.com");
        assert_string_equal(b.m[i].date, "Mon,  3 Aug 2020 22:40:55 +0700");
    }
    assert_string_equal(b.m[0].message_id, "msg-id@example.com");
    assert_string_equal(b.m[1].message_id, "msg-id2@example.com");
    assert_null(strchr(b.m[1].raw_headers, '\r'));
    clear_mbox(&b);
}

static void test_nul_bytes_plain(void **state)
{
    (void)state;
    struct mbox_msgs b;
    parse_mbox("fixtures/git-t5100/nul-plain", &b);
    assert_int_equal(b.n, 1);
    assert_mail_strings_valid(&b.m[0]);
    /* NULs dropped, other bytes kept */
    assert_string_equal(b.m[0].text_body,
                        "---\ndiff --git a/foo b/foo\n\bSome strange test\b\b\n\n");
    assert_true(b.m[0].synthetic_mid);
    clear_mbox(&b);
}

static void test_nul_bytes_base64(void **state)
{
    (void)state;
    struct mbox_msgs b;
    parse_mbox("fixtures/git-t5100/nul-b64.in", &b);
    assert_int_equal(b.n, 1);
    struct pd_mail *m = &b.m[0];
    assert_mail_strings_valid(m);
    assert_string_equal(m->subject, "[PATCH] second");
    assert_string_equal(m->from.name, "Junio C Hamano");
    assert_string_equal(m->from.addr, "gitster@pobox.com");
    /* 1672 decoded bytes, 5 of them NUL */
    assert_int_equal(strlen(m->text_body), 1667);
    char sha[41];
    pd_sha1_hex(m->text_body, strlen(m->text_body), sha);
    assert_string_equal(sha, "2605c1c3f0d8a96d655ceab4fd29d55a86b6eafd");
    assert_non_null(strstr(m->text_body, "+volutpat. Proin in purus. Nulla urna sapien, dapius sit amet,\n"));
    assert_true(strncmp(m->text_body, "---\n file |  Bin 1357 -> 1357 bytes\n", 36) == 0);
    clear_mbox(&b);
}

static void test_attached_patch_part(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_corpus("fixtures/public-inbox-t/plack-attached-patch.eml", &m);
    assert_mail_strings_valid(&m);
    assert_true(m.has_patch_part);
    assert_true(m.has_text_body);
    assert_string_equal(m.text_body, "hi, see attached");
    assert_string_equal(m.subject, "[PATCH] asdf");
    assert_string_equal(m.message_id, "patch@example.com");
    pd_mail_clear(&m);
}

/* ---- built mails ---- */

static void test_patch_part_kinds(void **state)
{
    (void)state;
    static const char *const parts[] = {
        "Content-Type: text/x-patch\n\n--- a\n+++ b\n",
        "Content-Type: text/x-diff; charset=us-ascii\n\n--- a\n+++ b\n",
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename=\"fix.diff\"\n\nxx\n",
        "Content-Type: application/octet-stream; name=\"0001-Fix.PATCH\"\n\nxx\n",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char mail[1024];
        snprintf(mail, sizeof mail,
                 "From: a@b.c\nSubject: [PATCH] x\nMessage-ID: <p%zu@x>\nMIME-Version: 1.0\n"
                 "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                 "--B\nContent-Type: text/plain\n\nsee attached\n--B\n%s--B--\n",
                 i, parts[i]);
        struct pd_mail m;
        parse_string(mail, &m);
        if (!m.has_patch_part)
            print_error("part %zu not recognised as a patch\n", i);
        assert_true(m.has_patch_part);
        assert_string_equal(m.text_body, "see attached");
        pd_mail_clear(&m);
    }
    /* a text attachment with another name is not a patch part */
    struct pd_mail m;
    parse_string("From: a@b.c\nMessage-ID: <np@x>\nMIME-Version: 1.0\n"
                 "Content-Type: multipart/mixed; boundary=\"B\"\n\n"
                 "--B\nContent-Type: text/plain\n\nbody\n"
                 "--B\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"notes.txt\"\n\n"
                 "--- a\n+++ b\n--B--\n",
                 &m);
    assert_false(m.has_patch_part);
    assert_string_equal(m.text_body, "body");
    pd_mail_clear(&m);
}

static void test_base64_and_latin1_body(void **state)
{
    (void)state;
    struct pd_mail m;
    /* "caf\xe9 cr\xe8me\r\n" in ISO-8859-1, base64 */
    parse_string("From: a@b.c\nMessage-ID: <l1@x>\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=ISO-8859-1\n"
                 "Content-Transfer-Encoding: base64\n\nY2Fm6SBjcuhtZQ0K\n",
                 &m);
    assert_string_equal(m.text_body, "café crème\n");
    pd_mail_clear(&m);
    /* quoted-printable UTF-8 with a soft line break and =0D */
    parse_string("From: a@b.c\nMessage-ID: <q1@x>\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: quoted-printable\n\n"
                 "it=E2=80=99s a lo=\nng line=0D\nnext\n",
                 &m);
    assert_string_equal(m.text_body, "it’s a long line\nnext\n");
    pd_mail_clear(&m);
}

static void test_invalid_utf8_body_repaired(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\nMessage-ID: <u1@x>\nContent-Type: text/plain; charset=utf-8\n\n"
                 "ok \xff\xfe end\n",
                 &m);
    assert_mail_strings_valid(&m);
    assert_true(strncmp(m.text_body, "ok ", 3) == 0);
    assert_non_null(strstr(m.text_body, " end\n"));
    pd_mail_clear(&m);
}

static void test_headers_unfolded_and_decoded(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: =?UTF-8?q?Micha=C5=82=20Winiarski?= <Michal.Winiarski@INTEL.com>\n"
                 "Subject: [PATCH] KVM: SVM: Ensure SPEC_CTRL[63:32] is context switched between\n"
                 " guests\n"
                 "Date: Mon, 2 Aug 2021\n 10:00:00 +0000\n"
                 "List-Id: KVM list <KVM.vger.kernel.org>\n"
                 "X-Original-From: Orig Inal <Orig@Example.ORG>\n"
                 "Message-ID: <h1@x>\n\nbody\n",
                 &m);
    assert_string_equal(m.subject,
                        "[PATCH] KVM: SVM: Ensure SPEC_CTRL[63:32] is context switched between guests");
    assert_string_equal(m.from.name, "Michał Winiarski");
    assert_string_equal(m.from.addr, "michal.winiarski@intel.com");
    assert_string_equal(m.date, "Mon, 2 Aug 2021 10:00:00 +0000");
    assert_string_equal(m.list_id, "kvm.vger.kernel.org");
    assert_string_equal(m.xorig.name, "Orig Inal");
    assert_string_equal(m.xorig.addr, "orig@example.org");
    assert_false(m.has_marker);
    pd_mail_clear(&m);
}

static void test_subject_controls_become_spaces(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\nSubject: =?UTF-8?Q?a=09b=0Ac=0D=0Ad?=\nMessage-ID: <c1@x>\n\nx\n", &m);
    assert_string_equal(m.subject, "a b c d");
    pd_mail_clear(&m);
    char *s = pd_decode_header_text("  =?UTF-8?Q?x=7Fy?=  ");
    assert_non_null(s);
    assert_string_equal(s, "x y");
    free(s);
}

static void test_marker_header_and_raw_headers(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\r\nX-Patchdigest-Digest: yes\r\nMessage-ID: <d1@x>\r\n\r\nbody\r\n", &m);
    assert_true(m.has_marker);
    assert_string_equal(m.raw_headers, "From: a@b.c\nX-Patchdigest-Digest: yes\nMessage-ID: <d1@x>\n");
    assert_string_equal(m.text_body, "body\n");
    pd_mail_clear(&m);
}

static void test_mid_normalize(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "<a@b>", "a@b" },
        { " <a@b> (comment)", "a@b" },
        { "\r\n <a@b>", "a@b" },
        { "\n\t<a@b>\n", "a@b" },
        { "a@b", "a@b" },
        { "   a@b   ", "a@b" },
        { "<  a@b  >", "a@b" },
        { "<a@b> <c@d>", "a@b" },
        { "(comment) <a@b>", "a@b" },
        { "", "" },
        { "<>", "" },
        { "<a@b", "<a@b" },
        { "x\ty@z", "x y@z" },
        /* at the edges of the common case (printable ASCII in <>) */
        { "<a<b@c>", "a<b@c" },
        { "<a b@c>", "a b@c" },
        { "<a\tb@c>", "a b@c" },
        { "<a\r\n b@c>", "a b@c" },
        { "<a\x01" "b@c>", "a b@c" },
        { "<caf\xc3\xa9@c>", "caf\xc3\xa9@c" },
        { "<a\xff" "b@c>", "a\xef\xbf\xbd" "b@c" },
        { "<a@b\x7f>", "a@b " },
        { "x <!#$%&'*+/=?^_`{|}~@c> y", "!#$%&'*+/=?^_`{|}~@c" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = pd_mid_normalize(cases[i][0]);
        assert_non_null(got);
        if (strcmp(got, cases[i][1]) != 0)
            print_error("case %zu: expected \"%s\", got \"%s\"\n", i, cases[i][1], got);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

static void test_message_id_header_forms(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\nMessage-ID:\n <20210804222844.1419481-8-dmatlack@google.com>\n\nx\n", &m);
    assert_string_equal(m.message_id, "20210804222844.1419481-8-dmatlack@google.com");
    assert_false(m.synthetic_mid);
    pd_mail_clear(&m);
    parse_string("From: a@b.c\nMessage-Id: <a@b> (added by postmaster)\n\nx\n", &m);
    assert_string_equal(m.message_id, "a@b");
    pd_mail_clear(&m);
}

static void test_references_order(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\nMessage-ID: <me@x>\n"
                 "References: <r1@x>\n <r2@x>\t<r3@x> junk <> <  r4@x >\n"
                 "In-Reply-To: <r4@x> (John's message of Monday)\n\nx\n",
                 &m);
    assert_int_equal(m.nrefs, 4);
    assert_string_equal(m.references[0], "r1@x");
    assert_string_equal(m.references[1], "r2@x");
    assert_string_equal(m.references[2], "r3@x");
    assert_string_equal(m.references[3], "r4@x");
    assert_string_equal(m.in_reply_to, "r4@x");
    pd_mail_clear(&m);
}

static void test_in_reply_to_forms(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: a@b.c\nMessage-ID: <me@x>\nIn-Reply-To: Your message of Monday\n\nx\n", &m);
    assert_string_equal(m.in_reply_to, "");
    assert_int_equal(m.nrefs, 0);
    pd_mail_clear(&m);
    parse_string("From: a@b.c\nMessage-ID: <me@x>\nIn-Reply-To: parent@x\n\nx\n", &m);
    assert_string_equal(m.in_reply_to, "parent@x");
    pd_mail_clear(&m);
    parse_string("From: a@b.c\nMessage-ID: <me@x>\nIn-Reply-To: <p1@x> <p2@x>\n\nx\n", &m);
    assert_string_equal(m.in_reply_to, "p1@x");
    pd_mail_clear(&m);
}

static const char *const nomid_a =
    "From: A <a@b.c>\nSubject: hello\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n\nbody one\n";
static const char *const nomid_b =
    "From: A <a@b.c>\nSubject: hello\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n\nbody two\n";
static const char *const nomid_c =
    "From: A <a@b.c>\nSubject: hello again\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n\nbody one\n";

static void assert_synthetic_form(const char *id)
{
    const char *suffix = "@patchdigest.invalid";
    assert_int_equal(strlen(id), 40 + strlen(suffix));
    for (int i = 0; i < 40; i++)
        assert_non_null(strchr("0123456789abcdef", id[i]));
    assert_string_equal(id + 40, suffix);
}

static void test_synthetic_message_id(void **state)
{
    (void)state;
    struct pd_mail a1, a2, b, c;
    parse_string(nomid_a, &a1);
    parse_string(nomid_a, &a2);
    parse_string(nomid_b, &b);
    parse_string(nomid_c, &c);
    assert_true(a1.synthetic_mid);
    assert_synthetic_form(a1.message_id);
    assert_string_equal(a1.message_id, a2.message_id);        /* stable */
    assert_string_not_equal(a1.message_id, b.message_id);     /* body counts */
    assert_string_not_equal(a1.message_id, c.message_id);     /* subject counts */
    /* an empty Message-ID is as good as none */
    struct pd_mail e;
    parse_string("From: A <a@b.c>\nMessage-ID: <>\nSubject: hello\n\nbody one\n", &e);
    assert_true(e.synthetic_mid);
    assert_synthetic_form(e.message_id);
    pd_mail_clear(&e);
    pd_mail_clear(&a1);
    pd_mail_clear(&a2);
    pd_mail_clear(&b);
    pd_mail_clear(&c);
}

static void test_synthetic_message_id_line_endings(void **state)
{
    (void)state;
    /* One mail, three ways of receiving it: from an mbox file (LF, what
     * "patchdigest import" reads), as the milter assembles it (header lines
     * joined with LF, the body as the MTA sends it, CRLF), and all CRLF (an
     * .eml saved from SMTP).  Decoded, they are the same mail; DESIGN.md
     * "Duplicates" counts it once whichever way it came, so the synthetic
     * Message-ID must not depend on the line endings. */
    static const char lf[] = "From: A <a@b.c>\nSubject: hello\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n"
                             "\nbody one\nline two\n";
    static const char milter[] = "From: A <a@b.c>\nSubject: hello\nDate: Mon, 2 Aug 2021 10:00:00 +0000\n"
                                 "\nbody one\r\nline two\r\n";
    static const char crlf[] = "From: A <a@b.c>\r\nSubject: hello\r\nDate: Mon, 2 Aug 2021 10:00:00 +0000\r\n"
                               "\r\nbody one\r\nline two\r\n";
    struct pd_mail a, b, c;
    parse_string(lf, &a);
    parse_string(milter, &b);
    parse_string(crlf, &c);
    assert_true(a.synthetic_mid && b.synthetic_mid && c.synthetic_mid);
    /* the parsed mails are identical ... */
    assert_string_equal(a.text_body, b.text_body);
    assert_string_equal(a.text_body, c.text_body);
    assert_string_equal(a.subject, c.subject);
    assert_string_equal(a.date, c.date);
    assert_string_equal(a.from.addr, c.from.addr);
    /* ... and so must their ids be */
    if (strcmp(a.message_id, b.message_id) != 0 || strcmp(a.message_id, c.message_id) != 0)
        print_error("synthetic ids: LF %s, milter %s, CRLF %s\n", a.message_id, b.message_id,
                    c.message_id);
    char ida[128], idb[128], idc[128];
    snprintf(ida, sizeof ida, "%s", a.message_id);
    snprintf(idb, sizeof idb, "%s", b.message_id);
    snprintf(idc, sizeof idc, "%s", c.message_id);
    pd_mail_clear(&a);
    pd_mail_clear(&b);
    pd_mail_clear(&c);
    assert_string_equal(ida, idb);
    assert_string_equal(ida, idc);
}

/* ---- garbage ---- */

static void test_garbage_empty(void **state)
{
    (void)state;
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, "", 0), 0);
    assert_mail_strings_valid(&m);
    assert_true(m.synthetic_mid);
    assert_string_equal(m.subject, "");
    assert_string_equal(m.text_body, "");
    assert_int_equal(m.nrefs, 0);
    pd_mail_clear(&m);
}

static void test_garbage_random_bytes(void **state)
{
    (void)state;
    size_t len = 64 * 1024;
    char *data = malloc(len);
    assert_non_null(data);
    uint32_t x = 2463534242u;
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            data[i] = (char)(x & 0xff);
        }
        struct pd_mail m;
        assert_int_equal(pd_mail_parse(&m, data, len - (size_t)round * 1000), 0);
        assert_mail_strings_valid(&m);
        assert_true(strlen(m.raw_headers) <= PD_MAX_RAW_HEADERS);
        pd_mail_clear(&m);
    }
    free(data);
}

static void test_garbage_huge_header_line(void **state)
{
    (void)state;
    size_t big = 1u << 20;
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_buf_puts(&b, "From: a@b.c\nMessage-ID: <big@x>\nSubject: "), 0);
    assert_int_equal(pd_buf_reserve(&b, big), 0);
    memset(b.data + b.len, 'x', big);
    b.len += big;
    b.data[b.len] = '\0';
    assert_int_equal(pd_buf_puts(&b, "\n\nbody\n"), 0);
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, b.data, b.len), 0);
    assert_mail_strings_valid(&m);
    /* the header is cut at PD_MAX_HEADER_BYTES, "Subject: " included */
    assert_int_equal(strlen(m.subject), PD_MAX_HEADER_BYTES - strlen("Subject: "));
    assert_string_equal(m.message_id, "big@x");
    assert_string_equal(m.text_body, "body\n");
    assert_true(strlen(m.raw_headers) <= PD_MAX_RAW_HEADERS);
    assert_non_null(strstr(m.raw_headers, "Message-ID: <big@x>"));
    pd_mail_clear(&m);
    pd_buf_free(&b);
}

static void test_garbage_deeply_nested_multiparts(void **state)
{
    (void)state;
    const int depth = 5000;
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_buf_puts(&b, "From: a@b.c\nMessage-ID: <deep@x>\nMIME-Version: 1.0\n"
                                     "Content-Type: multipart/mixed; boundary=\"b0\"\n\n"),
                     0);
    for (int i = 1; i <= depth; i++)
        assert_int_equal(pd_buf_printf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n",
                                       i - 1, i),
                         0);
    assert_int_equal(pd_buf_printf(&b, "--b%d\nContent-Type: text/plain\n\ndeep\n", depth), 0);
    for (int i = depth; i >= 0; i--)
        assert_int_equal(pd_buf_printf(&b, "--b%d--\n", i), 0);
    struct pd_mail m;
    assert_int_equal(pd_mail_parse(&m, b.data, b.len), 0);
    assert_mail_strings_valid(&m);
    assert_string_equal(m.message_id, "deep@x");
    pd_mail_clear(&m);
    pd_buf_free(&b);
}

static void test_garbage_headers_only_and_binary_header(void **state)
{
    (void)state;
    struct pd_mail m;
    static const char hdr[] = "Subject: caf\xe9\nFrom: \xff\xfe <x@y>\nMessage-ID: <\x01\x02@x>";
    assert_int_equal(pd_mail_parse(&m, hdr, sizeof hdr - 1), 0);
    assert_mail_strings_valid(&m);
    assert_string_equal(m.subject, "café");
    /* control characters of the id become blanks: none is left */
    for (const char *p = m.message_id; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    assert_non_null(strstr(m.message_id, "@x"));
    assert_string_equal(m.text_body, "");
    pd_mail_clear(&m);
}

/* Found by tests/fuzz/fuzz_mail (regressions/mail/8bit-message-ids.eml):
 * 8-bit bytes that are not UTF-8 in Message-ID, In-Reply-To, References and
 * Date came through as they were. */
static void test_eight_bit_ids_made_valid(void **state)
{
    (void)state;
    struct pd_mail m;
    parse_string("From: A <a@example.org>\nSubject: x\n"
                 "Message-ID: <\xff\xfe@example.org>\n"
                 "In-Reply-To: <\xc0@example.org>\n"
                 "References: <r1@example.org> <r\xed" "2@example.org>\n"
                 "List-Id: <kvm-\xe9.example.org>\n"
                 "Date: Mon, 1 Jan 2024 \xff 00:00:00 +0000\n\nbody\n",
                 &m);
    assert_mail_strings_valid(&m);
    assert_false(m.synthetic_mid);
    assert_non_null(strstr(m.message_id, "@example.org"));
    assert_non_null(strstr(m.in_reply_to, "@example.org"));
    assert_int_equal(m.nrefs, 2);
    assert_string_equal(m.references[0], "r1@example.org");
    assert_non_null(strstr(m.list_id, ".example.org"));
    assert_non_null(strstr(m.date, "00:00:00 +0000"));
    pd_mail_clear(&m);
    /* a valid id is left as it is */
    char *id = pd_mid_normalize("<caf\xc3\xa9@example.org>");
    assert_string_equal(id, "caf\xc3\xa9@example.org");
    free(id);
}

/* A header block that a line other than a header ends: the body starts at
 * that line, as an MTA (and so the milter, which always sends the empty
 * line) reads it.  "patchdigest import" of such a file and the milter must
 * see the same body and derive the same synthetic id; header-less mails
 * that differ after their first empty line are two mails, not one. */
static void test_header_block_ended_by_a_body_line(void **state)
{
    (void)state;
    struct pd_mail a, b, c, d, e;
    parse_string("From: A <a@b.c>\nSubject: s\nHere is a patch\n\nmore\n", &a);
    parse_string("From: A <a@b.c>\nSubject: s\n\nHere is a patch\n\nmore\n", &b);
    parse_string("Here is a patch\n\nmore\n", &c);
    parse_string("\nHere is a patch\n\nmore\n", &d);
    parse_string("Here is a patch\n\nother\n", &e);
    assert_string_equal(a.text_body, "Here is a patch\n\nmore\n");
    assert_string_equal(a.text_body, b.text_body);
    assert_string_equal(a.message_id, b.message_id);
    assert_string_equal(a.raw_headers, "From: A <a@b.c>\nSubject: s\n");
    assert_string_equal(c.text_body, "Here is a patch\n\nmore\n");
    assert_string_equal(c.text_body, d.text_body);
    assert_string_equal(c.message_id, d.message_id);
    assert_string_equal(c.raw_headers, "");
    assert_string_equal(d.raw_headers, "");
    assert_string_not_equal(c.message_id, e.message_id);
    pd_mail_clear(&a);
    pd_mail_clear(&b);
    pd_mail_clear(&c);
    pd_mail_clear(&d);
    pd_mail_clear(&e);
}

/* ---- the plain path gives what GMime's MIME tree gives ---- */

static void assert_same_str(const char *what, const char *file, const char *a, const char *b)
{
    if (strcmp(a, b) != 0) {
        print_error("%s: %s differs:\n  plain: [%s]\n  gmime: [%s]\n", file, what, a, b);
        fail();
    }
}

static void assert_same_flag(const char *what, const char *file, bool a, bool b)
{
    if (a != b) {
        print_error("%s: %s differs: walk %d, gmime %d\n", file, what, a, b);
        fail();
    }
}

/* Parse data both ways; every field must be equal.  Returns whether the
 * plain path read it. */
static bool compare_paths(const char *file, const char *data, size_t len)
{
    struct pd_mail a, b;
    assert_int_equal(pd_mail_parse(&a, data, len), 0);
    assert_int_equal(pd_mail_parse_gmime(&b, data, len), 0);
    assert_false(b.plain_path);
    assert_same_str("subject", file, a.subject, b.subject);
    assert_same_str("message_id", file, a.message_id, b.message_id);
    assert_same_str("in_reply_to", file, a.in_reply_to, b.in_reply_to);
    assert_same_str("list_id", file, a.list_id, b.list_id);
    assert_same_str("date", file, a.date, b.date);
    assert_same_str("from.name", file, a.from.name, b.from.name);
    assert_same_str("from.addr", file, a.from.addr, b.from.addr);
    assert_same_str("from.written", file, a.from.written, b.from.written);
    assert_same_str("xorig.name", file, a.xorig.name, b.xorig.name);
    assert_same_str("xorig.addr", file, a.xorig.addr, b.xorig.addr);
    assert_same_str("xorig.written", file, a.xorig.written, b.xorig.written);
    assert_same_str("text_body", file, a.text_body, b.text_body);
    assert_same_str("raw_headers", file, a.raw_headers, b.raw_headers);
    assert_int_equal(a.nrefs, b.nrefs);
    for (size_t i = 0; i < a.nrefs; i++)
        assert_same_str("references", file, a.references[i], b.references[i]);
    assert_same_flag("synthetic_mid", file, a.synthetic_mid, b.synthetic_mid);
    assert_same_flag("threaded", file, a.threaded, b.threaded);
    assert_same_flag("has_text_body", file, a.has_text_body, b.has_text_body);
    assert_same_flag("has_patch_part", file, a.has_patch_part, b.has_patch_part);
    assert_same_flag("has_marker", file, a.has_marker, b.has_marker);
    assert_same_flag("parse_failed", file, a.parse_failed, b.parse_failed);
    bool plain = a.plain_path;
    pd_mail_clear(&a);
    pd_mail_clear(&b);
    return plain;
}

/* fn(path, data, len, arg) for every file under dir (recursively) but the
 * manifests and domain maps. */
static void each_corpus_file(const char *dir,
                             void (*fn)(const char *path, const char *data, size_t len,
                                        void *arg),
                             void *arg)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    assert_non_null(d);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            each_corpus_file(path, fn, arg);
        } else if (g_file_test(path, G_FILE_TEST_IS_REGULAR) &&
                   !g_str_has_suffix(name, ".tsv") && !g_str_has_suffix(name, ".map")) {
            pd_buf b = PD_BUF_INIT;
            assert_int_equal(pd_read_file(path, &b), 0);
            fn(path, b.data ? b.data : "", b.len, arg);
            pd_buf_free(&b);
        }
        g_free(path);
    }
    g_dir_close(d);
}

/* A file as it is and with CRLF line ends (as the milter receives it);
 * arg: counts of files and of those the plain path read. */
static void compare_file(const char *path, const char *data, size_t len, void *arg)
{
    size_t *count = arg;
    count[0]++;
    count[1] += compare_paths(path, data, len);
    pd_buf crlf = PD_BUF_INIT;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            assert_int_equal(pd_buf_putc(&crlf, '\r'), 0);
        assert_int_equal(pd_buf_putc(&crlf, data[i]), 0);
    }
    compare_paths(path, crlf.data ? crlf.data : "", crlf.len);
    pd_buf_free(&crlf);
}

/* pd_addr_parse() (which reads the common forms itself) and
 * pd_addr_parse_gmime() agree on value; the number of values compared is
 * added to *n. */
static void compare_addr(const char *where, const char *value, size_t *n)
{
    struct pd_addr a, g;
    int ra = pd_addr_parse(value, &a), rg = pd_addr_parse_gmime(value, &g);
    if (ra != rg || strcmp(a.name, g.name) || strcmp(a.addr, g.addr) ||
        strcmp(a.written, g.written))
        print_error("%s: \"%s\": %d \"%s\" \"%s\" \"%s\", GMime: %d \"%s\" \"%s\" \"%s\"\n",
                    where, value, ra, a.name, a.addr, a.written, rg, g.name, g.addr, g.written);
    assert_int_equal(ra, rg);
    assert_string_equal(a.name, g.name);
    assert_string_equal(a.addr, g.addr);
    assert_string_equal(a.written, g.written);
    pd_addr_clear(&a);
    pd_addr_clear(&g);
    (*n)++;
}

/* Every address-like value of a mail: the From, To, Cc, Reply-To, Sender
 * and X-Original-From headers (unfolded) and the body's "...-by:" and
 * "Cc:" lines. */
static void compare_addrs_of(const char *path, const char *data, size_t len, void *arg)
{
    size_t *n = arg;
    char *text = g_strndup(data, len);
    char **lines = g_strsplit(text, "\n", -1);
    bool head = true;
    for (size_t i = 0; lines[i]; i++) {
        char *l = lines[i];
        g_strchomp(l);
        if (head && !*l) {
            head = false;
            continue;
        }
        const char *colon = strchr(l, ':');
        if (!colon)
            continue;
        char *name = g_strstrip(g_strndup(l, (size_t)(colon - l)));
        bool want;
        if (head) {
            want = !g_ascii_strcasecmp(name, "From") || !g_ascii_strcasecmp(name, "To") ||
                   !g_ascii_strcasecmp(name, "Cc") || !g_ascii_strcasecmp(name, "Reply-To") ||
                   !g_ascii_strcasecmp(name, "Sender") ||
                   !g_ascii_strcasecmp(name, "X-Original-From");
        } else {
            want = (g_str_has_suffix(name, "-by") || !strcmp(name, "Cc")) && !strchr(name, ' ');
        }
        g_free(name);
        if (!want)
            continue;
        GString *v = g_string_new(colon + 1);
        while (head && lines[i + 1] && (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t')) {
            g_strchomp(lines[i + 1]);
            g_string_append(v, lines[++i]);
        }
        compare_addr(path, v->str, n);
        g_string_free(v, TRUE);
    }
    g_strfreev(lines);
    g_free(text);
}

/* The addresses of the corpus, and forms at the edges of the common ones:
 * read without GMime or not, each gives what GMime's parse gives. */
static void test_addr_parse_equals_gmime(void **state)
{
    (void)state;
    size_t n = 0;
    char *dir = corpus_path("");
    each_corpus_file(dir, compare_addrs_of, &n);
    free(dir);
    print_message("# %zu address values of the corpus compared\n", n);
    assert_true(n >= 5000);
    static const char *const edges[] = {
        "A <a@b.c>", " A  B\t<a@b.c> ", "<a@b.c>", "a@b.c", "A.B. Name <a.b@c.d>",
        "A <A@B.C>", "a@b.c <a@b.c>", "A@B.C <a@b.c>", "A <a@b@c>", "A <a@>", "A <@b>",
        "A <a@b.c> x", "A <a@b.c>>", "A <<a@b.c>", "A> <a@b.c>", "A <a@b..c>", "A <.a@b.c>",
        "A <a.@b.c>", "A <a..b@c.d>", "A <a@.b>", "A <a@b.>", "A <a@xn--bcher-kva.example>",
        "A <a@b.xn--p1ai>", "A <a@sub.xn--p1ai.b>", "A <a+tag@b-c.d>", "A <a@[1.2.3.4]>",
        "\"A, B\" <a@b.c>", "A (B) <a@b.c>", "a@b.c (A)", "A <a@b.c>, C <c@d.e>", "g: a@b.c;",
        "=?utf-8?q?A?= <a@b.c>", "A\\B <a@b.c>", "A <a b@c.d>", "a b@c.d", "a@b c.d", "",
        "   ", "A", "<>", "A <>", "a@b", "A <a@b>", "a_b@c.d", "A <a%b@c.d>", "A\x01 <a@b.c>",
        "Ren\xc3\xa9 <r@x.y>", "A <r\xc3\xa9@x.y>", "A <a@b.c>\t", "A\t<a@b.c>",
        "A <a@B.C>", "<a@b.c> A", "a@b.c>", "A <a@b.c", "A <a:b@c.d>", "A; <a@b.c>",
        "@b.c", "a@", "a@b.c.", "-a@b.c", "a@-b.c", "a@b-.c", "a@1.2", "A <a=?b@c.d>",
        /* the forms read without GMime's parser (angle_addr()), and next to them */
        "\"Tian, Kevin\" <kevin.tian@intel.com>", "A B (IBM) <a@b.c>", "\"A (x)\" <a@b.c>",
        "=?UTF-8?B?Q8OpZHJpYyBMZSBHb2F0ZXI=?= <clg@kaod.org>", "C\xc3\xa9" "dric <c@d.e>",
        "\"A\" <a@b.c> [1]", "A (unbalanced <a@b.c>", "A) <a@b.c>", "\"A\\\"B\" <a@b.c>",
        "\"A\" \"B\" <a@b.c>", "A <a@b.c> (c)", "A (B (C)) <a@b.c>", "\"\" <a@b.c>",
        "\"A <x@y.z>\" <a@b.c>", "A@x <a@b.c>", "G: A <a@b.c>;", "\"A\"<a@b.c>",
        "(c) A <a@b.c>", "A (c)<a@b.c>", "\"A\" <a@b.c>  ", "A (\"q\") <a@b.c>",
        "\"unterminated <a@b.c>", "A\xff <a@b.c>", "\"A\x01\" <a@b.c>", "A. B. <a@b.c>",
        "=?iso-8859-1?q?Ren=E9?= <r@x.y>", "\"=?utf-8?q?A?=\" <a@b.c>", "A [B] <a@b.c>",
        "\"A\" <a@xn--bcher-kva.example>", "\"A\" <a@b..c>", "\"A\" <A@B.C>", "X, C <c@d.e>",
        "X; C <c@d.e>", "X: C <c@d.e>", "(X, C <c@d.e>",
        /* a quote inside an encoded word; a leading "." (GMime: no mailbox) */
        "=?us-ascii?q?\"?= <a@b.c>", "\xc3\xa9" "=?utf-8?q?\"?=<a.b@c-d.e>", ". \"x\" <a@b.c>",
        ".(c) <a@b.c>", ".\xc3\xa9" " <a@b.c>", "(c). <a@b.c>", " .Jr (x) <a@b.c>",
        ".=?utf-8?q?x?=-<a@b>", ". <a@b.c>", "  .A <a@b.c>", "A. <a@b.c>", "(c) A. <a@b.c>",
        /* text after the address; no "@" at all */
        "A <a@b.c> [1]", "A <a@b.c>[1]", "A <a@b.c> x y", "A <a@b.c> (c", "A <a@b.c> \"q",
        "A <a@b.c> <d@e.f>", "A <a@b.c> , d@e.f", "A <a@b.c> ; x", "A <a@b.c> g: d@e.f;",
        "A <a@b.c> >", "A <a@b.c>x", "A <a@b.c> [1] (x", "A <a@b.c> \\", "A <a@b.c> x\x01",
        "A <a@b.c> \xc3\xa9", "A <a@b.c> :", "A <a@b.c> @", "A <a@b.c> d@e.f", "A <a@b.c> ,",
        "Jordan Niethe", "Jordan Niethe (IBM)", "\"Jordan\" Niethe", "a b c", "a.b", "<a>",
        "A <a>", "x: y;", "(a@b.c)", "\"a@b.c\"", "=?utf-8?q?a=40b.c?=", "A =?utf-8?q?x?=",
        "A (c", "\"A", "A\\", ",", ";", ":", "<", ">", "A <a> [1]",
        "A <a@b.c> (Comment)", "A <a@b.c>(c)", "A <a@b.c> (c) (d)", "A <a@b.c> (c) x",
        "A <a@b.c> ((c))", "A <a@b.c> (c))", "A <a@b.c> (c\\)", "A <a@b.c> (\"c\")",
        "A <a@b.c> (c", "A <a@b.c> )", "A <a@b.c> (=?UTF-8?B?w6k=?=)", "A <a@b.c> (c) , d@e.f",
        "A (zzz)  U  Thor  <a.u.thor@example.com> (Comment)", "A <a@b.c> (\xc3\xa9)",
        "A <a@b.c> (c)(", "A <a@b.c> ()",
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        compare_addr("edge", edges[i], &n);
}

static void test_plain_path_equals_gmime_on_the_corpus(void **state)
{
    (void)state;
    size_t count[2] = { 0, 0 };
    char *dir = corpus_path("");
    each_corpus_file(dir, compare_file, count);
    free(dir);
    size_t files = count[0], plain = count[1];
    print_message("# %zu corpus files, %zu read by the plain path\n", files, plain);
    assert_true(files >= 1500);
    assert_true(plain >= 1000);   /* most list mail is plain text */
}

/* Headers at the edges of the plain path: each mail either takes it or
 * not, and gives GMime's fields either way. */
static void test_plain_path_edges(void **state)
{
    (void)state;
    static const char *const mails[] = {
        /* taken: the simplest forms */
        "Subject: [PATCH] a\nFrom: A <a@b.c>\nMessage-ID: <1@b>\n\nbody\n",
        "Subject: [PATCH] a\n\n",
        "Subject: x\nContent-Type: text/plain; charset=\"UTF-8\"; format=flowed\n\nb\n",
        "Subject: x\nContent-Type: TEXT/PLAIN;\n charset=us-ascii\nContent-Transfer-Encoding: 8BIT\n\nb\n",
        "Subject: x\nContent-Type: text/plain;\nContent-Disposition: inline\n\nb\n",
        "Subject : spaced name\nFrom\t: A <a@b.c>\n\nb\n",
        "Subject: first\nSubject: second\nMessage-Id: <x@y>\nMessage-ID: <z@y>\n\nb\n",
        "Subject:\n folded\n\tagain\nX-Empty:\nIn-Reply-To: <p@q>\n\n\n\nbody after blanks\n",
        "Subject: =?UTF-8?q?caf=C3=A9?=\nFrom: =?iso-8859-1?q?Ren=E9?= <r@x.y>\n\n\xc3\xa9 8-bit body\n",
        "Subject: x\nX-Patchdigest-Digest: yes\n\nb\n",
        "Subject: invalid \xff utf-8\n\nbody \xfe\n",
        "Subject: x\r\nFrom: a@b\r\n\r\nCRLF body\r\n",
        /* not taken: GMime decides */
        "Subject: x\nContent-Type: text/plain; name=a.patch\n\nb\n",
        "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9\n",
        "Subject: x\nContent-Type: text/plain; charset=utf8\n\nb\n",
        "Subject: x\nContent-Type: text/html\n\n<p>b</p>\n",
        "Subject: x\nContent-Type: text\n\nb\n",
        "Subject: x\nContent-Type: text/plain (comment)\n\nb\n",
        "Subject: x\nContent-Type: text/plain; charset*=utf-8''x\n\nb\n",
        "Subject: x\nContent-Type: text/plain; charset=\"utf\\-8\"\n\nb\n",
        "Subject: x\nContent-Type: text/plain\nContent-Type: text/html\n\nb\n",
        "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9=\n\n",
        "Subject: x\nContent-Transfer-Encoding: base64\n\nYm9keQo=\n",
        "Subject: x\nContent-Disposition: attachment; filename=x.diff\n\nb\n",
        "Subject: x\nContent-Disposition: inline; filename=\"x.patch\"\n\nb\n",
        "Subject: x\nFrom: a@b\nnot a header line\nbody\n",
        "From someone Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n",
        "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nin\n--b--\n",
        "no headers at all\n",
        "",
    };
    size_t plain = 0;
    for (size_t i = 0; i < sizeof mails / sizeof mails[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "edge mail %zu", i);
        plain += compare_paths(name, mails[i], strlen(mails[i]));
    }
    assert_int_equal(plain, 12);   /* the first twelve */
    /* a NUL byte in the header block leaves the mail to GMime */
    static const char nul[] = "Subject: a\0b\nFrom: a@b\n\nbody\n";
    assert_false(compare_paths("NUL header", nul, sizeof nul - 1));
    static const char nulbody[] = "Subject: ab\nFrom: a@b\n\nbo\0dy\n";
    assert_true(compare_paths("NUL body", nulbody, sizeof nulbody - 1));
}

/* pd_utf8_make_valid() gives what g_utf8_make_valid() gives, on random
 * bytes weighted towards UTF-8's lead and continuation bytes. */
static void test_utf8_make_valid_equals_glib(void **state)
{
    (void)state;
    static const unsigned char pick[] = { 'a', '\n', 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                          0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef,
                                          0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff };
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        unsigned char buf[24];
        size_t n = (size_t)(round % 24);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = pick[(seed >> 16) % sizeof pick];
        }
        gchar *want = g_utf8_make_valid((const gchar *)buf, (gssize)n);
        char *got = pd_utf8_make_valid((const char *)buf, n);
        assert_non_null(got);
        assert_string_equal(got, want);
        g_free(want);
        free(got);
    }
}

/* A body's CR and NUL bytes are dropped and nothing else, wherever they
 * stand: bodies of random lengths with CRs and NULs at random places, few
 * or many (a CR every few bytes, as a crafted body has them), against
 * the bytes kept one at a time. */
static void test_body_cr_nul_dropped(void **state)
{
    (void)state;
    static const char head[] = "From: a@b.c\r\nMessage-ID: <crnul@x>\r\n\r\n";
    unsigned seed = 99;
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % 300);
        unsigned every = 1 + (unsigned)(round % 7) * 5;   /* 1 in 1 .. 1 in 31 */
        char *mail = malloc(sizeof head + n), *want = malloc(n + 1);
        assert_non_null(mail);
        assert_non_null(want);
        memcpy(mail, head, sizeof head - 1);
        char *body = mail + sizeof head - 1;
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            char c = r % every == 0 ? (r & 64 ? '\r' : '\0') : (char)('a' + r % 26);
            if (i + 1 == n && c == '\0')
                c = '\r';   /* not a NUL last: the parse of a NUL-ended mail is not this test's */
            body[i] = c;
            if (c != '\r' && c != '\0')
                want[w++] = c;
        }
        want[w] = '\0';
        struct pd_mail m;
        assert_int_equal(pd_mail_parse(&m, mail, sizeof head - 1 + n), 0);
        if (w) {
            assert_non_null(m.text_body);
            assert_string_equal(m.text_body, want);
        }
        pd_mail_clear(&m);
        free(mail);
        free(want);
    }
}

/* pd_utoa(), pd_itoa() and the pd_buf forms write what printf writes,
 * at the ends of the range and around each power of ten. */
static void test_decimal_like_printf(void **state)
{
    (void)state;
    char got[PD_UTOA_MAX + 1], want[32];
    int64_t edges[] = { 0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        snprintf(want, sizeof want, "%" PRId64, edges[i]);
        assert_int_equal(pd_itoa(edges[i], got), strlen(want));
        assert_string_equal(got, want);
    }
    pd_buf b = PD_BUF_INIT;
    for (uint64_t p = 1, k = 0; k < 20; k++, p *= 10)
        for (uint64_t v = p - 1; v <= p + 1; v++) {
            snprintf(want, sizeof want, "%" PRIu64, v);
            assert_int_equal(pd_utoa(v, got), strlen(want));
            assert_string_equal(got, want);
            pd_buf_reset(&b);
            assert_int_equal(pd_buf_put_uint(&b, v), 0);
            assert_string_equal(b.data, want);
            pd_buf_reset(&b);
            assert_int_equal(pd_buf_put_int(&b, -(int64_t)(v / 2)), 0);
            snprintf(want, sizeof want, "%" PRId64, -(int64_t)(v / 2));
            assert_string_equal(b.data, want);
        }
    snprintf(want, sizeof want, "%" PRIu64, UINT64_MAX);
    pd_utoa(UINT64_MAX, got);
    assert_string_equal(got, want);
    pd_buf_free(&b);
}

/* pd_buf_printf() appends exactly the formatted text whether it fits the
 * room the buffer has, fits it to the byte, or needs more (a cut text is
 * written over, and the buffer stays a C string). */
static void test_buf_printf_room(void **state)
{
    (void)state;
    for (size_t pre = 0; pre < 70; pre++) {
        for (size_t add = 0; add < 140; add += 3) {
            pd_buf b = PD_BUF_INIT;
            char want[256];
            for (size_t i = 0; i < pre; i++)
                assert_int_equal(pd_buf_putc(&b, (char)('a' + i % 26)), 0);
            char arg[160];
            for (size_t i = 0; i < add; i++)
                arg[i] = (char)('A' + i % 26);
            arg[add] = '\0';
            snprintf(want, sizeof want, "%.*s<%s>", (int)pre, b.data ? b.data : "", arg);
            assert_int_equal(pd_buf_printf(&b, "<%s>", arg), 0);
            assert_int_equal(b.len, pre + add + 2);
            assert_string_equal(b.data, want);
            assert_true(b.cap > b.len);
            pd_buf_free(&b);
        }
    }
}

/* pd_utf8_valid() answers what g_utf8_validate() does: on random strings
 * of ASCII runs, NULs and the bytes at the edges of Unicode's table (so
 * that every byte offset in a word holds them), and on every corpus file,
 * whole and cut short by one to three bytes. */
static void utf8_valid_compare(const char *path, const char *data, size_t len, void *arg)
{
    size_t *n = arg;
    for (size_t cut = 0; cut <= 3 && cut <= len; cut++) {
        bool want = g_utf8_validate(data, (gssize)(len - cut), NULL);
        if (pd_utf8_valid(data, len - cut) != want)
            fail_msg("%s less %zu bytes: pd_utf8_valid says %d, GLib %d", path, cut, !want,
                     want);
        n[want ? 1 : 0]++;
    }
}

static void test_utf8_valid_equals_glib(void **state)
{
    (void)state;
    /* well-formed pieces (ASCII runs, sequences of 2 to 4 bytes at the
     * table's edges), and one in ten a piece that is not: NUL, a lone
     * continuation byte, an overlong form, a surrogate, past U+10FFFF, a
     * sequence cut short */
    static const char *good[] = { "a", "aaaaaaa", "aaaaaaaaaaaa", "\n", "\x7f", "\xc2\x80",
                                  "\xdf\xbf", "\xe0\xa0\x80", "\xe2\x82\xac", "\xed\x9f\xbf",
                                  "\xee\x80\x80", "\xef\xbf\xbd", "\xf0\x90\x80\x80",
                                  "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf" };
    static const char *bad[] = { "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xe0\x80\x80",
                                 "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xe2\x82",
                                 "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                 "\xff", "\xf0\x9d\x84" };
    unsigned seed = 4242;
    size_t valid = 0, rounds = 200000;
    for (size_t round = 0; round < rounds; round++) {
        char buf[64];
        size_t n = 0, want_len = round % 40;
        bool nul = round % 97 == 0;   /* and now and then a NUL */
        while (n < want_len) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            const char *piece = r % 10 == 0 ? bad[(r / 10) % (sizeof bad / sizeof bad[0])]
                                            : good[(r / 10) % (sizeof good / sizeof good[0])];
            size_t pl = strlen(piece);
            if (n + pl > sizeof buf - 1)
                break;
            memcpy(buf + n, piece, pl);
            n += pl;
        }
        if (nul && n)
            buf[n / 2] = '\0';
        bool want = g_utf8_validate(buf, (gssize)n, NULL);
        assert_int_equal(pd_utf8_valid(buf, n), want);
        valid += want;
    }
    /* both answers, many times each */
    print_message("# random: %zu of %zu valid\n", valid, rounds);
    assert_true(valid > rounds / 10 && valid < rounds - rounds / 10);
    size_t n[2] = { 0, 0 };
    char *dir = corpus_path("");
    each_corpus_file(dir, utf8_valid_compare, n);
    free(dir);
    print_message("# corpus: %zu valid, %zu not\n", n[1], n[0]);
    assert_true(n[1] >= 4000 && n[0] >= 10);
}

/* pd_sha1_hex() (with the CPU's SHA extensions where it has them) and
 * pd_sha1_hex_sw() give GLib's SHA-1 on every length around the block and
 * padding edges (0 to 300 bytes) and on a megabyte, and the FIPS 180
 * examples. */
static void sha1_both(const void *p, size_t n, char got[41])
{
    char sw[41];
    pd_sha1_hex(p, n, got);
    pd_sha1_hex_sw(p, n, sw);
    assert_string_equal(got, sw);
}

/* pd_base64_append() (digest subjects, normalized encoded words; GLib's
 * g_base64_encode() before GMime was loaded only when needed) gives what
 * GLib gives, for every length and byte. */
static void test_base64_equals_glib(void **state)
{
    (void)state;
    unsigned char buf[600];
    unsigned seed = 4242;
    for (size_t i = 0; i < sizeof buf; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    for (size_t n = 0; n <= sizeof buf - 64; n++) {
        pd_buf b = PD_BUF_INIT;
        assert_int_equal(pd_buf_puts(&b, "x"), 0);   /* appends after what is there */
        assert_int_equal(pd_base64_append(&b, buf + (n % 64), n), 0);
        gchar *want = g_base64_encode(buf + (n % 64), n);
        assert_string_equal(b.data + 1, want);
        assert_int_equal(b.len, 1 + strlen(want));
        g_free(want);
        pd_buf_free(&b);
    }
}

static void test_sha1_equals_glib(void **state)
{
    (void)state;
    char got[41];
#if defined(__x86_64__)
    unsigned a, b, c, d;
    print_message("# SHA-1 with the CPU's SHA extensions: %s\n",
                  __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) ? "yes" : "no");
#endif
    sha1_both("abc", 3, got);
    assert_string_equal(got, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1_both("", 0, got);
    assert_string_equal(got, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    static const char m2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1_both(m2, strlen(m2), got);
    assert_string_equal(got, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    size_t big = 1 << 20;
    unsigned char *buf = malloc(big);
    assert_non_null(buf);
    unsigned seed = 777;
    for (size_t i = 0; i < big; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    for (size_t n = 0; n <= 300; n++) {
        gchar *want = g_compute_checksum_for_data(G_CHECKSUM_SHA1, buf + n, n);
        sha1_both(buf + n, n, got);
        assert_string_equal(got, want);
        g_free(want);
    }
    gchar *want = g_compute_checksum_for_data(G_CHECKSUM_SHA1, buf, big);
    sha1_both(buf, big, got);
    assert_string_equal(got, want);
    g_free(want);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_equals_glib),
        cmocka_unit_test(test_sha1_equals_glib),
        cmocka_unit_test(test_utf8_valid_equals_glib),
        cmocka_unit_test(test_body_cr_nul_dropped),
        cmocka_unit_test(test_buf_printf_room),
        cmocka_unit_test(test_decimal_like_printf),
        cmocka_unit_test(test_utf8_make_valid_equals_glib),
        cmocka_unit_test(test_plain_path_equals_gmime_on_the_corpus),
        cmocka_unit_test(test_addr_parse_equals_gmime),
        cmocka_unit_test(test_plain_path_edges),
        cmocka_unit_test(test_multipart_first_text_part),
        cmocka_unit_test(test_multipart_nested),
        cmocka_unit_test(test_multipart_alternative_html_first),
        cmocka_unit_test(test_multipart_skips_non_text),
        cmocka_unit_test(test_text_parts_with_filename_are_attachments),
        cmocka_unit_test(test_two_text_bodies_first_wins),
        cmocka_unit_test(test_embedded_message_not_entered),
        cmocka_unit_test(test_quoted_printable_body),
        cmocka_unit_test(test_quoted_printable_unknown_charset),
        cmocka_unit_test(test_iso_2022_jp_body),
        cmocka_unit_test(test_utf8_headers_and_body),
        cmocka_unit_test(test_base64_body_crs_dropped),
        cmocka_unit_test(test_nul_bytes_plain),
        cmocka_unit_test(test_nul_bytes_base64),
        cmocka_unit_test(test_attached_patch_part),
        cmocka_unit_test(test_patch_part_kinds),
        cmocka_unit_test(test_base64_and_latin1_body),
        cmocka_unit_test(test_invalid_utf8_body_repaired),
        cmocka_unit_test(test_headers_unfolded_and_decoded),
        cmocka_unit_test(test_subject_controls_become_spaces),
        cmocka_unit_test(test_marker_header_and_raw_headers),
        cmocka_unit_test(test_mid_normalize),
        cmocka_unit_test(test_message_id_header_forms),
        cmocka_unit_test(test_references_order),
        cmocka_unit_test(test_in_reply_to_forms),
        cmocka_unit_test(test_synthetic_message_id),
        cmocka_unit_test(test_synthetic_message_id_line_endings),
        cmocka_unit_test(test_garbage_empty),
        cmocka_unit_test(test_garbage_random_bytes),
        cmocka_unit_test(test_garbage_huge_header_line),
        cmocka_unit_test(test_garbage_deeply_nested_multiparts),
        cmocka_unit_test(test_garbage_headers_only_and_binary_header),
        cmocka_unit_test(test_header_block_ended_by_a_body_line),
        cmocka_unit_test(test_eight_bit_ids_made_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
