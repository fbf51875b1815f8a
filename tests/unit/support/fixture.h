/*
 * Shared test fixture: keys made once per test binary, a fixed clock, and
 * helpers that run the real roles in memory.
 */
#ifndef TRIPKI_TEST_FIXTURE_H
#define TRIPKI_TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tripki/tripki.h"

#define FX_NOW 1763778000000LL /* 2025-11-22T02:20:00Z */
#define FX_CA_ID "ID-CA"
#define FX_SERVER_ID "ID-Server"
#define FX_CLIENT_ID "ID-Client"
#define FX_REQ "memo"
#define FX_DATA "take cis3319 class this morning"

/* Keys and certificates shared by the tests of one binary. */
struct fx_keys {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *other_ca_key;   /* a second CA with the same name */
	X509 *other_ca_cert;
	EVP_PKEY *server_key;
	X509 *server_cert;        /* issued by ca_cert through phase 1 */
	EVP_PKEY *spare_key;      /* any other RSA-2048 key */
};

const struct fx_keys *fx_keys(void);
/* A frame buffer big enough for anything. */
void fx_buf(tripki_buf *b);

/* Roles with the seeds' identities and the fixture keys. */
tripki_ca *fx_ca(const tripki_common *cm);
tripki_enroll *fx_enroll(EVP_PKEY *csr_key);
tripki_server *fx_server(uint32_t lifetime_s);
tripki_client *fx_client(void);
/* The service: "memo" -> FX_DATA, anything else -> NOT_FOUND. */
int fx_serve(void *ctx, const char *client_id, const uint8_t *req,
    size_t req_len, tripki_buf *data, int *status);
/* Runs M3..M6 between c and s at time `now`; asserts success. */
void fx_register(tripki_client *c, tripki_server *s, int64_t now);
/* A deterministic randomness source for reproducible runs. */
int fx_rand(void *ctx, uint8_t *out, size_t n);

/*
 * tests/vectors as seen from here: the repository root, or a build
 * directory one or two levels below it.  NULL, with a line on stderr,
 * when it is not there.
 */
const char *fx_vectors_dir(void);
/* A hex digit's value, or -1. */
int fx_hexval(char c);
/* Hex digits into at most max bytes: the byte count, or -1. */
long fx_unhex(const char *s, uint8_t *out, size_t max);

#endif
