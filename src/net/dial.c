/*
 * Outgoing connections that do not give up at the first refusal: the
 * parties may start in any order, so a peer that is not up yet is tried
 * again after a backoff that doubles up to 5 s, until retry_for has passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

struct tnet_dial {
	uv_loop_t *loop;
	char host[256];
	char port[8];
	uint16_t portn;
	uint64_t deadline;         /* uv_now() time; 0: for ever */
	tnet_dial_cb cb;
	void *ctx;
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	uv_connect_t creq;
	tnet_link *attempt;        /* the connect in flight */
	struct addrinfo *res;      /* what the last lookup gave */
	struct addrinfo *next;     /* the address to try after this one */
	int resolving;             /* a lookup in flight */
	unsigned attempts;
	int done;                  /* cb called or cancelled */
};

static void attempt(tnet_dial *d);
static int connect_next(tnet_dial *d);

static void
on_timer_closed(uv_handle_t *h)
{
	tnet_dial *d = h->data;

	uv_freeaddrinfo(d->res);
	free(d);
}

/* Frees d once no lookup or connect is in flight. */
static void
finish(tnet_dial *d)
{
	d->done = 1;
	if (d->attempt != NULL || d->resolving)
		return;
	if (!uv_is_closing((uv_handle_t *)&d->timer))
		uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

static void
on_timer(uv_timer_t *t)
{
	attempt(t->data);
}

/*
 * Any failure of one attempt — a name that does not resolve yet, a refused
 * or unreachable address — is tried again after the backoff, until the
 * deadline: at boot, the peer's name may come up after us.
 */
static void
retry_later(tnet_dial *d, int err)
{
	uint64_t wait = tnet_backoff_ms(d->attempts);

	if (d->deadline != 0 && uv_now(d->loop) + wait >= d->deadline) {
		d->done = 1;
		d->cb(d->ctx, NULL, err);
		finish(d);
		return;
	}
	uv_timer_start(&d->timer, on_timer, wait, 0);
}

static void
on_connect(uv_connect_t *req, int status)
{
	tnet_dial *d = req->data;
	tnet_link *l = d->attempt;

	d->attempt = NULL;
	if (d->done) {
		tnet_link_discard(l);
		finish(d);
		return;
	}
	if (status == 0) {
		d->done = 1;
		d->cb(d->ctx, l, 0);
		finish(d);
		return;
	}
	tnet_link_discard(l);
	/* The next address of the name (IPv4 after IPv6, say), at once. */
	while (d->next != NULL)
		if ((status = connect_next(d)) == 0)
			return;
	retry_later(d, status);
}

/* Connects to addr; 0 or a libuv error. */
static int
connect_addr(tnet_dial *d, const struct sockaddr *addr)
{
	int r;

	if ((r = tnet_link_new(d->loop, &d->attempt)) != 0) {
		d->attempt = NULL;
		return r;
	}
	d->creq.data = d;
	if ((r = uv_tcp_connect(&d->creq, &d->attempt->tcp, addr,
	    on_connect)) != 0) {
		tnet_link_discard(d->attempt);
		d->attempt = NULL;
	}
	return r;
}

/* Connects to d->next and moves it on; 0 or a libuv error. */
static int
connect_next(tnet_dial *d)
{
	struct addrinfo *ai = d->next;

	d->next = ai->ai_next;
	return connect_addr(d, ai->ai_addr);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	tnet_dial *d = req->data;
	int r;

	d->resolving = 0;
	if (d->done) {
		uv_freeaddrinfo(res);
		finish(d);
		return;
	}
	if (status != 0) {
		uv_freeaddrinfo(res);
		retry_later(d, status);
		return;
	}
	uv_freeaddrinfo(d->res);
	d->res = d->next = res;
	r = UV_EAI_NONAME;
	while (d->next != NULL)
		if ((r = connect_next(d)) == 0)
			return;
	retry_later(d, r);
}

/*
 * One attempt: look the name up (off the loop thread), then connect.  An
 * address written as numbers needs no lookup, nor the trip to the thread
 * pool that one costs.
 */
static void
attempt(tnet_dial *d)
{
	struct sockaddr_storage ss;
	struct addrinfo hints;
	int r;

	d->attempts++;
	memset(&ss, 0, sizeof(ss));
	if (uv_ip4_addr(d->host, d->portn, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(d->host, d->portn, (struct sockaddr_in6 *)&ss) == 0) {
		if ((r = connect_addr(d, (const struct sockaddr *)&ss)) != 0)
			retry_later(d, r);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	d->gai.data = d;
	d->resolving = 1;
	if ((r = uv_getaddrinfo(d->loop, &d->gai, on_resolved, d->host, d->port,
	    &hints)) != 0) {
		d->resolving = 0;
		retry_later(d, r);
	}
}

int
tnet_dial_start(uv_loop_t *loop, const char *host, uint16_t port,
    uint64_t retry_for_ms, tnet_dial_cb cb, void *ctx, tnet_dial **out)
{
	tnet_dial *d;

	if (strlen(host) >= sizeof(d->host))
		return UV_EINVAL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return UV_ENOMEM;
	strcpy(d->host, host);
	snprintf(d->port, sizeof(d->port), "%u", port);
	d->portn = port;
	d->loop = loop;
	d->cb = cb;
	d->ctx = ctx;
	uv_update_time(loop);
	d->deadline = retry_for_ms ? uv_now(loop) + retry_for_ms : 0;
	(void)uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	if (out != NULL)
		*out = d;
	attempt(d);
	return 0;
}

void
tnet_dial_cancel(tnet_dial *d)
{
	if (d == NULL || d->done)
		return;
	uv_timer_stop(&d->timer);
	if (d->resolving)
		(void)uv_cancel((uv_req_t *)&d->gai);
	finish(d);
}

unsigned
tnet_dial_attempts(const tnet_dial *d)
{
	return d->attempts;
}
