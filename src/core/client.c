/*
 * The client's side of phases 2 and 3:
 *   IDLE --hello/M3--> WAIT_M4 --M4 ok/M5--> WAIT_M6 --M6 ok--> READY
 *   READY --request/M7--> WAIT_M8 --M8 ok--> READY
 * A failure while registering leaves FAILED (hello starts again); a
 * failure in phase 3 keeps the session unless the server says it is gone.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "msg.h"

struct tripki_client {
	int state;
	char id[TRIPKI_ID_MAX + 1];
	char server_id[TRIPKI_ID_MAX + 1];
	char ip[IP_MAX + 1];
	uint16_t port;
	X509 *ca_cert;
	X509_CRL *crl;
	/*
	 * The server's certificate from the last M4, parsed, with its bytes:
	 * an M4 that brings the same bytes again is verified again (CA,
	 * validity, CRL, subject) but not parsed again (d2i_X509 costs a
	 * third of a registration on this side, OpenSSL 3's key decoder).
	 */
	X509 *m4_cert;
	uint8_t *m4_der;
	size_t m4_der_len;
	uint8_t k_tmp[TRIPKI_KEY_LEN];
	/* the session */
	uint8_t sid[TRIPKI_SID_LEN];
	uint8_t ksess[TRIPKI_KEY_LEN];
	EVP_CIPHER_CTX *gcm;       /* K_sess kept scheduled (gcm_keep) */
	uint32_t lifetime;
	int64_t expiry;
	uint64_t seq;
	/* the last answer */
	tripki_buf data;
	int status;
	int peer_err;
	int64_t skew;
	tripki_common cm;
};

int
tripki_client_new(const tripki_client_config *cfg, tripki_client **out)
{
	tripki_client *c;

	if (cfg == NULL || cfg->ca_cert == NULL ||
	    cfg->id == NULL || !tripki_id_valid(cfg->id, strlen(cfg->id)) ||
	    cfg->server_id == NULL ||
	    !tripki_id_valid(cfg->server_id, strlen(cfg->server_id)))
		return TRIPKI_E_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TRIPKI_E_NOMEM;
	strcpy(c->id, cfg->id);
	strcpy(c->server_id, cfg->server_id);
	X509_up_ref(cfg->ca_cert);
	c->ca_cert = cfg->ca_cert;
	if ((c->crl = cfg->crl) != NULL)
		X509_CRL_up_ref(c->crl);
	tripki_buf_init(&c->data, TRIPKI_DATA_MAX);
	c->cm = cfg->common;
	*out = c;
	if (tripki_client_set_address(c, cfg->ip ? cfg->ip : "", cfg->port) !=
	    TRIPKI_OK) {
		tripki_client_free(c);
		return TRIPKI_E_INVALID;
	}
	return TRIPKI_OK;
}

void
tripki_client_free(tripki_client *c)
{
	if (c == NULL)
		return;
	X509_free(c->ca_cert);
	X509_CRL_free(c->crl);
	X509_free(c->m4_cert);
	free(c->m4_der);
	tripki_buf_free(&c->data);
	EVP_CIPHER_CTX_free(c->gcm);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

int
tripki_client_set_address(tripki_client *c, const char *ip, uint16_t port)
{
	if (ip == NULL || strlen(ip) > IP_MAX)
		return TRIPKI_E_INVALID;
	strcpy(c->ip, ip);
	c->port = port;
	return TRIPKI_OK;
}

static void
drop_session(tripki_client *c)
{
	OPENSSL_cleanse(c->k_tmp, sizeof(c->k_tmp));
	OPENSSL_cleanse(c->ksess, sizeof(c->ksess));
	EVP_CIPHER_CTX_free(c->gcm);
	c->gcm = NULL;
	memset(c->sid, 0, sizeof(c->sid));
	c->seq = 0;
	c->expiry = 0;
	c->lifetime = 0;
}

int
tripki_client_hello(tripki_client *c, int64_t now_ms, tripki_buf *out)
{
	struct m3 m3;
	size_t start;
	char ts[40];
	int r;

	drop_session(c);
	tripki_buf_reset(out);
	m3.ts = now_ms;
	strcpy(m3.id, c->server_id);
	GUARD(frame_begin(out, TRIPKI_M3, &start));
	GUARD(m3_encode(out, &m3));
	GUARD(frame_end(out, start));
	TRACE(&c->cm, "C -> M3   ID_S=%s TS3=%s", m3.id,
	    trace_time(ts, sizeof(ts), now_ms));
	c->state = TRIPKI_CLIENT_WAIT_M4;
out:
	return r;
}

static int
fresh(tripki_client *c, int64_t ts, int64_t now)
{
	return fresh_check(ts, now, skew_ms(&c->cm), &c->skew);
}

/*
 * Cert_S of an M4, parsed: the one kept from the last M4 when the bytes
 * are the same, else parsed and kept in its place.  A new reference.
 */
static int
m4_cert(tripki_client *c, const uint8_t *der, size_t n, X509 **out)
{
	uint8_t *copy;
	int r;

	if (c->m4_cert != NULL && n == c->m4_der_len &&
	    memcmp(der, c->m4_der, n) == 0) {
		X509_up_ref(c->m4_cert);
		*out = c->m4_cert;
		return TRIPKI_OK;
	}
	if ((r = cert_from_der(der, n, out)) != TRIPKI_OK)
		return r;
	if ((copy = malloc(n)) == NULL)
		return TRIPKI_OK;   /* not kept: parsed again next time */
	memcpy(copy, der, n);
	X509_free(c->m4_cert);
	free(c->m4_der);
	X509_up_ref(*out);
	c->m4_cert = *out;
	c->m4_der = copy;
	c->m4_der_len = n;
	return TRIPKI_OK;
}

static int
on_m4(tripki_client *c, rd *body, int64_t now, tripki_buf *out)
{
	tripki_buf prefix, pt;
	EVP_PKEY *spk;
	X509 *cert = NULL;
	char ts[40], hx[80];
	struct m4 m4;
	struct m5 m5;
	int r;

	tripki_buf_init(&prefix, 1024);
	tripki_buf_init(&pt, 1024);
	GUARD(m4_decode(body, &m4));
	TRACE(&c->cm, "C <- M4   PK_S=%s Cert_S=%zu bytes TS4=%s",
	    trace_hex(&c->cm, hx, sizeof(hx), m4.pk, m4.pk_len, false),
	    m4.cert_len, trace_time(ts, sizeof(ts), m4.ts));
	GUARD(fresh(c, m4.ts, now));
	GUARD(m4_cert(c, m4.cert, m4.cert_len, &cert));
	GUARD(tripki_cert_verify(c->ca_cert, cert, c->server_id, NULL, c->crl,
	    now));
	GUARD(cert_spki_is(cert, m4.pk, m4.pk_len));
	spk = X509_get0_pubkey(cert);   /* decoded by d2i_X509 already */
	TRACE(&c->cm, "          Cert_S verified with the CA certificate: "
	    "signature, issuer, validity, subject %s, key = PK_S%s",
	    c->server_id, c->crl ? ", not revoked" : "");
	GUARD(rand_bytes(&c->cm, c->k_tmp, sizeof(c->k_tmp)));
	m5.ts = now;
	strcpy(m5.id, c->id);
	strcpy(m5.ip, c->ip);
	m5.port = c->port;
	GUARD(m5_encode(&pt, &m5));
	GUARD(wrap_prefix(spk, OAEP_LABEL_M5, c->k_tmp, &prefix));
	GUARD(seal_frame(out, TRIPKI_M5, c->k_tmp, DIR_REQUEST, 0, prefix.data,
	    prefix.len, pt.data, pt.len));
	TRACE(&c->cm, "C -> M5   K_tmp2=%s ID_C=%s IP_C=%s PORT_C=%u TS5=%s",
	    trace_hex(&c->cm, hx, sizeof(hx), c->k_tmp, TRIPKI_KEY_LEN, true),
	    c->id, c->ip, c->port, trace_time(ts, sizeof(ts), now));
	c->state = TRIPKI_CLIENT_WAIT_M6;
out:
	X509_free(cert);
	tripki_buf_free(&prefix);
	tripki_buf_free(&pt);
	return r;
}

static int
on_m6(tripki_client *c, const uint8_t *frame, size_t len, int64_t now)
{
	char ts[40], hx[80];
	struct m6 m6;
	tripki_buf pt;
	int r;

	tripki_buf_init(&pt, 1024);
	GUARD(open_frame(frame, len, 0, c->k_tmp, DIR_RESPONSE, 0, &pt));
	GUARD(m6_decode(pt.data, pt.len, &m6));
	TRACE(&c->cm, "C <- M6   K_sess=%s Lifetime_sess=%us ID_C=%s TS6=%s",
	    trace_hex(&c->cm, hx, sizeof(hx), m6.ksess, TRIPKI_KEY_LEN, true),
	    m6.lifetime, m6.id, trace_time(ts, sizeof(ts), m6.ts));
	GUARD(fresh(c, m6.ts, now));
	if (strcmp(m6.id, c->id) != 0) {
		r = TRIPKI_E_ID_MISMATCH;
		goto out;
	}
	GUARD(gcm_keep(&c->gcm, m6.ksess));
	memcpy(c->sid, m6.sid, sizeof(c->sid));
	memcpy(c->ksess, m6.ksess, sizeof(c->ksess));
	c->lifetime = m6.lifetime;
	c->expiry = now + (int64_t)m6.lifetime * 1000;
	c->seq = 0;
	c->state = TRIPKI_CLIENT_READY;
out:
	OPENSSL_cleanse(c->k_tmp, sizeof(c->k_tmp));
	OPENSSL_cleanse(&m6, sizeof(m6));
	tripki_buf_free(&pt);
	return r;
}

static int
on_m8(tripki_client *c, const uint8_t *frame, size_t len, rd *body,
    int64_t now)
{
	uint8_t sid[TRIPKI_SID_LEN];
	char ts[40], txt[256];
	struct m8 m8;
	tripki_buf pt;
	uint64_t seq;
	int r;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	GUARD(rd_copy(body, sid, sizeof(sid)));
	GUARD(rd_u64(body, &seq));
	if (memcmp(sid, c->sid, sizeof(sid)) != 0) {
		r = TRIPKI_E_UNKNOWN_SESSION;
		goto out;
	}
	if (seq != c->seq) {
		r = TRIPKI_E_SEQUENCE;
		goto out;
	}
	GUARD(open_frame_with(frame, len, M7_PREFIX, c->gcm, c->ksess,
	    DIR_RESPONSE, seq, &pt));
	GUARD(m8_decode(pt.data, pt.len, &m8));
	TRACE(&c->cm, "C <- M8   DATA=\"%s\" status=%u seq=%llu TS8=%s",
	    trace_text(txt, sizeof(txt), m8.data, m8.data_len), m8.status,
	    (unsigned long long)seq, trace_time(ts, sizeof(ts), m8.ts));
	GUARD(fresh(c, m8.ts, now));
	tripki_buf_reset(&c->data);
	GUARD(buf_put(&c->data, m8.data, m8.data_len));
	c->status = m8.status;
out:
	tripki_buf_free(&pt);
	return r;
}

int
tripki_client_recv(tripki_client *c, const uint8_t *frame, size_t len,
    int64_t now_ms, tripki_buf *out)
{
	int st = c->state, want, r;
	uint8_t type;
	rd body;

	switch (st) {
	case TRIPKI_CLIENT_WAIT_M4: want = TRIPKI_M4; break;
	case TRIPKI_CLIENT_WAIT_M6: want = TRIPKI_M6; break;
	case TRIPKI_CLIENT_WAIT_M8: want = TRIPKI_M8; break;
	default: return TRIPKI_E_STATE;
	}
	tripki_buf_reset(out);
	c->peer_err = 0;
	GUARD(frame_open(frame, len, &type, &body));
	if (type == TRIPKI_MERROR) {
		GUARD(tripki_frame_error_code(frame, len, &c->peer_err));
		r = TRIPKI_E_PEER;
		goto out;
	}
	if (type != want) {
		r = TRIPKI_E_UNEXPECTED;
		goto out;
	}
	if (type == TRIPKI_M4)
		r = on_m4(c, &body, now_ms, out);
	else if (type == TRIPKI_M6)
		r = on_m6(c, frame, len, now_ms);
	else if ((r = on_m8(c, frame, len, &body, now_ms)) == TRIPKI_OK)
		c->state = TRIPKI_CLIENT_READY;
out:
	if (r != TRIPKI_OK) {
		tripki_buf_reset(out);
		if (st != TRIPKI_CLIENT_WAIT_M8) {
			drop_session(c);
			c->state = TRIPKI_CLIENT_FAILED;
		} else if (c->peer_err == TRIPKI_E_SESSION_EXPIRED ||
		    c->peer_err == TRIPKI_E_UNKNOWN_SESSION) {
			drop_session(c);
			c->state = TRIPKI_CLIENT_IDLE;
		} else
			c->state = TRIPKI_CLIENT_READY;
	}
	return r;
}

int
tripki_client_request(tripki_client *c, const uint8_t *req, size_t req_len,
    int64_t now_ms, tripki_buf *out)
{
	uint8_t prefix[M7_PREFIX];
	struct m7 m7;
	tripki_buf pt;
	char ts[40], txt[256];
	int r;

	if (c->state != TRIPKI_CLIENT_READY)
		return TRIPKI_E_STATE;
	if (now_ms >= c->expiry) {
		drop_session(c);
		c->state = TRIPKI_CLIENT_IDLE;
		return TRIPKI_E_SESSION_EXPIRED;
	}
	if (req_len > TRIPKI_DATA_MAX)
		return TRIPKI_E_TOO_BIG;
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	tripki_buf_reset(out);
	m7.ts = now_ms;
	m7.req = req;
	m7.req_len = req_len;
	GUARD(m7_encode(&pt, &m7));
	memcpy(prefix, c->sid, TRIPKI_SID_LEN);
	put_u64(prefix + TRIPKI_SID_LEN, c->seq + 1);
	GUARD(seal_frame_with(out, TRIPKI_M7, c->gcm, c->ksess, DIR_REQUEST,
	    c->seq + 1, prefix, sizeof(prefix), pt.data, pt.len));
	c->seq++;
	c->state = TRIPKI_CLIENT_WAIT_M8;
	TRACE(&c->cm, "C -> M7   REQ=\"%s\" seq=%llu TS7=%s",
	    trace_text(txt, sizeof(txt), req, req_len),
	    (unsigned long long)c->seq, trace_time(ts, sizeof(ts), now_ms));
out:
	tripki_buf_free(&pt);
	return r;
}

void
tripki_client_reconnect(tripki_client *c)
{
	if (c->state == TRIPKI_CLIENT_WAIT_M8)
		c->state = TRIPKI_CLIENT_READY;
	else if (c->state != TRIPKI_CLIENT_READY) {
		drop_session(c);
		c->state = TRIPKI_CLIENT_IDLE;
	}
}

int
tripki_client_state(const tripki_client *c)
{
	return c->state;
}

const uint8_t *
tripki_client_data(const tripki_client *c, size_t *len, int *status)
{
	if (len != NULL)
		*len = c->data.len;
	if (status != NULL)
		*status = c->status;
	return c->data.data;
}

int
tripki_client_peer_error(const tripki_client *c)
{
	return c->peer_err;
}

uint32_t
tripki_client_lifetime(const tripki_client *c)
{
	return c->lifetime;
}

int64_t
tripki_client_expiry(const tripki_client *c)
{
	return c->expiry;
}

int64_t
tripki_client_skew(const tripki_client *c)
{
	return c->skew;
}
