/*
 * tripki ca init: make the CA's key, self-signed certificate and store.
 * tripki ca serve: answer phase 1 (M1 -> M2) until SIGTERM or SIGINT,
 * issuing against enrollment tokens and recording every certificate in
 * DIR/ca.db before it is sent.
 *
 * How serve drives an M1 (the core's four steps):
 *   open    thread pool   RSA decryption of M1 (the daemon runs it)
 *   check   loop          freshness, replay, the store's authorize
 *   sign    thread pool   key pair (seed mode: from the key pool), the
 *                         certificate's RSA signature, M2 sealed
 *   commit  loop          the store's record, inside the open batch
 * Group commit: records go into one open SQLite transaction, each in a
 * savepoint, and each finished M2 waits in `pending`.  The batch commits
 * when --batch M2s wait or --batch-delay ms after it opened; only after
 * COMMIT succeeded does any of them go out.  When COMMIT fails the batch
 * is rolled back and every waiting M2 is wiped and answered INTERNAL.
 * The operator's subcommands (enroll, revoke, list, crl) are in ca_admin.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca_int.h"
#include "keypool.h"
#include "net/net.h"

#define CA_USAGE \
	"usage: tripki ca init   --dir DIR [--id ID] [--bits N] [--days N]\n" \
	"                        [--passphrase-file FILE]\n" \
	"       tripki ca serve  --dir DIR [--listen HOST:PORT] [--open]\n" \
	"                        [--cert-days N] [--passphrase-file FILE]\n" \
	"                        [--key-pool N] [--batch N] [--batch-delay MS]\n" \
	"       tripki ca enroll --dir DIR --id ID [--ttl SECONDS]\n" \
	"       tripki ca revoke --dir DIR (--serial S | --id ID) [--reason R]\n" \
	"       tripki ca list   --dir DIR [--id ID]\n" \
	"       tripki ca crl    --dir DIR [--out FILE] [--days N]\n" \
	"                        [--passphrase-file FILE]\n" \
	"\n" \
	"  init    writes DIR/ca.key (mode 0600), DIR/ca.crt (self-signed, CN=ID)\n" \
	"          and DIR/ca.db (the CA's records)\n" \
	"  serve   issues server certificates (phase 1, M1 -> M2)\n" \
	"  enroll  prints a one-time enrollment token for an identity\n" \
	"  revoke  revokes a certificate, or every certificate of an identity\n" \
	"  list    shows every certificate issued, with its status\n" \
	"  crl     writes an X.509 v2 CRL of the revoked certificates\n" \
	"\n" \
	"tripki ca COMMAND --help lists the flags of each.\n"

#define INIT_USAGE \
	"usage: tripki ca init --dir DIR [--id ID] [--bits N] [--days N]\n" \
	"           [--passphrase-file FILE]\n" \
	"\n" \
	"Writes DIR/ca.key (PKCS#8 PEM, mode 0600), DIR/ca.crt (self-signed\n" \
	"X.509 v3 CA certificate, CN=ID) and DIR/ca.db.  Refuses to overwrite\n" \
	"a key.\n" \
	"\n" \
	"      --dir DIR        the CA's directory (made 0700 if missing)\n" \
	"      --id ID          the CA's identity, ID_CA (default ID-CA)\n" \
	"      --bits N         RSA key size: 2048 (default), 3072 or 4096\n" \
	"      --days N         CA certificate validity (default 3650)\n" \
	"      --passphrase-file FILE\n" \
	"                       encrypt ca.key under the passphrase on the\n" \
	"                       first line of FILE (PBES2, AES-256-CBC)\n"

#define SERVE_USAGE \
	"usage: tripki ca serve --dir DIR [--listen HOST:PORT] [--open]\n" \
	"           [--cert-days N] [--passphrase-file FILE] [--key-pool N]\n" \
	"           [--batch N] [--batch-delay MS]\n" \
	"\n" \
	"Answers M1 with M2: a key pair and certificate (or, for a CSR, a\n" \
	"certificate for the server's own key).  It issues only against a valid,\n" \
	"unused enrollment token for exactly the identity asked (tripki ca\n" \
	"enroll), or to renew a certificate it issued that is not revoked.\n" \
	"Each certificate is in DIR/ca.db before it is sent: issuances are\n" \
	"committed together (one fsync for a batch), and no M2 goes out before\n" \
	"its batch has committed.\n" \
	"\n" \
	"      --dir DIR        holds ca.key, ca.crt and ca.db (tripki ca init)\n" \
	"      --listen H:P     address to listen on (default 127.0.0.1:7000)\n" \
	"      --open           issue to any identity, as the seeds' CA did\n" \
	"                       (still recorded and audited)\n" \
	"      --cert-days N    validity of issued certificates (default 90)\n" \
	"      --passphrase-file FILE\n" \
	"                       the passphrase of an encrypted ca.key\n" \
	"      --max-skew S     accepted clock difference, seconds (default 60)\n" \
	"      --timeout S      a frame must arrive whole within S s (default 10)\n" \
	"      --max-conns N    connections served at once (default 4096)\n" \
	"      --key-pool N     seed mode: keep N RSA-2048 key pairs made in\n" \
	"                       advance by a background thread (default 64;\n" \
	"                       0: none).  When it is empty, or for another\n" \
	"                       size, the key is made on the thread pool\n" \
	"      --batch N        commit at most N issuances together (default\n" \
	"                       64; 1: each on its own)\n" \
	"      --batch-delay MS commit a batch MS milliseconds after it opened\n" \
	"                       at the latest (default 2)\n" \
	TNET_LIMIT_HELP

enum { O_DIR = TCLI_OPT_FIRST_OWN, O_ID, O_BITS, O_DAYS, O_LISTEN, O_OPEN,
	O_CERT_DAYS, O_PASSFILE, O_KEY_POOL, O_BATCH, O_BATCH_DELAY };

/* Validity of the CA's certificate and of those it issues, at most. */
#define CERT_DAYS_MAX 36500

/* ---- The CA directory ---- */

int
tcli_ca_dir_open(const char *dir, int want_key, const char *passfile,
    tcli_ca_dir *ca)
{
	tcli_passphrase pw;
	char detail[TRIPKI_STORE_DETAIL_MAX];
	int e, r = -1;

	memset(ca, 0, sizeof(*ca));
	memset(&pw, 0, sizeof(pw));
	if (tcli_path(ca->keyp, sizeof(ca->keyp), dir, "ca.key") != 0 ||
	    tcli_path(ca->certp, sizeof(ca->certp), dir, "ca.crt") != 0 ||
	    tcli_cert_load(ca->certp, &ca->cert) != 0)
		goto out;
	if (tcli_cert_cn(ca->cert, ca->id, sizeof(ca->id)) != 0) {
		tcli_error("%s has no usable subject CN", ca->certp);
		goto out;
	}
	if (want_key) {
		if (passfile != NULL && tcli_passphrase_load(passfile, &pw) != 0)
			goto out;
		if (tcli_key_load_pass(ca->keyp, passfile != NULL ? &pw : NULL,
		    &ca->key) != 0)
			goto out;
		if ((e = tripki_cert_verify(ca->cert, ca->cert, ca->id, ca->key,
		    NULL, tnet_now_ms())) != TRIPKI_OK) {
			tcli_error("CA certificate %s unusable with %s: %s",
			    ca->certp, ca->keyp, tripki_strerror(e));
			goto out;
		}
	}
	if (tripki_store_open(dir, TRIPKI_STORE_CREATE, &ca->st, detail,
	    sizeof(detail)) != TRIPKI_OK) {
		tcli_error("cannot open the CA store %s/ca.db: %s", dir, detail);
		goto out;
	}
	r = 0;
out:
	tcli_passphrase_wipe(&pw);
	if (r != 0)
		tcli_ca_dir_close(ca);
	return r;
}

void
tcli_ca_dir_close(tcli_ca_dir *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	tripki_store_close(ca->st);
	ca->key = NULL;
	ca->cert = NULL;
	ca->st = NULL;
}

/* ---- ca init ---- */

struct init_opts {
	const char *dir;
	const char *id;
	const char *passfile;
	uint64_t bits;
	uint64_t days;
};

static int
init_opt(void *ctx, int opt, const char *arg)
{
	struct init_opts *o = ctx;

	switch (opt) {
	case O_DIR:
		o->dir = arg;
		break;
	case O_ID:
		return tcli_opt_id("--id", arg, TRIPKI_ID_MAX, &o->id);
	case O_BITS:
		if (tcli_uint(arg, 2048, 4096, &o->bits) != 0 ||
		    (o->bits != 2048 && o->bits != 3072 && o->bits != 4096))
			return tcli_bad_value("--bits", arg,
			    "use 2048, 3072 or 4096");
		break;
	case O_DAYS:
		return tcli_opt_days("--days", arg, CERT_DAYS_MAX, &o->days);
	case O_PASSFILE:
		o->passfile = arg;
		break;
	}
	return -1;
}

static int
ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "id", required_argument, NULL, O_ID },
		{ "bits", required_argument, NULL, O_BITS },
		{ "days", required_argument, NULL, O_DAYS },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		TCLI_COMMON_OPTIONS
	};
	struct init_opts o = { NULL, TCLI_DEFAULT_CA_ID, NULL, 2048, 3650 };
	char keyp[4096], certp[4096], detail[TRIPKI_STORE_DETAIL_MAX];
	tcli_passphrase pw;
	tripki_common core;
	tcli_common cm;
	tripki_store *st = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r;

	memset(&cm, 0, sizeof(cm));
	memset(&pw, 0, sizeof(pw));
	if ((r = tcli_parse(argc, argv, opts, INIT_USAGE, init_opt, &o,
	    &cm)) >= 0)
		return r;
	if (o.dir == NULL)
		return tcli_required("--dir");
	r = TCLI_EXIT_FAIL;
	if (tcli_path(keyp, sizeof(keyp), o.dir, "ca.key") != 0 ||
	    tcli_path(certp, sizeof(certp), o.dir, "ca.crt") != 0)
		goto out;
	if (o.passfile != NULL && tcli_passphrase_load(o.passfile, &pw) != 0)
		goto out;
	if (tcli_mkdir(o.dir) != 0)
		goto out;
	if (tcli_exists(keyp)) {
		tcli_error("%s already exists: refusing to overwrite a CA key",
		    keyp);
		goto out;
	}
	tcli_core_common(&cm, &core);
	if (tripki_key_generate((int)o.bits, &key) != TRIPKI_OK ||
	    tripki_ca_selfsign(key, o.id, (int)o.days, tnet_now_ms(), &core,
	    &cert) != TRIPKI_OK) {
		tcli_error("cannot make the CA key and certificate");
		goto out;
	}
	if (tcli_key_save_pass(keyp, key, o.passfile != NULL ? &pw : NULL) !=
	    0 || tcli_cert_save(certp, cert) != 0)
		goto out;
	if (tripki_store_open(o.dir, TRIPKI_STORE_CREATE, &st, detail,
	    sizeof(detail)) != TRIPKI_OK) {
		tcli_error("cannot make the CA store %s/ca.db: %s", o.dir,
		    detail);
		goto out;
	}
	tcli_info("wrote %s (mode 0600%s), %s and %s/ca.db: CA \"%s\", "
	    "RSA-%d, valid %d days", keyp, o.passfile != NULL ?
	    ", encrypted" : "", certp, o.dir, o.id, (int)o.bits, (int)o.days);
	r = TCLI_EXIT_OK;
out:
	tcli_passphrase_wipe(&pw);
	tripki_store_close(st);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

/* ---- ca serve ---- */

struct serve_opts {
	const char *dir;
	const char *listen;
	const char *passfile;
	int open;
	uint64_t cert_days;
	uint64_t key_pool;
	uint64_t batch;
	uint64_t batch_delay_ms;
	tcli_daemon_flags d;
};

#define KEY_POOL_DEFAULT 64
#define KEY_POOL_BITS 2048          /* what servers ask for by default */
#define BATCH_DEFAULT 64
#define BATCH_MAX 1024
#define BATCH_DELAY_DEFAULT_MS 2
#define BATCH_DELAY_MAX_MS 1000
#define ISSUED_LINE_MAX 512

/* One M1 on its way to an M2, from check to the batch's COMMIT. */
struct issue {
	struct ca_srv *s;
	tnet_defer *h;                  /* the daemon's exchange */
	tripki_ca_req *req;             /* until commit */
	tripki_store_decision *dec;     /* authorize's, for record */
	uv_work_t work;                 /* sign, on the thread pool */
	struct issue *next;             /* in the pending list */
	tripki_buf m2;                  /* held until the batch commits */
	char peer[TNET_PEER_MAX];
	char renew_of[TRIPKI_STORE_SERIAL_MAX + 1];
	char line[ISSUED_LINE_MAX];     /* logged once durable */
};

struct ca_srv {
	uv_loop_t loop;
	int serving;
	tripki_ca *ca;
	tnet_daemon *daemon;
	tripki_store *st;
	int logged;                 /* the callbacks said why it failed */
	int64_t skew_ms;
	char renew_of[TRIPKI_STORE_SERIAL_MAX + 1];
	struct issue *cur;          /* being checked or committed: the hooks' */
	struct issue *pending;      /* recorded in the batch, M2 held */
	struct issue **pending_tail;
	size_t npending;
	size_t batch_max;
	uint64_t batch_delay_ms;
	uv_timer_t batch_timer;
	int timer_ready;
	int batch_failed;           /* BEGIN failed: said once */
	uint64_t commits, committed;
	tcli_keypool *pool;
};

static int
serve_opt(void *ctx, int opt, const char *arg)
{
	struct serve_opts *o = ctx;

	switch (opt) {
	case O_DIR:
		o->dir = arg;
		break;
	case O_LISTEN:
		o->listen = arg;
		break;
	case O_OPEN:
		o->open = 1;
		break;
	case O_PASSFILE:
		o->passfile = arg;
		break;
	case O_CERT_DAYS:
		return tcli_opt_days("--cert-days", arg, CERT_DAYS_MAX,
		    &o->cert_days);
	case O_KEY_POOL:
		return tcli_opt_uint("--key-pool", arg, 0, TCLI_KEYPOOL_MAX,
		    "a number of keys from 0 to 4096", &o->key_pool);
	case O_BATCH:
		return tcli_opt_uint("--batch", arg, 1, BATCH_MAX,
		    "a number from 1 to 1024", &o->batch);
	case O_BATCH_DELAY:
		return tcli_opt_uint("--batch-delay", arg, 0,
		    BATCH_DELAY_MAX_MS, "milliseconds, from 0 to 1000",
		    &o->batch_delay_ms);
	default:
		return tcli_daemon_opt(&o->d, opt, arg);
	}
	return -1;
}

/*
 * The store decides; a refusal is logged here with the peer.  For a
 * request on its way through the steps (s->cur), what the store allowed
 * is taken off the handle and kept with the request: others are checked
 * before this one is recorded.
 */
static int
authorize(void *ctx, const tripki_issue_info *info, int64_t now_ms)
{
	struct ca_srv *s = ctx;
	const char *peer = info->peer != NULL ? info->peer : "?";
	char *renew_of = s->cur != NULL ? s->cur->renew_of : s->renew_of;
	int r;

	renew_of[0] = '\0';
	if (info->renew_cert != NULL)
		tcli_cert_serial(info->renew_cert, renew_of,
		    TRIPKI_STORE_SERIAL_MAX + 1);
	r = tripki_store_authorize(s->st, info, now_ms);
	if (r == TRIPKI_E_NOT_AUTHORIZED) {
		tcli_warn("refused to %s a certificate for \"%s\" to %s: %s",
		    info->renew_cert != NULL ? "renew" : "issue", info->id,
		    peer, tripki_store_detail(s->st));
		s->logged = 1;
	} else if (r != TRIPKI_OK) {
		tcli_error("CA store: cannot decide on \"%s\" from %s: %s",
		    info->id, peer, tripki_store_detail(s->st));
		s->logged = 1;
	} else if (s->cur != NULL &&
	    (r = tripki_store_decision_take(s->st, &s->cur->dec)) !=
	    TRIPKI_OK) {
		tcli_error("CA store: cannot keep the decision on \"%s\" from "
		    "%s: %s", info->id, peer, tripki_store_detail(s->st));
		s->logged = 1;
	}
	return r;
}

/* The log line of an issuance, said once it is durable. */
static void
issued_line(const tripki_issued *is, const char *renew_of, char *dst,
    size_t n)
{
	const char *peer = is->peer != NULL ? is->peer : "?";
	char serial[TRIPKI_STORE_SERIAL_MAX + 1], until[40];
	const ASN1_TIME *na = X509_get0_notAfter(is->cert);
	struct tm tm;

	tcli_cert_serial(is->cert, serial, sizeof(serial));
	if (ASN1_TIME_to_tm(na, &tm) != 1 ||
	    strftime(until, sizeof(until), "%Y-%m-%d", &tm) == 0)
		snprintf(until, sizeof(until), "?");
	if (renew_of[0] != '\0')
		snprintf(dst, n, "renewed the certificate of \"%s\" for %s: "
		    "serial %s (was %s), valid until %s, %s", is->id, peer,
		    serial, renew_of, until, is->csr ? "for the server's own "
		    "key" : "with a key made here");
	else
		snprintf(dst, n, "issued a certificate for \"%s\" to %s: serial "
		    "%s, valid until %s, %s", is->id, peer, serial, until,
		    is->csr ? "for the server's own key" :
		    "with a key made here");
}

/*
 * M2 goes out only once the record is durable: here at once when no
 * batch is open, otherwise when the batch commits (flush).
 */
static int
record(void *ctx, const tripki_issued *is, int64_t now_ms)
{
	struct ca_srv *s = ctx;
	struct issue *q = s->cur;
	char line[ISSUED_LINE_MAX];
	int r;

	if (q != NULL) {
		/* Never record without what authorize allowed. */
		if (q->dec == NULL) {
			tcli_error("CA store: no decision kept for \"%s\" (not "
			    "sent)", is->id);
			s->logged = 1;
			return TRIPKI_E_INTERNAL;
		}
		tripki_store_decision_put(s->st, q->dec);
		q->dec = NULL;
	}
	r = tripki_store_record(s->st, is, now_ms);
	if (r == TRIPKI_E_NOT_AUTHORIZED) {
		tcli_warn("refused to issue a certificate for \"%s\" to %s: %s",
		    is->id, is->peer != NULL ? is->peer : "?",
		    tripki_store_detail(s->st));
		s->logged = 1;
		return r;
	}
	if (r != TRIPKI_OK) {
		tcli_error("CA store: cannot record the certificate for \"%s\" "
		    "(not sent): %s", is->id, tripki_store_detail(s->st));
		s->logged = 1;
		return r;
	}
	if (q != NULL)
		issued_line(is, q->renew_of, q->line, sizeof(q->line));
	else {
		issued_line(is, s->renew_of, line, sizeof(line));
		tcli_info("%s", line);
	}
	return TRIPKI_OK;
}

/* ts: TS1 of the M1, 0 when it did not open. */
static void
log_refusal(struct ca_srv *s, int r, const char *peer, int64_t ts,
    int64_t now)
{
	if (r == TRIPKI_OK || s->logged)
		return;
	if ((r == TRIPKI_E_STALE || r == TRIPKI_E_FUTURE) && ts != 0)
		tcli_warn("refused M1 from %s: clock skew: its clock is %.1f s "
		    "%s ours (limit %.0f s)%s", peer,
		    (double)llabs(now - ts) / 1000, now > ts ? "behind" :
		    "ahead of", (double)s->skew_ms / 1000, now - ts <
		    s->skew_ms && now > ts ? ", but it was stamped before we "
		    "started" : "");
	else if (r == TRIPKI_E_STALE || r == TRIPKI_E_FUTURE)
		tcli_warn("refused M1 from %s: %s: its clock and ours differ "
		    "by more than --max-skew, or the message was delayed",
		    peer, tripki_strerror(r));
	else if (r == TRIPKI_E_NOT_AUTHORIZED) {
		/* The core refused before asking the store. */
		tcli_warn("refused a renewal from %s: its certificate or its "
		    "signature does not verify (expired, or not issued by this "
		    "CA)", peer);
		(void)tripki_store_audit(s->st, tnet_now_ms(), "refuse", NULL,
		    NULL, peer, "renewal certificate or signature does not "
		    "verify");
	} else
		tcli_warn("refused a request from %s: %s", peer,
		    tripki_strerror(r));
}

/* ---- Group commit ---- */

static void
issue_free(struct issue *q)
{
	if (q == NULL)
		return;
	tripki_ca_req_free(q->req);
	tripki_store_decision_free(q->dec);
	tripki_buf_free(&q->m2);        /* wipes: a seed-mode M2 holds SK_S */
	free(q);
}

/* Sends the answer held in q and frees q. */
static void
issue_answer(struct issue *q, int err)
{
	tnet_daemon_answer(q->h, q->m2.data, q->m2.len, err);
	issue_free(q);
}

/*
 * Commits the open batch; then, and only then, sends every M2 waiting for
 * it.  When COMMIT fails nothing of the batch stays in the store, and each
 * waiting server is told INTERNAL (it retries) instead of its M2.
 */
static void
flush(struct ca_srv *s)
{
	struct issue *list = s->pending, *q;
	size_t n = s->npending;
	int r;

	if (s->timer_ready)
		uv_timer_stop(&s->batch_timer);
	if (!tripki_store_batch_active(s->st))
		return;
	s->pending = NULL;
	s->pending_tail = &s->pending;
	s->npending = 0;
	if ((r = tripki_store_batch_commit(s->st)) != TRIPKI_OK)
		tcli_error("CA store: cannot commit %zu issuance%s (none sent; "
		    "the servers will retry): %s", n, n == 1 ? "" : "s",
		    tripki_store_detail(s->st));
	else if (n > 0) {
		s->commits++;
		s->committed += n;
	}
	while ((q = list) != NULL) {
		list = q->next;
		if (r == TRIPKI_OK) {
			tcli_info("%s", q->line);
			issue_answer(q, TRIPKI_OK);
			continue;
		}
		tripki_buf_reset(&q->m2);
		(void)tripki_frame_error(&q->m2, TRIPKI_E_INTERNAL);
		issue_answer(q, TRIPKI_E_INTERNAL);
	}
}

static void
on_batch_timer(uv_timer_t *t)
{
	flush(t->data);
}

/*
 * Opens a batch unless one is open, with its deadline.  0 when none can
 * be opened: the record then commits on its own, as without batches.
 */
static int
batch_open(struct ca_srv *s)
{
	if (tripki_store_batch_active(s->st))
		return 1;
	if (!s->timer_ready || uv_is_closing((uv_handle_t *)&s->batch_timer))
		return 0;
	if (tripki_store_batch_begin(s->st) != TRIPKI_OK) {
		if (!s->batch_failed)
			tcli_warn("CA store: cannot open a batch, committing "
			    "each issuance on its own: %s",
			    tripki_store_detail(s->st));
		s->batch_failed = 1;
		return 0;
	}
	s->batch_failed = 0;
	uv_timer_start(&s->batch_timer, on_batch_timer, s->batch_delay_ms, 0);
	return 1;
}

/* Step 3, on the thread pool: key pair, certificate, M2. */
static void
sign_cb(uv_work_t *w)
{
	struct issue *q = w->data;

	(void)tripki_ca_sign(q->s->ca, q->req, tnet_now_ms());
}

/* Step 4, on the loop: record in the batch, hold M2 until COMMIT. */
static void
signed_cb(uv_work_t *w, int status)
{
	struct issue *q = w->data;
	struct ca_srv *s = q->s;
	int64_t now = tnet_now_ms(), ts = tripki_ca_req_ts(q->req);
	int batched, r;

	(void)status;       /* canceled: sign did not run, commit says so */
	batched = batch_open(s);
	s->logged = 0;
	s->cur = q;
	r = tripki_ca_commit(s->ca, q->req, now, q->peer, &q->m2);
	s->cur = NULL;
	tripki_ca_req_free(q->req);
	q->req = NULL;
	log_refusal(s, r, q->peer, ts, now);
	if (r != TRIPKI_OK || !batched) {
		/* A refusal, or a record that committed on its own. */
		if (r == TRIPKI_OK)
			tcli_info("%s", q->line);
		issue_answer(q, r);
		return;
	}
	q->next = NULL;
	*s->pending_tail = q;
	s->pending_tail = &q->next;
	if (++s->npending >= s->batch_max)
		flush(s);
}

/*
 * Step 2 on the loop once the daemon has opened M1 on the pool, then
 * step 3 back on the pool: the answer comes from signed_cb or flush.
 */
static int
role_finish_defer(void *ctx, void *req, int64_t now, const char *peer,
    tripki_buf *out, tnet_defer *h)
{
	struct ca_srv *s = ctx;
	struct issue *q = NULL;
	int64_t ts = 0;
	int r;

	s->logged = 0;
	if (req == NULL || (q = calloc(1, sizeof(*q))) == NULL) {
		tripki_buf_reset(out);
		(void)tripki_frame_error(out, TRIPKI_E_NOMEM);
		r = TRIPKI_E_NOMEM;
		goto out;
	}
	ts = tripki_ca_req_ts(req);
	q->s = s;
	q->h = h;
	tripki_buf_init(&q->m2, TRIPKI_FRAME_MAX);
	snprintf(q->peer, sizeof(q->peer), "%s", peer);
	s->cur = q;
	r = tripki_ca_check(s->ca, req, now, peer);
	s->cur = NULL;
	if (r == TRIPKI_OK) {
		q->req = req;
		q->work.data = q;
		if (uv_queue_work(&s->loop, &q->work, sign_cb, signed_cb) == 0)
			return TNET_DEFER;
		q->req = NULL;          /* still the daemon's */
		tcli_error("cannot queue the signature for %s", peer);
		s->logged = 1;
		tripki_buf_reset(out);
		(void)tripki_frame_error(out, TRIPKI_E_INTERNAL);
		r = TRIPKI_E_INTERNAL;
		goto out;
	}
	/* The core turns the check's failure into the error frame. */
	r = tripki_ca_commit(s->ca, req, now, peer, out);
out:
	log_refusal(s, r, peer, ts, now);
	issue_free(q);
	return r;
}

/* Frames that are not opened on the pool: no M1 normally. */
static int
role_handle(void *ctx, const uint8_t *f, size_t n, int64_t now,
    const char *peer, tripki_buf *out)
{
	struct ca_srv *s = ctx;
	int r;

	/* What follows records on its own: the batch goes first. */
	flush(s);
	s->logged = 0;
	r = tripki_ca_handle(s->ca, f, n, now, peer, out);
	log_refusal(s, r, peer, 0, now);
	return r;
}

static void *
role_open(void *ctx, const uint8_t *f, size_t n)
{
	struct ca_srv *s = ctx;
	tripki_ca_req *req = NULL;

	(void)tripki_ca_open(s->ca, f, n, &req);
	return req;
}

static void
role_free(void *req)
{
	tripki_ca_req_free(req);
}

static void
close_batch_timer(struct ca_srv *s)
{
	if (s->timer_ready)
		tcli_close((uv_handle_t *)&s->batch_timer);
}

/* Every exchange has been answered: no batch can open any more. */
static void
on_stopped(void *ctx)
{
	struct ca_srv *s = ctx;
	tcli_keypool_stats ks;

	s->daemon = NULL;
	flush(s);
	close_batch_timer(s);
	if (!s->serving)
		return;
	tcli_info("group commit: %llu issuance%s in %llu commit%s",
	    (unsigned long long)s->committed, s->committed == 1 ? "" : "s",
	    (unsigned long long)s->commits, s->commits == 1 ? "" : "s");
	if (s->pool != NULL) {
		tcli_keypool_stats_get(s->pool, &ks);
		tcli_info("key pool: %llu key%s from the pool, %llu made on "
		    "the spot while it was empty",
		    (unsigned long long)ks.taken, ks.taken == 1 ? "" : "s",
		    (unsigned long long)ks.dry);
	}
	tcli_info("stopped");
}

static void
stop(void *ctx)
{
	struct ca_srv *s = ctx;

	/* Exchanges still signing finish and commit; the rest go now. */
	flush(s);
	if (s->daemon != NULL)
		tnet_daemon_stop(s->daemon);
}

static int
count_cert(void *ctx, const tripki_store_cert *c)
{
	(void)c;
	(*(size_t *)ctx)++;
	return 0;
}

static int
ca_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "open", no_argument, NULL, O_OPEN },
		{ "cert-days", required_argument, NULL, O_CERT_DAYS },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "key-pool", required_argument, NULL, O_KEY_POOL },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "batch-delay", required_argument, NULL, O_BATCH_DELAY },
		TCLI_DAEMON_OPTIONS,
		TCLI_COMMON_OPTIONS
	};
	struct serve_opts o;
	struct ca_srv s;
	tcli_ca_dir cad;
	tripki_ca_config cfg;
	tnet_daemon_config dc;
	tcli_common cm;
	char host[256], err[300];
	size_t issued = 0;
	uint16_t port;
	int r, e, loop_ok = 0;

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	memset(&cad, 0, sizeof(cad));
	memset(&cm, 0, sizeof(cm));
	o.listen = TCLI_DEFAULT_CA_ADDR;
	o.cert_days = 90;
	o.key_pool = KEY_POOL_DEFAULT;
	o.batch = BATCH_DEFAULT;
	o.batch_delay_ms = BATCH_DELAY_DEFAULT_MS;
	s.pending_tail = &s.pending;
	if ((r = tcli_parse(argc, argv, opts, SERVE_USAGE, serve_opt, &o,
	    &cm)) >= 0)
		goto out;
	if (o.dir == NULL) {
		r = tcli_required("--dir");
		goto out;
	}
	if ((r = tcli_opt_hostport("--listen", o.listen, host, sizeof(host),
	    &port)) >= 0)
		goto out;
	r = TCLI_EXIT_FAIL;
	cm.max_skew_ms = (int64_t)o.d.skew_ms;
	if (tcli_ca_dir_open(o.dir, 1, o.passfile, &cad) != 0)
		goto out;
	s.st = cad.st;
	s.skew_ms = tcli_max_skew_ms(&cm);
	tripki_store_set_open(s.st, o.open);
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = cad.id;
	cfg.key = cad.key;
	cfg.cert = cad.cert;
	cfg.cert_days = (uint32_t)o.cert_days;
	cfg.authorize = authorize;
	cfg.authorize_ctx = &s;
	cfg.record = record;
	cfg.record_ctx = &s;
	s.batch_max = (size_t)o.batch;
	s.batch_delay_ms = o.batch_delay_ms;
	if (o.key_pool > 0) {
		/* One refill thread; when dry, sign makes the key itself. */
		if ((e = tcli_keypool_new(KEY_POOL_BITS, (size_t)o.key_pool, 1,
		    TCLI_KEYPOOL_DRY_GENERATE, &s.pool)) != TRIPKI_OK) {
			tcli_error("cannot start the key pool: %s",
			    tripki_strerror(e));
			goto out;
		}
		cfg.keygen = tcli_keypool_keygen;
		cfg.keygen_ctx = s.pool;
	}
	tcli_core_common(&cm, &cfg.common);
	/* An M1 stamped before we started may be one we already saw. */
	if (cfg.common.started_ms == 0)
		cfg.common.started_ms = tnet_now_ms();
	if ((e = tripki_ca_new(&cfg, &s.ca)) != TRIPKI_OK) {
		tcli_error("cannot start the CA: %s", tripki_strerror(e));
		goto out;
	}
	tcli_threadpool_init();
	if (uv_loop_init(&s.loop) != 0)
		goto out;
	loop_ok = 1;
	(void)uv_timer_init(&s.loop, &s.batch_timer);
	s.batch_timer.data = &s;
	s.timer_ready = 1;
	tcli_daemon_config(&o.d, host, port, &dc);
	dc.role.handle = role_handle;
	dc.role.open = role_open;
	dc.role.finish_defer = role_finish_defer;
	dc.role.req_free = role_free;
	dc.role.ctx = &s;
	dc.on_stopped = on_stopped;
	dc.ctx = &s;
	if (tnet_daemon_bind(&s.loop, &dc, &s.daemon, err, sizeof(err)) != 0 ||
	    tnet_daemon_listen(s.daemon, err, sizeof(err)) != 0) {
		tcli_error("%s", err);
		if (s.daemon != NULL)
			tnet_daemon_stop(s.daemon);
		(void)uv_run(&s.loop, UV_RUN_DEFAULT);
		goto out;
	}
	if (tcli_signals_start(&s.loop, stop, &s) != 0) {
		tcli_error("cannot catch SIGTERM and SIGINT");
		goto out;
	}
	s.serving = 1;
	(void)tripki_store_list(s.st, NULL, tnet_now_ms(), count_cert, &issued);
	tcli_info("CA \"%s\" listening on %s (%s/ca.db: %zu certificate%s "
	    "issued so far; new ones valid %u days)", cad.id,
	    tnet_daemon_addr(s.daemon), o.dir, issued, issued == 1 ? "" : "s",
	    (unsigned)o.cert_days);
	if (o.open)
		tcli_warn("--open: issuing certificates to ANY identity that "
		    "asks, as the seeds' CA did (each one recorded and "
		    "audited)");
	else
		tcli_info("issuing only against enrollment tokens (tripki ca "
		    "enroll) and renewals of certificates issued here");
	(void)uv_run(&s.loop, UV_RUN_DEFAULT);
	r = TCLI_EXIT_OK;
out:
	if (loop_ok) {
		tcli_signals_close();
		close_batch_timer(&s);
		tcli_loop_end(&s.loop);
	}
	/* Nothing is left waiting: on_stopped flushed the last batch. */
	tripki_store_batch_rollback(s.st);
	tcli_keypool_free(s.pool);
	tripki_ca_free(s.ca);
	tcli_ca_dir_close(&cad);
	return r;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} ca_commands[] = {
	{ "init", ca_init },
	{ "serve", ca_serve },
	{ "enroll", tcli_ca_enroll },
	{ "revoke", tcli_ca_revoke },
	{ "list", tcli_ca_list },
	{ "crl", tcli_ca_crl },
};

int
tcli_ca_main(int argc, char **argv)
{
	static char name[32];
	size_t i;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)) {
			fputs(CA_USAGE, stdout);
			return TCLI_EXIT_OK;
		}
		if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			printf("tripki %s\n", TRIPKI_VERSION);
			return TCLI_EXIT_OK;
		}
		tcli_error("expected init, serve, enroll, revoke, list or crl "
		    "(see tripki ca --help)");
		return TCLI_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(ca_commands) / sizeof(ca_commands[0]); i++)
		if (strcmp(argv[1], ca_commands[i].name) == 0) {
			snprintf(name, sizeof(name), "tripki ca %s",
			    ca_commands[i].name);
			tcli_log_init(name);
			return ca_commands[i].run(argc - 1, argv + 1);
		}
	tcli_error("unknown ca command \"%s\" (see tripki ca --help)",
	    argv[1]);
	return TCLI_EXIT_USAGE;
}
