/*
 * pd_inbox.h - read the messages of a public-inbox v2 archive (the layout
 * of lore.kernel.org's mirrors) through the git command, oldest first.
 * pd_mailbox_each() calls this for a directory that is such an archive;
 * nothing else needs to.
 *
 *   enum pd_inbox_kind k = pd_inbox_kind(path);
 *   if (k != PD_INBOX_NONE)
 *       rc = pd_inbox_each(path, k, cb, err_cb, arg, &stats);
 *
 * What counts as an archive (pd_inbox_kind):
 *   PD_INBOX_V2      a directory holding git/N.git (the inbox: its epochs)
 *   PD_INBOX_EPOCHS  a directory holding N.git repositories (the inbox's git/)
 *   PD_INBOX_REPO    one git repository: bare (HEAD, objects/, refs/), or a
 *                    clone whose work tree holds public-inbox's "m" or "d"
 * Epochs are read in numeric order, each from its HEAD along first parents,
 * oldest commit first.  Each commit that adds or replaces the blob "m" is one
 * message, passed to cb(arg, "GITDIR@COMMIT", data, len); a commit that adds
 * "d" removes the message with that blob (in any epoch), which is then not
 * passed at all, as public-inbox's own index leaves it out.  Both are counted
 * in stats (which may be NULL).  git runs without a shell, with GIT_DIR set
 * and LC_ALL=C: "git log --raw" twice per epoch (removals first) and one
 * "git cat-file --batch" per epoch for the blobs.
 *
 * Returns as pd_mailbox_each(): 0; -1 when something could not be read
 * (reported through err_cb with a message, e.g. when git is not installed;
 * errno set); or cb's non-zero return value, which stops the walk.
 */
#ifndef PD_INBOX_H
#define PD_INBOX_H

#include "pd_mailbox.h"

enum pd_inbox_kind { PD_INBOX_NONE = 0, PD_INBOX_V2, PD_INBOX_EPOCHS, PD_INBOX_REPO };

enum pd_inbox_kind pd_inbox_kind(const char *path);
int pd_inbox_each(const char *path, enum pd_inbox_kind kind, pd_mail_cb cb,
                  pd_mailbox_err_cb err_cb, void *arg, struct pd_mailbox_stats *stats);

#endif
