/*
 * The certificates the store holds: looking them up, listing them with
 * their status, and revoking them.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "store_int.h"

/* RFC 5280 section 5.3.1, CRLReason; 6 and 8 are left out on purpose. */
static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", 0 },
	{ "keyCompromise", 1 },
	{ "cACompromise", 2 },
	{ "affiliationChanged", 3 },
	{ "superseded", 4 },
	{ "cessationOfOperation", 5 },
	{ "privilegeWithdrawn", 9 },
	{ "aACompromise", 10 },
};

int
tripki_store_reason_code(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(reasons) / sizeof(reasons[0]);
	    i++)
		if (strcmp(name, reasons[i].name) == 0)
			return reasons[i].code;
	return -1;
}

#define CERT_COLUMNS "serial, subject, not_before, not_after, issued_at," \
	" key_origin, peer, revoked_at, reason, pem"

static void
cert_from_row(sqlite3_stmt *s, int64_t now_ms, tripki_store_cert *c)
{
	char origin[8];

	memset(c, 0, sizeof(*c));
	col_text(s, 0, c->serial, sizeof(c->serial));
	col_text(s, 1, c->id, sizeof(c->id));
	c->not_before_ms = sqlite3_column_int64(s, 2);
	c->not_after_ms = sqlite3_column_int64(s, 3);
	c->issued_at_ms = sqlite3_column_int64(s, 4);
	col_text(s, 5, origin, sizeof(origin));
	c->csr = strcmp(origin, "server") == 0;
	col_text(s, 6, c->peer, sizeof(c->peer));
	c->revoked_at_ms = sqlite3_column_int64(s, 7);
	col_text(s, 8, c->reason, sizeof(c->reason));
	c->status = status_at(c->not_before_ms, c->not_after_ms,
	    c->reason[0] != '\0', now_ms);
}

static int
pem_to_cert(tripki_store *st, sqlite3_stmt *s, int col, X509 **out)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);
	BIO *bio;

	if (p == NULL || (bio = BIO_new_mem_buf(p, n)) == NULL)
		return st_fail(st, TRIPKI_E_NOMEM, "certificate PEM");
	*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return *out != NULL ? TRIPKI_OK :
	    st_fail(st, TRIPKI_E_STORE, "stored certificate unreadable");
}

int
tripki_store_cert_get(tripki_store *st, const char *serial, int64_t now_ms,
    tripki_store_cert *info, X509 **cert)
{
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	sqlite3_stmt *s = NULL;
	int rc, r;

	st_clear(st);
	if (cert != NULL)
		*cert = NULL;
	if (serial_parse(serial, sn) != TRIPKI_OK)
		return st_fail(st, TRIPKI_E_INVALID, "malformed serial");
	GUARD(st_prepare(st, &s, "SELECT " CERT_COLUMNS
	    " FROM certificates WHERE serial = ?", "t", sn));
	if ((rc = sqlite3_step(s)) == SQLITE_DONE) {
		r = st_fail(st, TRIPKI_E_UNKNOWN_ID, "no certificate %s", sn);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = st_sqlerr(st, "certificate");
		goto out;
	}
	if (info != NULL)
		cert_from_row(s, now_ms, info);
	r = cert != NULL ? pem_to_cert(st, s, 9, cert) : TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

int
tripki_store_list(tripki_store *st, const char *id, int64_t now_ms,
    tripki_store_cert_fn fn, void *ctx)
{
	tripki_store_cert c;
	sqlite3_stmt *s = NULL;
	int rc, r;

	st_clear(st);
	if (fn == NULL)
		return st_fail(st, TRIPKI_E_INVALID, "no callback");
	GUARD(st_prepare(st, &s, "SELECT " CERT_COLUMNS " FROM certificates"
	    " WHERE ?1 IS NULL OR subject = ?1 ORDER BY issued_at, id", "t",
	    id));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cert_from_row(s, now_ms, &c);
		if ((r = fn(ctx, &c)) != 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? TRIPKI_OK : st_sqlerr(st, "list");
out:
	st_done(st, s);
	return r;
}

static int
reason_check(tripki_store *st, const char **reason)
{
	if (*reason == NULL)
		*reason = "unspecified";
	if (tripki_store_reason_code(*reason) < 0)
		return st_fail(st, TRIPKI_E_INVALID, "unknown revocation "
		    "reason \"%.40s\"", *reason);
	return TRIPKI_OK;
}

int
tripki_store_revoke_serial(tripki_store *st, const char *serial,
    const char *reason, int64_t now_ms)
{
	char sn[TRIPKI_STORE_SERIAL_MAX + 1], id[TRIPKI_ID_MAX + 1];
	char why[TRIPKI_STORE_REASON_MAX + 16];
	sqlite3_stmt *s = NULL;
	int rc, r;

	st_clear(st);
	if (serial_parse(serial, sn) != TRIPKI_OK)
		return st_fail(st, TRIPKI_E_INVALID, "malformed serial");
	if ((r = reason_check(st, &reason)) != TRIPKI_OK)
		return r;
	GUARD(tx_begin(st));
	GUARD(st_prepare(st, &s, "SELECT subject, reason FROM certificates"
	    " WHERE serial = ?", "t", sn));
	if ((rc = sqlite3_step(s)) == SQLITE_DONE) {
		r = st_fail(st, TRIPKI_E_UNKNOWN_ID, "no certificate %s", sn);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = st_sqlerr(st, "revoke");
		goto out;
	}
	if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
		r = st_fail(st, TRIPKI_E_STATE, "certificate %s already "
		    "revoked (%s)", sn, (const char *)sqlite3_column_text(s, 1));
		goto out;
	}
	col_text(s, 0, id, sizeof(id));
	st_done(st, s);
	s = NULL;
	GUARD(st_exec(st, NULL, "UPDATE certificates SET revoked_at = ?,"
	    " reason = ? WHERE serial = ? AND revoked_at IS NULL", "itt",
	    now_ms, reason, sn));
	snprintf(why, sizeof(why), "reason %s", reason);
	GUARD(audit_add(st, now_ms, "revoke", id, sn, NULL, why));
	r = tx_commit(st);
out:
	st_done(st, s);
	tx_rollback(st);
	return r;
}

int
tripki_store_revoke_id(tripki_store *st, const char *id, const char *reason,
    int64_t now_ms, size_t *count)
{
	char why[TRIPKI_STORE_REASON_MAX + 16];
	int n, r;

	st_clear(st);
	if (count != NULL)
		*count = 0;
	if (id == NULL || !tripki_id_valid(id, strlen(id)))
		return st_fail(st, TRIPKI_E_INVALID, "invalid identity");
	if ((r = reason_check(st, &reason)) != TRIPKI_OK)
		return r;
	snprintf(why, sizeof(why), "reason %s", reason);
	GUARD(tx_begin(st));
	/* One audit row per certificate, written before the update so that
	 * the same condition picks them. */
	GUARD(st_exec(st, NULL, "INSERT INTO audit (at, event, subject, serial,"
	    " detail) SELECT ?1, 'revoke', subject, serial, ?2"
	    " FROM certificates WHERE subject = ?3 AND revoked_at IS NULL"
	    " ORDER BY id", "itt", now_ms, why, id));
	GUARD(st_exec(st, &n, "UPDATE certificates SET revoked_at = ?,"
	    " reason = ? WHERE subject = ? AND revoked_at IS NULL", "itt",
	    now_ms, reason, id));
	if (n == 0) {
		r = st_fail(st, TRIPKI_E_UNKNOWN_ID, "no unrevoked certificate "
		    "for %s", id);
		goto out;
	}
	GUARD(tx_commit(st));
	if (count != NULL)
		*count = (size_t)n;
out:
	tx_rollback(st);
	return r;
}
