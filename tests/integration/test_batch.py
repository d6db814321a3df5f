#!/usr/bin/env python3
"""Mails recorded in one call of the record script see each other (issue 20:
one EVALSHA per batch, counters summed in the script, a series' hash and
indexes cached for the batch).

Hand-made mails imported at once (one batch of record.lua) and, as a
reference, fed to the milter one mail per round trip (--no batching: each
mail waits to be recorded before the next is fed); both digests must equal
the model (tests/refoutcomes.py, tests/refclassify.py):
- a b4-ty notice whose parent was never recorded lists the titles of a
  series of its thread recorded earlier in the same batch (the thread's
  series index, r:<root>, must hold it already);
- a "Queued 2, thanks." for a patch of that batch, and a cover's trailer;
- the same Message-ID twice in the batch: counted once, a duplicate;
- patches 1/2 and 2/2 of one series in the batch: only 1/2's header block
  is kept (H:<sha1>); every post's excerpt is kept (X:<sha1>), a reply has
  none;
- an "Applied, thanks." without In-Reply-To: its parent is the last id of
  its References (the writer sends only that id);
- every mail Redis keeps (M:<sha1>) is a run of 26 MessagePack values that
  Redis's own cmsgpack packs again to the same bytes: the writer packs
  part of it (store.c's pack_mail()) and must write exactly what the
  script's cmsgpack would (a subject over 255 bytes takes str16);
- a v2 whose title differs from v1's only in blanks supersedes it (the
  writer hashes titles with their blanks collapsed, as the script did)."""
import hashlib
import os
import subprocess

import pdtest
from pdtest import result
import test_upgrade as tu
from digestparse import list_mail, AUTHOR, MAINT, DIFF

counter = [0]
# mails kept, those cmsgpack packs again to the same bytes, fewest and most values
REPACK = """
local n, same, lo, hi, cursor = 0, 0, 1000, 0, '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. 'M:*', 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local s = redis.call('GET', k)
    local v = { cmsgpack.unpack(s) }
    n = n + 1
    if cmsgpack.pack(unpack(v)) == s then same = same + 1 end
    lo, hi = math.min(lo, #v), math.max(hi, #v)
  end
until cursor == '0'
return { n, same, lo, hi }
"""


def mail(d, mid, subject, body, frm=AUTHOR, parent=None, refs=()):
    counter[0] += 1
    return list_mail(d, counter[0], mid, subject, body, frm, parent, refs, hour=11)


def mails(d):
    root = "d0@pdtest"
    out = [mail(d, root, "[PATCH 0/3] q: a series", "The cover.\n")]
    for i in (1, 2, 3):
        out.append(mail(d, "d%d@pdtest" % i, "[PATCH %d/3] q: part %d" % (i, i),
                        "Part %d.\n\nSigned-off-by: %s\n%s" % (i, AUTHOR, DIFF),
                        parent=root, refs=(root,)))
    out.append(mail(d, "e1@pdtest", "[PATCH 1/2] w: first", "First.\n" + DIFF))
    out.append(mail(d, "e2@pdtest", "[PATCH 2/2] w: second", "Second.\n" + DIFF,
                    parent="e1@pdtest", refs=("e1@pdtest",)))
    out.append(mail(d, "t1@pdtest", "Re: [PATCH 0/3] q: a series",
                    "Reviewed-by: Rev One <rev1@example.org>\n", frm="Rev One <rev1@example.org>",
                    parent=root, refs=(root,)))
    out.append(mail(d, "q1@pdtest", "Re: [PATCH 0/3] q: a series", "Queued 2, thanks.\n",
                    frm=MAINT, parent=root, refs=(root,)))
    out.append(mail(d, "ty@pdtest", "Re: [PATCH 0/3] q: a series",
                    "Applied to next, thanks!\n\n[1/3] q: part 1\n      commit: 0123456789abcdef01\n"
                    "[3/3] q: part 3\n      commit: 89abcdef0123456789\n",
                    frm=MAINT, parent="never-recorded@pdtest", refs=(root, "never-recorded@pdtest")))
    out.append(out[1])   # d1 again: a duplicate in the same batch
    # no In-Reply-To: the parent is the last of the References (2/2, not 1/2)
    out.append(mail(d, "a2@pdtest", "Re: [PATCH 2/2] w: second", "Applied, thanks.\n",
                    frm=MAINT, refs=("e1@pdtest", "e2@pdtest")))
    # a subject of over 255 bytes (MessagePack str16), a name that is not the author's
    out.append(mail(d, "l1@pdtest", "[PATCH] l:" + " long title" * 30, "Long.\n" + DIFF,
                    frm="=?UTF-8?q?J=C3=B6rg?= <jorg@example.org>"))
    # Supersedes matches titles with their blanks collapsed (the writer hashes them)
    out.append(mail(d, "s1@pdtest", "[PATCH] s:  spaced   title", "One.\n" + DIFF))
    out.append(mail(d, "s2@pdtest", "[PATCH v2] s: spaced title", "Two.\n" + DIFF))
    return out


def check(tag, env, sent, files):
    ds = pdtest.digests(sent)
    if not result(len(ds) == 1, "%s: one digest" % tag, "%d" % len(ds)):
        return
    cmodel = tu.refclassify.model_windows(pdtest.LIST_ID, files, (), tu.TOP)[0]
    omodel = tu.refoutcomes.model_windows(pdtest.LIST_ID, files, (), tu.ARCHIVE)[0]
    tu.compare(tag, tu.digest_text(ds[0]), cmodel, omodel)
    applied = sum(1 for x in omodel["applied"] if x.startswith("  "))
    sup = sum(1 for _, ls in omodel["series"] for x in ls if x.startswith("Supersedes:"))
    result(applied == 4 and cmodel["duplicates"] == 1 and sup == 1,
           "%s: the model sees 4 applied patches, 1 duplicate, 1 Supersedes (the cases are "
           "exercised)" % tag,
           "%d applied, %d duplicates, %d Supersedes" % (applied, cmodel["duplicates"], sup))
    base = "pd:{%s}:" % pdtest.LIST_ID
    k = [env.redis_cli("EXISTS", base + "H:" + hashlib.sha1(m).hexdigest()).strip()
         for m in (b"e1@pdtest", b"e2@pdtest")]
    result(k == ["1", "0"], "%s: the header block of 1/2 kept, not of 2/2" % tag, repr(k))
    # every kept mail packs again, in Redis's cmsgpack, to the bytes it holds
    r = subprocess.run(["redis-cli", "-s", env.redis_sock, "--raw", "EVAL", REPACK, "0", base],
                       capture_output=True, text=True)
    got = r.stdout.split()
    mids = len(set(files))   # one file is sent twice: one mail
    result(len(got) == 4 and got[0] == got[1] == str(mids) and got[2] == got[3] == "26",
           "%s: every mail kept (M:) is 26 MessagePack values that cmsgpack packs again to "
           "the same bytes (mails, repacked alike, fewest and most values)" % tag,
           r.stdout + r.stderr)
    x = [env.redis_cli("EXISTS", base + "X:" + hashlib.sha1(m).hexdigest()).strip()
         for m in (b"e1@pdtest", b"e2@pdtest", b"d1@pdtest", b"t1@pdtest")]
    result(x == ["1", "1", "1", "0"],
           "%s: the excerpts of 1/2, 2/2 and the twice-sent 1/3 kept (X:), none for a reply"
           % tag, repr(x))


def run(tag, batched):
    env = pdtest.Env()
    sent = os.path.join(env.dir, "sent.mbox")
    env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal",
                              ((pdtest.LIST_ID, "KVM-PPC"),),
                              "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                              "Sendmail cat >> %s\nArchiveURL %s\n" % (sent, tu.ARCHIVE))
    try:
        d = os.path.join(env.dir, "mails")
        os.makedirs(d)
        files = mails(d)
        if batched:
            r = env.cli("import", "--list", pdtest.LIST_ID, *files)
            result(r.returncode == 0, "%s: import" % tag, r.stderr)
        else:
            env.start_milter()
            n = 0
            for f in files:
                env.feed([f], conns=1, per_conn=1)
                n += 1
                env.wait_recorded(n, timeout=30)
        f = env.cli("flush")
        result(f.returncode == 0, "%s: flush" % tag, f.stderr)
        check(tag, env, sent, files)
    finally:
        env.close()


run("one batch (import)", True)
run("one mail a round trip (milter)", False)
pdtest.finish()
