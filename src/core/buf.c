/*
 * The bounded reader every untrusted byte goes through, and the writer with
 * a ceiling that builds every frame.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

int
rd_bytes(rd *r, size_t n, const uint8_t **out)
{
	if (n > r->n)
		return TRIPKI_E_TRUNCATED;
	*out = r->p;
	r->p += n;
	r->n -= n;
	return TRIPKI_OK;
}

int
rd_copy(rd *r, void *dst, size_t n)
{
	const uint8_t *p;
	int e = rd_bytes(r, n, &p);

	if (e == TRIPKI_OK && n > 0)
		memcpy(dst, p, n);
	return e;
}

int
rd_u8(rd *r, uint8_t *v)
{
	return rd_copy(r, v, 1);
}

int
rd_u16(rd *r, uint16_t *v)
{
	const uint8_t *p;
	int e;

	if ((e = rd_bytes(r, 2, &p)) != TRIPKI_OK)
		return e;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return TRIPKI_OK;
}

int
rd_u32(rd *r, uint32_t *v)
{
	const uint8_t *p;
	int e;

	if ((e = rd_bytes(r, 4, &p)) != TRIPKI_OK)
		return e;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return TRIPKI_OK;
}

int
rd_u64(rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	int e;

	if ((e = rd_u32(r, &hi)) != TRIPKI_OK ||
	    (e = rd_u32(r, &lo)) != TRIPKI_OK)
		return e;
	*v = (uint64_t)hi << 32 | lo;
	return TRIPKI_OK;
}

int
rd_vec8(rd *r, size_t max, const uint8_t **out, size_t *len)
{
	uint8_t n;
	int e;

	if ((e = rd_u8(r, &n)) != TRIPKI_OK)
		return e;
	if (n > max)
		return TRIPKI_E_TOO_BIG;
	*len = n;
	return rd_bytes(r, n, out);
}

int
rd_vec16(rd *r, size_t max, const uint8_t **out, size_t *len)
{
	uint16_t n;
	int e;

	if ((e = rd_u16(r, &n)) != TRIPKI_OK)
		return e;
	if (n > max)
		return TRIPKI_E_TOO_BIG;
	*len = n;
	return rd_bytes(r, n, out);
}

int
rd_id(rd *r, char out[TRIPKI_ID_MAX + 1])
{
	const uint8_t *p;
	size_t n;
	int e;

	if ((e = rd_vec8(r, TRIPKI_ID_MAX, &p, &n)) != TRIPKI_OK)
		return e;
	if (!tripki_id_valid((const char *)p, n))
		return TRIPKI_E_BAD_FIELD;
	memcpy(out, p, n);
	out[n] = '\0';
	return TRIPKI_OK;
}

void
rd_rest(rd *r, const uint8_t **out, size_t *len)
{
	*out = r->p;
	*len = r->n;
	r->p += r->n;
	r->n = 0;
}

int
rd_end(const rd *r)
{
	return r->n == 0 ? TRIPKI_OK : TRIPKI_E_TRAILING;
}

int
tripki_id_valid(const char *id, size_t len)
{
	size_t i;

	if (id == NULL || len == 0 || len > TRIPKI_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
			return 0;
	return 1;
}

/* ---- Writer ---- */

void
tripki_buf_init(tripki_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
tripki_buf_reset(tripki_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->len);
	b->len = 0;
}

void
tripki_buf_free(tripki_buf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

/*
 * Growth copies into a new block and wipes the old one, since buffers carry
 * plaintext secrets (realloc would leave them in freed memory).
 */
int
buf_reserve(tripki_buf *b, size_t n, uint8_t **at)
{
	size_t need, cap;
	uint8_t *p;

	if (n > b->max || b->len > b->max - n)
		return TRIPKI_E_TOO_BIG;
	need = b->len + n;
	/* Even for 0 bytes: the pointer handed back is never NULL + 0. */
	if (b->data == NULL || need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		if (cap == 0)
			cap = 1;
		if ((p = malloc(cap)) == NULL)
			return TRIPKI_E_NOMEM;
		if (b->data != NULL) {
			memcpy(p, b->data, b->len);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
		b->data = p;
		b->cap = cap;
	}
	*at = b->data + b->len;
	b->len += n;
	return TRIPKI_OK;
}

int
buf_put(tripki_buf *b, const void *p, size_t n)
{
	uint8_t *at;
	int e;

	if ((e = buf_reserve(b, n, &at)) != TRIPKI_OK)
		return e;
	if (n > 0)
		memcpy(at, p, n);
	return TRIPKI_OK;
}

int
tripki_buf_append(tripki_buf *b, const void *p, size_t n)
{
	return buf_put(b, p, n);
}

int
buf_u8(tripki_buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_u16(tripki_buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return buf_put(b, p, 2);
}

void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

int
buf_u32(tripki_buf *b, uint32_t v)
{
	uint8_t p[4];

	put_u32(p, v);
	return buf_put(b, p, 4);
}

int
buf_u64(tripki_buf *b, uint64_t v)
{
	uint8_t p[8];

	put_u64(p, v);
	return buf_put(b, p, 8);
}

int
buf_vec8(tripki_buf *b, const void *p, size_t n)
{
	int e;

	if (n > 0xff)
		return TRIPKI_E_TOO_BIG;
	if ((e = buf_u8(b, (uint8_t)n)) != TRIPKI_OK)
		return e;
	return buf_put(b, p, n);
}

int
buf_vec16(tripki_buf *b, const void *p, size_t n)
{
	int e;

	if (n > 0xffff)
		return TRIPKI_E_TOO_BIG;
	if ((e = buf_u16(b, (uint16_t)n)) != TRIPKI_OK)
		return e;
	return buf_put(b, p, n);
}

int
buf_id(tripki_buf *b, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!tripki_id_valid(id, n))
		return TRIPKI_E_INVALID;
	return buf_vec8(b, id, n);
}
