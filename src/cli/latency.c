/* Latency samples and percentiles for the load generators. */
#include <math.h>
#include <stdlib.h>

#include "latency.h"

void
tcli_latency_add(tcli_latency *l, uint64_t ns)
{
	uint32_t *p;
	size_t cap;

	if (l->n == l->cap) {
		if (l->cap >= TCLI_LATENCY_MAX)
			return;
		cap = l->cap ? l->cap * 2 : 65536;
		if ((p = realloc(l->us, cap * sizeof(*p))) == NULL)
			return;
		l->us = p;
		l->cap = cap;
	}
	l->us[l->n++] = ns / 1000 > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)(ns / 1000);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
tcli_latency_sort(tcli_latency *l)
{
	if (l->n > 0)
		qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
}

double
tcli_latency_pct(const tcli_latency *l, double p)
{
	size_t i;

	if (l->n == 0)
		return 0;
	i = (size_t)ceil(p / 100 * (double)l->n);
	if (i > 0)
		i--;
	if (i >= l->n)
		i = l->n - 1;
	return (double)l->us[i] / 1000;
}

void
tcli_latency_free(tcli_latency *l)
{
	free(l->us);
	l->us = NULL;
	l->n = l->cap = 0;
}
