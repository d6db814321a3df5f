#!/usr/bin/env python3
"""An independent model of DESIGN.md's "Outcomes: review, versions, applied,
links" rules, on top of tests/refclassify.py's classification: review
trailers and applied notices read from replies, replies attributed to the
cover or patch above them, notices applied when recorded, new versions
linked to the version they supersede, and the lines and sections a digest
shows for each window.

    windows = model_windows(list_id, paths, splits, archive_url)
    windows[i]["series"]   [(head line, [outcome lines])] of the patch list
    windows[i]["earlier"]  [[head, identity line, outcome lines...]]
    windows[i]["applied"]  the lines of "Applied in this time period"

Usage: refoutcomes.py notices FILE...   print what each reply's notice says
"""
import re
import sys
import urllib.parse

import refclassify as rc

BLANKS = "[ \t\n\v\f\r]"   # what Lua's %s matches; Python's \\s matches more


def collapse(t):
    return re.sub(BLANKS + "+", " ", t).strip(" ")


def no_blanks(t):
    return re.sub(BLANKS, "", t)


# ---------------------------------------------------------------- a reply's text

def text_lines(body):
    """(line, next raw line) of the reply's text: up to the signature,
    quoted lines left out."""
    lines = body.split("\n")
    out = []
    for i, line in enumerate(lines):
        if line == "-- ":
            break
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if nxt == "-- ":
            nxt = None
        if line.startswith(">"):
            continue
        out.append((line, nxt))
    return out


TRAILER = re.compile(r"^(Reviewed-by|Acked-by|Tested-by):(.*)$")
KIND = {"Reviewed-by": "r", "Acked-by": "a", "Tested-by": "t"}


def trailer_addr(val):
    am = rc.ANGLE_ADDR.search(val)
    if am:
        return am.group(1).lower()
    bm = rc.BARE_ADDR.search(val)
    return bm.group(0).lower() if bm else None


def trailers(body):
    """[(kind, addr)], distinct, in order."""
    out = []
    for line, _ in text_lines(body):
        if len(line) > 2000:
            continue
        m = TRAILER.match(line)
        if not m:
            continue
        a = trailer_addr(m.group(2))
        if a and (KIND[m.group(1)], a) not in out and len(out) < 50:
            out.append((KIND[m.group(1)], a))
    return out


NUM = r"\d+(?:-\d+)?(?![A-Za-z0-9])"
NUMS = re.compile(r"(?i) (?:patch(?:es)? )?(" + NUM + r"(?:(?: *[,+] *| +and *)" + NUM + r")*)")
VERB = re.compile(r"(?i)(thanks, applied|thanks, queued|applied|queued|pushed|merged)")
TO_FOR = re.compile(r"(?i) (?:to|for) (?=[^ \t])")


def numbers_of(text):
    out = []
    for a, b in re.findall(r"(\d+)(?:-(\d+))?", text):
        lo = int(a)
        hi = int(b) if b else lo
        out.extend(range(lo, hi + 1))
    return out[:1000]


def branch_at(s):
    """The word at the start of s, a parenthesised word after it included,
    trailing ,.!: dropped."""
    m = re.match(r"[^ \t]+", s)
    w = m.group(0)
    rest = s[len(w):]
    if w[-1] not in ",.!:" and rest.startswith(" ("):
        w += re.match(r" [^ \t]+", rest).group(0)
    return w.rstrip(",.!:")


def after_verb(rest, with_numbers=True):
    """None: no notice; else (branch or "", numbers)."""
    if rest == "" or rest[0] in ",.!:":
        return "", []
    m = TO_FOR.match(rest)
    if m:
        return branch_at(rest[m.end():]), []
    if rest.lower().startswith(" thanks"):
        return "", []
    if not with_numbers:
        return None
    m = NUMS.match(rest)
    if not m:
        return None
    nums = numbers_of(m.group(1))
    rest = rest[m.end():]
    m = TO_FOR.match(rest)
    return (branch_at(rest[m.end():]) if m else ""), nums


def notice_line(line):
    if len(line) > 2000:
        return None
    m = VERB.match(line)
    if m:
        return after_verb(line[m.end():])
    m = re.match(r"(?i)patch(?:es)?(?![A-Za-z0-9])", line)
    if not m:
        return None
    a = re.compile(r"(?i)(?<![A-Za-z0-9])applied to").search(line, m.end())
    if not a:
        return None
    nm = NUMS.match(line, m.end())
    nums = numbers_of(nm.group(1)) if nm and nm.group(0)[1:2].isdigit() else []
    r = after_verb(line[a.start() + 7:], with_numbers=False)
    return None if r is None else (r[0], nums)


ENTRY = re.compile(r"^\[(\d{1,7})/(\d{1,7})\][ \t]+(.*)$")


def commit_of(line):
    line = line.rstrip(" \t\r")
    i = line.lower().find("commit: ")
    if i >= 0:
        m = re.match(r" *([0-9a-fA-F]{7,40})(?![A-Za-z0-9])", line[i + 8:])
        if m:
            return m.group(1)[:12].lower()
    if "://" in line:
        m = re.search(r"(?<![A-Za-z0-9])([0-9a-fA-F]{7,40})$", line)
        if m:
            return m.group(1)[:12].lower()
    return None


def parse_notice(body):
    """None, or dict(branch, numbers, entries=[(i, n, commit, title)])."""
    found = None
    entries = []
    for line, nxt in text_lines(body):
        if found is None:
            found = notice_line(line)
        m = ENTRY.match(line) if len(line) <= 2000 else None
        if m and nxt is not None and m.group(3).strip(" \t\r\n\v\f"):
            c = commit_of(nxt)
            if c and len(entries) < 200:
                title = m.group(3).strip(" \t\r\n\v\f").replace("\t", " ")
                entries.append((int(m.group(1)), int(m.group(2)), c, title))
    if found is None:
        return None
    return {"branch": found[0], "numbers": found[1], "entries": entries}


# ---------------------------------------------------------------- threading

def header_ids(m, name):
    v = rc.raw_header(m.msg, name)
    if v is None:
        return []
    return [rc.raw_bytes(x.strip()) for x in re.findall(r"<([^<>]*)>", rc.unfold(v)) if x.strip()]


def parent_of(m):
    """In-Reply-To's first id, else the last References id."""
    irt = header_ids(m, "In-Reply-To")
    if irt:
        return irt[0]
    refs = header_ids(m, "References")
    return refs[-1] if refs else None


# ---------------------------------------------------------------- the list's state

class Rec:
    pass


class State:
    def __init__(self, listid):
        self.cstate = rc.ListState(listid)
        self.mails = {}      # mid -> Rec
        self.series = {}     # key -> dict
        self.titles = {}     # collapsed title -> {key: first}
        self.threads = {}    # root -> {key: first}
        self.gseq = 0


def label(r):
    i, n = r.index, r.total
    if i is None:
        i, n = 1, 1
    if r.cls == "cover":
        i = 0
    return i, "[%d/%d] %s" % (i, n, r.title)


def attribute(st, parent):
    for _ in range(200):
        if parent is None or parent not in st.mails:
            return None
        r = st.mails[parent]
        if r.cls in ("cover", "patch"):
            return parent
        if r.cls != "reply":
            return None
        parent = r.parent
    return None


def patch_with_title(st, key, title):
    s = st.series[key]
    for idx in sorted(i for i in s["p"] if i >= 1):
        if no_blanks(st.mails[s["p"][idx]].title) == title:
            return idx
    return None


def decide_notice(st, r, notice):
    att = attribute(st, r.parent)
    ash = st.mails[att].series if att else None
    applied = []
    if notice["entries"]:
        thread = sorted(st.threads.get(r.root, {}).items(), key=lambda kv: -kv[1])
        for i, n, commit, title in notice["entries"]:
            key = no_blanks(title)
            sh = idx = None
            if ash:
                idx = patch_with_title(st, ash, key)
                if idx is not None:
                    sh = ash
            if sh is None:
                for cand, _ in thread:
                    idx = patch_with_title(st, cand, key)
                    if idx is not None:
                        sh = cand
                        break
            applied.append((sh, idx, commit, "[%d/%d] %s" % (i, n, title)))
    elif notice["numbers"]:
        if ash:
            for num in notice["numbers"]:
                mid = st.series[ash]["p"].get(num)
                if num != 0 and mid is not None:
                    applied.append((ash, num, "", label(st.mails[mid])[1]))
    elif att and ash:
        i, lbl = label(st.mails[att])
        applied.append((ash, i, "", lbl))
    return applied


def ident_of(m):
    return rc.identity_str(m.name, m.addr) if m.addr else ""


def record(st, m, win):
    """One mail, as record.lua takes it; False for a duplicate."""
    if m.mid in st.mails:
        return False
    st.gseq += 1
    r = Rec()
    r.mid, r.cls, r.title, r.subject = m.mid, m.cls, m.subj["title"], m.subject
    r.index, r.total = m.subj["index"], m.subj["total"]
    r.ident, r.addr = ident_of(m), m.addr
    r.gseq = st.gseq
    r.root = rc.thread_root(m)
    r.series = None
    r.parent = None
    win["mails"].append(r)
    r.seq = len(win["mails"])
    st.mails[m.mid] = r
    if m.cls in ("cover", "patch"):
        ver = m.subj["version"]
        key = (ver, r.root)
        s = st.series.get(key)
        if s is None:
            s = st.series[key] = {"version": ver, "ident": r.ident, "subject": None,
                                  "cover": False, "total": 0, "first": st.gseq, "p": {}}
        idx = r.index if r.index is not None else 1
        if m.cls == "cover":
            s["subject"], s["cover"], s["ident"] = m.subject, True, r.ident
        elif idx == 1 and not s["cover"]:
            s["subject"] = m.subject
        elif s["subject"] is None:
            s["subject"] = m.subject
        s["total"] = max(s["total"], r.total if r.total is not None else 1)
        s["p"].setdefault(idx, m.mid)
        if m.cls == "cover" or idx == 1:
            st.titles.setdefault(collapse(r.title), {}).setdefault(key, s["first"])
        st.threads.setdefault(r.root, {}).setdefault(key, s["first"])
        r.series = key
        if key not in win["series"]:
            win["series"].append(key)
    elif m.cls == "reply":
        r.parent = parent_of(m)
        r.trailers = trailers(m.body)
        notice = parse_notice(m.body)
        if notice is not None:
            r.branch = notice["branch"]
            r.applied = decide_notice(st, r, notice)
            win["notices"].append(r)
    return True


# ---------------------------------------------------------------- the flush

def encode_mid(mid):
    return urllib.parse.quote(mid, safe="-._~!$&'()*+,;=:@")


def head_of(st, s):
    low = min((i for i in s["p"] if i >= 1), default=None)
    head = s["p"].get(0) or s["p"].get(1) or (s["p"][low] if low is not None else None)
    link = s["p"].get(0) or (s["p"][low] if low is not None else None)
    return head, link


def flush(st, win, archive_url):
    review, activity, order = {}, {}, []

    def act(key, seq):
        if key not in activity:
            activity[key] = seq
            order.append(key)
        elif seq < activity[key]:
            activity[key] = seq

    for r in win["mails"]:
        if r.cls != "reply":
            continue
        att = attribute(st, r.parent)
        if not att:
            continue
        key = st.mails[att].series
        v = review.setdefault(key, {"n": 0, "seen": set(), "r": 0, "a": 0, "t": 0})
        v["n"] += 1
        act(key, r.seq)
        for kind, addr in r.trailers:
            if (kind, addr) not in v["seen"]:
                v["seen"].add((kind, addr))
                v[kind] += 1

    groups, gorder, applied = {}, [], {}
    for r in win["notices"]:
        who = r.ident or "(no sender address)"
        gkey = (r.branch, who)
        for sh, idx, commit, lbl in r.applied:
            g = groups.get(gkey)
            if g is None:
                g = groups[gkey] = {"head": "%s by %s" % (r.branch or "(unknown branch)", who),
                                    "lines": [], "seen": set()}
                gorder.append(gkey)
            ek = ("c", commit) if commit else ("p", sh, idx)
            if ek not in g["seen"]:
                g["seen"].add(ek)
                g["lines"].append("  %s %s" % (commit, lbl) if commit else "  - " + lbl)
            if sh is not None and idx is not None:
                a = applied.setdefault(sh, {}).setdefault(gkey, {"all": False, "set": set()})
                if idx == 0:
                    a["all"] = True
                else:
                    a["set"].add(idx)
                act(sh, r.seq)

    def lines_of(key):
        s = st.series[key]
        head, link = head_of(st, s)
        hr = st.mails[head]
        out = []
        own = s["p"].get(0) or s["p"].get(1)
        if s["version"] > 1 and own is not None:
            best = None
            for c in st.titles.get(collapse(st.mails[own].title), {}):
                if c == key:
                    continue
                o = st.series[c]
                oh = st.mails[head_of(st, o)[0]]
                if o["version"] < s["version"] and o["first"] < s["first"] and \
                        oh.addr == hr.addr and (best is None or o["first"] > best[0]["first"]):
                    best = (o, oh)
            if best:
                out.append("Supersedes: v%d %s" % (best[0]["version"], best[1].subject))
        v = review.get(key, {"n": 0, "r": 0, "a": 0, "t": 0})
        out.append("Review: %d %s, Reviewed-by %d, Acked-by %d, Tested-by %d" % (
            v["n"], "reply" if v["n"] == 1 else "replies", v["r"], v["a"], v["t"]))
        for gkey in gorder:
            a = applied.get(key, {}).get(gkey)
            if a:
                got = set(a["set"])
                if a["all"]:
                    got |= set(range(1, s["total"] + 1))
                out.append("Applied: %d of %d to %s" % (len(got), s["total"], groups[gkey]["head"]))
        if archive_url and link is not None:
            mid = st.mails[link].mid
            mid = mid.decode("utf-8", "surrogateescape") if isinstance(mid, bytes) else mid
            out.append("Link: " + archive_url.replace("%m", encode_mid(mid)))
        return out

    series_out = []
    for key in win["series"]:
        s = st.series[key]
        fresh = any(r.series == key and not r.resend for r in win["posts"])
        if fresh:
            series_out.append((s["subject"], lines_of(key)))
    earlier = []
    for key in sorted((k for k in order if k not in win["series"]),
                      key=lambda k: (activity[k], order.index(k))):
        s = st.series[key]
        head, _ = head_of(st, s)
        hr = st.mails[head]
        n = sum(1 for i in s["p"] if i >= 1)
        ident = "  %s, v%d, %s%d of %d patch%s" % (
            hr.ident or "(no sender address)", s["version"],
            "cover letter and " if 0 in s["p"] else "", n, s["total"],
            "" if s["total"] == 1 else "es")
        earlier.append([hr.subject, ident] + lines_of(key))
    applied_lines = []
    for gkey in gorder:
        applied_lines.append(groups[gkey]["head"])
        applied_lines.extend(groups[gkey]["lines"])
    return {"series": series_out, "earlier": earlier, "applied": applied_lines}


def model_windows(listid, paths, splits, archive_url=""):
    st = State(listid)
    seen_subjects = set()
    bounds = [b for b in sorted(set(splits)) if 0 < b < len(paths)] + [len(paths)]
    out, lo = [], 0
    for hi in bounds:
        win = {"mails": [], "series": [], "notices": [], "posts": []}
        for m in rc.mails(paths[lo:hi]):
            if not record(st, m, win):
                continue
            r = st.mails[m.mid]
            if m.cls in ("cover", "patch"):
                r.resend = m.subject in seen_subjects
                seen_subjects.add(m.subject)
                win["posts"].append(r)
        out.append(flush(st, win, archive_url))
        lo = hi
    return out


def main(argv):
    if len(argv) >= 2 and argv[0] == "notices":
        for m in rc.mails(argv[1:]):
            if m.cls != "reply":
                continue
            n = parse_notice(m.body)
            if n is not None:
                print("%s\tbranch=%r\tnumbers=%s\tentries=%d" % (
                    m.label, n["branch"], n["numbers"], len(n["entries"])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
