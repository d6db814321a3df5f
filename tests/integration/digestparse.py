"""Reading a digest mail back, for the tests that compare digests with the
Python models (test_windows, test_outcomes, test_upgrade, test_batch), and
writing the small hand-made list mails some of them feed.

    text = digest_text(raw)               the text part of a digest mail
    lines = text.split("\\n")
    section(lines, "===== Applied in this time period =====")
    patch_list_blocks(lines)              [(head line, [outcome lines])]
    earlier_blocks(lines)                 [[head, identity, outcome lines...]]
    table(lines, "contributors", top)     the rows under a table's header
    list_mail(d, n, mid, subject, body, ...)   an .eml file of the list
"""
import email
import email.policy
import os

import pdtest

# the lines issue 18 puts under a series' identity line
OUTCOME = ("  Supersedes: ", "  Review: ", "  Applied: ", "  Link: ")
HEADERS = {
    "domains": "Top %d contributor Email domains (Based on Email Body)",
    "contributors": "Top %d contributors (Based on Email Body)",
    "reviewers": "Top %d reviewers (Based on review trailers in replies)",
    "threads": "Top %d most discussed threads (replies)",
}
ROWFMT = {"domains": "%7d %s", "contributors": "%7d  %s", "reviewers": "%7d  %s",
          "threads": "%7d  %s"}


def digest_message(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def digest_text(raw):
    """The text digest: the mail itself, or its text/plain part when the
    mail also carries the Markdown page (DigestFormat both)."""
    return digest_message(raw).get_body(("plain",)).get_content()


def section(lines, title):
    """The lines of a section, up to the next "=====" line, blank lines at
    its ends dropped; None when missing."""
    try:
        i = lines.index(title)
    except ValueError:
        return None
    out = []
    for line in lines[i + 1:]:
        if line.startswith("====="):
            break
        out.append(line)
    while out and out[0] == "":
        out.pop(0)
    while out and out[-1] == "":
        out.pop()
    return out


def blocks_of(sec):
    """A section's lines in blocks, split at its blank lines."""
    blocks, cur = [], None
    for line in sec:
        if line == "":
            cur = None
            continue
        if cur is None:
            cur = []
            blocks.append(cur)
        cur.append(line)
    return blocks


def patch_list_blocks(lines):
    """[(head line, [outcome lines])] of the patch list."""
    sec = section(lines, "===== Patch list in this time period =====") or []
    return [(b[0], [line[2:] for line in b[1:] if line.startswith(OUTCOME)])
            for b in blocks_of(sec)]


def earlier_blocks(lines):
    """The blocks of the earlier-series section: head, identity and outcome
    lines each; [] for "(none)", None when the section is missing."""
    sec = section(lines, "===== Earlier series with activity in this time period =====")
    if sec is None:
        return None
    if sec == ["(none)"]:
        return []
    return [b[:1] + [line[2:] if line.startswith(OUTCOME) else line for line in b[1:]]
            for b in blocks_of(sec)]


def table(lines, key, top):
    """The row lines under a table's header, up to the blank line; None
    when the digest has no such table."""
    try:
        i = lines.index(HEADERS[key] % top)
    except ValueError:
        return None
    i += 1
    while i < len(lines) and lines[i] == "":
        i += 1
    rows = []
    while i < len(lines) and lines[i] != "":
        rows.append(lines[i])
        i += 1
    return rows


# the people and the patch of the hand-made list mail (test_outcomes, test_batch)
AUTHOR = "Ann Author <ann@example.org>"
MAINT = "Maintainer <maint@example.org>"
DIFF = "---\n a.c | 1 +\n 1 file changed, 1 insertion(+)\n\ndiff --git a/a.c b/a.c\n" \
       "--- a/a.c\n+++ b/a.c\n@@ -1 +1,2 @@\n a\n+b\n"


def list_mail(d, n, mid, subject, body, frm, parent=None, refs=(), hour=10):
    """Write d/NNN.eml, a mail of the test list (n: its number, which also
    gives its Date's minute)."""
    h = ["From: " + frm, "To: kvm-ppc@vger.kernel.org", "Subject: " + subject,
         "Date: Tue, 9 Mar 2021 %02d:%02d:00 +0000" % (hour, n % 60),
         "Message-ID: <%s>" % mid, "List-Id: <%s>" % pdtest.LIST_ID]
    if parent:
        h.append("In-Reply-To: <%s>" % parent)
    if refs:
        h.append("References: " + " ".join("<%s>" % r for r in refs))
    path = os.path.join(d, "%03d.eml" % n)
    with open(path, "w") as f:
        f.write("\n".join(h) + "\n\n" + body)
    return path
