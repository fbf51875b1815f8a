/*
 * A TCP connection that carries whole frames.  Bytes gather in one buffer
 * that starts small and doubles as bytes arrive, up to the length the
 * frame's header gives (at most TRIPKI_FRAME_MAX): a peer that announces a
 * big frame and sends it slowly costs what it has sent, not 64 KiB.
 * tripki_frame_peek says when a frame is complete, and a header no frame
 * can start with is reported at once, so a peer cannot make us buffer more
 * than one frame.  A timer closes a link that waits too long: for a daemon
 * whenever it waits for a frame, for a client between a request and its
 * answer.  Bytes that arrive do not restart it: only a whole frame does, so
 * a peer that dribbles a byte at a time is closed all the same.
 *
 * A peer that sends requests without reading the answers would make the
 * answers pile up in memory: past TNET_WRITE_MAX bytes queued, the link
 * stops reading (the peer's own sends then block) until half of them are
 * out, and the timer closes a peer that never reads again.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "net.h"

struct wreq {
	uv_write_t w;
	tnet_link *l;
	size_t n;
	uint8_t data[];
};

static void process(tnet_link *l);
static void on_timeout(uv_timer_t *t);

static void
in_free(tnet_link *l)
{
	if (l->in != NULL)
		OPENSSL_cleanse(l->in, l->in_cap);
	free(l->in);
	l->in = NULL;
	l->in_cap = 0;
}

/* Makes room for `want` bytes: a new buffer, the old one wiped. */
static int
in_grow(tnet_link *l, size_t want)
{
	uint8_t *p;

	if (want <= l->in_cap)
		return 0;
	if ((p = malloc(want)) == NULL)
		return -1;
	if (l->in_len > 0)
		memcpy(p, l->in, l->in_len);
	in_free(l);
	l->in = p;
	l->in_cap = want;
	return 0;
}

static void
on_handle_closed(uv_handle_t *h)
{
	tnet_link *l = h->data;

	if (--l->handles > 0)
		return;
	if (l->ops != NULL && l->ops->on_close != NULL)
		l->ops->on_close(l);
	in_free(l);
	free(l);
}

int
tnet_link_new(uv_loop_t *loop, tnet_link **out)
{
	tnet_link *l;
	int r;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return UV_ENOMEM;
	if ((r = uv_tcp_init(loop, &l->tcp)) != 0) {
		free(l);
		return r;
	}
	(void)uv_timer_init(loop, &l->timer);
	l->tcp.data = l;
	l->timer.data = l;
	l->handles = 2;
	l->timeout_ms = TNET_DEFAULT_TIMEOUT_MS;
	*out = l;
	return 0;
}

/* Stops reading, if reading. */
static void
read_off(tnet_link *l)
{
	if (l->reading) {
		uv_read_stop((uv_stream_t *)&l->tcp);
		l->reading = 0;
	}
}

static void
do_close(tnet_link *l)
{
	if (l->handles == 0 || uv_is_closing((uv_handle_t *)&l->tcp))
		return;
	l->closing = 1;
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, on_handle_closed);
	uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
}

void
tnet_link_discard(tnet_link *l)
{
	l->ops = NULL;
	do_close(l);
}

void
tnet_link_close(tnet_link *l, int after_write)
{
	if (uv_is_closing((uv_handle_t *)&l->tcp))
		return;
	l->closing = 1;
	read_off(l);
	if (after_write && l->writes > 0) {
		/* A peer that never reads must not keep us either. */
		l->close_after_write = 1;
		uv_timer_start(&l->timer, on_timeout, l->timeout_ms, 0);
		return;
	}
	do_close(l);
}

static void
end(tnet_link *l, int err)
{
	if (l->closing)
		return;
	if (l->ops->on_end != NULL)
		l->ops->on_end(l, err);
	tnet_link_close(l, 1);
}

static void
on_timeout(uv_timer_t *t)
{
	tnet_link *l = t->data;

	if (l->close_after_write) {
		do_close(l);
		return;
	}
	l->timed_out = 1;
	end(l, UV_ETIMEDOUT);
}

static void
arm(tnet_link *l)
{
	if (!l->closing && !l->held && l->timeout_ms > 0)
		uv_timer_start(&l->timer, on_timeout, l->timeout_ms, 0);
}

/*
 * Room for the next read: TNET_IN_FIRST bytes at first, then twice as much
 * each time the buffer is full, never past the frame's announced length.
 * No room at all (out of memory) makes libuv report UV_ENOBUFS, and the
 * link ends.
 */
static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	tnet_link *l = h->data;
	size_t limit = TRIPKI_FRAME_MAX, flen = 0, want;
	uint8_t type;

	(void)hint;
	if (tripki_frame_peek(l->in, l->in_len, &flen, &type) == TRIPKI_OK &&
	    flen > l->in_len)
		limit = flen;
	if (l->in_cap == 0)
		want = TNET_IN_FIRST;
	else if (l->in_len == l->in_cap)
		want = l->in_cap * 2;
	else
		want = l->in_cap;
	if (want > limit)
		want = limit > l->in_len ? limit : l->in_cap;
	if (in_grow(l, want) != 0 || l->in_cap == l->in_len) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = (char *)l->in + l->in_len;
	buf->len = l->in_cap - l->in_len;
}

/* A whole frame, or a header no frame starts with, is in the buffer. */
static int
whole_frame(const tnet_link *l)
{
	size_t flen = 0;
	uint8_t type = 0;
	int r = tripki_frame_peek(l->in, l->in_len, &flen, &type);

	return r != TRIPKI_E_AGAIN && (r != TRIPKI_OK || l->in_len >= flen);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tnet_link *l = s->data;

	(void)buf;
	if (nread < 0 && l->held) {
		/*
		 * The peer is done sending (or gone) while its frame is being
		 * answered: the answer still goes out, then the link ends.
		 */
		read_off(l);
		l->read_err = (int)nread;
		return;
	}
	if (nread < 0) {
		end(l, (int)nread);
		return;
	}
	if (nread == 0)
		return; /* EAGAIN, or a buffer that could not be had */
	l->in_len += (size_t)nread;
	if (l->held) {
		/*
		 * Held: bytes gather until a whole frame waits, which is then
		 * left for tnet_link_release.  Reading on while held spares
		 * the event loop a change of interest per costly frame.
		 */
		if (whole_frame(l))
			read_off(l);
		return;
	}
	process(l);
}

static int
read_on(tnet_link *l)
{
	int r = 0;

	if (!l->reading && !l->closing && !l->wpaused && l->read_err == 0 &&
	    !(l->held && whole_frame(l)) &&
	    (r = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read)) == 0)
		l->reading = 1;
	return r;
}

int
tnet_link_start(tnet_link *l, const tnet_link_ops *ops, void *data,
    uint64_t timeout_ms, int idle_close)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;

	l->ops = ops;
	l->data = data;
	l->timeout_ms = timeout_ms;
	l->idle_close = idle_close;
	if (l->peer[0] == '\0') {
		/* Unless the caller has set it already. */
		if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&ss,
		    &len) == 0)
			tnet_addr_str((struct sockaddr *)&ss, l->peer,
			    sizeof(l->peer));
		else
			strcpy(l->peer, "?");
	}
	(void)uv_tcp_nodelay(&l->tcp, 1);
	if ((r = read_on(l)) != 0)
		return r;
	if (idle_close)
		arm(l);
	return 0;
}

static void
on_written(uv_write_t *w, int status)
{
	struct wreq *q = (struct wreq *)w;
	tnet_link *l = q->l;

	l->writes--;
	l->wqueued -= q->n;
	OPENSSL_cleanse(q->data, q->n);
	free(q);
	if (status < 0 && status != UV_ECANCELED)
		end(l, status);
	else if (l->close_after_write && l->writes == 0)
		do_close(l);
	else if (l->wpaused && l->wqueued <= TNET_WRITE_MAX / 2 &&
	    !l->closing) {
		l->wpaused = 0;
		(void)read_on(l);
		process(l);
	}
}

int
tnet_link_send(tnet_link *l, const uint8_t *p, size_t n)
{
	struct wreq *q;
	uv_buf_t b;
	int r;

	if (uv_is_closing((uv_handle_t *)&l->tcp))
		return UV_ECANCELED;
	if (l->writes == 0) {
		/* Nothing queued: an answer mostly goes out at once, uncopied. */
		b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
		r = uv_try_write((uv_stream_t *)&l->tcp, &b, 1);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
		if (n == 0) {
			if (!l->idle_close)
				arm(l);
			return 0;
		}
	}
	if ((q = malloc(sizeof(*q) + n)) == NULL)
		return UV_ENOMEM;
	q->l = l;
	q->n = n;
	memcpy(q->data, p, n);
	b = uv_buf_init((char *)q->data, (unsigned)n);
	if ((r = uv_write(&q->w, (uv_stream_t *)&l->tcp, &b, 1,
	    on_written)) != 0) {
		free(q);
		return r;
	}
	l->writes++;
	l->wqueued += n;
	if (!l->idle_close)
		arm(l);
	return 0;
}

void
tnet_link_release(tnet_link *l)
{
	l->held = 0;
	if (l->closing)
		return;
	(void)read_on(l);
	process(l);
	if (l->read_err != 0 && !l->held) {
		end(l, l->read_err);
		return;
	}
	if (l->idle_close && !l->held)
		arm(l);
}

/* Hands every whole frame in the buffer to the owner, one at a time. */
static void
process(tnet_link *l)
{
	size_t flen = 0;
	uint8_t type = 0;
	int r, hold;

	while (!l->held && !l->closing) {
		if (l->wqueued > TNET_WRITE_MAX) {
			/* The peer does not read: neither do we, for now. */
			l->wpaused = 1;
			read_off(l);
			return;
		}
		r = tripki_frame_peek(l->in, l->in_len, &flen, &type);
		if (r == TRIPKI_E_AGAIN || (r == TRIPKI_OK && l->in_len < flen))
			break;
		uv_timer_stop(&l->timer);
		if (r != TRIPKI_OK) {
			(void)l->ops->on_frame(l, r, NULL, 0, 0);
			tnet_link_close(l, 1);
			return;
		}
		hold = l->ops->on_frame(l, TRIPKI_OK, l->in, flen, type);
		memmove(l->in, l->in + flen, l->in_len - flen);
		l->in_len -= flen;
		/* A big frame handled: give its room back. */
		if (l->in_len == 0 && l->in_cap > TNET_IN_FIRST)
			in_free(l);
		if (hold) {
			/* Reading goes on until a whole frame waits: on_read. */
			l->held = 1;
			if (whole_frame(l))
				read_off(l);
			return;
		}
		if (l->idle_close)
			arm(l);
	}
}
