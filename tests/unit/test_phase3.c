/* Phase 3: requests under the session key, sequence numbers, expiry. */
#include <string.h>

#include "fixture.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(several_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(exact_replay_of_m7, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_session, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
