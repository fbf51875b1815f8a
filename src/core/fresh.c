/*
 * Freshness: timestamps within the skew, and a replay cache that remembers
 * each accepted message for as long as its timestamp could still pass.
 */
#include <stdlib.h>
#include <string.h>

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

/*
 * The replay cache: a hash table for lookups, and a binary min-heap on the
 * expiry for the sweep, which takes the dead from the top: its cost is the
 * number that die, however full the cache.
 */
struct rentry {
	int64_t exp;
	uint8_t fp[DIGEST_LEN];
};

struct replay {
	table *t;
	size_t max;
	struct rentry **heap;
	size_t n, cap;
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
	free(rc->heap);
	free(rc);
}

static void
heap_up(struct rentry **h, size_t i)
{
	struct rentry *e = h[i];

	for (; i > 0 && h[(i - 1) / 2]->exp > e->exp; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = e;
}

static void
heap_down(struct rentry **h, size_t n, size_t i)
{
	struct rentry *e = h[i];
	size_t c;

	for (; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && h[c + 1]->exp < h[c]->exp)
			c++;
		if (h[c]->exp >= e->exp)
			break;
		h[i] = h[c];
	}
	h[i] = e;
}

/* Every entry whose expiry has come goes. */
static void
replay_sweep(replay *rc, int64_t now_ms)
{
	struct rentry *e;

	while (rc->n > 0 && (e = rc->heap[0])->exp <= now_ms) {
		rc->heap[0] = rc->heap[--rc->n];
		if (rc->n > 0)
			heap_down(rc->heap, rc->n, 0);
		(void)table_del(rc->t, e->fp);
		free(e);
	}
}

int
replay_check_add(replay *rc, const uint8_t fp[static DIGEST_LEN],
    int64_t now_ms, int64_t expires_ms)
{
	struct rentry *e, **h;
	size_t cap;

	replay_sweep(rc, now_ms);
	/* What is left has not expired. */
	if (table_get(rc->t, fp) != NULL)
		return TRIPKI_E_REPLAY;
	if (rc->n >= rc->max)
		return TRIPKI_E_BUSY;
	if (rc->n == rc->cap) {
		cap = rc->cap ? rc->cap * 2 : 64;
		if ((h = realloc(rc->heap, cap * sizeof(*h))) == NULL)
			return TRIPKI_E_NOMEM;
		rc->heap = h;
		rc->cap = cap;
	}
	if ((e = malloc(sizeof(*e))) == NULL)
		return TRIPKI_E_NOMEM;
	e->exp = expires_ms;
	memcpy(e->fp, fp, DIGEST_LEN);
	if (table_put(rc->t, e->fp, e) != TRIPKI_OK) {
		free(e);
		return TRIPKI_E_NOMEM;
	}
	rc->heap[rc->n] = e;
	heap_up(rc->heap, rc->n++);
	return TRIPKI_OK;
}

size_t
replay_count(const replay *rc)
{
	return table_count(rc->t);
}
