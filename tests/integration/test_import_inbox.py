#!/usr/bin/env python3
"""patchdigest import (and classify) of a public-inbox v2 git archive, as
lore.kernel.org's mirrors are laid out.  A real inbox is built with git
fast-import the way public-inbox writes one: 300 kvm-ppc posts over the
epochs git/0.git and git/1.git, one commit per message adding or replacing
the blob "m"; two removals (the commit deletes "m" and adds the removed
message as "d"), one of them in the later epoch for a message of the
earlier; a commit that only deletes "m"; an empty git/2.git.  Importing the
inbox, one epoch, or a clone with a work tree must give the counters of
importing the same posts as .eml files (the removed ones left out, as
public-inbox leaves them out), in the same order, oldest first; without
git on PATH, import says so and fails.  About 2 s (3 s sanitized)."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pdtest
from pdtest import result

PD = os.path.join(pdtest.BUILD, "patchdigest")


def build_epoch(gitdir, ops):
    """A bare repository with one commit per op, made as public-inbox's
    Import.pm makes them: ("add", mail) replaces "m" (and drops a "d");
    ("remove", mail) drops "m" and adds the removed mail as "d";
    ("drop_m",) only drops "m"."""
    subprocess.run(["git", "init", "-q", "--bare", gitdir], check=True)
    stream = bytearray()
    has_m = has_d = False
    for i, op in enumerate(ops):
        msg = b"%s %d\n" % (op[0].encode(), i)
        stream += (b"commit refs/heads/master\n"
                   b"author A U Thor <author@example.org> %d +0000\n"
                   b"committer public-inbox <pi@example.org> %d +0000\n"
                   b"data %d\n%s" % (1600000000 + i, 1600000000 + i, len(msg), msg))
        if op[0] == "add":
            if has_d:
                stream += b"D d\n"
            stream += b"M 100644 inline m\ndata %d\n%s\n" % (len(op[1]), op[1])
            has_m, has_d = True, False
        elif op[0] == "remove":
            if has_m:
                stream += b"D m\n"
            stream += b"M 100644 inline d\ndata %d\n%s\n" % (len(op[1]), op[1])
            has_m, has_d = False, True
        else:
            stream += b"D m\n"
            has_m = False
        stream += b"\n"
    subprocess.run(["git", "--git-dir", gitdir, "fast-import", "--quiet"],
                   input=bytes(stream), check=True)
    subprocess.run(["git", "--git-dir", gitdir, "symbolic-ref", "HEAD", "refs/heads/master"],
                   check=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def rows(text):
    return [l.split("\t") for l in text.splitlines()]


def classify(*paths, env=None):
    return subprocess.run([PD, "classify"] + list(paths), capture_output=True, text=True,
                          env=env)


files = pdtest.corpus_files(300)
mail = [read(f) for f in files]
R_SAME, R_CROSS = 20, 5          # removed in epoch 0 itself, and from epoch 1
ops0 = ([("add", m) for m in mail[:40]] + [("remove", mail[R_SAME])] +
        [("add", m) for m in mail[40:100]] + [("drop_m",)] +
        [("add", m) for m in mail[100:150]])
ops1 = ([("add", m) for m in mail[150:200]] + [("remove", mail[R_CROSS])] +
        [("add", m) for m in mail[200:300]])
kept = [f for i, f in enumerate(files) if i not in (R_SAME, R_CROSS)]

env = pdtest.Env()
try:
    lore = os.path.join(env.dir, "lore")
    inbox = os.path.join(lore, "kvm-ppc")
    build_epoch(os.path.join(inbox, "git", "0.git"), ops0)
    build_epoch(os.path.join(inbox, "git", "1.git"), ops1)
    subprocess.run(["git", "init", "-q", "--bare", os.path.join(inbox, "git", "2.git")],
                   check=True)
    epoch1 = os.path.join(inbox, "git", "1.git")

    def imported(name, *paths):
        conf = env.write_conf(name + ".conf", name + ".sock", name + ".journal",
                              [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix %s:\n" % name)
        t0 = time.monotonic()
        r = env.cli("import", *paths, conf=conf)
        took = time.monotonic() - t0
        st = env.stats(conf)
        return r, (st["lists"][0] if st else {}), took

    # 1. the inbox: the same counters as the kept posts as .eml files
    r, got, took = imported("inbox", inbox)
    r2, want, took2 = imported("eml", *kept)
    diffs = pdtest.compare(got, want)
    result(r.returncode == 0 and r2.returncode == 0 and got.get("mails") == len(kept) and
           not diffs, "import of the inbox dir equals import of the %d kept posts as .eml "
           "files" % len(kept), r.stderr + r2.stderr + "\n".join(diffs))
    print("# inbox: %d mails in %.2f s (%.0f/s); as .eml files: %.2f s (%.0f/s)" %
          (len(kept), took, len(kept) / took, took2, len(kept) / took2))
    result("%d mails read" % len(kept) in r.stderr and
           "2 git epochs read; 2 messages removed from the archive and "
           "3 commits without a message skipped" in r.stderr,
           "the summary counts the epochs, the removed messages and the removal commits",
           r.stderr)

    # 2. oldest first, the same mails in the same order; labels gitdir@commit
    g = classify(inbox)
    w = classify(*kept)
    gl, wl = rows(g.stdout), rows(w.stdout)
    label = re.compile(re.escape(inbox) + r"/git/[01]\.git@[0-9a-f]{40}$")
    result(g.returncode == 0 and len(gl) == len(kept) and
           [x[1:] for x in gl] == [x[1:] for x in wl] and
           all(label.match(x[0]) for x in gl) and gl[0][0].split("@")[0].endswith("0.git")
           and gl[-1][0].split("@")[0].endswith("1.git"),
           "classify reads the inbox oldest first, epoch 0 then 1, labels GITDIR@COMMIT",
           g.stderr + "\n".join("\t".join(x) for x in gl[:3]))
    top = classify(lore)
    result(top.returncode == 0 and top.stdout == g.stdout,
           "a directory holding inboxes reads each as an inbox", top.stderr)

    # 3. one epoch alone (its removal is of a message of epoch 0: nothing to leave out)
    kept1 = [f for i, f in enumerate(files) if i >= 150]
    r, got, _ = imported("epoch", epoch1)
    r2, want, _ = imported("eml1", *kept1)
    diffs = pdtest.compare(got, want)
    result(r.returncode == 0 and got.get("mails") == len(kept1) and not diffs,
           "import of one epoch (a bare N.git) equals its %d posts as .eml files" % len(kept1),
           r.stderr + "\n".join(diffs))
    gitdir_only = classify(os.path.join(inbox, "git"))
    result(gitdir_only.stdout == g.stdout, "the inbox's git/ directory reads as the inbox",
           gitdir_only.stderr)

    # 4. a clone with a work tree reads like its bare repository
    clone = os.path.join(env.dir, "clone1")
    subprocess.run(["git", "clone", "-q", epoch1, clone], check=True)
    c = classify(clone)
    e1 = classify(epoch1)
    result(c.returncode == 0 and len(rows(c.stdout)) == 150 and
           [x[1:] for x in rows(c.stdout)] == [x[1:] for x in rows(e1.stdout)],
           "a clone with a work tree reads like the bare epoch", c.stderr)

    # 5. no git on PATH: a clear error, exit status 1, nothing recorded
    nogit = os.path.join(env.dir, "nogit")
    os.mkdir(nogit)
    conf = env.write_conf("nogit.conf", "nogit.sock", "nogit.journal",
                          [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix nogit:\n")
    r = subprocess.run([PD, "import", inbox, "-c", conf], capture_output=True, text=True,
                       env=dict(os.environ, PATH=nogit))
    st = env.stats(conf)
    result(r.returncode == 1 and
           "patchdigest import: %s is a git archive but git is not installed" % inbox
           in r.stderr and st and st["lists"][0]["mails"] == 0,
           "without git: \"PATH is a git archive but git is not installed\", exit 1",
           "rc %d: %s" % (r.returncode, r.stderr))

    # 6. a broken epoch is reported, the other still read, exit 1
    broken = os.path.join(env.dir, "broken")
    shutil.copytree(inbox, broken)
    for d, _, names in os.walk(os.path.join(broken, "git", "0.git", "objects", "pack")):
        for n in names:
            if n.endswith(".pack"):
                with open(os.path.join(d, n), "r+b") as f:
                    f.truncate(1000)
    b = classify(broken)
    result(b.returncode == 1 and "git/0.git" in b.stderr and
           len(rows(b.stdout)) == len(kept1),
           "a corrupt epoch is reported (exit 1), the next one still read",
           "rc %d, %d lines: %s" % (b.returncode, len(rows(b.stdout)), b.stderr[-1500:]))
finally:
    env.close()
pdtest.finish()
