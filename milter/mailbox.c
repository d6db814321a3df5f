/*
 * mailbox.c - iterate messages in .eml files, mbox files, maildirs,
 * directories and public-inbox git archives (handed to inbox.c).  See
 * pd_mailbox.h.
 */
#include "pd_mailbox.h"
#include "pd_inbox.h"
#include "pd_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t skip_blank_lines(const char *data, size_t len)
{
    size_t i = 0, line = 0;
    while (i < len) {
        char c = data[i];
        if (c == '\n') {
            line = ++i;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            i++;
            continue;
        }
        break;
    }
    return line;
}

static bool is_from_line(const char *p, size_t left)
{
    return left >= 5 && memcmp(p, "From ", 5) == 0;
}

static bool is_blank_line(const char *p, size_t n)
{
    return n == 0 || (n == 1 && p[0] == '\r');
}

int pd_mbox_split(const char *label, const char *data, size_t len, pd_mail_cb cb, void *arg)
{
    size_t start = skip_blank_lines(data, len);
    pd_buf msg = PD_BUF_INIT, name = PD_BUF_INIT;
    int n = 0, rc = 0;
    bool in_msg = false, prev_blank = true;
    size_t i = start;
    while (i < len) {
        const char *line = data + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        size_t next = i + ll + (nl ? 1 : 0);
        if (prev_blank && is_from_line(line, len - i)) {
            if (in_msg) {
                /* the blank line before a From_ line belongs to the mbox */
                if (msg.len && msg.data[msg.len - 1] == '\n') {
                    msg.len--;
                    if (msg.len && msg.data[msg.len - 1] == '\r')
                        msg.len--;
                }
                pd_buf_reset(&name);
                if (pd_buf_printf(&name, "%s#%d", label, ++n) < 0 ||
                    pd_buf_putc(&msg, '\0') < 0) {
                    rc = -1;
                    break;
                }
                msg.len--;
                if ((rc = cb(arg, name.data, msg.data ? msg.data : "", msg.len)) != 0)
                    break;
            }
            pd_buf_reset(&msg);
            in_msg = true;
            prev_blank = false;
            i = next;
            continue;
        }
        prev_blank = is_blank_line(line, ll);
        /* mboxrd: ">From " and ">>From " lose one '>' */
        size_t k = 0;
        while (k < ll && line[k] == '>')
            k++;
        const char *src = line;
        size_t sl = next - i;
        if (k > 0 && is_from_line(line + k, ll - k)) {
            src++;
            sl--;
        }
        if (pd_buf_append(&msg, src, sl) < 0) {
            rc = -1;
            break;
        }
        i = next;
    }
    if (rc == 0 && in_msg) {
        pd_buf_reset(&name);
        if (pd_buf_printf(&name, "%s#%d", label, ++n) < 0 || pd_buf_puts(&msg, "") < 0)
            rc = -1;
        else
            rc = cb(arg, name.data, msg.data, msg.len);
    }
    pd_buf_free(&msg);
    pd_buf_free(&name);
    return rc;
}

struct walk {
    pd_mail_cb cb;
    pd_mailbox_err_cb err_cb;
    void *arg;
    struct pd_mailbox_stats *stats;
    struct pd_mailbox_dir *dir;   /* NULL: open paths whole */
};

void pd_mailbox_dir_close(struct pd_mailbox_dir *dir)
{
    if (dir->fd >= 0)
        close(dir->fd);
    free(dir->path);
    dir->fd = -1;
    dir->path = NULL;
}

/* Open path for reading, relative to dir's directory when path is in it
 * (dir kept open for the next path; opened here when path is in another
 * one).  The directory part resolves as it would in the whole path, so
 * the file opened is the same.  fd, or -1 with errno set. */
static int open_in(struct pd_mailbox_dir *dir, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dl = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    const char *dp = slash ? path : ".";
    if (!dir || !*base)
        return open(path, O_RDONLY | O_CLOEXEC);
    if (!dir->path || strlen(dir->path) != dl || memcmp(dir->path, dp, dl) != 0) {
        pd_mailbox_dir_close(dir);
        char *d = pd_strndup(dp, dl);
        int fd = d ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd < 0) {
            free(d);   /* no directory to keep: the path is opened whole */
            return open(path, O_RDONLY | O_CLOEXEC);
        }
        dir->path = d;
        dir->fd = fd;
    }
    return openat(dir->fd, base, O_RDONLY | O_CLOEXEC);
}

static void report(const struct walk *w, const char *path, int err)
{
    if (w->err_cb)
        w->err_cb(w->arg, path, err, NULL);
    errno = err;
}

/* Read what fd holds into out (empty), without asking first what it is:
 * one pread() for a mail file, where open, fstat, read and close had been
 * a fifth of import's time, the fstat a fifth of that.  A seekable file
 * read short is at its end, as a regular file is (the one exception, a
 * read that ends on a page boundary, is read on to be sure); a pipe, which
 * pread() refuses, is read to its end.  0, or -1 with errno set (EISDIR:
 * a directory). */
static int read_all(int fd, pd_buf *out)
{
    size_t want = 64 * 1024 - 1;   /* with the NUL, 64 KiB: below malloc's mmap threshold */
    for (;;) {
        if (pd_buf_reserve(out, want) < 0) {
            errno = ENOMEM;
            return -1;
        }
        size_t room = out->cap - out->len - 1;
        ssize_t n = pread(fd, out->data + out->len, room, (off_t)out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ESPIPE) {
            struct stat st;
            return fstat(fd, &st) < 0 ? -1 : pd_read_fd(fd, &st, out);
        }
        if (n < 0)
            return -1;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (n == 0 || ((size_t)n < room && n % 4096 != 0))
            return 0;
        want = out->cap;   /* full: twice the room */
    }
}

/* A file already open (fd), its contents in data: one mail, or an mbox of them. */
static int each_file(const struct walk *w, const char *path, pd_buf *data)
{
    int rc;
    const char *d = data->data ? data->data : "";
    size_t s = skip_blank_lines(d, data->len);
    if (is_from_line(d + s, data->len - s))
        rc = pd_mbox_split(path, d, data->len, w->cb, w->arg);
    else
        rc = w->cb(w->arg, path, d, data->len);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int each_dir(const struct walk *w, const char *path, int depth);

static int each_path(const struct walk *w, const char *path, int depth)
{
    /* open, then read: a file is read from what was opened (one path
     * lookup, not two), and a directory says so when read */
    int fd = depth == 0 ? open_in(w->dir, path) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        report(w, path, errno);
        return -1;
    }
    pd_buf data = PD_BUF_INIT;
    int rc = read_all(fd, &data), e = errno;
    close(fd);
    if (rc < 0 && e == EISDIR) {
        pd_buf_free(&data);
        enum pd_inbox_kind k = pd_inbox_kind(path);
        if (k != PD_INBOX_NONE)
            return pd_inbox_each(path, k, w->cb, w->err_cb, w->arg, w->stats);
        return each_dir(w, path, depth);
    }
    if (rc < 0) {
        pd_buf_free(&data);
        report(w, path, e);
        return -1;
    }
    rc = each_file(w, path, &data);
    pd_buf_free(&data);
    return rc;
}

static int each_dir(const struct walk *w, const char *path, int depth)
{
    if (depth > 8)
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        report(w, path, errno);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;   /* ., .., .git and maildir's hidden files */
        /* a maildir: only cur/ and new/ hold mail */
        if (strcmp(e->d_name, "tmp") == 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0)
        qsort(names, n, sizeof *names, name_cmp);
    int failed = 0;
    pd_buf full = PD_BUF_INIT;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pd_buf_reset(&full);
        size_t pl = strlen(path);
        if (pd_buf_printf(&full, "%s%s%s", path, pl && path[pl - 1] == '/' ? "" : "/",
                          names[i]) < 0) {
            rc = -1;
            break;
        }
        int r = each_path(w, full.data, depth + 1);
        if (r == -1)
            failed = 1;
        else if (r != 0)
            rc = r;
    }
    pd_buf_free(&full);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc ? rc : failed ? -1 : 0;
}

int pd_mailbox_each(const char *path, pd_mail_cb cb, pd_mailbox_err_cb err_cb, void *arg,
                    struct pd_mailbox_stats *stats)
{
    return pd_mailbox_each_in(NULL, path, cb, err_cb, arg, stats);
}

int pd_mailbox_each_in(struct pd_mailbox_dir *dir, const char *path, pd_mail_cb cb,
                       pd_mailbox_err_cb err_cb, void *arg, struct pd_mailbox_stats *stats)
{
    struct pd_mailbox_stats unused = { 0 };
    struct walk w = { cb, err_cb, arg, stats ? stats : &unused, dir };
    return each_path(&w, path, 0);
}
