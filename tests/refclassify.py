#!/usr/bin/env python3
"""refclassify.py - independent reference implementation of patchdigest's
per-mail classification and window counting rules (DESIGN.md, sections
"Classification (per mail)", "Windows and their ids", "Duplicates").

Python 3 standard library only; mail parsing by the `email` package with
`email.policy.default`.  Used by the integration tests to derive expected
counters without the C code, and as the baseline a user would write instead.

Usage:
  refclassify.py classify FILE...
      one line per mail, tab-separated:
      FILE  CLASS  VERSION  INDEX/TOTAL  IDENTITY  TITLE
      (an mbox file - one starting with "From " - gives FILE#N, N from 1)
  refclassify.py stats --list LISTID FILE...
      JSON counters of the mails given, as one window opened at the list's
      initial chain head.
  refclassify.py windows --list LISTID [--split N,M,...] [--top K] FILE...
      the digests of consecutive windows: FILEs in arrival order, a flush
      after the Nth, the Mth, ... file and after the last one.  JSON list,
      one object per window: from9, to9, mails, duplicates, domains,
      contributors, reviewers ([[count, row], ...], top K, default 15, in
      digest order), entries ({"kind": "New", "title", "subject",
      "author"} or {"kind": "Exist", "subject"}, in arrival order),
      patchlist ([{"head", "ident", "patches"}], digest order) and threads
      ([[count, label], ...], top K).

Choices made where DESIGN.md is silent (kept in one place, see also the
comments at each rule):
  * raw 8-bit bytes in headers are read as UTF-8 (invalid sequences -> U+FFFD);
  * a text part without charset, or with an unknown one, is read as UTF-8;
  * the MIME walk does not descend into message/* parts (an attached mail's
    own parts are not parts of this mail);
  * "filename" is Content-Disposition filename= or else Content-Type name=;
  * In-Reply-To/References count as present when the header has a non-blank
    value; an empty Message-ID header means "no Message-ID";
  * marker, tag, trailer and `From:` matches are case-sensitive where the
    design writes a literal, case-insensitive where it says "any case";
  * "the word PATCH": PATCH not touching a letter or digit (PATCHSET,
    PATCHES do not count; PATCH_v2, kvm-PATCH do), except PATCHvN; vN is
    v<digits> not touching a letter or digit
    (PATCHv3 -> 3, "v5.5" -> 5, "v0" -> 0); i/n is the first <digits>/<digits>
    of the patch tag, printed without leading zeros;
  * Subject, From, Message-ID, ...: the first header of that name is used;
  * a trailer's name is the text before its address (RFC 2047 decoded,
    quotes removed); a bare address has the text before it as name;
  * "the first name seen" for an address is the first non-empty one;
  * a mail whose From has no address gets the identity "<>" and domain "".
  * mbox: a message starts at a "From " line at the start of the file or
    after an empty line; ">From " lines lose one ">" (mboxrd).

Digest model (windows), further choices:
  * a resend is a cover or patch whose exact subject (decoded, unfolded,
    tags included) was the subject of an earlier recorded cover or patch of
    the list (any window); subjects of other classes (e.g. patch-tagged
    mail without a diff) do not make a later patch a resend;
  * the series' "lowest-numbered patch the window holds" is taken among all
    of the window's patches of that series, resends included: when it is a
    resend it shows as Exist and no other patch of the series gets New;
    of two patches with the same index the first to arrive counts;
  * series key: (version, thread root), root = first <id> of References,
    else of In-Reply-To, else the mail's own Message-ID (ids compared
    without angle brackets and blanks);
  * Author: the header From's display name (RFC 2047 decoded, quotes
    removed, blanks collapsed) and its address as written, "Name <addr>";
    "<addr>" when there is no name; the DMARC "via" rewrite is not undone
    there (the design says header From);
  * the retention period is not modelled (a test runs well within it);
  * patch list (README, "The digest"): one block per series (version,
    thread root) with a non-resend cover or patch in the window, in order
    of its first cover or patch there; head = the latest cover, else the
    latest patch 1 (or patch without i/n), else the first of the
    lowest-numbered patches, among every cover and patch of the series
    recorded so far (any window); identity = the head's; total = largest n
    of i/n (1 without); "seen" = distinct patch numbers the window holds
    (no i/n = 1); patch lines = the window's patches of the series,
    resends included, by index then arrival; none when the window's one
    patch is the head and no cover came;
  * threads: per thread root (as for series) the window's replies; label
    = the root's subject when the root was recorded (any window, by the
    time the digest is made), else the first reply's subject, reply markers
    stripped, tags kept, trimmed; rows by count, then label in byte order.
"""

import hashlib
import json
import re
import sys
from email import policy
from email.parser import BytesParser

POLICY = policy.default
CLASSES = ("patch", "cover", "reply", "pull", "other")

# --------------------------------------------------------------------------
# text helpers


def clean(s):
    """Turn surrogate-escaped raw bytes into UTF-8 text (invalid -> U+FFFD)."""
    if s is None:
        return ""
    if not isinstance(s, str):
        s = str(s)
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return s.encode("utf-8", "replace").decode("utf-8", "replace")


def raw_bytes(s):
    """The original bytes of a raw header value (for hashing Message-IDs)."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return s.encode("utf-8", "replace")


def unfold(value):
    """Remove the CR/LF of folding, keeping the following whitespace as is."""
    return value.replace("\r", "").replace("\n", "")


def raw_header(msg, name):
    """First header `name` (any case), raw source value, or None."""
    lname = name.lower()
    try:
        items = msg.raw_items()
    except Exception:
        return None
    for k, v in items:
        if k.strip().lower() == lname:
            if not isinstance(v, str):  # already a parsed header object
                v = str(v)
            return v
    return None


def decode_2047(text):
    """Decode RFC 2047 encoded words of an unstructured text."""
    text = clean(text)
    try:
        return clean(str(POLICY.header_factory("subject", text)))
    except Exception:
        return text


def strip_quotes(name):
    name = re.sub(r"\s+", " ", name).strip()
    while len(name) >= 2 and name[0] == name[-1] and name[0] == '"':
        name = re.sub(r"\s+", " ", name[1:-1]).strip()
    return name


def field(s):
    return re.sub(r"[\t\r\n]", " ", s)


# --------------------------------------------------------------------------
# addresses

# RFC 2047: whitespace between two adjacent encoded words is not displayed.
# Python's phrase parser (display names) keeps it, so drop it beforehand.
EW = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
EW_GAP = re.compile("(" + EW + r")\s+(?=" + EW + ")")

ADDR_CHARS = r"[^\s<>()\[\]\",;:]+"
BARE_ADDR = re.compile(ADDR_CHARS + "@" + ADDR_CHARS)
ANGLE_ADDR = re.compile("<\\s*(" + ADDR_CHARS + "@" + ADDR_CHARS + ")\\s*>")


def written_phrase(value):
    """The display name as written before '<': quotes removed, encoded words
    decoded, parenthesised text kept ("Name (Company)"); None without '<'."""
    quoted, start, i = False, 0, 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ",":
            start = i + 1
        elif ch == "<":
            out, q, j = [], False, start
            while j < i:
                c = value[j]
                if c == '"':
                    q = not q
                elif q and c == "\\" and j + 1 < i:
                    j += 1
                    out.append(value[j])
                else:
                    out.append(c)
                j += 1
            return decode_2047("".join(out))
        i += 1
    return None


def parse_address(value):
    """(name, addr) of the first mailbox with an address in `value`, or
    None.  Name decoded, unquoted, whitespace collapsed; addr lower-cased."""
    value = EW_GAP.sub(r"\1", unfold(clean(value)))
    try:
        h = POLICY.header_factory("from", value)
        for a in h.addresses:
            spec = clean(a.addr_spec)
            if "@" in spec and a.domain:
                name = written_phrase(value)
                if name is None:
                    name = clean(a.display_name)
                name = re.sub(r"\s+", " ", name).strip()
                if name.lower() == spec.strip().lower():
                    name = ""
                return name, spec.strip().lower()
    except Exception:
        pass
    # fallback for what the parser could not make sense of
    m = re.search(r"<([^<>]*@[^<>]*)>", value)
    if m:
        return (strip_quotes(decode_2047(value[:m.start()])),
                m.group(1).strip().lower())
    m = BARE_ADDR.search(value)
    if m:
        return "", m.group(0).lower()
    return None


def identity_str(name, addr):
    return "%s <%s>" % (name, addr) if name else "<%s>" % addr


# --------------------------------------------------------------------------
# MIME


def walk(part):
    """Depth-first over the MIME tree; message/* parts are leaves."""
    yield part
    try:
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            for sub in part.get_payload():
                yield from walk(sub)
    except Exception:
        return


def ctype(part):
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def filename(part):
    try:
        fn = part.get_filename()
    except Exception:
        fn = None
    return clean(fn) if fn else None


def decode_text(part):
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        try:
            data = part.get_payload()
            if isinstance(data, list):
                return ""
            data = raw_bytes(data)
        except Exception:
            return ""
    if isinstance(data, str):
        data = raw_bytes(data)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = None
    if charset:
        try:
            text = data.decode(charset.strip(), "replace")
        except (LookupError, ValueError, TypeError, UnicodeError):
            text = None
    if text is None:
        text = data.decode("utf-8", "replace")
    return text.replace("\r", "")


def text_body(msg):
    for part in walk(msg):
        if ctype(part) == "text/plain" and not filename(part):
            return decode_text(part)
    return ""


def has_patch_part(msg):
    for part in walk(msg):
        if ctype(part) in ("text/x-patch", "text/x-diff"):
            return True
        fn = filename(part)
        if fn and (fn.endswith(".patch") or fn.endswith(".diff")):
            return True
    return False


# --------------------------------------------------------------------------
# subject

MARKERS = re.compile(r"^(?:\s*(?:re|aw|sv|fwd|fw):)+\s*", re.I)
TAG = re.compile(r"\s*\[([^\]]*)\]")
# "word": not preceded/followed by a letter or digit ("_" and "-" separate)
PATCH_WORD = re.compile(r"(?<![a-z0-9])patch(?:(?![a-z0-9])|(?=v\d))", re.I)
# DESIGN.md's amendment: a group holding the word RFC is a patch tag too
RFC_WORD = re.compile(r"(?<![a-z0-9])rfc(?![a-z0-9])", re.I)
VERSION = re.compile(r"(?:(?<![a-z0-9])|(?<=patch))v(\d+)(?![a-z0-9])", re.I)
INDEX = re.compile(r"(?<![a-z0-9])(\d+)/(\d+)(?![a-z0-9])", re.I)


def parse_subject(subject):
    """-> dict(replied, tags, patch_tag, version, index, total, title)."""
    s = subject
    m = MARKERS.match(s)
    replied = bool(m)
    if m:
        s = s[m.end():]
    tags = []
    while True:
        m = TAG.match(s)
        if not m:
            break
        tags.append(m.group(1))
        s = s[m.end():]
    patch_tag = None
    for t in tags:
        if PATCH_WORD.search(t) or RFC_WORD.search(t):
            patch_tag = t
            break
    version = index = total = None
    if patch_tag is not None:
        version = 1
        m = VERSION.search(patch_tag)
        if m:
            version = int(m.group(1))
        m = INDEX.search(patch_tag)
        if m:
            index, total = int(m.group(1)), int(m.group(2))
    return dict(replied=replied, tags=tags, patch_tag=patch_tag,
                version=version, index=index, total=total, title=s.strip())


# --------------------------------------------------------------------------
# classification


def has_diff(body):
    lines = body.split("\n")
    prev_minus = False
    for line in lines:
        if line.startswith("diff --git ") or line.startswith("Index: "):
            return True
        if prev_minus and line.startswith("+++ "):
            return True
        prev_minus = line.startswith("--- ")
    return False


def present(msg, name):
    v = raw_header(msg, name)
    return v is not None and unfold(v).strip() != ""


def classify_mail(msg, subj, body):
    if subj["replied"] or (
            (present(msg, "In-Reply-To") or present(msg, "References"))
            and subj["patch_tag"] is None):
        return "reply"
    if any("git pull" in t.lower() for t in subj["tags"]) or (
            "The following changes since commit" in body
            and "are available in the Git repository at" in body):
        return "pull"
    if subj["patch_tag"] is not None and subj["index"] == 0:
        return "cover"
    if subj["patch_tag"] is not None and (has_diff(body) or has_patch_part(msg)):
        return "patch"
    return "other"


VIA = re.compile(r" via \S")
BODY_FROM = re.compile(r"^From:(.*)$")


def identity(msg, body):
    """(name, addr) 'based on email body'."""
    ident = None
    v = raw_header(msg, "From")
    if v is not None:
        ident = parse_address(v)
    if ident and VIA.search(ident[0]):
        xo = raw_header(msg, "X-Original-From")
        if xo is not None:
            o = parse_address(xo)
            if o:
                ident = o
    for line in body.split("\n"):
        if line.strip() == "":
            continue
        m = BODY_FROM.match(line)
        if m:
            o = parse_address(m.group(1))
            if o:
                ident = o
        break
    return ident if ident else ("", "")


def message_id(msg, body):
    """Message-ID bytes: unfolded, inside the first <...>, blanks trimmed."""
    v = raw_header(msg, "Message-ID")
    if v is not None:
        v = unfold(v)
        m = re.search(r"<([^>]*)>", v)
        mid = (m.group(1) if m else v).strip(" \t")
        if mid:
            return raw_bytes(mid)
    h = hashlib.sha1()
    for name in ("Date", "From", "Subject"):
        h.update(raw_bytes(unfold(raw_header(msg, name) or "")) + b"\n")
    h.update(hashlib.sha1(body.encode("utf-8", "replace")).hexdigest().encode())
    return ("synthetic-%s@refclassify" % h.hexdigest()).encode()


TRAILER = re.compile(r"^\s*(Reviewed-by|Acked-by|Tested-by):\s*(.+)")


def reviewers(body):
    """[(name, addr)] distinct by address, from trailers above the signature."""
    out, seen = [], set()
    for line in body.split("\n"):
        if line == "-- ":
            break
        if line.startswith(">"):
            continue
        m = TRAILER.match(line)
        if not m:
            continue
        val = m.group(2)
        am = ANGLE_ADDR.search(val)
        if am:
            addr, before = am.group(1), val[:am.start()]
        else:
            am = BARE_ADDR.search(val)
            if not am:
                continue
            addr, before = am.group(0), val[:am.start()].rstrip().rstrip("<")
        addr = addr.lower()
        name = strip_quotes(decode_2047(before))
        if addr not in seen:
            seen.add(addr)
            out.append((name, addr))
    return out


class Mail:
    def __init__(self, label, data):
        self.label = label
        try:
            msg = BytesParser(policy=POLICY).parsebytes(data)
        except Exception:
            msg = BytesParser(policy=POLICY).parsebytes(b"\n" + data)
        self.msg = msg
        try:
            self.body = text_body(msg)
        except Exception:
            self.body = ""
        subj = raw_header(msg, "Subject")
        self.subject = decode_2047(unfold(subj)) if subj is not None else ""
        self.subj = parse_subject(self.subject)
        self.cls = classify_mail(msg, self.subj, self.body)
        self.name, self.addr = identity(msg, self.body)
        self.mid = message_id(msg, self.body)

    def domain(self):
        return self.addr.rpartition("@")[2] if "@" in self.addr else ""


# --------------------------------------------------------------------------
# input


def read_mails(path):
    """A file starting with "From " (after blank lines) is an mbox: a message starts at each
    "From " line at the start of the file or after an empty line (the
    From_ line and the empty line before the next one are not part of the
    message); ">From " lines are unescaped mboxrd-style (one ">" less)."""
    with open(path, "rb") as f:
        data = f.read()
    if data.lstrip(b" \t\r\n").startswith(b"From "):
        data = data.lstrip(b" \t\r\n")  # blank lines before the first From_ line
    if not data.startswith(b"From "):
        yield path, data
        return
    n, cur, prev_blank = 0, None, True
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and prev_blank:
            if cur is not None:
                n += 1
                if cur and cur[-1] in (b"\n", b"\r\n"):
                    cur.pop()
                yield "%s#%d" % (path, n), b"".join(cur)
            cur = []
            prev_blank = False
            continue
        prev_blank = line in (b"\n", b"\r\n")
        if MBOXRD_FROM.match(line):
            line = line[1:]
        cur.append(line)
    n += 1
    yield "%s#%d" % (path, n), b"".join(cur)


MBOXRD_FROM = re.compile(rb">+From ")


def mails(paths):
    for p in paths:
        for label, data in read_mails(p):
            yield Mail(label, data)


# --------------------------------------------------------------------------
# commands


def cmd_classify(paths, out):
    for m in mails(paths):
        s = m.subj
        ver = "v%d" % s["version"] if s["version"] is not None else "-"
        idx = "%d/%d" % (s["index"], s["total"]) if s["index"] is not None else "-"
        out.write("\t".join(field(x) for x in (
            m.label, m.cls, ver, idx, identity_str(m.name, m.addr),
            s["title"])) + "\n")


def sha1hex(b):
    return hashlib.sha1(b).hexdigest()


def ordered(d):
    return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0].encode())))


class Tally:
    """The counters of one window: classes and, by identity based on email
    body, domains, contributors (first name seen) and reviewers."""

    def __init__(self):
        self.classes = {c: 0 for c in CLASSES}
        self.domains, self.contrib, self.contrib_name = {}, {}, {}
        self.revs, self.rev_name = {}, {}

    def add(self, m):
        self.classes[m.cls] += 1
        if m.addr:  # a mail with no sender address counts in neither table
            d = m.domain()
            if d:
                self.domains[d] = self.domains.get(d, 0) + 1
            self.contrib[m.addr] = self.contrib.get(m.addr, 0) + 1
            if not self.contrib_name.get(m.addr):
                self.contrib_name[m.addr] = m.name
        if m.cls == "reply":
            for name, addr in reviewers(m.body):
                self.revs[addr] = self.revs.get(addr, 0) + 1
                if not self.rev_name.get(addr):
                    self.rev_name[addr] = name


def cmd_stats(listid, paths, out):
    head = sha1hex(listid.encode("utf-8"))
    start = head
    seen = set()
    ndup = 0
    t = Tally()
    for m in mails(paths):
        if m.mid in seen:
            ndup += 1
            continue
        seen.add(m.mid)
        head = sha1hex(head.encode() + b"\n" + m.mid)
        t.add(m)
    res = {
        "list": listid,
        "from": start[:9],
        "to": head[:9],
        "mails": len(seen),
        "duplicates": ndup,
        "classes": t.classes,
        "domains": ordered(t.domains),
        "contributors": ordered({identity_str(t.contrib_name[a], a): n
                                 for a, n in t.contrib.items()}),
        "reviewers": ordered({identity_str(t.rev_name[a], a): n
                              for a, n in t.revs.items()}),
    }
    out.write(json.dumps(res, ensure_ascii=False, indent=1) + "\n")


# --------------------------------------------------------------------------
# digest model: windows, chain heads, tables, New/Exist entries

MSGID = re.compile(r"<\s*([^<>]*?)\s*>")


def thread_root(m):
    """First References id, else In-Reply-To, else the own Message-ID."""
    for name in ("References", "In-Reply-To"):
        v = raw_header(m.msg, name)
        if v is None:
            continue
        v = unfold(v)
        mm = MSGID.search(v)
        if mm and mm.group(1):
            return raw_bytes(mm.group(1))
        tok = v.split()
        if tok:
            return raw_bytes(tok[0])
    return m.mid


def author(m):
    """The header From decoded: "Name <addr as written>"."""
    v = raw_header(m.msg, "From")
    if v is None:
        return ""
    value = EW_GAP.sub(r"\1", unfold(clean(v)))
    ident = parse_address(value)
    if not ident:
        return decode_2047(value).strip()
    name = ident[0]
    am = ANGLE_ADDR.search(value)
    if am:
        addr = am.group(1)
    else:
        bm = BARE_ADDR.search(value)
        addr = bm.group(0) if bm else ident[1]
    return "%s <%s>" % (name, addr) if name else "<%s>" % addr


def top_rows(counts, names, k):
    rows = [(n, identity_str(names[a], a) if names is not None else a)
            for a, n in counts.items()]
    rows.sort(key=lambda r: (-r[0], r[1].encode("utf-8", "surrogateescape")))
    return [[n, t] for n, t in rows[:k]]


class ListState:
    """What Redis keeps for one list across windows."""

    def __init__(self, listid):
        self.head = sha1hex(listid.encode("utf-8"))
        self.seen_mids = set()
        self.seen_subjects = set()
        self.subject_of = {}   # Message-ID -> subject of every recorded mail
        self.series = {}       # (version, root) -> [its covers and patches, arrival order]


MARKER_ONLY = re.compile(r"^(?:\s*(?:re|aw|sv|fwd|fw):)*\s*", re.I)


def without_markers(subject):
    """A subject with its leading reply/forward markers stripped, tags kept."""
    return subject[MARKER_ONLY.match(subject).end():].strip()


def patch_index(m):
    """A patch's number for the patch list; a patch without i/n is 1."""
    return m.subj["index"] if m.subj["index"] is not None else 1


def series_head(mails):
    """A series' head (DESIGN.md, Outcomes): its cover, else patch 1 or its
    unnumbered patch, else its lowest-numbered patch.  Of several, the
    latest cover, the latest patch 1, the first of the lowest number."""
    covers = [m for m in mails if m.cls == "cover"]
    if covers:
        return covers[-1]
    ones = [m for m in mails if patch_index(m) == 1]
    if ones:
        return ones[-1]
    low = min(patch_index(m) for m in mails)
    return next(m for m in mails if patch_index(m) == low)


def patch_list(state, items):
    """The patch list of a window: every series with a cover or patch in it
    that is not a resend, in order of its first cover or patch in the
    window (resends included); the series as Redis knows it now (head,
    identity, total), its patches of the window in index order."""
    order, posts = [], {}
    for m, resend in items:
        key = (m.subj["version"], thread_root(m))
        if key not in posts:
            order.append(key)
            posts[key] = []
        posts[key].append((m, resend))
    out = []
    for key in order:
        ps = posts[key]
        if all(r for _, r in ps):
            continue   # only resends: the Exist: lines tell of them
        mails = state.series[key]
        head = series_head(mails)
        total = max([m.subj["total"] for m in mails if m.subj["total"] is not None] + [1])
        patches = sorted((m for m, _ in ps if m.cls == "patch"), key=patch_index)
        cover = any(m.cls == "cover" for m, _ in ps)
        seen = len(set(patch_index(m) for m in patches))
        ident = identity_str(head.name, head.addr) if head.addr else "(no sender address)"
        lines = [p.subject for p in patches]
        if len(patches) == 1 and not cover and patches[0].subject == head.subject:
            lines = []   # a lone patch is its own head line
        out.append({
            "head": head.subject,
            "ident": "%s, v%d, %s%d of %d patch%s" % (
                ident, key[0], "cover letter and " if cover else "", seen, total,
                "" if total == 1 else "es"),
            "patches": lines,
        })
    return out


def threads_table(state, replies, top):
    """Most discussed threads: per thread root, the window's replies; the
    label is the root's subject when the root was recorded, else the
    subject of the thread's first reply in the window, reply markers
    stripped and tags kept; rows by count, then label in byte order."""
    count, first = {}, {}
    for m in replies:
        root = thread_root(m)
        count[root] = count.get(root, 0) + 1
        first.setdefault(root, m.subject)
    rows = []
    for root, n in count.items():
        subj = state.subject_of.get(root)
        rows.append((n, without_markers(subj if subj is not None else first[root])))
    rows.sort(key=lambda r: (-r[0], r[1].encode("utf-8", "surrogateescape")))
    return [[n, t] for n, t in rows[:top]]


def model_window(state, batch, top):
    start = state.head
    ndup = 0
    t = Tally()
    items = []  # (mail, resend) of the window's covers and patches
    replies = []
    for m in batch:
        if m.mid in state.seen_mids:
            ndup += 1
            continue
        state.seen_mids.add(m.mid)
        state.head = sha1hex(state.head.encode() + b"\n" + m.mid)
        t.add(m)
        state.subject_of[m.mid] = m.subject
        if m.cls in ("cover", "patch"):
            resend = m.subject in state.seen_subjects
            state.seen_subjects.add(m.subject)
            items.append((m, resend))
            state.series.setdefault((m.subj["version"], thread_root(m)), []).append(m)
        elif m.cls == "reply":
            replies.append(m)
    # the lowest-numbered patch of each series in this window
    lowest = {}
    for pos, (m, _) in enumerate(items):
        s = m.subj
        if m.cls != "patch" or s["index"] is None:
            continue
        key = (s["version"], thread_root(m))
        if key not in lowest or s["index"] < items[lowest[key]][0].subj["index"]:
            lowest[key] = pos
    firsts = set(lowest.values())
    entries = []
    for pos, (m, resend) in enumerate(items):
        if resend:
            entries.append({"kind": "Exist", "subject": m.subject, "file": m.label})
        elif m.cls == "cover" or m.subj["index"] is None or pos in firsts:
            entries.append({"kind": "New", "title": m.subj["title"],
                            "subject": m.subject, "author": author(m),
                            "file": m.label})
    return {
        "from9": start[:9],
        "to9": state.head[:9],
        "from": start,
        "to": state.head,
        "mails": sum(t.classes.values()),
        "duplicates": ndup,
        "classes": t.classes,
        "domains": top_rows(t.domains, None, top),
        "contributors": top_rows(t.contrib, t.contrib_name, top),
        "reviewers": top_rows(t.revs, t.rev_name, top),
        "entries": entries,
        # what the flush resolves from Redis as it is then (series heads
        # and totals, thread roots): call again to resolve later (render)
        "resolve": lambda: (patch_list(state, items), threads_table(state, replies, top)),
    }


def model_windows(listid, paths, splits, top=15, rendered_after=False):
    """Digests of the windows closed after files splits[0], splits[1], ...
    and after the last file: as flushed, each when it closed, or with
    rendered_after, as "render --window N" shows them after the last file
    (the series and thread roots then known)."""
    state = ListState(listid)
    bounds = [b for b in sorted(set(splits)) if 0 < b < len(paths)] + [len(paths)]
    out, lo = [], 0
    for hi in bounds:
        w = model_window(state, list(mails(paths[lo:hi])), top)
        if not rendered_after:
            w["patchlist"], w["threads"] = w["resolve"]()
        out.append(w)
        lo = hi
    for w in out:
        if rendered_after:
            w["patchlist"], w["threads"] = w["resolve"]()
        del w["resolve"]
    return out


def cmd_windows(args, out):
    listid, splits, top, paths = None, [], 15, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--list", "--split", "--top") and i + 1 < len(args):
            v = args[i + 1]
            i += 2
        elif a.startswith(("--list=", "--split=", "--top=")):
            a, v = a.split("=", 1)
            i += 1
        else:
            paths.append(a)
            i += 1
            continue
        if a == "--list":
            listid = v
        elif a == "--split":
            splits = [int(x) for x in v.split(",") if x.strip()]
        else:
            top = int(v)
    if listid is None or not paths:
        return usage()
    res = model_windows(listid, paths, splits, top)
    out.write(json.dumps(res, ensure_ascii=False, indent=1) + "\n")
    return 0


def usage():
    sys.stderr.write("usage: refclassify.py classify FILE...\n"
                     "       refclassify.py stats --list LISTID FILE...\n"
                     "       refclassify.py windows --list LISTID [--split N,M,...] "
                     "[--top K] FILE...\n")
    return 2


def main(argv):
    out = open(sys.stdout.fileno(), "w", encoding="utf-8", errors="replace",
               closefd=False)
    try:
        if len(argv) >= 2 and argv[0] == "classify":
            cmd_classify(argv[1:], out)
        elif len(argv) >= 3 and argv[0] == "stats" and argv[1] == "--list":
            cmd_stats(argv[2], argv[3:], out)
        elif len(argv) >= 2 and argv[0] == "stats" and argv[1].startswith("--list="):
            cmd_stats(argv[1][len("--list="):], argv[2:], out)
        elif len(argv) >= 2 and argv[0] == "windows":
            return cmd_windows(argv[1:], out)
        else:
            return usage()
    finally:
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
