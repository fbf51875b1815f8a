#include <openssl/err.h>
#include <openssl/pem.h>

#include "fixed.h"

/* A CRL handed to the client (--crl FILE, PEM or DER). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fixed *f = fixed();
	const unsigned char *p = data;
	X509_CRL *crl;
	BIO *bio;

	if ((crl = d2i_X509_CRL(NULL, &p, (long)size)) != NULL) {
		(void)tripki_cert_verify(f->ca, f->server, "ID-Server", NULL, crl,
		    FUZZ_NOW);
		X509_CRL_free(crl);
	}
	if (size <= INT32_MAX && (bio = BIO_new_mem_buf(data, (int)size))) {
		if ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
			(void)tripki_cert_verify(f->ca, f->server, "ID-Server", NULL,
			    crl, FUZZ_NOW);
			X509_CRL_free(crl);
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	return 0;
}
