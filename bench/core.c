/*
 * In-memory benchmark of the protocol core, side by side in one run:
 *   - the RSA-2048 private-key operation alone (OAEP decryption), the floor
 *     under a phase-2 handshake on the server;
 *   - the server's share of a phase-2 registration (M3->M4 and M5->M6);
 *   - phase-3 requests (M7->M8) on an established session;
 *   - the CA's share of a CSR-mode issuance (M1->M2: OAEP decryption, the
 *     request checked, a certificate signed), without the store.
 * Only the server's (CA's) work is timed; the peers' messages are made
 * ahead.  The RSA op is timed in eight chunks, each just before a chunk of
 * the work it is compared with, so that the ratios hold on a machine whose
 * speed drifts from one second to the next.
 * Prints a table and the ratios; --json prints the same as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tripki/tripki.h"

#define NOW 1763778000000LL

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
serve(void *ctx, const char *id, const uint8_t *req, size_t n, tripki_buf *d,
    int *status)
{
	(void)ctx;
	(void)id;
	(void)req;
	(void)n;
	*status = TRIPKI_STATUS_OK;
	return tripki_buf_append(d, "take cis3319 class this morning", 31);
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench: %s: %s\n", what, tripki_strerror(r));
	exit(1);
}

/* Phase 1 in memory, to get a real server key and certificate. */
static void
setup(EVP_PKEY **cak, X509 **cac, EVP_PKEY **sk, X509 **sc)
{
	tripki_ca_config cc = { 0 };
	tripki_enroll_config ec = { 0 };
	tripki_enroll *e;
	tripki_ca *ca;
	tripki_buf a, b;
	int r;

	tripki_buf_init(&a, TRIPKI_FRAME_MAX);
	tripki_buf_init(&b, TRIPKI_FRAME_MAX);
	if ((r = tripki_key_generate(2048, cak)) != TRIPKI_OK ||
	    (r = tripki_ca_selfsign(*cak, "ID-CA", 365, NOW - 1000, NULL, cac)))
		die("CA", r);
	cc.id = "ID-CA";
	cc.key = *cak;
	cc.cert = *cac;
	ec.id = "ID-Server";
	ec.ca_cert = *cac;
	if ((r = tripki_ca_new(&cc, &ca)) || (r = tripki_enroll_new(&ec, &e)) ||
	    (r = tripki_enroll_start(e, NOW, &a)) ||
	    (r = tripki_ca_handle(ca, a.data, a.len, NOW, NULL, &b)) ||
	    (r = tripki_enroll_recv(e, b.data, b.len, NOW)))
		die("phase 1", r);
	*sk = tripki_enroll_key(e);
	*sc = tripki_enroll_cert(e);
	tripki_enroll_free(e);
	tripki_ca_free(ca);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
}

/*
 * The machine may be shared: the reference RSA op is timed in ROUNDS
 * chunks between chunks of the work it is compared with, not once.
 */
#define ROUNDS 8
#define CHUNK(n) ((n) / ROUNDS)

static double
bench_rsa(EVP_PKEY *k, int n)
{
	unsigned char in[32] = { 1 }, ct[512], pt[512];
	size_t ctlen = sizeof(ct), ptlen;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	double t0;
	int i;

	EVP_PKEY_encrypt_init(c);
	EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
	EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256());
	EVP_PKEY_encrypt(c, ct, &ctlen, in, sizeof(in));
	EVP_PKEY_CTX_free(c);
	t0 = secs();
	for (i = 0; i < n; i++) {
		c = EVP_PKEY_CTX_new(k, NULL);
		EVP_PKEY_decrypt_init(c);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256());
		ptlen = sizeof(pt);
		if (EVP_PKEY_decrypt(c, pt, &ptlen, ct, ctlen) != 1)
			die("rsa", TRIPKI_E_CRYPTO);
		EVP_PKEY_CTX_free(c);
	}
	return (secs() - t0) / n;
}

/*
 * CPU time per CSR-mode issuance at the CA (M1 -> M2), store left out;
 * *rsa gets the RSA op timed between its rounds.
 */
static double
bench_issue(EVP_PKEY *cak, X509 *cac, EVP_PKEY *sk, int n, double *rsa)
{
	tripki_ca_config cc = { 0 };
	tripki_enroll_config ec = { 0 };
	tripki_enroll *e;
	tripki_buf csr, *m1, out;
	tripki_ca *ca;
	double t0, t = 0, rsa_t = 0;
	int i, j, k, r;

	cc.id = "ID-CA";
	cc.key = cak;
	cc.cert = cac;
	ec.id = "ID-Server";
	ec.ca_cert = cac;
	ec.csr_key = sk;
	tripki_buf_init(&csr, 16384);
	tripki_buf_init(&out, TRIPKI_FRAME_MAX);
	if ((r = tripki_ca_new(&cc, &ca)) ||
	    (r = tripki_csr_make(sk, "ID-Server", &csr)))
		die("CA", r);
	ec.csr = csr.data;
	ec.csr_len = csr.len;
	m1 = calloc((size_t)n, sizeof(*m1));
	for (i = 0; i < n; i++) {
		tripki_buf_init(&m1[i], TRIPKI_FRAME_MAX);
		if ((r = tripki_enroll_new(&ec, &e)) ||
		    (r = tripki_enroll_start(e, NOW, &m1[i])))
			die("M1", r);
		tripki_enroll_free(e);
	}
	for (i = 0, k = 0; k < ROUNDS; k++) {
		rsa_t += bench_rsa(sk, CHUNK(n));
		t0 = secs();
		for (j = 0; j < CHUNK(n); j++, i++)
			if ((r = tripki_ca_handle(ca, m1[i].data, m1[i].len,
			    NOW, NULL, &out)))
				die("issue", r);
		t += secs() - t0;
	}
	t /= i;
	*rsa = rsa_t / ROUNDS;
	for (i = 0; i < n; i++)
		tripki_buf_free(&m1[i]);
	free(m1);
	tripki_buf_free(&csr);
	tripki_buf_free(&out);
	tripki_ca_free(ca);
	return t;
}

int
main(int argc, char **argv)
{
	int json = argc > 1 && strcmp(argv[1], "--json") == 0;
	int n_hs = 400, n_req = 20000, i, r;
	tripki_server_config sc = { 0 };
	tripki_client_config ccfg = { 0 };
	EVP_PKEY *cak, *sk;
	X509 *cac, *scert;
	tripki_server *s;
	tripki_client **cl, *last;
	tripki_buf *m3, *m5, out, tmp;
	double t0, rsa = 0, hs = 0, req, iss, iss_rsa;
	int j, k;

	setup(&cak, &cac, &sk, &scert);
	sc.id = "ID-Server";
	sc.key = sk;
	sc.cert = scert;
	sc.serve = serve;
	sc.max_sessions = (size_t)n_hs + 10;
	if ((r = tripki_server_new(&sc, &s)))
		die("server", r);
	ccfg.id = "ID-Client";
	ccfg.server_id = "ID-Server";
	ccfg.ca_cert = cac;
	ccfg.ip = "127.0.0.1";
	tripki_buf_init(&out, TRIPKI_FRAME_MAX);
	tripki_buf_init(&tmp, TRIPKI_FRAME_MAX);
	cl = calloc((size_t)n_hs, sizeof(*cl));
	m3 = calloc((size_t)n_hs, sizeof(*m3));
	m5 = calloc((size_t)n_hs, sizeof(*m5));
	/* The clients' M3 and M5, made ahead (M5 needs M4 from the server). */
	for (i = 0; i < n_hs; i++) {
		tripki_buf_init(&m3[i], TRIPKI_FRAME_MAX);
		tripki_buf_init(&m5[i], TRIPKI_FRAME_MAX);
		if ((r = tripki_client_new(&ccfg, &cl[i])) ||
		    (r = tripki_client_hello(cl[i], NOW, &m3[i])) ||
		    (r = tripki_server_handle(s, m3[i].data, m3[i].len, NOW, &out,
		    NULL)) ||
		    (r = tripki_client_recv(cl[i], out.data, out.len, NOW, &m5[i])))
			die("prepare", r);
	}
	for (i = 0, k = 0; k < ROUNDS; k++) {
		rsa += bench_rsa(sk, CHUNK(n_hs));
		t0 = secs();
		for (j = 0; j < CHUNK(n_hs); j++, i++)
			if ((r = tripki_server_handle(s, m3[i].data, m3[i].len,
			    NOW, &out, NULL)) ||
			    (r = tripki_server_handle(s, m5[i].data, m5[i].len,
			    NOW, &out, NULL)))
				die("handshake", r);
		hs += secs() - t0;
	}
	hs /= i;
	rsa /= ROUNDS;
	/* The last M6 belongs to the client of the last M5. */
	last = cl[i - 1];
	if ((r = tripki_client_recv(last, out.data, out.len, NOW, &tmp)))
		die("m6", r);
	t0 = secs();
	for (i = 0; i < n_req; i++) {
		if ((r = tripki_client_request(last, (const uint8_t *)"memo",
		    4, NOW, &tmp)))
			die("m7", r);
		if ((r = tripki_server_handle(s, tmp.data, tmp.len, NOW, &out,
		    NULL)))
			die("m8", r);
		if ((r = tripki_client_recv(last, out.data, out.len, NOW,
		    &tmp)))
			die("m8 recv", r);
	}
	req = (secs() - t0) / n_req;
	iss = bench_issue(cak, cac, sk, n_hs / 2, &iss_rsa);
	if (json)
		printf("{\"rsa2048_private_us\": %.1f, \"phase2_server_us\": %.1f, "
		    "\"phase2_to_rsa\": %.3f, \"phase3_roundtrip_us\": %.2f, "
		    "\"phase3_per_s\": %.0f, \"phase1_csr_ca_us\": %.1f, "
		    "\"phase1_csr_to_rsa\": %.3f}\n", rsa * 1e6, hs * 1e6,
		    hs / rsa, req * 1e6, 1 / req, iss * 1e6, iss / iss_rsa);
	else {
		printf("core, one thread, CPU time (in memory, no sockets)\n");
		printf("  RSA-2048 OAEP private op          %8.1f us  (%6.0f/s)\n",
		    rsa * 1e6, 1 / rsa);
		printf("  phase 2, server side (M3+M5)      %8.1f us  (%6.0f/s)\n",
		    hs * 1e6, 1 / hs);
		printf("  phase 3, client+server (M7+M8)    %8.2f us  (%6.0f/s)\n",
		    req * 1e6, 1 / req);
		printf("  phase 1, CA side, CSR (M1->M2)    %8.1f us  (%6.0f/s)\n",
		    iss * 1e6, 1 / iss);
		printf("  ratio phase-2 server CPU / RSA op  %.3f\n", hs / rsa);
		printf("  ratio CSR issuance CPU / RSA op    %.3f\n",
		    iss / iss_rsa);
	}
	for (i = 0; i < n_hs; i++) {
		tripki_client_free(cl[i]);
		tripki_buf_free(&m3[i]);
		tripki_buf_free(&m5[i]);
	}
	free(cl);
	free(m3);
	free(m5);
	tripki_buf_free(&out);
	tripki_buf_free(&tmp);
	tripki_server_free(s);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	X509_free(cac);
	X509_free(scert);
	return 0;
}
