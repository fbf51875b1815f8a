/*
 * What the `tripki ca` subcommands share: the CA directory (ca.key,
 * ca.crt, ca.db) and the subcommands that live in ca_admin.c.
 */
#ifndef TRIPKI_CLI_CA_INT_H
#define TRIPKI_CLI_CA_INT_H

#include "cli.h"
#include "store/store.h"

/* A CA directory, loaded. */
typedef struct tcli_ca_dir {
	char keyp[4096], certp[4096];
	char id[TRIPKI_ID_MAX + 1];     /* CN of ca.crt */
	EVP_PKEY *key;                  /* NULL unless asked for */
	X509 *cert;
	tripki_store *st;               /* DIR/ca.db, made when missing */
} tcli_ca_dir;

/*
 * Loads DIR/ca.crt and opens DIR/ca.db; with want_key also DIR/ca.key
 * (decrypted with the passphrase in passfile when not NULL), checked
 * against the certificate.  0, or -1 after one line.
 */
int tcli_ca_dir_open(const char *dir, int want_key, const char *passfile,
    tcli_ca_dir *ca);
void tcli_ca_dir_close(tcli_ca_dir *ca);

int tcli_ca_enroll(int argc, char **argv);
int tcli_ca_revoke(int argc, char **argv);
int tcli_ca_list(int argc, char **argv);
int tcli_ca_crl(int argc, char **argv);

#endif
