"""Helpers for patchdigest's integration tests: a private redis-server on a
unix socket, a real patchdigest-milter, the C feeder, TAP-style results.

Every test script prints "ok - name" or "not ok - name" lines, and
"skip - name # SKIP why" for a check it could not run here (never a plain
"ok"); the runner (tests/run-tests.sh) counts them and lists the skips."""
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CORPUS = os.environ.get("PD_CORPUS", os.path.join(os.path.dirname(ROOT), "shared", "corpus"))
KVMPPC = os.path.join(CORPUS, "kvm-ppc.vger.kernel.org.0", "eml")
LIST_ID = "kvm-ppc.vger.kernel.org"

failures = 0


def result(ok, name, detail=""):
    global failures
    if ok:
        print("ok - %s" % name, flush=True)
    else:
        failures += 1
        print("not ok - %s" % name, flush=True)
        if detail:
            for line in str(detail).splitlines()[:40]:
                print("#   " + line, flush=True)
    return ok


def skip(name, why):
    """A check that cannot run here: one "skip - NAME # SKIP WHY" line, which
    the runner counts as skipped (never as passed) and lists at the end."""
    print("skip - %s # SKIP %s" % (name, " ".join(str(why).split())), flush=True)


def corpus_files(n=None):
    files = sorted(os.path.join(KVMPPC, f) for f in os.listdir(KVMPPC) if f.endswith(".eml"))
    return files[:n] if n else files


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def listening(path):
    """Does a unix socket at path take connections?"""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(path)
        return True
    except OSError:
        return False
    finally:
        c.close()


def old_build(OLD):
    """The binaries of an older commit (test_upgrade, make bench), built
    from git into BUILD/old-<commit>/ once; None when git cannot give it."""
    out = os.path.join(BUILD, "old-" + OLD[:12])
    if all(os.path.exists(os.path.join(out, b)) for b in ("patchdigest", "patchdigest-milter")):
        return out
    src = tempfile.mkdtemp(prefix="pdold.")
    try:
        arch = subprocess.run(["git", "-C", ROOT, "archive", OLD], capture_output=True)
        if arch.returncode != 0:
            print("# git archive %s: %s" % (OLD, arch.stderr.decode()[:200]))
            return None
        subprocess.run(["tar", "-x", "-C", src], input=arch.stdout, check=True)
        r = subprocess.run(["make", "-C", src, "-j2", "BUILD=" + out, out + "/patchdigest",
                            out + "/patchdigest-milter"], capture_output=True, text=True)
        if r.returncode != 0:
            print("# building %s failed:\n%s" % (OLD[:12], r.stderr[-2000:]))
            return None
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return out


class Env:
    """A temp dir with a redis-server and a config; milters on demand."""

    def __init__(self, lists=((LIST_ID, "KVM-PPC"),), extra="", persist=False):
        self.dir = tempfile.mkdtemp(prefix="pdtest.")
        self.persist = persist    # Redis keeps its data over a restart (AOF)
        self.redis_sock = os.path.join(self.dir, "redis.sock")
        self.redis = None
        self.milters = []
        self.start_redis()
        self.conf = self.write_conf("patchdigest.conf", "milter.sock", "journal", lists, extra)

    def write_conf(self, name, sock, journal, lists, extra=""):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("Socket unix:%s\n" % os.path.join(self.dir, sock))
            f.write("Redis unix:%s\n" % self.redis_sock)
            for lid, lname in lists:
                f.write("List %s %s\n" % (lid, lname))
            f.write("JournalDir %s\n" % os.path.join(self.dir, journal))
            f.write("PidFile %s\n" % os.path.join(self.dir, sock + ".pid"))
            f.write("StatusFile %s\n" % os.path.join(self.dir, sock + ".status"))
            f.write("LogLevel info\n")
            f.write(extra)
        os.chmod(path, 0o640)
        return path

    def start_redis(self):
        self.redis = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.redis_sock,
             "--unixsocketperm", "700", "--save", "",
             "--appendonly", "yes" if self.persist else "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: os.path.exists(self.redis_sock), 10):
            raise RuntimeError("redis-server did not start")
        wait_for(lambda: self.redis_cli("PING").strip() == "PONG", 10)

    def stop_redis(self):
        if self.redis:
            self.redis.terminate()
            self.redis.wait(10)
            self.redis = None
            try:
                os.unlink(self.redis_sock)
            except FileNotFoundError:
                pass

    def redis_cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.redis_sock] + list(args),
                           capture_output=True, text=True)
        return r.stdout

    def mail_field(self, base, h, field):
        """A field of a recorded mail (h: the sha1 of its Message-ID), read as the
        digest reads it (milter/mails.lua), before store.c unpacks it; "" when the
        mail or field is missing."""
        script = ""
        for name in ("mailfmt.lua", "mails.lua"):   # as the Makefile builds it
            with open(os.path.join(ROOT, "milter", name)) as f:
                script += f.read()
        r = subprocess.run(["redis-cli", "-s", self.redis_sock, "EVAL", script, "0", base, "1",
                            field, h], capture_output=True)
        # long texts are kept compressed (milter/textz.c): bytes, not UTF-8
        return r.stdout.decode("utf-8", "surrogateescape").rstrip("\n")

    # how long a milter may take to start and to stop (more under valgrind)
    start_timeout = 10
    stop_timeout = 30

    def milter_command(self, conf, sock):
        """The command that runs a milter (a subclass may wrap it)."""
        return [os.path.join(BUILD, "patchdigest-milter"), "-f", "-c", conf]

    def start_milter(self, conf=None, sock="milter.sock"):
        conf = conf or self.conf
        log = open(os.path.join(self.dir, sock + ".log"), "a")
        p = subprocess.Popen(self.milter_command(conf, sock), stdout=log, stderr=log)
        path = os.path.join(self.dir, sock)

        # the socket file exists a moment before the milter listens: connect
        if not wait_for(lambda: p.poll() is not None or listening(path), self.start_timeout):
            raise RuntimeError("milter did not start")
        if p.poll() is not None:
            raise RuntimeError("milter exited: " + self.log(sock))
        self.milters.append(p)
        return p

    def log(self, sock="milter.sock"):
        try:
            with open(os.path.join(self.dir, sock + ".log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop_milter(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.milters:
            self.milters.remove(p)
        return p.returncode

    def feed(self, files, conns=1, per_conn=10, sock="milter.sock", retries=0, timeout=10,
             pace_ms=0, results=None):
        """Feed files through the milter protocol; pace_ms: each connection
        pauses that long after each mail; results: a path for the feeder's
        per-mail lines (FILE, RESULT, LATENCY_US, ATTEMPTS)."""
        # one list file per call: feeds may run at once
        fd, listfile = tempfile.mkstemp(prefix="feed.", suffix=".list", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.write("".join(x + "\n" for x in files))
        r = subprocess.run([os.path.join(BUILD, "tests", "feeder"),
                            "-s", "unix:" + os.path.join(self.dir, sock),
                            "-j", str(conns), "-m", str(per_conn), "-R", str(retries),
                            "-t", str(timeout), "-p", str(pace_ms), "-l", listfile] +
                           (["-o", results] if results else []),
                           capture_output=True, text=True)
        summary = {}
        toks = r.stdout.split()
        for i in range(0, len(toks) - 1, 2):
            summary[toks[i]] = toks[i + 1]
        summary["rc"] = r.returncode
        summary["stderr"] = r.stderr
        return summary

    def cli(self, *args, conf=None, check=False):
        r = subprocess.run([os.path.join(BUILD, "patchdigest")] + list(args) +
                           ["-c", conf or self.conf], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("patchdigest %s: %s" % (" ".join(args), r.stderr))
        return r

    def stats(self, conf=None):
        r = self.cli("stats", "--json", conf=conf)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def wait_recorded(self, total, conf=None, timeout=60, list_index=0, mails=None):
        """Wait until mails + duplicates of the list reach total (and, when
        given, mails reaches mails)."""
        last = [None]

        def done():
            s = self.stats(conf)
            if not s:
                return False
            last[0] = s["lists"][list_index]
            return (last[0]["mails"] + last[0]["duplicates"] >= total and
                    (mails is None or last[0]["mails"] >= mails))
        wait_for(done, timeout, 0.2)
        return last[0]

    def status(self, sock="milter.sock"):
        """The milter's StatusFile as {name: value}, numbers as int (others,
        such as redis_master, as text); {} when there is none."""
        out = {}
        try:
            with open(os.path.join(self.dir, sock + ".status")) as f:
                for line in f:
                    k, _, v = line.strip().partition(" ")
                    out[k] = int(v) if v.lstrip("-").isdigit() else v
        except FileNotFoundError:
            pass
        return out

    def recorded_lines(self, sock="milter.sock"):
        """How many mails the milters of sock logged as recorded (journaled,
        about to be answered ACCEPT), over all their runs."""
        return self.log(sock).count(": recorded for ")

    def window_counts(self, conf=None, list_index=0):
        """The open window's stats --json entry, read from Redis even when no
        milter runs (stats then exits 1 but prints it)."""
        r = self.cli("stats", "--json", conf=conf)
        try:
            return json.loads(r.stdout)["lists"][list_index]
        except (ValueError, KeyError, IndexError):
            return None

    def feed_background(self, files, **kw):
        """env.feed in a thread: (thread, dict filled with its summary)."""
        import threading
        out = {}
        t = threading.Thread(target=lambda: out.update(self.feed(files, **kw)))
        t.start()
        return t, out

    def sanitizer_reports(self):
        """Lines of AddressSanitizer, LeakSanitizer or UBSan in the milters'
        logs (the milters are the sanitizer build under "make sanitize")."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += [name + ": " + l.rstrip() for l in f
                            if "Sanitizer" in l or "runtime error:" in l]
        return out

    def close(self):
        for p in list(self.milters):
            self.stop_milter(p)
        self.stop_redis()
        reports = self.sanitizer_reports()
        if reports:
            result(False, "no sanitizer report in the milters' logs", "\n".join(reports))
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def feeder_results(path):
    """The feeder's -o lines: [(file, result, latency_us, attempts)]."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 4:
                    out.append((p[0], p[1], int(p[2] or 0), int(p[3] or 0)))
    except FileNotFoundError:
        pass
    return out


def kill_mid_feed(env, files, conf=None, sock="milter.sock", milter=None, conns=4, pace_ms=10,
                  before=200, frozen=100):
    """The milter killed with -9 while mail is in flight and while records
    wait in its journal, on every machine: files are fed paced over conns
    connections with retries; once `before` mails are recorded Redis is
    frozen (SIGSTOP), so what follows stays in the journal; once `frozen`
    more are recorded the milter is killed with -9, Redis thawed, and the
    milter started again while the feeder retries what got no answer.
    Returns the facts to assert: summary (the feeder's), retried (mails
    that needed more than one attempt: unanswered at the kill),
    recorded_at_kill (mails the killed milter recorded, all answered or
    about to be), in_redis_at_kill (mails + duplicates Redis had then),
    landed (the thresholds were reached before the feed ended), milter
    (the new process)."""
    conf = conf or env.conf
    base = env.recorded_lines(sock)
    res = os.path.join(env.dir, "kill-feed.%d.results" % os.getpid())
    t, summary = env.feed_background(files, conns=conns, per_conn=len(files), sock=sock,
                                     retries=50, timeout=5, pace_ms=pace_ms, results=res)
    landed = wait_for(lambda: env.recorded_lines(sock) - base >= before, 120)
    env.redis.send_signal(signal.SIGSTOP)
    try:
        mark = env.recorded_lines(sock)
        landed = wait_for(lambda: env.recorded_lines(sock) - mark >= frozen, 60) and landed
        landed = landed and t.is_alive()
        milter = milter or env.milters[-1]
        milter.kill()
        milter.wait()
        if milter in env.milters:
            env.milters.remove(milter)
        recorded_at_kill = env.recorded_lines(sock) - base
    finally:
        env.redis.send_signal(signal.SIGCONT)
    w = env.window_counts(conf)
    in_redis = w["mails"] + w["duplicates"] if w else None
    time.sleep(0.2)
    new = env.start_milter(conf, sock=sock)
    t.join()
    results = feeder_results(res)
    return dict(summary=summary, retried=sum(1 for r in results if r[3] > 1),
                recorded_at_kill=recorded_at_kill, in_redis_at_kill=in_redis,
                landed=landed, milter=new)


def reference_stats(files, list_id=LIST_ID):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "refclassify.py"),
                        "stats", "--list", list_id] + files, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("refclassify.py: " + r.stderr)
    return json.loads(r.stdout)


COUNTERS = ("from", "to", "mails", "duplicates", "classes", "domains", "contributors",
            "reviewers")


def compare(got, want, keys=COUNTERS):
    """Differences between a stats --json list entry and the reference."""
    diffs = []
    for k in keys:
        g, w = got.get(k), want.get(k)
        if isinstance(w, dict):
            for name in sorted(set(g or {}) | set(w)):
                if (g or {}).get(name) != w.get(name):
                    diffs.append("%s[%s]: got %s, want %s" % (k, name, (g or {}).get(name),
                                                             w.get(name)))
        elif g != w:
            diffs.append("%s: got %s, want %s" % (k, g, w))
    return diffs


def by_address(table):
    """A "Name <addr>" -> count table keyed by address alone (which name is
    shown is the first seen, and so depends on arrival order)."""
    out = {}
    for label, n in (table or {}).items():
        addr = label[label.rfind("<") + 1:-1] if label.endswith(">") else label
        out[addr] = out.get(addr, 0) + n
    return out


def digests(path, sender=b"digest@example.org"):
    """The digest mails a Sendmail of "cat >> path" collected, split where
    each starts: its From: header line."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    parts = re.split(rb"(?m)^(?=From: " + re.escape(sender) + rb"\n)", data)
    return [p for p in parts if p.strip()]


def digests_by_window(path):
    """The digests mailed to path, by their X-Patchdigest-Digest header:
    ({header line or None: the first digest with it}, how many came again,
    whether each repeat is the same bytes as the first)."""
    first, repeats, same = {}, 0, True
    for d in digests(path):
        num = [l for l in d.decode("utf-8", "replace").splitlines()
               if l.startswith("X-Patchdigest-Digest:")][:1]
        key = num[0] if num else None
        if key in first:
            repeats += 1
            same = same and first[key] == d
        else:
            first[key] = d
    return first, repeats, same


class MilterSession:
    """One MTA connection to a milter, driven step by step, as Postfix
    speaks the milter protocol (version 6): for tests that need to stop
    in the middle of a mail (a signal while a mail is in progress)."""

    def __init__(self, sock_path, timeout=10, protocol=0x1fffff):
        """protocol: the SMFIP_* steps and no-reply flags this MTA offers
        (all of them by default, as Postfix does)."""
        import struct
        self.struct = struct
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)
        self.send(b"O", struct.pack(">III", 6, 0x1ff, protocol))
        cmd, data = self.reply()
        if cmd != b"O" or len(data) < 12:
            raise RuntimeError("bad option negotiation reply %r" % cmd)
        self.pflags = struct.unpack(">III", data[:12])[2]

    def send(self, cmd, data=b""):
        self.s.sendall(self.struct.pack(">I", len(data) + 1) + cmd + data)

    def _read(self, n):
        got = b""
        while len(got) < n:
            d = self.s.recv(n - len(got))
            if not d:
                raise ConnectionError("milter closed the connection")
            got += d
        return got

    def reply(self):
        n = self.struct.unpack(">I", self._read(4))[0]
        d = self._read(n)
        return d[:1], d[1:]

    def _step(self, cmd, data, noreply_flag):
        self.send(cmd, data)
        if not self.pflags & noreply_flag:
            return self.reply()[0]
        return None

    def begin(self, qid, rcpt, header_block):
        """MAIL (macro i), RCPT and the headers of a mail (bytes, as in a file)."""
        self.send(b"D", b"M" + b"i\0" + qid.encode() + b"\0")
        if not self.pflags & 0x4:          # SMFIP_NOMAIL
            self._step(b"M", b"<sender@example.org>\0", 0x4000)
        if not self.pflags & 0x8:          # SMFIP_NORCPT
            self._step(b"R", b"<" + rcpt.encode() + b">\0", 0x8000)
        for line in re.split(rb"\r?\n(?![ \t])", header_block.strip(b"\r\n")):
            name, _, value = line.partition(b":")
            if not self.pflags & 0x100000:   # SMFIP_HDR_LEADSPC
                value = value.lstrip(b" ")
            self._step(b"L", name + b"\0" + value + b"\0", 0x80)
        if not self.pflags & 0x40:         # SMFIP_NOEOH
            self._step(b"N", b"", 0x40000)

    def end(self, body):
        """The body and the end of message: the milter's final reply."""
        for i in range(0, len(body), 65535):
            self._step(b"B", body[i:i + 65535], 0x80000)
        self.send(b"E")
        return self.reply()[0]

    def mail(self, qid, rcpt, raw):
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        self.begin(qid, rcpt, head)
        return self.end(body.replace(b"\n", b"\r\n"))

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.s.close()


def finish():
    sys.exit(1 if failures else 0)
