/*
 * Certificate revocation lists: an X.509 v2 CRL of every revoked
 * certificate in the store, signed by the CA key, numbered from a counter
 * the database keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "store_int.h"

static int
add_entry(X509_CRL *crl, const char *serial, int64_t revoked_ms,
    const char *reason)
{
	ASN1_ENUMERATED *code = NULL;
	ASN1_INTEGER *sn = NULL;
	X509_REVOKED *rev = NULL;
	ASN1_TIME *t = NULL;
	BIGNUM *bn = NULL;
	int c = tripki_store_reason_code(reason), r;

	if (c < 0) {
		r = TRIPKI_E_STORE;
		goto out;
	}
	if (BN_hex2bn(&bn, serial) <= 0 ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, (time_t)(revoked_ms / 1000))) == NULL ||
	    (rev = X509_REVOKED_new()) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(X509_REVOKED_set_serialNumber(rev, sn), TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_REVOKED_set_revocationDate(rev, t), TRIPKI_E_CRYPTO);
	/* RFC 5280 5.3.1: absent rather than "unspecified". */
	if (c != 0) {
		if ((code = ASN1_ENUMERATED_new()) == NULL) {
			r = TRIPKI_E_NOMEM;
			goto out;
		}
		GUARD_OSSL(ASN1_ENUMERATED_set(code, c), TRIPKI_E_CRYPTO);
		GUARD_OSSL(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code,
		    0, 0), TRIPKI_E_CRYPTO);
	}
	GUARD_OSSL(X509_CRL_add0_revoked(crl, rev), TRIPKI_E_CRYPTO);
	rev = NULL;
	r = TRIPKI_OK;
out:
	ASN1_ENUMERATED_free(code);
	X509_REVOKED_free(rev);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return r;
}

static int
add_entries(tripki_store *st, X509_CRL *crl, int64_t *count)
{
	sqlite3_stmt *s = NULL;
	char sn[TRIPKI_STORE_SERIAL_MAX + 1], reason[TRIPKI_STORE_REASON_MAX];
	int rc, r;

	*count = 0;
	GUARD(st_prepare(st, &s, "SELECT serial, revoked_at, reason"
	    " FROM certificates WHERE revoked_at IS NOT NULL ORDER BY id", ""));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		col_text(s, 0, sn, sizeof(sn));
		col_text(s, 2, reason, sizeof(reason));
		if ((r = add_entry(crl, sn, sqlite3_column_int64(s, 1),
		    reason)) != TRIPKI_OK) {
			r = st_fail(st, r, "CRL entry for %s", sn);
			goto out;
		}
		(*count)++;
	}
	r = rc == SQLITE_DONE ? TRIPKI_OK : st_sqlerr(st, "CRL entries");
out:
	st_done(st, s);
	return r;
}

/* Issuer name, dates, authority key identifier and CRL number. */
static int
crl_header(X509_CRL *crl, X509 *ca_cert, uint32_t days, int64_t now_ms,
    int64_t number)
{
	time_t now = (time_t)(now_ms / 1000);
	X509_EXTENSION *akid = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	X509V3_CTX v3;
	int r;

	GUARD_OSSL(X509_CRL_set_version(crl, X509_CRL_VERSION_2),
	    TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(ca_cert)), TRIPKI_E_CRYPTO);
	if ((t = ASN1_TIME_set(NULL, now)) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(X509_CRL_set1_lastUpdate(crl, t), TRIPKI_E_CRYPTO);
	if (ASN1_TIME_adj(t, now, (int)days, 0) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(X509_CRL_set1_nextUpdate(crl, t), TRIPKI_E_CRYPTO);
	X509V3_set_ctx(&v3, ca_cert, NULL, NULL, crl, 0);
	if ((akid = X509V3_EXT_conf_nid(NULL, &v3,
	    NID_authority_key_identifier, "keyid:always")) == NULL) {
		r = TRIPKI_E_CRYPTO;
		goto out;
	}
	GUARD_OSSL(X509_CRL_add_ext(crl, akid, -1), TRIPKI_E_CRYPTO);
	if ((num = ASN1_INTEGER_new()) == NULL) {
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	GUARD_OSSL(ASN1_INTEGER_set_int64(num, number), TRIPKI_E_CRYPTO);
	GUARD_OSSL(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0),
	    TRIPKI_E_CRYPTO);
	r = TRIPKI_OK;
out:
	X509_EXTENSION_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	return r;
}

static int
next_number(tripki_store *st, int64_t *number)
{
	sqlite3_stmt *s = NULL;
	int r;

	GUARD(st_prepare(st, &s, "SELECT coalesce(max(number), 0) + 1"
	    " FROM crls", ""));
	if (sqlite3_step(s) != SQLITE_ROW) {
		r = st_sqlerr(st, "CRL number");
		goto out;
	}
	*number = sqlite3_column_int64(s, 0);
	r = TRIPKI_OK;
out:
	st_done(st, s);
	return r;
}

int
tripki_store_crl(tripki_store *st, EVP_PKEY *ca_key, X509 *ca_cert,
    uint32_t days, int64_t now_ms, X509_CRL **out)
{
	X509_CRL *crl = NULL;
	int64_t number = 0, count = 0;
	char detail[64];
	int r;

	st_clear(st);
	*out = NULL;
	if (ca_key == NULL || ca_cert == NULL || days == 0 ||
	    days > TRIPKI_STORE_CRL_DAYS_MAX)
		return st_fail(st, TRIPKI_E_INVALID, "CRL validity must be 1 to "
		    "%d days", TRIPKI_STORE_CRL_DAYS_MAX);
	if (X509_check_private_key(ca_cert, ca_key) != 1) {
		ERR_clear_error();
		return st_fail(st, TRIPKI_E_INVALID,
		    "the CA key does not match the CA certificate");
	}
	if ((crl = X509_CRL_new()) == NULL) {
		r = st_fail(st, TRIPKI_E_NOMEM, "out of memory");
		goto out;
	}
	/* The number is taken and the entries read in one transaction, and
	 * nothing is returned before it commits: numbers never repeat. */
	GUARD(tx_begin(st));
	GUARD(next_number(st, &number));
	GUARD(add_entries(st, crl, &count));
	if ((r = crl_header(crl, ca_cert, days, now_ms, number)) !=
	    TRIPKI_OK || X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0) {
		r = st_fail(st, r != TRIPKI_OK ? r : TRIPKI_E_CRYPTO,
		    "cannot build or sign the CRL");
		goto out;
	}
	GUARD(st_exec(st, NULL, "INSERT INTO crls (number, this_update,"
	    " next_update, entries) VALUES (?, ?, ?, ?)", "iiii", number,
	    now_ms, now_ms + (int64_t)days * 86400000, count));
	snprintf(detail, sizeof(detail), "CRL number %lld, %lld entries",
	    (long long)number, (long long)count);
	GUARD(audit_add(st, now_ms, "crl", NULL, NULL, NULL, detail));
	GUARD(tx_commit(st));
	*out = crl;
	crl = NULL;
out:
	ERR_clear_error();
	tx_rollback(st);
	X509_CRL_free(crl);
	return r;
}

/* Makes the rename itself durable. */
static void
sync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int
tripki_store_crl_write(tripki_store *st, const X509_CRL *crl,
    const char *path)
{
	char tmp[4096];
	FILE *f = NULL;
	int fd = -1, made = 0, n, r;

	st_clear(st);
	if (crl == NULL || path == NULL)
		return st_fail(st, TRIPKI_E_INVALID, "bad arguments");
	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return st_fail(st, TRIPKI_E_INVALID, "path too long");
	if ((fd = mkstemp(tmp)) < 0) {
		r = st_fail(st, TRIPKI_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	made = 1;
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		r = st_fail(st, TRIPKI_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1; /* f owns it now */
	if (PEM_write_X509_CRL(f, crl) != 1 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		r = st_fail(st, TRIPKI_E_IO, "%s: cannot write", tmp);
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		r = st_fail(st, TRIPKI_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		r = st_fail(st, TRIPKI_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	made = 0;
	sync_dir_of(path);
	r = TRIPKI_OK;
out:
	ERR_clear_error();
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	return r;
}
