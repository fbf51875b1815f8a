/* The bounded reader, the writer with a ceiling, and identity checks. */
#include <string.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

/* ---- Reader ---- */

static void
rd_fixed_width_reads(void **state)
{
	static const uint8_t in[] = {
		0x01,
		0x02, 0x03,
		0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	};
	rd r = rd_make(in, sizeof(in));
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;

	(void)state;
	assert_int_equal(rd_u8(&r, &a), TRIPKI_OK);
	assert_int_equal(rd_u16(&r, &b), TRIPKI_OK);
	assert_int_equal(rd_u32(&r, &c), TRIPKI_OK);
	assert_int_equal(rd_u64(&r, &d), TRIPKI_OK);
	assert_int_equal(a, 0x01);
	assert_int_equal(b, 0x0203);
	assert_int_equal(c, 0x04050607);
	assert_true(d == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(r.n, 0);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
}

/* Every width one byte short is TRUNCATED and consumes nothing. */
static void
rd_truncated_reads(void **state)
{
	static const uint8_t in[8] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	const uint8_t *p;
	uint8_t a, buf[8];
	uint16_t b;
	uint32_t c;
	uint64_t d;
	rd r;

	(void)state;
	r = rd_make(in, 0);
	assert_int_equal(rd_u8(&r, &a), TRIPKI_E_TRUNCATED);
	r = rd_make(in, 1);
	assert_int_equal(rd_u16(&r, &b), TRIPKI_E_TRUNCATED);
	assert_int_equal(r.n, 1);
	r = rd_make(in, 3);
	assert_int_equal(rd_u32(&r, &c), TRIPKI_E_TRUNCATED);
	assert_int_equal(r.n, 3);
	r = rd_make(in, 7);
	assert_int_equal(rd_u64(&r, &d), TRIPKI_E_TRUNCATED);
	r = rd_make(in, 7);
	assert_int_equal(rd_bytes(&r, 8, &p), TRIPKI_E_TRUNCATED);
	assert_int_equal(r.n, 7);
	assert_ptr_equal(r.p, in);
	assert_int_equal(rd_copy(&r, buf, 8), TRIPKI_E_TRUNCATED);
	assert_int_equal(rd_bytes(&r, SIZE_MAX, &p), TRIPKI_E_TRUNCATED);
	/* What is there can still be read. */
	assert_int_equal(rd_copy(&r, buf, 7), TRIPKI_OK);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
}

static void
rd_vectors(void **state)
{
	static const uint8_t v8[] = { 3, 'a', 'b', 'c' };
	static const uint8_t v16[] = { 0, 2, 'x', 'y' };
	const uint8_t *p;
	size_t n;
	rd r;

	(void)state;
	r = rd_make(v8, sizeof(v8));
	assert_int_equal(rd_vec8(&r, 3, &p, &n), TRIPKI_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(rd_end(&r), TRIPKI_OK);

	r = rd_make(v16, sizeof(v16));
	assert_int_equal(rd_vec16(&r, 2, &p, &n), TRIPKI_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "xy", 2);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
}

static void
rd_vector_over_limit(void **state)
{
	static const uint8_t v8[] = { 3, 'a', 'b', 'c' };
	static const uint8_t v16[] = { 0x01, 0x00 }; /* claims 256 */
	const uint8_t *p;
	size_t n;
	rd r;

	(void)state;
	r = rd_make(v8, sizeof(v8));
	assert_int_equal(rd_vec8(&r, 2, &p, &n), TRIPKI_E_TOO_BIG);
	/* The limit wins over the truncation it would also be. */
	r = rd_make(v16, sizeof(v16));
	assert_int_equal(rd_vec16(&r, 255, &p, &n), TRIPKI_E_TOO_BIG);
	r = rd_make(v16, sizeof(v16));
	assert_int_equal(rd_vec16(&r, 256, &p, &n), TRIPKI_E_TRUNCATED);
}

static void
rd_vector_truncated(void **state)
{
	static const uint8_t v8[] = { 4, 'a', 'b', 'c' };
	static const uint8_t v16[] = { 0x00, 0x04, 'a', 'b', 'c' };
	static const uint8_t half[] = { 0x00 };
	const uint8_t *p;
	size_t n;
	rd r;

	(void)state;
	r = rd_make(v8, sizeof(v8));
	assert_int_equal(rd_vec8(&r, 255, &p, &n), TRIPKI_E_TRUNCATED);
	r = rd_make(v16, sizeof(v16));
	assert_int_equal(rd_vec16(&r, 1000, &p, &n), TRIPKI_E_TRUNCATED);
	r = rd_make(half, sizeof(half));
	assert_int_equal(rd_vec16(&r, 1000, &p, &n), TRIPKI_E_TRUNCATED);
	r = rd_make(half, 0);
	assert_int_equal(rd_vec8(&r, 1000, &p, &n), TRIPKI_E_TRUNCATED);
}

static void
rd_end_with_bytes_left(void **state)
{
	static const uint8_t in[] = { 1, 2, 3 };
	const uint8_t *p;
	size_t n;
	uint8_t a;
	rd r = rd_make(in, sizeof(in));

	(void)state;
	assert_int_equal(rd_u8(&r, &a), TRIPKI_OK);
	assert_int_equal(rd_end(&r), TRIPKI_E_TRAILING);
	rd_rest(&r, &p, &n);
	assert_int_equal(n, 2);
	assert_ptr_equal(p, in + 1);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
}

static void
rd_id_accepts(void **state)
{
	uint8_t in[1 + TRIPKI_ID_MAX];
	char id[TRIPKI_ID_MAX + 1];
	rd r;

	(void)state;
	/* Every printable byte, and the longest identity. */
	in[0] = 0x7e - 0x20 + 1;
	for (int i = 0; i < in[0]; i++)
		in[1 + i] = (uint8_t)(0x20 + i);
	r = rd_make(in, 1 + (size_t)in[0]);
	assert_int_equal(rd_id(&r, id), TRIPKI_OK);
	assert_int_equal(strlen(id), in[0]);
	assert_int_equal(id[0], ' ');
	assert_int_equal(id[in[0] - 1], '~');

	in[0] = TRIPKI_ID_MAX;
	memset(in + 1, 'x', TRIPKI_ID_MAX);
	r = rd_make(in, sizeof(in));
	assert_int_equal(rd_id(&r, id), TRIPKI_OK);
	assert_int_equal(strlen(id), TRIPKI_ID_MAX);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
}

static void
rd_id_rejects(void **state)
{
	static const uint8_t empty[] = { 0 };
	static const uint8_t nul[] = { 3, 'a', 0x00, 'b' };
	static const uint8_t ctl[] = { 3, 'a', '\n', 'b' };
	static const uint8_t del[] = { 2, 'a', 0x7f };
	static const uint8_t high[] = { 2, 'a', 0xc3 };
	static const uint8_t tab[] = { 1, '\t' };
	static const uint8_t short_[] = { 5, 'a', 'b' };
	char id[TRIPKI_ID_MAX + 1];
	uint8_t big[1 + 256];
	rd r;

	(void)state;
	r = rd_make(empty, sizeof(empty));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(nul, sizeof(nul));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(ctl, sizeof(ctl));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(del, sizeof(del));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(high, sizeof(high));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(tab, sizeof(tab));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_BAD_FIELD);
	r = rd_make(short_, sizeof(short_));
	assert_int_equal(rd_id(&r, id), TRIPKI_E_TRUNCATED);
	r = rd_make(short_, 0);
	assert_int_equal(rd_id(&r, id), TRIPKI_E_TRUNCATED);
	/*
	 * A vec8 cannot say 256, so an identity over 255 bytes cannot be
	 * encoded at all: a length byte of 255 followed by 256 bytes reads
	 * 255 and leaves one behind.
	 */
	big[0] = 0xff;
	memset(big + 1, 'y', 256);
	r = rd_make(big, sizeof(big));
	assert_int_equal(rd_id(&r, id), TRIPKI_OK);
	assert_int_equal(rd_end(&r), TRIPKI_E_TRAILING);
}

/* Timestamps are u64 on the wire but never above INT64_MAX. */
static void
rd_ts_range(void **state)
{
	static const uint8_t max[] = {
		0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t over[] = { 0x80, 0, 0, 0, 0, 0, 0, 0 };
	int64_t ts;
	rd r;

	(void)state;
	r = rd_make(max, sizeof(max));
	assert_int_equal(rd_ts(&r, &ts), TRIPKI_OK);
	assert_true(ts == INT64_MAX);
	r = rd_make(over, sizeof(over));
	assert_int_equal(rd_ts(&r, &ts), TRIPKI_E_BAD_FIELD);
	r = rd_make(over, 7);
	assert_int_equal(rd_ts(&r, &ts), TRIPKI_E_TRUNCATED);
}

/* ---- Writer ---- */

static void
buf_writes_big_endian(void **state)
{
	static const uint8_t want[] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		2, 'h', 'i', 0, 1, 'z', 4, 'I', 'D', '-', 'S',
	};
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, 64);
	assert_int_equal(buf_u8(&b, 0x01), TRIPKI_OK);
	assert_int_equal(buf_u16(&b, 0x0203), TRIPKI_OK);
	assert_int_equal(buf_u32(&b, 0x04050607), TRIPKI_OK);
	assert_int_equal(buf_u64(&b, 0x08090a0b0c0d0e0fULL), TRIPKI_OK);
	assert_int_equal(buf_vec8(&b, "hi", 2), TRIPKI_OK);
	assert_int_equal(buf_vec16(&b, "z", 1), TRIPKI_OK);
	assert_int_equal(buf_id(&b, "ID-S"), TRIPKI_OK);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	assert_true(b.cap <= b.max);
	tripki_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void
buf_ceiling(void **state)
{
	uint8_t big[300];
	tripki_buf b;

	(void)state;
	memset(big, 0xab, sizeof(big));
	tripki_buf_init(&b, 10);
	assert_int_equal(tripki_buf_append(&b, big, 11), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(tripki_buf_append(&b, big, 6), TRIPKI_OK);
	assert_int_equal(tripki_buf_append(&b, big, 5), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 6);
	assert_int_equal(buf_u64(&b, 1), TRIPKI_E_TOO_BIG);
	assert_int_equal(buf_u32(&b, 1), TRIPKI_OK);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_u8(&b, 1), TRIPKI_E_TOO_BIG);
	/* A size that would wrap len + n is refused, not wrapped. */
	assert_int_equal(tripki_buf_append(&b, big, SIZE_MAX),
	    TRIPKI_E_TOO_BIG);
	assert_int_equal(tripki_buf_append(&b, big, SIZE_MAX - 5),
	    TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 10);
	assert_true(b.cap <= 10);
	assert_memory_equal(b.data, big, 6);
	tripki_buf_free(&b);

	/* Growth past the first block up to the ceiling exactly. */
	tripki_buf_init(&b, 1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tripki_buf_append(&b, big, 300), TRIPKI_OK);
	assert_int_equal(tripki_buf_append(&b, big, 100), TRIPKI_OK);
	assert_int_equal(b.len, 1000);
	assert_int_equal(b.cap, 1000);
	assert_int_equal(tripki_buf_append(&b, big, 1), TRIPKI_E_TOO_BIG);
	tripki_buf_free(&b);

	tripki_buf_init(&b, 0);
	assert_int_equal(buf_u8(&b, 1), TRIPKI_E_TOO_BIG);
	tripki_buf_free(&b);
}

/* Appending nothing is fine, even to a buffer that owns no memory yet. */
static void
buf_empty_append(void **state)
{
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, 16);
	assert_int_equal(tripki_buf_append(&b, "", 0), TRIPKI_OK);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_vec16(&b, NULL, 0), TRIPKI_OK);
	assert_int_equal(b.len, 2);
	tripki_buf_free(&b);
}

static void
buf_vector_limits(void **state)
{
	static uint8_t big[70000];
	char id[TRIPKI_ID_MAX + 2];
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, sizeof(big) + 16);
	assert_int_equal(buf_vec8(&b, big, 255), TRIPKI_OK);
	assert_int_equal(buf_vec8(&b, big, 256), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 256);
	tripki_buf_reset(&b);
	assert_int_equal(buf_vec16(&b, big, 65535), TRIPKI_OK);
	assert_int_equal(buf_vec16(&b, big, 65536), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 65537);
	tripki_buf_reset(&b);

	memset(id, 'i', sizeof(id));
	id[TRIPKI_ID_MAX] = '\0';
	assert_int_equal(buf_id(&b, id), TRIPKI_OK);
	id[TRIPKI_ID_MAX] = 'i';
	id[TRIPKI_ID_MAX + 1] = '\0';
	assert_int_equal(buf_id(&b, id), TRIPKI_E_INVALID);
	assert_int_equal(buf_id(&b, ""), TRIPKI_E_INVALID);
	assert_int_equal(buf_id(&b, NULL), TRIPKI_E_INVALID);
	assert_int_equal(buf_id(&b, "a\x01"), TRIPKI_E_INVALID);
	assert_int_equal(b.len, 1 + TRIPKI_ID_MAX);
	tripki_buf_free(&b);
}

static void
buf_reset_wipes(void **state)
{
	tripki_buf b;
	uint8_t *p;

	(void)state;
	tripki_buf_init(&b, 64);
	assert_int_equal(tripki_buf_append(&b, "secret!!", 8), TRIPKI_OK);
	p = b.data;
	tripki_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, p);
	for (int i = 0; i < 8; i++)
		assert_int_equal(p[i], 0);
	/* Reusable after a reset. */
	assert_int_equal(tripki_buf_append(&b, "ok", 2), TRIPKI_OK);
	assert_memory_equal(b.data, "ok", 2);
	tripki_buf_free(&b);
	/* Freeing twice, or freeing what was never used, is harmless. */
	tripki_buf_free(&b);
	tripki_buf_init(&b, 8);
	tripki_buf_free(&b);
}

/* A round trip through writer and reader. */
static void
buf_round_trip(void **state)
{
	char id[TRIPKI_ID_MAX + 1];
	const uint8_t *p;
	uint64_t v64;
	uint16_t v16;
	tripki_buf b;
	size_t n;
	rd r;

	(void)state;
	tripki_buf_init(&b, 256);
	assert_int_equal(buf_u64(&b, UINT64_MAX), TRIPKI_OK);
	assert_int_equal(buf_id(&b, FX_SERVER_ID), TRIPKI_OK);
	assert_int_equal(buf_vec16(&b, "data", 4), TRIPKI_OK);
	assert_int_equal(buf_u16(&b, 0xfffe), TRIPKI_OK);
	r = rd_make(b.data, b.len);
	assert_int_equal(rd_u64(&r, &v64), TRIPKI_OK);
	assert_true(v64 == UINT64_MAX);
	assert_int_equal(rd_id(&r, id), TRIPKI_OK);
	assert_string_equal(id, FX_SERVER_ID);
	assert_int_equal(rd_vec16(&r, 4, &p, &n), TRIPKI_OK);
	assert_memory_equal(p, "data", 4);
	assert_int_equal(rd_u16(&r, &v16), TRIPKI_OK);
	assert_int_equal(v16, 0xfffe);
	assert_int_equal(rd_end(&r), TRIPKI_OK);
	tripki_buf_free(&b);
}

/* ---- Identities ---- */

static void
id_valid(void **state)
{
	char id[TRIPKI_ID_MAX + 2];

	(void)state;
	assert_true(tripki_id_valid("ID-Server", 9));
	assert_true(tripki_id_valid(" ", 1));
	assert_true(tripki_id_valid("~", 1));
	memset(id, 'a', sizeof(id));
	assert_true(tripki_id_valid(id, TRIPKI_ID_MAX));
	assert_false(tripki_id_valid(id, TRIPKI_ID_MAX + 1));
	assert_false(tripki_id_valid(id, 0));
	assert_false(tripki_id_valid(NULL, 3));
	assert_false(tripki_id_valid("a\0b", 3));
	assert_false(tripki_id_valid("a\x1f", 2));
	assert_false(tripki_id_valid("a\x7f", 2));
	assert_false(tripki_id_valid("\x80", 1));
	assert_false(tripki_id_valid("\xff", 1));
	assert_false(tripki_id_valid("caf\xc3\xa9", 5));
	/* Only `len` bytes are looked at. */
	assert_true(tripki_id_valid("ab\n", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rd_fixed_width_reads),
		cmocka_unit_test(rd_truncated_reads),
		cmocka_unit_test(rd_vectors),
		cmocka_unit_test(rd_vector_over_limit),
		cmocka_unit_test(rd_vector_truncated),
		cmocka_unit_test(rd_end_with_bytes_left),
		cmocka_unit_test(rd_id_accepts),
		cmocka_unit_test(rd_id_rejects),
		cmocka_unit_test(rd_ts_range),
		cmocka_unit_test(buf_writes_big_endian),
		cmocka_unit_test(buf_ceiling),
		cmocka_unit_test(buf_vector_limits),
		cmocka_unit_test(buf_reset_wipes),
		cmocka_unit_test(buf_round_trip),
		cmocka_unit_test(id_valid),
		/* Last: UBSan stops the run here while the core has the bug. */
		cmocka_unit_test(buf_empty_append),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
