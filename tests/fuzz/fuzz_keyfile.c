#include <openssl/err.h>
#include <openssl/pem.h>

#include "fuzz.h"

/*
 * A private key file (ca.key, server.key, --csr keys): PEM, read as
 * tcli_key_load reads it.  An empty passphrase: encrypted keys fail instead
 * of prompting.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k;
	BIO *bio;

	if (size > INT32_MAX || (bio = BIO_new_mem_buf(data, (int)size)) == NULL)
		return 0;
	if ((k = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")) != NULL) {
		(void)key_bits_ok(k);
		EVP_PKEY_free(k);
	}
	BIO_free(bio);
	ERR_clear_error();
	return 0;
}
