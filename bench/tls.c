/*
 * The TLS 1.3 baseline for `make bench`: a minimal OpenSSL TLS 1.3 server
 * and a load generator of the same design as `tripki bench` (one libuv
 * loop, --connections closed loops, --duration seconds, p50/p99, --json).
 *
 *   tls-bench server --cert F --key F --listen H:P [--threads N]
 *       TLS 1.3 only, the certificate's RSA-2048 key, no session tickets
 *       and no session cache (every handshake is a full one).  One event
 *       loop per thread (default: one per CPU), each with its own
 *       SO_REUSEPORT listener, as tripki's server uses every core.  To
 *       application data it answers with the 31 bytes tripki's server
 *       answers "memo" with.
 *   tls-bench handshake|roundtrip --connect H:P --ca-cert F --name N
 *       handshake: full handshakes/s, a new connection each time (connect,
 *       handshake with certificate verification, close);
 *       roundtrip: round trips/s over established connections: "memo"
 *       out, the 31-byte answer back.
 *
 * Plain sockets under uv_poll, with the SSL object reading the socket
 * itself: the fewest copies OpenSSL allows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "cli/latency.h"

#define REQ "memo"
#define DATA "take cis3319 class this morning"
#define DATA_LEN (sizeof(DATA) - 1)
#define CONN_MAX 10000

static void
die(const char *what)
{
	fprintf(stderr, "tls-bench: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* ---- Connections, both sides ---- */

enum { ST_CONNECT, ST_HANDSHAKE, ST_SEND, ST_READ, ST_DATA };

struct conn {
	uv_poll_t poll;
	int fd;
	SSL *ssl;
	int state;
	int server;
	int want_write;
	uint64_t t0;
	size_t got;
	struct slot *slot;      /* client side */
};

static void conn_drive(struct conn *c);

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;

	(void)events;
	if (status < 0 && c->state == ST_CONNECT)
		c->want_write = 0;
	conn_drive(c);
}

static void
conn_watch(struct conn *c)
{
	(void)uv_poll_start(&c->poll, UV_READABLE | (c->want_write ?
	    UV_WRITABLE : 0), on_poll);
}

static void conn_closed(uv_handle_t *h);

static void
conn_close(struct conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->poll))
		return;
	uv_close((uv_handle_t *)&c->poll, conn_closed);
}

/* SSL_ERROR_WANT_*: wait; anything else: -1. */
static int
ssl_wait(struct conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->want_write = 0;
		conn_watch(c);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = 1;
		conn_watch(c);
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* ---- Server ---- */

struct worker {
	uv_loop_t loop;
	uv_poll_t lpoll;
	int lfd;
	SSL_CTX *ctx;
	pthread_t th;
};

static void
server_drive(struct conn *c)
{
	unsigned char buf[4096];
	int r;

	if (c->state == ST_HANDSHAKE) {
		if ((r = SSL_accept(c->ssl)) != 1) {
			if (ssl_wait(c, r) != 0)
				conn_close(c);
			return;
		}
		c->state = ST_DATA;
	}
	for (;;) {
		if ((r = SSL_read(c->ssl, buf, sizeof(buf))) <= 0) {
			if (ssl_wait(c, r) != 0)
				conn_close(c);
			return;
		}
		if ((r = SSL_write(c->ssl, DATA, (int)DATA_LEN)) <= 0 &&
		    ssl_wait(c, r) != 0) {
			conn_close(c);
			return;
		}
	}
}

static void
on_accept(uv_poll_t *p, int status, int events)
{
	struct worker *w = p->data;
	struct conn *c;
	int fd, one = 1;

	(void)status, (void)events;
	while ((fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->ssl = SSL_new(w->ctx)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->server = 1;
		c->state = ST_HANDSHAKE;
		(void)SSL_set_fd(c->ssl, fd);
		(void)uv_poll_init(&w->loop, &c->poll, fd);
		c->poll.data = c;
		conn_drive(c);
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	(void)uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int
server_main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *listen_at = NULL;
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	struct sockaddr_in sa;
	struct worker *ws;
	SSL_CTX *ctx;
	sigset_t set;
	int i, o, sig, one = 1;

	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (o) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'l': listen_at = optarg; break;
		case 't': threads = atol(optarg); break;
		default: return 1;
		}
	if (cert == NULL || key == NULL || listen_at == NULL ||
	    parse_addr(listen_at, &sa) != 0 || threads < 1 || threads > 64)
		die("usage: tls-bench server --cert F --key F --listen IP:PORT "
		    "[--threads N]");
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		die("cannot set up the TLS server");
	/* Every handshake a full one: no tickets, no session cache. */
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Signals go to the main thread only, which waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((ws = calloc((size_t)threads, sizeof(*ws))) == NULL)
		die("out of memory");
	for (i = 0; i < threads; i++) {
		struct worker *w = &ws[i];

		w->ctx = ctx;
		if ((w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) < 0 ||
		    setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) != 0 ||
		    setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &one,
		    sizeof(one)) != 0 ||
		    bind(w->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    listen(w->lfd, 511) != 0)
			die(strerror(errno));
		(void)uv_loop_init(&w->loop);
		(void)uv_poll_init(&w->loop, &w->lpoll, w->lfd);
		w->lpoll.data = w;
		(void)uv_poll_start(&w->lpoll, UV_READABLE, on_accept);
		if (pthread_create(&w->th, NULL, worker_run, w) != 0)
			die("cannot start a thread");
	}
	fprintf(stderr, "tls-bench server: listening on %s, %ld threads\n",
	    listen_at, threads);
	(void)sigwait(&set, &sig);
	/* A benchmark server: the kernel closes what is left. */
	exit(0);
}

/* ---- Load generator ---- */

enum { MODE_HANDSHAKE, MODE_ROUNDTRIP };

struct slot {
	struct conn c;
	struct bench *b;
};

struct bench {
	uv_loop_t loop;
	int mode;
	SSL_CTX *ctx;
	struct sockaddr_in addr;
	const char *name;
	unsigned conns;
	uint64_t duration_ms, count;
	int json, progress, stopping;
	struct slot *slots;
	uv_timer_t tick, end;
	uint64_t start_ns, end_ns, last_ns, last_ops;
	uint64_t ops, errors;
	tcli_latency lat;
};

static void slot_start(struct slot *s);

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
	for (i = 0; i < b->conns; i++)
		conn_close(&b->slots[i].c);
}

static void
done_one(struct bench *b, struct conn *c)
{
	if (b->stopping)
		return;
	b->ops++;
	tcli_latency_add(&b->lat, uv_hrtime() - c->t0);
	if (b->count != 0 && b->ops >= b->count)
		stop_all(b);
}

static void
slot_error(struct bench *b, struct conn *c, const char *what)
{
	if (b->stopping)
		return;
	if (b->errors++ == 0)
		fprintf(stderr, "tls-bench: %s\n", what);
	if (b->errors > 10000 && b->ops == 0)
		stop_all(b);
	conn_close(c);
}

static void
client_drive(struct conn *c)
{
	struct slot *s = c->slot;
	struct bench *b = s->b;
	unsigned char buf[256];
	socklen_t len = sizeof(int);
	int r, err = 0;

	if (b->stopping)
		return;
	if (c->state == ST_CONNECT) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			slot_error(b, c, "cannot connect");
			return;
		}
		c->state = ST_HANDSHAKE;
	}
	if (c->state == ST_HANDSHAKE) {
		if ((r = SSL_connect(c->ssl)) != 1) {
			if (ssl_wait(c, r) != 0)
				slot_error(b, c, "handshake failed");
			return;
		}
		if (b->mode == MODE_HANDSHAKE) {
			done_one(b, c);
			conn_close(c);
			return;
		}
		c->state = ST_SEND;
	}
	for (;;) {
		if (c->state == ST_SEND) {
			c->t0 = uv_hrtime();
			if ((r = SSL_write(c->ssl, REQ, sizeof(REQ) - 1)) <= 0) {
				if (ssl_wait(c, r) != 0)
					slot_error(b, c, "write failed");
				return;
			}
			c->state = ST_READ;
			c->got = 0;
		}
		if ((r = SSL_read(c->ssl, buf, sizeof(buf))) <= 0) {
			if (ssl_wait(c, r) != 0)
				slot_error(b, c, "read failed");
			return;
		}
		if ((c->got += (size_t)r) < DATA_LEN)
			continue;
		done_one(b, c);
		if (b->stopping)
			return;
		c->state = ST_SEND;
	}
}

static void
conn_drive(struct conn *c)
{
	if (c->server)
		server_drive(c);
	else
		client_drive(c);
}

static void
conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	if (c->server) {
		free(c);
		return;
	}
	slot_start(c->slot);
}

static void
slot_start(struct slot *s)
{
	struct bench *b = s->b;
	struct conn *c = &s->c;
	int one = 1;

	if (b->stopping)
		return;
	memset(c, 0, sizeof(*c));
	c->slot = s;
	c->t0 = uv_hrtime();
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0)
		die(strerror(errno));
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->ssl = SSL_new(b->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set1_host(c->ssl, b->name) != 1)
		die("SSL_new");
	(void)uv_poll_init(&b->loop, &c->poll, c->fd);
	c->poll.data = c;
	c->state = ST_CONNECT;
	if (connect(c->fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) != 0 &&
	    errno != EINPROGRESS) {
		slot_error(b, c, strerror(errno));
		return;
	}
	c->want_write = 1;
	conn_watch(c);
}

static void
on_tick(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = uv_hrtime();
	double dt = (double)(now - b->last_ns) / 1e9;
	int tty = isatty(STDERR_FILENO);

	fprintf(stderr, "%stls-bench %s: %5.1f s  %llu ops  %.0f/s  %llu "
	    "errors%s", tty ? "\r" : "", b->mode ? "roundtrip" : "handshake",
	    (double)(now - b->start_ns) / 1e9, (unsigned long long)b->ops,
	    dt > 0 ? (double)(b->ops - b->last_ops) / dt : 0,
	    (unsigned long long)b->errors, tty ? "\033[K" : "\n");
	b->last_ns = now;
	b->last_ops = b->ops;
}

static void
on_end(uv_timer_t *t)
{
	stop_all(t->data);
}

static int
bench_main(int mode, int argc, char **argv)
{
	const char *connect_to = NULL, *ca = NULL;
	struct bench b;
	double secs, rate;
	unsigned i;
	int o;

	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'a' },
		{ "ca-cert", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "connections", required_argument, NULL, 'N' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	memset(&b, 0, sizeof(b));
	b.mode = mode;
	b.conns = 8;
	b.duration_ms = 10000;
	b.progress = isatty(STDERR_FILENO);
	b.name = "localhost";
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (o) {
		case 'a': connect_to = optarg; break;
		case 'c': ca = optarg; break;
		case 'n': b.name = optarg; break;
		case 'N': b.conns = (unsigned)atoi(optarg); break;
		case 'd': b.duration_ms = (uint64_t)(atof(optarg) * 1000); break;
		case 'C': b.count = (uint64_t)atoll(optarg); break;
		case 'j': b.json = 1; break;
		case 'p': b.progress = 1; break;
		default: return 1;
		}
	if (connect_to == NULL || ca == NULL ||
	    parse_addr(connect_to, &b.addr) != 0 || b.conns < 1 ||
	    b.conns > CONN_MAX || b.duration_ms < 100)
		die("usage: tls-bench handshake|roundtrip --connect IP:PORT "
		    "--ca-cert F [--name N] [--connections N] [--duration S] "
		    "[--count N] [--json] [--progress]");
	signal(SIGPIPE, SIG_IGN);
	/* One context for every connection; each handshake a full one. */
	if ((b.ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(b.ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(b.ctx, ca, NULL) != 1)
		die("cannot set up the TLS client");
	SSL_CTX_set_verify(b.ctx, SSL_VERIFY_PEER, NULL);
	(void)SSL_CTX_set_session_cache_mode(b.ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(b.ctx, SSL_OP_NO_TICKET);
	if ((b.slots = calloc(b.conns, sizeof(*b.slots))) == NULL)
		die("out of memory");
	(void)uv_loop_init(&b.loop);
	(void)uv_timer_init(&b.loop, &b.tick);
	(void)uv_timer_init(&b.loop, &b.end);
	b.tick.data = b.end.data = &b;
	b.start_ns = b.last_ns = uv_hrtime();
	if (b.progress)
		uv_timer_start(&b.tick, on_tick, 1000, 1000);
	if (b.count == 0)
		uv_timer_start(&b.end, on_end, b.duration_ms, 0);
	for (i = 0; i < b.conns; i++) {
		b.slots[i].b = &b;
		slot_start(&b.slots[i]);
	}
	(void)uv_run(&b.loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&b.loop);
	if (b.progress && isatty(STDERR_FILENO))
		fputc('\n', stderr);
	tcli_latency_sort(&b.lat);
	secs = (double)(b.end_ns - b.start_ns) / 1e9;
	rate = secs > 0 ? (double)b.ops / secs : 0;
	if (b.json)
		printf("{\"mode\": \"%s\", \"connections\": %u, \"seconds\": "
		    "%.3f, \"ops\": %llu, \"errors\": %llu, \"per_s\": %.1f, "
		    "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
		    mode ? "roundtrip" : "handshake", b.conns, secs,
		    (unsigned long long)b.ops, (unsigned long long)b.errors,
		    rate, tcli_latency_pct(&b.lat, 50),
		    tcli_latency_pct(&b.lat, 99), tcli_latency_pct(&b.lat, 100));
	else
		printf("tls-bench %s: %u connections, %.2f s\n  ops %llu (%llu "
		    "errors)\n  throughput %.1f/s\n  latency p50 %.3f ms, p99 "
		    "%.3f ms, max %.3f ms\n", mode ? "roundtrip" : "handshake",
		    b.conns, secs, (unsigned long long)b.ops,
		    (unsigned long long)b.errors, rate, tcli_latency_pct(&b.lat, 50),
		    tcli_latency_pct(&b.lat, 99), tcli_latency_pct(&b.lat, 100));
	free(b.slots);
	tcli_latency_free(&b.lat);
	SSL_CTX_free(b.ctx);
	return b.ops > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return server_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "handshake") == 0)
		return bench_main(MODE_HANDSHAKE, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "roundtrip") == 0)
		return bench_main(MODE_ROUNDTRIP, argc - 1, argv + 1);
	fprintf(stderr, "usage: tls-bench server|handshake|roundtrip ...\n");
	return 1;
}
