/*
 * The CA operator's subcommands, each a short transaction on DIR/ca.db
 * (they may run while `tripki ca serve` runs: SQLite serializes writers):
 *   tripki ca enroll  one-time enrollment token for an identity
 *   tripki ca revoke  revoke by serial or identity
 *   tripki ca list    every certificate with its status
 *   tripki ca crl     an X.509 v2 CRL signed by the CA key
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_int.h"
#include "net/net.h"

#define ENROLL_USAGE \
	"usage: tripki ca enroll --dir DIR --id ID [--ttl SECONDS]\n" \
	"\n" \
	"Prints a one-time enrollment token for identity ID on stdout, once;\n" \
	"DIR/ca.db keeps only its SHA-256.  The server presents it with\n" \
	"--token-file FILE (or --token TOKEN).  It can be used once, for\n" \
	"exactly ID, before it expires.\n" \
	"\n" \
	"      --dir DIR        the CA's directory\n" \
	"      --id ID          the server identity the token is for\n" \
	"      --ttl S          token lifetime, whole seconds (default 86400)\n"

#define REVOKE_USAGE \
	"usage: tripki ca revoke --dir DIR (--serial S | --id ID) [--reason R]\n" \
	"\n" \
	"Revokes one certificate (--serial, hex as tripki ca list shows it) or\n" \
	"every unrevoked certificate of an identity (--id).  The CA no longer\n" \
	"renews it; run tripki ca crl to publish the revocation to clients.\n" \
	"\n" \
	"      --dir DIR        the CA's directory\n" \
	"      --serial S       the certificate's serial number\n" \
	"      --id ID          every certificate of this identity\n" \
	"      --reason R       unspecified (default), keyCompromise,\n" \
	"                       cACompromise, affiliationChanged, superseded,\n" \
	"                       cessationOfOperation, privilegeWithdrawn,\n" \
	"                       aACompromise\n"

#define LIST_USAGE \
	"usage: tripki ca list --dir DIR [--id ID]\n" \
	"\n" \
	"Prints every certificate the CA issued, oldest first, as a table on\n" \
	"stdout: serial, status (valid, expired, revoked, not yet valid),\n" \
	"expiry, who made the key (ca, or server for a CSR), revocation and\n" \
	"identity.\n" \
	"\n" \
	"      --dir DIR        the CA's directory\n" \
	"      --id ID          only this identity's certificates\n"

#define CRL_USAGE \
	"usage: tripki ca crl --dir DIR [--out FILE] [--days N]\n" \
	"           [--passphrase-file FILE]\n" \
	"\n" \
	"Writes an X.509 v2 CRL of every revoked certificate, signed with\n" \
	"ca.key, as PEM (replaced atomically).  Give it to clients with\n" \
	"tripki client --crl FILE; make a new one before its next update.\n" \
	"\n" \
	"      --dir DIR        the CA's directory\n" \
	"      --out FILE       where to write it (default DIR/crl.pem)\n" \
	"      --days N         next update in N days (default 7)\n" \
	"      --passphrase-file FILE\n" \
	"                       the passphrase of an encrypted ca.key\n"

enum { O_DIR = TCLI_OPT_FIRST_OWN, O_ID, O_TTL, O_SERIAL, O_REASON, O_OUT,
	O_DAYS, O_PASSFILE };

struct admin_opts {
	const char *dir, *id, *serial, *reason, *out, *passfile;
	uint64_t ttl_s, days;
};

static int
admin_opt(void *ctx, int opt, const char *arg)
{
	struct admin_opts *o = ctx;

	switch (opt) {
	case O_DIR:
		o->dir = arg;
		break;
	case O_ID:
		return tcli_opt_id("--id", arg, TRIPKI_ID_MAX, &o->id);
	case O_TTL:
		return tcli_opt_uint("--ttl", arg, 1, TRIPKI_STORE_TTL_MAX,
		    "whole seconds from 1 to 31622400 (366 days)", &o->ttl_s);
	case O_SERIAL:
		o->serial = arg;
		break;
	case O_REASON:
		if (tripki_store_reason_code(arg) < 0)
			return tcli_bad_value("--reason", arg, "see tripki ca "
			    "revoke --help for the reason names");
		o->reason = arg;
		break;
	case O_OUT:
		o->out = arg;
		break;
	case O_DAYS:
		return tcli_opt_days("--days", arg, TRIPKI_STORE_CRL_DAYS_MAX,
		    &o->days);
	case O_PASSFILE:
		o->passfile = arg;
		break;
	}
	return -1;
}

/* Parses, from the defaults; -1 to go on, else the exit status. */
static int
admin_parse(int argc, char **argv, const struct option *opts,
    const char *usage, struct admin_opts *o)
{
	tcli_common cm;
	int r;

	memset(o, 0, sizeof(*o));
	o->ttl_s = 86400;
	o->days = 7;
	memset(&cm, 0, sizeof(cm));
	if ((r = tcli_parse(argc, argv, opts, usage, admin_opt, o, &cm)) >= 0)
		return r;
	if (o->dir == NULL)
		return tcli_required("--dir");
	return -1;
}

/* ---- ca enroll ---- */

int
tcli_ca_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "id", required_argument, NULL, O_ID },
		{ "ttl", required_argument, NULL, O_TTL },
		TCLI_COMMON_OPTIONS
	};
	struct admin_opts o;
	tcli_ca_dir ca;
	char token[TRIPKI_STORE_TOKEN_LEN + 2], until[40];
	int64_t now = tnet_now_ms();
	size_t n;
	ssize_t w;
	int e, r;

	memset(&ca, 0, sizeof(ca));
	if ((r = admin_parse(argc, argv, opts, ENROLL_USAGE, &o)) >= 0)
		return r;
	if (o.id == NULL) {
		tcli_error("--id is required: the identity the token is for "
		    "(see tripki ca enroll --help)");
		return TCLI_EXIT_USAGE;
	}
	r = TCLI_EXIT_FAIL;
	if (tcli_ca_dir_open(o.dir, 0, NULL, &ca) != 0)
		goto out;
	if ((e = tripki_store_token_create(ca.st, o.id, (int64_t)o.ttl_s, now,
	    token)) != TRIPKI_OK) {
		tcli_error("cannot make an enrollment token: %s",
		    tripki_store_detail(ca.st));
		goto out;
	}
	/* The only copy there will ever be: stdout, one line. */
	n = strlen(token);
	token[n++] = '\n';
	if ((w = write(STDOUT_FILENO, token, n)) != (ssize_t)n) {
		tcli_error("cannot write the token to stdout");
		goto out;
	}
	tcli_time_str(now + (int64_t)o.ttl_s * 1000, until, sizeof(until));
	tcli_info("enrollment token for \"%s\", valid once until %s (only its "
	    "hash is kept): tripki server --id %s --token-file FILE", o.id,
	    until, o.id);
	r = TCLI_EXIT_OK;
out:
	OPENSSL_cleanse(token, sizeof(token));
	tcli_ca_dir_close(&ca);
	return r;
}

/* ---- ca revoke ---- */

int
tcli_ca_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "serial", required_argument, NULL, O_SERIAL },
		{ "id", required_argument, NULL, O_ID },
		{ "reason", required_argument, NULL, O_REASON },
		TCLI_COMMON_OPTIONS
	};
	struct admin_opts o;
	tripki_store_cert c;
	tcli_ca_dir ca;
	char when[40];
	int64_t now = tnet_now_ms();
	size_t count = 0;
	int e, r;

	memset(&ca, 0, sizeof(ca));
	if ((r = admin_parse(argc, argv, opts, REVOKE_USAGE, &o)) >= 0)
		return r;
	if ((o.serial == NULL) == (o.id == NULL)) {
		tcli_error("give either --serial or --id (see tripki ca revoke "
		    "--help)");
		return TCLI_EXIT_USAGE;
	}
	if (o.reason == NULL)
		o.reason = "unspecified";
	r = TCLI_EXIT_FAIL;
	if (tcli_ca_dir_open(o.dir, 0, NULL, &ca) != 0)
		goto out;
	if (o.id != NULL) {
		e = tripki_store_revoke_id(ca.st, o.id, o.reason, now, &count);
		if (e == TRIPKI_E_UNKNOWN_ID) {
			tcli_error("no unrevoked certificate of \"%s\" in %s/ca.db",
			    o.id, o.dir);
			goto out;
		}
		if (e != TRIPKI_OK) {
			tcli_error("cannot revoke: %s",
			    tripki_store_detail(ca.st));
			goto out;
		}
		tcli_info("revoked %zu certificate%s of \"%s\" (%s); publish it "
		    "with tripki ca crl", count, count == 1 ? "" : "s", o.id,
		    o.reason);
		r = TCLI_EXIT_OK;
		goto out;
	}
	e = tripki_store_revoke_serial(ca.st, o.serial, o.reason, now);
	if (e == TRIPKI_E_INVALID) {
		r = tcli_bad_value("--serial", o.serial,
		    "a serial number in hexadecimal, as tripki ca list shows");
		goto out;
	}
	if (e == TRIPKI_E_UNKNOWN_ID) {
		tcli_error("no certificate with serial %s in %s/ca.db", o.serial,
		    o.dir);
		goto out;
	}
	if (e == TRIPKI_E_STATE &&
	    tripki_store_cert_get(ca.st, o.serial, now, &c, NULL) ==
	    TRIPKI_OK) {
		tcli_time_str(c.revoked_at_ms, when, sizeof(when));
		tcli_info("certificate %s of \"%s\" was already revoked on %s "
		    "(%s)", c.serial, c.id, when, c.reason);
		r = TCLI_EXIT_OK;
		goto out;
	}
	if (e != TRIPKI_OK ||
	    tripki_store_cert_get(ca.st, o.serial, now, &c, NULL) !=
	    TRIPKI_OK) {
		tcli_error("cannot revoke: %s", tripki_store_detail(ca.st));
		goto out;
	}
	tcli_info("revoked certificate %s of \"%s\" (%s); publish it with "
	    "tripki ca crl", c.serial, c.id, o.reason);
	r = TCLI_EXIT_OK;
out:
	tcli_ca_dir_close(&ca);
	return r;
}

/* ---- ca list ---- */

struct tally {
	size_t n[4];
	int failed;
};

static void
short_time(int64_t ms, char *dst, size_t n)
{
	char full[40];

	tcli_time_str(ms, full, sizeof(full));
	snprintf(dst, n, "%.16s", full); /* YYYY-MM-DD HH:MM */
}

static int
list_one(void *ctx, const tripki_store_cert *c)
{
	struct tally *t = ctx;
	char until[24], revoked[24];

	short_time(c->not_after_ms, until, sizeof(until));
	if (c->revoked_at_ms != 0)
		short_time(c->revoked_at_ms, revoked, sizeof(revoked));
	else
		snprintf(revoked, sizeof(revoked), "-");
	if (printf("%-32s  %-13s  %-16s  %-6s  %-16s  %-20s  %s\n", c->serial,
	    tripki_store_status_name(c->status), until, c->csr ? "server" :
	    "ca", revoked, c->reason[0] ? c->reason : "-", c->id) < 0) {
		t->failed = 1;
		return 1;
	}
	if (c->status >= 0 && c->status < 4)
		t->n[c->status]++;
	return 0;
}

int
tcli_ca_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "id", required_argument, NULL, O_ID },
		TCLI_COMMON_OPTIONS
	};
	struct admin_opts o;
	struct tally t;
	tcli_ca_dir ca;
	int r;

	memset(&ca, 0, sizeof(ca));
	memset(&t, 0, sizeof(t));
	if ((r = admin_parse(argc, argv, opts, LIST_USAGE, &o)) >= 0)
		return r;
	r = TCLI_EXIT_FAIL;
	if (tcli_ca_dir_open(o.dir, 0, NULL, &ca) != 0)
		goto out;
	printf("%-32s  %-13s  %-16s  %-6s  %-16s  %-20s  %s\n", "SERIAL",
	    "STATUS", "NOT AFTER (UTC)", "KEY", "REVOKED (UTC)", "REASON",
	    "ID");
	if (tripki_store_list(ca.st, o.id, tnet_now_ms(), list_one, &t) !=
	    TRIPKI_OK && !t.failed) {
		tcli_error("cannot read %s/ca.db: %s", o.dir,
		    tripki_store_detail(ca.st));
		goto out;
	}
	if (t.failed || fflush(stdout) != 0) {
		tcli_error("cannot write to stdout");
		goto out;
	}
	tcli_info("%zu certificate%s: %zu valid, %zu revoked, %zu expired%s",
	    t.n[0] + t.n[1] + t.n[2] + t.n[3], t.n[0] + t.n[1] + t.n[2] +
	    t.n[3] == 1 ? "" : "s", t.n[TRIPKI_STORE_VALID],
	    t.n[TRIPKI_STORE_REVOKED], t.n[TRIPKI_STORE_EXPIRED],
	    t.n[TRIPKI_STORE_NOT_YET_VALID] ? ", some not yet valid" : "");
	r = TCLI_EXIT_OK;
out:
	tcli_ca_dir_close(&ca);
	return r;
}

/* ---- ca crl ---- */

int
tcli_ca_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "out", required_argument, NULL, O_OUT },
		{ "days", required_argument, NULL, O_DAYS },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		TCLI_COMMON_OPTIONS
	};
	struct admin_opts o;
	tcli_ca_dir ca;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	char outp[4096], next[40];
	int64_t now = tnet_now_ms();
	long number;
	int nrev, r;

	memset(&ca, 0, sizeof(ca));
	if ((r = admin_parse(argc, argv, opts, CRL_USAGE, &o)) >= 0)
		return r;
	r = TCLI_EXIT_FAIL;
	if (o.out == NULL) {
		if (tcli_path(outp, sizeof(outp), o.dir, "crl.pem") != 0)
			goto out;
	} else
		snprintf(outp, sizeof(outp), "%s", o.out);
	if (tcli_ca_dir_open(o.dir, 1, o.passfile, &ca) != 0)
		goto out;
	if (tripki_store_crl(ca.st, ca.key, ca.cert, (uint32_t)o.days, now,
	    &crl) != TRIPKI_OK) {
		tcli_error("cannot make the CRL: %s",
		    tripki_store_detail(ca.st));
		goto out;
	}
	if (tripki_store_crl_write(ca.st, crl, outp) != TRIPKI_OK) {
		tcli_error("cannot write the CRL to %s: %s", outp,
		    tripki_store_detail(ca.st));
		goto out;
	}
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	number = num != NULL ? ASN1_INTEGER_get(num) : -1;
	tcli_time_str(now + (int64_t)o.days * 86400000, next, sizeof(next));
	if ((nrev = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl))) < 0)
		nrev = 0;
	tcli_info("wrote %s: CRL number %ld, %d revoked certificate%s, next "
	    "update %s", outp, number, nrev, nrev == 1 ? "" : "s", next);
	r = TCLI_EXIT_OK;
out:
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	tcli_ca_dir_close(&ca);
	return r;
}
