/*
 * Phase 2 in memory: the client registers with the server (M3..M6), and
 * every way those four messages can be wrong, stale, replayed, forged or
 * out of place.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

#define SKEW DEFAULT_SKEW_MS
#define SEED 0xc11e
#define DAY_MS 86400000LL
#define OTHER_ID "ID-Other"

struct st {
	tripki_server *s;
	tripki_client *c;
	tripki_buf a, b;        /* client -> server, server -> client */
	uint64_t seed;          /* the client's randomness: K_tmp2 */
	X509_CRL *crl;
	const char *want_server;
};

static tripki_client *
new_client(struct st *t)
{
	tripki_client_config cfg;
	tripki_client *c = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CLIENT_ID;
	cfg.server_id = t->want_server ? t->want_server : FX_SERVER_ID;
	cfg.ca_cert = fx_keys()->ca_cert;
	cfg.crl = t->crl;
	cfg.ip = "198.51.100.4";
	cfg.port = 50123;
	cfg.common.rand = fx_rand;
	cfg.common.rand_ctx = &t->seed;
	assert_int_equal(tripki_client_new(&cfg, &c), TRIPKI_OK);
	return c;
}

static void
renew_client(struct st *t)
{
	tripki_client_free(t->c);
	t->c = new_client(t);
}

static int
setup(void **state)
{
	struct st *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	fx_keys();
	t->seed = SEED;
	t->s = fx_server(60);
	t->c = new_client(t);
	fx_buf(&t->a);
	fx_buf(&t->b);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct st *t = *state;

	tripki_server_free(t->s);
	tripki_client_free(t->c);
	tripki_buf_free(&t->a);
	tripki_buf_free(&t->b);
	X509_CRL_free(t->crl);
	free(t);
	return 0;
}

/*
 * The server refuses `f` with `code`: the error frame in its output
 * carries tripki_err_wire(code), and no session was made.
 */
static void
server_refuses(struct st *t, const uint8_t *f, size_t n, int64_t now,
    int code)
{
	size_t before = tripki_server_session_count(t->s);
	tripki_server_event ev;
	int wire = -1;

	tripki_buf_reset(&t->b);
	assert_int_equal(tripki_server_handle(t->s, f, n, now, &t->b, &ev),
	    code);
	assert_int_equal(tripki_server_session_count(t->s), before);
	assert_int_equal(t->b.len, 8);
	assert_int_equal(t->b.data[1], TRIPKI_MERROR);
	assert_int_equal(tripki_frame_error_code(t->b.data, t->b.len, &wire),
	    TRIPKI_OK);
	assert_int_equal(wire, tripki_err_wire(code));
}

/* The client refuses `f` while registering: nothing to send, and failed. */
static void
client_refuses(struct st *t, const uint8_t *f, size_t n, int64_t now,
    int code)
{
	assert_int_equal(tripki_client_recv(t->c, f, n, now, &t->a), code);
	assert_int_equal(t->a.len, 0);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_FAILED);
}

static void
hello(struct st *t, int64_t now)
{
	t->seed = SEED;
	assert_int_equal(tripki_client_hello(t->c, now, &t->a), TRIPKI_OK);
	assert_int_equal(t->a.data[1], TRIPKI_M3);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_WAIT_M4);
}

/* M3 at t3, M4 made at t4; `a` then holds the M5 made at t5. */
static void
to_m5(struct st *t, int64_t t3, int64_t t4, int64_t t5)
{
	hello(t, t3);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, t4,
	    &t->b, NULL), TRIPKI_OK);
	assert_int_equal(t->b.data[1], TRIPKI_M4);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, t5,
	    &t->a), TRIPKI_OK);
	assert_int_equal(t->a.data[1], TRIPKI_M5);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_WAIT_M6);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The code the frame layer gives a frame whose header was altered; `body`
 * when the header is still that of a `want` frame, `other` when it now
 * names another known type.
 */
static int
header_code(const uint8_t *f, size_t n, uint8_t want, int body, int other)
{
	uint8_t ty = f[1];
	uint32_t len = be32(f + 2);

	if (f[0] != TRIPKI_PROTOCOL_VERSION)
		return TRIPKI_E_VERSION;
	if (!((ty >= TRIPKI_M1 && ty <= TRIPKI_M8) || ty == TRIPKI_MERROR))
		return TRIPKI_E_TYPE;
	if (len > TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_TOO_BIG;
	if (6 + (size_t)len > n)
		return TRIPKI_E_TRUNCATED;
	if (6 + (size_t)len < n)
		return TRIPKI_E_TRAILING;
	assert_true(ty != TRIPKI_MERROR); /* one flipped bit never makes it */
	return ty == want ? body : other;
}

/* ---- The full exchange ---- */

static void
full_registration(void **state)
{
	struct st *t = *state;
	tripki_server_event ev;
	const uint8_t *d;
	size_t n;
	int status;

	hello(t, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 5, &t->b, &ev), TRIPKI_OK);
	assert_int_equal(ev.type, TRIPKI_M3);
	assert_true(ev.ts_ms == FX_NOW);
	assert_int_equal(t->b.data[1], TRIPKI_M4);
	assert_int_equal(tripki_server_session_count(t->s), 0);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW + 10, &t->a), TRIPKI_OK);
	assert_int_equal(t->a.data[1], TRIPKI_M5);
	assert_true(tripki_frame_costly(t->a.data[1]));
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 15, &t->b, &ev), TRIPKI_OK);
	assert_int_equal(ev.type, TRIPKI_M5);
	assert_string_equal(ev.client_id, FX_CLIENT_ID);
	assert_true(ev.ts_ms == FX_NOW + 10);
	assert_int_equal(t->b.data[1], TRIPKI_M6);
	assert_int_equal(tripki_server_session_count(t->s), 1);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW + 20, &t->a), TRIPKI_OK);
	assert_int_equal(t->a.len, 0);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_READY);
	assert_int_equal(tripki_client_lifetime(t->c), 60);
	assert_true(tripki_client_expiry(t->c) == FX_NOW + 20 + 60000);

	/* The session key works both ways. */
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    strlen(FX_REQ), FX_NOW + 30, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 30, &t->b, &ev), TRIPKI_OK);
	assert_string_equal(ev.client_id, FX_CLIENT_ID);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW + 30, &t->a), TRIPKI_OK);
	d = tripki_client_data(t->c, &n, &status);
	assert_int_equal(status, TRIPKI_STATUS_OK);
	assert_int_equal(n, strlen(FX_DATA));
	assert_memory_equal(d, FX_DATA, n);
}

/* Two clients, two sessions; a second hello forgets the first session. */
static void
sessions_are_separate(void **state)
{
	struct st *t = *state;
	tripki_client *c2 = fx_client();

	fx_register(t->c, t->s, FX_NOW);
	fx_register(c2, t->s, FX_NOW + 1);
	assert_int_equal(tripki_server_session_count(t->s), 2);
	hello(t, FX_NOW + 2);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW + 3, &t->a), TRIPKI_E_STATE);
	tripki_client_free(c2);
}

/*
 * A client whose clock is a second behind the CA's, well inside the skew
 * the protocol allows, meets a certificate issued that very second: it
 * must accept it.  (The fixture's certificate dates from FX_NOW.)
 */
static void
client_clock_behind_within_skew(void **state)
{
	struct st *t = *state;

	hello(t, FX_NOW - 1000);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW - 1000, &t->a), TRIPKI_OK);
}

/* ---- M3 ---- */

static void
m3_other_server(void **state)
{
	struct st *t = *state;

	t->want_server = OTHER_ID;
	renew_client(t);
	hello(t, FX_NOW);
	server_refuses(t, t->a.data, t->a.len, FX_NOW, TRIPKI_E_UNKNOWN_ID);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_E_PEER);
	assert_int_equal(tripki_client_peer_error(t->c), TRIPKI_E_UNKNOWN_ID);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_FAILED);
	assert_int_equal(t->a.len, 0);
}

static void
ts3_stale_and_future(void **state)
{
	struct st *t = *state;
	tripki_server_event ev;

	hello(t, FX_NOW);
	server_refuses(t, t->a.data, t->a.len, FX_NOW + SKEW + 1,
	    TRIPKI_E_STALE);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + SKEW + 1, &t->b, &ev), TRIPKI_E_STALE);
	assert_true(ev.skew_ms == SKEW + 1);
	assert_true(ev.ts_ms == FX_NOW);
	server_refuses(t, t->a.data, t->a.len, FX_NOW - SKEW - 1,
	    TRIPKI_E_FUTURE);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + SKEW, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW - SKEW, &t->b, NULL), TRIPKI_OK);
	/* The client hears it. */
	server_refuses(t, t->a.data, t->a.len, FX_NOW - SKEW - 1,
	    TRIPKI_E_FUTURE);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_E_PEER);
	assert_int_equal(tripki_client_peer_error(t->c), TRIPKI_E_FUTURE);
}

static void
m3_trailing_and_truncated(void **state)
{
	struct st *t = *state;
	uint8_t f[512];
	size_t n;

	hello(t, FX_NOW);
	memcpy(f, t->a.data, n = t->a.len);
	/* The frame longer or shorter than its header says. */
	f[n] = 0;
	server_refuses(t, f, n + 1, FX_NOW, TRIPKI_E_TRAILING);
	for (size_t l = 0; l < n; l++)
		server_refuses(t, f, l, FX_NOW, TRIPKI_E_TRUNCATED);
	/* A body with a byte after the ID, the header counting it. */
	put_u32(f + 2, (uint32_t)(n - 6 + 1));
	server_refuses(t, f, n + 1, FX_NOW, TRIPKI_E_TRAILING);
	/* A body cut inside the ID, inside the timestamp, or empty. */
	put_u32(f + 2, (uint32_t)(n - 6 - 1));
	server_refuses(t, f, n - 1, FX_NOW, TRIPKI_E_TRUNCATED);
	put_u32(f + 2, 5);
	server_refuses(t, f, 11, FX_NOW, TRIPKI_E_TRUNCATED);
	put_u32(f + 2, 0);
	server_refuses(t, f, 6, FX_NOW, TRIPKI_E_TRUNCATED);
}

/* Hand-made M3 bodies: timestamp and identity. */
static void
m3_bad_fields(void **state)
{
	static const struct {
		uint64_t ts;
		const char *id;   /* length byte first */
		size_t len;
		int code;
	} cases[] = {
		{ 1ULL << 63, "\x01x", 2, TRIPKI_E_BAD_FIELD },
		{ UINT64_MAX, "\x01x", 2, TRIPKI_E_BAD_FIELD },
		{ FX_NOW, "\x00", 1, TRIPKI_E_BAD_FIELD },
		{ FX_NOW, "\x03I\nD", 4, TRIPKI_E_BAD_FIELD },
		{ FX_NOW, "\x02I\x7f", 3, TRIPKI_E_BAD_FIELD },
		{ FX_NOW, "\x02I\xc3", 3, TRIPKI_E_BAD_FIELD },
		{ FX_NOW, "\x09ID-Server", 10, TRIPKI_OK },
	};
	struct st *t = *state;
	uint8_t f[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 6 + 8 + cases[i].len;

		f[0] = TRIPKI_PROTOCOL_VERSION;
		f[1] = TRIPKI_M3;
		put_u32(f + 2, (uint32_t)(n - 6));
		put_u64(f + 6, cases[i].ts);
		memcpy(f + 14, cases[i].id, cases[i].len);
		if (cases[i].code == TRIPKI_OK)
			assert_int_equal(tripki_server_handle(t->s, f, n,
			    FX_NOW, &t->b, NULL), TRIPKI_OK);
		else
			server_refuses(t, f, n, FX_NOW, cases[i].code);
	}
}

/* ---- M4 at the client ---- */

static void
ts4_stale_and_future(void **state)
{
	struct st *t = *state;

	hello(t, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	client_refuses(t, t->b.data, t->b.len, FX_NOW + SKEW + 1,
	    TRIPKI_E_STALE);
	assert_true(tripki_client_skew(t->c) == SKEW + 1);
	hello(t, FX_NOW);
	client_refuses(t, t->b.data, t->b.len, FX_NOW - SKEW - 1,
	    TRIPKI_E_FUTURE);
	assert_true(tripki_client_skew(t->c) == -SKEW - 1);
	/* At the edges it passes. */
	hello(t, FX_NOW);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW + SKEW, &t->a), TRIPKI_OK);
	/* The server's clock ahead by the skew, the client's 1 ms behind. */
	hello(t, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + SKEW, &t->b, NULL), TRIPKI_OK);
	client_refuses(t, t->b.data, t->b.len, FX_NOW - 1, TRIPKI_E_FUTURE);
}

/* An M4 made by hand: any key, any certificate. */
static void
craft_m4(tripki_buf *out, int64_t ts, EVP_PKEY *pk, X509 *cert,
    const char *extra)
{
	tripki_buf pkd, certd;
	struct m4 m;
	size_t start;

	tripki_buf_init(&pkd, DER_MAX);
	tripki_buf_init(&certd, DER_MAX);
	if (pk != NULL)
		assert_int_equal(key_to_spki(pk, &pkd), TRIPKI_OK);
	if (cert != NULL)
		assert_int_equal(cert_to_der(cert, &certd), TRIPKI_OK);
	m.ts = ts;
	m.pk = pkd.data;
	m.pk_len = pkd.len;
	m.cert = certd.data;
	m.cert_len = certd.len;
	tripki_buf_reset(out);
	assert_int_equal(frame_begin(out, TRIPKI_M4, &start), TRIPKI_OK);
	assert_int_equal(m4_encode(out, &m), TRIPKI_OK);
	if (extra != NULL)
		assert_int_equal(buf_put(out, extra, strlen(extra)), TRIPKI_OK);
	assert_int_equal(frame_end(out, start), TRIPKI_OK);
	tripki_buf_free(&pkd);
	tripki_buf_free(&certd);
}

/* The same with PK_S given as raw bytes, and the server's certificate. */
static int
client_takes_m4_pk(struct st *t, const uint8_t *pk, size_t pk_len)
{
	tripki_buf certd;
	struct m4 m;
	size_t start;
	int r;

	hello(t, FX_NOW);
	tripki_buf_init(&certd, DER_MAX);
	assert_int_equal(cert_to_der(fx_keys()->server_cert, &certd),
	    TRIPKI_OK);
	m.ts = FX_NOW;
	m.pk = pk;
	m.pk_len = pk_len;
	m.cert = certd.data;
	m.cert_len = certd.len;
	tripki_buf_reset(&t->b);
	assert_int_equal(frame_begin(&t->b, TRIPKI_M4, &start), TRIPKI_OK);
	assert_int_equal(m4_encode(&t->b, &m), TRIPKI_OK);
	assert_int_equal(frame_end(&t->b, start), TRIPKI_OK);
	tripki_buf_free(&certd);
	r = tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW, &t->a);
	if (r != TRIPKI_OK)
		assert_int_equal(t->a.len, 0);
	return r;
}

/*
 * PK_S must be the certificate's SubjectPublicKeyInfo byte for byte: the
 * same key encoded otherwise, with a byte more or less, or garbage, is
 * CERT_KEY (PROTOCOL.md 6.2).
 */
static void
m4_pk_exact_bytes(void **state)
{
	struct st *t = *state;
	tripki_buf d;
	uint8_t *p;

	tripki_buf_init(&d, DER_MAX);
	assert_int_equal(cert_spki(fx_keys()->server_cert, &d), TRIPKI_OK);
	assert_int_equal(client_takes_m4_pk(t, d.data, d.len), TRIPKI_OK);
	p = malloc(d.len + 1);
	assert_non_null(p);
	memcpy(p, d.data, d.len);
	p[d.len] = 0;
	assert_int_equal(client_takes_m4_pk(t, p, d.len + 1),
	    TRIPKI_E_CERT_KEY);
	assert_int_equal(client_takes_m4_pk(t, p, d.len - 1),
	    TRIPKI_E_CERT_KEY);
	p[d.len - 1] ^= 1;     /* the exponent's last byte */
	assert_int_equal(client_takes_m4_pk(t, p, d.len), TRIPKI_E_CERT_KEY);
	assert_int_equal(client_takes_m4_pk(t, (const uint8_t *)"garbage", 7),
	    TRIPKI_E_CERT_KEY);
	free(p);
	tripki_buf_free(&d);
}

/* The same at another time: M3, M4 and the client's clock all at `now`. */
static int
client_takes_m4_at(struct st *t, int64_t now, X509 *cert)
{
	int r;

	hello(t, now);
	craft_m4(&t->b, now, fx_keys()->server_key, cert, NULL);
	r = tripki_client_recv(t->c, t->b.data, t->b.len, now, &t->a);
	if (r != TRIPKI_OK)
		assert_int_equal(t->a.len, 0);
	return r;
}

/*
 * The client keeps the last Cert_S parsed, but checks it again with every
 * M4: the same bytes are refused once expired, another certificate is
 * checked on its own, and the first is taken again after it.
 */
static void
m4_same_cert_checked_every_time(void **state)
{
	struct st *t = *state;
	const struct fx_keys *k = fx_keys();
	const int64_t year = 366LL * 86400 * 1000;
	X509 *other_ca = NULL;

	assert_int_equal(cert_issue(k->other_ca_key, k->other_ca_cert,
	    k->server_key, FX_SERVER_ID, 30, FX_NOW, NULL, &other_ca),
	    TRIPKI_OK);
	assert_int_equal(client_takes_m4_at(t, FX_NOW, k->server_cert),
	    TRIPKI_OK);
	assert_int_equal(client_takes_m4_at(t, FX_NOW, k->server_cert),
	    TRIPKI_OK);
	assert_int_equal(client_takes_m4_at(t, FX_NOW + 10 * year,
	    k->server_cert), TRIPKI_E_CERT_EXPIRED);
	assert_int_equal(client_takes_m4_at(t, FX_NOW, other_ca),
	    TRIPKI_E_CERT_ISSUER);
	assert_int_equal(client_takes_m4_at(t, FX_NOW, other_ca),
	    TRIPKI_E_CERT_ISSUER);
	assert_int_equal(client_takes_m4_at(t, FX_NOW, k->server_cert),
	    TRIPKI_OK);
	X509_free(other_ca);
}

static int
client_takes_m4(struct st *t, EVP_PKEY *pk, X509 *cert, const char *extra)
{
	int r;

	hello(t, FX_NOW);
	craft_m4(&t->b, FX_NOW, pk, cert, extra);
	r = tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW, &t->a);
	if (r != TRIPKI_OK) {
		assert_int_equal(t->a.len, 0);
		assert_int_equal(tripki_client_state(t->c),
		    TRIPKI_CLIENT_FAILED);
	}
	return r;
}

static void
m4_crafted(void **state)
{
	struct st *t = *state;
	const struct fx_keys *k = fx_keys();
	X509 *other_ca = NULL, *other_id = NULL;

	assert_int_equal(cert_issue(k->other_ca_key, k->other_ca_cert,
	    k->server_key, FX_SERVER_ID, 30, FX_NOW, NULL, &other_ca),
	    TRIPKI_OK);
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, k->server_key,
	    OTHER_ID, 30, FX_NOW, NULL, &other_id), TRIPKI_OK);

	/* The hand-made M4 is right when its parts are. */
	assert_int_equal(client_takes_m4(t, k->server_key, k->server_cert,
	    NULL), TRIPKI_OK);
	/* Certificate from another CA with the same name. */
	assert_int_equal(client_takes_m4(t, k->server_key, other_ca, NULL),
	    TRIPKI_E_CERT_ISSUER);
	/* Certificate for another subject. */
	assert_int_equal(client_takes_m4(t, k->server_key, other_id, NULL),
	    TRIPKI_E_CERT_SUBJECT);
	/* PK_S other than the certificate's key. */
	assert_int_equal(client_takes_m4(t, k->spare_key, k->server_cert, NULL),
	    TRIPKI_E_CERT_KEY);
	/* The CA's own certificate and key. */
	assert_int_equal(client_takes_m4(t, k->ca_key, k->ca_cert, NULL),
	    TRIPKI_E_CERT_SUBJECT);
	/* Trailing bytes, empty and garbage fields. */
	assert_int_equal(client_takes_m4(t, k->server_key, k->server_cert,
	    "!"), TRIPKI_E_TRAILING);
	assert_int_equal(client_takes_m4(t, NULL, k->server_cert, NULL),
	    TRIPKI_E_BAD_FIELD);
	assert_int_equal(client_takes_m4(t, k->server_key, NULL, NULL),
	    TRIPKI_E_BAD_FIELD);
	X509_free(other_ca);
	X509_free(other_id);
}

/* The whole M4 body truncated at every length: TRUNCATED, always. */
static void
m4_truncated_body(void **state)
{
	struct st *t = *state;
	uint8_t *f;
	size_t n;

	hello(t, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	n = t->b.len;
	f = malloc(n);
	assert_non_null(f);
	memcpy(f, t->b.data, n);
	for (size_t l = 6; l < n; l += 7) {
		put_u32(f + 2, (uint32_t)(l - 6));
		hello(t, FX_NOW);
		client_refuses(t, f, l, FX_NOW, TRIPKI_E_TRUNCATED);
	}
	free(f);
}

/* The real server, the client's clock past the certificate's end. */
static void
m4_expired_certificate(void **state)
{
	struct st *t = *state;
	int64_t late = FX_NOW + 90 * DAY_MS + 1000;

	hello(t, late);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, late,
	    &t->b, NULL), TRIPKI_OK);
	client_refuses(t, t->b.data, t->b.len, late, TRIPKI_E_CERT_EXPIRED);
}

/* A CRL from the CA that lists the server's certificate. */
static X509_CRL *
crl_revoking(X509 *revoked)
{
	const struct fx_keys *k = fx_keys();
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_set(NULL, (time_t)(FX_NOW / 1000) - 3600);
	ASN1_TIME *next = ASN1_TIME_set(NULL, (time_t)(FX_NOW / 1000) + 86400);
	X509_REVOKED *rv = X509_REVOKED_new();
	X509_EXTENSION *e;
	X509V3_CTX v3;

	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(k->ca_cert)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, next), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(rv,
	    (ASN1_INTEGER *)X509_get0_serialNumber(revoked)), 1);
	assert_int_equal(X509_REVOKED_set_revocationDate(rv, last), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	X509V3_set_ctx(&v3, k->ca_cert, NULL, NULL, crl, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always");
	assert_non_null(e);
	assert_int_equal(X509_CRL_add_ext(crl, e, -1), 1);
	X509_EXTENSION_free(e);
	assert_true(X509_CRL_sign(crl, k->ca_key, EVP_sha256()) > 0);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	return crl;
}

static void
m4_revoked_certificate(void **state)
{
	struct st *t = *state;

	t->crl = crl_revoking(fx_keys()->server_cert);
	renew_client(t);
	hello(t, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	client_refuses(t, t->b.data, t->b.len, FX_NOW, TRIPKI_E_CERT_REVOKED);
}

/* ---- M5 at the server ---- */

static void
m5_exact_replay(void **state)
{
	struct st *t = *state;
	uint8_t saved[1024];
	size_t n;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	memcpy(saved, t->a.data, n = t->a.len);
	assert_int_equal(tripki_server_handle(t->s, saved, n, FX_NOW, &t->b,
	    NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_session_count(t->s), 1);
	server_refuses(t, saved, n, FX_NOW + 1, TRIPKI_E_REPLAY);
	server_refuses(t, saved, n, FX_NOW + SKEW, TRIPKI_E_REPLAY);
	server_refuses(t, saved, n, FX_NOW + SKEW + 1, TRIPKI_E_STALE);
	assert_int_equal(tripki_server_session_count(t->s), 1);
}

/*
 * An M5 stamped by a client clock exactly `skew` ahead is fresh at the
 * server until now + 2 * skew inclusive: until then a replay must be
 * refused as one.
 */
static void
m5_replay_at_window_edge(void **state)
{
	struct st *t = *state;
	uint8_t saved[1024];
	size_t n;

	to_m5(t, FX_NOW + SKEW, FX_NOW, FX_NOW + SKEW);
	memcpy(saved, t->a.data, n = t->a.len);
	assert_int_equal(tripki_server_handle(t->s, saved, n, FX_NOW, &t->b,
	    NULL), TRIPKI_OK);
	server_refuses(t, saved, n, FX_NOW + 2 * SKEW, TRIPKI_E_REPLAY);
	server_refuses(t, saved, n, FX_NOW + 2 * SKEW + 1, TRIPKI_E_STALE);
}

static void
ts5_stale_and_future(void **state)
{
	struct st *t = *state;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	server_refuses(t, t->a.data, t->a.len, FX_NOW + SKEW + 1,
	    TRIPKI_E_STALE);
	server_refuses(t, t->a.data, t->a.len, FX_NOW - SKEW - 1,
	    TRIPKI_E_FUTURE);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + SKEW, &t->b, NULL), TRIPKI_OK);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW + 1);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 1 - SKEW, &t->b, NULL), TRIPKI_OK);
}

/* M5 through tripki_server_open and tripki_server_finish. */
static void
m5_two_steps(void **state)
{
	struct st *t = *state;
	tripki_server_req *q = NULL;
	int wire = -1;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	assert_int_equal(tripki_server_open(t->s, t->a.data, t->a.len, &q),
	    TRIPKI_OK);
	assert_int_equal(tripki_server_session_count(t->s), 0);
	assert_int_equal(tripki_server_finish(t->s, q, FX_NOW, &t->b, NULL),
	    TRIPKI_OK);
	tripki_server_req_free(q);
	assert_int_equal(tripki_server_session_count(t->s), 1);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_OK);

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	t->a.data[t->a.len - 1] ^= 0x80;
	q = NULL;
	assert_int_equal(tripki_server_open(t->s, t->a.data, t->a.len, &q),
	    TRIPKI_E_DECRYPT);
	assert_int_equal(tripki_server_finish(t->s, q, FX_NOW, &t->b, NULL),
	    TRIPKI_E_DECRYPT);
	tripki_server_req_free(q);
	assert_int_equal(tripki_frame_error_code(t->b.data, t->b.len, &wire),
	    TRIPKI_OK);
	assert_int_equal(wire, TRIPKI_E_DECRYPT);
	assert_int_equal(tripki_server_session_count(t->s), 1);
}

/* A server that started at FX_NOW takes no M5 stamped before. */
static void
m5_from_before_start(void **state)
{
	struct st *t = *state;
	tripki_server_config cfg;

	tripki_server_free(t->s);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_SERVER_ID;
	cfg.key = fx_keys()->server_key;
	cfg.cert = fx_keys()->server_cert;
	cfg.serve = fx_serve;
	cfg.common.started_ms = FX_NOW + 1000;
	assert_int_equal(tripki_server_new(&cfg, &t->s), TRIPKI_OK);
	to_m5(t, FX_NOW + 1000, FX_NOW + 1000, FX_NOW + 999);
	server_refuses(t, t->a.data, t->a.len, FX_NOW + 1000, TRIPKI_E_STALE);
	to_m5(t, FX_NOW + 1000, FX_NOW + 1000, FX_NOW + 1000);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 1000, &t->b, NULL), TRIPKI_OK);
}

static void
m5_flipped_bits(void **state)
{
	struct st *t = *state;
	uint8_t f[1024];
	size_t n;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	memcpy(f, t->a.data, n = t->a.len);
	assert_int_equal(f[6] << 8 | f[7], 256);
	for (size_t i = 0; i < n; i++) {
		uint8_t bit = (uint8_t)(1u << (i % 8));
		int want;

		f[i] ^= bit;
		if (i < 6) {
			want = header_code(f, n, TRIPKI_M5, TRIPKI_E_DECRYPT,
			    TRIPKI_E_UNEXPECTED);
			/* As an M7 its first 16 bytes name no session. */
			if (f[1] == TRIPKI_M7 && want == TRIPKI_E_UNEXPECTED)
				want = TRIPKI_E_UNKNOWN_SESSION;
			assert_true(f[1] != TRIPKI_M3);
		} else if (i < 8) {
			size_t l = (size_t)f[6] << 8 | f[7];

			want = l > 512 ? TRIPKI_E_TOO_BIG : 2 + l > n - 6 ?
			    TRIPKI_E_TRUNCATED : TRIPKI_E_DECRYPT;
		} else
			want = TRIPKI_E_DECRYPT;
		server_refuses(t, f, n, FX_NOW, want);
		f[i] ^= bit;
	}
	/* Unharmed by all that, the M5 goes through. */
	assert_int_equal(tripki_server_handle(t->s, f, n, FX_NOW, &t->b, NULL),
	    TRIPKI_OK);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_OK);
}

/* An M5 wrapped for another key cannot be read: DECRYPT. */
static void
m5_for_another_key(void **state)
{
	struct st *t = *state;
	const struct fx_keys *k = fx_keys();
	uint8_t key[TRIPKI_KEY_LEN];
	tripki_buf prefix, pt;
	struct m5 m;

	memset(key, 0x42, sizeof(key));
	tripki_buf_init(&prefix, 1024);
	tripki_buf_init(&pt, 1024);
	memset(&m, 0, sizeof(m));
	m.ts = FX_NOW;
	strcpy(m.id, FX_CLIENT_ID);
	strcpy(m.ip, "198.51.100.4");
	m.port = 1;
	assert_int_equal(m5_encode(&pt, &m), TRIPKI_OK);
	assert_int_equal(wrap_prefix(k->spare_key, OAEP_LABEL_M5, key, &prefix),
	    TRIPKI_OK);
	assert_int_equal(seal_frame(&t->a, TRIPKI_M5, key, DIR_REQUEST, 0,
	    prefix.data, prefix.len, pt.data, pt.len), TRIPKI_OK);
	server_refuses(t, t->a.data, t->a.len, FX_NOW, TRIPKI_E_DECRYPT);
	/* The same under the server's key is taken. */
	tripki_buf_reset(&t->a);
	tripki_buf_reset(&prefix);
	assert_int_equal(wrap_prefix(k->server_key, OAEP_LABEL_M5, key,
	    &prefix), TRIPKI_OK);
	assert_int_equal(seal_frame(&t->a, TRIPKI_M5, key, DIR_REQUEST, 0,
	    prefix.data, prefix.len, pt.data, pt.len), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, FX_NOW,
	    &t->b, NULL), TRIPKI_OK);
	/* And under the M1 label it is refused. */
	tripki_buf_reset(&t->a);
	tripki_buf_reset(&prefix);
	assert_int_equal(wrap_prefix(k->server_key, OAEP_LABEL_M1, key,
	    &prefix), TRIPKI_OK);
	assert_int_equal(seal_frame(&t->a, TRIPKI_M5, key, DIR_REQUEST, 0,
	    prefix.data, prefix.len, pt.data, pt.len), TRIPKI_OK);
	server_refuses(t, t->a.data, t->a.len, FX_NOW, TRIPKI_E_DECRYPT);
	tripki_buf_free(&prefix);
	tripki_buf_free(&pt);
}

static void
m5_truncated_and_trailing(void **state)
{
	struct st *t = *state;
	uint8_t f[1024];
	size_t n;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	memcpy(f, t->a.data, n = t->a.len);
	server_refuses(t, f, n - 1, FX_NOW, TRIPKI_E_TRUNCATED);
	f[n] = 0;
	server_refuses(t, f, n + 1, FX_NOW, TRIPKI_E_TRAILING);
}

/* t's server replaced by one with room for max sessions of 1 s. */
static void
small_server(struct st *t, size_t max)
{
	tripki_server_config cfg;

	tripki_server_free(t->s);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_SERVER_ID;
	cfg.key = fx_keys()->server_key;
	cfg.cert = fx_keys()->server_cert;
	cfg.serve = fx_serve;
	cfg.max_sessions = max;
	cfg.lifetime_s = 1;
	assert_int_equal(tripki_server_new(&cfg, &t->s), TRIPKI_OK);
}

static void
server_busy(void **state)
{
	struct st *t = *state;

	small_server(t, 2);
	for (int i = 0; i < 2; i++) {
		to_m5(t, FX_NOW + i, FX_NOW + i, FX_NOW + i);
		assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
		    FX_NOW + i, &t->b, NULL), TRIPKI_OK);
	}
	to_m5(t, FX_NOW + 2, FX_NOW + 2, FX_NOW + 2);
	server_refuses(t, t->a.data, t->a.len, FX_NOW + 2, TRIPKI_E_BUSY);
	/* Once the sessions have expired and gone, there is room. */
	to_m5(t, FX_NOW + 1000 + 2 * SKEW, FX_NOW + 1000 + 2 * SKEW,
	    FX_NOW + 1000 + 2 * SKEW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW + 1001 + 2 * SKEW, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_session_count(t->s), 1);
}

/*
 * Sessions go in the order they were made, each as soon as its lifetime
 * and two skews have passed, full table or not; a held one is kept.
 */
static void
server_sessions_expire_oldest_first(void **state)
{
	struct st *t = *state;
	int64_t dead0 = FX_NOW + 1000 + 2 * SKEW;   /* the first one's end */

	small_server(t, 3);
	/* Made at FX_NOW, FX_NOW + 10, FX_NOW + 20. */
	for (int i = 0; i < 3; i++) {
		to_m5(t, FX_NOW + 10 * i, FX_NOW + 10 * i, FX_NOW + 10 * i);
		assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
		    FX_NOW + 10 * i, &t->b, NULL), TRIPKI_OK);
	}
	/* One ms before the first one's end: full. */
	to_m5(t, dead0 - 1, dead0 - 1, dead0 - 1);
	server_refuses(t, t->a.data, t->a.len, dead0 - 1, TRIPKI_E_BUSY);
	assert_int_equal(tripki_server_session_count(t->s), 3);
	/* At its end it goes, and only it: room for one. */
	to_m5(t, dead0, dead0, dead0);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    dead0, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_session_count(t->s), 3);
	/* Ten ms on, the second goes as well. */
	to_m5(t, dead0 + 15, dead0 + 15, dead0 + 15);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    dead0 + 15, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_session_count(t->s), 3);
	to_m5(t, dead0 + 16, dead0 + 16, dead0 + 16);
	server_refuses(t, t->a.data, t->a.len, dead0 + 16, TRIPKI_E_BUSY);
}

/* ---- M6 at the client ---- */

/* The server's M6 to the client's M5 (K_tmp2 from the fixed seed). */
static void
m6_for(struct st *t, int64_t t5, int64_t t6, tripki_buf *m6)
{
	to_m5(t, t5, t5, t5);
	tripki_buf_reset(m6);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, t6,
	    m6, NULL), TRIPKI_OK);
	assert_int_equal(m6->data[1], TRIPKI_M6);
}

static void
ts6_stale_and_future(void **state)
{
	struct st *t = *state;
	tripki_buf m6;

	fx_buf(&m6);
	m6_for(t, FX_NOW, FX_NOW, &m6);
	client_refuses(t, m6.data, m6.len, FX_NOW + SKEW + 1, TRIPKI_E_STALE);
	m6_for(t, FX_NOW, FX_NOW + SKEW, &m6);
	client_refuses(t, m6.data, m6.len, FX_NOW - 1, TRIPKI_E_FUTURE);
	assert_true(tripki_client_skew(t->c) == -SKEW - 1);
	m6_for(t, FX_NOW + 1, FX_NOW + 1, &m6);
	assert_int_equal(tripki_client_recv(t->c, m6.data, m6.len,
	    FX_NOW + 1 + SKEW, &t->a), TRIPKI_OK);
	tripki_buf_free(&m6);
}

static void
m6_flipped_bits(void **state)
{
	struct st *t = *state;
	uint8_t f[512];
	size_t n;

	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, FX_NOW,
	    &t->b, NULL), TRIPKI_OK);
	memcpy(f, t->b.data, n = t->b.len);
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			int want;

			f[i] ^= (uint8_t)(1u << bit);
			want = i < 6 ? header_code(f, n, TRIPKI_M6,
			    TRIPKI_E_DECRYPT, TRIPKI_E_UNEXPECTED) :
			    TRIPKI_E_DECRYPT;
			/* The same K_tmp2 for every try. */
			to_m5(t, FX_NOW, FX_NOW, FX_NOW);
			client_refuses(t, f, n, FX_NOW, want);
			f[i] ^= (uint8_t)(1u << bit);
		}
	client_refuses(t, f, n - 1, FX_NOW, TRIPKI_E_STATE);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	client_refuses(t, f, n - 1, FX_NOW, TRIPKI_E_TRUNCATED);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	assert_int_equal(tripki_client_recv(t->c, f, n, FX_NOW, &t->a),
	    TRIPKI_OK);
}

/* M6 sealed by hand under the K_tmp2 the client will use. */
static void
craft_m6(tripki_buf *out, const char *id, uint32_t lifetime, int64_t ts)
{
	uint8_t k[TRIPKI_KEY_LEN];
	uint64_t s = SEED;
	tripki_buf pt;
	struct m6 m;

	fx_rand(&s, k, sizeof(k));
	tripki_buf_init(&pt, 1024);
	memset(&m, 0x11, sizeof(m));
	m.ts = ts;
	m.lifetime = lifetime;
	strcpy(m.id, id);
	assert_int_equal(m6_encode(&pt, &m), TRIPKI_OK);
	tripki_buf_reset(out);
	assert_int_equal(seal_frame(out, TRIPKI_M6, k, DIR_RESPONSE, 0, NULL, 0,
	    pt.data, pt.len), TRIPKI_OK);
	tripki_buf_free(&pt);
}

static void
m6_crafted(void **state)
{
	struct st *t = *state;
	tripki_buf m6;

	fx_buf(&m6);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	craft_m6(&m6, FX_CLIENT_ID, 30, FX_NOW);
	assert_int_equal(tripki_client_recv(t->c, m6.data, m6.len, FX_NOW,
	    &t->a), TRIPKI_OK);
	assert_int_equal(tripki_client_lifetime(t->c), 30);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	craft_m6(&m6, OTHER_ID, 30, FX_NOW);
	client_refuses(t, m6.data, m6.len, FX_NOW, TRIPKI_E_ID_MISMATCH);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	craft_m6(&m6, FX_CLIENT_ID, 0, FX_NOW);
	client_refuses(t, m6.data, m6.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	/* An M6 sealed in the request direction: a reflected message. */
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	tripki_buf_reset(&m6);
	assert_int_equal(tripki_buf_append(&m6, t->a.data, t->a.len),
	    TRIPKI_OK);
	assert_int_equal(m6.data[1], TRIPKI_M5);
	m6.data[1] = TRIPKI_M6;
	client_refuses(t, m6.data, m6.len, FX_NOW, TRIPKI_E_DECRYPT);
	tripki_buf_free(&m6);
}

/*
 * An M6 whose body is only a (wrong) tag: nothing to decrypt, refused as
 * any other forgery.
 */
static void
m6_tag_only(void **state)
{
	struct st *t = *state;
	uint8_t f[6 + GCM_TAG_LEN];

	memset(f, 0x33, sizeof(f));
	f[0] = TRIPKI_PROTOCOL_VERSION;
	f[1] = TRIPKI_M6;
	put_u32(f + 2, GCM_TAG_LEN);
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	client_refuses(t, f, sizeof(f), FX_NOW, TRIPKI_E_DECRYPT);
}

/* ---- Frames out of place ---- */

static void
minimal_frame(uint8_t f[16], uint8_t type)
{
	memset(f, 0, 16);
	f[0] = TRIPKI_PROTOCOL_VERSION;
	f[1] = type;
	put_u32(f + 2, 10);
}

static void
server_unexpected_types(void **state)
{
	static const uint8_t types[] = {
		TRIPKI_M1, TRIPKI_M2, TRIPKI_M4, TRIPKI_M6, TRIPKI_M8,
	};
	struct st *t = *state;
	tripki_buf back;
	uint8_t f[16];

	fx_buf(&back);
	for (size_t i = 0; i < sizeof(types); i++) {
		minimal_frame(f, types[i]);
		server_refuses(t, f, 16, FX_NOW, TRIPKI_E_UNEXPECTED);
	}
	/* The real M4 and M6, sent back to the server. */
	to_m5(t, FX_NOW, FX_NOW, FX_NOW);
	assert_int_equal(tripki_buf_append(&back, t->b.data, t->b.len),
	    TRIPKI_OK);
	server_refuses(t, back.data, back.len, FX_NOW, TRIPKI_E_UNEXPECTED);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	tripki_buf_reset(&back);
	assert_int_equal(tripki_buf_append(&back, t->b.data, t->b.len),
	    TRIPKI_OK);
	server_refuses(t, back.data, back.len, FX_NOW, TRIPKI_E_UNEXPECTED);
	tripki_buf_free(&back);
	/* An error frame gets no answer. */
	tripki_buf_reset(&t->a);
	assert_int_equal(tripki_frame_error(&t->a, TRIPKI_E_STALE), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_PEER);
	assert_int_equal(t->b.len, 0);
}

static void
client_wrong_type_in_each_state(void **state)
{
	struct st *t = *state;
	uint8_t f[16];

	for (int ty = TRIPKI_M1; ty <= TRIPKI_M8; ty++) {
		minimal_frame(f, (uint8_t)ty);
		if (ty != TRIPKI_M4) {
			hello(t, FX_NOW);
			client_refuses(t, f, 16, FX_NOW, TRIPKI_E_UNEXPECTED);
		}
		if (ty != TRIPKI_M6) {
			to_m5(t, FX_NOW, FX_NOW, FX_NOW);
			client_refuses(t, f, 16, FX_NOW, TRIPKI_E_UNEXPECTED);
		}
	}
	/* Waiting for M8: the session survives a stray frame. */
	fx_register(t->c, t->s, FX_NOW);
	for (int ty = TRIPKI_M1; ty <= TRIPKI_M7; ty++) {
		minimal_frame(f, (uint8_t)ty);
		assert_int_equal(tripki_client_request(t->c,
		    (const uint8_t *)FX_REQ, 4, FX_NOW, &t->a), TRIPKI_OK);
		assert_int_equal(tripki_client_state(t->c),
		    TRIPKI_CLIENT_WAIT_M8);
		assert_int_equal(tripki_client_recv(t->c, f, 16, FX_NOW, &t->a),
		    TRIPKI_E_UNEXPECTED);
		assert_int_equal(t->a.len, 0);
		assert_int_equal(tripki_client_state(t->c),
		    TRIPKI_CLIENT_READY);
	}
	/* No frame at all is expected when idle, ready or failed. */
	minimal_frame(f, TRIPKI_M4);
	assert_int_equal(tripki_client_recv(t->c, f, 16, FX_NOW, &t->a),
	    TRIPKI_E_STATE);
	renew_client(t);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_IDLE);
	assert_int_equal(tripki_client_recv(t->c, f, 16, FX_NOW, &t->a),
	    TRIPKI_E_STATE);
	hello(t, FX_NOW);
	client_refuses(t, f, 16, FX_NOW, TRIPKI_E_TRUNCATED);
	assert_int_equal(tripki_client_recv(t->c, f, 16, FX_NOW, &t->a),
	    TRIPKI_E_STATE);
}

/* Header damage on the client's side: version, type, length. */
static void
client_bad_headers(void **state)
{
	struct st *t = *state;
	uint8_t f[16];

	minimal_frame(f, TRIPKI_M4);
	f[0] = 2;
	hello(t, FX_NOW);
	client_refuses(t, f, 16, FX_NOW, TRIPKI_E_VERSION);
	minimal_frame(f, 0x11);
	hello(t, FX_NOW);
	client_refuses(t, f, 16, FX_NOW, TRIPKI_E_TYPE);
	minimal_frame(f, TRIPKI_M4);
	put_u32(f + 2, 65531);
	hello(t, FX_NOW);
	client_refuses(t, f, 16, FX_NOW, TRIPKI_E_TOO_BIG);
	/* A malformed error frame is an error of its own. */
	minimal_frame(f, TRIPKI_MERROR);
	hello(t, FX_NOW);
	client_refuses(t, f, 16, FX_NOW, TRIPKI_E_TRAILING);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(full_registration),
		T(sessions_are_separate),
		T(client_clock_behind_within_skew),
		T(m3_other_server),
		T(ts3_stale_and_future),
		T(m3_trailing_and_truncated),
		T(m3_bad_fields),
		T(ts4_stale_and_future),
		T(m4_crafted),
		T(m4_pk_exact_bytes),
		T(m4_same_cert_checked_every_time),
		T(m4_truncated_body),
		T(m4_expired_certificate),
		T(m4_revoked_certificate),
		T(m5_exact_replay),
		T(m5_replay_at_window_edge),
		T(ts5_stale_and_future),
		T(m5_from_before_start),
		T(m5_two_steps),
		T(m5_flipped_bits),
		T(m5_for_another_key),
		T(m5_truncated_and_trailing),
		T(server_busy),
		T(server_sessions_expire_oldest_first),
		T(ts6_stale_and_future),
		T(m6_flipped_bits),
		T(m6_crafted),
		T(server_unexpected_types),
		T(client_wrong_type_in_each_state),
		T(client_bad_headers),
		/* Last: UBSan stops the run here while the core has the bug. */
		T(m6_tag_only),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
