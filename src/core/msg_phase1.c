/* Phase 1 plaintexts: M1 (server to CA) and M2 (CA to server). */
#include "msg.h"

int
m1_encode(tripki_buf *b, const struct m1 *m)
{
	int r;

	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_id(b, m->id));
	GUARD(buf_u8(b, m->mode));
	GUARD(buf_u16(b, m->bits));
	GUARD(buf_vec8(b, m->token, m->token_len));
	GUARD(buf_vec16(b, m->csr, m->csr_len));
	GUARD(buf_vec16(b, m->rcert, m->rcert_len));
	GUARD(buf_vec16(b, m->rsig, m->rsig_len));
out:
	return r;
}

int
m1_decode(const uint8_t *p, size_t n, struct m1 *m)
{
	rd in = rd_make(p, n);
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_id(&in, m->id));
	GUARD(rd_u8(&in, &m->mode));
	GUARD(rd_u16(&in, &m->bits));
	GUARD(rd_vec8(&in, TRIPKI_TOKEN_MAX, &m->token, &m->token_len));
	GUARD(rd_vec16(&in, DER_MAX, &m->csr, &m->csr_len));
	GUARD(rd_vec16(&in, DER_MAX, &m->rcert, &m->rcert_len));
	GUARD(rd_vec16(&in, 512, &m->rsig, &m->rsig_len));
	GUARD(rd_end(&in));
	/* Mode and the fields it implies must agree. */
	if (m->mode == MODE_SEED) {
		if ((m->bits != 2048 && m->bits != 3072 && m->bits != 4096) ||
		    m->csr_len != 0)
			r = TRIPKI_E_BAD_FIELD;
	} else if (m->mode == MODE_CSR) {
		if (m->bits != 0 || m->csr_len == 0)
			r = TRIPKI_E_BAD_FIELD;
	} else
		r = TRIPKI_E_BAD_FIELD;
	if ((m->rcert_len == 0) != (m->rsig_len == 0))
		r = TRIPKI_E_BAD_FIELD;
out:
	return r;
}

int
m2_encode(tripki_buf *b, const struct m2 *m)
{
	int r;

	GUARD(buf_u64(b, (uint64_t)m->ts));
	GUARD(buf_id(b, m->id));
	GUARD(buf_vec16(b, m->pk, m->pk_len));
	GUARD(buf_vec16(b, m->cert, m->cert_len));
	GUARD(buf_vec16(b, m->sk, m->sk_len));
out:
	return r;
}

int
m2_decode(const uint8_t *p, size_t n, struct m2 *m)
{
	rd in = rd_make(p, n);
	int r;

	GUARD(rd_ts(&in, &m->ts));
	GUARD(rd_id(&in, m->id));
	GUARD(rd_vec16(&in, DER_MAX, &m->pk, &m->pk_len));
	GUARD(rd_vec16(&in, DER_MAX, &m->cert, &m->cert_len));
	GUARD(rd_vec16(&in, DER_MAX, &m->sk, &m->sk_len));
	GUARD(rd_end(&in));
	if (m->pk_len == 0 || m->cert_len == 0)
		r = TRIPKI_E_BAD_FIELD;
out:
	return r;
}
