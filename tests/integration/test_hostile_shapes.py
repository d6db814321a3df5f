#!/usr/bin/env python3
"""No mail waits on crafted MIME (issue 16).

Every shape of tests/hostile_shapes.py (hundreds of thousands of empty or
tiny parts, deep nesting, attached messages with hostile headers, RFC 2231
and 2047 pieces, header lines by the hundred thousand, trailer lines that do
not parse, ...) is fed through a real milter next to a plain text mail of the
same size, three times each, on one connection:
- each is answered ACCEPT within 3x the plain mail's time plus 50 ms
  (the minimum of three answers each, taken side by side);
- each is recorded once (the list's mails count grows by one per distinct
  mail, the rest are duplicates);
- the shapes the walk reads only in part are counted as malformed;
- the milter is still up, and so is an attached message whose To: nests
  350,000 address groups, the shape that killed it with SIGSEGV.

PD_SHAPE_SIZE sets the size (default 2 MiB here, 256 KiB under make
sanitize; make bench uses 6 MB).
"""
import os
import subprocess
import sys
import time

import pdtest
from pdtest import result

sys.path.insert(0, os.path.join(pdtest.ROOT, "tests"))
import hostile_shapes  # noqa: E402

# Under "make sanitize" (PD_SANITIZED=1) ASan checks the whole rest of the
# buffer at each memmem() and strstr() call, which makes the scans quadratic
# there and not in the real build: the shapes are smaller, every check but
# the times is made, and the times are listed as skipped.
SANITIZED = bool(os.environ.get("PD_SANITIZED"))
SIZE = int(os.environ.get("PD_SHAPE_SIZE", (256 << 10) if SANITIZED else (2 << 20)))
NO_TIMES = "times under ASan are not the product's (its memmem and strstr check the rest of the buffer at each call)"


def timed(ok_time, ok_rest, name, detail):
    """A check of an answer time (not made under the sanitizers: one skip
    line at the end says so) and of everything else about the same mail."""
    if SANITIZED:
        result(ok_rest, name.replace(" within 3x a plain mail + 50 ms", ""), detail)
    else:
        result(ok_time and ok_rest, name, detail)


def malformed(env):
    s = env.stats()
    return (s or {}).get("milter", {}).get("parse_failures")


def main():
    env = pdtest.Env()
    try:
        milter = env.start_milter()
        sock = os.path.join(env.dir, "milter.sock")
        feeder = os.path.join(pdtest.BUILD, "tests", "feeder")
        rows = hostile_shapes.measure(feeder, sock, os.path.join(env.dir, "shapes"), SIZE)
        all_shapes = hostile_shapes.shapes(SIZE)
        names = [n for n, _, _ in all_shapes]
        cut = [n for n, _, c in all_shapes if c]
        result(len(rows) == len(names), "every shape was fed (%d)" % len(names),
               "fed %d of %d" % (len(rows), len(names)))
        for name, plain_ms, shape_ms, answer in rows:
            print("# %-24s plain %7.1f ms  shape %7.1f ms  ratio %.2f" %
                  (name, plain_ms, shape_ms, shape_ms / max(plain_ms, 0.001)))
            timed(hostile_shapes.within_bound(plain_ms, shape_ms), answer == "accept",
                  "%s answered within 3x a plain mail + 50 ms" % name,
                  "answer %s after %.1f ms; plain %.1f ms" % (answer, shape_ms, plain_ms))

        # recorded once each: distinct mails are the shapes and the plain one
        distinct = len(names) + 1
        fed = 3 * 2 * len(names)
        st = env.wait_recorded(fed, timeout=60)
        result(st is not None and st["mails"] == distinct and
               st["mails"] + st["duplicates"] == fed,
               "each shape recorded once (%d mails, the rest duplicates)" % distinct,
               "stats: %s" % (st and {k: st[k] for k in ("mails", "duplicates")}))

        # the shapes that reach a limit are counted as malformed, 3 rounds
        # of each, and no other
        want = 3 * len(cut)
        pdtest.wait_for(lambda: (malformed(env) or 0) >= want, 5)
        result(malformed(env) == want,
               "the %d shapes read in part are counted as malformed" % len(cut),
               "parse_failures %s, want %d (%s)" % (malformed(env), want, " ".join(cut)))

        # "patchdigest classify" and "import" share the parser: the same
        # bound, process start included on both sides
        shapes_dir = os.path.join(env.dir, "shapes")
        plain_path = os.path.join(shapes_dir, "plain.eml")

        def run_ms(*args):
            best = None
            for _ in range(2):
                t = time.monotonic()
                r = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest")] + list(args),
                                   capture_output=True)
                ms = 1000 * (time.monotonic() - t)
                best = ms if best is None or ms < best else best
            return best, r.returncode

        plain_ms, _ = run_ms("classify", plain_path)
        slow, failed = [], []
        parser_only = []
        for name, data in hostile_shapes.parser_only_shapes(SIZE):
            with open(os.path.join(shapes_dir, name + ".eml"), "wb") as f:
                f.write(data)
            parser_only.append(name)
        for name in names + parser_only:
            ms, rc = run_ms("classify", os.path.join(shapes_dir, name + ".eml"))
            if rc != 0:
                failed.append("%s: exit %d" % (name, rc))
            if not hostile_shapes.within_bound(plain_ms, ms):
                slow.append("%s: %.1f ms" % (name, ms))
        timed(not slow, not failed, "patchdigest classify: every shape within 3x a plain mail + 50 ms",
              "plain %.1f ms\n%s" % (plain_ms, "\n".join(failed + slow)))
        r = env.cli("import", "--list", pdtest.LIST_ID, plain_path,
                    *[os.path.join(shapes_dir, n + ".eml") for n in names])
        st = env.stats()["lists"][0]
        result(r.returncode == 0 and st["mails"] == distinct,
               "patchdigest import of the shapes: each the same Message-ID as through the milter",
               "exit %d, mails %d: %s" % (r.returncode, st["mails"], r.stderr[-500:]))

        # the SIGSEGV shape, at its size: 350,000 nested groups in an
        # attached message's To:
        path = os.path.join(env.dir, "groups.eml")
        with open(path, "wb") as f:
            f.write(hostile_shapes._head("segv-groups",
                                         b"Content-Type: multipart/mixed; boundary=b\n\n") +
                    b"--b\nContent-Type: message/rfc822\n\nFrom: a@b\nTo: " +
                    b"g: " * 350000 + b"\nSubject: s\n\nx\n--b--\n")
        r = env.feed([path])
        result(r.get("accepted") == "1" and milter.poll() is None,
               "an attached message nesting 350,000 address groups: answered, milter up",
               "feeder %s, milter exit %s" % (r, milter.poll()))
    finally:
        env.close()
    if SANITIZED:
        pdtest.skip("every answer time within 3x a plain mail + 50 ms", NO_TIMES)
    pdtest.finish()


if __name__ == "__main__":
    main()
