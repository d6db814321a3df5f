#!/usr/bin/env python3
"""Bad input through a real milter (issue 5, "Bad input"; the valgrind pass).

1. Every file under the corpus fixtures, as it is and rewritten to carry the
   list's List-Id (mbox files split into their mails): all answered ACCEPT at
   once, each mail recorded once per Message-ID (DESIGN "Duplicates": mail
   without one gets a synthetic id from Date, From, Subject and body), the
   same ids "patchdigest import" derives from the same mails.
2. Generated hostile mail: no headers, a 1 MB body line, a 200 KB header (Postfix passes up to 100 KB),
   10,000 MIME parts, multiparts nested 100 deep, NUL bytes, invalid UTF-8,
   unknown charsets and encoded words, broken base64 and quoted-printable,
   multiparts without boundary or never closed, encoded CR/LF, odd folding,
   Message-ID missing or 10 KB long, a mail over MaxMessageBytes; a header
   over the milter's packet limit (256 KiB).  All answered ACCEPT within 1 s,
   recorded, the milter up, no sanitizer report; the digest flushed from
   them is a well-formed mail.
3. Malformed milter packets from the MTA side, while a normal feed runs on
   other connections: only the bad connection is closed.

PD_VALGRIND=1 (make valgrind) runs every milter under valgrind memcheck and
fails on any error or definite leak; "late" is not checked then.
"""
import email
import email.policy
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refclassify  # noqa: E402  (the mbox split and RFC 2047 decoding of the reference)

VALGRIND = os.environ.get("PD_VALGRIND", "") not in ("", "0")
VALGRIND_SUPP = os.path.join(pdtest.ROOT, "tests", "valgrind-milter.supp")
FEED_TIMEOUT = 300 if VALGRIND else 10
FIXTURES = os.path.join(pdtest.CORPUS, "fixtures")
LIST_ID = pdtest.LIST_ID
LID = b"List-Id: <kvm-ppc.vger.kernel.org>\n"
RCPT = "<kvm-ppc@vger.kernel.org>"
T0 = time.monotonic()
NONE_LATE = "" if VALGRIND else ", none late"   # under valgrind nothing is quick


class Env(pdtest.Env):
    """pdtest.Env whose milters run under valgrind when PD_VALGRIND is set."""
    start_timeout = 120 if VALGRIND else 10
    stop_timeout = 300 if VALGRIND else 30

    def milter_command(self, conf, sock):
        cmd = super().milter_command(conf, sock)
        if not VALGRIND:
            return cmd
        return VALGRIND_CMD + ["--log-file=" + os.path.join(self.dir, sock + ".valgrind")] + cmd


VALGRIND_CMD = ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
                "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                "--num-callers=40", "--suppressions=" + VALGRIND_SUPP]


def cli(env, *args, conf=None):
    """patchdigest ARGS, under valgrind too when PD_VALGRIND is set (its
    report goes to stderr, exit 99 on an error or a definite leak)."""
    cmd = [os.path.join(pdtest.BUILD, "patchdigest")] + list(args) + ["-c", conf or env.conf]
    if VALGRIND:
        cmd = VALGRIND_CMD + ["-q"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True)


def feed(env, files, sock="milter.sock", conns=1, per_conn=10, rcpt=RCPT):
    """pdtest's feed with an envelope recipient and per-mail results."""
    fd, listfile = tempfile.mkstemp(prefix="feed.", suffix=".list", dir=env.dir)
    with os.fdopen(fd, "w") as f:
        f.write("".join(x + "\n" for x in files))
    out = listfile + ".out"
    args = [os.path.join(pdtest.BUILD, "tests", "feeder"), "-s",
            "unix:" + os.path.join(env.dir, sock), "-j", str(conns), "-m", str(per_conn),
            "-t", str(FEED_TIMEOUT), "-q", "-o", out, "-l", listfile]
    if rcpt:
        args[1:1] = ["-r", rcpt]
    r = subprocess.run(args, capture_output=True, text=True)
    summary = {}
    toks = r.stdout.split()
    for i in range(0, len(toks) - 1, 2):
        summary[toks[i]] = toks[i + 1]
    summary["rc"] = r.returncode
    summary["stderr"] = r.stderr
    summary["results"] = {}
    try:
        with open(out) as f:
            for line in f:
                name, res, lat, _ = line.rstrip("\n").split("\t")
                summary["results"][name] = (res, int(lat))
    except FileNotFoundError:
        pass
    return summary


def all_accepted(s, n):
    """Every one of n mails answered accept, none late (not under valgrind)."""
    return (s.get("accepted") == str(n) and s.get("noanswer") == "0" and
            (VALGRIND or s.get("late") == "0"))


def brief(s):
    return {k: v for k, v in s.items() if k != "results"}


def alive(p):
    return p.poll() is None


def valgrind_findings(env, socks=("milter.sock",)):
    """Errors and definite leaks valgrind reported for the milters (stopped)."""
    bad = []
    for s in socks:
        path = os.path.join(env.dir, s + ".valgrind")
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            bad.append("%s: no valgrind log" % s)
            continue
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if not m or m.group(1) != "0":
            bad.append("%s: %s" % (s, m.group(0) if m else "no ERROR SUMMARY"))
        m = re.search(r"definitely lost: ([\d,]+) bytes", text)
        if m and m.group(1) != "0":
            bad.append("%s: definitely lost %s bytes" % (s, m.group(1)))
        if bad:
            bad.append(text[-6000:])
    return bad


def stop_and_check(env, procs, socks, what):
    """Stop the milters (a leak report comes at exit; under valgrind a stop
    takes seconds, so all at once), then: no sanitizer or valgrind report,
    a clean exit."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    rcs = [env.stop_milter(p) for p in procs]
    reports = env.sanitizer_reports()
    result(not reports and all(rc == 0 for rc in rcs),
           "%s: no sanitizer report in the milter log, clean exit" % what,
           "exit %s\n%s" % (rcs, "\n".join(reports[:20])))
    if VALGRIND:
        bad = valgrind_findings(env, socks)
        result(not bad, "%s: valgrind memcheck: no error, no definite leak" % what,
               "\n".join(bad))


# ---------------------------------------------------------------------------
# 1. the corpus fixtures

def mta_body(data):
    """The body as an MTA delivers it: after the empty line that ends the
    headers, or from the first line that is neither a header field nor a
    continuation (Postfix and the feeder read it so); CRs dropped."""
    pos = 0
    first = True
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        line = data[pos:end].rstrip(b"\r")
        if line == b"" and nl >= 0:
            pos = nl + 1
            break
        if line[:1] in (b" ", b"\t"):
            if first:
                break
        elif not re.match(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:", line):
            break
        first = False
        if nl < 0:
            pos = len(data)
            break
        pos = nl + 1
    return data[pos:].replace(b"\r", b"")


def expected_id(m, data):
    """The id DESIGN "Duplicates" gives a mail: its Message-ID, else one
    from its Date, From, (decoded) Subject and body."""
    if not m.mid.startswith(b"synthetic-"):
        return m.mid
    date = refclassify.raw_header(m.msg, "Date")
    frm = refclassify.raw_header(m.msg, "From")
    return ("synthetic", refclassify.unfold(date or "").strip(),
            refclassify.unfold(frm or "").strip(), m.subject, mta_body(data))


def window_ids(env, prefix="pd:"):
    """The sha1 of the Message-IDs window 1 recorded, and sha1 -> mid."""
    base = "%s{%s}:" % (prefix, LIST_ID)
    hashes = env.redis_cli("LRANGE", base + "w:1:mails", "0", "-1").split()
    mids = {}
    for h in hashes:
        mids[h] = env.mail_field(base, h, "mid")
    return hashes, mids


def test_fixtures():
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(FIXTURES) for f in fs)
    env = Env()
    try:
        m = env.start_milter()
        s = feed(env, files, rcpt=None, per_conn=50)
        st = env.stats()
        result(all_accepted(s, len(files)) and alive(m) and st is not None,
               "%d fixture files as they are: all answered ACCEPT%s (max %s ms); "
               "milter up, stats readable" % (len(files), NONE_LATE, s.get("max_latency_ms")), brief(s))
        time.sleep(0.3)
        st = env.stats()
        result(st and st["lists"][0]["mails"] == 0,
               "fixtures without the list's List-Id or recipient are ignored",
               st and st["lists"][0])

        # every mail of the fixtures, as a list mail: List-Id prepended
        mails, ids = [], []
        d = os.path.join(env.dir, "fixtures")
        os.mkdir(d)
        for path in files:
            for label, data in refclassify.read_mails(path):
                p = os.path.join(d, "%04d.eml" % len(mails))
                with open(p, "wb") as f:
                    f.write(LID + data)
                mails.append(p)
                ids.append(expected_id(refclassify.Mail(label, data), data))
        want = len(set(ids))
        real = set(i.decode("utf-8", "replace") for i in ids if isinstance(i, bytes))
        s = feed(env, mails, conns=2, per_conn=50)
        st = env.wait_recorded(len(mails), timeout=300 if VALGRIND else 30)
        result(all_accepted(s, len(mails)) and alive(m),
               "%d mails of the fixtures with the List-Id: all answered ACCEPT%s "
               "(max %s ms)" % (len(mails), NONE_LATE, s.get("max_latency_ms")), brief(s))
        result(st and st["mails"] + st["duplicates"] == len(mails),
               "each of them is recorded once: as a new mail or a duplicate", st)
        result(st and st["mails"] == want and st["truncated"] == 0 and
               sum(st["classes"].values()) == want,
               "mails counts the distinct Message-IDs (%d; without one: Date, From, Subject "
               "and body)" % want, st and {k: st[k] for k in ("mails", "duplicates", "classes")})
        hashes, mids = window_ids(env)
        got_real = set(v for v in mids.values() if not v.endswith("@patchdigest.invalid"))
        result(len(hashes) == st["mails"] and got_real == real,
               "Redis holds exactly the Message-IDs the fixtures carry (%d)" % len(real),
               "missing %s\nextra %s" % (sorted(real - got_real)[:10],
                                         sorted(got_real - real)[:10]))
        # the same mails imported: the same ids (DESIGN: every path derives the same id)
        iconf = env.write_conf("import.conf", "import.sock", "journal-import",
                               ((LIST_ID, "KVM-PPC"),), "KeyPrefix imp:\n")
        r = cli(env, "import", *mails, conf=iconf)
        ihashes, imids = window_ids(env, "imp:")
        result(r.returncode == 0 and set(ihashes) == set(hashes),
               "patchdigest import of the same mails records the same ids as the milter",
               r.stderr[-500:] + "\nmilter only %s\nimport only %s" % (
                   [mids[h] for h in set(hashes) - set(ihashes)][:10],
                   [imids[h] for h in set(ihashes) - set(hashes)][:10]))
        stop_and_check(env, [m], ["milter.sock"], "fixtures")
    finally:
        env.close()


# ---------------------------------------------------------------------------
# 2. generated hostile mail

DATE = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
DIFFSTAT = b"---\n a.c | 1 +\n 1 file changed, 1 insertion(+)\n\n"
DIFF = b"diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -0,0 +1 @@\n+x\n"
PATCHBODY = b"A commit message.\n\nSigned-off-by: Hostile <hostile@example.org>\n" + \
    DIFFSTAT + DIFF


def mail(mid, subject, body, extra=b"", frm=b"Hostile <hostile@example.org>"):
    h = b"From: " + frm + b"\nSubject: " + subject + b"\n"
    if mid is not None:
        h += b"Message-ID: <" + mid + b">\n"
    return h + LID + DATE + extra + b"\n" + body


def multipart(boundary, parts, close=True):
    out = b""
    for p in parts:
        out += b"--" + boundary + b"\n" + p
        if not p.endswith(b"\n"):
            out += b"\n"
    if close:
        out += b"--" + boundary + b"--\n"
    return out


def text_part(body, ctype=b"text/plain", extra=b""):
    return b"Content-Type: " + ctype + b"\n" + extra + b"\n" + body


def nested(depth, inner):
    body = inner
    for i in reversed(range(depth)):
        b = b"n%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\n\n" +
                multipart(b, [body]))
    return body


MP = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n"


def hostile_mails():
    """(name, bytes, title the digest must show as New: or None)."""
    big_line = ("\u00e9" * (1 << 19)).encode()          # 1 MB of two-byte characters
    many = [text_part(PATCHBODY)] + [text_part(b"part %d\n" % i) for i in range(1, 10000)]
    return [
        ("no-headers", b"A mail without any header.\n\nJust text, and a diff:\n" + DIFF, None),
        ("empty", b"", None),
        ("headers-only", b"From: a@example.org\nSubject: [PATCH] no body\nMessage-ID: <nb@x>\n"
         + LID.rstrip(b"\n"), None),
        ("body-1mb-line", mail(b"1mb@hostile", b"[PATCH v2 1/3] hostile: a 1 MB line",
                               b"Commit message with a long line:\n" + big_line + b"\n\n" +
                               DIFFSTAT + DIFF), "hostile: a 1 MB line"),
        ("header-200k", mail(b"200k@hostile", b"[PATCH v2 2/3] hostile: a 200 KB header", PATCHBODY,
                            extra=b"X-Long: " + b"y" * 200000 + b"\n"), "hostile: a 200 KB header"),
        ("subject-55k", mail(b"55k@hostile", b"[PATCH v2 3/3] hostile: long subject " +
                             b"word " * 11000, PATCHBODY), "hostile: long subject word"),
        ("mime-10000", mail(b"10000@hostile", b"[PATCH v3 1/2] hostile: 10,000 MIME parts",
                            multipart(b"b", many), extra=MP % b"b"),
         "hostile: 10,000 MIME parts"),
        ("nested-100", mail(b"nest@hostile", b"[PATCH v3 2/2] hostile: nested 100 deep",
                            multipart(b"top", [text_part(PATCHBODY),
                                               nested(100, text_part(b"deep\n"))]),
                            extra=MP % b"top"), "hostile: nested 100 deep"),
        ("nul", mail(b"nul@hostile", b"[PATCH] hostile: nul\0in the subject",
                     b"NUL\0in the body\0\n" + DIFFSTAT + DIFF, extra=b"X-Nul: a\0b\n"),
         "hostile: nul"),
        ("invalid-utf8", mail(b"utf8@hostile", b"[PATCH] hostile: raw \xff\xfe invalid \xc3 UTF-8",
                              b"Invalid \xff\xfe\xc3 bytes\n" + DIFFSTAT + DIFF,
                              frm=b"Bad \xff\xc3 Name <bad@example.org>"), "hostile: raw"),
        ("charset-x-nonsense", mail(b"xnon@hostile", b"[PATCH] hostile: charset x-nonsense "
                                    b"=?bogus?Q?caf=E9?= =?utf-8?B?!!!?=",
                                    b"Caf\xe9 in x-nonsense\n" + DIFFSTAT + DIFF,
                                    extra=b"MIME-Version: 1.0\nContent-Type: text/plain; "
                                    b"charset=\"x-nonsense\"\n"), "hostile: charset x-nonsense"),
        ("charset-utf-7", mail(b"utf7@hostile", b"[PATCH] hostile: charset utf-7",
                               b"+ZeVnLIqe- and +AGEAYgBj-\n" + PATCHBODY,
                               extra=b"MIME-Version: 1.0\nContent-Type: text/plain; "
                               b"charset=\"utf-7\"\n"), None),
        ("subject-bogus-2047", mail(b"bogus@hostile", b"=?bogus?Q?[PATCH]_hostile:_bogus?= "
                                    b"=?utf-8?Q?=FF=FE?= =?iso-8859-1?X?abc?=", PATCHBODY), None),
        ("base64-broken", mail(b"b64@hostile", b"[PATCH] hostile: broken base64",
                               b"!!!not base64 at all@@@\n====\nQUJD\nQU=JD==\n",
                               extra=b"MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n"),
         None),
        ("qp-broken", mail(b"qp@hostile", b"[PATCH] hostile: broken quoted-printable",
                           b"Bad =ZZ escapes =4\nsoft break at the end =\n" + DIFFSTAT + DIFF +
                           b"=", extra=b"MIME-Version: 1.0\n"
                           b"Content-Transfer-Encoding: quoted-printable\n"),
         "hostile: broken quoted-printable"),
        ("multipart-no-boundary", mail(b"nobound@hostile", b"[PATCH] hostile: no boundary",
                                       b"--x\nContent-Type: text/plain\n\n" + PATCHBODY,
                                       extra=b"MIME-Version: 1.0\n"
                                       b"Content-Type: multipart/mixed\n"), None),
        ("multipart-unclosed", mail(b"unclosed@hostile", b"[PATCH] hostile: never closed",
                                    multipart(b"u", [text_part(PATCHBODY)], close=False),
                                    extra=MP % b"u"), "hostile: never closed"),
        ("subject-encoded-crlf", mail(b"crlf@hostile", b"=?utf-8?q?[PATCH]_hostile:_a=0D=0A"
                                      b"X-Injected:_yes?=", PATCHBODY,
                                      frm=b"=?UTF-8?Q?Evil=0D=0ABcc:_x@example.org?= "
                                      b"<evil@example.org>"), "hostile: a"),
        ("subject-odd-fold", mail(b"fold@hostile", b"[PATCH v4 1/1]\n\t\n hostile:\n   odd\n\tfold",
                                  PATCHBODY), "hostile:"),
        ("cr-only", b"From: Cr <cr@example.org>\rSubject: [PATCH] hostile: CR only\r"
         b"Message-ID: <cr@hostile>\r" + LID + b"\rbody\rwith\rCRs\r", None),
        ("no-message-id", mail(None, b"[PATCH] hostile: no Message-ID", PATCHBODY),
         "hostile: no Message-ID"),
        ("message-id-10k", mail(b"m" * 10000 + b"@hostile", b"[PATCH] hostile: 10 KB Message-ID",
                                PATCHBODY, extra=b"References: <" + b"r" * 10000 + b"@x>\n"),
         "hostile: 10 KB Message-ID"),
        ("resend", mail(b"resend@hostile", b"[PATCH] hostile: no Message-ID", PATCHBODY), None),
    ]


HEADERS = sorted(["from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                  "content-transfer-encoding", "auto-submitted", "x-patchdigest-digest"])


def check_digest(raw, titles, what):
    """The digest is a well-formed mail and keeps its layout."""
    head, _, _ = raw.partition(b"\n\n")
    longest = max(len(l) for l in raw.split(b"\n"))
    result(all(b < 0x80 for b in head) and longest <= 998 and b"\r" not in raw
           and b"\0" not in raw,
           "%s: digest headers all ASCII; no line over 998 bytes (longest %d), no CR, no NUL"
           % (what, longest), head[:600])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    names = sorted(k.lower() for k in msg.keys())
    try:
        text = msg.get_payload(decode=True).decode("utf-8")
    except (UnicodeError, AttributeError) as e:
        text = None
        err = str(e)
    else:
        err = ""
    result(not msg.defects and names == HEADERS and text is not None,
           "%s: the digest parses with Python's email package: its own headers only, "
           "a valid UTF-8 body" % what, "%s %s %s" % (msg.defects, names, err))
    if text is None:
        return
    lines = text.split("\n")
    bad = [l for l in lines if any(c < " " and c != "\t" or c == "\x7f" for c in l)]
    result(not bad and "\ufffd" in text,
           "%s: no control character in the digest text; invalid UTF-8 became U+FFFD" % what,
           repr(bad[:3])[:500])
    news = [i for i, l in enumerate(lines) if l.startswith("New:  ")]
    broken = [i for i in news if not (i + 3 < len(lines) and lines[i + 1].strip() and
                                      lines[i + 2].startswith("Author: ") and
                                      lines[i + 3] == "")]
    exist = [i for i, l in enumerate(lines) if l.startswith("Exist: ")]
    broken += [i for i in exist if not (i + 1 < len(lines) and
                                        lines[i + 1] == " Skip: " + lines[i][7:])]
    result(news and not broken,
           "%s: every New: entry keeps its title, subject and Author lines, every Exist: "
           "its Skip: (%d New:, %d Exist:)" % (what, len(news), len(exist)),
           "\n".join(" | ".join(l[:70] for l in lines[i:i + 4]) for i in broken[:10]))
    shown = [lines[i][6:] for i in news]
    missing = [t for t in titles if not any(s.startswith(t) for s in shown)]
    result(not missing, "%s: each hostile patch has its New: entry" % what,
           "missing %s\nshown %s" % (missing, [s[:60] for s in shown]))
    injected = [l for l in lines if re.match(r"(X-Injected|Bcc|X-Evil)\s*:", l)]
    result(not injected, "%s: encoded CR/LF never starts a line of the digest" % what,
           injected)
    return text


def digest_env():
    env = Env()
    sent = os.path.join(env.dir, "sent.txt")
    env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal",
                              ((LIST_ID, "KVM-PPC"),),
                              "DigestFrom digest@example.org\nDigestTo readers@example.org\n"
                              "Sendmail cat >> %s\n" % sent)
    return env, sent


def test_hostile():
    env, sent = digest_env()
    try:
        m = env.start_milter()
        # a second milter on the same Redis that keeps only 64 KB of a mail
        small = env.write_conf("small.conf", "small.sock", "journal-small",
                               ((LIST_ID, "KVM-PPC"),), "MaxMessageBytes 64K\n")
        m2 = env.start_milter(small, sock="small.sock")
        d = os.path.join(env.dir, "hostile")
        os.mkdir(d)
        files, titles = [], []
        for name, data, title in hostile_mails():
            p = os.path.join(d, name + ".eml")
            with open(p, "wb") as f:
                f.write(data)
            files.append(p)
            if title:
                titles.append(title)
        s = feed(env, files)
        slow = sorted(((lat, os.path.basename(n)) for n, (res, lat) in s["results"].items()),
                      reverse=True)[:3]
        result(all_accepted(s, len(files)) and alive(m),
               "%d hostile mails: all answered ACCEPT%s; the milter is up"
               % (len(files), NONE_LATE), "%s\nslowest (us): %s" % (brief(s), slow))
        # over MaxMessageBytes: recorded from its head, counted truncated
        over = os.path.join(d, "over-max.eml")
        with open(over, "wb") as f:
            f.write(mail(b"over@hostile", b"[PATCH] hostile: over MaxMessageBytes", PATCHBODY +
                         b"".join(b"+line %d of a big diff\n" % i for i in range(20000))))
        s2 = feed(env, [over], sock="small.sock")
        want = len(files) + 1
        st = env.wait_recorded(want, timeout=300 if VALGRIND else 20)
        titles.append("hostile: over MaxMessageBytes")
        result(all_accepted(s2, 1) and alive(m2), "a mail over MaxMessageBytes: ACCEPT" + NONE_LATE,
               brief(s2))
        result(st and st["mails"] == want and st["duplicates"] == 0 and st["truncated"] == 1 and
               st["resends"] == 1 and sum(st["classes"].values()) == want and
               st["classes"]["patch"] >= len(titles),
               "stats: every hostile mail recorded once, the oversize one counted truncated, "
               "the resend counted, classes add up", st)

        # a header over the protocol engine's packet limit (256 KiB, libmilter's
        # largest too): the engine drops the connection (the MTA applies its milter_default_action); the milter lives on
        huge = os.path.join(d, "header-1mb.eml")
        with open(huge, "wb") as f:
            f.write(mail(b"huge@hostile", b"[PATCH] hostile: 1 MB header", PATCHBODY,
                         extra=b"X-Huge: " + b"z" * (1 << 20) + b"\n"))
        s3 = feed(env, [huge])
        res = s3["results"].get(huge, ("none", 0))[0]
        after = os.path.join(d, "after-huge.eml")
        with open(after, "wb") as f:
            f.write(mail(b"after@hostile", b"[PATCH] hostile: after the 1 MB header", PATCHBODY))
        s4 = feed(env, [after])
        titles.append("hostile: after the 1 MB header")
        result(res in ("noanswer", "accept") and alive(m) and all_accepted(s4, 1),
               "a 1 MB header line (over the 256 KiB packet limit): that connection only "
               "(%s), the milter is up, the next connection is answered" % res,
               "%s\n%s" % (brief(s3), brief(s4)))

        # the digest of it all, once Redis has every record (the writer
        # ships a burst's records up to 50 ms after they were journalled)
        env.wait_recorded(want + 1, timeout=300 if VALGRIND else 20)
        f = cli(env, "flush")
        digests = pdtest.digests(sent)
        result(f.returncode == 0 and len(digests) == 1, "the hostile window flushes one digest",
               f.stdout + f.stderr)
        if digests:
            check_digest(digests[0], titles, "hostile")
        st = env.stats()
        result(st and st["lists"][0]["window"] == 2 and st["lists"][0]["mails"] == 0,
               "after the flush the next window is open and empty", st)
        stop_and_check(env, [m, m2], ["milter.sock", "small.sock"], "hostile")
    finally:
        env.close()


# ---------------------------------------------------------------------------
# 3. malformed milter packets from the MTA side

def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


OPTNEG = packet(b"O", struct.pack(">III", 6, 0x1ff, 0x1fffff))
# the bad packets the milter must answer by closing the connection (as libmilter did)
CLOSING = [
    ("length 0xFFFFFFFF", [b"\xff\xff\xff\xffO"]),
    ("unknown command", [packet(b"z", b"abc")]),
    ("unknown command after OPTNEG", [OPTNEG, packet(b"z", b"abc")]),
    ("OPTNEG with version 1", [packet(b"O", struct.pack(">III", 1, 0x1ff, 0x1fffff))]),
    ("OPTNEG too short", [packet(b"O", b"\0\0")]),
    ("a 300,000-byte packet", [OPTNEG, struct.pack(">I", 300000) + b"L" + b"x" * 299999]),
    ("4 KB of noise", [bytes((i * 131 + 7) % 256 for i in range(4096))]),
]
# out of order or cut short: whatever the engine makes of them, the milter lives
OTHER = [
    ("zero-length packet", [b"\0\0\0\0"]),
    ("truncated packet, then close", [b"\0\0\0\x10O\0\0"]),
    ("OPTNEG with version 99", [packet(b"O", struct.pack(">III", 99, 0x1ff, 0x1fffff))]),
    ("OPTNEG offering nothing", [packet(b"O", struct.pack(">III", 6, 0, 0))]),
    ("end of body first", [OPTNEG, packet(b"E")]),
    ("header without NULs", [OPTNEG, packet(b"L", b"Subject")]),
    ("macro without NULs", [OPTNEG, packet(b"D", b"Xabc")]),
    ("a mail cut off after its body", [OPTNEG, packet(b"R", RCPT.encode() + b"\0"),
                                       packet(b"L", b"Subject\0 [PATCH] cut\0"),
                                       packet(b"B", b"body\r\n")]),
    ("a mail aborted, then its end of body", [OPTNEG, packet(b"R", RCPT.encode() + b"\0"),
                                              packet(b"L", b"Subject\0 aborted\0"),
                                              packet(b"A"), packet(b"E")]),
]


def raw_session(sock, chunks, wait, until=None):
    """Send chunks, then read until the milter closes, wait seconds pass or
    until(bytes read) holds: (bytes read, "closed" | "open")."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    got = b""
    try:
        s.connect(sock)
        s.settimeout(wait)
        for c in chunks:
            s.sendall(c)
        while True:
            d = s.recv(65536)
            if not d:
                return got, "closed"
            got += d
            if until and until(got):
                s.sendall(packet(b"Q"))
                return got, "open"
    except socket.timeout:
        return got, "open"
    except (ConnectionResetError, BrokenPipeError):
        return got, "closed"
    finally:
        s.close()


def replies(data):
    out = []
    while len(data) >= 5:
        n = struct.unpack(">I", data[:4])[0]
        if len(data) < 4 + n:
            break
        out.append((data[4:5], data[5:4 + n]))
        data = data[4 + n:]
    return out


def good_mail(sock):
    """One whole mail in Python: OPTNEG, RCPT, headers, body, end of body."""
    chunks = [OPTNEG, packet(b"R", RCPT.encode() + b"\0"),
              packet(b"L", b"Subject\0 [PATCH] raw protocol\0"),
              packet(b"L", b"Message-ID\0 <raw@protocol>\0"),
              packet(b"L", b"List-Id\0 <kvm-ppc.vger.kernel.org>\0"),
              packet(b"B", b"A body.\r\n"), packet(b"E")]
    got, _ = raw_session(sock, chunks, 60 if VALGRIND else 2,
                         until=lambda got: len(replies(got)) >= 2)
    return [c for c, _ in replies(got)]


def test_protocol():
    env = Env()
    try:
        m = env.start_milter()
        sock = os.path.join(env.dir, "milter.sock")
        posts = pdtest.corpus_files(200)
        stop = threading.Event()
        closing_bad, rounds = [], [0, 0]

        def bad_sessions(k):
            # at least one whole round, then on until the feed is done
            wait = 60 if VALGRIND else 2
            while True:
                for name, chunks in CLOSING:
                    if raw_session(sock, chunks, wait)[1] != "closed":
                        closing_bad.append(name)
                for name, chunks in OTHER:
                    raw_session(sock, chunks, 0.05)
                rounds[k] += 1
                if stop.is_set():
                    return
        bad = [threading.Thread(target=bad_sessions, args=(k,)) for k in range(2)]
        for b in bad:
            b.start()
        # one mail per connection: connections open and close all along
        out = feed(env, posts, conns=4, per_conn=1, rcpt=None)
        stop.set()
        for b in bad:
            b.join()
        result(not closing_bad and alive(m),
               "malformed packets (%s): the milter closes that connection and is up"
               % ", ".join(n for n, _ in CLOSING), sorted(set(closing_bad)))
        result(all_accepted(out, len(posts)),
               "a feed of %d posts on 4 other connections meanwhile (%d rounds of bad "
               "sessions): all ACCEPT%s" % (len(posts), sum(rounds), NONE_LATE), brief(out))
        got = good_mail(sock)
        s = feed(env, [pdtest.corpus_files(201)[-1]], rcpt=None)
        st = env.wait_recorded(len(posts) + 2, timeout=300 if VALGRIND else 20)
        result(got == [b"O", b"a"] and all_accepted(s, 1) and alive(m),
               "afterwards a fresh connection works: a mail spoken in Python is answered "
               "OPTNEG then ACCEPT, the feeder's too", "%s %s" % (got, brief(s)))
        result(st and st["mails"] == len(posts) + 2 and st["duplicates"] == 0,
               "the bad sessions recorded nothing, the good mails all", st)
        stop_and_check(env, [m], ["milter.sock"], "protocol")
    finally:
        env.close()


for test in (test_fixtures, test_hostile, test_protocol):
    t0 = time.monotonic()
    try:
        test()
    except Exception as e:  # a crash of the test is a failure, not a stop
        import traceback
        result(False, "%s ran to its end" % test.__name__, traceback.format_exc())
    print("# %s: %.1f s" % (test.__name__, time.monotonic() - t0), flush=True)
print("# test_hostile.py: %.1f s%s" % (time.monotonic() - T0, " (valgrind)" if VALGRIND else ""))
pdtest.finish()
