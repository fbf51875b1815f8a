/*
 * Freshness: timestamps within the skew, and a replay cache that remembers
 * each accepted message for as long as its timestamp could still pass.
 */
#include <stdlib.h>

#include "internal.h"

int
fresh_check(int64_t ts_ms, int64_t now_ms, int64_t skew, int64_t *diff)
{
	int64_t d = now_ms - ts_ms;

	if (diff != NULL)
		*diff = d;
	if (d > skew)
		return TRIPKI_E_STALE;
	if (d < -skew)
		return TRIPKI_E_FUTURE;
	return TRIPKI_OK;
}

int
fresh_check_start(const tripki_common *cm, int64_t ts_ms, int64_t now_ms,
    int64_t *diff)
{
	int r = fresh_check(ts_ms, now_ms, skew_ms(cm), diff);

	if (r == TRIPKI_OK && cm->started_ms > 0 && ts_ms < cm->started_ms)
		r = TRIPKI_E_STALE;
	return r;
}

struct replay {
	table *t;
	size_t max;
	int64_t next_sweep;
};

int
replay_new(size_t max, replay **out)
{
	replay *rc = calloc(1, sizeof(*rc));

	if (rc == NULL)
		return TRIPKI_E_NOMEM;
	if (table_new(&rc->t) != TRIPKI_OK) {
		free(rc);
		return TRIPKI_E_NOMEM;
	}
	rc->max = max ? max : DEFAULT_REPLAY_MAX;
	*out = rc;
	return TRIPKI_OK;
}

void
replay_free(replay *rc)
{
	if (rc == NULL)
		return;
	table_free(rc->t, free);
	free(rc);
}

static bool
expired(void *val, void *ctx)
{
	bool dead = *(int64_t *)val <= *(int64_t *)ctx;

	if (dead)
		free(val);
	return dead;
}

int
replay_check_add(replay *rc, const uint8_t fp[static DIGEST_LEN],
    int64_t now_ms, int64_t expires_ms)
{
	int64_t *exp, *seen;

	if (now_ms >= rc->next_sweep || table_count(rc->t) >= rc->max) {
		table_sweep(rc->t, expired, &now_ms);
		rc->next_sweep = now_ms + 1000;
	}
	if ((seen = table_get(rc->t, fp)) != NULL && *seen > now_ms)
		return TRIPKI_E_REPLAY;
	if (seen != NULL) {
		*seen = expires_ms;
		return TRIPKI_OK;
	}
	if (table_count(rc->t) >= rc->max)
		return TRIPKI_E_BUSY;
	if ((exp = malloc(sizeof(*exp))) == NULL)
		return TRIPKI_E_NOMEM;
	*exp = expires_ms;
	if (table_put(rc->t, fp, exp) != TRIPKI_OK) {
		free(exp);
		return TRIPKI_E_NOMEM;
	}
	return TRIPKI_OK;
}

size_t
replay_count(const replay *rc)
{
	return table_count(rc->t);
}
