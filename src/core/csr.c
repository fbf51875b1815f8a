/*
 * PKCS#10 certification requests (RFC 2986), as the CA reads them.
 *
 * d2i_X509_REQ would decode the request's public key through OpenSSL 3's
 * decoder framework, which costs about 100 us per request: two fifths of an
 * RSA signature, for what is two integers.  The request is read here
 * instead, in strict DER and in one shape only; the key is made from its
 * modulus and exponent (EVP_PKEY_fromdata), and the signature checked with
 * EVP_DigestVerify over the request's own bytes.
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE {
 *       version         INTEGER 0,
 *       subject         Name,
 *       subjectPKInfo   SEQUENCE {
 *         algorithm        rsaEncryption, NULL parameters (RFC 3279),
 *         subjectPublicKey BIT STRING, no unused bits, holding
 *           RSAPublicKey SEQUENCE { modulus INTEGER, publicExponent INTEGER }
 *       },
 *       attributes      [0] IMPLICIT SET OF Attribute (DER, not acted upon)
 *     },
 *     signatureAlgorithm sha256WithRSAEncryption, NULL or no parameters,
 *     signature          BIT STRING, no unused bits
 *   }
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "internal.h"

#define DER_BOOLEAN	0x01
#define DER_INTEGER	0x02
#define DER_BIT_STRING	0x03
#define DER_NULL	0x05
#define DER_OID		0x06
#define DER_ENUMERATED	0x0a
#define DER_SEQUENCE	0x30
#define DER_SET		0x31
#define DER_ATTRIBUTES	0xa0    /* [0] IMPLICIT, constructed */

/* rsaEncryption with NULL parameters, the only key algorithm taken. */
static const uint8_t alg_rsa[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	0x01, 0x05, 0x00
};
/* sha256WithRSAEncryption, NULL parameters or none (RFC 4055 5). */
static const uint8_t alg_sig_null[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	0x0b, 0x05, 0x00
};
static const uint8_t alg_sig_none[] = {
	0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	0x0b
};

/*
 * One DER element of the given tag: definite length in its shortest form
 * (at most two length bytes: nothing here exceeds DER_MAX).  Its contents
 * go to `in`; the whole element, header included, to tlv/tlv_len if asked.
 */
static int
der_get(rd *r, uint8_t tag, rd *in, const uint8_t **tlv, size_t *tlv_len)
{
	const uint8_t *start = r->p, *p;
	uint8_t t, b, nb;
	size_t len, i;

	if (rd_u8(r, &t) != TRIPKI_OK || t != tag || rd_u8(r, &b) != TRIPKI_OK)
		return TRIPKI_E_BAD_FIELD;
	if (b < 0x80)
		len = b;
	else {
		nb = b & 0x7f;
		if (nb == 0 || nb > 2)
			return TRIPKI_E_BAD_FIELD;
		for (len = 0, i = 0; i < nb; i++) {
			if (rd_u8(r, &b) != TRIPKI_OK)
				return TRIPKI_E_BAD_FIELD;
			len = len << 8 | b;
		}
		if (len < 0x80 || (nb == 2 && len < 0x100))
			return TRIPKI_E_BAD_FIELD;
	}
	if (rd_bytes(r, len, &p) != TRIPKI_OK)
		return TRIPKI_E_BAD_FIELD;
	*in = rd_make(p, len);
	if (tlv != NULL) {
		*tlv = start;
		*tlv_len = (size_t)(p + len - start);
	}
	return TRIPKI_OK;
}

/*
 * An element that must be exactly these bytes (an AlgorithmIdentifier);
 * r moves past it only when it matches.
 */
static int
der_is(rd *r, const uint8_t *want, size_t n)
{
	const uint8_t *p;
	rd t = *r, in;
	size_t len;

	if (der_get(&t, DER_SEQUENCE, &in, &p, &len) != TRIPKI_OK ||
	    len != n || memcmp(p, want, n) != 0)
		return TRIPKI_E_BAD_FIELD;
	*r = t;
	return TRIPKI_OK;
}

/* A primitive element's contents, in the one form DER allows. */
static int
der_prim_ok(uint8_t t, rd v)
{
	size_t i;

	switch (t) {
	case 0x00:                      /* end-of-contents: BER only */
	case DER_SEQUENCE & 0x1f:       /* SEQUENCE, SET: constructed */
	case DER_SET & 0x1f:
		return 0;
	case DER_BOOLEAN:
		return v.n == 1 && (v.p[0] == 0x00 || v.p[0] == 0xff);
	case DER_INTEGER:
	case DER_ENUMERATED:
		return v.n >= 1 && !(v.n > 1 &&
		    ((v.p[0] == 0x00 && (v.p[1] & 0x80) == 0) ||
		    (v.p[0] == 0xff && (v.p[1] & 0x80) != 0)));
	case DER_NULL:
		return v.n == 0;
	case DER_OID:
		if (v.n == 0 || (v.p[v.n - 1] & 0x80) != 0 || v.p[0] == 0x80)
			return 0;
		for (i = 1; i < v.n; i++)
			if (v.p[i] == 0x80 && (v.p[i - 1] & 0x80) == 0)
				return 0;
		return 1;
	case DER_BIT_STRING:
		return v.n >= 1 && v.p[0] <= 7 && !(v.n == 1 && v.p[0] != 0);
	default:
		return 1;
	}
}

/* A non-negative INTEGER in minimal form; its magnitude, big-endian. */
static int
der_uint(rd *r, const uint8_t **mag, size_t *n)
{
	rd in;

	if (der_get(r, DER_INTEGER, &in, NULL, NULL) != TRIPKI_OK ||
	    !der_prim_ok(DER_INTEGER, in) || (in.p[0] & 0x80) != 0)
		return TRIPKI_E_BAD_FIELD;
	if (in.p[0] == 0) {
		in.p++;
		in.n--;
	}
	*mag = in.p;
	*n = in.n;
	return TRIPKI_OK;
}

/* A BIT STRING with no unused bits; its bytes. */
static int
der_bits(rd *r, rd *bits)
{
	rd in;

	if (der_get(r, DER_BIT_STRING, &in, NULL, NULL) != TRIPKI_OK ||
	    in.n < 2 || in.p[0] != 0)
		return TRIPKI_E_BAD_FIELD;
	*bits = rd_make(in.p + 1, in.n - 1);
	return TRIPKI_OK;
}

/* The RSA public key from modulus and exponent, without a decoder. */
static int
rsa_from_ne(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int r = TRIPKI_E_CRYPTO;

	/* An RSA modulus is odd. */
	if (nlen == 0 || (n[nlen - 1] & 1) == 0)
		return TRIPKI_E_KEY;
	/* Odd, at least 3, at most 32 bits: what RSA verifiers take. */
	if (elen == 0 || elen > 4 || (e[elen - 1] & 1) == 0 ||
	    (elen == 1 && e[0] < 3))
		return TRIPKI_E_KEY;
	if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	r = key_bits_ok(*out) ? TRIPKI_OK : TRIPKI_E_KEY;
	if (r != TRIPKI_OK) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return r;
}

/*
 * Contents that are DER all the way down: every element has a one-byte
 * tag and a definite, shortest length (der_get); only SEQUENCE, SET and
 * context-specific tags are constructed (no BER constructed strings);
 * SEQUENCE and SET are never primitive; BOOLEAN, INTEGER, ENUMERATED,
 * NULL, OBJECT IDENTIFIER and BIT STRING have their one DER form; and the
 * elements of a SET are in DER's order, by their encodings (X.690 11.6).
 * d2i_X509_NAME alone would take BER, and the attributes are read by
 * nothing else.  What needs a schema (an IMPLICIT string's pieces, the
 * tag order of a plain SET) is not checked: tripki acts on neither.
 */
#define DER_DEPTH	8

static int
der_strict(rd in, int is_set, int depth)
{
	const uint8_t *prev = NULL, *tlv;
	size_t prev_len = 0, tlv_len, m;
	rd body;
	uint8_t t;
	int c;

	if (depth > DER_DEPTH)
		return TRIPKI_E_BAD_FIELD;
	while (in.n != 0) {
		t = in.p[0];
		if ((t & 0x1f) == 0x1f)
			return TRIPKI_E_BAD_FIELD;      /* multi-byte tag */
		if (der_get(&in, t, &body, &tlv, &tlv_len) != TRIPKI_OK)
			return TRIPKI_E_BAD_FIELD;
		if (t & 0x20) {
			if (t != DER_SEQUENCE && t != DER_SET && (t & 0xc0) != 0x80)
				return TRIPKI_E_BAD_FIELD;
			if (der_strict(body, t == DER_SET, depth + 1) != TRIPKI_OK)
				return TRIPKI_E_BAD_FIELD;
		} else if ((t & 0xc0) == 0 && !der_prim_ok(t, body))
			return TRIPKI_E_BAD_FIELD;
		if (is_set && prev != NULL) {
			m = prev_len < tlv_len ? prev_len : tlv_len;
			c = memcmp(prev, tlv, m);
			if (c > 0 || (c == 0 && prev_len > tlv_len))
				return TRIPKI_E_BAD_FIELD;
		}
		prev = tlv;
		prev_len = tlv_len;
	}
	return TRIPKI_OK;
}

/* The string types a Name's attribute value may have (RFC 5280 4.1.2.4). */
static int
der_is_string(uint8_t t)
{
	switch (t) {
	case 0x0c:      /* UTF8String */
	case 0x12:      /* NumericString */
	case 0x13:      /* PrintableString */
	case 0x14:      /* TeletexString */
	case 0x16:      /* IA5String */
	case 0x1c:      /* UniversalString */
	case 0x1e:      /* BMPString */
		return 1;
	default:
		return 0;
	}
}

/*
 * The shapes: a Name is a SEQUENCE OF (SET OF (SEQUENCE { OID, string })),
 * with at least one entry in each SET; the attributes' contents are
 * SEQUENCE { OID, SET }, each.
 */
static int
name_shape(rd name)
{
	rd rdn, atv, v;

	while (name.n != 0) {
		if (der_get(&name, DER_SET, &rdn, NULL, NULL) != TRIPKI_OK ||
		    rdn.n == 0)
			return TRIPKI_E_BAD_FIELD;
		while (rdn.n != 0) {
			if (der_get(&rdn, DER_SEQUENCE, &atv, NULL, NULL) !=
			    TRIPKI_OK ||
			    der_get(&atv, DER_OID, &v, NULL, NULL) != TRIPKI_OK ||
			    atv.n == 0 || !der_is_string(atv.p[0]) ||
			    der_get(&atv, atv.p[0], &v, NULL, NULL) != TRIPKI_OK ||
			    atv.n != 0)
				return TRIPKI_E_BAD_FIELD;
		}
	}
	return TRIPKI_OK;
}

static int
attributes_shape(rd attrs)
{
	rd a, v;

	while (attrs.n != 0)
		if (der_get(&attrs, DER_SEQUENCE, &a, NULL, NULL) != TRIPKI_OK ||
		    der_get(&a, DER_OID, &v, NULL, NULL) != TRIPKI_OK ||
		    der_get(&a, DER_SET, &v, NULL, NULL) != TRIPKI_OK ||
		    a.n != 0)
			return TRIPKI_E_BAD_FIELD;
	return TRIPKI_OK;
}

/*
 * The subject has exactly one commonName, a UTF8String or PrintableString
 * equal to expect_id.
 */
static int
subject_is(const uint8_t *p, size_t n, const char *expect_id)
{
	const unsigned char *q = p;
	const ASN1_STRING *s;
	X509_NAME *name;
	rd all = rd_make(p, n), seq;
	int i, r = TRIPKI_E_BAD_FIELD;

	if (der_strict(all, 0, 0) != TRIPKI_OK ||
	    der_get(&all, DER_SEQUENCE, &seq, NULL, NULL) != TRIPKI_OK ||
	    name_shape(seq) != TRIPKI_OK ||
	    (name = d2i_X509_NAME(NULL, &q, (long)n)) == NULL)
		return TRIPKI_E_BAD_FIELD;
	if (q == p + n &&
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) >= 0 &&
	    X509_NAME_get_index_by_NID(name, NID_commonName, i) < 0 &&
	    (s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))) !=
	    NULL && (ASN1_STRING_type(s) == V_ASN1_UTF8STRING ||
	    ASN1_STRING_type(s) == V_ASN1_PRINTABLESTRING) &&
	    (size_t)ASN1_STRING_length(s) == strlen(expect_id) &&
	    memcmp(ASN1_STRING_get0_data(s), expect_id, strlen(expect_id)) == 0)
		r = TRIPKI_OK;
	X509_NAME_free(name);
	return r;
}

void
csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	free(c->bits);
	free(c);
}

/*
 * A request is good when it parses exactly, names `expect_id`, carries an
 * acceptable RSA key, and is signed by that key (proof of possession).
 */
int
csr_parse(const uint8_t *p, size_t n, const char *expect_id, struct csr **out)
{
	const uint8_t *tbs, *subj, *mod, *exp;
	size_t tbs_len, subj_len, mod_len, exp_len;
	rd all = rd_make(p, n), req, info, spki, key, rsa, sig, x;
	struct csr *c = NULL;
	EVP_MD_CTX *md = NULL;
	int r;

	*out = NULL;
	if (n == 0 || n > DER_MAX)
		return TRIPKI_E_BAD_FIELD;
	GUARD(der_get(&all, DER_SEQUENCE, &req, NULL, NULL));
	if (all.n != 0)
		return TRIPKI_E_TRAILING;
	GUARD(der_get(&req, DER_SEQUENCE, &info, &tbs, &tbs_len));
	/* version 0 */
	GUARD(der_get(&info, DER_INTEGER, &x, NULL, NULL));
	if (x.n != 1 || x.p[0] != 0)
		return TRIPKI_E_BAD_FIELD;
	GUARD(der_get(&info, DER_SEQUENCE, &x, &subj, &subj_len));
	GUARD(der_get(&info, DER_SEQUENCE, &spki, NULL, NULL));
	if (der_is(&spki, alg_rsa, sizeof(alg_rsa)) != TRIPKI_OK)
		return TRIPKI_E_KEY;
	GUARD(der_bits(&spki, &key));
	if (spki.n != 0)
		return TRIPKI_E_BAD_FIELD;
	/* The attributes: present (perhaps empty), DER, and last. */
	GUARD(der_get(&info, DER_ATTRIBUTES, &x, NULL, NULL));
	GUARD(der_strict(x, 1, 0));
	GUARD(attributes_shape(x));
	if (info.n != 0)
		return TRIPKI_E_BAD_FIELD;
	if (der_is(&req, alg_sig_null, sizeof(alg_sig_null)) != TRIPKI_OK &&
	    der_is(&req, alg_sig_none, sizeof(alg_sig_none)) != TRIPKI_OK)
		return TRIPKI_E_BAD_FIELD;
	GUARD(der_bits(&req, &sig));
	if (req.n != 0)
		return TRIPKI_E_BAD_FIELD;
	/* RSAPublicKey, exactly the BIT STRING's contents. */
	x = key;
	GUARD(der_get(&x, DER_SEQUENCE, &rsa, NULL, NULL));
	if (x.n != 0)
		return TRIPKI_E_BAD_FIELD;
	GUARD(der_uint(&rsa, &mod, &mod_len));
	GUARD(der_uint(&rsa, &exp, &exp_len));
	if (rsa.n != 0)
		return TRIPKI_E_BAD_FIELD;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TRIPKI_E_NOMEM;
	GUARD(rsa_from_ne(mod, mod_len, exp, exp_len, &c->key));
	if ((md = EVP_MD_CTX_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, c->key,
	    NULL) != 1 || EVP_DigestVerify(md, sig.p, sig.n, tbs, tbs_len) != 1) {
		r = TRIPKI_E_BAD_FIELD;
		goto out;
	}
	GUARD(subject_is(subj, subj_len, expect_id));
	if ((c->bits = malloc(key.n)) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	memcpy(c->bits, key.p, key.n);
	c->bits_len = key.n;
	*out = c;
	c = NULL;
	r = TRIPKI_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	csr_free(c);
	return r;
}
