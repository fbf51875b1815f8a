/*
 * Timing oracle measurement: does the server take a measurably different
 * time to refuse an M5 whose RSA-OAEP block fails than one whose block is
 * good but whose AEAD tag fails?  (docs/PROTOCOL.md 4.2, implicit
 * rejection; docs/SECURITY.md reports the figures.)
 *
 *     make oracle                  (build/oracle [-n SAMPLES] [-s SEED])
 *
 * In memory, with the real core: a CA issues the server's certificate,
 * 256 clients each make a genuine M5, and from each two bad copies are
 * made: one bit of the wrapped key flipped (OAEP decoding fails, the
 * substitute key is used) and one bit of the tag flipped (OAEP succeeds,
 * the tag fails).  Both are refused with DECRYPT and change no state, so
 * they can be handed to tripki_server_handle again and again.  The two
 * classes are timed in a random interleaved order (so drift, frequency
 * scaling and other load fall on both alike), and compared with Welch's
 * t-test on samples cropped at the pooled 90th percentile (dudect's
 * approach: preemptions and interrupts only add time) and with a
 * two-sample Kolmogorov-Smirnov test on all samples.
 *
 * Manger's attack on OAEP needs to know whether the first byte of the
 * decrypted block (EM[0]) is zero.  Two more classes hold wrapped keys
 * made by raw RSA encryption of chosen blocks: EM[0] = 0x00 with random
 * rest (the label hash then fails), and EM[0] != 0x00.  Both fail OAEP
 * decoding; they must take the same time.
 *
 * A positive control shows the instrument can see a small difference:
 * the bad-tag frames again, followed by one SHA-256 of 297 bytes (the
 * work of the substitute key, about a microsecond), timed in the same
 * interleaving.  A third class (a 255-byte wrapped key: refused without
 * any RSA work because the length is public) is reported for scale.
 *
 * ORACLE_DECILES=1 in the environment also prints each class's 5% steps.
 *
 * Exit status: 0 when neither test tells bad OAEP from bad tag (|t| <
 * 4.5 and KS p >= 0.001), 1 when one does, 2 when the setup fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tripki/tripki.h"

#define NFRAMES 256
#define WARMUP 2000
#define T_LIMIT 4.5          /* dudect's threshold on |t| */
#define KS_ALPHA 0.001
#define CROP 0.90

enum { C_OAEP, C_TAG, C_Y0, C_Y1, C_CONTROL, C_SHORT, NCLASS };

static const char *const class_name[NCLASS] = {
	"bad OAEP block", "bad tag", "OAEP block, EM[0] = 0x00",
	"OAEP block, EM[0] != 0x00", "bad tag + SHA-256 (control)",
	"255-byte wrapped key (no RSA)",
};

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* SplitMix64: the interleaving only needs to be unpredictable to
	 * the machine, not to an attacker. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fail(const char *what, int r)
{
	fprintf(stderr, "oracle: %s: %s\n", what, tripki_strerror(r));
	return 2;
}

/* Never reached: every frame timed here is refused before service. */
static int
serve(void *ctx, const char *client_id, const uint8_t *req, size_t req_len,
    tripki_buf *data, int *status)
{
	(void)ctx, (void)client_id, (void)req, (void)req_len, (void)data;
	*status = TRIPKI_STATUS_NOT_FOUND;
	return TRIPKI_OK;
}

/* A CA, a server certified by it through phase 1, and the CA cert. */
static int
make_server(tripki_server **srv, X509 **ca_cert_out, EVP_PKEY **keys)
{
	tripki_ca_config cc;
	tripki_enroll_config ec;
	tripki_server_config sc;
	tripki_ca *ca = NULL;
	tripki_enroll *en = NULL;
	tripki_buf m1, m2;
	EVP_PKEY *ca_key = NULL, *skey = NULL;
	X509 *ca_cert = NULL, *scert = NULL;
	int64_t t = now_ms();
	int r;

	tripki_buf_init(&m1, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m2, TRIPKI_FRAME_MAX);
	if ((r = tripki_key_generate(2048, &ca_key)) != TRIPKI_OK ||
	    (r = tripki_key_generate(2048, &skey)) != TRIPKI_OK ||
	    (r = tripki_ca_selfsign(ca_key, "ID-CA", 30, t, NULL,
	    &ca_cert)) != TRIPKI_OK)
		goto out;
	memset(&cc, 0, sizeof(cc));
	cc.id = "ID-CA";
	cc.key = ca_key;
	cc.cert = ca_cert;
	memset(&ec, 0, sizeof(ec));
	ec.id = "ID-Server";
	ec.ca_cert = ca_cert;
	ec.csr_key = skey;
	if ((r = tripki_ca_new(&cc, &ca)) != TRIPKI_OK ||
	    (r = tripki_enroll_new(&ec, &en)) != TRIPKI_OK ||
	    (r = tripki_enroll_start(en, t, &m1)) != TRIPKI_OK ||
	    (r = tripki_ca_handle(ca, m1.data, m1.len, t, "oracle",
	    &m2)) != TRIPKI_OK ||
	    (r = tripki_enroll_recv(en, m2.data, m2.len, t)) != TRIPKI_OK)
		goto out;
	if ((scert = tripki_enroll_cert(en)) == NULL) {
		r = TRIPKI_E_INTERNAL;
		goto out;
	}
	memset(&sc, 0, sizeof(sc));
	sc.id = "ID-Server";
	sc.key = skey;
	sc.cert = scert;
	sc.replay_max = 1 << 20;
	sc.serve = serve;
	if ((r = tripki_server_new(&sc, srv)) != TRIPKI_OK)
		goto out;
	*ca_cert_out = ca_cert;
	ca_cert = NULL;
	keys[0] = ca_key;
	keys[1] = skey;
	ca_key = skey = NULL;
out:
	tripki_buf_free(&m1);
	tripki_buf_free(&m2);
	tripki_ca_free(ca);
	tripki_enroll_free(en);
	X509_free(scert);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(skey);
	return r;
}

/* A genuine M5 from a fresh client, into m5. */
static int
make_m5(tripki_server *srv, X509 *ca_cert, int i, tripki_buf *m5)
{
	tripki_client_config cc;
	tripki_server_event ev;
	tripki_client *c = NULL;
	tripki_buf m3, m4;
	char id[32];
	int64_t t = now_ms();
	int r;

	tripki_buf_init(&m3, TRIPKI_FRAME_MAX);
	tripki_buf_init(&m4, TRIPKI_FRAME_MAX);
	snprintf(id, sizeof(id), "client-%d", i);
	memset(&cc, 0, sizeof(cc));
	cc.id = id;
	cc.server_id = "ID-Server";
	cc.ca_cert = ca_cert;
	cc.ip = "127.0.0.1";
	cc.port = 40000;
	if ((r = tripki_client_new(&cc, &c)) == TRIPKI_OK &&
	    (r = tripki_client_hello(c, t, &m3)) == TRIPKI_OK &&
	    (r = tripki_server_handle(srv, m3.data, m3.len, t, &m4,
	    &ev)) == TRIPKI_OK)
		r = tripki_client_recv(c, m4.data, m4.len, t, m5);
	tripki_client_free(c);
	tripki_buf_free(&m3);
	tripki_buf_free(&m4);
	return r;
}

/* Raw RSA (no padding) of a chosen 256-byte block under the server key. */
static int
raw_wrap(EVP_PKEY *key, int first_zero, uint8_t out[256])
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t em[256];
	size_t outlen = 256;
	int ok;

	if (RAND_bytes(em, sizeof(em)) != 1)
		return -1;
	em[0] = first_zero ? 0x00 : (uint8_t)(0x01 + em[0] % 0x3f);
	ok = (ctx = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
	    EVP_PKEY_encrypt_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 &&
	    EVP_PKEY_encrypt(ctx, out, &outlen, em, sizeof(em)) == 1 &&
	    outlen == 256;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

struct sample {
	double *v;
	size_t n;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
quantile(const double *sorted, size_t n, double q)
{
	size_t i = (size_t)(q * (double)(n - 1));

	return sorted[i];
}

static void
mean_var(const double *v, size_t n, double limit, double *mean,
    double *var, size_t *used)
{
	double s = 0, ss = 0;
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (v[i] <= limit) {
			s += v[i];
			k++;
		}
	*mean = k ? s / (double)k : 0;
	for (i = 0; i < n; i++)
		if (v[i] <= limit)
			ss += (v[i] - *mean) * (v[i] - *mean);
	*var = k > 1 ? ss / (double)(k - 1) : 0;
	*used = k;
}

/* Welch's t on both samples cropped at `limit`; sets the smallest
 * difference of means that would reach T_LIMIT. */
static double
welch(const struct sample *a, const struct sample *b, double limit,
    double *diff, double *mde)
{
	double ma, va, mb, vb, se;
	size_t na, nb;

	mean_var(a->v, a->n, limit, &ma, &va, &na);
	mean_var(b->v, b->n, limit, &mb, &vb, &nb);
	se = sqrt(va / (double)na + vb / (double)nb);
	*diff = ma - mb;
	*mde = T_LIMIT * se;
	return se > 0 ? (ma - mb) / se : 0;
}

/* Two-sample Kolmogorov-Smirnov: D and its asymptotic p-value. */
static double
ks(const struct sample *a, const struct sample *b, double *p)
{
	double *x = malloc(a->n * sizeof(double));
	double *y = malloc(b->n * sizeof(double));
	double d = 0, ne, lambda, sum = 0, term;
	size_t i = 0, j = 0, k;

	if (x == NULL || y == NULL) {
		free(x);
		free(y);
		*p = 1;
		return 0;
	}
	memcpy(x, a->v, a->n * sizeof(double));
	memcpy(y, b->v, b->n * sizeof(double));
	qsort(x, a->n, sizeof(double), cmp_double);
	qsort(y, b->n, sizeof(double), cmp_double);
	while (i < a->n && j < b->n) {
		double v = x[i] < y[j] ? x[i] : y[j];

		while (i < a->n && x[i] <= v)
			i++;
		while (j < b->n && y[j] <= v)
			j++;
		if (fabs((double)i / (double)a->n - (double)j / (double)b->n) >
		    d)
			d = fabs((double)i / (double)a->n -
			    (double)j / (double)b->n);
	}
	ne = (double)a->n * (double)b->n / (double)(a->n + b->n);
	lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * d;
	for (k = 1; k <= 100; k++) {
		term = 2 * ((k & 1) ? 1 : -1) * exp(-2.0 * (double)(k * k) *
		    lambda * lambda);
		sum += term;
		if (fabs(term) < 1e-12)
			break;
	}
	*p = sum < 0 ? 0 : sum > 1 ? 1 : sum;
	free(x);
	free(y);
	return d;
}

/* One SHA-256 of 297 bytes: what the substitute key costs. */
static void
control_work(const uint8_t *p)
{
	uint8_t md[32];
	unsigned int len;

	(void)EVP_Digest(p, 297, md, &len, EVP_sha256(), NULL);
}

static void
describe(const char *name, const struct sample *s)
{
	double *x = malloc(s->n * sizeof(double)), m, v;
	size_t used;

	if (x == NULL)
		return;
	memcpy(x, s->v, s->n * sizeof(double));
	qsort(x, s->n, sizeof(double), cmp_double);
	mean_var(s->v, s->n, INFINITY, &m, &v, &used);
	printf("  %-31s n=%-6zu median %8.2f us  mean %8.2f us  sd %7.2f us"
	    "  p5 %8.2f  p95 %8.2f\n", name, s->n, quantile(x, s->n, 0.5) /
	    1e3, m / 1e3, sqrt(v) / 1e3, quantile(x, s->n, 0.05) / 1e3,
	    quantile(x, s->n, 0.95) / 1e3);
	if (getenv("ORACLE_DECILES") != NULL) {
		int q;

		printf("   ");
		for (q = 1; q < 20; q++)
			printf(" %.1f", quantile(x, s->n, q / 20.0) / 1e3);
		printf("\n");
	}
	free(x);
}

/* a's quantiles minus b's at p10, p25 and p50: how far a is shifted. */
static void
shifts(const struct sample *a, const struct sample *b, double out[3])
{
	static const double q[3] = { 0.10, 0.25, 0.50 };
	double *x = malloc(a->n * sizeof(double));
	double *y = malloc(b->n * sizeof(double));
	int i;

	out[0] = out[1] = out[2] = 0;
	if (x != NULL && y != NULL) {
		memcpy(x, a->v, a->n * sizeof(double));
		memcpy(y, b->v, b->n * sizeof(double));
		qsort(x, a->n, sizeof(double), cmp_double);
		qsort(y, b->n, sizeof(double), cmp_double);
		for (i = 0; i < 3; i++)
			out[i] = quantile(x, a->n, q[i]) -
			    quantile(y, b->n, q[i]);
	}
	free(x);
	free(y);
}

static int
compare(const char *what, const struct sample *a, const struct sample *b)
{
	double *pool, limit, diff, mde, t, d, p, t_all, diff_all, mde_all;
	double shift[3];
	int leak;

	if ((pool = malloc((a->n + b->n) * sizeof(double))) == NULL)
		return 0;
	memcpy(pool, a->v, a->n * sizeof(double));
	memcpy(pool + a->n, b->v, b->n * sizeof(double));
	qsort(pool, a->n + b->n, sizeof(double), cmp_double);
	limit = quantile(pool, a->n + b->n, CROP);
	free(pool);
	t = welch(a, b, limit, &diff, &mde);
	shifts(a, b, shift);
	t_all = welch(a, b, INFINITY, &diff_all, &mde_all);
	d = ks(a, b, &p);
	leak = fabs(t) >= T_LIMIT || p < KS_ALPHA;
	printf("%s:\n", what);
	printf("  Welch t (cropped at p%.0f = %.2f us): t = %+.2f, difference "
	    "of means %+.3f us; smallest difference |t| >= %.1f would show: "
	    "%.3f us\n", CROP * 100, limit / 1e3, t, diff / 1e3, T_LIMIT,
	    mde / 1e3);
	printf("  shift of the quantiles: p10 %+.3f us, p25 %+.3f us, "
	    "median %+.3f us\n", shift[0] / 1e3, shift[1] / 1e3,
	    shift[2] / 1e3);
	printf("  Welch t (all samples): t = %+.2f, difference of means "
	    "%+.3f us\n", t_all, diff_all / 1e3);
	printf("  Kolmogorov-Smirnov: D = %.4f, p = %.3g\n", d, p);
	printf("  => %s\n", leak ? "DIFFERENT (the test tells them apart)" :
	    "not told apart");
	return leak;
}

int
main(int argc, char **argv)
{
	tripki_server *srv = NULL;
	X509 *ca_cert = NULL;
	EVP_PKEY *keys[2] = { NULL, NULL };
	tripki_buf m5[NFRAMES], out;
	uint8_t *bad[NCLASS][NFRAMES];
	size_t len[NCLASS][NFRAMES];
	struct sample s[NCLASS];
	tripki_server_event ev;
	size_t nsamples = 20000, i, total, done[NCLASS] = { 0 };
	double t0, t1;
	int64_t t;
	int opt, r, cls, k, rc = 2, leak, control;
	uint64_t seed = (uint64_t)now_ms();

	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		if (opt == 'n')
			nsamples = strtoul(optarg, NULL, 10);
		else if (opt == 's')
			seed = strtoull(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: oracle [-n SAMPLES] [-s SEED]\n");
			return 2;
		}
	}
	if (nsamples < 100 || nsamples > 10000000) {
		fprintf(stderr, "oracle: -n: from 100 to 10000000\n");
		return 2;
	}
	rng_state = seed;
	memset(bad, 0, sizeof(bad));
	memset(s, 0, sizeof(s));
	tripki_buf_init(&out, TRIPKI_FRAME_MAX);
	for (i = 0; i < NFRAMES; i++)
		tripki_buf_init(&m5[i], TRIPKI_FRAME_MAX);
	if ((r = make_server(&srv, &ca_cert, keys)) != TRIPKI_OK) {
		rc = fail("setting up a CA and a server", r);
		goto out;
	}
	for (i = 0; i < NFRAMES; i++) {
		size_t n;
		uint8_t *f;

		if ((r = make_m5(srv, ca_cert, (int)i, &m5[i])) != TRIPKI_OK) {
			rc = fail("making an M5", r);
			goto out;
		}
		f = m5[i].data;
		n = m5[i].len;
		if (n < 6 + 2 + 256 + 16 || f[6] != 1 || f[7] != 0) {
			fprintf(stderr, "oracle: M5 is not laid out as "
			    "docs/PROTOCOL.md says\n");
			goto out;
		}
		for (cls = 0; cls < NCLASS; cls++) {
			if ((bad[cls][i] = malloc(n)) == NULL)
				goto out;
			memcpy(bad[cls][i], f, n);
			len[cls][i] = n;
		}
		/* One bit of the wrapped key, at a place that moves. */
		bad[C_OAEP][i][8 + rng() % 256] ^= (uint8_t)(1u << (rng() % 8));
		bad[C_TAG][i][n - 1 - rng() % 16] ^= (uint8_t)(1u << (rng() % 8));
		memcpy(bad[C_CONTROL][i], bad[C_TAG][i], n);
		if (raw_wrap(keys[1], 1, bad[C_Y0][i] + 8) != 0 ||
		    raw_wrap(keys[1], 0, bad[C_Y1][i] + 8) != 0) {
			fprintf(stderr, "oracle: raw RSA encryption failed\n");
			goto out;
		}
		/* n = 255: the same bytes, one fewer in the wrapped key. */
		bad[C_SHORT][i][6] = 0;
		bad[C_SHORT][i][7] = 255;
		memmove(bad[C_SHORT][i] + 8 + 255, bad[C_SHORT][i] + 8 + 256,
		    n - 8 - 256);
		len[C_SHORT][i] = n - 1;
		bad[C_SHORT][i][2] = (uint8_t)((n - 7) >> 24);
		bad[C_SHORT][i][3] = (uint8_t)((n - 7) >> 16);
		bad[C_SHORT][i][4] = (uint8_t)((n - 7) >> 8);
		bad[C_SHORT][i][5] = (uint8_t)(n - 7);
	}
	for (cls = 0; cls < NCLASS; cls++)
		if ((s[cls].v = malloc(nsamples * sizeof(double))) == NULL)
			goto out;
	t = now_ms();
	/* Every bad frame is refused the same way, before timing starts. */
	for (cls = 0; cls < NCLASS; cls++)
		for (i = 0; i < NFRAMES; i++) {
			r = tripki_server_handle(srv, bad[cls][i], len[cls][i],
			    t, &out, &ev);
			if (r != TRIPKI_E_DECRYPT || out.len != 8 ||
			    out.data[1] != TRIPKI_MERROR || out.data[6] != 0 ||
			    out.data[7] != TRIPKI_E_DECRYPT) {
				fprintf(stderr, "oracle: %s frame %zu: %s, "
				    "answer of %zu bytes (want DECRYPT)\n",
				    class_name[cls], i, tripki_strerror(r),
				    out.len);
				goto out;
			}
		}
	printf("oracle: %zu samples per class, interleaved at random (seed "
	    "%llu), %d distinct M5 frames, RSA-2048\n", nsamples,
	    (unsigned long long)seed, NFRAMES);
	total = WARMUP + (size_t)NCLASS * nsamples;
	for (i = 0; i < total; i++) {
		/* A class that still needs samples, at random. */
		do
			cls = (int)(rng() % NCLASS);
		while (i >= WARMUP && done[cls] >= nsamples);
		k = (int)(rng() % NFRAMES);
		control = cls == C_CONTROL;
		t0 = now_ns();
		r = tripki_server_handle(srv, bad[cls][k], len[cls][k], t, &out,
		    &ev);
		if (control)
			control_work(bad[cls][k]);
		t1 = now_ns();
		if (r != TRIPKI_E_DECRYPT) {
			fprintf(stderr, "oracle: %s: %s\n", class_name[cls],
			    tripki_strerror(r));
			goto out;
		}
		if (i >= WARMUP)
			s[cls].v[done[cls]++] = t1 - t0;
	}
	for (cls = 0; cls < NCLASS; cls++)
		s[cls].n = done[cls];
	printf("time of tripki_server_handle per refused M5:\n");
	for (cls = 0; cls < NCLASS; cls++)
		describe(class_name[cls], &s[cls]);
	leak = compare("bad OAEP block vs bad tag (the oracle question)",
	    &s[C_OAEP], &s[C_TAG]);
	leak |= compare("EM[0] = 0x00 vs EM[0] != 0x00 (Manger's oracle)",
	    &s[C_Y0], &s[C_Y1]);
	if (!compare("positive control: bad tag + SHA-256 vs bad tag",
	    &s[C_CONTROL], &s[C_TAG]))
		printf("  (the control was not detected: the measurement is "
		    "too noisy to bound a difference this small)\n");
	printf("verdict: %s\n", leak ? "the timing tells some of these "
	    "failures apart (see above)" : "no timing difference found "
	    "between a failed OAEP decryption and a failed tag");
	rc = leak ? 1 : 0;
out:
	for (cls = 0; cls < NCLASS; cls++) {
		free(s[cls].v);
		for (i = 0; i < NFRAMES; i++)
			free(bad[cls][i]);
	}
	for (i = 0; i < NFRAMES; i++)
		tripki_buf_free(&m5[i]);
	tripki_buf_free(&out);
	tripki_server_free(srv);
	X509_free(ca_cert);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
	return rc;
}
