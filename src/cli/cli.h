/*
 * What the subcommands of the tripki command share: exit statuses, the
 * log, common flags, key and certificate files, signals.
 */
#ifndef TRIPKI_CLI_H
#define TRIPKI_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "net/net.h"
#include "tripki/tripki.h"

/* Exit statuses (README.md and docs/tripki.1 list them). */
enum {
	TCLI_EXIT_OK = 0,
	TCLI_EXIT_USAGE = 1,      /* bad flag or argument */
	TCLI_EXIT_FAIL = 2,       /* local failure: file, address, key... */
	TCLI_EXIT_EXPIRED = 3,    /* session expired and --no-renew */
	TCLI_EXIT_REFUSED = 4,    /* the peer refused (error frame, status) */
	TCLI_EXIT_UNREACHABLE = 5,/* no answer within --retry-for/--timeout */
	TCLI_EXIT_REJECTED = 6,   /* we refused the peer: certificate, clock */
};

enum { TCLI_ERROR, TCLI_WARN, TCLI_INFO, TCLI_DEBUG };

/* The seeds' values, kept as defaults. */
#define TCLI_DEFAULT_CA_ID "ID-CA"
#define TCLI_DEFAULT_SERVER_ID "ID-Server"
#define TCLI_DEFAULT_CLIENT_ID "ID-Client"
#define TCLI_DEFAULT_REQUEST "memo"
#define TCLI_DEFAULT_DATA "take cis3319 class this morning"
#define TCLI_DEFAULT_LIFETIME 60
#define TCLI_DEFAULT_CA_ADDR "127.0.0.1:7000"
#define TCLI_DEFAULT_SERVER_ADDR "127.0.0.1:7001"

/* ---- Log: one line per event on stderr, "tripki NAME: ..." ---- */

void tcli_log_init(const char *name);
int tcli_log_level(void);
void tcli_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define tcli_error(...) tcli_log(TCLI_ERROR, __VA_ARGS__)
#define tcli_warn(...) tcli_log(TCLI_WARN, __VA_ARGS__)
#define tcli_info(...) tcli_log(TCLI_INFO, __VA_ARGS__)
#define tcli_debug(...) tcli_log(TCLI_DEBUG, __VA_ARGS__)

/* ---- Flags every subcommand takes ---- */

typedef struct tcli_common {
	int trace;
	int trace_secrets;
	int64_t max_skew_ms;      /* 0: the core's default (60 s) */
} tcli_common;

/*
 * The long options every subcommand accepts; append to a subcommand's
 * table with TCLI_COMMON_OPTIONS.
 */
enum {
	TCLI_OPT_HELP = 'h',
	TCLI_OPT_VERSION = 0x100,
	TCLI_OPT_LOG_LEVEL,
	TCLI_OPT_TRACE,
	TCLI_OPT_TRACE_SECRETS,
	TCLI_OPT_MAX_SKEW,        /* the daemons' (TCLI_DAEMON_OPTIONS) */
	TCLI_OPT_TIMEOUT,
	TCLI_OPT_MAX_CONNS,
	TCLI_OPT_LIMIT,
	TCLI_OPT_LIMIT_LAST = TCLI_OPT_LIMIT + TNET_LIM_COUNT - 1,
	TCLI_OPT_FIRST_OWN,       /* subcommands number theirs from here */
};
#define TCLI_COMMON_OPTIONS \
	{ "help", no_argument, NULL, TCLI_OPT_HELP }, \
	{ "version", no_argument, NULL, TCLI_OPT_VERSION }, \
	{ "log-level", required_argument, NULL, TCLI_OPT_LOG_LEVEL }, \
	{ "trace", no_argument, NULL, TCLI_OPT_TRACE }, \
	{ "trace-secrets", no_argument, NULL, TCLI_OPT_TRACE_SECRETS }, \
	{ NULL, 0, NULL, 0 }

#define TCLI_COMMON_HELP \
	"  -h, --help           this help\n" \
	"      --version        print the version\n" \
	"      --log-level L    error, warn, info (default) or debug\n" \
	"      --trace          print each message's fields (secrets redacted)\n" \
	"      --trace-secrets  with --trace, print secrets too\n"

/*
 * Parses argv with getopt_long.  For each option of the subcommand's own
 * calls own(ctx, opt, optarg); handles the common ones.  Returns -1 when
 * all is parsed, or an exit status to leave with (--help, --version, a
 * bad flag: one line on stderr).
 */
typedef int (*tcli_opt_fn)(void *ctx, int opt, const char *arg);
int tcli_parse(int argc, char **argv, const struct option *opts,
    const char *usage, tcli_opt_fn own, void *ctx, tcli_common *cm);
/* "bad value for --flag: ..." and TCLI_EXIT_USAGE. */
int tcli_bad_value(const char *flag, const char *arg, const char *why);

/* "FLAG is required (see tripki COMMAND --help)" and TCLI_EXIT_USAGE. */
int tcli_required(const char *flag);

/*
 * A flag's value, checked and stored, for a subcommand's own(): each
 * returns -1 (go on), or says "bad value for FLAG: ..." and returns
 * TCLI_EXIT_USAGE.
 */
/* An integer in [min, max]; why names the range in the error line. */
int tcli_opt_uint(const char *flag, const char *arg, uint64_t min,
    uint64_t max, const char *why, uint64_t *dst);
/* Seconds, possibly fractional, in [min_ms, max_ms], stored in ms. */
int tcli_opt_seconds(const char *flag, const char *arg, uint64_t min_ms,
    uint64_t max_ms, const char *why, uint64_t *dst_ms);
/* A number of days from 1 to max. */
int tcli_opt_days(const char *flag, const char *arg, uint64_t max,
    uint64_t *dst);
/* An identity (tripki_id_valid) of at most max characters. */
int tcli_opt_id(const char *flag, const char *arg, size_t max,
    const char **dst);
/* A request or an answer: at most TRIPKI_DATA_MAX bytes. */
int tcli_opt_data(const char *flag, const char *arg, const char **dst);
/* --max-skew: seconds, more than 0, at most 86400. */
int tcli_opt_max_skew(const char *arg, uint64_t *dst_ms);
/* --timeout: seconds, from 0.1 to 3600. */
int tcli_opt_timeout(const char *arg, uint64_t *dst_ms);
/* HOST:PORT into host (at least 256 bytes) and port. */
int tcli_opt_hostport(const char *flag, const char *arg, char *host,
    size_t hostlen, uint16_t *port);
/* --retry-for: at most a year. */
#define TCLI_RETRY_FOR_MAX_MS (86400000ULL * 365)
/* --max-skew as the core applies it: 0 is its default, 60 s. */
int64_t tcli_max_skew_ms(const tcli_common *cm);

/* Integer in [min, max]; 0 on success. */
int tcli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Seconds, possibly fractional ("0.5"), in ms; 0 on success. */
int tcli_seconds(const char *s, uint64_t min_ms, uint64_t max_ms,
    uint64_t *out_ms);
/* HOST:PORT into host (at least 256 bytes) and port; 0 on success. */
int tcli_hostport(const char *s, char *host, size_t hostlen,
    uint16_t *port);

/* Fills a core tripki_common: trace goes to stderr through the log. */
void tcli_core_common(const tcli_common *cm, tripki_common *out);

/* ---- Flags the daemons share: ca serve and server ---- */

typedef struct tcli_daemon_flags {
	uint64_t skew_ms;          /* --max-skew; 0: the core's default */
	uint64_t timeout_ms;       /* --timeout; 0: the daemon's default */
	uint64_t max_conns;        /* --max-conns; 0: the daemon's default */
	tnet_limits lim;           /* the flood limits; zeros: the defaults */
} tcli_daemon_flags;

#define TCLI_DAEMON_OPTIONS \
	{ "max-skew", required_argument, NULL, TCLI_OPT_MAX_SKEW }, \
	{ "timeout", required_argument, NULL, TCLI_OPT_TIMEOUT }, \
	{ "max-conns", required_argument, NULL, TCLI_OPT_MAX_CONNS }, \
	TNET_LIMIT_OPTIONS(TCLI_OPT_LIMIT)

/* For a daemon's own(): the TCLI_DAEMON_OPTIONS; -1 for any other. */
int tcli_daemon_opt(tcli_daemon_flags *f, int opt, const char *arg);
/*
 * A daemon's configuration from its flags and address, logging its notes;
 * the caller adds the role, on_stopped and ctx.
 */
void tcli_daemon_config(const tcli_daemon_flags *f, const char *host,
    uint16_t port, tnet_daemon_config *dc);

/* ---- Event loop ---- */

/* Closes a handle unless it is closing already. */
void tcli_close(uv_handle_t *h);
/* Runs the loop until its handles have closed, then closes it. */
void tcli_loop_end(uv_loop_t *loop);
/*
 * Tells a client IP_C and PORT_C, this end of the connection, as M5
 * carries them; ip (preset, "?" say) and port are left as they are when
 * the socket does not say.
 */
void tcli_client_address(tripki_client *c, uv_tcp_t *tcp, char *ip,
    size_t iplen, uint16_t *port);

/* "2026-05-01 12:00:00 UTC" for a time in ms. */
void tcli_time_str(int64_t ms, char *dst, size_t n);

/* ---- Files ---- */

/* "DIR/NAME" into dst; 0 on success. */
int tcli_path(char *dst, size_t dstlen, const char *dir, const char *name);
/* Creates dir (0700) unless it exists; 0 or -1 with a logged line. */
int tcli_mkdir(const char *dir);
/*
 * Private key, PEM.  Loading refuses a file that group or others may
 * read, naming it and its mode.  Writing makes it 0600, atomically.
 * Each returns 0, or -1 after logging one line.
 */
int tcli_key_load(const char *path, EVP_PKEY **out);
int tcli_key_save(const char *path, EVP_PKEY *key);
int tcli_cert_load(const char *path, X509 **out);
int tcli_cert_save(const char *path, X509 *cert);

/*
 * A passphrase read from the first line of a file (--passphrase-file),
 * which must not be accessible by group or others.  Wipe it with
 * tcli_passphrase_wipe as soon as the key is loaded or written.
 */
typedef struct tcli_passphrase {
	char text[1026];
	size_t len;
	const char *path;
} tcli_passphrase;
int tcli_passphrase_load(const char *path, tcli_passphrase *pw);
/* A regular file opened unbuffered for reading, or NULL and one line said. */
struct stat;
FILE *tcli_open_read(const char *path, const char *what, struct stat *st);
/* 1 (and one line said) when group or others may access the file. */
int tcli_too_open(const char *path, const char *what, const struct stat *st);
void tcli_passphrase_wipe(tcli_passphrase *pw);
/* PBKDF2 iterations for an encrypted key (PBES2, AES-256-CBC). */
#define TCLI_PBKDF2_ITER 600000
/*
 * As tcli_key_load/tcli_key_save, with an optional passphrase (pw NULL:
 * none).  An encrypted key without a passphrase, or with a wrong one, is
 * one line naming the file.
 */
int tcli_key_load_pass(const char *path, const tcli_passphrase *pw,
    EVP_PKEY **out);
int tcli_key_save_pass(const char *path, EVP_PKEY *key,
    const tcli_passphrase *pw);
/*
 * A key (may be NULL: unchanged) and its certificate, each through a
 * synced temporary file, renamed key first.  tcli_pair_recover finishes
 * a pair save that a crash cut between the renames: when CERT.tmp matches
 * `key` it becomes CERT and is returned (1); else 0.
 */
int tcli_pair_save(const char *keypath, EVP_PKEY *key, const char *certpath,
    X509 *cert);
int tcli_pair_recover(const char *certpath, EVP_PKEY *key, X509 **cert);
/* Whether a path exists (any type). */
int tcli_exists(const char *path);
/* The subject CN of a certificate into cn (TRIPKI_ID_MAX + 1). */
int tcli_cert_cn(X509 *cert, char *cn, size_t cnlen);
/* Upper-case hex of a certificate's serial, as the CA's store keeps it. */
void tcli_cert_serial(X509 *cert, char *dst, size_t n);

/* ---- Signals: SIGTERM/SIGINT call stop once; a second exits at once ---- */

int tcli_signals_start(uv_loop_t *loop, void (*stop)(void *), void *ctx);
void tcli_signals_close(void);

/* Sets UV_THREADPOOL_SIZE to the number of CPUs unless it is set. */
void tcli_threadpool_init(void);

/* ---- Subcommands ---- */

int tcli_ca_main(int argc, char **argv);
int tcli_server_main(int argc, char **argv);
int tcli_client_main(int argc, char **argv);
int tcli_demo_main(int argc, char **argv);
int tcli_bench_main(int argc, char **argv);

#endif /* TRIPKI_CLI_H */
