/*
 * Writes the seed corpora: every message of a real in-memory run of the
 * three phases ("real-*"), the same messages with their plaintext where the
 * ciphertext goes ("plain-*", for the plaintext fuzzing build), and the
 * certificates, keys and request they carry.  Usage: seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "fuzz.h"

#define NOW 1763778000000LL

static const char *root;

static void
put(const char *target, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		abort();
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

static void
must(int r)
{
	if (r != TRIPKI_OK) {
		fprintf(stderr, "seeds: %s\n", tripki_strerror(r));
		exit(1);
	}
}

/* A frame whose sealed part is plaintext followed by a zero tag. */
static void
plain(const char *target, uint8_t type, const uint8_t *prefix, size_t plen,
    const tripki_buf *pt)
{
	uint8_t tag[GCM_TAG_LEN] = { 0 };
	tripki_buf f;
	size_t start;

	tripki_buf_init(&f, TRIPKI_FRAME_MAX);
	must(frame_begin(&f, type, &start));
	must(buf_put(&f, prefix, plen));
	must(buf_put(&f, pt->data, pt->len));
	must(buf_put(&f, tag, sizeof(tag)));
	must(frame_end(&f, start));
	put(target, "plain-1", f.data, f.len);
	tripki_buf_free(&f);
}

static int
serve(void *ctx, const char *id, const uint8_t *req, size_t n, tripki_buf *d,
    int *status)
{
	(void)ctx;
	(void)id;
	(void)req;
	(void)n;
	*status = 0;
	return tripki_buf_append(d, "take cis3319 class this morning", 31);
}

int
main(int argc, char **argv)
{
	tripki_ca_config cc = { 0 };
	tripki_enroll_config ec = { 0 };
	tripki_server_config sc = { 0 };
	tripki_client_config kc = { 0 };
	EVP_PKEY *cak, *sk, *csrk;
	X509 *cac, *scert;
	tripki_enroll *e;
	tripki_server *s;
	tripki_client *c;
	tripki_ca *ca;
	tripki_buf a, b, t;
	uint8_t ek[258] = { 1, 0 };
	uint8_t sidseq[TRIPKI_SID_LEN + 8] = { 0 };
	struct m1 m1 = { 0 };
	struct m2 m2 = { 0 };
	struct m5 m5 = { 0 };
	struct m6 m6 = { 0 };
	struct m7 m7 = { 0 };
	struct m8 m8 = { 0 };
	BIO *bio;
	char *pem;
	long pemlen;

	if (argc != 2)
		return 2;
	root = argv[1];
	mkdir(root, 0755);
	tripki_buf_init(&a, TRIPKI_FRAME_MAX);
	tripki_buf_init(&b, TRIPKI_FRAME_MAX);
	tripki_buf_init(&t, TRIPKI_FRAME_MAX);
	must(tripki_key_generate(2048, &cak));
	must(tripki_ca_selfsign(cak, "ID-CA", 30, NOW - 1000, NULL, &cac));
	must(tripki_key_generate(2048, &csrk));
	cc.id = "ID-CA";
	cc.key = cak;
	cc.cert = cac;
	must(tripki_ca_new(&cc, &ca));
	/* Phase 1, seed mode. */
	ec.id = "ID-Server";
	ec.ca_cert = cac;
	must(tripki_enroll_new(&ec, &e));
	must(tripki_enroll_start(e, NOW, &a));
	put("fuzz_m1", "real-1", a.data, a.len);
	put("fuzz_frame", "m1", a.data, a.len);
	must(tripki_ca_handle(ca, a.data, a.len, NOW, NULL, &b));
	put("fuzz_m2", "real-1", b.data, b.len);
	must(tripki_enroll_recv(e, b.data, b.len, NOW));
	sk = tripki_enroll_key(e);
	scert = tripki_enroll_cert(e);
	tripki_enroll_free(e);
	/* The same plaintexts, in the clear. */
	m1.ts = NOW;
	strcpy(m1.id, "ID-Server");
	m1.mode = MODE_CSR;
	tripki_buf_reset(&t);
	must(csr_make(csrk, "ID-Server", &t));
	put("fuzz_csr", "csr-1", t.data, t.len);
	{
		tripki_buf csr = t, pt;

		tripki_buf_init(&t, TRIPKI_FRAME_MAX);
		tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
		m1.csr = csr.data;
		m1.csr_len = csr.len;
		must(m1_encode(&pt, &m1));
		plain("fuzz_m1", TRIPKI_M1, ek, sizeof(ek), &pt);
		tripki_buf_free(&pt);
		tripki_buf_free(&csr);
	}
	{
		tripki_buf pk, der, p8, pt;

		tripki_buf_init(&pk, DER_MAX);
		tripki_buf_init(&der, DER_MAX);
		tripki_buf_init(&p8, DER_MAX);
		tripki_buf_init(&pt, TRIPKI_FRAME_MAX);
		must(cert_spki(scert, &pk));
		must(cert_to_der(scert, &der));
		must(key_to_pkcs8(sk, &p8));
		put("fuzz_key", "pkcs8", p8.data, p8.len);
		put("fuzz_cert", "server.der", der.data, der.len);
		m2.ts = NOW;
		strcpy(m2.id, "ID-Server");
		m2.pk = pk.data;
		m2.pk_len = pk.len;
		m2.cert = der.data;
		m2.cert_len = der.len;
		m2.sk = p8.data;
		m2.sk_len = p8.len;
		must(m2_encode(&pt, &m2));
		plain("fuzz_m2", TRIPKI_M2, NULL, 0, &pt);
		tripki_buf_free(&pk);
		tripki_buf_free(&der);
		tripki_buf_free(&p8);
		tripki_buf_free(&pt);
	}
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, cac);
	pemlen = BIO_get_mem_data(bio, &pem);
	put("fuzz_cert", "ca.pem", (uint8_t *)pem, (size_t)pemlen);
	BIO_free(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, sk, NULL, NULL, 0, NULL, NULL);
	pemlen = BIO_get_mem_data(bio, &pem);
	put("fuzz_keyfile", "key.pem", (uint8_t *)pem, (size_t)pemlen);
	BIO_free(bio);
	/* Phases 2 and 3. */
	sc.id = "ID-Server";
	sc.key = sk;
	sc.cert = scert;
	sc.serve = serve;
	must(tripki_server_new(&sc, &s));
	kc.id = "ID-Client";
	kc.server_id = "ID-Server";
	kc.ca_cert = cac;
	kc.ip = "127.0.0.1";
	kc.port = 50000;
	must(tripki_client_new(&kc, &c));
	must(tripki_client_hello(c, NOW, &a));
	put("fuzz_m3", "real-1", a.data, a.len);
	put("fuzz_frame", "m3", a.data, a.len);
	must(tripki_server_handle(s, a.data, a.len, NOW, &b, NULL));
	put("fuzz_m4", "real-1", b.data, b.len);
	must(tripki_client_recv(c, b.data, b.len, NOW, &a));
	put("fuzz_m5", "real-1", a.data, a.len);
	must(tripki_server_handle(s, a.data, a.len, NOW, &b, NULL));
	put("fuzz_m6", "real-1", b.data, b.len);
	must(tripki_client_recv(c, b.data, b.len, NOW, &a));
	must(tripki_client_request(c, (const uint8_t *)"memo", 4, NOW, &a));
	put("fuzz_m7", "real-1", a.data, a.len);
	must(tripki_server_handle(s, a.data, a.len, NOW, &b, NULL));
	put("fuzz_m8", "real-1", b.data, b.len);
	put("fuzz_frame", "m8", b.data, b.len);
	tripki_buf_reset(&a);
	must(tripki_frame_error(&a, TRIPKI_E_DECRYPT));
	put("fuzz_error", "decrypt", a.data, a.len);
	put("fuzz_frame", "error", a.data, a.len);
	/* Plaintext forms of M5..M8. */
	m5.ts = NOW;
	strcpy(m5.id, "ID-Client");
	strcpy(m5.ip, "127.0.0.1");
	m5.port = 50000;
	tripki_buf_reset(&t);
	must(m5_encode(&t, &m5));
	plain("fuzz_m5", TRIPKI_M5, ek, sizeof(ek), &t);
	m6.ts = NOW;
	m6.lifetime = 60;
	strcpy(m6.id, "ID-Client");
	tripki_buf_reset(&t);
	must(m6_encode(&t, &m6));
	plain("fuzz_m6", TRIPKI_M6, NULL, 0, &t);
	m7.ts = NOW;
	m7.req = (const uint8_t *)"memo";
	m7.req_len = 4;
	tripki_buf_reset(&t);
	must(m7_encode(&t, &m7));
	sidseq[sizeof(sidseq) - 1] = 1;
	plain("fuzz_m7", TRIPKI_M7, sidseq, sizeof(sidseq), &t);
	m8.ts = NOW;
	m8.data = (const uint8_t *)"take cis3319 class this morning";
	m8.data_len = 31;
	tripki_buf_reset(&t);
	must(m8_encode(&t, &m8));
	plain("fuzz_m8", TRIPKI_M8, sidseq, sizeof(sidseq), &t);
	tripki_client_free(c);
	tripki_server_free(s);
	tripki_ca_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(csrk);
	X509_free(cac);
	X509_free(scert);
	tripki_buf_free(&a);
	tripki_buf_free(&b);
	tripki_buf_free(&t);
	return 0;
}
