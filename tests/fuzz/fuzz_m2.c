#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	tripki_buf pt;
	struct m2 m;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (fuzz_open(data, size, TRIPKI_M2, 0, DIR_RESPONSE, 0, &pt) &&
	    m2_decode(pt.data, pt.len, &m) == TRIPKI_OK) {
		/* As the client (M4) and the server (M2) check PK_S. */
		if (cert_from_der(m.cert, m.cert_len, &x) == TRIPKI_OK) {
			(void)cert_spki_is(x, m.pk, m.pk_len);
			X509_free(x);
		}
		if (m.sk_len > 0 && key_from_pkcs8(m.sk, m.sk_len, &k) ==
		    TRIPKI_OK)
			EVP_PKEY_free(k);
	}
	tripki_buf_free(&pt);
	return 0;
}
