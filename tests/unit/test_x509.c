/*
 * Certificates: what tripki_cert_verify accepts and the exact code for
 * each thing it refuses, revocation through a CRL, and PKCS#10 requests.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include "fixture.h"
#include "internal.h"

#define DAY_MS 86400000LL
#define OTHER_ID "ID-Other"

static int
setup_keys(void **state)
{
	(void)state;
	fx_keys();
	return 0;
}

/* A certificate through the CA's own code path. */
static X509 *
issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *pub, const char *id,
    uint32_t days, int64_t now)
{
	X509 *x = NULL;

	assert_int_equal(cert_issue(ca_key, ca_cert, pub, id, days, now, NULL,
	    &x), TRIPKI_OK);
	return x;
}

static int64_t
asn1_ms(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm) * 1000;
}

/*
 * A certificate built field by field, for the shapes cert_issue never
 * makes: another version, no key identifiers, two common names.
 */
struct shape {
	long version;
	const char *cn2;        /* a second CN, or NULL */
	int akid;               /* add an authority key identifier */
};

static X509 *
build(EVP_PKEY *signer, X509 *issuer, EVP_PKEY *pub, const char *id,
    const struct shape *sh)
{
	X509_NAME *name = X509_NAME_new();
	X509 *x = X509_new();
	time_t now = (time_t)(FX_NOW / 1000);
	X509V3_CTX v3;

	assert_non_null(name);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, sh->version), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)id, -1, -1, 0), 1);
	if (sh->cn2 != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(name,
		    NID_commonName,
		    MBSTRING_UTF8, (const unsigned char *)sh->cn2, -1, -1, 0),
		        1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer)),
	    1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, &now));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 30, 0, &now));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	if (sh->akid) {
		X509_EXTENSION *e;

		X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
		    "keyid:always");
		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return x;
}

/* A CRL from `ca_key` naming `ca_cert` as issuer, revoking `revoked`. */
static X509_CRL *
make_crl(EVP_PKEY *ca_key, X509 *ca_cert, X509 *revoked, int64_t now,
    int64_t next_update)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_set(NULL, (time_t)(now / 1000) - 3600);
	ASN1_TIME *next = ASN1_TIME_set(NULL, (time_t)(next_update / 1000));
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_EXTENSION *e;
	X509V3_CTX v3;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(ca_cert)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, next), 1);
	if (revoked != NULL) {
		X509_REVOKED *rv = X509_REVOKED_new();

		assert_int_equal(X509_REVOKED_set_serialNumber(rv,
		    (ASN1_INTEGER *)X509_get0_serialNumber(revoked)), 1);
		assert_int_equal(X509_REVOKED_set_revocationDate(rv, last), 1);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	X509V3_set_ctx(&v3, ca_cert, NULL, NULL, crl, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always");
	assert_non_null(e);
	assert_int_equal(X509_CRL_add_ext(crl, e, -1), 1);
	X509_EXTENSION_free(e);
	assert_int_equal(ASN1_INTEGER_set(num, 1), 1);
	assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0),
	    1);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(num);
	return crl;
}

/* ---- tripki_cert_verify ---- */

static void
good_certificate(void **state)
{
	const struct fx_keys *k = fx_keys();
	char cn[TRIPKI_ID_MAX + 1];

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, FX_NOW), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, NULL, NULL, FX_NOW + 30 * DAY_MS), TRIPKI_OK);
	assert_int_equal(cert_cn(k->server_cert, cn), TRIPKI_OK);
	assert_string_equal(cn, FX_SERVER_ID);
	assert_int_equal(X509_get_version(k->server_cert), X509_VERSION_3);
	assert_int_equal(X509_check_ca(k->server_cert), 0);
	assert_int_equal(X509_check_ca(k->ca_cert), 1);
}

static void
bad_arguments(void **state)
{
	const struct fx_keys *k = fx_keys();

	(void)state;
	assert_int_equal(tripki_cert_verify(NULL, k->server_cert, FX_SERVER_ID,
	    NULL, NULL, FX_NOW), TRIPKI_E_INVALID);
	assert_int_equal(tripki_cert_verify(k->ca_cert, NULL, FX_SERVER_ID,
	    NULL, NULL, FX_NOW), TRIPKI_E_INVALID);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert, NULL,
	    NULL, NULL, FX_NOW), TRIPKI_E_INVALID);
}

/*
 * Same issuer name, another key.  The certificate's authority key
 * identifier does not match the trusted CA's, so OpenSSL finds no issuer:
 * TRIPKI_E_CERT_ISSUER.
 */
static void
other_ca_same_name(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = issue(k->other_ca_key, k->other_ca_cert, k->server_key,
	    FX_SERVER_ID, 30, FX_NOW);

	(void)state;
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(k->ca_cert)), 0);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	/* It is good for the CA that made it. */
	assert_int_equal(tripki_cert_verify(k->other_ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_OK);
	/* And the real certificate is not good for the other CA. */
	assert_int_equal(tripki_cert_verify(k->other_ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	X509_free(x);
}

/*
 * Issuer name and key identifier of the trusted CA, signed by another key:
 * the issuer is found and the signature does not verify.
 */
static void
forged_signature(void **state)
{
	const struct fx_keys *k = fx_keys();
	const struct shape sh = { X509_VERSION_3, NULL, 1 };
	X509 *x = build(k->other_ca_key, k->ca_cert, k->server_key,
	    FX_SERVER_ID, &sh);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_SIGNATURE);
	X509_free(x);
}

/* The strict profile wants an authority key identifier in a v3 leaf. */
static void
no_key_identifier(void **state)
{
	const struct fx_keys *k = fx_keys();
	const struct shape sh = { X509_VERSION_3, NULL, 0 };
	X509 *x = build(k->ca_key, k->ca_cert, k->server_key, FX_SERVER_ID,
	    &sh);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_INVALID);
	X509_free(x);
}

static void
other_ca_name(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *ca2 = NULL, *x;

	(void)state;
	assert_int_equal(tripki_ca_selfsign(k->other_ca_key, "ID-Other-CA",
	    3650, FX_NOW - DAY_MS, NULL, &ca2), TRIPKI_OK);
	x = issue(k->other_ca_key, ca2, k->server_key, FX_SERVER_ID, 30,
	    FX_NOW);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	X509_free(x);
	X509_free(ca2);
}

/* A server certificate cannot act as a CA for another name. */
static void
issued_by_end_entity(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = issue(k->server_key, k->server_cert, k->spare_key, OTHER_ID,
	    30, FX_NOW);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	X509_free(x);
}

/* The trust anchor itself is not a server certificate for another ID. */
static void
self_signed_leaf(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *self = NULL;

	(void)state;
	assert_int_equal(tripki_ca_selfsign(k->spare_key, FX_SERVER_ID, 30,
	    FX_NOW, NULL, &self), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, self, FX_SERVER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	X509_free(self);
}

static void
expired(void **state)
{
	const struct fx_keys *k = fx_keys();
	int64_t na = asn1_ms(X509_get0_notAfter(k->server_cert));

	(void)state;
	assert_true(na == FX_NOW + 90 * DAY_MS);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, na - 1000), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, na + 1000),
	    TRIPKI_E_CERT_EXPIRED);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, na + 400 * DAY_MS),
	    TRIPKI_E_CERT_EXPIRED);
}

static void
not_yet_valid(void **state)
{
	const struct fx_keys *k = fx_keys();
	int64_t nb = asn1_ms(X509_get0_notBefore(k->server_cert));
	X509 *x;

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, nb), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, NULL, nb - DAY_MS),
	    TRIPKI_E_CERT_NOT_YET_VALID);
	/* A certificate issued for tomorrow. */
	x = issue(k->ca_key, k->ca_cert, k->spare_key, OTHER_ID, 30,
	    FX_NOW + DAY_MS);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_NOT_YET_VALID);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, NULL, FX_NOW + 2 * DAY_MS), TRIPKI_OK);
	X509_free(x);
}

/*
 * Certificates are checked against clocks that the protocol allows to be
 * up to the skew (60 s) behind the CA's.  A certificate just issued must
 * then be valid for them: the CA should date notBefore back by the skew.
 */
static void
fresh_certificate_valid_within_skew(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = issue(k->ca_key, k->ca_cert, k->spare_key, OTHER_ID, 30,
	    FX_NOW);
	int r = tripki_cert_verify(k->ca_cert, x, OTHER_ID, k->spare_key, NULL,
	    FX_NOW - DEFAULT_SKEW_MS);
	int r2 = tripki_cert_verify(k->ca_cert, x, OTHER_ID, k->spare_key, NULL,
	    FX_NOW - DEFAULT_SKEW_MS - 1000);

	(void)state;
	X509_free(x);
	assert_int_equal(r, TRIPKI_OK);
	/* And no further back than that. */
	assert_int_equal(r2, TRIPKI_E_CERT_NOT_YET_VALID);
}

static void
wrong_subject(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x;

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    OTHER_ID, k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	/* Prefixes and case are different identities too. */
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    "ID-Serve", NULL, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    "ID-Server2", NULL, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    "id-server", NULL, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	/* A good certificate for someone else. */
	x = issue(k->ca_key, k->ca_cert, k->server_key, OTHER_ID, 30, FX_NOW);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->server_key, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	X509_free(x);
}

/* Two common names: which one is the identity?  Neither. */
static void
two_common_names(void **state)
{
	const struct fx_keys *k = fx_keys();
	const struct shape sh = { X509_VERSION_3, OTHER_ID, 1 };
	X509 *x = build(k->ca_key, k->ca_cert, k->spare_key, FX_SERVER_ID, &sh);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	X509_free(x);
}

static void
version_one_refused(void **state)
{
	const struct fx_keys *k = fx_keys();
	const struct shape sh = { X509_VERSION_1, NULL, 0 };
	X509 *x = build(k->ca_key, k->ca_cert, k->spare_key, FX_SERVER_ID, &sh);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, FX_SERVER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_INVALID);
	X509_free(x);
}

static void
wrong_key(void **state)
{
	const struct fx_keys *k = fx_keys();

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_KEY);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->ca_key, NULL, FX_NOW), TRIPKI_E_CERT_KEY);
}

/* A validly issued certificate on a key too small for the protocol. */
static void
weak_key_refused(void **state)
{
	const struct fx_keys *k = fx_keys();
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	X509 *x;

	(void)state;
	assert_non_null(weak);
	x = issue(k->ca_key, k->ca_cert, weak, OTHER_ID, 30, FX_NOW);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID, weak, NULL,
	    FX_NOW), TRIPKI_E_KEY);
	X509_free(x);
	EVP_PKEY_free(weak);
}

/* Order of the checks: the chain first, then subject, then key. */
static void
check_order(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = issue(k->other_ca_key, k->other_ca_cert, k->server_key,
	    FX_SERVER_ID, 30, FX_NOW);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_ISSUER);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    OTHER_ID, k->spare_key, NULL, FX_NOW), TRIPKI_E_CERT_SUBJECT);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    OTHER_ID, k->spare_key, NULL, FX_NOW - DAY_MS),
	    TRIPKI_E_CERT_NOT_YET_VALID);
	X509_free(x);
}

/* ---- Revocation ---- */

static void
revoked(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509_CRL *crl = make_crl(k->ca_key, k->ca_cert, k->server_cert, FX_NOW,
	    FX_NOW + 30 * DAY_MS);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, crl, FX_NOW), TRIPKI_E_CERT_REVOKED);
	X509_CRL_free(crl);
}

static void
not_revoked(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = issue(k->ca_key, k->ca_cert, k->spare_key, OTHER_ID, 30,
	    FX_NOW - DAY_MS);
	X509_CRL *crl = make_crl(k->ca_key, k->ca_cert, x, FX_NOW,
	    FX_NOW + 30 * DAY_MS);
	X509_CRL *empty = make_crl(k->ca_key, k->ca_cert, NULL, FX_NOW,
	    FX_NOW + 30 * DAY_MS);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, crl, FX_NOW), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, empty, FX_NOW), TRIPKI_OK);
	assert_int_equal(tripki_cert_verify(k->ca_cert, x, OTHER_ID,
	    k->spare_key, crl, FX_NOW), TRIPKI_E_CERT_REVOKED);
	X509_CRL_free(crl);
	X509_CRL_free(empty);
	X509_free(x);
}

/*
 * A CRL the trusted CA did not sign cannot say anything either way: the
 * status is unknown and the certificate is refused.
 */
static void
crl_from_other_ca(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509_CRL *crl = make_crl(k->other_ca_key, k->other_ca_cert, NULL,
	    FX_NOW, FX_NOW + 30 * DAY_MS);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, crl, FX_NOW), TRIPKI_E_CERT_INVALID);
	X509_CRL_free(crl);
}

static void
crl_out_of_date(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509_CRL *crl = make_crl(k->ca_key, k->ca_cert, NULL,
	    FX_NOW - 10 * DAY_MS,
	    FX_NOW - DAY_MS);

	(void)state;
	assert_int_equal(tripki_cert_verify(k->ca_cert, k->server_cert,
	    FX_SERVER_ID, k->server_key, crl, FX_NOW), TRIPKI_E_CERT_INVALID);
	X509_CRL_free(crl);
}

/* ---- Self-signed CA certificates ---- */

static void
selfsign(void **state)
{
	const struct fx_keys *k = fx_keys();
	char cn[TRIPKI_ID_MAX + 1];
	X509 *x = NULL;

	(void)state;
	assert_int_equal(cert_cn(k->ca_cert, cn), TRIPKI_OK);
	assert_string_equal(cn, FX_CA_ID);
	assert_int_equal(X509_check_issued(k->ca_cert, k->ca_cert), X509_V_OK);
	assert_int_equal(tripki_ca_selfsign(k->spare_key, "", 30, FX_NOW, NULL,
	    &x), TRIPKI_E_INVALID);
	assert_int_equal(tripki_ca_selfsign(k->spare_key, "bad\nid", 30, FX_NOW,
	    NULL, &x), TRIPKI_E_INVALID);
	assert_int_equal(tripki_ca_selfsign(k->spare_key, FX_CA_ID, 0, FX_NOW,
	    NULL, &x), TRIPKI_E_INVALID);
	assert_int_equal(tripki_ca_selfsign(k->spare_key, FX_CA_ID, -1, FX_NOW,
	    NULL, &x), TRIPKI_E_INVALID);
	assert_null(x);
}

/* Serial numbers are random, positive and come from the hook. */
static void
serials(void **state)
{
	const struct fx_keys *k = fx_keys();
	uint64_t s1 = 7, s2 = 7;
	tripki_common cm;
	X509 *a = NULL, *b = NULL, *c;
	BIGNUM *bn;

	(void)state;
	memset(&cm, 0, sizeof(cm));
	cm.rand = fx_rand;
	cm.rand_ctx = &s1;
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, k->spare_key,
	    OTHER_ID, 30, FX_NOW, &cm, &a), TRIPKI_OK);
	cm.rand_ctx = &s2;
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, k->spare_key,
	    OTHER_ID, 30, FX_NOW, &cm, &b), TRIPKI_OK);
	c = issue(k->ca_key, k->ca_cert, k->spare_key, OTHER_ID, 30, FX_NOW);
	assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
	    X509_get0_serialNumber(b)), 0);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
	    X509_get0_serialNumber(c)), 0);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	assert_true(BN_num_bits(bn) >= 120 && BN_num_bits(bn) <= 127);
	BN_free(bn);
	X509_free(a);
	X509_free(b);
	X509_free(c);
}

/* ---- PKCS#10 ---- */

static void
csr_round_trip(void **state)
{
	const struct fx_keys *k = fx_keys();
	struct csr *req = NULL;
	tripki_buf der;

	(void)state;
	tripki_buf_init(&der, DER_MAX);
	assert_int_equal(csr_make(k->spare_key, FX_SERVER_ID, &der), TRIPKI_OK);
	assert_int_equal(csr_parse(der.data, der.len, FX_SERVER_ID, &req),
	    TRIPKI_OK);
	assert_int_equal(EVP_PKEY_eq(req->key, k->spare_key), 1);
	csr_free(req);
	tripki_buf_free(&der);
}

static void
csr_wrong_id(void **state)
{
	const struct fx_keys *k = fx_keys();
	struct csr *out = NULL;
	tripki_buf der;

	(void)state;
	tripki_buf_init(&der, DER_MAX);
	assert_int_equal(csr_make(k->spare_key, FX_SERVER_ID, &der), TRIPKI_OK);
	assert_int_equal(csr_parse(der.data, der.len, OTHER_ID, &out),
	    TRIPKI_E_BAD_FIELD);
	assert_int_equal(csr_parse(der.data, der.len, "ID-Serve", &out),
	    TRIPKI_E_BAD_FIELD);
	assert_int_equal(csr_parse(der.data, der.len, "ID-Server ", &out),
	    TRIPKI_E_BAD_FIELD);
	assert_null(out);
	tripki_buf_free(&der);
}

/*
 * A request as OpenSSL's own encoder writes it, with what `openssl req`
 * may add: a multi-valued RDN, PrintableString values, a challenge
 * password and an extension request with a critical extension.
 */
static void
csr_openssl_made_accepted(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509_NAME *name = X509_NAME_new();
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext;
	struct csr *out = NULL;
	uint8_t *der = NULL;
	int len;

	(void)state;
	assert_non_null(name);
	assert_non_null(req);
	assert_non_null(exts);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
	    (const unsigned char *)"US", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"Org", -1, -1, 0), 1);
	/* CN joins the O's RDN: O=Org+CN=ID-Server */
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)FX_SERVER_ID, -1, -1, 1), 1);
	assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k->spare_key), 1);
	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, NULL,
	    NID_subject_alt_name, "DNS:x.example"));
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, NULL,
	    NID_basic_constraints, "critical,CA:FALSE"));
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	    MBSTRING_ASC, (const unsigned char *)"secret", -1), 1);
	assert_true(X509_REQ_sign(req, k->spare_key, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_REQ(req, &der)) > 0);
	assert_int_equal(csr_parse(der, (size_t)len, FX_SERVER_ID, &out),
	    TRIPKI_OK);
	assert_int_equal(EVP_PKEY_eq(out->key, k->spare_key), 1);
	csr_free(out);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
}

/* A request whose key was swapped after signing: no proof of possession. */
static void
csr_bad_signature(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509_NAME *name = X509_NAME_new();
	X509_REQ *req = X509_REQ_new();
	struct csr *out = NULL;
	uint8_t *der = NULL;
	int len;

	(void)state;
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)FX_SERVER_ID, -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k->spare_key), 1);
	assert_true(X509_REQ_sign(req, k->spare_key, EVP_sha256()) > 0);
	assert_int_equal(X509_REQ_set_pubkey(req, k->server_key), 1);
	len = i2d_X509_REQ(req, &der);
	assert_true(len > 0);
	assert_int_equal(csr_parse(der, (size_t)len, FX_SERVER_ID, &out),
	    TRIPKI_E_BAD_FIELD);
	assert_null(out);
	OPENSSL_free(der);
	X509_REQ_free(req);
	X509_NAME_free(name);
}

/* The SPKI taken from a certificate is byte for byte that of its key. */
static void
cert_spki_equals_key_spki(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_buf a, b;

	(void)state;
	fx_buf(&a);
	fx_buf(&b);
	assert_int_equal(cert_spki(k->server_cert, &a), TRIPKI_OK);
	assert_int_equal(key_to_spki(k->server_key, &b), TRIPKI_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	tripki_buf_reset(&a);
	tripki_buf_reset(&b);
	assert_int_equal(cert_spki(k->ca_cert, &a), TRIPKI_OK);
	assert_int_equal(key_to_spki(k->ca_key, &b), TRIPKI_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
}

/* ---- Requests put together by hand, to reach every rule of csr.c ---- */

/* Appends tag, minimal DER length and contents. */
static void
der_put(tripki_buf *b, uint8_t tag, const uint8_t *p, size_t n)
{
	uint8_t h[4];
	size_t hn = 0;

	h[hn++] = tag;
	if (n < 0x80)
		h[hn++] = (uint8_t)n;
	else if (n < 0x100) {
		h[hn++] = 0x81;
		h[hn++] = (uint8_t)n;
	} else {
		h[hn++] = 0x82;
		h[hn++] = (uint8_t)(n >> 8);
		h[hn++] = (uint8_t)n;
	}
	assert_int_equal(buf_put(b, h, hn), TRIPKI_OK);
	assert_int_equal(buf_put(b, p, n), TRIPKI_OK);
}

/* A positive INTEGER from a big-endian magnitude. */
static void
der_uint_put(tripki_buf *b, const uint8_t *mag, size_t n)
{
	uint8_t t[600];

	assert_true(n + 1 <= sizeof(t));
	t[0] = 0;
	memcpy(t + 1, mag, n);
	if (mag[0] & 0x80)
		der_put(b, 0x02, t, n + 1);
	else
		der_put(b, 0x02, mag, n);
}

struct req_parts {
	uint8_t version;
	const uint8_t *e;           /* exponent; NULL: the key's */
	size_t e_len;
	uint8_t unused_bits;        /* of the key's BIT STRING */
	int attrs;                  /* 0 none, 1 empty, 2 one attribute */
	int sig_alg;                /* 0 with NULL, 1 without, 2 SHA-1 */
	int flip_sig;               /* spoil the signature */
	int even_n;                 /* clear the modulus' low bit */
	const uint8_t *subj;        /* the Name's bytes; NULL: i2d's */
	size_t subj_len;
	const uint8_t *attr;        /* the [0]'s contents, when attrs is 3 */
	size_t attr_len;
};

/* The request for spare_key and FX_SERVER_ID, as p describes it. */
static void
make_req(const struct req_parts *p, tripki_buf *out)
{
	static const uint8_t alg_rsa[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	    0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
	static const uint8_t sig_null[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	    0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00 };
	static const uint8_t sha1[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	    0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00 };
	/* challengePassword "x", an attribute csr.c must pass over */
	static const uint8_t attr[] = { 0x30, 0x10, 0x06, 0x09, 0x2a, 0x86,
	    0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07, 0x31, 0x03, 0x0c, 0x01,
	    'x' };
	EVP_PKEY *k = fx_keys()->spare_key;
	tripki_buf rsa, bits, spki, info, tbs, sig, body, t;
	X509_NAME *name = X509_NAME_new();
	uint8_t nb[512], eb[8], *nd = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int nl, el, dl;

	tripki_buf_init(&rsa, DER_MAX);
	tripki_buf_init(&bits, DER_MAX);
	tripki_buf_init(&spki, DER_MAX);
	tripki_buf_init(&info, DER_MAX);
	tripki_buf_init(&tbs, DER_MAX);
	tripki_buf_init(&sig, DER_MAX);
	tripki_buf_init(&body, DER_MAX);
	tripki_buf_init(&t, DER_MAX);
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	nl = BN_bn2bin(n, nb);
	el = BN_bn2bin(e, eb);
	if (p->even_n)
		nb[nl - 1] &= 0xfe;
	der_uint_put(&t, nb, (size_t)nl);
	if (p->e != NULL)
		der_put(&t, 0x02, p->e, p->e_len);
	else
		der_uint_put(&t, eb, (size_t)el);
	der_put(&rsa, 0x30, t.data, t.len);
	assert_int_equal(buf_u8(&bits, p->unused_bits), TRIPKI_OK);
	assert_int_equal(buf_put(&bits, rsa.data, rsa.len), TRIPKI_OK);
	tripki_buf_reset(&t);
	der_put(&t, 0x30, alg_rsa, sizeof(alg_rsa));
	der_put(&t, 0x03, bits.data, bits.len);
	der_put(&spki, 0x30, t.data, t.len);

	der_put(&info, 0x02, &p->version, 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)FX_SERVER_ID, -1, -1, 0), 1);
	assert_true((dl = i2d_X509_NAME(name, &nd)) > 0);
	if (p->subj != NULL)
		assert_int_equal(buf_put(&info, p->subj, p->subj_len), TRIPKI_OK);
	else
		assert_int_equal(buf_put(&info, nd, (size_t)dl), TRIPKI_OK);
	assert_int_equal(buf_put(&info, spki.data, spki.len), TRIPKI_OK);
	if (p->attrs == 1)
		der_put(&info, 0xa0, NULL, 0);
	else if (p->attrs == 2)
		der_put(&info, 0xa0, attr, sizeof(attr));
	else if (p->attrs == 3)
		der_put(&info, 0xa0, p->attr, p->attr_len);
	der_put(&tbs, 0x30, info.data, info.len);

	assert_int_equal(sign_sha256(k, tbs.data, tbs.len, &sig), TRIPKI_OK);
	if (p->flip_sig)
		sig.data[sig.len / 2] ^= 1;
	assert_int_equal(buf_put(&body, tbs.data, tbs.len), TRIPKI_OK);
	if (p->sig_alg == 0)
		der_put(&body, 0x30, sig_null, sizeof(sig_null));
	else if (p->sig_alg == 1)
		der_put(&body, 0x30, sig_null, sizeof(sig_null) - 2);
	else
		der_put(&body, 0x30, sha1, sizeof(sha1));
	tripki_buf_reset(&t);
	assert_int_equal(buf_u8(&t, 0), TRIPKI_OK);
	assert_int_equal(buf_put(&t, sig.data, sig.len), TRIPKI_OK);
	der_put(&body, 0x03, t.data, t.len);
	tripki_buf_reset(out);
	der_put(out, 0x30, body.data, body.len);

	OPENSSL_free(nd);
	X509_NAME_free(name);
	BN_free(n);
	BN_free(e);
	tripki_buf_free(&rsa);
	tripki_buf_free(&bits);
	tripki_buf_free(&spki);
	tripki_buf_free(&info);
	tripki_buf_free(&tbs);
	tripki_buf_free(&sig);
	tripki_buf_free(&body);
	tripki_buf_free(&t);
}

static int parse_req(const struct req_parts *p);

/* Attribute { 1.2.840.113549.1.9.<arc>, SET { v } } appended to b. */
static void
attr_put(tripki_buf *b, uint8_t arc, const uint8_t *v, size_t n)
{
	const uint8_t oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	    0x09, arc };
	tripki_buf t, set;

	tripki_buf_init(&t, DER_MAX);
	tripki_buf_init(&set, DER_MAX);
	der_put(&t, 0x06, oid, sizeof(oid));
	der_put(&set, 0x31, v, n);
	assert_int_equal(buf_put(&t, set.data, set.len), TRIPKI_OK);
	der_put(b, 0x30, t.data, t.len);
	tripki_buf_free(&t);
	tripki_buf_free(&set);
}

/* parse_req with the one attribute { arc, SET { v } }. */
static int
parse_req_attr(uint8_t arc, const uint8_t *v, size_t n)
{
	struct req_parts p = { .attrs = 3 };
	tripki_buf b;
	int r;

	tripki_buf_init(&b, DER_MAX);
	attr_put(&b, arc, v, n);
	p.attr = b.data;
	p.attr_len = b.len;
	r = parse_req(&p);
	tripki_buf_free(&b);
	return r;
}

static int
parse_req(const struct req_parts *p)
{
	struct csr *c = NULL;
	tripki_buf b;
	int r;

	tripki_buf_init(&b, DER_MAX);
	make_req(p, &b);
	r = csr_parse(b.data, b.len, FX_SERVER_ID, &c);
	if (r == TRIPKI_OK)
		assert_int_equal(EVP_PKEY_eq(c->key, fx_keys()->spare_key), 1);
	else
		assert_null(c);
	csr_free(c);
	tripki_buf_free(&b);
	return r;
}

/*
 * Strict DER, one shape: what csr.c takes and what it refuses, each
 * with its code.
 */
static void
csr_strict_der(void **state)
{
	static const uint8_t e_even[] = { 0x01, 0x00, 0x00 };
	static const uint8_t e_one[] = { 0x01 };
	static const uint8_t e_big[] = { 0x01, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t e_neg[] = { 0x81, 0x00, 0x01 };
	static const uint8_t e_pad[] = { 0x00, 0x01, 0x00, 0x01 };
#define CN_ATV	0x30, 0x10, 0x06, 0x03, 0x55, 0x04, 0x03, \
		0x0c, 0x09, 'I', 'D', '-', 'S', 'e', 'r', 'v', 'e', 'r'
	static const uint8_t subj_ok[] = { 0x30, 0x14, 0x31, 0x12, CN_ATV };
	static const uint8_t subj_long[] = { 0x30, 0x81, 0x14, 0x31, 0x12,
	    CN_ATV };
	static const uint8_t subj_cons[] = { 0x30, 0x16, 0x31, 0x14, 0x30,
	    0x12, 0x06, 0x03, 0x55, 0x04, 0x03, 0x2c, 0x0b, 0x0c, 0x09, 'I',
	    'D', '-', 'S', 'e', 'r', 'v', 'e', 'r' };
#undef CN_ATV
	/* challengePassword "x" (1.2.840.113549.1.9.7), unstructuredName
	 * "y" (...9.2): 9.2 sorts first. */
#define ATTR(last, v) 0x30, 0x10, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, \
		0xf7, 0x0d, 0x01, 0x09, last, 0x31, 0x03, 0x0c, 0x01, v
	static const uint8_t attr_two[] = { ATTR(0x02, 'y'), ATTR(0x07, 'x') };
	static const uint8_t attr_unsorted[] = { ATTR(0x07, 'x'),
	    ATTR(0x02, 'y') };
	static const uint8_t attr_indef[] = { 0x30, 0x80, 0x06, 0x09, 0x2a,
	    0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07, 0x31, 0x03, 0x0c,
	    0x01, 'x', 0x00, 0x00 };
#undef ATTR
	const struct req_parts ok = { .attrs = 1 };
	struct req_parts p;
	struct csr *c = NULL;
	tripki_buf b, d;

	(void)state;
	/* The shape csr_make gives, and the variants the rules allow. */
	assert_int_equal(parse_req(&ok), TRIPKI_OK);
	p = ok;
	p.sig_alg = 1;              /* no parameters: RFC 4055 allows it */
	assert_int_equal(parse_req(&p), TRIPKI_OK);
	p = ok;
	p.attrs = 2;                /* attributes are passed over */
	assert_int_equal(parse_req(&p), TRIPKI_OK);

	/* Refused. */
	p = ok;
	p.version = 1;
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.attrs = 0;                /* the [0] field is not optional */
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.sig_alg = 2;              /* SHA-1 */
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.flip_sig = 1;
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.unused_bits = 1;
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.e = e_even;
	p.e_len = sizeof(e_even);
	assert_int_equal(parse_req(&p), TRIPKI_E_KEY);
	p.e = e_one;
	p.e_len = sizeof(e_one);
	assert_int_equal(parse_req(&p), TRIPKI_E_KEY);
	p.e = e_big;
	p.e_len = sizeof(e_big);
	assert_int_equal(parse_req(&p), TRIPKI_E_KEY);
	p.e = e_neg;                /* negative */
	p.e_len = sizeof(e_neg);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p.e = e_pad;                /* not minimal */
	p.e_len = sizeof(e_pad);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);

	p = ok;
	p.even_n = 1;               /* no RSA modulus is even */
	assert_int_equal(parse_req(&p), TRIPKI_E_KEY);

	/* The subject and the attributes are DER all the way down. */
	p = ok;
	p.subj = subj_ok;           /* written by hand, as i2d writes it */
	p.subj_len = sizeof(subj_ok);
	assert_int_equal(parse_req(&p), TRIPKI_OK);
	p.subj = subj_long;         /* 30 81 14: long form where short fits */
	p.subj_len = sizeof(subj_long);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p.subj = subj_cons;         /* the CN as a constructed UTF8String */
	p.subj_len = sizeof(subj_cons);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p = ok;
	p.attrs = 3;
	p.attr = attr_two;          /* two attributes, in DER's order */
	p.attr_len = sizeof(attr_two);
	assert_int_equal(parse_req(&p), TRIPKI_OK);
	p.attr = attr_unsorted;     /* the same two, out of order */
	p.attr_len = sizeof(attr_unsorted);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	p.attr = attr_indef;        /* an indefinite length inside */
	p.attr_len = sizeof(attr_indef);
	assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);

	/* Primitive values in their one DER form, in the attributes too. */
	{
		static const uint8_t bool_ff[] = { 0x01, 0x01, 0xff };
		static const uint8_t bool_01[] = { 0x01, 0x01, 0x01 };
		static const uint8_t int_pad[] = { 0x02, 0x02, 0x00, 0x01 };
		static const uint8_t int_ff[] = { 0x02, 0x02, 0xff, 0x80 };
		static const uint8_t null_1[] = { 0x05, 0x01, 0x00 };
		static const uint8_t oid_pad[] = { 0x06, 0x03, 0x2a, 0x80, 0x01 };
		static const uint8_t bits_8[] = { 0x03, 0x02, 0x08, 0x00 };
		static const uint8_t eoc[] = { 0x00, 0x00 };
		static const uint8_t seq_prim[] = { 0x10, 0x00 };
		/* [0] IMPLICIT SEQUENCE { 5, 1 }: not a SET, any order */
		static const uint8_t ctx_seq[] = { 0x30, 0x08, 0xa0, 0x06, 0x02,
		    0x01, 0x05, 0x02, 0x01, 0x01 };
		static const uint8_t not_attr[] = { 0x04, 0x01, 0x00 };

		assert_int_equal(parse_req_attr(7, bool_ff, sizeof(bool_ff)),
		    TRIPKI_OK);
		assert_int_equal(parse_req_attr(7, ctx_seq, sizeof(ctx_seq)),
		    TRIPKI_OK);
		assert_int_equal(parse_req_attr(7, bool_01, sizeof(bool_01)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, int_pad, sizeof(int_pad)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, int_ff, sizeof(int_ff)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, null_1, sizeof(null_1)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, oid_pad, sizeof(oid_pad)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, bits_8, sizeof(bits_8)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, eoc, sizeof(eoc)),
		    TRIPKI_E_BAD_FIELD);
		assert_int_equal(parse_req_attr(7, seq_prim, sizeof(seq_prim)),
		    TRIPKI_E_BAD_FIELD);
		p = ok;
		p.attrs = 3;            /* an element that is no Attribute */
		p.attr = not_attr;
		p.attr_len = sizeof(not_attr);
		assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	}
	/* The subject's values are strings; the CN a UTF8 or Printable one. */
	{
#define NAME1(t, ...) 0x30, 0x14, 0x31, 0x12, 0x30, 0x10, 0x06, 0x03, \
		0x55, 0x04, 0x03, t, 0x09, 'I', 'D', '-', 'S', 'e', 'r', 'v', \
		'e', 'r'
		static const uint8_t cn_printable[] = { NAME1(0x13) };
		static const uint8_t cn_t61[] = { NAME1(0x14) };
		static const uint8_t cn_octets[] = { NAME1(0x04) };
#undef NAME1
		/* CN, and an O whose value is a SEQUENCE */
		static const uint8_t o_seq[] = { 0x30, 0x22, 0x31, 0x12, 0x30,
		    0x10, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09, 'I', 'D', '-',
		    'S', 'e', 'r', 'v', 'e', 'r', 0x31, 0x0c, 0x30, 0x0a, 0x06,
		    0x03, 0x55, 0x04, 0x0a, 0x30, 0x03, 0x0c, 0x01, 'o' };

		p = ok;
		p.subj = cn_printable;
		p.subj_len = sizeof(cn_printable);
		assert_int_equal(parse_req(&p), TRIPKI_OK);
		p.subj = cn_t61;
		p.subj_len = sizeof(cn_t61);
		assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
		p.subj = cn_octets;
		p.subj_len = sizeof(cn_octets);
		assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
		p.subj = o_seq;
		p.subj_len = sizeof(o_seq);
		assert_int_equal(parse_req(&p), TRIPKI_E_BAD_FIELD);
	}

	/* Lengths: long form where the short one fits, and indefinite. */
	tripki_buf_init(&b, DER_MAX);
	tripki_buf_init(&d, DER_MAX);
	make_req(&ok, &b);
	assert_int_equal(b.data[1], 0x82);
	assert_int_equal(buf_u8(&d, 0x30), TRIPKI_OK);
	assert_int_equal(buf_u8(&d, 0x83), TRIPKI_OK);
	assert_int_equal(buf_u8(&d, 0x00), TRIPKI_OK);
	assert_int_equal(buf_put(&d, b.data + 2, b.len - 2), TRIPKI_OK);
	assert_int_equal(csr_parse(d.data, d.len, FX_SERVER_ID, &c),
	    TRIPKI_E_BAD_FIELD);
	d.data[1] = 0x80;
	assert_int_equal(csr_parse(d.data, d.len, FX_SERVER_ID, &c),
	    TRIPKI_E_BAD_FIELD);
	/* The first inner SEQUENCE's length made one byte longer. */
	tripki_buf_reset(&d);
	assert_int_equal(buf_put(&d, b.data, b.len), TRIPKI_OK);
	assert_int_equal(d.data[4], 0x30);
	d.data[7]++;
	assert_int_equal(csr_parse(d.data, d.len, FX_SERVER_ID, &c),
	    TRIPKI_E_BAD_FIELD);
	assert_null(c);
	tripki_buf_free(&b);
	tripki_buf_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_certificate),
		cmocka_unit_test(cert_spki_equals_key_spki),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(other_ca_same_name),
		cmocka_unit_test(forged_signature),
		cmocka_unit_test(no_key_identifier),
		cmocka_unit_test(other_ca_name),
		cmocka_unit_test(issued_by_end_entity),
		cmocka_unit_test(self_signed_leaf),
		cmocka_unit_test(expired),
		cmocka_unit_test(not_yet_valid),
		cmocka_unit_test(fresh_certificate_valid_within_skew),
		cmocka_unit_test(wrong_subject),
		cmocka_unit_test(two_common_names),
		cmocka_unit_test(version_one_refused),
		cmocka_unit_test(wrong_key),
		cmocka_unit_test(weak_key_refused),
		cmocka_unit_test(check_order),
		cmocka_unit_test(revoked),
		cmocka_unit_test(not_revoked),
		cmocka_unit_test(crl_from_other_ca),
		cmocka_unit_test(crl_out_of_date),
		cmocka_unit_test(selfsign),
		cmocka_unit_test(serials),
		cmocka_unit_test(csr_round_trip),
		cmocka_unit_test(csr_wrong_id),
		cmocka_unit_test(csr_bad_signature),
		cmocka_unit_test(csr_strict_der),
		cmocka_unit_test(csr_openssl_made_accepted),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
