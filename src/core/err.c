/* One sentence for each error code. */
#include "internal.h"

static const struct {
	int code;
	const char *msg;
} errs[] = {
	{ TRIPKI_OK, "success" },
	{ TRIPKI_E_AGAIN, "more bytes are needed" },
	{ TRIPKI_E_NOMEM, "out of memory" },
	{ TRIPKI_E_INVALID, "invalid argument" },
	{ TRIPKI_E_STATE, "operation not valid in this state" },
	{ TRIPKI_E_TRUNCATED, "message truncated" },
	{ TRIPKI_E_TRAILING, "unexpected trailing bytes" },
	{ TRIPKI_E_TOO_BIG, "length over its limit" },
	{ TRIPKI_E_VERSION, "unsupported protocol version" },
	{ TRIPKI_E_TYPE, "unknown message type" },
	{ TRIPKI_E_UNEXPECTED, "message not expected here" },
	{ TRIPKI_E_BAD_FIELD, "invalid field value" },
	{ TRIPKI_E_DECRYPT, "decryption failed" },
	{ TRIPKI_E_STALE, "timestamp too old (clock skew or delay)" },
	{ TRIPKI_E_FUTURE, "timestamp in the future (clock skew)" },
	{ TRIPKI_E_REPLAY, "replayed message" },
	{ TRIPKI_E_SEQUENCE, "sequence number out of order" },
	{ TRIPKI_E_SESSION_EXPIRED, "session expired" },
	{ TRIPKI_E_UNKNOWN_SESSION, "unknown session" },
	{ TRIPKI_E_UNKNOWN_ID, "no such server identity here" },
	{ TRIPKI_E_ID_MISMATCH, "identity in reply differs from the one sent" },
	{ TRIPKI_E_CERT_SIGNATURE, "certificate signature does not verify" },
	{ TRIPKI_E_CERT_ISSUER, "certificate not issued by the trusted CA" },
	{ TRIPKI_E_CERT_EXPIRED, "certificate expired" },
	{ TRIPKI_E_CERT_NOT_YET_VALID, "certificate not yet valid" },
	{ TRIPKI_E_CERT_SUBJECT, "certificate subject differs from the expected identity" },
	{ TRIPKI_E_CERT_KEY, "certificate key differs from the key presented" },
	{ TRIPKI_E_CERT_REVOKED, "certificate revoked" },
	{ TRIPKI_E_CERT_INVALID, "certificate invalid" },
	{ TRIPKI_E_KEY, "unacceptable key" },
	{ TRIPKI_E_NOT_AUTHORIZED, "not authorized" },
	{ TRIPKI_E_BUSY, "busy, try again later" },
	{ TRIPKI_E_PEER, "peer reported an error" },
	{ TRIPKI_E_CRYPTO, "cryptographic library failure" },
	{ TRIPKI_E_STORE, "storage failure" },
	{ TRIPKI_E_IO, "input/output failure" },
	{ TRIPKI_E_INTERNAL, "internal error" },
};

const char *
tripki_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].code == err)
			return errs[i].msg;
	return "unknown error";
}

/*
 * What a peer may learn.  Every decryption failure is one answer; local
 * failures (memory, libcrypto, storage) are "internal"; checks the peer can
 * act on keep their code.
 */
int
tripki_err_wire(int err)
{
	switch (err) {
	case TRIPKI_E_TRUNCATED:
	case TRIPKI_E_TRAILING:
	case TRIPKI_E_TOO_BIG:
	case TRIPKI_E_VERSION:
	case TRIPKI_E_TYPE:
	case TRIPKI_E_UNEXPECTED:
	case TRIPKI_E_BAD_FIELD:
	case TRIPKI_E_DECRYPT:
	case TRIPKI_E_STALE:
	case TRIPKI_E_FUTURE:
	case TRIPKI_E_REPLAY:
	case TRIPKI_E_SEQUENCE:
	case TRIPKI_E_SESSION_EXPIRED:
	case TRIPKI_E_UNKNOWN_SESSION:
	case TRIPKI_E_UNKNOWN_ID:
	case TRIPKI_E_CERT_REVOKED:
	case TRIPKI_E_KEY:
	case TRIPKI_E_NOT_AUTHORIZED:
	case TRIPKI_E_BUSY:
		return err;
	case TRIPKI_E_CERT_SIGNATURE:
	case TRIPKI_E_CERT_ISSUER:
	case TRIPKI_E_CERT_EXPIRED:
	case TRIPKI_E_CERT_NOT_YET_VALID:
	case TRIPKI_E_CERT_SUBJECT:
	case TRIPKI_E_CERT_KEY:
	case TRIPKI_E_CERT_INVALID:
		return TRIPKI_E_NOT_AUTHORIZED;
	default:
		return TRIPKI_E_INTERNAL;
	}
}
