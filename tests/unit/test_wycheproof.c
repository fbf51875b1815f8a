/*
 * Project Wycheproof's RSA-OAEP (2048-bit, SHA-256, MGF1-SHA-256) and
 * AES-GCM vectors through tripki's own crypto layer (src/core/crypto.c):
 * key_from_pkcs8, oaep_decrypt, oaep_unwrap_key, gcm_seal, gcm_open.
 * The JSON files are in tests/vectors/wycheproof/ as published; see the
 * README there.  Every test of the groups tripki's parameters take is run
 * and counted; "acceptable" results may go either way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "internal.h"
#include "json.h"

#define FIELD_MAX 4096

static json *
load(const char *name)
{
	const char *dir = fx_vectors_dir();
	char path[200];
	json *j;

	if (dir == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/wycheproof/%s", dir, name);
	if ((j = json_load(path)) == NULL)
		fprintf(stderr, "test_wycheproof: %s not found or not JSON\n",
		    path);
	return j;
}

/* A hex member into out; its length.  Fails the test if malformed. */
static size_t
hex(const json *t, const char *key, uint8_t *out)
{
	const char *s = json_str(t, key);
	long n;

	assert_non_null(s);
	assert_true((n = fx_unhex(s, out, FIELD_MAX)) >= 0);
	return (size_t)n;
}

enum { VALID, INVALID, ACCEPTABLE };

static int
result_of(const json *t)
{
	const char *r = json_str(t, "result");

	assert_non_null(r);
	if (strcmp(r, "valid") == 0)
		return VALID;
	if (strcmp(r, "invalid") == 0)
		return INVALID;
	assert_string_equal(r, "acceptable");
	return ACCEPTABLE;
}

/* The file's own count of tests, checked against the tests it holds. */
static void
count_matches(const json *j)
{
	const json *groups = json_get(j, "testGroups"), *tests;
	size_t i, n = 0;

	assert_non_null(groups);
	for (i = 0; i < groups->n; i++) {
		assert_non_null(tests = json_get(&groups->v[i], "tests"));
		n += tests->n;
	}
	assert_int_equal(n, (size_t)json_num(j, "numberOfTests"));
}

/* ---- AES-GCM ---- */

static void
wycheproof_aes_gcm(void **state)
{
	static uint8_t key[FIELD_MAX], iv[FIELD_MAX], aad[FIELD_MAX],
	    msg[FIELD_MAX], ct[2 * FIELD_MAX], tag[FIELD_MAX];
	json *j = load("aes_gcm_test.json");
	const json *groups, *g, *tests, *t;
	size_t i, k, key_n, iv_n, aad_n, msg_n, ct_n, tag_n;
	unsigned ran[3] = { 0 }, skipped_groups = 0, skipped_tests = 0;
	tripki_buf out;
	int res, r;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_str(j, "algorithm"), "AES-GCM");
	count_matches(j);
	tripki_buf_init(&out, 2 * FIELD_MAX);
	groups = json_get(j, "testGroups");
	for (i = 0; i < groups->n; i++) {
		g = &groups->v[i];
		tests = json_get(g, "tests");
		/* tripki's AEAD: AES-256, 96-bit nonce, 128-bit tag. */
		if (json_num(g, "keySize") != 256 || json_num(g, "ivSize") != 96 ||
		    json_num(g, "tagSize") != 128) {
			skipped_groups++;
			skipped_tests += (unsigned)tests->n;
			continue;
		}
		for (k = 0; k < tests->n; k++) {
			t = &tests->v[k];
			res = result_of(t);
			key_n = hex(t, "key", key);
			iv_n = hex(t, "iv", iv);
			aad_n = hex(t, "aad", aad);
			msg_n = hex(t, "msg", msg);
			ct_n = hex(t, "ct", ct);
			tag_n = hex(t, "tag", tag);
			assert_int_equal(key_n, TRIPKI_KEY_LEN);
			assert_int_equal(iv_n, GCM_NONCE_LEN);
			assert_int_equal(tag_n, GCM_TAG_LEN);
			/* Sealing msg gives ct || tag exactly, for a valid test. */
			if (res == VALID) {
				tripki_buf_reset(&out);
				assert_int_equal(gcm_seal(key, iv, aad, aad_n, msg,
				    msg_n, &out), TRIPKI_OK);
				assert_int_equal(out.len, ct_n + GCM_TAG_LEN);
				assert_memory_equal(out.data, ct, ct_n);
				assert_memory_equal(out.data + ct_n, tag,
				    GCM_TAG_LEN);
			}
			/* Opening ct || tag: msg, or a refusal with nothing out. */
			memcpy(ct + ct_n, tag, GCM_TAG_LEN);
			tripki_buf_reset(&out);
			r = gcm_open(key, iv, aad, aad_n, ct, ct_n + GCM_TAG_LEN,
			    &out);
			if (res == VALID || (res == ACCEPTABLE && r == TRIPKI_OK)) {
				assert_int_equal(r, TRIPKI_OK);
				assert_int_equal(out.len, msg_n);
				if (msg_n > 0)
					assert_memory_equal(out.data, msg, msg_n);
			} else {
				if (r != TRIPKI_E_DECRYPT)
					fail_msg("tcId %.0f: expected a refusal, got "
					    "%d", json_num(t, "tcId"), r);
				assert_int_equal(out.len, 0);
			}
			ran[res]++;
		}
	}
	printf("wycheproof AES-GCM: %u valid, %u invalid, %u acceptable run; "
	    "%u tests in %u groups of other sizes skipped\n", ran[VALID],
	    ran[INVALID], ran[ACCEPTABLE], skipped_tests, skipped_groups);
	/* The group tripki uses is in the file, with both kinds of test. */
	assert_true(ran[VALID] > 0 && ran[INVALID] > 0);
	tripki_buf_free(&out);
	json_free(j);
}

/* ---- RSA-OAEP ---- */

static void
wycheproof_rsa_oaep(void **state)
{
	static uint8_t der[FIELD_MAX], msg[FIELD_MAX], ct[FIELD_MAX],
	    label[FIELD_MAX], out[FIELD_MAX];
	json *j = load("rsa_oaep_2048_sha256_mgf1sha256_test.json");
	const json *groups, *g, *tests, *t;
	uint8_t k1[TRIPKI_KEY_LEN], k2[TRIPKI_KEY_LEN];
	size_t i, k, der_n, msg_n, ct_n, label_n, out_n;
	unsigned ran[3] = { 0 }, unwrapped = 0;
	EVP_PKEY *priv;
	int res, r;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_str(j, "algorithm"), "RSAES-OAEP");
	count_matches(j);
	groups = json_get(j, "testGroups");
	for (i = 0; i < groups->n; i++) {
		g = &groups->v[i];
		assert_string_equal(json_str(g, "sha"), "SHA-256");
		assert_string_equal(json_str(g, "mgfSha"), "SHA-256");
		assert_true(json_num(g, "keysize") == 2048);
		/* The key through tripki's own PKCS#8 reader. */
		der_n = hex(g, "privateKeyPkcs8", der);
		priv = NULL;
		assert_int_equal(key_from_pkcs8(der, der_n, &priv), TRIPKI_OK);
		tests = json_get(g, "tests");
		for (k = 0; k < tests->n; k++) {
			t = &tests->v[k];
			res = result_of(t);
			msg_n = hex(t, "msg", msg);
			ct_n = hex(t, "ct", ct);
			label_n = hex(t, "label", label);
			out_n = sizeof(out);
			r = oaep_decrypt(priv, label, label_n, ct, ct_n, out,
			    &out_n);
			if (res == VALID || (res == ACCEPTABLE && r == TRIPKI_OK)) {
				if (r != TRIPKI_OK)
					fail_msg("tcId %.0f: refused a valid "
					    "ciphertext", json_num(t, "tcId"));
				assert_int_equal(out_n, msg_n);
				if (msg_n > 0)
					assert_memory_equal(out, msg, msg_n);
			} else if (r != TRIPKI_E_DECRYPT)
				fail_msg("tcId %.0f (%s): expected a refusal, got "
				    "%d", json_num(t, "tcId"),
				    json_str(t, "comment"), r);
			ran[res]++;
			/*
			 * With the empty label, the unwrapping M1 and M5 use
			 * (with their own label): the key for a valid 32-byte
			 * message; for anything else, the same substitute key
			 * twice (implicit rejection), never an error.
			 */
			if (label_n != 0)
				continue;
			assert_int_equal(oaep_unwrap_key(priv, "", ct, ct_n, k1),
			    TRIPKI_OK);
			if (res == VALID && msg_n == TRIPKI_KEY_LEN) {
				assert_memory_equal(k1, msg, TRIPKI_KEY_LEN);
			} else if (res == INVALID) {
				assert_int_equal(oaep_unwrap_key(priv, "", ct,
				    ct_n, k2), TRIPKI_OK);
				assert_memory_equal(k1, k2, TRIPKI_KEY_LEN);
			}
			unwrapped++;
		}
		EVP_PKEY_free(priv);
	}
	printf("wycheproof RSA-OAEP: %u valid, %u invalid, %u acceptable run "
	    "(%u also through oaep_unwrap_key)\n", ran[VALID], ran[INVALID],
	    ran[ACCEPTABLE], unwrapped);
	assert_true(ran[VALID] > 0 && ran[INVALID] > 0);
	json_free(j);
}

/* ---- The reader itself ---- */

static void
json_reader(void **state)
{
	static const char ok[] = " {\"a\": [1, -2.5e1, true, false, null],"
	    " \"s\": \"x\\\"\\n\\u0041\\u00e9\", \"o\": {}} ";
	static const char *bad[] = {
		"", "{", "[1,]", "{\"a\" 1}", "\"\\q\"", "[1] 2", "tru",
		"\"unterminated", "{\"a\":1,}", "\"\\u12\"",
	};
	const json *a;
	json *j;
	size_t i;

	(void)state;
	assert_non_null(j = json_parse(ok, sizeof(ok) - 1));
	assert_non_null(a = json_get(j, "a"));
	assert_int_equal(a->type, JSON_ARR);
	assert_int_equal(a->n, 5);
	assert_true(a->v[1].num == -25);
	assert_int_equal(a->v[2].type, JSON_BOOL);
	assert_int_equal(a->v[4].type, JSON_NULL);
	assert_string_equal(json_str(j, "s"), "x\"\nA?");
	assert_int_equal(json_get(j, "o")->n, 0);
	assert_null(json_get(j, "missing"));
	json_free(j);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if ((j = json_parse(bad[i], strlen(bad[i]))) != NULL)
			fail_msg("parsed bad JSON %s", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_reader),
		cmocka_unit_test(wycheproof_aes_gcm),
		cmocka_unit_test(wycheproof_rsa_oaep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
