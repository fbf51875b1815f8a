/* Phase 3: requests under the session key, sequence numbers, expiry. */
#include <string.h>

#include "fixture.h"
#include "internal.h"
#include "msg.h"

struct st {
	tripki_server *s;
	tripki_client *c;
	tripki_buf a, b;
};

static int
setup(void **state)
{
	struct st *t = calloc(1, sizeof(*t));

	fx_keys();
	t->s = fx_server(60);
	t->c = fx_client();
	fx_buf(&t->a);
	fx_buf(&t->b);
	fx_register(t->c, t->s, FX_NOW);
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
	free(t);
	return 0;
}

/* One request and its answer; returns the server's code. */
static int
exchange(struct st *t, const char *req, int64_t now)
{
	int r;

	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)req,
	    strlen(req), now, &t->a), TRIPKI_OK);
	r = tripki_server_handle(t->s, t->a.data, t->a.len, now, &t->b, NULL);
	if (r == TRIPKI_OK)
		assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
		    now, &t->a), TRIPKI_OK);
	return r;
}

static void
several_requests(void **state)
{
	struct st *t = *state;
	const uint8_t *d;
	size_t n;
	int i, status;

	for (i = 0; i < 5; i++) {
		assert_int_equal(exchange(t, FX_REQ, FX_NOW + i * 1000),
		    TRIPKI_OK);
		d = tripki_client_data(t->c, &n, &status);
		assert_int_equal(status, TRIPKI_STATUS_OK);
		assert_int_equal(n, strlen(FX_DATA));
		assert_memory_equal(d, FX_DATA, n);
	}
	assert_int_equal(exchange(t, "nothing", FX_NOW + 6000), TRIPKI_OK);
	(void)tripki_client_data(t->c, &n, &status);
	assert_int_equal(status, TRIPKI_STATUS_NOT_FOUND);
	assert_int_equal(n, 0);
}

/*
 * The server keeps phase 3 keys in SERVER_GCM_SLOTS slots, a session's in
 * slot serial % SERVER_GCM_SLOTS: with one session more than slots, the
 * first and the last share a slot and take it from each other at every
 * request, and every session is still served under its own key.  Once
 * they have all expired and been swept, newcomers falling into their
 * slots are served too.
 */
static void
more_sessions_than_kept_keys(void **state)
{
	struct st *t = *state;
	enum { N = SERVER_GCM_SLOTS + 1 };
	tripki_client **c = calloc(N, sizeof(*c));
	const uint8_t *d;
	size_t n;
	int status;

	assert_non_null(c);
	c[0] = t->c;                    /* the first session, from setup */
	for (int i = 1; i < N; i++) {
		c[i] = fx_client();
		fx_register(c[i], t->s, FX_NOW);
	}
	/* The first and the last in turn, then every one. */
	for (int i = 0; i < 8 + N; i++) {
		int j = i < 8 ? (i % 2 ? N - 1 : 0) : i - 8;

		t->c = c[j];
		assert_int_equal(exchange(t, FX_REQ, FX_NOW + i), TRIPKI_OK);
		d = tripki_client_data(c[j], &n, &status);
		assert_int_equal(status, TRIPKI_STATUS_OK);
		assert_int_equal(n, strlen(FX_DATA));
		assert_memory_equal(d, FX_DATA, n);
	}

	/* Past every lifetime and two skews: all swept as newcomers come. */
	int64_t later = FX_NOW + 60000 + 4 * 60000;
	for (int i = 1; i < 4; i++) {
		fx_register(c[i], t->s, later);
		t->c = c[i];
		assert_int_equal(exchange(t, FX_REQ, later + i), TRIPKI_OK);
	}
	assert_int_equal(tripki_server_session_count(t->s), 3);
	for (int i = 1; i < N; i++)
		tripki_client_free(c[i]);
	t->c = c[0];
	free(c);
}

static void
exact_replay_of_m7(void **state)
{
	struct st *t = *state;
	uint8_t saved[512];
	size_t n;

	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	memcpy(saved, t->a.data, n = t->a.len);
	assert_int_equal(tripki_server_handle(t->s, saved, n, FX_NOW, &t->b,
	    NULL), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, saved, n, FX_NOW + 10,
	    &t->b, NULL), TRIPKI_E_REPLAY);
	assert_int_equal(t->b.data[1], TRIPKI_MERROR);
}

static void
expired_session(void **state)
{
	struct st *t = *state;
	int64_t late = FX_NOW + 61000;

	/* The server refuses a request made (by a lying client clock) late. */
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW + 59000, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len, late,
	    &t->b, NULL), TRIPKI_E_SESSION_EXPIRED);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, late,
	    &t->a), TRIPKI_E_PEER);
	assert_int_equal(tripki_client_peer_error(t->c),
	    TRIPKI_E_SESSION_EXPIRED);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_IDLE);
}

/* The session key, learnt from the client's trace with secrets shown. */
struct keytrap {
	uint8_t ksess[TRIPKI_KEY_LEN];
	int found;
};

static void
trap(void *ctx, const char *line)
{
	struct keytrap *k = ctx;
	const char *p = strstr(line, "C <- M6   K_sess=");
	unsigned v;
	int i;

	if (p == NULL)
		return;
	p += strlen("C <- M6   K_sess=");
	for (i = 0; i < TRIPKI_KEY_LEN; i++) {
		assert_int_equal(sscanf(p + 2 * i, "%2x", &v), 1);
		k->ksess[i] = (uint8_t)v;
	}
	k->found = 1;
}

/* A client whose session key the test knows, registered with t->s. */
static tripki_client *
traced_client(struct st *t, struct keytrap *k)
{
	tripki_client_config cfg;
	tripki_client *c = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CLIENT_ID;
	cfg.server_id = FX_SERVER_ID;
	cfg.ca_cert = fx_keys()->ca_cert;
	cfg.common.trace = trap;
	cfg.common.trace_ctx = k;
	cfg.common.trace_secrets = 1;
	assert_int_equal(tripki_client_new(&cfg, &c), TRIPKI_OK);
	fx_register(c, t->s, FX_NOW);
	assert_true(k->found);
	return c;
}

/* An M7 sealed by hand under the session key, as a client would. */
static void
craft_m7(tripki_buf *out, const uint8_t sid[TRIPKI_SID_LEN],
    const uint8_t key[TRIPKI_KEY_LEN], uint64_t seq, int64_t ts,
    const char *req)
{
	uint8_t prefix[TRIPKI_SID_LEN + 8];
	struct m7 m7;
	tripki_buf pt;

	fx_buf(&pt);
	m7.ts = ts;
	m7.req = (const uint8_t *)req;
	m7.req_len = strlen(req);
	assert_int_equal(m7_encode(&pt, &m7), TRIPKI_OK);
	memcpy(prefix, sid, TRIPKI_SID_LEN);
	put_u64(prefix + TRIPKI_SID_LEN, seq);
	tripki_buf_reset(out);
	assert_int_equal(seal_frame(out, TRIPKI_M7, key, DIR_REQUEST, seq,
	    prefix, sizeof(prefix), pt.data, pt.len), TRIPKI_OK);
	tripki_buf_free(&pt);
}

static void
sequence_rules(void **state)
{
	struct st *t = *state;
	struct keytrap k = { .found = 0 };
	tripki_client *c = traced_client(t, &k);
	uint8_t sid[TRIPKI_SID_LEN];

	/* The client's first M7 tells the session id. */
	assert_int_equal(tripki_client_request(c, (const uint8_t *)FX_REQ, 4,
	    FX_NOW, &t->a), TRIPKI_OK);
	memcpy(sid, t->a.data + TRIPKI_FRAME_HEADER_LEN, sizeof(sid));
	/* Reordered: 3 is accepted, then 2 comes late. */
	craft_m7(&t->a, sid, k.ksess, 3, FX_NOW, "a");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	craft_m7(&t->a, sid, k.ksess, 2, FX_NOW, "b");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_SEQUENCE);
	/* Repeated number with other content. */
	craft_m7(&t->a, sid, k.ksess, 3, FX_NOW, "other");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_SEQUENCE);
	/* Zero is never valid; gaps are. */
	craft_m7(&t->a, sid, k.ksess, 0, FX_NOW, "zero");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_SEQUENCE);
	craft_m7(&t->a, sid, k.ksess, 100, FX_NOW, "gap");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	/* A nonce is bound to its number: seq 101 under the nonce of 102. */
	craft_m7(&t->a, sid, k.ksess, 102, FX_NOW, "x");
	put_u64(t->a.data + TRIPKI_FRAME_HEADER_LEN + TRIPKI_SID_LEN, 101);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_DECRYPT);
	assert_int_equal(t->b.data[1], TRIPKI_MERROR);
	tripki_client_free(c);
}

static void
stale_and_future_m7(void **state)
{
	struct st *t = *state;
	struct keytrap k = { .found = 0 };
	tripki_client *c = traced_client(t, &k);
	uint8_t sid[TRIPKI_SID_LEN];

	assert_int_equal(tripki_client_request(c, (const uint8_t *)FX_REQ, 4,
	    FX_NOW, &t->a), TRIPKI_OK);
	memcpy(sid, t->a.data + TRIPKI_FRAME_HEADER_LEN, sizeof(sid));
	craft_m7(&t->a, sid, k.ksess, 5, FX_NOW - 60001, "old");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_STALE);
	craft_m7(&t->a, sid, k.ksess, 6, FX_NOW + 60001, "new");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_FUTURE);
	/* At the boundary both pass. */
	craft_m7(&t->a, sid, k.ksess, 7, FX_NOW - 60000, "edge");
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	tripki_client_free(c);
}

static void
stale_and_future_m8(void **state)
{
	struct st *t = *state;
	uint8_t m8[512];
	size_t n;

	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_OK);
	memcpy(m8, t->b.data, n = t->b.len);
	assert_int_equal(tripki_client_recv(t->c, m8, n, FX_NOW + 60001,
	    &t->a), TRIPKI_E_STALE);
	assert_int_equal(tripki_client_skew(t->c), 60001);
	/* The session survives a bad answer; the next request goes on. */
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_READY);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW - 60001, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW - 60001 + 1, &t->b, NULL), TRIPKI_OK);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len,
	    FX_NOW - 60001 - 60001, &t->a), TRIPKI_E_FUTURE);
}

static void
flipped_bits_m7_m8(void **state)
{
	struct st *t = *state;
	uint8_t m7[512], m8[512];
	size_t n7, n8, i;
	int bit, r;

	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	memcpy(m7, t->a.data, n7 = t->a.len);
	/* Every bit of the seq, ciphertext and tag: refused as DECRYPT. */
	for (i = TRIPKI_FRAME_HEADER_LEN + TRIPKI_SID_LEN; i < n7; i++)
		for (bit = 0; bit < 8; bit++) {
			m7[i] ^= (uint8_t)(1u << bit);
			r = tripki_server_handle(t->s, m7, n7, FX_NOW, &t->b, NULL);
			assert_int_equal(r, TRIPKI_E_DECRYPT);
			m7[i] ^= (uint8_t)(1u << bit);
		}
	/* Every bit of the session id: no such session. */
	for (i = TRIPKI_FRAME_HEADER_LEN; i < TRIPKI_FRAME_HEADER_LEN +
	    TRIPKI_SID_LEN; i++) {
		m7[i] ^= 0x01;
		assert_int_equal(tripki_server_handle(t->s, m7, n7, FX_NOW,
		    &t->b, NULL), TRIPKI_E_UNKNOWN_SESSION);
		m7[i] ^= 0x01;
	}
	/* The type byte: M7 turned into an M3 or M8 is refused early. */
	m7[1] = TRIPKI_M8;
	assert_int_equal(tripki_server_handle(t->s, m7, n7, FX_NOW, &t->b,
	    NULL), TRIPKI_E_UNEXPECTED);
	m7[1] = TRIPKI_M7;
	/* The intact request still goes through after all that. */
	assert_int_equal(tripki_server_handle(t->s, m7, n7, FX_NOW, &t->b,
	    NULL), TRIPKI_OK);
	memcpy(m8, t->b.data, n8 = t->b.len);
	for (i = TRIPKI_FRAME_HEADER_LEN + TRIPKI_SID_LEN + 8; i < n8; i++) {
		m8[i] ^= 0x80;
		assert_int_equal(tripki_client_recv(t->c, m8, n8, FX_NOW, &t->a),
		    TRIPKI_E_DECRYPT);
		/* A refused answer leaves the client ready: wait again. */
		assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_READY);
		m8[i] ^= 0x80;
		tripki_client_reconnect(t->c);
		assert_int_equal(tripki_client_request(t->c,
		    (const uint8_t *)FX_REQ, 4, FX_NOW, &t->a), TRIPKI_OK);
		assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
		    FX_NOW, &t->b, NULL), TRIPKI_OK);
		memcpy(m8, t->b.data, n8 = t->b.len);
	}
	assert_int_equal(tripki_client_recv(t->c, m8, n8, FX_NOW, &t->a),
	    TRIPKI_OK);
}

static void
m8_from_another_exchange(void **state)
{
	struct st *t = *state;
	uint8_t old[512];
	size_t n;

	/* An answer to request 1 offered as the answer to request 2. */
	assert_int_equal(exchange(t, FX_REQ, FX_NOW), TRIPKI_OK);
	memcpy(old, t->b.data, n = t->b.len);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_client_recv(t->c, old, n, FX_NOW, &t->a),
	    TRIPKI_E_SEQUENCE);
}

static void
resumed_on_new_connection(void **state)
{
	struct st *t = *state;
	const uint8_t *d;
	size_t n;
	int status;

	/* A request lost with its connection; the session goes on. */
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	tripki_client_reconnect(t->c);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_READY);
	assert_int_equal(exchange(t, FX_REQ, FX_NOW + 1000), TRIPKI_OK);
	d = tripki_client_data(t->c, &n, &status);
	assert_int_equal(status, TRIPKI_STATUS_OK);
	assert_memory_equal(d, FX_DATA, n);
	/* A second client, its own session, the same server. */
	{
		tripki_client *c2 = fx_client();

		fx_register(c2, t->s, FX_NOW + 2000);
		assert_int_equal(tripki_server_session_count(t->s), 2);
		tripki_client_free(c2);
	}
}

static void
wrong_state_and_type(void **state)
{
	struct st *t = *state;
	uint8_t big[TRIPKI_DATA_MAX + 1];

	/* READY: no frame is awaited. */
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_E_STATE);
	memset(big, 'x', sizeof(big));
	assert_int_equal(tripki_client_request(t->c, big, sizeof(big), FX_NOW,
	    &t->a), TRIPKI_E_TOO_BIG);
	/* WAIT_M8: a second request must wait for the answer. */
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->b), TRIPKI_E_STATE);
	/* WAIT_M8 given an M7 (a reflected request). */
	assert_int_equal(tripki_client_recv(t->c, t->a.data, t->a.len, FX_NOW,
	    &t->b), TRIPKI_E_UNEXPECTED);
}

static void
local_expiry(void **state)
{
	struct st *t = *state;

	assert_int_equal(tripki_client_lifetime(t->c), 60);
	assert_int_equal(tripki_client_expiry(t->c), FX_NOW + 60000);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW + 60000, &t->a), TRIPKI_E_SESSION_EXPIRED);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_IDLE);
	/* Registering again gives a new session that works. */
	fx_register(t->c, t->s, FX_NOW + 61000);
	assert_int_equal(exchange(t, FX_REQ, FX_NOW + 62000), TRIPKI_OK);
}

static void
unknown_session_after_restart(void **state)
{
	struct st *t = *state;

	/* A restarted server knows no session: the client must register. */
	tripki_server_free(t->s);
	t->s = fx_server(60);
	assert_int_equal(tripki_client_request(t->c, (const uint8_t *)FX_REQ,
	    4, FX_NOW, &t->a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(t->s, t->a.data, t->a.len,
	    FX_NOW, &t->b, NULL), TRIPKI_E_UNKNOWN_SESSION);
	assert_int_equal(tripki_client_recv(t->c, t->b.data, t->b.len, FX_NOW,
	    &t->a), TRIPKI_E_PEER);
	assert_int_equal(tripki_client_peer_error(t->c),
	    TRIPKI_E_UNKNOWN_SESSION);
	assert_int_equal(tripki_client_state(t->c), TRIPKI_CLIENT_IDLE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(several_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(more_sessions_than_kept_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(exact_replay_of_m7, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_session, setup, teardown),
		cmocka_unit_test_setup_teardown(sequence_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_and_future_m7, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_and_future_m8, setup, teardown),
		cmocka_unit_test_setup_teardown(flipped_bits_m7_m8, setup, teardown),
		cmocka_unit_test_setup_teardown(m8_from_another_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(resumed_on_new_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_state_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(local_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_session_after_restart, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
