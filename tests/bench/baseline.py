#!/usr/bin/env python3
"""baseline.py - what a user would write instead of patchdigest: a plain
Python script that reads list mail, parses each post with Python's email
package and applies the same classification (patch, cover, reply, pull,
other; identity "based on email body"; review trailers), counting per class,
domain, contributor and reviewer.  "make bench" times it against
`patchdigest import` on the same posts (it stores nothing: only counts).

Usage: baseline.py FILE.eml...      prints the counters as JSON
"""
import json
import re
import sys
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

TAG = re.compile(r"\s*\[([^\]]*)\]")
REPLY = re.compile(r"^(?:\s*(?:re|aw|sv|fwd|fw):)+\s*", re.I)
PATCH = re.compile(r"(?<![a-z0-9])patch(?:(?![a-z0-9])|(?=v\d))", re.I)
INDEX = re.compile(r"(?<![a-z0-9])(\d+)/(\d+)(?![a-z0-9])")
TRAILER = re.compile(r"^\s*(?:Reviewed-by|Acked-by|Tested-by):\s*(.+)$", re.M)


def first_address(value):
    pairs = getaddresses([value or ""])
    for name, addr in pairs:
        if "@" in addr:
            return name, addr.lower()
    return "", ""


def body_text(msg):
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):
        return part.get_payload(decode=True).decode("utf-8", "replace")


def classify(msg, subject, body):
    m = REPLY.match(subject)
    replied = bool(m)
    rest = subject[m.end():] if m else subject
    tags = []
    while True:
        t = TAG.match(rest)
        if not t:
            break
        tags.append(t.group(1))
        rest = rest[t.end():]
    patch_tag = next((t for t in tags if PATCH.search(t)), None)
    if replied or ((msg["In-Reply-To"] or msg["References"]) and patch_tag is None):
        return "reply"
    if any("git pull" in t.lower() for t in tags) or (
            "The following changes since commit" in body and
            "are available in the Git repository at" in body):
        return "pull"
    index = INDEX.search(patch_tag) if patch_tag is not None else None
    if index and int(index.group(1)) == 0:
        return "cover"
    if patch_tag is not None and ("\ndiff --git " in body or "\n+++ " in body or
                                  any(p.get_content_type() in ("text/x-patch", "text/x-diff")
                                      for p in msg.walk())):
        return "patch"
    return "other"


def main(paths):
    classes, domains, contributors, reviewers = {}, {}, {}, {}
    seen = set()
    for path in paths:
        with open(path, "rb") as f:
            msg = BytesParser(policy=policy.default).parse(f)
        mid = str(msg["Message-ID"] or "").strip()
        if mid in seen:
            continue
        seen.add(mid)
        body = body_text(msg)
        subject = str(msg["Subject"] or "")
        cls = classify(msg, subject, body)
        name, addr = first_address(str(msg["From"] or ""))
        for line in body.split("\n"):       # git's in-body From: line wins
            if line.strip():
                if line.startswith("From:"):
                    n, a = first_address(line[5:])
                    if a:
                        name, addr = n, a
                break
        classes[cls] = classes.get(cls, 0) + 1
        if addr:
            domains[addr.rpartition("@")[2]] = domains.get(addr.rpartition("@")[2], 0) + 1
            contributors[addr] = contributors.get(addr, 0) + 1
        if cls == "reply":
            for value in set(TRAILER.findall(body.split("\n-- \n")[0])):
                n, a = first_address(value)
                if a:
                    reviewers[a] = reviewers.get(a, 0) + 1
    json.dump({"mails": len(seen), "classes": classes, "domains": domains,
               "contributors": contributors, "reviewers": reviewers}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
