/*
 * Latencies of a load generator, kept in microseconds, and their
 * percentiles (nearest rank).  Shared by `tripki bench` and the TLS
 * baseline in bench/tls.c, so that both report the same way.
 */
#ifndef TRIPKI_CLI_LATENCY_H
#define TRIPKI_CLI_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#define TCLI_LATENCY_MAX (64u << 20)  /* samples kept, at most */

typedef struct tcli_latency {
	uint32_t *us;
	size_t n, cap;
} tcli_latency;

/* Records one sample of ns nanoseconds (dropped past TCLI_LATENCY_MAX). */
void tcli_latency_add(tcli_latency *l, uint64_t ns);
/* Sorts the samples: call once, before tcli_latency_pct. */
void tcli_latency_sort(tcli_latency *l);
/* The p-th percentile in ms (0 with no sample). */
double tcli_latency_pct(const tcli_latency *l, double p);
void tcli_latency_free(tcli_latency *l);

#endif
