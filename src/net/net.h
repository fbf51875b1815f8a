/*
 * The libuv driver around the sans-IO core: framed TCP links, a listening
 * daemon that runs costly frames on the thread pool, and an outgoing dialer
 * that retries with exponential backoff.  Everything here runs on the loop
 * thread except the role's `open` callback.  docs/tripki.1 describes the
 * behaviour users see (timeouts, connection cap, shutdown).
 */
#ifndef TRIPKI_NET_H
#define TRIPKI_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tripki/tripki.h"

#define TNET_PEER_MAX 64               /* "ip:port", IPv6 included */
#define TNET_DEFAULT_TIMEOUT_MS 10000  /* a frame must complete within it */
#define TNET_DEFAULT_MAX_CONNS 4096
#define TNET_IN_FIRST 2048             /* a link's first input buffer */
#define TNET_WRITE_MAX (2 * TRIPKI_FRAME_MAX) /* queued output, then no reads */

/*
 * What a daemon grants one source, and all sources together, before a
 * peer has proved it holds a key.  A source is an IPv4 address, or the
 * /64 of an IPv6 address.  Zero in any field means its default.
 */
#define TNET_DEFAULT_HANDSHAKE_MS 10000 /* accept to first proof of a key */
#define TNET_DEFAULT_PER_SOURCE 64      /* connections from one source */
#define TNET_DEFAULT_STARTUPS_START 128 /* handshakes in progress: */
#define TNET_DEFAULT_STARTUPS_RATE 30   /*   start:rate:full, as OpenSSH's */
#define TNET_DEFAULT_STARTUPS_FULL 512  /*   MaxStartups */
#define TNET_DEFAULT_RATE 20            /* costly frames a second, a source */
#define TNET_DEFAULT_BURST 40           /* and how many may come at once */
#define TNET_UNLIMITED ((size_t)-1)     /* per_source: no limit */
#define TNET_MAX_PENDING 256            /* costly frames queued, all sources */
#define TNET_DEFAULT_SOURCES 65536      /* sources remembered at once */
#define TNET_MAX_SOURCES 4194304        /* the most --max-sources takes */

typedef struct tnet_limits {
	uint64_t handshake_ms;
	size_t per_source;              /* TNET_UNLIMITED: no limit */
	unsigned startups_start;
	unsigned startups_rate;         /* percent */
	unsigned startups_full;
	double rate;                    /* < 0: no rate limit */
	unsigned burst;
	size_t max_sources;             /* sources remembered at once */
} tnet_limits;

/* The flags that set a tnet_limits, for `ca serve` and `server`. */
enum { TNET_LIM_HANDSHAKE, TNET_LIM_PER_SOURCE, TNET_LIM_STARTUPS,
	TNET_LIM_RATE, TNET_LIM_SOURCES, TNET_LIM_COUNT };
#define TNET_LIMIT_OPTIONS(base) \
	{ "handshake-timeout", required_argument, NULL, \
	    (base) + TNET_LIM_HANDSHAKE }, \
	{ "per-source-conns", required_argument, NULL, \
	    (base) + TNET_LIM_PER_SOURCE }, \
	{ "max-startups", required_argument, NULL, (base) + TNET_LIM_STARTUPS }, \
	{ "rate-limit", required_argument, NULL, (base) + TNET_LIM_RATE }, \
	{ "max-sources", required_argument, NULL, (base) + TNET_LIM_SOURCES }
#define TNET_LIMIT_HELP \
	"      --handshake-timeout S  close a connection that has not completed\n" \
	"                       its handshake S seconds after connecting (10)\n" \
	"      --per-source-conns N  connections from one address (64; 0: any)\n" \
	"      --max-startups START:RATE:FULL  handshakes in progress: past\n" \
	"                       START refuse RATE% of new ones, rising to all\n" \
	"                       at FULL, unless a stalled one can be dropped\n" \
	"                       instead (128:30:512)\n" \
	"      --rate-limit R[:B]  RSA private operations (M1, M5) per second\n" \
	"                       per address, bursts of B (20:40; 0: no limit)\n" \
	"      --max-sources N  addresses remembered at once for the limits\n" \
	"                       above; a new one past N is refused until one\n" \
	"                       is forgotten (65536)\n"
/*
 * Parses the value of flag TNET_LIM_*; NULL on success, else why the
 * value is refused (for "bad value for --flag: ...").
 */
const char *tnet_limits_set(tnet_limits *lim, int which, const char *arg);
/* The flag's name, "--handshake-timeout" for TNET_LIM_HANDSHAKE. */
const char *tnet_limits_flag(int which);

/* ---- Clock ---- */

/*
 * Wall-clock time in ms (CLOCK_REALTIME), plus TRIPKI_CLOCK_OFFSET_MS from
 * the environment: a testing aid to simulate a skewed peer.
 */
int64_t tnet_now_ms(void);
/* Reads TRIPKI_CLOCK_OFFSET_MS; -1 with a message in err when malformed. */
int tnet_clock_init(char *err, size_t errlen);

/*
 * Writes all n bytes to a blocking descriptor, again after EINTR or a
 * short write; 0, or -1 with errno set (EPIPE when the reader is gone:
 * every tripki process ignores SIGPIPE).
 */
int tnet_write_all(int fd, const void *p, size_t n);

/* ---- Addresses ---- */

/* Splits "HOST:PORT" ("[v6]:PORT" too); 0 on success. */
int tnet_split_hostport(const char *s, char *host, size_t hostlen,
    uint16_t *port);
/* Formats a socket address as "ip:port". */
void tnet_addr_str(const struct sockaddr *sa, char *dst, size_t dstlen);

/* ---- Links: one TCP connection carrying whole frames ---- */

typedef struct tnet_link tnet_link;

typedef struct tnet_link_ops {
	/*
	 * A whole frame, or (err != TRIPKI_OK) a header that cannot start a
	 * frame.  The bytes are valid during the call only.  Return 1 to hold
	 * the link (no further frame is delivered, no timeout runs) until
	 * tnet_link_release; 0 to go on.
	 */
	int (*on_frame)(tnet_link *l, int err, const uint8_t *f, size_t n,
	    uint8_t type);
	/* The peer went away, the link timed out, or reading failed. */
	void (*on_end)(tnet_link *l, int uv_err);
	/* Both handles are closed; the link is freed right after. */
	void (*on_close)(tnet_link *l);
} tnet_link_ops;

struct tnet_link {
	uv_tcp_t tcp;
	uv_timer_t timer;
	const tnet_link_ops *ops;
	void *data;                 /* the owner's */
	char peer[TNET_PEER_MAX];   /* set before tnet_link_start, or by it */
	uint8_t *in;                /* grows to one frame at most */
	size_t in_len;
	size_t in_cap;
	uint64_t timeout_ms;
	int idle_close;             /* 1: timer runs whenever not held */
	int held;
	int reading;
	int read_err;               /* EOF or error met while held */
	int writes;                 /* writes in flight */
	size_t wqueued;             /* their bytes */
	int wpaused;                /* reading stopped until they drain */
	int close_after_write;
	int closing;
	int handles;                /* handles still open */
	int timed_out;
};

/* A link around an initialised, not yet connected uv_tcp_t. */
int tnet_link_new(uv_loop_t *loop, tnet_link **out);
/*
 * Starts reading from a connected link.  idle_close: the timeout runs
 * while the link waits for any frame (a daemon's side); otherwise only
 * between a send and the next frame (a client's side).
 */
int tnet_link_start(tnet_link *l, const tnet_link_ops *ops, void *data,
    uint64_t timeout_ms, int idle_close);
/* Queues a copy of p; 0 or a libuv error. */
int tnet_link_send(tnet_link *l, const uint8_t *p, size_t n);
/* Ends a hold: delivers any frame already buffered and reads on. */
void tnet_link_release(tnet_link *l);
/* Closes now, or once queued writes are out when after_write is set. */
void tnet_link_close(tnet_link *l, int after_write);
/* Closes a link that tnet_link_start never started. */
void tnet_link_discard(tnet_link *l);

/* ---- Daemon: a listener serving one role ---- */

/*
 * A role's frame handlers.  handle and finish return TRIPKI_OK and the
 * answer in `out`, or an error and the error frame in `out`, after which
 * the daemon sends it and closes that connection.  open runs on the
 * thread pool for frames tripki_frame_costly says are costly; finish then
 * runs on the loop thread.
 */
typedef struct tnet_defer tnet_defer;  /* an exchange answered later */
#define TNET_DEFER (-1)                 /* finish_defer: "I answer later" */

typedef struct tnet_role {
	int (*handle)(void *ctx, const uint8_t *f, size_t n, int64_t now,
	    const char *peer, tripki_buf *out);
	void *(*open)(void *ctx, const uint8_t *f, size_t n);
	int (*finish)(void *ctx, void *req, int64_t now, const char *peer,
	    tripki_buf *out);
	void (*req_free)(void *req);
	void *ctx;
	/*
	 * Optional, called instead of finish with a handle on the exchange.
	 * Returning TNET_DEFER keeps the exchange open: the role now owns
	 * `req` and must later call tnet_daemon_answer(h, ...) exactly once,
	 * on the loop thread.  Until then the connection reads nothing more,
	 * counts among the costly frames in progress, and holds up
	 * tnet_daemon_stop's on_stopped.  Any other return is as finish's.
	 */
	int (*finish_defer)(void *ctx, void *req, int64_t now,
	    const char *peer, tripki_buf *out, tnet_defer *h);
} tnet_role;

/*
 * Ends a deferred exchange: sends the n bytes at p (the answer, or with
 * err != TRIPKI_OK the error frame, after which the connection closes)
 * and reads on.  A peer that left meanwhile is fine: the bytes are
 * dropped.  h is invalid after the call.
 */
void tnet_daemon_answer(tnet_defer *h, const uint8_t *p, size_t n, int err);

/* How much a daemon's note matters, for the caller's log. */
enum { TNET_WARN, TNET_INFO, TNET_DEBUG };

typedef struct tnet_daemon tnet_daemon;

typedef struct tnet_daemon_config {
	const char *host;
	uint16_t port;
	size_t max_conns;       /* 0: TNET_DEFAULT_MAX_CONNS */
	uint64_t timeout_ms;    /* 0: TNET_DEFAULT_TIMEOUT_MS */
	tnet_limits limits;     /* zeros: the defaults */
	tnet_role role;
	void (*on_stopped)(void *ctx);  /* after tnet_daemon_stop */
	/*
	 * Connection events: garbage, timeouts, the limits reached.  Notes
	 * about refusals are rate-limited: at most one line per kind every
	 * 5 s, with the count of those left out.
	 */
	void (*note)(void *ctx, int level, const char *line);
	void *ctx;
} tnet_daemon_config;

/*
 * Binds now (so "address in use" shows at once) without listening:
 * peers are refused until tnet_daemon_listen.  On failure returns a libuv
 * error and a sentence in err.
 */
int tnet_daemon_bind(uv_loop_t *loop, const tnet_daemon_config *cfg,
    tnet_daemon **out, char *err, size_t errlen);
int tnet_daemon_listen(tnet_daemon *d, char *err, size_t errlen);
/* The address actually bound ("ip:port"). */
const char *tnet_daemon_addr(const tnet_daemon *d);
size_t tnet_daemon_conns(const tnet_daemon *d);
/* Handshakes in progress, and sources remembered (for tests and logs). */
size_t tnet_daemon_startups(const tnet_daemon *d);
size_t tnet_daemon_sources(const tnet_daemon *d);
/*
 * Stops accepting, closes idle connections, lets exchanges in flight
 * finish and send their answer, then calls on_stopped and frees itself.
 */
void tnet_daemon_stop(tnet_daemon *d);

/* ---- Dialer: outgoing connection with retry and backoff ---- */

typedef struct tnet_dial tnet_dial;

/*
 * cb gets a connected link (not yet started) or NULL and the last libuv
 * error once retry_for_ms has passed (0: retry for ever).  It is called
 * exactly once, unless tnet_dial_cancel comes first.
 */
typedef void (*tnet_dial_cb)(void *ctx, tnet_link *l, int uv_err);

int tnet_dial_start(uv_loop_t *loop, const char *host, uint16_t port,
    uint64_t retry_for_ms, tnet_dial_cb cb, void *ctx, tnet_dial **out);
void tnet_dial_cancel(tnet_dial *d);
/* Attempts made so far (for log lines). */
unsigned tnet_dial_attempts(const tnet_dial *d);

/* Backoff before attempt n (1-based): 100 ms doubling to 5 s, +-25%. */
uint64_t tnet_backoff_ms(unsigned n);

#endif /* TRIPKI_NET_H */
