/*
 * tripki ca init: make the CA's key and self-signed certificate.
 * tripki ca serve: answer phase 1 (M1 -> M2) until SIGTERM or SIGINT.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cli.h"
#include "net/net.h"
#include "policy.h"

#define CA_USAGE \
	"usage: tripki ca init --dir DIR [--id ID] [--bits N] [--days N]\n" \
	"       tripki ca serve --dir DIR [--listen HOST:PORT] [--open] " \
	"[--allow ID]...\n" \
	"\n" \
	"  init   writes DIR/ca.key (mode 0600) and DIR/ca.crt, a self-signed\n" \
	"         CA certificate with CN=ID\n" \
	"  serve  issues server certificates (phase 1, M1 -> M2)\n" \
	"\n" \
	"tripki ca init --help and tripki ca serve --help list the flags.\n"

#define INIT_USAGE \
	"usage: tripki ca init --dir DIR [--id ID] [--bits N] [--days N]\n" \
	"\n" \
	"Writes DIR/ca.key (PKCS#8 PEM, mode 0600) and DIR/ca.crt (self-signed\n" \
	"X.509 v3 CA certificate, CN=ID).  Refuses to overwrite a key.\n" \
	"\n" \
	"      --dir DIR        the CA's directory (made 0700 if missing)\n" \
	"      --id ID          the CA's identity, ID_CA (default ID-CA)\n" \
	"      --bits N         RSA key size: 2048 (default), 3072 or 4096\n" \
	"      --days N         certificate validity (default 3650)\n"

#define SERVE_USAGE \
	"usage: tripki ca serve --dir DIR [--listen HOST:PORT] [--open] " \
	"[--allow ID]...\n" \
	"\n" \
	"Answers M1 with M2: a key pair and certificate (or a certificate for\n" \
	"the server's own key) for the identity asked, when policy allows.\n" \
	"\n" \
	"      --dir DIR        holds ca.key and ca.crt (tripki ca init)\n" \
	"      --listen H:P     address to listen on (default 127.0.0.1:7000)\n" \
	"      --open           issue to any identity, as the seeds' CA did\n" \
	"      --allow ID       issue to this identity (repeatable)\n" \
	"      --days N         validity of issued certificates (default 90)\n" \
	"      --max-skew S     accepted clock difference, seconds (default 60)\n" \
	"      --timeout S      handshake/idle timeout, seconds (default 10)\n" \
	"      --max-conns N    connections served at once (default 512)\n"

/* ---- ca init ---- */

enum { O_DIR = TCLI_OPT_FIRST_OWN, O_ID, O_BITS, O_DAYS, O_LISTEN, O_OPEN,
	O_ALLOW, O_MAX_SKEW, O_TIMEOUT, O_MAX_CONNS };

struct init_opts {
	const char *dir;
	const char *id;
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
		if (!tripki_id_valid(arg, strlen(arg)))
			return tcli_bad_value("--id", arg,
			    "1 to 255 printable ASCII characters");
		o->id = arg;
		break;
	case O_BITS:
		if (tcli_uint(arg, 2048, 4096, &o->bits) != 0 ||
		    (o->bits != 2048 && o->bits != 3072 && o->bits != 4096))
			return tcli_bad_value("--bits", arg,
			    "use 2048, 3072 or 4096");
		break;
	case O_DAYS:
		if (tcli_uint(arg, 1, 36500, &o->days) != 0)
			return tcli_bad_value("--days", arg,
			    "a number of days from 1 to 36500");
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
		TCLI_COMMON_OPTIONS
	};
	struct init_opts o = { NULL, TCLI_DEFAULT_CA_ID, 2048, 3650 };
	char keyp[4096], certp[4096];
	tripki_common core;
	tcli_common cm;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r;

	memset(&cm, 0, sizeof(cm));
	if ((r = tcli_parse(argc, argv, opts, INIT_USAGE, init_opt, &o,
	    &cm)) >= 0)
		return r;
	if (o.dir == NULL) {
		tcli_error("--dir is required (see tripki ca init --help)");
		return TCLI_EXIT_USAGE;
	}
	r = TCLI_EXIT_FAIL;
	if (tcli_path(keyp, sizeof(keyp), o.dir, "ca.key") != 0 ||
	    tcli_path(certp, sizeof(certp), o.dir, "ca.crt") != 0 ||
	    tcli_mkdir(o.dir) != 0)
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
	if (tcli_key_save(keyp, key) != 0 || tcli_cert_save(certp, cert) != 0)
		goto out;
	tcli_info("wrote %s (mode 0600) and %s: CA \"%s\", RSA-%d, valid %d "
	    "days", keyp, certp, o.id, (int)o.bits, (int)o.days);
	r = TCLI_EXIT_OK;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

/* ---- ca serve ---- */

struct serve_opts {
	const char *dir;
	const char *listen;
	int open;
	uint64_t days;
	uint64_t skew_ms;
	uint64_t timeout_ms;
	uint64_t max_conns;
	tcli_policy *policy;
};

struct ca_srv {
	uv_loop_t loop;
	int serving;
	tripki_ca *ca;
	tnet_daemon *daemon;
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
	case O_ALLOW:
		if (tcli_policy_allow(o->policy, arg) != TRIPKI_OK)
			return tcli_bad_value("--allow", arg,
			    "1 to 255 printable ASCII characters");
		break;
	case O_DAYS:
		if (tcli_uint(arg, 1, 36500, &o->days) != 0)
			return tcli_bad_value("--days", arg,
			    "a number of days from 1 to 36500");
		break;
	case O_MAX_SKEW:
		if (tcli_seconds(arg, 1, 86400000, &o->skew_ms) != 0)
			return tcli_bad_value("--max-skew", arg,
			    "seconds, more than 0, at most 86400");
		break;
	case O_TIMEOUT:
		if (tcli_seconds(arg, 100, 3600000, &o->timeout_ms) != 0)
			return tcli_bad_value("--timeout", arg,
			    "seconds, from 0.1 to 3600");
		break;
	case O_MAX_CONNS:
		if (tcli_uint(arg, 1, 1000000, &o->max_conns) != 0)
			return tcli_bad_value("--max-conns", arg,
			    "a number from 1 to 1000000");
		break;
	}
	return -1;
}

static void
log_refusal(int r, const char *peer)
{
	if (r == TRIPKI_E_STALE || r == TRIPKI_E_FUTURE)
		tcli_warn("refused M1 from %s: %s: its clock and ours differ "
		    "by more than --max-skew, or the message was delayed",
		    peer, tripki_strerror(r));
	else if (r != TRIPKI_E_NOT_AUTHORIZED) /* the policy said why */
		tcli_warn("refused a request from %s: %s", peer,
		    tripki_strerror(r));
}

static int
role_handle(void *ctx, const uint8_t *f, size_t n, int64_t now,
    const char *peer, tripki_buf *out)
{
	int r = tripki_ca_handle(ctx, f, n, now, peer, out);

	if (r != TRIPKI_OK)
		log_refusal(r, peer);
	return r;
}

static void *
role_open(void *ctx, const uint8_t *f, size_t n)
{
	tripki_ca_req *req = NULL;

	(void)tripki_ca_open(ctx, f, n, &req);
	return req;
}

static int
role_finish(void *ctx, void *req, int64_t now, const char *peer,
    tripki_buf *out)
{
	int r;

	if (req == NULL) {
		tripki_buf_reset(out);
		(void)tripki_frame_error(out, TRIPKI_E_NOMEM);
		r = TRIPKI_E_NOMEM;
	} else
		r = tripki_ca_finish(ctx, req, now, peer, out);
	if (r != TRIPKI_OK)
		log_refusal(r, peer);
	return r;
}

static void
role_free(void *req)
{
	tripki_ca_req_free(req);
}

/* Until the store records issuances, the log does. */
static int
record(void *ctx, const tripki_issued *is, int64_t now_ms)
{
	char hex[2 * 32 + 1];
	size_t i;

	(void)ctx;
	(void)now_ms;
	for (i = 0; i < is->serial_len && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", is->serial[i]);
	hex[2 * i] = '\0';
	tcli_info("issued a certificate for \"%s\" to %s: serial %s, %s",
	    is->id, is->peer != NULL ? is->peer : "?", hex,
	    is->csr ? "for the server's own key" : "with a key made here");
	return TRIPKI_OK;
}

static void
note(void *ctx, int level, const char *line)
{
	(void)ctx;
	tcli_log(level == TNET_WARN ? TCLI_WARN : level == TNET_INFO ?
	    TCLI_INFO : TCLI_DEBUG, "%s", line);
}

static void
on_stopped(void *ctx)
{
	struct ca_srv *s = ctx;

	s->daemon = NULL;
	if (s->serving)
		tcli_info("stopped");
}

static void
stop(void *ctx)
{
	struct ca_srv *s = ctx;

	if (s->daemon != NULL)
		tnet_daemon_stop(s->daemon);
}

static int
ca_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "open", no_argument, NULL, O_OPEN },
		{ "allow", required_argument, NULL, O_ALLOW },
		{ "days", required_argument, NULL, O_DAYS },
		{ "max-skew", required_argument, NULL, O_MAX_SKEW },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		TCLI_COMMON_OPTIONS
	};
	struct serve_opts o;
	struct ca_srv s;
	tripki_ca_config cfg;
	tnet_daemon_config dc;
	tcli_common cm;
	char keyp[4096], certp[4096], host[256], cn[TRIPKI_ID_MAX + 1];
	char err[300];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint16_t port;
	int r, e, loop_ok = 0;

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	memset(&cm, 0, sizeof(cm));
	o.listen = TCLI_DEFAULT_CA_ADDR;
	if (tcli_policy_new(&o.policy) != TRIPKI_OK)
		return TCLI_EXIT_FAIL;
	if ((r = tcli_parse(argc, argv, opts, SERVE_USAGE, serve_opt, &o,
	    &cm)) >= 0)
		goto out;
	r = TCLI_EXIT_USAGE;
	if (o.dir == NULL) {
		tcli_error("--dir is required (see tripki ca serve --help)");
		goto out;
	}
	if (tcli_hostport(o.listen, host, sizeof(host), &port) != 0) {
		r = tcli_bad_value("--listen", o.listen, "expected HOST:PORT");
		goto out;
	}
	if (o.open && tcli_policy_count(o.policy) > 0) {
		tcli_error("--open and --allow do not go together: --open "
		    "already issues to anyone");
		goto out;
	}
	r = TCLI_EXIT_FAIL;
	if (o.open)
		tcli_policy_set_open(o.policy);
	cm.max_skew_ms = (int64_t)o.skew_ms;
	if (tcli_path(keyp, sizeof(keyp), o.dir, "ca.key") != 0 ||
	    tcli_path(certp, sizeof(certp), o.dir, "ca.crt") != 0 ||
	    tcli_key_load(keyp, &key) != 0 || tcli_cert_load(certp, &cert) != 0)
		goto out;
	if (tcli_cert_cn(cert, cn, sizeof(cn)) != 0) {
		tcli_error("%s has no usable subject CN", certp);
		goto out;
	}
	if ((e = tripki_cert_verify(cert, cert, cn, key, NULL,
	    tnet_now_ms())) != TRIPKI_OK) {
		tcli_error("CA certificate %s unusable with %s: %s", certp, keyp,
		    tripki_strerror(e));
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = cn;
	cfg.key = key;
	cfg.cert = cert;
	cfg.cert_days = (uint32_t)o.days;
	cfg.authorize = tcli_policy_authorize;
	cfg.authorize_ctx = o.policy;
	cfg.record = record;
	tcli_core_common(&cm, &cfg.common);
	if ((e = tripki_ca_new(&cfg, &s.ca)) != TRIPKI_OK) {
		tcli_error("cannot start the CA: %s", tripki_strerror(e));
		goto out;
	}
	tcli_threadpool_init();
	if (uv_loop_init(&s.loop) != 0)
		goto out;
	loop_ok = 1;
	memset(&dc, 0, sizeof(dc));
	dc.host = host;
	dc.port = port;
	dc.max_conns = (size_t)o.max_conns;
	dc.timeout_ms = o.timeout_ms;
	dc.role.handle = role_handle;
	dc.role.open = role_open;
	dc.role.finish = role_finish;
	dc.role.req_free = role_free;
	dc.role.ctx = s.ca;
	dc.on_stopped = on_stopped;
	dc.note = note;
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
	tcli_info("CA \"%s\" listening on %s", cn, tnet_daemon_addr(s.daemon));
	if (o.open)
		tcli_warn("--open: issuing certificates to ANY identity that "
		    "asks, as the seeds' CA did");
	else if (tcli_policy_count(o.policy) == 0)
		tcli_warn("no --allow and no --open: every request will be "
		    "refused");
	(void)uv_run(&s.loop, UV_RUN_DEFAULT);
	r = TCLI_EXIT_OK;
out:
	if (loop_ok) {
		tcli_signals_close();
		(void)uv_run(&s.loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&s.loop);
	}
	tripki_ca_free(s.ca);
	tcli_policy_free(o.policy);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} ca_commands[] = {
	{ "init", ca_init },
	{ "serve", ca_serve },
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
		tcli_error("expected init or serve (see tripki ca --help)");
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
