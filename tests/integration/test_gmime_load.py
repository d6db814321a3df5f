#!/usr/bin/env python3
"""GMime is loaded when first needed (milter/gmime.c, pd_gmime.h).

patchdigest and patchdigest-milter are not linked with GMime: a process
loads it the first time a mail needs it, and most mail does not (plain
text, well-formed quoted-printable and base64 in UTF-8, ASCII or a charset
of pd_charset.h, the common address forms).  What import records with GMime
loaded in the middle must be what the independent reference counts.  A GMime
that cannot be loaded (here: a library of its name without its functions,
found first through LD_LIBRARY_PATH) stops the milter at start with the
reason, fails an import at the first mail that needs it with the reason, and
does not stop an import of mail that does not need it, the corpus's mail in
ISO-8859-1, Windows-1251 and -1252 and ISO-2022-JP included.
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


def charset(head):
    m = re.search(rb'(?is)^content-type:[^\n]*(?:\n[ \t][^\n]*)*?charset="?([A-Za-z0-9_.:-]+)', head,
                  re.M)
    return m.group(1).lower() if m else None


def converted(head):
    """Its text is in a charset other than UTF-8 or ASCII."""
    cs = charset(head)
    return cs is not None and cs not in (b"utf-8", b"us-ascii")


def transfer_encoded(head):
    return re.search(rb"(?im)^content-transfer-encoding:\s*(quoted-printable|base64)", head)


def without_gmime(data, head):
    """Mail patchdigest reads without GMime: ASCII headers without encoded
    words, a From of a name (quoted or not) and one <address>, text in UTF-8
    or ASCII (quoted-printable or not), and no "Key: value" line in the body
    with an encoded word or an odd address."""
    frm = re.search(rb"(?im)^from:[ \t]*(.*)$", head)
    return (all(b < 0x80 for b in head) and b"=?" not in head and frm and
            re.match(rb'^("[^"\\]*"|[^"()<>,;:\\@]*) *<[A-Za-z0-9.+_-]+@[A-Za-z0-9.-]+>\s*$',
                     frm.group(1)) and
            charset(head) in (None, b"utf-8", b"us-ascii") and
            not re.search(rb"(?im)^content-type:\s*multipart", head) and
            not re.search(rb'(?m)^[ \t]*[A-Za-z-]+:[^\n]*(=\?|\\|\(|\[)', data[len(head):]))


files = pdtest.corpus_files()
coded = [f for f in files if converted(header_block(f)[1])]
plain = [f for f in files if without_gmime(*header_block(f))]
qp = [f for f in plain if transfer_encoded(header_block(f)[1])]
quoted = [f for f in plain if re.search(rb'(?im)^from:[ \t]*"', header_block(f)[1])]

# 1. not linked with GMime or GLib
for b in BINS:
    r = subprocess.run(["readelf", "-d", os.path.join(pdtest.BUILD, b)],
                       capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", r.stdout)
    result(r.returncode == 0 and needed and
           not [n for n in needed if re.match(r"lib(gmime|glib|gobject|gio)", n)],
           "%s is not linked with GMime or GLib (it loads GMime when first needed)" % b,
           needed)

tmp = tempfile.mkdtemp(prefix="pd-gmime.")


def made_mail(name, frm, subj, charset=None, body=b"Text.\n"):
    """A mail written to tmp; its text in charset (8bit) when given."""
    path = os.path.join(tmp, name)
    ct = (b"MIME-Version: 1.0\nContent-Type: text/plain; charset=%s\n"
          b"Content-Transfer-Encoding: 8bit\n" % charset.encode()) if charset else b""
    with open(path, "wb") as f:
        f.write(("From: %s\nTo: kvm-ppc@vger.kernel.org\nSubject: %s\n"
                 "Date: Mon, 7 Dec 2026 10:00:00 +0000\nMessage-ID: <%s@b.example>\n"
                 % (frm, subj, name)).encode() + ct + b"\n" + body)
    return path


# text GMime converts: GB2312 (GMime reads it as GBK), Windows-1252 with a
# byte it does not define
gb = made_mail("gb.eml", "A B <a@b.example>", "[PATCH] gb", "gb2312", "\u4f60\u597d\n".encode("gb2312"))
cp = made_mail("cp.eml", "C D <c@d.example>", "[PATCH 2/2] cp", "windows-1252", b"caf\xe9 \x81\n")
env = pdtest.Env()
try:
    # 2. GMime loaded by the first mail that needs it, and again later
    order = [gb] + plain[:300] + coded + [cp] + plain[300:400]
    conf = env.write_conf("order.conf", "unused.sock", "journal2", [(pdtest.LIST_ID, "KVM-PPC")],
                          "KeyPrefix o:\n")
    r = env.cli("import", "--list", pdtest.LIST_ID, *order, conf=conf)
    got = env.stats(conf)
    diffs = pdtest.compare(got["lists"][0] if got else {}, pdtest.reference_stats(order))
    result(len(coded) >= 30 and r.returncode == 0 and not diffs,
           "import of %d mails, the first in GB2312 (GMime loaded for it), %d of the corpus "
           "in other charsets, equals the independent reference" % (len(order), len(coded)),
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
        some = qp[:20] + quoted[:20] + plain[:60] + coded
        i = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                            pdtest.LIST_ID] + some + ["-c", conf3],
                           capture_output=True, text=True, env=bad, timeout=120)
        s = env.stats(conf3)
        diffs = pdtest.compare(s["lists"][0] if s else {}, pdtest.reference_stats(some))
        sets = sorted({charset(header_block(f)[1]).decode() for f in coded})
        result(len(qp) >= 20 and len(quoted) >= 20 and len(coded) >= 30 and i.returncode == 0
               and "recorded" in i.stderr and not diffs,
               "without a usable GMime, import records mail that does not need it: %d in "
               "quoted-printable UTF-8, %d from a quoted name, %d others, %d in %s, as the "
               "reference counts them" % (len(qp[:20]), len(quoted[:20]), len(plain[:60]),
                                          len(coded), ", ".join(sets)),
               "exit %s: %s\n%s" % (i.returncode, i.stderr[-1000:], "\n".join(diffs)))
        i = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                            pdtest.LIST_ID] + plain[60:70] + [cp] + ["-c", conf3],
                           capture_output=True, text=True, env=bad, timeout=120)
        result(i.returncode == 1 and "has no g_mime_init" in i.stderr,
               "without a usable GMime, import stops at a mail that needs it and says why",
               "exit %s: %s" % (i.returncode, i.stderr[-1000:]))
        # mails that need GMime only for a header: an encoded word in
        # GB2312, a name with an escaped quote; with GMime they import,
        # without it they must not be recorded with less read
        made = [made_mail("subject.eml", "A B <a@b.example>", "=?gb2312?b?xOO6ww==?= [PATCH] x"),
                made_mail("from.eml", '"J \\"x\\" S" <j@b.example>', "[PATCH] y")]
        conf4 = env.write_conf("hdr.conf", "unused.sock", "journal4",
                               [(pdtest.LIST_ID, "KVM-PPC")], "KeyPrefix hdr:\n")
        for path in made:
            g = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                                pdtest.LIST_ID, path, "-c", conf4],
                               capture_output=True, text=True, timeout=60)
            i = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "import", "--list",
                                pdtest.LIST_ID, path, "-c", conf3],
                               capture_output=True, text=True, env=bad, timeout=60)
            result(g.returncode == 0 and i.returncode == 1 and "has no g_mime_init" in i.stderr
                   and "0 recorded" in i.stderr,
                   "a mail that needs GMime for a header only (%s): imported with it; without "
                   "it, not recorded, and the reason said" % os.path.basename(path),
                   "with: exit %s %s; without: exit %s %s" % (g.returncode, g.stderr[-500:],
                                                             i.returncode, i.stderr[-500:]))
        # classify reports such a mail as it reports an unreadable file
        c = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest"), "classify"] + made +
                           plain[:3], capture_output=True, text=True, env=bad, timeout=60)
        printed = [l.split("\t")[0] for l in c.stdout.splitlines()]
        result(c.returncode == 1 and printed == plain[:3] and
               c.stderr.count("has no g_mime_init") == len(made),
               "without a usable GMime, classify reports each mail that needs it, prints the "
               "rest and exits 1", "exit %s: %s %s" % (c.returncode, c.stdout, c.stderr))
finally:
    env.close()
    shutil.rmtree(tmp, ignore_errors=True)
