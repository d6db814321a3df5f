/*
 * test_status.c - the milter's status file (pd_status.h) as far as Redis
 * Sentinel adds to it (issue 19): the master in use ("redis_master"), the
 * failovers seen, records waiting for the replicas; written, read back and
 * shown as text, JSON and Prometheus; an address that could break a line,
 * a JSON string or a Prometheus label is left out.
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
#include <unistd.h>

#include "pd_status.h"
#include "pd_util.h"

static int setup(void **state)
{
    return tmp_setup(state, "pdstatus", "milter.status");
}

static void test_master_round_trip(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_status st, back;
    memset(&st, 0, sizeof st);
    st.v[PD_ST_PID] = 42;
    st.v[PD_ST_UPDATED] = 1000;
    st.v[PD_ST_FAILOVERS] = 2;
    st.v[PD_ST_LAST_FAILOVER] = 1796594988;
    st.v[PD_ST_REPLICAS_WAITING] = 1;
    snprintf(st.redis_master, sizeof st.redis_master, "10.0.0.2:6379");
    assert_int_equal(pd_status_write(f->path, &st), 0);
    assert_int_equal(pd_status_read(f->path, &back), 0);
    assert_string_equal(back.redis_master, "10.0.0.2:6379");
    assert_int_equal(back.v[PD_ST_FAILOVERS], 2);
    assert_int_equal(back.v[PD_ST_LAST_FAILOVER], 1796594988);
    assert_int_equal(back.v[PD_ST_REPLICAS_WAITING], 1);
    assert_int_equal(back.v[PD_ST_PID], 42);

    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_status_json(&b, &back, 1001), 0);
    assert_non_null(strstr(b.data, "\"redis_master\":\"10.0.0.2:6379\""));
    assert_non_null(strstr(b.data, "\"failovers\":2"));
    assert_non_null(strstr(b.data, "\"last_failover\":1796594988"));
    assert_non_null(strstr(b.data, "\"replicas_waiting\":1"));
    b.len = 0;
    assert_int_equal(pd_status_prometheus(&b, &back, 1001), 0);
    assert_non_null(strstr(b.data, "\npatchdigest_redis_master{address=\"10.0.0.2:6379\"} 1\n"));
    assert_non_null(strstr(b.data, "\npatchdigest_redis_failovers_total 2\n"));
    assert_non_null(strstr(b.data, "\npatchdigest_redis_last_failover_time_seconds 1796594988\n"));
    assert_non_null(strstr(b.data, "\npatchdigest_redis_replicas_waiting 1\n"));
    b.len = 0;
    assert_int_equal(pd_status_text(&b, &back, 1001), 0);
    assert_non_null(strstr(b.data, "Redis master 10.0.0.2:6379; failovers seen 2, the last at "
                                   "2026-12-06 "));
    assert_non_null(strstr(b.data, "records wait for the replicas"));
    pd_buf_free(&b);
}

static void test_no_master_yet(void **state)
{
    struct tmp_fixture *f = *state;
    struct pd_status st, back;
    memset(&st, 0, sizeof st);
    assert_int_equal(pd_status_write(f->path, &st), 0);
    assert_int_equal(pd_status_read(f->path, &back), 0);
    assert_string_equal(back.redis_master, "");
    pd_buf b = PD_BUF_INIT;
    assert_int_equal(pd_status_json(&b, &back, 0), 0);
    assert_non_null(strstr(b.data, "\"redis_master\":null"));
    b.len = 0;
    assert_int_equal(pd_status_prometheus(&b, &back, 0), 0);
    assert_null(strstr(b.data, "patchdigest_redis_master{"));
    assert_non_null(strstr(b.data, "patchdigest_redis_failovers_total 0\n"));
    b.len = 0;
    assert_int_equal(pd_status_text(&b, &back, 0), 0);
    assert_null(strstr(b.data, "Redis master"));
    pd_buf_free(&b);
}

/* An address with a blank, a quote or a newline is not written (it could
 * not be read back as one value, nor be a JSON string or label as is). */
static void test_hostile_address_left_out(void **state)
{
    struct tmp_fixture *f = *state;
    static const char *const bad[] = { "a b:1", "x\":1", "x\\:1", "x\n:1", "\x7f:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pd_status st, back;
        memset(&st, 0, sizeof st);
        snprintf(st.redis_master, sizeof st.redis_master, "%s", bad[i]);
        assert_int_equal(pd_status_write(f->path, &st), 0);
        assert_int_equal(pd_status_read(f->path, &back), 0);
        assert_string_equal(back.redis_master, "");
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, tmp_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_master_round_trip),
        T(test_no_master_yet),
        T(test_hostile_address_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
