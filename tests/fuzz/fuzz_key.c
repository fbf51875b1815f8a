#include <openssl/err.h>
#include <openssl/pem.h>

#include "fuzz.h"

/* A key from a peer (SPKI in M2/M4, PKCS#8 in M2) or from a PEM file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;
	BIO *bio;

	if (key_from_spki(data, size, &k) == TRIPKI_OK)
		EVP_PKEY_free(k);
	if (key_from_pkcs8(data, size, &k) == TRIPKI_OK)
		EVP_PKEY_free(k);
	if (size <= INT32_MAX && (bio = BIO_new_mem_buf(data, (int)size))) {
		/* An empty passphrase: encrypted keys fail instead of prompting. */
		if ((k = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)""))) {
			(void)key_bits_ok(k);
			EVP_PKEY_free(k);
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	return 0;
}
