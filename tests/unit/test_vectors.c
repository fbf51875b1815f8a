/*
 * Known-answer tests against tests/vectors/protocol.txt (written by
 * tests/vectors/gen.c).  The primitives are checked with libcrypto directly,
 * the layouts with an encoder written from docs/PROTOCOL.md, and the roles
 * by feeding them the fixed keys, the vectors' clock and the same
 * deterministic randomness, and asking for the very same bytes.
 *
 * RSA-OAEP draws its seed from OpenSSL's public DRBG; main() replaces the
 * DRBGs with OpenSSL's TEST-RAND (as the generator does) so that the seeds
 * recorded in the vectors can be replayed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

#define PRIV_POOL (256 * 1024)

/* ---- The vector file ---- */

struct entry {
	char sec[32];
	char name[48];
	char *val;
};

static struct entry *ents;
static size_t nents;
static void **arena;
static size_t narena;
static char vdir[64];

static void *
keep(void *p)
{
	assert_non_null(p);
	arena = realloc(arena, (narena + 1) * sizeof(*arena));
	assert_non_null(arena);
	arena[narena++] = p;
	return p;
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

static void
append(char **val, const char *more)
{
	size_t a = strlen(*val), b = strlen(more);

	*val = realloc(*val, a + b + 1);
	assert_non_null(*val);
	memcpy(*val + a, more, b + 1);
}

static int
load_vectors(void)
{
	const char *dir = fx_vectors_dir();
	char path[128], line[1024], sec[32] = "", *p, *eq, *v, *q;
	FILE *f;

	if (dir == NULL)
		return -1;
	snprintf(vdir, sizeof(vdir), "%s", dir);
	snprintf(path, sizeof(path), "%s/protocol.txt", vdir);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "test_vectors: %s not found\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == ' ' && nents > 0) {
			/* Continuation of a hex value. */
			p = trim(line);
			if (*p != '#')
				append(&ents[nents - 1].val, p);
			continue;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		if (*p == '[') {
			if ((q = strchr(p, ']')) != NULL)
				*q = '\0';
			snprintf(sec, sizeof(sec), "%s", p + 1);
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		v = trim(eq + 1);
		if (*v == '"') {
			v++;
			if ((q = strchr(v, '"')) != NULL)
				*q = '\0';
		} else {
			if ((q = strchr(v, '#')) != NULL)
				*q = '\0';
			v = trim(v);
		}
		ents = realloc(ents, (nents + 1) * sizeof(*ents));
		if (ents == NULL)
			abort();
		snprintf(ents[nents].sec, sizeof(ents[nents].sec), "%s", sec);
		snprintf(ents[nents].name, sizeof(ents[nents].name), "%s",
		    trim(p));
		ents[nents].val = strdup(v);
		nents++;
	}
	fclose(f);
	return nents > 0 ? 0 : -1;
}

static const char *
vstr(const char *sec, const char *name)
{
	size_t i;

	for (i = 0; i < nents; i++)
		if (strcmp(ents[i].sec, sec) == 0 &&
		    strcmp(ents[i].name, name) == 0)
			return ents[i].val;
	fail_msg("vector [%s] %s missing", sec, name);
	return NULL;
}

static int64_t
vnum(const char *sec, const char *name)
{
	return (int64_t)strtoull(vstr(sec, name), NULL, 0);
}

static const uint8_t *
vhex(const char *sec, const char *name, size_t *len)
{
	const char *s = vstr(sec, name);
	size_t n = strlen(s);
	uint8_t *p = keep(malloc(n / 2 + 1));
	long got = fx_unhex(s, p, n / 2);

	assert_true(got >= 0);
	*len = (size_t)got;
	return p;
}

/* Asserts that `p[n]` equals the vector's hex field. */
static void
assert_field(const char *sec, const char *name, const uint8_t *p, size_t n)
{
	size_t vn;
	const uint8_t *v = vhex(sec, name, &vn);

	if (vn != n)
		fail_msg("[%s] %s: %zu bytes, expected %zu", sec, name, n, vn);
	assert_memory_equal(p, v, n);
}

/* ---- Fixed keys, certificates and OpenSSL's DRBGs ---- */

static EVP_PKEY *ca_key, *server_key;
static X509 *ca_cert, *server_cert;

static EVP_PKEY *
load_key(const char *name)
{
	char path[160];
	EVP_PKEY *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s", vdir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static X509 *
load_cert(const char *name)
{
	char path[160];
	X509 *x;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static void
drbg_feed(EVP_RAND_CTX *ctx, const uint8_t *p, size_t n)
{
	OSSL_PARAM prm[2];

	prm[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_RAND_PARAM_TEST_ENTROPY, (void *)p, n);
	prm[1] = OSSL_PARAM_construct_end();
	assert_non_null(ctx);
	assert_int_equal(EVP_RAND_CTX_set_params(ctx, prm), 1);
}

static int
drbg_install(void)
{
	static uint8_t pool[PRIV_POOL];
	uint64_t st = 0x7001;
	OSSL_PARAM prm[2];

	if (RAND_set_DRBG_type(NULL, "TEST-RAND", NULL, NULL, NULL) != 1)
		return -1;
	(void)fx_rand(&st, pool, sizeof(pool));
	prm[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_RAND_PARAM_TEST_ENTROPY, pool, sizeof(pool));
	prm[1] = OSSL_PARAM_construct_end();
	if (RAND_get0_private(NULL) == NULL ||
	    EVP_RAND_CTX_set_params(RAND_get0_private(NULL), prm) != 1)
		return -1;
	return 0;
}

/* The next RSA-OAEP encryption uses exactly this seed. */
static void
oaep_seed(const char *sec)
{
	size_t n;
	const uint8_t *seed = vhex(sec, "oaep_seed", &n);

	assert_int_equal(n, 32);
	drbg_feed(RAND_get0_public(NULL), seed, n);
}

static int
setup_group(void **state)
{
	(void)state;
	if (load_vectors() != 0)
		return -1;
	ca_key = load_key("ca.key.pem");
	server_key = load_key("server.key.pem");
	ca_cert = load_cert("ca.cert.pem");
	server_cert = load_cert("server.cert.pem");
	return ca_key && server_key && ca_cert && server_cert ? 0 : -1;
}

static int
teardown_group(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nents; i++)
		free(ents[i].val);
	free(ents);
	for (i = 0; i < narena; i++)
		free(arena[i]);
	free(arena);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(server_key);
	X509_free(ca_cert);
	X509_free(server_cert);
	return 0;
}

/* ---- The messages, as docs/PROTOCOL.md describes them ---- */

struct msg {
	const char *sec;
	uint8_t type;
	int sealed;
	size_t prefix;      /* 0, or SIZE_MAX for the wrapped-key prefix */
	uint32_t dir;
};

#define WRAPPED ((size_t)-1)

static const struct msg msgs[] = {
	{ "M1", 1, 1, WRAPPED, 1 },
	{ "M2", 2, 1, 0, 2 },
	{ "M3", 3, 0, 0, 0 },
	{ "M4", 4, 0, 0, 0 },
	{ "M5", 5, 1, WRAPPED, 1 },
	{ "M6", 6, 1, 0, 2 },
	{ "M7-1", 7, 1, 24, 1 },
	{ "M8-1", 8, 1, 24, 2 },
	{ "M7-2", 7, 1, 24, 1 },
	{ "M8-2", 8, 1, 24, 2 },
	{ "ERROR", 0x10, 0, 0, 0 },
};

#define NMSGS (sizeof(msgs) / sizeof(msgs[0]))

static uint64_t
be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

static size_t
prefix_len(const struct msg *m, const uint8_t *frame)
{
	return m->prefix == WRAPPED ? 2 + (size_t)be(frame + 6, 2) : m->prefix;
}

/* Header: version 1, type, u32 body length; tripki_frame_peek agrees. */
static void
frame_headers(void **state)
{
	size_t i, n, flen;
	uint8_t type;

	(void)state;
	for (i = 0; i < NMSGS; i++) {
		const uint8_t *f = vhex(msgs[i].sec, "frame", &n);

		assert_int_equal(n, (size_t)vnum(msgs[i].sec, "frame_len"));
		assert_true(n >= 6);
		assert_int_equal(f[0], 1);
		assert_int_equal(f[1], msgs[i].type);
		assert_int_equal(be(f + 2, 4), n - 6);
		assert_field(msgs[i].sec, "header", f, 6);
		assert_int_equal(tripki_frame_peek(f, n, &flen, &type),
		    TRIPKI_OK);
		assert_int_equal(flen, n);
		assert_int_equal(type, msgs[i].type);
		assert_int_equal(tripki_frame_peek(f, 5, &flen, &type),
		    TRIPKI_E_AGAIN);
	}
}

static int
gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
    size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l, ok;

	ok = c != NULL &&
	    EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), key, nonce, enc, NULL) &&
	    EVP_CipherUpdate(c, NULL, &l, aad, (int)aad_len) &&
	    (n == 0 || EVP_CipherUpdate(c, out, &l, in, (int)n)) &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag)) &&
	    EVP_CipherFinal_ex(c, out + n, &l) > 0 &&
	    (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag));
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/*
 * AES-256-GCM with libcrypto alone: nonce = u32 direction || u64 counter,
 * AAD = header || cleartext prefix, frame = AAD || ciphertext || tag; the
 * plaintext is exactly the vector's, and sealing it again gives the frame.
 */
static void
aead_each_message(void **state)
{
	size_t i, n, pl, kn, ctn;
	uint8_t nonce[12], tag[16], buf[TRIPKI_FRAME_MAX];

	(void)state;
	for (i = 0; i < NMSGS; i++) {
		const struct msg *m = &msgs[i];
		const uint8_t *f, *key, *ct;
		uint64_t ctr;

		if (!m->sealed)
			continue;
		f = vhex(m->sec, "frame", &n);
		pl = prefix_len(m, f);
		key = vhex(m->sec, "aead_key", &kn);
		assert_int_equal(kn, 32);
		ctr = m->prefix == 24 ? be(f + 6 + 16, 8) : 0;
		assert_int_equal(vnum(m->sec, "nonce_counter"), ctr);
		assert_int_equal(vnum(m->sec, "nonce_direction"), m->dir);
		put_u32(nonce, m->dir);
		put_u64(nonce + 4, ctr);
		assert_field(m->sec, "nonce", nonce, 12);
		assert_field(m->sec, "aad", f, 6 + pl);
		ct = vhex(m->sec, "ciphertext", &ctn);
		assert_int_equal(6 + pl + ctn + 16, n);
		assert_memory_equal(f + 6 + pl, ct, ctn);
		assert_field(m->sec, "tag", f + n - 16, 16);
		/* Open. */
		memcpy(tag, f + n - 16, 16);
		assert_true(gcm(0, key, nonce, f, 6 + pl, ct, ctn, buf, tag));
		assert_field(m->sec, "plaintext", buf, ctn);
		/* A flipped bit in the AAD (the type) is refused. */
		memcpy(buf, f, 6 + pl);
		buf[1] ^= 1;
		assert_false(gcm(0, key, nonce, buf, 6 + pl, ct, ctn,
		    buf + 1024, tag));
		/* Seal again. */
		{
			size_t pn;
			const uint8_t *pt = vhex(m->sec, "plaintext", &pn);

			assert_true(gcm(1, key, nonce, f, 6 + pl, pt, pn, buf,
			    tag));
			assert_memory_equal(buf, ct, ctn);
			assert_field(m->sec, "tag", tag, 16);
		}
	}
}

/*
 * RSA-OAEP (SHA-256, MGF1-SHA-256, label) with libcrypto alone: the
 * private key recovers the wrapped key, and encryption with the recorded
 * seed gives the recorded ciphertext.
 */
static void
oaep_wrapped_keys(void **state)
{
	static const char *secs[] = { "M1", "M5" };
	uint8_t out[512];
	size_t i, n, en, kn, outlen;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *k = i == 0 ? ca_key : server_key;
		const char *label = vstr(secs[i], "oaep_label");
		const uint8_t *f = vhex(secs[i], "frame", &n);
		const uint8_t *ek = vhex(secs[i], "oaep_ciphertext", &en);
		const uint8_t *key = vhex(secs[i], "wrapped_key", &kn);
		char wrong[16];
		OSSL_PARAM p[5];
		EVP_PKEY_CTX *c;

		assert_string_equal(label, i == 0 ? "tripki M1" : "tripki M5");
		assert_int_equal(en, 256);
		assert_int_equal(be(f + 6, 2), en);
		assert_memory_equal(f + 8, ek, en);
		assert_field(secs[i], "aead_key", key, kn);
		p[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_PAD_MODE, (char *)"oaep", 0);
		p[1] = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)"SHA256", 0);
		p[2] = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)"SHA256", 0);
		p[3] = OSSL_PARAM_construct_octet_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)label,
		    strlen(label));
		p[4] = OSSL_PARAM_construct_end();
		assert_non_null(c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL));
		assert_int_equal(EVP_PKEY_decrypt_init_ex(c, p), 1);
		outlen = sizeof(out);
		assert_int_equal(EVP_PKEY_decrypt(c, out, &outlen, ek, en), 1);
		assert_int_equal(outlen, 32);
		assert_memory_equal(out, key, 32);
		EVP_PKEY_CTX_free(c);
		/* The other message's label does not open it. */
		snprintf(wrong, sizeof(wrong), "tripki M%c", i == 0 ? '5' : '1');
		p[3] = OSSL_PARAM_construct_octet_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, wrong, strlen(wrong));
		assert_non_null(c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL));
		assert_int_equal(EVP_PKEY_decrypt_init_ex(c, p), 1);
		outlen = sizeof(out);
		assert_int_not_equal(EVP_PKEY_decrypt(c, out, &outlen, ek, en),
		    1);
		EVP_PKEY_CTX_free(c);
		/* Encryption with the recorded seed. */
		p[3] = OSSL_PARAM_construct_octet_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)label,
		    strlen(label));
		oaep_seed(secs[i]);
		assert_non_null(c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL));
		assert_int_equal(EVP_PKEY_encrypt_init_ex(c, p), 1);
		outlen = sizeof(out);
		assert_int_equal(EVP_PKEY_encrypt(c, out, &outlen, key, 32), 1);
		assert_int_equal(outlen, en);
		assert_memory_equal(out, ek, en);
		EVP_PKEY_CTX_free(c);
	}
}

/* ---- Plaintext layouts, rebuilt from the spec ---- */

struct bb {
	uint8_t p[TRIPKI_FRAME_MAX];
	size_t n;
};

static void
bb_put(struct bb *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->p));
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void
bb_uint(struct bb *b, uint64_t v, size_t n)
{
	while (n-- > 0)
		b->p[b->n++] = (uint8_t)(v >> (8 * n));
}

static void
bb_vec(struct bb *b, size_t lenlen, const uint8_t *p, size_t n)
{
	bb_uint(b, n, lenlen);
	bb_put(b, p, n);
}

static void
bb_hexvec(struct bb *b, size_t lenlen, const char *sec, const char *name)
{
	size_t n;
	const uint8_t *p = vhex(sec, name, &n);

	bb_vec(b, lenlen, p, n);
}

static void
bb_str8(struct bb *b, const char *s)
{
	bb_vec(b, 1, (const uint8_t *)s, strlen(s));
}

static void
plaintext_layouts(void **state)
{
	static const char *p3[] = { "M7-1", "M8-1", "M7-2", "M8-2" };
	static struct bb b;
	size_t i, n, fn;
	const uint8_t *f;

	(void)state;
	/* M1: ts | vec8 id | u8 mode | u16 bits | vec8 token | vec16 csr |
	 * vec16 rcert | vec16 rsig */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M1", "ts"), 8);
	bb_str8(&b, vstr("M1", "id"));
	bb_uint(&b, (uint64_t)vnum("M1", "mode"), 1);
	bb_uint(&b, (uint64_t)vnum("M1", "bits"), 2);
	bb_hexvec(&b, 1, "M1", "token");
	bb_hexvec(&b, 2, "M1", "csr");
	bb_hexvec(&b, 2, "M1", "rcert");
	bb_hexvec(&b, 2, "M1", "rsig");
	assert_field("M1", "plaintext", b.p, b.n);
	/* M2: ts | vec8 id | vec16 pk | vec16 cert | vec16 sk */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M2", "ts"), 8);
	bb_str8(&b, vstr("M2", "id"));
	bb_hexvec(&b, 2, "M2", "pk");
	bb_hexvec(&b, 2, "M2", "cert");
	bb_hexvec(&b, 2, "M2", "sk");
	assert_field("M2", "plaintext", b.p, b.n);
	/* M3 body: ts | vec8 id */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M3", "ts"), 8);
	bb_str8(&b, vstr("M3", "id"));
	f = vhex("M3", "frame", &fn);
	assert_int_equal(fn, 6 + b.n);
	assert_memory_equal(f + 6, b.p, b.n);
	/* M4 body: ts | vec16 pk | vec16 cert */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M4", "ts"), 8);
	bb_hexvec(&b, 2, "M4", "pk");
	bb_hexvec(&b, 2, "M4", "cert");
	f = vhex("M4", "frame", &fn);
	assert_int_equal(fn, 6 + b.n);
	assert_memory_equal(f + 6, b.p, b.n);
	/* M5: ts | vec8 id | vec8 ip | u16 port */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M5", "ts"), 8);
	bb_str8(&b, vstr("M5", "id"));
	bb_str8(&b, vstr("M5", "ip"));
	bb_uint(&b, (uint64_t)vnum("M5", "port"), 2);
	assert_field("M5", "plaintext", b.p, b.n);
	/* M6: ts | sid[16] | k_sess[32] | u32 lifetime | vec8 id */
	b.n = 0;
	bb_uint(&b, (uint64_t)vnum("M6", "ts"), 8);
	bb_put(&b, vhex("M6", "sid", &n), 16);
	bb_put(&b, vhex("M6", "k_sess", &n), 32);
	bb_uint(&b, (uint64_t)vnum("M6", "lifetime"), 4);
	bb_str8(&b, vstr("M6", "id"));
	assert_field("M6", "plaintext", b.p, b.n);
	/* M7: ts | vec16 req;  M8: ts | u8 status | vec16 data.  The
	 * prefix is sid | u64 seq, and sid is M6's. */
	for (i = 0; i < 4; i++) {
		b.n = 0;
		bb_uint(&b, (uint64_t)vnum(p3[i], "ts"), 8);
		if (p3[i][1] == '7')
			bb_hexvec(&b, 2, p3[i], "req");
		else {
			bb_uint(&b, (uint64_t)vnum(p3[i], "status"), 1);
			bb_hexvec(&b, 2, p3[i], "data");
		}
		assert_field(p3[i], "plaintext", b.p, b.n);
		f = vhex(p3[i], "frame", &fn);
		assert_field(p3[i], "sid", f + 6, 16);
		assert_field("M6", "sid", f + 6, 16);
		assert_int_equal(be(f + 22, 8), vnum(p3[i], "seq"));
		assert_field(p3[i], "aead_key", vhex("M6", "k_sess", &n), 32);
	}
	/* Error: u16 code */
	f = vhex("ERROR", "frame", &fn);
	assert_int_equal(fn, 8);
	assert_int_equal(be(f + 6, 2), vnum("ERROR", "code"));
}

/* The core's decoders read the vectors' plaintexts to the same fields. */
static void
core_decoders(void **state)
{
	const uint8_t *pt, *f;
	size_t n, fn;
	struct m1 m1;
	struct m2 m2;
	struct m3 m3;
	struct m4 m4;
	struct m5 m5;
	struct m6 m6;
	struct m7 m7;
	struct m8 m8;
	rd body;

	(void)state;
	pt = vhex("M1", "plaintext", &n);
	assert_int_equal(m1_decode(pt, n, &m1), TRIPKI_OK);
	assert_int_equal(m1.ts, vnum("M1", "ts"));
	assert_string_equal(m1.id, vstr("M1", "id"));
	assert_int_equal(m1.mode, MODE_SEED);
	assert_int_equal(m1.bits, 2048);
	/* One byte short, or one byte more, is refused. */
	assert_int_equal(m1_decode(pt, n - 1, &m1), TRIPKI_E_TRUNCATED);
	{
		uint8_t *more = keep(malloc(n + 1));

		memcpy(more, pt, n);
		more[n] = 0;
		assert_int_equal(m1_decode(more, n + 1, &m1),
		    TRIPKI_E_TRAILING);
	}
	pt = vhex("M2", "plaintext", &n);
	assert_int_equal(m2_decode(pt, n, &m2), TRIPKI_OK);
	assert_int_equal(m2.ts, vnum("M2", "ts"));
	assert_field("M2", "cert", m2.cert, m2.cert_len);
	assert_field("M2", "sk", m2.sk, m2.sk_len);
	f = vhex("M3", "frame", &fn);
	body = rd_make(f + 6, fn - 6);
	assert_int_equal(m3_decode(&body, &m3), TRIPKI_OK);
	assert_string_equal(m3.id, vstr("setup", "server_id"));
	f = vhex("M4", "frame", &fn);
	body = rd_make(f + 6, fn - 6);
	assert_int_equal(m4_decode(&body, &m4), TRIPKI_OK);
	assert_field("M4", "pk", m4.pk, m4.pk_len);
	pt = vhex("M5", "plaintext", &n);
	assert_int_equal(m5_decode(pt, n, &m5), TRIPKI_OK);
	assert_string_equal(m5.ip, vstr("M5", "ip"));
	assert_int_equal(m5.port, vnum("M5", "port"));
	pt = vhex("M6", "plaintext", &n);
	assert_int_equal(m6_decode(pt, n, &m6), TRIPKI_OK);
	assert_int_equal(m6.lifetime, vnum("M6", "lifetime"));
	assert_field("M6", "k_sess", m6.ksess, 32);
	pt = vhex("M7-1", "plaintext", &n);
	assert_int_equal(m7_decode(pt, n, &m7), TRIPKI_OK);
	assert_field("M7-1", "req", m7.req, m7.req_len);
	pt = vhex("M8-1", "plaintext", &n);
	assert_int_equal(m8_decode(pt, n, &m8), TRIPKI_OK);
	assert_int_equal(m8.status, vnum("M8-1", "status"));
	assert_int_equal(m8.data_len, strlen(FX_DATA));
	assert_memory_equal(m8.data, FX_DATA, m8.data_len);
}

/* ---- Certificates ---- */

static void
der_of(X509 *x, tripki_buf *b)
{
	tripki_buf_init(b, DER_MAX);
	assert_int_equal(cert_to_der(x, b), TRIPKI_OK);
}

static void
certificates(void **state)
{
	const uint8_t *sk;
	const ASN1_INTEGER *sn;
	BASIC_CONSTRAINTS *bc;
	EVP_PKEY *k = NULL;
	tripki_buf d;
	int64_t made = vnum("M2", "sent_at");
	size_t n;
	int crit;

	(void)state;
	der_of(ca_cert, &d);
	assert_field("setup", "ca_cert", d.data, d.len);
	tripki_buf_free(&d);
	der_of(server_cert, &d);
	assert_field("setup", "server_cert", d.data, d.len);
	assert_field("M2", "cert", d.data, d.len);
	assert_field("M4", "cert", d.data, d.len);
	tripki_buf_free(&d);
	tripki_buf_init(&d, DER_MAX);
	assert_int_equal(key_to_spki(server_key, &d), TRIPKI_OK);
	assert_field("M2", "pk", d.data, d.len);
	assert_field("M4", "pk", d.data, d.len);
	tripki_buf_free(&d);
	tripki_buf_init(&d, DER_MAX);
	assert_int_equal(key_to_spki(ca_key, &d), TRIPKI_OK);
	assert_field("setup", "ca_pk", d.data, d.len);
	tripki_buf_free(&d);
	/* SK_S in M2 is the fixed server key, PKCS#8. */
	sk = vhex("M2", "sk", &n);
	assert_int_equal(key_from_pkcs8(sk, n, &k), TRIPKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, server_key), 1);
	EVP_PKEY_free(k);

	/* The trust anchor signs itself; Cert_S verifies against it alone. */
	assert_int_equal(X509_verify(ca_cert, ca_key), 1);
	assert_int_equal(X509_check_private_key(server_cert, server_key), 1);
	assert_int_equal(tripki_cert_verify(ca_cert, server_cert,
	    vstr("setup", "server_id"), server_key, NULL,
	    vnum("M4", "received_at")), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(ca_cert, server_cert, "ID-Other",
	    NULL, NULL, vnum("M4", "received_at")), TRIPKI_E_CERT_SUBJECT);
	assert_int_equal(tripki_cert_verify(ca_cert, server_cert,
	    vstr("setup", "server_id"), ca_key, NULL,
	    vnum("M4", "received_at")), TRIPKI_E_CERT_KEY);

	/* The profile. */
	assert_int_equal(X509_get_version(server_cert), X509_VERSION_3);
	sn = X509_get0_serialNumber(server_cert);
	assert_int_equal(ASN1_STRING_length(sn), 16);
	assert_int_equal(ASN1_STRING_get0_data(sn)[0] & 0xc0, 0x40);
	/* Backdated by the CA's skew (60 s) for peers whose clock is behind. */
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(server_cert),
	    (time_t)(made / 1000 - 60)), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(server_cert),
	    (time_t)(made / 1000 + 90 * 86400)), 0);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(server_cert),
	    X509_get_subject_name(ca_cert)), 0);
	bc = X509_get_ext_d2i(server_cert, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(server_cert),
	    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(X509_get_extended_key_usage(server_cert), XKU_SSL_SERVER);
	assert_int_equal(X509_get_extension_flags(server_cert) & EXFLAG_CA, 0);
	assert_non_null(X509_get0_subject_key_id(server_cert));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(
	    server_cert), X509_get0_subject_key_id(ca_cert)), 0);
	assert_int_equal(X509_get_key_usage(ca_cert),
	    KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_true(X509_get_extension_flags(ca_cert) & EXFLAG_CA);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(ca_cert),
	    (time_t)(vnum("setup", "ca_cert_made_at") / 1000 - 60)), 0);
}

/* ---- The roles, fed the vectors ---- */

static uint64_t st_ca, st_enroll, st_server, st_client;

static void
det(tripki_common *cm, uint64_t *st, const char *seed)
{
	memset(cm, 0, sizeof(*cm));
	*st = (uint64_t)vnum("setup", seed);
	cm->rand = fx_rand;
	cm->rand_ctx = st;
}

static int
fixed_keygen(void *ctx, int bits, EVP_PKEY **k)
{
	(void)ctx;
	assert_int_equal(bits, 2048);
	EVP_PKEY_up_ref(server_key);
	*k = server_key;
	return TRIPKI_OK;
}

static void
assert_frame(const char *sec, const tripki_buf *b)
{
	assert_field(sec, "frame", b->data, b->len);
}

/* A CA with the fixed key answers the vector M1 with the vector M2. */
static void
ca_answers_m1(void **state)
{
	tripki_ca_config cfg;
	tripki_ca *ca = NULL;
	tripki_buf out;
	const uint8_t *m1;
	size_t n;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = vstr("setup", "ca_id");
	cfg.key = ca_key;
	cfg.cert = ca_cert;
	cfg.keygen = fixed_keygen;
	det(&cfg.common, &st_ca, "seed_ca");
	assert_int_equal(tripki_ca_new(&cfg, &ca), TRIPKI_OK);
	fx_buf(&out);
	m1 = vhex("M1", "frame", &n);
	assert_int_equal(tripki_ca_handle(ca, m1, n, vnum("M1", "received_at"),
	    NULL, &out), TRIPKI_OK);
	assert_frame("M2", &out);
	/* The same M1 again is a replay. */
	assert_int_equal(tripki_ca_handle(ca, m1, n,
	    vnum("M1", "received_at") + 1, NULL, &out), TRIPKI_E_REPLAY);
	tripki_buf_free(&out);
	tripki_ca_free(ca);
}

/* An enrolling server reproduces M1 and accepts the vector M2. */
static void
enroll_m1_m2(void **state)
{
	tripki_enroll_config cfg;
	tripki_enroll *e = NULL;
	tripki_buf out;
	const uint8_t *m2;
	EVP_PKEY *k;
	X509 *x;
	size_t n;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = vstr("setup", "server_id");
	cfg.ca_id = vstr("setup", "ca_id");
	cfg.ca_cert = ca_cert;
	cfg.bits = 2048;
	det(&cfg.common, &st_enroll, "seed_enroll");
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_OK);
	fx_buf(&out);
	oaep_seed("M1");
	assert_int_equal(tripki_enroll_start(e, vnum("M1", "sent_at"), &out),
	    TRIPKI_OK);
	assert_frame("M1", &out);
	m2 = vhex("M2", "frame", &n);
	assert_int_equal(tripki_enroll_recv(e, m2, n,
	    vnum("M2", "received_at")), TRIPKI_OK);
	k = tripki_enroll_key(e);
	x = tripki_enroll_cert(e);
	assert_int_equal(EVP_PKEY_eq(k, server_key), 1);
	assert_int_equal(X509_cmp(x, server_cert), 0);
	EVP_PKEY_free(k);
	X509_free(x);
	tripki_buf_free(&out);
	tripki_enroll_free(e);
}

static void
server_step(tripki_server *s, const char *in, const char *want, int rc)
{
	const uint8_t *f;
	tripki_buf out;
	size_t n;

	fx_buf(&out);
	f = vhex(in, "frame", &n);
	assert_int_equal(tripki_server_handle(s, f, n,
	    vnum(want, "sent_at"), &out, NULL), rc);
	assert_frame(want, &out);
	tripki_buf_free(&out);
}

/*
 * A server with the fixed key and Cert_S answers M3, M5 and each M7 with
 * exactly the vector's M4, M6 and M8, and the replay with the error frame.
 */
static void
server_answers(void **state)
{
	tripki_server_config cfg;
	tripki_server *s = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = vstr("setup", "server_id");
	cfg.key = server_key;
	cfg.cert = server_cert;
	cfg.lifetime_s = (uint32_t)vnum("setup", "lifetime_s");
	cfg.serve = fx_serve;
	det(&cfg.common, &st_server, "seed_server");
	assert_int_equal(tripki_server_new(&cfg, &s), TRIPKI_OK);
	server_step(s, "M3", "M4", TRIPKI_OK);
	server_step(s, "M5", "M6", TRIPKI_OK);
	server_step(s, "M7-1", "M8-1", TRIPKI_OK);
	server_step(s, "M7-2", "M8-2", TRIPKI_OK);
	server_step(s, "M7-2", "ERROR", TRIPKI_E_REPLAY);
	assert_int_equal(tripki_server_session_count(s), 1);
	tripki_server_free(s);
}

static void
client_recv(tripki_client *c, const char *sec, tripki_buf *out, int rc)
{
	const uint8_t *f;
	size_t n;

	f = vhex(sec, "frame", &n);
	assert_int_equal(tripki_client_recv(c, f, n, vnum(sec, "received_at"),
	    out), rc);
}

/*
 * A client with the same randomness reproduces M3, M5 and each M7, and
 * accepts M4, M6 and each M8.
 */
static void
client_sends(void **state)
{
	tripki_client_config cfg;
	tripki_client *c = NULL;
	const uint8_t *d;
	tripki_buf out;
	size_t n;
	int status;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = vstr("setup", "client_id");
	cfg.server_id = vstr("setup", "server_id");
	cfg.ca_cert = ca_cert;
	cfg.ip = vstr("setup", "client_ip");
	cfg.port = (uint16_t)vnum("setup", "client_port");
	det(&cfg.common, &st_client, "seed_client");
	assert_int_equal(tripki_client_new(&cfg, &c), TRIPKI_OK);
	fx_buf(&out);
	assert_int_equal(tripki_client_hello(c, vnum("M3", "sent_at"), &out),
	    TRIPKI_OK);
	assert_frame("M3", &out);
	oaep_seed("M5");
	client_recv(c, "M4", &out, TRIPKI_OK);
	assert_frame("M5", &out);
	client_recv(c, "M6", &out, TRIPKI_OK);
	assert_int_equal(tripki_client_state(c), TRIPKI_CLIENT_READY);
	assert_int_equal(tripki_client_lifetime(c), vnum("M6", "lifetime"));
	assert_int_equal(tripki_client_request(c, (const uint8_t *)FX_REQ,
	    strlen(FX_REQ), vnum("M7-1", "sent_at"), &out), TRIPKI_OK);
	assert_frame("M7-1", &out);
	client_recv(c, "M8-1", &out, TRIPKI_OK);
	d = tripki_client_data(c, &n, &status);
	assert_int_equal(status, vnum("M8-1", "status"));
	assert_field("M8-1", "data", d, n);
	assert_int_equal(tripki_client_request(c, (const uint8_t *)"nothing",
	    7, vnum("M7-2", "sent_at"), &out), TRIPKI_OK);
	assert_frame("M7-2", &out);
	client_recv(c, "M8-2", &out, TRIPKI_OK);
	(void)tripki_client_data(c, &n, &status);
	assert_int_equal(status, TRIPKI_STATUS_NOT_FOUND);
	assert_int_equal(n, 0);
	/* M8-1 again (old sequence number) is refused. */
	assert_int_equal(tripki_client_request(c, (const uint8_t *)FX_REQ,
	    strlen(FX_REQ), vnum("ERROR", "sent_at"), &out), TRIPKI_OK);
	client_recv(c, "M8-1", &out, TRIPKI_E_SEQUENCE);
	/* The error frame is read as the peer's code. */
	assert_int_equal(tripki_client_request(c, (const uint8_t *)FX_REQ,
	    strlen(FX_REQ), vnum("ERROR", "sent_at"), &out), TRIPKI_OK);
	client_recv(c, "ERROR", &out, TRIPKI_E_PEER);
	assert_int_equal(tripki_client_peer_error(c), vnum("ERROR", "code"));
	tripki_buf_free(&out);
	tripki_client_free(c);
}

/* Every code that travels, as the vectors give its frame. */
static void
error_frames(void **state)
{
	size_t i, count = 0;
	tripki_buf b;
	int code;

	(void)state;
	tripki_buf_init(&b, 64);
	for (i = 0; i < nents; i++) {
		const uint8_t *f;
		size_t n;

		if (strcmp(ents[i].sec, "ERROR-CODES") != 0)
			continue;
		code = atoi(ents[i].name + strlen("error_"));
		f = vhex("ERROR-CODES", ents[i].name, &n);
		assert_int_equal(tripki_err_wire(code), code);
		tripki_buf_reset(&b);
		assert_int_equal(tripki_frame_error(&b, code), TRIPKI_OK);
		assert_int_equal(b.len, n);
		assert_memory_equal(b.data, f, n);
		code = -1;
		assert_int_equal(tripki_frame_error_code(f, n, &code),
		    TRIPKI_OK);
		assert_int_equal(code, atoi(ents[i].name + strlen("error_")));
		count++;
	}
	assert_int_equal(count, 20);
	/* Local codes travel as the spec maps them. */
	assert_int_equal(tripki_err_wire(TRIPKI_E_CERT_EXPIRED),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(tripki_err_wire(TRIPKI_E_NOMEM), TRIPKI_E_INTERNAL);
	tripki_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_headers),
		cmocka_unit_test(aead_each_message),
		cmocka_unit_test(oaep_wrapped_keys),
		cmocka_unit_test(plaintext_layouts),
		cmocka_unit_test(core_decoders),
		cmocka_unit_test(certificates),
		cmocka_unit_test(ca_answers_m1),
		cmocka_unit_test(enroll_m1_m2),
		cmocka_unit_test(server_answers),
		cmocka_unit_test(client_sends),
		cmocka_unit_test(error_frames),
	};

	/* Before anything draws from OpenSSL's RNG. */
	if (drbg_install() != 0) {
		fprintf(stderr, "test_vectors: OpenSSL TEST-RAND unavailable\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
