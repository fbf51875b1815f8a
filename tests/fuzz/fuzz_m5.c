#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *ek;
	tripki_buf pt;
	struct m5 m;
	uint8_t type;
	size_t plen;
	rd body;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M5 && rd_vec16(&body, 512, &ek, &plen) == TRIPKI_OK &&
	    open_frame(data, size, 2 + plen, fuzz_key, DIR_REQUEST, 0, &pt) ==
	    TRIPKI_OK)
		(void)m5_decode(pt.data, pt.len, &m);
	tripki_buf_free(&pt);
	return 0;
}
