#!/usr/bin/env python3
"""test_hostile.py once more with every milter, and the flush and import it
runs, under valgrind memcheck (PD_VALGRIND=1): the corpus fixtures, hostile
mail, malformed milter packets and 200 corpus posts; any memory error or
definite leak fails (suppressions: tests/valgrind-milter.supp).  It takes
about half a minute, so "make check" runs it; "make valgrind" runs only it.

Skipped when valgrind is not installed ("make valgrind" installs it) and for
a sanitizer build (valgrind cannot run AddressSanitizer binaries)."""
import os
import shutil
import subprocess
import sys

import pdtest

milter = os.path.join(pdtest.BUILD, "patchdigest-milter")
with open(milter, "rb") as f:
    asan = b"__asan_init" in f.read()
if asan or not shutil.which("valgrind"):
    pdtest.skip("valgrind: test_hostile.py under valgrind memcheck",
                "sanitizer build (valgrind cannot run AddressSanitizer binaries)" if asan else
                "valgrind is not installed (make deps installs it)")
    sys.exit(0)
r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "test_hostile.py")],
                   env=dict(os.environ, PD_VALGRIND="1"), stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
for line in r.stdout.splitlines():
    for tag in ("ok - ", "not ok - "):
        if line.startswith(tag):
            line = tag + "valgrind: " + line[len(tag):]
            break
    print(line, flush=True)
if r.returncode != 0 and "\nnot ok " not in "\n" + r.stdout:
    print("not ok - valgrind: test_hostile.py ran to its end (exit %d)" % r.returncode)
sys.exit(r.returncode)
