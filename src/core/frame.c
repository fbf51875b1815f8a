/*
 * Frames: version u8 | type u8 | body length u32 | body.
 */
#include <string.h>

#include "internal.h"

static int
type_known(uint8_t t)
{
	return (t >= TRIPKI_M1 && t <= TRIPKI_M8) || t == TRIPKI_MERROR;
}

int
tripki_frame_peek(const uint8_t *p, size_t n, size_t *frame_len,
    uint8_t *type)
{
	rd r = rd_make(p, n);
	uint8_t ver, t;
	uint32_t len;

	if (n < TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_AGAIN;
	(void)rd_u8(&r, &ver);
	(void)rd_u8(&r, &t);
	(void)rd_u32(&r, &len);
	if (ver != TRIPKI_PROTOCOL_VERSION)
		return TRIPKI_E_VERSION;
	if (!type_known(t))
		return TRIPKI_E_TYPE;
	if (len > TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_TOO_BIG;
	*frame_len = TRIPKI_FRAME_HEADER_LEN + (size_t)len;
	if (type != NULL)
		*type = t;
	return TRIPKI_OK;
}

int
tripki_frame_costly(uint8_t type)
{
	return type == TRIPKI_M1 || type == TRIPKI_M5;
}

int
frame_open(const uint8_t *f, size_t n, uint8_t *type, rd *body)
{
	size_t flen;
	int e;

	e = tripki_frame_peek(f, n, &flen, type);
	if (e == TRIPKI_E_AGAIN)
		return TRIPKI_E_TRUNCATED;
	if (e != TRIPKI_OK)
		return e;
	if (n < flen)
		return TRIPKI_E_TRUNCATED;
	if (n > flen)
		return TRIPKI_E_TRAILING;
	*body = rd_make(f + TRIPKI_FRAME_HEADER_LEN, flen - TRIPKI_FRAME_HEADER_LEN);
	return TRIPKI_OK;
}

int
frame_begin(tripki_buf *b, uint8_t type, size_t *start)
{
	int e;

	*start = b->len;
	if ((e = buf_u8(b, TRIPKI_PROTOCOL_VERSION)) != TRIPKI_OK ||
	    (e = buf_u8(b, type)) != TRIPKI_OK ||
	    (e = buf_u32(b, 0)) != TRIPKI_OK)
		return e;
	return TRIPKI_OK;
}

int
frame_end(tripki_buf *b, size_t start)
{
	size_t body = b->len - start - TRIPKI_FRAME_HEADER_LEN;

	if (body > TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_TOO_BIG;
	put_u32(b->data + start + 2, (uint32_t)body);
	return TRIPKI_OK;
}

int
tripki_frame_error(tripki_buf *out, int err)
{
	size_t start;
	int e;

	if ((e = frame_begin(out, TRIPKI_MERROR, &start)) != TRIPKI_OK ||
	    (e = buf_u16(out, (uint16_t)tripki_err_wire(err))) != TRIPKI_OK)
		return e;
	return frame_end(out, start);
}

int
frame_fail(tripki_buf *out, int err)
{
	tripki_buf_reset(out);
	/* TRIPKI_E_PEER: the peer sent an error frame; it gets no answer. */
	if (err != TRIPKI_E_PEER)
		(void)tripki_frame_error(out, err);
	return err;
}

int
tripki_frame_error_code(const uint8_t *frame, size_t len, int *code)
{
	uint8_t type;
	uint16_t c;
	rd body;
	int e;

	if ((e = frame_open(frame, len, &type, &body)) != TRIPKI_OK)
		return e;
	if (type != TRIPKI_MERROR)
		return TRIPKI_E_UNEXPECTED;
	if ((e = rd_u16(&body, &c)) != TRIPKI_OK)
		return e;
	if ((e = rd_end(&body)) != TRIPKI_OK)
		return e;
	/* A code that may not travel is read as "internal". */
	*code = tripki_err_wire(c) == c ? c : TRIPKI_E_INTERNAL;
	return TRIPKI_OK;
}
