#!/usr/bin/env python3
"""Journal disk trouble, for real: a JournalDir the milter's user cannot
write (so the journal cannot even be opened), and a journal on a file system
that fills up (a small tmpfs, or RLIMIT_FSIZE where mounting is not
allowed) while Redis is down.  Every mail must still be answered ACCEPT at
once; the failure must be logged and counted in "patchdigest stats"; the
records must reach Redis directly; and the journal must be used again once
it can be."""
import os
import re
import resource
import signal
import subprocess
import time

import pdtest
from pdtest import result

POSTS = pdtest.corpus_files()
NOBODY = 65534


def status(env, conf=None):
    r = env.cli("stats", "--json", conf=conf)
    try:
        import json
        return json.loads(r.stdout).get("milter") or {}
    except ValueError:
        return {}


def wait_status(env, pred, timeout=30):
    last = [{}]

    def ok():
        last[0] = status(env)
        return pred(last[0])
    pdtest.wait_for(ok, timeout, 0.2)
    return last[0]


def exact(env, files, got=None):
    want = pdtest.reference_stats(files)
    got = got or env.wait_recorded(len(files), mails=want["mails"])
    keys = [k for k in pdtest.COUNTERS if k not in ("to", "contributors")]
    diffs = pdtest.compare(got or {}, want, keys)
    g, w = pdtest.by_address((got or {}).get("contributors")), pdtest.by_address(want["contributors"])
    diffs += ["contributors[%s]: got %s, want %s" % (a, g.get(a), w.get(a))
              for a in sorted(set(g) | set(w)) if g.get(a) != w.get(a)]
    return diffs


# ---- JournalDir unwritable: the milter runs as nobody, the directory is root's ----
env = pdtest.Env()
try:
    os.chmod(env.dir, 0o755)
    os.chmod(env.redis_sock, 0o777)
    jdir = os.path.join(env.dir, "journal-ro")
    os.mkdir(jdir, 0o755)
    run = os.path.join(env.dir, "run")
    os.mkdir(run, 0o755)
    os.chown(run, NOBODY, -1)
    conf = env.write_conf("nobody.conf", "milter.sock", "journal-ro", ((pdtest.LIST_ID, "KVM-PPC"),),
                          "User nobody\nSocketMode 0660\nSocketGroup nogroup\n")
    with open(conf) as f:
        text = f.read().replace(os.path.join(env.dir, "milter.sock.status"),
                                os.path.join(run, "milter.status"))
    with open(conf, "w") as f:
        f.write(text)
    env.conf = conf
    m = env.start_milter(conf)
    part = POSTS[:300]
    s = env.feed(part, conns=4)
    result(s.get("rc") == 0 and s.get("accepted") == str(len(part)) and s.get("late") == "0",
           "JournalDir unwritable: all %d posts accepted at once" % len(part), s)
    diffs = exact(env, part)
    result(not diffs, "... and recorded directly to Redis, counters exact", "\n".join(diffs))
    st = wait_status(env, lambda x: x.get("direct_shipped", 0) >= len(part))
    result(st.get("journal_open") == 0 and st.get("journal_errors") == len(part) and
           st.get("direct_shipped") == len(part) and st.get("direct_lost") == 0 and
           st.get("redis_up") == 1,
           "stats counts the journal errors and the records sent directly", st)
    prom = env.cli("stats", "--prometheus").stdout
    samples = dict(l.rsplit(" ", 1) for l in prom.splitlines() if l and not l.startswith("#"))
    well_formed = all(re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})?'
                               r' -?[0-9]+$', l) for l in prom.splitlines()
                      if l and not l.startswith("#"))
    result(well_formed and samples.get("patchdigest_milter_up") == "1" and
           samples.get("patchdigest_journal_open") == "0" and
           samples.get("patchdigest_journal_errors_total") == str(len(part)) and
           samples.get('patchdigest_window_mails{list="%s"}' % pdtest.LIST_ID) ==
           str(pdtest.reference_stats(part)["mails"]),
           "stats --prometheus gives the same figures in Prometheus' text format", prom[:1500])
    log = env.log()
    result("cannot open" in log or "Permission denied" in log,
           "the log says why the journal cannot be used", log[-1500:])
    with open("/proc/%d/status" % m.pid) as f:
        uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
    sock = os.stat(os.path.join(env.dir, "milter.sock"))
    result(all(int(u) == NOBODY for u in uids) and oct(sock.st_mode & 0o777) == "0o660" and
           sock.st_gid == NOBODY,
           "the milter dropped to User nobody after opening its socket (mode 0660, group nogroup)",
           "uids %s, socket mode %o gid %d" % (uids, sock.st_mode & 0o777, sock.st_gid))

    # the directory becomes writable: within 10 s the milter journals again
    os.chown(jdir, NOBODY, -1)
    ok = pdtest.wait_for(lambda: "can be used again" in env.log(), 25, 0.2)
    more = POSTS[300:340]
    s = env.feed(more)
    st = wait_status(env, lambda x: x.get("shipped", 0) >= len(part) + len(more))
    segs = [f for f in os.listdir(jdir) if f.startswith("seg-")]
    result(ok and s.get("accepted") == str(len(more)) and st.get("journal_open") == 1 and
           st.get("journal_errors") == len(part) and segs,
           "JournalDir made writable: the milter opens it again and journals the next mails",
           "%s %s %s" % (ok, st, segs))
finally:
    env.close()


# ---- the journal's file system fills up while Redis is down ----
env = pdtest.Env(persist=True)
mounted = False
try:
    jdir = os.path.join(env.dir, "journal")
    os.mkdir(jdir)
    limit = 256 * 1024
    how = "a %d KiB tmpfs" % (limit // 1024)
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % limit, "tmpfs", jdir],
                                 capture_output=True).returncode == 0
    if not mounted:
        how = "RLIMIT_FSIZE %d KiB" % (limit // 1024)
        orig = env.start_milter

        def limited_start(conf=None, sock="milter.sock"):
            old = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
            try:
                return orig(conf, sock)
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, old)
        # the limit is inherited by the milter only: the test's own files
        # are written after it is restored
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        env.start_milter = limited_start
    env.start_milter()
    env.stop_redis()
    part = POSTS[:600]
    s = env.feed(part, conns=4)
    result(s.get("rc") == 0 and s.get("accepted") == str(len(part)) and s.get("late") == "0",
           "journal full (%s) and Redis down: all %d posts accepted at once" % (how, len(part)), s)
    st = wait_status(env, lambda x: x.get("mails") == len(part))
    result(st.get("journal_errors", 0) > 0 and st.get("direct_waiting", 0) == st["journal_errors"]
           and st.get("redis_up") == 0 and st.get("journal_backlog_bytes", 0) > 0,
           "stats shows Redis down, the journal errors and the records waiting in memory "
           "(without Redis, stats still prints the milter's part)", st)
    env.start_redis()
    diffs = exact(env, part)
    result(not diffs, "Redis back: journal and memory both reach Redis, counters exact",
           "\n".join(diffs))
    errors = wait_status(env, lambda x: x.get("shipped", 0) >= len(part) and
                         x.get("direct_waiting") == 0).get("journal_errors", 0)
    # Mail goes on: until the journal's shipped position catches up with
    # its end (the writer syncs it after Redis answers) and the reader lets
    # the old file go, a mail or a few still go to Redis directly; the full
    # segment is then replaced, and from there every mail is journalled.
    more = POSTS[600:640]
    s = env.feed(more[:20], conns=1, per_conn=1)
    pdtest.wait_for(lambda: "starts again with an empty segment" in env.log() and
                    "takes records again" in env.log(), 20)
    st = wait_status(env, lambda x: x.get("shipped", 0) >= len(part) + 20)
    errors = st.get("journal_errors", 0)
    s2 = env.feed(more[20:])
    st = wait_status(env, lambda x: x.get("shipped", 0) >= len(part) + len(more))
    log = env.log()
    result(s.get("accepted") == "20" and s2.get("accepted") == "20" and
           "starts again with an empty segment" in log and "takes records again" in log and
           st.get("journal_errors", 0) == errors,
           "once Redis has the journal's records, the full journal starts a new segment and "
           "journals again (the next 20 mails: no journal error)",
           "%s -> %s\n%s" % (errors, st, log[-1200:]))
    diffs = exact(env, part + more)
    result(not diffs, "... and the counters stay exact", "\n".join(diffs))
finally:
    for p in list(env.milters):
        env.stop_milter(p)
    if mounted:
        subprocess.run(["umount", "-l", os.path.join(env.dir, "journal")])
    env.close()

pdtest.finish()
