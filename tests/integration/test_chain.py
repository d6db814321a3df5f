#!/usr/bin/env python3
"""The chain head when the writer computes it (record.lua, "The chain
head"; DESIGN.md, "Windows and their ids"): head = sha1(head .. "\\n" ..
mid) for each new mail, in arrival order.  The writer sends the head it
expects before a batch and the one it should leave, and the script takes
them when the writer expected right, else computes the chain itself.  Here
the chain is computed again, from the mails Redis holds (each window's
mails list, each mail's Message-ID), and must equal every window's "from"
and "to" and the list's head:

- an import of the 1500 kvm-ppc posts into an empty list (the writer
  expects right: its 3 repeated Message-IDs too);
- 800 of them, then an import of 1100 that begins with 400 Redis has (the
  writer's first batch expects them new: the script computes);
- two imports at once, of every other post each (each writer's heads go
  wrong as the other records);
- the milter recording while an import records into the same list, and
  a forced flush in between (the milter learns the heads the script
  answers; a window closed keeps the chain going).
Each case also checks that every mail was recorded once."""
import hashlib
import re
import socket
import subprocess
import threading

import pdtest
from pdtest import result

BASE = "pd:{%s}:" % pdtest.LIST_ID


def conn(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s, s.makefile("rb")


def read(f):
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t in (b"+", b"-"):
        return rest
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [read(f) for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


def ask(s, f, cmds):
    out = b""
    for c in cmds:
        out += b"*%d\r\n" % len(c)
        for a in c:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)
    return [read(f) for _ in cmds]


def mid_of(packed):
    """The Message-ID of a packed mail (M:<sha1>): its ninth MessagePack value."""
    i, n = 0, 0
    while True:
        t = packed[i]
        if 0xa0 <= t <= 0xbf:
            size, start = t & 31, i + 1
        elif t in (0xd9, 0xda, 0xdb):
            w = {0xd9: 1, 0xda: 2, 0xdb: 4}[t]
            size, start = int.from_bytes(packed[i + 1:i + 1 + w], "big"), i + 1 + w
        elif t in (0xc2, 0xc3, 0xc0) or t <= 0x7f:
            size, start = 0, i + 1
        elif t in (0xcc, 0xcd, 0xce):
            size, start = 0, i + 1 + {0xcc: 1, 0xcd: 2, 0xce: 4}[t]
        else:
            raise ValueError("MessagePack type %#x" % t)
        if n == 8:
            return packed[start:start + size]
        i, n = start + size, n + 1


def check(tag, env, want_mails):
    s, f = conn(env.redis_sock)
    meta = ask(s, f, [("HGETALL", BASE + "meta")])[0]
    meta = {meta[i]: meta[i + 1] for i in range(0, len(meta), 2)}
    last = int(meta[b"window"])
    wins = ask(s, f, [("HMGET", BASE + "w:%d" % n, "from", "to") for n in range(1, last + 1)])
    lists = ask(s, f, [("LRANGE", BASE + "w:%d:mails" % n, 0, -1) for n in range(1, last + 1)])
    hs = [h for lst in lists for h in lst]
    mails = ask(s, f, [("GET", BASE + "M:" + h.decode()) for h in hs])
    s.close()
    head = hashlib.sha1(pdtest.LIST_ID.encode()).hexdigest()
    ok, k, bad = True, 0, ""
    for n, ((frm, to), lst) in enumerate(zip(wins, lists), 1):
        ok = ok and frm.decode() == head
        for _ in lst:
            head = hashlib.sha1(head.encode() + b"\n" + mid_of(mails[k])).hexdigest()
            k += 1
        if to.decode() != head and not bad:
            bad = "window %d: to %s, the chain %s" % (n, to.decode(), head)
        ok = ok and to.decode() == head
    ok = ok and meta[b"head"].decode() == head
    result(ok, "%s: each window runs from the head before to the chain over its mails, "
           "the list's head is the chain's end (%d windows)" % (tag, last), bad)
    result(len(hs) == len(set(hs)) == want_mails,
           "%s: every mail recorded once (%d)" % (tag, want_mails),
           "%d listed, %d distinct" % (len(hs), len(set(hs))))


def import_(env, files):
    return env.cli("import", "--list", pdtest.LIST_ID, *files)


files = pdtest.corpus_files()
unique = 1497   # the corpus repeats 3 Message-IDs

env = pdtest.Env()
try:
    r = import_(env, files)
    result(r.returncode == 0, "an import of the corpus", r.stderr)
    check("an import", env, unique)
finally:
    env.close()

env = pdtest.Env()
try:
    r1 = import_(env, files[:800])
    r2 = import_(env, files[400:])
    dups = re.search(r"(\d+) duplicates", r2.stderr)
    result(r1.returncode == 0 and r2.returncode == 0 and dups and int(dups.group(1)) >= 400,
           "an import that begins with 400 posts Redis has", r2.stderr)
    check("an import over a known part", env, unique)
finally:
    env.close()

env = pdtest.Env()
try:
    out = {}
    ts = [threading.Thread(target=lambda i=i: out.update({i: import_(env, files[i::2])}))
          for i in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    result(all(out[i].returncode == 0 for i in (0, 1)), "two imports at once",
           out[0].stderr + out[1].stderr)
    check("two imports at once", env, unique)
finally:
    env.close()

env = pdtest.Env(extra="DigestFrom digest@example.org\nDigestTo d@example.org\n"
                       "Sendmail cat > /dev/null\n")
try:
    env.start_milter()
    fed = {}
    t = threading.Thread(target=lambda: fed.update(r=env.feed(files[:700], conns=4)))
    t.start()
    r = import_(env, files[700:1100])
    fl = env.cli("flush", "--force")
    r2 = import_(env, files[1100:])
    t.join()
    env.wait_recorded(unique)
    result(r.returncode == 0 and r2.returncode == 0 and fl.returncode == 0 and
           fed["r"]["rc"] == 0, "the milter and imports at once, a flush between",
           r.stderr + r2.stderr + fl.stderr + str(fed))
    check("the milter and imports at once", env, unique)
finally:
    env.close()

pdtest.finish()
