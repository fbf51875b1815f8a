/*
 * The CA store: the certificate authority's durable state in one SQLite
 * database, DIR/ca.db.
 *
 * It holds every certificate the CA issued (serial, subject, validity, PEM,
 * time of issue, who made the key, the peer's address, revocation), the
 * one-time enrollment tokens (as SHA-256 hashes only), a counter of the CRLs
 * written, and an audit log of every issuance, renewal, revocation, refusal
 * and enrollment.  The database runs in WAL mode with synchronous=FULL, so
 * a transaction that has committed survives a crash or a power cut.
 *
 * How it plugs into the protocol core: give tripki_ca_config
 *
 *     cfg.authorize = tripki_store_authorize;  cfg.authorize_ctx = st;
 *     cfg.record    = tripki_store_record;     cfg.record_ctx    = st;
 *
 * The core calls authorize, then makes the key and certificate, then calls
 * record, and sends M2 only when record returned TRIPKI_OK.  authorize only
 * checks; record writes the certificate, spends the enrollment token and
 * writes the audit entry in one transaction and returns after COMMIT.  So a
 * token is spent exactly when a certificate was recorded, and a server is
 * never sent a certificate the database does not hold.  authorize leaves
 * what it decided in the handle for the record call that follows it, which
 * is why the two must be given the same handle, as above.
 *
 * A driver that checks several requests before it records them (checking
 * on one thread, signing on others) carries each request's decision
 * between the two calls: tripki_store_decision_take right after authorize,
 * tripki_store_decision_put right before record.
 *
 * Group commit: between tripki_store_batch_begin and
 * tripki_store_batch_commit the handle keeps one write transaction open,
 * and record, refusals and audit entries go into it, each record in a
 * SAVEPOINT of its own.  record then returns TRIPKI_OK once its savepoint
 * is released, which is NOT durable: the driver holds every M2 until
 * tripki_store_batch_commit returned TRIPKI_OK (one fsync for the lot),
 * and on failure sends none of them.
 *
 * Threads: a handle may be used by one thread at a time (it also carries
 * the last detail message).  Give each thread or event loop its own handle,
 * or serialize the calls.  Several handles, in one process or several, may
 * share one database: SQLite serializes the writers, and a writer that
 * finds the database locked waits up to five seconds before
 * TRIPKI_E_STORE.  Since the core runs authorize and record inside
 * tripki_ca_finish, which must not run concurrently on one tripki_ca,
 * one handle per tripki_ca is enough.
 *
 * Errors: every function returns a tripki_err code: TRIPKI_E_STORE when
 * SQLite fails, TRIPKI_E_NOT_AUTHORIZED for a refusal, TRIPKI_E_INVALID for
 * bad input, TRIPKI_E_NOMEM, TRIPKI_E_CRYPTO, TRIPKI_E_IO.  After a failure,
 * tripki_store_detail() gives one line for the log: SQLite's message, the
 * reason for a refusal, or what was wrong with the input.
 *
 * Times are milliseconds since the Unix epoch, passed in by the caller as
 * everywhere in tripki.  Serial numbers are text: upper-case hexadecimal of
 * the positive integer, without leading zero bytes, as `openssl x509
 * -serial` prints them; functions that take a serial from an operator
 * accept either case and an optional "0x".
 */
#ifndef TRIPKI_STORE_H
#define TRIPKI_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "tripki/tripki.h"

/* The schema version this code writes (PRAGMA user_version). */
#define TRIPKI_STORE_SCHEMA 1

/* An enrollment token as text: base64url of 32 random bytes, no padding. */
#define TRIPKI_STORE_TOKEN_LEN 43

#define TRIPKI_STORE_DETAIL_MAX 256
#define TRIPKI_STORE_SERIAL_MAX 64   /* hex digits of a serial we keep */
#define TRIPKI_STORE_PEER_MAX 128    /* longer peer strings are cut */
#define TRIPKI_STORE_REASON_MAX 32
#define TRIPKI_STORE_TTL_MAX (366LL * 86400) /* seconds */
#define TRIPKI_STORE_CRL_DAYS_MAX 3650

typedef struct tripki_store tripki_store;

/* Flags for tripki_store_open. */
#define TRIPKI_STORE_CREATE 1        /* make DIR/ca.db when it is missing */

/*
 * Opens DIR/ca.db, which must exist unless `flags` has TRIPKI_STORE_CREATE
 * (DIR itself must exist; a new file is made mode 0600).  Brings an older
 * schema up to TRIPKI_STORE_SCHEMA, each step in its own transaction, and
 * refuses a database written by a newer tripki (TRIPKI_E_STORE).  On
 * failure *out is NULL and, when `detail` is not NULL, it receives one line
 * saying why.
 */
int tripki_store_open(const char *dir, int flags, tripki_store **out,
    char *detail, size_t detail_len);
/* Closes the database; NULL is fine. */
void tripki_store_close(tripki_store *st);
/* One line on the last failure or refusal on this handle ("" if none). */
const char *tripki_store_detail(const tripki_store *st);
/*
 * Open mode: authorize accepts every request.  What would have been refused
 * is still written to the audit log as the issuance's detail.  Off by
 * default.
 */
void tripki_store_set_open(tripki_store *st, int open);

/* ---- The protocol core's callbacks (ctx is the tripki_store *) ---- */

/*
 * tripki_authorize_fn.  A request carrying a renewal certificate (already
 * verified against the CA certificate by the core) is allowed only when
 * that very certificate is in the store, for the same identity, and not
 * revoked.  Any other request needs a valid, unused, unexpired enrollment
 * token made for exactly that identity.  Refusals return
 * TRIPKI_E_NOT_AUTHORIZED and are written to the audit log with the peer
 * and the reason; TRIPKI_E_STORE when the database cannot be read.
 */
int tripki_store_authorize(void *ctx, const tripki_issue_info *info,
    int64_t now_ms);
/*
 * tripki_record_fn.  In one transaction: checks again what authorize
 * decided (the token still unused, the renewed certificate still
 * unrevoked: another CA process may have been quicker), inserts the
 * certificate, spends the token, writes the audit entry, and commits.
 * Returns TRIPKI_OK only once COMMIT succeeded.  A serial already in the
 * store is TRIPKI_E_STORE and the first record stays as it was.
 */
int tripki_store_record(void *ctx, const tripki_issued *issued,
    int64_t now_ms);

/*
 * What authorize allowed (the token to spend, the certificate renewed),
 * taken off the handle so that other requests may be authorized before
 * this one is recorded.  take: TRIPKI_E_STATE when authorize has not just
 * allowed a request.  put: makes it the decision the next record uses
 * (NULL: none), and frees it.  Freed and wiped by put or free.
 */
typedef struct tripki_store_decision tripki_store_decision;
int tripki_store_decision_take(tripki_store *st,
    tripki_store_decision **out);
void tripki_store_decision_put(tripki_store *st, tripki_store_decision *d);
void tripki_store_decision_free(tripki_store_decision *d);

/* ---- Group commit ---- */

/*
 * Opens the batch's transaction (BEGIN IMMEDIATE: the write lock is held
 * until commit or rollback, so keep a batch to milliseconds).
 * TRIPKI_E_STATE when a batch or a transaction is already open.
 *
 * Inside a batch, record checks the token against the batch's own writes
 * too: a token spent earlier in the same batch is refused.  A record that
 * fails or is refused is rolled back to its savepoint; the rest of the
 * batch stays.  A refusal's audit entry is part of the batch.
 */
int tripki_store_batch_begin(tripki_store *st);
/*
 * COMMIT: TRIPKI_OK once every record of the batch is durable.  On failure
 * the whole batch is rolled back (no certificate recorded, no token spent)
 * and TRIPKI_E_STORE returned.  Either way the batch is over.
 */
int tripki_store_batch_commit(tripki_store *st);
/* Drops the batch: nothing of it stays.  No batch open is fine. */
void tripki_store_batch_rollback(tripki_store *st);
/* 1 while a batch is open. */
int tripki_store_batch_active(const tripki_store *st);

/* ---- Enrollment tokens ---- */

/*
 * Makes a one-time token for `id`, valid for ttl_s seconds (1 ..
 * TRIPKI_STORE_TTL_MAX) from now.  The token is written to `text`, to be
 * shown once to the operator; the store keeps only its SHA-256.  The server
 * sends these 43 characters as they are as its enrollment credential.  The
 * caller wipes `text` (OPENSSL_cleanse) when done with it.
 */
int tripki_store_token_create(tripki_store *st, const char *id,
    int64_t ttl_s, int64_t now_ms,
    char text[static TRIPKI_STORE_TOKEN_LEN + 1]);
/*
 * Spends a token for `id` at once, in one transaction: TRIPKI_OK once, then
 * TRIPKI_E_NOT_AUTHORIZED; also TRIPKI_E_NOT_AUTHORIZED (and an audit
 * entry) for an unknown or expired token or one made for another identity.
 * The CA does not need this (record spends the token); it is for drivers
 * that enroll without the core.
 */
int tripki_store_token_consume(tripki_store *st, const char *id,
    const uint8_t *token, size_t token_len, int64_t now_ms,
    const char *peer);

/* ---- Certificates and revocation ---- */

enum tripki_store_status {
	TRIPKI_STORE_VALID = 0,
	TRIPKI_STORE_EXPIRED = 1,    /* now past notAfter */
	TRIPKI_STORE_REVOKED = 2,    /* whatever the dates */
	TRIPKI_STORE_NOT_YET_VALID = 3,
};

/* "valid", "expired", "revoked", "not yet valid". */
const char *tripki_store_status_name(int status);

/* One certificate as the store holds it. */
typedef struct tripki_store_cert {
	char serial[TRIPKI_STORE_SERIAL_MAX + 1];
	char id[TRIPKI_ID_MAX + 1];
	int64_t not_before_ms;
	int64_t not_after_ms;
	int64_t issued_at_ms;
	int csr;                     /* 1: the server made the key (CSR mode) */
	char peer[TRIPKI_STORE_PEER_MAX];      /* "" when unknown */
	int64_t revoked_at_ms;       /* 0 when not revoked */
	char reason[TRIPKI_STORE_REASON_MAX];  /* "" when not revoked */
	int status;                  /* enum tripki_store_status at now_ms */
} tripki_store_cert;

/*
 * Looks a certificate up by serial.  TRIPKI_E_INVALID for a malformed
 * serial, TRIPKI_E_UNKNOWN_ID when no certificate has it.  When `cert` is
 * not NULL it receives the certificate (the caller frees it).
 */
int tripki_store_cert_get(tripki_store *st, const char *serial,
    int64_t now_ms, tripki_store_cert *info, X509 **cert);

/*
 * Calls fn for each certificate, oldest issue first, restricted to one
 * identity when `id` is not NULL.  A non-zero return from fn stops the
 * walk and is returned.
 */
typedef int (*tripki_store_cert_fn)(void *ctx, const tripki_store_cert *c);
int tripki_store_list(tripki_store *st, const char *id, int64_t now_ms,
    tripki_store_cert_fn fn, void *ctx);

/*
 * RFC 5280 reason names (CRLReason): unspecified, keyCompromise,
 * cACompromise, affiliationChanged, superseded, cessationOfOperation,
 * privilegeWithdrawn, aACompromise.  certificateHold and removeFromCRL are
 * not offered: a revocation here is final.  Returns the code, or -1.
 */
int tripki_store_reason_code(const char *name);

/*
 * Revokes one certificate.  reason NULL means "unspecified".
 * TRIPKI_E_INVALID for a malformed serial or an unknown reason,
 * TRIPKI_E_UNKNOWN_ID when no certificate has the serial, TRIPKI_E_STATE
 * when it is already revoked (the first revocation stands).
 */
int tripki_store_revoke_serial(tripki_store *st, const char *serial,
    const char *reason, int64_t now_ms);
/*
 * Revokes every unrevoked certificate of `id`, in one transaction, and
 * says how many in *count (may be NULL).  TRIPKI_E_UNKNOWN_ID when there
 * was none to revoke.
 */
int tripki_store_revoke_id(tripki_store *st, const char *id,
    const char *reason, int64_t now_ms, size_t *count);

/* ---- CRL ---- */

/*
 * Makes an X.509 v2 CRL of every revoked certificate, signed with the CA
 * key (SHA-256): issuer and authority key identifier from ca_cert,
 * lastUpdate now, nextUpdate now + days (1 .. TRIPKI_STORE_CRL_DAYS_MAX),
 * a CRL number one above the last one this store made, and for each entry
 * its serial, revocation date and reason code (no reasonCode extension for
 * "unspecified", as RFC 5280 section 5.3.1 asks).  The number is committed
 * to the database before the CRL is returned, so numbers never repeat.
 * The caller frees *out.
 */
int tripki_store_crl(tripki_store *st, EVP_PKEY *ca_key, X509 *ca_cert,
    uint32_t days, int64_t now_ms, X509_CRL **out);
/*
 * Writes a CRL as PEM to `path` (mode 0644) through a temporary file that
 * is synced and renamed, so readers see the old CRL or the new one.
 * TRIPKI_E_IO on failure, with errno's text in the detail.
 */
int tripki_store_crl_write(tripki_store *st, const X509_CRL *crl,
    const char *path);

/* ---- Audit log ---- */

/* Events: "issue", "renew", "revoke", "refuse", "enroll", "crl". */
typedef struct tripki_store_event {
	int64_t at_ms;
	char event[8];
	char id[TRIPKI_ID_MAX + 1];            /* "" when none */
	char serial[TRIPKI_STORE_SERIAL_MAX + 1];
	char peer[TRIPKI_STORE_PEER_MAX];
	char detail[TRIPKI_STORE_DETAIL_MAX];
} tripki_store_event;

/*
 * Adds an entry, e.g. a refusal the driver decided on its own.  `event` is
 * one of the names above; id, serial, peer and detail may be NULL.
 */
int tripki_store_audit(tripki_store *st, int64_t now_ms, const char *event,
    const char *id, const char *serial, const char *peer,
    const char *detail);
/* Calls fn for each entry in order; a non-zero return stops the walk. */
typedef int (*tripki_store_event_fn)(void *ctx, const tripki_store_event *e);
int tripki_store_audit_list(tripki_store *st, tripki_store_event_fn fn,
    void *ctx);

#endif /* TRIPKI_STORE_H */
