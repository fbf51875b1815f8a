/*
 * Regenerates tripki's known-answer vectors: `build/vectors-gen DIR`.
 *
 * Everything comes from fixed inputs: the RSA keys in DIR/keys/, a fixed
 * clock, SplitMix64 streams as each role's tripki_common.rand, and fixed
 * seeds for RSA-OAEP.  OAEP draws its seed from OpenSSL's public DRBG,
 * which this program (and only this program and the KAT test) replaces
 * with OpenSSL's TEST-RAND, fed the seed just before each encryption.  So
 * every byte written is the same on every run.
 *
 * Writes DIR/protocol.txt (every message, with keys, nonces, associated
 * data and plaintext), DIR/trace.txt (the roles' own account), DIR/frames/
 * (each frame as raw bytes, a fuzzing seed corpus), DIR/ca.cert.pem and
 * DIR/server.cert.pem.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "internal.h"
#include "msg.h"

/* The clock: 2025-11-22T02:20:00Z, the unit tests' FX_NOW. */
#define T0 1763778000000LL
#define CA_ID "ID-CA"
#define SERVER_ID "ID-Server"
#define CLIENT_ID "ID-Client"
#define CLIENT_IP "127.0.0.1"
#define CLIENT_PORT 50000
#define REQ1 "memo"
#define DATA1 "take cis3319 class this morning"
#define REQ2 "nothing"

/* SplitMix64 seeds, one stream per role, and the OAEP seeds' streams. */
#define SEED_CA_CERT 0x1001
#define SEED_CA 0x2001
#define SEED_ENROLL 0x3001
#define SEED_SERVER 0x4001
#define SEED_CLIENT 0x5001
#define SEED_OAEP_M1 0x6001
#define SEED_OAEP_M5 0x6005
#define SEED_PRIVATE 0x7001

#define OAEP_SEED_LEN 32 /* SHA-256 output */
#define PRIV_POOL (256 * 1024)
#define HEX_PER_LINE 32

static FILE *out;
static FILE *tr;
static const char *dir;
static EVP_PKEY *server_key;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "vectors-gen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
check(int r, const char *what)
{
	if (r != TRIPKI_OK)
		die("%s: %s (%d)", what, tripki_strerror(r), r);
}

/* SplitMix64, byte for byte the same as fx_rand in the unit tests. */
static int
sm_rand(void *ctx, uint8_t *p, size_t n)
{
	uint64_t *st = ctx, z = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0) {
			z = (*st += 0x9e3779b97f4a7c15ULL);
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			z ^= z >> 31;
		}
		p[i] = (uint8_t)(z >> (8 * (i % 8)));
	}
	return 0;
}

static void
sm_fill(uint64_t seed, uint8_t *p, size_t n)
{
	uint64_t st = seed;

	(void)sm_rand(&st, p, n);
}

/* ---- OpenSSL's DRBGs made reproducible (this program only) ---- */

static void
drbg_feed(EVP_RAND_CTX *ctx, const uint8_t *p, size_t n)
{
	OSSL_PARAM prm[2];

	prm[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_RAND_PARAM_TEST_ENTROPY, (void *)p, n);
	prm[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_RAND_CTX_set_params(ctx, prm) != 1)
		die("cannot feed the TEST-RAND DRBG");
}

/*
 * Must run before anything draws from OpenSSL's RNG.  The private DRBG
 * only blinds RSA private operations, which change no output; it gets a
 * large fixed pool.  The public DRBG gets exactly one OAEP seed at a time.
 */
static void
drbg_install(void)
{
	static uint8_t pool[PRIV_POOL];

	if (RAND_set_DRBG_type(NULL, "TEST-RAND", NULL, NULL, NULL) != 1)
		die("TEST-RAND is not available");
	sm_fill(SEED_PRIVATE, pool, sizeof(pool));
	drbg_feed(RAND_get0_private(NULL), pool, sizeof(pool));
	drbg_feed(RAND_get0_public(NULL), pool, 0);
}

/* ---- Output ---- */

static void
put_hex(const char *name, const uint8_t *p, size_t n)
{
	size_t i;

	fprintf(out, "%s =", name);
	if (n > HEX_PER_LINE)
		fprintf(out, "\n   ");
	else if (n > 0)
		fprintf(out, " ");
	for (i = 0; i < n; i++) {
		if (i > 0 && i % HEX_PER_LINE == 0)
			fprintf(out, "\n   ");
		fprintf(out, "%02x", p[i]);
	}
	fprintf(out, "\n");
}

static void
put_num(const char *name, long long v)
{
	fprintf(out, "%s = %lld\n", name, v);
}

static void
put_seed(const char *name, uint64_t v)
{
	fprintf(out, "%s = 0x%llx\n", name, (unsigned long long)v);
}

/* Hex, with the bytes as text in a comment when they are printable. */
static void
put_text(const char *name, const uint8_t *p, size_t n)
{
	put_hex(name, p, n);
	fprintf(out, "# %s as text: \"%.*s\"\n", name, (int)n,
	    (const char *)p);
}

static void
put_str(const char *name, const char *s)
{
	fprintf(out, "%s = \"%s\"\n", name, s);
}

static void
put_time(const char *name, int64_t ms)
{
	char t[40];

	fprintf(out, "%s = %lld  # %s\n", name, (long long)ms,
	    trace_time(t, sizeof(t), ms));
}

static void
save(const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n ||
	    fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static void
save_cert(const char *name, X509 *x)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || PEM_write_X509(f, x) != 1 ||
	    fclose(f) != 0)
		die("cannot write %s", path);
}

static void
trace_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(tr, "%s\n", line);
}

static EVP_PKEY *
load_key(const char *name)
{
	char path[4096];
	EVP_PKEY *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL || EVP_PKEY_get_bits(k) != 2048)
		die("%s: not an RSA-2048 private key", path);
	return k;
}

static void
common(tripki_common *cm, uint64_t *stream, uint64_t seed)
{
	*stream = seed;
	memset(cm, 0, sizeof(*cm));
	cm->rand = sm_rand;
	cm->rand_ctx = stream;
	cm->trace = trace_line;
	cm->trace_secrets = 1;
}

/* The CA's key source: the fixed server key instead of a fresh one. */
static int
fixed_keygen(void *ctx, int bits, EVP_PKEY **k)
{
	(void)ctx;
	if (bits != 2048)
		return TRIPKI_E_INVALID;
	if (EVP_PKEY_up_ref(server_key) != 1)
		return TRIPKI_E_CRYPTO;
	*k = server_key;
	return TRIPKI_OK;
}

static int
serve(void *ctx, const char *client_id, const uint8_t *req, size_t req_len,
    tripki_buf *data, int *status)
{
	(void)ctx;
	(void)client_id;
	if (req_len == strlen(REQ1) && memcmp(req, REQ1, req_len) == 0) {
		*status = TRIPKI_STATUS_OK;
		return tripki_buf_append(data, DATA1, strlen(DATA1));
	}
	*status = TRIPKI_STATUS_NOT_FOUND;
	return TRIPKI_OK;
}

/* ---- One message's account ---- */

struct sealed {
	const tripki_buf *frame;
	size_t prefix_len;          /* bytes between header and ciphertext */
	const uint8_t *key;
	uint32_t dir;
	uint64_t ctr;
	tripki_buf pt;
};

static void
begin(const char *section, const char *what, const tripki_buf *f,
    int64_t sent, int64_t received)
{
	fprintf(out, "\n[%s]\n# %s\n", section, what);
	put_time("sent_at", sent);
	put_time("received_at", received);
	put_num("frame_len", (long long)f->len);
	put_hex("frame", f->data, f->len);
	put_hex("header", f->data, TRIPKI_FRAME_HEADER_LEN);
}

/* Opens a sealed frame with the key given and writes the AEAD account. */
static void
put_aead(struct sealed *s)
{
	const uint8_t *f = s->frame->data;
	size_t aad_len = TRIPKI_FRAME_HEADER_LEN + s->prefix_len;
	size_t ct_len = s->frame->len - aad_len - GCM_TAG_LEN;
	uint8_t nonce[GCM_NONCE_LEN];

	tripki_buf_init(&s->pt, TRIPKI_FRAME_MAX);
	check(open_frame(f, s->frame->len, s->prefix_len, s->key, s->dir,
	    s->ctr, &s->pt), "opening a frame with the vector's key");
	gcm_nonce(nonce, s->dir, s->ctr);
	put_hex("aead_key", s->key, TRIPKI_KEY_LEN);
	put_num("nonce_direction", s->dir);
	put_num("nonce_counter", (long long)s->ctr);
	put_hex("nonce", nonce, sizeof(nonce));
	put_hex("aad", f, aad_len);
	put_hex("plaintext", s->pt.data, s->pt.len);
	put_hex("ciphertext", f + aad_len, ct_len);
	put_hex("tag", f + aad_len + ct_len, GCM_TAG_LEN);
}

/*
 * The wrapped-key prefix of M1 or M5: recovers the key with the private
 * key, and checks that OAEP with the recorded seed gives the same bytes.
 */
static void
put_wrapped(const tripki_buf *f, EVP_PKEY *priv, const char *label,
    uint64_t seed_stream, uint8_t key[static TRIPKI_KEY_LEN], size_t *plen)
{
	uint8_t seed[OAEP_SEED_LEN];
	tripki_buf again;
	size_t ek_len;
	rsa_dec *dec;
	rd body;

	body = rd_make(f->data + TRIPKI_FRAME_HEADER_LEN,
	    f->len - TRIPKI_FRAME_HEADER_LEN);
	check(rsa_dec_new(priv, label, &dec), "rsa_dec_new");
	check(unwrap_prefix(dec, &body, plen, key), "unwrap");
	rsa_dec_free(dec);
	ek_len = *plen - 2;
	sm_fill(seed_stream, seed, sizeof(seed));
	tripki_buf_init(&again, 1024);
	drbg_feed(RAND_get0_public(NULL), seed, sizeof(seed));
	check(oaep_encrypt(priv, label, key,
	    TRIPKI_KEY_LEN, &again), "OAEP again");
	if (again.len != ek_len ||
	    memcmp(again.data, f->data + TRIPKI_FRAME_HEADER_LEN + 2, ek_len))
		die("OAEP under %s is not reproducible", label);
	tripki_buf_free(&again);
	put_num("wrapped_key_len", (long long)ek_len);
	put_str("oaep_label", label);
	put_hex("oaep_seed", seed, sizeof(seed));
	put_hex("oaep_ciphertext", f->data + TRIPKI_FRAME_HEADER_LEN + 2, ek_len);
	put_hex("wrapped_key", key, TRIPKI_KEY_LEN);
}

static void
put_m1(const tripki_buf *f, EVP_PKEY *ca_key, uint8_t k[static TRIPKI_KEY_LEN],
    int64_t sent, int64_t recv)
{
	struct sealed s;
	struct m1 m;

	begin("M1", "server -> CA: RSA-OAEP(PK_CA)[K_tmp1], "
	    "AES-256-GCM(K_tmp1)[TS1 ID_S mode bits token csr rcert rsig]",
	    f, sent, recv);
	memset(&s, 0, sizeof(s));
	put_wrapped(f, ca_key, OAEP_LABEL_M1, SEED_OAEP_M1, k, &s.prefix_len);
	s.frame = f;
	s.key = k;
	s.dir = DIR_REQUEST;
	s.ctr = 0;
	put_aead(&s);
	check(m1_decode(s.pt.data, s.pt.len, &m), "M1 decode");
	put_time("ts", m.ts);
	put_str("id", m.id);
	put_num("mode", m.mode);
	put_num("bits", m.bits);
	put_hex("token", m.token, m.token_len);
	put_hex("csr", m.csr, m.csr_len);
	put_hex("rcert", m.rcert, m.rcert_len);
	put_hex("rsig", m.rsig, m.rsig_len);
	tripki_buf_free(&s.pt);
	save("frames/m1.bin", f->data, f->len);
}

static void
put_m2(const tripki_buf *f, const uint8_t *k, int64_t sent, int64_t recv)
{
	struct sealed s;
	struct m2 m;

	begin("M2", "CA -> server: AES-256-GCM(K_tmp1)[TS2 ID_S PK_S Cert_S "
	    "SK_S]", f, sent, recv);
	memset(&s, 0, sizeof(s));
	s.frame = f;
	s.key = k;
	s.dir = DIR_RESPONSE;
	put_aead(&s);
	check(m2_decode(s.pt.data, s.pt.len, &m), "M2 decode");
	put_time("ts", m.ts);
	put_str("id", m.id);
	put_hex("pk", m.pk, m.pk_len);
	put_hex("cert", m.cert, m.cert_len);
	put_hex("sk", m.sk, m.sk_len);
	tripki_buf_free(&s.pt);
	save("frames/m2.bin", f->data, f->len);
}

static void
put_m3(const tripki_buf *f, int64_t sent, int64_t recv)
{
	struct m3 m;
	rd body;

	begin("M3", "client -> server, in clear: TS3 ID_S", f, sent, recv);
	body = rd_make(f->data + 6, f->len - 6);
	check(m3_decode(&body, &m), "M3 decode");
	put_time("ts", m.ts);
	put_str("id", m.id);
	save("frames/m3.bin", f->data, f->len);
}

static void
put_m4(const tripki_buf *f, int64_t sent, int64_t recv)
{
	struct m4 m;
	rd body;

	begin("M4", "server -> client, in clear: TS4 PK_S Cert_S", f, sent,
	    recv);
	body = rd_make(f->data + 6, f->len - 6);
	check(m4_decode(&body, &m), "M4 decode");
	put_time("ts", m.ts);
	put_hex("pk", m.pk, m.pk_len);
	put_hex("cert", m.cert, m.cert_len);
	save("frames/m4.bin", f->data, f->len);
}

static void
put_m5(const tripki_buf *f, uint8_t k[static TRIPKI_KEY_LEN], int64_t sent,
    int64_t recv)
{
	struct sealed s;
	struct m5 m;

	begin("M5", "client -> server: RSA-OAEP(PK_S)[K_tmp2], "
	    "AES-256-GCM(K_tmp2)[TS5 ID_C IP_C PORT_C]", f, sent, recv);
	memset(&s, 0, sizeof(s));
	put_wrapped(f, server_key, OAEP_LABEL_M5, SEED_OAEP_M5, k,
	    &s.prefix_len);
	s.frame = f;
	s.key = k;
	s.dir = DIR_REQUEST;
	put_aead(&s);
	check(m5_decode(s.pt.data, s.pt.len, &m), "M5 decode");
	put_time("ts", m.ts);
	put_str("id", m.id);
	put_str("ip", m.ip);
	put_num("port", m.port);
	tripki_buf_free(&s.pt);
	save("frames/m5.bin", f->data, f->len);
}

static void
put_m6(const tripki_buf *f, const uint8_t *k, uint8_t ksess[static 32],
    int64_t sent, int64_t recv)
{
	struct sealed s;
	struct m6 m;

	begin("M6", "server -> client: AES-256-GCM(K_tmp2)[TS6 SID K_sess "
	    "Lifetime_sess ID_C]", f, sent, recv);
	memset(&s, 0, sizeof(s));
	s.frame = f;
	s.key = k;
	s.dir = DIR_RESPONSE;
	put_aead(&s);
	check(m6_decode(s.pt.data, s.pt.len, &m), "M6 decode");
	put_time("ts", m.ts);
	put_hex("sid", m.sid, sizeof(m.sid));
	put_hex("k_sess", m.ksess, sizeof(m.ksess));
	put_num("lifetime", m.lifetime);
	put_str("id", m.id);
	memcpy(ksess, m.ksess, TRIPKI_KEY_LEN);
	tripki_buf_free(&s.pt);
	save("frames/m6.bin", f->data, f->len);
}

static void
put_phase3(const char *section, const tripki_buf *f, const uint8_t *ksess,
    int64_t sent, int64_t recv)
{
	char file[32], *p;
	struct sealed s;
	uint64_t seq;
	rd body;
	int is_m7 = f->data[1] == TRIPKI_M7;

	begin(section, is_m7 ? "client -> server: SID SEQ, "
	    "AES-256-GCM(K_sess)[TS7 REQ]" : "server -> client: SID SEQ, "
	    "AES-256-GCM(K_sess)[TS8 status DATA]", f, sent, recv);
	body = rd_make(f->data + 6 + TRIPKI_SID_LEN, 8);
	check(rd_u64(&body, &seq), "seq");
	put_hex("sid", f->data + 6, TRIPKI_SID_LEN);
	put_num("seq", (long long)seq);
	memset(&s, 0, sizeof(s));
	s.frame = f;
	s.prefix_len = TRIPKI_SID_LEN + 8;
	s.key = ksess;
	s.dir = is_m7 ? DIR_REQUEST : DIR_RESPONSE;
	s.ctr = seq;
	put_aead(&s);
	if (is_m7) {
		struct m7 m;

		check(m7_decode(s.pt.data, s.pt.len, &m), "M7 decode");
		put_time("ts", m.ts);
		put_text("req", m.req, m.req_len);
	} else {
		struct m8 m;

		check(m8_decode(s.pt.data, s.pt.len, &m), "M8 decode");
		put_time("ts", m.ts);
		put_num("status", m.status);
		put_text("data", m.data, m.data_len);
	}
	tripki_buf_free(&s.pt);
	snprintf(file, sizeof(file), "frames/%s.bin", section);
	for (p = file; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	save(file, f->data, f->len);
}

static void
put_error(const tripki_buf *f, int code, int64_t sent, int64_t recv)
{
	begin("ERROR", "server -> client: the answer to a replay of M7-2",
	    f, sent, recv);
	put_num("code", code);
	put_str("meaning", tripki_strerror(code));
	save("frames/error.bin", f->data, f->len);
}

/* Every code an error frame may carry, as a frame. */
static void
put_error_codes(void)
{
	static const int wire[] = {
		TRIPKI_E_TRUNCATED, TRIPKI_E_TRAILING, TRIPKI_E_TOO_BIG,
		TRIPKI_E_VERSION, TRIPKI_E_TYPE, TRIPKI_E_UNEXPECTED,
		TRIPKI_E_BAD_FIELD, TRIPKI_E_DECRYPT, TRIPKI_E_STALE,
		TRIPKI_E_FUTURE, TRIPKI_E_REPLAY, TRIPKI_E_SEQUENCE,
		TRIPKI_E_SESSION_EXPIRED, TRIPKI_E_UNKNOWN_SESSION,
		TRIPKI_E_UNKNOWN_ID, TRIPKI_E_CERT_REVOKED, TRIPKI_E_KEY,
		TRIPKI_E_NOT_AUTHORIZED, TRIPKI_E_BUSY, TRIPKI_E_INTERNAL,
	};
	char name[32];
	tripki_buf b;
	size_t i;

	fprintf(out, "\n[ERROR-CODES]\n# The error frame for every code that "
	    "travels, named error_<decimal code>.\n");
	tripki_buf_init(&b, 64);
	for (i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
		tripki_buf_reset(&b);
		check(tripki_frame_error(&b, wire[i]), "error frame");
		snprintf(name, sizeof(name), "error_%d", wire[i]);
		fprintf(out, "# %s\n", tripki_strerror(wire[i]));
		put_hex(name, b.data, b.len);
	}
	tripki_buf_free(&b);
}

static void
put_setup(EVP_PKEY *ca_key, X509 *ca_cert, X509 *server_cert)
{
	uint8_t seed[OAEP_SEED_LEN];
	tripki_buf der;

	tripki_buf_init(&der, DER_MAX);
	fprintf(out,
	    "# tripki protocol known-answer vectors (protocol version %d).\n"
	    "# Written by tests/vectors/gen.c (`make vectors`); do not edit.\n"
	    "# docs/PROTOCOL.md explains every field.\n"
	    "#\n"
	    "# Syntax: [SECTION], then `name = value` lines.  A value is hex\n"
	    "# bytes, a decimal number, or a \"quoted string\"; hex bytes\n"
	    "# continue on the following lines that begin with spaces; `#`\n"
	    "# starts a comment.  Seeds are 64-bit numbers in hex (0x...).\n"
	    "# Times are milliseconds since the Unix epoch.\n"
	    "#\n"
	    "# Randomness: each role's tripki_common.rand is a SplitMix64\n"
	    "# stream (state += 0x9e3779b97f4a7c15; z = state;\n"
	    "# z = (z ^ z>>30) * 0xbf58476d1ce4e5b9; z = (z ^ z>>27) *\n"
	    "# 0x94d049bb133111eb; z ^= z>>31; output z's 8 bytes least\n"
	    "# significant first).  The OAEP seeds are the first 32 bytes of\n"
	    "# the streams named below.\n",
	    TRIPKI_PROTOCOL_VERSION);
	fprintf(out, "\n[setup]\n");
	put_str("ca_id", CA_ID);
	put_str("server_id", SERVER_ID);
	put_str("client_id", CLIENT_ID);
	put_str("client_ip", CLIENT_IP);
	put_num("client_port", CLIENT_PORT);
	put_num("lifetime_s", 60);
	put_num("max_skew_ms", 60000);
	put_str("ca_key_file", "keys/ca.key.pem");
	put_str("server_key_file", "keys/server.key.pem");
	put_seed("seed_ca_cert", SEED_CA_CERT);
	put_seed("seed_ca", SEED_CA);
	put_seed("seed_enroll", SEED_ENROLL);
	put_seed("seed_server", SEED_SERVER);
	put_seed("seed_client", SEED_CLIENT);
	put_seed("seed_oaep_m1", SEED_OAEP_M1);
	put_seed("seed_oaep_m5", SEED_OAEP_M5);
	sm_fill(SEED_OAEP_M1, seed, sizeof(seed));
	put_hex("oaep_seed_m1", seed, sizeof(seed));
	sm_fill(SEED_OAEP_M5, seed, sizeof(seed));
	put_hex("oaep_seed_m5", seed, sizeof(seed));
	put_time("ca_cert_made_at", T0 - 86400000LL);
	put_num("ca_cert_days", 3650);
	check(key_to_spki(ca_key, &der), "CA SPKI");
	put_hex("ca_pk", der.data, der.len);
	tripki_buf_reset(&der);
	check(cert_to_der(ca_cert, &der), "CA cert");
	put_hex("ca_cert", der.data, der.len);
	tripki_buf_reset(&der);
	check(key_to_spki(server_key, &der), "server SPKI");
	put_hex("server_pk", der.data, der.len);
	tripki_buf_reset(&der);
	check(cert_to_der(server_cert, &der), "server cert");
	put_hex("server_cert", der.data, der.len);
	tripki_buf_free(&der);
}

int
main(int argc, char **argv)
{
	uint64_t st_cacert, st_ca, st_enroll, st_server, st_client;
	tripki_common cm_cacert, cm_ca, cm_enroll, cm_server, cm_client;
	uint8_t seed[OAEP_SEED_LEN], k1[TRIPKI_KEY_LEN], k2[TRIPKI_KEY_LEN];
	uint8_t ksess[TRIPKI_KEY_LEN];
	tripki_buf m1, m2, m3, m4, m5, m6, m7a, m8a, m7b, m8b, err, sink;
	tripki_enroll_config ecfg;
	tripki_server_config scfg;
	tripki_client_config ccfg;
	tripki_ca_config cacfg;
	tripki_enroll *en = NULL;
	tripki_server *srv = NULL;
	tripki_client *cl = NULL;
	tripki_ca *ca = NULL;
	EVP_PKEY *ca_key, *got_key;
	X509 *ca_cert = NULL, *server_cert;
	char path[4096], tmp[4096];
	const uint8_t *d;
	size_t n;
	int status, code;

	if (argc != 2)
		die("usage: vectors-gen DIR");
	dir = argv[1];
	drbg_install();
	ca_key = load_key("ca.key.pem");
	server_key = load_key("server.key.pem");
	snprintf(path, sizeof(path), "%s/frames", dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("cannot make %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/trace.txt", dir);
	if ((tr = fopen(path, "w")) == NULL)
		die("cannot write %s", path);

	common(&cm_cacert, &st_cacert, SEED_CA_CERT);
	common(&cm_ca, &st_ca, SEED_CA);
	common(&cm_enroll, &st_enroll, SEED_ENROLL);
	common(&cm_server, &st_server, SEED_SERVER);
	common(&cm_client, &st_client, SEED_CLIENT);
	tripki_buf_init(&m1, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m2, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m3, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m4, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m5, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m6, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m7a, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m8a, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m7b, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m8b, TRIPKI_FRAME_MAX);
	tripki_buf_init(&err, TRIPKI_FRAME_MAX);
	tripki_buf_init(&sink, TRIPKI_FRAME_MAX);

	/* The trust anchor. */
	check(tripki_ca_selfsign(ca_key, CA_ID, 3650, T0 - 86400000LL,
	    &cm_cacert, &ca_cert), "CA certificate");

	/* Phase 1: the server enrolls in seed mode; the CA "makes" the key. */
	memset(&cacfg, 0, sizeof(cacfg));
	cacfg.id = CA_ID;
	cacfg.key = ca_key;
	cacfg.cert = ca_cert;
	cacfg.keygen = fixed_keygen;
	cacfg.common = cm_ca;
	check(tripki_ca_new(&cacfg, &ca), "CA");
	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.id = SERVER_ID;
	ecfg.ca_id = CA_ID;
	ecfg.ca_cert = ca_cert;
	ecfg.bits = 2048;
	ecfg.common = cm_enroll;
	check(tripki_enroll_new(&ecfg, &en), "enroll");
	sm_fill(SEED_OAEP_M1, seed, sizeof(seed));
	drbg_feed(RAND_get0_public(NULL), seed, sizeof(seed));
	check(tripki_enroll_start(en, T0, &m1), "M1");
	check(tripki_ca_handle(ca, m1.data, m1.len, T0 + 20, NULL, &m2), "M2");
	check(tripki_enroll_recv(en, m2.data, m2.len, T0 + 40), "accept M2");
	got_key = tripki_enroll_key(en);
	server_cert = tripki_enroll_cert(en);
	if (EVP_PKEY_eq(got_key, server_key) != 1)
		die("enrolled key is not the fixed server key");
	EVP_PKEY_free(got_key);

	/* Phase 2. */
	memset(&scfg, 0, sizeof(scfg));
	scfg.id = SERVER_ID;
	scfg.key = server_key;
	scfg.cert = server_cert;
	scfg.lifetime_s = 60;
	scfg.serve = serve;
	scfg.common = cm_server;
	check(tripki_server_new(&scfg, &srv), "server");
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.id = CLIENT_ID;
	ccfg.server_id = SERVER_ID;
	ccfg.ca_cert = ca_cert;
	ccfg.ip = CLIENT_IP;
	ccfg.port = CLIENT_PORT;
	ccfg.common = cm_client;
	check(tripki_client_new(&ccfg, &cl), "client");
	check(tripki_client_hello(cl, T0 + 1000, &m3), "M3");
	check(tripki_server_handle(srv, m3.data, m3.len, T0 + 1010, &m4, NULL),
	    "M4");
	sm_fill(SEED_OAEP_M5, seed, sizeof(seed));
	drbg_feed(RAND_get0_public(NULL), seed, sizeof(seed));
	check(tripki_client_recv(cl, m4.data, m4.len, T0 + 1020, &m5), "M5");
	check(tripki_server_handle(srv, m5.data, m5.len, T0 + 1030, &m6, NULL),
	    "M6");
	check(tripki_client_recv(cl, m6.data, m6.len, T0 + 1040, &sink),
	    "accept M6");

	/* Phase 3: a request that is served, then one that is not. */
	check(tripki_client_request(cl, (const uint8_t *)REQ1, strlen(REQ1),
	    T0 + 2000, &m7a), "M7-1");
	check(tripki_server_handle(srv, m7a.data, m7a.len, T0 + 2010, &m8a,
	    NULL), "M8-1");
	check(tripki_client_recv(cl, m8a.data, m8a.len, T0 + 2020, &sink),
	    "accept M8-1");
	d = tripki_client_data(cl, &n, &status);
	if (status != TRIPKI_STATUS_OK || n != strlen(DATA1) ||
	    memcmp(d, DATA1, n) != 0)
		die("M8-1 does not carry DATA");
	check(tripki_client_request(cl, (const uint8_t *)REQ2, strlen(REQ2),
	    T0 + 3000, &m7b), "M7-2");
	check(tripki_server_handle(srv, m7b.data, m7b.len, T0 + 3010, &m8b,
	    NULL), "M8-2");
	check(tripki_client_recv(cl, m8b.data, m8b.len, T0 + 3020, &sink),
	    "accept M8-2");

	/* An error: the exact replay of the last request. */
	if (tripki_server_handle(srv, m7b.data, m7b.len, T0 + 4000, &err,
	    NULL) != TRIPKI_E_REPLAY)
		die("the replay was not refused as a replay");
	check(tripki_frame_error_code(err.data, err.len, &code), "error");
	fclose(tr);

	/* The account. */
	snprintf(tmp, sizeof(tmp), "%s/protocol.txt.tmp", dir);
	if ((out = fopen(tmp, "w")) == NULL)
		die("cannot write %s", tmp);
	put_setup(ca_key, ca_cert, server_cert);
	put_m1(&m1, ca_key, k1, T0, T0 + 20);
	put_m2(&m2, k1, T0 + 20, T0 + 40);
	put_m3(&m3, T0 + 1000, T0 + 1010);
	put_m4(&m4, T0 + 1010, T0 + 1020);
	put_m5(&m5, k2, T0 + 1020, T0 + 1030);
	put_m6(&m6, k2, ksess, T0 + 1030, T0 + 1040);
	put_phase3("M7-1", &m7a, ksess, T0 + 2000, T0 + 2010);
	put_phase3("M8-1", &m8a, ksess, T0 + 2010, T0 + 2020);
	put_phase3("M7-2", &m7b, ksess, T0 + 3000, T0 + 3010);
	put_phase3("M8-2", &m8b, ksess, T0 + 3010, T0 + 3020);
	put_error(&err, code, T0 + 4000, T0 + 4010);
	put_error_codes();
	if (fclose(out) != 0)
		die("cannot write %s", tmp);
	snprintf(path, sizeof(path), "%s/protocol.txt", dir);
	if (rename(tmp, path) != 0)
		die("cannot rename %s: %s", tmp, strerror(errno));
	save_cert("ca.cert.pem", ca_cert);
	save_cert("server.cert.pem", server_cert);

	tripki_ca_free(ca);
	tripki_enroll_free(en);
	tripki_server_free(srv);
	tripki_client_free(cl);
	tripki_buf_free(&m1);
	tripki_buf_free(&m2);
	tripki_buf_free(&m3);
	tripki_buf_free(&m4);
	tripki_buf_free(&m5);
	tripki_buf_free(&m6);
	tripki_buf_free(&m7a);
	tripki_buf_free(&m8a);
	tripki_buf_free(&m7b);
	tripki_buf_free(&m8b);
	tripki_buf_free(&err);
	tripki_buf_free(&sink);
	X509_free(ca_cert);
	X509_free(server_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(server_key);
	printf("vectors-gen: wrote %s\n", path);
	return 0;
}
