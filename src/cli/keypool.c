/*
 * The seed-mode key pool (keypool.h): a ring of ready keys under one mutex,
 * refill threads that sleep on a condition variable while the pool is full
 * and are woken by every take.  Generation itself runs outside the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/syscall.h>

#include <openssl/evp.h>

#include "keypool.h"
#include "tripki/tripki.h"

/* How much lower the refill threads run than the request path. */
#define KEYPOOL_NICE 10

struct tcli_keypool {
	pthread_mutex_t mu;
	pthread_cond_t need;      /* a take made room: refill */
	pthread_cond_t have;      /* a key arrived: for tcli_keypool_wait */
	EVP_PKEY **ring;
	size_t target, head, count;
	int bits;
	int dry;
	int stopping;
	unsigned nthreads;
	pthread_t threads[TCLI_KEYPOOL_THREADS_MAX];
	tcli_keypool_stats st;
};

static void *
refill(void *arg)
{
	tcli_keypool *p = arg;
	EVP_PKEY *k;

	/* Linux: a thread's own nice value; elsewhere this just fails. */
#ifdef SYS_gettid
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    KEYPOOL_NICE);
#endif
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		if (p->count >= p->target) {
			pthread_cond_wait(&p->need, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		k = NULL;
		if (tripki_key_generate(p->bits, &k) != TRIPKI_OK)
			k = NULL;
		pthread_mutex_lock(&p->mu);
		if (k == NULL)
			continue;       /* try again; nothing to hand out */
		if (p->stopping || p->count >= p->target) {
			EVP_PKEY_free(k); /* another thread filled the slot */
			continue;
		}
		p->ring[(p->head + p->count) % p->target] = k;
		p->count++;
		p->st.generated++;
		pthread_cond_broadcast(&p->have);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
tcli_keypool_new(int bits, size_t target, unsigned threads, int dry,
    tcli_keypool **out)
{
	tcli_keypool *p;
	unsigned i;

	*out = NULL;
	if (bits < 2048 || bits > 4096 || target == 0 ||
	    target > TCLI_KEYPOOL_MAX || threads > TCLI_KEYPOOL_THREADS_MAX ||
	    (dry != TCLI_KEYPOOL_DRY_GENERATE && dry != TCLI_KEYPOOL_DRY_BUSY))
		return TRIPKI_E_INVALID;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return TRIPKI_E_NOMEM;
	if ((p->ring = calloc(target, sizeof(*p->ring))) == NULL) {
		free(p);
		return TRIPKI_E_NOMEM;
	}
	p->bits = bits;
	p->target = target;
	p->dry = dry;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->need, NULL);
	pthread_cond_init(&p->have, NULL);
	for (i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, refill, p) != 0) {
			tcli_keypool_free(p);
			return TRIPKI_E_NOMEM;
		}
		p->nthreads++;
	}
	*out = p;
	return TRIPKI_OK;
}

void
tcli_keypool_free(tcli_keypool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->need);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (; p->count > 0; p->count--) {
		EVP_PKEY_free(p->ring[p->head]);
		p->head = (p->head + 1) % p->target;
	}
	pthread_cond_destroy(&p->have);
	pthread_cond_destroy(&p->need);
	pthread_mutex_destroy(&p->mu);
	free(p->ring);
	free(p);
}

int
tcli_keypool_take(tcli_keypool *p, int bits, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	int dry;

	*out = NULL;
	if (bits != p->bits)
		return tripki_key_generate(bits, out);
	pthread_mutex_lock(&p->mu);
	if (p->count > 0) {
		k = p->ring[p->head];
		p->ring[p->head] = NULL;
		p->head = (p->head + 1) % p->target;
		p->count--;
		p->st.taken++;
		pthread_cond_signal(&p->need);
	} else
		p->st.dry++;
	dry = p->dry;
	pthread_mutex_unlock(&p->mu);
	if (k != NULL) {
		*out = k;
		return TRIPKI_OK;
	}
	if (dry == TCLI_KEYPOOL_DRY_BUSY)
		return TRIPKI_E_BUSY;
	return tripki_key_generate(bits, out);
}

int
tcli_keypool_keygen(void *ctx, int bits, EVP_PKEY **out)
{
	return tcli_keypool_take(ctx, bits, out);
}

size_t
tcli_keypool_wait(tcli_keypool *p, size_t n, uint64_t timeout_ms)
{
	struct timespec until;
	size_t held;

	if (n > p->target)
		n = p->target;
	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mu);
	while (p->count < n && p->nthreads > 0 &&
	    pthread_cond_timedwait(&p->have, &p->mu, &until) != ETIMEDOUT)
		;
	held = p->count;
	pthread_mutex_unlock(&p->mu);
	return held;
}

void
tcli_keypool_stats_get(tcli_keypool *p, tcli_keypool_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	st->held = p->count;
	pthread_mutex_unlock(&p->mu);
}
