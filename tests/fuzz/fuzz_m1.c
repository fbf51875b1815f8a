#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *q = NULL;
	X509 *x = NULL;
	tripki_buf pt;
	struct m1 m;
	uint8_t type;
	size_t plen;
	rd body;
	const uint8_t *ek;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M1 && rd_vec16(&body, 512, &ek, &plen) == TRIPKI_OK &&
	    open_frame(data, size, 2 + plen, fuzz_key, DIR_REQUEST, 0, &pt) ==
	    TRIPKI_OK && m1_decode(pt.data, pt.len, &m) == TRIPKI_OK) {
		if (m.csr_len > 0 && csr_parse(m.csr, m.csr_len, m.id, &q) ==
		    TRIPKI_OK)
			csr_free(q);
		if (m.rcert_len > 0 && cert_from_der(m.rcert, m.rcert_len, &x) ==
		    TRIPKI_OK)
			X509_free(x);
	}
	tripki_buf_free(&pt);
	return 0;
}
