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
from digestparse import digest_text, section, patch_list_blocks, earlier_blocks, list_mail
from digestparse import AUTHOR, MAINT, DIFF

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refoutcomes  # noqa: E402

POSTS = pdtest.corpus_files()
SPLITS = (400, 640, 1150)
ARCHIVE = "https://lore.kernel.org/r/%m"










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


# ---------------------------------------------------------------- hand-made

counter = [0]


def mail(d, mid, subject, body, frm=AUTHOR, parent=None, refs=()):
    counter[0] += 1
    return list_mail(d, counter[0], mid, subject, body, frm, parent, refs, hour=10)


def handmade(d):
    a0 = "a0+x/y@pdtest"
    w1 = [mail(d, a0, "[PATCH 0/5] x: a series", "The cover.\n")]
    for i in range(1, 6):
        w1.append(mail(d, "a%d@pdtest" % i, "[PATCH %d/5] x: part %d" % (i, i),
                       "Part %d.\n\nSigned-off-by: %s\n%s" % (i, AUTHOR, DIFF), parent=a0,
                       refs=(a0,)))
    w1.append(mail(d, "b0@pdtest", "[RFC 0/2] y: an rfc", "An RFC.\n"))
    for i in (1, 2):
        w1.append(mail(d, "b%d@pdtest" % i, "[RFC %d/2] y: rfc part %d" % (i, i),
                       "Part.\n" + DIFF, parent="b0@pdtest", refs=("b0@pdtest",)))
    w1.append(mail(d, "c1@pdtest", "[PATCH] z: lone fix", "Fix.\n" + DIFF))
    w1.append(mail(d, "r1@pdtest", "Re: [PATCH 2/5] x: part 2",
                   "On Monday Ann wrote:\n> Applied to next, thanks!\n\n"
                   "Applied this series and tested it.\n\n"
                   "Reviewed-by: Rev One <rev1@example.org>\n",
                   frm="Rev One <rev1@example.org>", parent="a2@pdtest", refs=(a0, "a2@pdtest")))
    w1.append(mail(d, "r2@pdtest", "Re: [PATCH 0/5] x: a series",
                   "For the series:\nAcked-by: Ack Er <ack@example.org>\n",
                   frm="Ack Er <ack@example.org>", parent=a0, refs=(a0,)))
    w1.append(mail(d, "n1@pdtest", "Re: [PATCH 0/5] x: a series", "Queued 3+5, thanks.\n",
                   frm=MAINT, parent=a0, refs=(a0,)))
    w1.append(mail(d, "n2@pdtest", "Re: [RFC 0/2] y: an rfc", "Applied to rfc-branch, thanks!\n",
                   frm=MAINT, parent="b0@pdtest", refs=("b0@pdtest",)))
    n3 = mail(d, "n3@pdtest", "Re: [PATCH] z: lone fix", "Thanks, applied to fixes.\n",
              frm=MAINT, parent="c1@pdtest", refs=("c1@pdtest",))
    w2 = [n3,
          mail(d, "n4@pdtest", "Re: [PATCH 2/5] x: part 2",
               "Applied to next, thanks!\n\n[1/5] x:  part   1\n"
               "      commit: 0123456789abcdef0123\n[9/9] unknown title\n"
               "      commit: fedcba9876543210\n\n-- \nMaint\n",
               frm=MAINT, parent="r1@pdtest", refs=(a0, "a2@pdtest", "r1@pdtest")),
          n3,   # the same notice again: a duplicate changes nothing
          mail(d, "v2a0@pdtest", "[PATCH v2 0/5] x: a series", "Version 2.\n")]
    return w1, w2


t1 = time.monotonic()
env = pdtest.Env()
sent = os.path.join(env.dir, "sent.mbox")
env.conf = conf_for(env, sent, "ListDigestTo %s ppc-readers@example.org\n" % pdtest.LIST_ID)
try:
    mdir = os.path.join(env.dir, "mails")
    os.makedirs(mdir)
    w1, w2 = handmade(mdir)
    model = refoutcomes.model_windows(pdtest.LIST_ID, w1 + w2, (len(w1),), ARCHIVE)
    env.start_milter()
    st = []
    for c in (w1, w2):
        env.feed(c, conns=1, per_conn=len(c))
        st.append(env.wait_recorded(len(c), timeout=30))
        env.cli("flush")
    ds = pdtest.digests(sent)
    result(len(ds) == 2, "hand-made: two digests", "%d mailed" % len(ds))
    tos = [email.message_from_bytes(raw, policy=email.policy.default)["To"] for raw in ds]
    result(tos and all(t == "ppc-readers@example.org" for t in tos),
           "hand-made: ListDigestTo sends the list's digest to its own readers, not DigestTo",
           repr(tos))
    bodies = [digest_text(raw) for raw in ds]
    for w, (body, win) in enumerate(zip(bodies, model), 1):
        compare("hand-made window %d" % w, body, win)
    want1 = {
        "[PATCH 0/5] x: a series": [
            "Review: 3 replies, Reviewed-by 1, Acked-by 1, Tested-by 0",
            "Applied: 2 of 5 to (unknown branch) by " + MAINT,
            "Link: https://lore.kernel.org/r/a0+x%2Fy@pdtest"],
        "[RFC 0/2] y: an rfc": [
            "Review: 1 reply, Reviewed-by 0, Acked-by 0, Tested-by 0",
            "Applied: 2 of 2 to rfc-branch by " + MAINT,
            "Link: https://lore.kernel.org/r/b0@pdtest"],
        "[PATCH] z: lone fix": [
            "Review: 0 replies, Reviewed-by 0, Acked-by 0, Tested-by 0",
            "Link: https://lore.kernel.org/r/c1@pdtest"],
    }
    if bodies:
        lines = bodies[0].split("\n")
        got = dict(patch_list_blocks(lines))
        result(got == want1, "hand-made window 1: a trailer on the cover and one on a patch "
               "count for the series; a quoted notice and \"Applied this series and tested it\" "
               "are none; Queued 3+5 applies 2 of 5; a notice on an RFC cover applies its "
               "series; Link percent-encodes the Message-ID", diff(sorted(got.items()),
                                                                  sorted(want1.items())))
        result("  y: rfc part 1" not in lines and any(
            x.startswith("  Ann Author <ann@example.org>, v1, cover letter and 2 of 2")
            for x in lines),
            "hand-made window 1: [RFC 0/2] and [RFC i/2] make a series (the RFC amendment)")
        result(section(lines, "===== Applied in this time period =====") == [
            "(unknown branch) by " + MAINT, "  - [3/5] x: part 3", "  - [5/5] x: part 5",
            "rfc-branch by " + MAINT, "  - [0/2] y: an rfc"],
            "hand-made window 1: the Applied section, a group per branch and applier")
    if len(bodies) > 1:
        lines = bodies[1].split("\n")
        result(section(lines, "===== Applied in this time period =====") == [
            "fixes by " + MAINT, "  - [1/1] z: lone fix",
            "next by " + MAINT, "  0123456789ab [1/5] x:  part   1",
            "  fedcba987654 [9/9] unknown title"],
            "hand-made window 2: a notice for a patch of an earlier window; a listed title "
            "a mailer re-spaced; a listed title that matches nothing; a duplicate notice "
            "counted once")
        eb = earlier_blocks(lines)
        result(eb == [
            ["[PATCH] z: lone fix", "  Ann Author <ann@example.org>, v1, 1 of 1 patch",
             "Review: 1 reply, Reviewed-by 0, Acked-by 0, Tested-by 0",
             "Applied: 1 of 1 to fixes by " + MAINT,
             "Link: https://lore.kernel.org/r/c1@pdtest"],
            ["[PATCH 0/5] x: a series",
             "  Ann Author <ann@example.org>, v1, cover letter and 5 of 5 patches",
             "Review: 1 reply, Reviewed-by 0, Acked-by 0, Tested-by 0",
             "Applied: 1 of 5 to next by " + MAINT,
             "Link: https://lore.kernel.org/r/a0+x%2Fy@pdtest"]],
            "hand-made window 2: the earlier series, in order of their first activity; "
            "a reply to a reply belongs to the patch above", repr(eb))
        got = dict(patch_list_blocks(lines))
        result(got.get("[PATCH v2 0/5] x: a series", [""])[0] ==
               "Supersedes: v1 [PATCH 0/5] x: a series",
               "hand-made window 2: v2 supersedes v1 (same title and author)", repr(got))
    result(len(st) == 2 and st[1] is not None and st[1]["duplicates"] == 1
           and st[1]["applied"] == 3 and st[0]["applied"] == 4 and st[0]["trailers"] == 2,
           "hand-made: stats of the open window count applied patches and trailers, "
           "a duplicate notice once",
           repr([{k: x.get(k) for k in ("duplicates", "applied", "trailers")} for x in st if x]))
finally:
    env.close()

pdtest.finish()
