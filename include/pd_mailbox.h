/*
 * pd_mailbox.h - read mail from files as an operator has them: single
 * messages (.eml), mbox files (mboxrd and mboxo) and maildirs, or directories
 * of any of these, and public-inbox v2 git archives (see pd_inbox.h).
 *
 *   struct pd_mailbox_stats st = { 0 };
 *   pd_mailbox_each(path, cb, err_cb, arg, &st);
 *
 * cb(arg, label, data, len) is called for every message, in file order (a
 * directory's entries sorted by name).  label is the path as given for a
 * single-message file, "path#N" (N from 1) for the N-th message of an mbox,
 * "gitdir@commit" for a message of a git archive (oldest first).
 * A file is an mbox when its first non-blank line starts with "From ".
 * Returns 0, -1 when path (or a file under it) could not be read (errno set,
 * the error reported through err_cb when given, the other files still read),
 * or cb's non-zero return value, which stops the walk (a cb that means
 * to stop returns a positive value: in a directory, -1 is taken for a file
 * that could not be read, and the other files are still read).  err_cb's msg is NULL
 * when strerror(err) tells all about path, else a whole sentence naming it
 * ("PATH is a git archive but git is not installed").  stats may be NULL.
 */
#ifndef PD_MAILBOX_H
#define PD_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

typedef int (*pd_mail_cb)(void *arg, const char *label, const char *data, size_t len);
typedef void (*pd_mailbox_err_cb)(void *arg, const char *path, int err, const char *msg);

/* what the git archives held besides the messages passed to cb */
struct pd_mailbox_stats {
    uint64_t git_epochs;    /* git repositories (public-inbox epochs) read */
    uint64_t removed;       /* messages a later commit removed ("d"): skipped */
    uint64_t no_message;    /* commits that add no message (the removals): skipped */
};

int pd_mailbox_each(const char *path, pd_mail_cb cb, pd_mailbox_err_cb err_cb, void *arg,
                    struct pd_mailbox_stats *stats);

/* The same for many paths in turn (patchdigest import *.eml): dir keeps the
 * directory of the last path open, so that a path in the same directory is
 * opened relative to it and the kernel walks one name, not each name of
 * the path (a tenth of reading a mail file).  Start with
 * PD_MAILBOX_DIR_INIT; pd_mailbox_dir_close() when done. */
struct pd_mailbox_dir {
    char *path;   /* the directory part of the last path, as given; NULL: none */
    int fd;       /* open on it, or -1 */
};
#define PD_MAILBOX_DIR_INIT { NULL, -1 }
int pd_mailbox_each_in(struct pd_mailbox_dir *dir, const char *path, pd_mail_cb cb,
                       pd_mailbox_err_cb err_cb, void *arg, struct pd_mailbox_stats *stats);
void pd_mailbox_dir_close(struct pd_mailbox_dir *dir);
/* Split an mbox held in memory (no file access); label is the "path" part. */
int pd_mbox_split(const char *label, const char *data, size_t len, pd_mail_cb cb, void *arg);

#endif
