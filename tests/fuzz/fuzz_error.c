#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int code;

	if (tripki_frame_error_code(data, size, &code) == TRIPKI_OK)
		(void)tripki_strerror(code);
	return 0;
}
