/*
 * sendmail.c - run the Sendmail command with a mail on its stdin.  See
 * pd_sendmail.h.  The mail is written through a non-blocking pipe under one
 * deadline, so neither a command that stops reading nor one that never
 * exits can hold the flush forever; SIGPIPE is ignored while writing.
 */
#include "pd_sendmail.h"
#include "pd_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ms_left(uint64_t deadline_us)
{
    uint64_t now = pd_now_us();
    return now >= deadline_us ? 0 : (int)((deadline_us - now) / 1000) + 1;
}

/* Wait for the child until the deadline, then kill it.  Its status, or -1. */
static int reap(pid_t pid, uint64_t deadline_us, bool *timed_out)
{
    int status;
    *timed_out = false;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (ms_left(deadline_us) == 0) {
            *timed_out = true;
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return status;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int pd_sendmail(const char *command, const char *data, size_t len, int timeout_ms, char *err,
                size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        if (dup2(fds[0], STDIN_FILENO) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    uint64_t deadline = pd_now_us() + (uint64_t)timeout_ms * 1000;
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    int flags = fcntl(fds[1], F_GETFL);
    if (flags >= 0)
        fcntl(fds[1], F_SETFL, flags | O_NONBLOCK);
    const char *write_err = NULL;
    int werrno = 0;
    for (size_t off = 0; off < len;) {
        struct pollfd p = { fds[1], POLLOUT, 0 };
        int left = ms_left(deadline);
        int pr = left ? poll(&p, 1, left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            write_err = pr == 0 ? "timed out" : "poll";
            werrno = pr == 0 ? 0 : errno;
            break;
        }
        ssize_t w = write(fds[1], data + off, len - off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            write_err = "write";
            werrno = errno;
            break;
        }
        off += (size_t)w;
    }
    close(fds[1]);
    sigaction(SIGPIPE, &old, NULL);
    bool timed_out;
    int status = reap(pid, write_err && !werrno ? pd_now_us() : deadline, &timed_out);
    if (timed_out || (write_err && !werrno)) {
        snprintf(err, errlen, "\"%s\" timed out after %d s and was killed", command,
                 timeout_ms / 1000);
        return -1;
    }
    if (status < 0) {
        snprintf(err, errlen, "\"%s\": cannot wait for it: %s", command, strerror(errno));
        return -1;
    }
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "\"%s\" was killed by signal %d", command, WTERMSIG(status));
        return -1;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "\"%s\" failed with exit status %d", command, WEXITSTATUS(status));
        return -1;
    }
    if (write_err) {
        snprintf(err, errlen, "\"%s\" did not read the whole mail (%s: %s)", command, write_err,
                 strerror(werrno));
        return -1;
    }
    return 0;
}
