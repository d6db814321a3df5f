#!/usr/bin/env python3
"""GMime is loaded when first needed (milter/gmime.c, pd_gmime.h).

patchdigest and patchdigest-milter are not linked with GMime; import loads
it on a thread of its own and holds the mails that need it, and the records
of the mails after them, until it is loaded: what it records must be what
the independent reference counts, in the order read (the chain head).  A
GMime that cannot be loaded (here: a library of its name without its
functions, found first through LD_LIBRARY_PATH) stops the milter at start
with the reason, fails an import at the first mail that needs it with the
reason, and does not stop an import of mail that does not need it.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pdtest
from pdtest import result

BINS = ("patchdigest", "patchdigest-milter")


def header_block(path):
    with open(path, "rb") as f:
        data = f.read()
    end = data.find(b"\n\n")
    return data, data[:end if end >= 0 else len(data)]


def needs_decoding(head):
    """Its text is in quoted-printable or base64 (GMime decodes it)."""
    return re.search(rb"(?im)^content-transfer-encoding:\s*(quoted-printable|base64)", head)


def plain(data, head):
    """Mail read without GMime: ASCII headers without encoded words, a From
    of the common forms, text in 7bit or 8bit UTF-8 or ASCII, and no
    trailer or other "Key: value" line of the body with a quoted name or an
    encoded word."""
    frm = re.search(rb"(?im)^from:[ \t]*(.*)$", head)
    ct = re.search(rb"(?im)^content-type:[ \t]*(.*)$", head)
    body = data[len(head):]
    return (all(b < 0x80 for b in head) and b"=?" not in head and frm and
            re.match(rb'^[^"()<>,;:\\]*<[^<>"()]+>\s*$', frm.group(1)) and
            not re.search(rb"(?im)^content-transfer-encoding:\s*(quoted|base64|x-uu|uu)", head)
            and (not ct or re.match(rb'(?i)text/plain;\s*charset="?(us-ascii|utf-8)"?\s*$',
                                    ct.group(1))) and
            not re.search(rb'(?m)^[ \t]*[A-Za-z-]+:[^\n]*("|=\?)', body))


files = pdtest.corpus_files()
coded = [f for f in files if needs_decoding(header_block(f)[1])]
simple = [f for f in files if plain(*header_block(f))]

# 1. not linked with GMime or GLib
for b in BINS:
    r = subprocess.run(["readelf", "-d", os.path.join(pdtest.BUILD, b)],
                       capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", r.stdout)
    result(r.returncode == 0 and needed and
           not [n for n in needed if re.match(r"lib(gmime|glib|gobject|gio)", n)],
           "%s is not linked with GMime or GLib (it loads GMime when first needed)" % b,
           needed)

SLOW_DLOPEN = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <time.h>
void *dlopen(const char *file, int flags)
{
    void *(*real)(const char *, int) = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    if (file && strstr(file, "libgmime")) {
        struct timespec t = { 0, 500000000 };
        nanosleep(&t, NULL);
    }
    return real(file, flags);
}
"""

tmp = tempfile.mkdtemp(prefix="pd-gmime.")
env = pdtest.Env()
try:
    # 2. a mail that needs GMime first: held until GMime is loaded, with
    # the records of the mails after it, and recorded in the order read.
    # GMime loads in a few milliseconds; for the hold to be certain, a
    # dlopen() put in front of libc's (LD_PRELOAD) takes half a second
    # before it opens GMime.
    order = [coded[0]] + simple[:300] + [coded[1]] + simple[300:400] + coded[2:6]
    want = pdtest.reference_stats(order)
    with open(os.path.join(tmp, "slow.c"), "w") as f:
        f.write(SLOW_DLOPEN)
    c = subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(tmp, "slow.so"),
                        os.path.join(tmp, "slow.c"), "-ldl"], capture_output=True, text=True)
    for slow in (False, True):
        conf = env.write_conf("debug%d.conf" % slow, "unused.sock", "journal2",
                              [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix s%d:\n" % slow)
        with open(conf) as f:
            text = f.read().replace("LogLevel info", "LogLevel debug")
        with open(conf, "w") as f:
            f.write(text)
        run_env = dict(os.environ)
        if slow:
            if c.returncode != 0:
                pdtest.skip("import holds mails while GMime loads", "cc failed: " + c.stderr)
                continue
            run_env["LD_PRELOAD"] = os.path.join(tmp, "slow.so")
            # under ASan its runtime must come first; the preload only wraps dlopen
            run_env["ASAN_OPTIONS"] = (run_env.get("ASAN_OPTIONS", "") +
                                       ":verify_asan_link_order=0").lstrip(":")
        r = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                            pdtest.LIST_ID] + order + ["-c", conf],
                           capture_output=True, text=True, env=run_env, timeout=300)
        held = [tuple(map(int, m)) for m in re.findall(
            r"(\d+) mails that need GMime and (\d+) records of the mails after them", r.stderr)]
        if slow:
            result(r.returncode == 0 and held and held[0][0] >= 1 and held[0][1] >= 1,
                   "import: a first mail that needs GMime waits for it to load, and the "
                   "records of the mails after it with it (mails, records held: %s)" % held,
                   r.stderr[-2000:])
        got = env.stats(conf)
        diffs = pdtest.compare(got["lists"][0] if got else {}, want)
        result(r.returncode == 0 and not diffs,
               "what import recorded%s equals the independent reference (%d mails; the "
               "chain head follows the order read)" % (
                   ", GMime slow to load," if slow else "", len(order)),
               r.stderr[-1000:] + "\n".join(diffs))

    # 3. a GMime that cannot be loaded
    lib = os.path.join(tmp, "libgmime-3.0.so.0")
    c = subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, "-x", "c", "/dev/null"],
                       capture_output=True, text=True)
    if c.returncode != 0:
        pdtest.skip("a GMime that cannot be loaded", "cc failed: " + c.stderr)
    else:
        bad = dict(os.environ, LD_LIBRARY_PATH=tmp)
        m = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest-milter"), "-f", "-c",
                            env.conf], capture_output=True, text=True, env=bad, timeout=30)
        result(m.returncode == 1 and "has no g_mime_init" in m.stderr and
               not os.path.exists(os.path.join(env.dir, "milter.sock")),
               "patchdigest-milter does not start without a usable GMime, and says why",
               "exit %s: %s" % (m.returncode, m.stderr[-1000:]))
        conf3 = env.write_conf("bad.conf", "unused.sock", "journal3",
                               [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix bad:\n")
        i = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                            pdtest.LIST_ID] + simple[:50] + ["-c", conf3],
                           capture_output=True, text=True, env=bad, timeout=120)
        s = env.stats(conf3)
        result(i.returncode == 0 and s and s["lists"][0]["mails"] == 50,
               "without a usable GMime, import records mail that does not need it",
               "exit %s: %s %s" % (i.returncode, i.stderr[-1000:], s))
        i = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                            pdtest.LIST_ID] + simple[50:60] + coded[:1] + ["-c", conf3],
                           capture_output=True, text=True, env=bad, timeout=120)
        result(i.returncode == 1 and "has no g_mime_init" in i.stderr,
               "without a usable GMime, import stops at a mail that needs it and says why",
               "exit %s: %s" % (i.returncode, i.stderr[-1000:]))
finally:
    env.close()
    shutil.rmtree(tmp, ignore_errors=True)
