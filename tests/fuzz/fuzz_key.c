#include <openssl/err.h>

#include "fuzz.h"

/* A private key from a peer: SK_S in M2 (seed mode), PKCS#8 DER. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;

	if (key_from_pkcs8(data, size, &k) == TRIPKI_OK)
		EVP_PKEY_free(k);
	ERR_clear_error();
	return 0;
}
