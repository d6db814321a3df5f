#!/usr/bin/env python3
"""Faults injected for real while mail flows: Redis frozen (SIGSTOP) and
Redis stopped in the middle of a feed, Redis back with its data lost, two
milters with their own journals on one Redis, the milter killed with -9
and a torn last journal record.  Every mail must be answered ACCEPT at
once, and the counters must end exactly as an undisturbed run's.  Each
fault is shown to land while mail is in flight: the feeds are paced to last
seconds, the faults come once mail is being recorded, and the test checks
that mail was recorded during the fault, that records waited in the journal
(the milter's StatusFile) and, for the kill, that mails went unanswered and
were retried and that recorded mails were in the journal only."""
import glob
import os
import shutil
import signal
import threading
import time

import pdtest
from pdtest import result

POSTS = pdtest.corpus_files()
WANT = pdtest.reference_stats(POSTS)
# Over several connections mail arrives in another order than the files'
# (the reference's), so the chain head and which name an address is shown
# with (the first seen) differ; everything else must not.
UNORDERED = [k for k in pdtest.COUNTERS if k not in ("to", "contributors")]


def unordered_diffs(got, want, keys=UNORDERED):
    diffs = pdtest.compare(got or {}, want, keys)
    g = pdtest.by_address((got or {}).get("contributors"))
    w = pdtest.by_address(want.get("contributors"))
    diffs += ["contributors[%s]: got %s, want %s" % (a, g.get(a), w.get(a))
              for a in sorted(set(g) | set(w)) if g.get(a) != w.get(a)]
    return diffs


def feed_in_background(env, files, **kw):
    return env.feed_background(files, **kw)


# ---- Redis frozen, then Redis stopped, mid-feed ----
# The feed is paced (each of 4 connections pauses PACE ms after each mail) so
# that it lasts seconds on any machine; each fault is injected once mail is
# being recorded, and the test checks that mail went on being recorded
# while the fault lasted and that records waited for Redis.
PACE = 5
env = pdtest.Env()
try:
    env.start_milter()
    t, s = env.feed_background(POSTS, conns=4, pace_ms=PACE)
    started = pdtest.wait_for(lambda: env.recorded_lines() >= 100, 60)
    env.redis.send_signal(signal.SIGSTOP)
    r0 = env.recorded_lines()
    time.sleep(3)
    r1 = env.recorded_lines()
    # the status is rewritten every second, Redis or not
    st = env.status()
    env.redis.send_signal(signal.SIGCONT)
    t.join()
    result(started and r1 - r0 >= 50 and st.get("journal_backlog_records", 0) >= 50,
           "Redis frozen 3 s mid-feed: %d mails recorded during the freeze, the status shows "
           "%s records waiting" % (r1 - r0, st.get("journal_backlog_records")),
           "feed started: %s; status: %s" % (started, st))
    result(s.get("rc") == 0 and s.get("accepted") == str(len(POSTS)) and s.get("late") == "0",
           "Redis frozen 3 s mid-feed: all %d posts accepted, none waited over 1 s"
           % len(POSTS), s)
    got = env.wait_recorded(len(POSTS), mails=WANT["mails"])
    diffs = unordered_diffs(got, WANT)
    result(got is not None and not diffs, "after the freeze the counters are exact",
           "\n".join(diffs))
finally:
    env.close()

env = pdtest.Env(persist=True)   # what Redis had before the stop, it keeps
try:
    env.start_milter()
    t, s = env.feed_background(POSTS, conns=4, pace_ms=PACE)
    started = pdtest.wait_for(lambda: env.recorded_lines() >= 100, 60)
    env.stop_redis()
    r0 = env.recorded_lines()
    t.join()
    r1 = env.recorded_lines()
    # what was recorded after the stop waits in the journal, unshipped
    waiting = pdtest.wait_for(lambda: env.status().get("journal_backlog_records", 0) >= r1 - r0
                              and env.status().get("redis_up") == 0, 5)
    st = env.status()
    result(started and r1 - r0 >= 100 and waiting,
           "Redis stopped mid-feed: %d mails recorded after the stop, %s journal records "
           "waiting for Redis" % (r1 - r0, st.get("journal_backlog_records")),
           "feed started: %s; status: %s" % (started, st))
    result(s.get("rc") == 0 and s.get("accepted") == str(len(POSTS)) and s.get("late") == "0",
           "Redis stopped mid-feed: all posts accepted at once", s)
    env.start_redis()
    got = env.wait_recorded(len(POSTS), mails=WANT["mails"])
    diffs = unordered_diffs(got, WANT)
    result(got is not None and not diffs, "Redis started again: counters converge exactly",
           "\n".join(diffs))
    drained = pdtest.wait_for(lambda: env.status().get("journal_backlog_records") == 0, 5)
    result(drained, "Redis started again: the journal's backlog is shipped (0 waiting)",
           env.status())

    # Redis comes back empty: what it lost is lost, but recording goes on
    env.stop_redis()
    shutil.rmtree(os.path.join(env.dir, "appendonlydir"), ignore_errors=True)
    env.start_redis()
    extra = POSTS[:20]
    s2 = env.feed(extra)
    got = env.wait_recorded(len(extra))
    result(s2.get("accepted") == str(len(extra)) and got is not None and
           got["mails"] == pdtest.reference_stats(extra)["mails"],
           "Redis back empty: the milter reconnects, loads its script again, records on",
           "%s %s" % (s2, got))
finally:
    env.close()

# ---- two MX hosts: two milters, two journals, one Redis, the same posts ----
env = pdtest.Env()
try:
    conf2 = env.write_conf("mx2.conf", "mx2.sock", "journal-mx2", ((pdtest.LIST_ID, "KVM-PPC"),))
    env.start_milter()
    env.start_milter(conf2, sock="mx2.sock")
    t1, s1 = feed_in_background(env, POSTS, conns=4)
    t2, s2 = feed_in_background(env, POSTS, conns=4, sock="mx2.sock")
    t1.join()
    t2.join()
    ok = all(x.get("accepted") == str(len(POSTS)) and x.get("late") == "0" for x in (s1, s2))
    result(ok, "two milters fed the same %d posts at once: all accepted in time" % len(POSTS),
           "%s\n%s" % (s1, s2))
    want = dict(WANT)
    want["duplicates"] = WANT["duplicates"] + len(POSTS)
    got = env.wait_recorded(2 * len(POSTS), mails=WANT["mails"])
    diffs = unordered_diffs(got, want)
    result(got is not None and not diffs,
           "each Message-ID counted once; the second delivery counts in duplicates",
           "\n".join(diffs))
finally:
    env.close()

# ---- the milter killed with -9 mid-feed; a torn last journal record ----
env = pdtest.Env()
try:
    env.start_milter()
    k = pdtest.kill_mid_feed(env, POSTS)
    s = k["summary"]
    lost = k["recorded_at_kill"] - (k["in_redis_at_kill"] or 0)
    result(k["landed"] and k["retried"] > 0 and k["in_redis_at_kill"] is not None and lost > 0,
           "milter killed with -9 mid-feed: %d mails unanswered and retried, %d recorded mails "
           "were in its journal only" % (k["retried"], lost), k)
    result(s.get("rc") == 0 and s.get("accepted") == str(len(POSTS)),
           "milter killed with -9 mid-feed, restarted: the feeder's retries are all accepted",
           s)
    got = env.wait_recorded(len(POSTS), mails=WANT["mails"])
    want = {k: v for k, v in WANT.items() if k != "duplicates"}
    diffs = unordered_diffs(got, want, [k for k in UNORDERED if k != "duplicates"])
    result(got is not None and not diffs,
           "after kill -9, the journal's replay and retries every post is counted once "
           "(retries count as duplicates: %s)" % (got or {}).get("duplicates"), "\n".join(diffs))

    # cut the last journal record in half while the milter is down
    for p in list(env.milters):
        env.stop_milter(p, sig=signal.SIGKILL)
    segs = sorted(glob.glob(os.path.join(env.dir, "journal", "seg-*")))
    last = segs[-1] if segs else None
    size = os.path.getsize(last) if last else 0
    torn = bool(last and size > 20)
    if torn:
        with open(last, "r+b") as f:
            f.truncate(size - 7)
    before = env.stats()["lists"][0]
    logged = len(env.log())
    m = env.start_milter()
    time.sleep(1)
    alive = m.poll() is None
    log = env.log()[logged:]
    result(torn and alive and ("torn" in log or "cut" in log), "a torn last journal record: "
           "the milter starts and says it cut the tail", "segment %s, %d bytes\n%s"
           % (last, size, log[-1500:]))
    extra = os.path.join(env.dir, "after-torn.eml")
    with open(POSTS[0], "rb") as src, open(extra, "wb") as dst:
        dst.write(src.read().replace(b"Message-ID: <", b"Message-ID: <after-torn-", 1)
                  .replace(b"Message-Id: <", b"Message-Id: <after-torn-", 1))
    s3 = env.feed([extra])
    got = env.wait_recorded(before["mails"] + before["duplicates"] + 1,
                            mails=before["mails"] + 1)
    result(s3.get("accepted") == "1" and got and got["mails"] == before["mails"] + 1,
           "after the torn tail nothing acknowledged is lost and new mail is recorded",
           "%s %s" % (before.get("mails"), got and got.get("mails")))
finally:
    env.close()

pdtest.finish()
