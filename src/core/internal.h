/*
 * Internal interfaces of the protocol core.  docs/INTERNALS.md says how the
 * pieces fit; docs/PROTOCOL.md is the wire format they implement.
 */
#ifndef TRIPKI_INTERNAL_H
#define TRIPKI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tripki/tripki.h"

#define DEFAULT_SKEW_MS 60000
#define DEFAULT_LIFETIME_S 60
#define DEFAULT_CERT_DAYS 90
#define DEFAULT_REPLAY_MAX 262144
#define DEFAULT_MAX_SESSIONS 100000
#define SERVER_GCM_SLOTS 256 /* phase 3 keys kept scheduled (server.c) */
#define GCM_TAG_LEN 16
#define GCM_NONCE_LEN 12
#define DIGEST_LEN 16 /* replay-cache fingerprint: truncated SHA-256 */
#define IP_MAX 64
#define DER_MAX 16384

/* Direction word of a GCM nonce. */
#define DIR_REQUEST 1  /* S->CA in phase 1, C->S in phases 2 and 3 */
#define DIR_RESPONSE 2 /* CA->S, S->C */

/* libcrypto's functions return 1 on success. */
#define GUARD_OSSL(x, e) do { if ((x) != 1) { r = (e); goto out; } } while (0)
#define GUARD(x) do { if ((r = (x)) != TRIPKI_OK) goto out; } while (0)

/* ---- Bounded reader: every read checks what remains. ---- */
typedef struct rd {
	const uint8_t *p;
	size_t n;
} rd;

static inline rd rd_make(const uint8_t *p, size_t n) { rd r = { p, n }; return r; }
int rd_u8(rd *r, uint8_t *v);
int rd_u16(rd *r, uint16_t *v);
int rd_u32(rd *r, uint32_t *v);
int rd_u64(rd *r, uint64_t *v);
int rd_bytes(rd *r, size_t n, const uint8_t **out);
int rd_copy(rd *r, void *dst, size_t n);
/* Length-prefixed fields, with the limit each field allows. */
int rd_vec8(rd *r, size_t max, const uint8_t **out, size_t *len);
int rd_vec16(rd *r, size_t max, const uint8_t **out, size_t *len);
/* An identity: vec8 of printable ASCII, copied NUL-terminated. */
int rd_id(rd *r, char out[TRIPKI_ID_MAX + 1]);
/* Everything that is left. */
void rd_rest(rd *r, const uint8_t **out, size_t *len);
/* Fails with TRIPKI_E_TRAILING unless the input is used up. */
int rd_end(const rd *r);

/* ---- Writer over tripki_buf. ---- */
int buf_reserve(tripki_buf *b, size_t n, uint8_t **at);
int buf_put(tripki_buf *b, const void *p, size_t n);
int buf_u8(tripki_buf *b, uint8_t v);
int buf_u16(tripki_buf *b, uint16_t v);
int buf_u32(tripki_buf *b, uint32_t v);
int buf_u64(tripki_buf *b, uint64_t v);
int buf_vec8(tripki_buf *b, const void *p, size_t n);
int buf_vec16(tripki_buf *b, const void *p, size_t n);
int buf_id(tripki_buf *b, const char *id);
void put_u32(uint8_t *p, uint32_t v);
void put_u64(uint8_t *p, uint64_t v);

/* ---- Frames. ---- */
/* Starts a frame: header with a length to be patched by frame_end. */
int frame_begin(tripki_buf *b, uint8_t type, size_t *start);
int frame_end(tripki_buf *b, size_t start);
/* Checks header and exact length; gives type and body. */
int frame_open(const uint8_t *f, size_t n, uint8_t *type, rd *body);
/* Fills an error frame from a failed step, if the caller has not. */
int frame_fail(tripki_buf *out, int err);

/* ---- Crypto (crypto.c): OpenSSL EVP only. ---- */
int rand_bytes(const tripki_common *cm, uint8_t *out, size_t n);
int64_t skew_ms(const tripki_common *cm);
/* RSA-OAEP (SHA-256, MGF1-SHA-256) with a label naming the message. */
int oaep_encrypt(EVP_PKEY *pub, const char *label, const uint8_t *in,
    size_t n, tripki_buf *out);
/* Plain RSA-OAEP-SHA-256 decryption (for known-answer tests and unwrap). */
int oaep_decrypt(EVP_PKEY *priv, const uint8_t *label, size_t label_len,
    const uint8_t *in, size_t n, uint8_t *out, size_t *outlen);
/*
 * Decrypts a wrapped 32-byte key.  On any failure it fills `key` with random
 * bytes and still returns TRIPKI_OK, so that the failure surfaces later as
 * the AEAD's, on the same path and with the same answer (no oracle).
 */
int oaep_unwrap_key(EVP_PKEY *priv, const char *label, const uint8_t *in,
    size_t n, uint8_t key[static TRIPKI_KEY_LEN]);
/*
 * A private key for unwrapping under one label (OAEP_LABEL_M1 or _M5),
 * with its decryption contexts kept for reuse by any thread, up to
 * RSA_DEC_IDLE of them.  rsa_dec_unwrap is oaep_unwrap_key, without the
 * cost of a new context each time.
 */
#define RSA_DEC_IDLE 8
typedef struct rsa_dec rsa_dec;
int rsa_dec_new(EVP_PKEY *key, const char *label, rsa_dec **out);
void rsa_dec_free(rsa_dec *d);
int rsa_dec_unwrap(rsa_dec *d, const uint8_t *in, size_t n,
    uint8_t key[static TRIPKI_KEY_LEN]);
void gcm_nonce(uint8_t nonce[static GCM_NONCE_LEN], uint32_t dir,
    uint64_t ctr);
/* Appends ciphertext||tag of `pt` to `out`. */
int gcm_seal(const uint8_t key[static TRIPKI_KEY_LEN],
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, tripki_buf *out);
/* Opens ct||tag into `pt` (pt_len = ct_len - 16).  TRIPKI_E_DECRYPT. */
int gcm_open(const uint8_t key[static TRIPKI_KEY_LEN],
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, tripki_buf *pt);
/*
 * The same under a key kept scheduled in a context, for the many frames of
 * one session: gcm_seal and gcm_open make a context and schedule the key
 * for every frame; gcm_seal_with and gcm_open_with, given `kept`, only set
 * its nonce (`key` unused), and without it are gcm_seal and gcm_open.
 * gcm_keep makes *kept (if NULL) and gives it `key`; should that fail,
 * *kept is freed and NULL, so no earlier key stays in it.  The context
 * holds the key: EVP_CIPHER_CTX_free (or _reset) wipes it.
 */
int gcm_keep(EVP_CIPHER_CTX **kept, const uint8_t key[static TRIPKI_KEY_LEN]);
int gcm_seal_with(EVP_CIPHER_CTX *kept, const uint8_t *key,
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, tripki_buf *out);
int gcm_open_with(EVP_CIPHER_CTX *kept, const uint8_t *key,
    const uint8_t nonce[static GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, tripki_buf *pt);
int digest16(const uint8_t *p, size_t n, uint8_t out[static DIGEST_LEN]);
int key_to_spki(EVP_PKEY *k, tripki_buf *out);
int key_to_pkcs8(EVP_PKEY *k, tripki_buf *out);
int key_from_pkcs8(const uint8_t *p, size_t n, EVP_PKEY **out);
int cert_to_der(X509 *x, tripki_buf *out);
int cert_spki(X509 *x, tripki_buf *out);
int cert_from_der(const uint8_t *p, size_t n, X509 **out);
/* TRIPKI_OK when pk is exactly x's SubjectPublicKeyInfo; else CERT_KEY. */
int cert_spki_is(X509 *x, const uint8_t *pk, size_t n);
int key_bits_ok(EVP_PKEY *k);
int cert_cn(X509 *x, char out[TRIPKI_ID_MAX + 1]);
/* Issues an end-entity certificate for `id` with key `pub`. */
int cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *pub,
    const char *id, uint32_t days, int64_t now_ms, const tripki_common *cm,
    X509 **out);
/* A PKCS#10 request csr_parse accepted (csr.c). */
struct csr {
	EVP_PKEY *key;              /* its RSA public key */
	uint8_t *bits;              /* the key as sent: RSAPublicKey DER */
	size_t bits_len;
};
void csr_free(struct csr *c);
/* The same for the key of an accepted request, its encoding as it came. */
int cert_issue_csr(EVP_PKEY *ca_key, X509 *ca_cert, const struct csr *req,
    const char *id, uint32_t days, int64_t now_ms, const tripki_common *cm,
    X509 **out);
int sign_sha256(EVP_PKEY *k, const uint8_t *msg, size_t n, tripki_buf *sig);
int verify_sha256(EVP_PKEY *k, const uint8_t *msg, size_t n,
    const uint8_t *sig, size_t sig_len);
int csr_make(EVP_PKEY *k, const char *id, tripki_buf *der);
int csr_parse(const uint8_t *p, size_t n, const char *expect_id,
    struct csr **out);

/* ---- Freshness and replay (fresh.c). ---- */
/* TRIPKI_OK when |now - ts| <= skew; else STALE or FUTURE. */
int fresh_check(int64_t ts_ms, int64_t now_ms, int64_t skew, int64_t *diff);
/* As fresh_check, and no older than the role's start (replayable types). */
int fresh_check_start(const tripki_common *cm, int64_t ts_ms, int64_t now_ms,
    int64_t *diff);

/*
 * Replay cache: fingerprints of accepted messages, each kept until its
 * timestamp can no longer pass fresh_check.  Bounded: when full of live
 * entries it refuses (TRIPKI_E_BUSY) rather than forget one.
 */
typedef struct replay replay;
int replay_new(size_t max, replay **out);
void replay_free(replay *rc);
/* TRIPKI_E_REPLAY if seen; else records it until `expires_ms`. */
int replay_check_add(replay *rc, const uint8_t fp[static DIGEST_LEN],
    int64_t now_ms, int64_t expires_ms);
size_t replay_count(const replay *rc);

/* ---- Table keyed by 16 random bytes (table.c). ---- */
typedef struct table table;
int table_new(table **out);
void table_free(table *t, void (*free_val)(void *));
void *table_get(const table *t, const uint8_t key[static 16]);
int table_put(table *t, const uint8_t key[static 16], void *val);
void *table_del(table *t, const uint8_t key[static 16]);
size_t table_count(const table *t);

/* ---- Trace (trace.c). ---- */
void trace(const tripki_common *cm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The arguments (formatted times, hex) are only computed when tracing. */
#define TRACE(cm, ...) do {						\
	if ((cm) != NULL && (cm)->trace != NULL)			\
		trace((cm), __VA_ARGS__);				\
} while (0)
/* Renders bytes as hex, or "<redacted N bytes>" for a secret. */
const char *trace_hex(const tripki_common *cm, char *dst, size_t dstlen,
    const uint8_t *p, size_t n, bool secret);
const char *trace_time(char *dst, size_t dstlen, int64_t ms);
/*
 * A peer's text (REQ, DATA) for a log line: at most 60 bytes, anything not
 * printable ASCII as \xHH, "..." when cut.  dst needs 256 bytes.
 */
const char *trace_text(char *dst, size_t dstlen, const uint8_t *p, size_t n);

#endif /* TRIPKI_INTERNAL_H */
