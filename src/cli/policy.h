/*
 * Who the CA issues to.  The policy's authorize function is the core's
 * tripki_authorize_fn: the CA calls it for each M1 once the message is
 * fresh and decrypted.  A store of one-time tokens plugs in here later.
 */
#ifndef TRIPKI_CLI_POLICY_H
#define TRIPKI_CLI_POLICY_H

#include "tripki/tripki.h"

typedef struct tcli_policy tcli_policy;

/* A new policy issues to nobody until told otherwise. */
int tcli_policy_new(tcli_policy **out);
/* Issue to any identity, as the seeds' CA did (--open). */
void tcli_policy_set_open(tcli_policy *p);
void tcli_policy_free(tcli_policy *p);
/* Adds an identity to the allow-list; TRIPKI_E_INVALID if malformed. */
int tcli_policy_allow(tcli_policy *p, const char *id);
size_t tcli_policy_count(const tcli_policy *p);
int tcli_policy_is_open(const tcli_policy *p);
/* TRIPKI_OK to issue, TRIPKI_E_NOT_AUTHORIZED (logged) to refuse. */
int tcli_policy_authorize(void *ctx, const tripki_issue_info *info,
    int64_t now_ms);

#endif
