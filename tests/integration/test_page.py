#!/usr/bin/env python3
"""The patch page (Markdown), as in reference 004.

Window 1: reference 004's ten entries, rebuilt as mail by
tests/golden/mkpage.py (each with its header block as the page shows it),
go through the real milter over one connection; `patchdigest flush` with
DigestFormat both and a DigestPage pattern must write the page file equal to
004 entry by entry, with its defect fixed (the Bill Wendling title no longer
runs into its From line), mail it as the text/markdown second part of a
multipart/mixed digest, and `render --markdown` must print the same page.

Window 2: hostile mail (fences, `#` lines, HTML, links and backslashes in
subjects, names and bodies; an RFC 2047 subject holding CR and LF; bodies in
quoted-printable Latin-1 and base64; a cover and two patches of a series)
must give a well-formed page: cmark's XML has, per entry, exactly one level-4
heading, one level-5 heading and one code block, and nothing else; headings
hold only text; `cmark --unsafe` renders no HTML a sender wrote; the code
blocks hold the decoded bodies; only the cover and patch 1 of the series are
entries, and Redis kept no header block for patch 2.  PageHeaders narrows
the block (checked with render --markdown against a second config).

Needs cmark (Debian package cmark).  About 6 seconds."""
import email
import email.policy
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests", "golden"))
import mkpage  # noqa: E402

LIST = "kvm.vger.kernel.org"
NS = "{http://commonmark.org/xml/1.0}"


def entries_of(page):
    """The page split at its '#### ' lines (only entry starts hold them
    outside code blocks in these pages)."""
    parts = re.split(r"(?m)^(?=#### )", page)
    return [p for p in parts if p]


OUTCOME_LINE = re.compile(r"^(Supersedes|Review|Applied|Link): ")


def without_outcomes(entry):
    """An entry without the paragraph of outcome lines (Supersedes, Review,
    Applied, Link) under its ##### line, which the reference page predates;
    and those lines, their hard-break backslashes dropped."""
    lines = entry.split("\n")
    if len(lines) > 3 and lines[1].startswith("##### ") and lines[2] == "" \
            and OUTCOME_LINE.match(lines[3]):
        j = 3
        while j < len(lines) and lines[j] != "":
            j += 1
        return "\n".join(lines[:2] + lines[j:]), [x.rstrip("\\") for x in lines[3:j]]
    return entry, []


def cmark_xml(page):
    r = subprocess.run(["cmark", "--to", "xml"], input=page.encode(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("cmark: " + r.stderr.decode(errors="replace"))
    return ET.fromstring(r.stdout)


def text_of(node):
    """The text a node renders (text and code nodes, autolinks' text)."""
    out = []
    for n in node.iter():
        if n.tag in (NS + "text", NS + "code") and n.text:
            out.append(n.text)
        elif n.tag in (NS + "softbreak", NS + "linebreak"):
            out.append(" ")
    return "".join(out)


def structure(page, n):
    """Problems with the page's block structure: n entries, each one level-4
    heading, one level-5 heading, one paragraph (the outcome lines: text
    and line breaks only) and one code block; headings hold text only (the
    level-5 one may hold one autolink)."""
    doc = cmark_xml(page)
    kids = list(doc)
    got = [(k.tag[len(NS):], k.get("level")) for k in kids]
    want = [("heading", "4"), ("heading", "5"), ("paragraph", None), ("code_block", None)] * n
    probs = []
    if got != want:
        probs.append("blocks %r, want %d x (h4, h5, paragraph, code_block)" % (got[:12], n))
    for k in kids:
        if k.tag == NS + "paragraph":
            inner = {c.tag[len(NS):] for c in k.iter()} - {"paragraph", "text", "linebreak"}
            if inner or not text_of(k).startswith(("Supersedes: ", "Review: ")):
                probs.append("outcome paragraph %r holds %s" % (text_of(k)[:60], sorted(inner)))
    for k in kids:
        if k.tag != NS + "heading":
            continue
        inner = {c.tag[len(NS):] for c in k.iter()} - {"heading", "text"}
        if k.get("level") == "5":
            inner -= {"link"}
        if inner:
            probs.append("heading %r holds %s" % (text_of(k)[:60], sorted(inner)))
    return doc, probs


def read_mail(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def parts_of(msg):
    if not msg.is_multipart():
        return [(msg.get_content_type(), msg.get_content())]
    return [(p.get_content_type(), p.get_content()) for p in msg.iter_parts()]


# ---- window 1: reference 004 ----

def golden(env, work):
    entries = mkpage.load()
    result(len(entries) == 10, "004: the reference page has its ten entries",
           "%d entries" % len(entries))
    defect = [e.heading for e in entries if e.heading != e.fixed_heading()]
    result(len(defect) == 1 and "clangFrom: Bill Wendling" in defect[0],
           "004: exactly one reference title differs from its Subject: the Bill Wendling one",
           repr(defect))
    files = mkpage.write(entries, os.path.join(work, "mail1"))
    s = env.feed(files, conns=1, per_conn=len(files))
    got = env.wait_recorded(len(files), mails=len(files), timeout=30)
    result(s["rc"] == 0 and got is not None and got["mails"] == len(files),
           "004: %d mails fed in the page's order over one connection, all recorded"
           % len(files), "%r %r" % (s, got))
    r = env.cli("flush")
    page_path = os.path.join(work, "pages", LIST, "1.md")
    result(r.returncode == 0 and os.path.exists(page_path),
           "004: flush exits 0 and writes the page to DigestPage (%l/%w.md)",
           "rc %d\n%s%s\n%r" % (r.returncode, r.stdout, r.stderr,
                                 glob.glob(os.path.join(work, "pages", "**"), recursive=True)))
    if not os.path.exists(page_path):
        return
    with open(page_path, encoding="utf-8") as f:
        page = f.read()
    want = entries_of(mkpage.expected_page(entries))
    have = entries_of(page)
    result(len(have) == len(want), "004: the page has %d entries" % len(want),
           "%d entries" % len(have))
    for i, w in enumerate(want):
        g = have[i] if i < len(have) else ""
        g, outcome = without_outcomes(g)
        result(len(outcome) >= 1 and all(OUTCOME_LINE.match(x) for x in outcome)
               and any(x.startswith("Review: ") for x in outcome),
               "004: entry %d shows its series' Review: line under its ##### line" % (i + 1),
               repr(outcome))
        name = "004: entry %d %.50s equals the reference" % (i + 1, w.split("\n")[0][5:])
        if entries[i].heading != entries[i].fixed_heading():
            name += " (title fixed: one line, no From: in it)"
        if g == w:
            result(True, name)
        else:
            import difflib
            result(False, name, "\n".join(list(difflib.unified_diff(
                w.split("\n"), g.split("\n"), "reference", "page", lineterm="", n=1))[:40]))
    _, probs = structure(page, len(want))
    result(not probs, "004: cmark reads one h4, one h5, the outcome lines and one code block per entry",
           "\n".join(probs))

    sent = sorted(glob.glob(os.path.join(work, "sent.*.eml")))
    ok = len(sent) == 1
    parts = parts_of(read_mail(sent[0])) if ok else []
    types = [t for t, _ in parts]
    result(ok and types == ["text/plain", "text/markdown"],
           "004: the digest mail is multipart/mixed: the text digest, then the page",
           "%d mails; parts %r" % (len(sent), types))
    if ok and types == ["text/plain", "text/markdown"]:
        msg = read_mail(sent[0])
        result(msg.get_content_type() == "multipart/mixed" and
               parts[0][1].count("\nNew:  ") == 10 and parts[1][1] == page,
               "004: its text part has the 10 New: entries, its markdown part is the page file",
               "type %s, %d New:, page part equal: %s" % (
                   msg.get_content_type(), parts[0][1].count("\nNew:  "), parts[1][1] == page))
    r = env.cli("render", "--markdown", "--window", "1")
    result(r.returncode == 0 and r.stdout == page,
           "004: render --markdown --window 1 prints the same page", r.stderr)

    # PageHeaders narrows the block, order kept, continuation lines kept
    conf2 = os.path.join(env.dir, "narrow.conf")
    with open(env.conf) as f, open(conf2, "w") as g:
        g.write(f.read() + "PageHeaders Subject, from Message-Id\n")
    os.chmod(conf2, 0o640)
    r = env.cli("render", "--markdown", "--window", "1", conf=conf2)
    e1 = entries_of(r.stdout)[0] if r.returncode == 0 and r.stdout else ""
    block = e1.split("```c\n", 1)[-1].split("\n\n", 1)[0]
    want_block = ("From: Shenming Lu <lushenming@huawei.com>\n"
                  "Subject: [RFC PATCH v2 1/6] iommu: Evolve to support more scenarios "
                  "of using\n IOPF\n"
                  "Message-ID: <20210309062207.505-2-lushenming@huawei.com>")
    result(block == want_block,
           "PageHeaders Subject, from Message-Id: those headers only, as received, in order",
           "%s\n---\n%s" % (block, r.stderr))


# ---- window 2: hostile mail ----

def hdrs(mid, subject, frm="Mallory <mallory@evil.example>", extra=""):
    return ("From: %s\nTo: kvm@vger.kernel.org\nSubject: %s\nMessage-ID: <%s>\n"
            "Date: Tue, 9 Mar 2021 10:00:00 +0000\nList-ID: <kvm.vger.kernel.org>\n"
            "MIME-Version: 1.0\n%s" % (frm, subject, mid, extra))


DIFF = ("\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-a\n+b\n"
        "-- \n2.30.1\n")
STAT = "---\n a.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n"

H1_SUBJECT = ("[PATCH] ```` fence <script>alert(1)</script> &amp; *bold* "
              "[x](javascript:alert(1)) ![i](http://t.example/p.png) \\ `code` ##")
H1_BODY = ("```\n#### fake heading\n</code></pre><script>alert(2)</script>\n"
           "`````````````\n~~~\n<!--\n[ref]: javascript:alert(3)\n\n" + STAT)
H2_NAME = "Zoë <b>Evil</b> `x` [y](javascript:z)"
H3_RUN = "`" * 12


def hostile(env, work):
    import base64
    import quopri
    mails = []
    # 1: everything in the subject and an 8bit body, a folded header with fences
    mails.append(hdrs("h1@evil.example", H1_SUBJECT,
                      extra="Content-Type: text/plain; charset=utf-8\n"
                            "X-Evil: ``` folded\n ````````` </pre> continued\n") +
                 "\n" + H1_BODY + DIFF)
    # 2: RFC 2047 subject with LF and CR, encoded name, QP Latin-1 body
    subj2 = "=?UTF-8?Q?[PATCH]_one=0A####_two=0D=0A```_three?="
    name2 = "=?UTF-8?B?%s?=" % base64.b64encode(H2_NAME.encode()).decode()
    body2 = ("Caf\xe9 ```` au lait\n#### nope\n\n" + STAT).encode("latin-1")
    mails.append(hdrs("h2@evil.example", subj2, frm="%s <zoe@evil.example>" % name2,
                      extra="Content-Type: text/plain; charset=iso-8859-1\n"
                            "Content-Transfer-Encoding: quoted-printable\n") +
                 "\n" + quopri.encodestring(body2).decode() + DIFF)
    # 3: base64 body with a long run of backticks
    body3 = ("Over the fence:\n" + H3_RUN + "\n```c\n# not a heading\n\n" + STAT +
             DIFF).encode()
    mails.append(hdrs("h3@evil.example", "[PATCH v2] base64 body",
                      extra="Content-Type: text/plain; charset=utf-8\n"
                            "Content-Transfer-Encoding: base64\n") +
                 "\n" + base64.encodebytes(body3).decode())
    # 4-6: a cover and two patches: entries for the cover and patch 1 only
    mails.append(hdrs("c2-0@x.example", "[PATCH 0/2] a series") +
                 "\nThe cover.\n\nA (2):\n  one\n  two\n\n a.c | 2 +-\n"
                 " 1 file changed, 1 insertion(+), 1 deletion(-)\n\n-- \n2.30.1\n")
    for i in (1, 2):
        mails.append(hdrs("c2-%d@x.example" % i, "[PATCH %d/2] part %d" % (i, i),
                          extra="In-Reply-To: <c2-0@x.example>\n"
                                "References: <c2-0@x.example>\n") +
                     "\nPatch %d.\n\n%s%s" % (i, STAT, DIFF))
    files = []
    d = os.path.join(work, "mail2")
    os.makedirs(d)
    for n, m in enumerate(mails):
        p = os.path.join(d, "%03d.eml" % n)
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write(m)
        files.append(p)
    s = env.feed(files, conns=1, per_conn=len(files))
    got = env.wait_recorded(len(files), mails=len(files), timeout=30)
    result(s["rc"] == 0 and got is not None and got["mails"] == len(files),
           "hostile: %d mails fed and recorded" % len(files), "%r %r" % (s, got))
    r = env.cli("flush")
    page_path = os.path.join(work, "pages", LIST, "2.md")
    result(r.returncode == 0 and os.path.exists(page_path),
           "hostile: flush writes window 2's page", r.stdout + r.stderr)
    if not os.path.exists(page_path):
        return
    with open(page_path, encoding="utf-8") as f:
        page = f.read()
    doc, probs = structure(page, 5)
    result(not probs, "hostile: cmark reads exactly one h4, one h5, the outcome lines and one code block for "
           "each of the 5 entries (3 patches, cover, patch 1/2), nothing else",
           "\n".join(probs) + "\n" + page[:3000])
    base = "pd:{%s}:" % LIST
    h2 = hashlib.sha1(b"c2-2@x.example").hexdigest()
    h1 = hashlib.sha1(b"c2-1@x.example").hexdigest()
    e2 = "1" if env.mail_field(base, h2, "headers") else "0"
    e1 = "1" if env.mail_field(base, h1, "headers") else "0"
    c2 = "1" if env.mail_field(base, h2, "class") else "0"
    # the writer sends every block ahead (H:<sha1>); the record keeps patch 1's only
    k1 = env.redis_cli("EXISTS", base + "H:" + h1).strip()
    k2 = env.redis_cli("EXISTS", base + "H:" + h2).strip()
    result(e1 == "1" and e2 == "0" and c2 == "1" and (k1, k2) == ("1", "0"),
           "hostile: Redis keeps the header block of patch 1/2 (an entry), not of patch 2/2",
           "patch 1 %r, patch 2 %r (class %r), H: keys %r %r" % (e1, e2, c2, k1, k2))
    # per entry: h4, h5, the outcome lines, the code block (structure())
    kids = list(doc)
    if not result(len(kids) == 20, "hostile: the page is 5 entries of 4 blocks",
                  "%d blocks" % len(kids)):
        return
    h4 = [text_of(kids[4 * i]) for i in range(5)]
    h5 = [text_of(kids[4 * i + 1]) for i in range(5)]
    code = [kids[4 * i + 3].text or "" for i in range(5)]

    def squash(t):
        return re.sub(r"\s+", " ", t).strip()
    want4 = [H1_SUBJECT, "[PATCH] one #### two ``` three", "[PATCH v2] base64 body",
             "[PATCH 0/2] a series", "[PATCH 1/2] part 1"]
    result([squash(t) for t in h4] == want4,
           "hostile: every title renders as the subject's text, on one line",
           "%r\nwant %r" % (h4, want4))
    result(h5[1] == "From: %s zoe@evil.example" % H2_NAME and
           h5[0] == "From: Mallory mallory@evil.example",
           "hostile: From lines: the decoded name as text, the address an autolink",
           repr(h5[:2]))
    checks = [
        ("#### fake heading" in code[0] and "</code></pre><script>alert(2)</script>" in code[0]
         and "X-Evil: ``` folded\n ````````` </pre> continued\n" in code[0]
         and "[ref]: javascript:alert(3)" in code[0], "body 1 and its folded header verbatim"),
        ("Café ```` au lait\n#### nope" in code[1], "quoted-printable Latin-1 body decoded"),
        (H3_RUN + "\n```c\n# not a heading" in code[2], "base64 body decoded"),
        (code[3].rstrip("\n").endswith(" 1 file changed, 1 insertion(+), 1 deletion(-)") and
         "-- " not in code[3], "cover text ends with its diffstat"),
        (all(c.rstrip("\n").endswith("1 deletion(-)") and "diff --git" not in c
             for c in code[:3] + code[4:]), "patch texts end with the diffstat"),
    ]
    bad = [w for ok, w in checks if not ok]
    result(not bad, "hostile: code blocks hold the headers and decoded texts as sent",
           "failed: %r\n%s" % (bad, "\n=====\n".join(code)))
    r = subprocess.run(["cmark", "--unsafe"], input=page.encode(), capture_output=True)
    html = r.stdout.decode()
    leaks = [t for t in ("<script", "<b>", "<!--", "<img") if t in html]
    leaks += re.findall(r'href="(?!mailto:)[^"]*"', html)   # only the From autolinks
    result(r.returncode == 0 and not leaks,
           "hostile: rendered even with raw HTML allowed, no sender HTML, link or image "
           "gets through (links: the From autolinks only)", "%r" % leaks)


def main():
    if not shutil.which("cmark"):
        result(False, "cmark is installed (Debian package cmark; make deps)")
        return
    work = tempfile.mkdtemp(prefix="pdpage.")
    extra = ("Sendmail cat > %s/sent.$$.eml\nDigestFrom digest@example.org\n"
             "DigestTo kvm-digest@example.org\nDigestFormat both\n"
             "DigestPage %s/pages/%%l/%%w.md\n" % (work, work))
    env = pdtest.Env(lists=((LIST, "KVM"),), extra=extra)
    try:
        env.start_milter()
        golden(env, work)
        for p in glob.glob(os.path.join(work, "sent.*.eml")):
            os.unlink(p)
        hostile(env, work)
    finally:
        env.close()
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


try:
    main()
except Exception as ex:  # noqa: BLE001
    result(False, "test_page ran to the end", repr(ex))
pdtest.finish()
