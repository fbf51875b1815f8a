#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *x = NULL;
	struct m4 m;
	uint8_t type;
	rd body;

	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M4 && m4_decode(&body, &m) == TRIPKI_OK) {
		/* As the client (M4) and the server (M2) check PK_S. */
		if (cert_from_der(m.cert, m.cert_len, &x) == TRIPKI_OK) {
			(void)cert_spki_is(x, m.pk, m.pk_len);
			X509_free(x);
		}
	}
	return 0;
}
