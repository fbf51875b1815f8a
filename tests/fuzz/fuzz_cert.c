#include <openssl/pem.h>

#include "fixed.h"

/* A certificate from a peer (M2, M4) or from a file (PEM). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fixed *f = fixed();
	X509 *x = NULL;
	BIO *bio;

	if (cert_from_der(data, size, &x) == TRIPKI_OK) {
		(void)tripki_cert_verify(f->ca, x, "ID-Server", NULL, NULL,
		    FUZZ_NOW);
		X509_free(x);
	}
	if (size <= INT32_MAX && (bio = BIO_new_mem_buf(data, (int)size))) {
		if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			(void)tripki_cert_verify(f->ca, x, "ID-Server", NULL, NULL,
			    FUZZ_NOW);
			X509_free(x);
		}
		BIO_free(bio);
	}
	return 0;
}
