#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tripki_buf pt;
	struct m6 m;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (fuzz_open(data, size, TRIPKI_M6, 0, DIR_RESPONSE, 0, &pt))
		(void)m6_decode(pt.data, pt.len, &m);
	tripki_buf_free(&pt);
	return 0;
}
