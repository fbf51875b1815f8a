#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *q = NULL;

	if (csr_parse(data, size, "ID-Server", &q) == TRIPKI_OK)
		csr_free(q);
	return 0;
}
