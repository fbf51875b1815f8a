/* Framing, error frames, the wire mapping of error codes, their messages. */
#include <string.h>

#include "fixture.h"
#include "internal.h"

static const int all_codes[] = {
	TRIPKI_OK, TRIPKI_E_AGAIN, TRIPKI_E_NOMEM, TRIPKI_E_INVALID,
	TRIPKI_E_STATE, TRIPKI_E_TRUNCATED, TRIPKI_E_TRAILING, TRIPKI_E_TOO_BIG,
	TRIPKI_E_VERSION, TRIPKI_E_TYPE, TRIPKI_E_UNEXPECTED,
	TRIPKI_E_BAD_FIELD,
	TRIPKI_E_DECRYPT, TRIPKI_E_STALE, TRIPKI_E_FUTURE, TRIPKI_E_REPLAY,
	TRIPKI_E_SEQUENCE, TRIPKI_E_SESSION_EXPIRED, TRIPKI_E_UNKNOWN_SESSION,
	TRIPKI_E_UNKNOWN_ID, TRIPKI_E_ID_MISMATCH, TRIPKI_E_CERT_SIGNATURE,
	TRIPKI_E_CERT_ISSUER, TRIPKI_E_CERT_EXPIRED,
	TRIPKI_E_CERT_NOT_YET_VALID,
	TRIPKI_E_CERT_SUBJECT, TRIPKI_E_CERT_KEY, TRIPKI_E_CERT_REVOKED,
	TRIPKI_E_CERT_INVALID, TRIPKI_E_KEY, TRIPKI_E_NOT_AUTHORIZED,
	TRIPKI_E_BUSY, TRIPKI_E_PEER, TRIPKI_E_CRYPTO, TRIPKI_E_STORE,
	TRIPKI_E_IO, TRIPKI_E_INTERNAL,
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

/* The codes the header marks (wire): they travel as they are. */
static const int wire_codes[] = {
	TRIPKI_E_TRUNCATED, TRIPKI_E_TRAILING, TRIPKI_E_TOO_BIG,
	TRIPKI_E_VERSION, TRIPKI_E_TYPE, TRIPKI_E_UNEXPECTED,
	TRIPKI_E_BAD_FIELD,
	TRIPKI_E_DECRYPT, TRIPKI_E_STALE, TRIPKI_E_FUTURE, TRIPKI_E_REPLAY,
	TRIPKI_E_SEQUENCE, TRIPKI_E_SESSION_EXPIRED, TRIPKI_E_UNKNOWN_SESSION,
	TRIPKI_E_UNKNOWN_ID, TRIPKI_E_CERT_REVOKED, TRIPKI_E_KEY,
	TRIPKI_E_NOT_AUTHORIZED, TRIPKI_E_BUSY, TRIPKI_E_INTERNAL,
};
#define NWIRE (sizeof(wire_codes) / sizeof(wire_codes[0]))

static int
is_wire(int c)
{
	for (size_t i = 0; i < NWIRE; i++)
		if (wire_codes[i] == c)
			return 1;
	return 0;
}

static void
header(uint8_t h[6], uint8_t ver, uint8_t type, uint32_t len)
{
	h[0] = ver;
	h[1] = type;
	put_u32(h + 2, len);
}

/* ---- tripki_frame_peek ---- */

static void
peek_short_is_again(void **state)
{
	uint8_t h[6];
	size_t flen = 12345;
	uint8_t type = 99;

	(void)state;
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M3, 10);
	for (size_t n = 0; n < TRIPKI_FRAME_HEADER_LEN; n++) {
		assert_int_equal(tripki_frame_peek(h, n, &flen, &type),
		    TRIPKI_E_AGAIN);
		assert_int_equal(flen, 12345);
	}
	assert_int_equal(tripki_frame_peek(h, 6, &flen, &type), TRIPKI_OK);
	assert_int_equal(flen, 16);
	assert_int_equal(type, TRIPKI_M3);
	/* A type pointer is optional. */
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL), TRIPKI_OK);
}

static void
peek_bad_version(void **state)
{
	static const uint8_t vers[] = { 0, 2, 3, 0x81, 0xff };
	uint8_t h[6];
	size_t flen;

	(void)state;
	for (size_t i = 0; i < sizeof(vers); i++) {
		header(h, vers[i], TRIPKI_M1, 10);
		assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
		    TRIPKI_E_VERSION);
	}
	/* The version is judged before the type and the length. */
	header(h, 2, 0x77, 0xffffffff);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
	    TRIPKI_E_VERSION);
}

static void
peek_types(void **state)
{
	uint8_t h[6], type;
	size_t flen;

	(void)state;
	for (int t = 0; t < 256; t++) {
		int known = (t >= TRIPKI_M1 && t <= TRIPKI_M8) ||
		    t == TRIPKI_MERROR;

		header(h, TRIPKI_PROTOCOL_VERSION, (uint8_t)t, 0);
		assert_int_equal(tripki_frame_peek(h, 6, &flen, &type),
		    known ? TRIPKI_OK : TRIPKI_E_TYPE);
		if (known)
			assert_int_equal(type, t);
	}
	/* The type is judged before the length. */
	header(h, TRIPKI_PROTOCOL_VERSION, 0x09, 0xffffffff);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL), TRIPKI_E_TYPE);
}

static void
peek_length_limit(void **state)
{
	const uint32_t max = TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN;
	uint8_t h[6];
	size_t flen;

	(void)state;
	assert_int_equal(max, 65530);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, max);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL), TRIPKI_OK);
	assert_int_equal(flen, TRIPKI_FRAME_MAX);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, max + 1);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
	    TRIPKI_E_TOO_BIG);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, 0x00010000);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
	    TRIPKI_E_TOO_BIG);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, 0xffffffff);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
	    TRIPKI_E_TOO_BIG);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, 0x80000000);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL),
	    TRIPKI_E_TOO_BIG);
	header(h, TRIPKI_PROTOCOL_VERSION, TRIPKI_M7, 0);
	assert_int_equal(tripki_frame_peek(h, 6, &flen, NULL), TRIPKI_OK);
	assert_int_equal(flen, 6);
}

static void
costly_types(void **state)
{
	(void)state;
	for (int t = 0; t < 256; t++)
		assert_int_equal(tripki_frame_costly((uint8_t)t),
		    t == TRIPKI_M1 || t == TRIPKI_M5);
}

/* ---- frame_open, frame_begin, frame_end ---- */

static void
open_exact_length(void **state)
{
	uint8_t f[16], type;
	rd body;

	(void)state;
	memset(f, 0xee, sizeof(f));
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_M3, 10);
	assert_int_equal(frame_open(f, 16, &type, &body), TRIPKI_OK);
	assert_int_equal(type, TRIPKI_M3);
	assert_ptr_equal(body.p, f + 6);
	assert_int_equal(body.n, 10);
	for (size_t n = 0; n < 16; n++)
		assert_int_equal(frame_open(f, n, &type, &body),
		    TRIPKI_E_TRUNCATED);
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_M3, 9);
	assert_int_equal(frame_open(f, 16, &type, &body), TRIPKI_E_TRAILING);
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_M3, 0);
	assert_int_equal(frame_open(f, 7, &type, &body), TRIPKI_E_TRAILING);
	header(f, 9, TRIPKI_M3, 10);
	assert_int_equal(frame_open(f, 16, &type, &body), TRIPKI_E_VERSION);
	header(f, TRIPKI_PROTOCOL_VERSION, 0x20, 10);
	assert_int_equal(frame_open(f, 16, &type, &body), TRIPKI_E_TYPE);
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_M3, 70000);
	assert_int_equal(frame_open(f, 16, &type, &body), TRIPKI_E_TOO_BIG);
}

static void
begin_end(void **state)
{
	static uint8_t body[TRIPKI_FRAME_MAX];
	size_t start, flen;
	tripki_buf b;
	uint8_t type;

	(void)state;
	tripki_buf_init(&b, 2 * TRIPKI_FRAME_MAX);
	assert_int_equal(buf_put(&b, "xyz", 3), TRIPKI_OK);
	assert_int_equal(frame_begin(&b, TRIPKI_M4, &start), TRIPKI_OK);
	assert_int_equal(start, 3);
	assert_int_equal(buf_put(&b, "hello", 5), TRIPKI_OK);
	assert_int_equal(frame_end(&b, start), TRIPKI_OK);
	assert_int_equal(tripki_frame_peek(b.data + 3, b.len - 3, &flen, &type),
	    TRIPKI_OK);
	assert_int_equal(flen, 11);
	assert_int_equal(type, TRIPKI_M4);
	assert_memory_equal(b.data + 9, "hello", 5);

	/* The largest body fits; one byte more does not. */
	tripki_buf_reset(&b);
	assert_int_equal(frame_begin(&b, TRIPKI_M8, &start), TRIPKI_OK);
	assert_int_equal(buf_put(&b, body, 65530), TRIPKI_OK);
	assert_int_equal(frame_end(&b, start), TRIPKI_OK);
	assert_int_equal(b.len, TRIPKI_FRAME_MAX);
	assert_int_equal(buf_u8(&b, 0), TRIPKI_OK);
	assert_int_equal(frame_end(&b, start), TRIPKI_E_TOO_BIG);
	tripki_buf_free(&b);
}

/* ---- Error frames ---- */

static void
error_frames_round_trip(void **state)
{
	tripki_buf b;
	size_t flen;
	uint8_t type;
	int code;

	(void)state;
	tripki_buf_init(&b, 64);
	for (size_t i = 0; i < NCODES; i++) {
		tripki_buf_reset(&b);
		assert_int_equal(tripki_frame_error(&b, all_codes[i]),
		    TRIPKI_OK);
		assert_int_equal(b.len, 8);
		assert_int_equal(tripki_frame_peek(b.data, b.len, &flen, &type),
		    TRIPKI_OK);
		assert_int_equal(flen, 8);
		assert_int_equal(type, TRIPKI_MERROR);
		assert_int_equal(tripki_frame_error_code(b.data, b.len, &code),
		    TRIPKI_OK);
		assert_int_equal(code, tripki_err_wire(all_codes[i]));
	}
	/* Byte for byte: version, type, length 2, code. */
	tripki_buf_reset(&b);
	assert_int_equal(tripki_frame_error(&b, TRIPKI_E_DECRYPT), TRIPKI_OK);
	assert_memory_equal(b.data, "\x01\x10\x00\x00\x00\x02\x00\x14", 8);
	tripki_buf_free(&b);
}

/* frame_fail replaces whatever the step had written with the error. */
static void
frame_fail_replaces_output(void **state)
{
	tripki_buf b;
	int code;

	(void)state;
	tripki_buf_init(&b, 64);
	assert_int_equal(buf_put(&b, "half a frame", 12), TRIPKI_OK);
	assert_int_equal(frame_fail(&b, TRIPKI_E_CRYPTO), TRIPKI_E_CRYPTO);
	assert_int_equal(b.len, 8);
	assert_int_equal(tripki_frame_error_code(b.data, b.len, &code),
	    TRIPKI_OK);
	assert_int_equal(code, TRIPKI_E_INTERNAL);
	tripki_buf_free(&b);
}

static void
error_frame_malformed(void **state)
{
	uint8_t f[10];
	int code = -1;

	(void)state;
	/* Body of one byte. */
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_MERROR, 1);
	f[6] = 0;
	assert_int_equal(tripki_frame_error_code(f, 7, &code),
	    TRIPKI_E_TRUNCATED);
	/* Body of three bytes. */
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_MERROR, 3);
	f[6] = 0;
	f[7] = 20;
	f[8] = 0;
	assert_int_equal(tripki_frame_error_code(f, 9, &code),
	    TRIPKI_E_TRAILING);
	/* The frame shorter or longer than its header says. */
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_MERROR, 2);
	assert_int_equal(tripki_frame_error_code(f, 7, &code),
	    TRIPKI_E_TRUNCATED);
	assert_int_equal(tripki_frame_error_code(f, 9, &code),
	    TRIPKI_E_TRAILING);
	/* Not an error frame. */
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_M8, 2);
	assert_int_equal(tripki_frame_error_code(f, 8, &code),
	    TRIPKI_E_UNEXPECTED);
	header(f, 0, TRIPKI_MERROR, 2);
	assert_int_equal(tripki_frame_error_code(f, 8, &code),
	    TRIPKI_E_VERSION);
	assert_int_equal(code, -1);
}

/*
 * An error frame says that something went wrong: a code that may not
 * travel, 0 ("success") above all, reaches the caller as INTERNAL.
 */
static void
error_frame_foreign_codes(void **state)
{
	static const uint16_t foreign[] = {
		TRIPKI_OK, TRIPKI_E_AGAIN, TRIPKI_E_NOMEM, TRIPKI_E_PEER,
		TRIPKI_E_CERT_SIGNATURE, TRIPKI_E_CERT_KEY, 9, 64, 1000, 0xffff,
	};
	uint8_t f[8];
	int code;

	(void)state;
	header(f, TRIPKI_PROTOCOL_VERSION, TRIPKI_MERROR, 2);
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		f[6] = (uint8_t)(foreign[i] >> 8);
		f[7] = (uint8_t)foreign[i];
		code = -1;
		assert_int_equal(tripki_frame_error_code(f, 8, &code),
		    TRIPKI_OK);
		assert_int_equal(code, TRIPKI_E_INTERNAL);
	}
	for (size_t i = 0; i < NWIRE; i++) {
		f[6] = 0;
		f[7] = (uint8_t)wire_codes[i];
		assert_int_equal(tripki_frame_error_code(f, 8, &code),
		    TRIPKI_OK);
		assert_int_equal(code, wire_codes[i]);
	}
}

/* The peer's error is not answered with another. */
static void
frame_fail_peer_is_silent(void **state)
{
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, 64);
	assert_int_equal(buf_put(&b, "partial", 7), TRIPKI_OK);
	assert_int_equal(frame_fail(&b, TRIPKI_E_PEER), TRIPKI_E_PEER);
	assert_int_equal(b.len, 0);
	tripki_buf_free(&b);
}

/* ---- tripki_err_wire ---- */

static void
err_wire_mapping(void **state)
{
	static const int local[] = {
		TRIPKI_OK, TRIPKI_E_AGAIN, TRIPKI_E_NOMEM, TRIPKI_E_INVALID,
		TRIPKI_E_STATE, TRIPKI_E_ID_MISMATCH, TRIPKI_E_PEER,
		TRIPKI_E_CRYPTO, TRIPKI_E_STORE, TRIPKI_E_IO, 5, 99, -1, 0xffff,
	};
	static const int cert[] = {
		TRIPKI_E_CERT_SIGNATURE, TRIPKI_E_CERT_ISSUER,
		TRIPKI_E_CERT_EXPIRED, TRIPKI_E_CERT_NOT_YET_VALID,
		TRIPKI_E_CERT_SUBJECT, TRIPKI_E_CERT_KEY, TRIPKI_E_CERT_INVALID,
	};

	(void)state;
	for (size_t i = 0; i < NWIRE; i++)
		assert_int_equal(tripki_err_wire(wire_codes[i]), wire_codes[i]);
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		assert_int_equal(tripki_err_wire(local[i]), TRIPKI_E_INTERNAL);
	for (size_t i = 0; i < sizeof(cert) / sizeof(cert[0]); i++)
		assert_int_equal(tripki_err_wire(cert[i]),
		    TRIPKI_E_NOT_AUTHORIZED);
}

/*
 * No oracle: the only code that says "decryption failed" is DECRYPT, every
 * code maps to a wire code, and mapping twice changes nothing.
 */
static void
err_wire_properties(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++) {
		int w = tripki_err_wire(all_codes[i]);

		assert_true(is_wire(w));
		assert_int_equal(tripki_err_wire(w), w);
		if (w == TRIPKI_E_DECRYPT)
			assert_int_equal(all_codes[i], TRIPKI_E_DECRYPT);
		assert_int_not_equal(w, TRIPKI_OK);
	}
}

/* ---- tripki_strerror ---- */

static void
strerror_distinct(void **state)
{
	const char *unknown = tripki_strerror(-12345);

	(void)state;
	assert_string_equal(unknown, "unknown error");
	for (size_t i = 0; i < NCODES; i++) {
		const char *m = tripki_strerror(all_codes[i]);

		assert_non_null(m);
		assert_true(strlen(m) > 0);
		assert_string_not_equal(m, unknown);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m,
			    tripki_strerror(all_codes[j]));
	}
	/* Values between the codes are unknown. */
	for (int c = -2; c < 70; c++) {
		int known = 0;

		for (size_t i = 0; i < NCODES; i++)
			known |= all_codes[i] == c;
		if (!known)
			assert_string_equal(tripki_strerror(c), unknown);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peek_short_is_again),
		cmocka_unit_test(peek_bad_version),
		cmocka_unit_test(peek_types),
		cmocka_unit_test(peek_length_limit),
		cmocka_unit_test(costly_types),
		cmocka_unit_test(open_exact_length),
		cmocka_unit_test(begin_end),
		cmocka_unit_test(error_frames_round_trip),
		cmocka_unit_test(frame_fail_replaces_output),
		cmocka_unit_test(error_frame_malformed),
		cmocka_unit_test(error_frame_foreign_codes),
		cmocka_unit_test(frame_fail_peer_is_silent),
		cmocka_unit_test(err_wire_mapping),
		cmocka_unit_test(err_wire_properties),
		cmocka_unit_test(strerror_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
