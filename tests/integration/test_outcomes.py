#!/usr/bin/env python3
"""What happened to the patches, in several windows of real traffic, against
the independent model of DESIGN.md's "Outcomes" rules (tests/refoutcomes.py).

The 1500 posts of kvm-ppc.vger.kernel.org.0 go to a real milter (ArchiveURL
set) in four chunks with a flush after each.  In every digest, each series
block of the patch list is compared with the model: its head line and its
Supersedes:, Review:, Applied: and Link: lines; and the two new sections,
"Applied in this time period" and "Earlier series with activity in this time
period", line by line.  Then hand-made mails check what the corpus lacks: a
notice for a cover, "Queued 3+5, thanks." for part of a series, a notice for
a patch of an earlier window, a listed title a mailer re-spaced, a quoted
notice and "Applied this series and tested it" (no notices), a v2 with the
same title, a trailer on a cover; and that a replayed notice changes nothing.
The open window's applied patches and trailers show in stats."""
import difflib
import email
import email.policy
import os
import sys
import time

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refoutcomes  # noqa: E402

POSTS = pdtest.corpus_files()
SPLITS = (400, 640, 1150)
ARCHIVE = "https://lore.kernel.org/r/%m"
OUTCOME = ("  Supersedes: ", "  Review: ", "  Applied: ", "  Link: ")


def digest_text(raw):
    return email.message_from_bytes(raw, policy=email.policy.default).get_content()


def section(lines, title):
    """The lines of a section, up to the next "=====" line, blank lines at
    its ends dropped; None when missing."""
    try:
        i = lines.index(title)
    except ValueError:
        return None
    out = []
    for line in lines[i + 1:]:
        if line.startswith("====="):
            break
        out.append(line)
    while out and out[0] == "":
        out.pop(0)
    while out and out[-1] == "":
        out.pop()
    return out


def patch_list_blocks(lines):
    """[(head line, [outcome lines])] of the patch list."""
    sec = section(lines, "===== Patch list in this time period =====") or []
    blocks, cur = [], None
    for line in sec:
        if line == "":
            cur = None
            continue
        if cur is None:
            cur = (line, [])
            blocks.append(cur)
        elif line.startswith(OUTCOME):
            cur[1].append(line[2:])
    return blocks


def earlier_blocks(lines):
    sec = section(lines, "===== Earlier series with activity in this time period =====")
    if sec is None:
        return None
    if sec == ["(none)"]:
        return []
    blocks, cur = [], None
    for line in sec:
        if line == "":
            cur = None
            continue
        if cur is None:
            cur = [line]
            blocks.append(cur)
        else:
            cur.append(line[2:] if line.startswith(OUTCOME) else line)
    return blocks


def diff(got, want):
    d = list(difflib.unified_diff([str(x) for x in want], [str(x) for x in got],
                                  "model", "C", n=1, lineterm=""))
    return "\n".join(d[2:])


def compare(tag, body, win):
    lines = body.split("\n")
    got = patch_list_blocks(lines)
    want = [(h, ls) for h, ls in win["series"]]
    result(got == want, "%s: patch list, %d series: head and Supersedes/Review/Applied/Link "
           "lines" % (tag, len(want)), diff(got, want))
    ga = section(lines, "===== Applied in this time period =====")
    wa = win["applied"] or ["(none)"]
    result(ga == wa, "%s: Applied in this time period, %d lines" % (tag, len(wa)),
           "section missing" if ga is None else diff(ga, wa))
    ge = earlier_blocks(lines)
    result(ge == win["earlier"], "%s: Earlier series with activity, %d series"
           % (tag, len(win["earlier"])),
           "section missing" if ge is None else diff(ge, win["earlier"]))
    return got, ga, ge


def conf_for(env, sent, extra=""):
    return env.write_conf("patchdigest.conf", "milter.sock", "journal",
                          ((pdtest.LIST_ID, "KVM-PPC"),),
                          "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                          "Sendmail cat >> %s\nArchiveURL %s\n%s" % (sent, ARCHIVE, extra))


# ---------------------------------------------------------------- the corpus

t0 = time.monotonic()
env = pdtest.Env()
sent = os.path.join(env.dir, "sent.mbox")
env.conf = conf_for(env, sent)
try:
    bounds = (0,) + SPLITS + (len(POSTS),)
    chunks = [POSTS[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
    model = refoutcomes.model_windows(pdtest.LIST_ID, POSTS, SPLITS, ARCHIVE)
    env.start_milter()
    stats = []
    for i, c in enumerate(chunks):
        env.feed(c, conns=1, per_conn=len(c))
        stats.append(env.wait_recorded(len(c), timeout=60))
        f = env.cli("flush")
        result(f.returncode == 0, "flush after chunk %d" % (i + 1), f.stderr)
    ds = pdtest.digests(sent)
    result(len(ds) == len(model), "one digest per window (%d)" % len(model),
           "%d mailed" % len(ds))
    totals = {"applied": 0, "earlier": 0, "superseded": 0, "reviewed": 0}
    for w, (raw, win) in enumerate(zip(ds, model), 1):
        compare("window %d" % w, digest_text(raw), win)
        totals["applied"] += sum(1 for x in win["applied"] if x.startswith("  "))
        totals["earlier"] += len(win["earlier"])
        totals["superseded"] += sum(1 for _, ls in win["series"]
                                    if any(x.startswith("Supersedes:") for x in ls))
        totals["reviewed"] += sum(1 for _, ls in win["series"]
                                  if any(x.startswith("Review:") and "Reviewed-by 0," not in x
                                         for x in ls))
    # the comparisons above mean something only if the model finds things
    result(totals["applied"] >= 40 and totals["earlier"] >= 5 and totals["superseded"] >= 5
           and totals["reviewed"] >= 10,
           "the corpus exercises the rules: %(applied)d applied entries, %(earlier)d earlier "
           "series, %(superseded)d Supersedes, %(reviewed)d series with Reviewed-by" % totals)
    st = stats[0] or {}
    result(isinstance(st.get("applied"), int) and isinstance(st.get("trailers"), int)
           and st["applied"] > 0 and st["trailers"] > 0,
           "stats --json of the open window: applied patches and review trailers so far",
           str({k: st.get(k) for k in ("applied", "trailers")}))
finally:
    env.close()

pdtest.finish()
