#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/fuzz_*.c).

    tests/fuzz/mkseeds.py OUTDIR

Run from the top of the source tree (make fuzz does).  Fills OUTDIR/mail,
OUTDIR/subject, OUTDIR/journal and OUTDIR/config, each emptied first, from
the shared mail corpus (../shared/corpus next to the repository, or
$PD_CORPUS) and from conf/patchdigest.conf.  Seeds are named by the SHA-1 of
their content, as libFuzzer names what it adds.
"""
import hashlib
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.environ.get("PD_CORPUS") or os.path.join(os.path.dirname(ROOT), "shared", "corpus")
KVMPPC = os.path.join(CORPUS, "kvm-ppc.vger.kernel.org.0", "eml")
MAIL_SAMPLE = 200

sys.path.insert(0, os.path.join(ROOT, "tests"))
import hostile_shapes  # noqa: E402


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def put(outdir, data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def mail_files():
    """A spread-out sample of the kvm-ppc mails, then every fixture file."""
    eml = sorted(os.listdir(KVMPPC))
    step = max(1, len(eml) // MAIL_SAMPLE)
    files = [os.path.join(KVMPPC, n) for n in eml[::step][:MAIL_SAMPLE]]
    extra = [os.path.join(CORPUS, "kvm-2021-03")]
    fixtures = os.path.join(CORPUS, "fixtures")
    for top in extra + [fixtures]:
        for d, _, names in sorted(os.walk(top)):
            files += [os.path.join(d, n) for n in sorted(names)]
    return files


def all_mails():
    for d, _, names in sorted(os.walk(CORPUS)):
        if "domain-maps" in d:
            continue
        for n in sorted(names):
            if n.endswith((".eml", ".mbox")) or "t5100" in d:
                yield os.path.join(d, n)


def subjects(data):
    """Every Subject header value of a mail or mbox, folded lines kept."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines):
        if lines[i][:8].lower() == b"subject:":
            v = [lines[i][8:].lstrip(b" \t")]
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                v.append(lines[i])
                i += 1
            yield b"\n".join(v).rstrip(b"\r\n")
        else:
            i += 1


# ---- journal: the frame format of milter/journal.c ----

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(payload):
    return b"PDJ1" + struct.pack("<II", len(payload), crc32c(payload)) + payload


FIELDS = 21   # PD_F_COUNT in include/pd_record.h


def record(mid, cls, subject, title, name="A U Thor", addr="author@example.org", version="",
           index="", total="", extra=b""):
    f = [b""] * FIELDS
    f[0] = b"1"
    f[1] = b"kvm-ppc.vger.kernel.org"
    f[2] = mid.encode()
    f[3] = cls.encode()
    f[4], f[5], f[6] = version.encode(), index.encode(), total.encode()
    f[7], f[8] = name.encode(), addr.encode()
    f[9], f[10] = subject.encode(), title.encode()
    f[11] = ("%s <%s>" % (name, addr)).encode()
    f[12] = mid.encode()
    f[16] = b"1700000000"
    f[18] = extra
    return struct.pack("<H", FIELDS) + b"".join(struct.pack("<I", len(x)) + x for x in f)


def journal_seeds():
    recs = [
        record("20231114.1@example.org", "patch", "[PATCH v2 1/3] KVM: PPC: fix",
               "KVM: PPC: fix", version="2", index="1", total="3",
               extra=b"Fix it.\n\n arch/powerpc/kvm/book3s.c | 2 +-\n"),
        record("20231114.0@example.org", "cover", "[PATCH v2 0/3] KVM: PPC: fixes",
               "KVM: PPC: fixes", version="2", index="0", total="3"),
        record("reply.1@example.org", "reply", "Re: [PATCH v2 1/3] KVM: PPC: fix",
               "KVM: PPC: fix", name="Reviewer", addr="rev@example.com"),
        record("other.1@example.org", "other", "a question", "a question"),
    ]
    frames = [frame(r) for r in recs]
    whole = b"".join(frames)
    bad = bytearray(frames[1])
    bad[20] ^= 0xFF                      # CRC no longer matches
    yield b""
    yield frames[0]
    yield whole
    yield whole + frames[2][:17]         # torn tail: half a frame
    yield frames[0] + bytes(bad) + frames[2] + frames[3]   # damage inside
    yield frames[0] + b"garbage between frames" + frames[3]
    yield frame(b"not a record") + frame(b"")              # frames need not hold records


CONFIG_FULL = """\
# every key
Socket          inet:8891@127.0.0.1
Redis           [::1]:6380
RedisPassword   s3cret
RedisDatabase   2
KeyPrefix       pdtest:
List            kvm.vger.kernel.org KVM
List            <kvm-ppc.vger.kernel.org> KVM PPC
DigestFrom      patchdigest@example.org
DigestTo        kvm-digest@example.org
TopN            20
DomainMap       /etc/patchdigest/domain-map
JournalDir      /var/lib/patchdigest/journal
MaxMessageBytes 16M
Sendmail        /usr/sbin/sendmail -t -i
Retention       12w
User            patchdigest
PidFile         /run/patchdigest/patchdigest-milter.pid
LogLevel        debug
"""

CONFIG_OTHER = """\
socket unix:/run/patchdigest/patchdigest.sock
redis unix:/run/redis/redis.sock
list kvmarm@lists.cs.columbia.edu KVM ARM
maxmessagebytes 4K
retention 1h
loglevel error
"""


def config_seeds():
    yield read(os.path.join(ROOT, "conf", "patchdigest.conf"))
    yield "Socket unix:/run/pd.sock\nRedis 127.0.0.1:6379\nList kvm.vger.kernel.org KVM\n"
    yield CONFIG_FULL
    yield CONFIG_OTHER.replace("\n", "\r\n")
    yield CONFIG_FULL + "TopN 5\n"                              # a key given twice
    yield "Socket inet6:8891@[::1]\nRedis localhost:0\nList x X\n"   # a bad port


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkseeds.py OUTDIR")
    out = sys.argv[1]
    if not os.path.isdir(KVMPPC):
        sys.exit("mkseeds.py: no mail corpus at %s (set PD_CORPUS)" % CORPUS)
    counts = {}

    d = fresh(os.path.join(out, "mail"))
    for p in mail_files():
        put(d, read(p))
    # the crafted shapes of the hostile-MIME test, small: every limit of the
    # MIME walk and the classifier's scans within a fuzzer's reach
    for _, data, _ in hostile_shapes.shapes(16 * 1024):
        put(d, data)
    counts["mail"] = len(os.listdir(d))

    d = fresh(os.path.join(out, "subject"))
    for p in all_mails():
        for s in subjects(read(p)):
            put(d, s)
    counts["subject"] = len(os.listdir(d))

    d = fresh(os.path.join(out, "journal"))
    for s in journal_seeds():
        put(d, s)
    counts["journal"] = len(os.listdir(d))

    d = fresh(os.path.join(out, "config"))
    for s in config_seeds():
        put(d, s)
    counts["config"] = len(os.listdir(d))

    print("seeds in %s: %s" % (out, ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
