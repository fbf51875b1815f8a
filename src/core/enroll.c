/*
 * The application server's side of phase 1: it asks the CA for a key pair
 * and certificate (seed mode) or for a certificate on its own key (CSR
 * mode), and accepts nothing it cannot verify with the CA certificate.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "msg.h"

enum { E_IDLE, E_WAIT_M2, E_DONE, E_FAILED };

struct tripki_enroll {
	int state;
	char id[TRIPKI_ID_MAX + 1];
	char ca_id[TRIPKI_ID_MAX + 1];
	X509 *ca_cert;
	int bits;
	EVP_PKEY *csr_key;
	const uint8_t *csr;        /* made by the caller; NULL: made for M1 */
	size_t csr_len;
	EVP_PKEY *renew_key;
	X509 *renew_cert;
	uint8_t token[TRIPKI_TOKEN_MAX];
	size_t token_len;
	uint8_t k[TRIPKI_KEY_LEN]; /* K_tmp1 */
	EVP_PKEY *key;
	X509 *cert;
	int peer_err;
	int64_t skew;
	tripki_common cm;
};

int
tripki_enroll_new(const tripki_enroll_config *cfg, tripki_enroll **out)
{
	tripki_enroll *e;
	char cn[TRIPKI_ID_MAX + 1];

	if (cfg == NULL || cfg->id == NULL || cfg->ca_cert == NULL ||
	    !tripki_id_valid(cfg->id, strlen(cfg->id)) ||
	    cfg->token_len > TRIPKI_TOKEN_MAX ||
	    (cfg->renew_key == NULL) != (cfg->renew_cert == NULL) ||
	    (cfg->csr_key != NULL && !key_bits_ok(cfg->csr_key)) ||
	    (cfg->csr != NULL && (cfg->csr_key == NULL || cfg->csr_len == 0 ||
	    cfg->csr_len > DER_MAX)) ||
	    (cfg->bits != 0 && cfg->bits != 2048 && cfg->bits != 3072 &&
	    cfg->bits != 4096))
		return TRIPKI_E_INVALID;
	if (cert_cn(cfg->ca_cert, cn) != TRIPKI_OK ||
	    (cfg->ca_id != NULL && strcmp(cn, cfg->ca_id) != 0))
		return TRIPKI_E_CERT_SUBJECT;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return TRIPKI_E_NOMEM;
	strcpy(e->id, cfg->id);
	strcpy(e->ca_id, cn);
	X509_up_ref(cfg->ca_cert);
	e->ca_cert = cfg->ca_cert;
	e->bits = cfg->bits ? cfg->bits : 2048;
	if ((e->csr_key = cfg->csr_key) != NULL)
		EVP_PKEY_up_ref(e->csr_key);
	e->csr = cfg->csr;
	e->csr_len = cfg->csr_len;
	if ((e->renew_key = cfg->renew_key) != NULL) {
		EVP_PKEY_up_ref(e->renew_key);
		X509_up_ref(cfg->renew_cert);
		e->renew_cert = cfg->renew_cert;
	}
	if (cfg->token_len > 0)
		memcpy(e->token, cfg->token, cfg->token_len);
	e->token_len = cfg->token_len;
	e->cm = cfg->common;
	*out = e;
	return TRIPKI_OK;
}

int
tripki_csr_make(EVP_PKEY *k, const char *id, tripki_buf *der)
{
	if (k == NULL || id == NULL || der == NULL || !key_bits_ok(k) ||
	    !tripki_id_valid(id, strlen(id)))
		return TRIPKI_E_INVALID;
	return csr_make(k, id, der);
}

void
tripki_enroll_free(tripki_enroll *e)
{
	if (e == NULL)
		return;
	X509_free(e->ca_cert);
	EVP_PKEY_free(e->csr_key);
	EVP_PKEY_free(e->renew_key);
	X509_free(e->renew_cert);
	EVP_PKEY_free(e->key);
	X509_free(e->cert);
	OPENSSL_cleanse(e, sizeof(*e));
	free(e);
}

int
tripki_enroll_start(tripki_enroll *e, int64_t now_ms, tripki_buf *out)
{
	tripki_buf prefix, pt, csr, rcert, rsig, t;
	char ts[40], hx[80];
	struct m1 m;
	int r;

	if (e->state == E_WAIT_M2 || e->state == E_DONE)
		return TRIPKI_E_STATE;
	tripki_buf_init(&prefix, 1024);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	tripki_buf_init(&csr, DER_MAX);
	tripki_buf_init(&rcert, DER_MAX);
	tripki_buf_init(&rsig, 1024);
	tripki_buf_init(&t, 1024);
	memset(&m, 0, sizeof(m));
	GUARD(rand_bytes(&e->cm, e->k, sizeof(e->k)));
	m.ts = now_ms;
	strcpy(m.id, e->id);
	m.token = e->token;
	m.token_len = e->token_len;
	if (e->csr_key != NULL) {
		m.mode = MODE_CSR;
		if (e->csr != NULL) {
			m.csr = e->csr;
			m.csr_len = e->csr_len;
		} else {
			GUARD(csr_make(e->csr_key, e->id, &csr));
			m.csr = csr.data;
			m.csr_len = csr.len;
		}
	} else {
		m.mode = MODE_SEED;
		m.bits = (uint16_t)e->bits;
	}
	if (e->renew_key != NULL) {
		GUARD(cert_to_der(e->renew_cert, &rcert));
		GUARD(renew_transcript(e->k, m.ts, m.id, &t));
		GUARD(sign_sha256(e->renew_key, t.data, t.len, &rsig));
		m.rcert = rcert.data;
		m.rcert_len = rcert.len;
		m.rsig = rsig.data;
		m.rsig_len = rsig.len;
	}
	GUARD(m1_encode(&pt, &m));
	GUARD(wrap_prefix(X509_get0_pubkey(e->ca_cert), OAEP_LABEL_M1, e->k,
	    &prefix));
	tripki_buf_reset(out);
	GUARD(seal_frame(out, TRIPKI_M1, e->k, DIR_REQUEST, 0, prefix.data,
	    prefix.len, pt.data, pt.len));
	TRACE(&e->cm, "S -> M1   K_tmp1=%s ID_S=%s TS1=%s",
	    trace_hex(&e->cm, hx, sizeof(hx), e->k, sizeof(e->k), true), e->id,
	    trace_time(ts, sizeof(ts), now_ms));
	TRACE(&e->cm, "          mode=%s token=%s%s (RSA-OAEP to PK_CA, %zu bytes)",
	    m.mode == MODE_CSR ? "csr" : "seed", e->token_len ? "yes" : "none",
	    e->renew_key ? " renewal=signed" : "", out->len);
	e->state = E_WAIT_M2;
	r = TRIPKI_OK;
out:
	if (r != TRIPKI_OK)
		OPENSSL_cleanse(e->k, sizeof(e->k));
	tripki_buf_free(&prefix);
	tripki_buf_free(&pt);
	tripki_buf_free(&csr);
	tripki_buf_free(&rcert);
	tripki_buf_free(&rsig);
	tripki_buf_free(&t);
	return r;
}

static int
accept_m2(tripki_enroll *e, const struct m2 *m, int64_t now)
{
	EVP_PKEY *pub = NULL, *priv = NULL;
	X509 *cert = NULL;
	int r;

	GUARD(fresh_check(m->ts, now, skew_ms(&e->cm), &e->skew));
	if (strcmp(m->id, e->id) != 0) {
		r = TRIPKI_E_ID_MISMATCH;
		goto out;
	}
	GUARD(cert_from_der(m->cert, m->cert_len, &cert));
	GUARD(tripki_cert_verify(e->ca_cert, cert, e->id, NULL, NULL, now));
	GUARD(cert_spki_is(cert, m->pk, m->pk_len));
	pub = X509_get0_pubkey(cert);   /* decoded by d2i_X509 already */
	if (e->csr_key != NULL) {
		if (m->sk_len != 0) {
			r = TRIPKI_E_BAD_FIELD;
			goto out;
		}
		if (EVP_PKEY_eq(pub, e->csr_key) != 1) {
			r = TRIPKI_E_CERT_KEY;
			goto out;
		}
		EVP_PKEY_up_ref(e->csr_key);
		priv = e->csr_key;
	} else {
		GUARD(key_from_pkcs8(m->sk, m->sk_len, &priv));
		if (EVP_PKEY_get_bits(priv) != e->bits) {
			r = TRIPKI_E_KEY;
			goto out;
		}
		if (EVP_PKEY_eq(pub, priv) != 1) {
			r = TRIPKI_E_CERT_KEY;
			goto out;
		}
	}
	e->key = priv;
	e->cert = cert;
	priv = NULL;
	cert = NULL;
	r = TRIPKI_OK;
out:
	EVP_PKEY_free(priv);
	X509_free(cert);
	return r;
}

int
tripki_enroll_recv(tripki_enroll *e, const uint8_t *frame, size_t len,
    int64_t now_ms)
{
	char ts[40], cn[TRIPKI_ID_MAX + 1];
	struct m2 m;
	tripki_buf pt;
	uint8_t type;
	rd body;
	int r;

	if (e->state != E_WAIT_M2)
		return TRIPKI_E_STATE;
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	GUARD(frame_open(frame, len, &type, &body));
	if (type == TRIPKI_MERROR) {
		GUARD(tripki_frame_error_code(frame, len, &e->peer_err));
		r = TRIPKI_E_PEER;
		goto out;
	}
	if (type != TRIPKI_M2) {
		r = TRIPKI_E_UNEXPECTED;
		goto out;
	}
	GUARD(open_frame(frame, len, 0, e->k, DIR_RESPONSE, 0, &pt));
	GUARD(m2_decode(pt.data, pt.len, &m));
	TRACE(&e->cm, "S <- M2   ID_S=%s TS2=%s Cert_S=%zu bytes SK_S=%s",
	    m.id, trace_time(ts, sizeof(ts), m.ts), m.cert_len,
	    m.sk_len ? "<redacted>" : "(kept locally: CSR mode)");
	GUARD(accept_m2(e, &m, now_ms));
	(void)cert_cn(e->cert, cn);
	TRACE(&e->cm, "          Cert_S verified with the CA certificate "
	    "(issuer %s, subject %s)", e->ca_id, cn);
	e->state = E_DONE;
	r = TRIPKI_OK;
out:
	if (r != TRIPKI_OK)
		e->state = E_FAILED;
	OPENSSL_cleanse(e->k, sizeof(e->k));
	tripki_buf_free(&pt);
	return r;
}

EVP_PKEY *
tripki_enroll_key(tripki_enroll *e)
{
	if (e->key != NULL)
		EVP_PKEY_up_ref(e->key);
	return e->key;
}

X509 *
tripki_enroll_cert(tripki_enroll *e)
{
	if (e->cert != NULL)
		X509_up_ref(e->cert);
	return e->cert;
}

int64_t
tripki_enroll_skew(const tripki_enroll *e)
{
	return e->skew;
}

int
tripki_enroll_peer_error(const tripki_enroll *e)
{
	return e->peer_err;
}
