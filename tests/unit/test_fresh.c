/* Freshness window, the replay cache, and the table under both. */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "internal.h"

#define SKEW 60000

/* ---- fresh_check ---- */

static void
skew_boundaries(void **state)
{
	int64_t d = 0;

	(void)state;
	assert_int_equal(fresh_check(FX_NOW, FX_NOW, SKEW, &d), TRIPKI_OK);
	assert_int_equal(d, 0);
	/* Exactly the skew, either way, passes. */
	assert_int_equal(fresh_check(FX_NOW - SKEW, FX_NOW, SKEW, &d),
	    TRIPKI_OK);
	assert_int_equal(d, SKEW);
	assert_int_equal(fresh_check(FX_NOW + SKEW, FX_NOW, SKEW, &d),
	    TRIPKI_OK);
	assert_int_equal(d, -SKEW);
	/* One millisecond more does not, and the difference is reported. */
	assert_int_equal(fresh_check(FX_NOW - SKEW - 1, FX_NOW, SKEW, &d),
	    TRIPKI_E_STALE);
	assert_int_equal(d, SKEW + 1);
	assert_int_equal(fresh_check(FX_NOW + SKEW + 1, FX_NOW, SKEW, &d),
	    TRIPKI_E_FUTURE);
	assert_int_equal(d, -SKEW - 1);
	assert_int_equal(fresh_check(FX_NOW, FX_NOW, SKEW, NULL), TRIPKI_OK);
}

static void
skew_extremes(void **state)
{
	int64_t d;

	(void)state;
	/* Anything a timestamp field can hold, against a real clock. */
	assert_int_equal(fresh_check(0, FX_NOW, SKEW, &d), TRIPKI_E_STALE);
	assert_int_equal(d, FX_NOW);
	assert_int_equal(fresh_check(INT64_MAX, FX_NOW, SKEW, &d),
	    TRIPKI_E_FUTURE);
	assert_true(d < 0);
	/* A zero skew allows only the same millisecond. */
	assert_int_equal(fresh_check(FX_NOW, FX_NOW, 0, NULL), TRIPKI_OK);
	assert_int_equal(fresh_check(FX_NOW - 1, FX_NOW, 0, NULL),
	    TRIPKI_E_STALE);
	assert_int_equal(fresh_check(FX_NOW + 1, FX_NOW, 0, NULL),
	    TRIPKI_E_FUTURE);
}

/* ---- Replay cache ---- */

static void
fp_of(uint8_t fp[DIGEST_LEN], unsigned i)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "message %u", i);

	assert_int_equal(digest16((const uint8_t *)s, (size_t)n, fp),
	    TRIPKI_OK);
}

static void
replay_second_add(void **state)
{
	uint8_t a[DIGEST_LEN], b[DIGEST_LEN];
	replay *rc = NULL;

	(void)state;
	assert_int_equal(replay_new(16, &rc), TRIPKI_OK);
	fp_of(a, 1);
	fp_of(b, 2);
	assert_int_equal(replay_check_add(rc, a, FX_NOW, FX_NOW + 2 * SKEW),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, a, FX_NOW, FX_NOW + 2 * SKEW),
	    TRIPKI_E_REPLAY);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 2 * SKEW - 1,
	    FX_NOW + 4 * SKEW), TRIPKI_E_REPLAY);
	assert_int_equal(replay_check_add(rc, b, FX_NOW + 1, FX_NOW + 2 * SKEW),
	    TRIPKI_OK);
	assert_int_equal(replay_count(rc), 2);
	replay_free(rc);
	replay_free(NULL);
}

/* An entry is kept until its expiry, then the fingerprint is new again. */
static void
replay_after_expiry(void **state)
{
	uint8_t a[DIGEST_LEN];
	replay *rc = NULL;

	(void)state;
	assert_int_equal(replay_new(16, &rc), TRIPKI_OK);
	fp_of(a, 1);
	assert_int_equal(replay_check_add(rc, a, FX_NOW, FX_NOW + 100),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 99, FX_NOW + 200),
	    TRIPKI_E_REPLAY);
	/* Before the next sweep is due: the stale entry is renewed. */
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 100, FX_NOW + 300),
	    TRIPKI_OK);
	assert_int_equal(replay_count(rc), 1);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 299, FX_NOW + 400),
	    TRIPKI_E_REPLAY);
	/* After a sweep: the entry was dropped and is added afresh. */
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 5000, FX_NOW + 5100),
	    TRIPKI_OK);
	assert_int_equal(replay_count(rc), 1);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 5050, FX_NOW + 5100),
	    TRIPKI_E_REPLAY);
	replay_free(rc);
}

/* Entries go by their own expiry, whatever the order they came in. */
static void
replay_expiry_out_of_order(void **state)
{
	uint8_t a[DIGEST_LEN], b[DIGEST_LEN], c[DIGEST_LEN], fp[DIGEST_LEN];
	int64_t exp[1000];
	replay *rc = NULL;
	unsigned i, live;

	(void)state;
	assert_int_equal(replay_new(2000, &rc), TRIPKI_OK);
	fp_of(a, 1);
	fp_of(b, 2);
	fp_of(c, 3);
	assert_int_equal(replay_check_add(rc, a, FX_NOW, FX_NOW + 300),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, b, FX_NOW, FX_NOW + 100),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, c, FX_NOW, FX_NOW + 200),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, b, FX_NOW + 150, FX_NOW + 5000),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, c, FX_NOW + 150, FX_NOW + 5000),
	    TRIPKI_E_REPLAY);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 250, FX_NOW + 5000),
	    TRIPKI_E_REPLAY);
	assert_int_equal(replay_check_add(rc, c, FX_NOW + 250, FX_NOW + 5000),
	    TRIPKI_OK);
	assert_int_equal(replay_check_add(rc, a, FX_NOW + 300, FX_NOW + 5000),
	    TRIPKI_OK);
	assert_int_equal(replay_count(rc), 3);
	replay_free(rc);

	/* 1,000 expiries in a scrambled order; at each step, the count is
	 * exactly the number not yet expired. */
	assert_int_equal(replay_new(2000, &rc), TRIPKI_OK);
	for (i = 0; i < 1000; i++) {
		exp[i] = FX_NOW + 1 + (int64_t)((i * 7919u) % 1000u);
		fp_of(fp, 1000 + i);
		assert_int_equal(replay_check_add(rc, fp, FX_NOW, exp[i]),
		    TRIPKI_OK);
	}
	for (int64_t t = FX_NOW; t <= FX_NOW + 1000; t += 37) {
		fp_of(fp, 5000 + (unsigned)(t - FX_NOW));
		assert_int_equal(replay_check_add(rc, fp, t, FX_NOW + 99999),
		    TRIPKI_OK);
		for (live = 0, i = 0; i < 1000; i++)
			live += exp[i] > t;
		/* the live ones, and one added at each step so far */
		assert_int_equal(replay_count(rc),
		    live + (size_t)((t - FX_NOW) / 37 + 1));
	}
	replay_free(rc);
}

static void
replay_bounded(void **state)
{
	uint8_t fp[DIGEST_LEN];
	replay *rc = NULL;
	unsigned i;

	(void)state;
	assert_int_equal(replay_new(8, &rc), TRIPKI_OK);
	for (i = 0; i < 8; i++) {
		fp_of(fp, i);
		assert_int_equal(replay_check_add(rc, fp, FX_NOW + i,
		    FX_NOW + 1000 + i), TRIPKI_OK);
	}
	/* Full of live entries: refuse rather than forget one. */
	fp_of(fp, 100);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 10, FX_NOW + 2000),
	    TRIPKI_E_BUSY);
	assert_int_equal(replay_count(rc), 8);
	/* The entries it holds are still refused as replays, not as busy. */
	fp_of(fp, 3);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 10, FX_NOW + 2000),
	    TRIPKI_E_REPLAY);
	/* Once the first three have expired there is room for three. */
	for (i = 100; i < 103; i++) {
		fp_of(fp, i);
		assert_int_equal(replay_check_add(rc, fp, FX_NOW + 1002,
		    FX_NOW + 3000), TRIPKI_OK);
	}
	assert_int_equal(replay_count(rc), 8);
	fp_of(fp, 103);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 1002, FX_NOW + 3000),
	    TRIPKI_E_BUSY);
	/* The expired ones are gone, the live ones are not. */
	fp_of(fp, 0);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 1002, FX_NOW + 3000),
	    TRIPKI_E_BUSY);
	fp_of(fp, 7);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 1002, FX_NOW + 3000),
	    TRIPKI_E_REPLAY);
	/* Everything expired: empty again. */
	fp_of(fp, 200);
	assert_int_equal(replay_check_add(rc, fp, FX_NOW + 3000, FX_NOW + 4000),
	    TRIPKI_OK);
	assert_int_equal(replay_count(rc), 1);
	replay_free(rc);
}

static void
replay_default_size(void **state)
{
	uint8_t fp[DIGEST_LEN];
	replay *rc = NULL;

	(void)state;
	assert_int_equal(replay_new(0, &rc), TRIPKI_OK);
	for (unsigned i = 0; i < 3000; i++) {
		fp_of(fp, i);
		assert_int_equal(replay_check_add(rc, fp, FX_NOW,
		    FX_NOW + SKEW),
		    TRIPKI_OK);
	}
	assert_int_equal(replay_count(rc), 3000);
	replay_free(rc);
}

/* ---- Table ---- */

static void
key_of(uint8_t k[16], uint64_t *seed)
{
	assert_int_equal(fx_rand(seed, k, 16), 0);
}

static int freed;

static void
count_free(void *p)
{
	freed++;
	free(p);
}

static void
table_basics(void **state)
{
	uint8_t k1[16], k2[16], k3[16];
	uint64_t seed = 1;
	int a = 1, b = 2;
	table *t = NULL;

	(void)state;
	key_of(k1, &seed);
	key_of(k2, &seed);
	key_of(k3, &seed);
	assert_int_equal(table_new(&t), TRIPKI_OK);
	assert_int_equal(table_count(t), 0);
	assert_null(table_get(t, k1));
	assert_null(table_del(t, k1));
	assert_int_equal(table_put(t, k1, &a), TRIPKI_OK);
	assert_int_equal(table_put(t, k2, &b), TRIPKI_OK);
	assert_int_equal(table_count(t), 2);
	assert_ptr_equal(table_get(t, k1), &a);
	assert_ptr_equal(table_get(t, k2), &b);
	assert_null(table_get(t, k3));
	assert_ptr_equal(table_del(t, k1), &a);
	assert_null(table_get(t, k1));
	assert_null(table_del(t, k1));
	assert_int_equal(table_count(t), 1);
	table_free(t, NULL);
	table_free(NULL, NULL);
}

/* Keys that share the eight bytes used as hash all land in one chain. */
static void
table_same_bucket(void **state)
{
	uint8_t k[16];
	table *t = NULL;
	intptr_t i;

	(void)state;
	assert_int_equal(table_new(&t), TRIPKI_OK);
	memset(k, 0xaa, sizeof(k));
	for (i = 0; i < 200; i++) {
		memcpy(k + 8, &i, sizeof(i));
		assert_int_equal(table_put(t, k, (void *)(i + 1)), TRIPKI_OK);
	}
	for (i = 0; i < 200; i++) {
		memcpy(k + 8, &i, sizeof(i));
		assert_ptr_equal(table_get(t, k), (void *)(i + 1));
	}
	for (i = 0; i < 200; i += 2) {
		memcpy(k + 8, &i, sizeof(i));
		assert_ptr_equal(table_del(t, k), (void *)(i + 1));
	}
	for (i = 0; i < 200; i++) {
		memcpy(k + 8, &i, sizeof(i));
		if (i % 2)
			assert_ptr_equal(table_get(t, k), (void *)(i + 1));
		else
			assert_null(table_get(t, k));
	}
	assert_int_equal(table_count(t), 100);
	table_free(t, NULL);
}

/* Growth well past the first size, then deletion. */
static void
table_growth(void **state)
{
	enum { N = 20000 };
	uint8_t (*keys)[16] = calloc(N, 16);
	uint64_t seed = 99;
	table *t = NULL;

	(void)state;
	assert_non_null(keys);
	assert_int_equal(table_new(&t), TRIPKI_OK);
	for (int i = 0; i < N; i++) {
		int *v = malloc(sizeof(*v));

		assert_non_null(v);
		*v = i;
		key_of(keys[i], &seed);
		assert_int_equal(table_put(t, keys[i], v), TRIPKI_OK);
	}
	assert_int_equal(table_count(t), N);
	for (int i = 0; i < N; i++) {
		int *v = table_get(t, keys[i]);

		assert_non_null(v);
		assert_int_equal(*v, i);
	}
	for (int i = 0; i < N; i += 4)
		free(table_del(t, keys[i]));
	assert_int_equal(table_count(t), N - N / 4);
	for (int i = 1; i < N; i += 2)
		free(table_del(t, keys[i]));
	assert_int_equal(table_count(t), N / 4);
	for (int i = 0; i < N; i++) {
		int *v = table_get(t, keys[i]);

		if (i % 4 == 0 || i % 2 == 1)
			assert_null(v);
		else
			assert_int_equal(*v, i);
	}
	freed = 0;
	table_free(t, count_free);
	assert_int_equal(freed, N / 4);
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(skew_boundaries),
		cmocka_unit_test(skew_extremes),
		cmocka_unit_test(replay_second_add),
		cmocka_unit_test(replay_after_expiry),
		cmocka_unit_test(replay_expiry_out_of_order),
		cmocka_unit_test(replay_bounded),
		cmocka_unit_test(replay_default_size),
		cmocka_unit_test(table_basics),
		cmocka_unit_test(table_same_bucket),
		cmocka_unit_test(table_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
