/* The trace never copies a peer's bytes raw into a log line. */
#include <string.h>

#include "fixture.h"
#include "internal.h"

static void
text_escapes_what_is_not_printable(void **state)
{
	const uint8_t in[] = "a\x1b[2Jb\"c\\\n\xff";
	char out[256];

	(void)state;
	trace_text(out, sizeof(out), in, sizeof(in) - 1);
	assert_string_equal(out, "a\\x1b[2Jb\\x22c\\x5c\\x0a\\xff");
}

static void
text_cut_at_60_bytes(void **state)
{
	uint8_t in[100];
	char out[256], want[64];

	(void)state;
	memset(in, 'x', sizeof(in));
	trace_text(out, sizeof(out), in, sizeof(in));
	memset(want, 'x', 60);
	memcpy(want + 60, "...", 4);
	assert_string_equal(out, want);
	trace_text(out, sizeof(out), in, 60);
	assert_int_equal(strlen(out), 60);
	trace_text(out, sizeof(out), NULL, 0);
	assert_string_equal(out, "");
}

static void
text_worst_case_fits(void **state)
{
	uint8_t in[100];
	char out[256];

	(void)state;
	memset(in, 0, sizeof(in));
	trace_text(out, sizeof(out), in, sizeof(in));
	assert_int_equal(strlen(out), 60 * 4 + 3);
}

struct lines {
	int n;
	int raw;
};

static void
collect(void *ctx, const char *line)
{
	struct lines *l = ctx;
	const char *p;

	l->n++;
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			l->raw++;
}

/* A request full of control bytes, traced by client and server. */
static void
roles_trace_requests_escaped(void **state)
{
	tripki_server_config scfg;
	tripki_client_config ccfg;
	struct lines l = { 0, 0 };
	tripki_server *s = NULL;
	tripki_client *c = NULL;
	tripki_buf a, b;
	const uint8_t req[] = "\x1b]0;owned\x07\r\nfake line";

	(void)state;
	fx_keys();
	memset(&scfg, 0, sizeof(scfg));
	scfg.id = FX_SERVER_ID;
	scfg.key = fx_keys()->server_key;
	scfg.cert = fx_keys()->server_cert;
	scfg.serve = fx_serve;
	scfg.common.trace = collect;
	scfg.common.trace_ctx = &l;
	assert_int_equal(tripki_server_new(&scfg, &s), TRIPKI_OK);
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.id = FX_CLIENT_ID;
	ccfg.server_id = FX_SERVER_ID;
	ccfg.ca_cert = fx_keys()->ca_cert;
	ccfg.common.trace = collect;
	ccfg.common.trace_ctx = &l;
	assert_int_equal(tripki_client_new(&ccfg, &c), TRIPKI_OK);
	fx_buf(&a);
	fx_buf(&b);
	fx_register(c, s, FX_NOW);
	assert_int_equal(tripki_client_request(c, req, sizeof(req) - 1, FX_NOW,
	    &a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(s, a.data, a.len, FX_NOW, &b,
	    NULL), TRIPKI_OK);
	assert_int_equal(tripki_client_recv(c, b.data, b.len, FX_NOW, &a),
	    TRIPKI_OK);
	assert_true(l.n >= 10);
	assert_int_equal(l.raw, 0);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
	tripki_client_free(c);
	tripki_server_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_escapes_what_is_not_printable),
		cmocka_unit_test(text_cut_at_60_bytes),
		cmocka_unit_test(text_worst_case_fits),
		cmocka_unit_test(roles_trace_requests_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
