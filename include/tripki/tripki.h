/*
 * tripki — a three-party public-key infrastructure.
 *
 * This is the one public header of libtripki, the sans-IO protocol core.
 * The library never opens a socket or a file and never reads the clock:
 * callers hand it whole frames and the current time, and it hands back the
 * bytes to send.  docs/PROTOCOL.md specifies the wire format byte by byte.
 *
 * Output buffers are reset before they are written, so an `out` buffer
 * must never be the one holding the input frame.
 *
 * Objects are opaque.  Unless a function says otherwise, an object may be
 * used by one thread at a time; the *_open functions that perform the costly
 * RSA private operations are safe to call from several threads at once on
 * the same role object, so a driver can run them on a thread pool.
 */
#ifndef TRIPKI_TRIPKI_H
#define TRIPKI_TRIPKI_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRIPKI_VERSION "0.1.0"
#define TRIPKI_PROTOCOL_VERSION 1

/* Sizes fixed by the protocol. */
#define TRIPKI_FRAME_HEADER_LEN 6
#define TRIPKI_FRAME_MAX 65536 /* whole frame, header included */
#define TRIPKI_ID_MAX 255
#define TRIPKI_KEY_LEN 32      /* AES-256 key */
#define TRIPKI_SID_LEN 16      /* session identifier */
#define TRIPKI_TOKEN_MAX 64    /* enrollment credential */
#define TRIPKI_DATA_MAX 60000  /* REQ or DATA payload */

/* Message types (second byte of every frame). */
enum tripki_msg_type {
	TRIPKI_M1 = 1,
	TRIPKI_M2 = 2,
	TRIPKI_M3 = 3,
	TRIPKI_M4 = 4,
	TRIPKI_M5 = 5,
	TRIPKI_M6 = 6,
	TRIPKI_M7 = 7,
	TRIPKI_M8 = 8,
	TRIPKI_MERROR = 0x10,
};

/*
 * Every function that can fail returns one of these.  Codes marked (wire)
 * may travel in an error frame; tripki_err_wire() maps the rest.
 */
typedef enum tripki_err {
	TRIPKI_OK = 0,
	TRIPKI_E_AGAIN = 1,             /* more bytes are needed */
	TRIPKI_E_NOMEM = 2,
	TRIPKI_E_INVALID = 3,           /* bad argument from the caller */
	TRIPKI_E_STATE = 4,             /* call not valid in this state */
	TRIPKI_E_TRUNCATED = 10,        /* (wire) */
	TRIPKI_E_TRAILING = 11,         /* (wire) */
	TRIPKI_E_TOO_BIG = 12,          /* (wire) */
	TRIPKI_E_VERSION = 13,          /* (wire) */
	TRIPKI_E_TYPE = 14,             /* (wire) */
	TRIPKI_E_UNEXPECTED = 15,       /* (wire) */
	TRIPKI_E_BAD_FIELD = 16,        /* (wire) */
	TRIPKI_E_DECRYPT = 20,          /* (wire) */
	TRIPKI_E_STALE = 21,            /* (wire) */
	TRIPKI_E_FUTURE = 22,           /* (wire) */
	TRIPKI_E_REPLAY = 23,           /* (wire) */
	TRIPKI_E_SEQUENCE = 24,         /* (wire) */
	TRIPKI_E_SESSION_EXPIRED = 25,  /* (wire) */
	TRIPKI_E_UNKNOWN_SESSION = 26,  /* (wire) */
	TRIPKI_E_UNKNOWN_ID = 27,       /* (wire) */
	TRIPKI_E_ID_MISMATCH = 28,
	TRIPKI_E_CERT_SIGNATURE = 30,
	TRIPKI_E_CERT_ISSUER = 31,
	TRIPKI_E_CERT_EXPIRED = 32,
	TRIPKI_E_CERT_NOT_YET_VALID = 33,
	TRIPKI_E_CERT_SUBJECT = 34,
	TRIPKI_E_CERT_KEY = 35,
	TRIPKI_E_CERT_REVOKED = 36,     /* (wire) */
	TRIPKI_E_CERT_INVALID = 37,
	TRIPKI_E_KEY = 38,              /* (wire) */
	TRIPKI_E_NOT_AUTHORIZED = 40,   /* (wire) */
	TRIPKI_E_BUSY = 41,             /* (wire) */
	TRIPKI_E_PEER = 50,             /* peer sent an error frame */
	TRIPKI_E_CRYPTO = 60,
	TRIPKI_E_STORE = 61,
	TRIPKI_E_IO = 62,
	TRIPKI_E_INTERNAL = 63,         /* (wire) */
} tripki_err;

/* A fixed, human-readable sentence for each code ("unknown error" else). */
const char *tripki_strerror(int err);
/* The code an error frame carries for a local error: no oracle. */
int tripki_err_wire(int err);

/*
 * Output buffer.  Grows up to `max` bytes and no further; hitting the
 * ceiling is TRIPKI_E_TOO_BIG.  tripki_buf_free wipes the contents.
 */
typedef struct tripki_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
} tripki_buf;

void tripki_buf_init(tripki_buf *b, size_t max);
void tripki_buf_reset(tripki_buf *b); /* wipe and set len to 0 */
void tripki_buf_free(tripki_buf *b);
/* Appends n bytes; TRIPKI_E_TOO_BIG past the ceiling. */
int tripki_buf_append(tripki_buf *b, const void *p, size_t n);

/*
 * Framing.  Given the first bytes of a stream, says how long the frame is.
 * Returns TRIPKI_E_AGAIN when fewer than a header's bytes are present, or an
 * error for a bad version, unknown type or oversized length.
 */
int tripki_frame_peek(const uint8_t *p, size_t n, size_t *frame_len,
    uint8_t *type);
/* Whether a frame of this type costs the receiver an RSA private op. */
int tripki_frame_costly(uint8_t type);
/* Builds an error frame carrying tripki_err_wire(err). */
int tripki_frame_error(tripki_buf *out, int err);
/* Decodes an error frame's code. */
int tripki_frame_error_code(const uint8_t *frame, size_t len, int *code);

/* Randomness source; NULL in a config means OpenSSL's RAND_bytes. */
typedef int (*tripki_rand_fn)(void *ctx, uint8_t *out, size_t n);

/*
 * Trace: one readable line per step.  Secrets appear as "<redacted N bytes>"
 * unless trace_secrets is set.
 */
typedef void (*tripki_trace_fn)(void *ctx, const char *line);

/* Common knobs every role takes. */
typedef struct tripki_common {
	int64_t max_skew_ms;    /* 0 means 60 s */
	tripki_rand_fn rand;
	void *rand_ctx;
	tripki_trace_fn trace;
	void *trace_ctx;
	int trace_secrets;
	/*
	 * When the role started (ms).  M1 and M5 stamped earlier are refused
	 * as stale: a restart empties the replay cache, and this keeps a
	 * message from before it from being taken as new.  Daemons set it to
	 * the current time; 0 turns the check off.
	 */
	int64_t started_ms;
} tripki_common;

/* ---- Keys and certificates (OpenSSL objects; caller owns results) ---- */

int tripki_key_generate(int bits, EVP_PKEY **out);
/* Self-signed CA certificate, CN=id, valid from now for `days`. */
int tripki_ca_selfsign(EVP_PKEY *key, const char *id, int days,
    int64_t now_ms, const tripki_common *cm, X509 **out);
/*
 * Verifies `cert` with the CA certificate only: signature, issuer,
 * validity at now_ms, subject CN equal to expect_id, and (when non-NULL)
 * key equal to expect_key, and (when crl is non-NULL) not revoked.
 */
int tripki_cert_verify(X509 *ca, X509 *cert, const char *expect_id,
    EVP_PKEY *expect_key, X509_CRL *crl, int64_t now_ms);
/* Checks an identity: 1..255 printable ASCII bytes. */
int tripki_id_valid(const char *id, size_t len);

/* ---- Phase 1, certificate authority side ---- */

typedef struct tripki_ca tripki_ca;
typedef struct tripki_ca_req tripki_ca_req;

/* What the CA knows about an M1 before it decides. */
typedef struct tripki_issue_info {
	const char *id;                 /* ID_S asked for */
	const uint8_t *token;           /* enrollment credential, may be empty */
	size_t token_len;
	int csr;                        /* 1: server sent a PKCS#10 request */
	X509 *renew_cert;               /* renewal: the current certificate */
	const char *peer;               /* set by the driver, may be NULL */
} tripki_issue_info;

/* The certificate about to be sent, for the store to make durable. */
typedef struct tripki_issued {
	const char *id;
	/*
	 * Signed and complete for i2d_X509 and the X509_get0_* getters; but
	 * in CSR mode its key was set as the request's bytes, without a
	 * parsed key, so X509_get0_pubkey() gives NULL: decode the DER again
	 * (d2i_X509) for a certificate with its key parsed.
	 */
	X509 *cert;
	const uint8_t *serial;          /* big-endian */
	size_t serial_len;
	int csr;
	const char *peer;
} tripki_issued;

/* Policy: return TRIPKI_OK to issue, TRIPKI_E_NOT_AUTHORIZED to refuse. */
typedef int (*tripki_authorize_fn)(void *ctx, const tripki_issue_info *info,
    int64_t now_ms);
/* Durability: return TRIPKI_OK only once the issuance is recorded. */
typedef int (*tripki_record_fn)(void *ctx, const tripki_issued *issued,
    int64_t now_ms);
/* Key source for seed mode; NULL means tripki_key_generate. */
typedef int (*tripki_keygen_fn)(void *ctx, int bits, EVP_PKEY **out);

typedef struct tripki_ca_config {
	const char *id;                 /* ID_CA, must match cert's CN */
	EVP_PKEY *key;                  /* SK_CA (borrowed) */
	X509 *cert;                     /* CA certificate (borrowed) */
	uint32_t cert_days;             /* 0 means 90 */
	size_t replay_max;              /* 0 means 262144 */
	tripki_authorize_fn authorize;  /* NULL: issue to anyone (open) */
	void *authorize_ctx;
	tripki_record_fn record;        /* NULL: nothing recorded */
	void *record_ctx;
	tripki_keygen_fn keygen;
	void *keygen_ctx;
	tripki_common common;
} tripki_ca_config;

int tripki_ca_new(const tripki_ca_config *cfg, tripki_ca **out);
void tripki_ca_free(tripki_ca *ca);
/*
 * Handles one frame: an M1 yields an M2 in `out`.  On any error `out`
 * holds an error frame for the peer and the detailed code is returned.
 */
int tripki_ca_handle(tripki_ca *ca, const uint8_t *frame, size_t len,
    int64_t now_ms, const char *peer, tripki_buf *out);
/*
 * The same in two steps.  tripki_ca_open decrypts and parses (RSA private
 * op; thread-safe).  tripki_ca_finish checks freshness and replay, asks the
 * policy, makes the key and certificate, records, and encrypts M2; it and
 * tripki_ca_handle must not run concurrently on one tripki_ca.
 */
int tripki_ca_open(const tripki_ca *ca, const uint8_t *frame, size_t len,
    tripki_ca_req **req);
int tripki_ca_finish(tripki_ca *ca, tripki_ca_req *req, int64_t now_ms,
    const char *peer, tripki_buf *out);
/*
 * tripki_ca_finish in three steps, so that the costly middle one can run on
 * a thread pool: check (freshness, replay, policy; one thread), sign (key
 * pair and certificate, M2 sealed; thread-safe, reads the CA only), commit
 * (the record hook, then M2 into `out`; one thread).  A failure at any step
 * is carried by the request, and commit turns it into the error frame.
 */
int tripki_ca_check(tripki_ca *ca, tripki_ca_req *req, int64_t now_ms,
    const char *peer);
int tripki_ca_sign(const tripki_ca *ca, tripki_ca_req *req, int64_t now_ms);
int tripki_ca_commit(tripki_ca *ca, tripki_ca_req *req, int64_t now_ms,
    const char *peer, tripki_buf *out);
void tripki_ca_req_free(tripki_ca_req *req);
/* TS1 of an opened M1 (0 if it did not open), to report a clock skew. */
int64_t tripki_ca_req_ts(const tripki_ca_req *req);

/* ---- Phase 1, application server side (enrollment) ---- */

typedef struct tripki_enroll tripki_enroll;

typedef struct tripki_enroll_config {
	const char *id;                 /* ID_S */
	const char *ca_id;              /* expected CN of the CA; NULL: any */
	X509 *ca_cert;                  /* trust anchor (borrowed) */
	int bits;                       /* seed mode key size; 0 means 2048 */
	EVP_PKEY *csr_key;              /* CSR mode: our own key (borrowed) */
	/*
	 * CSR mode: a request made earlier by tripki_csr_make for csr_key
	 * and id (borrowed; it must outlive the exchange).  NULL: M1 makes
	 * one, which costs an RSA signature.  The CA checks it as any other;
	 * the certificate that comes back must be for csr_key.
	 */
	const uint8_t *csr;
	size_t csr_len;
	const uint8_t *token;           /* enrollment credential */
	size_t token_len;
	EVP_PKEY *renew_key;            /* renewal: current key and cert */
	X509 *renew_cert;
	tripki_common common;
} tripki_enroll_config;

int tripki_enroll_new(const tripki_enroll_config *cfg, tripki_enroll **out);
/* A PKCS#10 request (DER) for key k under the name id, appended to der. */
int tripki_csr_make(EVP_PKEY *k, const char *id, tripki_buf *der);
void tripki_enroll_free(tripki_enroll *e);
/* Emits M1. */
int tripki_enroll_start(tripki_enroll *e, int64_t now_ms, tripki_buf *out);
/* Takes M2 (or an error frame); on success key and cert are available. */
int tripki_enroll_recv(tripki_enroll *e, const uint8_t *frame, size_t len,
    int64_t now_ms);
/* Results, each a new reference the caller frees. */
EVP_PKEY *tripki_enroll_key(tripki_enroll *e);
X509 *tripki_enroll_cert(tripki_enroll *e);
/* The code from the CA's error frame after TRIPKI_E_PEER. */
int tripki_enroll_peer_error(const tripki_enroll *e);
/* now - TS2 (ms), measured on the last M2 that decrypted. */
int64_t tripki_enroll_skew(const tripki_enroll *e);

/* ---- Phases 2 and 3, application server side ---- */

typedef struct tripki_server tripki_server;
typedef struct tripki_server_req tripki_server_req;

/* Application data answer status carried in M8. */
enum tripki_status {
	TRIPKI_STATUS_OK = 0,
	TRIPKI_STATUS_NOT_FOUND = 1,
	TRIPKI_STATUS_REFUSED = 2,
};

/*
 * Service: answer `req` for client `client_id` into `data` and set
 * `*status`.  Return TRIPKI_OK, or an error to abort the exchange.
 */
typedef int (*tripki_serve_fn)(void *ctx, const char *client_id,
    const uint8_t *req, size_t req_len, tripki_buf *data, int *status);

typedef struct tripki_server_config {
	const char *id;                 /* ID_S, must match cert's CN */
	EVP_PKEY *key;                  /* SK_S (borrowed) */
	X509 *cert;                     /* Cert_S (borrowed) */
	uint32_t lifetime_s;            /* Lifetime_sess; 0 means 60 */
	size_t max_sessions;            /* 0 means 100000 */
	size_t replay_max;              /* 0 means max_sessions */
	tripki_serve_fn serve;
	void *serve_ctx;
	tripki_common common;
} tripki_server_config;

/* What happened, for the driver's log. */
typedef struct tripki_server_event {
	uint8_t type;                   /* message handled */
	char client_id[TRIPKI_ID_MAX + 1];
	uint8_t sid[TRIPKI_SID_LEN];
	uint64_t seq;
	int64_t ts_ms;                  /* the peer's timestamp, if decoded */
	int64_t skew_ms;                /* now - ts when the check failed */
} tripki_server_event;

int tripki_server_new(const tripki_server_config *cfg, tripki_server **out);
void tripki_server_free(tripki_server *s);
/* Swaps in a renewed key and certificate (borrowed; same ID). */
int tripki_server_set_identity(tripki_server *s, EVP_PKEY *key, X509 *cert);
/*
 * Handles one frame from a client: M3 -> M4, M5 -> M6, M7 -> M8.  On error
 * `out` holds the error frame to send; the driver then closes.
 */
int tripki_server_handle(tripki_server *s, const uint8_t *frame, size_t len,
    int64_t now_ms, tripki_buf *out, tripki_server_event *ev);
/* Two-step form for M5, as for the CA: open is thread-safe. */
int tripki_server_open(const tripki_server *s, const uint8_t *frame,
    size_t len, tripki_server_req **req);
int tripki_server_finish(tripki_server *s, tripki_server_req *req,
    int64_t now_ms, tripki_buf *out, tripki_server_event *ev);
void tripki_server_req_free(tripki_server_req *req);
size_t tripki_server_session_count(const tripki_server *s);

/* ---- Phases 2 and 3, client side ---- */

typedef struct tripki_client tripki_client;

enum tripki_client_state {
	TRIPKI_CLIENT_IDLE = 0,         /* no session: call hello */
	TRIPKI_CLIENT_WAIT_M4,
	TRIPKI_CLIENT_WAIT_M6,
	TRIPKI_CLIENT_READY,            /* session: call request */
	TRIPKI_CLIENT_WAIT_M8,
	TRIPKI_CLIENT_FAILED,
};

typedef struct tripki_client_config {
	const char *id;                 /* ID_C */
	const char *server_id;          /* ID_S we want */
	X509 *ca_cert;                  /* trust anchor (borrowed) */
	X509_CRL *crl;                  /* optional (borrowed) */
	const char *ip;                 /* IP_C as the client sees itself */
	uint16_t port;                  /* PORT_C */
	tripki_common common;
} tripki_client_config;

int tripki_client_new(const tripki_client_config *cfg, tripki_client **out);
void tripki_client_free(tripki_client *c);
/* Sets IP_C and PORT_C once the connection exists (before M5). */
int tripki_client_set_address(tripki_client *c, const char *ip,
    uint16_t port);
/* Emits M3 and forgets any session. */
int tripki_client_hello(tripki_client *c, int64_t now_ms, tripki_buf *out);
/*
 * Takes the server's reply.  After M4 `out` holds M5; after M6 the session
 * is ready; after M8 the data is available through tripki_client_data.
 */
int tripki_client_recv(tripki_client *c, const uint8_t *frame, size_t len,
    int64_t now_ms, tripki_buf *out);
/* Emits M7.  TRIPKI_E_SESSION_EXPIRED when the lifetime has passed. */
int tripki_client_request(tripki_client *c, const uint8_t *req,
    size_t req_len, int64_t now_ms, tripki_buf *out);
/* A new connection: an unanswered request is abandoned, the session kept. */
void tripki_client_reconnect(tripki_client *c);
int tripki_client_state(const tripki_client *c);
const uint8_t *tripki_client_data(const tripki_client *c, size_t *len,
    int *status);
int tripki_client_peer_error(const tripki_client *c);
uint32_t tripki_client_lifetime(const tripki_client *c);
int64_t tripki_client_expiry(const tripki_client *c);
/* The measured difference when a timestamp was refused (ms). */
int64_t tripki_client_skew(const tripki_client *c);

#ifdef __cplusplus
}
#endif
#endif /* TRIPKI_TRIPKI_H */
