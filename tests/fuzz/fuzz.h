/*
 * libFuzzer targets, one per decoder.  Each is built twice: with the real
 * AEAD, and with -DTRIPKI_FUZZ_PLAINTEXT, where sealed bodies are read as
 * plaintext so the decoders behind the tag are reached.  standalone.c
 * replays corpora without libFuzzer, for make check.
 */
#ifndef TRIPKI_FUZZ_H
#define TRIPKI_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed key for the sealed bodies; only the plaintext build gets past it. */
static const uint8_t fuzz_key[TRIPKI_KEY_LEN] = { 0x42 };

/*
 * Opens a sealed frame of `type` whose clear prefix is `prefix_len` bytes,
 * leaving the plaintext in `pt`.  Returns nonzero when decoding should go on.
 */
static inline int
fuzz_open(const uint8_t *data, size_t size, uint8_t want, size_t prefix_len,
    uint32_t dir, uint64_t ctr, tripki_buf *pt)
{
	uint8_t type;
	rd body;

	if (frame_open(data, size, &type, &body) != TRIPKI_OK || type != want)
		return 0;
	return open_frame(data, size, prefix_len, fuzz_key, dir, ctr, pt) ==
	    TRIPKI_OK;
}

#endif
