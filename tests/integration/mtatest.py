"""What the tests of patchdigest-milter behind a real MTA (test_postfix.py,
test_sendmail.py) share: the posts sent, an SMTP client that sends them,
splitting a delivered mail into its header fields, waiting for delivery,
and skipping.  The MTA instances themselves live in their tests."""
import concurrent.futures
import re
import signal
import smtplib
import socket
import sys

import pdtest

SENDER = "sender@pdtest.invalid"
DOMAIN = "box.pdtest.invalid"
HEADER_FIELD = re.compile(rb"^([!-9;-~]+):")


def skip(why):
    """The whole test cannot run here: one skip line (never a plain "ok")."""
    import os
    pdtest.skip("%s: every check (a real MTA with the milter)" % os.path.basename(sys.argv[0]), why)
    sys.exit(0)


def spread(n):
    """n posts spread over the whole corpus (every k-th file)."""
    files = pdtest.corpus_files()
    return files[::max(1, len(files) // n)][:n]


def stop_on_sigterm():
    """SIGTERM raises SystemExit, so the test's finally stops its MTA."""
    def handler(signum, frame):
        raise SystemExit("killed by signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def send(port, posts, tag, conns):
    """Send posts[i] to <tag><i>@DOMAIN, over conns SMTP connections (post i
    over connection i % conns, in order).  Returns a list of errors."""
    def one(k):
        errors = []
        try:
            smtp = smtplib.SMTP("127.0.0.1", port, "client.pdtest.invalid", timeout=60)
            for i in range(k, len(posts), conns):
                with open(posts[i], "rb") as f:
                    data = f.read()
                # smtplib sends bytes as they are: SMTP wants CRLF line ends
                # (and Sendmail refuses bare LFs)
                data = re.sub(rb"\r?\n", b"\r\n", data)
                try:
                    refused = smtp.sendmail(SENDER, ["%s%d@%s" % (tag, i, DOMAIN)], data)
                    if refused:
                        errors.append("%s: refused %s" % (posts[i], refused))
                except smtplib.SMTPResponseException as e:
                    errors.append("%s: %s %s" % (posts[i], e.smtp_code, e.smtp_error))
                    smtp.rset()
            smtp.quit()
        except (OSError, smtplib.SMTPException) as e:
            errors.append("connection %d: %s" % (k, e))
        return errors
    with concurrent.futures.ThreadPoolExecutor(conns) as ex:
        return [e for errs in ex.map(one, range(conns)) for e in errs]


def split_fields(data):
    """(header fields, each with its continuation lines; the rest)."""
    fields = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        line = data[pos:end]
        if line in (b"\n", b"\r\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif HEADER_FIELD.match(line):
            fields.append(line)
        else:
            break
        pos = end
    return fields, data[pos:]


def field_name(field):
    return field.split(b":", 1)[0].strip().lower()


def wait_delivered(mta, n, timeout):
    """Wait until n mails are delivered and mta's queue is empty."""
    return pdtest.wait_for(lambda: len(mta.delivered()) >= n and mta.queue_empty(), timeout, 0.2)
