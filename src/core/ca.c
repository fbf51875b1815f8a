/*
 * The certificate authority's side of phase 1: M1 in, M2 out.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "msg.h"

struct tripki_ca {
	char id[TRIPKI_ID_MAX + 1];
	EVP_PKEY *key;
	rsa_dec *dec;               /* the key, for M1 */
	X509 *cert;
	uint32_t cert_days;
	replay *rc;
	tripki_ca_config cfg; /* callbacks and common knobs */
};

struct tripki_ca_req {
	int err;
	uint8_t fp[DIGEST_LEN];
	uint8_t k[TRIPKI_KEY_LEN];  /* K_tmp1 */
	tripki_buf pt;              /* M1 plaintext; m points into it */
	struct m1 m;
	struct csr *csr;            /* CSR mode: the checked request */
	X509 *rcert;
	int checked;                /* tripki_ca_check passed */
	X509 *cert;                 /* made by tripki_ca_sign */
	tripki_buf m2;              /* sealed by tripki_ca_sign */
};

int
tripki_ca_new(const tripki_ca_config *cfg, tripki_ca **out)
{
	tripki_ca *ca;
	int r;

	if (cfg == NULL || cfg->key == NULL || cfg->cert == NULL ||
	    cfg->id == NULL || !key_bits_ok(cfg->key))
		return TRIPKI_E_INVALID;
	if (X509_check_private_key(cfg->cert, cfg->key) != 1)
		return TRIPKI_E_KEY;
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return TRIPKI_E_NOMEM;
	ca->cfg = *cfg;
	GUARD(cert_cn(cfg->cert, ca->id));
	if (strcmp(ca->id, cfg->id) != 0) {
		r = TRIPKI_E_CERT_SUBJECT;
		goto out;
	}
	GUARD(replay_new(cfg->replay_max, &ca->rc));
	GUARD(rsa_dec_new(cfg->key, OAEP_LABEL_M1, &ca->dec));
	EVP_PKEY_up_ref(cfg->key);
	X509_up_ref(cfg->cert);
	ca->key = cfg->key;
	ca->cert = cfg->cert;
	ca->cert_days = cfg->cert_days ? cfg->cert_days : DEFAULT_CERT_DAYS;
	*out = ca;
	return TRIPKI_OK;
out:
	tripki_ca_free(ca);
	return r;
}

void
tripki_ca_free(tripki_ca *ca)
{
	if (ca == NULL)
		return;
	replay_free(ca->rc);
	rsa_dec_free(ca->dec);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca);
}

int64_t
tripki_ca_req_ts(const tripki_ca_req *req)
{
	return req != NULL && req->err == TRIPKI_OK ? req->m.ts : 0;
}

void
tripki_ca_req_free(tripki_ca_req *req)
{
	if (req == NULL)
		return;
	tripki_buf_free(&req->pt);
	csr_free(req->csr);
	X509_free(req->rcert);
	X509_free(req->cert);
	tripki_buf_free(&req->m2);
	OPENSSL_cleanse(req->k, sizeof(req->k));
	free(req);
}

/* What a renewal signature covers: it binds this very exchange. */
int
renew_transcript(const uint8_t k[static TRIPKI_KEY_LEN], int64_t ts,
    const char *id, tripki_buf *t)
{
	int r;

	GUARD(buf_put(t, "tripki renew v1", 15));
	GUARD(buf_put(t, k, TRIPKI_KEY_LEN));
	GUARD(buf_u64(t, (uint64_t)ts));
	GUARD(buf_id(t, id));
out:
	return r;
}

static int
check_renewal(tripki_ca_req *q)
{
	tripki_buf t;
	int r;

	tripki_buf_init(&t, 512);
	GUARD(cert_from_der(q->m.rcert, q->m.rcert_len, &q->rcert));
	GUARD(renew_transcript(q->k, q->m.ts, q->m.id, &t));
	GUARD(verify_sha256(X509_get0_pubkey(q->rcert), t.data, t.len,
	    q->m.rsig, q->m.rsig_len));
out:
	tripki_buf_free(&t);
	return r == TRIPKI_E_BAD_FIELD || r == TRIPKI_E_TRAILING ?
	    TRIPKI_E_NOT_AUTHORIZED : r;
}

int
tripki_ca_open(const tripki_ca *ca, const uint8_t *frame, size_t len,
    tripki_ca_req **out)
{
	tripki_ca_req *q;
	size_t plen;
	uint8_t type;
	rd body;
	int r;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return TRIPKI_E_NOMEM;
	*out = q;
	tripki_buf_init(&q->pt, TRIPKI_FRAME_MAX);
	GUARD(frame_open(frame, len, &type, &body));
	if (type != TRIPKI_M1) {
		/* An error frame is never answered. */
		r = type == TRIPKI_MERROR ? TRIPKI_E_PEER : TRIPKI_E_UNEXPECTED;
		goto out;
	}
	GUARD(digest16(frame, len, q->fp));
	GUARD(unwrap_prefix(ca->dec, &body, &plen, q->k));
	GUARD(open_frame(frame, len, plen, q->k, DIR_REQUEST, 0, &q->pt));
	GUARD(m1_decode(q->pt.data, q->pt.len, &q->m));
	if (q->m.mode == MODE_CSR)
		GUARD(csr_parse(q->m.csr, q->m.csr_len, q->m.id, &q->csr));
	if (q->m.rcert_len > 0)
		GUARD(check_renewal(q));
out:
	q->err = r;
	return r;
}

static void
trace_m1(const tripki_ca *ca, const tripki_ca_req *q, int64_t now)
{
	const tripki_common *cm = &ca->cfg.common;
	char k[80], ts[40], tok[160];

	TRACE(cm, "CA <- M1  K_tmp1=%s ID_S=%s TS1=%s (age %lld ms)",
	    trace_hex(cm, k, sizeof(k), q->k, TRIPKI_KEY_LEN, true), q->m.id,
	    trace_time(ts, sizeof(ts), q->m.ts), (long long)(now - q->m.ts));
	TRACE(cm, "          mode=%s%s token=%s%s",
	    q->m.mode == MODE_CSR ? "csr" : "seed",
	    q->m.mode == MODE_CSR ? "" : (q->m.bits == 2048 ? " bits=2048" :
	    q->m.bits == 3072 ? " bits=3072" : " bits=4096"),
	    q->m.token_len ? trace_hex(cm, tok, sizeof(tok), q->m.token,
	    q->m.token_len, true) : "none",
	    q->m.rcert_len ? " renewal=signed" : "");
}

/*
 * Step 2, on the caller's one thread: freshness, the replay cache, the
 * renewal certificate and the policy.  Nothing is made yet.
 */
int
tripki_ca_check(tripki_ca *ca, tripki_ca_req *q, int64_t now_ms,
    const char *peer)
{
	const tripki_common *cm = &ca->cfg.common;
	tripki_issue_info info;
	int r;

	if (q == NULL)
		return TRIPKI_E_NOMEM;
	if ((r = q->err) != TRIPKI_OK)
		return r;
	trace_m1(ca, q, now_ms);
	GUARD(fresh_check_start(cm, q->m.ts, now_ms, NULL));
	/* Remembered until TS1 itself goes stale, that instant included. */
	GUARD(replay_check_add(ca->rc, q->fp, now_ms, q->m.ts + skew_ms(cm) + 1));
	if (q->rcert != NULL && tripki_cert_verify(ca->cert, q->rcert, q->m.id,
	    NULL, NULL, now_ms) != TRIPKI_OK) {
		r = TRIPKI_E_NOT_AUTHORIZED;
		goto out;
	}
	memset(&info, 0, sizeof(info));
	info.id = q->m.id;
	info.token = q->m.token;
	info.token_len = q->m.token_len;
	info.csr = q->m.mode == MODE_CSR;
	info.renew_cert = q->rcert;
	info.peer = peer;
	if (ca->cfg.authorize != NULL)
		r = ca->cfg.authorize(ca->cfg.authorize_ctx, &info, now_ms);
out:
	q->err = r;
	if (r == TRIPKI_OK)
		q->checked = 1;
	return r;
}

/*
 * Step 3, thread-safe: the key pair (seed mode), the certificate and the
 * sealed M2, kept in the request.  Only reads the CA object; the keygen
 * hook must be thread-safe if this runs on several threads.
 */
int
tripki_ca_sign(const tripki_ca *ca, tripki_ca_req *q, int64_t now_ms)
{
	const tripki_common *cm = &ca->cfg.common;
	tripki_buf pk, der, sk, pt;
	EVP_PKEY *key = NULL;
	char ts[40], hx[80];
	struct m2 m2;
	int r;

	if (q == NULL)
		return TRIPKI_E_NOMEM;
	if ((r = q->err) != TRIPKI_OK)
		return r;
	if (!q->checked)
		return q->err = TRIPKI_E_STATE;
	tripki_buf_init(&pk, DER_MAX);
	tripki_buf_init(&der, DER_MAX);
	tripki_buf_init(&sk, DER_MAX);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	if (q->csr != NULL)
		GUARD(cert_issue_csr(ca->key, ca->cert, q->csr, q->m.id,
		    ca->cert_days, now_ms, cm, &q->cert));
	else {
		if (ca->cfg.keygen != NULL)
			GUARD(ca->cfg.keygen(ca->cfg.keygen_ctx, q->m.bits, &key));
		else
			GUARD(tripki_key_generate(q->m.bits, &key));
		GUARD(cert_issue(ca->key, ca->cert, key, q->m.id,
		    ca->cert_days, now_ms, cm, &q->cert));
	}
	GUARD(cert_spki(q->cert, &pk));
	GUARD(cert_to_der(q->cert, &der));
	if (q->m.mode == MODE_SEED)
		GUARD(key_to_pkcs8(key, &sk));
	memset(&m2, 0, sizeof(m2));
	m2.ts = now_ms;
	memcpy(m2.id, q->m.id, sizeof(m2.id));
	m2.pk = pk.data;
	m2.pk_len = pk.len;
	m2.cert = der.data;
	m2.cert_len = der.len;
	m2.sk = sk.data;
	m2.sk_len = sk.len;
	GUARD(m2_encode(&pt, &m2));
	tripki_buf_init(&q->m2, TRIPKI_FRAME_MAX);
	GUARD(seal_frame(&q->m2, TRIPKI_M2, q->k, DIR_RESPONSE, 0, NULL, 0,
	    pt.data, pt.len));
	TRACE(cm, "CA -> M2  PK_S=%s SK_S=%s", trace_hex(cm, hx, 40, pk.data,
	    pk.len, false), sk.len ? trace_hex(cm, hx + 40, 40, sk.data,
	    sk.len, true) : "(none: CSR mode)");
	TRACE(cm, "          Cert_S=%zu bytes ID_S=%s TS2=%s", der.len,
	    m2.id, trace_time(ts, sizeof(ts), now_ms));
	r = TRIPKI_OK;
out:
	q->err = r;
	EVP_PKEY_free(key);
	tripki_buf_free(&pk);
	tripki_buf_free(&der);
	tripki_buf_free(&sk);
	tripki_buf_free(&pt);
	return r;
}

/*
 * Step 4, on the caller's one thread: the record hook makes the issuance
 * durable, and only then is M2 handed out.  Any earlier failure becomes
 * the error frame here.
 */
int
tripki_ca_commit(tripki_ca *ca, tripki_ca_req *q, int64_t now_ms,
    const char *peer, tripki_buf *out)
{
	tripki_issued issued;
	uint8_t serial[32];
	BIGNUM *bn = NULL;
	int n, r;

	if (q == NULL)
		return frame_fail(out, TRIPKI_E_NOMEM);
	GUARD(q->err);
	if (q->cert == NULL || q->m2.len == 0) {
		r = TRIPKI_E_STATE;
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(q->cert), NULL)) ==
	    NULL || BN_num_bytes(bn) > (int)sizeof(serial) ||
	    (n = BN_bn2bin(bn, serial)) <= 0) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	issued.id = q->m.id;
	issued.cert = q->cert;
	issued.serial = serial;
	issued.serial_len = (size_t)n;
	issued.csr = q->m.mode == MODE_CSR;
	issued.peer = peer;
	if (ca->cfg.record != NULL)
		GUARD(ca->cfg.record(ca->cfg.record_ctx, &issued, now_ms));
	tripki_buf_reset(out);
	GUARD(buf_put(out, q->m2.data, q->m2.len));
	r = TRIPKI_OK;
out:
	BN_free(bn);
	if (r != TRIPKI_OK)
		frame_fail(out, r);
	if (q != NULL)
		q->err = r;
	return r;
}

int
tripki_ca_finish(tripki_ca *ca, tripki_ca_req *q, int64_t now_ms,
    const char *peer, tripki_buf *out)
{
	(void)tripki_ca_check(ca, q, now_ms, peer);
	(void)tripki_ca_sign(ca, q, now_ms);
	return tripki_ca_commit(ca, q, now_ms, peer, out);
}

int
tripki_ca_handle(tripki_ca *ca, const uint8_t *frame, size_t len,
    int64_t now_ms, const char *peer, tripki_buf *out)
{
	tripki_ca_req *q = NULL;
	int r;

	if (tripki_ca_open(ca, frame, len, &q) == TRIPKI_E_NOMEM && q == NULL)
		return frame_fail(out, TRIPKI_E_NOMEM);
	r = tripki_ca_finish(ca, q, now_ms, peer, out);
	tripki_ca_req_free(q);
	return r;
}
