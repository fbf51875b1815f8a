/*
 * Known-answer tests of tripki's own crypto layer (src/core/crypto.c)
 * against published vectors shipped in tests/vectors/kat/ (README.md
 * there says where they come from):
 *
 *   - NIST CAVP AES-GCM, 256-bit key, 96-bit IV, 128-bit tag: gcm_seal
 *     reproduces every ciphertext and tag of gcmEncryptExtIV256.rsp and
 *     gcm_open recovers the plaintext; gcm_open opens every valid entry of
 *     gcmDecrypt256.rsp and refuses every FAIL entry with TRIPKI_E_DECRYPT;
 *   - RSA-OAEP with SHA-256 and MGF1-SHA-256 on 2048-bit keys
 *     (oaep-sha256-sha256.txt): oaep_decrypt recovers every message, and
 *     refuses a flipped bit, a wrong label, a wrong length and a ciphertext
 *     at or above the modulus with TRIPKI_E_DECRYPT; oaep_unwrap_key
 *     answers each of those with a deterministic substitute key (implicit
 *     rejection) and never fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "fixture.h"
#include "internal.h"

#define HEX_MAX 1024 /* bytes in one field: PT of 408 bits, RSA-2048 */

static char kat_dir[64];

static FILE *
kat_open(const char *name)
{
	const char *dir = fx_vectors_dir();
	char path[160];
	FILE *f;

	if (dir == NULL)
		return NULL;
	snprintf(kat_dir, sizeof(kat_dir), "%s/kat", dir);
	snprintf(path, sizeof(path), "%s/%s", kat_dir, name);
	if ((f = fopen(path, "r")) == NULL)
		fprintf(stderr, "test_kat: %s not found\n", path);
	return f;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Hex into out (at most HEX_MAX bytes); the length, or -1. */
static long
unhex(const char *s, uint8_t *out)
{
	return fx_unhex(s, out, HEX_MAX);
}

/* ---- AES-256-GCM (NIST CAVP response files) ---- */

struct gcm_vec {
	uint8_t key[32], iv[12], pt[HEX_MAX], aad[HEX_MAX], ct[HEX_MAX],
	    tag[16];
	long key_len, iv_len, pt_len, aad_len, ct_len, tag_len;
	int fail;
	int count;
};

/* Reads the next entry; 1 when one was read, 0 at the end. */
static int
gcm_next(FILE *f, struct gcm_vec *v)
{
	char line[4096], *p, *eq, *val;
	int in_entry = 0;
	long *len;
	uint8_t *dst;
	uint8_t tmp[HEX_MAX];

	memset(v, 0, sizeof(*v));
	v->pt_len = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = trim(line);
		if (*p == '\0') {
			if (in_entry)
				return 1;
			continue;
		}
		if (*p == '#' || *p == '[')
			continue;
		if (strcmp(p, "FAIL") == 0) {
			v->fail = 1;
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		p = trim(p);
		val = trim(eq + 1);
		in_entry = 1;
		if (strcmp(p, "Count") == 0) {
			v->count = atoi(val);
			continue;
		}
		dst = NULL;
		len = NULL;
		if (strcmp(p, "Key") == 0)
			dst = v->key, len = &v->key_len;
		else if (strcmp(p, "IV") == 0)
			dst = v->iv, len = &v->iv_len;
		else if (strcmp(p, "PT") == 0)
			dst = v->pt, len = &v->pt_len;
		else if (strcmp(p, "AAD") == 0)
			dst = v->aad, len = &v->aad_len;
		else if (strcmp(p, "CT") == 0)
			dst = v->ct, len = &v->ct_len;
		else if (strcmp(p, "Tag") == 0)
			dst = v->tag, len = &v->tag_len;
		if (dst == NULL)
			continue;
		*len = unhex(val, tmp);
		assert_true(*len >= 0);
		if (dst == v->key)
			assert_int_equal(*len, 32);
		else if (dst == v->iv)
			assert_int_equal(*len, 12);
		else if (dst == v->tag)
			assert_int_equal(*len, 16);
		memcpy(dst, tmp, (size_t)*len);
	}
	return in_entry;
}

/* ct || tag, as gcm_open takes it. */
static void
gcm_joined(const struct gcm_vec *v, uint8_t *out, size_t *n)
{
	memcpy(out, v->ct, (size_t)v->ct_len);
	memcpy(out + v->ct_len, v->tag, 16);
	*n = (size_t)v->ct_len + 16;
}

static void
test_gcm_encrypt(void **state)
{
	struct gcm_vec *v = calloc(1, sizeof(*v));
	uint8_t joined[HEX_MAX + 16];
	tripki_buf out, pt;
	size_t n, count = 0;
	FILE *f;

	(void)state;
	assert_non_null(v);
	assert_non_null(f = kat_open("gcmEncryptExtIV256.rsp"));
	fx_buf(&out);
	fx_buf(&pt);
	while (gcm_next(f, v)) {
		assert_int_equal(v->pt_len, v->ct_len);
		tripki_buf_reset(&out);
		assert_int_equal(gcm_seal(v->key, v->iv, v->aad,
		    (size_t)v->aad_len, v->pt, (size_t)v->pt_len, &out),
		    TRIPKI_OK);
		gcm_joined(v, joined, &n);
		if (out.len != n || memcmp(out.data, joined, n) != 0)
			fail_msg("gcmEncryptExtIV256.rsp Count = %d: gcm_seal "
			    "does not give the expected CT || Tag", v->count);
		tripki_buf_reset(&pt);
		assert_int_equal(gcm_open(v->key, v->iv, v->aad,
		    (size_t)v->aad_len, joined, n, &pt), TRIPKI_OK);
		assert_int_equal(pt.len, v->pt_len);
		assert_memory_equal(pt.data, v->pt, (size_t)v->pt_len);
		count++;
	}
	fclose(f);
	/* 25 groups of 15: a short read would pass too quietly. */
	assert_int_equal(count, 375);
	tripki_buf_free(&out);
	tripki_buf_free(&pt);
	free(v);
}

static void
test_gcm_decrypt(void **state)
{
	struct gcm_vec *v = calloc(1, sizeof(*v));
	uint8_t joined[HEX_MAX + 16];
	tripki_buf pt;
	size_t n, good = 0, bad = 0;
	int r;
	FILE *f;

	(void)state;
	assert_non_null(v);
	assert_non_null(f = kat_open("gcmDecrypt256.rsp"));
	fx_buf(&pt);
	while (gcm_next(f, v)) {
		gcm_joined(v, joined, &n);
		tripki_buf_reset(&pt);
		r = gcm_open(v->key, v->iv, v->aad, (size_t)v->aad_len, joined,
		    n, &pt);
		if (v->fail) {
			if (r != TRIPKI_E_DECRYPT)
				fail_msg("gcmDecrypt256.rsp Count = %d (FAIL): "
				    "gcm_open returned %d, want DECRYPT",
				    v->count, r);
			bad++;
			continue;
		}
		if (r != TRIPKI_OK)
			fail_msg("gcmDecrypt256.rsp Count = %d: gcm_open "
			    "returned %d", v->count, r);
		assert_int_equal(pt.len, v->pt_len);
		assert_memory_equal(pt.data, v->pt, (size_t)v->pt_len);
		good++;
	}
	fclose(f);
	assert_int_equal(good + bad, 375);
	assert_true(good > 0 && bad > 0);
	tripki_buf_free(&pt);
	free(v);
}

/* ---- RSA-OAEP, SHA-256, MGF1-SHA-256 ---- */

struct oaep_key {
	EVP_PKEY *pkey;
	size_t nexamples;
	struct {
		uint8_t msg[256], ct[256];
		long msg_len, ct_len;
	} ex[8];
};

static struct oaep_key keys[16];
static size_t nkeys;

static BIGNUM *
bn_hex(const char *hex)
{
	BIGNUM *b = NULL;

	assert_true(BN_hex2bn(&b, hex) > 0);
	return b;
}

static EVP_PKEY *
rsa_from(char comps[8][HEX_MAX * 2 + 1])
{
	static const char *names[8] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn[8];
	int i;

	assert_non_null(bld);
	for (i = 0; i < 8; i++) {
		bn[i] = bn_hex(comps[i]);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]),
		    1);
	}
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_non_null(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR,
	    params), 1);
	assert_int_equal(EVP_PKEY_get_bits(pkey), 2048);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (i = 0; i < 8; i++)
		BN_free(bn[i]);
	return pkey;
}

/*
 * The file's layout: "# Public key" (Modulus, Exponent), "# Private key"
 * (Modulus, Public exponent, Exponent, Prime 1, Prime 2, Prime exponent
 * 1, Prime exponent 2, Coefficient), then "# OAEP Example N" entries
 * (Message, Encryption).  Each field's value is the line after its label.
 */
static int
load_oaep(void **state)
{
	static char comps[8][HEX_MAX * 2 + 1];
	char line[2048], label[64] = "", *p;
	int priv = 0, ci = -1;
	struct oaep_key *k = NULL;
	uint8_t tmp[HEX_MAX];
	long n;
	FILE *f;

	(void)state;
	if ((f = kat_open("oaep-sha256-sha256.txt")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = trim(line);
		if (*p == '#') {
			p = trim(p + 1);
			if (strcmp(p, "Private key") == 0)
				priv = 1;
			else if (strcmp(p, "Public key") == 0)
				priv = 0;
			snprintf(label, sizeof(label), "%s", p);
			continue;
		}
		if (*p == '\0')
			continue;
		ci = -1;
		if (priv) {
			if (strcmp(label, "Modulus:") == 0) ci = 0;
			else if (strcmp(label, "Public exponent:") == 0) ci = 1;
			else if (strcmp(label, "Exponent:") == 0) ci = 2;
			else if (strcmp(label, "Prime 1:") == 0) ci = 3;
			else if (strcmp(label, "Prime 2:") == 0) ci = 4;
			else if (strcmp(label, "Prime exponent 1:") == 0) ci = 5;
			else if (strcmp(label, "Prime exponent 2:") == 0) ci = 6;
			else if (strcmp(label, "Coefficient:") == 0) {
				snprintf(comps[7], sizeof(comps[7]), "%s", p);
				if (nkeys >= sizeof(keys) / sizeof(keys[0]))
					goto bad;
				k = &keys[nkeys++];
				k->pkey = rsa_from(comps);
				priv = 0;
				continue;
			}
			if (ci >= 0)
				snprintf(comps[ci], sizeof(comps[ci]), "%s", p);
			continue;
		}
		if (k == NULL)
			continue;
		if (strcmp(label, "Message:") == 0) {
			if (k->nexamples >= sizeof(k->ex) / sizeof(k->ex[0]) ||
			    (n = unhex(p, tmp)) < 0 || n > 256)
				goto bad;
			memcpy(k->ex[k->nexamples].msg, tmp, (size_t)n);
			k->ex[k->nexamples].msg_len = n;
		} else if (strcmp(label, "Encryption:") == 0) {
			if ((n = unhex(p, tmp)) != 256)
				goto bad;
			memcpy(k->ex[k->nexamples].ct, tmp, 256);
			k->ex[k->nexamples].ct_len = n;
			k->nexamples++;
		}
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "test_kat: %s/oaep-sha256-sha256.txt: unexpected "
	    "layout near \"%s\"\n", kat_dir, p);
	fclose(f);
	return -1;
}

static int
free_oaep(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i].pkey);
	return 0;
}

static void
test_oaep_decrypt(void **state)
{
	uint8_t out[512];
	size_t i, j, outlen, total = 0;

	(void)state;
	assert_int_equal(nkeys, 10);
	for (i = 0; i < nkeys; i++) {
		assert_int_equal(keys[i].nexamples, 6);
		for (j = 0; j < keys[i].nexamples; j++) {
			outlen = sizeof(out);
			if (oaep_decrypt(keys[i].pkey, (const uint8_t *)"", 0,
			    keys[i].ex[j].ct, 256, out, &outlen) != TRIPKI_OK)
				fail_msg("OAEP key %zu example %zu does not "
				    "decrypt", i + 1, j + 1);
			assert_int_equal(outlen, keys[i].ex[j].msg_len);
			assert_memory_equal(out, keys[i].ex[j].msg, outlen);
			total++;
		}
	}
	assert_int_equal(total, 60);
}

/* The same ciphertext with the modulus's value, or all 0xff (> n). */
static void
big_ciphertexts(EVP_PKEY *k, uint8_t n_ct[256], uint8_t ff_ct[256])
{
	BIGNUM *n = NULL;

	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n),
	    1);
	assert_int_equal(BN_bn2binpad(n, n_ct, 256), 256);
	BN_free(n);
	memset(ff_ct, 0xff, 256);
}

static void
test_oaep_invalid(void **state)
{
	uint8_t ct[257], out[512], n_ct[256], ff_ct[256];
	size_t i, j, outlen, bit;

	(void)state;
	for (i = 0; i < nkeys; i++) {
		EVP_PKEY *k = keys[i].pkey;

		for (j = 0; j < keys[i].nexamples; j++) {
			/* One flipped bit, in a place that moves along. */
			memcpy(ct, keys[i].ex[j].ct, 256);
			bit = (i * 61 + j * 37) % 2048;
			ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			outlen = sizeof(out);
			assert_int_equal(oaep_decrypt(k, (const uint8_t *)"",
			    0, ct, 256, out, &outlen), TRIPKI_E_DECRYPT);
			/* The right block under a label it was not made for. */
			outlen = sizeof(out);
			assert_int_equal(oaep_decrypt(k,
			    (const uint8_t *)"tripki M5", 9, keys[i].ex[j].ct,
			    256, out, &outlen), TRIPKI_E_DECRYPT);
			/* One byte short, one byte long. */
			outlen = sizeof(out);
			assert_int_equal(oaep_decrypt(k, (const uint8_t *)"",
			    0, keys[i].ex[j].ct, 255, out, &outlen),
			    TRIPKI_E_DECRYPT);
			memcpy(ct, keys[i].ex[j].ct, 256);
			ct[256] = 0;
			outlen = sizeof(out);
			assert_int_equal(oaep_decrypt(k, (const uint8_t *)"",
			    0, ct, 257, out, &outlen), TRIPKI_E_DECRYPT);
		}
		/* RSADP step 1: a ciphertext >= n is refused. */
		big_ciphertexts(k, n_ct, ff_ct);
		outlen = sizeof(out);
		assert_int_equal(oaep_decrypt(k, (const uint8_t *)"", 0, n_ct,
		    256, out, &outlen), TRIPKI_E_DECRYPT);
		outlen = sizeof(out);
		assert_int_equal(oaep_decrypt(k, (const uint8_t *)"", 0, ff_ct,
		    256, out, &outlen), TRIPKI_E_DECRYPT);
	}
}

/*
 * oaep_unwrap_key never fails on a bad block: it answers with a key
 * derived from the block (implicit rejection, docs/PROTOCOL.md 4.2).  The
 * vectors' messages are not 32 bytes, so even the valid ones are "bad"
 * for unwrapping.
 */
static void
test_oaep_unwrap_rejects_implicitly(void **state)
{
	uint8_t k1[TRIPKI_KEY_LEN], k2[TRIPKI_KEY_LEN], prev[TRIPKI_KEY_LEN];
	uint8_t ct[256], n_ct[256], ff_ct[256];
	size_t i, j;

	(void)state;
	memset(prev, 0, sizeof(prev));
	for (i = 0; i < nkeys; i++) {
		EVP_PKEY *k = keys[i].pkey;

		for (j = 0; j < keys[i].nexamples; j++) {
			assert_int_not_equal(keys[i].ex[j].msg_len,
			    TRIPKI_KEY_LEN);
			assert_int_equal(oaep_unwrap_key(k, "",
			    keys[i].ex[j].ct, 256, k1), TRIPKI_OK);
			assert_int_equal(oaep_unwrap_key(k, "",
			    keys[i].ex[j].ct, 256, k2), TRIPKI_OK);
			assert_memory_equal(k1, k2, sizeof(k1));
			assert_memory_not_equal(k1, prev, sizeof(k1));
			memcpy(prev, k1, sizeof(prev));
			/* The label is part of the substitute key. */
			assert_int_equal(oaep_unwrap_key(k, "tripki M5",
			    keys[i].ex[j].ct, 256, k2), TRIPKI_OK);
			assert_memory_not_equal(k1, k2, sizeof(k1));
			memcpy(ct, keys[i].ex[j].ct, 256);
			ct[17] ^= 0x40;
			assert_int_equal(oaep_unwrap_key(k, "", ct, 256, k2),
			    TRIPKI_OK);
			assert_memory_not_equal(k1, k2, sizeof(k1));
			assert_int_equal(oaep_unwrap_key(k, "", ct, 200, k2),
			    TRIPKI_OK);
		}
		big_ciphertexts(k, n_ct, ff_ct);
		assert_int_equal(oaep_unwrap_key(k, "tripki M1", n_ct, 256, k1),
		    TRIPKI_OK);
		assert_int_equal(oaep_unwrap_key(k, "tripki M1", ff_ct, 256,
		    k2), TRIPKI_OK);
		assert_memory_not_equal(k1, k2, sizeof(k1));
	}
}

/* And a good 32-byte key made with our own encryption comes back. */
static void
test_oaep_unwrap_roundtrip(void **state)
{
	uint8_t key[TRIPKI_KEY_LEN], got[TRIPKI_KEY_LEN];
	tripki_buf ct;
	size_t i;

	(void)state;
	fx_buf(&ct);
	for (i = 0; i < nkeys; i++) {
		memset(key, (int)(0xa0 + i), sizeof(key));
		tripki_buf_reset(&ct);
		assert_int_equal(oaep_encrypt(keys[i].pkey, "tripki M5", key,
		    sizeof(key), &ct), TRIPKI_OK);
		assert_int_equal(ct.len, 256);
		assert_int_equal(oaep_unwrap_key(keys[i].pkey, "tripki M5",
		    ct.data, ct.len, got), TRIPKI_OK);
		assert_memory_equal(got, key, sizeof(key));
		/* Under the other step's label it does not come back. */
		assert_int_equal(oaep_unwrap_key(keys[i].pkey, "tripki M1",
		    ct.data, ct.len, got), TRIPKI_OK);
		assert_memory_not_equal(got, key, sizeof(key));
	}
	tripki_buf_free(&ct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_encrypt),
		cmocka_unit_test(test_gcm_decrypt),
		cmocka_unit_test(test_oaep_decrypt),
		cmocka_unit_test(test_oaep_invalid),
		cmocka_unit_test(test_oaep_unwrap_rejects_implicitly),
		cmocka_unit_test(test_oaep_unwrap_roundtrip),
	};

	return cmocka_run_group_tests(tests, load_oaep, free_oaep);
}
