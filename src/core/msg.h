/*
 * The plaintext of each message, decoded.  Pointer fields point into the
 * buffer that was decoded and live as long as it does.  docs/PROTOCOL.md
 * gives each layout; the *_encode functions append exactly that layout and
 * the *_decode functions accept exactly that layout and nothing more.
 */
#ifndef TRIPKI_MSG_H
#define TRIPKI_MSG_H

#include "internal.h"

#define MODE_SEED 0 /* the CA makes the key pair (the seeds' way) */
#define MODE_CSR 1  /* the server sends a PKCS#10 request */

/* The clear prefix of M7 and M8: session id and sequence number. */
#define M7_PREFIX (TRIPKI_SID_LEN + 8)

#define OAEP_LABEL_M1 "tripki M1"
#define OAEP_LABEL_M5 "tripki M5"

struct m1 {
	int64_t ts;
	char id[TRIPKI_ID_MAX + 1];
	uint8_t mode;
	uint16_t bits;
	const uint8_t *token;
	size_t token_len;
	const uint8_t *csr;
	size_t csr_len;
	const uint8_t *rcert;   /* renewal: current certificate, DER */
	size_t rcert_len;
	const uint8_t *rsig;    /* renewal: signature by its key */
	size_t rsig_len;
};

struct m2 {
	int64_t ts;
	char id[TRIPKI_ID_MAX + 1];
	const uint8_t *pk;      /* SubjectPublicKeyInfo DER */
	size_t pk_len;
	const uint8_t *cert;    /* X.509 DER */
	size_t cert_len;
	const uint8_t *sk;      /* PKCS#8 DER; empty in CSR mode */
	size_t sk_len;
};

struct m3 {
	int64_t ts;
	char id[TRIPKI_ID_MAX + 1];
};

struct m4 {
	int64_t ts;
	const uint8_t *pk;
	size_t pk_len;
	const uint8_t *cert;
	size_t cert_len;
};

struct m5 {
	int64_t ts;
	char id[TRIPKI_ID_MAX + 1];
	char ip[IP_MAX + 1];
	uint16_t port;
};

struct m6 {
	int64_t ts;
	uint8_t sid[TRIPKI_SID_LEN];
	uint8_t ksess[TRIPKI_KEY_LEN];
	uint32_t lifetime;
	char id[TRIPKI_ID_MAX + 1];
};

struct m7 {
	int64_t ts;
	const uint8_t *req;
	size_t req_len;
};

struct m8 {
	int64_t ts;
	uint8_t status;
	const uint8_t *data;
	size_t data_len;
};

int m1_encode(tripki_buf *b, const struct m1 *m);
int m1_decode(const uint8_t *p, size_t n, struct m1 *m);
int m2_encode(tripki_buf *b, const struct m2 *m);
int m2_decode(const uint8_t *p, size_t n, struct m2 *m);
int m3_encode(tripki_buf *b, const struct m3 *m);
int m3_decode(rd *body, struct m3 *m);
int m4_encode(tripki_buf *b, const struct m4 *m);
int m4_decode(rd *body, struct m4 *m);
int m5_encode(tripki_buf *b, const struct m5 *m);
int m5_decode(const uint8_t *p, size_t n, struct m5 *m);
int m6_encode(tripki_buf *b, const struct m6 *m);
int m6_decode(const uint8_t *p, size_t n, struct m6 *m);
int m7_encode(tripki_buf *b, const struct m7 *m);
int m7_decode(const uint8_t *p, size_t n, struct m7 *m);
int m8_encode(tripki_buf *b, const struct m8 *m);
int m8_decode(const uint8_t *p, size_t n, struct m8 *m);

/* Timestamps: u64 milliseconds since the Unix epoch, at most INT64_MAX. */
int rd_ts(rd *r, int64_t *ts);
/* What a renewal signature covers (ca.c). */
int renew_transcript(const uint8_t k[static TRIPKI_KEY_LEN], int64_t ts,
    const char *id, tripki_buf *t);

/*
 * Sealed frames: header | prefix | AES-256-GCM(key, nonce(dir, ctr),
 * aad = header || prefix, plaintext).  The prefix is what must travel in
 * clear (a wrapped key, or session id and sequence number).
 */
int seal_frame(tripki_buf *out, uint8_t type,
    const uint8_t key[static TRIPKI_KEY_LEN], uint32_t dir, uint64_t ctr,
    const uint8_t *prefix, size_t prefix_len, const uint8_t *pt,
    size_t pt_len);
int open_frame(const uint8_t *frame, size_t len, size_t prefix_len,
    const uint8_t key[static TRIPKI_KEY_LEN], uint32_t dir, uint64_t ctr,
    tripki_buf *pt);
/* The same under `kept` (gcm_keep) when not NULL, else under `key`. */
int seal_frame_with(tripki_buf *out, uint8_t type, EVP_CIPHER_CTX *kept,
    const uint8_t *key, uint32_t dir, uint64_t ctr, const uint8_t *prefix,
    size_t prefix_len, const uint8_t *pt, size_t pt_len);
int open_frame_with(const uint8_t *frame, size_t len, size_t prefix_len,
    EVP_CIPHER_CTX *kept, const uint8_t *key, uint32_t dir, uint64_t ctr,
    tripki_buf *pt);
/* The wrapped-key prefix of M1 and M5: u16 length | RSA-OAEP ciphertext. */
int wrap_prefix(EVP_PKEY *pub, const char *label,
    const uint8_t key[static TRIPKI_KEY_LEN], tripki_buf *prefix);
/* Reads that prefix from a body and unwraps it (implicit rejection). */
int unwrap_prefix(rsa_dec *priv, rd *body, size_t *prefix_len,
    uint8_t key[static TRIPKI_KEY_LEN]);

#endif
