/*
 * fuzz_util.h - what the fuzz targets share: stop on a system error, keep
 * the library's log quiet, a fast place for temporary files, and writing
 * the input to a file.  Define FUZZ_NAME ("fuzz_config", ...) before
 * including it.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include "pd_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A system call failed: not a finding, but the run cannot go on. */
static inline void fuzz_die(const char *what)
{
    fprintf(stderr, FUZZ_NAME ": %s: %s\n", what, strerror(errno));
    abort();
}

/* No log lines at all, unless PD_FUZZ_LOG is set. */
static inline void fuzz_quiet_logs(void)
{
    if (!getenv("PD_FUZZ_LOG"))
        pd_log_set_level((enum pd_loglevel)-1);
}

/* /dev/shm when it is writable (fsync costs nothing there), else TMPDIR or /tmp. */
static inline const char *fuzz_tmp_base(void)
{
    if (access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

/* Replace the file at path with data, mode mode. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) < 0)
        fuzz_die(path);
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fuzz_die(path);
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

#endif
