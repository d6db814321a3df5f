#!/usr/bin/env python3
"""Security: Redis AUTH (RedisPassword) and SELECT (RedisDatabase) against a
redis-server that requires a password; the password never appears in a log
line, an error or the output of a command, whether it is right or wrong; a
world-writable configuration is refused; lists whose ids differ only in
characters Redis keys treat specially never share a key.  (The drop to
User and the socket's mode and group are checked in
test_journal_trouble.py, where the milter runs as nobody.)"""
import os
import subprocess

import pdtest
from pdtest import result

POSTS = pdtest.corpus_files(60)
PASSWORD = "s3cret-Pass_word-42"


def redis(env, *args, db=0):
    r = subprocess.run(["redis-cli", "-s", env.redis_sock, "--no-auth-warning", "-a", PASSWORD,
                        "-n", str(db)] + list(args), capture_output=True, text=True)
    return r.stdout


# ---- AUTH and SELECT ----
env = pdtest.Env(extra="RedisPassword %s\nRedisDatabase 3\n" % PASSWORD)
try:
    env.redis_cli("CONFIG", "SET", "requirepass", PASSWORD)
    env.start_milter()
    s = env.feed(POSTS)
    want = pdtest.reference_stats(POSTS)
    got = env.wait_recorded(len(POSTS), mails=want["mails"])
    result(s.get("accepted") == str(len(POSTS)) and got and got["mails"] == want["mails"],
           "RedisPassword and RedisDatabase: the milter records, stats reads", "%s %s" % (s, got))
    in3 = redis(env, "--scan", "--pattern", "pd:*", db=3).split()
    in0 = redis(env, "--scan", "--pattern", "pd:*", db=0).split()
    result(len(in3) > 10 and not in0, "the keys are in database 3 and none in database 0",
           "db3 %d keys, db0 %d keys" % (len(in3), len(in0)))

    # a wrong password: mail still accepted, the error is clear and secret-free
    wrong = env.write_conf("wrong.conf", "wrong.sock", "journal-wrong",
                           ((pdtest.LIST_ID, "KVM-PPC"),), "RedisPassword wrong-%s\n" % PASSWORD)
    env.start_milter(wrong, sock="wrong.sock")
    s2 = env.feed(POSTS[:10], sock="wrong.sock")
    pdtest.wait_for(lambda: "AUTH" in env.log("wrong.sock"), 10)
    r = env.cli("stats", conf=wrong)
    log = env.log("wrong.sock")
    result(s2.get("accepted") == "10" and r.returncode == 1 and "AUTH" in r.stderr and
           "AUTH" in log, "a wrong password: mail accepted, milter and stats name the AUTH failure",
           "%s\n%s\n%s" % (s2, r.stderr, log[-800:]))

    # a bad line after the password: the error names file:line, not the value
    bad = os.path.join(env.dir, "bad.conf")
    with open(env.conf) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text + "RedisPassword %s\nTopN many\n" % PASSWORD)
    os.chmod(bad, 0o640)
    r2 = env.cli("stats", conf=bad)
    outputs = [log, env.log(), r.stdout, r.stderr, r2.stdout, r2.stderr,
               env.cli("stats", "--json").stdout, env.cli("render").stdout]
    result(r2.returncode != 0 and "bad.conf:" in r2.stderr and
           not any(PASSWORD in o for o in outputs),
           "the password appears in no log line, error or output",
           "\n".join(o[:200] for o in outputs if PASSWORD in o) or r2.stderr)
finally:
    env.close()

# ---- a world-writable configuration ----
env = pdtest.Env()
try:
    os.chmod(env.conf, 0o646)
    r = env.cli("stats")
    p = subprocess.run([os.path.join(pdtest.BUILD, "patchdigest-milter"), "-f", "-c", env.conf],
                       capture_output=True, text=True, timeout=10)
    result(r.returncode != 0 and "world-writable" in r.stderr and p.returncode != 0 and
           "world-writable" in p.stderr,
           "a world-writable configuration is refused by both programs", r.stderr + p.stderr)
finally:
    env.close()

# ---- list ids that would collide if Redis keys were built naively ----
lists = [("a{b}.example.org", "One"), ("a%7Bb%7D.example.org", "Two"),
         ("a}:{b.example.org", "Three"), ("a.example.org", "Four")]
env = pdtest.Env(lists=lists)
try:
    env.start_milter()
    with open(POSTS[0], "rb") as f:
        raw = b"".join(l for l in f.read().splitlines(True) if not l.lower().startswith(b"list-id:"))
    files = []
    for i, (lid, _) in enumerate(lists):
        # list i gets i + 1 mails, each its own Message-ID
        for k in range(i + 1):
            body = raw.replace(b"Message-ID: <", b"Message-ID: <c%d-%d-" % (i, k), 1) \
                      .replace(b"Message-Id: <", b"Message-Id: <c%d-%d-" % (i, k), 1)
            body = b"List-Id: <%s>\n" % lid.encode() + body
            path = os.path.join(env.dir, "c%d-%d.eml" % (i, k))
            with open(path, "wb") as f:
                f.write(body)
            files.append(path)
    s = env.feed(files)
    stats = None

    def counted():
        global stats
        stats = env.stats()
        return stats and sum(x["mails"] for x in stats["lists"]) >= len(files)
    pdtest.wait_for(counted, 20, 0.2)
    got = {x["list"]: x["mails"] for x in (stats or {}).get("lists", [])}
    want = {lid: i + 1 for i, (lid, _) in enumerate(lists)}
    keys = env.redis_cli("--scan", "--pattern", "*").split()
    tags = {k[k.index("{"):k.index("}") + 1] for k in keys if "{" in k}
    result(s.get("accepted") == str(len(files)) and got == want and len(tags) == len(lists),
           "lists whose ids hold { } % : keep their own counters and their own hash tag",
           "got %s want %s tags %s" % (got, want, sorted(tags)))
finally:
    env.close()

pdtest.finish()
