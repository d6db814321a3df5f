#!/usr/bin/env python3
"""The pieces of "make bench", cheaply (about a second; the benchmark itself
is not part of "make check" and no time is asserted): the empty filter
builds, negotiates like patchdigest-milter and answers ACCEPT; the Python
baseline classifies the posts as the reference does; the spell probe
(tests/bench/spell.c) runs alone and two at once, and bench.py reads it."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))

import pdtest
from pdtest import result

ROOT = pdtest.ROOT
env = pdtest.Env()
empty = None
try:
    sock = os.path.join(env.dir, "empty.sock")
    empty = subprocess.Popen([os.path.join(pdtest.BUILD, "tests", "empty_filter"),
                              "-s", "unix:" + sock], stderr=subprocess.PIPE)
    pdtest.wait_for(lambda: os.path.exists(sock), 10)
    files = pdtest.corpus_files(100)
    s = env.feed(files, conns=4, sock="empty.sock")
    result(s["rc"] == 0 and s.get("accepted") == "100", "the empty filter answers ACCEPT", s)

    sess = pdtest.MilterSession(sock)
    m = env.start_milter()
    sess2 = pdtest.MilterSession(os.path.join(env.dir, "milter.sock"))
    result(sess.pflags == sess2.pflags,
           "the empty filter negotiates the same steps away as patchdigest-milter",
           "%#x vs %#x" % (sess.pflags, sess2.pflags))
    sess.close()
    sess2.close()
    env.stop_milter(m, signal.SIGKILL)   # nothing to keep: no clean stop needed

    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "bench", "baseline.py")] +
                       files, capture_output=True, text=True)
    got = json.loads(r.stdout) if r.returncode == 0 else {}
    want = pdtest.reference_stats(files)
    result(got.get("mails") == want["mails"] and
           all(got.get("classes", {}).get(c, 0) == n for c, n in want["classes"].items()),
           "the Python baseline classifies as the reference does",
           (got.get("classes"), want["classes"], r.stderr))

    import bench   # noqa: E402 (tests/bench/bench.py, for its spell probe)
    if len(os.sched_getaffinity(0)) < 2:
        pdtest.skip("the spell probe", "one CPU to run on: bench.py reports none")
    else:
        sp = bench.spell()
        result(sp is not None and sp["alone_ms"] > 0 and sp["both_ms"] > 0 and
               abs(sp["slowdown"] - sp["both_ms"] / sp["alone_ms"]) < 0.005,
               "the spell probe times its work alone and two at once (%s)" % sp, sp)
finally:
    if empty is not None:
        empty.kill()   # it keeps no state; SIGTERM takes libmilter seconds
        empty.wait(10)
    env.close()
pdtest.finish()
