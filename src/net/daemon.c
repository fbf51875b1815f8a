/*
 * A daemon: one listening socket, its connections, one role.  Cheap frames
 * are answered on the loop thread; costly ones (an RSA private operation)
 * are opened on libuv's thread pool and finished back on the loop thread,
 * so one slow handshake never stalls the others.  Each connection handles
 * one frame at a time, in order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/socket.h>

#include "net.h"

struct conn {
	tnet_daemon *d;
	tnet_link *link;           /* NULL once the link is closed */
	struct conn *prev, *next;
	uv_work_t work;
	int busy;                  /* a costly frame is on the pool */
	uint8_t *frame;
	size_t n;
	void *req;
	char peer[TNET_PEER_MAX];
};

struct tnet_daemon {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	tnet_daemon_config cfg;
	char addr[TNET_PEER_MAX];
	struct conn *conns;
	size_t nconns;
	size_t busy;
	int stopping;
	int listener_closed;
	tripki_buf out;
};

static void
note(tnet_daemon *d, int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (d->cfg.note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->cfg.note(d->cfg.ctx, level, line);
}

static void
maybe_stopped(tnet_daemon *d)
{
	if (!d->stopping || !d->listener_closed || d->nconns > 0 ||
	    d->busy > 0)
		return;
	tripki_buf_free(&d->out);
	if (d->cfg.on_stopped != NULL)
		d->cfg.on_stopped(d->cfg.ctx);
	free(d);
}

static void
conn_free(struct conn *c)
{
	free(c->frame);
	free(c);
}

/* Sends the answer in d->out; an error closes the connection after it. */
static void
answer(struct conn *c, int r)
{
	tnet_daemon *d = c->d;

	if (d->out.len > 0)
		(void)tnet_link_send(c->link, d->out.data, d->out.len);
	tripki_buf_reset(&d->out);
	if (r != TRIPKI_OK || d->stopping)
		tnet_link_close(c->link, 1);
}

static void
work_cb(uv_work_t *w)
{
	struct conn *c = w->data;
	const tnet_role *role = &c->d->cfg.role;

	c->req = role->open(role->ctx, c->frame, c->n);
}

static void
after_work_cb(uv_work_t *w, int status)
{
	struct conn *c = w->data;
	tnet_daemon *d = c->d;
	const tnet_role *role = &d->cfg.role;
	int r;

	(void)status;
	c->busy = 0;
	d->busy--;
	free(c->frame);
	c->frame = NULL;
	if (c->link == NULL) {
		/* The peer left while we worked: nobody to answer. */
		role->req_free(c->req);
		conn_free(c);
		maybe_stopped(d);
		return;
	}
	r = role->finish(role->ctx, c->req, tnet_now_ms(), c->peer, &d->out);
	role->req_free(c->req);
	c->req = NULL;
	answer(c, r);
	tnet_link_release(c->link);
}

static int
on_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t type)
{
	struct conn *c = l->data;
	tnet_daemon *d = c->d;
	const tnet_role *role = &d->cfg.role;
	int r;

	tripki_buf_reset(&d->out);
	if (err != TRIPKI_OK) {
		note(d, TNET_INFO, "closing %s: %s", c->peer,
		    tripki_strerror(err));
		(void)tripki_frame_error(&d->out, err);
		answer(c, err);
		return 0;
	}
	if (tripki_frame_costly(type) && role->open != NULL) {
		if ((c->frame = malloc(n)) == NULL) {
			(void)tripki_frame_error(&d->out, TRIPKI_E_NOMEM);
			answer(c, TRIPKI_E_NOMEM);
			return 0;
		}
		memcpy(c->frame, f, n);
		c->n = n;
		c->work.data = c;
		if (uv_queue_work(d->loop, &c->work, work_cb,
		    after_work_cb) != 0) {
			free(c->frame);
			c->frame = NULL;
			(void)tripki_frame_error(&d->out, TRIPKI_E_INTERNAL);
			answer(c, TRIPKI_E_INTERNAL);
			return 0;
		}
		c->busy = 1;
		d->busy++;
		return 1;
	}
	r = role->handle(role->ctx, f, n, tnet_now_ms(), c->peer, &d->out);
	answer(c, r);
	return 0;
}

static void
on_end(tnet_link *l, int uv_err)
{
	struct conn *c = l->data;

	if (uv_err == UV_ETIMEDOUT)
		note(c->d, TNET_INFO, "closing %s: idle for %llu s", c->peer,
		    (unsigned long long)(l->timeout_ms / 1000));
	else if (uv_err != UV_EOF)
		note(c->d, TNET_DEBUG, "%s: %s", c->peer, uv_strerror(uv_err));
}

static void
on_close(tnet_link *l)
{
	struct conn *c = l->data;
	tnet_daemon *d = c->d;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns--;
	c->link = NULL;
	if (!c->busy)
		conn_free(c);
	maybe_stopped(d);
}

static const tnet_link_ops conn_ops = { on_frame, on_end, on_close };

static int
busy_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t t)
{
	(void)l, (void)err, (void)f, (void)n, (void)t;
	return 0;
}

static const tnet_link_ops busy_ops = { busy_frame, NULL, NULL };

/* Over the cap: say "busy" and hang up, rather than leave it queued. */
static void
refuse(tnet_daemon *d, tnet_link *l)
{
	tripki_buf b;

	tripki_buf_init(&b, 64);
	if (tnet_link_start(l, &busy_ops, d, 1000, 1) == 0 &&
	    tripki_frame_error(&b, TRIPKI_E_BUSY) == TRIPKI_OK)
		(void)tnet_link_send(l, b.data, b.len);
	tripki_buf_free(&b);
	note(d, TNET_WARN, "refused %s: %zu connections open (the cap)",
	    l->peer, d->nconns);
	tnet_link_close(l, 1);
}

static void
on_connection(uv_stream_t *server, int status)
{
	tnet_daemon *d = server->data;
	tnet_link *l;
	struct conn *c;

	if (status < 0) {
		note(d, TNET_WARN, "accept: %s", uv_strerror(status));
		return;
	}
	if (tnet_link_new(d->loop, &l) != 0)
		return;
	if (uv_accept(server, (uv_stream_t *)&l->tcp) != 0) {
		tnet_link_discard(l);
		return;
	}
	if (d->stopping) {
		tnet_link_discard(l);
		return;
	}
	if (d->nconns >= d->cfg.max_conns) {
		refuse(d, l);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		tnet_link_discard(l);
		return;
	}
	c->d = d;
	c->link = l;
	if (tnet_link_start(l, &conn_ops, c, d->cfg.timeout_ms, 1) != 0) {
		free(c);
		tnet_link_discard(l);
		return;
	}
	memcpy(c->peer, l->peer, sizeof(c->peer));
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	note(d, TNET_DEBUG, "connection from %s", c->peer);
}

static int
resolve(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	struct addrinfo hints, *res = NULL;
	char ps[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if ((r = getaddrinfo(host, ps, &hints, &res)) != 0)
		return r;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int
tnet_daemon_bind(uv_loop_t *loop, const tnet_daemon_config *cfg,
    tnet_daemon **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	tnet_daemon *d;
	int fd = -1, one = 1, r;

	if ((r = resolve(cfg->host, cfg->port, &ss)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", cfg->host,
		    gai_strerror(r));
		return UV_EINVAL;
	}
	/*
	 * Our own socket so that bind errors ("address in use") come now,
	 * not when we listen after registering with the CA.
	 */
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->host,
		    cfg->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return UV_ENOMEM;
	}
	d->loop = loop;
	d->cfg = *cfg;
	if (d->cfg.max_conns == 0)
		d->cfg.max_conns = TNET_DEFAULT_MAX_CONNS;
	if (d->cfg.timeout_ms == 0)
		d->cfg.timeout_ms = TNET_DEFAULT_TIMEOUT_MS;
	tripki_buf_init(&d->out, TRIPKI_FRAME_MAX);
	tnet_addr_str((struct sockaddr *)&ss, d->addr, sizeof(d->addr));
	(void)uv_tcp_init(loop, &d->tcp);
	d->tcp.data = d;
	if ((r = uv_tcp_open(&d->tcp, fd)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->addr,
		    uv_strerror(r));
		close(fd);
		d->stopping = 1;
		d->cfg.on_stopped = NULL;
		tnet_daemon_stop(d);
		return r;
	}
	*out = d;
	return 0;
}

int
tnet_daemon_listen(tnet_daemon *d, char *err, size_t errlen)
{
	int r;

	if ((r = uv_listen((uv_stream_t *)&d->tcp, 511, on_connection)) != 0)
		snprintf(err, errlen, "cannot listen on %s: %s", d->addr,
		    uv_strerror(r));
	return r;
}

const char *
tnet_daemon_addr(const tnet_daemon *d)
{
	return d->addr;
}

size_t
tnet_daemon_conns(const tnet_daemon *d)
{
	return d->nconns;
}

static void
on_listener_closed(uv_handle_t *h)
{
	tnet_daemon *d = h->data;

	d->listener_closed = 1;
	maybe_stopped(d);
}

void
tnet_daemon_stop(tnet_daemon *d)
{
	struct conn *c, *next;

	if (uv_is_closing((uv_handle_t *)&d->tcp))
		return;
	d->stopping = 1;
	uv_close((uv_handle_t *)&d->tcp, on_listener_closed);
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		/* A connection on the pool answers, then closes. */
		if (!c->busy)
			tnet_link_close(c->link, 1);
	}
}
