/*
 * Internals of the CA store, shared by its source files.
 */
#ifndef TRIPKI_STORE_INT_H
#define TRIPKI_STORE_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

#define GUARD(x) do { if ((r = (x)) != TRIPKI_OK) goto out; } while (0)
#define GUARD_OSSL(x, e) do { if ((x) != 1) { r = (e); goto out; } } while (0)

#define HASH_LEN 32     /* SHA-256 of a token */
#define TOKEN_RAW 32    /* random bytes in a token */

/* What authorize decided, for the record call that follows it. */
enum { PENDING_NONE, PENDING_TOKEN, PENDING_RENEW, PENDING_OPEN };

struct pending {
	int kind;
	char id[TRIPKI_ID_MAX + 1];
	uint8_t hash[HASH_LEN];                    /* PENDING_TOKEN */
	char serial[TRIPKI_STORE_SERIAL_MAX + 1];  /* PENDING_RENEW */
	char note[TRIPKI_STORE_DETAIL_MAX];        /* PENDING_OPEN: why */
};

/*
 * Prepared statements kept for the life of the store: a CA records each
 * issuance with the same few statements, and compiling them anew each
 * time cost about as much as running them.  Found by the caller's SQL
 * text (its address first); one in use is not handed out twice.
 */
#define ST_CACHE 32

struct st_cached {
	const char *sql;
	sqlite3_stmt *s;
	int busy;
};

struct tripki_store {
	sqlite3 *db;
	struct st_cached cache[ST_CACHE];
	int ncache;
	int open_mode;
	int batch;                  /* tripki_store_batch_begin: a tx is open */
	int sp_open;                /* in a batch: a record's savepoint is open */
	struct pending pending;
	char detail[TRIPKI_STORE_DETAIL_MAX];
};

/* Detail line for the log; returns `err` so that callers can return it. */
int st_fail(tripki_store *st, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* TRIPKI_E_STORE with SQLite's message after `what`. */
int st_sqlerr(tripki_store *st, const char *what);
void st_clear(tripki_store *st);
void pending_clear(struct pending *p);

/*
 * Statements, always with bound parameters.  `types` has one letter per
 * parameter: 't' const char * (NULL binds NULL), 'i' int64_t, 'b' const
 * void * then size_t.  A statement from st_prepare goes back with st_done
 * (never sqlite3_finalize): reset, so that it holds no read transaction
 * open, and kept for the next call.
 */
int st_prepare(tripki_store *st, sqlite3_stmt **s, const char *sql,
    const char *types, ...);
void st_done(tripki_store *st, sqlite3_stmt *s);
/* Runs a statement that returns no rows; *changes (may be NULL) gets how
 * many rows it touched. */
int st_exec(tripki_store *st, int *changes, const char *sql,
    const char *types, ...);
/* Column text as a C string, "" for NULL, cut to fit `n`. */
void col_text(sqlite3_stmt *s, int col, char *out, size_t n);

/*
 * BEGIN IMMEDIATE (takes the write lock now), COMMIT, ROLLBACK.  In a
 * batch (tripki_store_batch_begin) they are SAVEPOINT, RELEASE and
 * ROLLBACK TO inside the batch's transaction: a unit of work that fails
 * leaves the others in the batch as they were, and nothing is durable
 * before tripki_store_batch_commit.
 */
int tx_begin(tripki_store *st);
int tx_commit(tripki_store *st);
void tx_rollback(tripki_store *st);

/* An audit row inside the caller's transaction (or on its own). */
int audit_add(tripki_store *st, int64_t now_ms, const char *event,
    const char *id, const char *serial, const char *peer,
    const char *detail);

/* Canonical serial text from a certificate, or from operator input. */
int serial_of_cert(const X509 *x, char out[TRIPKI_STORE_SERIAL_MAX + 1]);
int serial_parse(const char *in, char out[TRIPKI_STORE_SERIAL_MAX + 1]);
int serial_of_bytes(const uint8_t *p, size_t n,
    char out[TRIPKI_STORE_SERIAL_MAX + 1]);

/* An ASN1_TIME as milliseconds since the epoch. */
int asn1_time_ms(const ASN1_TIME *t, int64_t *ms);

int status_at(int64_t not_before, int64_t not_after, int revoked,
    int64_t now_ms);

#endif
