/* Phase 3 plaintexts: M7 (request) and M8 (data). */
#include "msg.h"

int
m7_encode(tripki_buf *b, const struct m7 *m)
{
	int r;

	if (m->req_len > TRIPKI_DATA_MAX)
		return TRIPKI_E_TOO_BIG;
	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_vec16(b, m->req, m->req_len));
out:
	return r;
}

int
m7_decode(const uint8_t *p, size_t n, struct m7 *m)
{
	rd in = rd_make(p, n);
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_vec16(&in, TRIPKI_DATA_MAX, &m->req, &m->req_len));
	GUARD(rd_end(&in));
out:
	return r;
}

int
m8_encode(tripki_buf *b, const struct m8 *m)
{
	int r;

	if (m->data_len > TRIPKI_DATA_MAX)
		return TRIPKI_E_TOO_BIG;
	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_u8(b, m->status));
	GUARD(buf_vec16(b, m->data, m->data_len));
out:
	return r;
}

int
m8_decode(const uint8_t *p, size_t n, struct m8 *m)
{
	rd in = rd_make(p, n);
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_u8(&in, &m->status));
	GUARD(rd_vec16(&in, TRIPKI_DATA_MAX, &m->data, &m->data_len));
	GUARD(rd_end(&in));
	if (m->status > TRIPKI_STATUS_REFUSED)
		r = TRIPKI_E_BAD_FIELD;
out:
	return r;
}
