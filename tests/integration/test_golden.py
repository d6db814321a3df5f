#!/usr/bin/env python3
"""Golden digests: the windows of the four reference digests
(../shared/spec/000..003_*.txt), rebuilt as mail by tests/golden/mkwindow.py,
go through the real milter over one milter connection (arrival order kept);
`patchdigest flush` must then mail the reference digest with its defects
fixed (DESIGN.md, "Digest"): tables decoded, lower-cased and in byte order,
subjects unfolded, titles right, bodies decoded and cut after the diffstat,
the text part of multipart mail found, resends as Exist/Skip, the planted
review trailers in the reviewer table, and the window ids of the chain."""
import difflib
import email.utils
import glob
import os
import re
import shutil
import sys
import tempfile
from email import policy
from email.parser import BytesParser

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests", "golden"))
import mkwindow  # noqa: E402

FROM = "digest@example.org"
TO = "kvm-digest@example.org"


def udiff(want, got, a="expected", b="digest"):
    return "\n".join(difflib.unified_diff(want, got, a, b, lineterm="", n=1))


def read_digest(path):
    """(message, decoded text) of the mailed digest."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw.count(b"\n") and raw.count(b"\n") == raw.count(b"\r\n"):
        raw = raw.replace(b"\r\n", b"\n")      # a CRLF mail: line ends only
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    try:
        text = msg.get_content() if not msg.is_multipart() else ""
    except Exception as e:  # noqa: BLE001
        text = "(undecodable: %s)" % e
    return msg, text


def check_headers(msg, subject_line):
    probs = []
    fr = email.utils.parseaddr(str(msg.get("From", "")))[1]
    if fr != FROM:
        probs.append("From: %r" % msg.get("From"))
    if TO not in [a for _, a in email.utils.getaddresses([str(msg.get("To", ""))])]:
        probs.append("To: %r" % msg.get("To"))
    if str(msg.get("Subject", "")) != subject_line:
        probs.append("Subject: %r, first lines say %r" % (msg.get("Subject"), subject_line))
    try:
        if email.utils.parsedate_to_datetime(str(msg.get("Date"))) is None:
            raise ValueError
    except Exception:  # noqa: BLE001
        probs.append("Date: %r" % msg.get("Date"))
    if not re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", str(msg.get("Message-ID", "")).strip()):
        probs.append("Message-ID: %r" % msg.get("Message-ID"))
    if str(msg.get("MIME-Version", "")).strip() != "1.0":
        probs.append("MIME-Version: %r" % msg.get("MIME-Version"))
    if msg.get_content_type() != "text/plain" or \
            (msg.get_content_charset() or "").lower() != "utf-8":
        probs.append("Content-Type: %r" % msg.get("Content-Type"))
    if str(msg.get("Auto-Submitted", "")).strip().lower() != "auto-generated":
        probs.append("Auto-Submitted: %r" % msg.get("Auto-Submitted"))
    if msg.get("X-Patchdigest-Digest") is None:
        probs.append("no X-Patchdigest-Digest header")
    return probs


def section(lines, start_pred):
    """Lines after the first line matching start_pred up to the next heading."""
    for i, line in enumerate(lines):
        if start_pred(line):
            out = []
            for l2 in lines[i + 1:]:
                if l2.startswith("=====") or l2.startswith("Top "):
                    break
                out.append(l2)
            return out
    return None


def run(ref):
    tag = os.path.basename(ref)[:3]
    w = mkwindow.load(ref)
    exp = w.expected
    work = tempfile.mkdtemp(prefix="pdgolden.")
    extra = ("Sendmail cat > %s/sent.$$.eml\nDigestFrom %s\nDigestTo %s\n" %
             (work, FROM, TO))
    env = pdtest.Env(lists=((w.list_id, w.list_name),), extra=extra)
    try:
        files = mkwindow.write(w, os.path.join(work, "mail"))
        env.start_milter()
        s = env.feed(files, conns=1, per_conn=len(files))
        result(s["rc"] == 0 and s.get("accepted") == str(len(files)),
               "%s: %d mails fed in arrival order over one connection, all accepted"
               % (tag, len(files)), s)
        got = env.wait_recorded(len(files), mails=len(files), timeout=30)
        result(got is not None and got["mails"] == len(files) and got["duplicates"] == 0,
               "%s: all %d mails recorded" % (tag, len(files)), got)
        r = env.cli("flush")
        sent = sorted(glob.glob(os.path.join(work, "sent.*.eml")))
        result(r.returncode == 0 and len(sent) == 1,
               "%s: flush exits 0 and mails one digest" % tag,
               "rc %d, %d mails handed to Sendmail\n%s%s" % (r.returncode, len(sent),
                                                           r.stdout, r.stderr))
        if not sent:
            return
        msg, text = read_digest(sent[0])
        d = mkwindow.parse_digest(text)
        lines = d["lines"]

        # first lines, window ids, headers
        first = lines[:2]
        ok = (len(first) == 2 and d["from9"] and d["name"] == w.list_name and
              re.fullmatch(r"[0-9a-f]{9}", d["from9"] or "") and
              re.fullmatch(r"[0-9a-f]{9}", d["to9"] or "") and
              first[1] == "%s mailing list update from %s to %s" % (w.list_name, d["from9"],
                                                                   d["to9"]) and
              str(msg.get("Subject", "")) == first[1])
        result(ok, "%s: 'From <from9> to <to9>' and the Subject name the same window"
               % tag, "first lines %r, Subject %r" % (first, msg.get("Subject")))
        result((d["from9"], d["to9"]) == (exp["from9"], exp["to9"]),
               "%s: window ids follow the chain: sha1(list id) .. head after the last mail"
               % tag, "digest %s..%s, expected %s..%s" % (d["from9"], d["to9"],
                                                          exp["from9"], exp["to9"]))
        probs = check_headers(msg, first[1] if len(first) == 2 else "")
        result(not probs, "%s: digest headers (From, To, Subject, Date, Message-ID, "
               "MIME-Version, text/plain UTF-8, Auto-Submitted, X-Patchdigest-Digest)"
               % tag, "\n".join(probs))

        # tables
        for key, what in (("domains", "domain table: lower-cased, count then byte order"),
                          ("contributors", "contributor table: decoded, unquoted, "
                           "lower-cased, count then byte order"),
                          ("reviewers", "reviewer table is the planted Reviewed-by trailers")):
            g = d[key]
            result(g == exp[key], "%s: %s" % (tag, what),
                   "section not found" if g is None else udiff(exp[key], g))

        # patch list: no longer empty; names every cover
        pl = section(lines, lambda l: l.startswith("===== Patch list"))
        covers = [e["title"] for e in exp["entries"] if e["kind"] == "New" and
                  (mkwindow.patch_tag(e["subject"]) or (0, None))[1] == 0]
        missing = [t for t in covers if not any(t in l for l in pl or [])]
        result(pl is not None and any(l.strip() for l in pl) and not missing,
               "%s: patch list is filled and names every cover" % tag,
               "section not found" if pl is None else
               "empty" if not any(l.strip() for l in pl) else "missing: %r" % missing)

        # entries
        items = d["entries"] or []
        seq_want = ["%s: %s" % (e["kind"], e["subject"]) for e in exp["entries"]]
        seq_got = ["%s: %s" % (e["kind"], e.get("subject", e.get("raw")))
                   for e in items]
        bad_skip = [e["subject"] for e in items if e["kind"] == "Exist" and
                    e.get("skip") != e["subject"]]
        result(d["entries"] is not None and seq_got == seq_want and not bad_skip,
               "%s: the sequence of New/Exist entries (%d)" % (tag, len(seq_want)),
               "section not found" if d["entries"] is None else
               udiff(seq_want, seq_got) + ("\nSkip lines differ: %r" % bad_skip
                                           if bad_skip else ""))
        used = set()
        n = 0
        for e in exp["entries"]:
            if e["kind"] != "New":
                continue
            n += 1
            g = None
            for i, it in enumerate(items):
                if i not in used and it["kind"] == "New" and it["subject"] == e["subject"]:
                    used.add(i)
                    g = it
                    break
            if g is None:                       # else the n-th New entry
                news = [i for i, it in enumerate(items) if it["kind"] == "New"]
                if len(news) >= n and news[n - 1] not in used:
                    used.add(news[n - 1])
                    g = items[news[n - 1]]
            name = "%s: entry %d %.60s" % (tag, n, e["subject"])
            want_h = ["New:  " + e["title"], e["subject"], "Author: " + e["author"]]
            if g is None:
                result(False, name + ": title, subject, Author lines", "no entry with "
                       "this subject")
                result(False, name + ": body", "no entry with this subject")
                continue
            got_h = [g["raw"], g["subject"], g["author_raw"]]
            result(got_h == want_h, name + ": title, subject, Author lines",
                   udiff(want_h, got_h))
            want_b = e["body"].split("\n") if e["body"] else []
            result(g["body"] == want_b, name + ": body", udiff(want_b, g["body"]))

        # nothing left encoded
        left = [p for p in ("=?UTF-8?", "=?utf-8?", "=E2=80", "=0D") if p in text]
        bad = [l for l in lines if any(p in l for p in left)]
        result(not left, "%s: nothing RFC 2047- or quoted-printable-encoded left" % tag,
               "\n".join(bad[:10]))
        crs = [i + 1 for i, l in enumerate(lines) if "\r" in l]
        result(not crs, "%s: no CR in the digest text" % tag,
               "CR on lines %s" % crs[:20])
    finally:
        env.close()
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


refs = sorted(glob.glob(os.path.join(mkwindow.SPEC, "00[0-3]_*.txt")))
result(len(refs) == 4, "the four reference digests are there (%s)" % mkwindow.SPEC)
for ref in refs:
    try:
        run(ref)
    except Exception as e:  # noqa: BLE001
        result(False, "%s: ran to the end" % os.path.basename(ref)[:3], repr(e))
pdtest.finish()
