/*
 * test_textz.c - pd_textz_pack() / pd_textz_unpack(): long texts round-trip
 * packed (zstd with the dictionary, with a kept state and without), short
 * or incompressible ones stay as they are, plain texts, zlib-packed and
 * zstd-packed texts without the dictionary (as written before) read as
 * they are, and corrupt packed texts, or texts packed with another
 * dictionary, are refused.
 */
#include "unit_util.h"

#include "pd_textz.h"

#include <zlib.h>
#include <zstd.h>

static void header_block(pd_buf *b, int lines)
{
    for (int i = 0; i < lines; i++)
        assert_int_equal(pd_buf_printf(b, "Received: from host%d.example.org (host%d.example.org "
                                          "[192.0.2.%d])\r\n\tby mx.example.org; Mon, 1 Jan 2024\r\n",
                                       i, i, i % 250), 0);
}

/* A packed text's head, as the packing writes it: NUL, kind, the length
 * (u32, little-endian); room for cap bytes after it.  Malloc'd. */
static unsigned char *packed_head(char kind, size_t len, size_t cap)
{
    unsigned char *d = malloc(6 + cap);
    assert_non_null(d);
    d[0] = '\0';
    d[1] = (unsigned char)kind;
    for (int i = 0; i < 4; i++)
        d[2 + i] = (unsigned char)((uint32_t)len >> (8 * i));
    return d;
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
        assert_int_equal(z.data[1], 'D');
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
    unsigned char *old = packed_head('Z', t.len, zlen);
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

/* Texts packed by the version before the dictionary ("\0S", length, a
 * zstd frame of its own) still read. */
static void test_zstd_packed_text_without_dictionary_reads(void **state)
{
    (void)state;
    pd_buf t = PD_BUF_INIT, back = PD_BUF_INIT;
    header_block(&t, 30);
    size_t cap = ZSTD_compressBound(t.len);
    unsigned char *old = packed_head('S', t.len, cap);
    size_t zlen = ZSTD_compress(old + 6, cap, t.data, t.len, 1);
    assert_false(ZSTD_isError(zlen));
    assert_int_equal(pd_textz_unpack(&back, (const char *)old, 6 + zlen), 0);
    assert_int_equal(back.len, t.len);
    assert_memory_equal(back.data, t.data, t.len);
    /* the same frame marked as one of the dictionary's: refused, not misread */
    old[1] = 'D';
    assert_int_equal(pd_textz_unpack(&back, (const char *)old, 6 + zlen), -1);
    free(old);
    pd_buf_free(&t);
    pd_buf_free(&back);
}

/* A frame made with another dictionary (no id, or another) is refused. */
static void test_other_dictionary_refused(void **state)
{
    (void)state;
    pd_buf t = PD_BUF_INIT, back = PD_BUF_INIT;
    header_block(&t, 30);
    static const char other[] = "Received: from by with ESMTP id for Message-ID Subject From";
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    size_t cap = ZSTD_compressBound(t.len);
    unsigned char *pk = packed_head('D', t.len, cap);
    assert_false(ZSTD_isError(ZSTD_CCtx_loadDictionary(cc, other, sizeof other)));
    size_t zlen = ZSTD_compress2(cc, pk + 6, cap, t.data, t.len);
    assert_false(ZSTD_isError(zlen));
    assert_int_equal(pd_textz_unpack(&back, (const char *)pk, 6 + zlen), -1);
    ZSTD_freeCCtx(cc);
    free(pk);
    pd_buf_free(&t);
    pd_buf_free(&back);
}

/* The dictionary is what list mail's texts have in common: a header block
 * of a vger list packs to well under what it packs to without it. */
static void test_dictionary_helps_on_list_headers(void **state)
{
    (void)state;
    static const char hb[] =
        "Return-Path: <kvm-owner@vger.kernel.org>\n"
        "Received: from vger.kernel.org (vger.kernel.org [23.128.96.18])\n"
        "\tby smtp.lore.kernel.org (Postfix) with ESMTP id 1A2B3C4D5E\n"
        "\tfor <kvm@archiver.kernel.org>; Tue, 2 Mar 2021 10:11:12 +0000 (UTC)\n"
        "Received: (majordomo@vger.kernel.org) by vger.kernel.org via listexpand\n"
        "\tid S1234567AbC (ORCPT <rfc822;kvm@archiver.kernel.org>);\n"
        "\tTue, 2 Mar 2021 05:11:12 -0500\n"
        "From: Jane Hacker <jane@example.com>\n"
        "To: kvm@vger.kernel.org\n"
        "Cc: Paolo Bonzini <pbonzini@redhat.com>, linux-kernel@vger.kernel.org\n"
        "Subject: [PATCH v2 3/7] KVM: x86: fix the thing that was broken\n"
        "Date: Tue,  2 Mar 2021 11:10:58 +0100\n"
        "Message-Id: <20210302101104.12345-4-jane@example.com>\n"
        "In-Reply-To: <20210302101104.12345-1-jane@example.com>\n"
        "References: <20210302101104.12345-1-jane@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "Precedence: bulk\n"
        "List-ID: <kvm.vger.kernel.org>\n"
        "X-Mailing-List: kvm@vger.kernel.org\n";
    pd_buf z = PD_BUF_INIT, back = PD_BUF_INIT;
    struct pd_textz *ctx = pd_textz_new();
    assert_non_null(ctx);
    assert_int_equal(pd_textz_pack(ctx, &z, hb, sizeof hb - 1), 0);
    assert_int_equal(z.data[1], 'D');
    void *tmp = malloc(ZSTD_compressBound(sizeof hb));
    assert_non_null(tmp);
    size_t without = ZSTD_compress(tmp, ZSTD_compressBound(sizeof hb), hb, sizeof hb - 1, 1);
    assert_false(ZSTD_isError(without));
    print_message("# %zu bytes: %zu packed with the dictionary, %zu without\n", sizeof hb - 1,
                  z.len - 6, without);
    assert_true(z.len - 6 < without * 3 / 4);
    assert_int_equal(pd_textz_unpack(&back, z.data, z.len), 0);
    assert_int_equal(back.len, sizeof hb - 1);
    assert_memory_equal(back.data, hb, sizeof hb - 1);
    free(tmp);
    pd_textz_free(ctx);
    pd_buf_free(&z);
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
        cmocka_unit_test(test_zstd_packed_text_without_dictionary_reads),
        cmocka_unit_test(test_other_dictionary_refused),
        cmocka_unit_test(test_dictionary_helps_on_list_headers),
        cmocka_unit_test(test_corrupt_packed_text_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
