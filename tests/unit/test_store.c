/* The CA store: records, tokens, renewal, revocation, CRLs, schema. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "fixture.h"
#include "store/store.h"

#define DAY_MS 86400000LL
#define PEER "192.0.2.7:40000"
#define OTHER_ID "ID-Other"

struct t {
	char dir[64];
	tripki_store *st;
};

/* ---- Helpers ---- */

static void
path_in(const struct t *t, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", t->dir, name);
}

static void
reopen(struct t *t, int flags)
{
	char detail[TRIPKI_STORE_DETAIL_MAX];

	tripki_store_close(t->st);
	t->st = NULL;
	assert_int_equal(tripki_store_open(t->dir, flags, &t->st, detail,
	    sizeof(detail)), TRIPKI_OK);
}

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/tripki-store-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	reopen(t, TRIPKI_STORE_CREATE);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;
	struct dirent *d;
	char p[512];
	DIR *dir;

	tripki_store_close(t->st);
	if ((dir = opendir(t->dir)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 ||
			    strcmp(d->d_name, "..") == 0)
				continue;
			path_in(t, d->d_name, p, sizeof(p));
			unlink(p);
		}
		closedir(dir);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Seed mode without the cost of a fresh RSA key. */
static int
spare_keygen(void *ctx, int bits, EVP_PKEY **out)
{
	EVP_PKEY *k = fx_keys()->spare_key;

	(void)ctx;
	(void)bits;
	EVP_PKEY_up_ref(k);
	*out = k;
	return TRIPKI_OK;
}

struct req {
	const char *id;                 /* FX_SERVER_ID when NULL */
	const char *token;
	EVP_PKEY *csr_key;
	EVP_PKEY *renew_key;
	X509 *renew_cert;
	int real_keygen;
};

/*
 * One M1 -> M2 exchange between a real enrollment and a real CA wired to
 * the store.  Returns the CA's code; on success *cert (when not NULL)
 * holds the certificate the server received.
 */
static int
core_issue(struct t *t, const struct req *q, int64_t now, X509 **cert)
{
	const struct fx_keys *k = fx_keys();
	tripki_enroll_config ec;
	tripki_ca_config cc;
	tripki_enroll *e = NULL;
	tripki_ca *ca = NULL;
	tripki_buf m1, m2;
	int r;

	memset(&cc, 0, sizeof(cc));
	cc.id = FX_CA_ID;
	cc.key = k->ca_key;
	cc.cert = k->ca_cert;
	cc.authorize = tripki_store_authorize;
	cc.authorize_ctx = t->st;
	cc.record = tripki_store_record;
	cc.record_ctx = t->st;
	if (!q->real_keygen)
		cc.keygen = spare_keygen;
	assert_int_equal(tripki_ca_new(&cc, &ca), TRIPKI_OK);
	memset(&ec, 0, sizeof(ec));
	ec.id = q->id != NULL ? q->id : FX_SERVER_ID;
	ec.ca_cert = k->ca_cert;
	ec.csr_key = q->csr_key;
	ec.token = (const uint8_t *)q->token;
	ec.token_len = q->token != NULL ? strlen(q->token) : 0;
	ec.renew_key = q->renew_key;
	ec.renew_cert = q->renew_cert;
	assert_int_equal(tripki_enroll_new(&ec, &e), TRIPKI_OK);
	fx_buf(&m1);
	fx_buf(&m2);
	assert_int_equal(tripki_enroll_start(e, now, &m1), TRIPKI_OK);
	r = tripki_ca_handle(ca, m1.data, m1.len, now, PEER, &m2);
	if (r == TRIPKI_OK) {
		assert_int_equal(tripki_enroll_recv(e, m2.data, m2.len, now),
		    TRIPKI_OK);
		if (cert != NULL)
			*cert = tripki_enroll_cert(e);
	}
	tripki_buf_free(&m1);
	tripki_buf_free(&m2);
	tripki_enroll_free(e);
	tripki_ca_free(ca);
	return r;
}

/* A certificate for `id` through a fresh token; asserts success. */
static X509 *
issue_ok(struct t *t, const char *id, int64_t now)
{
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	struct req q = { .id = id, .token = tok };
	X509 *x = NULL;

	assert_int_equal(tripki_store_token_create(t->st, id != NULL ? id :
	    FX_SERVER_ID, 3600, now, tok), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, now, &x), TRIPKI_OK);
	assert_non_null(x);
	OPENSSL_cleanse(tok, sizeof(tok));
	return x;
}

static void
serial_hex(X509 *x, char out[TRIPKI_STORE_SERIAL_MAX + 1])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h;

	assert_non_null(bn);
	h = BN_bn2hex(bn);
	assert_non_null(h);
	snprintf(out, TRIPKI_STORE_SERIAL_MAX + 1, "%s", h);
	OPENSSL_free(h);
	BN_free(bn);
}

static int
status_of(struct t *t, X509 *x, int64_t now)
{
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	tripki_store_cert c;

	serial_hex(x, sn);
	assert_int_equal(tripki_store_cert_get(t->st, sn, now, &c, NULL),
	    TRIPKI_OK);
	return c.status;
}

struct events {
	int n, issue, renew, revoke, refuse, enroll, crl;
	tripki_store_event last;        /* the last one seen */
	tripki_store_event last_refuse;
};

static int
count_event(void *ctx, const tripki_store_event *e)
{
	struct events *v = ctx;

	v->n++;
	v->last = *e;
	if (strcmp(e->event, "issue") == 0)
		v->issue++;
	else if (strcmp(e->event, "renew") == 0)
		v->renew++;
	else if (strcmp(e->event, "revoke") == 0)
		v->revoke++;
	else if (strcmp(e->event, "refuse") == 0) {
		v->refuse++;
		v->last_refuse = *e;
	} else if (strcmp(e->event, "enroll") == 0)
		v->enroll++;
	else if (strcmp(e->event, "crl") == 0)
		v->crl++;
	return 0;
}

static struct events
events(struct t *t)
{
	struct events v;

	memset(&v, 0, sizeof(v));
	assert_int_equal(tripki_store_audit_list(t->st, count_event, &v),
	    TRIPKI_OK);
	return v;
}

struct listing {
	int n;
	int status[8];
	char id[8][TRIPKI_ID_MAX + 1];
};

static int
collect(void *ctx, const tripki_store_cert *c)
{
	struct listing *l = ctx;

	if (l->n < 8) {
		l->status[l->n] = c->status;
		snprintf(l->id[l->n], sizeof(l->id[0]), "%s", c->id);
	}
	l->n++;
	return 0;
}

static struct listing
list(struct t *t, const char *id, int64_t now)
{
	struct listing l;

	memset(&l, 0, sizeof(l));
	assert_int_equal(tripki_store_list(t->st, id, now, collect, &l),
	    TRIPKI_OK);
	return l;
}

/* The whole database as bytes: ca.db and, if any, its WAL. */
static uint8_t *
db_bytes(struct t *t, size_t *len)
{
	static const char *const names[] = { "ca.db", "ca.db-wal" };
	uint8_t *all = NULL;
	char p[512];
	size_t n = 0, i;
	FILE *f;
	long sz;

	for (i = 0; i < 2; i++) {
		path_in(t, names[i], p, sizeof(p));
		if ((f = fopen(p, "rb")) == NULL)
			continue;
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		sz = ftell(f);
		assert_true(sz >= 0);
		rewind(f);
		all = realloc(all, n + (size_t)sz + 1);
		assert_non_null(all);
		assert_int_equal(fread(all + n, 1, (size_t)sz, f), (size_t)sz);
		n += (size_t)sz;
		fclose(f);
	}
	assert_true(n > 0);
	*len = n;
	return all;
}

static int
contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* A certificate from the fixture's CA that no store has seen. */
static X509 *
unstored_cert(void)
{
	tripki_enroll *e = fx_enroll(fx_keys()->spare_key);
	tripki_ca *ca = fx_ca(NULL);
	tripki_buf m1, m2;
	X509 *x;

	fx_buf(&m1);
	fx_buf(&m2);
	assert_int_equal(tripki_enroll_start(e, FX_NOW, &m1), TRIPKI_OK);
	assert_int_equal(tripki_ca_handle(ca, m1.data, m1.len, FX_NOW, NULL,
	    &m2), TRIPKI_OK);
	assert_int_equal(tripki_enroll_recv(e, m2.data, m2.len, FX_NOW),
	    TRIPKI_OK);
	x = tripki_enroll_cert(e);
	tripki_buf_free(&m1);
	tripki_buf_free(&m2);
	tripki_enroll_free(e);
	tripki_ca_free(ca);
	return x;
}

/* ---- Issuance records ---- */

static void
record_survives_reopen(void **state)
{
	struct t *t = *state;
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	tripki_store_cert c;
	X509 *x = issue_ok(t, NULL, FX_NOW), *y = NULL;

	serial_hex(x, sn);
	reopen(t, 0);
	assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW, &c, &y),
	    TRIPKI_OK);
	assert_string_equal(c.serial, sn);
	assert_string_equal(c.id, FX_SERVER_ID);
	assert_string_equal(c.peer, PEER);
	assert_int_equal(c.csr, 0);
	assert_int_equal(c.status, TRIPKI_STORE_VALID);
	assert_int_equal(c.issued_at_ms, FX_NOW);
	/* notBefore is backdated by the CA's skew (60 s by default). */
	assert_int_equal(c.not_before_ms, FX_NOW - 60000);
	assert_int_equal(c.not_after_ms, FX_NOW + 90 * DAY_MS);
	assert_int_equal(c.revoked_at_ms, 0);
	assert_int_equal(X509_cmp(x, y), 0);
	X509_free(x);
	X509_free(y);
}

static void
duplicate_serial_refused(void **state)
{
	struct t *t = *state;
	X509 *x = issue_ok(t, NULL, FX_NOW);
	uint8_t serial[32];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	tripki_issue_info info;
	tripki_issued is;
	tripki_store_cert c;
	struct listing l;
	int n = BN_bn2bin(bn, serial);

	memset(&is, 0, sizeof(is));
	is.id = FX_SERVER_ID;
	is.cert = x;
	is.serial = serial;
	is.serial_len = (size_t)n;
	is.csr = 1;
	is.peer = "198.51.100.1:1";
	/* Nothing authorized it: refused before the serial is even looked at. */
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW + 5),
	    TRIPKI_E_NOT_AUTHORIZED);
	memset(&info, 0, sizeof(info));
	info.id = FX_SERVER_ID;
	info.peer = is.peer;
	tripki_store_set_open(t->st, 1);
	assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW + 5),
	    TRIPKI_OK);
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW + 5),
	    TRIPKI_E_STORE);
	assert_non_null(strstr(tripki_store_detail(t->st), "already"));
	serial_hex(x, sn);
	assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW, &c, NULL),
	    TRIPKI_OK);
	assert_string_equal(c.peer, PEER);
	assert_int_equal(c.csr, 0);
	assert_int_equal(c.issued_at_ms, FX_NOW);
	l = list(t, NULL, FX_NOW);
	assert_int_equal(l.n, 1);
	/* A serial that does not match the certificate is refused too. */
	serial[n - 1] ^= 1;
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW),
	    TRIPKI_E_INVALID);
	BN_free(bn);
	X509_free(x);
}

/* What authorize allowed for one identity records nothing for another. */
static void
record_needs_matching_authorization(void **state)
{
	struct t *t = *state;
	X509 *x = unstored_cert();
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	tripki_issue_info info;
	tripki_issued is;
	uint8_t serial[32];
	int n = BN_bn2bin(bn, serial);

	assert_int_equal(tripki_store_token_create(t->st, "ID-Other", 60,
	    FX_NOW, tok), TRIPKI_OK);
	memset(&info, 0, sizeof(info));
	info.id = "ID-Other";
	info.token = (const uint8_t *)tok;
	info.token_len = strlen(tok);
	info.peer = PEER;
	assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW),
	    TRIPKI_OK);
	memset(&is, 0, sizeof(is));
	is.id = FX_SERVER_ID;
	is.cert = x;
	is.serial = serial;
	is.serial_len = (size_t)n;
	is.peer = PEER;
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
	/* The other identity's token was not spent by it. */
	assert_int_equal(tripki_store_token_consume(t->st, "ID-Other",
	    (const uint8_t *)tok, strlen(tok), FX_NOW, PEER), TRIPKI_OK);
	BN_free(bn);
	X509_free(x);
}

/* ---- Tokens ---- */

static void
token_single_use(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	struct req q = { .token = tok };
	size_t i;

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, tok), TRIPKI_OK);
	assert_int_equal(strlen(tok), TRIPKI_STORE_TOKEN_LEN);
	for (i = 0; i < TRIPKI_STORE_TOKEN_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_", tok[i]));
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW, PEER), TRIPKI_OK);
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW, PEER),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "enrollment token already used");

	/* The same through the core: the record spends the token. */
	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, tok), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, FX_NOW, NULL), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, FX_NOW + 1, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "enrollment token already used");
	assert_int_equal(list(t, NULL, FX_NOW).n, 1);
}

static void
token_expires(void **state)
{
	struct t *t = *state;
	char a[TRIPKI_STORE_TOKEN_LEN + 1], b[TRIPKI_STORE_TOKEN_LEN + 1];
	struct req q = { .token = a };

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, a), TRIPKI_OK);
	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, b), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, FX_NOW + 60000, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "enrollment token expired");
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)b, strlen(b), FX_NOW + 59999, NULL), TRIPKI_OK);
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
}

static void
token_bound_to_id(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	struct req other = { .id = OTHER_ID, .token = tok };
	struct req mine = { .token = tok };

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, tok), TRIPKI_OK);
	assert_int_equal(core_issue(t, &other, FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "enrollment token was made for another identity");
	assert_int_equal(tripki_store_token_consume(t->st, OTHER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	/* The refusals did not spend it. */
	assert_int_equal(core_issue(t, &mine, FX_NOW, NULL), TRIPKI_OK);
}

static void
token_unknown_or_missing(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	struct req forged = { .token = tok };
	struct req none = { 0 };

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, tok), TRIPKI_OK);
	tok[0] = tok[0] == 'A' ? 'B' : 'A';
	assert_int_equal(core_issue(t, &forged, FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "unknown enrollment token");
	assert_int_equal(core_issue(t, &none, FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st), "no enrollment token");
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)"", 0, FX_NOW, NULL), TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
}

static void
token_bad_arguments(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];

	assert_int_equal(tripki_store_token_create(t->st, "", 60, FX_NOW,
	    tok), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_token_create(t->st, "bad\nid", 60,
	    FX_NOW, tok), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 0,
	    FX_NOW, tok), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID,
	    TRIPKI_STORE_TTL_MAX + 1, FX_NOW, tok), TRIPKI_E_INVALID);
	assert_int_equal(tok[0], '\0');
}

/* The record re-checks: a token spent since authorize is refused. */
static void
token_spent_between_authorize_and_record(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1];
	X509 *x = fx_keys()->server_cert;
	uint8_t serial[32];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	tripki_issue_info info;
	tripki_issued is;

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 60,
	    FX_NOW, tok), TRIPKI_OK);
	memset(&info, 0, sizeof(info));
	info.id = FX_SERVER_ID;
	info.token = (const uint8_t *)tok;
	info.token_len = strlen(tok);
	info.peer = PEER;
	assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW),
	    TRIPKI_OK);
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW, "elsewhere"), TRIPKI_OK);
	memset(&is, 0, sizeof(is));
	is.id = FX_SERVER_ID;
	is.cert = x;
	is.serial = serial;
	is.serial_len = (size_t)BN_bn2bin(bn, serial);
	is.peer = PEER;
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
	BN_free(bn);
}

/* ---- Renewal ---- */

static void
renewal_of_stored_cert(void **state)
{
	struct t *t = *state;
	const struct fx_keys *k = fx_keys();
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	X509 *x = issue_ok(t, NULL, FX_NOW), *y = NULL, *z = NULL;
	struct req q = { .renew_key = k->spare_key, .renew_cert = x };
	int64_t half = FX_NOW + 45 * DAY_MS, later = half + 1000;
	struct events v;

	/* Not before half its validity (90 days; notBefore 60 s earlier). */
	assert_int_equal(core_issue(t, &q, FX_NOW + 1000, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_non_null(strstr(tripki_store_detail(t->st), "half"));
	assert_int_equal(core_issue(t, &q, later, &y), TRIPKI_OK);
	assert_int_not_equal(X509_cmp(x, y), 0);
	assert_int_equal(status_of(t, y, later), TRIPKI_STORE_VALID);
	v = events(t);
	assert_int_equal(v.renew, 1);
	serial_hex(x, sn);
	assert_non_null(strstr(v.last.detail, sn));

	/* Renewed again (its answer lost): the earlier successor goes. */
	assert_int_equal(core_issue(t, &q, later + 1000, &z), TRIPKI_OK);
	assert_int_equal(status_of(t, z, later + 1000), TRIPKI_STORE_VALID);
	assert_int_equal(status_of(t, y, later + 1000), TRIPKI_STORE_REVOKED);
	assert_int_equal(status_of(t, x, later + 1000), TRIPKI_STORE_VALID);

	/* After revocation the old certificate renews nothing. */
	assert_int_equal(tripki_store_revoke_serial(t->st, sn, "superseded",
	    later + 2000), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, later + 3000, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_non_null(strstr(tripki_store_detail(t->st), "revoked"));
	assert_int_equal(list(t, NULL, FX_NOW).n, 3);
	X509_free(x);
	X509_free(y);
	X509_free(z);
}

static void
renewal_refused_when_not_stored(void **state)
{
	struct t *t = *state;
	const struct fx_keys *k = fx_keys();
	struct req q = { .renew_key = k->server_key,
	    .renew_cert = k->server_cert };

	/* Signed by the CA, but not issued through this store. */
	assert_int_equal(core_issue(t, &q, FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_non_null(strstr(tripki_store_detail(t->st),
	    "not in the store"));
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
}

static void
renewal_refused_for_other_id(void **state)
{
	struct t *t = *state;
	X509 *x = issue_ok(t, NULL, FX_NOW);
	tripki_issue_info info;

	/* The core checks the CN; the store does not rely on it. */
	memset(&info, 0, sizeof(info));
	info.id = OTHER_ID;
	info.renew_cert = x;
	assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_non_null(strstr(tripki_store_detail(t->st),
	    "another identity"));
	X509_free(x);
}

static void
renewal_revoked_between_authorize_and_record(void **state)
{
	struct t *t = *state;
	X509 *x = issue_ok(t, NULL, FX_NOW), *y = unstored_cert();
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	uint8_t serial[32];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(y), NULL);
	tripki_issue_info info;
	tripki_issued is;

	memset(&info, 0, sizeof(info));
	info.id = FX_SERVER_ID;
	info.renew_cert = x;
	assert_int_equal(tripki_store_authorize(t->st, &info,
	    FX_NOW + 46 * DAY_MS), TRIPKI_OK);
	serial_hex(x, sn);
	assert_int_equal(tripki_store_revoke_serial(t->st, sn, NULL, FX_NOW),
	    TRIPKI_OK);
	/* y stands in for the renewed certificate the core made. */
	memset(&is, 0, sizeof(is));
	is.id = FX_SERVER_ID;
	is.cert = y;
	is.serial = serial;
	is.serial_len = (size_t)BN_bn2bin(bn, serial);
	assert_int_equal(tripki_store_record(t->st, &is, FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_int_equal(list(t, NULL, FX_NOW).n, 1);
	assert_int_equal(events(t).refuse, 1);
	BN_free(bn);
	X509_free(x);
	X509_free(y);
}

/* ---- Revocation and listing ---- */

static void
revoke_by_serial(void **state)
{
	struct t *t = *state;
	char sn[TRIPKI_STORE_SERIAL_MAX + 1], lower[TRIPKI_STORE_SERIAL_MAX + 3];
	X509 *x = issue_ok(t, NULL, FX_NOW), *y = issue_ok(t, NULL, FX_NOW);
	tripki_store_cert c;
	size_t i;

	serial_hex(x, sn);
	snprintf(lower, sizeof(lower), "0x%s", sn);
	for (i = 2; lower[i] != '\0'; i++)
		lower[i] = (char)(lower[i] >= 'A' && lower[i] <= 'F' ?
		    lower[i] - 'A' + 'a' : lower[i]);
	assert_int_equal(tripki_store_revoke_serial(t->st, sn, "bogus",
	    FX_NOW), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_revoke_serial(t->st, "12zz", NULL,
	    FX_NOW), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_revoke_serial(t->st, "-12", NULL,
	    FX_NOW), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_revoke_serial(t->st, "", NULL, FX_NOW),
	    TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_revoke_serial(t->st, "1234", NULL,
	    FX_NOW), TRIPKI_E_UNKNOWN_ID);
	assert_int_equal(tripki_store_revoke_serial(t->st, lower,
	    "keyCompromise", FX_NOW + 10), TRIPKI_OK);
	assert_int_equal(tripki_store_revoke_serial(t->st, sn, "superseded",
	    FX_NOW + 20), TRIPKI_E_STATE);
	assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW + 30, &c,
	    NULL), TRIPKI_OK);
	assert_int_equal(c.status, TRIPKI_STORE_REVOKED);
	assert_int_equal(c.revoked_at_ms, FX_NOW + 10);
	assert_string_equal(c.reason, "keyCompromise");
	assert_int_equal(status_of(t, y, FX_NOW + 30), TRIPKI_STORE_VALID);
	assert_int_equal(events(t).revoke, 1);
	X509_free(x);
	X509_free(y);
}

static void
revoke_by_id(void **state)
{
	struct t *t = *state;
	X509 *a = issue_ok(t, NULL, FX_NOW), *b = issue_ok(t, NULL, FX_NOW);
	X509 *o = issue_ok(t, OTHER_ID, FX_NOW);
	size_t n = 99;

	assert_int_equal(tripki_store_revoke_id(t->st, FX_SERVER_ID,
	    "nonsense", FX_NOW, &n), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_revoke_id(t->st, FX_SERVER_ID,
	    "cessationOfOperation", FX_NOW + 1, &n), TRIPKI_OK);
	assert_int_equal(n, 2);
	assert_int_equal(status_of(t, a, FX_NOW + 2), TRIPKI_STORE_REVOKED);
	assert_int_equal(status_of(t, b, FX_NOW + 2), TRIPKI_STORE_REVOKED);
	assert_int_equal(status_of(t, o, FX_NOW + 2), TRIPKI_STORE_VALID);
	assert_int_equal(events(t).revoke, 2);
	assert_int_equal(tripki_store_revoke_id(t->st, FX_SERVER_ID, NULL,
	    FX_NOW + 3, &n), TRIPKI_E_UNKNOWN_ID);
	assert_int_equal(n, 0);
	assert_int_equal(tripki_store_revoke_id(t->st, "no-such-id", NULL,
	    FX_NOW + 3, NULL), TRIPKI_E_UNKNOWN_ID);
	X509_free(a);
	X509_free(b);
	X509_free(o);
}

static void
list_statuses(void **state)
{
	struct t *t = *state;
	X509 *a = issue_ok(t, NULL, FX_NOW);
	X509 *b = issue_ok(t, NULL, FX_NOW + 1);
	X509 *o = issue_ok(t, OTHER_ID, FX_NOW + 2);
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	struct listing l;

	serial_hex(a, sn);
	assert_int_equal(tripki_store_revoke_serial(t->st, sn, NULL,
	    FX_NOW + 3), TRIPKI_OK);
	l = list(t, NULL, FX_NOW + 4);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.status[0], TRIPKI_STORE_REVOKED);
	assert_int_equal(l.status[1], TRIPKI_STORE_VALID);
	assert_int_equal(l.status[2], TRIPKI_STORE_VALID);
	assert_string_equal(l.id[2], OTHER_ID);
	l = list(t, NULL, FX_NOW + 91 * DAY_MS);
	assert_int_equal(l.status[0], TRIPKI_STORE_REVOKED);
	assert_int_equal(l.status[1], TRIPKI_STORE_EXPIRED);
	assert_int_equal(l.status[2], TRIPKI_STORE_EXPIRED);
	l = list(t, NULL, FX_NOW - DAY_MS);
	assert_int_equal(l.status[1], TRIPKI_STORE_NOT_YET_VALID);
	l = list(t, OTHER_ID, FX_NOW + 4);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.id[0], OTHER_ID);
	assert_string_equal(tripki_store_status_name(TRIPKI_STORE_EXPIRED),
	    "expired");
	X509_free(a);
	X509_free(b);
	X509_free(o);
}

/* ---- CRL ---- */

static int
entry_reason(X509_CRL *crl, X509 *x)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *e;
	int crit = 0, code;

	if (X509_CRL_get0_by_serial(crl, &rev,
	    X509_get0_serialNumber(x)) != 1)
		return -2; /* not listed */
	e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (e == NULL)
		return -1; /* listed, no reasonCode */
	code = (int)ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return code;
}

static long
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL);
	long v;

	assert_non_null(n);
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

static void
crl_signed_with_revoked(void **state)
{
	struct t *t = *state;
	const struct fx_keys *k = fx_keys();
	X509 *a = issue_ok(t, NULL, FX_NOW), *b = issue_ok(t, NULL, FX_NOW);
	X509 *c = issue_ok(t, NULL, FX_NOW);
	char sa[TRIPKI_STORE_SERIAL_MAX + 1], sb[TRIPKI_STORE_SERIAL_MAX + 1];
	char p[512];
	AUTHORITY_KEYID *akid;
	X509_CRL *crl = NULL, *back;
	FILE *f;

	serial_hex(a, sa);
	serial_hex(b, sb);
	assert_int_equal(tripki_store_revoke_serial(t->st, sa,
	    "keyCompromise", FX_NOW + 1000), TRIPKI_OK);
	assert_int_equal(tripki_store_revoke_serial(t->st, sb, NULL,
	    FX_NOW + 2000), TRIPKI_OK);
	assert_int_equal(tripki_store_crl(t->st, k->ca_key, k->ca_cert, 0,
	    FX_NOW, &crl), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_crl(t->st, k->other_ca_key, k->ca_cert, 7,
	    FX_NOW, &crl), TRIPKI_E_INVALID);
	assert_int_equal(tripki_store_crl(t->st, k->ca_key, k->ca_cert, 7,
	    FX_NOW + 3000, &crl), TRIPKI_OK);

	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(k->ca_cert)),
	    1);
	assert_int_not_equal(X509_CRL_verify(crl,
	    X509_get0_pubkey(k->other_ca_cert)), 1);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(k->ca_cert)), 0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	assert_int_equal(entry_reason(crl, a), 1);  /* keyCompromise */
	assert_int_equal(entry_reason(crl, b), -1); /* unspecified: absent */
	assert_int_equal(entry_reason(crl, c), -2);
	assert_int_equal(crl_number(crl), 1);
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL,
	    NULL);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid,
	    X509_get0_subject_key_id(k->ca_cert)), 0);
	AUTHORITY_KEYID_free(akid);

	/* What a client does with it. */
	assert_int_equal(tripki_cert_verify(k->ca_cert, a, FX_SERVER_ID, NULL,
	    crl, FX_NOW + 4000), TRIPKI_E_CERT_REVOKED);
	assert_int_equal(tripki_cert_verify(k->ca_cert, c, FX_SERVER_ID, NULL,
	    crl, FX_NOW + 4000), TRIPKI_OK);

	/* The PEM file reads back as the same CRL. */
	path_in(t, "crl.pem", p, sizeof(p));
	assert_int_equal(tripki_store_crl_write(t->st, crl, p), TRIPKI_OK);
	assert_non_null(f = fopen(p, "r"));
	assert_non_null(back = PEM_read_X509_CRL(f, NULL, NULL, NULL));
	fclose(f);
	assert_int_equal(X509_CRL_cmp(crl, back), 0);
	assert_int_equal(X509_CRL_verify(back, X509_get0_pubkey(k->ca_cert)),
	    1);
	assert_int_equal(events(t).crl, 1);
	X509_CRL_free(back);
	X509_CRL_free(crl);
	X509_free(a);
	X509_free(b);
	X509_free(c);
}

static void
crl_number_increases(void **state)
{
	struct t *t = *state;
	const struct fx_keys *k = fx_keys();
	X509_CRL *crl = NULL;
	long i;

	for (i = 1; i <= 3; i++) {
		if (i == 3)
			reopen(t, 0);
		assert_int_equal(tripki_store_crl(t->st, k->ca_key, k->ca_cert,
		    7, FX_NOW + i, &crl), TRIPKI_OK);
		assert_int_equal(crl_number(crl), i);
		/* No entries: the list is absent, as RFC 5280 asks. */
		assert_null(X509_CRL_get_REVOKED(crl));
		X509_CRL_free(crl);
		crl = NULL;
	}
}

/* ---- Schema ---- */

static void
set_user_version(struct t *t, int v)
{
	char p[512], sql[64];
	sqlite3 *db = NULL;

	path_in(t, "ca.db", p, sizeof(p));
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
newer_schema_refused(void **state)
{
	struct t *t = *state;
	char detail[TRIPKI_STORE_DETAIL_MAX];

	tripki_store_close(t->st);
	t->st = NULL;
	set_user_version(t, TRIPKI_STORE_SCHEMA + 1);
	assert_int_equal(tripki_store_open(t->dir, TRIPKI_STORE_CREATE,
	    &t->st, detail, sizeof(detail)), TRIPKI_E_STORE);
	assert_null(t->st);
	assert_non_null(strstr(detail, "newer"));
	/* Back to ours, it opens again with nothing lost. */
	set_user_version(t, TRIPKI_STORE_SCHEMA);
	reopen(t, 0);
}

static void
open_refuses_missing_or_foreign(void **state)
{
	struct t *t = *state;
	char detail[TRIPKI_STORE_DETAIL_MAX], p[512];
	tripki_store *st = NULL;
	sqlite3 *db = NULL;
	char sub[128];

	/* Without CREATE a missing database is an error, not a new one. */
	snprintf(sub, sizeof(sub), "%s/sub", t->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(tripki_store_open(sub, 0, &st, detail,
	    sizeof(detail)), TRIPKI_E_STORE);
	assert_null(st);
	assert_int_equal(tripki_store_open("/nonexistent-tripki-dir",
	    TRIPKI_STORE_CREATE, &st, NULL, 0), TRIPKI_E_IO);
	/* Another application's SQLite database is not ours to migrate. */
	snprintf(p, sizeof(p), "%s/ca.db", sub);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 42;"
	    "CREATE TABLE x (y)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(tripki_store_open(sub, 0, &st, detail,
	    sizeof(detail)), TRIPKI_E_STORE);
	assert_non_null(strstr(detail, "not a tripki"));
	unlink(p);
	rmdir(sub);
}

static void
fresh_database_is_current(void **state)
{
	struct t *t = *state;
	char p[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct stat sb;

	path_in(t, "ca.db", p, sizeof(p));
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), TRIPKI_STORE_SCHEMA);
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/*
 * The store keeps its statements compiled between calls.  A kept
 * statement must hold no read transaction open (a reader would stop the
 * WAL from being checkpointed and would see an old snapshot), so another
 * process's writes are seen at once.
 */
static void
kept_statements_hold_no_reader(void **state)
{
	struct t *t = *state;
	char detail[TRIPKI_STORE_DETAIL_MAX], p[512];
	char sn[TRIPKI_STORE_SERIAL_MAX + 1];
	tripki_store *other = NULL;
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	X509 *x = issue_ok(t, NULL, FX_NOW);
	int i;

	serial_hex(x, sn);
	for (i = 0; i < 3; i++) {
		assert_int_equal(status_of(t, x, FX_NOW), TRIPKI_STORE_VALID);
		assert_int_equal(list(t, NULL, FX_NOW).n, 1);
		assert_int_equal(events(t).issue, 1);
	}
	/* A second CA process revokes: the first sees it on its next read. */
	assert_int_equal(tripki_store_open(t->dir, 0, &other, detail,
	    sizeof(detail)), TRIPKI_OK);
	assert_int_equal(tripki_store_revoke_serial(other, sn, "keyCompromise",
	    FX_NOW + 10), TRIPKI_OK);
	tripki_store_close(other);
	assert_int_equal(status_of(t, x, FX_NOW + 20), TRIPKI_STORE_REVOKED);
	assert_int_equal(events(t).revoke, 1);
	/* Nothing of ours reads: the whole WAL goes into the database. */
	path_in(t, "ca.db", p, sizeof(p));
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);     /* not busy */
	assert_int_equal(sqlite3_column_int(s, 1), 0);     /* WAL emptied */
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* And the store goes on writing and reading after it. */
	X509_free(x);
	x = issue_ok(t, NULL, FX_NOW + 30);
	assert_int_equal(list(t, NULL, FX_NOW + 30).n, 2);
	X509_free(x);
}

/* ---- Audit and open mode ---- */

static void
audit_records_refusals(void **state)
{
	struct t *t = *state;
	tripki_issue_info info;
	struct events v;

	memset(&info, 0, sizeof(info));
	info.id = FX_SERVER_ID;
	info.token = (const uint8_t *)"not-a-token";
	info.token_len = 11;
	info.peer = PEER;
	assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	v = events(t);
	assert_int_equal(v.refuse, 1);
	assert_int_equal(v.last_refuse.at_ms, FX_NOW);
	assert_string_equal(v.last_refuse.id, FX_SERVER_ID);
	assert_string_equal(v.last_refuse.peer, PEER);
	assert_string_equal(v.last_refuse.detail, "unknown enrollment token");
	assert_int_equal(tripki_store_audit(t->st, FX_NOW, "refuse", "x", NULL,
	    "peer", "stale M1"), TRIPKI_OK);
	assert_int_equal(tripki_store_audit(t->st, FX_NOW, "bogus", NULL, NULL,
	    NULL, NULL), TRIPKI_E_INVALID);
	assert_int_equal(events(t).refuse, 2);
}

static void
open_mode_accepts_and_audits(void **state)
{
	struct t *t = *state;
	struct req none = { 0 };
	struct events v;
	X509 *x = NULL;

	tripki_store_set_open(t->st, 1);
	assert_int_equal(core_issue(t, &none, FX_NOW, &x), TRIPKI_OK);
	assert_int_equal(status_of(t, x, FX_NOW), TRIPKI_STORE_VALID);
	v = events(t);
	assert_int_equal(v.refuse, 0);
	assert_int_equal(v.issue, 1);
	assert_non_null(strstr(v.last.detail, "open mode: no enrollment token"));
	tripki_store_set_open(t->st, 0);
	assert_int_equal(core_issue(t, &none, FX_NOW, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	X509_free(x);
}

/* ---- Through the real core ---- */

static void
core_run_records_issuance(void **state)
{
	struct t *t = *state;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1], sn[TRIPKI_STORE_SERIAL_MAX + 1];
	struct req q = { .token = tok, .real_keygen = 1 };
	tripki_store_cert c;
	struct events v;
	X509 *x = NULL, *y = NULL;

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 600,
	    FX_NOW, tok), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, FX_NOW + 5, &x), TRIPKI_OK);
	serial_hex(x, sn);
	assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW + 5, &c, &y),
	    TRIPKI_OK);
	assert_int_equal(X509_cmp(x, y), 0);
	assert_int_equal(c.csr, 0);
	assert_int_equal(c.issued_at_ms, FX_NOW + 5);
	v = events(t);
	assert_int_equal(v.enroll, 1);
	assert_int_equal(v.issue, 1);
	assert_string_equal(v.last.event, "issue");
	assert_string_equal(v.last.serial, sn);
	assert_string_equal(v.last.peer, PEER);
	assert_string_equal(v.last.detail,
	    "key made by the CA; enrollment token");
	/* The token is spent. */
	assert_int_equal(tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW + 6, NULL),
	    TRIPKI_E_NOT_AUTHORIZED);
	X509_free(x);
	X509_free(y);
}

static void
csr_mode_database_holds_no_key(void **state)
{
	struct t *t = *state;
	EVP_PKEY *key = fx_keys()->spare_key;
	char tok[TRIPKI_STORE_TOKEN_LEN + 1], sn[TRIPKI_STORE_SERIAL_MAX + 1];
	struct req q = { .token = tok, .csr_key = key };
	tripki_store_cert c;
	uint8_t *der = NULL, *db;
	size_t n, off;
	X509 *x = NULL;
	int len;

	assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID, 600,
	    FX_NOW, tok), TRIPKI_OK);
	assert_int_equal(core_issue(t, &q, FX_NOW, &x), TRIPKI_OK);
	serial_hex(x, sn);
	assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW, &c, NULL),
	    TRIPKI_OK);
	assert_int_equal(c.csr, 1);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
	tripki_store_close(t->st);
	t->st = NULL;

	db = db_bytes(t, &n);
	assert_false(contains(db, n, "PRIVATE KEY", 11));
	assert_true(contains(db, n, "BEGIN CERTIFICATE", 17));
	/* Nor the token, which is kept as a hash only. */
	assert_false(contains(db, n, tok, strlen(tok)));
	assert_true((len = i2d_PrivateKey(key, &der)) > 64);
	assert_false(contains(db, n, der, (size_t)len));
	/* Nor any 32-byte stretch of it (the private exponent, primes). */
	for (off = 0; off + 32 <= (size_t)len; off += 16)
		if (off > 300) /* past the modulus, which is public */
			assert_false(contains(db, n, der + off, 32));
	OPENSSL_clear_free(der, (size_t)len);
	free(db);
	X509_free(x);
	reopen(t, 0);
}

/* ---- Group commit ---- */

/* Authorizes `tok` for FX_SERVER_ID and takes the decision off the handle. */
static tripki_store_decision *
decide(struct t *t, const char *tok, int64_t now)
{
	tripki_store_decision *d = NULL;
	tripki_issue_info info;

	memset(&info, 0, sizeof(info));
	info.id = FX_SERVER_ID;
	info.token = (const uint8_t *)tok;
	info.token_len = strlen(tok);
	info.peer = PEER;
	assert_int_equal(tripki_store_authorize(t->st, &info, now), TRIPKI_OK);
	assert_int_equal(tripki_store_decision_take(t->st, &d), TRIPKI_OK);
	assert_non_null(d);
	return d;
}

/* Records certificate x under decision d (consumed); the store's code. */
static int
record_as(struct t *t, X509 *x, tripki_store_decision *d, int64_t now)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	uint8_t serial[32];
	tripki_issued is;
	int r;

	assert_non_null(bn);
	memset(&is, 0, sizeof(is));
	is.id = FX_SERVER_ID;
	is.cert = x;
	is.serial = serial;
	is.serial_len = (size_t)BN_bn2bin(bn, serial);
	is.csr = 1;
	is.peer = PEER;
	tripki_store_decision_put(t->st, d);
	r = tripki_store_record(t->st, &is, now);
	BN_free(bn);
	return r;
}

/*
 * How many certificates another reader of the database sees.  (Another
 * tripki_store_open would wait for the batch's write lock: it migrates in
 * a write transaction.)
 */
static int
seen_elsewhere(struct t *t)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char p[512];
	int n;

	path_in(t, "ca.db", p, sizeof(p));
	assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM "
	    "certificates", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static int
token_spent(struct t *t, const char *tok)
{
	int r = tripki_store_token_consume(t->st, FX_SERVER_ID,
	    (const uint8_t *)tok, strlen(tok), FX_NOW + 10, NULL);

	assert_true(r == TRIPKI_OK || r == TRIPKI_E_NOT_AUTHORIZED);
	return r == TRIPKI_E_NOT_AUTHORIZED;
}

/* Three issuances, decided before any is recorded, in one commit. */
static void
batch_commit_makes_all_durable(void **state)
{
	struct t *t = *state;
	char tok[3][TRIPKI_STORE_TOKEN_LEN + 1];
	tripki_store_decision *d[3];
	X509 *x[3];
	struct events v;
	int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID,
		    60, FX_NOW, tok[i]), TRIPKI_OK);
		x[i] = unstored_cert();
	}
	assert_int_equal(tripki_store_batch_begin(t->st), TRIPKI_OK);
	assert_int_equal(tripki_store_batch_active(t->st), 1);
	assert_int_equal(tripki_store_batch_begin(t->st), TRIPKI_E_STATE);
	for (i = 0; i < 3; i++)
		d[i] = decide(t, tok[i], FX_NOW);
	for (i = 0; i < 3; i++)
		assert_int_equal(record_as(t, x[i], d[i], FX_NOW), TRIPKI_OK);
	/* Recorded in the batch, and not yet durable: nobody else sees it. */
	assert_int_equal(list(t, NULL, FX_NOW).n, 3);
	assert_int_equal(seen_elsewhere(t), 0);
	assert_int_equal(tripki_store_batch_commit(t->st), TRIPKI_OK);
	assert_int_equal(tripki_store_batch_active(t->st), 0);
	assert_int_equal(tripki_store_batch_commit(t->st), TRIPKI_E_STATE);
	assert_int_equal(seen_elsewhere(t), 3);
	reopen(t, 0);
	assert_int_equal(list(t, NULL, FX_NOW).n, 3);
	v = events(t);
	assert_int_equal(v.issue, 3);
	assert_int_equal(v.refuse, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(status_of(t, x[i], FX_NOW), TRIPKI_STORE_VALID);
		assert_true(token_spent(t, tok[i]));
		X509_free(x[i]);
	}
}

/* A rolled-back batch leaves no certificate, no audit row, no spent token. */
static void
batch_rollback_leaves_nothing(void **state)
{
	struct t *t = *state;
	char tok[2][TRIPKI_STORE_TOKEN_LEN + 1];
	X509 *x[2];
	int i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID,
		    60, FX_NOW, tok[i]), TRIPKI_OK);
		x[i] = unstored_cert();
	}
	assert_int_equal(tripki_store_batch_begin(t->st), TRIPKI_OK);
	for (i = 0; i < 2; i++)
		assert_int_equal(record_as(t, x[i], decide(t, tok[i], FX_NOW),
		    FX_NOW), TRIPKI_OK);
	assert_int_equal(list(t, NULL, FX_NOW).n, 2);
	tripki_store_batch_rollback(t->st);
	assert_int_equal(tripki_store_batch_active(t->st), 0);
	tripki_store_batch_rollback(t->st);     /* none open: fine */
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
	assert_int_equal(events(t).issue, 0);
	/* Closing with a batch open rolls it back too. */
	assert_int_equal(tripki_store_batch_begin(t->st), TRIPKI_OK);
	assert_int_equal(record_as(t, x[0], decide(t, tok[0], FX_NOW),
	    FX_NOW), TRIPKI_OK);
	reopen(t, 0);
	assert_int_equal(list(t, NULL, FX_NOW).n, 0);
	assert_int_equal(events(t).issue, 0);
	for (i = 0; i < 2; i++) {
		assert_false(token_spent(t, tok[i]));   /* spends it now */
		X509_free(x[i]);
	}
}

/*
 * In a batch, a record that fails (a serial already in the batch) or is
 * refused (a token already spent by an earlier record of the same batch)
 * is undone alone; the others commit.
 */
static void
batch_savepoint_isolates_a_failing_record(void **state)
{
	struct t *t = *state;
	char tok[2][TRIPKI_STORE_TOKEN_LEN + 1];
	tripki_store_decision *twice[2], *d = NULL;
	X509 *x[3];
	struct events v;
	int i;

	for (i = 0; i < 2; i++)
		assert_int_equal(tripki_store_token_create(t->st, FX_SERVER_ID,
		    60, FX_NOW, tok[i]), TRIPKI_OK);
	for (i = 0; i < 3; i++)
		x[i] = unstored_cert();
	/* Nothing decided: nothing to take. */
	assert_int_equal(tripki_store_decision_take(t->st, &d),
	    TRIPKI_E_STATE);
	assert_null(d);
	assert_int_equal(tripki_store_batch_begin(t->st), TRIPKI_OK);
	assert_int_equal(record_as(t, x[0], decide(t, tok[0], FX_NOW),
	    FX_NOW), TRIPKI_OK);
	/* The same serial again, under a fresh token: a store error. */
	assert_int_equal(record_as(t, x[0], decide(t, tok[1], FX_NOW),
	    FX_NOW), TRIPKI_E_STORE);
	assert_non_null(strstr(tripki_store_detail(t->st), "already"));
	/* One token, two requests authorized before either was recorded. */
	twice[0] = decide(t, tok[1], FX_NOW);
	twice[1] = decide(t, tok[1], FX_NOW);
	assert_int_equal(record_as(t, x[1], twice[0], FX_NOW), TRIPKI_OK);
	assert_int_equal(record_as(t, x[2], twice[1], FX_NOW),
	    TRIPKI_E_NOT_AUTHORIZED);
	assert_string_equal(tripki_store_detail(t->st),
	    "enrollment token already used");
	/* And the batch's token can no longer be authorized either. */
	{
		tripki_issue_info info;

		memset(&info, 0, sizeof(info));
		info.id = FX_SERVER_ID;
		info.token = (const uint8_t *)tok[0];
		info.token_len = strlen(tok[0]);
		assert_int_equal(tripki_store_authorize(t->st, &info, FX_NOW),
		    TRIPKI_E_NOT_AUTHORIZED);
	}
	assert_int_equal(tripki_store_batch_commit(t->st), TRIPKI_OK);
	reopen(t, 0);
	assert_int_equal(list(t, NULL, FX_NOW).n, 2);
	assert_int_equal(status_of(t, x[0], FX_NOW), TRIPKI_STORE_VALID);
	assert_int_equal(status_of(t, x[1], FX_NOW), TRIPKI_STORE_VALID);
	{
		char sn[TRIPKI_STORE_SERIAL_MAX + 1];
		tripki_store_cert c;

		serial_hex(x[2], sn);
		assert_int_equal(tripki_store_cert_get(t->st, sn, FX_NOW, &c,
		    NULL), TRIPKI_E_UNKNOWN_ID);
	}
	v = events(t);
	assert_int_equal(v.issue, 2);
	assert_int_equal(v.refuse, 2);
	assert_string_equal(v.last_refuse.detail,
	    "enrollment token already used");
	for (i = 0; i < 2; i++)
		assert_true(token_spent(t, tok[i]));
	for (i = 0; i < 3; i++)
		X509_free(x[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(record_survives_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(record_needs_matching_authorization,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_serial_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(token_single_use, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(token_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(token_bound_to_id, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(token_unknown_or_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(token_bad_arguments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    token_spent_between_authorize_and_record, setup, teardown),
		cmocka_unit_test_setup_teardown(renewal_of_stored_cert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(renewal_refused_when_not_stored,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(renewal_refused_for_other_id,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    renewal_revoked_between_authorize_and_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(revoke_by_serial, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(revoke_by_id, setup, teardown),
		cmocka_unit_test_setup_teardown(list_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(crl_signed_with_revoked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(crl_number_increases, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(newer_schema_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(open_refuses_missing_or_foreign,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fresh_database_is_current,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(kept_statements_hold_no_reader,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(audit_records_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(open_mode_accepts_and_audits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(core_run_records_issuance,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(csr_mode_database_holds_no_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(batch_commit_makes_all_durable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(batch_rollback_leaves_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    batch_savepoint_isolates_a_failing_record, setup, teardown),
	};

	fx_keys();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
