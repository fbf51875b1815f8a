#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	struct m4 m;
	uint8_t type;
	rd body;

	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M4 && m4_decode(&body, &m) == TRIPKI_OK) {
		if (key_from_spki(m.pk, m.pk_len, &k) == TRIPKI_OK)
			EVP_PKEY_free(k);
		if (cert_from_der(m.cert, m.cert_len, &x) == TRIPKI_OK)
			X509_free(x);
	}
	return 0;
}
