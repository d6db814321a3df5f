#!/usr/bin/env python3
"""patchdigest's torture run ("make torture", ROUNDS=N): every fault at
once, at random, for as long as you like.

Each round starts a fresh Redis (with an append-only file, so a stop keeps
its data) and two milters with their own journals, as two MX hosts of one
list, and feeds both the 1500 kvm-ppc posts (PASSES times) over 4 connections each, with
retries as an MTA makes them.  While the mail flows a chaos thread, at
random moments, kills a milter with -9 and starts it again, stops Redis and
starts it again, freezes it (SIGSTOP) for a while, and runs flushes, some of
which it kills with -9 half way.  At the end it checks:

  - every mail was answered ACCEPT, none later than 1 s (mails a killed
    milter never answered are retried, and count once);
  - every post is in exactly one window, and the windows' counters add up
    to those of an undisturbed run (classes, domains, contributors);
  - there is one digest per closed window; the only repeat allowed is the
    same mail, byte for byte, handed over again because a flush was killed
    after Sendmail took it and before it could mark the window sent.

It prints "ok"/"not ok" lines like the integration tests, and the seed of
each round, so a failure can be run again (SEED=...)."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import pdtest  # noqa: E402
from pdtest import result  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
PASSES = int(os.environ.get("PASSES", "3"))   # feeds of the corpus to each milter per round
POSTS = pdtest.corpus_files()
WANT = pdtest.reference_stats(POSTS)
PD = os.path.join(pdtest.BUILD, "patchdigest")
BASE = "pd:{%s}:" % pdtest.LIST_ID


def new_env():
    env = pdtest.Env(persist=True)
    sent = os.path.join(env.dir, "sent.txt")
    extra = ("DigestFrom digest@example.org\nDigestTo readers@example.org\n"
             "Sendmail cat >> %s\n" % sent)
    env.conf = env.write_conf("mx1.conf", "milter.sock", "journal-mx1",
                              ((pdtest.LIST_ID, "KVM-PPC"),), extra)
    conf2 = env.write_conf("mx2.conf", "mx2.sock", "journal-mx2",
                           ((pdtest.LIST_ID, "KVM-PPC"),), extra)
    return env, sent, conf2


class Chaos(threading.Thread):
    def __init__(self, env, conf2, rng, done):
        super().__init__()
        self.env, self.conf2, self.rng, self.done = env, conf2, rng, done
        self.log = []
        self.flushes = []

    def milter(self, i):
        sock = "milter.sock" if i == 0 else "mx2.sock"
        conf = self.env.conf if i == 0 else self.conf2
        return sock, conf

    def run(self):
        env, rng = self.env, self.rng
        while not self.done.is_set():
            time.sleep(rng.uniform(0.1, 0.5))
            what = rng.choice(["kill", "kill", "redis-stop", "redis-freeze", "flush", "flush",
                               "flush-kill"])
            self.log.append(what)
            if what == "kill":
                i = rng.randrange(2)
                sock, conf = self.milter(i)
                ps = [p for p in env.milters if conf in p.args]
                for p in ps:
                    env.stop_milter(p, sig=signal.SIGKILL)
                time.sleep(rng.uniform(0.05, 0.5))
                env.start_milter(conf, sock=sock)
            elif what == "redis-stop" and env.redis:
                env.stop_redis()
                time.sleep(rng.uniform(0.2, 2.0))
                env.start_redis()
            elif what == "redis-freeze" and env.redis:
                env.redis.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(0.5, 3.0))
                env.redis.send_signal(signal.SIGCONT)
            elif what in ("flush", "flush-kill"):
                conf = rng.choice([env.conf, self.conf2])
                p = subprocess.Popen([PD, "flush", "-c", conf, "--wait", "5"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                if what == "flush-kill":
                    time.sleep(rng.uniform(0.0, 0.2))
                    p.kill()
                    p.communicate()
                else:
                    out, err = p.communicate()
                    self.flushes.append((p.returncode, err.strip()))


def window_hash(env, n, field):
    return int(env.redis_cli("HGET", "%sw:%d" % (BASE, n), field).strip() or 0)


def zset(env, key):
    out = env.redis_cli("ZRANGE", key, "0", "-1", "WITHSCORES").split("\n")
    out = [x for x in out if x != ""]
    return {out[i]: int(float(out[i + 1])) for i in range(0, len(out) - 1, 2)}


def one_round(r, seed):
    rng = random.Random(seed)
    env, sent, conf2 = new_env()
    try:
        env.start_milter()
        env.start_milter(conf2, sock="mx2.sock")
        done = threading.Event()
        chaos = Chaos(env, conf2, rng, done)
        out = [[], []]

        def feed(i, sock):
            for _ in range(PASSES):
                out[i].append(env.feed(POSTS, conns=4, sock=sock, retries=50, timeout=5))
        feeds = [threading.Thread(target=feed, args=(i, sock))
                 for i, sock in enumerate(("milter.sock", "mx2.sock"))]
        for t in feeds:
            t.start()
        chaos.start()
        for t in feeds:
            t.join()
        done.set()
        chaos.join()
        if env.redis is None:
            env.start_redis()
        env.redis.send_signal(signal.SIGCONT)
        for i, conf, sock in ((0, env.conf, "milter.sock"), (1, conf2, "mx2.sock")):
            if not any(conf in p.args for p in env.milters if p.poll() is None):
                env.start_milter(conf, sock=sock)
        actions = " ".join("%s:%d" % (a, chaos.log.count(a)) for a in sorted(set(chaos.log)))
        result(all(o.get("accepted") == str(len(POSTS)) and o.get("late") == "0"
                   for o in out[0] + out[1]),
               "round %d (seed %d; %s): every mail of both feeds accepted, none late"
               % (r, seed, actions), "\n".join(str(o) for o in out[0] + out[1]))

        # wait until both journals are in Redis: the sum of the windows' mails
        def windows():
            st = env.stats()
            return st["lists"][0]["window"] if st else None

        def total():
            n = windows()
            return n and sum(window_hash(env, k, "mails") for k in range(1, n + 1))
        pdtest.wait_for(lambda: total() == WANT["mails"], 90, 0.5)
        # finish what the killed flushes left, then close the last window
        fin = subprocess.run([PD, "flush", "-c", env.conf, "--wait", "90"],
                             capture_output=True, text=True)
        n = windows()
        closed = n - 1
        mails = []
        classes, domains, contributors = {}, {}, {}
        for k in range(1, n + 1):
            mails += env.redis_cli("LRANGE", "%sw:%d:mails" % (BASE, k), "0", "-1").split()
            for c in WANT["classes"]:
                classes[c] = classes.get(c, 0) + window_hash(env, k, "class:" + c)
            for d, v in zset(env, "%sw:%d:domains" % (BASE, k)).items():
                domains[d] = domains.get(d, 0) + v
            for a, v in zset(env, "%sw:%d:contributors" % (BASE, k)).items():
                contributors[a] = contributors.get(a, 0) + v
        result(len(mails) == WANT["mails"] and len(set(mails)) == WANT["mails"],
               "round %d: every post in exactly one of %d windows" % (r, n),
               "%d in windows, %d distinct, want %d" % (len(mails), len(set(mails)),
                                                        WANT["mails"]))
        want_contrib = pdtest.by_address(WANT["contributors"])
        result(classes == WANT["classes"] and domains == WANT["domains"] and
               contributors == want_contrib,
               "round %d: the windows' counters add up to an undisturbed run's" % r,
               "\n".join("%s: got %s want %s" % (k, g, w) for k, g, w in
                         (("classes", classes, WANT["classes"]),
                          ("domains", {k: v for k, v in domains.items()
                                       if WANT["domains"].get(k) != v}, "..."),
                          ("contributors", len(contributors), len(want_contrib)))))
        # A flush killed after Sendmail took the digest but before it marked the
        # window sent hands the same mail (same Message-ID, same bytes) over
        # again: the only repeat allowed, and only when a flush was killed.
        first, repeats, same = pdtest.digests_by_window(sent)
        killed = chaos.log.count("flush-kill")
        result(fin.returncode == 0 and len(first) == closed and None not in first and same and
               (repeats == 0 or killed > 0),
               "round %d: one digest per closed window (%d flushes, %d killed, %d identical "
               "repeats)" % (r, len(chaos.flushes), killed, repeats),
               "%d digests for %d closed windows; final flush %d %s; failed %s"
               % (len(first), closed, fin.returncode, fin.stderr,
                  [f for f in chaos.flushes if f[0] != 0][:5]))
    finally:
        env.close()


seed0 = int(os.environ.get("SEED", str(int(time.time()))))
for r in range(1, ROUNDS + 1):
    one_round(r, seed0 + r - 1)
pdtest.finish()
