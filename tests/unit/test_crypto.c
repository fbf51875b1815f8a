/*
 * AES-256-GCM, RSA-OAEP key wrapping, sealed frames, signatures and the
 * DER decoders, with the fixture's keys.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

static const char pem3072[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA01O8PSW9IPN1nsC0I7lf\n"
	"zdx0gZykjS4cuTU4LxJEIrKy6ZMK3Bv3AC1cdu3Z/U85d/pu7cNHpWLZmRI7YARv\n"
	"7N26KOryagmXTAzQHx6x/aqvDEG5ADj1q9c8puA+drAvirttikhNs3pr+00DaX60\n"
	"Pb7Tz+MQTkb7+i7uUVPg/1VvLpQZN5kQFfaqR7I+7OiFFIgFx/jYif7zGzVvmnWw\n"
	"sqFT1d0YPLub20x+LpXdkuXex+MdrqRFqMnqoc2DiYgO2AH4yr7SD9SCAT6ljQaY\n"
	"86T2mY6EPfumTQXN8TOp4OBe23DcwrVl/oIJ60WeoSVGaBb29o82fv5BK0DOni40\n"
	"kf/ZsEbGZcYRKRuzdE4pmLTQ9SChit8v32TzmsjPEAYrZtCmE9Hxbg8jioIy+m3t\n"
	"WCmI4MROCOJYfttTLENNVIJXEOfBHe33STzdx/R/GEUIuQRyJZT1qTNg3mbGGwQH\n"
	"jfml7HlihEyufDhsxrBtvW8M9Nz1CKi98KCvgEqT1FOxAgMBAAE=\n"
	"-----END PUBLIC KEY-----\n";

static const char pem4096[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAjIxdiZNcqOoThe/+j4kM\n"
	"zOcxApn5ax5dDy13mLRCXELukWP2P5QU/fYMbV30oZ2VU1aU2Q332eVZesvCJwVE\n"
	"P925t9AJABHm38GLvZX0NmESFvRTsaJ+Fxs5qeNs1Zx4KgUGa1QxQrCM3EqYrlWe\n"
	"nKBkBcVLSjvRWjfEhplLzQW38ZaCuOnZN2MVHJoDwCbfEwjrAP+JwquGlUhDsTo9\n"
	"lMyL6xw+8zhBkAd+p6/o7+W5nc+s/BzqLQlBf6USVFqj6dC4ckcqYNEcrhOuS2c7\n"
	"F90Ga/kIr8T08INmvP4DgSst8C65olS5PkTIvEOKd45YtHBXxMjh5VoMVpfHOWND\n"
	"M+kalBaQpjCG4XHod3xXSmSvVzytrZcinbONSSn67Rw0p10Ws07HxAKcFYMph60w\n"
	"PP0Mdlj/DxcpAJuBGrTH1QIxsu/nU0a7nXM2/epdFDwH70NEm/SqQWLk14OxY7vX\n"
	"cfjN2Qh0Vzq7DajfDGwVhKQqh1lo/iJSe9DzJ094vLoWWz4w81Tt+EzRmYfWQNXl\n"
	"g1eI6pjffhzlY343zJuZDUuN/E2VmB2WoGrEycYdErbIIOQe/Hra0RUtqLMG9vqj\n"
	"zHsxqlo7Toa7jmAsZKGMbXqzt7wrxojZy1BifUagDtX/5zy7qmnCoAOz4mHwmi/N\n"
	"OO5EEfhw62jxD5+RiXdzeasCAwEAAQ==\n"
	"-----END PUBLIC KEY-----\n";

static const uint8_t key1[TRIPKI_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[TRIPKI_KEY_LEN] = "0123456789abcdef0123456789abcdeF";
static const uint8_t aad[] = "header and prefix";
static const uint8_t msg[64] =
    "a plaintext of sixty-four bytes, padded out with zero bytes....";

static int
setup_keys(void **state)
{
	(void)state;
	fx_keys();
	return 0;
}

static EVP_PKEY *
pem_pub(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	assert_non_null(bio);
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	return k;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* ---- AES-256-GCM ---- */

static void
gcm_known_answer(void **state)
{
	static const uint8_t zero_key[32], zero[16];
	static const uint8_t tag0[16] = {
		0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9,
		0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb, 0x73, 0x8b,
	};
	static const uint8_t ct1[32] = {
		0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
		0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
		0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
		0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19,
	};
	uint8_t nonce[GCM_NONCE_LEN];
	tripki_buf b;

	(void)state;
	gcm_nonce(nonce, 0, 0);
	assert_true(all_zero(nonce, sizeof(nonce)));
	tripki_buf_init(&b, 64);
	assert_int_equal(gcm_seal(zero_key, nonce, NULL, 0, NULL, 0, &b),
	    TRIPKI_OK);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.data, tag0, 16);
	tripki_buf_reset(&b);
	assert_int_equal(gcm_seal(zero_key, nonce, NULL, 0, zero, 16, &b),
	    TRIPKI_OK);
	assert_int_equal(b.len, 32);
	assert_memory_equal(b.data, ct1, 32);
	tripki_buf_free(&b);
}

static void
gcm_nonce_layout(void **state)
{
	uint8_t n[GCM_NONCE_LEN];

	(void)state;
	gcm_nonce(n, DIR_RESPONSE, 0x0102030405060708ULL);
	assert_memory_equal(n,
	    "\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08", 12);
}

static void
gcm_round_trip(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN];
	tripki_buf ct, pt;

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 7);
	tripki_buf_init(&ct, 256);
	tripki_buf_init(&pt, 256);
	assert_int_equal(buf_put(&ct, "pre", 3), TRIPKI_OK);
	assert_int_equal(gcm_seal(key1, nonce, aad, sizeof(aad), msg,
	    sizeof(msg), &ct), TRIPKI_OK);
	assert_int_equal(ct.len, 3 + sizeof(msg) + GCM_TAG_LEN);
	assert_memory_not_equal(ct.data + 3, msg, sizeof(msg));
	assert_int_equal(gcm_open(key1, nonce, aad, sizeof(aad), ct.data + 3,
	    ct.len - 3, &pt), TRIPKI_OK);
	assert_int_equal(pt.len, sizeof(msg));
	assert_memory_equal(pt.data, msg, sizeof(msg));

	/* Empty plaintext and empty associated data. */
	tripki_buf_reset(&ct);
	tripki_buf_reset(&pt);
	assert_int_equal(gcm_seal(key1, nonce, NULL, 0, NULL, 0, &ct),
	    TRIPKI_OK);
	assert_int_equal(ct.len, GCM_TAG_LEN);
	assert_int_equal(gcm_open(key1, nonce, NULL, 0, ct.data, ct.len, &pt),
	    TRIPKI_OK);
	assert_int_equal(pt.len, 0);
	tripki_buf_free(&ct);
	tripki_buf_free(&pt);
}

/*
 * A kept context gives, frame after frame, in both directions, exactly the
 * bytes a new context for the same key gives; a frame that fails to open
 * under it leaves it fit for the next; and gcm_keep moves it to a new key.
 */
static void
gcm_kept_context(void **state)
{
	EVP_CIPHER_CTX *kept = NULL;
	uint8_t nonce[GCM_NONCE_LEN];
	tripki_buf fresh, ct, pt;

	(void)state;
	tripki_buf_init(&fresh, 256);
	tripki_buf_init(&ct, 256);
	tripki_buf_init(&pt, 256);
	assert_int_equal(gcm_keep(&kept, key1), TRIPKI_OK);
	assert_non_null(kept);
	for (uint64_t i = 0; i < 6; i++) {
		uint32_t dir = i % 2 ? DIR_RESPONSE : DIR_REQUEST;
		size_t n = (size_t)(i * 11) % sizeof(msg);

		gcm_nonce(nonce, dir, i);
		tripki_buf_reset(&fresh);
		tripki_buf_reset(&ct);
		tripki_buf_reset(&pt);
		assert_int_equal(gcm_seal(key1, nonce, aad, sizeof(aad), msg, n,
		    &fresh), TRIPKI_OK);
		assert_int_equal(gcm_seal_with(kept, NULL, nonce, aad,
		    sizeof(aad), msg, n, &ct), TRIPKI_OK);
		assert_int_equal(ct.len, fresh.len);
		assert_memory_equal(ct.data, fresh.data, fresh.len);
		/* Opened under the same kept context, after sealing with it. */
		assert_int_equal(gcm_open_with(kept, NULL, nonce, aad,
		    sizeof(aad), fresh.data, fresh.len, &pt), TRIPKI_OK);
		assert_int_equal(pt.len, n);
		assert_memory_equal(pt.data, msg, n);
		/* A flipped tag bit: refused, and nothing handed back. */
		ct.data[ct.len - 1] ^= 1;
		tripki_buf_reset(&pt);
		assert_int_equal(gcm_open_with(kept, NULL, nonce, aad,
		    sizeof(aad), ct.data, ct.len, &pt), TRIPKI_E_DECRYPT);
		assert_int_equal(pt.len, 0);
	}

	/* Moved to key2: key2's bytes, and key1's frames no longer open. */
	gcm_nonce(nonce, DIR_REQUEST, 9);
	tripki_buf_reset(&fresh);
	tripki_buf_reset(&ct);
	tripki_buf_reset(&pt);
	assert_int_equal(gcm_keep(&kept, key2), TRIPKI_OK);
	assert_int_equal(gcm_seal(key2, nonce, aad, sizeof(aad), msg,
	    sizeof(msg), &fresh), TRIPKI_OK);
	assert_int_equal(gcm_seal_with(kept, key1, nonce, aad, sizeof(aad),
	    msg, sizeof(msg), &ct), TRIPKI_OK);
	assert_memory_equal(ct.data, fresh.data, fresh.len);
	tripki_buf_reset(&ct);
	assert_int_equal(gcm_seal(key1, nonce, aad, sizeof(aad), msg,
	    sizeof(msg), &ct), TRIPKI_OK);
	assert_int_equal(gcm_open_with(kept, NULL, nonce, aad, sizeof(aad),
	    ct.data, ct.len, &pt), TRIPKI_E_DECRYPT);

	/* Without a kept context, the key given is used. */
	tripki_buf_reset(&pt);
	assert_int_equal(gcm_open_with(NULL, key1, nonce, aad, sizeof(aad),
	    ct.data, ct.len, &pt), TRIPKI_OK);
	assert_memory_equal(pt.data, msg, sizeof(msg));
	EVP_CIPHER_CTX_free(kept);
	tripki_buf_free(&fresh);
	tripki_buf_free(&ct);
	tripki_buf_free(&pt);
}

/*
 * Opens `ct` and expects DECRYPT with the output buffer exactly as it was:
 * same length, its prefix intact, and no plaintext left past the end.
 */
static void
open_fails(const uint8_t *key, const uint8_t *nonce, const uint8_t *a,
    size_t alen, const uint8_t *ct, size_t ctlen)
{
	tripki_buf pt;

	tripki_buf_init(&pt, 256);
	assert_int_equal(buf_put(&pt, "kept", 4), TRIPKI_OK);
	assert_int_equal(gcm_open(key, nonce, a, alen, ct, ctlen, &pt),
	    TRIPKI_E_DECRYPT);
	assert_int_equal(pt.len, 4);
	assert_memory_equal(pt.data, "kept", 4);
	if (ctlen > GCM_TAG_LEN)
		assert_true(all_zero(pt.data + 4, ctlen - GCM_TAG_LEN));
	tripki_buf_free(&pt);
}

static void
gcm_flipped_bits(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN], ct[sizeof(msg) + GCM_TAG_LEN];
	tripki_buf b;

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 1);
	tripki_buf_init(&b, 256);
	assert_int_equal(gcm_seal(key1, nonce, aad, sizeof(aad), msg,
	    sizeof(msg), &b), TRIPKI_OK);
	assert_int_equal(b.len, sizeof(ct));
	memcpy(ct, b.data, sizeof(ct));
	tripki_buf_free(&b);
	for (size_t i = 0; i < sizeof(ct); i++)
		for (int bit = 0; bit < 8; bit++) {
			ct[i] ^= (uint8_t)(1u << bit);
			open_fails(key1, nonce, aad, sizeof(aad), ct,
			    sizeof(ct));
			ct[i] ^= (uint8_t)(1u << bit);
		}
	/* Flipped bits in the associated data as well. */
	for (size_t i = 0; i < sizeof(aad); i++) {
		uint8_t a2[sizeof(aad)];

		memcpy(a2, aad, sizeof(aad));
		a2[i] ^= 0x40;
		open_fails(key1, nonce, a2, sizeof(a2), ct, sizeof(ct));
	}
	/* Truncated or extended ciphertext. */
	open_fails(key1, nonce, aad, sizeof(aad), ct, sizeof(ct) - 1);
	open_fails(key1, nonce, aad, sizeof(aad), ct, sizeof(ct) - GCM_TAG_LEN);
}

static void
gcm_wrong_key_aad_nonce(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN], n2[GCM_NONCE_LEN];
	uint8_t ct[sizeof(msg) + GCM_TAG_LEN];
	tripki_buf b;

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 5);
	tripki_buf_init(&b, 256);
	assert_int_equal(gcm_seal(key1, nonce, aad, sizeof(aad), msg,
	    sizeof(msg), &b), TRIPKI_OK);
	memcpy(ct, b.data, sizeof(ct));
	tripki_buf_free(&b);

	open_fails(key2, nonce, aad, sizeof(aad), ct, sizeof(ct));
	open_fails(key1, nonce, aad, sizeof(aad) - 1, ct, sizeof(ct));
	open_fails(key1, nonce, NULL, 0, ct, sizeof(ct));
	gcm_nonce(n2, DIR_RESPONSE, 5); /* reflected */
	open_fails(key1, n2, aad, sizeof(aad), ct, sizeof(ct));
	gcm_nonce(n2, DIR_REQUEST, 6);  /* another counter */
	open_fails(key1, n2, aad, sizeof(aad), ct, sizeof(ct));
	gcm_nonce(n2, DIR_REQUEST, 5 | 1ULL << 63);
	open_fails(key1, n2, aad, sizeof(aad), ct, sizeof(ct));
}

static void
gcm_short_input(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN], ct[GCM_TAG_LEN];

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 0);
	memset(ct, 0x5a, sizeof(ct));
	for (size_t n = 0; n < GCM_TAG_LEN; n++)
		open_fails(key1, nonce, NULL, 0, ct, n);
	open_fails(key1, nonce, NULL, 0, ct, sizeof(ct));
}

/*
 * A bare (wrong) tag, into a buffer that owns no memory yet: what every
 * role does with a sealed frame whose body is only a tag.  Nothing to
 * decrypt, so the reserve is of zero bytes.
 */
static void
gcm_bare_tag_fresh_buffer(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN], ct[GCM_TAG_LEN];
	tripki_buf pt;

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 0);
	memset(ct, 0x5a, sizeof(ct));
	tripki_buf_init(&pt, 64);
	assert_int_equal(gcm_open(key1, nonce, NULL, 0, ct, sizeof(ct), &pt),
	    TRIPKI_E_DECRYPT);
	assert_int_equal(pt.len, 0);
	tripki_buf_free(&pt);
}

static void
gcm_ceiling(void **state)
{
	uint8_t nonce[GCM_NONCE_LEN];
	tripki_buf b, pt;

	(void)state;
	gcm_nonce(nonce, DIR_REQUEST, 0);
	tripki_buf_init(&b, sizeof(msg) + GCM_TAG_LEN - 1);
	assert_int_equal(gcm_seal(key1, nonce, NULL, 0, msg, sizeof(msg), &b),
	    TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 0);
	tripki_buf_free(&b);

	tripki_buf_init(&b, 256);
	assert_int_equal(gcm_seal(key1, nonce, NULL, 0, msg, sizeof(msg), &b),
	    TRIPKI_OK);
	tripki_buf_init(&pt, sizeof(msg) - 1);
	assert_int_equal(gcm_open(key1, nonce, NULL, 0, b.data, b.len, &pt),
	    TRIPKI_E_TOO_BIG);
	assert_int_equal(pt.len, 0);
	tripki_buf_free(&pt);
	tripki_buf_free(&b);
}

/* ---- RSA-OAEP ---- */

static void
oaep_round_trip(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint8_t out[TRIPKI_KEY_LEN];
	tripki_buf ct, ct2;

	(void)state;
	tripki_buf_init(&ct, 1024);
	tripki_buf_init(&ct2, 1024);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, key1,
	    sizeof(key1), &ct), TRIPKI_OK);
	assert_int_equal(ct.len, 256);
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M1, ct.data,
	    ct.len, out), TRIPKI_OK);
	assert_memory_equal(out, key1, sizeof(out));
	/* Randomised: the same key wraps differently each time. */
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, key1,
	    sizeof(key1), &ct2), TRIPKI_OK);
	assert_memory_not_equal(ct.data, ct2.data, 256);
	tripki_buf_free(&ct);
	tripki_buf_free(&ct2);
}

/*
 * A wrapped key that does not unwrap (wrong label, wrong private key,
 * altered or wrong-sized ciphertext) gives a substitute key and TRIPKI_OK;
 * the AEAD under that key then fails with TRIPKI_E_DECRYPT.
 */
static void
unwrap_fails_as_random(EVP_PKEY *priv, const char *label, const uint8_t *ct,
    size_t n)
{
	uint8_t got[TRIPKI_KEY_LEN], nonce[GCM_NONCE_LEN];
	tripki_buf sealed;

	memset(got, 0, sizeof(got));
	assert_int_equal(oaep_unwrap_key(priv, label, ct, n, got), TRIPKI_OK);
	assert_memory_not_equal(got, key1, sizeof(got));
	assert_false(all_zero(got, sizeof(got)));
	gcm_nonce(nonce, DIR_REQUEST, 0);
	tripki_buf_init(&sealed, 256);
	assert_int_equal(gcm_seal(key1, nonce, NULL, 0, msg, sizeof(msg),
	    &sealed), TRIPKI_OK);
	open_fails(got, nonce, NULL, 0, sealed.data, sealed.len);
	tripki_buf_free(&sealed);
}

static void
oaep_wrong_label_or_key(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint8_t ct[256];
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, 1024);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, key1,
	    sizeof(key1), &b), TRIPKI_OK);
	memcpy(ct, b.data, sizeof(ct));
	tripki_buf_free(&b);

	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M5, ct, sizeof(ct));
	unwrap_fails_as_random(k->ca_key, "", ct, sizeof(ct));
	unwrap_fails_as_random(k->other_ca_key, OAEP_LABEL_M1, ct, sizeof(ct));
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, ct, sizeof(ct) - 1);
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, ct, 0);
	ct[100] ^= 0x01;
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, ct, sizeof(ct));
	ct[100] ^= 0x01;
	/* Above the modulus. */
	memset(ct, 0xff, sizeof(ct));
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, ct, sizeof(ct));
}

/*
 * The substitute key depends on the block alone: the same bad block gives
 * the same key every time (nothing to learn by asking twice), another
 * block or label another key.
 */
static void
oaep_rejection_is_deterministic(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint8_t a[TRIPKI_KEY_LEN], b[TRIPKI_KEY_LEN], c[TRIPKI_KEY_LEN];
	uint8_t d[TRIPKI_KEY_LEN];
	uint8_t ct[256];
	tripki_buf w;

	(void)state;
	tripki_buf_init(&w, 1024);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, key1,
	    sizeof(key1), &w), TRIPKI_OK);
	memcpy(ct, w.data, sizeof(ct));
	tripki_buf_free(&w);
	ct[0] ^= 0x01;
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M1, ct,
	    sizeof(ct), a), TRIPKI_OK);
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M1, ct,
	    sizeof(ct), b), TRIPKI_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M5, ct,
	    sizeof(ct), c), TRIPKI_OK);
	assert_memory_not_equal(a, c, sizeof(a));
	ct[0] ^= 0x03;
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M1, ct,
	    sizeof(ct), d), TRIPKI_OK);
	assert_memory_not_equal(a, d, sizeof(a));
}

/* A wrapped value that is not 32 bytes is refused the same way. */
static void
oaep_wrong_plaintext_size(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_buf b;

	(void)state;
	tripki_buf_init(&b, 1024);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, key1, 31, &b),
	    TRIPKI_OK);
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, b.data, b.len);
	tripki_buf_reset(&b);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M1, msg, 33, &b),
	    TRIPKI_OK);
	unwrap_fails_as_random(k->ca_key, OAEP_LABEL_M1, b.data, b.len);
	tripki_buf_free(&b);
}

static void
wrap_prefix_bounds(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint8_t got[TRIPKI_KEY_LEN], big[2 + 600];
	tripki_buf p;
	size_t plen;
	rsa_dec *dec;
	rd body;

	(void)state;
	assert_int_equal(rsa_dec_new(k->ca_key, OAEP_LABEL_M5, &dec),
	    TRIPKI_OK);
	tripki_buf_init(&p, 1024);
	assert_int_equal(buf_put(&p, "x", 1), TRIPKI_OK);
	assert_int_equal(wrap_prefix(k->ca_key, OAEP_LABEL_M5, key1, &p),
	    TRIPKI_OK);
	assert_int_equal(p.len, 1 + 2 + 256);
	assert_int_equal(p.data[1], 0x01);
	assert_int_equal(p.data[2], 0x00);
	body = rd_make(p.data + 1, p.len - 1);
	assert_int_equal(unwrap_prefix(dec, &body, &plen, got),
	    TRIPKI_OK);
	assert_int_equal(plen, 258);
	assert_int_equal(body.n, 0);
	assert_memory_equal(got, key1, sizeof(got));

	/* One byte short of what the length says. */
	body = rd_make(p.data + 1, p.len - 2);
	assert_int_equal(unwrap_prefix(dec, &body, &plen, got),
	    TRIPKI_E_TRUNCATED);
	body = rd_make(p.data + 1, 1);
	assert_int_equal(unwrap_prefix(dec, &body, &plen, got),
	    TRIPKI_E_TRUNCATED);
	/* A length over 512, present or not. */
	memset(big, 0, sizeof(big));
	big[0] = 0x02;
	big[1] = 0x01;
	body = rd_make(big, sizeof(big));
	assert_int_equal(unwrap_prefix(dec, &body, &plen, got),
	    TRIPKI_E_TOO_BIG);
	big[0] = 0xff;
	big[1] = 0xff;
	body = rd_make(big, sizeof(big));
	assert_int_equal(unwrap_prefix(dec, &body, &plen, got),
	    TRIPKI_E_TOO_BIG);
	tripki_buf_free(&p);
	rsa_dec_free(dec);
}

/*
 * One rsa_dec used from four threads at once: each alternates a good
 * block and a spoilt one, and every answer is oaep_unwrap_key's (the
 * key, or the same substitute), so a context reused after a failure
 * decrypts as a new one would.
 */
struct dec_job {
	rsa_dec *d;
	const uint8_t *good, *bad, *want_bad;
	int wrong;
};

static void *
dec_worker(void *p)
{
	struct dec_job *j = p;
	uint8_t got[TRIPKI_KEY_LEN];
	int i;

	for (i = 0; i < 24; i++) {
		memset(got, 0, sizeof(got));
		if (rsa_dec_unwrap(j->d, i % 2 ? j->bad : j->good, 256, got) !=
		    TRIPKI_OK || memcmp(got, i % 2 ? j->want_bad : key1,
		    sizeof(got)) != 0)
			j->wrong++;
	}
	return NULL;
}

static void
rsa_dec_shared_by_threads(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint8_t good[256], bad[256], want_bad[TRIPKI_KEY_LEN];
	uint8_t got[TRIPKI_KEY_LEN], want[TRIPKI_KEY_LEN];
	struct dec_job jobs[4];
	pthread_t th[4];
	rsa_dec *d, *m1;
	tripki_buf w;
	size_t i;

	(void)state;
	assert_int_equal(rsa_dec_new(NULL, OAEP_LABEL_M5, &d),
	    TRIPKI_E_INVALID);
	assert_int_equal(rsa_dec_new(k->ca_key,
	    "a label longer than thirty-one bytes", &d), TRIPKI_E_INVALID);
	tripki_buf_init(&w, 1024);
	assert_int_equal(oaep_encrypt(k->ca_key, OAEP_LABEL_M5, key1,
	    sizeof(key1), &w), TRIPKI_OK);
	assert_int_equal(w.len, sizeof(good));
	memcpy(good, w.data, sizeof(good));
	tripki_buf_free(&w);
	memcpy(bad, good, sizeof(bad));
	bad[100] ^= 0x20;
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M5, bad,
	    sizeof(bad), want_bad), TRIPKI_OK);
	assert_memory_not_equal(want_bad, key1, sizeof(key1));

	assert_int_equal(rsa_dec_new(k->ca_key, OAEP_LABEL_M5, &d), TRIPKI_OK);
	for (i = 0; i < 4; i++) {
		jobs[i] = (struct dec_job){ d, good, bad, want_bad, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, dec_worker,
		    &jobs[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].wrong, 0);
	}
	rsa_dec_free(d);

	/* The label is the one given: M5's block under M1's is refused. */
	assert_int_equal(rsa_dec_new(k->ca_key, OAEP_LABEL_M1, &m1), TRIPKI_OK);
	assert_int_equal(rsa_dec_unwrap(m1, good, sizeof(good), got),
	    TRIPKI_OK);
	assert_int_equal(oaep_unwrap_key(k->ca_key, OAEP_LABEL_M1, good,
	    sizeof(good), want), TRIPKI_OK);
	assert_memory_equal(got, want, sizeof(got));
	assert_memory_not_equal(got, key1, sizeof(got));
	rsa_dec_free(m1);
}

/* ---- Sealed frames ---- */

static void
sealed_frame_round_trip(void **state)
{
	static const uint8_t prefix[24] = "session-id-0123seq-0001";
	uint8_t f[512];
	tripki_buf b, pt;
	size_t flen, n;
	uint8_t type;

	(void)state;
	tripki_buf_init(&b, 1024);
	tripki_buf_init(&pt, 1024);
	assert_int_equal(seal_frame(&b, TRIPKI_M7, key1, DIR_REQUEST, 3, prefix,
	    sizeof(prefix), msg, sizeof(msg)), TRIPKI_OK);
	n = b.len;
	assert_int_equal(n, 6 + sizeof(prefix) + sizeof(msg) + GCM_TAG_LEN);
	assert_int_equal(tripki_frame_peek(b.data, n, &flen, &type), TRIPKI_OK);
	assert_int_equal(flen, n);
	assert_int_equal(type, TRIPKI_M7);
	assert_memory_equal(b.data + 6, prefix, sizeof(prefix));
	memcpy(f, b.data, n);
	assert_int_equal(open_frame(f, n, sizeof(prefix), key1, DIR_REQUEST, 3,
	    &pt), TRIPKI_OK);
	assert_int_equal(pt.len, sizeof(msg));
	assert_memory_equal(pt.data, msg, sizeof(msg));

	/* Header and prefix are associated data: any change is refused. */
	for (size_t i = 0; i < 6 + sizeof(prefix); i++) {
		tripki_buf_reset(&pt);
		f[i] ^= 0x08;
		assert_int_equal(open_frame(f, n, sizeof(prefix), key1,
		    DIR_REQUEST, 3, &pt), TRIPKI_E_DECRYPT);
		assert_int_equal(pt.len, 0);
		f[i] ^= 0x08;
	}
	/* So is the wrong direction, counter or prefix length. */
	assert_int_equal(open_frame(f, n, sizeof(prefix), key1, DIR_RESPONSE, 3,
	    &pt), TRIPKI_E_DECRYPT);
	assert_int_equal(open_frame(f, n, sizeof(prefix), key1, DIR_REQUEST, 4,
	    &pt), TRIPKI_E_DECRYPT);
	assert_int_equal(open_frame(f, n, sizeof(prefix) - 1, key1, DIR_REQUEST,
	    3, &pt), TRIPKI_E_DECRYPT);
	assert_int_equal(open_frame(f, 5, 0, key1, DIR_REQUEST, 3, &pt),
	    TRIPKI_E_TRUNCATED);
	assert_int_equal(pt.len, 0);
	tripki_buf_free(&b);
	tripki_buf_free(&pt);
}

static void
sealed_frame_limits(void **state)
{
	static uint8_t big[TRIPKI_FRAME_MAX];
	uint8_t prefix[600];
	tripki_buf b;
	size_t most = TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN - GCM_TAG_LEN;

	(void)state;
	memset(prefix, 0, sizeof(prefix));
	tripki_buf_init(&b, 2 * TRIPKI_FRAME_MAX);
	assert_int_equal(buf_put(&b, "z", 1), TRIPKI_OK);
	assert_int_equal(seal_frame(&b, TRIPKI_M8, key1, DIR_RESPONSE, 1, NULL,
	    0, big, most), TRIPKI_OK);
	assert_int_equal(b.len, 1 + TRIPKI_FRAME_MAX);
	tripki_buf_reset(&b);
	assert_int_equal(seal_frame(&b, TRIPKI_M8, key1, DIR_RESPONSE, 1, NULL,
	    0, big, most + 1), TRIPKI_E_TOO_BIG);
	assert_int_equal(seal_frame(&b, TRIPKI_M8, key1, DIR_RESPONSE, 1,
	    prefix, sizeof(prefix), msg, 1), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 0);
	/* A ceiling reached half way leaves the buffer as it was. */
	tripki_buf_free(&b);
	tripki_buf_init(&b, 40);
	assert_int_equal(buf_put(&b, "abc", 3), TRIPKI_OK);
	assert_int_equal(seal_frame(&b, TRIPKI_M8, key1, DIR_RESPONSE, 1, NULL,
	    0, msg, sizeof(msg)), TRIPKI_E_TOO_BIG);
	assert_int_equal(b.len, 3);
	tripki_buf_free(&b);
}

/* ---- Digests and signatures ---- */

static void
digest_known_answer(void **state)
{
	static const uint8_t want[16] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	};
	uint8_t d[DIGEST_LEN];

	(void)state;
	assert_int_equal(digest16((const uint8_t *)"abc", 3, d), TRIPKI_OK);
	assert_memory_equal(d, want, sizeof(want));
}

static void
signatures(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_buf sig;

	(void)state;
	tripki_buf_init(&sig, 1024);
	assert_int_equal(sign_sha256(k->server_key, msg, sizeof(msg), &sig),
	    TRIPKI_OK);
	assert_int_equal(sig.len, 256);
	assert_int_equal(verify_sha256(k->server_key, msg, sizeof(msg),
	    sig.data, sig.len), TRIPKI_OK);
	assert_int_equal(verify_sha256(k->spare_key, msg, sizeof(msg),
	    sig.data, sig.len), TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(verify_sha256(k->server_key, msg, sizeof(msg) - 1,
	    sig.data, sig.len), TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(verify_sha256(k->server_key, msg, sizeof(msg),
	    sig.data, sig.len - 1), TRIPKI_E_NOT_AUTHORIZED);
	sig.data[17] ^= 0x20;
	assert_int_equal(verify_sha256(k->server_key, msg, sizeof(msg),
	    sig.data, sig.len), TRIPKI_E_NOT_AUTHORIZED);
	tripki_buf_free(&sig);
}

/* ---- DER forms ---- */

static void
der_round_trips(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_buf b;
	EVP_PKEY *pk;
	X509 *x;

	(void)state;
	tripki_buf_init(&b, DER_MAX);
	/* A certificate's SPKI is the same bytes as its key's encoding. */
	assert_int_equal(key_to_spki(k->server_key, &b), TRIPKI_OK);
	assert_int_equal(cert_spki_is(k->server_cert, b.data, b.len), TRIPKI_OK);
	assert_int_equal(cert_spki_is(k->ca_cert, b.data, b.len),
	    TRIPKI_E_CERT_KEY);
	tripki_buf_reset(&b);
	assert_int_equal(key_to_pkcs8(k->server_key, &b), TRIPKI_OK);
	assert_int_equal(key_from_pkcs8(b.data, b.len, &pk), TRIPKI_OK);
	assert_int_equal(EVP_PKEY_eq(pk, k->server_key), 1);
	EVP_PKEY_free(pk);
	tripki_buf_reset(&b);
	assert_int_equal(cert_to_der(k->server_cert, &b), TRIPKI_OK);
	assert_int_equal(cert_from_der(b.data, b.len, &x), TRIPKI_OK);
	assert_int_equal(X509_cmp(x, k->server_cert), 0);
	X509_free(x);
	tripki_buf_free(&b);
}

enum der_kind { PKCS8, CERT, CSR };

static int
decode(enum der_kind kind, const uint8_t *p, size_t n)
{
	EVP_PKEY *pk = NULL;
	struct csr *req = NULL;
	X509 *x = NULL;
	int r;

	switch (kind) {
	case PKCS8:
		r = key_from_pkcs8(p, n, &pk);
		break;
	case CERT:
		r = cert_from_der(p, n, &x);
		break;
	default:
		r = csr_parse(p, n, FX_SERVER_ID, &req);
		break;
	}
	if (r == TRIPKI_OK) {
		EVP_PKEY_free(pk);
		X509_free(x);
		csr_free(req);
	}
	return r;
}

/* Each decoder: exact input OK, one more byte TRAILING, garbage BAD_FIELD. */
static void
der_exact_input(void **state)
{
	const struct fx_keys *k = fx_keys();
	static uint8_t huge[DER_MAX + 2], copy[DER_MAX];
	uint8_t garbage[64];
	tripki_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 37 + 11);
	tripki_buf_init(&b, DER_MAX + 1);
	for (int kind = PKCS8; kind <= CSR; kind++) {
		tripki_buf_reset(&b);
		if (kind == PKCS8)
			assert_int_equal(key_to_pkcs8(k->server_key, &b),
			    TRIPKI_OK);
		else if (kind == CERT)
			assert_int_equal(cert_to_der(k->server_cert, &b),
			    TRIPKI_OK);
		else
			assert_int_equal(csr_make(k->server_key, FX_SERVER_ID,
			    &b), TRIPKI_OK);
		assert_int_equal(decode(kind, b.data, b.len), TRIPKI_OK);
		assert_int_equal(buf_u8(&b, 0), TRIPKI_OK);
		assert_int_equal(decode(kind, b.data, b.len),
		    TRIPKI_E_TRAILING);
		/* A second object glued on is trailing bytes too. */
		b.len--;
		memcpy(copy, b.data, b.len);
		assert_int_equal(buf_put(&b, copy, b.len), TRIPKI_OK);
		assert_int_equal(decode(kind, b.data, b.len),
		    TRIPKI_E_TRAILING);
		b.len /= 2;
		assert_int_equal(decode(kind, b.data, b.len - 1),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(decode(kind, b.data + 1, b.len - 1),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(decode(kind, garbage, sizeof(garbage)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(decode(kind, garbage, 0), TRIPKI_E_BAD_FIELD);
		assert_int_equal(decode(kind, huge, sizeof(huge)),
		    TRIPKI_E_BAD_FIELD);
	}
	tripki_buf_free(&b);
}

/* A well-formed SPKI where a PKCS#8 is expected, and so on. */
static void
der_wrong_kind(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_buf spki, cert;

	(void)state;
	tripki_buf_init(&spki, DER_MAX);
	tripki_buf_init(&cert, DER_MAX);
	assert_int_equal(key_to_spki(k->server_key, &spki), TRIPKI_OK);
	assert_int_equal(cert_to_der(k->server_cert, &cert), TRIPKI_OK);
	assert_int_equal(decode(PKCS8, spki.data, spki.len),
	    TRIPKI_E_BAD_FIELD);
	assert_int_equal(decode(CERT, spki.data, spki.len), TRIPKI_E_BAD_FIELD);
	assert_int_equal(decode(CSR, spki.data, spki.len), TRIPKI_E_BAD_FIELD);
	tripki_buf_free(&spki);
	tripki_buf_free(&cert);
}

/* ---- Key sizes ---- */

static void
key_sizes(void **state)
{
	EVP_PKEY *k3 = pem_pub(pem3072), *k4 = pem_pub(pem4096), *k1, *ec, *out;
	struct csr *req = NULL;
	tripki_buf b;
	X509 *x = NULL;

	(void)state;
	tripki_buf_init(&b, DER_MAX);
	assert_true(key_bits_ok(fx_keys()->ca_key));
	assert_true(key_bits_ok(k3));
	assert_true(key_bits_ok(k4));
	assert_false(key_bits_ok(NULL));
	assert_int_equal(EVP_PKEY_get_bits(k3), 3072);
	assert_int_equal(EVP_PKEY_get_bits(k4), 4096);

	/* Other sizes are refused before any work is done. */
	for (int bits = 0; bits <= 8192; bits += 512) {
		if (bits == 2048 || bits == 3072 || bits == 4096)
			continue;
		out = NULL;
		assert_int_equal(tripki_key_generate(bits, &out),
		    TRIPKI_E_INVALID);
		assert_null(out);
	}
	assert_int_equal(tripki_key_generate(2047, &out), TRIPKI_E_INVALID);
	assert_int_equal(tripki_key_generate(-2048, &out), TRIPKI_E_INVALID);

	/* A 1024-bit RSA key and an EC key, where an RSA key is expected. */
	k1 = EVP_RSA_gen(1024);
	ec = EVP_EC_gen("P-256");
	assert_non_null(k1);
	assert_non_null(ec);
	assert_false(key_bits_ok(k1));
	assert_false(key_bits_ok(ec));
	tripki_buf_reset(&b);
	assert_int_equal(key_to_pkcs8(k1, &b), TRIPKI_OK);
	assert_int_equal(key_from_pkcs8(b.data, b.len, &out), TRIPKI_E_KEY);
	tripki_buf_reset(&b);
	assert_int_equal(key_to_pkcs8(ec, &b), TRIPKI_OK);
	assert_int_equal(key_from_pkcs8(b.data, b.len, &out), TRIPKI_E_KEY);
	tripki_buf_reset(&b);
	assert_int_equal(csr_make(k1, FX_SERVER_ID, &b), TRIPKI_OK);
	assert_int_equal(csr_parse(b.data, b.len, FX_SERVER_ID, &req),
	    TRIPKI_E_KEY);
	assert_null(req);
	assert_int_equal(tripki_ca_selfsign(k1, FX_CA_ID, 30, FX_NOW, NULL, &x),
	    TRIPKI_E_INVALID);
	assert_int_equal(tripki_ca_selfsign(ec, FX_CA_ID, 30, FX_NOW, NULL, &x),
	    TRIPKI_E_INVALID);
	assert_null(x);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(k3);
	EVP_PKEY_free(k4);
	tripki_buf_free(&b);
}

/* The randomness hook is used, and its failure is reported. */
static int
rand_fails(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	(void)out;
	(void)n;
	return -1;
}

static void
randomness_source(void **state)
{
	tripki_common cm;
	uint64_t s1 = 42, s2 = 42;
	uint8_t a[40], b[40];

	(void)state;
	memset(&cm, 0, sizeof(cm));
	cm.rand = fx_rand;
	cm.rand_ctx = &s1;
	assert_int_equal(rand_bytes(&cm, a, sizeof(a)), TRIPKI_OK);
	cm.rand_ctx = &s2;
	assert_int_equal(rand_bytes(&cm, b, sizeof(b)), TRIPKI_OK);
	assert_memory_equal(a, b, sizeof(a));
	cm.rand = rand_fails;
	assert_int_equal(rand_bytes(&cm, a, sizeof(a)), TRIPKI_E_CRYPTO);
	assert_int_equal(rand_bytes(NULL, a, sizeof(a)), TRIPKI_OK);
	assert_int_equal(skew_ms(&cm), DEFAULT_SKEW_MS);
	cm.max_skew_ms = 1500;
	assert_int_equal(skew_ms(&cm), 1500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gcm_known_answer),
		cmocka_unit_test(gcm_nonce_layout),
		cmocka_unit_test(gcm_round_trip),
		cmocka_unit_test(gcm_kept_context),
		cmocka_unit_test(gcm_flipped_bits),
		cmocka_unit_test(gcm_wrong_key_aad_nonce),
		cmocka_unit_test(gcm_short_input),
		cmocka_unit_test(gcm_ceiling),
		cmocka_unit_test(oaep_round_trip),
		cmocka_unit_test(oaep_wrong_label_or_key),
		cmocka_unit_test(oaep_rejection_is_deterministic),
		cmocka_unit_test(oaep_wrong_plaintext_size),
		cmocka_unit_test(wrap_prefix_bounds),
		cmocka_unit_test(rsa_dec_shared_by_threads),
		cmocka_unit_test(sealed_frame_round_trip),
		cmocka_unit_test(sealed_frame_limits),
		cmocka_unit_test(digest_known_answer),
		cmocka_unit_test(signatures),
		cmocka_unit_test(der_round_trips),
		cmocka_unit_test(der_exact_input),
		cmocka_unit_test(der_wrong_kind),
		cmocka_unit_test(key_sizes),
		cmocka_unit_test(randomness_source),
		/* Last: UBSan stops the run here while the core has the bug. */
		cmocka_unit_test(gcm_bare_tag_fresh_buffer),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
