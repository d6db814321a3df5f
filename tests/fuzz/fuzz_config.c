/*
 * fuzz_config.c - libFuzzer target: the configuration parser.  The bytes are
 * written to a temporary file (mode 0640, so it is not refused as
 * world-writable), loaded with pd_config_load() and freed with
 * pd_config_clear().  On success the required keys must be there; on error
 * the message must have the "file:line: " form and the struct be cleared.
 *
 * One temporary file per process (in /dev/shm when it is writable, else
 * $TMPDIR or /tmp), removed at exit.
 *
 * Run:  make fuzz
 *       build/fuzz/fuzz_config -max_len=8192 MYCORPUS build/fuzz/corpus/config
 */
#define FUZZ_NAME "fuzz_config"
#include "fuzz_util.h"
#include "pd_config.h"
#include "pd_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_file(void)
{
    if (path[0])
        unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    snprintf(path, sizeof path, "%s/pd-fuzz-config-XXXXXX", fuzz_tmp_base());
    int fd = mkstemp(path);
    if (fd < 0)
        fuzz_die("mkstemp");
    close(fd);
    atexit(remove_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(path, data, size, 0640);

    struct pd_config cfg;
    char err[512] = "";
    if (pd_config_load(path, &cfg, err, sizeof err) == 0) {
        if (!cfg.socket || !cfg.redis || cfg.nlists == 0 || !cfg.lists[0].id ||
            !cfg.lists[0].name || (!cfg.redis_path && !cfg.redis_host)) {
            fprintf(stderr, "fuzz_config: loaded without a required key\n");
            abort();
        }
        pd_config_clear(&cfg);
    } else {
        size_t pl = strlen(path);
        if (strncmp(err, path, pl) != 0 || err[pl] != ':' || cfg.lists || cfg.socket) {
            fprintf(stderr, "fuzz_config: bad error \"%s\"\n", err);
            abort();
        }
    }
    return 0;
}
