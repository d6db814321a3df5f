#!/usr/bin/env python3
"""mkpage.py - rebuild the window of reference 004 (the patch page) as mail.

Reference 004 (../shared/spec/004_*.txt) is the Markdown page readers get for
one window: per entry `#### <subject>`, `##### From: <Name <addr>>`, a blank
line, then a fenced block holding the mail's header block as received and,
after a blank line, its text up to the end of the diffstat.

Each entry becomes one mail: the header block exactly as the page shows it
(order, folding, blanks kept), an empty line, the text, an empty line and a
small diff of the first file the diffstat names (so the mail is a patch),
then git's signature.  The mails are written in the page's order, which is
their arrival order.

The expected page is the reference with its one defect fixed: the heading is
the mail's Subject unfolded, so the Bill Wendling entry reads
`#### [kvm-unit-tests PATCH] Makefile: do not use "libgcc" for clang`, not
`…for clangFrom: Bill Wendling <morbo@google.com>`.

Usage: mkpage.py REFERENCE OUTDIR   writes OUTDIR/NNN.eml and OUTDIR/expected.md
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.environ.get("PD_SPEC", os.path.join(os.path.dirname(ROOT), "shared", "spec"))
SIGNATURE = "-- \n2.30.1\n"


class Entry:
    def __init__(self):
        self.heading = ""      # the reference's "#### " line
        self.from_line = ""    # the reference's "##### From: " line
        self.fence = ""
        self.headers = ""      # header block, each line ending in \n
        self.text = ""         # text up to the end of the diffstat, no trailing blank

    def subject(self):
        """The Subject header, unfolded (CRLF removed, the blank kept)."""
        m = re.search(r"^Subject:(.*(?:\n[ \t].*)*)", self.headers, re.M | re.I)
        return m.group(1).replace("\n", "").strip() if m else ""

    def fixed_heading(self):
        return "#### " + self.subject()

    def expected(self):
        """The entry as patchdigest must render it."""
        return "%s\n%s\n\n%s\n%s\n\n%s\n\n%s\n" % (self.fixed_heading(), self.from_line,
                                                 self.fence, self.headers.rstrip("\n"),
                                                 self.text, self.fence.rstrip("c"))

    def mail(self):
        files = re.findall(r"^ (\S+)\s+\|", self.text, re.M)
        f = files[0] if files else "f"
        if "{" in f:                     # a rename: any path will do
            f = "f"
        diff = ("diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1 +1 @@\n-a\n+b\n"
                % (f, f, f, f))
        return self.headers + "\n" + self.text + "\n\n" + diff + SIGNATURE


def reference():
    names = sorted(n for n in os.listdir(SPEC) if n.startswith("004_"))
    if not names:
        raise FileNotFoundError("no 004_*.txt in " + SPEC)
    return os.path.join(SPEC, names[0])


def load(path=None):
    """The entries of the reference page, in order."""
    with open(path or reference(), encoding="utf-8") as f:
        lines = f.read().split("\n")
    entries, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("#### "):
            i += 1
            continue
        e = Entry()
        e.heading, e.from_line = lines[i], lines[i + 1]
        if lines[i + 2] != "" or not lines[i + 3].startswith("```"):
            raise ValueError("entry at line %d: no fence" % (i + 1))
        e.fence = lines[i + 3]
        close = re.match(r"`+", e.fence).group(0)
        j = i + 4
        block = []
        while lines[j] != close:
            block.append(lines[j])
            j += 1
        cut = block.index("")
        e.headers = "".join(l + "\n" for l in block[:cut])
        e.text = "\n".join(block[cut + 1:]).rstrip("\n")
        entries.append(e)
        i = j + 1
    return entries


def expected_page(entries):
    return "".join(e.expected() for e in entries)


def write(entries, outdir):
    os.makedirs(outdir, exist_ok=True)
    files = []
    for n, e in enumerate(entries):
        p = os.path.join(outdir, "%03d.eml" % n)
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write(e.mail())
        files.append(p)
    return files


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: mkpage.py REFERENCE OUTDIR")
    es = load(sys.argv[1])
    write(es, sys.argv[2])
    with open(os.path.join(sys.argv[2], "expected.md"), "w", encoding="utf-8") as f:
        f.write(expected_page(es))
    print("%d mails" % len(es))
