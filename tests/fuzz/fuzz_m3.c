#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m3 m;
	uint8_t type;
	rd body;

	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M3)
		(void)m3_decode(&body, &m);
	return 0;
}
