/*
 * A daemon: one listening socket, its connections, one role.  Cheap frames
 * are answered on the loop thread; costly ones (an RSA private operation)
 * are opened on libuv's thread pool and finished back on the loop thread,
 * so one slow handshake never stalls the others.  Each connection handles
 * one frame at a time, in order.
 *
 * Until a peer has proved it holds a key (a costly frame or an M7 answered
 * without error) its connection is a handshake in progress, and the
 * daemon rations what such peers get (docs/SECURITY.md):
 *   - connections per source (an IPv4 address, an IPv6 /64);
 *   - handshakes in progress, as OpenSSH's MaxStartups start:rate:full:
 *     past `start` a new connection is refused with a probability rising
 *     from rate% to 100% at `full` -- unless the oldest handshake has
 *     stalled, in which case that one is dropped to make room, so that
 *     slow peers cannot keep new clients out;
 *   - a deadline for the whole handshake, whatever the peer sends;
 *   - a token bucket per source for costly frames, checked before any
 *     RSA work, and a bound on the costly frames queued for the pool.
 * Each refusal is the error frame BUSY, then a close.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "net.h"

#define SRC_BUCKETS 4096        /* hash chains of the source table */
#define TICK_MS 200             /* handshake deadlines are checked this often */
#define SWEEP_MS 1000           /* forgotten sources are swept this often */
#define NOTE_EVERY_MS 5000      /* one line per kind of refusal at most */
#define STALL_MS_MAX 1000       /* a handshake older than this has stalled */
#define EVICT_SCAN 16           /* oldest handshakes looked at for one */

/* What one source holds: its connections and its token bucket. */
struct src {
	struct src *next;
	uint8_t ip[16];
	size_t conns;
	double tokens;
	uint64_t stamp;            /* uv_now() of the last refill */
};

struct conn {
	tnet_daemon *d;
	tnet_link *link;           /* NULL once the link is closed */
	struct conn *prev, *next;  /* every connection */
	struct conn *hprev, *hnext;/* handshakes in progress, oldest first */
	struct src *src;
	uint64_t since;            /* uv_now() at accept */
	uint64_t active;           /* uv_now() at the last whole frame */
	int in_hs;
	uv_work_t work;
	int busy;                  /* a costly frame is on the pool */
	uint8_t type;              /* of that frame */
	uint8_t *frame;
	size_t n;
	void *req;
	char peer[TNET_PEER_MAX];
};

/* Kinds of rate-limited notes. */
enum { N_SOURCE, N_STARTUPS, N_EVICT, N_RATE, N_PENDING, N_DEADLINE, N_CAP,
	N_SOURCES, N_KINDS };

struct tnet_daemon {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	uv_timer_t tick;
	tnet_daemon_config cfg;
	tnet_limits lim;
	char addr[TNET_PEER_MAX];
	struct conn *conns;
	size_t nconns;
	struct conn *hs_head, *hs_tail;
	size_t startups;
	size_t busy;
	struct src *srcs[SRC_BUCKETS];
	size_t nsrcs;
	uint64_t seed;             /* keys the source hash */
	uint64_t rng;              /* xorshift state for early drops */
	uint64_t last_sweep;
	struct { uint64_t last; unsigned long skipped; } notes[N_KINDS];
	int stopping;
	int listener_closed;
	int tick_closed;
	tripki_buf out;
};

static void
note(tnet_daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/*
 * A warning that a flood would repeat thousands of times a second: said
 * at most once every NOTE_EVERY_MS per kind, with a count of the rest.
 */
static void
note_limited(tnet_daemon *d, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note_limited(tnet_daemon *d, int kind, const char *fmt, ...)
{
	char line[200];
	uint64_t now = uv_now(d->loop);
	va_list ap;

	if (d->notes[kind].last != 0 &&
	    now - d->notes[kind].last < NOTE_EVERY_MS) {
		d->notes[kind].skipped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->notes[kind].skipped > 0)
		note(d, TNET_WARN, "%s (and %lu more like it since the last "
		    "such line)", line, d->notes[kind].skipped);
	else
		note(d, TNET_WARN, "%s", line);
	d->notes[kind].last = now;
	d->notes[kind].skipped = 0;
}

static void
maybe_stopped(tnet_daemon *d)
{
	struct src *s, *next;
	size_t i;

	if (!d->stopping || !d->listener_closed || !d->tick_closed ||
	    d->nconns > 0 || d->busy > 0)
		return;
	for (i = 0; i < SRC_BUCKETS; i++)
		for (s = d->srcs[i]; s != NULL; s = next) {
			next = s->next;
			free(s);
		}
	tripki_buf_free(&d->out);
	if (d->cfg.on_stopped != NULL)
		d->cfg.on_stopped(d->cfg.ctx);
	free(d);
}

/* ---- Sources ---- */

/* The source of an address: IPv4 as ::ffff:a.b.c.d, IPv6 by its /64. */
static void
src_key(const struct sockaddr_storage *ss, uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(ip, &in6->sin6_addr, 16);
		else
			memcpy(ip, &in6->sin6_addr, 8);
	}
}

static size_t
src_hash(const tnet_daemon *d, const uint8_t ip[16])
{
	uint64_t h = d->seed;
	size_t i;

	for (i = 0; i < 16; i++) {
		h ^= ip[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return (size_t)(h % SRC_BUCKETS);
}

static void
src_refill(const tnet_daemon *d, struct src *s, uint64_t now)
{
	if (d->lim.rate < 0)
		return;
	s->tokens += (double)(now - s->stamp) * d->lim.rate / 1000.0;
	if (s->tokens > d->lim.burst)
		s->tokens = d->lim.burst;
	s->stamp = now;
}

#define SRC_FULL_SWEEP_MS 100

/* Forgets sources with no connection whose bucket is full again. */
static void
src_sweep(tnet_daemon *d, uint64_t now)
{
	struct src **pp, *s;
	size_t i;

	d->last_sweep = now;
	for (i = 0; i < SRC_BUCKETS; i++)
		for (pp = &d->srcs[i]; (s = *pp) != NULL;) {
			src_refill(d, s, now);
			if (s->conns == 0 && (d->lim.rate < 0 ||
			    s->tokens >= d->lim.burst)) {
				*pp = s->next;
				free(s);
				d->nsrcs--;
			} else
				pp = &s->next;
		}
}

/* The entry of a source, made if new; NULL when the table is full. */
static struct src *
src_get(tnet_daemon *d, const uint8_t ip[16], uint64_t now)
{
	size_t h = src_hash(d, ip);
	struct src *s;

	for (s = d->srcs[h]; s != NULL; s = s->next)
		if (memcmp(s->ip, ip, 16) == 0)
			return s;
	if (d->nsrcs >= d->lim.max_sources) {
		/* A full table is walked at most every SRC_FULL_SWEEP_MS, not
		 * once for each newcomer refused meanwhile. */
		if (now - d->last_sweep >= SRC_FULL_SWEEP_MS)
			src_sweep(d, now);
		if (d->nsrcs >= d->lim.max_sources)
			return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->ip, ip, 16);
	s->tokens = d->lim.burst;
	s->stamp = now;
	s->next = d->srcs[h];
	d->srcs[h] = s;
	d->nsrcs++;
	return s;
}

/* Takes a token for a costly frame; 0 when the bucket is empty. */
static int
src_take(tnet_daemon *d, struct src *s)
{
	if (d->lim.rate < 0)
		return 1;
	src_refill(d, s, uv_now(d->loop));
	if (s->tokens < 1.0)
		return 0;
	s->tokens -= 1.0;
	return 1;
}

/* ---- Handshakes in progress ---- */

static void
hs_add(tnet_daemon *d, struct conn *c)
{
	c->in_hs = 1;
	c->hprev = d->hs_tail;
	c->hnext = NULL;
	if (d->hs_tail != NULL)
		d->hs_tail->hnext = c;
	else
		d->hs_head = c;
	d->hs_tail = c;
	d->startups++;
}

static void
hs_remove(tnet_daemon *d, struct conn *c)
{
	if (!c->in_hs)
		return;
	if (c->hprev != NULL)
		c->hprev->hnext = c->hnext;
	else
		d->hs_head = c->hnext;
	if (c->hnext != NULL)
		c->hnext->hprev = c->hprev;
	else
		d->hs_tail = c->hprev;
	c->hprev = c->hnext = NULL;
	c->in_hs = 0;
	d->startups--;
}

/* Frames whose success proves the peer holds a key. */
static int
authenticates(uint8_t type)
{
	return tripki_frame_costly(type) || type == TRIPKI_M7;
}

static uint64_t
stall_ms(const tnet_daemon *d)
{
	uint64_t s = d->lim.handshake_ms / 2;

	return s < STALL_MS_MAX ? s : STALL_MS_MAX;
}

/* Whether a new connection is dropped early (MaxStartups). */
static int
drop_early(tnet_daemon *d)
{
	unsigned start = d->lim.startups_start, full = d->lim.startups_full;
	unsigned rate = d->lim.startups_rate, p;

	if (d->startups >= full)
		return 1;
	if (d->startups < start)
		return 0;
	p = rate + (unsigned)((100 - rate) * (d->startups - start) /
	    (full - start + 1));
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return d->rng % 100 < p;
}

/* The oldest handshake that has stalled (not on the pool), or NULL. */
static struct conn *
stalled(tnet_daemon *d, uint64_t now)
{
	struct conn *c;
	int i;

	for (c = d->hs_head, i = 0; c != NULL && i < EVICT_SCAN;
	    c = c->hnext, i++) {
		if (now - c->since < stall_ms(d))
			return NULL;
		if (!c->busy && c->link != NULL)
			return c;
	}
	return NULL;
}

/*
 * The established connection idle longest (at least a second), or NULL.
 * Dropping it costs its client a reconnection, not its session: sessions
 * outlive connections.  Without this, connections that finished one
 * handshake and then sit idle could hold every slot of --max-conns.
 */
static struct conn *
idle_oldest(tnet_daemon *d, uint64_t now)
{
	struct conn *c, *best = NULL;

	for (c = d->conns; c != NULL; c = c->next)
		if (!c->in_hs && !c->busy && c->link != NULL &&
		    now - c->active >= 1000 &&
		    (best == NULL || c->active < best->active))
			best = c;
	return best;
}

/* ---- Connections ---- */

static void
conn_free(struct conn *c)
{
	free(c->frame);
	free(c);
}

/* Says "busy" to a connection and closes it once that is written. */
static void
busy_close(tnet_daemon *d, struct conn *c)
{
	tripki_buf_reset(&d->out);
	if (tripki_frame_error(&d->out, TRIPKI_E_BUSY) == TRIPKI_OK)
		(void)tnet_link_send(c->link, d->out.data, d->out.len);
	tripki_buf_reset(&d->out);
	hs_remove(d, c);
	tnet_link_close(c->link, 1);
}

/*
 * Sends the answer in d->out; an error closes the connection after it.
 * A frame that authenticates, answered without error, ends the handshake.
 */
static void
answer(struct conn *c, int r, uint8_t type)
{
	tnet_daemon *d = c->d;

	if (d->out.len > 0)
		(void)tnet_link_send(c->link, d->out.data, d->out.len);
	tripki_buf_reset(&d->out);
	if (r == TRIPKI_OK && authenticates(type))
		hs_remove(d, c);
	if (r != TRIPKI_OK || d->stopping) {
		hs_remove(d, c);
		tnet_link_close(c->link, 1);
	}
}

/*
 * The role's finish, or its finish_defer.  On TNET_DEFER the role owns
 * the request and the connection stays busy until tnet_daemon_answer.
 */
static int
finish_or_defer(struct conn *c)
{
	tnet_daemon *d = c->d;
	const tnet_role *role = &d->cfg.role;
	int r;

	if (role->finish_defer == NULL)
		return role->finish(role->ctx, c->req, tnet_now_ms(), c->peer,
		    &d->out);
	r = role->finish_defer(role->ctx, c->req, tnet_now_ms(), c->peer,
	    &d->out, (tnet_defer *)(void *)c);
	if (r == TNET_DEFER) {
		c->req = NULL;
		c->busy = 1;
		d->busy++;
	}
	return r;
}

void
tnet_daemon_answer(tnet_defer *h, const uint8_t *p, size_t n, int err)
{
	struct conn *c = (struct conn *)(void *)h;
	tnet_daemon *d = c->d;

	c->busy = 0;
	d->busy--;
	if (c->link == NULL) {
		/* The peer left while the role worked: nobody to answer. */
		conn_free(c);
		maybe_stopped(d);
		return;
	}
	tripki_buf_reset(&d->out);
	if (tripki_buf_append(&d->out, p, n) != TRIPKI_OK) {
		tripki_buf_reset(&d->out);
		(void)tripki_frame_error(&d->out, TRIPKI_E_INTERNAL);
		err = TRIPKI_E_INTERNAL;
	}
	answer(c, err, c->type);
	tnet_link_release(c->link);
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
	if ((r = finish_or_defer(c)) == TNET_DEFER)
		return;
	role->req_free(c->req);
	c->req = NULL;
	answer(c, r, c->type);
	tnet_link_release(c->link);
}

/* Queues a costly frame for the pool, or refuses it with BUSY first. */
static int
costly(struct conn *c, const uint8_t *f, size_t n, uint8_t type)
{
	tnet_daemon *d = c->d;

	if (!src_take(d, c->src)) {
		note_limited(d, N_RATE, "refused M%u from %s: over --rate-limit "
		    "(%g per second, bursts of %u)", type, c->peer, d->lim.rate,
		    d->lim.burst);
		busy_close(d, c);
		return 0;
	}
	if (d->busy >= TNET_MAX_PENDING) {
		note_limited(d, N_PENDING, "refused M%u from %s: %zu RSA "
		    "operations already queued", type, c->peer, d->busy);
		busy_close(d, c);
		return 0;
	}
	if ((c->frame = malloc(n)) == NULL) {
		(void)tripki_frame_error(&d->out, TRIPKI_E_NOMEM);
		answer(c, TRIPKI_E_NOMEM, type);
		return 0;
	}
	memcpy(c->frame, f, n);
	c->n = n;
	c->type = type;
	c->work.data = c;
	if (uv_queue_work(d->loop, &c->work, work_cb, after_work_cb) != 0) {
		free(c->frame);
		c->frame = NULL;
		(void)tripki_frame_error(&d->out, TRIPKI_E_INTERNAL);
		answer(c, TRIPKI_E_INTERNAL, type);
		return 0;
	}
	c->busy = 1;
	d->busy++;
	return 1;
}

static int
on_frame(tnet_link *l, int err, const uint8_t *f, size_t n, uint8_t type)
{
	struct conn *c = l->data;
	tnet_daemon *d = c->d;
	const tnet_role *role = &d->cfg.role;
	int r;

	c->active = uv_now(d->loop);
	tripki_buf_reset(&d->out);
	if (err != TRIPKI_OK) {
		note(d, TNET_INFO, "closing %s: %s", c->peer,
		    tripki_strerror(err));
		(void)tripki_frame_error(&d->out, err);
		answer(c, err, 0);
		return 0;
	}
	if (tripki_frame_costly(type) && role->open != NULL)
		return costly(c, f, n, type);
	r = role->handle(role->ctx, f, n, tnet_now_ms(), c->peer, &d->out);
	answer(c, r, type);
	return 0;
}

static void
on_end(tnet_link *l, int uv_err)
{
	struct conn *c = l->data;

	if (uv_err == UV_ETIMEDOUT)
		note(c->d, TNET_INFO, "closing %s: idle: no whole frame for %.1f s",
		    c->peer, (double)l->timeout_ms / 1000);
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
	hs_remove(d, c);
	if (c->src != NULL)
		c->src->conns--;
	c->src = NULL;
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

/* Refused at the door: say "busy" and hang up, rather than leave it queued. */
static void
refuse(tnet_daemon *d, tnet_link *l)
{
	tripki_buf b;

	tripki_buf_init(&b, 64);
	if (tnet_link_start(l, &busy_ops, d, 1000, 1) == 0 &&
	    tripki_frame_error(&b, TRIPKI_E_BUSY) == TRIPKI_OK)
		(void)tnet_link_send(l, b.data, b.len);
	tripki_buf_free(&b);
	tnet_link_close(l, 1);
}

/*
 * Whether a new connection from `s` may come in: the per-source limit,
 * then the cap on connections and MaxStartups, each of which first tries
 * to make room by dropping a stalled handshake.
 */
static int
admit(tnet_daemon *d, struct src *s, const char *peer, uint64_t now)
{
	struct conn *victim;
	int capped;

	if (s == NULL) {
		note_limited(d, N_SOURCES, "refused %s: %zu sources remembered "
		    "(the table is full, --max-sources)", peer,
		    d->lim.max_sources);
		return 0;
	}
	if (s->conns >= d->lim.per_source) {
		note_limited(d, N_SOURCE, "refused %s: %zu connections from "
		    "that address (--per-source-conns)", peer, s->conns);
		return 0;
	}
	capped = d->nconns >= d->cfg.max_conns;
	if (!capped && !drop_early(d))
		return 1;
	if ((victim = stalled(d, now)) != NULL) {
		note_limited(d, N_EVICT, "dropped %s: its handshake stalled "
		    "for %.1f s and %s is waiting (%zu handshakes in progress)",
		    victim->peer, (double)(now - victim->since) / 1000, peer,
		    d->startups);
		busy_close(d, victim);
		return 1;
	}
	if (capped && (victim = idle_oldest(d, now)) != NULL) {
		note_limited(d, N_EVICT, "dropped %s: idle for %.1f s and %s "
		    "is waiting (%zu connections open, --max-conns)",
		    victim->peer, (double)(now - victim->active) / 1000, peer,
		    d->nconns);
		tnet_link_close(victim->link, 0);
		return 1;
	}
	if (capped)
		note_limited(d, N_CAP, "refused %s: %zu connections open "
		    "(--max-conns)", peer, d->nconns);
	else
		note_limited(d, N_STARTUPS, "refused %s: %zu handshakes in "
		    "progress (--max-startups %u:%u:%u)", peer, d->startups,
		    d->lim.startups_start, d->lim.startups_rate,
		    d->lim.startups_full);
	return 0;
}

static void
on_connection(uv_stream_t *server, int status)
{
	tnet_daemon *d = server->data;
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	uint8_t ip[16];
	char peer[TNET_PEER_MAX] = "?";
	uint64_t now = uv_now(d->loop);
	struct src *s;
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
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&ss, &sl) != 0) {
		tnet_link_discard(l);
		return;
	}
	tnet_addr_str((struct sockaddr *)&ss, peer, sizeof(peer));
	memcpy(l->peer, peer, sizeof(l->peer));
	src_key(&ss, ip);
	s = src_get(d, ip, now);
	if (!admit(d, s, peer, now)) {
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
	c->src = s;
	s->conns++;
	c->since = c->active = now;
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	hs_add(d, c);
	note(d, TNET_DEBUG, "connection from %s", c->peer);
}

/* Closes handshakes past their deadline; sweeps sources now and then. */
static void
on_tick(uv_timer_t *t)
{
	tnet_daemon *d = t->data;
	uint64_t now = uv_now(d->loop);
	struct conn *c;

	while ((c = d->hs_head) != NULL &&
	    now - c->since >= d->lim.handshake_ms) {
		hs_remove(d, c);
		/*
		 * One on the pool is being checked: its answer decides (a
		 * costly frame that opens ends the handshake; one that fails
		 * closes the connection).
		 */
		if (c->busy || c->link == NULL)
			continue;
		note_limited(d, N_DEADLINE, "closing %s: no handshake within "
		    "%.1f s (--handshake-timeout)", c->peer,
		    (double)d->lim.handshake_ms / 1000);
		tnet_link_close(c->link, 1);
	}
	if (now - d->last_sweep >= SWEEP_MS)
		src_sweep(d, now);
}

/* ---- Limits from flags ---- */

static const char *const limit_flags[TNET_LIM_COUNT] = {
	"--handshake-timeout", "--per-source-conns", "--max-startups",
	"--rate-limit", "--max-sources",
};

const char *
tnet_limits_flag(int which)
{
	return which >= 0 && which < TNET_LIM_COUNT ? limit_flags[which] : "?";
}

/* A whole number in [min, max] with nothing after it but `stop`. */
static int
parse_uint(const char *s, char stop, unsigned long min, unsigned long max,
    unsigned long *out, const char **end)
{
	char *e;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno != 0 || v < min || v > max || *e != stop)
		return -1;
	*out = v;
	if (end != NULL)
		*end = e;
	return 0;
}

const char *
tnet_limits_set(tnet_limits *lim, int which, const char *arg)
{
	unsigned long a, b, c;
	const char *e;
	double v;
	char *end;

	switch (which) {
	case TNET_LIM_HANDSHAKE:
		errno = 0;
		v = strtod(arg, &end);
		if (*arg < '0' || *arg > '9' || errno != 0 || *end != '\0' ||
		    v < 0.1 || v > 3600)
			return "seconds, from 0.1 to 3600";
		lim->handshake_ms = (uint64_t)(v * 1000 + 0.5);
		return NULL;
	case TNET_LIM_PER_SOURCE:
		if (parse_uint(arg, '\0', 0, 1000000, &a, NULL) != 0)
			return "a number from 1 to 1000000 (0: no limit)";
		lim->per_source = a == 0 ? TNET_UNLIMITED : (size_t)a;
		return NULL;
	case TNET_LIM_STARTUPS:
		if (parse_uint(arg, ':', 1, 1000000, &a, &e) != 0 ||
		    parse_uint(e + 1, ':', 0, 100, &b, &e) != 0 ||
		    parse_uint(e + 1, '\0', a, 1000000, &c, NULL) != 0)
			return "START:RATE:FULL, with 1 <= START <= FULL and "
			    "RATE a percentage";
		lim->startups_start = (unsigned)a;
		lim->startups_rate = (unsigned)b;
		lim->startups_full = (unsigned)c;
		return NULL;
	case TNET_LIM_RATE:
		errno = 0;
		v = strtod(arg, &end);
		if (*arg < '0' || *arg > '9' || errno != 0 || v > 1e6 ||
		    (*end != '\0' && *end != ':'))
			return "RATE[:BURST]: operations per second (0: no "
			    "limit), and a burst of 1 to 1000000";
		b = 0;
		if (*end == ':' && parse_uint(end + 1, '\0', 1, 1000000, &b,
		    NULL) != 0)
			return "RATE[:BURST]: operations per second (0: no "
			    "limit), and a burst of 1 to 1000000";
		if (v == 0) {
			lim->rate = -1;
			return NULL;
		}
		lim->rate = v;
		lim->burst = b != 0 ? (unsigned)b : (unsigned)(2 * v < 1 ? 1 :
		    2 * v);
		return NULL;
	case TNET_LIM_SOURCES:
		if (parse_uint(arg, '\0', 1, TNET_MAX_SOURCES, &a, NULL) != 0)
			return "a number from 1 to 4194304";
		lim->max_sources = (size_t)a;
		return NULL;
	}
	return "not a limit";
}

static void
limits_defaults(tnet_limits *lim)
{
	if (lim->handshake_ms == 0)
		lim->handshake_ms = TNET_DEFAULT_HANDSHAKE_MS;
	if (lim->per_source == 0)
		lim->per_source = TNET_DEFAULT_PER_SOURCE;
	if (lim->max_sources == 0)
		lim->max_sources = TNET_DEFAULT_SOURCES;
	if (lim->startups_full == 0) {
		lim->startups_start = TNET_DEFAULT_STARTUPS_START;
		lim->startups_rate = TNET_DEFAULT_STARTUPS_RATE;
		lim->startups_full = TNET_DEFAULT_STARTUPS_FULL;
	}
	if (lim->rate == 0) {
		lim->rate = TNET_DEFAULT_RATE;
		lim->burst = TNET_DEFAULT_BURST;
	}
	if (lim->rate > 0 && lim->burst == 0)
		lim->burst = 1;
}

/*
 * Each connection is a descriptor: raise the soft limit to the hard one,
 * and keep the cap within it.
 */
static void
fit_descriptors(tnet_daemon *d)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)d->cfg.max_conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need &&
	    rl.rlim_cur > 128) {
		d->cfg.max_conns = (size_t)rl.rlim_cur - 64;
		note(d, TNET_WARN, "serving at most %zu connections: the limit "
		    "on open files is %llu", d->cfg.max_conns,
		    (unsigned long long)rl.rlim_cur);
	}
}

/* ---- Listener ---- */

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

static void
on_tick_closed(uv_handle_t *h)
{
	tnet_daemon *d = h->data;

	d->tick_closed = 1;
	maybe_stopped(d);
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
	d->lim = cfg->limits;
	limits_defaults(&d->lim);
	if (d->cfg.max_conns == 0)
		d->cfg.max_conns = TNET_DEFAULT_MAX_CONNS;
	if (d->cfg.timeout_ms == 0)
		d->cfg.timeout_ms = TNET_DEFAULT_TIMEOUT_MS;
	fit_descriptors(d);
	if (RAND_bytes((unsigned char *)&d->seed, sizeof(d->seed)) != 1 ||
	    RAND_bytes((unsigned char *)&d->rng, sizeof(d->rng)) != 1)
		d->seed = d->rng = (uint64_t)tnet_now_ms() | 1;
	d->rng |= 1;
	tripki_buf_init(&d->out, TRIPKI_FRAME_MAX);
	tnet_addr_str((struct sockaddr *)&ss, d->addr, sizeof(d->addr));
	(void)uv_timer_init(loop, &d->tick);
	d->tick.data = d;
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

	if ((r = uv_listen((uv_stream_t *)&d->tcp, 511, on_connection)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->addr,
		    uv_strerror(r));
		return r;
	}
	d->last_sweep = uv_now(d->loop);
	uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
	return 0;
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

size_t
tnet_daemon_startups(const tnet_daemon *d)
{
	return d->startups;
}

size_t
tnet_daemon_sources(const tnet_daemon *d)
{
	return d->nsrcs;
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
	uv_close((uv_handle_t *)&d->tick, on_tick_closed);
	uv_close((uv_handle_t *)&d->tcp, on_listener_closed);
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		/* A connection on the pool answers, then closes. */
		if (!c->busy)
			tnet_link_close(c->link, 1);
	}
}
