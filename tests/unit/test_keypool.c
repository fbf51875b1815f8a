/*
 * The CA's seed-mode key pool: refilled in the background, every key handed
 * out once, and correct when dry (a key made on the spot, or "busy").
 */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* The pool lives in the tripki command, not the library: built in here. */
#include "../../src/cli/keypool.c"

#define WAIT_MS 120000

static void
bad_arguments(void **state)
{
	tcli_keypool *p = (tcli_keypool *)1;

	(void)state;
	assert_int_equal(tcli_keypool_new(1024, 4, 0, 0, &p), TRIPKI_E_INVALID);
	assert_null(p);
	assert_int_equal(tcli_keypool_new(2048, 0, 0, 0, &p), TRIPKI_E_INVALID);
	assert_int_equal(tcli_keypool_new(2048, TCLI_KEYPOOL_MAX + 1, 0, 0,
	    &p), TRIPKI_E_INVALID);
	assert_int_equal(tcli_keypool_new(2048, 4, TCLI_KEYPOOL_THREADS_MAX + 1,
	    0, &p), TRIPKI_E_INVALID);
	assert_int_equal(tcli_keypool_new(2048, 4, 0, 7, &p), TRIPKI_E_INVALID);
	tcli_keypool_free(NULL);
}

static void
refills_and_hands_out_once(void **state)
{
	tcli_keypool_stats st;
	tcli_keypool *p;
	EVP_PKEY *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(tcli_keypool_new(2048, 2, 1, TCLI_KEYPOOL_DRY_BUSY,
	    &p), TRIPKI_OK);
	assert_int_equal(tcli_keypool_wait(p, 2, WAIT_MS), 2);
	assert_int_equal(tcli_keypool_take(p, 2048, &a), TRIPKI_OK);
	assert_int_equal(tcli_keypool_take(p, 2048, &b), TRIPKI_OK);
	assert_int_equal(EVP_PKEY_get_bits(a), 2048);
	assert_int_not_equal(EVP_PKEY_eq(a, b), 1);
	/* Each take woke the refill thread: the pool fills again. */
	assert_int_equal(tcli_keypool_wait(p, 1, WAIT_MS), 1);
	assert_int_equal(tcli_keypool_take(p, 2048, &c), TRIPKI_OK);
	assert_int_not_equal(EVP_PKEY_eq(a, c), 1);
	assert_int_not_equal(EVP_PKEY_eq(b, c), 1);
	tcli_keypool_stats_get(p, &st);
	assert_int_equal(st.taken, 3);
	assert_int_equal(st.dry, 0);
	assert_true(st.generated >= 3);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(c);
	tcli_keypool_free(p);
}

static void
dry_generates(void **state)
{
	tcli_keypool_stats st;
	tcli_keypool *p;
	EVP_PKEY *k = NULL;

	(void)state;
	/* No refill thread: the pool is dry from the start. */
	assert_int_equal(tcli_keypool_new(2048, 4, 0,
	    TCLI_KEYPOOL_DRY_GENERATE, &p), TRIPKI_OK);
	assert_int_equal(tcli_keypool_wait(p, 1, 10), 0);
	assert_int_equal(tcli_keypool_keygen(p, 2048, &k), TRIPKI_OK);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	tcli_keypool_stats_get(p, &st);
	assert_int_equal(st.dry, 1);
	assert_int_equal(st.taken, 0);
	EVP_PKEY_free(k);
	tcli_keypool_free(p);
}

static void
dry_busy(void **state)
{
	tcli_keypool *p;
	EVP_PKEY *k = (EVP_PKEY *)1;

	(void)state;
	assert_int_equal(tcli_keypool_new(2048, 4, 0, TCLI_KEYPOOL_DRY_BUSY,
	    &p), TRIPKI_OK);
	assert_int_equal(tcli_keypool_take(p, 2048, &k), TRIPKI_E_BUSY);
	assert_null(k);
	tcli_keypool_free(p);
}

static void
other_size_made_on_the_spot(void **state)
{
	tcli_keypool_stats st;
	tcli_keypool *p;
	EVP_PKEY *k = NULL;

	(void)state;
	assert_int_equal(tcli_keypool_new(2048, 4, 0, TCLI_KEYPOOL_DRY_BUSY,
	    &p), TRIPKI_OK);
	/* Busy applies to the pool's size only. */
	assert_int_equal(tcli_keypool_take(p, 3072, &k), TRIPKI_OK);
	assert_int_equal(EVP_PKEY_get_bits(k), 3072);
	tcli_keypool_stats_get(p, &st);
	assert_int_equal(st.dry, 0);
	EVP_PKEY_free(k);
	tcli_keypool_free(p);
}

static void
free_while_refilling(void **state)
{
	tcli_keypool *p;

	(void)state;
	assert_int_equal(tcli_keypool_new(2048, 16, 2,
	    TCLI_KEYPOOL_DRY_GENERATE, &p), TRIPKI_OK);
	tcli_keypool_free(p);  /* waits for the keys in the making */
}

/* One seed-mode issuance through the real CA and enrollment. */
static EVP_PKEY *
enroll_seed(tripki_ca *ca)
{
	tripki_enroll *e = fx_enroll(NULL);
	tripki_buf a, b;
	EVP_PKEY *k;

	fx_buf(&a);
	fx_buf(&b);
	assert_int_equal(tripki_enroll_start(e, FX_NOW, &a), TRIPKI_OK);
	assert_int_equal(tripki_ca_handle(ca, a.data, a.len, FX_NOW, NULL, &b),
	    TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(e, b.data, b.len, FX_NOW),
	    TRIPKI_OK);
	k = tripki_enroll_key(e);
	assert_non_null(k);
	tripki_enroll_free(e);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
	return k;
}

static void
ca_seed_mode_through_pool(void **state)
{
	const struct fx_keys *fx = fx_keys();
	tripki_ca_config cfg;
	tcli_keypool_stats st;
	tcli_keypool *p;
	tripki_ca *ca;
	EVP_PKEY *k[3];
	int i;

	(void)state;
	/* No refill thread: dry from the start, keys made on the spot. */
	assert_int_equal(tcli_keypool_new(2048, 1, 0,
	    TCLI_KEYPOOL_DRY_GENERATE, &p), TRIPKI_OK);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = FX_CA_ID;
	cfg.key = fx->ca_key;
	cfg.cert = fx->ca_cert;
	cfg.keygen = tcli_keypool_keygen;
	cfg.keygen_ctx = p;
	assert_int_equal(tripki_ca_new(&cfg, &ca), TRIPKI_OK);
	k[0] = enroll_seed(ca);
	k[1] = enroll_seed(ca);
	tcli_keypool_stats_get(p, &st);
	assert_int_equal(st.dry, 2);
	tcli_keypool_free(p);
	/* And with a refilled pool of three. */
	assert_int_equal(tcli_keypool_new(2048, 3, 1,
	    TCLI_KEYPOOL_DRY_GENERATE, &p), TRIPKI_OK);
	cfg.keygen_ctx = p;
	tripki_ca_free(ca);
	assert_int_equal(tripki_ca_new(&cfg, &ca), TRIPKI_OK);
	assert_int_equal(tcli_keypool_wait(p, 3, WAIT_MS), 3);
	k[2] = enroll_seed(ca);
	tcli_keypool_stats_get(p, &st);
	assert_int_equal(st.taken, 1);
	assert_int_equal(st.dry, 0);
	assert_int_not_equal(EVP_PKEY_eq(k[0], k[1]), 1);
	assert_int_not_equal(EVP_PKEY_eq(k[1], k[2]), 1);
	assert_int_not_equal(EVP_PKEY_eq(k[0], k[2]), 1);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(k[i]);
	tripki_ca_free(ca);
	tcli_keypool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(refills_and_hands_out_once),
		cmocka_unit_test(dry_generates),
		cmocka_unit_test(dry_busy),
		cmocka_unit_test(other_size_made_on_the_spot),
		cmocka_unit_test(free_while_refilling),
		cmocka_unit_test(ca_seed_mode_through_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
