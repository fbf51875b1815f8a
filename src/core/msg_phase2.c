/* Phase 2: M3 and M4 in clear, M5 and M6 plaintexts. */
#include <string.h>

#include "msg.h"

int
m3_encode(tripki_buf *b, const struct m3 *m)
{
	int r;

	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_id(b, m->id));
out:
	return r;
}

int
m3_decode(rd *body, struct m3 *m)
{
	int r;

	GUARD(rd_ts(body, &m->ts));
	GUARD(rd_id(body, m->id));
	GUARD(rd_end(body));
out:
	return r;
}

int
m4_encode(tripki_buf *b, const struct m4 *m)
{
	int r;

	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_vec16(b, m->pk, m->pk_len));
	GUARD(buf_vec16(b, m->cert, m->cert_len));
out:
	return r;
}

int
m4_decode(rd *body, struct m4 *m)
{
	int r;

	GUARD(rd_ts(body, &m->ts));
	GUARD(rd_vec16(body, DER_MAX, &m->pk, &m->pk_len));
	GUARD(rd_vec16(body, DER_MAX, &m->cert, &m->cert_len));
	GUARD(rd_end(body));
	if (m->pk_len == 0 || m->cert_len == 0)
		r = TRIPKI_E_BAD_FIELD;
out:
	return r;
}

static int
ip_valid(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	return 1;
}

int
m5_encode(tripki_buf *b, const struct m5 *m)
{
	size_t iplen = strlen(m->ip);
	int r;

	if (iplen > IP_MAX)
		return TRIPKI_E_INVALID;
	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_id(b, m->id));
	GUARD(buf_vec8(b, m->ip, iplen));
	GUARD(buf_u16(b, m->port));
out:
	return r;
}

int
m5_decode(const uint8_t *p, size_t n, struct m5 *m)
{
	rd in = rd_make(p, n);
	const uint8_t *ip;
	size_t iplen;
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_id(&in, m->id));
	GUARD(rd_vec8(&in, IP_MAX, &ip, &iplen));
	GUARD(rd_u16(&in, &m->port));
	GUARD(rd_end(&in));
	if (!ip_valid(ip, iplen)) {
		r = TRIPKI_E_BAD_FIELD;
		goto out;
	}
	memcpy(m->ip, ip, iplen);
	m->ip[iplen] = '\0';
out:
	return r;
}

int
m6_encode(tripki_buf *b, const struct m6 *m)
{
	int r;

	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_put(b, m->sid, TRIPKI_SID_LEN));
	GUARD(buf_put(b, m->ksess, TRIPKI_KEY_LEN));
	GUARD(buf_u32(b, m->lifetime));
	GUARD(buf_id(b, m->id));
out:
	return r;
}

int
m6_decode(const uint8_t *p, size_t n, struct m6 *m)
{
	rd in = rd_make(p, n);
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_copy(&in, m->sid, TRIPKI_SID_LEN));
	GUARD(rd_copy(&in, m->ksess, TRIPKI_KEY_LEN));
	GUARD(rd_u32(&in, &m->lifetime));
	GUARD(rd_id(&in, m->id));
	GUARD(rd_end(&in));
	if (m->lifetime == 0)
		r = TRIPKI_E_BAD_FIELD;
out:
	return r;
}
