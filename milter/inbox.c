/*
 * inbox.c - read a public-inbox v2 archive (lore.kernel.org's layout: an
 * inbox directory with git/0.git, git/1.git, ... each commit of which adds
 * one message as the blob "m") through the git command.  See pd_inbox.h.
 *
 * For every epoch: "git rev-parse HEAD" fixes the tip; "git log --raw -- d"
 * collects the blobs removals put back as "d" (all epochs first, as a
 * removal may sit in a later epoch than its message); then "git log
 * --reverse --raw" lists the "m" blobs oldest first, and one "git cat-file
 * --batch" hands them over.  Up to INFLIGHT blobs are asked ahead, so that
 * git reads the next while a message is parsed; their request lines (4 KiB
 * at most) fit in the socket that is cat-file's stdin, so a request never
 * waits on cat-file, which may itself wait for us to read its answers.  A
 * bigger pipe for the answers (F_SETPIPE_SZ, when allowed) lets it run
 * further ahead.  git, looked up in PATH first (so that "not installed" is
 * told apart from a failing git), runs through posix_spawn (no shell) with
 * GIT_DIR set and LC_ALL=C.
 */
#include "pd_inbox.h"
#include "pd_log.h"
#include "pd_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define OID_MAX 64                      /* SHA-256; SHA-1 ids have 40 */
#define INFLIGHT 64                     /* blobs asked of cat-file, not yet read */
#define LINE_MAX_KEPT 4096              /* longer git output lines are cut */
#define MESSAGE_MAX (256u << 20)        /* a bigger blob is skipped, reported */

struct epoch {
    char *gitdir;                       /* GIT_DIR for git */
    char *label;                        /* what labels say: "label@commit" */
    char tip[OID_MAX + 1];              /* "" when the repository has no commit */
};

struct reader {
    int fd;
    size_t pos, len;
    char buf[65536];
};

struct child {
    pid_t pid;
    int in;                             /* our end of its stdin, or -1 */
    struct reader *out;                 /* its stdout */
};

struct inbox {
    const char *path;
    pd_mail_cb cb;
    pd_mailbox_err_cb err_cb;
    void *arg;
    struct pd_mailbox_stats *stats;
    char *git;                          /* the git command found in PATH */
    char **envp;                        /* environ without GIT_DIR & co, + ours */
    size_t git_dir_slot;
    pd_buf git_dir_env;
    struct epoch *epochs;
    size_t nepochs;
    char (*removed)[OID_MAX + 1];       /* "d" blobs, sorted */
    size_t nremoved, capremoved;
    int stop;                           /* cb's non-zero return */
    bool failed;
};

/* ---- small helpers ---- */

static void report(struct inbox *ib, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct inbox *ib, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ib->failed = true;
    if (ib->err_cb)
        ib->err_cb(ib->arg, ib->path, err, msg);
}

static char *join(const char *dir, const char *name)
{
    pd_buf b = PD_BUF_INIT;
    size_t dl = strlen(dir);
    if (pd_buf_printf(&b, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name) < 0) {
        pd_buf_free(&b);
        return NULL;
    }
    return pd_buf_steal(&b);
}

static bool is_kind(const char *dir, const char *name, mode_t type)
{
    char *p = join(dir, name);
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && (st.st_mode & S_IFMT) == type;
    free(p);
    return ok;
}

/* a bare repository (or a .git directory) */
static bool is_git_dir(const char *dir)
{
    return is_kind(dir, "HEAD", S_IFREG) && is_kind(dir, "objects", S_IFDIR) &&
           is_kind(dir, "refs", S_IFDIR);
}

static bool is_oid(const char *s, size_t n)
{
    if (n != 40 && n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "N.git" with N a decimal number: N, else -1 */
static long epoch_number(const char *name)
{
    size_t n = strspn(name, "0123456789");
    if (n == 0 || n > 9 || strcmp(name + n, ".git") != 0)
        return -1;
    return strtol(name, NULL, 10);
}

/* ---- which kind of archive ---- */

struct numbered {
    long n;
    char *name;
};

static int numbered_cmp(const void *a, const void *b)
{
    const struct numbered *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* The N.git repositories of dir, in numeric order: their count, -1 when out
 * of memory.  *out may be NULL to count only. */
static long list_epochs(const char *dir, struct numbered **out)
{
    if (out)
        *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct numbered *v = NULL;
    size_t n = 0, cap = 0;
    long rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long num = epoch_number(e->d_name);
        if (num < 0)
            continue;
        char *p = join(dir, e->d_name);
        if (!p) {
            rc = -1;
            break;
        }
        if (!is_git_dir(p)) {
            free(p);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct numbered *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(p);
                rc = -1;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[n].n = num;
        v[n].name = p;
        n++;
    }
    closedir(d);
    if (rc == 0 && n)
        qsort(v, n, sizeof *v, numbered_cmp);
    if (rc == 0 && out) {
        *out = v;
        return (long)n;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    return rc < 0 ? -1 : (long)n;
}

enum pd_inbox_kind pd_inbox_kind(const char *path)
{
    char *git = join(path, "git");
    long n = git ? list_epochs(git, NULL) : 0;
    free(git);
    if (n != 0)
        return PD_INBOX_V2;   /* (out of memory shows up again when read) */
    if (is_git_dir(path))
        return PD_INBOX_REPO;
    /* a clone with a work tree: public-inbox's "m" (or "d") checked out */
    char *dotgit = join(path, ".git");
    struct stat st;
    bool clone = dotgit && stat(dotgit, &st) == 0 &&
                 (is_kind(path, "m", S_IFREG) || is_kind(path, "d", S_IFREG));
    free(dotgit);
    if (clone)
        return PD_INBOX_REPO;
    if (list_epochs(path, NULL) != 0)
        return PD_INBOX_EPOCHS;
    return PD_INBOX_NONE;
}

/* ---- running git ---- */

static bool dropped_env(const char *kv)
{
    static const char *const names[] = {
        "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE",
        "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE", "GIT_REPLACE_REF_BASE", "LC_ALL", NULL,
    };
    for (size_t i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(kv, names[i], n) == 0 && kv[n] == '=')
            return true;
    }
    return false;
}

static int make_env(struct inbox *ib)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    ib->envp = calloc(n + 3, sizeof *ib->envp);
    if (!ib->envp)
        return -1;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (!dropped_env(*e))
            ib->envp[k++] = *e;
    ib->envp[k++] = "LC_ALL=C";
    ib->git_dir_slot = k;   /* set per epoch */
    return 0;
}

/* git as execvp would find it, checked before anything runs: a failed
 * exec shows only as exit status 127 where posix_spawn cannot report it.
 * 0, 1 when there is no git, -1 when out of memory. */
static int find_git(struct inbox *ib)
{
    const char *path = getenv("PATH");
    char def[256];
    if (!path) {
        size_t n = confstr(_CS_PATH, def, sizeof def);
        path = n > 0 && n <= sizeof def ? def : "/bin:/usr/bin";
    }
    pd_buf cand = PD_BUF_INIT;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        pd_buf_reset(&cand);
        if (pd_buf_printf(&cand, "%.*s%sgit", (int)n, n ? p : ".",
                          n && p[n - 1] == '/' ? "" : "/") < 0) {
            pd_buf_free(&cand);
            return -1;
        }
        struct stat st;
        if (stat(cand.data, &st) == 0 && S_ISREG(st.st_mode) && access(cand.data, X_OK) == 0) {
            ib->git = pd_buf_steal(&cand);
            return 0;
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    pd_buf_free(&cand);
    return 1;
}

static int set_git_dir(struct inbox *ib, const struct epoch *ep)
{
    pd_buf_reset(&ib->git_dir_env);
    if (pd_buf_printf(&ib->git_dir_env, "GIT_DIR=%s", ep->gitdir) < 0)
        return -1;
    ib->envp[ib->git_dir_slot] = ib->git_dir_env.data;
    return 0;
}

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Start git with argv (argv[0] "git") in ep's repository; its stdout a pipe
 * read through c->out, its stdin a socket (c->in) when with_stdin, else
 * /dev/null.  0, or -1 reported. */
static int spawn_git(struct inbox *ib, const struct epoch *ep, char *const argv[],
                     bool with_stdin, struct child *c)
{
    c->pid = -1;
    c->in = -1;
    c->out = NULL;
    if (set_git_dir(ib, ep) < 0) {
        report(ib, ENOMEM, "%s: out of memory", ep->label);
        return -1;
    }
    int out[2] = { -1, -1 }, in[2] = { -1, -1 };
    if (pipe2(out, O_CLOEXEC) < 0 ||
        (with_stdin && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)) {
        int e = errno;
        close_fd(&out[0]);
        close_fd(&out[1]);
        report(ib, e, "%s: cannot make a pipe for git: %s", ep->label, strerror(e));
        return -1;
    }
    /* cat-file may run this far ahead; the default size (64 KiB) works too */
    if (with_stdin && fcntl(out[0], F_SETPIPE_SZ, 1 << 20) < 0)
        pd_log(PD_LOG_DEBUG, "%s: F_SETPIPE_SZ: %s", ep->label, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int e = posix_spawn_file_actions_init(&fa);
    if (e == 0) {
        e = posix_spawnattr_init(&at);
        if (e != 0)
            posix_spawn_file_actions_destroy(&fa);
    }
    if (e == 0) {
        sigset_t def;
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);   /* git stops when we stop reading */
        if (with_stdin)
            e = posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO);
        else
            e = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (e == 0)
            e = posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
        if (e == 0)
            e = posix_spawnattr_setsigdefault(&at, &def);
        if (e == 0)
            e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
        if (e == 0)
            e = posix_spawn(&c->pid, ib->git, &fa, &at, argv, ib->envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
    }
    close_fd(&out[1]);
    close_fd(&in[1]);
    if (e == 0 && !(c->out = malloc(sizeof *c->out))) {
        e = ENOMEM;
        kill(c->pid, SIGTERM);
        wait_child(c->pid);
    }
    if (e != 0) {
        close_fd(&out[0]);
        close_fd(&in[0]);
        c->pid = -1;
        report(ib, e, "%s: cannot run %s: %s", ep->label, ib->git, strerror(e));
        return -1;
    }
    c->out->fd = out[0];
    c->out->pos = c->out->len = 0;
    c->in = in[0];
    return 0;
}

/* Close our ends, stop git when asked to (we stopped reading), reap it:
 * its wait status, or -1. */
static int end_child(struct child *c, bool stop)
{
    if (c->pid < 0)
        return -1;
    close_fd(&c->in);
    if (stop)
        kill(c->pid, SIGTERM);
    if (c->out) {
        close_fd(&c->out->fd);
        free(c->out);
        c->out = NULL;
    }
    int status = wait_child(c->pid);
    c->pid = -1;
    return status;
}

/* 0 when git exited 0; else reported, -1. */
static int check_exit(struct inbox *ib, const struct epoch *ep, const char *what, int status)
{
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (status < 0)
        report(ib, errno, "%s: git %s: cannot wait for it: %s", ep->label, what,
               strerror(errno));
    else if (WIFSIGNALED(status))
        report(ib, EIO, "%s: git %s was killed by signal %d", ep->label, what,
               WTERMSIG(status));
    else
        report(ib, EIO, "%s: git %s failed with exit status %d", ep->label, what,
               WEXITSTATUS(status));
    return -1;
}

/* ---- reading git's output ---- */

/* Read more into r->buf: bytes read, 0 at end of file, -1 on error. */
static ssize_t fill(struct reader *r)
{
    r->pos = r->len = 0;
    for (;;) {
        ssize_t n = read(r->fd, r->buf, sizeof r->buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            r->len = (size_t)n;
        return n;
    }
}

/* The next line, without its newline, cut at LINE_MAX_KEPT bytes: 1, 0 at end
 * of file, -1 on a read error or out of memory. */
static int read_line(struct reader *r, pd_buf *line)
{
    pd_buf_reset(line);
    bool any = false;
    for (;;) {
        if (r->pos == r->len) {
            ssize_t n = fill(r);
            if (n < 0)
                return -1;
            if (n == 0)
                return any ? 1 : 0;
        }
        any = true;
        const char *p = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        size_t keep = line->len < LINE_MAX_KEPT ? LINE_MAX_KEPT - line->len : 0;
        if (pd_buf_append(line, p, take < keep ? take : keep) < 0)
            return -1;
        r->pos += take + (nl ? 1 : 0);
        if (nl)
            return 1;
    }
}

/* Exactly n bytes into out (or dropped when out is NULL): 0, -1 at end of
 * file (errno 0), on a read error or out of memory. */
static int read_exact(struct reader *r, pd_buf *out, size_t n)
{
    while (n > 0) {
        if (r->pos == r->len) {
            ssize_t got = fill(r);
            if (got <= 0) {
                if (got == 0)
                    errno = 0;
                return -1;
            }
        }
        size_t take = r->len - r->pos < n ? r->len - r->pos : n;
        if (out && pd_buf_append(out, r->buf + r->pos, take) < 0) {
            errno = ENOMEM;
            return -1;
        }
        r->pos += take;
        n -= take;
    }
    return 0;
}

typedef int (*line_fn)(struct inbox *ib, void *arg, char *line, size_t len);

/* Run git (argv) in ep's repository, fn on each output line; fn's non-zero
 * return stops git.  Returns fn's non-zero value, -1 when reported, else 0
 * with git's wait status in *status. */
static int run_lines(struct inbox *ib, const struct epoch *ep, const char *what,
                     char *const argv[], line_fn fn, void *arg, int *status)
{
    struct child c;
    if (spawn_git(ib, ep, argv, false, &c) < 0)
        return -1;
    pd_buf line = PD_BUF_INIT;
    int rc = 0, r;
    while ((r = read_line(c.out, &line)) > 0) {
        if ((rc = fn(ib, arg, line.data ? line.data : "", line.len)) != 0)
            break;
    }
    int e = errno;
    pd_buf_free(&line);
    *status = end_child(&c, rc != 0 || r < 0);
    if (rc == 0 && r < 0) {
        report(ib, e, "%s: reading git %s: %s", ep->label, what, strerror(e));
        return -1;
    }
    return rc;
}

/* ":100644 100644 OLD NEW M\tPATH": NEW and the status letter for a PATH of
 * "m" or "d" (which *file gets); false for any other line. */
static bool parse_raw(const char *line, size_t len, char *file, char *status,
                      char oid[OID_MAX + 1])
{
    if (len < 4 || line[0] != ':' || line[len - 2] != '\t' ||
        (line[len - 1] != 'm' && line[len - 1] != 'd'))
        return false;
    const char *f[5];
    size_t fl[5], k = 0;
    const char *p = line + 1, *end = line + len - 2;
    while (k < 5 && p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *q = sp ? sp : end;
        f[k] = p;
        fl[k] = (size_t)(q - p);
        k++;
        p = q + 1;
    }
    if (k != 5 || p < end || fl[4] < 1 || !is_oid(f[3], fl[3]))
        return false;
    memcpy(oid, f[3], fl[3]);
    oid[fl[3]] = '\0';
    *status = f[4][0];
    *file = line[len - 1];
    return true;
}

/* ---- pass 1: every epoch's tip and removed blobs ---- */

static int tip_line(struct inbox *ib, void *arg, char *line, size_t len)
{
    (void)ib;
    struct epoch *ep = arg;
    if (!ep->tip[0] && is_oid(line, len))
        memcpy(ep->tip, line, len + 1);
    return 0;
}

static int removed_line(struct inbox *ib, void *arg, char *line, size_t len)
{
    (void)arg;
    char file, status, oid[OID_MAX + 1];
    if (!parse_raw(line, len, &file, &status, oid) || file != 'd' ||
        (status != 'A' && status != 'M'))
        return 0;
    if (ib->nremoved == ib->capremoved) {
        size_t nc = ib->capremoved ? ib->capremoved * 2 : 16;
        void *nv = realloc(ib->removed, nc * sizeof *ib->removed);
        if (!nv) {
            report(ib, ENOMEM, "out of memory");
            return -1;
        }
        ib->removed = nv;
        ib->capremoved = nc;
    }
    memcpy(ib->removed[ib->nremoved++], oid, sizeof oid);
    return 0;
}

static int oid_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int scan_epoch(struct inbox *ib, struct epoch *ep)
{
    char *rev_parse[] = { "git", "rev-parse", "--verify", "--quiet", "HEAD", NULL };
    int status, rc;
    if ((rc = run_lines(ib, ep, "rev-parse", rev_parse, tip_line, ep, &status)) != 0)
        return -1;
    if (!ep->tip[0]) {
        /* exit 1 and no output: no commit yet, an empty epoch */
        if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1)
            return 0;
        return check_exit(ib, ep, "rev-parse", status) < 0 ? -1 : 0;
    }
    if (check_exit(ib, ep, "rev-parse", status) < 0)
        return -1;
    char *log[] = { "git", "-c", "log.showRoot=true", "-c", "log.follow=false",
                    "log", "--first-parent", "--no-abbrev", "--no-renames", "--no-color",
                    "--no-notes", "--format=", "--raw", ep->tip, "--", "d", NULL };
    if (run_lines(ib, ep, "log", log, removed_line, NULL, &status) != 0)
        return -1;
    return check_exit(ib, ep, "log", status);
}

/* ---- pass 2: the messages ---- */

struct req {
    char oid[OID_MAX + 1];
    char commit[OID_MAX + 1];
};

struct reading {
    struct epoch *ep;
    struct child cat;
    char commit[OID_MAX + 1];
    bool has_commit, commit_has_m;
    struct req reqs[INFLIGHT];          /* a ring: asked, not yet answered */
    size_t head, inflight;
    pd_buf msg, label, hdr;
    bool broken;                        /* cat-file failed: reported */
};

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read cat-file's answer to the oldest request in flight, hand the message
 * to cb: 0, cb's non-zero return, or -1 (reported). */
static int answer(struct inbox *ib, struct reading *rd)
{
    const struct req *q = &rd->reqs[rd->head];
    rd->head = (rd->head + 1) % INFLIGHT;
    rd->inflight--;
    int r = read_line(rd->cat.out, &rd->hdr);
    if (r <= 0) {
        report(ib, r < 0 ? errno : EIO, "%s: git cat-file stopped answering", rd->ep->label);
        rd->broken = true;
        return -1;
    }
    /* "OID blob SIZE"; "OID missing" (or "ambiguous") with nothing after */
    size_t ol = strlen(q->oid);
    const char *h = rd->hdr.data ? rd->hdr.data : "";
    if (rd->hdr.len <= ol || memcmp(h, q->oid, ol) != 0 || h[ol] != ' ') {
        report(ib, EIO, "%s: git cat-file answered \"%.80s\" for %s", rd->ep->label, h,
               q->oid);
        rd->broken = true;
        return -1;
    }
    const char *type = h + ol + 1, *sp = strchr(type, ' ');
    if (!sp) {
        report(ib, EIO, "%s@%s: the message's blob %s is %.40s", rd->ep->label, q->commit,
               q->oid, type);
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long size = strtoull(sp + 1, &end, 10);
    if (errno || *end || end == sp + 1 || sp[1] == '-') {
        report(ib, EIO, "%s: git cat-file answered \"%.80s\"", rd->ep->label, h);
        rd->broken = true;
        return -1;
    }
    bool is_blob = (size_t)(sp - type) == 4 && memcmp(type, "blob", 4) == 0;
    bool keep = is_blob && size <= MESSAGE_MAX;
    pd_buf_reset(&rd->msg);
    pd_buf_reset(&rd->hdr);
    if (read_exact(rd->cat.out, keep ? &rd->msg : NULL, (size_t)size) < 0 ||
        read_exact(rd->cat.out, &rd->hdr, 1) < 0) {
        int e = errno;
        report(ib, e ? e : EIO, "%s: reading git cat-file: %s", rd->ep->label,
               e == ENOMEM ? "out of memory" : e ? strerror(e) : "end of file");
        rd->broken = true;
        return -1;
    }
    if (rd->hdr.data[0] != '\n') {
        report(ib, EIO, "%s: git cat-file's answer for %s ends without a newline",
               rd->ep->label, q->oid);
        rd->broken = true;
        return -1;
    }
    if (!is_blob) {
        report(ib, EIO, "%s@%s: the message %s is no blob", rd->ep->label, q->commit, q->oid);
        return 0;
    }
    if (!keep) {
        report(ib, EFBIG, "%s@%s: a message of %llu bytes, skipped", rd->ep->label, q->commit,
               size);
        return 0;
    }
    pd_buf_reset(&rd->label);
    if (pd_buf_printf(&rd->label, "%s@%s", rd->ep->label, q->commit) < 0 ||
        pd_buf_puts(&rd->msg, "") < 0) {
        report(ib, ENOMEM, "%s: out of memory", rd->ep->label);
        rd->broken = true;
        return -1;
    }
    int rc = ib->cb(ib->arg, rd->label.data, rd->msg.data, rd->msg.len);
    if (rc != 0)
        ib->stop = rc;
    return rc;
}

/* Ask cat-file for a blob, once the oldest answer is in when INFLIGHT are
 * out: 0, cb's non-zero return, or -1 (reported). */
static int ask(struct inbox *ib, struct reading *rd, const char *oid)
{
    int rc;
    if (rd->inflight == INFLIGHT && (rc = answer(ib, rd)) != 0)
        return rc;
    struct req *q = &rd->reqs[(rd->head + rd->inflight) % INFLIGHT];
    size_t l = strlen(oid);
    memcpy(q->oid, oid, l + 1);
    memcpy(q->commit, rd->commit, sizeof q->commit);
    char line[OID_MAX + 2];
    memcpy(line, oid, l);
    line[l] = '\n';
    if (send_all(rd->cat.in, line, l + 1) < 0) {
        report(ib, errno, "%s: writing to git cat-file: %s", rd->ep->label, strerror(errno));
        rd->broken = true;
        return -1;
    }
    rd->inflight++;
    return 0;
}

/* Every answer still due. */
static int drain(struct inbox *ib, struct reading *rd)
{
    int rc = 0;
    while (rd->inflight && (rc = answer(ib, rd)) == 0)
        ;
    return rc;
}

static void end_commit(struct inbox *ib, struct reading *rd)
{
    if (rd->has_commit && !rd->commit_has_m)
        ib->stats->no_message++;
    rd->has_commit = false;
}

static int message_line(struct inbox *ib, void *arg, char *line, size_t len)
{
    struct reading *rd = arg;
    if (is_oid(line, len)) {
        end_commit(ib, rd);
        memcpy(rd->commit, line, len + 1);
        rd->has_commit = true;
        rd->commit_has_m = false;
        return 0;
    }
    char file, status, oid[OID_MAX + 1];
    if (!rd->has_commit || !parse_raw(line, len, &file, &status, oid) || file != 'm' ||
        (status != 'A' && status != 'M'))
        return 0;
    rd->commit_has_m = true;
    if (ib->nremoved &&
        bsearch(oid, ib->removed, ib->nremoved, sizeof *ib->removed, oid_cmp)) {
        ib->stats->removed++;
        return 0;
    }
    return ask(ib, rd, oid);
}

static int read_epoch(struct inbox *ib, struct epoch *ep)
{
    if (!ep->tip[0])
        return 0;
    struct reading *rd = calloc(1, sizeof *rd);
    if (!rd) {
        report(ib, ENOMEM, "%s: out of memory", ep->label);
        return -1;
    }
    rd->ep = ep;
    char *cat[] = { "git", "cat-file", "--batch", NULL };
    char *log[] = { "git", "-c", "log.showRoot=true", "log", "--first-parent", "--reverse",
                    "--no-abbrev", "--no-renames", "--no-color", "--no-notes", "--format=%H",
                    "--raw", ep->tip, NULL };
    int rc = -1, status;
    if (spawn_git(ib, ep, cat, true, &rd->cat) < 0)
        goto out;
    ib->stats->git_epochs++;
    rc = run_lines(ib, ep, "log", log, message_line, rd, &status);
    if (rc == 0) {
        end_commit(ib, rd);
        rc = drain(ib, rd);
    }
    if (ib->stop) {
        rc = ib->stop;
    } else if (rc != 0) {
        rc = -1;   /* reported */
    } else if (check_exit(ib, ep, "log", status) < 0) {
        rc = -1;
    }
    /* cat-file exits at the end of its input: it was asked everything */
    int cs = end_child(&rd->cat, ib->stop != 0 || rd->broken);
    if (!ib->stop && !rd->broken && check_exit(ib, ep, "cat-file", cs) < 0)
        rc = -1;
out:
    if (rd->cat.pid >= 0)
        end_child(&rd->cat, true);
    pd_buf_free(&rd->msg);
    pd_buf_free(&rd->label);
    pd_buf_free(&rd->hdr);
    free(rd);
    return rc;
}

/* ---- the archive ---- */

static int add_epoch(struct inbox *ib, char *gitdir, const char *label)
{
    struct epoch *nv = realloc(ib->epochs, (ib->nepochs + 1) * sizeof *nv);
    if (!nv)
        return -1;
    ib->epochs = nv;
    struct epoch *ep = &ib->epochs[ib->nepochs];
    memset(ep, 0, sizeof *ep);
    ep->gitdir = gitdir;
    if (!(ep->label = strdup(label)))
        return -1;
    ib->nepochs++;
    return 0;
}

static int find_epochs(struct inbox *ib, const char *path, enum pd_inbox_kind kind)
{
    if (kind == PD_INBOX_REPO) {
        char *gitdir = is_git_dir(path) ? strdup(path) : join(path, ".git");
        if (!gitdir)
            return -1;
        if (add_epoch(ib, gitdir, path) < 0) {
            free(gitdir);
            return -1;
        }
        return 0;
    }
    char *dir = kind == PD_INBOX_V2 ? join(path, "git") : strdup(path);
    if (!dir)
        return -1;
    struct numbered *v;
    long n = list_epochs(dir, &v);
    free(dir);
    if (n < 0)
        return -1;
    int rc = 0;
    for (long i = 0; i < n; i++) {
        if (rc == 0 && add_epoch(ib, v[i].name, v[i].name) == 0)
            continue;
        free(v[i].name);
        rc = -1;
    }
    free(v);
    return rc;
}

int pd_inbox_each(const char *path, enum pd_inbox_kind kind, pd_mail_cb cb,
                  pd_mailbox_err_cb err_cb, void *arg, struct pd_mailbox_stats *stats)
{
    struct pd_mailbox_stats unused = { 0 };
    struct inbox ib = { .path = path, .cb = cb, .err_cb = err_cb, .arg = arg,
                        .stats = stats ? stats : &unused };
    int rc = 0;
    int found = find_git(&ib);
    if (found == 1) {
        report(&ib, ENOENT, "%s is a git archive but git is not installed", path);
        rc = -1;
        goto out;
    }
    if (found < 0 || make_env(&ib) < 0 || find_epochs(&ib, path, kind) < 0) {
        report(&ib, ENOMEM, "%s: out of memory", path);
        rc = -1;
        goto out;
    }
    /* pass 1: tips and removals, every epoch (a removal may come later) */
    for (size_t i = 0; i < ib.nepochs; i++) {
        if (scan_epoch(&ib, &ib.epochs[i]) != 0)
            ib.epochs[i].tip[0] = '\0';   /* reported; its messages not read either */
    }
    if (ib.nremoved)
        qsort(ib.removed, ib.nremoved, sizeof *ib.removed, oid_cmp);
    /* pass 2: the messages, oldest first */
    for (size_t i = 0; i < ib.nepochs && !ib.stop; i++)
        read_epoch(&ib, &ib.epochs[i]);   /* failures reported; go on */
out:
    for (size_t i = 0; i < ib.nepochs; i++) {
        free(ib.epochs[i].gitdir);
        free(ib.epochs[i].label);
    }
    free(ib.epochs);
    free(ib.removed);
    free(ib.envp);
    free(ib.git);
    pd_buf_free(&ib.git_dir_env);
    if (ib.stop)
        rc = ib.stop;
    else if (ib.failed)
        rc = -1;
    if (rc == -1)
        errno = EIO;
    return rc;
}
