/*
 * X.509 through OpenSSL: certificates the CA issues, the checks a client or
 * server makes with the CA certificate alone, and PKCS#10 requests.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define SERIAL_LEN 16

int
cert_cn(X509 *x, char out[TRIPKI_ID_MAX + 1])
{
	const X509_NAME *name = X509_get_subject_name(x);
	const ASN1_STRING *s;
	int i;

	if (name == NULL)
		return TRIPKI_E_CERT_INVALID;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	/* Exactly one CN. */
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return TRIPKI_E_CERT_SUBJECT;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (s == NULL || !tripki_id_valid((const char *)ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s)))
		return TRIPKI_E_CERT_SUBJECT;
	memcpy(out, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
	out[ASN1_STRING_length(s)] = '\0';
	return TRIPKI_OK;
}

static int
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok;

	if (ext == NULL)
		return TRIPKI_E_CRYPTO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? TRIPKI_OK : TRIPKI_E_CRYPTO;
}

/*
 * Puts an RSA key into a certificate as a request sent it (RSAPublicKey
 * DER, checked by csr_parse).  X509_set_pubkey would re-encode an EVP_PKEY
 * through OpenSSL 3's encoder and decode it back, which costs more than a
 * third of an RSA signature.
 */
static int
spki_set_rsa(X509 *x, const uint8_t *bits, size_t n)
{
	unsigned char *b;

	if (n == 0 || n > DER_MAX)
		return TRIPKI_E_KEY;
	if ((b = OPENSSL_memdup(bits, n)) == NULL)
		return TRIPKI_E_NOMEM;
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
	    OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL, b, (int)n) != 1) {
		OPENSSL_free(b);
		return TRIPKI_E_NOMEM;
	}
	return TRIPKI_OK;
}

/*
 * Builds and signs a v3 certificate.  issuer == NULL makes it self-signed
 * (a CA certificate); otherwise an end-entity certificate for a server.
 * The subject key is `pub`, or, when `csr` is given, the request's.
 */
static int
cert_build(EVP_PKEY *signer, X509 *issuer, EVP_PKEY *pub,
    const struct csr *csr, const char *id, uint32_t days, int64_t now_ms,
    const tripki_common *cm, X509 **out)
{
	uint8_t serial[SERIAL_LEN];
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	X509 *x = NULL;
	time_t now = (time_t)(now_ms / 1000);
	int r;

	if (!tripki_id_valid(id, strlen(id)) || days == 0 || days > 36500)
		return TRIPKI_E_INVALID;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	/* Random, positive, 126 bits of entropy, 16 bytes, never zero. */
	GUARD(rand_bytes(cm, serial, sizeof(serial)));
	serial[0] = (serial[0] & 0x7f) | 0x40;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(X509_set_version(x, X509_VERSION_3), TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)id, -1, -1, 0),
	    TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_set_subject_name(x, name), TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_set_issuer_name(x, issuer ?
	    X509_get_subject_name(issuer) : name), TRIPKI_E_CRYPTO);
	/*
	 * Backdated by the allowed clock skew: a peer whose clock is behind
	 * ours, within the skew, must not see a fresh certificate as not yet
	 * valid.
	 */
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0,
	    -(long)(skew_ms(cm) / 1000), &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	if (csr != NULL)
		GUARD(spki_set_rsa(x, csr->bits, csr->bits_len));
	else
		GUARD_OSSL(X509_set_pubkey(x, pub), TRIPKI_E_CRYPTO);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (issuer == NULL) {
		GUARD(add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE"));
		GUARD(add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign"));
		GUARD(add_ext(x, &v3, NID_subject_key_identifier, "hash"));
	} else {
		GUARD(add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE"));
		GUARD(add_ext(x, &v3, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment"));
		GUARD(add_ext(x, &v3, NID_ext_key_usage, "serverAuth"));
		GUARD(add_ext(x, &v3, NID_subject_key_identifier, "hash"));
		GUARD(add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"));
	}
	if (X509_sign(x, signer, EVP_sha256()) <= 0) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	*out = x;
	x = NULL;
	r = TRIPKI_OK;
out:
	ERR_clear_error();
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int
cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *pub, const char *id,
    uint32_t days, int64_t now_ms, const tripki_common *cm, X509 **out)
{
	return cert_build(ca_key, ca_cert, pub, NULL, id, days, now_ms, cm, out);
}

int
cert_issue_csr(EVP_PKEY *ca_key, X509 *ca_cert, const struct csr *req,
    const char *id, uint32_t days, int64_t now_ms, const tripki_common *cm,
    X509 **out)
{
	return cert_build(ca_key, ca_cert, NULL, req, id, days, now_ms, cm,
	    out);
}

int
tripki_ca_selfsign(EVP_PKEY *key, const char *id, int days, int64_t now_ms,
    const tripki_common *cm, X509 **out)
{
	if (days <= 0 || !key_bits_ok(key))
		return TRIPKI_E_INVALID;
	return cert_build(key, NULL, key, NULL, id, (uint32_t)days, now_ms, cm,
	    out);
}

/*
 * PK_S as a peer sent it (M2, M4) must be, byte for byte, the
 * SubjectPublicKeyInfo inside the certificate that came with it: one
 * comparison instead of decoding the same key a second time, which
 * OpenSSL 3 does through its decoder at about a third of an RSA operation.
 */
int
cert_spki_is(X509 *x, const uint8_t *pk, size_t n)
{
	tripki_buf d;
	int r;

	tripki_buf_init(&d, DER_MAX);
	if ((r = cert_spki(x, &d)) == TRIPKI_OK && (d.len != n ||
	    CRYPTO_memcmp(d.data, pk, n) != 0))
		r = TRIPKI_E_CERT_KEY;
	tripki_buf_free(&d);
	return r;
}

static int
verify_error(int v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TRIPKI_E_CERT_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TRIPKI_E_CERT_NOT_YET_VALID;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return TRIPKI_E_CERT_SIGNATURE;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return TRIPKI_E_CERT_ISSUER;
	case X509_V_ERR_CERT_REVOKED:
		return TRIPKI_E_CERT_REVOKED;
	default:
		return TRIPKI_E_CERT_INVALID;
	}
}

int
tripki_cert_verify(X509 *ca, X509 *cert, const char *expect_id,
    EVP_PKEY *expect_key, X509_CRL *crl, int64_t now_ms)
{
	char cn[TRIPKI_ID_MAX + 1];
	X509_STORE_CTX *sctx = NULL;
	X509_STORE *store = NULL;
	int r;

	if (ca == NULL || cert == NULL || expect_id == NULL)
		return TRIPKI_E_INVALID;
	if (X509_get_version(cert) != X509_VERSION_3)
		return TRIPKI_E_CERT_INVALID;
	if ((store = X509_STORE_new()) == NULL ||
	    (sctx = X509_STORE_CTX_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD_OSSL(X509_STORE_add_cert(store, ca), TRIPKI_E_CRYPTO);
	if (crl != NULL) {
		GUARD_OSSL(X509_STORE_add_crl(store, crl), TRIPKI_E_CRYPTO);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	GUARD_OSSL(X509_STORE_CTX_init(sctx, store, cert, NULL),
	    TRIPKI_E_CRYPTO);
	X509_STORE_CTX_set_time(sctx, 0, (time_t)(now_ms / 1000));
	X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(sctx) != 1) {
		r = verify_error(X509_STORE_CTX_get_error(sctx));
		goto out;
	}
	GUARD(cert_cn(cert, cn));
	if (strcmp(cn, expect_id) != 0) {
		r = TRIPKI_E_CERT_SUBJECT;
		goto out;
	}
	if (!key_bits_ok(X509_get0_pubkey(cert))) {
		r = TRIPKI_E_KEY;
		goto out;
	}
	if (expect_key != NULL &&
	    EVP_PKEY_eq(X509_get0_pubkey(cert), expect_key) != 1) {
		r = TRIPKI_E_CERT_KEY;
		goto out;
	}
	r = TRIPKI_OK;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	return r;
}

int
csr_make(EVP_PKEY *k, const char *id, tripki_buf *der)
{
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	uint8_t *at;
	int len, r;

	if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD_OSSL(X509_REQ_set_version(req, X509_REQ_VERSION_1),
	    TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)id, -1, -1, 0),
	    TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_REQ_set_subject_name(req, name), TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_REQ_set_pubkey(req, k), TRIPKI_E_CRYPTO);
	if (X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, NULL)) <= 0) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD(buf_reserve(der, (size_t)len, &at));
	if (i2d_X509_REQ(req, &at) != len) {
		der->len -= (size_t)len;
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	r = TRIPKI_OK;
out:
	ERR_clear_error();
	X509_NAME_free(name);
	X509_REQ_free(req);
	return r;
}

