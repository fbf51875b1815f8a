/*
 * tripki server: registers with the CA when it holds no valid certificate
 * (phase 1, retrying until the CA answers), then serves phases 2 and 3 to
 * many clients at once until SIGTERM or SIGINT.  It renews its
 * certificate when 65% of its validity has passed (a renewal M1 signed
 * with the current key), serving all the while, and swaps the new key and
 * certificate in without a pause.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cli.h"
#include "net/net.h"

#define SERVER_USAGE \
	"usage: tripki server --dir DIR --id ID --ca HOST:PORT --ca-cert FILE\n" \
	"           [--token TOKEN | --token-file FILE] [--csr] [--register-only]\n" \
	"           [--listen HOST:PORT] [--lifetime SECONDS] [--max-sessions N]\n" \
	"           [--data TEXT | --data-dir DIR] [--max-skew SECONDS]\n" \
	"\n" \
	"Keeps DIR/server.key (0600) and DIR/server.crt.  Without a valid\n" \
	"certificate it registers with the CA first, retrying until it answers;\n" \
	"then it serves clients until SIGTERM or SIGINT, renewing the\n" \
	"certificate when 65% of its validity has passed.\n" \
	"\n" \
	"      --dir DIR        the server's directory (made 0700 if missing)\n" \
	"      --id ID          the server's identity, ID_S (default ID-Server)\n" \
	"      --ca H:P         the CA's address (default 127.0.0.1:7000)\n" \
	"      --ca-cert FILE   the CA certificate: the trust anchor\n" \
	"      --token-file F   the enrollment token from tripki ca enroll, on\n" \
	"                       the first line of F\n" \
	"      --token TOKEN    the same on the command line (others may see it)\n" \
	"      --csr            make our own key and send a certificate request\n" \
	"                       (default: the CA makes the key and sends it in\n" \
	"                       M2, as the seeds did)\n" \
	"      --register-only  obtain (or renew, when due) the certificate,\n" \
	"                       write the files and exit 0\n" \
	"      --listen H:P     address to serve on (default 127.0.0.1:7001)\n" \
	"      --lifetime S     session lifetime, seconds (default 60)\n" \
	"      --max-sessions N sessions held at once, each kept until its\n" \
	"                       lifetime and two skews have passed; past it\n" \
	"                       new clients are told busy (default 100000;\n" \
	"                       about 0.5 KiB each)\n" \
	"      --data TEXT      the answer to request \"memo\" (default: take\n" \
	"                       cis3319 class this morning); others: not found\n" \
	"      --data-dir DIR   answer a request with the file of that name\n" \
	"      --max-skew S     accepted clock difference, seconds (default 60)\n" \
	"      --retry-for S    give up on the CA after S seconds (default: never)\n" \
	"      --timeout S      a frame must arrive whole within S s (default 10)\n" \
	"      --max-conns N    connections served at once (default 4096)\n" \
	TNET_LIMIT_HELP

enum { O_DIR = TCLI_OPT_FIRST_OWN, O_ID, O_CA, O_CA_CERT, O_LISTEN,
	O_LIFETIME, O_DATA, O_DATA_DIR, O_RETRY_FOR, O_CSR, O_TOKEN,
	O_TOKEN_FILE, O_REGISTER_ONLY, O_MAX_SESSIONS };

/* Renewal: at 65% of the validity, before two thirds have passed. */
#define RENEW_AT_PERCENT 65
/* After the CA refused a renewal, ask again this much later. */
#define RENEW_REFUSED_RETRY_MS (3600 * 1000)
/* A long timer is re-armed in steps, so a clock jump is noticed. */
#define RENEW_CHECK_MS (3600 * 1000)

struct srv {
	uv_loop_t loop;
	/* flags */
	const char *dir, *id, *ca, *ca_cert_path, *listen, *data, *data_dir;
	const char *token_file;
	uint64_t lifetime, retry_for_ms, max_sessions;
	int csr, register_only;
	tcli_daemon_flags d;
	tcli_common cm;
	/* state */
	char ca_host[256], listen_host[256];
	uint16_t ca_port, listen_port;
	char keyp[4096], certp[4096], data_real[PATH_MAX];
	uint8_t token[TRIPKI_TOKEN_MAX];
	size_t token_len;
	X509 *ca_cert;
	EVP_PKEY *key;              /* the identity we serve with */
	X509 *cert;
	EVP_PKEY *next_key;         /* --csr: the key the request is for */
	pthread_rwlock_t id_lock;   /* held for writing only to swap keys */
	tripki_enroll *enroll;
	tnet_dial *dial;
	tnet_link *ca_link;
	uv_timer_t retry;           /* next attempt of a phase 1 exchange */
	uv_timer_t renew;           /* when to renew */
	uv_work_t keygen;
	int keygen_busy;
	int in_phase1;              /* an exchange with the CA is under way */
	int renewing;               /* ... and it renews s->cert */
	int64_t renew_after_ms;     /* no renewal before (after a refusal) */
	unsigned tries;
	uint64_t deadline;          /* uv_now(); 0: retry for ever */
	tripki_server *server;
	tnet_daemon *daemon;
	int stopping;
	int exit_code;
};

/* A token is printable ASCII, as tripki ca enroll prints it. */
static int
token_set(struct srv *s, const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > TRIPKI_TOKEN_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (t[i] <= ' ' || t[i] > '~')
			return -1;
	memcpy(s->token, t, n);
	s->token_len = n;
	return 0;
}

static int
opt(void *ctx, int o, const char *arg)
{
	struct srv *s = ctx;

	switch (o) {
	case O_DIR: s->dir = arg; break;
	case O_ID:
		return tcli_opt_id("--id", arg, TRIPKI_ID_MAX, &s->id);
	case O_CA: s->ca = arg; break;
	case O_CA_CERT: s->ca_cert_path = arg; break;
	case O_LISTEN: s->listen = arg; break;
	case O_LIFETIME:
		return tcli_opt_uint("--lifetime", arg, 1, 86400 * 365,
		    "whole seconds, at least 1", &s->lifetime);
	case O_MAX_SESSIONS:
		return tcli_opt_uint("--max-sessions", arg, 1, 10000000,
		    "a count from 1 to 10000000", &s->max_sessions);
	case O_DATA: s->data = arg; break;
	case O_DATA_DIR: s->data_dir = arg; break;
	case O_RETRY_FOR:
		return tcli_opt_seconds("--retry-for", arg, 0,
		    TCLI_RETRY_FOR_MAX_MS, "seconds (0: for ever)",
		    &s->retry_for_ms);
	case O_CSR: s->csr = 1; break;
	case O_REGISTER_ONLY: s->register_only = 1; break;
	case O_TOKEN:
		if (s->token_len > 0 || s->token_file != NULL) {
			tcli_error("give one --token or --token-file");
			return TCLI_EXIT_USAGE;
		}
		if (token_set(s, arg, strlen(arg)) != 0)
			return tcli_bad_value("--token", "...", "1 to 64 "
			    "printable characters, as tripki ca enroll prints");
		/* Out of sight of ps(1) from now on. */
		memset((char *)arg, 'x', strlen(arg));
		break;
	case O_TOKEN_FILE:
		if (s->token_len > 0 || s->token_file != NULL) {
			tcli_error("give one --token or --token-file");
			return TCLI_EXIT_USAGE;
		}
		s->token_file = arg;
		break;
	default:
		return tcli_daemon_opt(&s->d, o, arg);
	}
	return -1;
}

/* The first line of --token-file. */
static int
token_load(struct srv *s)
{
	char buf[TRIPKI_TOKEN_MAX + 4];
	struct stat st;
	size_t n;
	FILE *f;
	int r = -1;

	if ((f = tcli_open_read(s->token_file, "token file", &st)) == NULL)
		return -1;
	if (tcli_too_open(s->token_file, "token file", &st)) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (ferror(f) || token_set(s, buf, n) != 0)
		tcli_error("token file %s: the first line is not an enrollment "
		    "token (1 to 64 printable characters)", s->token_file);
	else
		r = 0;
	OPENSSL_cleanse(buf, sizeof(buf));
	fclose(f);
	return r;
}

/* ---- Shutdown ---- */

static void
shutdown_all(struct srv *s)
{
	s->stopping = 1;
	tnet_dial_cancel(s->dial);
	s->dial = NULL;
	if (s->ca_link != NULL)
		tnet_link_close(s->ca_link, 0);
	tcli_close((uv_handle_t *)&s->retry);
	tcli_close((uv_handle_t *)&s->renew);
	if (s->daemon != NULL)
		tnet_daemon_stop(s->daemon);
	tcli_signals_close();
}

static void
on_signal_stop(void *ctx)
{
	shutdown_all(ctx);
}

/* One line naming what went wrong, then a clean exit with `code`. */
static void
fail(struct srv *s, int code)
{
	if (s->exit_code == 0)
		s->exit_code = code;
	shutdown_all(s);
}

/* ---- Answers: --data or --data-dir ---- */

static int
serve_file(struct srv *s, const char *client, const uint8_t *req,
    size_t len, tripki_buf *data, int *status)
{
	char name[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 2], real[PATH_MAX];
	size_t dl = strlen(s->data_real);
	struct stat st;
	ssize_t n;
	uint8_t chunk[4096];
	int fd = -1, r = TRIPKI_OK;

	*status = TRIPKI_STATUS_REFUSED;
	if (len == 0 || len > NAME_MAX || memchr(req, '\0', len) != NULL ||
	    memchr(req, '/', len) != NULL || (len == 1 && req[0] == '.') ||
	    (len == 2 && req[0] == '.' && req[1] == '.')) {
		tcli_warn("refused request from \"%s\": not a plain file name",
		    client);
		return TRIPKI_OK;
	}
	memcpy(name, req, len);
	name[len] = '\0';
	snprintf(path, sizeof(path), "%s/%s", s->data_real, name);
	if (realpath(path, real) == NULL) {
		*status = TRIPKI_STATUS_NOT_FOUND;
		return TRIPKI_OK;
	}
	/* A symbolic link may point anywhere: the target must stay inside. */
	if (strncmp(real, s->data_real, dl) != 0 ||
	    (real[dl] != '/' && !(dl == 1 && s->data_real[0] == '/'))) {
		tcli_warn("refused request \"%s\" from \"%s\": it leads "
		    "outside %s", name, client, s->data_dir);
		return TRIPKI_OK;
	}
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*status = TRIPKI_STATUS_NOT_FOUND;
		goto out;
	}
	if (st.st_size > TRIPKI_DATA_MAX) {
		tcli_warn("refused request \"%s\" from \"%s\": the file is "
		    "over %d bytes", name, client, TRIPKI_DATA_MAX);
		goto out;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 ||
	    (n < 0 && errno == EINTR))
		if (n > 0 && tripki_buf_append(data, chunk, (size_t)n) !=
		    TRIPKI_OK) {
			tripki_buf_reset(data);
			goto out;
		}
	if (n < 0) {
		tcli_warn("cannot read %s: %s", real, strerror(errno));
		tripki_buf_reset(data);
		r = TRIPKI_E_IO;
		goto out;
	}
	*status = TRIPKI_STATUS_OK;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int
serve(void *ctx, const char *client, const uint8_t *req, size_t len,
    tripki_buf *data, int *status)
{
	struct srv *s = ctx;
	int r;

	if (s->data_dir != NULL)
		return serve_file(s, client, req, len, data, status);
	*status = TRIPKI_STATUS_NOT_FOUND;
	if (len == strlen(TCLI_DEFAULT_REQUEST) &&
	    memcmp(req, TCLI_DEFAULT_REQUEST, len) == 0) {
		if ((r = tripki_buf_append(data, s->data, strlen(s->data))) !=
		    TRIPKI_OK)
			return r;
		*status = TRIPKI_STATUS_OK;
	}
	return TRIPKI_OK;
}

/* ---- Phases 2 and 3 ---- */

static void
log_event(struct srv *s, int r, const tripki_server_event *ev,
    const char *peer)
{
	char sid[2 * TRIPKI_SID_LEN + 1];
	const char *who = ev->client_id[0] ? ev->client_id : "?";
	size_t i;

	if (r == TRIPKI_OK) {
		if (ev->type == TRIPKI_M5 && tcli_log_level() >= TCLI_INFO) {
			for (i = 0; i < 4; i++)
				snprintf(sid + 2 * i, 3, "%02x", ev->sid[i]);
			tcli_info("registered client \"%s\" from %s: session "
			    "%s..., lifetime %u s", who, peer, sid,
			    (unsigned)s->lifetime);
		} else if (ev->type == TRIPKI_M7)
			tcli_debug("answered request %llu of \"%s\" (%s)",
			    (unsigned long long)ev->seq, who, peer);
		return;
	}
	if (r == TRIPKI_E_STALE && ev->skew_ms > 0 &&
	    ev->skew_ms <= tcli_max_skew_ms(&s->cm))
		tcli_warn("refused M%u from %s (%s): stamped %.1f s ago, before "
		    "we started (docs/PROTOCOL.md, 13): its clock is behind "
		    "ours, within the allowed skew", ev->type, peer, who,
		    (double)ev->skew_ms / 1000);
	else if (r == TRIPKI_E_STALE || r == TRIPKI_E_FUTURE)
		tcli_warn("refused M%u from %s (%s): clock skew: its clock is "
		    "%.1f s %s ours (limit %.0f s)", ev->type, peer, who,
		    (double)llabs(ev->skew_ms) / 1000, ev->skew_ms > 0 ?
		    "behind" : "ahead of", (double)tcli_max_skew_ms(&s->cm) /
		    1000);
	else if (r == TRIPKI_E_SESSION_EXPIRED)
		tcli_info("session of \"%s\" (%s) expired: told it to register "
		    "again", who, peer);
	else
		tcli_warn("refused M%u from %s (%s): %s", ev->type, peer, who,
		    tripki_strerror(r));
}

static int
role_handle(void *ctx, const uint8_t *f, size_t n, int64_t now,
    const char *peer, tripki_buf *out)
{
	struct srv *s = ctx;
	tripki_server_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	r = tripki_server_handle(s->server, f, n, now, out, &ev);
	if (ev.type == 0 && n > 1)
		ev.type = f[1];
	log_event(s, r, &ev, peer);
	return r;
}

static void *
role_open(void *ctx, const uint8_t *f, size_t n)
{
	struct srv *s = ctx;
	tripki_server_req *req = NULL;

	/* A renewal swaps the key under us: see swap_identity. */
	(void)pthread_rwlock_rdlock(&s->id_lock);
	(void)tripki_server_open(s->server, f, n, &req);
	(void)pthread_rwlock_unlock(&s->id_lock);
	return req;
}

static int
role_finish(void *ctx, void *req, int64_t now, const char *peer,
    tripki_buf *out)
{
	struct srv *s = ctx;
	tripki_server_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	if (req == NULL) {
		tripki_buf_reset(out);
		(void)tripki_frame_error(out, TRIPKI_E_NOMEM);
		r = TRIPKI_E_NOMEM;
	} else
		r = tripki_server_finish(s->server, req, now, out, &ev);
	log_event(s, r, &ev, peer);
	return r;
}

static void
role_free(void *req)
{
	tripki_server_req_free(req);
}

static void
on_stopped(void *ctx)
{
	struct srv *s = ctx;

	s->daemon = NULL;
	if (s->exit_code == 0)
		tcli_info("stopped");
}


/* ---- Certificate dates ---- */

static int64_t
asn1_ms(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

/* When a certificate is due for renewal: 65% of the way through. */
static int64_t
renew_due_ms(X509 *cert)
{
	int64_t nb = asn1_ms(X509_get0_notBefore(cert));
	int64_t na = asn1_ms(X509_get0_notAfter(cert));

	return nb + (na - nb) / 100 * RENEW_AT_PERCENT;
}

/* ---- Serving ---- */

static void schedule_renewal(struct srv *s);

static void
start_serving(struct srv *s)
{
	tripki_server_config cfg;
	char err[300], until[40];
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = s->id;
	cfg.key = s->key;
	cfg.cert = s->cert;
	cfg.lifetime_s = (uint32_t)s->lifetime;
	cfg.max_sessions = (size_t)s->max_sessions;
	cfg.serve = serve;
	cfg.serve_ctx = s;
	tcli_core_common(&s->cm, &cfg.common);
	/* An M5 stamped before we started may be one we already saw. */
	if (cfg.common.started_ms == 0)
		cfg.common.started_ms = tnet_now_ms();
	if ((r = tripki_server_new(&cfg, &s->server)) != TRIPKI_OK) {
		tcli_error("cannot serve with %s and %s: %s", s->keyp, s->certp,
		    tripki_strerror(r));
		fail(s, TCLI_EXIT_FAIL);
		return;
	}
	if (tnet_daemon_listen(s->daemon, err, sizeof(err)) != 0) {
		tcli_error("%s", err);
		fail(s, TCLI_EXIT_FAIL);
		return;
	}
	tcli_time_str(asn1_ms(X509_get0_notAfter(s->cert)), until, sizeof(until));
	tcli_info("server \"%s\" listening on %s (certificate valid until %s)",
	    s->id, tnet_daemon_addr(s->daemon), until);
	schedule_renewal(s);
}

/*
 * The renewed key and certificate replace the old ones for every new
 * exchange.  Opens of M5 run on the thread pool and read the key: they
 * hold the lock for reading, the swap for writing, so none sees it change
 * half-way.  Sessions already made keep their session keys.
 */
static int
swap_identity(struct srv *s, EVP_PKEY *key, X509 *cert)
{
	int r;

	(void)pthread_rwlock_wrlock(&s->id_lock);
	r = tripki_server_set_identity(s->server, key, cert);
	(void)pthread_rwlock_unlock(&s->id_lock);
	return r;
}

/* ---- Phase 1: registering with the CA, and renewing ---- */

static void enroll_begin(struct srv *s);
static void phase1_start(struct srv *s);

static void
on_retry(uv_timer_t *t)
{
	enroll_begin(t->data);
}

static void
on_renew_timer(uv_timer_t *t)
{
	schedule_renewal(t->data);
}

/* Arms the renewal timer, or renews now when it is due. */
static void
schedule_renewal(struct srv *s)
{
	int64_t due, now = tnet_now_ms();
	char when[40];

	if (s->stopping || s->in_phase1 || s->cert == NULL)
		return;
	due = renew_due_ms(s->cert);
	if (due < s->renew_after_ms)
		due = s->renew_after_ms;
	if (due <= now) {
		phase1_start(s);
		return;
	}
	tcli_time_str(due, when, sizeof(when));
	tcli_debug("renewal due at %s", when);
	uv_timer_start(&s->renew, on_renew_timer, (uint64_t)(due - now) >
	    RENEW_CHECK_MS ? RENEW_CHECK_MS : (uint64_t)(due - now), 0);
}

/* Between attempts: 100 ms to 5 s for a first registration; a renewal,
 * with a valid certificate in hand, backs off to 5 minutes. */
static uint64_t
attempt_backoff(struct srv *s)
{
	uint64_t base = 1000;
	unsigned i;

	if (!s->renewing || s->register_only)
		return tnet_backoff_ms(s->tries);
	for (i = 1; i < s->tries && base < 300000; i++)
		base *= 2;
	if (base > 300000)
		base = 300000;
	return base * 3 / 4 + (uint64_t)(rand() % (int)(base / 2 + 1));
}

static void
phase1_end(struct srv *s)
{
	if (s->ca_link != NULL)
		tnet_link_close(s->ca_link, 0);
	tripki_enroll_free(s->enroll);
	s->enroll = NULL;
	EVP_PKEY_free(s->next_key);
	s->next_key = NULL;
	s->in_phase1 = 0;
}

/* Tries again after a backoff, unless --retry-for has run out. */
static void
enroll_again(struct srv *s, const char *why)
{
	uint64_t wait;

	s->tries++;
	wait = attempt_backoff(s);
	if (s->ca_link != NULL)
		tnet_link_close(s->ca_link, 0);
	tripki_enroll_free(s->enroll);
	s->enroll = NULL;
	if (s->deadline != 0 && uv_now(&s->loop) + wait >= s->deadline) {
		tcli_error("CA at %s did not %s us within %.0f s: %s",
		    s->ca, s->renewing ? "renew" : "register",
		    (double)s->retry_for_ms / 1000, why);
		fail(s, TCLI_EXIT_UNREACHABLE);
		return;
	}
	tcli_info("CA at %s: %s; trying again in %.1f s", s->ca, why,
	    (double)wait / 1000);
	uv_timer_start(&s->retry, on_retry, wait, 0);
}

/*
 * The CA said no, or answered what we cannot accept.  A first
 * registration (or --register-only) ends there; a running server keeps
 * serving with the certificate it has and asks again later.
 */
static void
phase1_refused(struct srv *s, int code)
{
	char until[40], when[40];

	phase1_end(s);
	if (!s->renewing || s->register_only || s->server == NULL) {
		fail(s, code);
		return;
	}
	s->renew_after_ms = tnet_now_ms() + RENEW_REFUSED_RETRY_MS;
	tcli_time_str(asn1_ms(X509_get0_notAfter(s->cert)), until, sizeof(until));
	tcli_time_str(s->renew_after_ms, when, sizeof(when));
	tcli_warn("serving on with the current certificate (valid until %s); "
	    "next renewal attempt at %s", until, when);
	schedule_renewal(s);
}

static void
enrolled(struct srv *s)
{
	EVP_PKEY *key = tripki_enroll_key(s->enroll);
	X509 *cert = tripki_enroll_cert(s->enroll);
	char cn[TRIPKI_ID_MAX + 1] = "?", serial[80], until[40];
	int renewed = s->renewing, r;

	phase1_end(s);
	/* Files first: what we serve with is what a restart finds. */
	if (tcli_pair_save(s->keyp, key == s->key ? NULL : key, s->certp,
	    cert) != 0) {
		EVP_PKEY_free(key);
		X509_free(cert);
		if (renewed && s->server != NULL && !s->register_only) {
			s->renew_after_ms = tnet_now_ms() +
			    RENEW_REFUSED_RETRY_MS;
			schedule_renewal(s);
		} else
			fail(s, TCLI_EXIT_FAIL);
		return;
	}
	if (s->server != NULL && (r = swap_identity(s, key, cert)) !=
	    TRIPKI_OK) {
		tcli_error("cannot serve with the renewed certificate: %s",
		    tripki_strerror(r));
		EVP_PKEY_free(key);
		X509_free(cert);
		fail(s, TCLI_EXIT_FAIL);
		return;
	}
	EVP_PKEY_free(s->key);
	s->key = key;
	X509_free(s->cert);
	s->cert = cert;
	s->renew_after_ms = 0;
	(void)tcli_cert_cn(s->ca_cert, cn, sizeof(cn));
	tcli_cert_serial(cert, serial, sizeof(serial));
	tcli_time_str(asn1_ms(X509_get0_notAfter(cert)), until, sizeof(until));
	tcli_info("%s with CA \"%s\": serial %s, valid until %s, key made by "
	    "%s; wrote %s", renewed ? "renewed our certificate" : "registered",
	    cn, serial, until, s->csr ? "us" : "the CA", s->certp);
	if (s->register_only)
		shutdown_all(s);
	else if (s->server == NULL)
		start_serving(s);
	else
		schedule_renewal(s);
}

static void
ca_refused(struct srv *s, int code)
{
	char serial[80];

	switch (code) {
	case TRIPKI_E_BUSY:
	case TRIPKI_E_REPLAY:
	case TRIPKI_E_INTERNAL:
		enroll_again(s, tripki_strerror(code));
		return;
	case TRIPKI_E_NOT_AUTHORIZED:
		if (s->renewing) {
			tcli_cert_serial(s->cert, serial, sizeof(serial));
			tcli_error("the CA refused to renew our certificate "
			    "(serial %s): not authorized: it was revoked, or "
			    "the CA does not know it (its log says why)",
			    serial);
		} else if (s->token_len > 0)
			tcli_error("the CA refused to issue a certificate for "
			    "\"%s\": not authorized: the enrollment token is "
			    "unknown, used, expired or made for another "
			    "identity (the CA's log says which)", s->id);
		else
			tcli_error("the CA refused to issue a certificate for "
			    "\"%s\": not authorized: ask its operator for an "
			    "enrollment token (tripki ca enroll --id %s) and "
			    "pass it with --token-file", s->id, s->id);
		break;
	case TRIPKI_E_STALE:
		/* docs/PROTOCOL.md, section 13: the start-time rule. */
		tcli_error("the CA refused our request: %s: our clock is "
		    "behind the CA's by more than its allowed skew, or by less "
		    "but the CA started after our M1 was stamped (try again "
		    "once it has run for longer than that)",
		    tripki_strerror(code));
		break;
	case TRIPKI_E_FUTURE:
		tcli_error("the CA refused our request: %s: our clock and the "
		    "CA's differ by more than its allowed skew",
		    tripki_strerror(code));
		break;
	default:
		tcli_error("the CA refused our request: %s",
		    tripki_strerror(code));
	}
	phase1_refused(s, TCLI_EXIT_REFUSED);
}

static int
ca_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t type)
{
	struct srv *s = l->data;
	int r;

	(void)type;
	if (err != TRIPKI_OK) {
		enroll_again(s, "it sent bytes that are not a tripki frame");
		return 0;
	}
	r = tripki_enroll_recv(s->enroll, f, n, tnet_now_ms());
	if (r == TRIPKI_OK)
		enrolled(s);
	else if (r == TRIPKI_E_PEER)
		ca_refused(s, tripki_enroll_peer_error(s->enroll));
	else {
		tcli_error("rejected the CA's answer: %s", tripki_strerror(r));
		phase1_refused(s, TCLI_EXIT_REJECTED);
	}
	return 0;
}

static void
ca_end(tnet_link *l, int uv_err)
{
	struct srv *s = l->data;
	char why[128];

	if (uv_err == UV_ETIMEDOUT)
		snprintf(why, sizeof(why), "no answer within %.0f s",
		    (double)l->timeout_ms / 1000);
	else
		snprintf(why, sizeof(why), "connection lost (%s)",
		    uv_strerror(uv_err));
	s->ca_link = NULL;
	enroll_again(s, why);
}

static void
ca_close(tnet_link *l)
{
	struct srv *s = l->data;

	if (s->ca_link == l)
		s->ca_link = NULL;
}

static const tnet_link_ops ca_ops = { ca_frame, ca_end, ca_close };

static void
on_ca_dial(void *ctx, tnet_link *l, int uv_err)
{
	struct srv *s = ctx;
	tripki_enroll_config cfg;
	tripki_buf m1;
	int r;

	s->dial = NULL;
	if (l == NULL) {
		tcli_error("CA at %s unreachable after %.0f s: %s", s->ca,
		    (double)s->retry_for_ms / 1000, uv_strerror(uv_err));
		fail(s, TCLI_EXIT_UNREACHABLE);
		return;
	}
	s->ca_link = l;
	if (tnet_link_start(l, &ca_ops, s, s->d.timeout_ms ? s->d.timeout_ms :
	    TNET_DEFAULT_TIMEOUT_MS, 0) != 0) {
		enroll_again(s, "connection lost");
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = s->id;
	cfg.ca_cert = s->ca_cert;
	cfg.csr_key = s->csr ? s->next_key : NULL;
	if (s->renewing) {
		/* The current key signs the request: no token needed. */
		cfg.renew_key = s->key;
		cfg.renew_cert = s->cert;
	} else {
		cfg.token = s->token;
		cfg.token_len = s->token_len;
	}
	tcli_core_common(&s->cm, &cfg.common);
	tripki_buf_init(&m1, TRIPKI_FRAME_MAX);
	if ((r = tripki_enroll_new(&cfg, &s->enroll)) != TRIPKI_OK ||
	    (r = tripki_enroll_start(s->enroll, tnet_now_ms(), &m1)) !=
	    TRIPKI_OK) {
		tcli_error("cannot make M1: %s", tripki_strerror(r));
		fail(s, TCLI_EXIT_FAIL);
	} else if (tnet_link_send(l, m1.data, m1.len) != 0)
		enroll_again(s, "connection lost");
	tripki_buf_free(&m1);
}

static void
enroll_begin(struct srv *s)
{
	uint64_t left = 0;
	int r;

	if (s->stopping)
		return;
	if (s->deadline != 0) {
		uv_update_time(&s->loop);
		left = s->deadline > uv_now(&s->loop) ?
		    s->deadline - uv_now(&s->loop) : 1;
	}
	if ((r = tnet_dial_start(&s->loop, s->ca_host, s->ca_port, left,
	    on_ca_dial, s, &s->dial)) != 0) {
		tcli_error("cannot reach the CA at %s: %s", s->ca,
		    uv_strerror(r));
		fail(s, TCLI_EXIT_UNREACHABLE);
	}
}

/* --csr: a new key pair, made on the thread pool so serving goes on. */
static void
keygen_work(uv_work_t *w)
{
	struct srv *s = w->data;

	if (tripki_key_generate(2048, &s->next_key) != TRIPKI_OK)
		s->next_key = NULL;
}

static void
keygen_done(uv_work_t *w, int status)
{
	struct srv *s = w->data;

	(void)status;
	s->keygen_busy = 0;
	if (s->stopping)
		return;
	if (s->next_key == NULL) {
		tcli_error("cannot generate a key pair");
		phase1_refused(s, TCLI_EXIT_FAIL);
		return;
	}
	enroll_begin(s);
}

/* A registration (no usable certificate) or a renewal (s->cert). */
static void
phase1_start(struct srv *s)
{
	char serial[80];

	if (s->stopping || s->in_phase1)
		return;
	s->in_phase1 = 1;
	s->renewing = s->cert != NULL;
	s->tries = 0;
	uv_update_time(&s->loop);
	s->deadline = s->retry_for_ms && (!s->renewing || s->register_only) ?
	    uv_now(&s->loop) + s->retry_for_ms : 0;
	if (s->renewing) {
		tcli_cert_serial(s->cert, serial, sizeof(serial));
		tcli_info("renewing our certificate (serial %s) with the CA at "
		    "%s", serial, s->ca);
	} else
		tcli_info("registering \"%s\" with the CA at %s (%s, %s)", s->id,
		    s->ca, s->token_len ? "with an enrollment token" :
		    "no enrollment token", s->csr ? "our own key, CSR" :
		    "key made by the CA");
	if (!s->csr) {
		enroll_begin(s);
		return;
	}
	/* A first registration uses the stored key; a renewal a new one. */
	if (!s->renewing && s->key != NULL) {
		EVP_PKEY_up_ref(s->key);
		s->next_key = s->key;
		enroll_begin(s);
		return;
	}
	s->keygen.data = s;
	if (uv_queue_work(&s->loop, &s->keygen, keygen_work,
	    keygen_done) != 0) {
		tcli_error("cannot generate a key pair");
		phase1_refused(s, TCLI_EXIT_FAIL);
		return;
	}
	s->keygen_busy = 1;
}

/* ---- Start ---- */

/* Loads what DIR holds; 1 when the stored certificate is good to serve. */
static int
load_stored(struct srv *s)
{
	X509 *rec = NULL;
	int r = TRIPKI_E_CERT_INVALID;

	if (tcli_exists(s->keyp) && tcli_key_load(s->keyp, &s->key) != 0)
		return -1;
	if (s->key == NULL)
		return 0;
	if (tcli_exists(s->certp)) {
		if (tcli_cert_load(s->certp, &s->cert) != 0)
			return -1;
		r = tripki_cert_verify(s->ca_cert, s->cert, s->id, NULL, NULL,
		    tnet_now_ms());
		if (r == TRIPKI_OK &&
		    X509_check_private_key(s->cert, s->key) != 1)
			r = TRIPKI_E_CERT_KEY;
	}
	/* A save cut between its two renames left CERT.tmp to finish. */
	if (r != TRIPKI_OK && tcli_pair_recover(s->certp, s->key, &rec) &&
	    tripki_cert_verify(s->ca_cert, rec, s->id, s->key, NULL,
	    tnet_now_ms()) == TRIPKI_OK) {
		tcli_info("finished writing %s, cut short by a crash", s->certp);
		X509_free(s->cert);
		s->cert = rec;
		return 1;
	}
	X509_free(rec);
	if (r == TRIPKI_OK)
		return 1;
	if (s->cert != NULL)
		tcli_info("stored certificate %s not usable (%s): registering "
		    "again", s->certp, tripki_strerror(r));
	X509_free(s->cert);
	s->cert = NULL;
	return 0;
}

static int
prepare(struct srv *s)
{
	struct stat st;
	int r;

	if (s->data != NULL && s->data_dir != NULL) {
		tcli_error("--data and --data-dir do not go together");
		return TCLI_EXIT_USAGE;
	}
	if ((r = tcli_opt_hostport("--ca", s->ca, s->ca_host,
	    sizeof(s->ca_host), &s->ca_port)) >= 0 ||
	    (r = tcli_opt_hostport("--listen", s->listen, s->listen_host,
	    sizeof(s->listen_host), &s->listen_port)) >= 0)
		return r;
	if (s->dir == NULL || s->ca_cert_path == NULL)
		return tcli_required(s->dir == NULL ? "--dir" : "--ca-cert");
	if (s->data == NULL)
		s->data = TCLI_DEFAULT_DATA;
	if ((r = tcli_opt_data("--data", s->data, &s->data)) >= 0)
		return r;
	if (s->data_dir != NULL && (realpath(s->data_dir, s->data_real) ==
	    NULL || stat(s->data_real, &st) != 0 || !S_ISDIR(st.st_mode))) {
		tcli_error("--data-dir %s: %s", s->data_dir,
		    errno ? strerror(errno) : "not a directory");
		return TCLI_EXIT_FAIL;
	}
	if (s->token_file != NULL && token_load(s) != 0)
		return TCLI_EXIT_FAIL;
	if (tcli_path(s->keyp, sizeof(s->keyp), s->dir, "server.key") != 0 ||
	    tcli_path(s->certp, sizeof(s->certp), s->dir, "server.crt") != 0 ||
	    tcli_mkdir(s->dir) != 0 ||
	    tcli_cert_load(s->ca_cert_path, &s->ca_cert) != 0)
		return TCLI_EXIT_FAIL;
	return -1;
}

/* --register-only with a certificate that is not due: nothing to do. */
static void
nothing_due(struct srv *s)
{
	char until[40], due[40];

	tcli_time_str(asn1_ms(X509_get0_notAfter(s->cert)), until, sizeof(until));
	tcli_time_str(renew_due_ms(s->cert), due, sizeof(due));
	tcli_info("%s is valid until %s; renewal is due at %s: nothing to do",
	    s->certp, until, due);
}

int
tcli_server_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "id", required_argument, NULL, O_ID },
		{ "ca", required_argument, NULL, O_CA },
		{ "ca-cert", required_argument, NULL, O_CA_CERT },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "lifetime", required_argument, NULL, O_LIFETIME },
		{ "max-sessions", required_argument, NULL, O_MAX_SESSIONS },
		{ "data", required_argument, NULL, O_DATA },
		{ "data-dir", required_argument, NULL, O_DATA_DIR },
		{ "retry-for", required_argument, NULL, O_RETRY_FOR },
		{ "csr", no_argument, NULL, O_CSR },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "token-file", required_argument, NULL, O_TOKEN_FILE },
		{ "register-only", no_argument, NULL, O_REGISTER_ONLY },
		TCLI_DAEMON_OPTIONS,
		TCLI_COMMON_OPTIONS
	};
	tnet_daemon_config dc;
	struct srv *s;
	char err[300];
	int r, stored, loop_ok = 0, lock_ok = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TCLI_EXIT_FAIL;
	s->id = TCLI_DEFAULT_SERVER_ID;
	s->ca = TCLI_DEFAULT_CA_ADDR;
	s->listen = TCLI_DEFAULT_SERVER_ADDR;
	s->lifetime = TCLI_DEFAULT_LIFETIME;
	if ((r = tcli_parse(argc, argv, opts, SERVER_USAGE, opt, s,
	    &s->cm)) >= 0 || (r = prepare(s)) >= 0)
		goto out;
	s->cm.max_skew_ms = (int64_t)s->d.skew_ms;
	r = TCLI_EXIT_FAIL;
	if (pthread_rwlock_init(&s->id_lock, NULL) != 0)
		goto out;
	lock_ok = 1;
	tcli_threadpool_init();
	if (uv_loop_init(&s->loop) != 0)
		goto out;
	loop_ok = 1;
	(void)uv_timer_init(&s->loop, &s->retry);
	(void)uv_timer_init(&s->loop, &s->renew);
	s->retry.data = s->renew.data = s;
	if (!s->register_only) {
		tcli_daemon_config(&s->d, s->listen_host, s->listen_port, &dc);
		dc.role.handle = role_handle;
		dc.role.open = role_open;
		dc.role.finish = role_finish;
		dc.role.req_free = role_free;
		dc.role.ctx = s;
		dc.on_stopped = on_stopped;
		dc.ctx = s;
		/* Bound first, so "address in use" is said before anything. */
		if (tnet_daemon_bind(&s->loop, &dc, &s->daemon, err,
		    sizeof(err)) != 0) {
			tcli_error("%s", err);
			s->daemon = NULL;
			goto out;
		}
	}
	if ((stored = load_stored(s)) < 0)
		goto stop;
	if (tcli_signals_start(&s->loop, on_signal_stop, s) != 0) {
		tcli_error("cannot catch SIGTERM and SIGINT");
		goto stop;
	}
	if (!stored)
		phase1_start(s);
	else if (!s->register_only)
		start_serving(s);      /* and renews when due */
	else if (renew_due_ms(s->cert) <= tnet_now_ms())
		phase1_start(s);
	else {
		nothing_due(s);
		shutdown_all(s);
	}
	(void)uv_run(&s->loop, UV_RUN_DEFAULT);
	r = s->exit_code;
	goto out;
stop:
	fail(s, TCLI_EXIT_FAIL);
	(void)uv_run(&s->loop, UV_RUN_DEFAULT);
	r = TCLI_EXIT_FAIL;
out:
	if (loop_ok) {
		tcli_close((uv_handle_t *)&s->retry);
		tcli_close((uv_handle_t *)&s->renew);
		tcli_signals_close();
		tcli_loop_end(&s->loop);
	}
	if (lock_ok)
		(void)pthread_rwlock_destroy(&s->id_lock);
	tripki_server_free(s->server);
	tripki_enroll_free(s->enroll);
	EVP_PKEY_free(s->key);
	EVP_PKEY_free(s->next_key);
	X509_free(s->cert);
	X509_free(s->ca_cert);
	OPENSSL_cleanse(s->token, sizeof(s->token));
	free(s);
	return r;
}
