#!/usr/bin/env python3
"""patchdigest flush and render against a real redis-server and a real
milter: windows chain, a window is sent once, racing flushes, a flush that
dies between close and send, a failing Sendmail, the exit status."""
import email
import email.policy
import os
import re
import subprocess
import threading
import time

import pdtest
from pdtest import result

PD = os.path.join(pdtest.BUILD, "patchdigest")
POSTS = pdtest.corpus_files()


digests = pdtest.digests


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def heads(raw):
    """The (from, to) chain heads of a digest's first line."""
    body = parse(raw).get_content()
    m = re.match(r"From ([0-9a-f]{9}) to ([0-9a-f]{9})\n", body)
    return m.groups() if m else None


def new_env(extra=""):
    env = pdtest.Env(extra="")
    sent = os.path.join(env.dir, "sent.txt")
    env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal",
                              ((pdtest.LIST_ID, "KVM-PPC"),),
                              "DigestFrom digest@example.org\nDigestTo readers@example.org\n"
                              "Sendmail cat >> %s\n%s" % (sent, extra))
    return env, sent


def window_mails(env, n):
    base = "pd:{%s}:" % pdtest.LIST_ID
    out = env.redis_cli("LRANGE", "%sw:%d:mails" % (base, n), "0", "-1").split()
    return out


def flush(env, *args, conf=None):
    return subprocess.run([PD, "flush", "-c", conf or env.conf] + list(args),
                          capture_output=True, text=True)


# ---- windows chain, empty windows, --force, render ----
env, sent = new_env()
try:
    env.start_milter()
    a, b = POSTS[:60], POSTS[60:100]
    env.feed(a)
    env.wait_recorded(len(a))
    before = env.stats()["lists"][0]
    r1 = env.cli("render")
    r1b = env.cli("render")
    after = env.stats()["lists"][0]
    result(r1.returncode == 0 and r1.stdout == r1b.stdout.replace(
        re.search(r"(?m)^Date: .*$", r1b.stdout).group(0),
        re.search(r"(?m)^Date: .*$", r1.stdout).group(0)) and before == after
           and not digests(sent),
           "render prints the open window's digest and closes and sends nothing",
           r1.stderr)
    f1 = flush(env)
    d = digests(sent)
    result(f1.returncode == 0 and len(d) == 1, "flush mails one digest", f1.stdout + f1.stderr)
    m = parse(d[0]) if d else None
    if m:
        body = m.get_content()
        first = body.split("\n")[1] if body.count("\n") > 1 else ""
        result(m["Subject"] == first and first.startswith("KVM-PPC mailing list update from ")
               and m["From"] == "digest@example.org" and m["To"] == "readers@example.org"
               and m["Auto-Submitted"] == "auto-generated" and m["X-Patchdigest-Digest"]
               and m["Date"] and m["Message-ID"] and m["MIME-Version"] == "1.0"
               and m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8",
               "the digest's headers: From, To, Subject (its second line), Date, Message-ID, "
               "MIME-Version, Content-Type, Auto-Submitted, the marker", str(m)[:600])
        result(heads(d[0]) == (before["from"][:9], before["to"][:9]),
               "the digest runs from the window's opening head to its closing head",
               "%s vs %s %s" % (heads(d[0]), before["from"], before["to"]))
    # the digest fed back to the milter is skipped, not counted
    own = os.path.join(env.dir, "own.eml")
    with open(own, "wb") as f:
        f.write(b"Return-Path: <digest@example.org>\nList-Id: <kvm-ppc.vger.kernel.org>\n" + d[0])
    env.feed([own])
    time.sleep(0.5)
    result(env.stats()["lists"][0]["mails"] == 0,
           "the milter skips the digest it sees come back", env.stats())
    # an empty window sends nothing, --force sends it
    f2 = flush(env)
    result(f2.returncode == 0 and len(digests(sent)) == 1 and "nothing to send" in f2.stdout,
           "an empty window sends nothing", f2.stdout + f2.stderr)
    env.feed(b)
    env.wait_recorded(len(b))
    f3 = flush(env)
    d = digests(sent)
    result(f3.returncode == 0 and len(d) == 2 and heads(d[0]) and heads(d[1]) and
           heads(d[0])[1] == heads(d[1])[0],
           "consecutive digests chain: one's to is the next one's from",
           "%s" % [heads(x) for x in d])
    f4 = flush(env, "--force")
    d = digests(sent)
    result(f4.returncode == 0 and len(d) == 3 and heads(d[2])[0] == heads(d[2])[1] == heads(d[1])[1],
           "--force sends the empty window (from and to equal)", f4.stdout + f4.stderr)
    ids = [parse(x)["Message-ID"] for x in d]
    result(len(set(ids)) == 3, "every window has its own Message-ID", ids)
    # a closed window renders again, identical to what was mailed
    rw = env.cli("render", "--window", "1")
    result(rw.returncode == 0 and rw.stdout.encode() == digests(sent)[0],
           "render --window 1 gives the mailed digest byte for byte",
           rw.stderr + rw.stdout[:300])
    rw = env.cli("render", "--window", "99")
    result(rw.returncode != 0 and "window 99" in rw.stderr and pdtest.LIST_ID in rw.stderr,
           "render of a window Redis does not hold fails and says which", rw.stderr)
    rl = env.cli("flush", "--list", "no.such.list")
    result(rl.returncode != 0 and "no.such.list" in rl.stderr,
           "flush --list of an unknown list fails and names it", rl.stderr)
finally:
    env.close()

# ---- a forced flush before any mail opens the first window as record.lua does ----
# (with the packed layout: else the first mail recorded after it took the
# list for one of the older layout, and every mail of the next twice the
# retention looked for the older mid: keys too)
env, sent = new_env()
try:
    r = flush(env, "--force")
    base = "pd:{%s}:" % pdtest.LIST_ID
    got = env.cli("import", "--list", pdtest.LIST_ID, POSTS[0])
    fields = env.redis_cli("HGETALL", base + "meta").split()
    meta = dict(zip(fields[::2], fields[1::2]))
    result(r.returncode == 0 and got.returncode == 0 and meta.get("layout") == "2" and
           "legacy" not in meta and meta.get("window") == "2",
           "a forced flush of an empty list, then a mail: window 2, the packed layout, no "
           "older keys looked for", r.stderr + got.stderr + repr(meta))
finally:
    env.close()

# ---- a flush that dies after closing, before sending; a Sendmail that fails ----
env, sent = new_env()
try:
    die = os.path.join(env.dir, "die")
    fail = os.path.join(env.dir, "fail")
    after_send = os.path.join(env.dir, "die-after-send")
    # the Sendmail runs under /bin/sh, child of the flush: $PPID is the flush
    script = ("if [ -e %s ]; then rm %s; kill -9 $PPID; exit 1; fi; "
              "if [ -e %s ]; then exit 75; fi; cat >> %s; "
              "if [ -e %s ]; then rm %s; kill -9 $PPID; fi"
              % (die, die, fail, sent, after_send, after_send))
    conf = env.write_conf("flush.conf", "milter.sock", "journal", ((pdtest.LIST_ID, "KVM-PPC"),),
                          "DigestFrom digest@example.org\nDigestTo r@example.org\n"
                          "Sendmail %s\n" % script)
    env.start_milter()
    env.feed(POSTS[:30])
    env.wait_recorded(30)
    open(die, "w").close()
    f1 = flush(env, conf=conf)
    st = env.stats()["lists"][0]
    result(f1.returncode != 0 and not digests(sent) and st["window"] == 2,
           "a flush killed between close and send: window 1 closed, nothing sent",
           "rc %d %s %s" % (f1.returncode, f1.stderr, st.get("window")))
    env.feed(POSTS[30:40])
    env.wait_recorded(10)
    f2 = flush(env, conf=conf)
    d = digests(sent)
    result(f2.returncode == 0 and len(d) == 2 and "window 1 sent" in f2.stdout
           and "window 2 sent" in f2.stdout,
           "the next flush sends the pending window 1, then its own window 2",
           f2.stdout + f2.stderr)
    w1 = window_mails(env, 1)
    w2 = window_mails(env, 2)
    result(len(w1) == 30 and len(w2) == 10 and not set(w1) & set(w2),
           "the mail fed after the crash is in window 2 only", "%d %d" % (len(w1), len(w2)))
    # Sendmail fails: exit status, the list named, the window kept for the next flush
    env.feed(POSTS[40:45])
    env.wait_recorded(5)
    open(fail, "w").close()
    f3 = flush(env, conf=conf)
    result(f3.returncode == 1 and pdtest.LIST_ID in f3.stderr and "75" in f3.stderr
           and len(digests(sent)) == 2,
           "a failing Sendmail: exit 1, the error names the list and the status", f3.stderr)
    os.unlink(fail)
    f4 = flush(env, conf=conf)
    result(f4.returncode == 0 and len(digests(sent)) == 3 and "window 3 sent" in f4.stdout,
           "the next flush sends the window the failed one closed", f4.stdout + f4.stderr)
    # killed after Sendmail took the mail, before it was marked sent: the next
    # flush hands over the very same mail again (same Message-ID and Date)
    env.feed(POSTS[45:50])
    env.wait_recorded(5)
    open(after_send, "w").close()
    f5 = flush(env, conf=conf)
    f6 = flush(env, conf=conf)
    d = digests(sent)
    result(f5.returncode != 0 and f6.returncode == 0 and len(d) == 5 and d[3] == d[4],
           "a digest handed over twice is the same mail byte for byte",
           "%d digests; rc %d %d" % (len(d), f5.returncode, f6.returncode))
    # the lock of a live flush elsewhere: this list fails after --wait, named
    env.redis_cli("SET", "pd:{%s}:lock" % pdtest.LIST_ID, "otherhost 1 abc", "PX", "60000")
    env.feed(POSTS[50:52])
    env.wait_recorded(2)
    f7 = flush(env, "--wait", "1", conf=conf)
    result(f7.returncode == 1 and pdtest.LIST_ID in f7.stderr and "otherhost" in f7.stderr,
           "a lock held by a flush on another host: exit 1 after --wait, list named",
           f7.stderr)
finally:
    env.close()

# ---- hostile mail cannot add a header or break the layout ----
DIFF = b"---\n a.c | 1 +\n 1 file changed, 1 insertion(+)\n\ndiff --git a/a.c b/a.c\n" \
       b"--- a/a.c\n+++ b/a.c\n@@ -0,0 +1 @@\n+x\n"


def hostile_mails(d):
    subjects = [
        b"=?UTF-8?Q?[PATCH]_evil=0D=0AX-Injected:_yes?=",
        b"[PATCH] raw invalid \xff\xfe UTF-8 \xc3",
        b"=?UTF-8?Q?[PATCH]_nul=00here_and_bell=07?=",
        b"[PATCH] " + b"long " * 600,
        b"=?UTF-8?B?W1BBVENIXSBiYXNlNjQgCkJjYzogdmljdGltQGV4YW1wbGUub3Jn?=",
    ]
    froms = [b"=?UTF-8?Q?Evil=0D=0ABcc:_x@example.org?= <evil@example.org>",
             b"Raw \xff Name <raw@example.org>", b"Nul <nul@example.org>",
             b"Long <long@example.org>", b"B64 <b64@example.org>"]
    bodies = [b"Text with\r\r a CR.\n", b"Invalid \xff\xfe bytes\n",
              b"Control \x01\x02 chars\n", b"Long " * 800 + b"\n",
              b"From: Inbody =?UTF-8?Q?Name=0D=0AX-Evil:_1?= <in@example.org>\n\nBody.\n"]
    files = []
    for i, (sub, fr, body) in enumerate(zip(subjects, froms, bodies)):
        path = os.path.join(d, "hostile%d.eml" % i)
        with open(path, "wb") as f:
            f.write(b"From: " + fr + b"\nSubject: " + sub + b"\nMessage-ID: <hostile%d@x>\n"
                    b"List-Id: <kvm-ppc.vger.kernel.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                    b"\n" % i + body + DIFF)
        files.append(path)
    return files


env, sent = new_env()
try:
    env.start_milter()
    files = hostile_mails(env.dir)
    s = env.feed(files)
    env.wait_recorded(len(files))
    f = flush(env)
    d = digests(sent)
    result(f.returncode == 0 and len(d) == 1 and s.get("accepted") == str(len(files)),
           "hostile mail is accepted, recorded and flushed", f.stderr + str(s))
    if d:
        m = parse(d[0])
        names = sorted(set(k.lower() for k in m.keys()))
        want = sorted(["from", "to", "subject", "date", "message-id", "mime-version",
                       "content-type", "content-transfer-encoding", "auto-submitted",
                       "x-patchdigest-digest"])
        result(names == want and len(m.keys()) == len(want),
               "no input adds a header to the digest mail", m.keys())
        head, _, _ = d[0].partition(b"\n\n")
        longest = max(len(l) for l in d[0].split(b"\n"))
        result(longest <= 998 and b"\r" not in d[0] and b"\0" not in d[0],
               "the digest mail has no line over 998 bytes, no CR, no NUL", longest)
        text = m.get_content()
        lines = text.split("\n")
        news = [i for i, l in enumerate(lines) if l.startswith("New:  ")]
        shape = all(lines[i + 1].startswith("[PATCH] ") and lines[i + 2].startswith("Author: ")
                    and lines[i + 3] == "" for i in news)
        result(len(news) == len(files) and shape,
               "every New: entry keeps its three lines (title, subject, Author)",
               "\n".join(lines[i] + " | " + lines[i + 1][:60] + " | " + lines[i + 2][:60]
                         for i in news))
        result("X-Injected: yes" in text and "\nX-Injected" not in text and
               "\nBcc" not in text and "\nX-Evil" not in text,
               "encoded CR/LF in subjects and names stay inside their line",
               [l for l in lines if "Injected" in l or "Bcc" in l])
        try:
            text.encode("utf-8")
            valid = "\ufffd" in text
        except UnicodeError:
            valid = False
        result(valid and "nul" in text and "\x07" not in text and "\x01" not in text,
               "invalid UTF-8 becomes U+FFFD, control characters go", "")
finally:
    env.close()

# ---- racing flushes while mail flows ----
# The feed is paced to last about 3 s and the Sendmail takes 0.2 s, so that
# in each round of 4 flushes started at once the others find the lock taken
# and wait ("nothing to send (another flush sent it)"), and windows close
# while mail is being recorded: the test requires both.
env, sent = new_env()
try:
    slow = os.path.join(env.dir, "slow.conf")
    env.write_conf("slow.conf", "milter.sock", "journal", ((pdtest.LIST_ID, "KVM-PPC"),),
                   "DigestFrom digest@example.org\nDigestTo readers@example.org\n"
                   "Sendmail sleep 0.2; cat >> %s\n" % sent)
    env.start_milter()
    feeder = threading.Thread(target=lambda: env.feed(POSTS[:600], conns=4, pace_ms=20))
    feeder.start()
    procs = []
    rounds = 0
    while feeder.is_alive() and rounds < 40:
        ps = [subprocess.Popen([PD, "flush", "-c", slow], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in ps:
            p.out = p.communicate()[0]
        procs += ps
        rounds += 1
    feeder.join()
    waited = sum("another flush sent it" in p.out for p in procs)
    closed_mid_feed = sum(" sent: " in p.out for p in procs)

    def recorded():
        st = env.stats()["lists"][0]
        # a window a flush just opened has no "mails" field yet
        return sum(int(env.redis_cli("HGET", "pd:{%s}:w:%d" % (pdtest.LIST_ID, n), "mails")
                       .strip() or 0) for n in range(1, st["window"] + 1))
    pdtest.wait_for(lambda: recorded() >= 600, 30, 0.2)
    final = flush(env)
    rcs = [p.returncode for p in procs] + [final.returncode]
    st = env.stats()["lists"][0]
    nwin = st["window"] - 1
    d = digests(sent)
    numbers = [parse(x)["X-Patchdigest-Digest"] for x in d]
    all_mails = []
    for n in range(1, nwin + 1):
        all_mails += window_mails(env, n)
    result(waited > 0 and closed_mid_feed >= 2,
           "the flushes raced: %d waited for another's lock, %d sent a window while mail "
           "flowed" % (waited, closed_mid_feed), [p.out for p in procs])
    result(all(rc == 0 for rc in rcs), "racing flushes all succeed (%d runs of 4)" % rounds,
           rcs)
    result(len(d) == nwin and len(set(numbers)) == nwin,
           "exactly one digest per closed window (%d windows)" % nwin,
           "%d digests for %d windows: %s" % (len(d), nwin, numbers))
    result(len(all_mails) == 600 and len(set(all_mails)) == 600 and st["mails"] == 0,
           "every mail recorded during the flushes is in exactly one window",
           "%d in windows, %d distinct, %d open" % (len(all_mails), len(set(all_mails)),
                                                   st["mails"]))
    chain = [heads(x) for x in d]
    result(all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1)),
           "the digests of the racing flushes chain", chain)
finally:
    env.close()

pdtest.finish()
