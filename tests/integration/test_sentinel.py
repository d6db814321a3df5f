#!/usr/bin/env python3
"""Redis high availability (issue 19), with real processes on loopback: a
master, a replica and three sentinels (redis-server --sentinel), the
milter behind "RedisSentinel" with "RedisReplicas 1", the 1500 kvm-ppc
posts fed while the master is killed with -9 twice.  Each old master is
restarted from its AOF only after the failover, as Sentinel finds it:
a standalone master with stale data until the sentinels make it a
replica (the trap of reconnecting by address).  Until it has rejoined,
the new master has no replica and WAIT 1 cannot succeed: records wait in
the journal, no mail waits.

Each kill is made to land on records the replica does not have: the
replica is frozen (SIGSTOP) and the master drops its link to it (CLIENT
KILL TYPE replica) while mail is fed, so the master holds records its
replica can never get, the milter's status shows them waiting for the
replica, and then the master is killed.  Checked: every mail answered
ACCEPT, none late; the master really changed each time; the windows'
counters add up to the Python model's (nothing lost, nothing counted
twice); a flush that runs during a failover finishes or leaves its window
pending, and there is one digest per window; stats shows the master in
use and the failovers, and the log says each switch once.  Then a switch
by hand (SENTINEL FAILOVER), the old master living on as a replica: the
milter follows.  Before all that, with stand-in sentinels: a dead
sentinel skipped, SentinelPassword sent, a server whose ROLE is replica
refused."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pdtest
from pdtest import result

MASTER_NAME = "pdmaster"
BASE = "pd:{%s}:" % pdtest.LIST_ID
PD = os.path.join(pdtest.BUILD, "patchdigest")
POSTS = pdtest.corpus_files()
WANT = pdtest.reference_stats(POSTS)
T0 = time.monotonic()


def note(msg):
    print("# %5.1f s: %s" % (time.monotonic() - T0, msg), flush=True)


def free_ports(n):
    """n free loopback ports: bound to port 0 together, then released."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rcli(port, *args, timeout=3):
    try:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        return r.stdout
    except subprocess.TimeoutExpired:
        return ""


class Cluster:
    """Two redis-servers (master, replica) and three sentinels in a temp dir."""

    def __init__(self, d):
        self.dir = d
        ports = free_ports(5)
        self.data_ports, self.sentinel_ports = ports[:2], ports[2:]
        self.procs = {}
        for i, port in enumerate(self.data_ports):
            os.makedirs(os.path.join(d, "r%d" % i))
            with open(os.path.join(d, "r%d.conf" % i), "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                        "save \"\"\nappendonly yes\nappendfsync always\n"
                        "repl-diskless-sync yes\nrepl-diskless-sync-delay 0\n"
                        % (port, os.path.join(d, "r%d" % i), os.path.join(d, "r%d.log" % i)))
                if i == 1:
                    f.write("replicaof 127.0.0.1 %d\n" % self.data_ports[0])
        for i, port in enumerate(self.sentinel_ports):
            os.makedirs(os.path.join(d, "s%d" % i))
            with open(os.path.join(d, "s%d.conf" % i), "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 2000\n"
                        "sentinel failover-timeout %s 4000\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (port, os.path.join(d, "s%d" % i), os.path.join(d, "s%d.log" % i),
                           MASTER_NAME, self.data_ports[0], MASTER_NAME, MASTER_NAME,
                           MASTER_NAME))

    def start_server(self, i):
        p = subprocess.Popen(["redis-server", os.path.join(self.dir, "r%d.conf" % i)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs["r%d" % i] = p
        if not pdtest.wait_for(lambda: rcli(self.data_ports[i], "PING").strip() == "PONG", 10):
            raise RuntimeError("redis-server %d did not start" % i)

    def start(self):
        self.start_server(0)
        self.start_server(1)
        for i in range(3):
            self.procs["s%d" % i] = subprocess.Popen(
                ["redis-server", os.path.join(self.dir, "s%d.conf" % i), "--sentinel"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.sentinel_ports:
            if not pdtest.wait_for(lambda: rcli(port, "PING").strip() == "PONG", 10):
                raise RuntimeError("sentinel on port %d did not start" % port)

    def kill(self, i):
        p = self.procs.pop("r%d" % i)
        p.kill()
        p.wait()

    def signal(self, i, sig):
        self.procs["r%d" % i].send_signal(sig)

    def master_seen(self):
        """The master each sentinel names, as a list of ports (None: no answer)."""
        out = []
        for port in self.sentinel_ports:
            r = rcli(port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME).split()
            out.append(int(r[1]) if len(r) == 2 and r[1].isdigit() else None)
        return out

    def role(self, i):
        return rcli(self.data_ports[i], "ROLE").split("\n")

    def synced_replicas(self, i):
        """Replicas the server i says are connected to it (its ROLE)."""
        r = rcli(self.data_ports[i], "INFO", "replication")
        for line in r.splitlines():
            if line.startswith("connected_slaves:"):
                return int(line.split(":")[1])
        return 0

    def healthy(self, master):
        """All sentinels name master, it has its replica in sync, and the
        sentinels know the replica."""
        port = self.data_ports[master]
        other = self.data_ports[1 - master]
        if self.master_seen() != [port] * 3 or self.synced_replicas(master) < 1:
            return False
        info = rcli(other, "INFO", "replication")
        if "master_link_status:up" not in info:
            return False
        for sp in self.sentinel_ports:
            reps = rcli(sp, "SENTINEL", "replicas", MASTER_NAME)
            if str(other) not in reps or "s_down" in reps or "disconnected" in reps:
                return False
        return True

    def close(self):
        for p in self.procs.values():
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.procs = {}


class FakeSentinel(threading.Thread):
    """A stand-in sentinel on loopback that names the address it is told
    to, and wants AUTH with password when one is given; it keeps the
    commands it got."""

    def __init__(self, port, password=None):
        super().__init__(daemon=True)
        self.port, self.password = port, password
        self.commands = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = self.sock.getsockname()[1]

    @staticmethod
    def _read_command(f):
        line = f.readline()
        if not line.startswith(b"*"):
            return None
        args = []
        for _ in range(int(line[1:])):
            n = int(f.readline()[1:])
            args.append(f.read(n + 2)[:n].decode())
        return args

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                authed = self.password is None
                while True:
                    cmd = self._read_command(f)
                    if not cmd:
                        break
                    self.commands.append(cmd)
                    if cmd[0].upper() == "AUTH":
                        authed = cmd[1:] == [self.password]
                        f.write(b"+OK\r\n" if authed else b"-WRONGPASS invalid password\r\n")
                    elif not authed:
                        f.write(b"-NOAUTH Authentication required.\r\n")
                    elif cmd[:2] == ["SENTINEL", "get-master-addr-by-name"] and cmd[2] == MASTER_NAME:
                        p = str(self.port).encode()
                        f.write(b"*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n" % (len(p), p))
                    else:
                        f.write(b"$-1\r\n" if cmd[0] == "SENTINEL" else b"-ERR unknown\r\n")
                    f.flush()

    def close(self):
        self.sock.close()


def check_role_and_auth(env, cl):
    """Sentinels asked in turn, their password, and ROLE: a server named
    master that is a replica is refused."""
    dead = free_ports(1)[0]
    good = FakeSentinel(cl.data_ports[0], password="s3ntinel-pw")
    liar = FakeSentinel(cl.data_ports[1])
    good.start()
    liar.start()
    try:
        for name, sentinels, pw in (("good", (dead, good.addr), "s3ntinel-pw"),
                                    ("liar", (liar.addr,), None),
                                    ("wrongpw", (good.addr,), "not-it")):
            path = os.path.join(env.dir, name + ".conf")
            with open(path, "w") as f:
                f.write("Socket unix:%s/x.sock\nList %s KVM-PPC\nStatusFile %s/none.status\n"
                        "RedisSentinel %s %s\n" % (
                            env.dir, pdtest.LIST_ID, env.dir, MASTER_NAME,
                            " ".join("127.0.0.1:%d" % p for p in sentinels)))
                if pw:
                    f.write("SentinelPassword %s\n" % pw)
            os.chmod(path, 0o640)
        r = env.cli("stats", "--json", conf=os.path.join(env.dir, "good.conf"))
        auths = [c for c in good.commands if c[0].upper() == "AUTH"]
        result(r.returncode == 0 and auths and auths[0] == ["AUTH", "s3ntinel-pw"] and
               "s3ntinel-pw" not in r.stdout + r.stderr,
               "a dead sentinel is skipped, the next one is asked with SentinelPassword",
               "%s %s %s" % (r.returncode, r.stderr, good.commands))
        # both keep asking for the connect timeout (5 s): at once
        procs = {n: subprocess.Popen([PD, "stats", "-c", os.path.join(env.dir, n + ".conf")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in ("liar", "wrongpw")}
        outs = {n: p.communicate(timeout=60) for n, p in procs.items()}
        r = subprocess.CompletedProcess([], procs["liar"].returncode, *outs["liar"])
        result(r.returncode == 1 and "is a slave" in r.stderr and
               ":%d" % cl.data_ports[1] in r.stderr,
               "a server the sentinels name master but whose ROLE is replica is refused",
               "%s %s" % (r.returncode, r.stderr))
        r = subprocess.CompletedProcess([], procs["wrongpw"].returncode, *outs["wrongpw"])
        result(r.returncode == 1 and "AUTH refused" in r.stderr and "not-it" not in r.stderr,
               "a wrong SentinelPassword is named, never shown", r.stderr)
    finally:
        good.close()
        liar.close()


def hget(port, key, field):
    v = rcli(port, "HGET", key, field).strip()
    return int(v) if v.lstrip("-").isdigit() else 0


def zset(port, key):
    out = [x for x in rcli(port, "ZRANGE", key, "0", "-1", "WITHSCORES").split("\n") if x != ""]
    return {out[i]: int(float(out[i + 1])) for i in range(0, len(out) - 1, 2)}


def open_window(port):
    return hget(port, BASE + "meta", "window") or 1


def window_mails(port):
    """Mails of every window on the server at port."""
    return sum(hget(port, "%sw:%d" % (BASE, k), "mails") for k in range(1, open_window(port) + 1))


def feed_ok(s, n):
    return s.get("rc") == 0 and s.get("accepted") == str(n) and s.get("late") == "0"


def freeze_feed_kill(env, cl, master, files, label, before_kill=None):
    """Freeze the replica, feed files while it is frozen, check that the
    records wait for it (not confirmed) and that the master has mail the
    replica lacks, kill the master with -9, wake the replica.  Returns
    (feed summary, mails on the master at the kill, mails on the replica,
    status at the kill)."""
    replica = 1 - master
    mport, rport = cl.data_ports[master], cl.data_ports[replica]
    # first the journal all confirmed: else the writer still waits on a
    # batch the replica has and sends nothing the replica lacks
    pdtest.wait_for(lambda: env.status().get("journal_backlog_records", 1) == 0 and
                    env.status().get("replicas_waiting") == 0, 30, 0.2)
    on_replica = window_mails(rport)
    cl.signal(replica, signal.SIGSTOP)
    # what the master already sent sits in the frozen replica's socket and
    # would reach it on SIGCONT: cut the link, so that what comes next is
    # on the master alone (the frozen replica cannot connect again)
    rcli(mport, "CLIENT", "KILL", "TYPE", "replica")
    on_replica = max(on_replica, window_mails(mport))
    out = {}
    t = threading.Thread(target=lambda: out.update(env.feed(files, conns=4)))
    t.start()
    # the records reach the master; WAIT 1 cannot succeed; the status file
    # (rewritten every second) shows them waiting
    seen = {}

    def waiting():
        seen.clear()
        seen.update(env.status())
        return (seen.get("replicas_waiting") == 1 and seen.get("journal_backlog_records", 0) > 0
                and window_mails(mport) > on_replica)
    pdtest.wait_for(waiting, 15, 0.2)
    st = dict(seen)
    if before_kill:
        before_kill(mport)
    on_master = window_mails(mport)
    note("%s kill: master :%d has %d mails, its frozen replica %d; milter: %d records wait, "
         "replicas_waiting %s" % (label, mport, on_master, on_replica,
                                  st.get("journal_backlog_records", -1),
                                  st.get("replicas_waiting")))
    killed_at = time.monotonic()
    cl.kill(master)
    cl.signal(replica, signal.SIGCONT)
    return t, out, on_master, on_replica, st, killed_at


def main():
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        print("ok - Redis Sentinel failover # SKIP redis-server or redis-cli missing")
        return
    env = pdtest.Env()            # its own unix-socket Redis stays unused
    env.stop_redis()
    d = tempfile.mkdtemp(prefix="pdsentinel.", dir=env.dir)
    cl = Cluster(d)
    sent = os.path.join(env.dir, "sent.mbox")
    try:
        try:
            cl.start()
        except (RuntimeError, OSError) as e:
            print("ok - Redis Sentinel failover # SKIP cannot run redis-server --sentinel "
                  "on loopback: %s" % e)
            return
        if not pdtest.wait_for(lambda: cl.healthy(0), 30, 0.2):
            result(False, "master, replica and three sentinels come up",
                   "sentinels see %s" % cl.master_seen())
            return
        note("cluster up: master :%d, replica :%d, sentinels %s"
             % (cl.data_ports[0], cl.data_ports[1], cl.sentinel_ports))
        check_role_and_auth(env, cl)
        conf = env.write_conf(
            "sentinel.conf", "milter.sock", "journal", ((pdtest.LIST_ID, "KVM-PPC"),),
            "DigestFrom digest@example.org\nDigestTo readers@example.org\n"
            "Sendmail cat >> %s\nRedisReplicas 1\n" % sent)
        # Redis (the plain unix socket line) gives way to the sentinels
        with open(conf) as f:
            text = f.read()
        text = "\n".join(l for l in text.splitlines() if not l.startswith("Redis unix:"))
        text += "\nRedisSentinel %s %s\n" % (
            MASTER_NAME, " ".join("127.0.0.1:%d" % p for p in cl.sentinel_ports))
        with open(conf, "w") as f:
            f.write(text)
        env.conf = conf
        env.start_milter(conf)

        # ---- part 1: healthy; a flush sends window 1 ----
        a, b, c = POSTS[:500], POSTS[500:1000], POSTS[1000:]
        s1 = env.feed(a, conns=4)
        pdtest.wait_for(lambda: env.status().get("journal_backlog_records", 1) == 0 and
                        env.status().get("shipped", 0) >= len(a), 20, 0.2)
        f1 = env.cli("flush")
        result(feed_ok(s1, len(a)) and f1.returncode == 0 and "window 1 sent" in f1.stdout,
               "healthy: %d posts accepted at once, confirmed by the replica, window 1 flushed"
               % len(a), "%s\n%s%s" % (s1, f1.stdout, f1.stderr))
        st = env.status()
        result(st.get("redis_master") == "127.0.0.1:%d" % cl.data_ports[0] and
               st.get("failovers") == 0,
               "stats: the milter uses the master the sentinels name", st)

        # ---- part 2: first kill, records the replica lacks ----
        t, s2, on_master, on_replica, st2, killed = freeze_feed_kill(env, cl, 0, b[:300],
                                                                     "first")
        t.join()
        s2b = env.feed(b[300:], conns=4)     # during the failover
        result(on_master > on_replica and st2.get("journal_backlog_records", 0) > 0 and
               st2.get("replicas_waiting") == 1,
               "first kill landed on %d mails the replica did not have, not confirmed in the "
               "journal (%d records)" % (on_master - on_replica,
                                          st2.get("journal_backlog_records", 0)), st2)
        result(feed_ok(s2, 300) and feed_ok(s2b, len(b) - 300),
               "every post fed around the first kill accepted, none late", "%s\n%s" % (s2, s2b))
        new = cl.data_ports[1]
        ok = pdtest.wait_for(lambda: cl.master_seen() == [new] * 3, 30, 0.1)
        failover1 = time.monotonic() - killed
        result(ok, "first failover: the sentinels name :%d (%.1f s after the kill)"
               % (new, failover1), cl.master_seen())
        # the old master comes back from its AOF, holding the mails its
        # replica never got: standalone for a while, then made a replica
        cl.start_server(0)
        restarted = time.monotonic()
        stale = window_mails(cl.data_ports[0])
        note("old master :%d restarted: role %s, %d mails (stale)"
             % (cl.data_ports[0], cl.role(0)[:1], stale))
        waiting = pdtest.wait_for(lambda: env.status().get("replicas_waiting") == 1, 10, 0.2)
        ok = pdtest.wait_for(lambda: cl.healthy(1), 120, 0.2)
        rejoin1 = time.monotonic() - restarted
        note("the old master rejoined as a replica %.1f s after its restart" % rejoin1)
        result(ok and waiting, "the old master rejoined as a replica; meanwhile records waited "
               "for a replica", "%s %s" % (waiting, cl.master_seen()))

        # ---- part 3: second kill, mid-feed, with a flush running ----
        # A flush runs into the kill: it closes window 2 on the master
        # while the replica is frozen, so the close is not on the replica
        # that takes over; it must not send that window's digest.
        flush_out = {}

        def flush_during():
            r = env.cli("flush", "--wait", "30")
            flush_out.update(rc=r.returncode, out=r.stdout, err=r.stderr)
        ft = threading.Thread(target=flush_during)
        closed_before_kill = []

        def start_flush(mport):
            ft.start()
            closed_before_kill.append(pdtest.wait_for(
                lambda: rcli(mport, "HGET", BASE + "w:2", "state").strip() == "closed", 10, 0.05))
            time.sleep(0.2)     # the kill lands while the feed runs
        t, s3, on_master, on_replica, st3, killed = freeze_feed_kill(env, cl, 1, c[:300],
                                                                     "second", start_flush)
        t.join()
        s3b = env.feed(c[300:], conns=4)
        result(on_master > on_replica and st3.get("journal_backlog_records", 0) > 0 and
               st3.get("replicas_waiting") == 1 and closed_before_kill == [True],
               "second kill landed mid-feed and mid-flush (window 2 closed on the master alone) "
               "on %d mails the replica did not have, not confirmed in the journal (%d records)"
               % (on_master - on_replica, st3.get("journal_backlog_records", 0)),
               "%s closed before the kill: %s" % (st3, closed_before_kill))
        result(feed_ok(s3, 300) and feed_ok(s3b, len(c) - 300),
               "every post fed around the second kill accepted, none late", "%s\n%s" % (s3, s3b))
        new = cl.data_ports[0]
        ok = pdtest.wait_for(lambda: cl.master_seen() == [new] * 3, 30, 0.1)
        failover2 = time.monotonic() - killed
        result(ok, "second failover: the sentinels name :%d again (%.1f s after the kill)"
               % (new, failover2), cl.master_seen())
        cl.start_server(1)
        restarted = time.monotonic()
        ft.join()
        note("flush during the failover: exit %s: %s %s" % (
            flush_out.get("rc"), flush_out.get("out", "").strip(),
            flush_out.get("err", "").strip().replace("\n", " | ")))
        ok = pdtest.wait_for(lambda: cl.healthy(0), 60, 0.2)
        rejoin2 = time.monotonic() - restarted
        note("the second old master rejoined as a replica %.1f s after its restart" % rejoin2)
        result(ok, "the second old master rejoined as a replica", cl.master_seen())

        # ---- everything in Redis, once ----
        mport = cl.data_ports[0]
        pdtest.wait_for(lambda: window_mails(mport) >= WANT["mails"] and
                        env.status().get("journal_backlog_records", 1) == 0, 60, 0.3)
        fin = env.cli("flush", "--wait", "30")
        n = open_window(mport)
        mails, classes, domains, contributors = [], {}, {}, {}
        dups = 0
        for k in range(1, n + 1):
            w = "%sw:%d" % (BASE, k)
            mails += rcli(mport, "LRANGE", w + ":mails", "0", "-1").split()
            dups += hget(mport, w, "duplicates")
            for cls in WANT["classes"]:
                classes[cls] = classes.get(cls, 0) + hget(mport, w, "class:" + cls)
            for dom, v in zset(mport, w + ":domains").items():
                domains[dom] = domains.get(dom, 0) + v
            for addr, v in zset(mport, w + ":contributors").items():
                contributors[addr] = contributors.get(addr, 0) + v
        want_contrib = pdtest.by_address(WANT["contributors"])
        result(len(mails) == WANT["mails"] and len(set(mails)) == WANT["mails"] and
               dups == WANT["duplicates"],
               "after two kills every post is in exactly one of %d windows: none lost, none "
               "counted twice (%d mails, %d duplicates)" % (n, len(mails), dups),
               "%d in windows, %d distinct, want %d; duplicates %d, want %d"
               % (len(mails), len(set(mails)), WANT["mails"], dups, WANT["duplicates"]))
        result(classes == WANT["classes"] and domains == WANT["domains"] and
               contributors == want_contrib,
               "the windows' counters equal the Python model's",
               "classes %s want %s; domains differ %s; contributors differ %s" % (
                   classes, WANT["classes"],
                   {k: (domains.get(k), v) for k, v in WANT["domains"].items()
                    if domains.get(k) != v},
                   {k: (contributors.get(k), v) for k, v in want_contrib.items()
                    if contributors.get(k) != v}))

        # one digest per closed window (a repeat only as the same mail)
        first, repeats, same = pdtest.digests_by_window(sent)
        closed = open_window(mport) - 1
        pending = rcli(mport, "ZRANGE", BASE + "pending", "0", "-1").split()
        result(fin.returncode == 0 and len(first) == closed and None not in first and same
               and not pending,
               "one digest per window: %d windows closed, %d digests, %d repeats of the same "
               "mail; the flush during the failover exited %s" % (closed, len(first), repeats,
                                                                  flush_out.get("rc")),
               "final flush %d %s %s; pending %s; repeats the same mail: %s"
               % (fin.returncode, fin.stdout, fin.stderr, pending, same))

        # import goes through the sentinels too, and waits for the replica
        imp = env.cli("import", *POSTS[:20])
        result(imp.returncode == 0 and "20 recorded (0 new, 20 duplicates)" in imp.stderr,
               "import asks the sentinels and its records are confirmed by the replica",
               imp.stderr)

        # stats: the master in use, the failovers; the log: each switch once
        st = env.status()
        sj = env.stats()
        prom = env.cli("stats", "--prometheus").stdout
        text = env.cli("stats").stdout
        want_master = "127.0.0.1:%d" % mport
        log = env.log()
        switches = [l for l in log.splitlines() if "a failover" in l]
        # Two kills make two failovers; on a loaded machine the sentinels
        # (down-after 2 s) may switch more often, and the milter follows each
        # time: the figures must agree with each other and with the log.
        nf = st.get("failovers", 0)
        result(nf >= 2 and st.get("redis_master") == want_master and
               st.get("last_failover", 0) > 0 and sj and
               sj["milter"].get("redis_master") == want_master and
               sj["milter"].get("failovers") == nf and
               'patchdigest_redis_master{address="%s"} 1' % want_master in prom and
               "patchdigest_redis_failovers_total %d" % nf in prom and
               "Redis master %s; failovers seen %d" % (want_master, nf) in text,
               "stats, --json and --prometheus show the master in use and the failovers (%d)" % nf,
               "%s\n%s\n%s" % (st, prom[-600:], text))
        result(len(switches) == nf,
               "the log says each master switch once (%d lines)" % len(switches),
               "\n".join(switches))
        # a switch by hand (SENTINEL FAILOVER): the old master lives on as a
        # replica, so the writer's open connection to it meets READONLY (or
        # is closed) and must follow the sentinels to the new master
        dups_before = sum(hget(mport, "%sw:%d" % (BASE, k), "duplicates")
                          for k in range(1, open_window(mport) + 1))
        other = cl.data_ports[1]
        # a sentinel refuses (NOGOODSLAVE) until it has fresh news of the replica
        replies = []

        def hand_failover():
            replies.append(rcli(cl.sentinel_ports[0], "SENTINEL", "FAILOVER", MASTER_NAME).strip())
            return replies[-1] == "OK"
        # and a started failover may be abandoned (failover-timeout) when
        # the sentinels' news of a replica that just rejoined is too old:
        # ask again, three times at most
        ok = False
        for _ in range(3):
            ok = (pdtest.wait_for(hand_failover, 20, 0.5) and
                  pdtest.wait_for(lambda: cl.master_seen() == [other] * 3 and
                                  cl.role(0)[:1] == ["slave"], 15, 0.1))
            if ok:
                break
        note("SENTINEL FAILOVER answered %s, %d times asked" % (replies[-1:], len(replies)))
        s5 = env.feed(POSTS[:50], conns=2)
        st = {}

        def followed():
            # the status file is rewritten every second: one reading of it,
            # taken after the 50 mails were answered
            st.clear()
            st.update(env.status())
            return (st.get("mails") == len(POSTS) + 50 and st.get("failovers") == nf + 1 and
                    st.get("journal_backlog_records", 1) == 0 and
                    sum(hget(other, "%sw:%d" % (BASE, k), "duplicates")
                        for k in range(1, open_window(other) + 1)) == dups_before + 50)
        done = pdtest.wait_for(followed, 30, 0.2)
        log = env.log()
        readonly = "READONLY" in log
        result(ok and feed_ok(s5, 50) and done and st.get("failovers") == nf + 1 and
               st.get("redis_master") == "127.0.0.1:%d" % other and
               len([l for l in log.splitlines() if "a failover" in l]) == nf + 1,
               "a switch by hand (SENTINEL FAILOVER): the milter follows to :%d (%s), 50 posts "
               "again count as 50 duplicates there" % (
                   other, "after a READONLY reply" if readonly else "its connection closed"),
               "%s %s %s %s %s" % (ok, replies[-3:], s5, done, st))
        # a reload cannot move the milter to other sentinels: it says so
        with open(conf) as f:
            text = f.read()
        changed = text.replace(
            " ".join("127.0.0.1:%d" % p for p in cl.sentinel_ports),
            " ".join("127.0.0.1:%d" % p for p in reversed(cl.sentinel_ports))).replace(
            "RedisReplicas 1", "RedisReplicas 0")
        with open(conf, "w") as f:
            f.write(changed)
        env.milters[0].send_signal(signal.SIGHUP)
        said = pdtest.wait_for(lambda: "the sentinels of RedisSentinel changed" in env.log() and
                               "RedisReplicas changed" in env.log(), 10, 0.1)
        result(said, "a reload that changes the sentinels or RedisReplicas says they wait for "
               "a restart", env.log()[-800:])
        note("measured: failovers %.1f s and %.1f s after the kills; old masters rejoined "
             "%.1f s and %.1f s after their restarts" % (failover1, failover2, rejoin1, rejoin2))
    finally:
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + d)
        cl.close()
        env.close()


if __name__ == "__main__":
    main()
    pdtest.finish()
