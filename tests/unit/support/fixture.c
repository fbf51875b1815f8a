#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

#include "fixture.h"

static struct fx_keys keys;

static X509 *
issue_via_phase1(void)
{
	tripki_enroll *e = fx_enroll(NULL);
	tripki_ca *ca = fx_ca(NULL);
	tripki_buf m1, m2;
	X509 *cert;

	fx_buf(&m1);
	fx_buf(&m2);
	assert_int_equal(tripki_enroll_start(e, FX_NOW, &m1), TRIPKI_OK);
	assert_int_equal(tripki_ca_handle(ca, m1.data, m1.len, FX_NOW, NULL,
	    &m2), TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(e, m2.data, m2.len, FX_NOW),
	    TRIPKI_OK);
	keys.server_key = tripki_enroll_key(e);
	cert = tripki_enroll_cert(e);
	tripki_buf_free(&m1);
	tripki_buf_free(&m2);
	tripki_enroll_free(e);
	tripki_ca_free(ca);
	return cert;
}

const struct fx_keys *
fx_keys(void)
{
	if (keys.ca_key != NULL)
		return &keys;
	assert_int_equal(tripki_key_generate(2048, &keys.ca_key), TRIPKI_OK);
	assert_int_equal(tripki_ca_selfsign(keys.ca_key, FX_CA_ID, 3650,
	    FX_NOW - 86400000LL, NULL, &keys.ca_cert), TRIPKI_OK);
	assert_int_equal(tripki_key_generate(2048, &keys.other_ca_key),
	    TRIPKI_OK);
	assert_int_equal(tripki_ca_selfsign(keys.other_ca_key, FX_CA_ID, 3650,
	    FX_NOW - 86400000LL, NULL, &keys.other_ca_cert), TRIPKI_OK);
	assert_int_equal(tripki_key_generate(2048, &keys.spare_key), TRIPKI_OK);
	keys.server_cert = issue_via_phase1();
	return &keys;
}

void
fx_buf(tripki_buf *b)
{
	tripki_buf_init(b, TRIPKI_FRAME_MAX);
}

tripki_ca *
fx_ca(const tripki_common *cm)
{
	tripki_ca_config cfg;
	tripki_ca *ca = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CA_ID;
	cfg.key = keys.ca_key;
	cfg.cert = keys.ca_cert;
	if (cm != NULL)
		cfg.common = *cm;
	assert_int_equal(tripki_ca_new(&cfg, &ca), TRIPKI_OK);
	return ca;
}

tripki_enroll *
fx_enroll(EVP_PKEY *csr_key)
{
	tripki_enroll_config cfg;
	tripki_enroll *e = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_SERVER_ID;
	cfg.ca_cert = keys.ca_cert;
	cfg.csr_key = csr_key;
	assert_int_equal(tripki_enroll_new(&cfg, &e), TRIPKI_OK);
	return e;
}

int
fx_serve(void *ctx, const char *client_id, const uint8_t *req,
    size_t req_len, tripki_buf *data, int *status)
{
	(void)ctx;
	(void)client_id;
	if (req_len == strlen(FX_REQ) && memcmp(req, FX_REQ, req_len) == 0) {
		if (tripki_buf_append(data, FX_DATA, strlen(FX_DATA)) != TRIPKI_OK)
			return TRIPKI_E_TOO_BIG;
		*status = TRIPKI_STATUS_OK;
	} else
		*status = TRIPKI_STATUS_NOT_FOUND;
	return TRIPKI_OK;
}

tripki_server *
fx_server(uint32_t lifetime_s)
{
	tripki_server_config cfg;
	tripki_server *s = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_SERVER_ID;
	cfg.key = keys.server_key;
	cfg.cert = keys.server_cert;
	cfg.lifetime_s = lifetime_s;
	cfg.serve = fx_serve;
	assert_int_equal(tripki_server_new(&cfg, &s), TRIPKI_OK);
	return s;
}

tripki_client *
fx_client(void)
{
	tripki_client_config cfg;
	tripki_client *c = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CLIENT_ID;
	cfg.server_id = FX_SERVER_ID;
	cfg.ca_cert = keys.ca_cert;
	cfg.ip = "127.0.0.1";
	cfg.port = 50000;
	assert_int_equal(tripki_client_new(&cfg, &c), TRIPKI_OK);
	return c;
}

void
fx_register(tripki_client *c, tripki_server *s, int64_t now)
{
	tripki_buf a, b;

	fx_buf(&a);
	fx_buf(&b);
	assert_int_equal(tripki_client_hello(c, now, &a), TRIPKI_OK);
	assert_int_equal(tripki_server_handle(s, a.data, a.len, now, &b, NULL),
	    TRIPKI_OK);
	assert_int_equal(tripki_client_recv(c, b.data, b.len, now, &a),
	    TRIPKI_OK);
	assert_int_equal(tripki_server_handle(s, a.data, a.len, now, &b, NULL),
	    TRIPKI_OK);
	assert_int_equal(tripki_client_recv(c, b.data, b.len, now, &a),
	    TRIPKI_OK);
	assert_int_equal(tripki_client_state(c), TRIPKI_CLIENT_READY);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
}

/* SplitMix64 stream: reproducible, for tests and vectors only. */
int
fx_rand(void *ctx, uint8_t *out, size_t n)
{
	uint64_t *st = ctx, z = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0) {
			z = (*st += 0x9e3779b97f4a7c15ULL);
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			z ^= z >> 31;
		}
		out[i] = (uint8_t)(z >> (8 * (i % 8)));
	}
	return 0;
}

const char *
fx_vectors_dir(void)
{
	static const char *dirs[] = {
		"tests/vectors", "../tests/vectors", "../../tests/vectors",
	};
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			return dirs[i];
	fprintf(stderr, "tests/vectors not found (run from the repository "
	    "root)\n");
	return NULL;
}

int
fx_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
fx_unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s), i;
	int hi, lo;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = fx_hexval(s[2 * i])) < 0 ||
		    (lo = fx_hexval(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}
