#!/usr/bin/env python3
"""The milter's own rules: bounded buffering, list choice by List-Id or
envelope recipient, its own digests skipped, malformed mail accepted and
recorded, a kill -9 loses nothing that was answered."""
import os
import signal
import subprocess
import time

import pdtest
from pdtest import result

env = pdtest.Env(lists=((pdtest.LIST_ID, "KVM-PPC"),), extra="MaxMessageBytes 8K\n")
try:
    m = env.start_milter()
    mails = os.path.join(env.dir, "mails")
    os.mkdir(mails)

    def write(name, data):
        path = os.path.join(mails, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    files = pdtest.corpus_files()
    big = [f for f in files if os.path.getsize(f) > 20000][:5]
    s = env.feed(big)
    st = env.wait_recorded(len(big))
    result(s["rc"] == 0 and st and st["truncated"] == len(big) and st["mails"] == len(big),
           "mails over MaxMessageBytes are accepted, recorded from their head, counted truncated",
           (s, st))

    # envelope recipients when there is no List-Id
    with open(files[0], "rb") as f:
        raw = f.read()
    no_listid = b"".join(l for l in raw.splitlines(True)
                         if not l.lower().startswith(b"list-id:"))
    no_listid = no_listid.replace(b"Message-ID: <", b"Message-ID: <rcpt-")
    p = write("rcpt.eml", no_listid)
    s = env.feed([p])  # default recipient list@example.org: no list
    before = env.stats()["lists"][0]["mails"]
    time.sleep(0.5)
    result(env.stats()["lists"][0]["mails"] == before, "no List-Id and no list recipient: ignored")
    r = subprocess.run(
        [os.path.join(pdtest.BUILD, "tests", "feeder"), "-s",
         "unix:" + os.path.join(env.dir, "milter.sock"), "-r", "<kvm-ppc@vger.kernel.org>", p],
        capture_output=True, text=True)
    st = env.wait_recorded(before + 1 + st["duplicates"], timeout=10)
    result(r.returncode == 0 and st["mails"] == before + 1,
           "no List-Id: the envelope recipient kvm-ppc@vger.kernel.org picks the list", st)

    # the digest's own marker header: skipped
    own = raw.replace(b"Message-ID: <", b"X-Patchdigest-Digest: yes\nMessage-ID: <own-", 1)
    p = write("own.eml", own)
    s = env.feed([p])
    time.sleep(0.5)
    st2 = env.stats()["lists"][0]
    result(s["rc"] == 0 and st2["mails"] == st["mails"], "mail carrying the digest marker is skipped")

    # malformed mail: accepted, recorded as well as it can be
    hostile = [
        write("empty.eml", b""),
        write("noheaders.eml", b"just a body line\nand another\n"),
        write("nul.eml", b"Subject: [PATCH] nul\x00bytes\nList-Id: <kvm-ppc.vger.kernel.org>\n"
              b"From: A <a@b.c>\n\nbody\x00\xff\xfe\n"),
        write("badmime.eml", b"Subject: x\nList-Id: <kvm-ppc.vger.kernel.org>\nFrom: x@y.z\n"
              b"Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain;"
              b" charset=no-such-charset\nContent-Transfer-Encoding: base64\n\n!!!broken===\n"),
        write("longline.eml", b"List-Id: <kvm-ppc.vger.kernel.org>\nFrom: y@z.w\nSubject: "
              + b"x" * 60000 + b"\n\nbody\n"),
        # crafted to make decoders quadratic: long runs of unfinished encoded
        # (the Subject stays under 64 KiB, libmilter's default packet limit)
        # words in the Subject and the in-body From line, 100,000 trailers
        write("slow.eml", b"List-Id: <kvm-ppc.vger.kernel.org>\nFrom: a@b.c\nIn-Reply-To: <x@y>\n"
              b"Subject: " + b"=?a?q?x" * 8000 + b"\n\nFrom: " + b"=?a?q?x" * 60000 + b"\n" +
              b"".join(b"Acked-by: a%d@x.y\n" % i for i in range(100000))),
    ]
    s = env.feed(hostile)
    result(s["rc"] == 0 and s.get("accepted") == str(len(hostile)) and s.get("late") == "0",
           "malformed and crafted mail is answered ACCEPT, none late (max %s ms)"
           % s.get("max_latency_ms"), s)
    st3 = env.wait_recorded(st2["mails"] + st2["duplicates"] + 4, timeout=10)
    result(st3 and st3["mails"] == st2["mails"] + 4 and st3["truncated"] == st2["truncated"] + 2
           and m.poll() is None,
           "the malformed mails with a List-Id are recorded; the milter is still up", st3)

    # kill -9 mid-feed, restart, the feeder retries: counted once.  The kill
    # must land while mail is in flight and records wait in the journal
    # (pdtest.kill_mid_feed: a paced feed, Redis frozen before the kill).
    env.stop_milter(m)
    conf2 = env.write_conf("kill.conf", "kill.sock", "journal-kill",
                           [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix kill:\n")
    m2 = env.start_milter(conf2, sock="kill.sock")
    k = pdtest.kill_mid_feed(env, files, conf=conf2, sock="kill.sock", milter=m2)
    lost = k["recorded_at_kill"] - (k["in_redis_at_kill"] or 0)
    result(k["landed"] and k["retried"] > 0 and k["in_redis_at_kill"] is not None and lost > 0,
           "kill -9 landed mid-feed: %d mails unanswered and retried, %d recorded mails were "
           "in the journal only" % (k["retried"], lost), k)
    out = " ".join("%s %s" % (x, k["summary"].get(x)) for x in ("fed", "accepted", "late"))
    err = k["summary"].get("stderr", "")
    feeder_rc = k["summary"].get("rc")
    want = pdtest.reference_stats(files)
    st = env.wait_recorded(len(files), conf=conf2, timeout=60, mails=want["mails"])
    # concurrent arrival: compare people by address, not by the first name seen
    for x in (st or {}, want):
        for k in ("contributors", "reviewers"):
            x[k] = pdtest.by_address(x.get(k))
    diffs = pdtest.compare(st or {}, want, keys=("mails", "classes", "domains", "contributors",
                                                 "reviewers"))
    result(feeder_rc == 0 and not diffs,
           "kill -9 mid-feed, restart, journal replay, retries: every post counted once (%s)"
           % out.strip(),
           err[-1000:] + "\n".join(diffs))
finally:
    env.close()
pdtest.finish()
