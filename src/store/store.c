/*
 * The CA store: opening the database, the schema and its migrations, and
 * the small helpers the other files share (statements, transactions,
 * audit rows, serial numbers, times).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "store_int.h"

#define DB_NAME "ca.db"
#define BUSY_MS 5000
#define APP_ID 0x74706b69 /* "tpki": marks a tripki CA database */

/*
 * migrations[v] brings a database from user_version v to v + 1.  Append
 * only: a released step is never edited, a change is a new step.
 */
static const char *const migrations[TRIPKI_STORE_SCHEMA] = {
	/* 0 -> 1 */
	"PRAGMA application_id = 1953524585;"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  subject TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"           /* ms since the epoch */
	"  not_after INTEGER NOT NULL,"
	"  pem TEXT NOT NULL,"
	"  fingerprint BLOB NOT NULL,"             /* SHA-256 of the DER */
	"  issued_at INTEGER NOT NULL,"
	"  key_origin TEXT NOT NULL CHECK (key_origin IN ('ca', 'server')),"
	"  peer TEXT,"
	"  renewed_from TEXT REFERENCES certificates(serial),"
	"  revoked_at INTEGER,"
	"  reason TEXT,"
	"  CHECK ((revoked_at IS NULL) = (reason IS NULL))"
	");"
	"CREATE INDEX certificates_subject ON certificates(subject);"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  subject TEXT NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  used_at INTEGER,"
	"  used_serial TEXT REFERENCES certificates(serial),"
	"  used_peer TEXT"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  event TEXT NOT NULL CHECK (event IN"
	"    ('issue', 'renew', 'revoke', 'refuse', 'enroll', 'crl')),"
	"  subject TEXT,"
	"  serial TEXT,"
	"  peer TEXT,"
	"  detail TEXT"
	");"
	"CREATE TABLE crls ("
	"  number INTEGER PRIMARY KEY CHECK (number > 0),"
	"  this_update INTEGER NOT NULL,"
	"  next_update INTEGER NOT NULL,"
	"  entries INTEGER NOT NULL"
	");",
};

int
st_fail(tripki_store *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
	return err;
}

int
st_sqlerr(tripki_store *st, const char *what)
{
	return st_fail(st, TRIPKI_E_STORE, "%s: %s", what,
	    sqlite3_errmsg(st->db));
}

void
st_clear(tripki_store *st)
{
	st->detail[0] = '\0';
}

void
pending_clear(struct pending *p)
{
	OPENSSL_cleanse(p, sizeof(*p));
	p->kind = PENDING_NONE;
}

const char *
tripki_store_detail(const tripki_store *st)
{
	return st != NULL ? st->detail : "no store";
}

void
tripki_store_set_open(tripki_store *st, int open)
{
	st->open_mode = open != 0;
}

static int
bind_all(tripki_store *st, sqlite3_stmt *s, const char *types, va_list ap)
{
	const char *t;
	const void *p;
	size_t n;
	int i, rc = SQLITE_OK;

	for (i = 1; types[i - 1] != '\0' && rc == SQLITE_OK; i++) {
		switch (types[i - 1]) {
		case 't':
			t = va_arg(ap, const char *);
			rc = t != NULL ?
			    sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT) :
			    sqlite3_bind_null(s, i);
			break;
		case 'i':
			rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
			break;
		case 'b':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			rc = n > INT32_MAX ? SQLITE_TOOBIG :
			    sqlite3_bind_blob(s, i, p, (int)n, SQLITE_TRANSIENT);
			break;
		default:
			return st_fail(st, TRIPKI_E_INTERNAL,
			    "bad parameter type '%c'", types[i - 1]);
		}
	}
	return rc == SQLITE_OK ? TRIPKI_OK : st_sqlerr(st, "bind");
}

/* A compiled statement for `sql`, from the cache when it is there. */
static int
stmt_get(tripki_store *st, const char *sql, sqlite3_stmt **s)
{
	struct st_cached *c;
	int i, rc;

	*s = NULL;
	for (i = 0; i < st->ncache; i++) {
		c = &st->cache[i];
		if (c->sql != sql || c->busy)
			continue;
		/* The same address may hold other text by now (a buffer). */
		if (strcmp(sqlite3_sql(c->s), sql) != 0) {
			sqlite3_finalize(c->s);
			*c = st->cache[--st->ncache];
			break;
		}
		c->busy = 1;
		*s = c->s;
		return SQLITE_OK;
	}
	if (st->ncache == ST_CACHE)
		return sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
	if ((rc = sqlite3_prepare_v3(st->db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, s, NULL)) != SQLITE_OK)
		return rc;
	c = &st->cache[st->ncache++];
	c->sql = sql;
	c->s = *s;
	c->busy = 1;
	return SQLITE_OK;
}

void
st_done(tripki_store *st, sqlite3_stmt *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < st->ncache; i++)
		if (st->cache[i].s == s) {
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			st->cache[i].busy = 0;
			return;
		}
	sqlite3_finalize(s);
}

static void
stmt_drop_all(tripki_store *st)
{
	while (st->ncache > 0)
		sqlite3_finalize(st->cache[--st->ncache].s);
}

/* A statement with no parameters and no rows: SQLite's result code. */
static int
st_run(tripki_store *st, const char *sql)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = stmt_get(st, sql, &s)) != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	st_done(st, s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int
prepare_v(tripki_store *st, sqlite3_stmt **s, const char *sql,
    const char *types, va_list ap)
{
	int r;

	if (stmt_get(st, sql, s) != SQLITE_OK)
		return st_sqlerr(st, "prepare");
	if ((r = bind_all(st, *s, types, ap)) != TRIPKI_OK) {
		st_done(st, *s);
		*s = NULL;
	}
	return r;
}

int
st_prepare(tripki_store *st, sqlite3_stmt **s, const char *sql,
    const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = prepare_v(st, s, sql, types, ap);
	va_end(ap);
	return r;
}

int
st_exec(tripki_store *st, int *changes, const char *sql, const char *types,
    ...)
{
	sqlite3_stmt *s = NULL;
	va_list ap;
	int r;

	va_start(ap, types);
	r = prepare_v(st, &s, sql, types, ap);
	va_end(ap);
	if (r != TRIPKI_OK)
		return r;
	if (sqlite3_step(s) != SQLITE_DONE)
		r = st_sqlerr(st, "step");
	else if (changes != NULL)
		*changes = sqlite3_changes(st->db);
	st_done(st, s);
	return r;
}

void
col_text(sqlite3_stmt *s, int col, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(out, n, "%s", t != NULL ? (const char *)t : "");
}

int
tx_begin(tripki_store *st)
{
	if (st->batch) {
		/* SQLite ends a transaction on its own after some errors
		 * (disk full, I/O): what follows must not run outside it. */
		if (sqlite3_get_autocommit(st->db))
			return st_fail(st, TRIPKI_E_STORE, "the batch's "
			    "transaction was rolled back by an earlier error");
		if (st->sp_open)
			return st_fail(st, TRIPKI_E_INTERNAL,
			    "nested write in a batch");
		if (st_run(st, "SAVEPOINT rec") != SQLITE_OK)
			return st_sqlerr(st, "savepoint");
		st->sp_open = 1;
		return TRIPKI_OK;
	}
	if (st_run(st, "BEGIN IMMEDIATE") != SQLITE_OK)
		return st_sqlerr(st, "begin");
	return TRIPKI_OK;
}

int
tx_commit(tripki_store *st)
{
	const char *sql = st->batch ? "RELEASE rec" : "COMMIT";

	if (st->batch && !st->sp_open)
		return st_fail(st, TRIPKI_E_INTERNAL, "no savepoint to release");
	if (st_run(st, sql) == SQLITE_OK) {
		st->sp_open = 0;
		return TRIPKI_OK;
	}
	st_sqlerr(st, st->batch ? "release" : "commit");
	tx_rollback(st);
	return TRIPKI_E_STORE;
}

void
tx_rollback(tripki_store *st)
{
	if (st->batch) {
		/* Only the current unit: never the batch around it. */
		if (st->sp_open && !sqlite3_get_autocommit(st->db))
			(void)sqlite3_exec(st->db, "ROLLBACK TO rec; RELEASE rec",
			    NULL, NULL, NULL);
		st->sp_open = 0;
		return;
	}
	if (!sqlite3_get_autocommit(st->db))
		(void)st_run(st, "ROLLBACK");
}

/* ---- Group commit ---- */

int
tripki_store_batch_begin(tripki_store *st)
{
	int r;

	st_clear(st);
	if (st->batch)
		return st_fail(st, TRIPKI_E_STATE, "a batch is already open");
	if (!sqlite3_get_autocommit(st->db))
		return st_fail(st, TRIPKI_E_STATE, "a transaction is open");
	if ((r = tx_begin(st)) != TRIPKI_OK)
		return r;
	st->batch = 1;
	st->sp_open = 0;
	return TRIPKI_OK;
}

int
tripki_store_batch_commit(tripki_store *st)
{
	int r;

	st_clear(st);
	if (!st->batch)
		return st_fail(st, TRIPKI_E_STATE, "no batch is open");
	if (st->sp_open) {
		r = st_fail(st, TRIPKI_E_INTERNAL,
		    "a record of the batch is unfinished");
		tripki_store_batch_rollback(st);
		return r;
	}
	st->batch = 0;
	if (sqlite3_get_autocommit(st->db))
		return st_fail(st, TRIPKI_E_STORE, "the batch's transaction "
		    "was rolled back by an earlier error");
	/* tx_commit rolls the whole batch back when COMMIT fails. */
	return tx_commit(st);
}

void
tripki_store_batch_rollback(tripki_store *st)
{
	if (st == NULL || !st->batch)
		return;
	st->batch = 0;
	st->sp_open = 0;
	tx_rollback(st);
}

int
tripki_store_batch_active(const tripki_store *st)
{
	return st != NULL && st->batch;
}

int
audit_add(tripki_store *st, int64_t now_ms, const char *event,
    const char *id, const char *serial, const char *peer, const char *detail)
{
	return st_exec(st, NULL, "INSERT INTO audit"
	    " (at, event, subject, serial, peer, detail)"
	    " VALUES (?, ?, ?, ?, ?, ?)", "itttt" "t", now_ms, event, id,
	    serial, peer, detail);
}

static int
event_known(const char *e)
{
	static const char *const names[] = { "issue", "renew", "revoke",
	    "refuse", "enroll", "crl" };
	size_t i;

	for (i = 0; e != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(e, names[i]) == 0)
			return 1;
	return 0;
}

int
tripki_store_audit(tripki_store *st, int64_t now_ms, const char *event,
    const char *id, const char *serial, const char *peer, const char *detail)
{
	st_clear(st);
	if (!event_known(event))
		return st_fail(st, TRIPKI_E_INVALID, "unknown audit event");
	return audit_add(st, now_ms, event, id, serial, peer, detail);
}

int
tripki_store_audit_list(tripki_store *st, tripki_store_event_fn fn,
    void *ctx)
{
	tripki_store_event e;
	sqlite3_stmt *s = NULL;
	int r, rc;

	st_clear(st);
	GUARD(st_prepare(st, &s, "SELECT at, event, subject, serial, peer,"
	    " detail FROM audit ORDER BY id", ""));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.at_ms = sqlite3_column_int64(s, 0);
		col_text(s, 1, e.event, sizeof(e.event));
		col_text(s, 2, e.id, sizeof(e.id));
		col_text(s, 3, e.serial, sizeof(e.serial));
		col_text(s, 4, e.peer, sizeof(e.peer));
		col_text(s, 5, e.detail, sizeof(e.detail));
		if ((r = fn(ctx, &e)) != 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? TRIPKI_OK : st_sqlerr(st, "audit");
out:
	st_done(st, s);
	return r;
}

/* ---- Serial numbers and times ---- */

int
serial_of_bytes(const uint8_t *p, size_t n,
    char out[TRIPKI_STORE_SERIAL_MAX + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n == 0 || 2 * n > TRIPKI_STORE_SERIAL_MAX)
		return TRIPKI_E_INVALID;
	for (i = 0; i < n; i++) {
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
	}
	out[o] = '\0';
	return TRIPKI_OK;
}

static int
serial_of_bn(const BIGNUM *bn, char out[TRIPKI_STORE_SERIAL_MAX + 1])
{
	uint8_t b[TRIPKI_STORE_SERIAL_MAX / 2];
	int n;

	if (BN_is_negative(bn) || BN_is_zero(bn) ||
	    BN_num_bytes(bn) > (int)sizeof(b) || (n = BN_bn2bin(bn, b)) <= 0)
		return TRIPKI_E_INVALID;
	return serial_of_bytes(b, (size_t)n, out);
}

int
serial_of_cert(const X509 *x, char out[TRIPKI_STORE_SERIAL_MAX + 1])
{
	BIGNUM *bn;
	int r;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn == NULL)
		return TRIPKI_E_CRYPTO;
	r = serial_of_bn(bn, out);
	BN_free(bn);
	return r;
}

int
serial_parse(const char *in, char out[TRIPKI_STORE_SERIAL_MAX + 1])
{
	BIGNUM *bn = NULL;
	size_t n;
	int r;

	if (in == NULL)
		return TRIPKI_E_INVALID;
	if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
		in += 2;
	n = strlen(in);
	/* BN_hex2bn takes a '-' and stops at the first non-digit: check. */
	if (n == 0 || n > TRIPKI_STORE_SERIAL_MAX ||
	    strspn(in, "0123456789abcdefABCDEF") != n ||
	    BN_hex2bn(&bn, in) != (int)n) {
		r = TRIPKI_E_INVALID;
		goto out;
	}
	r = serial_of_bn(bn, out);
out:
	BN_free(bn);
	return r;
}

int
asn1_time_ms(const ASN1_TIME *t, int64_t *ms)
{
	struct tm tm;
	time_t s;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return TRIPKI_E_CRYPTO;
	if ((s = timegm(&tm)) == (time_t)-1)
		return TRIPKI_E_CRYPTO;
	*ms = (int64_t)s * 1000;
	return TRIPKI_OK;
}

int
status_at(int64_t not_before, int64_t not_after, int revoked,
    int64_t now_ms)
{
	if (revoked)
		return TRIPKI_STORE_REVOKED;
	if (now_ms > not_after)
		return TRIPKI_STORE_EXPIRED;
	if (now_ms < not_before)
		return TRIPKI_STORE_NOT_YET_VALID;
	return TRIPKI_STORE_VALID;
}

const char *
tripki_store_status_name(int status)
{
	switch (status) {
	case TRIPKI_STORE_VALID:
		return "valid";
	case TRIPKI_STORE_EXPIRED:
		return "expired";
	case TRIPKI_STORE_REVOKED:
		return "revoked";
	case TRIPKI_STORE_NOT_YET_VALID:
		return "not yet valid";
	default:
		return "unknown";
	}
}

/* ---- Opening and the schema ---- */

static int
pragma_int(tripki_store *st, const char *sql, int64_t *v)
{
	sqlite3_stmt *s = NULL;
	int r;

	GUARD(st_prepare(st, &s, sql, ""));
	if (sqlite3_step(s) != SQLITE_ROW) {
		r = st_sqlerr(st, sql);
		goto out;
	}
	*v = sqlite3_column_int64(s, 0);
	r = TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

static int
migrate(tripki_store *st)
{
	char sql[64];
	int64_t v;
	int r;

	for (;;) {
		GUARD(tx_begin(st));
		/* Read inside the transaction: another process may have
		 * migrated since we looked. */
		GUARD(pragma_int(st, "PRAGMA user_version", &v));
		if (v >= TRIPKI_STORE_SCHEMA)
			break;
		if (v < 0) {
			r = st_fail(st, TRIPKI_E_STORE,
			    "database schema version %lld is invalid",
			    (long long)v);
			goto out;
		}
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) !=
		    SQLITE_OK) {
			r = st_sqlerr(st, "migration");
			goto out;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld",
		    (long long)v + 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			r = st_sqlerr(st, "migration");
			goto out;
		}
		GUARD(tx_commit(st));
	}
	if (v > TRIPKI_STORE_SCHEMA) {
		r = st_fail(st, TRIPKI_E_STORE, "database schema version %lld "
		    "is newer than this tripki's (%d): upgrade tripki",
		    (long long)v, TRIPKI_STORE_SCHEMA);
		goto out;
	}
	GUARD(tx_commit(st));
out:
	tx_rollback(st);
	return r;
}

static int
configure(tripki_store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t v;
	int r;

	sqlite3_extended_result_codes(st->db, 1);
	if (sqlite3_busy_timeout(st->db, BUSY_MS) != SQLITE_OK) {
		r = st_sqlerr(st, "busy timeout");
		goto out;
	}
	/* Before anything writes: is this ours, and not from the future? */
	GUARD(pragma_int(st, "PRAGMA application_id", &v));
	if (v != 0 && v != APP_ID) {
		r = st_fail(st, TRIPKI_E_STORE, "not a tripki CA database "
		    "(application_id %lld)", (long long)v);
		goto out;
	}
	GUARD(pragma_int(st, "PRAGMA user_version", &v));
	if (v > TRIPKI_STORE_SCHEMA) {
		r = st_fail(st, TRIPKI_E_STORE, "database schema version %lld "
		    "is newer than this tripki's (%d): upgrade tripki",
		    (long long)v, TRIPKI_STORE_SCHEMA);
		goto out;
	}
	if (sqlite3_exec(st->db, "PRAGMA foreign_keys = ON;"
	    "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		r = st_sqlerr(st, "pragma");
		goto out;
	}
	GUARD(st_prepare(st, &s, "PRAGMA journal_mode = WAL", ""));
	if (sqlite3_step(s) != SQLITE_ROW ||
	    sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") !=
	    0) {
		r = st_fail(st, TRIPKI_E_STORE, "cannot switch to WAL mode: %s",
		    sqlite3_errmsg(st->db));
		goto out;
	}
	st_done(st, s);
	s = NULL;
	GUARD(pragma_int(st, "PRAGMA foreign_keys", &v));
	if (v != 1) {
		r = st_fail(st, TRIPKI_E_STORE, "foreign keys unsupported");
		goto out;
	}
	r = migrate(st);
out:
	st_done(st, s);
	return r;
}

int
tripki_store_open(const char *dir, int flags, tripki_store **out,
    char *detail, size_t detail_len)
{
	tripki_store *st = NULL;
	char path[4096];
	struct stat sb;
	int fd, n, r;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		if (detail != NULL && detail_len > 0)
			snprintf(detail, detail_len, "out of memory");
		return TRIPKI_E_NOMEM;
	}
	if (dir == NULL || (flags & ~TRIPKI_STORE_CREATE) != 0) {
		r = st_fail(st, TRIPKI_E_INVALID, "bad arguments");
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		r = st_fail(st, TRIPKI_E_INVALID, "directory name too long");
		goto out;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		r = st_fail(st, TRIPKI_E_IO, "%s: not a directory", dir);
		goto out;
	}
	if (flags & TRIPKI_STORE_CREATE) {
		/* SQLite would make it 0644 under the usual umask; the audit
		 * log is the operator's business alone.  Its -wal and -shm
		 * files take the database file's mode. */
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			r = st_fail(st, TRIPKI_E_IO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		close(fd);
	} else if (stat(path, &sb) != 0) {
		r = st_fail(st, TRIPKI_E_STORE, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = st->db != NULL ? st_sqlerr(st, path) : st_fail(st,
		    TRIPKI_E_NOMEM, "out of memory");
		goto out;
	}
	pending_clear(&st->pending);
	GUARD(configure(st));
	*out = st;
	st = NULL;
	r = TRIPKI_OK;
out:
	if (st != NULL && detail != NULL && detail_len > 0)
		snprintf(detail, detail_len, "%s", st->detail);
	tripki_store_close(st);
	return r;
}

void
tripki_store_close(tripki_store *st)
{
	if (st == NULL)
		return;
	tripki_store_batch_rollback(st);
	stmt_drop_all(st);
	sqlite3_close(st->db);
	pending_clear(&st->pending);
	free(st);
}
