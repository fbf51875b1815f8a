#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t flen;
	uint8_t type;
	int code;
	rd body;

	if (tripki_frame_peek(data, size, &flen, &type) == TRIPKI_OK &&
	    flen <= size)
		(void)frame_open(data, flen, &type, &body);
	(void)tripki_frame_error_code(data, size, &code);
	return 0;
}
