/*
 * tripki client: connects to a server (retrying until it answers),
 * registers (phase 2), sends its request(s) (phase 3) and prints each
 * answer's data on stdout.  A session that expires is renewed, unless
 * --no-renew says to stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "net/net.h"

#define CLIENT_USAGE \
	"usage: tripki client --id ID --server HOST:PORT --server-id ID\n" \
	"           --ca-cert FILE [--request TEXT] [--repeat N]\n" \
	"           [--interval SECONDS] [--no-renew] [--retry-for SECONDS]\n" \
	"           [--crl FILE]\n" \
	"\n" \
	"Registers with the server and prints each answer's data on stdout,\n" \
	"one per line; logs go to stderr.\n" \
	"\n" \
	"      --id ID          our identity, ID_C (default ID-Client)\n" \
	"      --server H:P     the server's address (default 127.0.0.1:7001)\n" \
	"      --server-id ID   the identity its certificate must carry\n" \
	"                       (default ID-Server)\n" \
	"      --ca-cert FILE   the CA certificate: the trust anchor\n" \
	"      --crl FILE       refuse a server whose certificate this CRL\n" \
	"                       (PEM or DER, from tripki ca crl) revokes\n" \
	"      --request TEXT   what to ask for (default memo)\n" \
	"      --repeat N       send it N times (default 1; 0: until stopped)\n" \
	"      --interval S     seconds between requests (default 1)\n" \
	"      --no-renew       exit (status 3) when the session expires\n" \
	"                       instead of registering again\n" \
	"      --retry-for S    keep trying to reach the server for S seconds\n" \
	"                       (default 30)\n" \
	"      --max-skew S     accepted clock difference, seconds (default 60)\n" \
	"      --timeout S      wait for an answer at most S s (default 10)\n"

enum { O_ID = TCLI_OPT_FIRST_OWN, O_SERVER, O_SERVER_ID, O_CA_CERT,
	O_REQUEST, O_REPEAT, O_INTERVAL, O_NO_RENEW, O_RETRY_FOR, O_MAX_SKEW,
	O_TIMEOUT, O_CRL };

/* Connection attempts in a row that end without any answer. */
#define MAX_LOST 3

struct cl {
	uv_loop_t loop;
	/* flags */
	const char *id, *server, *server_id, *ca_cert_path, *request;
	const char *crl_path;
	uint64_t repeat, interval_ms, retry_for_ms, skew_ms, timeout_ms;
	int no_renew;
	tcli_common cm;
	/* state */
	char host[256];
	uint16_t port;
	X509 *ca_cert;
	X509_CRL *crl;
	tripki_client *c;
	tnet_dial *dial;
	tnet_link *link;
	uv_timer_t timer;
	tripki_buf out;
	uint64_t answered;
	unsigned lost;
	int done;
	int exit_code;
};

static int
opt(void *ctx, int o, const char *arg)
{
	struct cl *c = ctx;

	switch (o) {
	case O_ID:
		return tcli_opt_id("--id", arg, TRIPKI_ID_MAX, &c->id);
	case O_SERVER: c->server = arg; break;
	case O_SERVER_ID:
		return tcli_opt_id("--server-id", arg, TRIPKI_ID_MAX,
		    &c->server_id);
	case O_CA_CERT: c->ca_cert_path = arg; break;
	case O_CRL: c->crl_path = arg; break;
	case O_REQUEST:
		return tcli_opt_data("--request", arg, &c->request);
	case O_REPEAT:
		return tcli_opt_uint("--repeat", arg, 0, UINT64_MAX,
		    "a count (0: until stopped)", &c->repeat);
	case O_INTERVAL:
		return tcli_opt_seconds("--interval", arg, 0, 86400000,
		    "seconds, at most 86400", &c->interval_ms);
	case O_NO_RENEW: c->no_renew = 1; break;
	case O_RETRY_FOR:
		return tcli_opt_seconds("--retry-for", arg, 0,
		    TCLI_RETRY_FOR_MAX_MS, "seconds", &c->retry_for_ms);
	case O_MAX_SKEW:
		return tcli_opt_max_skew(arg, &c->skew_ms);
	case O_TIMEOUT:
		return tcli_opt_timeout(arg, &c->timeout_ms);
	}
	return -1;
}

/* A CRL must be --ca-cert's and current, or every answer would be wrong. */
static int
crl_check(struct cl *c)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(c->crl);
	time_t now = (time_t)(tnet_now_ms() / 1000);
	EVP_PKEY *pub = X509_get0_pubkey(c->ca_cert);

	if (X509_NAME_cmp(X509_CRL_get_issuer(c->crl),
	    X509_get_subject_name(c->ca_cert)) != 0 || pub == NULL ||
	    X509_CRL_verify(c->crl, pub) != 1) {
		tcli_error("CRL %s is not signed by the CA of %s", c->crl_path,
		    c->ca_cert_path);
		return -1;
	}
	if (X509_cmp_time(X509_CRL_get0_lastUpdate(c->crl), &now) > 0) {
		tcli_error("CRL %s is not valid yet (its last update is in the "
		    "future)", c->crl_path);
		return -1;
	}
	if (next != NULL && X509_cmp_time(next, &now) < 0) {
		tcli_error("CRL %s expired at its next update: make a new one "
		    "with tripki ca crl", c->crl_path);
		return -1;
	}
	return 0;
}

/* --crl: PEM or DER, checked against the CA certificate. */
static int
crl_load(struct cl *c)
{
	const unsigned char *p;
	BIO *b = NULL;
	BUF_MEM *mem;
	FILE *f;
	long n;
	int r = -1;

	if ((f = fopen(c->crl_path, "rb")) == NULL) {
		tcli_error("cannot read CRL %s: %s", c->crl_path,
		    strerror(errno));
		return -1;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		tcli_error("cannot read CRL %s: out of memory", c->crl_path);
		goto out;
	}
	for (;;) {
		char chunk[4096];
		size_t got = fread(chunk, 1, sizeof(chunk), f);

		if (got == 0)
			break;
		if (BIO_write(b, chunk, (int)got) != (int)got) {
			tcli_error("cannot read CRL %s: out of memory",
			    c->crl_path);
			goto out;
		}
	}
	if (ferror(f)) {
		tcli_error("cannot read CRL %s: %s", c->crl_path,
		    strerror(errno));
		goto out;
	}
	BIO_get_mem_ptr(b, &mem);
	p = (const unsigned char *)mem->data;
	n = (long)mem->length;
	if (n > 10 && memcmp(p, "-----BEGIN", 10) == 0)
		c->crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	else if ((c->crl = d2i_X509_CRL(NULL, &p, n)) != NULL &&
	    p != (const unsigned char *)mem->data + n) {
		X509_CRL_free(c->crl); /* trailing bytes */
		c->crl = NULL;
	}
	if (c->crl == NULL) {
		tcli_error("cannot read CRL %s: not a PEM or DER X.509 CRL",
		    c->crl_path);
		goto out;
	}
	r = crl_check(c);
out:
	ERR_clear_error();
	BIO_free(b);
	fclose(f);
	return r;
}

static void connect_server(struct cl *c);
static void step(struct cl *c);

static void
finish(struct cl *c, int code)
{
	if (c->done)
		return;
	c->done = 1;
	c->exit_code = code;
	tnet_dial_cancel(c->dial);
	c->dial = NULL;
	if (c->link != NULL)
		tnet_link_close(c->link, 1);
	tcli_close((uv_handle_t *)&c->timer);
}

static void
on_timer(uv_timer_t *t)
{
	step(t->data);
}

static void
send_out(struct cl *c)
{
	if (c->out.len > 0 && tnet_link_send(c->link, c->out.data,
	    c->out.len) != 0) {
		/* The link is going; on_close brings us back. */
		tnet_link_close(c->link, 0);
	}
}

/* The session is gone: register again, or stop with --no-renew. */
static void
expired(struct cl *c, const char *why)
{
	if (c->no_renew) {
		tcli_error("%s; not registering again (--no-renew)", why);
		finish(c, TCLI_EXIT_EXPIRED);
		return;
	}
	tcli_info("%s: registering again", why);
}

/* Sends what comes next: M3 to register, or M7. */
static void
step(struct cl *c)
{
	int64_t now;
	int r;

	if (c->done)
		return;
	if (c->link == NULL) {
		if (c->dial == NULL)
			connect_server(c);
		return;
	}
	now = tnet_now_ms();
	if (tripki_client_state(c->c) == TRIPKI_CLIENT_READY) {
		r = tripki_client_request(c->c, (const uint8_t *)c->request,
		    strlen(c->request), now, &c->out);
		if (r == TRIPKI_OK) {
			send_out(c);
			return;
		}
		if (r != TRIPKI_E_SESSION_EXPIRED) {
			tcli_error("cannot make M7: %s", tripki_strerror(r));
			finish(c, TCLI_EXIT_FAIL);
			return;
		}
		expired(c, "session expired (its lifetime has passed)");
		if (c->done)
			return;
	}
	if ((r = tripki_client_hello(c->c, now, &c->out)) != TRIPKI_OK) {
		tcli_error("cannot make M3: %s", tripki_strerror(r));
		finish(c, TCLI_EXIT_FAIL);
		return;
	}
	send_out(c);
}

static void
answered(struct cl *c)
{
	const uint8_t *d;
	size_t n;
	int status;

	d = tripki_client_data(c->c, &n, &status);
	if (status != TRIPKI_STATUS_OK) {
		tcli_error("the server has no answer for request \"%s\": %s",
		    c->request, status == TRIPKI_STATUS_NOT_FOUND ?
		    "not found" : "refused");
		finish(c, TCLI_EXIT_REFUSED);
		return;
	}
	/*
	 * Data on stdout, one answer per line; nothing else goes there.  An
	 * answer that ends its own line (a text file) gets no second newline.
	 */
	if ((n > 0 && tnet_write_all(STDOUT_FILENO, d, n) != 0) ||
	    ((n == 0 || d[n - 1] != '\n') &&
	    tnet_write_all(STDOUT_FILENO, "\n", 1) != 0)) {
		tcli_error("cannot write to stdout: %s", strerror(errno));
		finish(c, TCLI_EXIT_FAIL);
		return;
	}
	c->answered++;
	c->lost = 0;
	if (c->repeat != 0 && c->answered >= c->repeat) {
		finish(c, TCLI_EXIT_OK);
		return;
	}
	uv_timer_start(&c->timer, on_timer, c->interval_ms, 0);
}

static void
peer_refused(struct cl *c, int code, int was)
{
	switch (code) {
	case TRIPKI_E_SESSION_EXPIRED:
	case TRIPKI_E_UNKNOWN_SESSION:
		expired(c, code == TRIPKI_E_SESSION_EXPIRED ?
		    "session expired (the server says so)" :
		    "session expired (the server no longer knows it: it may "
		    "have restarted)");
		if (!c->done && c->link != NULL)
			tnet_link_close(c->link, 0); /* on_close reconnects */
		return;
	case TRIPKI_E_BUSY:
		if (++c->lost >= MAX_LOST * 3)
			break;
		tcli_warn("the server is busy: trying again");
		uv_timer_start(&c->timer, on_timer, tnet_backoff_ms(c->lost), 0);
		if (c->link != NULL)
			tnet_link_close(c->link, 0);
		return;
	case TRIPKI_E_STALE:
		if (was == TRIPKI_CLIENT_WAIT_M6) {
			/*
			 * M4 showed our clocks agree within the skew, so this
			 * is the start-time rule (docs/PROTOCOL.md, 13).
			 */
			tcli_error("the server refused our M5: %s: it is stamped "
			    "before the server started (it has just started and "
			    "our clock is behind); try again once it has run for "
			    "longer than that", tripki_strerror(code));
			break;
		}
		/* FALLTHROUGH */
	case TRIPKI_E_FUTURE:
		tcli_error("the server refused our M%d: %s: our clock and the "
		    "server's differ by more than its allowed skew",
		    was == TRIPKI_CLIENT_WAIT_M4 ? 3 : was ==
		    TRIPKI_CLIENT_WAIT_M6 ? 5 : 7, tripki_strerror(code));
		break;
	default:
		tcli_error("the server refused us: %s", tripki_strerror(code));
	}
	finish(c, TCLI_EXIT_REFUSED);
}

static int
on_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t type)
{
	struct cl *c = l->data;
	int was = tripki_client_state(c->c), r;
	int64_t skew;

	(void)type;
	if (err != TRIPKI_OK) {
		tcli_error("the server at %s sent bytes that are not a tripki "
		    "frame: %s", c->server, tripki_strerror(err));
		finish(c, TCLI_EXIT_REJECTED);
		return 0;
	}
	r = tripki_client_recv(c->c, f, n, tnet_now_ms(), &c->out);
	if (r == TRIPKI_OK) {
		if (was == TRIPKI_CLIENT_WAIT_M4)
			send_out(c);
		else if (was == TRIPKI_CLIENT_WAIT_M6) {
			tcli_info("registered with \"%s\" at %s: session of %u s",
			    c->server_id, c->server, tripki_client_lifetime(c->c));
			step(c);
		} else
			answered(c);
		return 0;
	}
	if (r == TRIPKI_E_PEER) {
		peer_refused(c, tripki_client_peer_error(c->c), was);
		return 0;
	}
	if (r == TRIPKI_E_STALE || r == TRIPKI_E_FUTURE) {
		skew = tripki_client_skew(c->c);
		tcli_error("clock skew: the server's clock is %.1f s %s ours "
		    "(limit %.0f s)", (double)llabs(skew) / 1000, skew > 0 ?
		    "behind" : "ahead of", (double)tcli_max_skew_ms(&c->cm) /
		    1000);
	} else if (r == TRIPKI_E_CERT_REVOKED)
		tcli_error("server certificate rejected: it is revoked (CRL %s)",
		    c->crl_path);
	else if (r >= TRIPKI_E_CERT_SIGNATURE && r <= TRIPKI_E_CERT_INVALID)
		tcli_error("server certificate rejected: %s",
		    tripki_strerror(r));
	else
		tcli_error("bad answer from the server: %s", tripki_strerror(r));
	finish(c, TCLI_EXIT_REJECTED);
	return 0;
}

static void
on_end(tnet_link *l, int uv_err)
{
	struct cl *c = l->data;
	int st = tripki_client_state(c->c);

	if (uv_err == UV_ETIMEDOUT) {
		tcli_error("no answer from the server at %s within %.0f s",
		    c->server, (double)l->timeout_ms / 1000);
		finish(c, TCLI_EXIT_UNREACHABLE);
		return;
	}
	/* Between requests the server may close an idle link: no matter. */
	if (st == TRIPKI_CLIENT_READY || st == TRIPKI_CLIENT_IDLE)
		return;
	if (++c->lost >= MAX_LOST) {
		tcli_error("the server at %s closed the connection %u times "
		    "without answering", c->server, c->lost);
		finish(c, TCLI_EXIT_UNREACHABLE);
	} else
		tcli_warn("the server at %s closed the connection before "
		    "answering: trying again", c->server);
}

static void
on_close(tnet_link *l)
{
	struct cl *c = l->data;

	if (c->link == l)
		c->link = NULL;
	if (c->done || uv_is_active((uv_handle_t *)&c->timer))
		return; /* finished, or the timer steps on */
	if (tripki_client_state(c->c) == TRIPKI_CLIENT_READY)
		return; /* the next request reconnects */
	step(c);
}

static const tnet_link_ops link_ops = { on_frame, on_end, on_close };

static void
on_dial(void *ctx, tnet_link *l, int uv_err)
{
	struct cl *c = ctx;
	char ip[TNET_PEER_MAX] = "?";
	uint16_t port = 0;

	c->dial = NULL;
	if (l == NULL) {
		tcli_error("server at %s unreachable after %.0f s: %s",
		    c->server, (double)c->retry_for_ms / 1000,
		    uv_strerror(uv_err));
		finish(c, TCLI_EXIT_UNREACHABLE);
		return;
	}
	if (tnet_link_start(l, &link_ops, c, c->timeout_ms, 0) != 0) {
		tnet_link_discard(l);
		tcli_error("connection to %s lost at once", c->server);
		finish(c, TCLI_EXIT_UNREACHABLE);
		return;
	}
	c->link = l;
	tcli_client_address(c->c, &l->tcp, ip, sizeof(ip), &port);
	tcli_debug("connected to %s from %s:%u", c->server, ip, port);
	tripki_client_reconnect(c->c);
	step(c);
}

static void
connect_server(struct cl *c)
{
	int r;

	if ((r = tnet_dial_start(&c->loop, c->host, c->port, c->retry_for_ms ?
	    c->retry_for_ms : 1, on_dial, c, &c->dial)) != 0) {
		tcli_error("cannot reach %s: %s", c->server, uv_strerror(r));
		finish(c, TCLI_EXIT_UNREACHABLE);
	}
}

int
tcli_client_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, O_ID },
		{ "server", required_argument, NULL, O_SERVER },
		{ "server-id", required_argument, NULL, O_SERVER_ID },
		{ "ca-cert", required_argument, NULL, O_CA_CERT },
		{ "request", required_argument, NULL, O_REQUEST },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "no-renew", no_argument, NULL, O_NO_RENEW },
		{ "retry-for", required_argument, NULL, O_RETRY_FOR },
		{ "max-skew", required_argument, NULL, O_MAX_SKEW },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "crl", required_argument, NULL, O_CRL },
		TCLI_COMMON_OPTIONS
	};
	tripki_client_config cfg;
	struct cl *c;
	int r, loop_ok = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TCLI_EXIT_FAIL;
	c->id = TCLI_DEFAULT_CLIENT_ID;
	c->server = TCLI_DEFAULT_SERVER_ADDR;
	c->server_id = TCLI_DEFAULT_SERVER_ID;
	c->request = TCLI_DEFAULT_REQUEST;
	c->repeat = 1;
	c->interval_ms = 1000;
	c->retry_for_ms = 30000;
	c->timeout_ms = TNET_DEFAULT_TIMEOUT_MS;
	tripki_buf_init(&c->out, TRIPKI_FRAME_MAX);
	if ((r = tcli_parse(argc, argv, opts, CLIENT_USAGE, opt, c,
	    &c->cm)) >= 0)
		goto out;
	if ((r = tcli_opt_hostport("--server", c->server, c->host,
	    sizeof(c->host), &c->port)) >= 0)
		goto out;
	if (c->ca_cert_path == NULL) {
		r = tcli_required("--ca-cert");
		goto out;
	}
	r = TCLI_EXIT_FAIL;
	if (tcli_cert_load(c->ca_cert_path, &c->ca_cert) != 0 ||
	    (c->crl_path != NULL && crl_load(c) != 0))
		goto out;
	c->cm.max_skew_ms = (int64_t)c->skew_ms;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = c->id;
	cfg.server_id = c->server_id;
	cfg.ca_cert = c->ca_cert;
	cfg.crl = c->crl;
	tcli_core_common(&c->cm, &cfg.common);
	if (tripki_client_new(&cfg, &c->c) != TRIPKI_OK) {
		tcli_error("cannot start the client");
		goto out;
	}
	if (uv_loop_init(&c->loop) != 0)
		goto out;
	loop_ok = 1;
	(void)uv_timer_init(&c->loop, &c->timer);
	c->timer.data = c;
	step(c);
	(void)uv_run(&c->loop, UV_RUN_DEFAULT);
	r = c->exit_code;
out:
	if (loop_ok) {
		tcli_close((uv_handle_t *)&c->timer);
		tcli_loop_end(&c->loop);
	}
	tripki_client_free(c->c);
	X509_free(c->ca_cert);
	X509_CRL_free(c->crl);
	tripki_buf_free(&c->out);
	free(c);
	return r;
}
