/* Log, flags, files and signals shared by the subcommands. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "cli.h"
#include "net/net.h"

static const char *log_name = "tripki";
static int log_level = TCLI_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
tcli_log_init(const char *name)
{
	log_name = name;
}

int
tcli_log_level(void)
{
	return log_level;
}

/* One write per line, so parties sharing a terminal never mix lines. */
static void
emit(const char *tag, const char *fmt, va_list ap)
{
	char line[1200];
	int n;
	ssize_t w;

	n = snprintf(line, sizeof(line), "%s: %s", log_name, tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void
tcli_log(int level, const char *fmt, ...)
{
	static const char *const tags[] = { "error: ", "warning: ", "",
	    "debug: " };
	va_list ap;

	if (level < TCLI_ERROR || level > log_level)
		return;
	va_start(ap, fmt);
	emit(tags[level], fmt, ap);
	va_end(ap);
}

static void
tagged(const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(tag, fmt, ap);
	va_end(ap);
}

/* The core's step-by-step account: shown with --trace at any level. */
static void
trace_line(void *ctx, const char *line)
{
	(void)ctx;
	tagged("trace: ", "%s", line);
}

void
tcli_core_common(const tcli_common *cm, tripki_common *out)
{
	memset(out, 0, sizeof(*out));
	out->max_skew_ms = cm->max_skew_ms;
	if (cm->trace) {
		out->trace = trace_line;
		out->trace_secrets = cm->trace_secrets;
	}
}

int
tcli_bad_value(const char *flag, const char *arg, const char *why)
{
	tcli_error("bad value for %s: \"%s\": %s", flag, arg, why);
	return TCLI_EXIT_USAGE;
}

int
tcli_parse(int argc, char **argv, const struct option *opts,
    const char *usage, tcli_opt_fn own, void *ctx, tcli_common *cm)
{
	int c, i, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case TCLI_OPT_HELP:
			fputs(usage, stdout);
			fputs(TCLI_COMMON_HELP, stdout);
			return TCLI_EXIT_OK;
		case TCLI_OPT_VERSION:
			printf("tripki %s\n", TRIPKI_VERSION);
			return TCLI_EXIT_OK;
		case TCLI_OPT_LOG_LEVEL:
			for (i = 0; i < 4; i++)
				if (strcmp(optarg, level_names[i]) == 0)
					break;
			if (i == 4)
				return tcli_bad_value("--log-level", optarg,
				    "use error, warn, info or debug");
			log_level = i;
			break;
		case TCLI_OPT_TRACE:
			cm->trace = 1;
			break;
		case TCLI_OPT_TRACE_SECRETS:
			cm->trace = 1;
			cm->trace_secrets = 1;
			break;
		case ':':
			tcli_error("%s needs a value (see %s --help)",
			    argv[optind - 1], log_name);
			return TCLI_EXIT_USAGE;
		case '?':
			if (optopt != 0)
				tcli_error("unknown flag -%c (see %s --help)",
				    optopt, log_name);
			else
				tcli_error("unknown flag %s (see %s --help)",
				    argv[optind - 1], log_name);
			return TCLI_EXIT_USAGE;
		default:
			if ((r = own(ctx, c, optarg)) >= 0)
				return r;
		}
	}
	if (optind < argc) {
		tcli_error("unexpected argument \"%s\" (see %s --help)",
		    argv[optind], log_name);
		return TCLI_EXIT_USAGE;
	}
	return -1;
}

int
tcli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
tcli_seconds(const char *s, uint64_t min_ms, uint64_t max_ms,
    uint64_t *out_ms)
{
	double v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || v * 1000 < (double)min_ms ||
	    v * 1000 > (double)max_ms)
		return -1;
	*out_ms = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

int
tcli_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	return tnet_split_hostport(s, host, hostlen, port);
}

int
tcli_required(const char *flag)
{
	tcli_error("%s is required (see %s --help)", flag, log_name);
	return TCLI_EXIT_USAGE;
}

/* ---- Flag values ---- */

int
tcli_opt_uint(const char *flag, const char *arg, uint64_t min, uint64_t max,
    const char *why, uint64_t *dst)
{
	if (tcli_uint(arg, min, max, dst) != 0)
		return tcli_bad_value(flag, arg, why);
	return -1;
}

int
tcli_opt_seconds(const char *flag, const char *arg, uint64_t min_ms,
    uint64_t max_ms, const char *why, uint64_t *dst_ms)
{
	if (tcli_seconds(arg, min_ms, max_ms, dst_ms) != 0)
		return tcli_bad_value(flag, arg, why);
	return -1;
}

int
tcli_opt_days(const char *flag, const char *arg, uint64_t max, uint64_t *dst)
{
	char why[64];

	snprintf(why, sizeof(why), "a number of days from 1 to %llu",
	    (unsigned long long)max);
	return tcli_opt_uint(flag, arg, 1, max, why, dst);
}

int
tcli_opt_id(const char *flag, const char *arg, size_t max, const char **dst)
{
	char why[64];
	size_t n = strlen(arg);

	if (!tripki_id_valid(arg, n) || n > max) {
		snprintf(why, sizeof(why), "1 to %zu printable ASCII characters",
		    max);
		return tcli_bad_value(flag, arg, why);
	}
	*dst = arg;
	return -1;
}

int
tcli_opt_data(const char *flag, const char *arg, const char **dst)
{
	/* Too long to repeat in the error line. */
	if (strlen(arg) > TRIPKI_DATA_MAX)
		return tcli_bad_value(flag, "...", "over 60000 bytes");
	*dst = arg;
	return -1;
}

int
tcli_opt_max_skew(const char *arg, uint64_t *dst_ms)
{
	return tcli_opt_seconds("--max-skew", arg, 1, 86400000, "seconds, "
	    "more than 0, at most 86400", dst_ms);
}

int
tcli_opt_timeout(const char *arg, uint64_t *dst_ms)
{
	return tcli_opt_seconds("--timeout", arg, 100, 3600000, "seconds, "
	    "from 0.1 to 3600", dst_ms);
}

int
tcli_opt_hostport(const char *flag, const char *arg, char *host,
    size_t hostlen, uint16_t *port)
{
	if (tcli_hostport(arg, host, hostlen, port) != 0)
		return tcli_bad_value(flag, arg, "expected HOST:PORT");
	return -1;
}

int64_t
tcli_max_skew_ms(const tcli_common *cm)
{
	return cm->max_skew_ms != 0 ? cm->max_skew_ms : 60000;
}

/* ---- Daemons ---- */

int
tcli_daemon_opt(tcli_daemon_flags *f, int opt, const char *arg)
{
	const char *why;
	int which = opt - TCLI_OPT_LIMIT;

	if (opt >= TCLI_OPT_LIMIT && opt <= TCLI_OPT_LIMIT_LAST) {
		if ((why = tnet_limits_set(&f->lim, which, arg)) != NULL)
			return tcli_bad_value(tnet_limits_flag(which), arg, why);
		return -1;
	}
	switch (opt) {
	case TCLI_OPT_MAX_SKEW:
		return tcli_opt_max_skew(arg, &f->skew_ms);
	case TCLI_OPT_TIMEOUT:
		return tcli_opt_timeout(arg, &f->timeout_ms);
	case TCLI_OPT_MAX_CONNS:
		return tcli_opt_uint("--max-conns", arg, 1, 1000000,
		    "a number from 1 to 1000000", &f->max_conns);
	}
	return -1;
}

static void
daemon_note(void *ctx, int level, const char *line)
{
	(void)ctx;
	tcli_log(level == TNET_WARN ? TCLI_WARN : level == TNET_INFO ?
	    TCLI_INFO : TCLI_DEBUG, "%s", line);
}

void
tcli_daemon_config(const tcli_daemon_flags *f, const char *host,
    uint16_t port, tnet_daemon_config *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->host = host;
	dc->port = port;
	dc->max_conns = (size_t)f->max_conns;
	dc->timeout_ms = f->timeout_ms;
	dc->limits = f->lim;
	dc->note = daemon_note;
}

/* ---- Event loop ---- */

void
tcli_close(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void
tcli_loop_end(uv_loop_t *loop)
{
	(void)uv_run(loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(loop);
}

void
tcli_client_address(tripki_client *c, uv_tcp_t *tcp, char *ip, size_t iplen,
    uint16_t *port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char *colon;

	if (uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	tnet_addr_str((struct sockaddr *)&ss, ip, iplen);
	if ((colon = strrchr(ip, ':')) != NULL) {
		*port = (uint16_t)atoi(colon + 1);
		*colon = '\0';
	}
	(void)tripki_client_set_address(c, ip, *port);
}

void
tcli_time_str(int64_t ms, char *dst, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(dst, n, "?");
}

/* ---- Files ---- */

int
tcli_path(char *dst, size_t dstlen, const char *dir, const char *name)
{
	int n = snprintf(dst, dstlen, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= dstlen) {
		tcli_error("path too long: %s/%s", dir, name);
		return -1;
	}
	return 0;
}

int
tcli_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int
tcli_mkdir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0 || (errno == EEXIST && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode)))
		return 0;
	tcli_error("cannot create directory %s: %s", dir,
	    errno == EEXIST ? "a file of that name exists" : strerror(errno));
	return -1;
}

/*
 * Opens a file to read, refusing anything but a regular file (a FIFO would
 * block: hence O_NONBLOCK on the open).  Unbuffered, so that no stdio
 * buffer keeps a copy of a secret after the read.
 */
FILE *
tcli_open_read(const char *path, const char *what, struct stat *st)
{
	FILE *f;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		tcli_error("cannot read %s %s: %s", what, path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		tcli_error("cannot read %s %s: not a regular file", what, path);
		close(fd);
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		tcli_error("cannot read %s %s: %s", what, path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IONBF, 0);
	return f;
}

/* As OpenSSH does: a secret others may read is a secret to replace. */
int
tcli_too_open(const char *path, const char *what, const struct stat *st)
{
	if ((st->st_mode & 077) == 0)
		return 0;
	tcli_error("permissions %04o for %s %s are too open: it must not be "
	    "accessible by group or others (chmod 600 %s)",
	    (unsigned)(st->st_mode & 07777), what, path, path);
	return 1;
}

int
tcli_passphrase_load(const char *path, tcli_passphrase *pw)
{
	struct stat st;
	FILE *f;
	size_t n;
	int r = -1;

	memset(pw, 0, sizeof(*pw));
	if ((f = tcli_open_read(path, "passphrase file", &st)) == NULL)
		return -1;
	if (tcli_too_open(path, "passphrase file", &st))
		goto out;
	/* The first line is the passphrase; its line end is not. */
	n = fread(pw->text, 1, sizeof(pw->text) - 1, f);
	if (ferror(f)) {
		tcli_error("cannot read passphrase file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	pw->text[n] = '\0';
	pw->len = strcspn(pw->text, "\r\n");
	if (pw->len == n && n == sizeof(pw->text) - 1) {
		tcli_error("passphrase file %s: the passphrase is longer than "
		    "%zu bytes", path, sizeof(pw->text) - 2);
		goto out;
	}
	if (pw->len == 0) {
		tcli_error("passphrase file %s: the first line is empty", path);
		goto out;
	}
	pw->text[pw->len] = '\0';
	pw->path = path;
	r = 0;
out:
	fclose(f);
	if (r != 0)
		tcli_passphrase_wipe(pw);
	return r;
}

void
tcli_passphrase_wipe(tcli_passphrase *pw)
{
	OPENSSL_cleanse(pw->text, sizeof(pw->text));
	pw->len = 0;
}

/* Hands OpenSSL the passphrase we hold; never a terminal prompt. */
struct pw_ask {
	const tcli_passphrase *pw;
	int asked;
};

static int
pw_cb(char *buf, int size, int rwflag, void *u)
{
	struct pw_ask *a = u;

	(void)rwflag;
	a->asked = 1;
	if (a->pw == NULL || a->pw->len == 0 || a->pw->len > (size_t)size)
		return -1;
	memcpy(buf, a->pw->text, a->pw->len);
	return (int)a->pw->len;
}

int
tcli_key_load_pass(const char *path, const tcli_passphrase *pw,
    EVP_PKEY **out)
{
	struct pw_ask ask = { pw, 0 };
	struct stat st;
	FILE *f;
	int r = -1;

	*out = NULL;
	if ((f = tcli_open_read(path, "private key", &st)) == NULL)
		return -1;
	if (tcli_too_open(path, "private key", &st))
		goto out;
	if ((*out = PEM_read_PrivateKey(f, NULL, pw_cb, &ask)) != NULL) {
		r = 0;
		goto out;
	}
	if (!ask.asked)
		tcli_error("cannot read private key %s: not a PEM private key",
		    path);
	else if (pw == NULL)
		tcli_error("private key %s is encrypted: give its passphrase "
		    "with --passphrase-file", path);
	else
		tcli_error("cannot decrypt private key %s: wrong passphrase in "
		    "%s", path, pw->path != NULL ? pw->path : "?");
out:
	ERR_clear_error();
	fclose(f);
	return r;
}

int
tcli_key_load(const char *path, EVP_PKEY **out)
{
	return tcli_key_load_pass(path, NULL, out);
}

int
tcli_cert_load(const char *path, X509 **out)
{
	struct stat st;
	FILE *f;

	if ((f = tcli_open_read(path, "certificate", &st)) == NULL)
		return -1;
	*out = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*out == NULL) {
		tcli_error("cannot read certificate %s: not a PEM certificate",
		    path);
		return -1;
	}
	return 0;
}

/*
 * PKCS#8 PEM.  With a passphrase: EncryptedPrivateKeyInfo, PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC, as `openssl pkcs8 -topk8 -v2
 * aes-256-cbc` writes it, with more iterations.
 */
static int
write_key(FILE *f, EVP_PKEY *key, const tcli_passphrase *pw)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *sig = NULL;
	int ok = 0;

	if (pw == NULL)
		return PEM_write_PKCS8PrivateKey(f, key, NULL, NULL, 0, NULL,
		    NULL);
	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (pbe = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), TCLI_PBKDF2_ITER, NULL,
	    0, NULL, NID_hmacWithSHA256)) == NULL)
		goto out;
	if ((sig = PKCS8_set0_pbe(pw->text, (int)pw->len, p8, pbe)) == NULL)
		goto out;
	pbe = NULL; /* now sig's */
	ok = PEM_write_PKCS8(f, sig);
out:
	X509_ALGOR_free(pbe);
	X509_SIG_free(sig);
	PKCS8_PRIV_KEY_INFO_free(p8);
	ERR_clear_error();
	return ok;
}

/* PATH.tmp, written and synced; the caller renames it into place. */
static int
write_tmp(const char *path, char *tmp, size_t tmplen, mode_t mode,
    EVP_PKEY *key, const tcli_passphrase *pw, X509 *cert)
{
	FILE *f = NULL;
	int fd, ok, r = -1;

	if (snprintf(tmp, tmplen, "%s.tmp", path) >= (int)tmplen) {
		tcli_error("path too long: %s.tmp", path);
		return -1;
	}
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) < 0 || fchmod(fd, mode) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		tcli_error("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* No stdio buffer is left holding the key. */
	setvbuf(f, NULL, _IONBF, 0);
	ok = key != NULL ? write_key(f, key, pw) : PEM_write_X509(f, cert);
	if (ok != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		tcli_error("cannot write %s: %s", tmp, ok != 1 ?
		    "encoding failed" : strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	if (r != 0)
		(void)unlink(tmp);
	return r;
}

/* The rename itself must reach the disk too: sync the directory. */
static void
sync_dir_of(const char *path)
{
	char dir[4200];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int
commit(const char *tmp, const char *path)
{
	if (rename(tmp, path) != 0) {
		tcli_error("cannot rename %s to %s: %s", tmp, path,
		    strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* Writes through a temporary file and rename(2): never half a file. */
static int
save(const char *path, mode_t mode, EVP_PKEY *key, const tcli_passphrase *pw,
    X509 *cert)
{
	char tmp[4200];

	if (write_tmp(path, tmp, sizeof(tmp), mode, key, pw, cert) != 0 ||
	    commit(tmp, path) != 0)
		return -1;
	sync_dir_of(path);
	return 0;
}

int
tcli_key_save(const char *path, EVP_PKEY *key)
{
	return save(path, 0600, key, NULL, NULL);
}

int
tcli_key_save_pass(const char *path, EVP_PKEY *key,
    const tcli_passphrase *pw)
{
	return save(path, 0600, key, pw, NULL);
}

int
tcli_cert_save(const char *path, X509 *cert)
{
	return save(path, 0644, NULL, NULL, cert);
}

int
tcli_pair_save(const char *keypath, EVP_PKEY *key, const char *certpath,
    X509 *cert)
{
	char ktmp[4200], ctmp[4200];

	/*
	 * Both written and synced before either is renamed, the key first:
	 * after a crash between the renames, CERT.tmp is whole and matches
	 * the key in place, and tcli_pair_recover finishes the job.
	 */
	if (key != NULL && write_tmp(keypath, ktmp, sizeof(ktmp), 0600, key,
	    NULL, NULL) != 0)
		return -1;
	if (write_tmp(certpath, ctmp, sizeof(ctmp), 0644, NULL, NULL,
	    cert) != 0) {
		if (key != NULL)
			(void)unlink(ktmp);
		return -1;
	}
	if (key != NULL && commit(ktmp, keypath) != 0) {
		(void)unlink(ctmp);
		return -1;
	}
	if (commit(ctmp, certpath) != 0)
		return -1;
	sync_dir_of(certpath);
	return 0;
}

int
tcli_pair_recover(const char *certpath, EVP_PKEY *key, X509 **cert)
{
	char tmp[4200];
	X509 *x = NULL;
	FILE *f;

	*cert = NULL;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", certpath) >= (int)sizeof(tmp)
	    || (f = fopen(tmp, "r")) == NULL)
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (x == NULL || X509_check_private_key(x, key) != 1 ||
	    rename(tmp, certpath) != 0) {
		ERR_clear_error();
		X509_free(x);
		return 0;
	}
	sync_dir_of(certpath);
	*cert = x;
	return 1;
}

int
tcli_cert_cn(X509 *cert, char *cn, size_t cnlen)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, (int)cnlen);

	return n > 0 && (size_t)n < cnlen ? 0 : -1;
}

void
tcli_cert_serial(X509 *cert, char *dst, size_t n)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	snprintf(dst, n, "%s", hex != NULL ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* ---- Signals ---- */

static uv_signal_t sig_term, sig_int;
static void (*sig_stop)(void *);
static void *sig_ctx;
static int sig_started;

static void
on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	tcli_info("%s: finishing exchanges in flight, then exiting (send it "
	    "again to exit at once)", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Closing the handles restores the default: a second signal kills. */
	tcli_signals_close();
	sig_stop(sig_ctx);
}

int
tcli_signals_start(uv_loop_t *loop, void (*stop)(void *), void *ctx)
{
	sig_stop = stop;
	sig_ctx = ctx;
	(void)uv_signal_init(loop, &sig_term);
	(void)uv_signal_init(loop, &sig_int);
	if (uv_signal_start(&sig_term, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&sig_int, on_signal, SIGINT) != 0)
		return -1;
	sig_started = 1;
	return 0;
}

void
tcli_signals_close(void)
{
	if (!sig_started)
		return;
	sig_started = 0;
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

void
tcli_threadpool_init(void)
{
	char n[16];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (getenv("UV_THREADPOOL_SIZE") != NULL)
		return;
	snprintf(n, sizeof(n), "%ld", cpus < 4 ? 4 : cpus > 64 ? 64 : cpus);
	(void)setenv("UV_THREADPOOL_SIZE", n, 0);
}
