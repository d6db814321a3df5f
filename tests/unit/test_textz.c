/*
 * test_textz.c - pd_textz_pack() / pd_textz_unpack(): long texts round-trip
 * packed (zstd, with a kept state and without), short or incompressible
 * ones stay as they are, plain texts and zlib-packed texts (as written
 * before) read as they are, and corrupt packed texts are refused.
 */
#include "unit_util.h"

#include "pd_textz.h"

#include <zlib.h>

static void header_block(pd_buf *b, int lines)
{
    for (int i = 0; i < lines; i++)
        assert_int_equal(pd_buf_printf(b, "Received: from host%d.example.org (host%d.example.org "
                                          "[192.0.2.%d])\r\n\tby mx.example.org; Mon, 1 Jan 2024\r\n",
                                       i, i, i % 250), 0);
}

static void test_long_text_round_trips_packed(void **state)
{
    (void)state;
    pd_buf t = PD_BUF_INIT, z = PD_BUF_INIT, back = PD_BUF_INIT;
    struct pd_textz *ctx = pd_textz_new();
    assert_non_null(ctx);
    header_block(&t, 40);
    /* a kept state, used again and again, and a one-off state */
    for (int round = 0; round < 3; round++) {
        assert_int_equal(pd_textz_pack(round < 2 ? ctx : NULL, &z, t.data, t.len), 0);
        assert_true(pd_textz_is_packed(z.data, z.len));
        assert_int_equal(z.data[1], 'S');
        assert_true(z.len < t.len / 2);
        assert_int_equal(pd_textz_unpack(&back, z.data, z.len), 0);
        assert_int_equal(back.len, t.len);
        assert_memory_equal(back.data, t.data, t.len);
        header_block(&t, 7);   /* the next text differs */
    }
    pd_textz_free(ctx);
    pd_buf_free(&t);
    pd_buf_free(&z);
    pd_buf_free(&back);
}

static void test_short_and_incompressible_stay_plain(void **state)
{
    (void)state;
    pd_buf z = PD_BUF_INIT, back = PD_BUF_INIT, noise = PD_BUF_INIT;
    const char *shortt = "Subject: [PATCH] short\n";
    assert_int_equal(pd_textz_pack(NULL, &z, shortt, strlen(shortt)), 0);
    assert_false(pd_textz_is_packed(z.data, z.len));
    assert_string_equal(z.data, shortt);
    uint32_t x = 12345;
    for (int i = 0; i < 4000; i++) {
        x = x * 1103515245u + 12345u;
        assert_int_equal(pd_buf_putc(&noise, (char)(x >> 24)), 0);
    }
    assert_int_equal(pd_textz_pack(NULL, &z, noise.data, noise.len), 0);
    assert_false(pd_textz_is_packed(z.data, z.len));
    assert_int_equal(z.len, noise.len);
    assert_int_equal(pd_textz_unpack(&back, z.data, z.len), 0);
    assert_memory_equal(back.data, noise.data, noise.len);
    assert_int_equal(pd_textz_pack(NULL, &z, "", 0), 0);
    assert_int_equal(z.len, 0);
    pd_buf_free(&z);
    pd_buf_free(&back);
    pd_buf_free(&noise);
}

static void test_plain_text_reads_as_is(void **state)
{
    (void)state;
    pd_buf back = PD_BUF_INIT;
    const char *old = "Message-ID: <1@x>\nFrom: A <a@x>\n";
    assert_int_equal(pd_textz_unpack(&back, old, strlen(old)), 0);
    assert_string_equal(back.data, old);
    pd_buf_free(&back);
}

/* Texts packed by earlier versions (zlib: "\0Z", length, stream) still read. */
static void test_zlib_packed_text_reads(void **state)
{
    (void)state;
    pd_buf t = PD_BUF_INIT, back = PD_BUF_INIT;
    header_block(&t, 30);
    uLongf zlen = compressBound((uLong)t.len);
    unsigned char *old = malloc(6 + zlen);
    assert_non_null(old);
    old[0] = '\0';
    old[1] = 'Z';
    for (int i = 0; i < 4; i++)
        old[2 + i] = (unsigned char)((uint32_t)t.len >> (8 * i));
    assert_int_equal(compress2(old + 6, &zlen, (const Bytef *)t.data, (uLong)t.len, 6), Z_OK);
    assert_true(pd_textz_is_packed((const char *)old, 6 + zlen));
    assert_int_equal(pd_textz_unpack(&back, (const char *)old, 6 + zlen), 0);
    assert_int_equal(back.len, t.len);
    assert_memory_equal(back.data, t.data, t.len);
    /* cut short */
    assert_int_equal(pd_textz_unpack(&back, (const char *)old, 6 + zlen - 3), -1);
    free(old);
    pd_buf_free(&t);
    pd_buf_free(&back);
}

static void test_corrupt_packed_text_refused(void **state)
{
    (void)state;
    pd_buf t = PD_BUF_INIT, z = PD_BUF_INIT, back = PD_BUF_INIT;
    header_block(&t, 20);
    assert_int_equal(pd_textz_pack(NULL, &z, t.data, t.len), 0);
    assert_true(pd_textz_is_packed(z.data, z.len));
    /* cut short */
    assert_int_equal(pd_textz_unpack(&back, z.data, z.len - 5), -1);
    /* a length that does not match the stream */
    z.data[2] ^= 1;
    assert_int_equal(pd_textz_unpack(&back, z.data, z.len), -1);
    z.data[2] ^= 1;
    /* a length past the bound */
    z.data[5] = (char)0x7f;
    assert_int_equal(pd_textz_unpack(&back, z.data, z.len), -1);
    pd_buf_free(&t);
    pd_buf_free(&z);
    pd_buf_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_text_round_trips_packed),
        cmocka_unit_test(test_short_and_incompressible_stay_plain),
        cmocka_unit_test(test_plain_text_reads_as_is),
        cmocka_unit_test(test_zlib_packed_text_reads),
        cmocka_unit_test(test_corrupt_packed_text_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
