#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type, sid[TRIPKI_SID_LEN];
	tripki_buf pt;
	struct m8 m;
	uint64_t seq;
	rd body;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (frame_open(data, size, &type, &body) == TRIPKI_OK &&
	    type == TRIPKI_M8 && rd_copy(&body, sid, sizeof(sid)) == TRIPKI_OK &&
	    rd_u64(&body, &seq) == TRIPKI_OK &&
	    open_frame(data, size, TRIPKI_SID_LEN + 8, fuzz_key, DIR_RESPONSE, seq,
	    &pt) == TRIPKI_OK)
		(void)m8_decode(pt.data, pt.len, &m);
	tripki_buf_free(&pt);
	return 0;
}
