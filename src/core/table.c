/*
 * A chained hash table keyed by 16 bytes that are already uniformly random
 * (session identifiers, SHA-256 fingerprints), so the first 8 bytes are the
 * hash.  It doubles when the load passes one entry per bucket.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct node {
	uint8_t key[16];
	void *val;
	struct node *next;
} node;

struct table {
	node **b;
	size_t nb;     /* power of two */
	size_t count;
};

static size_t
slot(const table *t, const uint8_t key[static 16])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)(h & (t->nb - 1));
}

int
table_new(table **out)
{
	table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return TRIPKI_E_NOMEM;
	t->nb = 64;
	if ((t->b = calloc(t->nb, sizeof(*t->b))) == NULL) {
		free(t);
		return TRIPKI_E_NOMEM;
	}
	*out = t;
	return TRIPKI_OK;
}

void
table_free(table *t, void (*free_val)(void *))
{
	node *n, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nb; i++)
		for (n = t->b[i]; n != NULL; n = next) {
			next = n->next;
			if (free_val != NULL)
				free_val(n->val);
			free(n);
		}
	free(t->b);
	free(t);
}

void *
table_get(const table *t, const uint8_t key[static 16])
{
	node *n;

	for (n = t->b[slot(t, key)]; n != NULL; n = n->next)
		if (memcmp(n->key, key, 16) == 0)
			return n->val;
	return NULL;
}

static void
grow(table *t)
{
	size_t i, nb = t->nb * 2;
	node **b, *n, *next;
	table tmp;

	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return; /* stay at the current size: slower, still correct */
	tmp.b = b;
	tmp.nb = nb;
	for (i = 0; i < t->nb; i++)
		for (n = t->b[i]; n != NULL; n = next) {
			size_t s = slot(&tmp, n->key);

			next = n->next;
			n->next = b[s];
			b[s] = n;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

int
table_put(table *t, const uint8_t key[static 16], void *val)
{
	node *n;
	size_t s;

	if ((n = malloc(sizeof(*n))) == NULL)
		return TRIPKI_E_NOMEM;
	if (t->count >= t->nb)
		grow(t);
	s = slot(t, key);
	memcpy(n->key, key, 16);
	n->val = val;
	n->next = t->b[s];
	t->b[s] = n;
	t->count++;
	return TRIPKI_OK;
}

void *
table_del(table *t, const uint8_t key[static 16])
{
	node **pp, *n;
	void *val;

	for (pp = &t->b[slot(t, key)]; (n = *pp) != NULL; pp = &n->next)
		if (memcmp(n->key, key, 16) == 0) {
			*pp = n->next;
			val = n->val;
			free(n);
			t->count--;
			return val;
		}
	return NULL;
}

size_t
table_count(const table *t)
{
	return t->count;
}
