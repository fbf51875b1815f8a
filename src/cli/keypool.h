/*
 * A pool of pre-generated RSA key pairs for the CA's seed mode, refilled by
 * background threads, so that no key generation (tens of milliseconds for
 * RSA-2048) happens on the request path while the pool holds keys.
 *
 * Plugs into the core as the seed-mode key source:
 *
 *     cfg.keygen = tcli_keypool_keygen;  cfg.keygen_ctx = pool;
 *
 * Every key is handed out once and only once: take removes it from the
 * pool under the lock, and the caller owns it.  When the pool is dry the
 * request is still answered correctly, as `dry` says: TCLI_KEYPOOL_DRY_
 * GENERATE makes the key there and then (as without a pool), TCLI_KEYPOOL_
 * DRY_BUSY returns TRIPKI_E_BUSY at once so that the event loop never
 * stalls, and the server tries again after its backoff.  A request for
 * another key size than the pool's is always generated on the spot.
 *
 * Thread-safe: take may be called from any thread.
 */
#ifndef TRIPKI_CLI_KEYPOOL_H
#define TRIPKI_CLI_KEYPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define TCLI_KEYPOOL_MAX 4096       /* keys held, at most */
#define TCLI_KEYPOOL_THREADS_MAX 16

enum tcli_keypool_dry {
	TCLI_KEYPOOL_DRY_GENERATE = 0,  /* make the key on the caller's thread */
	TCLI_KEYPOOL_DRY_BUSY = 1,      /* TRIPKI_E_BUSY: the peer retries */
};

typedef struct tcli_keypool tcli_keypool;

typedef struct tcli_keypool_stats {
	size_t held;                    /* keys ready now */
	uint64_t taken;                 /* keys handed out from the pool */
	uint64_t dry;                   /* takes that found the pool empty */
	uint64_t generated;             /* keys the refill threads made */
} tcli_keypool_stats;

/*
 * A pool of `target` keys of `bits` bits (2048..4096), refilled by
 * `threads` background threads (0: none, the pool only empties: for tests
 * and for a CA that must not spend CPU in the background).  The threads
 * run at a lower scheduling priority than the caller.  Returns a tripki_err.
 */
int tcli_keypool_new(int bits, size_t target, unsigned threads, int dry,
    tcli_keypool **out);
/* Stops the threads (waiting for a key in the making), frees every key. */
void tcli_keypool_free(tcli_keypool *p);
/*
 * A key of `bits` bits into *out, which the caller frees.  From the pool
 * when it holds one; otherwise as `dry` says.  Returns a tripki_err.
 */
int tcli_keypool_take(tcli_keypool *p, int bits, EVP_PKEY **out);
/* The core's tripki_keygen_fn: ctx is the pool. */
int tcli_keypool_keygen(void *ctx, int bits, EVP_PKEY **out);
/*
 * Waits until the pool holds at least n keys (n is capped at its target)
 * or timeout_ms has passed; returns the number held.  For a CA that wants
 * a warm pool before it listens.
 */
size_t tcli_keypool_wait(tcli_keypool *p, size_t n, uint64_t timeout_ms);
void tcli_keypool_stats_get(tcli_keypool *p, tcli_keypool_stats *st);

#endif /* TRIPKI_CLI_KEYPOOL_H */
