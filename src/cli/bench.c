/*
 * tripki bench: a load generator in the same binary, built on the libuv
 * driver and the core.  Runs --connections closed loops on one event loop
 * for --duration seconds (or until --count operations) and reports the
 * throughput and the p50/p99 latency:
 *
 *   register  phase 2 on a new connection and a new session each time
 *             (connect, M3 -> M4, M5 -> M6, close);
 *   request   phase 3 on established sessions: each connection registers
 *             once, then sends M7 and waits for M8, again and again;
 *   issue     phase 1 against a CA started with --open (connect, M1 -> M2,
 *             close), the CA making the key (--key-mode seed) or the
 *             client sending a CSR for a key made before the clock starts
 *             (--key-mode csr).
 *
 * Latency runs from the start of an operation (the connect, for register
 * and issue) to the answer that ends it.  An operation still in flight
 * when the time is up is not counted.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "cli.h"
#include "latency.h"
#include "net/net.h"

#define BENCH_USAGE \
	"usage: tripki bench register|request --server HOST:PORT --ca-cert FILE\n" \
	"           [--server-id ID] [--connections N] [--duration SECONDS]\n" \
	"       tripki bench issue --ca HOST:PORT --ca-cert FILE\n" \
	"           [--key-mode seed|csr] [--connections N] [--duration S]\n" \
	"\n" \
	"Load generator: N connections in closed loops for S seconds, then the\n" \
	"throughput and p50/p99 latency on stdout.\n" \
	"\n" \
	"  register  phase-2 registrations/s, a new connection and session each\n" \
	"  request   phase-3 requests/s on established sessions\n" \
	"  issue     phase-1 issuances/s (the CA must run with --open)\n" \
	"\n" \
	"      --server H:P     the server (default 127.0.0.1:7001)\n" \
	"      --server-id ID   its identity (default ID-Server)\n" \
	"      --ca H:P         the CA, for issue (default 127.0.0.1:7000)\n" \
	"      --ca-cert FILE   the CA certificate: the trust anchor\n" \
	"      --key-mode M     issue: seed (the CA makes the key, default) or\n" \
	"                       csr (keys and their requests made before\n" \
	"                       the clock starts)\n" \
	"      --id ID          client identity, or prefix of the server\n" \
	"                       identities asked for by issue (default bench)\n" \
	"      --request TEXT   request: what to ask for (default memo)\n" \
	"      --connections N  concurrent connections (default 8)\n" \
	"      --duration S     seconds to run (default 10)\n" \
	"      --count N        stop after N operations instead\n" \
	"      --keep-connection  register: each new session on the same\n" \
	"                       connection (M3 again), not a new one\n" \
	"      --timeout S      give up on an answer after S s (default 10)\n" \
	"      --json           print the result as one JSON object\n" \
	"      --progress       a progress line on stderr even when it is not\n" \
	"                       a terminal\n"

enum { O_SERVER = TCLI_OPT_FIRST_OWN, O_SERVER_ID, O_CA, O_CA_CERT,
	O_KEY_MODE, O_ID, O_REQUEST, O_CONNECTIONS, O_DURATION, O_COUNT,
	O_TIMEOUT, O_JSON, O_PROGRESS, O_KEEP };

enum { MODE_REGISTER, MODE_REQUEST, MODE_ISSUE };

#define BENCH_CONN_MAX 10000
/* --id: room for "-SLOT-N" after an issue prefix. */
#define BENCH_ID_MAX 200
#define BENCH_ERR_BACKOFF_MS 50

struct bench;

struct slot {
	struct bench *b;
	unsigned idx;
	tnet_link *link;
	tripki_client *c;          /* register, request */
	tripki_enroll *e;          /* issue */
	EVP_PKEY *csr_key;         /* issue --key-mode csr */
	tripki_buf csr;            /* its request, for the identity csr_id */
	char csr_id[TRIPKI_ID_MAX + 1];
	uint64_t t0;               /* uv_hrtime() at the start (ns) */
	uint64_t n;                /* operations this slot started */
	uv_timer_t retry;
	int failed;                /* this operation failed: do not count */
	int busy;                  /* an operation is begun and not ended */
};

struct bench {
	uv_loop_t loop;
	int mode;
	/* flags */
	const char *server, *server_id, *ca, *ca_cert_path, *key_mode, *id;
	const char *request;
	uint64_t conns, duration_ms, count, timeout_ms;
	int json, progress, csr, keep;
	tcli_common cm;
	/* state */
	char host[256];
	uint16_t port;
	X509 *ca_cert;
	struct slot *slots;
	tripki_buf out;
	uv_timer_t tick;           /* progress, each second */
	uv_timer_t end;            /* --duration */
	uint64_t start_ns, end_ns, last_tick_ns, last_tick_ops;
	uint64_t ops, errors;
	uint64_t started, abandoned;  /* operations begun; of those, failed */
	tcli_latency lat;
	int stopping;
	int first_error_logged;
};

static int
opt(void *ctx, int o, const char *arg)
{
	struct bench *b = ctx;

	switch (o) {
	case O_SERVER: b->server = arg; break;
	case O_SERVER_ID:
		return tcli_opt_id("--server-id", arg, TRIPKI_ID_MAX,
		    &b->server_id);
	case O_CA: b->ca = arg; break;
	case O_CA_CERT: b->ca_cert_path = arg; break;
	case O_KEY_MODE:
		if (strcmp(arg, "seed") != 0 && strcmp(arg, "csr") != 0)
			return tcli_bad_value("--key-mode", arg,
			    "use seed or csr");
		b->key_mode = arg;
		break;
	case O_ID:
		return tcli_opt_id("--id", arg, BENCH_ID_MAX, &b->id);
	case O_REQUEST:
		return tcli_opt_data("--request", arg, &b->request);
	case O_CONNECTIONS:
		return tcli_opt_uint("--connections", arg, 1, BENCH_CONN_MAX,
		    "a number from 1 to 10000", &b->conns);
	case O_DURATION:
		return tcli_opt_seconds("--duration", arg, 100, 86400000,
		    "seconds, from 0.1 to 86400", &b->duration_ms);
	case O_COUNT:
		return tcli_opt_uint("--count", arg, 1, UINT32_MAX,
		    "a number of operations, at least 1", &b->count);
	case O_TIMEOUT:
		return tcli_opt_timeout(arg, &b->timeout_ms);
	case O_JSON: b->json = 1; break;
	case O_PROGRESS: b->progress = 1; break;
	case O_KEEP: b->keep = 1; break;
	}
	return -1;
}

/* ---- Results ---- */

static const char *const mode_names[] = { "register", "request", "issue" };

static void
report(struct bench *b)
{
	double secs = (double)(b->end_ns - b->start_ns) / 1e9;
	double rate = secs > 0 ? (double)b->ops / secs : 0;
	const char *what = b->mode == MODE_REGISTER ? "registrations" :
	    b->mode == MODE_REQUEST ? "requests" : "issuances";
	char mode[32];

	tcli_latency_sort(&b->lat);
	snprintf(mode, sizeof(mode), "%s%s%s", mode_names[b->mode],
	    b->mode == MODE_ISSUE ? " " : "", b->mode == MODE_ISSUE ?
	    (b->csr ? "csr" : "seed") : "");
	if (b->json) {
		printf("{\"mode\": \"%s\", \"key_mode\": \"%s\", "
		    "\"keep_connection\": %d, \"connections\": %llu, "
		    "\"seconds\": %.3f, \"ops\": %llu, \"errors\": %llu, "
		    "\"per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
		    "\"max_ms\": %.3f}\n", mode_names[b->mode],
		    b->mode == MODE_ISSUE ? (b->csr ? "csr" : "seed") : "",
		    b->keep, (unsigned long long)b->conns, secs,
		    (unsigned long long)b->ops, (unsigned long long)b->errors,
		    rate, tcli_latency_pct(&b->lat, 50),
		    tcli_latency_pct(&b->lat, 99),
		    tcli_latency_pct(&b->lat, 100));
		return;
	}
	printf("tripki bench %s: %llu connections, %.2f s\n", mode,
	    (unsigned long long)b->conns, secs);
	printf("  %-14s %llu (%llu errors)\n", what,
	    (unsigned long long)b->ops, (unsigned long long)b->errors);
	printf("  %-14s %.1f/s\n", "throughput", rate);
	printf("  %-14s p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", "latency",
	    tcli_latency_pct(&b->lat, 50), tcli_latency_pct(&b->lat, 99),
	    tcli_latency_pct(&b->lat, 100));
}

static void
progress_line(struct bench *b, uint64_t now)
{
	char line[160];
	double t = (double)(now - b->start_ns) / 1e9;
	double dt = (double)(now - b->last_tick_ns) / 1e9;
	double rate = dt > 0 ? (double)(b->ops - b->last_tick_ops) / dt : 0;
	int n, tty = isatty(STDERR_FILENO);
	ssize_t w;

	n = snprintf(line, sizeof(line), "%stripki bench %s: %5.1f s  %llu ops"
	    "  %.0f/s  %llu errors%s", tty ? "\r" : "", mode_names[b->mode], t,
	    (unsigned long long)b->ops, rate, (unsigned long long)b->errors,
	    tty ? "\033[K" : "\n");
	if (n > 0 && (size_t)n < sizeof(line))
		w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
	b->last_tick_ns = now;
	b->last_tick_ops = b->ops;
}

/* ---- The loops ---- */

static void slot_start(struct slot *s);

static void
on_slot_close(uv_handle_t *h)
{
	(void)h;
}

/* Ends the run: no operation starts, links in flight are closed. */
static void
stop_all(struct bench *b)
{
	unsigned i;

	if (b->stopping)
		return;
	b->stopping = 1;
	b->end_ns = uv_hrtime();
	uv_close((uv_handle_t *)&b->tick, NULL);
	uv_close((uv_handle_t *)&b->end, NULL);
	for (i = 0; i < b->conns; i++) {
		if (b->slots[i].link != NULL)
			tnet_link_close(b->slots[i].link, 0);
		uv_timer_stop(&b->slots[i].retry);
		uv_close((uv_handle_t *)&b->slots[i].retry, on_slot_close);
	}
	tcli_signals_close();
}

static void
on_tick(uv_timer_t *t)
{
	progress_line(t->data, uv_hrtime());
}

static void
on_end(uv_timer_t *t)
{
	stop_all(t->data);
}

static void
done_one(struct slot *s)
{
	struct bench *b = s->b;

	s->busy = 0;
	if (b->stopping)
		return;
	b->ops++;
	tcli_latency_add(&b->lat, uv_hrtime() - s->t0);
	if (b->count != 0 && b->ops >= b->count)
		stop_all(b);
}

static void
on_retry(uv_timer_t *t)
{
	slot_start(t->data);
}

/* An operation failed: log the first failure, try again shortly. */
static void
slot_error(struct slot *s, const char *fmt, const char *detail)
{
	struct bench *b = s->b;

	if (s->busy)
		b->abandoned++;
	s->busy = 0;
	s->failed = 1;
	if (b->stopping)
		return;
	b->errors++;
	if (!b->first_error_logged || tcli_log_level() >= TCLI_DEBUG) {
		b->first_error_logged = 1;
		tcli_warn(fmt, detail);
	}
	if (s->link != NULL)
		tnet_link_close(s->link, 0);
	else
		uv_timer_start(&s->retry, on_retry, BENCH_ERR_BACKOFF_MS, 0);
}

/*
 * Begins an operation on slot s: 0 when stopping, or when --count N
 * operations are already under way or done (none is begun then).
 */
static int
op_begin(struct slot *s)
{
	struct bench *b = s->b;

	if (b->stopping ||
	    (b->count != 0 && b->started - b->abandoned >= b->count))
		return 0;
	b->started++;
	s->failed = 0;
	s->busy = 1;
	s->t0 = uv_hrtime();
	return 1;
}

/*
 * On a kept connection: the next operation, or, when op_begin declines,
 * the connection closed, so that an idle link is not later lost to the
 * server's idle timeout and counted as a failure.
 */
static int
op_next(struct slot *s)
{
	if (op_begin(s))
		return 1;
	if (s->link != NULL)
		tnet_link_close(s->link, 0);
	return 0;
}

static void
send_out(struct slot *s)
{
	if (tnet_link_send(s->link, s->b->out.data, s->b->out.len) != 0)
		slot_error(s, "%s", "cannot send");
}

static int
slot_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t type)
{
	struct slot *s = l->data;
	struct bench *b = s->b;
	int was, r;

	(void)type;
	if (b->stopping || s->failed)
		return 0;
	if (err != TRIPKI_OK) {
		slot_error(s, "not a tripki frame: %s", tripki_strerror(err));
		return 0;
	}
	if (b->mode == MODE_ISSUE) {
		if ((r = tripki_enroll_recv(s->e, f, n, tnet_now_ms())) !=
		    TRIPKI_OK) {
			slot_error(s, "issuance failed: %s", tripki_strerror(
			    r == TRIPKI_E_PEER ? tripki_enroll_peer_error(s->e) :
			    r));
			return 0;
		}
		done_one(s);
		tnet_link_close(l, 0);  /* the next one starts on close */
		return 0;
	}
	was = tripki_client_state(s->c);
	r = tripki_client_recv(s->c, f, n, tnet_now_ms(), &b->out);
	if (r != TRIPKI_OK) {
		slot_error(s, "refused: %s", tripki_strerror(r == TRIPKI_E_PEER ?
		    tripki_client_peer_error(s->c) : r));
		return 0;
	}
	if (was == TRIPKI_CLIENT_WAIT_M4) {
		send_out(s);
		return 0;
	}
	if (was == TRIPKI_CLIENT_WAIT_M6 && b->mode == MODE_REGISTER) {
		done_one(s);
		if (!b->keep) {
			tnet_link_close(l, 0);
			return 0;
		}
		/* --keep-connection: a new session at once, on this link. */
		if (!op_next(s))
			return 0;
		if ((r = tripki_client_hello(s->c, tnet_now_ms(), &b->out)) !=
		    TRIPKI_OK) {
			slot_error(s, "cannot make M3: %s", tripki_strerror(r));
			return 0;
		}
		send_out(s);
		return 0;
	}
	if (was == TRIPKI_CLIENT_WAIT_M8) {
		done_one(s);
		/* request: the next M7 on the same connection and session. */
		if (!op_next(s))
			return 0;
	} else if (was == TRIPKI_CLIENT_WAIT_M6) {
		/*
		 * request: a request's latency is from its M7 to its M8; the
		 * session set up before it (M3..M6) is not part of it.
		 */
		s->t0 = uv_hrtime();
	}
	r = tripki_client_request(s->c, (const uint8_t *)b->request,
	    strlen(b->request), tnet_now_ms(), &b->out);
	if (r == TRIPKI_E_SESSION_EXPIRED)
		r = tripki_client_hello(s->c, tnet_now_ms(), &b->out);
	if (r != TRIPKI_OK) {
		slot_error(s, "cannot make a message: %s", tripki_strerror(r));
		return 0;
	}
	send_out(s);
	return 0;
}

static void
slot_end(tnet_link *l, int uv_err)
{
	struct slot *s = l->data;

	if (!s->b->stopping && !s->failed)
		slot_error(s, "connection lost: %s", uv_strerror(uv_err));
}

static void
slot_closed(tnet_link *l)
{
	struct slot *s = l->data;
	struct bench *b = s->b;

	s->link = NULL;
	tripki_enroll_free(s->e);
	s->e = NULL;
	if (b->stopping)
		return;
	if (s->failed)
		uv_timer_start(&s->retry, on_retry, BENCH_ERR_BACKOFF_MS, 0);
	else
		slot_start(s);
}

static const tnet_link_ops slot_ops = { slot_frame, slot_end, slot_closed };

/* The first message of an operation on a new connection. */
static int
first_message(struct slot *s)
{
	struct bench *b = s->b;
	char ip[TNET_PEER_MAX] = "?", id[TRIPKI_ID_MAX + 1];
	uint16_t port = 0;
	int r;
	tripki_enroll_config ec;

	if (b->mode == MODE_ISSUE) {
		snprintf(id, sizeof(id), "%s-%u-%llu", b->id, s->idx,
		    (unsigned long long)s->n);
		memset(&ec, 0, sizeof(ec));
		ec.id = id;
		ec.ca_cert = b->ca_cert;
		if (s->csr_key != NULL) {
			/* A server's request is made once, with its key. */
			ec.id = s->csr_id;
			ec.csr_key = s->csr_key;
			ec.csr = s->csr.data;
			ec.csr_len = s->csr.len;
		}
		tcli_core_common(&b->cm, &ec.common);
		if ((r = tripki_enroll_new(&ec, &s->e)) != TRIPKI_OK)
			return r;
		return tripki_enroll_start(s->e, tnet_now_ms(), &b->out);
	}
	tcli_client_address(s->c, &s->link->tcp, ip, sizeof(ip), &port);
	tripki_client_reconnect(s->c);
	return tripki_client_hello(s->c, tnet_now_ms(), &b->out);
}

static void
on_dial(void *ctx, tnet_link *l, int uv_err)
{
	struct slot *s = ctx;
	struct bench *b = s->b;
	int r;

	if (l == NULL) {
		slot_error(s, "cannot connect: %s", uv_strerror(uv_err));
		return;
	}
	if (b->stopping) {
		tnet_link_discard(l);
		return;
	}
	if (tnet_link_start(l, &slot_ops, s, b->timeout_ms, 0) != 0) {
		tnet_link_discard(l);
		slot_error(s, "%s", "connection lost at once");
		return;
	}
	s->link = l;
	if ((r = first_message(s)) != TRIPKI_OK) {
		slot_error(s, "cannot make the first message: %s",
		    tripki_strerror(r));
		return;
	}
	send_out(s);
}

static void
slot_start(struct slot *s)
{
	struct bench *b = s->b;
	int r;

	if (!op_begin(s))
		return;
	s->n++;
	/* 1 ms of retry: a refused connect is an error, not a wait. */
	if ((r = tnet_dial_start(&b->loop, b->host, b->port, 1, on_dial, s,
	    NULL)) != 0)
		slot_error(s, "cannot connect: %s", uv_strerror(r));
}

static void
on_signal(void *ctx)
{
	stop_all(ctx);
}

/* ---- Setup ---- */

static int
prepare(struct bench *b)
{
	const char *addr = b->mode == MODE_ISSUE ? b->ca : b->server;
	unsigned i;
	int r;

	if ((r = tcli_opt_hostport(b->mode == MODE_ISSUE ? "--ca" : "--server",
	    addr, b->host, sizeof(b->host), &b->port)) >= 0)
		return r;
	if (b->ca_cert_path == NULL)
		return tcli_required("--ca-cert");
	b->csr = b->key_mode != NULL && strcmp(b->key_mode, "csr") == 0;
	if (tcli_cert_load(b->ca_cert_path, &b->ca_cert) != 0)
		return TCLI_EXIT_FAIL;
	if ((b->slots = calloc((size_t)b->conns, sizeof(*b->slots))) == NULL)
		return TCLI_EXIT_FAIL;
	for (i = 0; i < b->conns; i++) {
		struct slot *s = &b->slots[i];
		tripki_client_config cc;

		s->b = b;
		s->idx = i;
		/*
		 * CSR keys and their requests are made here, before the clock
		 * starts, as a server makes them before it enrolls: one
		 * identity per connection, asked for again and again.
		 */
		tripki_buf_init(&s->csr, 16384);
		snprintf(s->csr_id, sizeof(s->csr_id), "%s-%u", b->id, i);
		if (b->mode == MODE_ISSUE && b->csr &&
		    (tripki_key_generate(2048, &s->csr_key) != TRIPKI_OK ||
		    tripki_csr_make(s->csr_key, s->csr_id, &s->csr) !=
		    TRIPKI_OK)) {
			tcli_error("cannot make a key and its request for %s",
			    s->csr_id);
			return TCLI_EXIT_FAIL;
		}
		if (b->mode == MODE_ISSUE)
			continue;
		memset(&cc, 0, sizeof(cc));
		cc.id = b->id;
		cc.server_id = b->server_id;
		cc.ca_cert = b->ca_cert;
		tcli_core_common(&b->cm, &cc.common);
		if (tripki_client_new(&cc, &s->c) != TRIPKI_OK) {
			tcli_error("cannot make a client");
			return TCLI_EXIT_FAIL;
		}
	}
	return -1;
}

static int
run(struct bench *b)
{
	unsigned i;

	if (uv_loop_init(&b->loop) != 0)
		return TCLI_EXIT_FAIL;
	(void)uv_timer_init(&b->loop, &b->tick);
	(void)uv_timer_init(&b->loop, &b->end);
	b->tick.data = b;
	b->end.data = b;
	for (i = 0; i < b->conns; i++) {
		(void)uv_timer_init(&b->loop, &b->slots[i].retry);
		b->slots[i].retry.data = &b->slots[i];
	}
	if (tcli_signals_start(&b->loop, on_signal, b) != 0)
		tcli_warn("cannot catch SIGTERM and SIGINT");
	uv_update_time(&b->loop);
	b->start_ns = b->last_tick_ns = uv_hrtime();
	if (b->progress)
		uv_timer_start(&b->tick, on_tick, 1000, 1000);
	if (b->count == 0)
		uv_timer_start(&b->end, on_end, b->duration_ms, 0);
	for (i = 0; i < b->conns; i++)
		slot_start(&b->slots[i]);
	(void)uv_run(&b->loop, UV_RUN_DEFAULT);
	if (b->progress && isatty(STDERR_FILENO)) {
		ssize_t w = write(STDERR_FILENO, "\n", 1);
		(void)w;
	}
	(void)uv_loop_close(&b->loop);
	report(b);
	return b->ops > 0 ? TCLI_EXIT_OK : TCLI_EXIT_UNREACHABLE;
}

int
tcli_bench_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, O_SERVER },
		{ "server-id", required_argument, NULL, O_SERVER_ID },
		{ "ca", required_argument, NULL, O_CA },
		{ "ca-cert", required_argument, NULL, O_CA_CERT },
		{ "key-mode", required_argument, NULL, O_KEY_MODE },
		{ "id", required_argument, NULL, O_ID },
		{ "request", required_argument, NULL, O_REQUEST },
		{ "connections", required_argument, NULL, O_CONNECTIONS },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "count", required_argument, NULL, O_COUNT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "json", no_argument, NULL, O_JSON },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "keep-connection", no_argument, NULL, O_KEEP },
		TCLI_COMMON_OPTIONS
	};
	struct bench *b;
	unsigned i;
	int r;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(BENCH_USAGE, stdout);
		fputs(TCLI_COMMON_HELP, stdout);
		return TCLI_EXIT_OK;
	}
	if (argc < 2 || argv[1][0] == '-') {
		tcli_error("expected register, request or issue (see tripki "
		    "bench --help)");
		return TCLI_EXIT_USAGE;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return TCLI_EXIT_FAIL;
	for (b->mode = 0; b->mode < 3; b->mode++)
		if (strcmp(argv[1], mode_names[b->mode]) == 0)
			break;
	if (b->mode == 3) {
		tcli_error("unknown bench \"%s\" (register, request or issue)",
		    argv[1]);
		free(b);
		return TCLI_EXIT_USAGE;
	}
	b->server = TCLI_DEFAULT_SERVER_ADDR;
	b->server_id = TCLI_DEFAULT_SERVER_ID;
	b->ca = TCLI_DEFAULT_CA_ADDR;
	b->id = "bench";
	b->request = TCLI_DEFAULT_REQUEST;
	b->conns = 8;
	b->duration_ms = 10000;
	b->timeout_ms = TNET_DEFAULT_TIMEOUT_MS;
	b->progress = isatty(STDERR_FILENO);
	tripki_buf_init(&b->out, TRIPKI_FRAME_MAX);
	if ((r = tcli_parse(argc - 1, argv + 1, opts, BENCH_USAGE, opt, b,
	    &b->cm)) >= 0 || (r = prepare(b)) >= 0)
		goto out;
	r = run(b);
out:
	if (b->slots != NULL)
		for (i = 0; i < b->conns; i++) {
			tripki_client_free(b->slots[i].c);
			tripki_enroll_free(b->slots[i].e);
			EVP_PKEY_free(b->slots[i].csr_key);
			tripki_buf_free(&b->slots[i].csr);
		}
	free(b->slots);
	tcli_latency_free(&b->lat);
	X509_free(b->ca_cert);
	tripki_buf_free(&b->out);
	free(b);
	return r;
}
