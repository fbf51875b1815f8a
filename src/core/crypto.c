/*
 * Every cryptographic operation of the protocol, through OpenSSL 3 EVP:
 * randomness, RSA-OAEP key wrapping, AES-256-GCM, SHA-256, signatures and
 * the DER forms of keys.  X.509 lives in x509.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "internal.h"

static const EVP_MD *md_sha256(void);

int
rand_bytes(const tripki_common *cm, uint8_t *out, size_t n)
{
	if (cm != NULL && cm->rand != NULL)
		return cm->rand(cm->rand_ctx, out, n) == 0 ? TRIPKI_OK :
		    TRIPKI_E_CRYPTO;
	if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
		return TRIPKI_E_CRYPTO;
	return TRIPKI_OK;
}

int64_t
skew_ms(const tripki_common *cm)
{
	return cm != NULL && cm->max_skew_ms > 0 ? cm->max_skew_ms :
	    DEFAULT_SKEW_MS;
}

int
key_bits_ok(EVP_PKEY *k)
{
	int bits;

	if (k == NULL || !EVP_PKEY_is_a(k, "RSA"))
		return 0;
	bits = EVP_PKEY_get_bits(k);
	return bits == 2048 || bits == 3072 || bits == 4096;
}

int
tripki_key_generate(int bits, EVP_PKEY **out)
{
	if (bits != 2048 && bits != 3072 && bits != 4096)
		return TRIPKI_E_INVALID;
	if ((*out = EVP_RSA_gen((unsigned int)bits)) == NULL)
		return TRIPKI_E_CRYPTO;
	return TRIPKI_OK;
}

/* OAEP parameters: SHA-256 for the hash and for MGF1, and a label. */
static void
oaep_params_n(OSSL_PARAM p[5], const uint8_t *label, size_t label_len)
{
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
	    (char *)OSSL_PKEY_RSA_PAD_MODE_OAEP, 0);
	p[1] = OSSL_PARAM_construct_utf8_string(
	    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)"SHA256", 0);
	p[2] = OSSL_PARAM_construct_utf8_string(
	    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)"SHA256", 0);
	p[3] = OSSL_PARAM_construct_octet_string(
	    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)label, label_len);
	p[4] = OSSL_PARAM_construct_end();
}

static void
oaep_params(OSSL_PARAM p[5], const char *label)
{
	oaep_params_n(p, (const uint8_t *)label, strlen(label));
}

/* A context ready to decrypt with priv under the label, or NULL. */
static EVP_PKEY_CTX *
oaep_dec_ctx(EVP_PKEY *priv, const uint8_t *label, size_t label_len)
{
	EVP_PKEY_CTX *ctx;
	OSSL_PARAM params[5];

	oaep_params_n(params, label, label_len);
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) != NULL &&
	    EVP_PKEY_decrypt_init_ex(ctx, params) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

static int
decrypt_with(EVP_PKEY_CTX *ctx, const uint8_t *in, size_t n, uint8_t *out,
    size_t *outlen)
{
	int ok = ctx != NULL &&
	    n == (size_t)EVP_PKEY_get_size(EVP_PKEY_CTX_get0_pkey(ctx)) &&
	    EVP_PKEY_decrypt(ctx, out, outlen, in, n) == 1;

	ERR_clear_error();
	return ok ? TRIPKI_OK : TRIPKI_E_DECRYPT;
}

int
oaep_decrypt(EVP_PKEY *priv, const uint8_t *label, size_t label_len,
    const uint8_t *in, size_t n, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = oaep_dec_ctx(priv, label, label_len);
	int r = decrypt_with(ctx, in, n, out, outlen);

	EVP_PKEY_CTX_free(ctx);
	return r;
}

int
oaep_encrypt(EVP_PKEY *pub, const char *label, const uint8_t *in, size_t n,
    tripki_buf *out)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[5];
	size_t outlen = 0;
	uint8_t *at;
	int r;

	oaep_params(params, label);
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(EVP_PKEY_encrypt_init_ex(ctx, params), TRIPKI_E_KEY);
	GUARD_OSSL(EVP_PKEY_encrypt(ctx, NULL, &outlen, in, n), TRIPKI_E_CRYPTO);
	GUARD(buf_reserve(out, outlen, &at));
	if (EVP_PKEY_encrypt(ctx, at, &outlen, in, n) != 1) {
		out->len -= outlen;
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	r = TRIPKI_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/*
 * The key substituted for a bad OAEP block: SHA-256 over a process-wide
 * secret, the label and the ciphertext.  Deterministic, so the same bad
 * block always fails the same way, and drawing nothing at request time.
 */
static uint8_t reject_secret[32];
static int reject_ready;
static pthread_once_t reject_once = PTHREAD_ONCE_INIT;

static void
reject_init(void)
{
	reject_ready = RAND_priv_bytes(reject_secret, sizeof(reject_secret)) == 1;
}

static int
reject_key(const char *label, const uint8_t *in, size_t n,
    uint8_t key[static TRIPKI_KEY_LEN])
{
	unsigned int len = 0;
	EVP_MD_CTX *md;
	int ok;

	pthread_once(&reject_once, reject_init);
	if (!reject_ready || (md = EVP_MD_CTX_new()) == NULL)
		return TRIPKI_E_CRYPTO;
	ok = EVP_DigestInit_ex(md, md_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, reject_secret, sizeof(reject_secret)) == 1 &&
	    EVP_DigestUpdate(md, label, strlen(label)) == 1 &&
	    EVP_DigestUpdate(md, in, n) == 1 &&
	    EVP_DigestFinal_ex(md, key, &len) == 1 && len == TRIPKI_KEY_LEN;
	EVP_MD_CTX_free(md);
	return ok ? TRIPKI_OK : TRIPKI_E_CRYPTO;
}

static int
unwrap_with(EVP_PKEY_CTX *ctx, const char *label, const uint8_t *in,
    size_t n, uint8_t key[static TRIPKI_KEY_LEN])
{
	uint8_t pt[512], alt[TRIPKI_KEY_LEN], mask;
	size_t ptlen = sizeof(pt), i;
	int ok, r;

	/*
	 * The substitute is computed on every path and chosen without a
	 * branch, so that a bad block costs the same as a good one: no timing
	 * oracle.
	 */
	if ((r = reject_key(label, in, n, alt)) != TRIPKI_OK)
		return r;
	memset(pt, 0, sizeof(pt));
	ok = n <= sizeof(pt) && decrypt_with(ctx, in, n, pt, &ptlen) ==
	    TRIPKI_OK && ptlen == TRIPKI_KEY_LEN;
	mask = (uint8_t)(0u - (unsigned)ok);
	for (i = 0; i < TRIPKI_KEY_LEN; i++)
		key[i] = (uint8_t)((pt[i] & mask) | (alt[i] & (uint8_t)~mask));
	OPENSSL_cleanse(pt, sizeof(pt));
	OPENSSL_cleanse(alt, sizeof(alt));
	return TRIPKI_OK;
}

int
oaep_unwrap_key(EVP_PKEY *priv, const char *label, const uint8_t *in,
    size_t n, uint8_t key[static TRIPKI_KEY_LEN])
{
	EVP_PKEY_CTX *ctx = oaep_dec_ctx(priv, (const uint8_t *)label,
	    strlen(label));
	int r = unwrap_with(ctx, label, in, n, key);

	EVP_PKEY_CTX_free(ctx);
	return r;
}

/*
 * A private key's decryption contexts, made once and reused: making one
 * is a provider lookup and a parameter setup, a few microseconds that an
 * RSA private operation is otherwise free of.  Any thread may take one;
 * an idle one holds no secret beyond a reference to the key.
 */
struct rsa_dec {
	EVP_PKEY *key;
	char label[32];
	pthread_mutex_t mu;
	EVP_PKEY_CTX *idle[RSA_DEC_IDLE];
	size_t nidle;
};

int
rsa_dec_new(EVP_PKEY *key, const char *label, rsa_dec **out)
{
	rsa_dec *d;

	if (key == NULL || strlen(label) >= sizeof(d->label))
		return TRIPKI_E_INVALID;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return TRIPKI_E_NOMEM;
	if (pthread_mutex_init(&d->mu, NULL) != 0) {
		free(d);
		return TRIPKI_E_NOMEM;
	}
	EVP_PKEY_up_ref(key);
	d->key = key;
	strcpy(d->label, label);
	*out = d;
	return TRIPKI_OK;
}

void
rsa_dec_free(rsa_dec *d)
{
	if (d == NULL)
		return;
	while (d->nidle > 0)
		EVP_PKEY_CTX_free(d->idle[--d->nidle]);
	EVP_PKEY_free(d->key);
	(void)pthread_mutex_destroy(&d->mu);
	free(d);
}

int
rsa_dec_unwrap(rsa_dec *d, const uint8_t *in, size_t n,
    uint8_t key[static TRIPKI_KEY_LEN])
{
	EVP_PKEY_CTX *ctx = NULL;
	int r;

	(void)pthread_mutex_lock(&d->mu);
	if (d->nidle > 0)
		ctx = d->idle[--d->nidle];
	(void)pthread_mutex_unlock(&d->mu);
	if (ctx == NULL)
		ctx = oaep_dec_ctx(d->key, (const uint8_t *)d->label,
		    strlen(d->label));
	r = unwrap_with(ctx, d->label, in, n, key);
	if (ctx == NULL)
		return r;
	(void)pthread_mutex_lock(&d->mu);
	if (d->nidle < RSA_DEC_IDLE) {
		d->idle[d->nidle++] = ctx;
		ctx = NULL;
	}
	(void)pthread_mutex_unlock(&d->mu);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/*
 * AES-256-GCM and SHA-256 fetched once: an implicit fetch on every call
 * costs a provider lookup per message.
 */
static EVP_CIPHER *aes_gcm;
static EVP_MD *sha256;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch_algs(void)
{
	aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_CIPHER *
cipher_gcm(void)
{
	pthread_once(&fetch_once, fetch_algs);
	return aes_gcm != NULL ? aes_gcm : EVP_aes_256_gcm();
}

static const EVP_MD *
md_sha256(void)
{
	pthread_once(&fetch_once, fetch_algs);
	return sha256 != NULL ? sha256 : EVP_sha256();
}

void
gcm_nonce(uint8_t nonce[static GCM_NONCE_LEN], uint32_t dir, uint64_t ctr)
{
	put_u32(nonce, dir);
	put_u64(nonce + 4, ctr);
}

/*
 * Sets `ctx` up for one frame: the cipher and key when `key` is given (a
 * new context), else only the nonce (a context kept by gcm_keep).
 */
static int
gcm_init(EVP_CIPHER_CTX *ctx, const uint8_t *key,
    const uint8_t nonce[static GCM_NONCE_LEN], int enc)
{
	return EVP_CipherInit_ex2(ctx, key != NULL ? cipher_gcm() : NULL, key,
	    nonce, enc, NULL) == 1 ? TRIPKI_OK : TRIPKI_E_CRYPTO;
}

int
gcm_seal_with(EVP_CIPHER_CTX *kept, const uint8_t *key,
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, tripki_buf *out)
{
	EVP_CIPHER_CTX *ctx = kept;
	uint8_t *at;
	int outl, fin, r;

	if (pt_len > TRIPKI_FRAME_MAX || aad_len > TRIPKI_FRAME_MAX)
		return TRIPKI_E_TOO_BIG;
	if ((r = buf_reserve(out, pt_len + GCM_TAG_LEN, &at)) != TRIPKI_OK)
		return r;
	if (ctx == NULL && (ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD(gcm_init(ctx, kept == NULL ? key : NULL, nonce, 1));
	if (aad_len > 0)
		GUARD_OSSL(EVP_EncryptUpdate(ctx, NULL, &outl, aad,
		    (int)aad_len), TRIPKI_E_CRYPTO);
	outl = 0;
	if (pt_len > 0)
		GUARD_OSSL(EVP_EncryptUpdate(ctx, at, &outl, pt, (int)pt_len),
		    TRIPKI_E_CRYPTO);
	GUARD_OSSL(EVP_EncryptFinal_ex(ctx, at + outl, &fin), TRIPKI_E_CRYPTO);
	GUARD_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
	    at + pt_len), TRIPKI_E_CRYPTO);
	r = TRIPKI_OK;
out:
	if (r != TRIPKI_OK)
		out->len -= pt_len + GCM_TAG_LEN;
	if (ctx != kept)
		EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
gcm_open_with(EVP_CIPHER_CTX *kept, const uint8_t *key,
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, tripki_buf *pt)
{
	EVP_CIPHER_CTX *ctx = kept;
	size_t n, start = pt->len;
	uint8_t *at;
	int outl, fin, r;

	if (ct_len < GCM_TAG_LEN)
		return TRIPKI_E_DECRYPT;
	if (ct_len > TRIPKI_FRAME_MAX || aad_len > TRIPKI_FRAME_MAX)
		return TRIPKI_E_TOO_BIG;
	n = ct_len - GCM_TAG_LEN;
	if ((r = buf_reserve(pt, n, &at)) != TRIPKI_OK)
		return r;
#ifdef TRIPKI_FUZZ_PLAINTEXT
	/*
	 * Fuzzing builds only: the "ciphertext" is the plaintext and the tag is
	 * ignored, so the fuzzer reaches the decoders behind the AEAD.
	 */
	(void)key;
	(void)nonce;
	(void)aad;
	(void)ctx;
	(void)outl;
	(void)fin;
	if (n > 0)
		memcpy(at, ct, n);
	return TRIPKI_OK;
#endif
	if (ctx == NULL && (ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD(gcm_init(ctx, kept == NULL ? key : NULL, nonce, 0));
	if (aad_len > 0)
		GUARD_OSSL(EVP_DecryptUpdate(ctx, NULL, &outl, aad,
		    (int)aad_len), TRIPKI_E_CRYPTO);
	outl = 0;
	if (n > 0)
		GUARD_OSSL(EVP_DecryptUpdate(ctx, at, &outl, ct, (int)n),
		    TRIPKI_E_CRYPTO);
	GUARD_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
	    (void *)(ct + n)), TRIPKI_E_CRYPTO);
	if (EVP_DecryptFinal_ex(ctx, at + outl, &fin) <= 0) {
		r = TRIPKI_E_DECRYPT;
		goto out;
	}
	r = TRIPKI_OK;
out:
	if (r != TRIPKI_OK) {
		/* Nothing unauthenticated is handed back. */
		OPENSSL_cleanse(pt->data + start, n);
		pt->len = start;
	}
	if (ctx != kept)
		EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int
gcm_seal(const uint8_t key[static TRIPKI_KEY_LEN],
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, tripki_buf *out)
{
	return gcm_seal_with(NULL, key, nonce, aad, aad_len, pt, pt_len, out);
}

int
gcm_open(const uint8_t key[static TRIPKI_KEY_LEN],
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, tripki_buf *pt)
{
	return gcm_open_with(NULL, key, nonce, aad, aad_len, ct, ct_len, pt);
}

int
gcm_keep(EVP_CIPHER_CTX **kept, const uint8_t key[static TRIPKI_KEY_LEN])
{
	if (*kept == NULL && (*kept = EVP_CIPHER_CTX_new()) == NULL)
		return TRIPKI_E_NOMEM;
	if (EVP_CipherInit_ex2(*kept, cipher_gcm(), key, NULL, 1, NULL) != 1) {
		/* Whatever key it held before must not be used. */
		EVP_CIPHER_CTX_free(*kept);
		*kept = NULL;
		ERR_clear_error();
		return TRIPKI_E_CRYPTO;
	}
	return TRIPKI_OK;
}

int
digest16(const uint8_t *p, size_t n, uint8_t out[static DIGEST_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(p, n, md, &mdlen, md_sha256(), NULL) != 1)
		return TRIPKI_E_CRYPTO;
	memcpy(out, md, DIGEST_LEN);
	return TRIPKI_OK;
}

/* i2d_* into a buffer, with the usual two-call length dance. */
#define I2D_BUF(fn, obj, out) do {					\
	int len_ = fn(obj, NULL);					\
	uint8_t *at_;							\
	if (len_ <= 0)							\
		return TRIPKI_E_CRYPTO;					\
	if ((r = buf_reserve(out, (size_t)len_, &at_)) != TRIPKI_OK)	\
		return r;						\
	if (fn(obj, &at_) != len_) {					\
		(out)->len -= (size_t)len_;				\
		return TRIPKI_E_CRYPTO;					\
	}								\
} while (0)

int
key_to_spki(EVP_PKEY *k, tripki_buf *out)
{
	int r;

	I2D_BUF(i2d_PUBKEY, k, out);
	return TRIPKI_OK;
}

/*
 * The certificate's SubjectPublicKeyInfo as it stands in the certificate:
 * the same bytes as key_to_spki of its key, without OpenSSL 3's encoder
 * (a third of a CA's CPU per issuance went into setting one up).
 */
int
cert_spki(X509 *x, tripki_buf *out)
{
	X509_PUBKEY *pk = X509_get_X509_PUBKEY(x);
	int r;

	if (pk == NULL)
		return TRIPKI_E_CERT_INVALID;
	I2D_BUF(i2d_X509_PUBKEY, pk, out);
	return TRIPKI_OK;
}

int
cert_to_der(X509 *x, tripki_buf *out)
{
	int r;

	I2D_BUF(i2d_X509, x, out);
	return TRIPKI_OK;
}

int
key_to_pkcs8(EVP_PKEY *k, tripki_buf *out)
{
	PKCS8_PRIV_KEY_INFO *p8;
	int r;

	if ((p8 = EVP_PKEY2PKCS8(k)) == NULL)
		return TRIPKI_E_CRYPTO;
	r = TRIPKI_OK;
	{
		int len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
		uint8_t *at;

		if (len <= 0)
			r = TRIPKI_E_CRYPTO;
		else if ((r = buf_reserve(out, (size_t)len, &at)) == TRIPKI_OK &&
		    i2d_PKCS8_PRIV_KEY_INFO(p8, &at) != len) {
			out->len -= (size_t)len;
			r = TRIPKI_E_CRYPTO;
		}
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	return r;
}

/* A d2i_* that must consume its input exactly. */
#define D2I_EXACT(fn, p, n, obj) do {					\
	const uint8_t *q_ = (p);					\
	if ((n) == 0 || (n) > DER_MAX)					\
		return TRIPKI_E_BAD_FIELD;				\
	(obj) = fn(NULL, &q_, (long)(n));				\
	ERR_clear_error();						\
	if ((obj) == NULL)						\
		return TRIPKI_E_BAD_FIELD;				\
	if (q_ != (p) + (n)) {						\
		r = TRIPKI_E_TRAILING;					\
		goto out;						\
	}								\
} while (0)

int
key_from_pkcs8(const uint8_t *p, size_t n, EVP_PKEY **out)
{
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *k = NULL;
	int r;

	D2I_EXACT(d2i_PKCS8_PRIV_KEY_INFO, p, n, p8);
	if ((k = EVP_PKCS82PKEY(p8)) == NULL) {
		ERR_clear_error();
		r = TRIPKI_E_BAD_FIELD;
		goto out;
	}
	if (!key_bits_ok(k)) {
		r = TRIPKI_E_KEY;
		goto out;
	}
	*out = k;
	k = NULL;
	r = TRIPKI_OK;
out:
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return r;
}

int
cert_from_der(const uint8_t *p, size_t n, X509 **out)
{
	X509 *x;
	int r;

	D2I_EXACT(d2i_X509, p, n, x);
	*out = x;
	return TRIPKI_OK;
out:
	X509_free(x);
	return r;
}

int
sign_sha256(EVP_PKEY *k, const uint8_t *msg, size_t n, tripki_buf *sig)
{
	EVP_MD_CTX *md = NULL;
	size_t len = 0;
	uint8_t *at;
	int r;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return TRIPKI_E_NOMEM;
	GUARD_OSSL(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k),
	    TRIPKI_E_KEY);
	GUARD_OSSL(EVP_DigestSign(md, NULL, &len, msg, n), TRIPKI_E_CRYPTO);
	GUARD(buf_reserve(sig, len, &at));
	if (EVP_DigestSign(md, at, &len, msg, n) != 1) {
		sig->len -= len;
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	r = TRIPKI_OK;
out:
	EVP_MD_CTX_free(md);
	return r;
}

int
verify_sha256(EVP_PKEY *k, const uint8_t *msg, size_t n, const uint8_t *sig,
    size_t sig_len)
{
	EVP_MD_CTX *md = NULL;
	int r;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return TRIPKI_E_NOMEM;
	GUARD_OSSL(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k),
	    TRIPKI_E_KEY);
	r = EVP_DigestVerify(md, sig, sig_len, msg, n) == 1 ? TRIPKI_OK :
	    TRIPKI_E_NOT_AUTHORIZED;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	return r;
}
