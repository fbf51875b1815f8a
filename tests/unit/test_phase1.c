/*
 * Phase 1 in memory: the server enrolls with the CA (M1, M2), in seed mode
 * and CSR mode, with the CA's policy and store hooks, and every way an M1
 * or an M2 can be wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

#define SKEW DEFAULT_SKEW_MS
#define SEED 0x5eed
#define OTHER_ID "ID-Other"
#define PEER "192.0.2.7:40000"
#define TOKEN "enroll-token-0042"

/* What the CA's hooks saw, and what they answer. */
struct hooks {
	int auth_calls, auth_result;
	char auth_id[TRIPKI_ID_MAX + 1];
	uint8_t token[TRIPKI_TOKEN_MAX];
	size_t token_len;
	int auth_csr;
	X509 *auth_renew;
	char auth_peer[64];

	int record_calls, record_result;
	const tripki_buf *out;   /* the CA's output buffer */
	int out_untouched;       /* it still held the sentinel at record time */
	X509 *recorded;
	uint8_t serial[32];
	size_t serial_len;

	int keygen_calls;
	EVP_PKEY *keygen_key;    /* handed out instead of a new key */

	uint64_t seed;           /* the enroll's randomness */
	char trace[8192];        /* the enroll's trace lines */
};

struct eopts {
	const char *id;
	X509 *ca_cert;
	int bits;
	EVP_PKEY *csr_key;
	const tripki_buf *csr;   /* a request made ahead for csr_key */
	EVP_PKEY *renew_key;
	X509 *renew_cert;
	int trace_secrets;
};

struct st {
	struct hooks h;
	struct eopts o;
	tripki_ca *ca;
	tripki_enroll *e;
	tripki_buf m1, m2;
};

static const char sentinel[] = "no M2 yet";

static int
authorize(void *ctx, const tripki_issue_info *info, int64_t now)
{
	struct hooks *h = ctx;

	(void)now;
	h->auth_calls++;
	snprintf(h->auth_id, sizeof(h->auth_id), "%s", info->id);
	assert_true(info->token_len <= sizeof(h->token));
	if (info->token_len > 0)
		memcpy(h->token, info->token, info->token_len);
	h->token_len = info->token_len;
	h->auth_csr = info->csr;
	X509_free(h->auth_renew);
	h->auth_renew = NULL;
	if (info->renew_cert != NULL) {
		X509_up_ref(info->renew_cert);
		h->auth_renew = info->renew_cert;
	}
	snprintf(h->auth_peer, sizeof(h->auth_peer), "%s",
	    info->peer ? info->peer : "(null)");
	return h->auth_result;
}

static int
record(void *ctx, const tripki_issued *is, int64_t now)
{
	struct hooks *h = ctx;

	(void)now;
	h->record_calls++;
	h->out_untouched = h->out != NULL &&
	    h->out->len == sizeof(sentinel) &&
	    memcmp(h->out->data, sentinel, sizeof(sentinel)) == 0;
	X509_free(h->recorded);
	X509_up_ref(is->cert);
	h->recorded = is->cert;
	assert_true(is->serial_len <= sizeof(h->serial));
	memcpy(h->serial, is->serial, is->serial_len);
	h->serial_len = is->serial_len;
	assert_string_equal(is->id, h->auth_id);
	return h->record_result;
}

static int
keygen(void *ctx, int bits, EVP_PKEY **out)
{
	struct hooks *h = ctx;

	h->keygen_calls++;
	if (h->keygen_key != NULL) {
		EVP_PKEY_up_ref(h->keygen_key);
		*out = h->keygen_key;
		return TRIPKI_OK;
	}
	return tripki_key_generate(bits, out);
}

static void
on_trace(void *ctx, const char *line)
{
	struct hooks *h = ctx;
	size_t n = strlen(h->trace);

	snprintf(h->trace + n, sizeof(h->trace) - n, "%s\n", line);
}

static tripki_ca *
new_ca(struct hooks *h, EVP_PKEY *key, X509 *cert)
{
	tripki_ca_config cfg;
	tripki_ca *ca = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CA_ID;
	cfg.key = key;
	cfg.cert = cert;
	cfg.authorize = authorize;
	cfg.authorize_ctx = h;
	cfg.record = record;
	cfg.record_ctx = h;
	cfg.keygen = keygen;
	cfg.keygen_ctx = h;
	assert_int_equal(tripki_ca_new(&cfg, &ca), TRIPKI_OK);
	return ca;
}

static tripki_enroll *
new_enroll(struct hooks *h, const struct eopts *o)
{
	tripki_enroll_config cfg;
	tripki_enroll *e = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = o->id ? o->id : FX_SERVER_ID;
	cfg.ca_cert = o->ca_cert ? o->ca_cert : fx_keys()->ca_cert;
	cfg.bits = o->bits;
	cfg.csr_key = o->csr_key;
	if (o->csr != NULL) {
		cfg.csr = o->csr->data;
		cfg.csr_len = o->csr->len;
	}
	cfg.token = (const uint8_t *)TOKEN;
	cfg.token_len = strlen(TOKEN);
	cfg.renew_key = o->renew_key;
	cfg.renew_cert = o->renew_cert;
	cfg.common.rand = fx_rand;
	cfg.common.rand_ctx = &h->seed;
	cfg.common.trace = on_trace;
	cfg.common.trace_ctx = h;
	cfg.common.trace_secrets = o->trace_secrets;
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_OK);
	return e;
}

static int
setup(void **state)
{
	struct st *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	fx_keys();
	t->h.keygen_key = fx_keys()->spare_key;
	t->h.seed = SEED;
	fx_buf(&t->m1);
	fx_buf(&t->m2);
	t->ca = new_ca(&t->h, fx_keys()->ca_key, fx_keys()->ca_cert);
	t->e = new_enroll(&t->h, &t->o);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct st *t = *state;

	tripki_ca_free(t->ca);
	tripki_enroll_free(t->e);
	tripki_buf_free(&t->m1);
	tripki_buf_free(&t->m2);
	X509_free(t->h.auth_renew);
	X509_free(t->h.recorded);
	free(t);
	return 0;
}

/* Later starts use these options. */
static void
replace_enroll(struct st *t, const struct eopts *o)
{
	t->o = *o;
	tripki_enroll_free(t->e);
	t->e = new_enroll(&t->h, o);
}

/* The enroll's K_tmp1 for the next start: the fixed randomness stream. */
static void
next_k(uint8_t k[TRIPKI_KEY_LEN])
{
	uint64_t s = SEED;

	fx_rand(&s, k, TRIPKI_KEY_LEN);
}

/* A new enroll each time, with the same K_tmp1. */
static void
start(struct st *t, int64_t now)
{
	tripki_enroll_free(t->e);
	t->e = new_enroll(&t->h, &t->o);
	t->h.seed = SEED;
	assert_int_equal(tripki_enroll_start(t->e, now, &t->m1), TRIPKI_OK);
	assert_int_equal(t->m1.data[1], TRIPKI_M1);
}

/* The CA refuses `f`: the exact code, and an error frame carrying its wire
 * form in place of an M2. */
static void
ca_refuses(struct st *t, const uint8_t *f, size_t n, int64_t now, int code)
{
	int wire = -1;

	tripki_buf_reset(&t->m2);
	assert_int_equal(tripki_ca_handle(t->ca, f, n, now, PEER, &t->m2),
	    code);
	assert_int_equal(t->m2.len, 8);
	assert_int_equal(t->m2.data[1], TRIPKI_MERROR);
	assert_int_equal(tripki_frame_error_code(t->m2.data, t->m2.len, &wire),
	    TRIPKI_OK);
	assert_int_equal(wire, tripki_err_wire(code));
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The code the frame layer gives a frame whose header was altered, or
 * `body` when the header is still that of a `want` frame.
 */
static int
header_code(const uint8_t *f, size_t n, uint8_t want, int body)
{
	uint8_t t = f[1];
	uint32_t len = be32(f + 2);

	if (f[0] != TRIPKI_PROTOCOL_VERSION)
		return TRIPKI_E_VERSION;
	if (!((t >= TRIPKI_M1 && t <= TRIPKI_M8) || t == TRIPKI_MERROR))
		return TRIPKI_E_TYPE;
	if (len > TRIPKI_FRAME_MAX - TRIPKI_FRAME_HEADER_LEN)
		return TRIPKI_E_TOO_BIG;
	if (6 + (size_t)len > n)
		return TRIPKI_E_TRUNCATED;
	if (6 + (size_t)len < n)
		return TRIPKI_E_TRAILING;
	assert_true(t != TRIPKI_MERROR); /* one flipped bit never makes it */
	return t == want ? body : TRIPKI_E_UNEXPECTED;
}

/* The code for an altered OAEP length prefix (bytes 6 and 7). */
static int
prefix_code(const uint8_t *f, size_t n)
{
	size_t l = (size_t)f[6] << 8 | f[7];

	if (l > 512)
		return TRIPKI_E_TOO_BIG;
	if (2 + l > n - 6)
		return TRIPKI_E_TRUNCATED;
	return TRIPKI_E_DECRYPT;
}

/* ---- The full exchange ---- */

static void
run_ok(struct st *t, int64_t now)
{
	start(t, now);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, now,
	    PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(t->m2.data[1], TRIPKI_M2);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len, now),
	    TRIPKI_OK);
}

static void
check_result(tripki_enroll *e, int bits, EVP_PKEY *want_key)
{
	EVP_PKEY *k = tripki_enroll_key(e);
	X509 *c = tripki_enroll_cert(e);

	assert_non_null(k);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_get_bits(k), bits);
	assert_int_equal(X509_check_private_key(c, k), 1);
	assert_int_equal(tripki_cert_verify(fx_keys()->ca_cert, c, FX_SERVER_ID,
	    k, NULL, FX_NOW + 1000), TRIPKI_OK);
	if (want_key != NULL)
		assert_int_equal(EVP_PKEY_eq(k, want_key), 1);
	EVP_PKEY_free(k);
	X509_free(c);
}

static void
seed_mode_2048(void **state)
{
	struct st *t = *state;

	/* The real key generator, as a CA without hooks runs it. */
	tripki_ca_free(t->ca);
	t->ca = fx_ca(NULL);
	run_ok(t, FX_NOW);
	check_result(t->e, 2048, NULL);
	/* Done: neither step can be repeated. */
	assert_int_equal(tripki_enroll_start(t->e, FX_NOW, &t->m1),
	    TRIPKI_E_STATE);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_STATE);
}

static void
seed_mode_3072(void **state)
{
	struct st *t = *state;
	const struct eopts o = { .bits = 3072 };

	t->h.keygen_key = NULL;
	replace_enroll(t, &o);
	run_ok(t, FX_NOW);
	assert_int_equal(t->h.keygen_calls, 1);
	check_result(t->e, 3072, NULL);
}

/* Hex from the trace line after `tag`. */
static void
trace_key(const struct hooks *h, const char *tag, uint8_t k[TRIPKI_KEY_LEN])
{
	const char *p = strstr(h->trace, tag);

	assert_non_null(p);
	p += strlen(tag);
	for (int i = 0; i < TRIPKI_KEY_LEN; i++) {
		unsigned v;

		assert_int_equal(sscanf(p + 2 * i, "%2x", &v), 1);
		k[i] = (uint8_t)v;
	}
}

static int
contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/*
 * CSR mode: the server keeps its key.  M1 carries a request with the
 * public key only, the CA makes no key, and M2 carries no private key.
 */
static void
csr_mode(void **state)
{
	struct st *t = *state;
	const struct eopts o = { .csr_key = fx_keys()->spare_key,
	    .trace_secrets = 1 };
	uint8_t k[TRIPKI_KEY_LEN];
	tripki_buf pt, der;
	struct csr *req = NULL;
	struct m1 m1;
	struct m2 m2;
	size_t plen;

	replace_enroll(t, &o);
	run_ok(t, FX_NOW);
	assert_int_equal(t->h.keygen_calls, 0);
	assert_int_equal(t->h.auth_csr, 1);
	check_result(t->e, 2048, fx_keys()->spare_key);

	/* Open both messages with K_tmp1, as the trace shows it. */
	trace_key(&t->h, "K_tmp1=", k);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	tripki_buf_init(&der, DER_MAX);
	plen = 2 + ((size_t)t->m1.data[6] << 8 | t->m1.data[7]);
	assert_int_equal(open_frame(t->m1.data, t->m1.len, plen, k, DIR_REQUEST,
	    0, &pt), TRIPKI_OK);
	assert_int_equal(m1_decode(pt.data, pt.len, &m1), TRIPKI_OK);
	assert_int_equal(m1.mode, MODE_CSR);
	assert_int_equal(m1.bits, 0);
	assert_string_equal(m1.id, FX_SERVER_ID);
	assert_int_equal(csr_parse(m1.csr, m1.csr_len, FX_SERVER_ID, &req),
	    TRIPKI_OK);
	assert_int_equal(EVP_PKEY_eq(req->key, fx_keys()->spare_key), 1);
	csr_free(req);
	assert_int_equal(key_to_pkcs8(fx_keys()->spare_key, &der), TRIPKI_OK);
	assert_false(contains(pt.data, pt.len, der.data + der.len - 64, 64));

	tripki_buf_reset(&pt);
	assert_int_equal(open_frame(t->m2.data, t->m2.len, 0, k, DIR_RESPONSE,
	    0, &pt), TRIPKI_OK);
	assert_int_equal(m2_decode(pt.data, pt.len, &m2), TRIPKI_OK);
	assert_int_equal(m2.sk_len, 0);
	assert_false(contains(t->m2.data, t->m2.len, der.data + der.len - 64,
	    64));
	tripki_buf_reset(&der);
	assert_int_equal(key_to_spki(fx_keys()->spare_key, &der), TRIPKI_OK);
	assert_int_equal(m2.pk_len, der.len);
	assert_memory_equal(m2.pk, der.data, der.len);
	tripki_buf_free(&pt);
	tripki_buf_free(&der);
}

/*
 * A request made ahead (tripki_csr_make) goes into M1 as it is, and the
 * certificate carries its key exactly as encoded there.
 */
static void
csr_made_ahead(void **state)
{
	struct st *t = *state;
	tripki_buf csr, want, got;
	const struct eopts o = { .csr_key = fx_keys()->spare_key, .csr = &csr };
	X509 *c;

	tripki_buf_init(&csr, DER_MAX);
	tripki_buf_init(&want, DER_MAX);
	tripki_buf_init(&got, DER_MAX);
	assert_int_equal(tripki_csr_make(fx_keys()->spare_key, FX_SERVER_ID,
	    &csr), TRIPKI_OK);
	replace_enroll(t, &o);
	run_ok(t, FX_NOW);
	assert_int_equal(t->h.keygen_calls, 0);
	assert_int_equal(t->h.auth_csr, 1);
	check_result(t->e, 2048, fx_keys()->spare_key);
	c = tripki_enroll_cert(t->e);
	assert_int_equal(cert_spki(c, &got), TRIPKI_OK);
	assert_int_equal(key_to_spki(fx_keys()->spare_key, &want), TRIPKI_OK);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	/* The same request serves a second enrollment. */
	replace_enroll(t, &o);
	run_ok(t, FX_NOW + 1);
	check_result(t->e, 2048, fx_keys()->spare_key);
	X509_free(c);
	tripki_buf_free(&csr);
	tripki_buf_free(&want);
	tripki_buf_free(&got);
}

/*
 * A request made ahead for another key: the CA issues for the key in the
 * request (it proves possession of it), and the server refuses a
 * certificate that is not for its own key.
 */
static void
csr_made_ahead_other_key(void **state)
{
	struct st *t = *state;
	tripki_buf csr;
	const struct eopts o = { .csr_key = fx_keys()->spare_key, .csr = &csr };

	tripki_buf_init(&csr, DER_MAX);
	assert_int_equal(tripki_csr_make(fx_keys()->server_key, FX_SERVER_ID,
	    &csr), TRIPKI_OK);
	replace_enroll(t, &o);
	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_CERT_KEY);
	tripki_buf_free(&csr);
}

/* A request made ahead needs its key; tripki_csr_make checks its input. */
static void
csr_made_ahead_invalid(void **state)
{
	tripki_enroll_config cfg;
	tripki_enroll *e = NULL;
	EVP_PKEY *small = EVP_RSA_gen(1024);
	tripki_buf csr;
	uint8_t der[8] = { 0x30 };

	(void)state;
	tripki_buf_init(&csr, DER_MAX);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_SERVER_ID;
	cfg.ca_cert = fx_keys()->ca_cert;
	cfg.csr = der;
	cfg.csr_len = sizeof(der);
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_E_INVALID);
	cfg.csr_key = fx_keys()->spare_key;
	cfg.csr_len = 0;
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_E_INVALID);
	cfg.csr_len = DER_MAX + 1;
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_E_INVALID);
	assert_null(e);
	assert_non_null(small);
	assert_int_equal(tripki_csr_make(small, FX_SERVER_ID, &csr),
	    TRIPKI_E_INVALID);
	assert_int_equal(tripki_csr_make(fx_keys()->spare_key, "bad\nid", &csr),
	    TRIPKI_E_INVALID);
	assert_int_equal(tripki_csr_make(NULL, FX_SERVER_ID, &csr),
	    TRIPKI_E_INVALID);
	assert_int_equal(csr.len, 0);
	EVP_PKEY_free(small);
	tripki_buf_free(&csr);
}

/* Secrets stay out of the trace unless asked for. */
static void
trace_redacts_secrets(void **state)
{
	struct st *t = *state;
	uint8_t k[TRIPKI_KEY_LEN];
	char hex[2 * TRIPKI_KEY_LEN + 1];

	next_k(k);
	for (int i = 0; i < TRIPKI_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", k[i]);
	run_ok(t, FX_NOW);
	assert_non_null(strstr(t->h.trace, "K_tmp1=<redacted 32 bytes>"));
	assert_null(strstr(t->h.trace, hex));
}

/* ---- The CA's hooks ---- */

static void
authorize_sees_token_and_id(void **state)
{
	struct st *t = *state;

	run_ok(t, FX_NOW);
	assert_int_equal(t->h.auth_calls, 1);
	assert_string_equal(t->h.auth_id, FX_SERVER_ID);
	assert_int_equal(t->h.token_len, strlen(TOKEN));
	assert_memory_equal(t->h.token, TOKEN, strlen(TOKEN));
	assert_int_equal(t->h.auth_csr, 0);
	assert_null(t->h.auth_renew);
	assert_string_equal(t->h.auth_peer, PEER);
	assert_int_equal(t->h.keygen_calls, 1);
	assert_int_equal(t->h.record_calls, 1);
}

static void
authorize_refuses(void **state)
{
	struct st *t = *state;

	t->h.auth_result = TRIPKI_E_NOT_AUTHORIZED;
	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(t->h.auth_calls, 1);
	assert_int_equal(t->h.keygen_calls, 0);
	assert_int_equal(t->h.record_calls, 0);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_null(tripki_enroll_key(t->e));
	assert_null(tripki_enroll_cert(t->e));
}

/* The issuance is recorded before M2 exists, with the certificate sent. */
static void
record_before_m2(void **state)
{
	struct st *t = *state;
	uint8_t serial[32];
	X509 *c;
	BIGNUM *bn;
	int n;

	start(t, FX_NOW);
	tripki_buf_reset(&t->m2);
	assert_int_equal(tripki_buf_append(&t->m2, sentinel, sizeof(sentinel)),
	    TRIPKI_OK);
	t->h.out = &t->m2;
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(t->h.record_calls, 1);
	assert_true(t->h.out_untouched);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_OK);
	c = tripki_enroll_cert(t->e);
	assert_int_equal(X509_cmp(c, t->h.recorded), 0);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	n = BN_bn2bin(bn, serial);
	assert_int_equal((size_t)n, t->h.serial_len);
	assert_memory_equal(serial, t->h.serial, (size_t)n);
	BN_free(bn);
	X509_free(c);
}

static void
record_failure(void **state)
{
	struct st *t = *state;

	t->h.record_result = TRIPKI_E_STORE;
	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_STORE);
	assert_int_equal(tripki_err_wire(TRIPKI_E_STORE), TRIPKI_E_INTERNAL);
	assert_int_equal(t->h.record_calls, 1);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e), TRIPKI_E_INTERNAL);
	assert_null(tripki_enroll_cert(t->e));
}

/* The same through tripki_ca_open and tripki_ca_finish. */
static void
two_steps(void **state)
{
	struct st *t = *state;
	tripki_ca_req *q = NULL;
	int wire = -1;

	start(t, FX_NOW - 5);
	assert_int_equal(tripki_ca_open(t->ca, t->m1.data, t->m1.len, &q),
	    TRIPKI_OK);
	assert_true(tripki_ca_req_ts(q) == FX_NOW - 5);
	assert_int_equal(t->h.auth_calls, 0);
	assert_int_equal(tripki_ca_finish(t->ca, q, FX_NOW, PEER, &t->m2),
	    TRIPKI_OK);
	tripki_ca_req_free(q);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_OK);
	assert_true(tripki_enroll_skew(t->e) == 0);

	/* A damaged M1: open says why, finish answers with the error. */
	start(t, FX_NOW);
	t->m1.data[100] ^= 0x10;
	q = NULL;
	assert_int_equal(tripki_ca_open(t->ca, t->m1.data, t->m1.len, &q),
	    TRIPKI_E_DECRYPT);
	assert_true(tripki_ca_req_ts(q) == 0);
	assert_int_equal(tripki_ca_finish(t->ca, q, FX_NOW, PEER, &t->m2),
	    TRIPKI_E_DECRYPT);
	tripki_ca_req_free(q);
	assert_int_equal(tripki_frame_error_code(t->m2.data, t->m2.len, &wire),
	    TRIPKI_OK);
	assert_int_equal(wire, TRIPKI_E_DECRYPT);
	assert_int_equal(t->h.auth_calls, 1);
}

/* ---- Freshness and replay of M1 ---- */

static void
m1_exact_replay(void **state)
{
	struct st *t = *state;
	uint8_t saved[1024];
	size_t n;

	start(t, FX_NOW);
	memcpy(saved, t->m1.data, n = t->m1.len);
	assert_int_equal(tripki_ca_handle(t->ca, saved, n, FX_NOW, PEER,
	    &t->m2), TRIPKI_OK);
	ca_refuses(t, saved, n, FX_NOW, TRIPKI_E_REPLAY);
	ca_refuses(t, saved, n, FX_NOW + SKEW, TRIPKI_E_REPLAY);
	ca_refuses(t, saved, n, FX_NOW + SKEW + 1, TRIPKI_E_STALE);
	assert_int_equal(t->h.record_calls, 1);
}

/*
 * The window an M1 stays fresh in runs from TS1 - skew to TS1 + skew on
 * the CA's clock.  An M1 stamped by a clock exactly `skew` ahead and
 * accepted at once is fresh until now + 2 * skew inclusive, so the replay
 * cache must refuse it until then, inclusive.
 */
static void
m1_replay_at_window_edge(void **state)
{
	struct st *t = *state;
	uint8_t saved[1024];
	size_t n;

	start(t, FX_NOW + SKEW);
	memcpy(saved, t->m1.data, n = t->m1.len);
	assert_int_equal(tripki_ca_handle(t->ca, saved, n, FX_NOW, PEER,
	    &t->m2), TRIPKI_OK);
	ca_refuses(t, saved, n, FX_NOW + 2 * SKEW, TRIPKI_E_REPLAY);
	ca_refuses(t, saved, n, FX_NOW + 2 * SKEW + 1, TRIPKI_E_STALE);
	assert_int_equal(t->h.record_calls, 1);
}

static void
ts1_stale_and_future(void **state)
{
	struct st *t = *state;

	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW + SKEW + 1, TRIPKI_E_STALE);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW - SKEW - 1,
	    TRIPKI_E_FUTURE);
	assert_int_equal(t->h.auth_calls, 0);
	/* The refusals are not remembered: at the edge it is accepted. */
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW + SKEW, PEER, &t->m2), TRIPKI_OK);
	/* And the server hears STALE from the CA. */
	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW + SKEW + 1, TRIPKI_E_STALE);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e), TRIPKI_E_STALE);
}

static void
ts1_at_skew_edges(void **state)
{
	struct st *t = *state;

	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW - SKEW, PEER, &t->m2), TRIPKI_OK);
	start(t, FX_NOW + 1);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW + 1 + SKEW, PEER, &t->m2), TRIPKI_OK);
}

/* ---- Damaged M1 ---- */

static void
m1_flipped_bits(void **state)
{
	struct st *t = *state;
	uint8_t f[1024];
	size_t n;

	start(t, FX_NOW);
	memcpy(f, t->m1.data, n = t->m1.len);
	assert_int_equal(f[6] << 8 | f[7], 256);
	for (size_t i = 0; i < n; i++) {
		uint8_t bit = (uint8_t)(1u << (i % 8));
		int want;

		f[i] ^= bit;
		if (i < 6)
			want = header_code(f, n, TRIPKI_M1, TRIPKI_E_DECRYPT);
		else if (i < 8)
			want = prefix_code(f, n);
		else
			want = TRIPKI_E_DECRYPT;
		ca_refuses(t, f, n, FX_NOW, want);
		f[i] ^= bit;
	}
	/* The length bytes of the prefix, each way they can go wrong. */
	f[6] = 0x00, f[7] = 0x00;
	ca_refuses(t, f, n, FX_NOW, TRIPKI_E_DECRYPT);
	f[6] = 0x00, f[7] = 0xff;
	ca_refuses(t, f, n, FX_NOW, TRIPKI_E_DECRYPT);
	f[6] = 0x02, f[7] = 0x01;
	ca_refuses(t, f, n, FX_NOW, TRIPKI_E_TOO_BIG);
	f[6] = 0x01, f[7] = 0xf0;
	ca_refuses(t, f, n, FX_NOW, TRIPKI_E_TRUNCATED);
	f[6] = 0x01, f[7] = 0x00;
	assert_int_equal(t->h.auth_calls, 0);
	/* Nothing was remembered: the intact M1 still goes through. */
	assert_int_equal(tripki_ca_handle(t->ca, f, n, FX_NOW, PEER, &t->m2),
	    TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_OK);
}

static void
m1_for_another_ca(void **state)
{
	struct st *t = *state;
	const struct eopts o = { .ca_cert = fx_keys()->other_ca_cert };

	replace_enroll(t, &o);
	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_DECRYPT);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e), TRIPKI_E_DECRYPT);
}

static void
m1_truncated_and_trailing(void **state)
{
	struct st *t = *state;
	uint8_t f[1024];
	size_t n;

	start(t, FX_NOW);
	memcpy(f, t->m1.data, n = t->m1.len);
	for (size_t l = 0; l < n; l++)
		ca_refuses(t, f, l, FX_NOW, TRIPKI_E_TRUNCATED);
	f[n] = 0;
	ca_refuses(t, f, n + 1, FX_NOW, TRIPKI_E_TRAILING);
	/* A body cut short with a header that agrees: the tag is gone. */
	put_u32(f + 2, (uint32_t)(n - 6 - 1));
	ca_refuses(t, f, n - 1, FX_NOW, TRIPKI_E_DECRYPT);
	/* Grown by a byte the header counts: the tag no longer matches. */
	put_u32(f + 2, (uint32_t)(n - 6 + 1));
	ca_refuses(t, f, n + 1, FX_NOW, TRIPKI_E_DECRYPT);
}

/* Frames that are not M1. */
static void
ca_wrong_types(void **state)
{
	struct st *t = *state;
	uint8_t f[16];

	memset(f, 0, sizeof(f));
	f[0] = TRIPKI_PROTOCOL_VERSION;
	put_u32(f + 2, 10);
	for (int ty = TRIPKI_M2; ty <= TRIPKI_M8; ty++) {
		f[1] = (uint8_t)ty;
		ca_refuses(t, f, 16, FX_NOW, TRIPKI_E_UNEXPECTED);
	}
	/* An error frame is never answered, so no two peers trade errors. */
	assert_int_equal(tripki_frame_error(&t->m1, TRIPKI_E_DECRYPT),
	    TRIPKI_OK);
	assert_int_equal(tripki_buf_append(&t->m2, "x", 1), TRIPKI_OK);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_E_PEER);
	assert_int_equal(t->m2.len, 0);
}

/*
 * A CA that started at FX_NOW has an empty replay cache: an M1 stamped
 * before it started might be one it already answered, and is stale.
 */
static void
m1_from_before_start(void **state)
{
	struct st *t = *state;
	tripki_ca_config cfg;

	tripki_ca_free(t->ca);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CA_ID;
	cfg.key = fx_keys()->ca_key;
	cfg.cert = fx_keys()->ca_cert;
	cfg.keygen = keygen;
	cfg.keygen_ctx = &t->h;
	cfg.common.started_ms = FX_NOW;
	assert_int_equal(tripki_ca_new(&cfg, &t->ca), TRIPKI_OK);
	start(t, FX_NOW - 1);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_STALE);
	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW + 10, PEER, &t->m2), TRIPKI_OK);
}

/* M1s made by hand with the CA's public key: fields the enroll never
 * sends. */
static void
craft_m1(tripki_buf *out, const struct m1 *m, const uint8_t *extra,
    size_t extra_len)
{
	uint8_t k[TRIPKI_KEY_LEN];
	tripki_buf pt, prefix;

	next_k(k);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	tripki_buf_init(&prefix, 1024);
	assert_int_equal(m1_encode(&pt, m), TRIPKI_OK);
	assert_int_equal(buf_put(&pt, extra, extra_len), TRIPKI_OK);
	assert_int_equal(wrap_prefix(X509_get0_pubkey(fx_keys()->ca_cert),
	    OAEP_LABEL_M1, k, &prefix), TRIPKI_OK);
	tripki_buf_reset(out);
	assert_int_equal(seal_frame(out, TRIPKI_M1, k, DIR_REQUEST, 0,
	    prefix.data, prefix.len, pt.data, pt.len), TRIPKI_OK);
	tripki_buf_free(&pt);
	tripki_buf_free(&prefix);
}

static void
m1_crafted_fields(void **state)
{
	struct st *t = *state;
	uint8_t big[TRIPKI_TOKEN_MAX + 1];
	tripki_buf csr;
	struct m1 m;

	memset(big, 't', sizeof(big));
	tripki_buf_init(&csr, DER_MAX);
	memset(&m, 0, sizeof(m));
	m.ts = FX_NOW;
	strcpy(m.id, FX_SERVER_ID);
	m.mode = MODE_SEED;
	m.bits = 2048;
	/* A good one first, so the rest fail for their own reason. */
	craft_m1(&t->m1, &m, NULL, 0);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);

	m.ts = FX_NOW + 1;
	craft_m1(&t->m1, &m, (const uint8_t *)"x", 1);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_TRAILING);
	m.bits = 1024;
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	m.bits = 2048;
	m.mode = 2;
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	m.mode = MODE_CSR; /* with bits and no request */
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	m.mode = MODE_SEED;
	m.token = big;
	m.token_len = sizeof(big);
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_TOO_BIG);
	m.token_len = 0;
	m.rcert = big;
	m.rcert_len = 10; /* a renewal certificate without its signature */
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	m.rcert_len = 0;
	/* A request for another identity than the one asked for. */
	assert_int_equal(csr_make(fx_keys()->spare_key, OTHER_ID, &csr),
	    TRIPKI_OK);
	m.mode = MODE_CSR;
	m.bits = 0;
	m.csr = csr.data;
	m.csr_len = csr.len;
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	/* A timestamp above INT64_MAX. */
	m.csr_len = 0;
	m.mode = MODE_SEED;
	m.bits = 2048;
	m.ts = -1;
	craft_m1(&t->m1, &m, NULL, 0);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_BAD_FIELD);
	assert_int_equal(t->h.auth_calls, 1);
	tripki_buf_free(&csr);
}

/* An M1 whose sealed part is only a (wrong) tag. */
static void
m1_tag_only(void **state)
{
	struct st *t = *state;
	uint8_t f[1024];
	size_t n = 6 + 2 + 256 + GCM_TAG_LEN;

	start(t, FX_NOW);
	memcpy(f, t->m1.data, n);
	put_u32(f + 2, (uint32_t)(n - 6));
	ca_refuses(t, f, n, FX_NOW, TRIPKI_E_DECRYPT);
}

/* ---- Damaged, stale or forged M2 ---- */

/* Each M2 needs an enroll waiting with the same K_tmp1: restart it. */
static int
enroll_takes(struct st *t, const uint8_t *f, size_t n, int64_t now)
{
	start(t, now);
	return tripki_enroll_recv(t->e, f, n, now);
}

static void
m2_flipped_bits(void **state)
{
	struct st *t = *state;
	uint8_t *f;
	size_t n;

	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	n = t->m2.len;
	f = malloc(n);
	assert_non_null(f);
	memcpy(f, t->m2.data, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t bit = (uint8_t)(1u << (i % 8));
		int want;

		f[i] ^= bit;
		want = i < 6 ? header_code(f, n, TRIPKI_M2, TRIPKI_E_DECRYPT) :
		    TRIPKI_E_DECRYPT;
		assert_int_equal(enroll_takes(t, f, n, FX_NOW), want);
		assert_null(tripki_enroll_cert(t->e));
		f[i] ^= bit;
	}
	/* Cut short, or with a byte more. */
	assert_int_equal(enroll_takes(t, f, n - 1, FX_NOW), TRIPKI_E_TRUNCATED);
	f = realloc(f, n + 1);
	assert_non_null(f);
	f[n] = 0;
	assert_int_equal(enroll_takes(t, f, n + 1, FX_NOW), TRIPKI_E_TRAILING);
	/* The intact M2 is still good for the same K_tmp1. */
	assert_int_equal(enroll_takes(t, f, n, FX_NOW), TRIPKI_OK);
	free(f);
}

/* An error frame or a failed M2 ends the exchange: no second try. */
static void
m2_after_failure(void **state)
{
	struct st *t = *state;

	start(t, FX_NOW);
	assert_int_equal(tripki_enroll_start(t->e, FX_NOW, &t->m2),
	    TRIPKI_E_STATE);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	t->m2.data[20] ^= 1;
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_DECRYPT);
	t->m2.data[20] ^= 1;
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_STATE);
	/* An M3 where M2 was awaited. */
	start(t, FX_NOW);
	t->m2.data[1] = TRIPKI_M3;
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_UNEXPECTED);
}

static void
m2_stale_and_future(void **state)
{
	struct st *t = *state;

	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(enroll_takes(t, t->m2.data, t->m2.len,
	    FX_NOW + SKEW + 1), TRIPKI_E_STALE);
	assert_true(tripki_enroll_skew(t->e) == SKEW + 1);
	assert_int_equal(enroll_takes(t, t->m2.data, t->m2.len, FX_NOW + SKEW),
	    TRIPKI_OK);

	/* The CA's clock ahead by the whole skew, and the server's 1 ms behind
	 * its own M1. */
	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW + SKEW, PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(enroll_takes(t, t->m2.data, t->m2.len, FX_NOW - 1),
	    TRIPKI_E_FUTURE);
}

/*
 * The CA's clock a second ahead of the server's, well inside the skew the
 * protocol allows: the certificate must be acceptable at once.
 */
static void
m2_ca_clock_ahead_within_skew(void **state)
{
	struct st *t = *state;

	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len,
	    FX_NOW + 1000, PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_OK);
}

/*
 * A CA holding another key under the same name cannot even read the M1:
 * implicit rejection turns it into DECRYPT, and the server hears that.
 */
static void
m2_from_ca_with_other_key(void **state)
{
	struct st *t = *state;

	tripki_ca_free(t->ca);
	t->ca = new_ca(&t->h, fx_keys()->other_ca_key,
	    fx_keys()->other_ca_cert);
	start(t, FX_NOW);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW, TRIPKI_E_DECRYPT);
	assert_int_equal(t->h.auth_calls, 0);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e), TRIPKI_E_DECRYPT);
}

/* An M2 sealed by hand under the K_tmp1 the enroll will use. */
struct m2_parts {
	int64_t ts;
	const char *id;
	EVP_PKEY *pk;
	X509 *cert;
	EVP_PKEY *sk;      /* NULL: none */
	const char *extra; /* appended to the plaintext */
};

static void
craft_m2(tripki_buf *out, const struct m2_parts *p)
{
	uint8_t k[TRIPKI_KEY_LEN];
	tripki_buf pt, pk, cert, sk;
	struct m2 m;

	next_k(k);
	tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
	tripki_buf_init(&pk, DER_MAX);
	tripki_buf_init(&cert, DER_MAX);
	tripki_buf_init(&sk, DER_MAX);
	assert_int_equal(key_to_spki(p->pk, &pk), TRIPKI_OK);
	assert_int_equal(cert_to_der(p->cert, &cert), TRIPKI_OK);
	if (p->sk != NULL)
		assert_int_equal(key_to_pkcs8(p->sk, &sk), TRIPKI_OK);
	memset(&m, 0, sizeof(m));
	m.ts = p->ts;
	strcpy(m.id, p->id);
	m.pk = pk.data;
	m.pk_len = pk.len;
	m.cert = cert.data;
	m.cert_len = cert.len;
	m.sk = sk.data;
	m.sk_len = sk.len;
	assert_int_equal(m2_encode(&pt, &m), TRIPKI_OK);
	if (p->extra != NULL)
		assert_int_equal(buf_put(&pt, p->extra, strlen(p->extra)),
		    TRIPKI_OK);
	tripki_buf_reset(out);
	assert_int_equal(seal_frame(out, TRIPKI_M2, k, DIR_RESPONSE, 0, NULL, 0,
	    pt.data, pt.len), TRIPKI_OK);
	tripki_buf_free(&pt);
	tripki_buf_free(&pk);
	tripki_buf_free(&cert);
	tripki_buf_free(&sk);
}

static int
crafted(struct st *t, const struct m2_parts *p)
{
	craft_m2(&t->m2, p);
	return enroll_takes(t, t->m2.data, t->m2.len, FX_NOW);
}

static void
m2_crafted(void **state)
{
	struct st *t = *state;
	const struct fx_keys *k = fx_keys();
	EVP_PKEY *key = k->spare_key;
	X509 *good = NULL, *other_ca = NULL, *other_id = NULL;
	struct m2_parts p = { FX_NOW, FX_SERVER_ID, key, NULL, key, NULL };

	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, key, FX_SERVER_ID,
	    30, FX_NOW, NULL, &good), TRIPKI_OK);
	assert_int_equal(cert_issue(k->other_ca_key, k->other_ca_cert, key,
	    FX_SERVER_ID, 30, FX_NOW, NULL, &other_ca), TRIPKI_OK);
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, key, OTHER_ID, 30,
	    FX_NOW, NULL, &other_id), TRIPKI_OK);

	/* The crafted M2 is right when its parts are. */
	p.cert = good;
	assert_int_equal(crafted(t, &p), TRIPKI_OK);
	/* Certificate from another CA with the same name. */
	p.cert = other_ca;
	assert_int_equal(crafted(t, &p), TRIPKI_E_CERT_ISSUER);
	/* Certificate for another subject. */
	p.cert = other_id;
	assert_int_equal(crafted(t, &p), TRIPKI_E_CERT_SUBJECT);
	p.cert = good;
	/* PK_S other than the certificate's key. */
	p.pk = k->server_key;
	assert_int_equal(crafted(t, &p), TRIPKI_E_CERT_KEY);
	p.pk = key;
	/* SK_S other than the private half of PK_S. */
	p.sk = k->server_key;
	assert_int_equal(crafted(t, &p), TRIPKI_E_CERT_KEY);
	/* No SK_S in seed mode. */
	p.sk = NULL;
	assert_int_equal(crafted(t, &p), TRIPKI_E_BAD_FIELD);
	p.sk = key;
	/* ID_S other than the one asked for. */
	p.id = OTHER_ID;
	p.cert = other_id;
	assert_int_equal(crafted(t, &p), TRIPKI_E_ID_MISMATCH);
	p.id = FX_SERVER_ID;
	p.cert = good;
	/* A byte after the last field. */
	p.extra = "!";
	assert_int_equal(crafted(t, &p), TRIPKI_E_TRAILING);
	p.extra = NULL;
	/* Expired by the time it arrives (and stale too: freshness first). */
	p.ts = FX_NOW + 31 * 86400000LL;
	craft_m2(&t->m2, &p);
	assert_int_equal(enroll_takes(t, t->m2.data, t->m2.len, p.ts),
	    TRIPKI_E_CERT_EXPIRED);
	p.ts = FX_NOW - SKEW - 1;
	assert_int_equal(crafted(t, &p), TRIPKI_E_STALE);
	X509_free(good);
	X509_free(other_ca);
	X509_free(other_id);
}

/* In CSR mode the CA must not send a private key, nor another key. */
static void
m2_crafted_csr_mode(void **state)
{
	struct st *t = *state;
	const struct fx_keys *k = fx_keys();
	const struct eopts o = { .csr_key = k->spare_key };
	X509 *mine = NULL, *theirs = NULL;
	struct m2_parts p = { FX_NOW, FX_SERVER_ID, k->spare_key, NULL, NULL,
	    NULL };

	replace_enroll(t, &o);
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, k->spare_key,
	    FX_SERVER_ID, 30, FX_NOW, NULL, &mine), TRIPKI_OK);
	assert_int_equal(cert_issue(k->ca_key, k->ca_cert, k->server_key,
	    FX_SERVER_ID, 30, FX_NOW, NULL, &theirs), TRIPKI_OK);
	p.cert = mine;
	assert_int_equal(crafted(t, &p), TRIPKI_OK);
	p.sk = k->spare_key;
	assert_int_equal(crafted(t, &p), TRIPKI_E_BAD_FIELD);
	p.sk = NULL;
	p.pk = k->server_key;
	p.cert = theirs;
	assert_int_equal(crafted(t, &p), TRIPKI_E_CERT_KEY);
	X509_free(mine);
	X509_free(theirs);
}

/*
 * The server asked for a 3072-bit key; a CA (or its key source) that hands
 * back a 2048-bit one has not done what was asked, and the server should
 * not take it silently.
 */
static void
seed_key_size_as_asked(void **state)
{
	struct st *t = *state;
	const struct eopts o = { .bits = 3072 };

	replace_enroll(t, &o);
	start(t, FX_NOW);
	assert_int_equal(tripki_ca_handle(t->ca, t->m1.data, t->m1.len, FX_NOW,
	    PEER, &t->m2), TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW), TRIPKI_E_KEY);
}

/* ---- Renewal ---- */

static void
renewal(void **state)
{
	struct st *t = *state;
	const struct eopts o = { .renew_key = fx_keys()->server_key,
	    .renew_cert = fx_keys()->server_cert };

	replace_enroll(t, &o);
	run_ok(t, FX_NOW + 1000);
	assert_int_equal(t->h.auth_calls, 1);
	assert_non_null(t->h.auth_renew);
	assert_int_equal(X509_cmp(t->h.auth_renew, fx_keys()->server_cert), 0);
	check_result(t->e, 2048, fx_keys()->spare_key);
}

static void
renewal_refused(struct st *t, const struct eopts *o)
{
	replace_enroll(t, o);
	start(t, FX_NOW + 1000);
	ca_refuses(t, t->m1.data, t->m1.len, FX_NOW + 1000,
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(t->h.auth_calls, 0);
	assert_int_equal(t->h.keygen_calls, 0);
	assert_int_equal(tripki_enroll_recv(t->e, t->m2.data, t->m2.len,
	    FX_NOW + 1000), TRIPKI_E_PEER);
	assert_int_equal(tripki_enroll_peer_error(t->e),
	    TRIPKI_E_NOT_AUTHORIZED);
}

static void
renewal_wrong_key(void **state)
{
	const struct eopts o = { .renew_key = fx_keys()->spare_key,
	    .renew_cert = fx_keys()->server_cert };

	renewal_refused(*state, &o);
}

/* The current certificate names another identity. */
static void
renewal_other_identity(void **state)
{
	const struct eopts o = { .id = OTHER_ID,
	    .renew_key = fx_keys()->server_key,
	    .renew_cert = fx_keys()->server_cert };

	renewal_refused(*state, &o);
}

/* The current certificate comes from another CA with the same name. */
static void
renewal_foreign_certificate(void **state)
{
	const struct fx_keys *k = fx_keys();
	X509 *x = NULL;

	assert_int_equal(cert_issue(k->other_ca_key, k->other_ca_cert,
	    k->server_key, FX_SERVER_ID, 30, FX_NOW, NULL, &x), TRIPKI_OK);
	renewal_refused(*state, &(struct eopts){ .renew_key = k->server_key,
	    .renew_cert = x });
	X509_free(x);
}

/* ---- Configuration ---- */

static void
bad_configs(void **state)
{
	const struct fx_keys *k = fx_keys();
	tripki_enroll_config ec;
	tripki_ca_config cc;
	tripki_enroll *e = NULL;
	tripki_ca *ca = NULL;

	(void)state;
	memset(&ec, 0, sizeof(ec));
	ec.id = FX_SERVER_ID;
	ec.ca_cert = k->ca_cert;
	ec.bits = 1024;
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_E_INVALID);
	ec.bits = 0;
	ec.token_len = TRIPKI_TOKEN_MAX + 1;
	ec.token = (const uint8_t *)TOKEN;
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_E_INVALID);
	ec.token_len = 0;
	ec.renew_key = k->server_key;
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_E_INVALID);
	ec.renew_key = NULL;
	ec.id = "bad\tid";
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_E_INVALID);
	ec.id = FX_SERVER_ID;
	ec.ca_id = "ID-Someone-Else";
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_E_CERT_SUBJECT);
	assert_null(e);

	memset(&cc, 0, sizeof(cc));
	cc.id = FX_CA_ID;
	cc.key = k->ca_key;
	cc.cert = k->other_ca_cert;
	assert_int_equal(tripki_ca_new(&cc, &ca), TRIPKI_E_KEY);
	cc.cert = k->ca_cert;
	cc.id = "ID-Other-CA";
	assert_int_equal(tripki_ca_new(&cc, &ca), TRIPKI_E_CERT_SUBJECT);
	assert_null(ca);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(seed_mode_2048),
		T(seed_mode_3072),
		T(csr_mode),
		T(csr_made_ahead),
		T(csr_made_ahead_other_key),
		T(csr_made_ahead_invalid),
		T(trace_redacts_secrets),
		T(authorize_sees_token_and_id),
		T(authorize_refuses),
		T(record_before_m2),
		T(record_failure),
		T(two_steps),
		T(m1_exact_replay),
		T(m1_replay_at_window_edge),
		T(ts1_stale_and_future),
		T(ts1_at_skew_edges),
		T(m1_flipped_bits),
		T(m1_for_another_ca),
		T(m1_truncated_and_trailing),
		T(ca_wrong_types),
		T(m1_from_before_start),
		T(m1_crafted_fields),
		T(m2_flipped_bits),
		T(m2_after_failure),
		T(m2_stale_and_future),
		T(m2_ca_clock_ahead_within_skew),
		T(m2_from_ca_with_other_key),
		T(m2_crafted),
		T(m2_crafted_csr_mode),
		T(seed_key_size_as_asked),
		T(renewal),
		T(renewal_wrong_key),
		T(renewal_other_identity),
		T(renewal_foreign_certificate),
		T(bad_configs),
		/* Last: UBSan stops the run here while the core has the bug. */
		T(m1_tag_only),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
