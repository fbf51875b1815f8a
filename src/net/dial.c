/*
 * Outgoing connections that do not give up at the first refusal: the
 * parties may start in any order, so a peer that is not up yet is tried
 * again after a backoff that doubles up to 5 s, until retry_for has passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>

#include "net.h"

struct tnet_dial {
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	uint64_t deadline;         /* uv_now() time; 0: for ever */
	tnet_dial_cb cb;
	void *ctx;
	uv_timer_t timer;
	uv_connect_t creq;
	tnet_link *attempt;        /* the connect in flight */
	unsigned attempts;
	int done;                  /* cb called or cancelled */
};

static void attempt(tnet_dial *d);

static void
on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Frees d once no connect is in flight. */
static void
finish(tnet_dial *d)
{
	d->done = 1;
	if (d->attempt != NULL)
		return;
	if (!uv_is_closing((uv_handle_t *)&d->timer))
		uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

static void
on_timer(uv_timer_t *t)
{
	attempt(t->data);
}

static void
on_connect(uv_connect_t *req, int status)
{
	tnet_dial *d = req->data;
	tnet_link *l = d->attempt;
	uint64_t wait;

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
	wait = tnet_backoff_ms(d->attempts);
	if (d->deadline != 0 && uv_now(d->loop) + wait >= d->deadline) {
		d->done = 1;
		d->cb(d->ctx, NULL, status);
		finish(d);
		return;
	}
	uv_timer_start(&d->timer, on_timer, wait, 0);
}

static void
attempt(tnet_dial *d)
{
	int r;

	d->attempts++;
	if ((r = tnet_link_new(d->loop, &d->attempt)) != 0) {
		d->attempt = NULL;
		d->done = 1;
		d->cb(d->ctx, NULL, r);
		finish(d);
		return;
	}
	d->creq.data = d;
	if ((r = uv_tcp_connect(&d->creq, &d->attempt->tcp,
	    (struct sockaddr *)&d->addr, on_connect)) != 0) {
		tnet_link_discard(d->attempt);
		d->attempt = NULL;
		d->done = 1;
		d->cb(d->ctx, NULL, r);
		finish(d);
	}
}

int
tnet_dial_start(uv_loop_t *loop, const char *host, uint16_t port,
    uint64_t retry_for_ms, tnet_dial_cb cb, void *ctx, tnet_dial **out)
{
	struct addrinfo hints, *res = NULL;
	char ps[8];
	tnet_dial *d;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return UV_EAI_NONAME;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		freeaddrinfo(res);
		return UV_ENOMEM;
	}
	memcpy(&d->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
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
	finish(d);
}

unsigned
tnet_dial_attempts(const tnet_dial *d)
{
	return d->attempts;
}
