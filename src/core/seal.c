/* Sealing and opening frames under AES-256-GCM, and the RSA-OAEP prefix. */
#include <string.h>

#include <openssl/crypto.h>

#include "msg.h"

#define AAD_MAX (TRIPKI_FRAME_HEADER_LEN + 2 + 512)

int
seal_frame_with(tripki_buf *out, uint8_t type, EVP_CIPHER_CTX *kept,
    const uint8_t *key, uint32_t dir, uint64_t ctr, const uint8_t *prefix,
    size_t prefix_len, const uint8_t *pt, size_t pt_len)
{
	uint8_t aad[AAD_MAX], nonce[GCM_NONCE_LEN];
	size_t body = prefix_len + pt_len + GCM_TAG_LEN;
	size_t aad_len = TRIPKI_FRAME_HEADER_LEN + prefix_len;
	size_t start = out->len;
	int r;

	if (prefix_len > AAD_MAX - TRIPKI_FRAME_HEADER_LEN ||
	    body > TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_TOO_BIG;
	aad[0] = TRIPKI_PROTOCOL_VERSION;
	aad[1] = type;
	put_u32(aad + 2, (uint32_t)body);
	if (prefix_len > 0)
		memcpy(aad + TRIPKI_FRAME_HEADER_LEN, prefix, prefix_len);
	gcm_nonce(nonce, dir, ctr);
	GUARD(buf_put(out, aad, aad_len));
	GUARD(gcm_seal_with(kept, key, nonce, aad, aad_len, pt, pt_len, out));
	return TRIPKI_OK;
out:
	out->len = start;
	return r;
}

int
seal_frame(tripki_buf *out, uint8_t type,
    const uint8_t key[static TRIPKI_KEY_LEN], uint32_t dir, uint64_t ctr,
    const uint8_t *prefix, size_t prefix_len, const uint8_t *pt,
    size_t pt_len)
{
	return seal_frame_with(out, type, NULL, key, dir, ctr, prefix,
	    prefix_len, pt, pt_len);
}

int
open_frame_with(const uint8_t *frame, size_t len, size_t prefix_len,
    EVP_CIPHER_CTX *kept, const uint8_t *key, uint32_t dir, uint64_t ctr,
    tripki_buf *pt)
{
	uint8_t nonce[GCM_NONCE_LEN];
	size_t aad_len = TRIPKI_FRAME_HEADER_LEN + prefix_len;

	if (len < aad_len)
		return TRIPKI_E_TRUNCATED;
	gcm_nonce(nonce, dir, ctr);
	return gcm_open_with(kept, key, nonce, frame, aad_len, frame + aad_len,
	    len - aad_len, pt);
}

int
open_frame(const uint8_t *frame, size_t len, size_t prefix_len,
    const uint8_t key[static TRIPKI_KEY_LEN], uint32_t dir, uint64_t ctr,
    tripki_buf *pt)
{
	return open_frame_with(frame, len, prefix_len, NULL, key, dir, ctr, pt);
}

int
wrap_prefix(EVP_PKEY *pub, const char *label,
    const uint8_t key[static TRIPKI_KEY_LEN], tripki_buf *prefix)
{
	size_t start = prefix->len;
	int r;

	GUARD(buf_u16(prefix, 0));
	GUARD(oaep_encrypt(pub, label, key, TRIPKI_KEY_LEN, prefix));
	prefix->data[start] = (uint8_t)((prefix->len - start - 2) >> 8);
	prefix->data[start + 1] = (uint8_t)(prefix->len - start - 2);
	return TRIPKI_OK;
out:
	prefix->len = start;
	return r;
}

int
unwrap_prefix(rsa_dec *priv, rd *body, size_t *prefix_len,
    uint8_t key[static TRIPKI_KEY_LEN])
{
	const uint8_t *ek;
	size_t ek_len;
	int r;

	if ((r = rd_vec16(body, 512, &ek, &ek_len)) != TRIPKI_OK)
		return r;
	*prefix_len = 2 + ek_len;
	return rsa_dec_unwrap(priv, ek, ek_len, key);
}

int
rd_ts(rd *r, int64_t *ts)
{
	uint64_t v;
	int e;

	if ((e = rd_u64(r, &v)) != TRIPKI_OK)
		return e;
	if (v > INT64_MAX)
		return TRIPKI_E_BAD_FIELD;
	*ts = (int64_t)v;
	return TRIPKI_OK;
}
