#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;

	if (csr_parse(data, size, "ID-Server", &k) == TRIPKI_OK)
		EVP_PKEY_free(k);
	return 0;
}
