/*
 * test_config.c - pd_config_load() on temporary files: every key, the
 * defaults, and "path:line: what is wrong" for every kind of error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_config.h"
#include "pd_log.h"

static int setup(void **state)
{
    return tmp_setup(state, "pdconf", "patchdigest.conf");
}

static void write_conf(const struct tmp_fixture *f, const char *text, mode_t mode)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(f->path, mode), 0);
}

static void load_ok(const struct tmp_fixture *f, const char *text, struct pd_config *cfg)
{
    write_conf(f, text, 0644);
    char err[512] = "";
    int rc = pd_config_load(f->path, cfg, err, sizeof err);
    if (rc != 0)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
}

#define MINIMAL "Socket unix:/run/pd.sock\nRedis unix:/run/redis.sock\nList kvm.vger.kernel.org KVM\n"

/* Load text, expect failure with "path:line: " and msg somewhere after it. */
static void check_error_at(const struct tmp_fixture *f, const char *text, int line, const char *msg,
                           const char *file, int srcline)
{
    write_conf(f, text, 0644);
    struct pd_config cfg;
    char err[512] = "";
    int rc = pd_config_load(f->path, &cfg, err, sizeof err);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    if (rc != -1 || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, msg)) {
        print_error("%s:%d: expected failure \"%s...%s\", got rc=%d err=\"%s\"\n", file, srcline,
                    prefix, msg, rc, err);
        if (rc == 0)
            pd_config_clear(&cfg);
        fail();
    }
    /* cfg is left cleared */
    assert_null(cfg.path);
    assert_null(cfg.socket);
    assert_null(cfg.lists);
    assert_int_equal(cfg.nlists, 0);
}

#define CHECK_ERROR(f, text, line, msg) check_error_at((f), (text), (line), (msg), __FILE__, __LINE__)

/* ---- valid files ---- */

static void test_full_file(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f,
            "# patchdigest test configuration\n"
            "\n"
            "Socket          inet:8893@localhost\n"
            "Redis           redis.example.org:6380\n"
            "RedisPassword   s3cret pass\n"
            "RedisDatabase   3\n"
            "KeyPrefix       test:\n"
            "List            <kvm.vger.kernel.org> KVM\n"
            "List            linux-kernel.vger.kernel.org   Linux Kernel  Mailing List   \n"
            "DigestFrom      patchdigest@example.org\n"
            "DigestTo        kvm@vger.kernel.org\n"
            "TopN            20\n"
            "JournalDir      /var/tmp/pd-journal\n"
            "MaxMessageBytes 16M\n"
            "Sendmail        /usr/lib/sendmail -t -oi\n"
            "Retention       2w\n"
            "User            patchdigest\n"
            "PidFile         /tmp/pd.pid\n"
            "LogLevel        debug\n",
            &cfg);
    assert_string_equal(cfg.path, f->path);
    assert_string_equal(cfg.socket, "inet:8893@localhost");
    assert_string_equal(cfg.redis, "redis.example.org:6380");
    assert_string_equal(cfg.redis_host, "redis.example.org");
    assert_null(cfg.redis_path);
    assert_int_equal(cfg.redis_port, 6380);
    assert_string_equal(cfg.redis_password, "s3cret pass");
    assert_int_equal(cfg.redis_database, 3);
    assert_string_equal(cfg.key_prefix, "test:");
    assert_int_equal(cfg.nlists, 2);
    assert_string_equal(cfg.lists[0].id, "kvm.vger.kernel.org");
    assert_string_equal(cfg.lists[0].name, "KVM");
    assert_string_equal(cfg.lists[1].id, "linux-kernel.vger.kernel.org");
    assert_string_equal(cfg.lists[1].name, "Linux Kernel  Mailing List");
    assert_string_equal(cfg.digest_from, "patchdigest@example.org");
    assert_string_equal(cfg.digest_to, "kvm@vger.kernel.org");
    assert_int_equal(cfg.top_n, 20);
    assert_string_equal(cfg.journal_dir, "/var/tmp/pd-journal");
    assert_int_equal(cfg.max_message_bytes, 16u * 1024 * 1024);
    assert_string_equal(cfg.sendmail, "/usr/lib/sendmail -t -oi");
    assert_int_equal(cfg.retention, 14u * 86400);
    assert_string_equal(cfg.user, "patchdigest");
    assert_string_equal(cfg.pid_file, "/tmp/pd.pid");
    assert_int_equal(cfg.log_level, PD_LOG_DEBUG);
    assert_ptr_equal(pd_config_find_list(&cfg, "KVM.vger.kernel.ORG"), &cfg.lists[0]);
    assert_ptr_equal(pd_config_find_list(&cfg, "linux-kernel.vger.kernel.org"), &cfg.lists[1]);
    assert_null(pd_config_find_list(&cfg, "kvm"));
    assert_null(pd_config_find_list(&cfg, "<kvm.vger.kernel.org>"));
    pd_config_clear(&cfg);
    assert_null(cfg.path);
    assert_null(cfg.lists);
}

static void test_defaults(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL, &cfg);
    assert_string_equal(cfg.socket, "unix:/run/pd.sock");
    assert_string_equal(cfg.redis, "unix:/run/redis.sock");
    assert_string_equal(cfg.redis_path, "/run/redis.sock");
    assert_null(cfg.redis_host);
    assert_null(cfg.redis_password);
    assert_int_equal(cfg.redis_database, 0);
    assert_int_equal(cfg.top_n, 15);
    assert_string_equal(cfg.key_prefix, "pd:");
    assert_int_equal(cfg.retention, 90u * 86400);
    assert_int_equal(cfg.max_message_bytes, 8u * 1024 * 1024);
    assert_string_equal(cfg.journal_dir, "/var/lib/patchdigest/journal");
    assert_string_equal(cfg.sendmail, "/usr/sbin/sendmail -t -i");
    assert_string_equal(cfg.pid_file, "/run/patchdigest/patchdigest-milter.pid");
    assert_string_equal(cfg.status_file, "/run/patchdigest/patchdigest-milter.status");
    assert_int_equal(cfg.socket_mode, 0660);
    assert_null(cfg.socket_group);
    assert_int_equal(cfg.log_level, PD_LOG_INFO);
    assert_null(cfg.user);
    assert_null(cfg.digest_from);
    assert_null(cfg.digest_to);
    assert_int_equal(cfg.nlists, 1);
    assert_string_equal(cfg.lists[0].id, "kvm.vger.kernel.org");
    assert_string_equal(cfg.lists[0].name, "KVM");
    pd_config_clear(&cfg);
}

static void test_config_defaults_function(void **state)
{
    (void)state;
    struct pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(cfg.top_n, 15);
    assert_string_equal(cfg.key_prefix, "pd:");
    assert_int_equal(cfg.retention, 90u * 86400);
    assert_int_equal(cfg.max_message_bytes, 8u * 1024 * 1024);
    assert_int_equal(cfg.nlists, 0);
    assert_null(cfg.socket);
    pd_config_clear(&cfg);
}

static void test_keys_case_insensitive_tabs_crlf(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f,
            "   # indented comment\r\n"
            "socket\tlocal:/run/pd.sock\r\n"
            "REDIS\t[::1]:7000\r\n"
            "list\tkvm.vger.kernel.org\tKVM list\r\n"
            "topn 1\r\n"
            "loglevel ERR\r\n",
            &cfg);
    assert_string_equal(cfg.socket, "local:/run/pd.sock");
    assert_string_equal(cfg.redis_host, "::1");
    assert_int_equal(cfg.redis_port, 7000);
    assert_string_equal(cfg.lists[0].id, "kvm.vger.kernel.org");
    assert_string_equal(cfg.lists[0].name, "KVM list");
    assert_int_equal(cfg.top_n, 1);
    assert_int_equal(cfg.log_level, PD_LOG_ERR);
    pd_config_clear(&cfg);
}

static void test_multiple_lists_and_brackets(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f,
            "Socket unix:/run/pd.sock\nRedis localhost:6379\n"
            "List <kvm.vger.kernel.org> KVM\n"
            "List kvm-ppc.vger.kernel.org KVM PPC\n"
            "List <linux-kernel.vger.kernel.org> The Linux Kernel Mailing List\n",
            &cfg);
    assert_int_equal(cfg.nlists, 3);
    assert_string_equal(cfg.lists[0].id, "kvm.vger.kernel.org");
    assert_string_equal(cfg.lists[0].name, "KVM");
    assert_string_equal(cfg.lists[1].id, "kvm-ppc.vger.kernel.org");
    assert_string_equal(cfg.lists[1].name, "KVM PPC");
    assert_string_equal(cfg.lists[2].id, "linux-kernel.vger.kernel.org");
    assert_string_equal(cfg.lists[2].name, "The Linux Kernel Mailing List");
    assert_string_equal(cfg.redis_host, "localhost");
    assert_int_equal(cfg.redis_port, 6379);
    pd_config_clear(&cfg);
}

static void test_sizes_and_durations(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL "MaxMessageBytes 4096\nRetention 3600\n", &cfg);
    assert_int_equal(cfg.max_message_bytes, 4096);
    assert_int_equal(cfg.retention, 3600);
    pd_config_clear(&cfg);
    load_ok(f, MINIMAL "MaxMessageBytes 1G\nRetention 12h\n", &cfg);
    assert_int_equal(cfg.max_message_bytes, 1024u * 1024 * 1024);
    assert_int_equal(cfg.retention, 12u * 3600);
    pd_config_clear(&cfg);
    load_ok(f, MINIMAL "MaxMessageBytes 512K\nRetention 90d\n", &cfg);
    assert_int_equal(cfg.max_message_bytes, 512u * 1024);
    assert_int_equal(cfg.retention, 90u * 86400);
    pd_config_clear(&cfg);
}

/* ---- errors ---- */

static void test_error_unknown_key(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "# comment\n\nSocket unix:/run/pd.sock\nSockett unix:/x\n", 4,
                "unknown key 'Sockett'");
    CHECK_ERROR(f, "Frobnicate yes\n" MINIMAL, 1, "unknown key 'Frobnicate'");
}

static void test_error_bad_socket(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "# c\nSocket foo\nRedis localhost:6379\nList a.b A\n", 2, "Socket");
    CHECK_ERROR(f, "Redis localhost:6379\nSocket unix:relative/path\n", 2, "Socket");
    CHECK_ERROR(f, "Redis localhost:6379\n\n\nSocket inet:0@localhost\n", 4, "Socket");
    CHECK_ERROR(f, "Socket inet:8893@\n", 1, "Socket");
    CHECK_ERROR(f, "Socket inet:@localhost\n", 1, "Socket");
}

static void test_error_bad_redis(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedis nohost\n", 2, "Redis");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\n#\n#\nRedis localhost:0\n", 4, "port");
    CHECK_ERROR(f, "Redis localhost:65536\n", 1, "port");
    CHECK_ERROR(f, "Redis localhost:http\n", 1, "port");
    CHECK_ERROR(f, "Redis :6379\n", 1, "Redis");
    CHECK_ERROR(f, "Redis unix:relative\n", 1, "Redis");
}

static void test_error_bad_numbers(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, MINIMAL "TopN 0\n", 4, "TopN");
    CHECK_ERROR(f, MINIMAL "TopN 1001\n", 4, "TopN");
    CHECK_ERROR(f, MINIMAL "TopN 15x\n", 4, "TopN");
    CHECK_ERROR(f, MINIMAL "TopN -1\n", 4, "TopN");
    CHECK_ERROR(f, MINIMAL "\nRedisDatabase -1\n", 5, "RedisDatabase");
    CHECK_ERROR(f, MINIMAL "MaxMessageBytes lots\n", 4, "MaxMessageBytes");
    CHECK_ERROR(f, MINIMAL "MaxMessageBytes 100\n", 4, "MaxMessageBytes");
    CHECK_ERROR(f, MINIMAL "MaxMessageBytes 2G\n", 4, "MaxMessageBytes");
    CHECK_ERROR(f, MINIMAL "Retention 5x\n", 4, "Retention");
    CHECK_ERROR(f, MINIMAL "Retention 1m\n", 4, "Retention");
    CHECK_ERROR(f, MINIMAL "Retention d\n", 4, "Retention");
}

static void test_error_bad_words(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, MINIMAL "LogLevel loud\n", 4, "LogLevel");
    CHECK_ERROR(f, MINIMAL "# x\nJournalDir var/lib/pd\n", 5, "JournalDir");
    CHECK_ERROR(f, MINIMAL "PidFile pd.pid\n", 4, "PidFile");
    CHECK_ERROR(f, MINIMAL "KeyPrefix pd{x}:\n", 4, "KeyPrefix");
    CHECK_ERROR(f, MINIMAL "DigestFrom patchdigest\n", 4, "address");
    CHECK_ERROR(f, MINIMAL "DigestTo nobody\n", 4, "address");
    CHECK_ERROR(f, MINIMAL "DomainMap domain-map\n", 4, "DomainMap");
    CHECK_ERROR(f, MINIMAL "StatusFile pd.status\n", 4, "StatusFile");
    CHECK_ERROR(f, MINIMAL "SocketMode 660\n", 4, "SocketMode");
    CHECK_ERROR(f, MINIMAL "SocketMode 0888\n", 4, "SocketMode");
    CHECK_ERROR(f, MINIMAL "SocketMode 01777\n", 4, "SocketMode");
    CHECK_ERROR(f, MINIMAL "SocketMode rw\n", 4, "SocketMode");
}

static void test_socket_and_status_keys(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL "SocketMode 0600\nsocketgroup postfix\nStatusFile /run/x.status\n", &cfg);
    assert_int_equal(cfg.socket_mode, 0600);
    assert_string_equal(cfg.socket_group, "postfix");
    assert_string_equal(cfg.status_file, "/run/x.status");
    pd_config_clear(&cfg);
}

static void test_domain_map_key(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL, &cfg);
    assert_null(cfg.domain_map);
    pd_config_clear(&cfg);
    load_ok(f, MINIMAL "domainmap /etc/patchdigest/domain-map\n", &cfg);
    assert_string_equal(cfg.domain_map, "/etc/patchdigest/domain-map");
    pd_config_clear(&cfg);
}

/* ---- outcomes: ArchiveURL, ListDigestTo ---- */

static void test_archive_url(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL, &cfg);
    assert_null(cfg.archive_url);
    pd_config_clear(&cfg);
    load_ok(f, MINIMAL "ArchiveURL https://lore.kernel.org/r/%m\n", &cfg);
    assert_string_equal(cfg.archive_url, "https://lore.kernel.org/r/%m");
    pd_config_clear(&cfg);
    CHECK_ERROR(f, MINIMAL "ArchiveURL https://lore.kernel.org/r/\n", 4, "needs %m");
    CHECK_ERROR(f, MINIMAL "ArchiveURL https://x/%s\n", 4, "% may only stand in %m");
    CHECK_ERROR(f, MINIMAL "ArchiveURL https://x/%m y\n", 4, "blanks");
    CHECK_ERROR(f, MINIMAL "ArchiveURL https://x/%m\nArchiveURL https://y/%m\n", 5, "twice");
}

static void test_list_digest_to(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, MINIMAL "List kvmarm.lists.linux.dev KVMARM\nDigestTo all@example.org\n"
               "ListDigestTo <KVMARM.lists.linux.dev> arm-readers@example.org\n"
               "List netdev.vger.kernel.org Netdev\n", &cfg);
    assert_string_equal(pd_config_digest_to(&cfg, &cfg.lists[1]), "arm-readers@example.org");
    assert_string_equal(pd_config_digest_to(&cfg, &cfg.lists[0]), "all@example.org");
    assert_string_equal(pd_config_digest_to(&cfg, &cfg.lists[2]), "all@example.org");
    pd_config_clear(&cfg);
    /* without DigestTo, only the lists with their own */
    load_ok(f, MINIMAL "ListDigestTo kvm.vger.kernel.org kvm-readers@example.org\n"
               "List kvmarm.lists.linux.dev KVMARM\n", &cfg);
    assert_string_equal(pd_config_digest_to(&cfg, &cfg.lists[0]), "kvm-readers@example.org");
    assert_null(pd_config_digest_to(&cfg, &cfg.lists[1]));
    pd_config_clear(&cfg);
    CHECK_ERROR(f, MINIMAL "ListDigestTo netdev.vger.kernel.org n@example.org\n", 4,
                "no List line above");
    CHECK_ERROR(f, MINIMAL "ListDigestTo kvm.vger.kernel.org\n", 4, "a list id and an address");
    CHECK_ERROR(f, MINIMAL "ListDigestTo kvm.vger.kernel.org nobody\n", 4, "email address");
    CHECK_ERROR(f, MINIMAL "ListDigestTo kvm.vger.kernel.org a@example.org\n"
                "ListDigestTo kvm.vger.kernel.org b@example.org\n", 5, "twice");
}

static void test_error_key_twice(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "Socket unix:/a.sock\nRedis localhost:6379\nSocket unix:/b.sock\n", 3,
                "Socket given twice (first on line 1)");
    CHECK_ERROR(f, MINIMAL "\nTopN 5\ntopn 6\n", 6, "given twice (first on line 5)");
    /* the same list id twice */
    CHECK_ERROR(f, MINIMAL "List <kvm.vger.kernel.org> KVM again\n", 4, "List");
}

static void test_error_list_without_name(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedis localhost:6379\nList kvm.vger.kernel.org\n", 3,
                "List");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nList kvm.vger.kernel.org   \n", 2, "List");
    CHECK_ERROR(f, "List <> KVM\n", 1, "List");
}

static void test_error_key_without_value(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, MINIMAL "TopN\n", 4, "TopN needs a value");
    CHECK_ERROR(f, "Socket   \n", 1, "Socket needs a value");
}

static void test_error_missing_required(void **state)
{
    struct tmp_fixture *f = *state;
    /* no line to blame: the error names the end of the file */
    CHECK_ERROR(f, "Redis localhost:6379\nList a.b A\n", 2, "missing required key Socket");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\n# no redis\nList a.b A\n", 3,
                "missing required key Redis");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedis localhost:6379\n\n", 3,
                "missing required key List");
    CHECK_ERROR(f, "", 0, "missing required key Socket");
}

static void test_error_nul_byte(void **state)
{
    struct tmp_fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    static const char text[] = MINIMAL "TopN 1\0 2\n";
    assert_int_equal(fwrite(text, 1, sizeof text - 1, fp), sizeof text - 1);
    fclose(fp);
    struct pd_config cfg;
    char err[512] = "", prefix[256];
    assert_int_equal(pd_config_load(f->path, &cfg, err, sizeof err), -1);
    snprintf(prefix, sizeof prefix, "%s:4: ", f->path);
    assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
}

static void test_world_writable_refused(void **state)
{
    struct tmp_fixture *f = *state;
    write_conf(f, MINIMAL, 0666);
    struct pd_config cfg;
    char err[512] = "";
    assert_int_equal(pd_config_load(f->path, &cfg, err, sizeof err), -1);
    assert_true(strncmp(err, f->path, strlen(f->path)) == 0);
    assert_non_null(strstr(err, "world-writable"));
    assert_null(cfg.socket);
    /* group-writable is accepted */
    write_conf(f, MINIMAL, 0664);
    assert_int_equal(pd_config_load(f->path, &cfg, err, sizeof err), 0);
    pd_config_clear(&cfg);
}

static void test_missing_file(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    char err[512] = "";
    assert_int_equal(pd_config_load(f->path, &cfg, err, sizeof err), -1);
    assert_true(strncmp(err, f->path, strlen(f->path)) == 0);
    assert_non_null(strstr(err, "cannot open"));
    assert_null(cfg.path);
}

/* ---- Redis Sentinel (issue 19) ---- */

static void test_sentinel_keys(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_config cfg;
    load_ok(f, "Socket unix:/run/pd.sock\n"
               "RedisSentinel  mymaster 10.0.0.1:26379\t[::1]:26380  sentinel.example.org:26381\n"
               "RedisPassword  s3cret\n"
               "SentinelPassword  sp\n"
               "RedisReplicas  1\n"
               "List kvm.vger.kernel.org KVM\n", &cfg);
    assert_string_equal(cfg.sentinel_master, "mymaster");
    assert_int_equal(cfg.nsentinels, 3);
    assert_string_equal(cfg.sentinel_hosts[0], "10.0.0.1");
    assert_int_equal(cfg.sentinel_ports[0], 26379);
    assert_string_equal(cfg.sentinel_hosts[1], "::1");
    assert_int_equal(cfg.sentinel_ports[1], 26380);
    assert_string_equal(cfg.sentinel_hosts[2], "sentinel.example.org");
    assert_int_equal(cfg.sentinel_ports[2], 26381);
    assert_string_equal(cfg.sentinel_password, "sp");
    assert_string_equal(cfg.redis_password, "s3cret");
    assert_int_equal(cfg.redis_replicas, 1);
    assert_null(cfg.redis_path);
    assert_null(cfg.redis_host);
    assert_non_null(strstr(cfg.redis, "mymaster"));
    pd_config_clear(&cfg);

    load_ok(f, MINIMAL, &cfg);
    assert_null(cfg.sentinel_master);
    assert_int_equal(cfg.nsentinels, 0);
    assert_int_equal(cfg.redis_replicas, 0);   /* the default */
    pd_config_clear(&cfg);
}

static void test_error_bad_sentinel(void **state)
{
    struct tmp_fixture *f = *state;
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedisSentinel mymaster\n", 2, "RedisSentinel");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\n#\nRedisSentinel mymaster localhost\n", 3,
                "host:port");
    CHECK_ERROR(f, "RedisSentinel m a:1 b:0\n", 1, "host:port");
    CHECK_ERROR(f, "RedisSentinel m a:1 :26379\n", 1, "host:port");
    CHECK_ERROR(f, "RedisSentinel m a:1 b:http\n", 1, "host:port");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedis localhost:6379\nList a.b A\n"
                   "RedisSentinel m a:1\n", 4, "exclude");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedisSentinel m a:1\nList a.b A\n"
                   "Redis localhost:6379\n", 4, "exclude");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nRedisSentinel m a:1\nRedisSentinel n b:2\n", 3,
                "given twice");
    CHECK_ERROR(f, MINIMAL "SentinelPassword x\n", 4, "SentinelPassword needs RedisSentinel");
    CHECK_ERROR(f, MINIMAL "RedisReplicas -1\n", 4, "RedisReplicas");
    CHECK_ERROR(f, MINIMAL "RedisReplicas 101\n", 4, "RedisReplicas");
    CHECK_ERROR(f, MINIMAL "RedisReplicas one\n", 4, "RedisReplicas");
    CHECK_ERROR(f, "Socket unix:/run/pd.sock\nList a.b A\n", 2,
                "missing required key Redis (or RedisSentinel)");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, tmp_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_full_file),
        T(test_defaults),
        cmocka_unit_test(test_config_defaults_function),
        T(test_keys_case_insensitive_tabs_crlf),
        T(test_multiple_lists_and_brackets),
        T(test_sizes_and_durations),
        T(test_error_unknown_key),
        T(test_error_bad_socket),
        T(test_error_bad_redis),
        T(test_error_bad_numbers),
        T(test_error_bad_words),
        T(test_domain_map_key),
        T(test_socket_and_status_keys),
        T(test_error_key_twice),
        T(test_archive_url),
        T(test_list_digest_to),
        T(test_error_list_without_name),
        T(test_error_key_without_value),
        T(test_error_missing_required),
        T(test_error_nul_byte),
        T(test_world_writable_refused),
        T(test_missing_file),
        T(test_sentinel_keys),
        T(test_error_bad_sentinel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
