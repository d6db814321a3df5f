#!/usr/bin/env python3
"""A live installation upgraded in the middle of a window (issue 20).

Twice, from two older commits (OLDS below), each built from git into
build/old-<commit>/ (once; reused after):
- the last commit before the packed mail layout: mails as m:<sha1>
  hashes, Message-IDs under mid:<sha1>, one EVALSHA per mail;
- the first release of the packed layout: each mail one M:<sha1> string
  with its excerpt inside, texts zlib-compressed ("\0Z"); the new code
  keeps excerpts under X:<sha1> and compresses with zstd and a dictionary
  ("\0D").
With one Redis (AOF) and one journal:

1. the old milter records posts 0-500; the old `flush` mails digest 1;
2. the old milter records posts 500-800; then Redis stops, posts 800-900
   wait in the old milter's journal, and the old milter stops;
3. Redis comes back; the journal's shipped position is removed, so the new
   milter replays the whole old journal (0-900: records the old code already
   recorded must change nothing) and ships 800-900; posts 700-800 are fed
   again (duplicates of mails the old code recorded); posts 900-1200 follow;
   the new `flush` mails digest 2;
4. posts 1200-1500; digest 3 (replies to mails of the old layout).

Every digest is compared with the independent models: tests/refclassify.py
(window ids, mails, duplicates, the domain, contributor and reviewer
tables, New/Exist entries) and tests/refoutcomes.py (each series' head and
Supersedes/Review/Applied/Link lines, the Applied and Earlier sections).
Then Redis must hold both layouts, and the patch page of window 2 (mails of
both) must show every entry's text."""
import difflib
import os
import re
import subprocess
import sys

import pdtest
from pdtest import result
from digestparse import (ROWFMT, digest_text, earlier_blocks, patch_list_blocks, section,
                         table)

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import refclassify  # noqa: E402
import refoutcomes  # noqa: E402

# (commit, the layout it wrote)
OLDS = (("32f3f69da29d13f7eea8a775b3ac49ac7fd3b222", "hash"),
        ("e00ad80aba90e79b9f02f3c507ea5110cb0cbfc0", "packed"))
ARCHIVE = "https://lore.kernel.org/r/%m"
TOP = 15


# mails; of them, excerpt inside the mail; excerpt under X: (true); X: keys;
# inside and zlib-packed ("\0Z")
EXCERPTS = """
local n, inside, flag, zlib = 0, 0, 0, 0
for _, k in ipairs(redis.call('KEYS', '*}:M:*')) do
  local v = { cmsgpack.unpack(redis.call('GET', k)) }
  n = n + 1
  if type(v[25]) == 'string' then
    inside = inside + 1
    if v[25]:sub(1, 2) == '\\0Z' then zlib = zlib + 1 end
  elseif v[25] == true then
    flag = flag + 1
  end
end
return { n, inside, flag, #redis.call('KEYS', '*}:X:*'), zlib }
"""


class UpgradeEnv(pdtest.Env):
    """An Env whose milter is the old or the new binary."""
    milter_bin = None

    def milter_command(self, conf, sock):
        if self.milter_bin:
            return [self.milter_bin, "-f", "-c", conf]
        return super().milter_command(conf, sock)












def entries(lines):
    out = []
    for i, line in enumerate(lines):
        if line.startswith("New:  "):
            out.append(("New", line, lines[i + 1], lines[i + 2]))
        elif line.startswith("Exist: "):
            out.append(("Exist", line, lines[i + 1]))
    return out


def model_entries(win):
    out = []
    for e in win["entries"]:
        if e["kind"] == "New":
            out.append(("New", "New:  " + e["title"], e["subject"], "Author: " + e["author"]))
        else:
            out.append(("Exist", "Exist: " + e["subject"], " Skip: " + e["subject"]))
    return out


def diff(got, want):
    d = list(difflib.unified_diff([str(x) for x in want], [str(x) for x in got],
                                  "model", "C", n=1, lineterm=""))
    return "\n".join(d[2:])


def compare(tag, body, cwin, owin):
    lines = body.split("\n")
    m = re.match(r"From ([0-9a-f]{9}) to ([0-9a-f]{9})$", lines[0])
    result(bool(m) and (m.group(1), m.group(2)) == (cwin["from9"], cwin["to9"]),
           "%s: window id %s..%s" % (tag, cwin["from9"], cwin["to9"]), lines[0])
    for key in ("domains", "contributors", "reviewers"):
        got, want = table(lines, key, TOP), [ROWFMT[key] % (n, t) for n, t in cwin[key]]
        if got is None and not want:
            got = []
        result(got == want, "%s: %s table, %d rows" % (tag, key, len(want)), diff(got or [], want))
    got, want = entries(lines), model_entries(cwin)
    result(got == want, "%s: %d New/Exist entries" % (tag, len(want)), diff(got, want))
    got = patch_list_blocks(lines)
    want = [(h, ls) for h, ls in owin["series"]]
    result(got == want, "%s: patch list, %d series with their outcome lines" % (tag, len(want)),
           diff(got, want))
    ga, wa = section(lines, "===== Applied in this time period ====="), owin["applied"] or ["(none)"]
    result(ga == wa, "%s: Applied in this time period, %d lines" % (tag, len(wa)),
           "section missing" if ga is None else diff(ga, wa))
    ge = earlier_blocks(lines)
    result(ge == owin["earlier"], "%s: Earlier series with activity, %d series"
           % (tag, len(owin["earlier"])), "section missing" if ge is None else diff(ge, owin["earlier"]))


def main(OLD, layout):
    old = pdtest.old_build(OLD)
    if not old:
        result(False, "the old commit %s builds from git (git archive, make)" % OLD[:12])
        return
    posts = pdtest.corpus_files()
    # what the installation receives, in order, and where the windows close
    fed = posts[0:900] + posts[700:800] + posts[900:1500]
    splits = (500, 1300)
    cmodel = refclassify.model_windows(pdtest.LIST_ID, fed, splits, TOP)
    omodel = refoutcomes.model_windows(pdtest.LIST_ID, fed, splits, ARCHIVE)

    env = UpgradeEnv(persist=True)
    sent = os.path.join(env.dir, "sent.mbox")
    env.conf = env.write_conf("patchdigest.conf", "milter.sock", "journal",
                              ((pdtest.LIST_ID, "KVM-PPC"),),
                              "DigestFrom digest@example.org\nDigestTo d@example.org\n"
                              "Sendmail cat >> %s\nArchiveURL %s\nDigestFormat both\n"
                              % (sent, ARCHIVE))

    def old_cli(*args):
        return subprocess.run([os.path.join(old, "patchdigest")] + list(args) + ["-c", env.conf],
                              capture_output=True, text=True)
    try:
        # 1. the old installation, one window
        env.milter_bin = os.path.join(old, "patchdigest-milter")
        m = env.start_milter()
        env.feed(posts[0:500], conns=1, per_conn=100)
        result(env.wait_recorded(500, timeout=60) is not None, "old milter: posts 0-500 recorded")
        f = old_cli("flush")
        result(f.returncode == 0, "old flush: digest 1", f.stderr)

        # 2. half of window 2 by the old milter, a tenth of it left in its journal
        env.feed(posts[500:800], conns=1, per_conn=100)
        result(env.wait_recorded(300, timeout=60) is not None, "old milter: posts 500-800 recorded")
        env.stop_redis()
        s = env.feed(posts[800:900], conns=1, per_conn=100)
        result(s.get("accepted") == "100", "Redis down: posts 800-900 accepted, journalled", s)
        env.stop_milter(m)

        # 3. the new milter on the same Redis and journal, replaying all of it
        env.start_redis()
        os.unlink(os.path.join(env.dir, "journal", "shipped"))
        env.milter_bin = None
        m = env.start_milter()
        w2 = refclassify.model_windows(pdtest.LIST_ID, posts[0:900], (500,), TOP)[1]
        st = env.wait_recorded(400, timeout=60)
        result(st is not None and (st["mails"], st["duplicates"]) == (w2["mails"], w2["duplicates"]),
               "new milter: the old journal replayed, posts 800-900 shipped, the 800 records "
               "the old milter had shipped changed nothing",
               "%s, model %s" % (st and {k: st.get(k) for k in ("mails", "duplicates")},
                                 (w2["mails"], w2["duplicates"])))
        env.feed(posts[700:800], conns=1, per_conn=100)
        st = env.wait_recorded(500, timeout=60)
        result(st is not None and (st["mails"], st["duplicates"]) == (w2["mails"], w2["duplicates"] + 100),
               "posts 700-800 again: 100 duplicates of mails the old code recorded",
               "%s, model %s" % (st and {k: st.get(k) for k in ("mails", "duplicates")},
                                 (w2["mails"], w2["duplicates"])))
        env.feed(posts[900:1200], conns=1, per_conn=100)
        result(env.wait_recorded(800, timeout=60) is not None, "new milter: posts 900-1200")
        f = env.cli("flush")
        result(f.returncode == 0, "new flush: digest 2", f.stderr)

        # 4. a window of the new code alone, answering mails of the old
        env.feed(posts[1200:1500], conns=1, per_conn=100)
        result(env.wait_recorded(300, timeout=60) is not None, "new milter: posts 1200-1500")
        f = env.cli("flush")
        result(f.returncode == 0, "new flush: digest 3", f.stderr)

        ds = pdtest.digests(sent)
        result(len(ds) == 3, "three digests mailed", "%d" % len(ds))
        for w, raw in enumerate(ds[:3]):
            compare("window %d" % (w + 1), digest_text(raw), cmodel[w], omodel[w])
        w_old = refclassify.model_windows(pdtest.LIST_ID, posts[0:800], (), TOP)[0]["mails"]
        w_all = sum(w["mails"] for w in cmodel)
        if layout == "hash":
            n_old = env.redis_cli("EVAL", "return #redis.call('KEYS', '*}:m:*')", "0").strip()
            n_new = env.redis_cli("EVAL", "return #redis.call('KEYS', '*}:M:*')", "0").strip()
            result((n_old, n_new) == (str(w_old), str(w_all - w_old)),
                   "Redis holds both layouts: the %d mails the old code recorded as it wrote "
                   "them, the %d after in the new" % (w_old, w_all - w_old),
                   "m: %s, M: %s" % (n_old, n_new))
        else:
            r = env.redis_cli("EVAL", EXCERPTS, "0").split()
            ok = (len(r) == 5 and int(r[0]) == w_all and int(r[1]) > 0 and int(r[2]) > 0 and
                  r[2] == r[3] and int(r[4]) > 0)
            result(ok, "Redis holds both layouts: %d mails, excerpts inside the mail (old, zlib) "
                   "and under X: (new, zstd), one X: key for each mail that says so" % w_all,
                   "mails, inside, X: in mails, X: keys, zlib-packed inside: %r" % r)
        # the page of window 2 (mails of both codes): every entry has its text
        page = env.cli("render", "--markdown", "--window", "2")
        entries = ("\n" + page.stdout).split("\n#### ")[1:]

        def text_of(entry):
            """The excerpt: what the code block holds after the header block."""
            lines = entry.split("\n")
            fence = next((i for i, ln in enumerate(lines) if ln.startswith("```")), None)
            if fence is None:
                return ""
            ticks = len(lines[fence]) - len(lines[fence].lstrip("`"))
            body = []
            for ln in lines[fence + 1:]:
                if ln.startswith("`" * ticks) and not ln.strip("`"):
                    break
                body.append(ln)
            blank = body.index("") if "" in body else len(body)
            return "\n".join(body[blank + 1:]).strip()
        empty = [e.split("\n")[0] for e in entries if not text_of(e)]
        result(page.returncode == 0 and entries and not empty,
               "the page of window 2 shows the text (after the header block) of each of its "
               "%d entries" % len(entries),
               page.stderr + "no text: %r" % empty[:5])
    finally:
        env.close()


if __name__ == "__main__":
    for commit, kind in OLDS:
        print("# from %s (%s layout)" % (commit[:12], kind), flush=True)
        main(commit, kind)
    pdtest.finish()
