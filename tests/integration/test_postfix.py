#!/usr/bin/env python3
"""patchdigest-milter behind a real Postfix.

A private Postfix instance (its own config, queue and data directories in a
temp dir, nothing system-wide; run as root, mail_owner the package's
"postfix" user) listens on a free 127.0.0.1 port with
"smtpd_milters = unix:<milter socket>" and "milter_default_action = accept",
and delivers every mail through the virtual(8) agent into one maildir.
500 real kvm-ppc posts (a spread over the corpus: every third file) are sent
to it over SMTP by smtplib, in order over one connection; each must be
delivered byte for byte as sent apart from the headers Postfix adds
(Return-Path, X-Original-To, Delivered-To, its Received line) and drops
(an old Return-Path), and the counters must equal those of a second Env fed
the same posts by the C feeder.  Every queue id Postfix gave must be in the
milter's log.  Then the milter is stopped and the posts are sent again over
4 connections: all delivered all the same, nothing counted.  Postfix is
stopped, and its master gone, however the test ends.

Skipped when Postfix is not installed ("make deps" installs it) or when not
run as root ("postfix start" needs root).  About 12 s."""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback

import pdtest
from pdtest import result
from mtatest import (DOMAIN, field_name, free_port, send, skip, split_fields,
                     spread, stop_on_sigterm, wait_delivered)

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


if not os.access(POSTFIX, os.X_OK):
    skip("Postfix is not installed (make deps installs it)")
if os.geteuid() != 0:
    skip("starting a Postfix instance needs root")
try:
    PF_USER = pwd.getpwnam("postfix")
except KeyError:
    skip("no postfix user (the postfix package creates it)")

POSTS = spread(500)

MASTER_CF = """\
# service   type  private unpriv chroot wakeup maxproc command
{listen}    inet  n       -      n      -      -       smtpd
pickup      unix  n       -      n      60     1       pickup
cleanup     unix  n       -      n      -      0       cleanup
qmgr        unix  n       -      n      300    1       qmgr
rewrite     unix  -       -      n      -      -       trivial-rewrite
bounce      unix  -       -      n      -      0       bounce
defer       unix  -       -      n      -      0       bounce
trace       unix  -       -      n      -      0       bounce
verify      unix  -       -      n      -      1       verify
flush       unix  n       -      n      1000?  0       flush
proxymap    unix  -       -      n      -      -       proxymap
showq       unix  n       -      n      -      -       showq
error       unix  -       -      n      -      -       error
retry       unix  -       -      n      -      -       error
discard     unix  -       -      n      -      -       discard
virtual     unix  -       n      n      -      -       virtual
smtp        unix  -       -      n      -      -       smtp
anvil       unix  -       -      n      -      1       anvil
scache      unix  -       -      n      -      1       scache
postlog     unix-dgram n  -      n      -      1       postlogd
"""


class Postfix:
    """A private Postfix instance in a temp dir, delivering into a maildir."""

    def __init__(self, milter_socket):
        self.dir = tempfile.mkdtemp(prefix="pdpostfix.")
        os.chmod(self.dir, 0o755)          # the postfix user walks through it
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.maildir = os.path.join(self.mail, "box")
        self.log = os.path.join(self.dir, "postfix.log")
        for d in (self.etc, self.queue):
            os.mkdir(d, 0o755)
        for d in (self.data, self.mail):
            os.mkdir(d, 0o700)
            os.chown(d, PF_USER.pw_uid, PF_USER.pw_gid)
        self.port = free_port()
        self.master = None
        main = {
            "compatibility_level": "3.6",
            "config_directory": self.etc,
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.dir,
            "myhostname": "mx.pdtest.invalid",
            "mydomain": "pdtest.invalid",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "",
            "default_transport": "error:no relaying from this test instance",
            "biff": "no",
            # headers from SMTP clients stay as they are (no domain appended)
            "local_header_rewrite_clients": "",
            # every recipient of DOMAIN into one maildir, as the postfix user
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "static:box/",
            "virtual_uid_maps": "static:%d" % PF_USER.pw_uid,
            "virtual_gid_maps": "static:%d" % PF_USER.pw_gid,
            "virtual_minimum_uid": "1",
            "smtpd_milters": "unix:" + milter_socket,
            "non_smtpd_milters": "$smtpd_milters",
            "milter_default_action": "accept",
            "milter_protocol": "6",
        }
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("".join("%s = %s\n" % kv for kv in main.items()))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.port))

    def postfix(self, *args):
        return subprocess.run([POSTFIX, "-c", self.etc] + list(args), capture_output=True,
                              text=True, timeout=120)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        r = self.postfix("start")
        self.master = self.master_pid()
        if r.returncode != 0:
            raise RuntimeError("postfix start: " + r.stdout + r.stderr + self.maillog()[-3000:])

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        if not pdtest.wait_for(listening, 30, 0.1):
            raise RuntimeError("Postfix does not listen on port %d: %s" %
                               (self.port, self.maillog()[-3000:]))

    def alive(self, pid):
        if not pid:
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return b"master" in f.read()
        except OSError:
            return False

    def stop(self):
        """Stop the instance; True when no master process of it is left."""
        pid = self.master or self.master_pid()
        self.postfix("stop")
        if not pdtest.wait_for(lambda: not self.alive(pid), 15, 0.1):
            self.postfix("abort")
            if not pdtest.wait_for(lambda: not self.alive(pid), 5, 0.1):
                os.kill(pid, signal.SIGKILL)
                pdtest.wait_for(lambda: not self.alive(pid), 5, 0.1)
        return not self.alive(pid)

    def maillog(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def delivered(self):
        d = os.path.join(self.maildir, "new")
        try:
            return [os.path.join(d, n) for n in os.listdir(d)]
        except FileNotFoundError:
            return []

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, names in os.walk(os.path.join(self.queue, sub)):
                if names:
                    return False
        return True

    def close(self):
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)




def expected_delivery(data):
    """A post as Postfix's maildir delivery should hold it after the headers
    it adds: LF line ends, a final newline, the post's own Return-Path and
    Content-Length dropped (cleanup(8) drops them)."""
    data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    fields, rest = split_fields(data)
    kept = [f for f in fields if field_name(f) not in (b"return-path", b"content-length")]
    return b"".join(kept) + rest


def check_delivery(pf, posts, tag):
    """Over the delivered mails of tag: ({i: Postfix's queue id}, problems)."""
    seen = {}
    problems = []
    for path in pf.delivered():
        with open(path, "rb") as f:
            data = f.read()
        fields, _ = split_fields(data)
        i = None
        n = 0
        for fld in fields:
            name = field_name(fld)
            if name not in (b"return-path", b"x-original-to", b"delivered-to"):
                break
            m = re.match(rb"delivered-to: *%s(\d+)@" % tag.encode(), fld, re.I)
            if m:
                i = int(m.group(1))
            n += 1
        if i is None:
            continue        # another phase's mail
        if n >= len(fields) or field_name(fields[n]) != b"received":
            problems.append("%s%d: no Received line of Postfix's" % (tag, i))
            continue
        m = re.search(rb"\(Postfix\)\s+with\s+E?SMTP\s+id\s+([0-9A-Za-z]+)", fields[n])
        qid = m.group(1).decode() if m else None
        body = data[sum(len(f) for f in fields[:n + 1]):]
        with open(posts[i], "rb") as f:
            want = expected_delivery(f.read())
        if i in seen:
            problems.append("%s%d delivered twice" % (tag, i))
        elif body != want:
            at = next((k for k in range(min(len(body), len(want))) if body[k] != want[k]),
                      min(len(body), len(want)))
            problems.append("%s%d (%s) differs from the post at byte %d: got %r, want %r"
                            % (tag, i, os.path.basename(posts[i]), at, body[at:at + 60],
                               want[at:at + 60]))
        seen[i] = qid
    missing = [i for i in range(len(posts)) if i not in seen]
    if missing:
        problems.append("not delivered: " + ", ".join(os.path.basename(posts[i])
                                                       for i in missing[:10]))
    return seen, problems


stop_on_sigterm()

env = pdtest.Env(extra="SocketGroup postfix\nSocketMode 0660\n")
ref = None
pf = None
try:
    # the milter logs a line per mail (with the "i" macro's queue id) at debug
    with open(env.conf) as f:
        conf = f.read()
    with open(env.conf, "w") as f:
        f.write(conf.replace("LogLevel info\n", "LogLevel debug\n"))
    os.chmod(env.dir, 0o711)               # Postfix's smtpd reaches the socket
    m = env.start_milter()
    pf = Postfix(os.path.join(env.dir, "milter.sock"))
    t0 = time.monotonic()
    pf.start()
    result(True, "a private Postfix instance listens on 127.0.0.1:%d (%.1f s to start)"
           % (pf.port, time.monotonic() - t0))

    # 1. the milter attached: in order over one connection
    t0 = time.monotonic()
    errors = send(pf.port, POSTS, "m", 1)
    sent = time.monotonic() - t0
    result(not errors, "%d posts sent over SMTP, all accepted (%.1f s)" % (len(POSTS), sent),
           "\n".join(errors[:20]))
    wait_delivered(pf, len(POSTS), 120)
    seen, problems = check_delivery(pf, POSTS, "m")
    result(not problems, "all %d delivered unchanged (%d in the maildir)"
           % (len(POSTS), len(seen)), "\n".join(problems[:20]) + "\n" + pf.maillog()[-2000:])

    got = env.wait_recorded(len(POSTS))
    ref = pdtest.Env()
    ref.start_milter()
    s = ref.feed(POSTS, conns=1, per_conn=25)
    want = ref.wait_recorded(len(POSTS))
    diffs = pdtest.compare(got or {}, want or {})
    result(s["rc"] == 0 and got is not None and want is not None and not diffs,
           "counters after Postfix equal those of the same posts through the feeder",
           "%s\n%s" % (s, "\n".join(diffs)))

    log = env.log()
    qids = sorted(q for q in seen.values() if q)
    without = [q for q in qids if q not in log]
    result(len(qids) == len(POSTS) and not without,
           "every Postfix queue id is in the milter's log (%d ids)" % len(qids),
           "not in the log: %s\nlog: %s" % (" ".join(without[:10]), log[-1500:]))
    example = [l for l in log.splitlines() if qids and qids[0] in l]
    if example:
        print("#   e.g. " + example[0].strip())

    def milter_warnings(text):
        return [l for l in text.splitlines() if "warning:" in l and "ilter" in l]
    plog = pf.maillog()
    w = milter_warnings(plog)
    result(not w, "Postfix reached the milter for every SMTP session", "\n".join(w[:10]))

    # 2. the milter stopped: mail still flows (milter_default_action = accept)
    env.stop_milter(m)
    t0 = time.monotonic()
    errors = send(pf.port, POSTS, "s", 4)
    result(not errors, "milter stopped: %d posts sent over 4 connections, all accepted (%.1f s)"
           % (len(POSTS), time.monotonic() - t0), "\n".join(errors[:20]))
    wait_delivered(pf, 2 * len(POSTS), 120)
    _, problems = check_delivery(pf, POSTS, "s")
    result(not problems, "milter stopped: all %d delivered unchanged" % len(POSTS),
           "\n".join(problems[:20]) + "\n" + pf.maillog()[-2000:])
    st = env.stats()
    diffs = pdtest.compare((st or {"lists": [{}]})["lists"][0], got or {})
    result(st is not None and not diffs, "milter stopped: nothing more counted",
           "\n".join(diffs))
    w = milter_warnings(pf.maillog()[len(plog):])
    result(w, "milter stopped: Postfix logged that it could not reach it (%d sessions)" % len(w))
    if w:
        print("#   e.g. " + w[0].split(": ", 1)[-1])
except Exception:
    result(False, "the test ran to its end", traceback.format_exc())
finally:
    if pf:
        gone = pf.stop()
        result(gone, "postfix stop: no master process of the instance is left",
               pf.maillog()[-2000:])
        pf.close()
    if ref:
        ref.close()
    env.close()
pdtest.finish()
