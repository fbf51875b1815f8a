/* A CA and a server certificate made once per fuzzing process. */
#ifndef TRIPKI_FUZZ_FIXED_H
#define TRIPKI_FUZZ_FIXED_H

#include "fuzz.h"

#define FUZZ_NOW 1763778000000LL

struct fixed {
	EVP_PKEY *ca_key;
	X509 *ca;
	X509 *server;
};

static inline const struct fixed *
fixed(void)
{
	static struct fixed f;
	EVP_PKEY *sk = NULL;

	if (f.ca != NULL)
		return &f;
	if (tripki_key_generate(2048, &f.ca_key) != TRIPKI_OK ||
	    tripki_ca_selfsign(f.ca_key, "ID-CA", 30, FUZZ_NOW - 1000, NULL,
	    &f.ca) != TRIPKI_OK ||
	    tripki_key_generate(2048, &sk) != TRIPKI_OK ||
	    cert_issue(f.ca_key, f.ca, sk, "ID-Server", 30, FUZZ_NOW - 1000, NULL,
	    &f.server) != TRIPKI_OK)
		abort();
	EVP_PKEY_free(sk);
	return &f;
}

#endif
