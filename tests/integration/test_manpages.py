#!/usr/bin/env python3
"""The man pages of packaging/man: they format without a groff warning, and
they keep up with the code: every configuration key of milter/config.c is a
parameter of patchdigest.conf(5) (and every parameter there is a key), every
long option and command of milter/cli.c is in patchdigest(1), every option
of milter/milter.c is in patchdigest-milter(8).  Needs no build and no
Redis."""
import os
import re
import shutil
import subprocess

import pdtest
from pdtest import result

ROOT = pdtest.ROOT
MAN = os.path.join(ROOT, "packaging", "man")
PAGES = ("patchdigest-milter.8", "patchdigest.1", "patchdigest.conf.5")


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def c_block(src, start_re):
    """The text between the "{" after start_re and the "};" closing it."""
    m = re.search(start_re + r"\s*=\s*\{(.*?)\};", src, re.S)
    return m.group(1) if m else ""


def section(page, name):
    """The source lines of one .SH section of a page."""
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH |\Z)" % re.escape(name), page, re.S | re.M)
    return m.group(1) if m else ""


def headings(text):
    """The first word of each top-level .TP tag (not those inside .RS/.RE)."""
    out, depth, lines = [], 0, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".RS"):
            depth += 1
        elif line.startswith(".RE"):
            depth -= 1
        elif line == ".TP" and depth == 0 and i + 1 < len(lines):
            m = re.match(r'\.B[IR]?\s+"?([A-Za-z][\w.]*)', lines[i + 1])
            if m:
                out.append(m.group(1))
    return out


def body(page):
    """The page without its comment lines."""
    return "\n".join(l for l in page.splitlines() if not l.startswith('.\\"'))


pages = {}
for name in PAGES:
    path = os.path.join(MAN, name)
    ok = os.path.isfile(path)
    result(ok, "%s exists" % name, path)
    if ok:
        pages[name] = read("packaging", "man", name)

# ---- each page: its header, no groff warning, no path of this machine ----

m = re.search(r"^VERSION\s*:?=\s*(\S+)", read("Makefile"), re.M)
version = m.group(1) if m else None
groff = shutil.which("groff")
for name, page in pages.items():
    section_no = name.rsplit(".", 1)[1]
    th = re.search(r"^\.TH\s+(\S+)\s+(\S+)\s+\"[^\"]*\"\s+\"([^\"]*)\"", page, re.M)
    want = "patchdigest %s" % version if version else "patchdigest "
    result(th is not None and th.group(2) == section_no and th.group(3).startswith(want),
           "%s: .TH gives section %s and \"%s\"" % (name, section_no, want),
           th.group(0) if th else "no .TH line")
    if groff:
        p = subprocess.run([groff, "-ww", "-man", "-Tutf8", "-z", os.path.join(MAN, name)],
                           capture_output=True, text=True)
        result(p.returncode == 0 and not p.stdout and not p.stderr,
               "%s: groff -ww -man formats it without a warning" % name,
               "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    else:
        pdtest.skip("%s: groff -ww -man formats it without a warning" % name,
                    "groff is not installed (make deps installs groff-base)")
    local = [d for d in (ROOT, os.path.dirname(ROOT)) if d not in ("", "/") and d in page]
    result(not local, "%s: names no path of the build machine" % name, local)
    # options and their like must be typed as \- : an unescaped "-x" or "--" after a blank
    bad = [l for l in body(page).splitlines()
           if re.search(r"(?:^|[\s\[(|])(?<!\\)-(?:-|[A-Za-z])", l)]
    result(not bad, "%s: every option hyphen is written \\-" % name, "\n".join(bad[:10]))
    see = section(page, "SEE ALSO")
    missing = []
    for other in PAGES:
        title, sec = other.rsplit(".", 1)
        if other != name and not re.search(r"^\.BR %s \(%s\)" % (re.escape(
                title.replace("-", "\\-")), sec), see, re.M):
            missing.append("%s(%s)" % (title, sec))
    result(not missing, "%s: SEE ALSO names the other two pages" % name, missing)

# ---- patchdigest.conf(5): every key of config.c, and nothing else ----

config_c = read("milter", "config.c")
keys = re.findall(r'"([^"]+)"', c_block(config_c, r"key_names\s*\[[^\]]*\]"))
result(len(keys) >= 3, "config.c's key_names table parses (%d keys)" % len(keys))
conf5 = pages.get("patchdigest.conf.5", "")
documented = headings(section(conf5, "PARAMETERS"))
missing = [k for k in keys if k not in documented]
result(keys and not missing,
       "patchdigest.conf(5) documents every key of config.c (%d)" % len(keys),
       "not in PARAMETERS: %s" % " ".join(missing))
extra = [k for k in documented if k not in keys]
result(not extra, "patchdigest.conf(5) documents no key config.c does not know",
       " ".join(extra))

# ---- patchdigest(1): every long option and every command of cli.c ----

cli_c = read("milter", "cli.c")
longopts = re.findall(r'\{\s*"([^"]+)"', c_block(cli_c, r"longopts\s*\[\s*\]"))
result(len(longopts) >= 3, "cli.c's longopts table parses (%d options)" % len(longopts))
man1 = body(pages.get("patchdigest.1", ""))
missing = [o for o in longopts
           if not re.search(r"\\-\\-%s(?!\w|\\-)" % re.escape(o.replace("-", "\\-")), man1)]
result(longopts and not missing,
       "patchdigest(1) names every long option of cli.c (%d)" % len(longopts),
       "missing: %s" % " ".join("--" + o for o in missing))
known = set(longopts) | set(re.findall(r'"--([a-z][a-z-]*)"', cli_c))
ref_part = "".join(section(man1, s) for s in ("SYNOPSIS", "COMMANDS", "OPTIONS"))
unknown = sorted(set(n.replace("\\-", "-") for n in
                     re.findall(r"\\-\\-([a-z]+(?:\\-[a-z]+)*)", ref_part)) - known)
result(not unknown, "patchdigest(1) offers no long option cli.c does not know",
       " ".join(unknown))
commands = re.findall(r'strcmp\(cmd, "([a-z]+)"\) == 0\)\s*return cmd_', cli_c)
synopsis = section(man1, "SYNOPSIS")
listed = headings(section(man1, "COMMANDS"))
missing = [c for c in commands if c not in listed or ".B patchdigest %s" % c not in synopsis]
result(commands and not missing,
       "patchdigest(1) gives every command of cli.c a synopsis line and an entry (%s)"
       % " ".join(commands), "missing: %s" % " ".join(missing))

# ---- patchdigest-milter(8): every option of milter.c's getopt ----

milter_c = read("milter", "milter.c")
m = re.search(r'getopt\(argc, argv, "([^"]+)"\)', milter_c)
letters = re.sub(r"[^A-Za-z]", "", m.group(1)) if m else ""
man8 = pages.get("patchdigest-milter.8", "")
options = section(man8, "OPTIONS")
missing = [c for c in letters if "\\-%s" % c not in section(man8, "SYNOPSIS") or
           not re.search(r"^\.BI? \\-%s\b" % c, options, re.M)]
result(letters and not missing,
       "patchdigest-milter(8) gives every option of milter.c (%s) a synopsis and an entry"
       % " ".join("-" + c for c in letters), "missing: %s" % " ".join(missing))

pdtest.finish()
