#!/usr/bin/env python3
"""patchdigest classify and the configuration checks, as a user meets them."""
import os
import subprocess
import sys
import tempfile

import pdtest
from pdtest import result

PD = os.path.join(pdtest.BUILD, "patchdigest")


def run(*args):
    return subprocess.run([PD] + list(args), capture_output=True, text=True)


def rows(text):
    return [l.split("\t") for l in text.splitlines()]


# classify agrees with the independent reference, mail by mail
fixtures = []
for d, _, names in os.walk(os.path.join(pdtest.CORPUS, "fixtures")):
    for n in names:
        if not n.endswith((".txt", ".verify", ".expect")):
            fixtures.append(os.path.join(d, n))
fixtures.sort()
kvm = sorted(os.path.join(pdtest.CORPUS, "kvm-2021-03", f)
             for f in os.listdir(os.path.join(pdtest.CORPUS, "kvm-2021-03")))
for name, files in (("kvm-ppc posts", pdtest.corpus_files()), ("parser fixtures", fixtures + kvm)):
    got = run("classify", *files)
    ref = subprocess.run([sys.executable, os.path.join(pdtest.ROOT, "tests", "refclassify.py"),
                          "classify"] + files, capture_output=True, text=True)
    g, w = rows(got.stdout), rows(ref.stdout)
    diffs = ["%s: got %s, want %s" % (a[0], a[1:], b[1:]) for a, b in zip(g, w) if a != b]
    result(got.returncode == 0 and len(g) == len(w) and len(g) >= len(files) and not diffs,
           "classify agrees with the reference on %d %s (%d lines)" % (len(files), name, len(g)),
           got.stderr + "\n".join(diffs[:20]))

# output format: FILE as given, tab-separated, mbox as path#N
f = pdtest.corpus_files(3)
out = rows(run("classify", *f).stdout)
result(out[0] == [f[0], "patch", "v2", "7/7", "David Matlack <dmatlack@google.com>",
                  "KVM: selftests: Support multiple slots in dirty_log_perf_test"]
       and out[1][1:4] == ["reply", "v1", "11/55"] and out[2][1:4] == ["cover", "v0", "0/5"],
       "classify prints FILE CLASS VERSION INDEX/TOTAL IDENTITY TITLE", out)
mbox = os.path.join(pdtest.CORPUS, "fixtures", "b4-samples", "shazam-git1-just-series.mbox")
out = rows(run("classify", mbox).stdout)
result([r[0] for r in out] == ["%s#%d" % (mbox, i) for i in range(1, len(out) + 1)] and
       len(out) >= 2 and out[0][1] == "cover", "an mbox gives one line per message, path#N",
       out)

# a file is read to its end whatever its size: mboxes whose last message
# ends just before, at and just after where the first read ends (128 KiB,
# one byte for the NUL), at a page boundary, or far beyond; and the same
# through a pipe, which is read in pieces
one = open(f[0], "rb").read().rstrip(b"\n") + b"\n"
last = b"From z@example.org Thu Jan  1 00:00:00 1970\nSubject: the last\n\nend\n"


def mbox_of(size):
    sep = b"From a@example.org Thu Jan  1 00:00:00 1970\n"
    body, n = b"", 0
    while len(body) + 2 * len(sep + one + b"\n") + len(last) <= size:
        body += sep + one + b"\n"
        n += 1
    pad = size - len(body) - len(last) - len(sep + one + b"\n")
    body += sep + one + b"x" * (pad - 1) + b"\n" + b"\n" + last
    assert len(body) == size, (len(body), size)
    return body, n + 2


d = tempfile.mkdtemp(prefix="pdcli.")
sizes = (65536, 131071, 131072, 131073, 10 * 4096, 400000)
ok, got = True, []
for size in sizes:
    data, n = mbox_of(size)
    path = os.path.join(d, "size-%d.mbox" % size)
    with open(path, "wb") as fh:
        fh.write(data)
    out = rows(run("classify", path).stdout)
    got.append((size, len(out), n))
    ok = ok and len(out) == n and out[-1][0] == "%s#%d" % (path, n)
result(ok, "mail files are read to their end at every size around the first read", got)

data, n = mbox_of(400000)
p = subprocess.Popen([PD, "classify", "/dev/stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
out, err = p.communicate(data)
out = rows(out.decode())
result(p.returncode == 0 and len(out) == n, "mail through a pipe is read to its end",
       (len(out), n, err))

# paths relative to the working directory, through ./ and ../, in and out
# of one directory, and a missing one between them, read what their
# absolute paths read (the directory of the last path is kept open)
d2 = tempfile.mkdtemp(prefix="pdcli.")
os.mkdir(os.path.join(d2, "a"))
os.mkdir(os.path.join(d2, "b"))
three = pdtest.corpus_files(3)
for sub, src in (("a", three[0]), ("a", three[1]), ("b", three[2])):
    with open(src, "rb") as fi, open(os.path.join(d2, sub, os.path.basename(src)), "wb") as fo:
        fo.write(fi.read())
n0, n1, n2 = (os.path.basename(x) for x in three)
rel = [n0, "./" + n1, "../b/" + n2, "missing.eml", n1, os.path.join(d2, "b", n2), n0]
r = subprocess.run([PD, "classify"] + rel, capture_output=True, text=True,
                   cwd=os.path.join(d2, "a"))
want = rows(run("classify", three[0], three[1], three[2], three[1], three[2], three[0]).stdout)
got = rows(r.stdout)
result(r.returncode == 1 and "missing.eml" in r.stderr and len(got) == len(want) and
       all(g[1:] == w[1:] for g, w in zip(got, want)) and
       [g[0] for g in got] == [x for x in rel if x != "missing.eml"],
       "relative paths in and out of a directory read what their absolute paths read",
       (got, want, r.stderr))

# an unreadable file: reported, the others still printed, exit 1
r = run("classify", "/nonexistent/mail.eml", f[0])
result(r.returncode == 1 and "/nonexistent/mail.eml" in r.stderr and len(rows(r.stdout)) == 1,
       "an unreadable file is reported, the rest printed, exit status 1", r.stderr)

# options in any order after the command
d = tempfile.mkdtemp(prefix="pdcli.")
conf = os.path.join(d, "c.conf")
with open(conf, "w") as fh:
    fh.write("Socket unix:/run/x.sock\nRedis 127.0.0.1:6379\nList kvm.vger.kernel.org KVM\n")
os.chmod(conf, 0o640)
a = run("classify", f[0], "-c", conf)
b = run("classify", "-c", conf, f[0])
result(a.returncode == 0 and a.stdout == b.stdout, "options stand anywhere after the command")

# configuration errors name file:line
cases = [
    ("Socket unix:/run/x.sock\nRedis 127.0.0.1:6379\nList a.b A\nTopN many\n", ":4: TopN"),
    ("Socket unix:/run/x.sock\nFrobnicate yes\n", ":2: unknown key 'Frobnicate'"),
    ("# only a comment\nSocket unix:/run/x.sock\nList a.b A\n", ":3: missing required key Redis"),
    ("Socket unix:/run/x.sock\nRedis nohost\nList a.b A\n", ":2: Redis must be"),
    ("Socket tcp:25\nRedis h:1\nList a.b A\n", ":1: Socket must be"),
    ("Socket unix:/a\nSocket unix:/b\n", ":2: Socket given twice (first on line 1)"),
]
for text, want in cases:
    with open(conf, "w") as fh:
        fh.write(text)
    r = run("stats", "-c", conf)
    result(r.returncode == 1 and (conf + want) in r.stderr,
           "bad configuration reported as %s" % want.strip(":"), r.stderr)
os.chmod(conf, 0o646)
r = run("stats", "-c", conf)
result(r.returncode == 1 and "world-writable" in r.stderr, "a world-writable config is refused",
       r.stderr)
r = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest-milter"), "-f", "-c", conf],
                   capture_output=True, text=True)
result(r.returncode == 1 and "world-writable" in r.stderr, "the milter refuses it too", r.stderr)
os.unlink(conf)
os.rmdir(d)
pdtest.finish()
