#!/usr/bin/env python3
"""End to end: real redis-server, real patchdigest-milter, the 1500 real
kvm-ppc posts through the milter protocol.  The counters in stats --json must
equal those tests/refclassify.py derives independently from the same files;
feeding them again may change nothing but duplicates; import records exactly
what the milter records; Redis down delays no mail and loses nothing."""
import os
import signal
import subprocess
import time

import pdtest
from pdtest import result

files = pdtest.corpus_files()
want = pdtest.reference_stats(files)
env = pdtest.Env()
try:
    m = env.start_milter()

    # 1. every post answered ACCEPT, in order, none late
    t0 = time.monotonic()
    s = env.feed(files, conns=1, per_conn=25)
    result(s["rc"] == 0 and s.get("accepted") == str(len(files)) and s.get("late") == "0",
           "1500 posts fed over one connection, all accepted, none late", s)
    got = env.wait_recorded(len(files))
    diffs = pdtest.compare(got or {}, want)
    result(got is not None and not diffs, "stats --json equals the independent reference "
           "(chain head, mails, duplicates, classes, domains, contributors, reviewers)",
           "\n".join(diffs))

    # 2. the same posts again: only duplicates moves
    s = env.feed(files, conns=8, per_conn=10)
    result(s["rc"] == 0 and s.get("accepted") == str(len(files)), "fed again over 8 connections", s)
    again = env.wait_recorded(2 * len(files))
    want2 = dict(want, duplicates=want["duplicates"] + len(files))
    diffs = pdtest.compare(again or {}, want2)
    result(again is not None and not diffs, "feeding again changes nothing but duplicates",
           "\n".join(diffs))

    # 3. a restart replays the unshipped journal; replays change nothing.
    # Without its shipped position the whole journal (both feeds) is
    # unshipped: the new milter must send every record again, and Redis must
    # answer each one "replayed" (the milter's replays counter).
    env.stop_milter(m)
    os.unlink(os.path.join(env.dir, "journal", "shipped"))
    m = env.start_milter()
    nrec = 2 * len(files)

    def replayed_all():
        st = env.status()
        return st.get("pid") == m.pid and st.get("replays", 0) >= nrec
    done = pdtest.wait_for(replayed_all, 30, 0.2)
    st = env.status()
    result(done and st.get("replays") == nrec and st.get("new_mails") == 0 and
           st.get("duplicates") == 0,
           "a restart without the shipped position replays the whole journal: %s of %d "
           "records answered as replays, none new" % (st.get("replays"), nrec), st)
    replayed = env.wait_recorded(2 * len(files))
    diffs = pdtest.compare(replayed or {}, want2)
    result(not diffs, "replaying the whole journal after a restart changes nothing",
           "\n".join(diffs))

    # 4. import records exactly what the milter recorded (own key prefix)
    conf2 = env.write_conf("import.conf", "unused.sock", "journal2",
                           [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix imp:\n")
    r = env.cli("import", pdtest.KVMPPC, conf=conf2)
    imp = env.stats(conf2)
    diffs = pdtest.compare(imp["lists"][0] if imp else {}, want)
    result(r.returncode == 0 and not diffs, "import of the same posts gives the same counters",
           r.stderr + "\n".join(diffs))

    # 4a. Redis falls behind (stopped for a second after the import's
    # start): the batches waiting make the next ones grow to 128, so the
    # import calls the script fewer times (at 64 a batch, 1500 posts take
    # 25 calls; the three batches filled while Redis is stopped grow
    # however fast the import runs, which is why at most 22), and records
    # the same
    conf4 = env.write_conf("grow.conf", "unused4.sock", "journal4",
                           [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix grow:\n")
    env.redis_cli("CONFIG", "RESETSTAT")
    imp = subprocess.Popen([os.path.join(pdtest.BUILD, "patchdigest"), "import",
                            *files, "-c", conf4],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped = pdtest.wait_for(lambda: "cmdstat_eval:" in env.redis_cli("INFO", "commandstats"), 10,
                              step=0.001)
    os.kill(env.redis.pid, signal.SIGSTOP)
    time.sleep(1.0)
    os.kill(env.redis.pid, signal.SIGCONT)
    _, err = imp.communicate(timeout=120)
    stats = env.redis_cli("INFO", "commandstats")
    evals = int(stats.split("cmdstat_eval:calls=")[1].split(",")[0]) if "cmdstat_eval:" in stats else 0
    grown = env.stats(conf4)
    diffs = pdtest.compare(grown["lists"][0] if grown else {}, want)
    result(stopped and imp.returncode == 0 and 0 < evals <= 22 and not diffs,
           "Redis behind during an import: batches grow (%d script calls for 1500 posts), "
           "the counters the same" % evals, err + "\n".join(diffs))

    # 4b. Redis dies in the middle of an import: it stops with the error,
    # exit 1, and does not hang (its Redis thread and parsing thread part)
    imp = subprocess.Popen([os.path.join(pdtest.BUILD, "patchdigest"), "import",
                            *([pdtest.KVMPPC] * 20), "-c", conf2],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    env.stop_redis()
    try:
        _, err = imp.communicate(timeout=30)
        result(imp.returncode == 1 and "patchdigest import:" in err and "recorded" in err,
               "Redis gone during an import: exit 1, the error and the counts said",
               "rc %s: %s" % (imp.returncode, err[-800:]))
    except subprocess.TimeoutExpired:
        imp.kill()
        imp.communicate()
        result(False, "Redis gone during an import: exit 1, the error and the counts said",
               "import still running 30 s after Redis stopped")
    env.start_redis()

    # 5. Redis down: mail still flows, records wait, then converge
    conf3 = env.write_conf("down.conf", "down.sock", "journal3",
                           [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix down:\n")
    m3 = env.start_milter(conf3, sock="down.sock")
    env.stop_redis()
    part = files[:300]
    t0 = time.monotonic()
    s = env.feed(part, conns=1, sock="down.sock")
    elapsed = time.monotonic() - t0
    result(s["rc"] == 0 and s.get("accepted") == str(len(part)) and s.get("late") == "0",
           "Redis down: 300 posts accepted, none waited over 1 s (%.2fs in all)" % elapsed, s)
    waiting = pdtest.wait_for(lambda: env.status("down.sock").get("journal_backlog_records")
                              == len(part), 5)
    result(waiting, "Redis down: the 300 records wait in the journal (the milter's status)",
           env.status("down.sock"))
    env.start_redis()
    back = env.wait_recorded(len(part), conf=conf3)
    want3 = pdtest.reference_stats(part)
    diffs = pdtest.compare(back or {}, want3)
    result(back is not None and not diffs, "Redis back: the journal is shipped, counters exact",
           "\n".join(diffs))
    env.stop_milter(m3)

    # 6. mail for no configured list is accepted and not counted
    conf4 = env.write_conf("other.conf", "other.sock", "journal4",
                           [("netdev.vger.kernel.org", "netdev")], "KeyPrefix other:\n")
    m4 = env.start_milter(conf4, sock="other.sock")
    s = env.feed(files[:50], sock="other.sock")
    time.sleep(1)
    st = env.stats(conf4)
    result(s["rc"] == 0 and st and st["lists"][0]["mails"] == 0,
           "mail of an unconfigured list is accepted and ignored", s)
    env.stop_milter(m4)

    # 7. SIGTERM ships the journal before exit
    rc = env.stop_milter(m)
    result(rc == 0 and "stopped:" in env.log(), "SIGTERM stops cleanly", env.log()[-2000:])
finally:
    env.close()
pdtest.finish()
