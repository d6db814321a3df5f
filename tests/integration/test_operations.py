"""How an operator runs the milter: SIGHUP reloads the configuration without
dropping a connection, SIGTERM finishes the mails in progress and ships the
journal before exit, the health counters (journal backlog in records and
bytes, last shipped time) in "stats --prometheus", and one log line per
mail with its queue id."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pdtest  # noqa: E402
from pdtest import Env, MilterSession, result, wait_for, LIST_ID  # noqa: E402

NEW_LIST = "newlist.example.org"
RCPT = "kvm-ppc@vger.kernel.org"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def as_new_list(raw):
    """The post, sent to NEW_LIST instead (its List-Id rewritten)."""
    out = re.sub(rb"(?mi)^List-Id:.*\n", b"List-Id: <" + NEW_LIST.encode() + b">\n", raw, count=1)
    return out if out != raw else b"List-Id: <" + NEW_LIST.encode() + b">\n" + raw


def list_stats(env, lid):
    s = env.stats()
    for l in (s or {}).get("lists", []):
        if l["list"] == lid:
            return l
    return None


def wait_log(env, pattern, timeout=10):
    return wait_for(lambda: re.search(pattern, env.log()), timeout)


def test_reload():
    env = Env()
    try:
        m = env.start_milter()
        sock = os.path.join(env.dir, "milter.sock")
        posts = pdtest.corpus_files(30)
        new_dir = os.path.join(env.dir, "new")
        os.mkdir(new_dir)
        new_posts = []
        for i, p in enumerate(posts[:10]):
            q = os.path.join(new_dir, "%02d.eml" % i)
            with open(q, "wb") as f:
                f.write(as_new_list(read(p)))
            new_posts.append(q)

        # before: the new list is not configured, its mails are ignored
        out = env.feed(new_posts)
        result(out["rc"] == 0 and list_stats(env, NEW_LIST) is None,
               "before the reload, mails for an unconfigured list are not counted", out)

        # a connection in the middle of a mail across the reload
        held = MilterSession(sock)
        raw = read(posts[20]).replace(b"\r\n", b"\n")
        head, _, body = raw.partition(b"\n\n")
        held.begin("HELD000001", RCPT, head)

        # the new configuration: a second list, another TopN
        env.write_conf("patchdigest.conf", "milter.sock", "journal",
                       ((LIST_ID, "KVM-PPC"), (NEW_LIST, "New list")), "TopN 3\n")
        m.send_signal(signal.SIGHUP)
        ok = wait_log(env, r"reloaded .*2 list\(s\)")
        result(ok and m.poll() is None, "SIGHUP reloads the configuration, the milter runs on",
               env.log()[-2000:])

        reply = held.end(body.replace(b"\n", b"\r\n"))
        second = held.mail("HELD000002", RCPT, read(posts[21]))
        held.close()
        result(reply == b"a" and second == b"a",
               "a connection open across the reload finishes its mail and takes another",
               (reply, second))

        out = env.feed(new_posts)
        st = env.wait_recorded(10, list_index=1) if out["rc"] == 0 else None
        result(st is not None and st["list"] == NEW_LIST and st["mails"] == 10,
               "after the reload, the new list's mails are counted", (out, st))
        main = list_stats(env, LIST_ID)
        result(main is not None and main["mails"] == 2,
               "the held connection's two mails are counted once each", main)

        # a bad line: named by file and line, the configuration in use stays
        with open(env.conf) as f:
            good = f.read()
        with open(env.conf, "a") as f:
            f.write("NoSuchKey 1\n")
        m.send_signal(signal.SIGHUP)
        ok = wait_log(env, r"reload: .*patchdigest\.conf:\d+: .*configuration in use stays")
        # "patchdigest stats" reads the file too: give it the good one back
        with open(env.conf, "w") as f:
            f.write(good)
        out = env.feed(new_posts[:3] + posts[22:25])
        st = env.wait_recorded(13, list_index=1)
        main = list_stats(env, LIST_ID)
        result(ok and m.poll() is None and out["rc"] == 0 and st is not None and
               st["duplicates"] == 3 and main is not None and main["mails"] == 5,
               "a bad line on reload is named by file:line and changes nothing",
               env.log()[-1500:])

        # a setting that needs a restart: kept, and said so
        env.write_conf("patchdigest.conf", "other.sock", "journal",
                       ((LIST_ID, "KVM-PPC"), (NEW_LIST, "New list")))
        m.send_signal(signal.SIGHUP)
        ok = wait_log(env, r"Socket changed to .*other\.sock; it takes effect at restart")
        out = env.feed(posts[25:27])
        result(ok and out["rc"] == 0 and out.get("accepted") == "2",
               "a reload that changes Socket keeps listening where it did, and says so",
               (out, env.log()[-1500:]))

        # a burst of SIGHUPs while mail flows: none stops the milter
        import threading
        feed_out = {}
        t = threading.Thread(target=lambda: feed_out.update(
            env.feed(pdtest.corpus_files(300)[30:], conns=4)))
        t.start()
        for _ in range(40):
            m.send_signal(signal.SIGHUP)
            time.sleep(0.01)
        t.join()
        alive = m.poll() is None
        result(alive and feed_out.get("rc") == 0 and feed_out.get("accepted") == "270",
               "40 SIGHUPs during a feed of 270 posts: all accepted, the milter still runs",
               (feed_out, env.log()[-1500:]))
    finally:
        env.close()


def test_term():
    env = Env()
    try:
        m = env.start_milter()
        sock = os.path.join(env.dir, "milter.sock")
        posts = pdtest.corpus_files(40)
        out = env.feed(posts[:30])
        env.wait_recorded(30)
        # a mail in progress when SIGTERM comes.  This MTA asks for a reply
        # to RCPT, so the mail has begun in the milter before the signal
        # (with no replies at all the test could not know it had).
        s = MilterSession(sock, protocol=0x1fffff & ~0x8000)   # no SMFIP_NR_RCPT
        raw = read(posts[30]).replace(b"\r\n", b"\n")
        head, _, body = raw.partition(b"\n\n")
        s.begin("TERM000001", RCPT, head)
        # Redis frozen: what the journal holds at SIGTERM must still get there
        env.redis.send_signal(signal.SIGSTOP)
        m.send_signal(signal.SIGTERM)
        wait_log(env, r"SIGTERM: stopping once the mails in progress have ended")
        time.sleep(0.3)
        running = m.poll() is None
        reply = s.end(body.replace(b"\n", b"\r\n"))
        s.close()
        time.sleep(0.3)
        env.redis.send_signal(signal.SIGCONT)
        try:
            m.wait(40)
        except Exception:
            pass
        if m in env.milters:
            env.milters.remove(m)
        result(running and reply == b"a",
               "after SIGTERM the milter waits for the mail in progress and answers ACCEPT",
               (running, reply, env.log()[-1500:]))
        st = env.stats()
        main = st["lists"][0] if st else None
        result(m.returncode == 0 and main is not None and main["mails"] == 31,
               "SIGTERM ships the journal to Redis before exit: 31 mails counted",
               (m.returncode, main, env.log()[-1500:]))
        result(re.search(r"stopped: .* 0 records \(0 bytes\) left in the journal", env.log()),
               "the last log line says nothing is left in the journal", env.log()[-800:])
    finally:
        env.close()


def test_metrics_and_logs():
    env = Env(persist=True)    # Redis keeps what it has over its restarts
    try:
        env.start_milter()
        posts = pdtest.corpus_files(120)
        env.stop_redis()
        out = env.feed(posts[:50])

        def backlog():
            r = env.cli("stats", "--prometheus")
            mt = re.search(r"(?m)^patchdigest_journal_backlog_records (\d+)$", r.stdout)
            return int(mt.group(1)) if mt else -1, r.stdout
        ok = wait_for(lambda: backlog()[0] == 50, 5)
        n, text = backlog()
        result(out["rc"] == 0 and ok and
               re.search(r"(?m)^patchdigest_redis_up 0$", text) and
               re.search(r"(?m)^patchdigest_journal_backlog_bytes [1-9]\d*$", text) and
               re.search(r"(?m)^patchdigest_mails_total 50$", text),
               "with Redis down, --prometheus shows 50 records (and their bytes) waiting",
               text)
        env.start_redis()
        ok = wait_for(lambda: backlog()[0] == 0, 15)
        n, text = backlog()
        last = re.search(r"(?m)^patchdigest_last_shipped_time_seconds (\d+)$", text)
        result(ok and last and abs(int(last.group(1)) - time.time()) < 60 and
               re.search(r"(?m)^patchdigest_redis_up 1$", text) and
               re.search(r"(?m)^patchdigest_truncated_mails_total 0$", text) and
               re.search(r"(?m)^patchdigest_parse_failures_total 0$", text),
               "Redis back: the backlog is 0 records, the last shipped time is now", text)
        # the journal's own count survives a restart: stop Redis, restart the milter
        env.stop_redis()
        out = env.feed(posts[50:70])
        wait_for(lambda: backlog()[0] == 20, 5)
        # stopping with Redis down: the drain waits for Redis, it does not spin
        def cpu_s(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    t = f.read().rsplit(")", 1)[1].split()
                return (int(t[11]) + int(t[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                return None
        for p in list(env.milters):
            c0, w0 = cpu_s(p.pid), time.monotonic()
            c1 = c0
            p.send_signal(signal.SIGTERM)
            while p.poll() is None and time.monotonic() - w0 < 30:
                c = cpu_s(p.pid)
                c1 = c if c is not None else c1
                time.sleep(0.2)
            wall = time.monotonic() - w0
            env.stop_milter(p)
            result(c0 is not None and wall > 2 and c1 - c0 < 0.2 * wall,
                   "stopping with Redis down, the milter waits for it without spinning a core "
                   "(%.2f s of CPU in %.1f s)" % ((c1 or 0) - (c0 or 0), wall))
        env.start_milter()
        ok = wait_for(lambda: backlog()[0] == 20, 5)
        result(ok, "after a restart the journal's backlog is counted again: 20 records",
               backlog()[1])
        env.start_redis()
        st70 = env.wait_recorded(70)
        out = env.feed(posts[70:120])
        st = env.wait_recorded(120)
        result(st70 is not None and st is not None and st["mails"] == 120,
               "Redis and the milter restarted: all 120 mails counted", (st70, st))
        log = env.log()
        lines = log.splitlines()
        per_mail = [l for l in lines if "recorded for " + LIST_ID in l]
        with_qid = [l for l in per_mail
                    if re.match(r"^patchdigest-milter\[info\]: [0-9A-F]{10}: recorded for ", l)]
        # each feeder run numbers its queue ids from 1: the last run's 50 differ
        last_qids = set(re.findall(r"\]: ([0-9A-F]{10}): recorded for ", "\n".join(per_mail[-50:])))
        result(len(per_mail) == 120 and len(with_qid) == 120 and len(last_qids) == 50,
               "one INFO line per recorded mail, each with its queue id",
               "%d lines, %d with a queue id, %d distinct in the last feed" %
               (len(per_mail), len(with_qid), len(last_qids)))
        result(all(re.match(r"^patchdigest-milter\[[a-z]+\]: ", l) for l in lines),
               "every log line is one whole line", "\n".join(
                   l for l in lines if not re.match(r"^patchdigest-milter\[", l))[:1500])
    finally:
        env.close()


test_reload()
test_term()
test_metrics_and_logs()
pdtest.finish()
