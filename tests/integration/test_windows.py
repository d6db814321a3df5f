#!/usr/bin/env python3
"""The digests of several consecutive windows of real traffic, against the
independent model of DESIGN.md in tests/refclassify.py ("windows").

The 1500 posts of kvm-ppc.vger.kernel.org.0 go to a real milter in four
chunks, each over one connection in arrival order, with a flush after each
chunk.  Three resends made here (a known post under a new Message-ID) are
fed too, since the corpus holds none: a patch of window 1 again in window 2,
a cover letter of window 2 again in window 3, a patch of window 3 again
later in window 3; and two series of four made-up patches whose head (the
lowest-numbered patch) is not the first to arrive.  Every mailed digest is
compared with the model: chain
heads, the domain, contributor, reviewer and most-discussed-threads tables
row by row, the patch list block by block (head line, identity, version,
patches seen of total, patch lines in index order), the sequence of
New/Exist entries, each New's three header lines.  Then each closed
window is rendered again under a config with a TopN of 1000 (the most
allowed, more than any window's rows), and the whole tables are compared
too, every row and not only the top 15, with the patch list as the series
are known after the last window."""
import difflib
import email
import email.policy
import os
import re
import subprocess
import sys
import time

import pdtest
from pdtest import result
from digestparse import ROWFMT, table as table_rows

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refclassify  # noqa: E402

POSTS = pdtest.corpus_files()
SPLITS = (400, 640, 1150)          # flush after these posts and after the last
TOP = 15
FULL = 1000                        # TopN of a second config (its maximum): whole tables
SEP = "-" * 70
TABLES = ("domains", "contributors", "reviewers", "threads")
# the outcome lines issue 18 puts after a series' identity line (their
# own model, tests/refoutcomes.py, checks them): not part of this comparison
OUTCOME = re.compile(r"  (Supersedes|Review|Applied|Link): ")


# ---------------------------------------------------------------- input

def with_new_mid(src, dst, mid):
    """Copy a mail, its Message-ID header (and continuation lines) replaced."""
    with open(src, "rb") as f:
        lines = f.read().split(b"\n")
    out, i, done = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line in (b"", b"\r") and not done:
            raise RuntimeError("no Message-ID in " + src)
        if not done and line.lower().startswith(b"message-id:"):
            out.append(b"Message-ID: <" + mid.encode() + b">")
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            done = True
            continue
        out.append(line)
        i += 1
    with open(dst, "wb") as f:
        f.write(b"\n".join(out))
    return dst


def first_of(files, want):
    for f in files:
        m = next(refclassify.mails([f]))
        if want(m):
            return f
    raise RuntimeError("no post fits")


def chunks_with_resends(workdir):
    bounds = (0,) + SPLITS + (len(POSTS),)
    chunks = [list(POSTS[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]
    in_series = first_of(chunks[0], lambda m: m.cls == "patch" and m.subj["index"] == 1)
    cover = first_of(chunks[1], lambda m: m.cls == "cover")
    single = first_of(chunks[2], lambda m: m.cls == "patch" and m.subj["index"] is None)
    r1 = with_new_mid(in_series, os.path.join(workdir, "resend1.eml"), "resend1@pdtest.invalid")
    r2 = with_new_mid(cover, os.path.join(workdir, "resend2.eml"), "resend2@pdtest.invalid")
    r3 = with_new_mid(single, os.path.join(workdir, "resend3.eml"), "resend3@pdtest.invalid")
    chunks[1].insert(len(chunks[1]) // 2, r1)
    chunks[2].insert(len(chunks[2]) // 3, r2)
    chunks[2].insert(len(chunks[2]) * 3 // 4, r3)
    # series whose head is not the first to arrive (DESIGN.md: the cover,
    # else patch 1, else the lowest-numbered patch; its author the head's):
    # in window 2 patch 3/4 (by A) then 2/4 (by B), no cover, no patch 1;
    # in window 3 patch 2/2 (by A) then 1/2 (by B)
    synth = [synth_patch(workdir, "x3", "x-root", 9, 3, 4, "A"),
             synth_patch(workdir, "x2", "x-root", 9, 2, 4, "B"),
             synth_patch(workdir, "y2", "y-root", 5, 2, 2, "A"),
             synth_patch(workdir, "y1", "y-root", 5, 1, 2, "B")]
    chunks[1][10:10] = synth[:2]
    chunks[2][20:20] = synth[2:]
    return chunks


def synth_patch(workdir, name, root, version, index, total, who):
    """A patch of a series rooted at <root@pdtest.invalid> (a mail never
    sent), by Synth A or Synth B."""
    path = os.path.join(workdir, "synth-%s.eml" % name)
    with open(path, "w") as f:
        f.write("From: Synth %s <synth-%s@synth.invalid>\n"
                "Subject: [PATCH v%d %d/%d] synth: %s, patch %d\n"
                "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
                "Message-ID: <synth-%s@pdtest.invalid>\n"
                "In-Reply-To: <%s@pdtest.invalid>\nReferences: <%s@pdtest.invalid>\n"
                "List-Id: <%s>\n\n"
                "The patch.\n\nSigned-off-by: Synth %s <synth-%s@synth.invalid>\n---\n"
                " a.c | 1 +\n 1 file changed, 1 insertion(+)\n\n"
                "diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -0,0 +1 @@\n+%s\n"
                % (who, who.lower(), version, index, total, root, index, name, root, root,
                   pdtest.LIST_ID, who, who.lower(), name))
    return path


# ---------------------------------------------------------------- digests

digests = pdtest.digests


def digest_text(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return msg, msg.get_content()




def table(lines, key, top=TOP):
    return table_rows(lines, key, top)


def entries(lines):
    """New/Exist entries of the commit-message section: New as the three
    lines (New:, subject, Author:), Exist as (Exist:, Skip:)."""
    try:
        i = lines.index("===== Patch Commit Messages ====")
    except ValueError:
        return None
    out = []
    at_start = True
    while i < len(lines):
        line = lines[i]
        if at_start and line.startswith("New:") and i + 2 < len(lines) \
                and lines[i + 2].startswith("Author:"):
            out.append(("New", lines[i], lines[i + 1], lines[i + 2]))
            i += 3
            at_start = False
            continue
        if line.startswith("Exist: ") and i + 1 < len(lines) \
                and lines[i + 1].startswith(" Skip: "):
            out.append(("Exist", lines[i], lines[i + 1]))
            i += 2
            at_start = True
            continue
        if line == SEP or line.startswith("====="):
            at_start = True
        elif line != "":
            at_start = False
        i += 1
    return out


def patch_list(lines):
    """The patch list section as blocks: (head line, identity line, patch
    lines...); None when the digest has no such section."""
    try:
        i = lines.index("===== Patch list in this time period =====") + 1
    except ValueError:
        return None
    blocks, cur = [], []
    while i < len(lines) and not lines[i].startswith("====="):
        if lines[i] == "":
            if cur:
                blocks.append(tuple(cur))
            cur = []
        elif not (len(cur) >= 2 and len(cur) == outcome_at(cur) and OUTCOME.match(lines[i])):
            cur.append(lines[i])
        i += 1
    if cur:
        blocks.append(tuple(cur))
    return blocks


def outcome_at(cur):
    """Outcome lines may follow only the identity line (nothing else yet)."""
    return 2


def model_patch_list(win):
    return [(b["head"], "  " + b["ident"]) + tuple("  " + p for p in b["patches"])
            for b in win["patchlist"]]


def model_rows(win, key):
    return [ROWFMT[key] % (n, t) for n, t in win[key]]


def model_entries(win):
    out = []
    for e in win["entries"]:
        if e["kind"] == "New":
            out.append(("New", "New:  " + e["title"], e["subject"], "Author: " + e["author"]))
        else:
            out.append(("Exist", "Exist: " + e["subject"], " Skip: " + e["subject"]))
    return out


def diff(got, want, n=1):
    d = list(difflib.unified_diff(want, got, "model", "C", n=n, lineterm=""))
    return "\n".join(d[2:])


def brief(e):
    return "%s: %s" % (e[0], e[2] if e[0] == "New" else e[1][len("Exist: "):])


# ---------------------------------------------------------------- run

t0 = time.monotonic()
env = pdtest.Env(extra="")
sent = os.path.join(env.dir, "sent.mbox")
env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal",
                          ((pdtest.LIST_ID, "KVM-PPC"),),
                          "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                          "Sendmail cat >> %s\n" % sent)
conf_full = env.write_conf("full.conf", "milter.sock", "journal",
                           ((pdtest.LIST_ID, "KVM-PPC"),),
                           "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                           "Sendmail cat >> %s.full\nTopN %d\n" % (sent, FULL))
try:
    chunks = chunks_with_resends(env.dir)
    allfiles = [f for c in chunks for f in c]
    splits, n = [], 0
    for c in chunks[:-1]:
        n += len(c)
        splits.append(n)
    model = refclassify.model_windows(pdtest.LIST_ID, allfiles, splits, TOP)

    env.start_milter()
    opened = []    # stats of each window just before its flush
    fed_ok = True
    for i, c in enumerate(chunks):
        fr = env.feed(c, conns=1, per_conn=len(c))
        st = env.wait_recorded(len(c), timeout=30)
        opened.append(st)
        if fr.get("rc") != 0 or not st or st["mails"] + st["duplicates"] < len(c):
            fed_ok = False
            result(False, "chunk %d (%d mails) fed and recorded" % (i + 1, len(c)),
                   "%s\n%s" % (fr, st))
        f = env.cli("flush")
        if f.returncode != 0:
            fed_ok = False
            result(False, "flush after chunk %d" % (i + 1), f.stdout + f.stderr)
    result(fed_ok, "%d chunks fed over one connection each, each flushed" % len(chunks))

    ds = digests(sent)
    result(len(ds) == len(model), "one digest per window (%d)" % len(model),
           "%d digests mailed" % len(ds))

    cheads = []
    for w, (raw, win) in enumerate(zip(ds, model), 1):
        msg, body = digest_text(raw)
        lines = body.split("\n")
        tag = "window %d" % w
        m = re.match(r"From ([0-9a-f]{9}) to ([0-9a-f]{9})$", lines[0])
        got = m.groups() if m else None
        cheads.append(got)
        want = (win["from9"], win["to9"])
        second = "KVM-PPC mailing list update from %s to %s" % want
        st = opened[w - 1] if w - 1 < len(opened) else None
        result(got == want and lines[1] == second and msg["Subject"] == second,
               "%s: chain heads %s..%s (first line, second line, Subject)" % (tag, *want),
               "C: %r / %r / %r\nmodel: %s" % (lines[0], lines[1], msg["Subject"], want))
        result(st is not None and (st["from"], st["to"]) == (win["from9"], win["to9"])
               and st["mails"] == win["mails"] and st["duplicates"] == win["duplicates"],
               "%s: stats --json before the flush: heads, %d mails, %d duplicates"
               % (tag, win["mails"], win["duplicates"]),
               "C: %s\nmodel: from %s to %s, %d mails, %d duplicates" % (
                   st and {k: st.get(k) for k in ("from", "to", "mails", "duplicates")},
                   win["from9"], win["to9"], win["mails"], win["duplicates"]))
        for key in TABLES:
            g, wnt = table(lines, key), model_rows(win, key)
            if g is None and not wnt:
                g = []
            result(g == wnt, "%s: %s table, %d rows" % (tag, key, len(wnt)),
                   "table missing" if g is None else diff(g, wnt))
        gp, wp = patch_list(lines), model_patch_list(win)
        result(gp == wp, "%s: patch list, %d series (head, identity, version, patches seen "
               "of total, patch lines in index order)" % (tag, len(wp)),
               "section missing" if gp is None else
               diff(["\n".join(b) for b in gp], ["\n".join(b) for b in wp]))
        ge, we = entries(lines), model_entries(win)
        if ge is None:
            result(False, "%s: the commit-message section" % tag, body[:400])
            continue
        gseq, wseq = [brief(e) for e in ge], [brief(e) for e in we]
        nnew = sum(e[0] == "New" for e in we)
        result(gseq == wseq, "%s: New/Exist entries in order (%d New, %d Exist)"
               % (tag, nnew, len(we) - nnew), diff(gseq, wseq))
        gnew = {e[2]: e for e in ge if e[0] == "New"}
        bad = []
        for e in we:
            if e[0] == "New" and e[2] in gnew and gnew[e[2]] != e:
                bad += ["model: " + x for x in e[1:]] + ["C:     " + x for x in gnew[e[2]][1:]]
        result(not bad, "%s: each New's title, subject and Author lines" % tag,
               "\n".join(bad))
        if st is not None:
            nexist = len(we) - nnew
            result(st.get("resends") == nexist,
                   "%s: stats counts %d resends, the model's Exist entries" % (tag, nexist),
                   "C resends: %s" % st.get("resends"))

    full = refclassify.model_windows(pdtest.LIST_ID, allfiles, splits, FULL,
                                     rendered_after=True)
    for w, win in enumerate(full, 1):
        r = env.cli("render", "--window", str(w), conf=conf_full)
        if r.returncode != 0:
            result(False, "window %d: render --window with TopN %d" % (w, FULL), r.stderr)
            continue
        _, body = digest_text(r.stdout.encode())
        lines = body.split("\n")
        for key in TABLES:
            g, wnt = table(lines, key, FULL), model_rows(win, key)
            if g is None and not wnt:
                g = []
            result(g == wnt, "window %d: whole %s table (TopN %d), %d rows"
                   % (w, key, FULL, len(wnt)),
                   "table missing" if g is None else diff(g, wnt))
        gp, wp = patch_list(lines), model_patch_list(win)
        result(gp == wp, "window %d: render --window after the last window: patch list, "
               "%d series, as Redis knows the series now" % (w, len(wp)),
               "section missing" if gp is None else
               diff(["\n".join(b) for b in gp], ["\n".join(b) for b in wp]))

    mchain = [(w["from9"], w["to9"]) for w in model]
    result(all(cheads[i] and cheads[i + 1] and cheads[i][1] == cheads[i + 1][0]
               for i in range(len(cheads) - 1))
           and all(mchain[i][1] == mchain[i + 1][0] for i in range(len(mchain) - 1))
           and bool(cheads) and cheads[0] is not None
           and cheads[0][0] == refclassify.sha1hex(pdtest.LIST_ID.encode())[:9],
           "window ids chain in C and in the model, from sha1(list id)",
           "C: %s\nmodel: %s" % (cheads, mchain))
    el = time.monotonic() - t0
    result(el < 90, "runs in under 90 s (%.1f s)" % el)
finally:
    env.close()

pdtest.finish()
