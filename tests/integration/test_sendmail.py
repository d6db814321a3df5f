#!/usr/bin/env python3
"""patchdigest-milter behind a real Sendmail.

Debian's sendmail conflicts with Postfix, so it is not installed:
tests/fetch-sendmail.sh unpacks sendmail-bin, sendmail-cf, m4 and libwrap0
from their .debs into build/sendmail (once; apt-get download).  A .cf is
built with that m4 and sendmail-cf from a small .mc that includes the
INPUT_MAIL_FILTER lines of conf/sendmail.mc as they are (the socket path
replaced), and that unpacked sendmail runs as a foreground daemon (-bD) on a
free 127.0.0.1 port with its own queue, pid and status files in a temp dir,
nothing system-wide.  Every recipient goes to a "dump" mailer that writes
each mail to a file named by recipient and queue id.  Sendmail sleeps a
minute at start when the host name has no dot, so it runs in its own UTS
namespace (unshare -u) under a dotted name.

200 real kvm-ppc posts (a spread over the corpus) are sent over SMTP by
smtplib, in order over one connection; each must be delivered as sent apart
from the Received line Sendmail adds and the Return-Path it drops; the
address headers (From, To, Cc ...), which Sendmail parses and writes out
again (folded its way, names with a ' or . quoted), must carry the same
names and addresses.  The counters must equal those of a second Env
fed the same posts by the C feeder.  Every queue id Sendmail gave must be in
the milter's log (the "i" macro, asked for at end of message by
conf/sendmail.mc).  Then the milter is stopped and 40 of the posts are sent
again over 2 connections: all delivered all the same (F= empty: a filter
that cannot be reached is left out), nothing counted.

Skipped when not run as root, when the .debs cannot be fetched (no apt-get,
no network) or when unshare is not allowed.  About 8 s (the first run also
fetches 1.3 MB of .debs)."""
import email.utils
import os
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
from mtatest import (field_name, free_port, send, skip, split_fields,
                     spread, stop_on_sigterm, wait_delivered)

SENDMAIL_DIR = os.path.join(pdtest.ROOT, "build", "sendmail")
FETCH = os.path.join(pdtest.ROOT, "tests", "fetch-sendmail.sh")
SNIPPET = os.path.join(pdtest.ROOT, "conf", "sendmail.mc")
SNIPPET_SOCKET = "unix:/run/patchdigest/patchdigest.sock"
HOSTNAME = "mx.pdtest.invalid"


if os.geteuid() != 0:
    skip("running a Sendmail daemon needs root")
r = subprocess.run([FETCH, SENDMAIL_DIR], capture_output=True, text=True)
if r.returncode != 0:
    skip("Debian's sendmail could not be fetched: " + " ".join(r.stderr.split())[:300])
if subprocess.run(["unshare", "-u", "true"], capture_output=True).returncode != 0:
    skip("unshare -u is not allowed here (Sendmail would sleep a minute on an "
         "unqualified host name)")

SENDMAIL = os.path.join(SENDMAIL_DIR, "usr", "libexec", "sendmail", "sendmail")
M4 = os.path.join(SENDMAIL_DIR, "usr", "bin", "m4")
CF_DIR = os.path.join(SENDMAIL_DIR, "usr", "share", "sendmail", "cf")
POSTS = spread(200)
AGAIN = POSTS[::5]

DELIVER = """#!/bin/sh
# the dump mailer: deliver.sh DIR QUEUE-ID RECIPIENT
cat > "$1/.tmp.$2" && mv "$1/.tmp.$2" "$1/${3%%@*}.$2"
"""

MC = """divert(-1)
divert(0)dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{host}')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`QUEUE_DIR', `{d}/queue')dnl
define(`STATUS_FILE', `{d}/statistics')dnl
define(`confPID_FILE', `{d}/sendmail.pid')dnl
define(`ALIAS_FILE', `{d}/aliases')dnl
define(`HELP_FILE', `{d}/helpfile')dnl
define(`confSERVICE_SWITCH_FILE', `{d}/service.switch')dnl
define(`confHOSTS_FILE', `{d}/hosts')dnl
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl
define(`confDELIVERY_MODE', `interactive')dnl
define(`confMILTER_LOG_LEVEL', `9')dnl
DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name=MTA')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`no_default_msa')dnl
dnl ---- conf/sendmail.mc ----
{snippet}dnl ----
MAILER(`local')dnl
LOCAL_RULE_0
R$*\t$#dump $@ localhost $: $1
MAILER_DEFINITIONS
Mdump,\tP={d}/deliver.sh, F=lsSn, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, A=deliver.sh {d}/out $i $u
"""


class Sendmail:
    """A private Sendmail daemon in a temp dir, delivering into files."""

    def __init__(self, milter_socket):
        self.dir = tempfile.mkdtemp(prefix="pdsendmail.")
        self.out = os.path.join(self.dir, "out")
        self.queue = os.path.join(self.dir, "queue")
        os.mkdir(self.out, 0o755)
        os.mkdir(self.queue, 0o700)
        self.port = free_port()
        self.proc = None
        files = {"deliver.sh": DELIVER, "service.switch": "hosts files\naliases files\n",
                 "hosts": "127.0.0.1 localhost %s\n" % HOSTNAME, "aliases": "",
                 "helpfile": "", "statistics": ""}
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        os.chmod(os.path.join(self.dir, "deliver.sh"), 0o755)
        with open(SNIPPET) as f:
            snippet = f.read()
        if SNIPPET_SOCKET not in snippet:
            raise RuntimeError("%s no longer names %s" % (SNIPPET, SNIPPET_SOCKET))
        mc = MC.format(d=self.dir, host=HOSTNAME, port=self.port,
                       snippet=snippet.replace(SNIPPET_SOCKET, "unix:" + milter_socket))
        with open(os.path.join(self.dir, "test.mc"), "w") as f:
            f.write(mc)
        self.cf = os.path.join(self.dir, "sendmail.cf")
        with open(self.cf, "w") as f:
            r = subprocess.run([M4, "-D_CF_DIR_=" + CF_DIR + "/",
                                os.path.join(CF_DIR, "m4", "cf.m4"), "test.mc"],
                               cwd=self.dir, stdout=f, stderr=subprocess.PIPE, text=True)
        # the one warning m4 prints is FEATURE(`promiscuous_relay')'s
        errors = [l for l in r.stderr.splitlines() if l.strip() and "relay" not in l]
        if r.returncode != 0 or errors:
            raise RuntimeError("m4: " + r.stderr)

    def cf_lines(self, pattern):
        with open(self.cf) as f:
            return [l.rstrip("\n") for l in f if re.match(pattern, l)]

    def start(self):
        libs = sorted({os.path.dirname(os.path.join(d, n))
                       for d, _, names in os.walk(SENDMAIL_DIR)
                       for n in names if ".so" in n})
        env = dict(os.environ, LD_LIBRARY_PATH=":".join(libs),
                   RES_OPTIONS="timeout:1 attempts:1")
        self.stderr = open(os.path.join(self.dir, "sendmail.stderr"), "w")
        # its own session: the daemon and the children it forks are one group
        self.proc = subprocess.Popen(
            ["unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"', HOSTNAME,
             SENDMAIL, "-bD", "-C", self.cf], cwd=self.dir, env=env,
            stdout=self.stderr, stderr=subprocess.STDOUT, start_new_session=True)

        def listening():
            if self.proc.poll() is not None:
                return True
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        if not pdtest.wait_for(listening, 30, 0.1) or self.proc.poll() is not None:
            raise RuntimeError("sendmail does not listen on port %d: %s"
                               % (self.port, self.errors()))

    def errors(self):
        try:
            with open(os.path.join(self.dir, "sendmail.stderr"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        """Stop the daemon and whatever it forked; True when none is left."""
        if not self.proc:
            return True
        pgid = self.proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                continue
            if pdtest.wait_for(lambda: not group_alive(pgid), 10, 0.1):
                break
        self.stderr.close()
        return self.proc.poll() is not None and not group_alive(pgid)

    def delivered(self):
        return [os.path.join(self.out, n) for n in os.listdir(self.out)
                if not n.startswith(".")]

    def queue_empty(self):
        return not any(n[:2] in ("qf", "df") for n in os.listdir(self.queue))

    def close(self):
        if os.environ.get("PD_KEEP_TMP"):
            print("# kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# the headers Sendmail parses as addresses and writes out again (its
# H_FROM and H_RCPT headers), folded its way and with names that hold a
# MustQuoteChars character (' or .) quoted: their addresses must not change
ADDRESS_HEADERS = {b"from", b"sender", b"reply-to", b"errors-to", b"to", b"cc", b"bcc",
                   b"apparently-to", b"resent-from", b"resent-sender", b"resent-reply-to",
                   b"resent-to", b"resent-cc", b"resent-bcc", b"return-receipt-to",
                   b"disposition-notification-to"}


def addresses(field):
    """The (name, address) pairs of an address header field."""
    value = field.split(b":", 1)[1].decode("utf-8", "surrogateescape")
    return email.utils.getaddresses([re.sub(r"\r?\n[ \t]", " ", value)])


def same_field(got, want):
    """A header field as delivered against the post's: the same bytes, or for
    an address header the same name and the same names and addresses."""
    if field_name(want) in ADDRESS_HEADERS:
        return (got.split(b":", 1)[0] == want.split(b":", 1)[0] and
                addresses(got) == addresses(want))
    return got == want


def check_delivery(sm, posts, tag):
    """Over the delivered mails of tag: ({i: Sendmail's queue id}, problems,
    how many address headers Sendmail wrote out differently)."""
    seen = {}
    problems = []
    rewritten = 0
    for path in sm.delivered():
        m = re.match(r"%s(\d+)\.(\w+)$" % tag, os.path.basename(path))
        if not m:
            continue        # another phase's mail
        i, qid = int(m.group(1)), m.group(2)
        with open(path, "rb") as f:
            data = f.read()
        fields, body = split_fields(data)
        with open(posts[i], "rb") as f:
            want = f.read().replace(b"\r\n", b"\n")
        if not want.endswith(b"\n"):
            want += b"\n"
        want_fields, want_body = split_fields(want)
        # Sendmail drops a Return-Path that comes in (it writes its own
        # only for mailers with F=P)
        want_fields = [f for f in want_fields if field_name(f) != b"return-path"]
        name = "%s%d (%s)" % (tag, i, os.path.basename(posts[i]))
        if i in seen:
            problems.append("%s delivered twice" % name)
        elif not fields or field_name(fields[0]) != b"received" or \
                not re.search(rb"by %s .*id %s" % (HOSTNAME.encode(), qid.encode()),
                              fields[0], re.S):
            problems.append("%s: no Received line of Sendmail's with id %s first: %r"
                            % (name, qid, fields[:1]))
        elif len(fields) != len(want_fields) + 1:
            problems.append("%s: %d header fields after Received, the post has %d: %r"
                            % (name, len(fields) - 1, len(want_fields),
                               sorted({field_name(f) for f in fields[1:]} ^
                                      {field_name(f) for f in want_fields})))
        else:
            bad = [(g, w) for g, w in zip(fields[1:], want_fields) if not same_field(g, w)]
            rewritten += sum(g != w for g, w in zip(fields[1:], want_fields))
            if bad:
                problems.append("%s: header field %r, the post has %r" % (name, bad[0][0],
                                                                          bad[0][1]))
            elif body != want_body:
                at = next((k for k in range(min(len(body), len(want_body)))
                           if body[k] != want_body[k]), min(len(body), len(want_body)))
                problems.append("%s: body differs at byte %d: got %r, want %r"
                                % (name, at, body[at:at + 60], want_body[at:at + 60]))
        seen[i] = qid
    missing = [i for i in range(len(posts)) if i not in seen]
    if missing:
        problems.append("not delivered: " + ", ".join(os.path.basename(posts[i])
                                                       for i in missing[:10]))
    return seen, problems, rewritten


stop_on_sigterm()

env = pdtest.Env()
ref = None
sm = None
try:
    # the milter logs a line per mail (with the "i" macro's queue id) at debug
    with open(env.conf) as f:
        conf = f.read()
    with open(env.conf, "w") as f:
        f.write(conf.replace("LogLevel info\n", "LogLevel debug\n"))
    m = env.start_milter()
    sm = Sendmail(os.path.join(env.dir, "milter.sock"))
    xline = sm.cf_lines(r"Xpatchdigest,")
    eom = sm.cf_lines(r"O Milter\.macros\.eom=")
    result(len(xline) == 1 and ", F=," in xline[0] and eom and
           re.search(r"(^|[=,]\s*)i(,|$)", eom[0]),
           "conf/sendmail.mc builds: %s; %s" % (xline[0] if xline else "no X line",
                                                eom[0] if eom else "no eom macros"),
           "\n".join(xline + eom))
    t0 = time.monotonic()
    sm.start()
    with open(os.path.join(SENDMAIL_DIR, ".unpacked")) as f:
        debs = [l.strip() for l in f if l.startswith("sendmail-bin_")]
    result(True, "a private Sendmail (%s) listens on 127.0.0.1:%d (%.1f s to start)"
           % (debs[0] if debs else "?", sm.port, time.monotonic() - t0))

    # 1. the milter attached: in order over one connection
    t0 = time.monotonic()
    errors = send(sm.port, POSTS, "m", 1)
    result(not errors, "%d posts sent over SMTP, all accepted (%.1f s)"
           % (len(POSTS), time.monotonic() - t0), "\n".join(errors[:20]))
    wait_delivered(sm, len(POSTS), 60)
    seen, problems, rewritten = check_delivery(sm, POSTS, "m")
    result(not problems, "all %d delivered unchanged but for Received and Return-Path; "
           "the %d address headers Sendmail wrote out anew name the same addresses"
           % (len(seen), rewritten),
           "\n".join(problems[:20]) + "\n" + sm.errors()[-2000:])

    got = env.wait_recorded(len(POSTS))
    ref = pdtest.Env()
    ref.start_milter()
    s = ref.feed(POSTS, conns=1, per_conn=25)
    want = ref.wait_recorded(len(POSTS))
    diffs = pdtest.compare(got or {}, want or {})
    result(s["rc"] == 0 and got is not None and want is not None and not diffs,
           "counters after Sendmail equal those of the same posts through the feeder",
           "%s\n%s" % (s, "\n".join(diffs)))
    diffs = pdtest.compare(got or {}, pdtest.reference_stats(POSTS))
    result(got is not None and not diffs, "and those of the independent reference",
           "\n".join(diffs))

    log = env.log()
    qids = sorted(q for q in seen.values() if q)
    without = [q for q in qids if q not in log]
    result(len(qids) == len(POSTS) and not without,
           "every Sendmail queue id is in the milter's log (%d ids)" % len(qids),
           "not in the log: %s\nlog: %s" % (" ".join(without[:10]), log[-1500:]))
    example = [l for l in log.splitlines() if qids and qids[0] in l]
    if example:
        print("#   e.g. " + example[0].strip())

    # 2. the milter stopped: mail still flows (F= empty)
    env.stop_milter(m)
    t0 = time.monotonic()
    errors = send(sm.port, AGAIN, "s", 2)
    result(not errors, "milter stopped: %d posts sent over 2 connections, all accepted "
           "(%.1f s)" % (len(AGAIN), time.monotonic() - t0), "\n".join(errors[:20]))
    wait_delivered(sm, len(POSTS) + len(AGAIN), 60)
    _, problems, _ = check_delivery(sm, AGAIN, "s")
    result(not problems, "milter stopped: all %d delivered unchanged" % len(AGAIN),
           "\n".join(problems[:20]) + "\n" + sm.errors()[-2000:])
    st = env.stats()
    diffs = pdtest.compare((st or {"lists": [{}]})["lists"][0], got or {})
    result(st is not None and not diffs, "milter stopped: nothing more counted",
           "\n".join(diffs))
except Exception:
    result(False, "the test ran to its end", traceback.format_exc())
finally:
    if sm:
        gone = sm.stop()
        result(gone, "sendmail stopped: no process of the instance is left", sm.errors()[-2000:])
        sm.close()
    if ref:
        ref.close()
    env.close()
pdtest.finish()
