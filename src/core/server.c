/*
 * The application server's side of phases 2 and 3.  Each frame is answered
 * on its own: M3 -> M4 (the certificate), M5 -> M6 (a new session), M7 -> M8
 * (service under a session).  Sessions live in a table keyed by their
 * identifier, so a client may come back on any connection while its session
 * lives.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "msg.h"

struct session {
	uint64_t serial;            /* 1, 2, ...: which slot of gcm is its */
	uint8_t sid[TRIPKI_SID_LEN];
	uint8_t key[TRIPKI_KEY_LEN];
	int64_t expiry;
	uint64_t last_seq;
	uint8_t last_fp[DIGEST_LEN];
	char client[TRIPKI_ID_MAX + 1];
	struct session *older_next; /* the next made after this one */
};

/*
 * Phase 3's keys kept scheduled (gcm_keep), so that a request and its
 * answer do not each make a context and schedule the key: GCM_SLOTS of
 * them, a session's in slot serial % GCM_SLOTS for as long as no other
 * session that falls there is served.  Kept per session instead, a
 * context (some 1.1 KiB) would triple what a session takes.  A slot's
 * context is wiped as its session leaves.
 */
#define GCM_SLOTS SERVER_GCM_SLOTS
struct gcm_slot {
	uint64_t serial;           /* of the session whose key it holds, or 0 */
	EVP_CIPHER_CTX *ctx;
};

struct tripki_server {
	char id[TRIPKI_ID_MAX + 1];
	EVP_PKEY *key;
	X509 *cert;
	rsa_dec *dec;            /* the key, for M5 */
	EVP_PKEY *old_key;       /* kept for opens still in flight */
	X509 *old_cert;
	rsa_dec *old_dec;
	tripki_buf pk_der;       /* cached M4 fields */
	tripki_buf cert_der;
	replay *rc;
	table *sessions;
	/*
	 * The sessions in the order they were made, which, with one lifetime
	 * for all, is the order they expire in: the dead are taken from the
	 * head, without walking the table.
	 */
	struct session *oldest, *newest;
	uint64_t serials;          /* the last session's serial */
	struct gcm_slot gcm[GCM_SLOTS];
	tripki_server_config cfg;
};

struct tripki_server_req {
	int err;
	uint8_t type;
	uint8_t *frame;
	size_t len;
	uint8_t fp[DIGEST_LEN];
	uint8_t k[TRIPKI_KEY_LEN]; /* K_tmp2 */
	struct m5 m5;
};

static void
session_free(void *p)
{
	if (p != NULL)
		OPENSSL_cleanse(p, sizeof(struct session));
	free(p);
}

static int
identity(tripki_server *s, EVP_PKEY *key, X509 *cert)
{
	char cn[TRIPKI_ID_MAX + 1];
	rsa_dec *dec = NULL;
	int r;

	if (key == NULL || cert == NULL || !key_bits_ok(key))
		return TRIPKI_E_INVALID;
	if (X509_check_private_key(cert, key) != 1)
		return TRIPKI_E_CERT_KEY;
	if ((r = cert_cn(cert, cn)) != TRIPKI_OK)
		return r;
	if (strcmp(cn, s->id) != 0)
		return TRIPKI_E_CERT_SUBJECT;
	if ((r = rsa_dec_new(key, OAEP_LABEL_M5, &dec)) != TRIPKI_OK)
		return r;
	tripki_buf_reset(&s->pk_der);
	tripki_buf_reset(&s->cert_der);
	/* PK_S in M4 is the certificate's own encoding, byte for byte. */
	if ((r = cert_spki(cert, &s->pk_der)) != TRIPKI_OK ||
	    (r = cert_to_der(cert, &s->cert_der)) != TRIPKI_OK) {
		rsa_dec_free(dec);
		return r;
	}
	EVP_PKEY_free(s->old_key);
	X509_free(s->old_cert);
	rsa_dec_free(s->old_dec);
	s->old_key = s->key;
	s->old_cert = s->cert;
	s->old_dec = s->dec;
	s->dec = dec;
	EVP_PKEY_up_ref(key);
	X509_up_ref(cert);
	s->key = key;
	s->cert = cert;
	return TRIPKI_OK;
}

int
tripki_server_new(const tripki_server_config *cfg, tripki_server **out)
{
	tripki_server *s;
	int r;

	if (cfg == NULL || cfg->id == NULL || cfg->serve == NULL ||
	    !tripki_id_valid(cfg->id, strlen(cfg->id)))
		return TRIPKI_E_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TRIPKI_E_NOMEM;
	s->cfg = *cfg;
	if (s->cfg.lifetime_s == 0)
		s->cfg.lifetime_s = DEFAULT_LIFETIME_S;
	if (s->cfg.max_sessions == 0)
		s->cfg.max_sessions = DEFAULT_MAX_SESSIONS;
	strcpy(s->id, cfg->id);
	tripki_buf_init(&s->pk_der, DER_MAX);
	tripki_buf_init(&s->cert_der, DER_MAX);
	GUARD(identity(s, cfg->key, cfg->cert));
	/* An M5 is remembered for about one skew, a session for two and its
	 * lifetime: room for as many M5s as sessions. */
	GUARD(replay_new(cfg->replay_max ? cfg->replay_max :
	    s->cfg.max_sessions, &s->rc));
	GUARD(table_new(&s->sessions));
	*out = s;
	return TRIPKI_OK;
out:
	tripki_server_free(s);
	return r;
}

void
tripki_server_free(tripki_server *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	EVP_PKEY_free(s->old_key);
	X509_free(s->old_cert);
	rsa_dec_free(s->dec);
	rsa_dec_free(s->old_dec);
	tripki_buf_free(&s->pk_der);
	tripki_buf_free(&s->cert_der);
	replay_free(s->rc);
	if (s->sessions != NULL)
		table_free(s->sessions, session_free);
	for (size_t i = 0; i < GCM_SLOTS; i++)
		EVP_CIPHER_CTX_free(s->gcm[i].ctx);
	free(s);
}

int
tripki_server_set_identity(tripki_server *s, EVP_PKEY *key, X509 *cert)
{
	return identity(s, key, cert);
}

size_t
tripki_server_session_count(const tripki_server *s)
{
	return table_count(s->sessions);
}

void
tripki_server_req_free(tripki_server_req *q)
{
	if (q == NULL)
		return;
	free(q->frame);
	OPENSSL_cleanse(q, sizeof(*q));
	free(q);
}

int
tripki_server_open(const tripki_server *s, const uint8_t *frame, size_t len,
    tripki_server_req **out)
{
	tripki_server_req *q;
	tripki_buf pt;
	size_t plen;
	rd body;
	int r;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return TRIPKI_E_NOMEM;
	*out = q;
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	GUARD(frame_open(frame, len, &q->type, &body));
	switch (q->type) {
	case TRIPKI_M3:
	case TRIPKI_M7:
		if ((q->frame = malloc(len)) == NULL) {
			r = TRIPKI_E_NOMEM;
			goto out;
		}
		memcpy(q->frame, frame, len);
		q->len = len;
		break;
	case TRIPKI_M5:
		GUARD(digest16(frame, len, q->fp));
		GUARD(unwrap_prefix(s->dec, &body, &plen, q->k));
		GUARD(open_frame(frame, len, plen, q->k, DIR_REQUEST, 0, &pt));
		GUARD(m5_decode(pt.data, pt.len, &q->m5));
		break;
	case TRIPKI_MERROR:
		/* Never answered, so two peers cannot trade errors forever. */
		r = TRIPKI_E_PEER;
		goto out;
	default:
		r = TRIPKI_E_UNEXPECTED;
		goto out;
	}
	r = TRIPKI_OK;
out:
	tripki_buf_free(&pt);
	q->err = r;
	return r;
}

static int
fresh(tripki_server *s, int64_t ts, int64_t now, tripki_server_event *ev)
{
	ev->ts_ms = ts;
	return fresh_check(ts, now, skew_ms(&s->cfg.common), &ev->skew_ms);
}

static int
do_m3(tripki_server *s, tripki_server_req *q, int64_t now, tripki_buf *out,
    tripki_server_event *ev)
{
	const tripki_common *cm = &s->cfg.common;
	char ts[40], hx[80];
	struct m3 m3;
	struct m4 m4;
	size_t start;
	uint8_t type;
	rd body;
	int r;

	GUARD(frame_open(q->frame, q->len, &type, &body));
	GUARD(m3_decode(&body, &m3));
	TRACE(cm, "S <- M3   ID_S=%s TS3=%s", m3.id,
	    trace_time(ts, sizeof(ts), m3.ts));
	GUARD(fresh(s, m3.ts, now, ev));
	if (strcmp(m3.id, s->id) != 0) {
		r = TRIPKI_E_UNKNOWN_ID;
		goto out;
	}
	m4.ts = now;
	m4.pk = s->pk_der.data;
	m4.pk_len = s->pk_der.len;
	m4.cert = s->cert_der.data;
	m4.cert_len = s->cert_der.len;
	GUARD(frame_begin(out, TRIPKI_M4, &start));
	GUARD(m4_encode(out, &m4));
	GUARD(frame_end(out, start));
	TRACE(cm, "S -> M4   PK_S=%s Cert_S=%zu bytes TS4=%s",
	    trace_hex(cm, hx, sizeof(hx), m4.pk, m4.pk_len, false),
	    m4.cert_len, trace_time(ts, sizeof(ts), now));
out:
	return r;
}

/* The session's key, kept scheduled; NULL if that failed (then its key). */
static EVP_CIPHER_CTX *
session_gcm(tripki_server *s, const struct session *ss)
{
	struct gcm_slot *g = &s->gcm[ss->serial % GCM_SLOTS];

	if (g->serial != ss->serial) {
		g->serial = 0;
		if (gcm_keep(&g->ctx, ss->key) != TRIPKI_OK)
			return NULL;
		g->serial = ss->serial;
	}
	return g->ctx;
}

/* A session leaves: its key leaves the slot it held, if it still does. */
static void
session_gone(tripki_server *s, struct session *ss)
{
	struct gcm_slot *g = &s->gcm[ss->serial % GCM_SLOTS];

	if (g->serial == ss->serial) {
		(void)EVP_CIPHER_CTX_reset(g->ctx);
		g->serial = 0;
	}
	session_free(ss);
}

/*
 * An expired session is kept for two skews more, so that its client hears
 * "expired" rather than "unknown"; then it goes.  The oldest go first, and
 * the first one still held ends the sweep: its cost is the number of
 * sessions that die.  (Should the clock step back, a session made after it
 * may outlive its time in the table; it is refused as expired all the
 * same, by its own expiry.)
 */
static void
sweep_sessions(tripki_server *s, int64_t now)
{
	int64_t skew = skew_ms(&s->cfg.common);
	struct session *ss;

	while ((ss = s->oldest) != NULL && ss->expiry + 2 * skew <= now) {
		s->oldest = ss->older_next;
		if (s->oldest == NULL)
			s->newest = NULL;
		(void)table_del(s->sessions, ss->sid);
		session_gone(s, ss);
	}
}

static int
do_m5(tripki_server *s, tripki_server_req *q, int64_t now, tripki_buf *out,
    tripki_server_event *ev)
{
	const tripki_common *cm = &s->cfg.common;
	int64_t skew = skew_ms(cm);
	struct session *ss = NULL;
	char ts[40], hx[80], hs[40];
	struct m6 m6;
	tripki_buf pt;
	int r;

	tripki_buf_init(&pt, 1024);
	strcpy(ev->client_id, q->m5.id);
	TRACE(cm, "S <- M5   K_tmp2=%s ID_C=%s IP_C=%s PORT_C=%u TS5=%s",
	    trace_hex(cm, hx, sizeof(hx), q->k, TRIPKI_KEY_LEN, true),
	    q->m5.id, q->m5.ip, q->m5.port, trace_time(ts, sizeof(ts),
	    q->m5.ts));
	ev->ts_ms = q->m5.ts;
	GUARD(fresh_check_start(cm, q->m5.ts, now, &ev->skew_ms));
	/* Remembered until TS5 itself goes stale, that instant included. */
	GUARD(replay_check_add(s->rc, q->fp, now, q->m5.ts + skew + 1));
	sweep_sessions(s, now);
	if (table_count(s->sessions) >= s->cfg.max_sessions) {
		r = TRIPKI_E_BUSY;
		goto out;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD(rand_bytes(cm, ss->sid, sizeof(ss->sid)));
	GUARD(rand_bytes(cm, ss->key, sizeof(ss->key)));
	ss->expiry = now + (int64_t)s->cfg.lifetime_s * 1000;
	strcpy(ss->client, q->m5.id);
	memset(&m6, 0, sizeof(m6));
	m6.ts = now;
	memcpy(m6.sid, ss->sid, sizeof(m6.sid));
	memcpy(m6.ksess, ss->key, sizeof(m6.ksess));
	m6.lifetime = s->cfg.lifetime_s;
	strcpy(m6.id, q->m5.id);
	GUARD(m6_encode(&pt, &m6));
	GUARD(seal_frame(out, TRIPKI_M6, q->k, DIR_RESPONSE, 0, NULL, 0,
	    pt.data, pt.len));
	if (table_get(s->sessions, ss->sid) != NULL) {
		r = TRIPKI_E_INTERNAL; /* 128 random bits collided */
		goto out;
	}
	GUARD(table_put(s->sessions, ss->sid, ss));
	ss->serial = ++s->serials;
	if (s->newest != NULL)
		s->newest->older_next = ss;
	else
		s->oldest = ss;
	s->newest = ss;
	memcpy(ev->sid, ss->sid, sizeof(ev->sid));
	TRACE(cm, "S -> M6   K_sess=%s Lifetime_sess=%us ID_C=%s TS6=%s",
	    trace_hex(cm, hx, sizeof(hx), ss->key, TRIPKI_KEY_LEN, true),
	    m6.lifetime, m6.id, trace_time(ts, sizeof(ts), now));
	TRACE(cm, "          session %s", trace_hex(cm, hs, sizeof(hs),
	    ss->sid, TRIPKI_SID_LEN, false));
	ss = NULL;
	r = TRIPKI_OK;
out:
	OPENSSL_cleanse(&m6, sizeof(m6));
	session_free(ss);
	tripki_buf_free(&pt);
	return r;
}

static int
serve(tripki_server *s, struct session *ss, const struct m7 *m7,
    uint64_t seq, int64_t now, tripki_buf *out)
{
	const tripki_common *cm = &s->cfg.common;
	uint8_t prefix[M7_PREFIX];
	tripki_buf data, pt;
	struct m8 m8;
	char ts[40], txt[256];
	int status = TRIPKI_STATUS_OK, r;

	tripki_buf_init(&data, TRIPKI_DATA_MAX);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	GUARD(s->cfg.serve(s->cfg.serve_ctx, ss->client, m7->req, m7->req_len,
	    &data, &status));
	m8.ts = now;
	m8.status = (uint8_t)status;
	m8.data = data.data;
	m8.data_len = data.len;
	GUARD(m8_encode(&pt, &m8));
	memcpy(prefix, ss->sid, TRIPKI_SID_LEN);
	put_u64(prefix + TRIPKI_SID_LEN, seq);
	GUARD(seal_frame_with(out, TRIPKI_M8, session_gcm(s, ss), ss->key,
	    DIR_RESPONSE, seq, prefix, sizeof(prefix), pt.data, pt.len));
	TRACE(cm, "S -> M8   DATA=\"%s\" status=%d seq=%llu TS8=%s",
	    trace_text(txt, sizeof(txt), data.data, data.len), status,
	    (unsigned long long)seq, trace_time(ts, sizeof(ts), now));
out:
	tripki_buf_free(&data);
	tripki_buf_free(&pt);
	return r;
}

static int
do_m7(tripki_server *s, tripki_server_req *q, int64_t now, tripki_buf *out,
    tripki_server_event *ev)
{
	const tripki_common *cm = &s->cfg.common;
	uint8_t sid[TRIPKI_SID_LEN], fp[DIGEST_LEN];
	struct session *ss;
	char ts[40], txt[256];
	struct m7 m7;
	tripki_buf pt;
	uint64_t seq;
	uint8_t type;
	rd body;
	int r;

	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	GUARD(frame_open(q->frame, q->len, &type, &body));
	GUARD(rd_copy(&body, sid, sizeof(sid)));
	GUARD(rd_u64(&body, &seq));
	memcpy(ev->sid, sid, sizeof(sid));
	ev->seq = seq;
	sweep_sessions(s, now);
	if ((ss = table_get(s->sessions, sid)) == NULL) {
		r = TRIPKI_E_UNKNOWN_SESSION;
		goto out;
	}
	strcpy(ev->client_id, ss->client);
	GUARD(open_frame_with(q->frame, q->len, M7_PREFIX, session_gcm(s, ss),
	    ss->key, DIR_REQUEST, seq, &pt));
	GUARD(m7_decode(pt.data, pt.len, &m7));
	TRACE(cm, "S <- M7   REQ=\"%s\" seq=%llu TS7=%s",
	    trace_text(txt, sizeof(txt), m7.req, m7.req_len),
	    (unsigned long long)seq, trace_time(ts, sizeof(ts), m7.ts));
	if (now >= ss->expiry) {
		r = TRIPKI_E_SESSION_EXPIRED;
		goto out;
	}
	GUARD(fresh(s, m7.ts, now, ev));
	GUARD(digest16(q->frame, q->len, fp));
	if (seq <= ss->last_seq) {
		r = CRYPTO_memcmp(fp, ss->last_fp, DIGEST_LEN) == 0 ?
		    TRIPKI_E_REPLAY : TRIPKI_E_SEQUENCE;
		goto out;
	}
	GUARD(serve(s, ss, &m7, seq, now, out));
	ss->last_seq = seq;
	memcpy(ss->last_fp, fp, DIGEST_LEN);
out:
	tripki_buf_free(&pt);
	return r;
}

int
tripki_server_finish(tripki_server *s, tripki_server_req *q, int64_t now_ms,
    tripki_buf *out, tripki_server_event *ev)
{
	tripki_server_event dummy;
	int r;

	if (q == NULL)
		return frame_fail(out, TRIPKI_E_NOMEM);
	if (ev == NULL)
		ev = &dummy;
	memset(ev, 0, sizeof(*ev));
	ev->type = q->type;
	tripki_buf_reset(out);
	if ((r = q->err) == TRIPKI_OK) {
		switch (q->type) {
		case TRIPKI_M3:
			r = do_m3(s, q, now_ms, out, ev);
			break;
		case TRIPKI_M5:
			r = do_m5(s, q, now_ms, out, ev);
			break;
		case TRIPKI_M7:
			r = do_m7(s, q, now_ms, out, ev);
			break;
		default:
			r = TRIPKI_E_UNEXPECTED;
		}
	}
	if (r != TRIPKI_OK)
		frame_fail(out, r);
	return r;
}

int
tripki_server_handle(tripki_server *s, const uint8_t *frame, size_t len,
    int64_t now_ms, tripki_buf *out, tripki_server_event *ev)
{
	tripki_server_req *q = NULL;
	int r;

	if (tripki_server_open(s, frame, len, &q) == TRIPKI_E_NOMEM &&
	    q == NULL)
		return frame_fail(out, TRIPKI_E_NOMEM);
	r = tripki_server_finish(s, q, now_ms, out, ev);
	tripki_server_req_free(q);
	return r;
}
