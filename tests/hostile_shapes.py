"""Crafted mails that cost a naive MIME parser time out of proportion to
their size, and the plain text mail of the same size to hold them against.

    shapes(size)   -> [(name, bytes)], each mail about size bytes
    plain(size)    -> bytes, a plain text list mail of that size

Used by tests/integration/test_hostile_shapes.py (make check, small sizes),
tests/bench/bench.py (make bench, MaxMessageBytes-sized) and
tests/fuzz/mkseeds.py (fuzz seeds).  Every mail is list mail of
kvm-ppc@vger.kernel.org with its own Message-ID, so each is recorded once.
"""

import hashlib

LIST = "kvm-ppc.vger.kernel.org"


def _head(name, extra=b"", subject=None):
    mid = hashlib.sha1(name.encode()).hexdigest()[:16]
    subject = subject or ("Re: [PATCH] hostile shape " + name)
    return (b"From: Mallory <mallory@example.org>\n"
            b"To: kvm-ppc@vger.kernel.org\n"
            b"Subject: " + subject.encode() + b"\n"
            b"Date: Mon, 7 Dec 2026 10:00:00 +0000\n"
            b"Message-ID: <" + mid.encode() + b"@hostile.example>\n"
            b"In-Reply-To: <root@hostile.example>\n"
            b"List-Id: <" + LIST.encode() + b">\n"
            b"MIME-Version: 1.0\n" + extra)


def _fill(head, unit, tail, size):
    n = max(1, (size - len(head) - len(tail)) // len(unit))
    return head + unit * n + tail


def plain(size, name="plain"):
    head = _head(name, b"Content-Type: text/plain; charset=utf-8\n\n",
                 subject="Re: [PATCH] a plain reply")
    line = b"> quoted text of an earlier mail, as replies to patches have it.\n"
    return _fill(head, line, b"-- \nsig\n", size)


def _multipart(name, extra=b""):
    return _head(name, b"Content-Type: multipart/mixed; boundary=b\n" + extra + b"\n"
                 b"--b\nContent-Type: text/plain\n\nthe body\n")


# The parser's limits (include/pd_mime.h, include/pd_mail.h): a mail that
# reaches one is read in part and counted as malformed.
MAX_PARTS = 10000          # boundary lines passed
MAX_DEPTH = 16             # nested multiparts
MAX_VALUE = 16 * 1024      # a part's header value; a top-level header
MAX_PIECES = 256           # RFC 2231 pieces of one parameter


def shapes(size):
    """[(name, data, cut)]: cut tells whether the mail reaches one of the
    limits above and must be counted as malformed.  Top-level headers stay
    under Postfix's header_size_limit (100 KB): an MTA sends no longer."""
    out = []

    def add(name, data, cut=False):
        # boundary lines of the multipart at the top (b, or the deepest n100)
        lines = data.count(b"\n--b\n") + data.count(b"\n--n100\n")
        out.append((name, data, cut or lines > MAX_PARTS))

    add("empty-parts", _fill(_multipart("empty-parts"), b"--b\n", b"--b--\n", size))
    add("tiny-parts", _fill(_multipart("tiny-parts"), b"--b\n\nx\n", b"--b--\n", size))
    add("header-only-parts", _fill(_multipart("header-only-parts"),
                                   b"--b\nContent-Type: text/x-diff\n", b"--b--\n", size))

    # 100 nested multiparts, then parts at the bottom
    nest = b"".join(b"--n%d\nContent-Type: multipart/mixed; boundary=n%d\n\n" % (i, i + 1)
                    for i in range(100))
    head = _head("deep-nesting", b"Content-Type: multipart/mixed; boundary=n0\n\n") + nest
    add("deep-nesting", _fill(head, b"--n100\n\n", b"", size), cut=True)
    # the same boundary at every level
    head = _head("deep-same-boundary", b"Content-Type: multipart/mixed; boundary=b\n\n")
    add("deep-same-boundary", _fill(head, b"--b\nContent-Type: multipart/mixed; boundary=b\n\n",
                                    b"", size), cut=True)

    # 15 nested multiparts (under the walk's depth), then lines that look
    # like boundaries and are not
    nest = b"".join(b"--n%d\nContent-Type: multipart/mixed; boundary=n%d\n\n" % (i, i + 1)
                    for i in range(10, 25))
    head = _head("dash-lines", b"Content-Type: multipart/mixed; boundary=n10\n\n") + nest
    data = _fill(head + b"--n25\n\n", b"--x\n", b"", size)
    add("dash-lines", data, cut=data.count(b"\n--x\n") > 100000)
    add("short-part-headers", _fill(_multipart("short-part-headers") + b"--b\n", b"X:\n",
                                    b"\nx\n--b--\n", size), cut=size > 4 * 1000 + 2000)
    add("rfc822-parts", _fill(_multipart("rfc822-parts"),
                              b"--b\nContent-Type: message/rfc822\n\n"
                              b"From: a@b\nTo: c@d\nSubject: s\nContent-Type: multipart/mixed;"
                              b" boundary=z\n\n--z\n\nx\n--z--\n", b"--b--\n", size))

    charsets = [b"iso-8859-1", b"koi8-r", b"x-unknown-%d", b"shift_jis", b"utf-7", b"euc-kr",
                b"x-mac-roman", b"windows-1251", b"gb18030"]
    units = b"".join(b"--b\nContent-Type: text/plain; charset=" +
                     (c % i if b"%" in c else c) +
                     b"\nContent-Disposition: attachment; filename=t.txt\n\n\xe9\xe8\xe0 text\n"
                     for i, c in enumerate(charsets))
    add("rotating-charsets", _fill(_multipart("rotating-charsets"), units, b"--b--\n", size))

    head = _head("base64-short-lines", b"Content-Type: text/plain; charset=iso-8859-1\n"
                 b"Content-Transfer-Encoding: base64\n\n")
    add("base64-short-lines", _fill(head, b"QUFB\n", b"", size))

    # text bodies whose decoding is the work: soft line breaks, charsets
    # that take iconv's slow paths
    head = _head("qp-soft-breaks", b"Content-Type: text/plain; charset=iso-8859-2\n"
                 b"Content-Transfer-Encoding: quoted-printable\n\n")
    add("qp-soft-breaks", _fill(head, b"=E9=\n", b"", size))
    for cs, unit in ((b"utf-7", b"+AOkA6ADg- x\n"), (b"iso-2022-jp", b"\x1b$B$3$s\x1b(B x\n"),
                     (b"utf-16le", b"a\x00\n\x00"), (b"x-no-such-charset", b"\xe9\n")):
        name = "charset-" + cs.decode()
        head = _head(name, b"Content-Type: text/plain; charset=" + cs + b"\n\n")
        add(name, _fill(head, unit, b"", size))

    data = _fill(_multipart("part-header-lines") + b"--b\nContent-Type: application/octet-stream\n",
                 b"X-H: v\n", b"\nx\n--b--\n", size)
    add("part-header-lines", data, cut=data.count(b"\nX-H: v") > 1000)
    data = _fill(_multipart("part-header-folded") +
                 b"--b\nContent-Type: application/octet-stream;\n", b" x=y;\n", b"\nx\n--b--\n", size)
    add("part-header-folded", data, cut=len(data) - len(_multipart("part-header-folded")) > MAX_VALUE)

    pieces = b"".join(b" filename*%d*=%%41%%42;\n" % i for i in range(3000))
    add("rfc2231-pieces", _fill(_multipart("rfc2231-pieces"),
                                b"--b\nContent-Type: text/plain\nContent-Disposition: attachment;\n" +
                                pieces + b"\nx\n", b"--b--\n", size), cut=True)
    words = b"=?a?q?x" * 2000
    data = _fill(_multipart("rfc2047-params"),
                 b"--b\nContent-Type: text/plain; name=\"" + words + b"\"\n\nx\n", b"--b--\n", size)
    add("rfc2047-params", data, cut=data.count(words) * len(words) > 1024 * 1024)

    groups = b"g: " * 60000
    add("attached-nested-groups", _fill(_multipart("attached-nested-groups"),
                                        b"--b\nContent-Type: message/rfc822\n\nFrom: a@b\nTo: " +
                                        groups + b"\nSubject: s\n\nx\n", b"--b--\n", size))
    add("attached-2047-headers", _fill(_multipart("attached-2047-headers"),
                                       b"--b\nContent-Type: message/rfc822\n\nFrom: a@b\nSubject: " +
                                       b"=?a?q?x" * 30000 + b"\nTo: " + b"=?a?q?x" * 30000 +
                                       b"\n\nx\n", b"--b--\n", size))
    add("part-2047-headers", _fill(_multipart("part-2047-headers"),
                                   b"--b\nContent-Type: text/plain; charset=\"" +
                                   b"=?a?q?x" * 30000 + b"\"\nContent-Description: " +
                                   b"=?a?q?x" * 30000 + b"\n\nx\n", b"--b--\n", size), cut=True)

    head = _head("bad-trailers", b"Content-Type: text/plain\n\n")
    add("bad-trailers", _fill(head, b"Reviewed-by: " + b"<" * 40 + b"g: g: g: (((( \"x@\n",
                              b"", size))
    head = _head("many-good-trailers", b"Content-Type: text/plain\n\n")
    add("many-good-trailers", _fill(head,
                                    b"Reviewed-by: A Reviewer <a@example.org>\n", b"", size))

    # plain text, but lines by the million, of the kinds the classifier
    # looks at: empty, quoted, signature, diff and diffstat lines; as a
    # reply, a cover letter and a patch (whose commit message is cut out)
    for kind, subject in (("reply", None), ("cover", "[PATCH 0/2] hostile cover"),
                          ("patch", "[PATCH 1/2] hostile patch")):
        for unit_name, unit in (("empty", b"\n"), ("short", b"x\n"), ("quoted", b">\n"),
                                ("sig", b"-- \n"), ("dashes", b"--- a\n"),
                                ("diffstat", b" a | 1 +\n"), ("from", b"From: a@b\n")):
            name = "%s-%s-lines" % (kind, unit_name)
            hd = _head(name, b"Content-Type: text/plain\n\n", subject=subject)
            if kind != "reply":
                hd = hd.replace(b"In-Reply-To: <root@hostile.example>\n", b"")
            tail = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n" if kind == "patch" else b""
            add(name, _fill(hd, unit, tail, size))

    # at the top: long header lines (under 100 KB each), many of them
    head = _head("top-header-lines")
    add("top-header-lines", _fill(head, b"X-Spam: " + b"y" * 56 + b"\n", b"\nbody\n", size))
    head = _head("top-2047-subject", subject="=?a?q?x" * 13000)
    add("top-2047-subject", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    head = _head("top-nested-groups", b"Cc: " + b"g: " * 30000 + b"\n")
    head = head.replace(b"From: Mallory <mallory@example.org>", b"From: " + b"g: " * 30000)
    add("top-nested-groups", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    head = _head("many-references", b"References: " + b"<a@b> " * 15000 + b"\n")
    add("many-references", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    head = _head("re-subject", subject="Re: " * 20000 + "x")
    add("re-subject", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    head = _head("tag-subject", subject="[PATCH x] " * 9000 + "x")
    add("tag-subject", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    head = _head("long-message-id").replace(b"Message-ID: <", b"Message-ID: <" + b"x" * 90000)
    add("long-message-id", _fill(head + b"\n", b"body line\n", b"", size), cut=True)
    add("one-long-line", _fill(_head("one-long-line", b"\n"), b"x", b"\n", size))
    return out


def parser_only_shapes(size):
    """[(name, data)]: shapes for the parser alone ("patchdigest classify"):
    through a milter each of their header lines is a packet of its own,
    which libmilter reads at some 20 us apiece before the end of message."""
    head = _head("top-tiny-headers")
    return [("top-tiny-headers", _fill(head, b"X:\n", b"\nbody\n", size)),
            ("top-tiny-folded", _fill(head + b"X-Folded: a\n", b" b\n", b"\nbody\n", size))]


def measure(feeder, sock, workdir, size, rounds=3):
    """Feed every shape and a plain mail of the same size through the
    milter at unix socket sock, on one connection, plain and shape in turn,
    rounds times (the same files again: duplicates, parsed and journalled
    like the first).  Returns [(name, plain_ms, shape_ms, answer)], the
    minimum over the rounds of the time from end of message to the answer,
    the plain mail's taken next to each shape; answer is the shape's last
    answer ("accept" expected)."""
    import os
    import subprocess
    os.makedirs(workdir, exist_ok=True)
    names = []
    order = []
    for name, data, _ in shapes(size):
        path = os.path.join(workdir, name + ".eml")
        with open(path, "wb") as f:
            f.write(data)
        names.append(name)
    ppath = os.path.join(workdir, "plain.eml")
    with open(ppath, "wb") as f:
        f.write(plain(size))
    for _ in range(rounds):
        for name in names:
            order += [ppath, os.path.join(workdir, name + ".eml")]
    listfile = os.path.join(workdir, "order.list")
    with open(listfile, "w") as f:
        f.write("".join(x + "\n" for x in order))
    out = os.path.join(workdir, "results.tsv")
    subprocess.run([feeder, "-s", "unix:" + sock, "-j", "1", "-m", "1000", "-t", "60",
                    "-l", listfile, "-o", out], capture_output=True, text=True)
    rows = []
    with open(out) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows.append((parts[0], parts[1], int(parts[2]) / 1000.0))
    res = {}
    for i in range(0, len(rows) - 1, 2):
        p, s = rows[i], rows[i + 1]
        name = os.path.basename(s[0])[:-4]
        best = res.get(name)
        if best is None:
            res[name] = [p[2], s[2], s[1]]
        else:
            best[0] = min(best[0], p[2])
            best[1] = min(best[1], s[2])
            best[2] = s[1]
    return [(n, res[n][0], res[n][1], res[n][2]) for n in names if n in res]


def within_bound(plain_ms, shape_ms):
    """The issue's bound: 3x the plain mail's time, plus 50 ms."""
    return shape_ms <= 3 * plain_ms + 50


if __name__ == "__main__":
    import os
    import sys
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, data, _ in shapes(size) + [("plain", plain(size), False)]:
        with open(os.path.join(d, name + ".eml"), "wb") as f:
            f.write(data)
