#!/usr/bin/env python3
"""README promises that no other test exercises, each against a real
redis-server and a real milter:

* retention: every key of a sent window, of a mail, a series, a Message-ID
  and a subject carries the Retention as its TTL, the list's meta and the
  open window none; within it a resent subject is a resend and `render
  --window N` shows the window; once the keys expired (made to expire now,
  rather than waiting an hour), `render --window N` says the window is no
  longer in Redis, a known subject is new again, a known Message-ID counts
  as new mail, and the chain goes on;
* the journal unusable and Redis down: records wait in memory up to 32 MiB,
  the rest is dropped with one error line per record, and what waited
  reaches Redis when it is back; a header block is kept up to 256 KiB;
* DomainMap: the employers table of the digest, from the configuration to
  the flush, against an independent reading of the gitdm map;
* SIGHUP: a new TopN, MaxMessageBytes and LogLevel apply to the mail (and
  flush) that come after it;
* a DigestPage that cannot be written: no mail, the window stays pending,
  the next flush writes the page and sends it;
* a malformed mail (multiparts nested past the parser's bounds) is
  recorded and counted as malformed;
* `patchdigest stats` with Redis down prints the milter's part, exits 1."""
import hashlib
import os
import re
import signal
import struct
import sys
import time

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refclassify  # noqa: E402

POSTS = pdtest.corpus_files()
LIST = pdtest.LIST_ID
BASE = "pd:{%s}:" % LIST
RETENTION = 3600          # the smallest Retention allowed (1h)


def write(env, name, data):
    path = os.path.join(env.dir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def new_mid(src, mid):
    with open(src, "rb") as f:
        raw = f.read()
    out, n = re.subn(rb"(?mi)^Message-I[dD]:[^\n]*(\n[ \t][^\n]*)*", b"Message-ID: <" +
                     mid.encode() + b">", raw, count=1)
    assert n == 1, src
    return out


def first_post(want):
    for f in POSTS:
        m = next(refclassify.mails([f]))
        if want(m):
            return f, m
    raise RuntimeError("no post fits")


def quick_close(env):
    """Close an Env without the milter's clean stop (test_operations checks
    that stop): kill -9, then close."""
    for p in list(env.milters):
        env.stop_milter(p, sig=signal.SIGKILL)
    env.close()


def keys(env):
    return [k for k in env.redis_cli("--scan", "--pattern", BASE + "*").split("\n") if k]


def ttl(env, k):
    return int(env.redis_cli("TTL", k).strip() or -2)


def digest_env(extra=""):
    env = pdtest.Env()
    sent = os.path.join(env.dir, "sent.mbox")
    env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal", ((LIST, "KVM-PPC"),),
                              "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                              "Sendmail cat >> %s\n%s" % (sent, extra))
    return env, sent


# ---------------------------------------------------------------- retention
def section_1():
    env, sent = digest_env("Retention 1h\n")
    try:
        env.start_milter()
        patch, pm = first_post(lambda m: m.cls == "patch" and m.subj["index"] is None)
        batch = POSTS[:40]
        if patch not in batch:
            batch = batch + [patch]
        s = env.feed(batch)
        env.wait_recorded(len(batch))
        f1 = env.cli("flush")
        d1 = pdtest.digests(sent)
        w1 = [k for k in keys(env) if k.startswith(BASE + "w:1")]
        mk = [k for k in keys(env) if k.startswith(tuple(BASE + x for x in ("m:", "s:", "mid:", "subj:")))]
        bad = ["%s %d" % (k, ttl(env, k)) for k in w1 + mk
               if not RETENTION - 60 < ttl(env, k) <= RETENTION]
        result(f1.returncode == 0 and len(d1) == 1 and w1 and mk and not bad,
               "a sent window's keys and the mail, series, Message-ID and subject keys expire "
               "with the Retention (%d keys)" % (len(w1) + len(mk)), "\n".join(bad[:20]) or f1.stderr)
        forever = [k for k in keys(env) if ttl(env, k) == -1]
        result(sorted(forever) == sorted([BASE + "meta", BASE + "w:2"]),
               "only the list's meta and the open window are kept without a TTL", forever)
        # within the retention: a resend is a resend, render --window shows the window
        env.feed([write(env, "resend.eml", new_mid(patch, "resend-within@pdtest.invalid"))])
        st = env.wait_recorded(1)
        r1 = env.cli("render", "--window", "1")
        result(st and st["resends"] == 1 and r1.returncode == 0 and
               r1.stdout.encode() == d1[0],
               "within the Retention: the same subject again is a resend, render --window 1 "
               "gives the digest mailed", (st, r1.stderr))
        f2 = env.cli("flush")
        head2 = env.stats()["lists"][0]["from"]

        # the retention passes: every key with a TTL expires
        expiring = [k for k in keys(env) if ttl(env, k) > 0]
        for k in expiring:
            env.redis_cli("PEXPIRE", k, "1")
        pdtest.wait_for(lambda: not [k for k in keys(env) if ttl(env, k) > 0], 5)
        r1 = env.cli("render", "--window", "1")
        result(r1.returncode != 0 and "window 1 is not in Redis" in r1.stderr,
               "after the Retention: render --window 1 says the window is no longer in Redis",
               "rc %d: %s" % (r1.returncode, r1.stderr))
        env.feed([patch, write(env, "resend2.eml", new_mid(patch, "resend-after@pdtest.invalid"))])
        st = env.wait_recorded(2)
        result(st and st["mails"] == 2 and st["duplicates"] == 0 and st["resends"] == 1 and
               st["from"] == head2,
               "after the Retention: a known Message-ID is new mail, a known subject new once "
               "more, the chain goes on from window 2's head", st)
        f3 = env.cli("flush")
        d = pdtest.digests(sent)
        text = d[-1].decode("utf-8", "replace") if d else ""
        result(f3.returncode == 0 and len(d) == 3 and ("New:  " + pm.subj["title"]) in text and
               ("Exist: " + pm.subject) in text,
               "after the Retention the post is New again in the digest, its resend Exist",
               text[-1500:])
    finally:
        quick_close(env)


# ---------------------------------------------------------------- 32 MiB in memory
def section_2():
    # JournalDir is a regular file (the journal cannot be opened) and Redis is
    # down: each record is kept in memory.  Each mail is a cover letter with
    # about 225 KB of headers and a 60 KB text, so a record is about 285 KB:
    # 140 of them are more than 32 MiB.
    env = pdtest.Env()
    try:
        jfile = os.path.join(env.dir, "not-a-dir")
        open(jfile, "w").close()
        conf = env.write_conf("mem.conf", "milter.sock", "not-a-dir", ((LIST, "KVM-PPC"),))
        env.conf = conf
        env.start_milter(conf)
        env.stop_redis()
        # header values are kept up to 16 KiB each, the header block to 256 KiB
        pad = [b"X-Pad-%02d: %s" % (i, b"p" * 15000) for i in range(15)]
        text = b"".join(b"line %05d of the cover letter, padding it out to sixty kilobytes.\n" % i
                        for i in range(900))
        N, mails = 140, []
        for i in range(N):
            raw = b"\n".join([b"From: Big Cover <big@example.org>",
                              b"Subject: [PATCH 0/3] big cover number %04d" % i,
                              b"Message-ID: <big-%04d@pdtest.invalid>" % i,
                              b"List-Id: <%s>" % LIST.encode()] + pad) + b"\n\n" + text
            mails.append(write(env, "big%04d.eml" % i, raw))
        size = len(text) + sum(len(p) for p in pad)    # the record holds at least this
        s = env.feed(mails)
        log = env.log()
        drops = re.findall(r"(\S+): list %s: not journalled \(.*\) and 32 MiB of records already "
                           r"wait for Redis: this mail is not recorded" % re.escape(LIST), log)
        kept = re.findall(r"not journalled .*, sent directly to Redis", log)
        st = {}

        def counted():
            st.update(env.status())
            return st.get("direct_lost", 0) + st.get("direct_waiting", 0) == N
        pdtest.wait_for(counted, 5)
        lo, hi = (32 << 20) // (size + 8192), (32 << 20) // size
        result(s.get("accepted") == str(N) and s.get("late") == "0" and
               len(drops) == st.get("direct_lost") == N - len(kept) and
               len(set(drops)) == len(drops) and lo <= len(kept) <= hi and
               st.get("direct_waiting") == len(kept),
               "journal and Redis unusable: %d records (about 285 KB each) wait in memory, up to "
               "32 MiB, the other %d are dropped, one error line each, all mails accepted at once"
               % (len(kept), len(drops)),
               "fed %s; kept %d (want %d..%d), dropped lines %d, status %s"
               % (s, len(kept), lo, hi, len(drops), st))
        env.start_redis()
        got = env.wait_recorded(len(kept), timeout=30)
        result(got and got["mails"] == len(kept) and
               pdtest.wait_for(lambda: env.status().get("direct_waiting") == 0, 5),
               "Redis back: the %d records kept in memory are recorded, nothing waits" % len(kept),
               (got and got["mails"], env.status()))
        # the header block Redis keeps for the page: at most 256 KiB
        pad = [b"X-Pad-%02d: %s" % (i, b"p" * 15000) for i in range(20)]
        raw = b"\n".join([b"From: Big Cover <big@example.org>",
                          b"Subject: [PATCH 0/3] a cover with 300 KB of headers",
                          b"Message-ID: <big-headers@pdtest.invalid>",
                          b"List-Id: <%s>" % LIST.encode()] + pad) + b"\n\nthe cover\n"
        env.feed([write(env, "big-headers.eml", raw)])
        env.wait_recorded(len(kept) + 1)
        h = hashlib.sha1(b"big-headers@pdtest.invalid").hexdigest()
        kept_h = env.mail_field(BASE, h, "headers").encode("utf-8", "surrogateescape")
        # kept compressed (pd_textz.h): "\0D" (or "\0S", "\0Z" written before), the
        # text's length (u32 LE), the compressed text
        packed = kept_h[:2] in (b"\0D", b"\0S", b"\0Z")
        n = struct.unpack("<I", kept_h[2:6])[0] if packed else len(kept_h)
        result(200 * 1024 < n <= 256 * 1024,
               "a cover's header block of 300 KB is kept up to 256 KiB (%d bytes)" % n, n)
    finally:
        quick_close(env)


# ---------------------------------------------------------------- DomainMap employers
def section_3():
    MAP = """# gitdm map of the test
    ibm.com            IBM
    linux.ibm.com      IBM Linux          # a subdomain's own line wins
    in.ibm.com         IBM India
    redhat.com         Red Hat
    google.com         Google
    ozlabs.ru          Ozlabs < 2001-01-01
    ozlabs.ru          Ozlabs Russia
    kernel.org         Kernel.org
    paulus@ozlabs.org  Paul's own       # an address line wins over its domain
    ozlabs.org         OzLabs
    """


    def read_map(text):
        entries = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, who = line.split(None, 1)
            until = None
            if "<" in who:
                who, date = who.rsplit("<", 1)
                until = time.mktime(time.strptime(date.strip(), "%Y-%m-%d")) - time.timezone
            entries.setdefault(key.lower(), []).append((until, who.strip()))
        return entries


    def employer(entries, addr, when):
        def find(key):
            for until, who in sorted(entries.get(key, []), key=lambda e: e[0] or float("inf")):
                if until is None or until > when:
                    return who
            return None
        who = find(addr)
        dom = addr.rpartition("@")[2]
        while who is None and dom:
            who = find(dom)
            if dom.count(".") < 2:
                break
            dom = dom.split(".", 1)[1]
        return who or "(Unknown)"


    env, sent = digest_env()
    try:
        mapfile = write(env, "domain-map", MAP.encode())
        env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal", ((LIST, "KVM-PPC"),),
                                  "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                                  "Sendmail cat >> %s\nDomainMap %s\nTopN 1000\n" % (sent, mapfile))
        env.start_milter()
        part = POSTS[:600]
        env.feed(part)
        env.wait_recorded(len(part))
        f = env.cli("flush")
        d = pdtest.digests(sent)
        body = d[0].decode("utf-8", "replace") if d else ""
        t = refclassify.Tally()
        seen = set()
        for m in refclassify.mails(part):
            if m.mid not in seen:
                seen.add(m.mid)
                t.add(m)
        entries = read_map(MAP)
        emp = {}
        for addr, n in t.contrib.items():
            who = employer(entries, addr, time.time())
            emp[who] = emp.get(who, 0) + n
        want = ["%7d %s" % (n, w) for w, n in
                sorted(emp.items(), key=lambda kv: (-kv[1], kv[0].encode()))]
        m = re.search(r"Top 1000 contributor employers \(Based on Email Body\)\n\n(.*?)\n\n", body,
                      re.S)
        got = m.group(1).split("\n") if m else None
        result(f.returncode == 0 and got == want and len(want) > 3,
               "DomainMap: the digest's employers table sums the contributors by the map "
               "(address, domain, parent domains, dated lines, (Unknown)), %d rows" % len(want),
               "got:\n%s\nwant:\n%s" % ("\n".join(got or ["(no table)"]), "\n".join(want)))
    finally:
        quick_close(env)


# ---------------------------------------------------------------- SIGHUP: TopN, MaxMessageBytes, LogLevel
def section_4():
    env, sent = digest_env()
    try:
        m = env.start_milter()
        big, _ = first_post(lambda x: x.cls == "patch" and os.path.getsize(x.label) > 12000)
        batch = POSTS[:100]
        env.feed(batch + [big])
        st = env.wait_recorded(len(batch) + 1)
        before_lines = env.recorded_lines()
        truncated0 = st["truncated"]
        env.write_conf("patchdigest.conf", "milter.sock", "journal", ((LIST, "KVM-PPC"),),
                       "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                       "Sendmail cat >> %s\nTopN 3\nMaxMessageBytes 8K\n" % sent)
        with open(env.conf) as f:
            text = f.read()
        with open(env.conf, "w") as f:
            f.write(text.replace("LogLevel info\n", "LogLevel notice\n"))
        mark = len(env.log())
        m.send_signal(signal.SIGHUP)
        reloaded = pdtest.wait_for(lambda: re.search(r"reloaded ", env.log()[mark:]), 10)
        again = write(env, "big-again.eml", new_mid(big, "big-after-hup@pdtest.invalid"))
        env.feed([again])
        st = env.wait_recorded(1 + st["mails"] + st["duplicates"])
        result(reloaded and truncated0 == 0 and st and st["truncated"] == 1,
               "SIGHUP: the new MaxMessageBytes (8K) truncates the mail that comes after it "
               "(the same mail was whole before)", (truncated0, st and st["truncated"]))
        n0 = st["mails"]
        env.feed(POSTS[100:110])
        st = env.wait_recorded(10 + st["mails"] + st["duplicates"])
        result(reloaded and env.recorded_lines() == before_lines and st["mails"] == n0 + 10,
               "SIGHUP: the new LogLevel (notice) drops the info line of each mail recorded after it",
               env.log()[mark:][-1500:])
        f = env.cli("flush")
        d = pdtest.digests(sent)
        body = d[-1].decode("utf-8", "replace") if d else ""
        rows = re.search(r"Top 3 contributors \(Based on Email Body\)\n\n(.*?)\n\n", body, re.S)
        result(f.returncode == 0 and rows and len(rows.group(1).split("\n")) == 3 and
               "Top 15 " not in body,
               "the new TopN (3) applies to the next flush: 3 rows a table", body[:1200])
    finally:
        quick_close(env)


# ---------------------------------------------------------------- DigestPage that cannot be written
def section_5():
    env, sent = digest_env()
    try:
        blocker = os.path.join(env.dir, "pages")
        open(blocker, "w").close()        # a file where the page's directory should be
        env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal", ((LIST, "KVM-PPC"),),
                                  "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                                  "Sendmail cat >> %s\nDigestPage %s/%%l-%%w.md\n" % (sent, blocker))
        env.start_milter()
        env.feed(POSTS[:20])
        env.wait_recorded(20)
        f1 = env.cli("flush")
        pending = env.redis_cli("ZRANGE", BASE + "pending", "0", "-1").split()
        result(f1.returncode == 1 and not pdtest.digests(sent) and pending == ["1"] and
               "page" in f1.stderr,
               "a DigestPage that cannot be written: exit 1, no mail sent, window 1 stays pending",
               "rc %d, pending %s: %s" % (f1.returncode, pending, f1.stderr))
        os.unlink(blocker)
        os.mkdir(blocker)
        f2 = env.cli("flush")
        page = os.path.join(blocker, "%s-1.md" % LIST)
        pending = env.redis_cli("ZRANGE", BASE + "pending", "0", "-1").split()
        result(f2.returncode == 0 and len(pdtest.digests(sent)) == 1 and os.path.exists(page) and
               not pending and "window 1 sent" in f2.stdout,
               "the next flush writes the page and sends the pending window",
               "rc %d: %s %s" % (f2.returncode, f2.stdout, f2.stderr))
    finally:
        quick_close(env)


# ---------------------------------------------------------------- stats with Redis down; malformed mail
def nested(depth):
    """A mail of multiparts nested depth deep around one text part."""
    head = [b"From: Deep <deep@example.org>", b"Subject: [PATCH] deep: nested multiparts",
            b"Message-ID: <deep-%d@pdtest.invalid>" % depth, b"List-Id: <%s>" % LIST.encode(),
            b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=b0"]
    body = []
    for i in range(1, depth):
        body += [b"--b%d" % (i - 1), b"Content-Type: multipart/mixed; boundary=b%d" % i, b""]
    body += [b"--b%d" % (depth - 1), b"Content-Type: text/plain", b"", b"the text", b""]
    for i in reversed(range(depth)):
        body += [b"--b%d--" % i]
    return b"\n".join(head) + b"\n\n" + b"\n".join(body) + b"\n"


def section_6():
    env = pdtest.Env()
    try:
        env.start_milter()
        plain = env.feed(POSTS[:5])
        env.wait_recorded(5)
        deep = write(env, "deep.eml", nested(40))
        s = env.feed([deep])
        st = env.wait_recorded(6, timeout=10)
        ok = pdtest.wait_for(lambda: env.status().get("parse_failures") == 1, 5)
        result(plain.get("accepted") == "5" and s.get("accepted") == "1" and st and
               st["mails"] == 6 and ok and
               env.log().count("malformed mail, recorded as well as it could be") == 1,
               "a malformed mail (multiparts nested 40 deep, past the parser's bounds) is "
               "accepted, recorded and counted as malformed, the 5 posts before it not",
               (s, st, env.status().get("parse_failures")))
        env.stop_redis()
        # the status is rewritten every second
        pdtest.wait_for(lambda: env.status().get("redis_up") == 0 or
                        env.status().get("updated", 0) > time.time() + 1, 3)
        r = env.cli("stats")
        rj = env.cli("stats", "--json")
        milter = None
        try:
            milter = pdtest.json.loads(rj.stdout).get("milter")
        except ValueError:
            pass
        bad = env.status().get("parse_failures")
        result(r.returncode == 1 and rj.returncode == 1 and "mails 6:" in r.stdout and
               ("malformed %s," % bad) in r.stdout and milter and
               milter.get("pid") == env.milters[0].pid and milter.get("mails") == 6,
               "stats with Redis down prints the milter's part (mails 6, malformed) and "
               "exits 1", "rc %d/%d\n%s\n%s%s" % (r.returncode, rj.returncode, r.stdout,
                                                   r.stderr, rj.stdout))
    finally:
        quick_close(env)


def run(fn, name):
    """A section that crashes is one failure with its reason; the others run."""
    t0 = time.monotonic()
    try:
        fn()
        print("# %s: %.1f s" % (name, time.monotonic() - t0), flush=True)
    except Exception:
        import traceback
        result(False, "%s: ran to its end" % name, traceback.format_exc())


run(section_1, 'retention')
run(section_2, '32 MiB in memory')
run(section_3, 'DomainMap employers')
run(section_4, 'SIGHUP: TopN, MaxMessageBytes, LogLevel')
run(section_5, 'DigestPage that cannot be written')
run(section_6, 'a malformed mail; stats with Redis down')
pdtest.finish()
