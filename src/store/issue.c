/*
 * Who may get a certificate, and the record of each one issued:
 * enrollment tokens, the core's authorize and record callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "store_int.h"

#define MS_PER_S 1000

static int
id_ok(const char *id)
{
	return id != NULL && tripki_id_valid(id, strlen(id));
}

static int
token_hash(const uint8_t *token, size_t len, uint8_t hash[static HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(token, len, hash, &n, EVP_sha256(), NULL) != 1 ||
	    n != HASH_LEN)
		return TRIPKI_E_CRYPTO;
	return TRIPKI_OK;
}

static void
peer_copy(const char *peer, char out[static TRIPKI_STORE_PEER_MAX])
{
	snprintf(out, TRIPKI_STORE_PEER_MAX, "%s", peer != NULL ? peer : "");
}

/*
 * Whether the token with this hash may enroll `id` now.  Looked up by
 * indexed equality of the hash, so no comparison of secrets happens here.
 * TRIPKI_E_NOT_AUTHORIZED with the reason in the detail.
 */
static int
token_check(tripki_store *st, const char *id,
    const uint8_t hash[static HASH_LEN], int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	GUARD(st_prepare(st, &s, "SELECT subject, expires_at, used_at"
	    " FROM tokens WHERE hash = ?", "b", hash, (size_t)HASH_LEN));
	if ((rc = sqlite3_step(s)) == SQLITE_DONE)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "unknown enrollment token");
	else if (rc != SQLITE_ROW)
		r = st_sqlerr(st, "token");
	else if (strcmp((const char *)sqlite3_column_text(s, 0), id) != 0)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "enrollment token was made for another identity");
	else if (sqlite3_column_type(s, 2) != SQLITE_NULL)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "enrollment token already used");
	else if (sqlite3_column_int64(s, 1) <= now_ms)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "enrollment token expired");
	else
		r = TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

/* base64url without padding: 32 bytes make 43 characters. */
static void
b64url(const uint8_t raw[static TOKEN_RAW],
    char text[static TRIPKI_STORE_TOKEN_LEN + 1])
{
	unsigned char b[48];
	size_t i;

	EVP_EncodeBlock(b, raw, TOKEN_RAW); /* 44 characters and a '=' pad */
	for (i = 0; i < TRIPKI_STORE_TOKEN_LEN; i++)
		text[i] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : (char)b[i];
	text[TRIPKI_STORE_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
}

int
tripki_store_token_create(tripki_store *st, const char *id, int64_t ttl_s,
    int64_t now_ms, char text[static TRIPKI_STORE_TOKEN_LEN + 1])
{
	uint8_t raw[TOKEN_RAW], hash[HASH_LEN];
	char detail[64];
	int r;

	st_clear(st);
	text[0] = '\0';
	if (!id_ok(id))
		return st_fail(st, TRIPKI_E_INVALID, "invalid identity");
	if (ttl_s <= 0 || ttl_s > TRIPKI_STORE_TTL_MAX)
		return st_fail(st, TRIPKI_E_INVALID,
		    "token lifetime must be 1 to %lld seconds",
		    (long long)TRIPKI_STORE_TTL_MAX);
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		r = st_fail(st, TRIPKI_E_CRYPTO, "no randomness");
		goto out;
	}
	b64url(raw, text);
	GUARD(token_hash((const uint8_t *)text, TRIPKI_STORE_TOKEN_LEN, hash));
	GUARD(tx_begin(st));
	GUARD(st_exec(st, NULL, "INSERT INTO tokens"
	    " (subject, hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
	    "tbii", id, hash, (size_t)HASH_LEN, now_ms,
	    now_ms + ttl_s * MS_PER_S));
	snprintf(detail, sizeof(detail), "token made, valid %lld s",
	    (long long)ttl_s);
	GUARD(audit_add(st, now_ms, "enroll", id, NULL, NULL, detail));
	r = tx_commit(st);
out:
	tx_rollback(st);
	if (r != TRIPKI_OK)
		OPENSSL_cleanse(text, TRIPKI_STORE_TOKEN_LEN + 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hash, sizeof(hash));
	return r;
}

/* A refusal goes to the audit log in a transaction of its own. */
static int
refuse(tripki_store *st, int64_t now_ms, const char *id, const char *serial,
    const char *peer)
{
	char pb[TRIPKI_STORE_PEER_MAX], why[TRIPKI_STORE_DETAIL_MAX];

	tx_rollback(st);
	peer_copy(peer, pb);
	snprintf(why, sizeof(why), "%s", st->detail);
	/* The refusal stands even when the log cannot be written. */
	if (audit_add(st, now_ms, "refuse", id, serial, pb, why) != TRIPKI_OK)
		return st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "%s (audit log not written: %s)", why,
		    sqlite3_errmsg(st->db));
	snprintf(st->detail, sizeof(st->detail), "%s", why);
	return TRIPKI_E_NOT_AUTHORIZED;
}

int
tripki_store_token_consume(tripki_store *st, const char *id,
    const uint8_t *token, size_t token_len, int64_t now_ms, const char *peer)
{
	uint8_t hash[HASH_LEN];
	char pb[TRIPKI_STORE_PEER_MAX];
	int n, r;

	st_clear(st);
	if (!id_ok(id) || (token == NULL && token_len > 0))
		return st_fail(st, TRIPKI_E_INVALID, "invalid identity");
	peer_copy(peer, pb);
	GUARD(token_hash(token, token_len, hash));
	GUARD(tx_begin(st));
	if ((r = token_check(st, id, hash, now_ms)) == TRIPKI_E_NOT_AUTHORIZED) {
		r = refuse(st, now_ms, id, NULL, pb);
		goto out;
	}
	GUARD(r);
	GUARD(st_exec(st, &n, "UPDATE tokens SET used_at = ?, used_peer = ?"
	    " WHERE hash = ? AND used_at IS NULL", "itb", now_ms,
	    pb[0] != '\0' ? pb : NULL, hash,
	    (size_t)HASH_LEN));
	if (n != 1) {
		r = st_fail(st, TRIPKI_E_STORE, "token changed under us");
		goto out;
	}
	GUARD(audit_add(st, now_ms, "enroll", id, NULL, pb,
	    "enrollment token used"));
	r = tx_commit(st);
out:
	tx_rollback(st);
	OPENSSL_cleanse(hash, sizeof(hash));
	return r;
}

static int
cert_fingerprint(X509 *x, uint8_t fp[static HASH_LEN])
{
	unsigned int n = 0;

	if (X509_digest(x, EVP_sha256(), fp, &n) != 1 || n != HASH_LEN)
		return TRIPKI_E_CRYPTO;
	return TRIPKI_OK;
}

/*
 * A renewal is signed with the key of the current certificate, which the
 * core has checked against the CA certificate.  Here: that very
 * certificate was issued by this store, to this identity, stands, and has
 * lived half its validity (tripki server renews at 65%), so that one key
 * cannot mint certificates as fast as it can ask.
 */
static int
renewal_check(tripki_store *st, const char *id, X509 *cert, int64_t now_ms,
    char serial[static TRIPKI_STORE_SERIAL_MAX + 1])
{
	int64_t nb, na;

	uint8_t fp[HASH_LEN];
	sqlite3_stmt *s = NULL;
	int rc, r;

	GUARD(serial_of_cert(cert, serial));
	GUARD(cert_fingerprint(cert, fp));
	GUARD(st_prepare(st, &s, "SELECT subject, fingerprint, reason,"
	    " not_before, not_after FROM certificates WHERE serial = ?", "t",
	    serial));
	if ((rc = sqlite3_step(s)) == SQLITE_DONE)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s, which is not in the store", serial);
	else if (rc != SQLITE_ROW)
		r = st_sqlerr(st, "renewal");
	else if (strcmp((const char *)sqlite3_column_text(s, 0), id) != 0)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s, which was issued to another identity",
		    serial);
	else if (sqlite3_column_bytes(s, 1) != HASH_LEN ||
	    CRYPTO_memcmp(sqlite3_column_blob(s, 1), fp, HASH_LEN) != 0)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s, which differs from the one issued",
		    serial);
	else if (sqlite3_column_type(s, 2) != SQLITE_NULL)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s, which was revoked (%s)", serial,
		    (const char *)sqlite3_column_text(s, 2));
	else if (nb = sqlite3_column_int64(s, 3),
	    na = sqlite3_column_int64(s, 4), now_ms < nb + (na - nb) / 2)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s before half its validity has passed",
		    serial);
	else
		r = TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

int
tripki_store_authorize(void *ctx, const tripki_issue_info *info,
    int64_t now_ms)
{
	tripki_store *st = ctx;
	struct pending *p = &st->pending;
	int r;

	pending_clear(p);
	st_clear(st);
	if (info == NULL || !id_ok(info->id) ||
	    (info->token == NULL && info->token_len > 0))
		return st_fail(st, TRIPKI_E_INVALID, "invalid request");
	if (info->renew_cert != NULL) {
		r = renewal_check(st, info->id, info->renew_cert, now_ms,
		    p->serial);
		p->kind = PENDING_RENEW;
	} else if (info->token_len == 0) {
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "no enrollment token");
	} else {
		GUARD(token_hash(info->token, info->token_len, p->hash));
		r = token_check(st, info->id, p->hash, now_ms);
		p->kind = PENDING_TOKEN;
	}
	if (r == TRIPKI_E_NOT_AUTHORIZED && st->open_mode) {
		/* Open mode: issue anyway; record notes what was missing. */
		snprintf(p->note, sizeof(p->note), "%s", st->detail);
		p->kind = PENDING_OPEN;
		r = TRIPKI_OK;
	} else if (r == TRIPKI_E_NOT_AUTHORIZED) {
		r = refuse(st, now_ms, info->id,
		    p->serial[0] != '\0' ? p->serial : NULL, info->peer);
		goto out;
	}
	GUARD(r);
	snprintf(p->id, sizeof(p->id), "%s", info->id);
	st_clear(st);
out:
	if (r != TRIPKI_OK)
		pending_clear(p);
	return r;
}

/* The parts of a certificate the table keeps. */
struct cert_row {
	char serial[TRIPKI_STORE_SERIAL_MAX + 1];
	uint8_t fp[HASH_LEN];
	int64_t not_before, not_after;
	char *pem;
};

static int
cert_row_make(tripki_store *st, const tripki_issued *is, struct cert_row *c)
{
	char from_bytes[TRIPKI_STORE_SERIAL_MAX + 1];
	BUF_MEM *mem;
	BIO *bio = NULL;
	int r;

	if (serial_of_bytes(is->serial, is->serial_len, from_bytes) !=
	    TRIPKI_OK || serial_of_cert(is->cert, c->serial) != TRIPKI_OK ||
	    strcmp(from_bytes, c->serial) != 0) {
		r = st_fail(st, TRIPKI_E_INVALID,
		    "serial does not match the certificate");
		goto out;
	}
	if (cert_fingerprint(is->cert, c->fp) != TRIPKI_OK ||
	    asn1_time_ms(X509_get0_notBefore(is->cert), &c->not_before) !=
	    TRIPKI_OK ||
	    asn1_time_ms(X509_get0_notAfter(is->cert), &c->not_after) !=
	    TRIPKI_OK) {
		r = st_fail(st, TRIPKI_E_CRYPTO, "unreadable certificate");
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(bio, is->cert) != 1 ||
	    BIO_write(bio, "", 1) != 1 || BIO_get_mem_ptr(bio, &mem) != 1 ||
	    (c->pem = OPENSSL_strdup(mem->data)) == NULL) {
		r = st_fail(st, TRIPKI_E_NOMEM, "certificate to PEM");
		goto out;
	}
	r = TRIPKI_OK;
out:
	BIO_free(bio);
	return r;
}

/* A renewal is refused if the certificate was revoked since authorize. */
static int
renewal_still_good(tripki_store *st, const char *serial)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	GUARD(st_prepare(st, &s, "SELECT revoked_at FROM certificates"
	    " WHERE serial = ?", "t", serial));
	if ((rc = sqlite3_step(s)) != SQLITE_ROW && rc != SQLITE_DONE)
		r = st_sqlerr(st, "renewal");
	else if (rc == SQLITE_DONE || sqlite3_column_type(s, 0) != SQLITE_NULL)
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED, "renewal of "
		    "certificate %s, which was revoked", serial);
	else
		r = TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

static int
serial_taken(tripki_store *st, const char *serial)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	GUARD(st_prepare(st, &s, "SELECT 1 FROM certificates WHERE serial = ?",
	    "t", serial));
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		r = st_fail(st, TRIPKI_E_STORE, "serial %s already recorded",
		    serial);
	else
		r = rc == SQLITE_DONE ? TRIPKI_OK : st_sqlerr(st, "serial");
out:
	st_done(st, s);
	return r;
}

int
tripki_store_record(void *ctx, const tripki_issued *is, int64_t now_ms)
{
	tripki_store *st = ctx;
	struct pending p = st->pending;
	struct cert_row c;
	char pb[TRIPKI_STORE_PEER_MAX], detail[TRIPKI_STORE_DETAIL_MAX];
	const char *how;
	int n, r;

	/* What authorize decided holds for this one record only. */
	pending_clear(&st->pending);
	st_clear(st);
	memset(&c, 0, sizeof(c));
	if (is == NULL || !id_ok(is->id) || is->cert == NULL ||
	    is->serial == NULL) {
		r = st_fail(st, TRIPKI_E_INVALID, "invalid issuance");
		goto out;
	}
	peer_copy(is->peer, pb);
	GUARD(cert_row_make(st, is, &c));
	/* No decision, or another identity's: nothing authorized this. */
	if (p.kind == PENDING_NONE || strcmp(p.id, is->id) != 0) {
		r = st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
		    "no authorization for this issuance (authorize first)");
		goto out;
	}
	switch (p.kind) {
	case PENDING_TOKEN:
		how = "enrollment token";
		break;
	case PENDING_RENEW:
		how = "renewal of ";
		break;
	case PENDING_OPEN:
		how = "open mode: ";
		break;
	default:
		how = "";
	}
	snprintf(detail, sizeof(detail), "key made by the %s; %s%.180s",
	    is->csr ? "server (CSR)" : "CA", how, p.kind == PENDING_RENEW ?
	    p.serial : p.kind == PENDING_OPEN ? p.note : "");

	GUARD(tx_begin(st));
	GUARD(serial_taken(st, c.serial));
	if (p.kind == PENDING_RENEW &&
	    (r = renewal_still_good(st, p.serial)) != TRIPKI_OK) {
		if (r == TRIPKI_E_NOT_AUTHORIZED)
			r = refuse(st, now_ms, is->id, p.serial, pb);
		goto out;
	}
	GUARD(st_exec(st, NULL, "INSERT INTO certificates (serial, subject,"
	    " not_before, not_after, pem, fingerprint, issued_at, key_origin,"
	    " peer, renewed_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "ttiitbittt", c.serial, is->id, c.not_before, c.not_after, c.pem,
	    c.fp, (size_t)HASH_LEN, now_ms, is->csr ? "server" : "ca",
	    pb[0] != '\0' ? pb : NULL,
	    p.kind == PENDING_RENEW ? p.serial : NULL));
	/*
	 * A certificate renewed again (its earlier answer lost, say)
	 * supersedes what it was renewed into before: one stands per chain.
	 */
	if (p.kind == PENDING_RENEW)
		GUARD(st_exec(st, NULL, "UPDATE certificates SET revoked_at = ?,"
		    " reason = 'superseded' WHERE renewed_from = ? AND serial != ?"
		    " AND revoked_at IS NULL", "itt", now_ms, p.serial, c.serial));
	if (p.kind == PENDING_TOKEN) {
		/* Spent with the record or not at all; the conditions fail
		 * if another CA process spent it since authorize. */
		GUARD(st_exec(st, &n, "UPDATE tokens SET used_at = ?,"
		    " used_serial = ?, used_peer = ? WHERE hash = ?"
		    " AND subject = ? AND used_at IS NULL AND expires_at > ?",
		    "ittbti", now_ms, c.serial, pb[0] != '\0' ? pb : NULL,
		    p.hash, (size_t)HASH_LEN,
		    is->id, now_ms));
		if (n != 1) {
			st_fail(st, TRIPKI_E_NOT_AUTHORIZED,
			    "enrollment token already used");
			r = refuse(st, now_ms, is->id, NULL, pb);
			goto out;
		}
	}
	/* In open mode a renewal request still counts as one. */
	GUARD(audit_add(st, now_ms, p.serial[0] != '\0' ? "renew" : "issue",
	    is->id, c.serial, pb, detail));
	r = tx_commit(st);
out:
	tx_rollback(st);
	OPENSSL_free(c.pem);
	pending_clear(&p);
	return r;
}

/* ---- Decisions carried between authorize and record ---- */

struct tripki_store_decision {
	struct pending p;
};

int
tripki_store_decision_take(tripki_store *st, tripki_store_decision **out)
{
	tripki_store_decision *d;

	*out = NULL;
	if (st->pending.kind == PENDING_NONE)
		return st_fail(st, TRIPKI_E_STATE, "no decision to take: "
		    "authorize did not allow a request");
	if ((d = malloc(sizeof(*d))) == NULL)
		return st_fail(st, TRIPKI_E_NOMEM, "out of memory");
	d->p = st->pending;
	pending_clear(&st->pending);
	*out = d;
	return TRIPKI_OK;
}

void
tripki_store_decision_put(tripki_store *st, tripki_store_decision *d)
{
	pending_clear(&st->pending);
	if (d == NULL)
		return;
	st->pending = d->p;
	tripki_store_decision_free(d);
}

void
tripki_store_decision_free(tripki_store_decision *d)
{
	if (d == NULL)
		return;
	pending_clear(&d->p);
	free(d);
}
