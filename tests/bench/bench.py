#!/usr/bin/env python3
"""bench.py - "make bench": patchdigest's speed, side by side with the limits.

    BUILD=build python3 tests/bench/bench.py [--rounds N] [--out FILE]

Milter: the C feeder (tests/feeder.c, milter protocol 6 as Postfix speaks
it, 10 mails per connection) feeds the 1500 kvm-ppc posts at 1, 8 and 64
concurrent connections to the empty filter (tests/bench/empty_filter.c: the
same negotiation, ACCEPT at end of message, nothing else) and to
patchdigest-milter recording into a private redis-server (emptied before
each run, so every post is new mail).  The two alternate, N rounds each
(default 5); the medians are kept, so the machine's noise hits both alike.

Import: `patchdigest import` of the same posts (Redis emptied before each
run) alternates with tests/bench/baseline.py, the plain Python script a
user would write instead; medians of N rounds, at least 11 (IMPORT_ROUNDS),
and the median of each round's own ratio ("paired_ratio").  Each round's
times are kept ("patchdigest_ms", "python_ms"), and the CPU each side used
(medians, "cpu_ms": the import's client from getrusage, redis-server's from
INFO cpu; "cpu_ratio": Python's over the two added up): on two cores the
import's client and Redis run side by side, so the wall ratio moves with
how much of the two cores the machine gives, the CPU ratio much less.

Hostile: every crafted shape of tests/hostile_shapes.py (issue 16), 6 MB
each, fed through the milter beside a plain text mail of the same size, on
one connection, three times each; the minimum answer time after end of
message of each is kept.  "hostile" in bench.json: the worst shape's time
over the plain mail's (worst_ratio), and the worst share of the bound a
shape uses (3x the plain mail's time plus 50 ms; below 1 is within it).

Memory: after the import rounds, Redis is emptied and the posts imported
once more (DigestFormat both); used_memory's growth over the number of
posts is "redis_bytes_per_mail".

Before: the goals of issue 20 are set against main when it was filed
(BEFORE, built from git as test_upgrade builds it): its milter and this
one, each with its own journal and the same redis-server, take the posts
at 8 connections in turn, N rounds, Redis emptied before each; redis-server's
CPU over the mails of each (INFO cpu, to the microsecond) is
"redis_cpu_ms_per_mail" in "before", and
used_memory's growth after an import by each of the two `patchdigest`s,
"redis_bytes_per_mail": ratios of one run, which the machine's spells move
alike.  Skipped (null, and said) when git cannot give BEFORE.

Spell: tests/bench/spell (a fixed amount of deflate work) is timed alone
on one core and as two copies at once on two, five times each, before
and after the import rounds: "spell" in bench.json, "slowdown" the two at
once (the slower of the pair) over the one alone, the fastest run of
each.  About 1.0 when the machine's two
virtual CPUs do not share a physical core; 1.4 to 1.5 was seen when they
do, and then import's client and redis-server lose their overlap while
the one-core Python baseline loses nothing: read the import ratio with it.
"alone_ms" itself, compared between runs on one machine, shows the spells
in which everything runs slower (seen: 26 ms, and 32 to 35 ms; the
slowdown then stays about 1.0).  None on a machine of one CPU.

Also: Redis round trips per mail under the 64-connection load (the
milter's StatusFile, redis_round_trips), the milter's CPU time per mail,
and its peak RSS (VmHWM) with 100 idle connections open and during the
64-connection runs.  Prints a table and writes build/bench.json.  Times
are only reported, never asserted.  Under a minute.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import pdtest  # noqa: E402

sys.path.insert(0, os.path.dirname(HERE))
import hostile_shapes  # noqa: E402

CONNS = (1, 8, 64)
PER_CONN = 10        # mails per milter connection (one SMTP session)
HOSTILE_SIZE = 6000000   # under the default MaxMessageBytes (8M)
BEFORE = "32f3f69da29d13f7eea8a775b3ac49ac7fd3b222"   # main when issue 20 was filed
IMPORT_ROUNDS = 11   # at least, against the Python baseline
CONF_EXTRA = "DigestFormat both\n"   # both milters' and imports' (see the top)


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm(pid, key):
    """A line of /proc/PID/status in MiB (VmHWM, VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reset_peak(pid):
    """Start VmHWM again from the present RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def redis_cpu_s(env):
    """redis-server's user + system CPU seconds so far, as it reads them
    (getrusage: microseconds, where /proc counts 10 ms ticks)."""
    got = {}
    for line in env.redis_cli("INFO", "cpu").splitlines():
        k, _, v = line.partition(":")
        if k in ("used_cpu_user", "used_cpu_sys"):
            got[k] = float(v)
    if len(got) != 2:
        raise RuntimeError("no used_cpu_user/used_cpu_sys in INFO cpu")
    return got["used_cpu_user"] + got["used_cpu_sys"]


def children_cpu_s():
    """User + system CPU seconds of this script's children that ended."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def used_memory(env):
    """Redis's used_memory in bytes."""
    for line in env.redis_cli("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO memory")


def feed(sock, listfile, conns):
    r = subprocess.run([os.path.join(pdtest.BUILD, "tests", "feeder"), "-s", "unix:" + sock,
                        "-j", str(conns), "-m", str(PER_CONN), "-t", "60", "-q",
                        "-l", listfile], capture_output=True, text=True)
    toks = r.stdout.split()
    s = {toks[i]: toks[i + 1] for i in range(0, len(toks) - 1, 2)}
    if r.returncode != 0 or s.get("accepted") != s.get("fed"):
        raise RuntimeError("feeder: %s %s" % (r.stdout, r.stderr))
    return {"mps": float(s["mps"]), "p50_ms": float(s["p50_ms"]),
            "p99_ms": float(s["p99_ms"])}


def import_bytes_per_mail(env, cli, files):
    """used_memory's growth a mail when cli (a patchdigest) imports files
    into an emptied Redis."""
    env.redis_cli("FLUSHALL")
    m0 = used_memory(env)
    subprocess.run([cli, "import", "--list", pdtest.LIST_ID, "-c", env.conf] + files,
                   check=True, capture_output=True)
    return (used_memory(env) - m0) / len(files)


def before_side_by_side(env, listfile, files, rounds):
    """Redis's CPU and memory a mail, BEFORE's code and this one, in turn
    (see the top); None when BEFORE cannot be built."""
    old = pdtest.old_build(BEFORE)
    if not old:
        print("# before: %s cannot be built from git here: skipped" % BEFORE[:12])
        return None
    conf = env.write_conf("before.conf", "before.sock", "jbefore", ((pdtest.LIST_ID, "KVM-PPC"),),
                          CONF_EXTRA)
    log = open(os.path.join(env.dir, "before.sock.log"), "a")
    p = subprocess.Popen([os.path.join(old, "patchdigest-milter"), "-f", "-c", conf],
                         stdout=log, stderr=log)
    try:
        bsock = os.path.join(env.dir, "before.sock")
        if not pdtest.wait_for(lambda: pdtest.listening(bsock), 10):
            raise RuntimeError("the milter of %s did not start" % BEFORE[:12])
        cpu = {"before": 0.0, "now": 0.0}
        for _ in range(rounds):
            for who, sock in (("before", "before.sock"), ("now", "milter.sock")):
                env.redis_cli("FLUSHALL")
                s0 = env.status(sock).get("shipped", 0)
                r0 = redis_cpu_s(env)
                feed(os.path.join(env.dir, sock), listfile, 8)
                if not pdtest.wait_for(lambda: env.status(sock).get("shipped", 0) >= s0 + len(files),
                                       60, 0.05):
                    raise RuntimeError("%s did not ship every record" % who)
                cpu[who] += redis_cpu_s(env) - r0
        mem = {"before": import_bytes_per_mail(env, os.path.join(old, "patchdigest"), files),
               "now": import_bytes_per_mail(env, os.path.join(pdtest.BUILD, "patchdigest"), files)}
    finally:
        p.kill()   # libmilter's SIGTERM takes seconds; it keeps its journal
        p.wait(10)
    mails = rounds * len(files)
    b, n = 1000 * cpu["before"] / mails, 1000 * cpu["now"] / mails
    return {"commit": BEFORE[:12], "connections": 8, "rounds": rounds,
            "redis_cpu_ms_per_mail": {"before": round(b, 4), "now": round(n, 4),
                                      "ratio": round(n / b, 3) if b else None},
            "redis_bytes_per_mail": {"before": round(mem["before"]), "now": round(mem["now"]),
                                     "ratio": round(mem["now"] / mem["before"], 3)}}


def median(runs, key):
    return round(statistics.median(r[key] for r in runs), 3)


def spell():
    """The spell probe (see the top): {"alone_ms", "both_ms", "slowdown"},
    or None with fewer than two CPUs to run on."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    probe = os.path.join(pdtest.BUILD, "tests", "spell")

    def start(cpu):
        return subprocess.Popen([probe], stdout=subprocess.PIPE, text=True,
                                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))

    def ms(p):
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError("spell probe failed")
        return float(out.split()[0])

    # the fastest of 5 each: what the cores give, without the odd
    # interruption (another process's wake-up) that slows one run
    alone, both = [], []
    for _ in range(5):
        alone.append(ms(start(cpus[0])))
        ps = [start(cpus[0]), start(cpus[1])]
        both.append(max(ms(p) for p in ps))
    a, b = min(alone), min(both)
    return {"alone_ms": round(a, 2), "both_ms": round(b, 2), "slowdown": round(b / a, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    ap.add_argument("--out", default=os.path.join(pdtest.BUILD, "bench.json"))
    args = ap.parse_args()
    files = pdtest.corpus_files()
    if len(files) != 1500:
        sys.exit("bench: want the 1500 posts of %s, found %d" % (pdtest.KVMPPC, len(files)))
    env = pdtest.Env(extra=CONF_EXTRA)
    empty = None
    try:
        listfile = os.path.join(env.dir, "posts.list")
        with open(listfile, "w") as f:
            f.write("".join(p + "\n" for p in files))

        # the milter, fresh: its peak RSS with 100 idle connections
        milter = env.start_milter()
        msock = os.path.join(env.dir, "milter.sock")
        sessions = [pdtest.MilterSession(msock) for _ in range(100)]
        time.sleep(1.0)
        rss_idle = vm(milter.pid, "VmHWM")
        for s in sessions:
            s.close()

        esock = os.path.join(env.dir, "empty.sock")
        empty = subprocess.Popen([os.path.join(pdtest.BUILD, "tests", "empty_filter"),
                                  "-s", "unix:" + esock], stderr=subprocess.DEVNULL)
        if not pdtest.wait_for(lambda: os.path.exists(esock), 10):
            raise RuntimeError("empty_filter did not start")
        time.sleep(0.2)

        # a warm-up feed of each, not counted (page cache, first threads)
        feed(esock, listfile, 8)
        feed(msock, listfile, 8)
        fed = len(files)
        results = {n: {"empty": [], "pd": []} for n in CONNS}
        trips = mails64 = 0
        cpu = {"empty": 0.0, "milter": 0.0, "redis": 0.0, "empty_mails": 0, "mails": 0}
        rss_load = 0.0
        for rnd in range(args.rounds):
            for n in CONNS:
                c0 = cpu_s(empty.pid)
                results[n]["empty"].append(feed(esock, listfile, n))
                cpu["empty"] += cpu_s(empty.pid) - c0
                cpu["empty_mails"] += len(files)

                env.redis_cli("FLUSHALL")
                before = env.status()
                if n == 64:
                    reset_peak(milter.pid)
                m0, r0 = cpu_s(milter.pid), cpu_s(env.redis.pid)
                results[n]["pd"].append(feed(msock, listfile, n))
                fed += len(files)
                if not pdtest.wait_for(lambda: env.status().get("shipped", 0) >= fed, 60, 0.1):
                    raise RuntimeError("the milter did not ship every record: %s" % env.status())
                cpu["milter"] += cpu_s(milter.pid) - m0
                cpu["redis"] += cpu_s(env.redis.pid) - r0
                cpu["mails"] += len(files)
                if n == 64:
                    rss_load = max(rss_load, vm(milter.pid, "VmHWM"))
                    after = env.status()
                    trips += after["redis_round_trips"] - before.get("redis_round_trips", 0)
                    mails64 += after["shipped"] - before.get("shipped", 0)
            print("# round %d of %d done" % (rnd + 1, args.rounds), flush=True)

        # crafted MIME beside plain mail of the same size
        hostile = hostile_shapes.measure(os.path.join(pdtest.BUILD, "tests", "feeder"), msock,
                                         os.path.join(env.dir, "shapes"), HOSTILE_SIZE)

        # import against the Python baseline, alternating, between two
        # readings of how much the two cores slow each other now
        spells = [spell()]
        imp = {"pd_ms": [], "py_ms": [], "pd_cpu": [], "redis_cpu": [], "py_cpu": []}
        env.cli("import", "--list", pdtest.LIST_ID, *files, check=True)   # warm-up
        # (at least IMPORT_ROUNDS pairs: this machine's spells move one
        # import by a third, and the Python baseline by as much)
        for rnd in range(max(args.rounds, IMPORT_ROUNDS)):
            env.redis_cli("FLUSHALL")
            r0 = redis_cpu_s(env)
            c0 = children_cpu_s()
            t = time.monotonic()
            env.cli("import", "--list", pdtest.LIST_ID, *files, check=True)
            el = time.monotonic() - t
            imp["pd_cpu"].append(children_cpu_s() - c0)
            imp["redis_cpu"].append(redis_cpu_s(env) - r0)
            imp["pd_ms"].append(1000 * el)
            c0 = children_cpu_s()
            t = time.monotonic()
            r = subprocess.run([sys.executable, os.path.join(HERE, "baseline.py")] + files,
                               capture_output=True, text=True)
            el = time.monotonic() - t
            imp["py_cpu"].append(children_cpu_s() - c0)
            if r.returncode != 0:
                raise RuntimeError("baseline.py: " + r.stderr)
            imp["py_ms"].append(1000 * el)

        spells.append(spell())

        # Redis memory per retained mail: one import into an empty Redis
        bytes_per_mail = import_bytes_per_mail(env, os.path.join(pdtest.BUILD, "patchdigest"),
                                               files)

        # Redis's CPU and memory a mail, side by side with the code of BEFORE
        before = before_side_by_side(env, listfile, files, args.rounds)
    finally:
        if empty is not None:
            empty.kill()   # it keeps no state; SIGTERM takes libmilter seconds
            empty.wait(10)
        env.close()

    out = {"milter": [], "import": {}, "redis_round_trips_per_mail": 0, "rss_mib": {}}
    print("%-5s %10s %10s %6s %9s %9s %9s %9s" % ("conns", "empty/s", "pd/s", "ratio",
                                                  "e_p50ms", "pd_p50ms", "e_p99ms", "pd_p99ms"))
    for n in CONNS:
        e, p = results[n]["empty"], results[n]["pd"]
        row = {"connections": n,
               "empty_mps": median(e, "mps"), "patchdigest_mps": median(p, "mps"),
               "empty_p99_ms": median(e, "p99_ms"), "patchdigest_p99_ms": median(p, "p99_ms"),
               "empty_p50_ms": median(e, "p50_ms"), "patchdigest_p50_ms": median(p, "p50_ms")}
        row["mps_ratio"] = round(row["patchdigest_mps"] / row["empty_mps"], 3)
        row["p99_ratio"] = round(row["patchdigest_p99_ms"] / row["empty_p99_ms"], 3)
        out["milter"].append(row)
        print("%-5d %10.0f %10.0f %5.0f%% %9.3f %9.3f %9.3f %9.3f" % (
            n, row["empty_mps"], row["patchdigest_mps"], 100 * row["mps_ratio"],
            row["empty_p50_ms"], row["patchdigest_p50_ms"], row["empty_p99_ms"],
            row["patchdigest_p99_ms"]))
    # mails/s of each round, from its time
    imp["pd"] = [1000 * len(files) / ms for ms in imp["pd_ms"]]
    imp["py"] = [1000 * len(files) / ms for ms in imp["py_ms"]]
    out["import"] = {"patchdigest_mps": round(statistics.median(imp["pd"]), 1),
                     "python_mps": round(statistics.median(imp["py"]), 1),
                     "rounds": len(imp["pd"]),
                     # the median of each round's own ratio (its two runs back to back)
                     "paired_ratio": round(statistics.median(
                         a / b for a, b in zip(imp["pd"], imp["py"])), 2)}
    out["import"]["ratio"] = round(out["import"]["patchdigest_mps"] /
                                   out["import"]["python_mps"], 2)
    # each round's wall times, and the CPU both sides used (medians): the
    # import's is its client's and redis-server's, which share the cores
    out["import"]["patchdigest_ms"] = [round(x, 1) for x in imp["pd_ms"]]
    out["import"]["python_ms"] = [round(x, 1) for x in imp["py_ms"]]
    out["import"]["cpu_ms"] = {
        "patchdigest": round(1000 * statistics.median(imp["pd_cpu"]), 1),
        "redis_server": round(1000 * statistics.median(imp["redis_cpu"]), 1),
        "python": round(1000 * statistics.median(imp["py_cpu"]), 1)}
    c = out["import"]["cpu_ms"]
    out["import"]["cpu_ratio"] = round(c["python"] / (c["patchdigest"] + c["redis_server"]), 2)
    out["spell"] = {"before_import": spells[0], "after_import": spells[1]}
    out["redis_round_trips_per_mail"] = round(trips / mails64, 4) if mails64 else None
    out["rss_mib"] = {"idle_100": round(rss_idle, 1), "load_64": round(rss_load, 1)}
    out["cpu_ms_per_mail"] = {
        "empty_filter": round(1000 * cpu["empty"] / cpu["empty_mails"], 3),
        "patchdigest_milter": round(1000 * cpu["milter"] / cpu["mails"], 3),
        "redis_server": round(1000 * cpu["redis"] / cpu["mails"], 3)}
    out["redis_bytes_per_mail"] = round(bytes_per_mail)
    worst = max(hostile, key=lambda r: r[2] / max(r[1], 0.001))
    out["hostile"] = {
        "worst_ratio": round(worst[2] / max(worst[1], 0.001), 2),
        "worst_shape": worst[0],
        "shapes": len(hostile),
        "size_bytes": HOSTILE_SIZE,
        "worst_bound_use": round(max(r[2] / (3 * r[1] + 50) for r in hostile), 3),
        "all_accepted": all(r[3] == "accept" for r in hostile),
        "per_shape_ms": {r[0]: [round(r[1], 2), round(r[2], 2)] for r in hostile}}
    out["before"] = before
    out["rounds"] = args.rounds
    print("import: patchdigest %.0f mails/s, Python baseline %.0f mails/s: %.1fx "
          "(%d rounds; the median of each round's own ratio: %.1fx)" % (
              out["import"]["patchdigest_mps"], out["import"]["python_mps"],
              out["import"]["ratio"], out["import"]["rounds"], out["import"]["paired_ratio"]))
    c = out["import"]["cpu_ms"]
    print("import CPU: patchdigest %.1f ms + redis-server %.1f ms, Python baseline %.0f ms: "
          "%.1fx; wall per round, ms: patchdigest %s; Python %s" % (
              c["patchdigest"], c["redis_server"], c["python"], out["import"]["cpu_ratio"],
              " ".join("%.0f" % x for x in out["import"]["patchdigest_ms"]),
              " ".join("%.0f" % x for x in out["import"]["python_ms"])))
    if spells[0] and spells[1]:
        print("two cores at once against one alone (spell probe): %.2fx slower before the "
              "import rounds, %.2fx after (1.0: the two vCPUs do not share a core); its work "
              "alone %.1f and %.1f ms (between runs on one machine, more means it all ran slower)" % (
                  spells[0]["slowdown"], spells[1]["slowdown"], spells[0]["alone_ms"],
                  spells[1]["alone_ms"]))
    else:
        print("spell probe: fewer than two CPUs, not measured")
    print("Redis round trips per mail at 64 connections: %s (1 per %.0f mails)" % (
        out["redis_round_trips_per_mail"],
        1 / out["redis_round_trips_per_mail"] if out["redis_round_trips_per_mail"] else 0))
    print("milter peak RSS: %.1f MiB with 100 idle connections, %.1f MiB under 64" % (
        out["rss_mib"]["idle_100"], out["rss_mib"]["load_64"]))
    print("CPU ms per mail: empty filter %.3f, patchdigest-milter %.3f, redis-server %.3f" % (
        out["cpu_ms_per_mail"]["empty_filter"], out["cpu_ms_per_mail"]["patchdigest_milter"],
        out["cpu_ms_per_mail"]["redis_server"]))
    print("Redis memory per retained mail: %d bytes (used_memory after importing %d posts)" % (
        out["redis_bytes_per_mail"], len(files)))
    h = out["hostile"]
    print("hostile MIME, %d shapes of %d bytes: worst %s at %.1fx a plain mail's time; "
          "at most %.0f%% of the bound (3x + 50 ms)" % (
              h["shapes"], h["size_bytes"], h["worst_shape"], h["worst_ratio"],
              100 * h["worst_bound_use"]))
    if before:
        c, m = before["redis_cpu_ms_per_mail"], before["redis_bytes_per_mail"]
        print("Redis side by side with %s (8 connections, %d rounds): CPU per mail %.4f ms "
              "before, %.4f now (%.0f%%); memory per mail %d bytes before, %d now (%.0f%%)" % (
                  before["commit"], before["rounds"], c["before"], c["now"], 100 * c["ratio"],
                  m["before"], m["now"], 100 * m["ratio"]))
    else:
        print("Redis side by side with %s: skipped (git cannot give it here)" % BEFORE[:12])
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote " + args.out)


if __name__ == "__main__":
    main()
