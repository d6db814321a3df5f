#!/usr/bin/env python3
"""mkwindow.py - rebuild the window of a reference digest as mail.

A reference digest (../shared/spec/00N_*.txt) is what the list's readers got
for one window.  This reads one and writes the window back as RFC 5322 mail
(.eml files, in arrival order) plus the digest patchdigest must render for
it: the reference with its defects fixed (DESIGN.md, "Digest").

Everything is derived from the reference text and these rules:

* Each `New:` entry is one mail: From = the Author line (written as the
  contributor table writes that person when the table has the same name and
  address: RFC 2047 words, quotes), Subject = the subject line, body = the
  entry's body.  A patch (i/n with i>0, or no i/n) also carries a diff; the
  patches of a series whose cover is in the digest (same version and total)
  point at the cover with In-Reply-To/References (even when they arrive
  before it).
* A body starting with an empty line had a git in-body `From:` line: the
  reference dropped the line and kept the blank after it.  The identity
  written there is the contributor row of the patch's author: named by a
  cover's shortlog listing the title, else by the first Signed-off-by, else
  the Author; among the rows with that name the one that differs from the
  header From (git writes the line only when they differ); failing all, the
  row with the Author's address.
* Bodies showing quoted-printable (=XX escapes) are decoded and sent as
  quoted-printable of the decoded text (CRs included).  The empty body is a
  multipart/mixed mail whose text part is found only by walking the parts.
  One other body goes base64 (the first non-ASCII one, else the second).
* A subject whose title is a strict prefix of a cover's shortlog title or of
  a title DESIGN.md quotes, and that is long enough for git to have folded
  it there, was folded: the rest goes on a continuation line.
* `Exist: S` / ` Skip: S` is a resend: a copy of the entry S with a new
  Message-ID at that point of the arrival order.
* Replies (Re: <entry subject>) from the contributor-table identities make
  every row's count exact; a few carry a Reviewed-by trailer.

Expected digest: the reference's tables normalised (RFC 2047 decoded, name
quotes removed, addresses and domains lower-cased, equal rows merged, count
descending then row text in byte order, at most TopN rows), the entries in
the same New/Exist sequence with the fixed title, the unfolded subject, the
decoded Author and the decoded body (CRs dropped, the blank line of in-body
From entries dropped).  The generator also counts the identities of the
mails it wrote and fails unless they reproduce the reference tables.

Usage:
  mkwindow.py [--check] [--build DIR] REFERENCE OUTDIR
      writes OUTDIR/NNN.eml in arrival order and OUTDIR/expected.json;
      --check also runs `BUILD/patchdigest classify` and
      tests/refclassify.py over them and compares with the intent.
"""

import base64
import email.header
import email.utils
import hashlib
import json
import os
import quopri
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.environ.get("PD_SPEC", os.path.join(os.path.dirname(ROOT), "shared", "spec"))
DESIGN = os.path.join(os.path.dirname(SPEC), "DESIGN.md")

LIST_IDS = {"KVM": "kvm.vger.kernel.org"}
SEP = "-" * 70
DIFF = "\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
SIGNATURE = "-- \n2.51.0\n"
TOPN = 15

H_DOMAINS = "contributor Email domains (Based on Email Body)"
H_CONTRIB = "contributors (Based on Email Body)"
H_REVIEW = "reviewers (Based on review trailers in replies)"
H_PATCHES = "===== Patch Commit Messages"

# The text part of the multipart cover whose body the reference lost.
MULTIPART_TEXT = """\
This cover letter travels as the text/plain part of a multipart/mixed
mail; the series itself is the text/x-patch attachment that follows.
A digest that takes the body of the whole mail shows it empty.

{name} (1):
  {title}

 drivers/net/tun.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)
"""

REPLY_TEXTS = (
    "Thanks, this looks good to me.",
    "I gave this a spin on my machine, no problems seen.",
    "One question inline below, otherwise fine.",
    "Agreed, let's take this one.",
)


# --------------------------------------------------------------------------
# names and addresses


def decode_words(s):
    """RFC 2047 decode (encoded words only; plain text kept as is)."""
    if "=?" not in s:
        return s
    s = re.sub(r"(\?=)\s+(=\?)", r"\1\2", s)
    out = []
    for part, cs in email.header.decode_header(s):
        out.append(part.decode(cs or "utf-8", "replace") if isinstance(part, bytes) else part)
    return "".join(out)


def split_addr(text):
    """("name as written", "addr as written") of `Name <addr>`."""
    i = text.rfind("<")
    if i < 0 or not text.endswith(">"):
        return "", text.strip()
    return text[:i].strip(), text[i + 1:-1].strip()


def clean_name(written):
    """Decoded, unquoted display name."""
    n = decode_words(written.strip())
    if len(n) >= 2 and n[0] == '"' and n[-1] == '"':
        n = n[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return re.sub(r"\s+", " ", n).strip()


class Row:
    """One row of a contributor table as the reference writes it."""

    def __init__(self, count, text):
        self.count = count
        self.text = text
        written, self.addr = split_addr(text)
        self.name = clean_name(written)
        self.key = self.addr.lower()

    def shown(self):
        return "%s <%s>" % (self.name, self.key) if self.name else "<%s>" % self.key


def header_addr(name, addr):
    """A From header value for a name and address not in the table."""
    if all(ord(c) < 128 for c in name):
        return email.utils.formataddr((name, addr))
    return email.utils.formataddr((name, addr), charset="utf-8")


# --------------------------------------------------------------------------
# subjects


TAGS = re.compile(r"^(?:\s*\[[^\]]*\])+")


def title_of(subject):
    m = TAGS.match(subject)
    return (subject[m.end():] if m else subject).strip()


def patch_tag(subject):
    """(version, index, total) of the patch tag; index/total None without i/n."""
    m = TAGS.match(subject)
    if not m:
        return None
    for tag in re.findall(r"\[([^\]]*)\]", m.group(0)):
        if re.search(r"(?<![a-z0-9])patch", tag, re.I):
            v = re.search(r"(?:(?<![a-z0-9])|(?<=patch))v(\d+)(?![a-z0-9])", tag, re.I)
            n = re.search(r"(?<![0-9])(\d+)/(\d+)(?![0-9])", tag)
            return (int(v.group(1)) if v else 1,
                    int(n.group(1)) if n else None, int(n.group(2)) if n else None)
    return None


def shortlogs(text):
    """[(author name, title)] of the git shortlog blocks in a cover text."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\S.*?) \((\d+)\):$", lines[i])
        i += 1
        if not m:
            continue
        base = None
        while i < len(lines) and lines[i].strip():
            ind = len(lines[i]) - len(lines[i].lstrip(" "))
            if ind == 0:
                break
            if base is None or ind <= base:
                base = ind
                out.append([m.group(1), lines[i].strip()])
            else:
                out[-1][1] += " " + lines[i].strip()
            i += 1
    return [(a, t) for a, t in out]


def design_titles():
    try:
        with open(DESIGN, encoding="utf-8") as f:
            return re.findall(r"`([^`\n]+)`", f.read())
    except OSError:
        return []


def fold_of(subject, candidates):
    """The continuation of a folded subject, or None."""
    title = title_of(subject)
    for c in candidates:
        c = re.sub(r"\s+", " ", c).strip()
        if title and c.startswith(title + " "):
            rest = c[len(title) + 1:]
            if len("Subject: " + subject + " " + rest.split()[0]) > 78:
                return rest
    return None


# --------------------------------------------------------------------------
# digest text (reference or rendered)


def parse_table(lines, heading):
    """Row lines under the heading line containing `heading`, or None."""
    for i, line in enumerate(lines):
        if heading in line and (line.startswith("Top ") or line.startswith("=")):
            j = i + 1
            while j < len(lines) and lines[j] == "":
                j += 1
            rows = []
            while j < len(lines) and re.match(r"^ *\d+ ", lines[j]):
                rows.append(lines[j])
                j += 1
            return rows
    return None


def table_rows(rowlines):
    out = []
    for line in rowlines:
        m = re.match(r"^ *(\d+) +(.*)$", line)
        out.append((int(m.group(1)), m.group(2)))
    return out


def parse_entries(lines):
    """The items of the "Patch Commit Messages" section: dicts with kind New
    (raw, title, subject, author, body: list of lines) or Exist (subject,
    skip); any other non-blank line is an item of kind "?"."""
    start = None
    for i, line in enumerate(lines):
        if line.startswith(H_PATCHES):
            start = i + 1
            break
    if start is None:
        return None
    items = []
    i = start
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("New:"):
            e = {"kind": "New", "raw": line,
                 "title": line[6:] if line.startswith("New:  ") else line[4:].strip(),
                 "subject": lines[i + 1] if i + 1 < n else "",
                 "author": lines[i + 2][len("Author: "):]
                 if i + 2 < n and lines[i + 2].startswith("Author: ") else None,
                 "author_raw": lines[i + 2] if i + 2 < n else ""}
            j = i + 3
            while j < n and not (lines[j] == SEP and lines[j - 1] == ""):
                j += 1
            e["body"] = lines[i + 4:j - 1] if j - 1 >= i + 4 else []
            items.append(e)
            i = j + 1
        elif line.startswith("Exist:"):
            e = {"kind": "Exist", "subject": line[len("Exist: "):],
                 "skip": lines[i + 1][len(" Skip: "):]
                 if i + 1 < n and lines[i + 1].startswith(" Skip: ") else None}
            items.append(e)
            i += 2
        elif line.strip():
            items.append({"kind": "?", "raw": line})
            i += 1
        else:
            i += 1
    return items


def parse_digest(text):
    lines = text.split("\n")
    d = {"lines": lines}
    m = re.match(r"^From ([0-9a-f]+) to ([0-9a-f]+)$", lines[0]) if lines else None
    d["from9"], d["to9"] = (m.group(1), m.group(2)) if m else (None, None)
    m = re.match(r"^(.*) mailing list update from ([0-9a-f]+) to ([0-9a-f]+)$",
                 lines[1]) if len(lines) > 1 else None
    d["name"] = m.group(1) if m else None
    d["domains"] = parse_table(lines, H_DOMAINS)
    d["contributors"] = parse_table(lines, H_CONTRIB)
    d["reviewers"] = parse_table(lines, H_REVIEW)
    d["entries"] = parse_entries(lines)
    return d


# --------------------------------------------------------------------------
# the window


class Mail:
    def __init__(self, kind, mid):
        self.kind = kind          # patch, cover, reply, resend
        self.cls = kind           # what it classifies as (a resend: its original's)
        self.series = None        # (version, total, sender) of a patch tag with i/n
        self.mid = mid
        self.headers = []         # (name, value); value may hold "\n " folds
        self.text = ""            # the text body (decoded)
        self.cte = "8bit"         # 8bit, quoted-printable, base64, multipart
        self.identity = None      # Row
        self.target = None        # for replies: the entry Mail
        self.entry = None         # for entries: the expected entry dict
        self.reviewer = None      # Row of the planted trailer
        self.ref_subject = None   # subject as the reference wrote it

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def to_bytes(self, date):
        hs = [("Date", date)] + self.headers
        out = "".join("%s: %s\n" % (n, v) for n, v in hs)
        if self.cte == "multipart":
            bnd = "=-golden-%s" % hashlib.sha1(self.mid.encode()).hexdigest()[:12]
            out += "MIME-Version: 1.0\n"
            out += 'Content-Type: multipart/mixed; boundary="%s"\n\n' % bnd
            out += "This is a multi-part message in MIME format.\n\n"
            out += "--%s\nContent-Type: text/plain; charset=UTF-8\n" % bnd
            out += "Content-Transfer-Encoding: 8bit\n\n"
            out += self.text + "\n"
            out += "--%s\nContent-Type: text/x-patch; charset=UTF-8; " % bnd
            out += 'name="0001-series.patch"\n'
            out += 'Content-Disposition: attachment; filename="0001-series.patch"\n'
            out += "Content-Transfer-Encoding: 8bit\n\n"
            out += DIFF.lstrip("\n") + "\n--%s--\n" % bnd
            return out.encode("utf-8")
        out += "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
        raw = self.text.encode("utf-8")
        if self.cte == "quoted-printable":
            body = qp_encode(raw)
        elif self.cte == "base64":
            body = base64.encodebytes(raw)
        else:
            body = raw
            if all(b < 128 for b in raw):
                self.cte = "7bit"
        out += "Content-Transfer-Encoding: %s\n\n" % self.cte
        return out.encode("utf-8") + body


def qp_encode(data):
    """Quoted-printable with "\n" as the only line break: a CR is data and
    is written =0D, as the encoders behind the reference's bodies did."""
    out = []
    for line in data.split(b"\n"):
        enc = []
        for i, b in enumerate(line):
            c = bytes([b])
            if (33 <= b <= 126 and b != 61) or (b in (9, 32) and i < len(line) - 1):
                enc.append(c.decode("ascii"))
            else:
                enc.append("=%02X" % b)
        cur = ""
        for piece in enc:
            if len(cur) + len(piece) > 75:
                out.append(cur + "=")
                cur = ""
            cur += piece
        out.append(cur)
    return "\n".join(out).encode("ascii")


class Window:
    pass


def fail(msg):
    raise ValueError(msg)


def build(text, tag="w", design=None):
    """The window of one reference digest: a Window with .mails (Mail, in
    arrival order), .eml (bytes, same order) and .expected (dict)."""
    ref = parse_digest(text)
    lines = ref["lines"]
    list_name = ref["name"]
    if list_name not in LIST_IDS:
        fail("unknown list %r" % list_name)
    list_id = LIST_IDS[list_name]
    rows = [Row(n, t) for n, t in table_rows(ref["contributors"] or [])]
    by_key = {}
    for r in rows:
        if r.key in by_key:
            fail("address %s twice in the contributor table" % r.key)
        by_key[r.key] = r
    items = ref["entries"]
    if items is None:
        fail("no patch section")
    design = design_titles() if design is None else design

    # bodies decoded first: shortlogs and identities need them
    news = [e for e in items if e["kind"] == "New"]
    for e in news:
        raw = "\n".join(e["body"])
        if re.search(r"=[0-9A-F]{2}", raw):
            e["qp"] = True
            dec = quopri.decodestring(raw.encode("utf-8")).decode("utf-8")
        else:
            e["qp"] = False
            dec = raw
        e["decoded"] = dec                     # with CRs
        e["plain"] = dec.replace("\r", "")
        e["inbody"] = bool(e["body"]) and e["plain"].split("\n")[0] == ""
    slogs = []
    for e in news:
        pt = patch_tag(e["subject"])
        if pt and pt[1] == 0:
            slogs += shortlogs(e["plain"])
    candidates = [t for _, t in slogs] + design

    seq = 0
    mails = []
    entry_mail = {}            # subject (as in the reference) -> Mail

    def new_mid():
        nonlocal seq
        seq += 1
        return "golden.%s.%03d@mkwindow.example" % (tag, seq)

    def row_for_inbody(e, a_name, a_addr):
        name = None
        for who, t in slogs:
            if t == title_of(e["subject"]):
                name = who
                break
        if name is None:
            m = re.search(r"^Signed-off-by:\s*(.*?)\s*<", e["plain"], re.M)
            if m:
                name = clean_name(m.group(1))
        if name is None:
            name = a_name
        cands = [r for r in rows if r.name == name and
                 not (r.key == a_addr.lower() and r.name == a_name)]
        if cands:
            same = [r for r in cands if r.key == a_addr.lower()]
            return (same or cands)[0]
        same = [r for r in rows if r.key == a_addr.lower()]
        if same:
            return same[0]
        fail("no identity for the in-body From of %r" % e["subject"])

    # pass 1: the entry mails
    b64_done = False
    b64_pick = None
    for e in news:
        if not e["qp"] and e["body"] and any(ord(c) > 127 for c in e["plain"]):
            b64_pick = e
            break
    if b64_pick is None:
        plain = [e for e in news if not e["qp"] and e["body"]]
        b64_pick = plain[1] if len(plain) > 1 else None

    for e in items:
        if e["kind"] == "Exist":
            orig = entry_mail.get(e["subject"])
            if orig is None:
                fail("Exist: %r repeats no earlier entry" % e["subject"])
            m = Mail("resend", new_mid())
            m.headers = [(n, v) if n != "Message-ID" else (n, "<%s>" % m.mid)
                         for n, v in orig.headers]
            m.text, m.cte, m.identity = orig.text, orig.cte, orig.identity
            m.cls, m.series = orig.cls, orig.series
            m.entry = {"kind": "Exist", "subject": orig.entry["subject"]}
            mails.append(m)
            continue
        if e["kind"] != "New":
            fail("unexpected line in the patch section: %r" % e["raw"])
        a_written, a_addr = split_addr(e["author"])
        a_name = clean_name(a_written)
        row = by_key.get(a_addr.lower())
        if row is not None and row.name == a_name:
            hfrom = row.text
        else:
            hfrom = header_addr(a_name, a_addr)
        pt = patch_tag(e["subject"])
        is_cover = pt is not None and pt[1] == 0 and pt[2]
        m = Mail("cover" if is_cover else "patch", new_mid())
        m.cls = m.kind
        m.ref_subject = e["subject"]
        subject = e["subject"]
        cont = fold_of(subject, candidates)
        hsubject = subject if cont is None else subject + "\n " + cont
        full = subject if cont is None else subject + " " + cont
        if e["inbody"]:
            m.identity = row_for_inbody(e, a_name, a_addr)
            rest = e["decoded"].split("\n", 1)[1] if "\n" in e["decoded"] else ""
            text = "From: %s\n\n%s" % (m.identity.text, rest)
            body = e["plain"].split("\n", 1)[1] if "\n" in e["plain"] else ""
        else:
            m.identity = by_key.get(a_addr.lower())
            if m.identity is None:
                fail("author %r is not in the contributor table" % e["author"])
            text = e["decoded"]
            body = e["plain"]
        if not e["body"]:
            if not is_cover:
                fail("empty body of a patch: %r" % subject)
            text = MULTIPART_TEXT.format(name=a_name, title=title_of(full))
            body = text.rstrip("\n")
            m.cte = "multipart"
            text += "\n" + SIGNATURE
        else:
            # a text that showed =0D had CRLF lines: its additions get them too
            nl = "\r\n" if "\r\n" in text else "\n"
            text = text.rstrip("\r") + nl
            if not is_cover:
                text += DIFF.replace("\n", nl)
            text += nl + SIGNATURE.replace("\n", nl)
            if e["qp"]:
                m.cte = "quoted-printable"
            elif e is b64_pick:
                m.cte = "base64"
        m.text = text
        m.headers = [("From", hfrom), ("To", "kvm@vger.kernel.org"),
                     ("Subject", hsubject), ("Message-ID", "<%s>" % m.mid),
                     ("List-Id", "<%s>" % list_id)]
        m.series = (pt[0], pt[2], a_addr.lower()) if pt and pt[2] else None
        author = "%s <%s>" % (clean_name(split_addr(hfrom)[0]), split_addr(hfrom)[1])
        if author != e["author"]:
            fail("Author %r would read back as %r" % (e["author"], author))
        m.entry = {"kind": "New", "title": title_of(full), "subject": full,
                   "author": author, "body": body}
        entry_mail[subject] = m
        mails.append(m)

    # threads: patches point at their series' cover
    covers = {m.series: m for m in mails if m.kind == "cover" and m.series}
    for m in mails:
        if m.cls == "patch" and m.series in covers:
            c = covers[m.series]
            if c is not m and m.header("In-Reply-To") is None:
                m.headers.append(("In-Reply-To", "<%s>" % c.mid))
                m.headers.append(("References", "<%s>" % c.mid))

    # replies: every contributor row reaches its count
    have = {}
    for m in mails:
        have[m.identity.key] = have.get(m.identity.key, 0) + 1
    for k, n in have.items():
        if n > by_key[k].count:
            fail("%s has %d entry mails, the table says %d" % (k, n, by_key[k].count))
    targets = [m for m in mails if m.kind != "resend"]
    replies_after = {id(m): [] for m in mails}
    replies = []
    rr = 0
    for r in rows:
        for _ in range(r.count - have.get(r.key, 0)):
            others = [t for t in targets if t.identity is not r] or targets
            t = others[rr % len(others)]
            rr += 1
            m = Mail("reply", new_mid())
            m.cls, m.series = "reply", None
            m.identity = r
            m.target = t
            replies.append(m)
            replies_after[id(t)].append(m)
    # trailers: the first reply of each of the first three reviewers, and
    # a second reply of the first of them (counts 2, 1, 1)
    planted = []
    for m in replies:
        if m.target.identity is not m.identity and m.identity not in planted \
                and len(planted) < 3:
            planted.append(m.identity)
            m.reviewer = m.identity
    if planted:
        for m in replies:
            if m.identity is planted[0] and m.reviewer is None and \
                    m.target.identity is not m.identity:
                m.reviewer = m.identity
                break
    for nrep, m in enumerate(replies):
        t, r = m.target, m.identity
        refs = t.header("References")
        refs = (refs + " " if refs else "") + "<%s>" % t.mid
        m.headers = [("From", r.text), ("To", "kvm@vger.kernel.org"),
                     ("Subject", "Re: " + t.entry["subject"]),
                     ("Message-ID", "<%s>" % m.mid), ("In-Reply-To", "<%s>" % t.mid),
                     ("References", refs), ("List-Id", "<%s>" % list_id)]
        wrote = clean_name(split_addr(t.header("From"))[0])
        text = "On %s, %s wrote:\n> %s\n\n%s\n" % (
            "Mon, 1 Dec 2025", wrote, t.entry["title"], REPLY_TEXTS[nrep % len(REPLY_TEXTS)])
        if m.reviewer:
            text += "\nReviewed-by: %s <%s>\n" % (r.name, r.addr)
        text += "\n-- \n%s\n" % r.name
        m.text = text
    arrival = []
    for m in mails:
        arrival.append(m)
        arrival += replies_after[id(m)]

    # expected
    w = Window()
    w.list_id, w.list_name = list_id, list_name
    w.mails = arrival
    w.eml = []
    for i, m in enumerate(arrival):
        date = "Mon, 01 Dec 2025 %02d:%02d:00 +0000" % (8 + i // 60, i % 60)
        w.eml.append(m.to_bytes(date))
    head = hashlib.sha1(list_id.encode()).hexdigest()
    start = head
    for m in arrival:
        head = hashlib.sha1((head + "\n" + m.mid).encode()).hexdigest()

    def table(counts, fmt):
        rows_ = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))
        return [fmt % (n, s) for s, n in rows_[:TOPN]]

    got_c, got_d, revs = {}, {}, {}
    for m in arrival:
        s = m.identity.shown()
        got_c[s] = got_c.get(s, 0) + 1
        d = m.identity.key.rpartition("@")[2]
        got_d[d] = got_d.get(d, 0) + 1
        if m.reviewer:
            s = m.reviewer.shown()
            revs[s] = revs.get(s, 0) + 1
    want_c, want_d = {}, {}
    for r in rows:
        want_c[r.shown()] = want_c.get(r.shown(), 0) + r.count
    for n, dom in table_rows(ref["domains"] or []):
        want_d[dom.lower()] = want_d.get(dom.lower(), 0) + n
    if got_c != want_c:
        fail("contributor counts %r, reference %r" % (got_c, want_c))
    if got_d != want_d:
        fail("domain counts %r, reference %r" % (got_d, want_d))
    w.expected = {
        "list_id": list_id, "list_name": list_name,
        "from9": start[:9], "to9": head[:9],
        "mails": len(arrival),
        "domains": table(want_d, "%7d %s"),
        "contributors": table(want_c, "%7d  %s"),
        "reviewers": table(revs, "%7d  %s"),
        "entries": [m.entry for m in arrival if m.entry],
        "intent": [{"file": "%03d.eml" % (i + 1), "mid": m.mid,
                    "class": m.cls,
                    "identity": m.identity.shown()} for i, m in enumerate(arrival)],
    }
    return w


def load(path, tag=None):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return build(text, tag or os.path.basename(path).split("_")[0])


def write(window, outdir):
    """Write NNN.eml and expected.json into outdir; the .eml paths in order."""
    os.makedirs(outdir, exist_ok=True)
    files = []
    for i, b in enumerate(window.eml):
        p = os.path.join(outdir, "%03d.eml" % (i + 1))
        with open(p, "wb") as f:
            f.write(b)
        files.append(p)
    with open(os.path.join(outdir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(window.expected, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return files


# --------------------------------------------------------------------------
# --check: the C classifier and the Python reference agree with the intent


def check(window, files, build_dir):
    problems = []
    exe = os.path.join(build_dir, "patchdigest")
    r = subprocess.run([exe, "classify"] + files, capture_output=True, text=True)
    if r.returncode != 0:
        problems.append("patchdigest classify: rc %d %s" % (r.returncode, r.stderr))
    got = [l.split("\t") for l in r.stdout.splitlines()]
    for intent, g in zip(window.expected["intent"], got):
        cls, ident = g[1], g[4]
        if cls != intent["class"] or ident != intent["identity"]:
            problems.append("%s: classify says %s %s, meant %s %s" % (
                intent["file"], cls, ident, intent["class"], intent["identity"]))
    if len(got) != len(files):
        problems.append("classify printed %d lines for %d files" % (len(got), len(files)))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "refclassify.py"),
                        "stats", "--list", window.list_id] + files,
                       capture_output=True, text=True)
    st = json.loads(r.stdout)
    exp = window.expected
    for key, fmt in (("contributors", "%7d  %s"), ("domains", "%7d %s"),
                     ("reviewers", "%7d  %s")):
        rows_ = [fmt % (n, s) for s, n in st[key].items()][:TOPN]
        if rows_ != exp[key]:
            problems.append("refclassify %s:\n  %s\nexpected:\n  %s" % (
                key, "\n  ".join(rows_), "\n  ".join(exp[key])))
    if (st["from"], st["to"], st["mails"]) != (exp["from9"], exp["to9"], exp["mails"]):
        problems.append("refclassify window %s..%s %d mails, expected %s..%s %d" % (
            st["from"], st["to"], st["mails"], exp["from9"], exp["to9"], exp["mails"]))
    return problems


def main(argv):
    args = list(argv)
    do_check = False
    build_dir = os.path.join(ROOT, os.environ.get("BUILD", "build"))
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--check":
            do_check = True
        elif a == "--build" and args:
            build_dir = args.pop(0)
        else:
            args = []
    if len(args) != 2:
        sys.stderr.write(__doc__.split("Usage:")[1])
        return 2
    w = load(args[0])
    files = write(w, args[1])
    c = {}
    for i in w.expected["intent"]:
        c[i["class"]] = c.get(i["class"], 0) + 1
    print("%s: %d mails (%s), %d digest entries, window %s..%s" % (
        args[0], len(files), ", ".join("%d %s" % (n, k) for k, n in sorted(c.items())),
        len(w.expected["entries"]), w.expected["from9"], w.expected["to9"]))
    if do_check:
        problems = check(w, files, build_dir)
        for p in problems:
            print("MISMATCH " + p)
        if problems:
            return 1
        print("check: classify and refclassify agree with the intent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
