#!/usr/bin/env python3
"""The Debian package, for real: "make deb" builds it (once, while the
sources do not change; build/deb) and lintian reports no error; it holds the
binaries, the manual pages, the systemd units (the very files of conf/), the
sysusers.d file and the configuration as a conffile.

Then it is installed with dpkg into a throwaway root (dpkg --root, the
maintainer scripts run with DPKG_ROOT), inside a private mount namespace
whose /run is empty, so that nothing touches this machine's systemd, users or
package database: the system user patchdigest is created, the configuration
is made 0640 root:patchdigest, the milter's unit is enabled and the flush
timer is not.  The root's /usr, unit directory and /etc are laid over this
machine's (overlayfs, read-only) so that the units are checked as installed:
systemd-analyze verify finds nothing to report (binaries, man pages named in
Documentation=, dependencies), and systemd-analyze security rates the
milter's sandbox "OK".  PID 1 is not systemd here, so the milter's unit is
started by hand as systemd would: its RuntimeDirectory and StateDirectory
made with their modes and owner, its ExecStart run verbatim as its User with
NoNewPrivileges and an empty capability bounding set, reading the installed
/etc/patchdigest/patchdigest.conf (edited, as an administrator would, to use
a private redis-server).  It must listen on its default socket (mode 0660,
owned by patchdigest), record 20 posts fed through the milter protocol,
write its status where "patchdigest stats" reads it, and stop on SIGTERM;
the flush unit's ExecStart, run as its User, mails the digest.  Removal
keeps the configuration and the user; purge removes the configuration and
the journal.

Costs about 4 s when the package is built, about 20 s more when it must be
built (dpkg-buildpackage and lintian); the first "make deb" also installs
debhelper and lintian.  Needs root and mount namespaces (else skipped)."""
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback

import pdtest
from pdtest import result

ROOT = pdtest.ROOT
UNITS = ("patchdigest-milter.service", "patchdigest-flush.service", "patchdigest-flush.timer")
CONFFILE = "/etc/patchdigest/patchdigest.conf"
POSTS = pdtest.corpus_files(20)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def clean_env():
    """The environment without what make check/sanitize set for the tests."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "CFLAGS", "LDFLAGS", "ASAN_OPTIONS",
              "UBSAN_OPTIONS"):
        env.pop(k, None)
    return env


def unit_settings(path):
    """The [Service] (or [Timer]) settings of a unit file: key -> list of values."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section in ("[Service]", "[Timer]") and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


# ======================================================================
# Inside the mount namespace: install, verify, start, remove, purge.
# ======================================================================

def passwd_entry(root, name):
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields
    return None


def dpkg(root, *args):
    return run(["dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends",
                "--log=" + os.path.join(root, "dpkg.log")] + list(args))


def mount(*args):
    r = run(["mount"] + list(args))
    if r.returncode != 0:
        raise RuntimeError("mount %s: %s" % (" ".join(args), r.stderr.strip()))


def privdrop(user, group, nnp):
    """setpriv arguments: become user:group with its groups, no capabilities."""
    cmd = ["setpriv", "--reuid=" + user, "--regid=" + group, "--init-groups",
           "--bounding-set=-all", "--inh-caps=-all"]
    return cmd + (["--no-new-privs"] if nnp else [])


def inside(root, deb):
    # An empty /run: the maintainer scripts see no running systemd (as on
    # this machine), and the milter's runtime directory is ours.
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")

    r = dpkg(root, "-i", deb)
    ok = r.returncode == 0
    result(ok, "dpkg installs the package into a throwaway root", r.stdout + r.stderr)
    if not ok:
        return
    pw = passwd_entry(root, "patchdigest")
    result(pw is not None and 0 < int(pw[2]) < 1000 and pw[5] == "/var/lib/patchdigest" and
           pw[6] in ("/usr/sbin/nologin", "/sbin/nologin"),
           "postinst creates the system user patchdigest (sysusers.d)", pw)
    st = os.stat(root + CONFFILE)
    result(pw is not None and stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0 and
           st.st_gid == int(pw[3]), "the configuration is 0640 root:patchdigest",
           "%o %d:%d" % (st.st_mode, st.st_uid, st.st_gid))
    wants = os.path.join(root, "etc/systemd/system")
    result(os.path.islink(os.path.join(wants, "multi-user.target.wants", UNITS[0])) and
           not os.path.exists(os.path.join(wants, "timers.target.wants", UNITS[2])),
           "the milter's unit is enabled, the flush timer is not",
           run(["find", wants]).stdout)

    # The installed system as this machine plus the root's files.
    unitdir = os.path.realpath("/lib/systemd/system")
    mount("-t", "overlay", "overlay", "-o", "lowerdir=%s/usr:/usr" % root, "/usr")
    mount("-t", "overlay", "overlay", "-o", "lowerdir=%s/lib/systemd/system:%s" % (root, unitdir),
          unitdir)
    state = tempfile.mkdtemp(prefix="pdpkg-state.")
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", state)
    os.makedirs(os.path.join(state, "up"))
    os.makedirs(os.path.join(state, "work"))
    mount("-t", "overlay", "overlay", "-o", "lowerdir=/var/lib,upperdir=%s/up,workdir=%s/work" %
          (state, state), "/var/lib")

    v = run(["systemd-analyze", "verify"] + list(UNITS), cwd="/")
    result(v.returncode == 0 and not v.stdout.strip() and not v.stderr.strip(),
           "systemd-analyze verify: nothing to report on the installed units",
           v.stdout + v.stderr)
    levels = {}
    for u in UNITS[:2]:
        s = run(["systemd-analyze", "security", "--offline=yes", u], cwd="/")
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", s.stdout)
        levels[u] = (float(m.group(1)), m.group(2)) if m else None
        print("# systemd-analyze security %s: %s" % (u, " ".join(map(str, levels[u] or ["?"]))))
    result(levels[UNITS[0]] and levels[UNITS[0]][1] == "OK",
           "systemd-analyze security rates the milter's sandbox OK", levels)

    # The administrator edits the configuration: a private Redis, the flush's mail to a file.
    env = pdtest.Env()
    milter = None
    try:
        os.chmod(env.dir, 0o755)
        os.chmod(env.redis_sock, 0o777)
        with open(root + CONFFILE, "w") as f:
            f.write("Socket unix:/run/patchdigest/patchdigest.sock\n"
                    "Redis unix:%s\nList %s KVM-PPC\n"
                    "DigestFrom digest@example.org\nDigestTo readers@example.org\n"
                    "Sendmail cat >> /var/lib/patchdigest/digests.mbox\n" %
                    (env.redis_sock, pdtest.LIST_ID))
        mount("-t", "overlay", "overlay", "-o", "lowerdir=%s/etc:/etc" % root, "/etc")

        svc = unit_settings(os.path.join(unitdir, UNITS[0]))
        user, group = svc["User"][0], svc["Group"][0]
        pent = pwd.getpwnam(user)
        # what systemd does before ExecStart
        for key, base in (("RuntimeDirectory", "/run"), ("StateDirectory", "/var/lib")):
            d = os.path.join(base, svc[key][0])
            os.makedirs(d, exist_ok=True)
            os.chmod(d, int(svc[key + "Mode"][0], 8))
            os.chown(d, pent.pw_uid, pent.pw_gid)
        umask = int(svc.get("UMask", ["0022"])[0], 8)
        argv = shlex.split(svc["ExecStart"][0])
        log = open(os.path.join(env.dir, "unit.log"), "w")
        milter = subprocess.Popen(
            privdrop(user, group, svc.get("NoNewPrivileges") == ["yes"]) + argv,
            stdout=log, stderr=log, preexec_fn=lambda: os.umask(umask))
        sock = "/run/patchdigest/patchdigest.sock"
        up = pdtest.wait_for(lambda: milter.poll() is not None or pdtest.listening(sock), 10)
        st = os.lstat(sock) if os.path.exists(sock) else None
        result(up and milter.poll() is None and st is not None and stat.S_ISSOCK(st.st_mode) and
               stat.S_IMODE(st.st_mode) == 0o660 and st.st_uid == pent.pw_uid and
               st.st_gid == pent.pw_gid,
               "ExecStart as User %s: listens on %s, mode 0660, owned by %s:%s" %
               (user, sock, user, group), "%s %s\n%s" % (st, milter.poll(), env.log("unit")))

        s = env.feed(POSTS, sock=sock)
        want = pdtest.reference_stats(POSTS)

        def stats():
            r = run(["/usr/bin/patchdigest", "stats", "--json"])
            try:
                return json.loads(r.stdout)
            except ValueError:
                return None
        last = [None]

        def recorded():
            last[0] = stats()
            return bool(last[0] and last[0]["lists"] and
                        last[0]["lists"][0]["mails"] == want["mails"] and last[0]["milter"])
        pdtest.wait_for(recorded, 30, 0.2)
        got = last[0] or {}
        result(s.get("accepted") == str(len(POSTS)) and recorded() and
               got["milter"]["pid"] == milter.pid and got["milter"]["journal_open"],
               "%d posts fed: recorded, \"patchdigest stats\" shows the milter (status in "
               "RuntimeDirectory, journal in StateDirectory)" % len(POSTS),
               "%s\n%s\n%s" % (s, got, env.log("unit")))
        jdir = "/var/lib/patchdigest/journal"
        result(os.path.isdir(jdir) and os.stat(jdir).st_uid == pent.pw_uid,
               "the journal is under /var/lib/patchdigest, owned by patchdigest")

        # the flush unit's ExecStart as its User
        fl = unit_settings(os.path.join(unitdir, UNITS[1]))
        r = run(privdrop(fl["User"][0], fl["Group"][0], fl.get("NoNewPrivileges") == ["yes"]) +
                shlex.split(fl["ExecStart"][0]))
        mails = pdtest.digests("/var/lib/patchdigest/digests.mbox")
        result(r.returncode == 0 and len(mails) == 1 and b"KVM-PPC mailing list update" in mails[0],
               "the flush unit's ExecStart as User %s mails the digest" % fl["User"][0],
               r.stdout + r.stderr)

        milter.send_signal(signal.SIGTERM)
        try:
            rc = milter.wait(int(re.sub(r"\D", "", svc.get("TimeoutStopSec", ["90"])[0])))
        except subprocess.TimeoutExpired:
            milter.kill()
            rc = milter.wait()
        result(rc == 0 and "stopped:" in env.log("unit"), "SIGTERM stops the milter (exit 0)",
               "rc %s\n%s" % (rc, env.log("unit")))
        milter = None
        # what the service left, into the root, for purge to remove
        shutil.copytree("/var/lib/patchdigest", os.path.join(root, "var/lib/patchdigest"),
                        symlinks=True)
    finally:
        if milter is not None:
            milter.kill()
            milter.wait()
        env.close()
        for m in ("/etc", "/var/lib", state, unitdir, "/usr"):
            run(["umount", m])
        os.rmdir(state)

    r = dpkg(root, "-r", "patchdigest")
    result(r.returncode == 0 and not os.path.exists(root + "/usr/sbin/patchdigest-milter") and
           os.path.exists(root + CONFFILE) and passwd_entry(root, "patchdigest"),
           "remove: the binaries go, the configuration and the user stay", r.stdout + r.stderr)
    r = dpkg(root, "-P", "patchdigest")
    result(r.returncode == 0 and not os.path.exists(root + CONFFILE) and
           not os.path.exists(root + "/var/lib/patchdigest") and
           not os.path.exists(os.path.join(root, "etc/systemd/system/multi-user.target.wants",
                                           UNITS[0])),
           "purge: the configuration, the journal and the unit's enablement go",
           r.stdout + r.stderr + run(["find", root + "/etc", root + "/var/lib"]).stdout)


# ======================================================================
# Outside: build, lint, contents; then the namespace.
# ======================================================================

# The checks inside() makes, each listed as skipped when it cannot run.
INSIDE_CHECKS = (
    "dpkg installs the package into a throwaway root",
    "postinst creates the system user patchdigest (sysusers.d)",
    "the configuration is 0640 root:patchdigest",
    "the milter's unit is enabled, the flush timer is not",
    "systemd-analyze verify: nothing to report on the installed units",
    "systemd-analyze security rates the milter's sandbox OK",
    "ExecStart as User patchdigest: listens on its default socket, mode 0660",
    "posts fed: recorded, \"patchdigest stats\" shows the milter",
    "the journal is under /var/lib/patchdigest, owned by patchdigest",
    "the flush unit's ExecStart as its User mails the digest",
    "SIGTERM stops the milter (exit 0)",
    "remove: the binaries go, the configuration and the user stay",
    "purge: the configuration and the journal go",
)


def skip_inside(why):
    for name in INSIDE_CHECKS:
        pdtest.skip("installed package: " + name, why)


def main():
    t0 = time.monotonic()
    r = run(["make", "-s", "deb"], cwd=ROOT, env=clean_env())
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    debdir = os.path.join(ROOT, "build", "deb")
    deb = os.path.join(debdir, "patchdigest_0.1-1_%s.deb" % arch)
    print("# make deb: %.0f s" % (time.monotonic() - t0))
    if not result(r.returncode == 0 and os.path.exists(deb),
                  "make deb builds %s" % os.path.basename(deb), (r.stdout + r.stderr)[-3000:]):
        return
    try:
        with open(os.path.join(debdir, "lintian.txt")) as f:
            lint = f.read()
    except FileNotFoundError:
        lint = None
    tags = [l for l in (lint or "").splitlines() if re.match(r"[EW]: ", l)]
    for l in tags:
        print("# lintian " + l)
    result(lint is not None and not any(l.startswith("E: ") for l in tags),
           "lintian: no error (%d warnings)" % len(tags), lint)

    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {l.split()[-1].lstrip(".") for l in listing.splitlines() if l.strip()}
    want = ["/usr/sbin/patchdigest-milter", "/usr/bin/patchdigest", CONFFILE,
            "/usr/share/man/man8/patchdigest-milter.8.gz", "/usr/share/man/man1/patchdigest.1.gz",
            "/usr/share/man/man5/patchdigest.conf.5.gz", "/usr/lib/sysusers.d/patchdigest.conf",
            "/usr/share/doc/patchdigest/copyright"] + ["/lib/systemd/system/" + u for u in UNITS]
    missing = [p for p in want if p not in paths]
    result(not missing, "the package holds the binaries, man pages, units, sysusers.d file, "
           "configuration", "missing: %s\n%s" % (missing, listing))
    tmp = tempfile.mkdtemp(prefix="pdpkg.")
    try:
        run(["dpkg-deb", "-R", deb, os.path.join(tmp, "x")])
        x = os.path.join(tmp, "x")
        with open(os.path.join(x, "DEBIAN", "conffiles")) as f:
            conffiles = f.read().split()
        result(conffiles == [CONFFILE], "conffiles: %s" % CONFFILE, conffiles)
        same = []
        for u in UNITS:
            with open(os.path.join(x, "lib/systemd/system", u), "rb") as a, \
                    open(os.path.join(ROOT, "conf", u), "rb") as b:
                same.append(a.read() == b.read())
        result(all(same), "the package's units are conf/'s, unchanged", same)
        with open(os.path.join(x, "DEBIAN", "control")) as f:
            control = f.read()
        dep = re.search(r"^Depends: (.*)$", control, re.M)
        result(dep and all(lib in dep.group(1) for lib in ("libgmime-3.0", "libhiredis", "libzstd"))
               and "libmilter" not in dep.group(1),
               "Depends names libgmime-3.0 (loaded with dlopen: named in debian/control), "
               "libhiredis and libzstd (shlibs), and not libmilter "
               "(the milter serves the protocol itself)", control)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if os.geteuid() != 0:
        skip_inside("they need root")
        return
    root = tempfile.mkdtemp(prefix="pdpkg-root.")
    try:
        os.chmod(root, 0o755)
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
            os.makedirs(os.path.join(root, d))
        for name in ("status", "available"):
            open(os.path.join(root, "var/lib/dpkg", name), "w").close()
        # this machine's users, so that the new one's ids are free here too
        for name in ("passwd", "group", "shadow", "gshadow"):
            if os.path.exists("/etc/" + name):
                shutil.copy2("/etc/" + name, os.path.join(root, "etc", name))
        probe = run(["unshare", "--mount", "--propagation", "private", "true"])
        if probe.returncode != 0:
            skip_inside("no mount namespace here: %s" % probe.stderr.strip())
            return
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__), "--inside", root, deb])
        if r.returncode != 0:
            pdtest.failures += 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if len(sys.argv) == 4 and sys.argv[1] == "--inside":
    try:
        inside(sys.argv[2], sys.argv[3])
    except Exception:   # a crash is a failure with its reason
        result(False, "the installation tests ran to the end", traceback.format_exc())
    pdtest.finish()
main()
pdtest.finish()
