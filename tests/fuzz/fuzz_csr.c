#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *q = NULL;

	if (csr_parse(data, size, "ID-Server", &q) == TRIPKI_OK)
		X509_REQ_free(q);
	return 0;
}
