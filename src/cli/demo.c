/*
 * tripki demo: the seeds' three programs, for real.  It runs this very
 * binary as `ca init`, `ca serve`, `server` and `client` child processes
 * on 127.0.0.1 with fresh temporary directories and the seeds' values,
 * reads their --trace lines and prints them as a step-by-step account of
 * the eight messages.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cli.h"
#include "net/net.h"

#define DEMO_USAGE \
	"usage: tripki demo [--lifetime SECONDS] [--csr] [--trace]\n" \
	"\n" \
	"Starts a CA, a server and a client on 127.0.0.1 (free ports, fresh\n" \
	"temporary directories, the seeds' identities, request and data),\n" \
	"runs the eight messages, prints a step-by-step account and exits 0.\n" \
	"As in the seeds, the CA makes the server's key pair and sends it in M2.\n" \
	"\n" \
	"      --lifetime S     session lifetime the server grants (default 60)\n" \
	"      --csr            the server makes its own key and sends a\n" \
	"                       certificate request in M1 instead\n" \
	"      --trace          also print the parties' own log lines\n"

#define DEMO_TIMEOUT_MS 60000

enum { O_LIFETIME = TCLI_OPT_FIRST_OWN, O_CSR };

enum { P_INIT, P_CA, P_SERVER, P_CLIENT, P_N };

struct party {
	const char *name;
	struct demo *demo;
	uv_process_t proc;
	uv_pipe_t err, out;
	int spawned, exited, pipes;
	int64_t status;
	int signal;
	char line[2048];
	size_t len;
	char oline[2048];
	size_t olen;
};

struct demo {
	uv_loop_t loop;
	uv_timer_t watchdog;
	tcli_common cm;
	uint64_t lifetime;
	int csr;
	char dir[4096];
	char ca_addr[32], srv_addr[32];
	struct party p[P_N];
	int step;                   /* last step whose header was printed */
	int data_lines;
	int failed;
};

static const struct {
	const char *who;
	const char *fields;
} steps[9] = {
	{ NULL, NULL },
	{ "server -> CA", "RSA-OAEP(PK_CA)[ K_tmp1 || ID_S || TS1 ]" },
	{ "CA -> server", "AEAD(K_tmp1)[ PK_S || SK_S || Cert_S || ID_S || TS2 ]"
	    "   (the CA made the key pair, as in the seeds)" },
	{ "client -> server", "ID_S || TS3" },
	{ "server -> client", "PK_S || Cert_S || TS4" },
	{ "client -> server",
	    "RSA-OAEP(PK_S)[ K_tmp2 || ID_C || IP_C || PORT_C || TS5 ]" },
	{ "server -> client",
	    "AEAD(K_tmp2)[ K_sess || Lifetime_sess || ID_C || TS6 ]" },
	{ "client -> server", "AEAD(K_sess)[ REQ || TS7 ]" },
	{ "server -> client", "AEAD(K_sess)[ DATA || TS8 ]" },
};

/* Step 2 when the server sent a certificate request in M1. */
#define M2_CSR "AEAD(K_tmp1)[ PK_S || Cert_S || ID_S || TS2 ]   " \
	"(SK_S stays with the server: M1 carried a CSR)"

static int
opt(void *ctx, int o, const char *arg)
{
	struct demo *d = ctx;

	if (o == O_LIFETIME)
		return tcli_opt_uint("--lifetime", arg, 1, 86400,
		    "whole seconds from 1 to 86400", &d->lifetime);
	if (o == O_CSR)
		d->csr = 1;
	return -1;
}

/* Two distinct free ports on 127.0.0.1, found by binding port 0. */
static int
free_ports(uint16_t *a, uint16_t *b)
{
	struct sockaddr_in sin;
	socklen_t sl;
	int fd[2] = { -1, -1 }, i, r = -1;
	uint16_t *out[2] = { a, b };

	for (i = 0; i < 2; i++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(sin);
		if ((fd[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(fd[i], (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(fd[i], (struct sockaddr *)&sin, &sl) < 0)
			goto out;
		*out[i] = ntohs(sin.sin_port);
	}
	r = 0;
out:
	for (i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return r;
}

/* "S -> M4" or "CA <- M1": the message number, or 0. */
static int
message_of(const char *t)
{
	const char *m = strstr(t, "> M");

	if (m == NULL)
		m = strstr(t, "- M");
	if (m == NULL || m - t > 4 || m[3] < '1' || m[3] > '8')
		return 0;
	return m[3] - '0';
}

static void
show(struct demo *d, struct party *p, const char *line)
{
	const char *t = strstr(line, ": trace: ");
	int n;

	if (t == NULL) {
		/* The parties' log: errors and warnings always. */
		if (d->cm.trace || strstr(line, ": error: ") != NULL ||
		    strstr(line, ": warning: ") != NULL)
			printf("    %-7s| %s\n", p->name, line);
		fflush(stdout);
		return;
	}
	t += 9;
	if ((n = message_of(t)) > d->step) {
		d->step = n;
		printf("\nStep %d of 8: M%d, %s\n  %s\n", n, n, steps[n].who,
		    n == 2 && d->csr ? M2_CSR : steps[n].fields);
	}
	printf("    %-7s| %s\n", p->name, t);
	fflush(stdout);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct party *p = h->data;
	int out = h == (uv_handle_t *)&p->out;
	char *line = out ? p->oline : p->line;
	size_t len = out ? p->olen : p->len;

	(void)hint;
	b->base = line + len;
	b->len = sizeof(p->line) - 1 - len;
}

static void
pipe_closed(uv_handle_t *h)
{
	(void)h;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct party *p = s->data;
	struct demo *d = p->demo;
	int out = s == (uv_stream_t *)&p->out;
	char *line = out ? p->oline : p->line;
	size_t *len = out ? &p->olen : &p->len;
	char *nl;

	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)s, pipe_closed);
		return;
	}
	*len += (size_t)n;
	line[*len] = '\0';
	/* A line longer than the buffer is shown in pieces. */
	while ((nl = strchr(line, '\n')) != NULL || *len == sizeof(p->line) - 1) {
		if (nl == NULL)
			nl = line + *len - 1;
		*nl = '\0';
		if (out) {
			printf("\n%s printed on stdout: %s\n", p->name, line);
			d->data_lines++;
		} else
			show(d, p, line);
		*len -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, *len + 1);
	}
}

static void stop_daemons(struct demo *d);

static void
on_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct party *p = proc->data;
	struct demo *d = p->demo;

	p->exited = 1;
	p->status = status;
	p->signal = sig;
	uv_close((uv_handle_t *)proc, NULL);
	if (p == &d->p[P_CLIENT])
		stop_daemons(d);
	else if (p != &d->p[P_INIT] && !d->p[P_CLIENT].exited) {
		/* A daemon died before the client was done: stop the rest. */
		d->failed = 1;
		stop_daemons(d);
	}
}

static int
spawn(struct demo *d, struct party *p, char **args)
{
	uv_process_options_t po;
	uv_stdio_container_t stdio[3];
	char exe[4096];
	size_t n = sizeof(exe);
	int r;

	p->demo = d;
	if (uv_exepath(exe, &n) != 0)
		snprintf(exe, sizeof(exe), "/proc/self/exe");
	args[0] = exe;
	(void)uv_pipe_init(&d->loop, &p->err, 0);
	(void)uv_pipe_init(&d->loop, &p->out, 0);
	p->err.data = p->out.data = p->proc.data = p;
	memset(&po, 0, sizeof(po));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&p->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&p->err;
	po.file = exe;
	po.args = args;
	po.exit_cb = on_exit_cb;
	po.stdio = stdio;
	po.stdio_count = 3;
	if ((r = uv_spawn(&d->loop, &p->proc, &po)) != 0) {
		tcli_error("cannot start %s: %s", p->name, uv_strerror(r));
		uv_close((uv_handle_t *)&p->err, NULL);
		uv_close((uv_handle_t *)&p->out, NULL);
		return -1;
	}
	p->spawned = 1;
	(void)uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
	(void)uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
	return 0;
}

static void
stop_daemons(struct demo *d)
{
	int i;

	for (i = P_CA; i <= P_SERVER; i++)
		if (d->p[i].spawned && !d->p[i].exited)
			(void)uv_process_kill(&d->p[i].proc, SIGTERM);
	uv_timer_stop(&d->watchdog);
}

static void
on_watchdog(uv_timer_t *t)
{
	struct demo *d = t->data;
	int i;

	tcli_error("the demo did not finish within %d s", DEMO_TIMEOUT_MS /
	    1000);
	d->failed = 1;
	for (i = 0; i < P_N; i++)
		if (d->p[i].spawned && !d->p[i].exited)
			(void)uv_process_kill(&d->p[i].proc, SIGKILL);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

static int
party_ok(const struct party *p)
{
	if (p->exited && p->status == 0 && p->signal == 0)
		return 1;
	if (!p->exited)
		tcli_error("%s did not exit", p->name);
	else if (p->signal != 0)
		tcli_error("%s was killed by signal %d", p->name, p->signal);
	else
		tcli_error("%s exited with status %lld (see tripki(1), EXIT "
		    "STATUS)", p->name, (long long)p->status);
	return 0;
}

static void
common_args(struct demo *d, char **a, int *n)
{
	a[(*n)++] = (char *)"--trace";
	if (d->cm.trace_secrets)
		a[(*n)++] = (char *)"--trace-secrets";
	a[(*n)++] = (char *)"--log-level";
	a[(*n)++] = (char *)(tcli_log_level() >= TCLI_DEBUG ? "debug" : "info");
	a[*n] = NULL;
}

int
tcli_demo_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lifetime", required_argument, NULL, O_LIFETIME },
		{ "csr", no_argument, NULL, O_CSR },
		TCLI_COMMON_OPTIONS
	};
	char cadir[4200], srvdir[4200], cacert[4300], life[24];
	char *a_init[8], *a_ca[16], *a_srv[24], *a_cl[24];
	const char *tmp = getenv("TMPDIR");
	uint16_t cport, sport;
	struct demo *d;
	int r, i, n, loop_ok = 0, made = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return TCLI_EXIT_FAIL;
	d->lifetime = TCLI_DEFAULT_LIFETIME;
	if ((r = tcli_parse(argc, argv, opts, DEMO_USAGE, opt, d,
	    &d->cm)) >= 0)
		goto out;
	r = TCLI_EXIT_FAIL;
	d->p[P_INIT].name = "ca";
	d->p[P_CA].name = "ca";
	d->p[P_SERVER].name = "server";
	d->p[P_CLIENT].name = "client";
	snprintf(d->dir, sizeof(d->dir), "%s/tripki-demo.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(d->dir) == NULL) {
		tcli_error("cannot make a temporary directory in %s: %s",
		    tmp != NULL ? tmp : "/tmp", strerror(errno));
		goto out;
	}
	made = 1;
	if (free_ports(&cport, &sport) != 0) {
		tcli_error("cannot find free ports on 127.0.0.1: %s",
		    strerror(errno));
		goto out;
	}
	snprintf(d->ca_addr, sizeof(d->ca_addr), "127.0.0.1:%u", cport);
	snprintf(d->srv_addr, sizeof(d->srv_addr), "127.0.0.1:%u", sport);
	snprintf(cadir, sizeof(cadir), "%s/ca", d->dir);
	snprintf(srvdir, sizeof(srvdir), "%s/server", d->dir);
	snprintf(cacert, sizeof(cacert), "%s/ca.crt", cadir);
	snprintf(life, sizeof(life), "%llu", (unsigned long long)d->lifetime);
	if (uv_loop_init(&d->loop) != 0)
		goto out;
	loop_ok = 1;
	(void)uv_timer_init(&d->loop, &d->watchdog);
	d->watchdog.data = d;

	printf("tripki demo: a CA, an application server and a client on "
	    "127.0.0.1,\neach a process of its own, in %s\n\n", d->dir);
	printf("  CA      %s  ID-CA      tripki ca serve --open\n", d->ca_addr);
	printf("  server  %s  ID-Server  data \"%s\", %s\n", d->srv_addr,
	    TCLI_DEFAULT_DATA, d->csr ? "own key (--csr)" :
	    "key made by the CA");
	printf("  client            ID-Client  request \"%s\", session "
	    "lifetime %s s\n", TCLI_DEFAULT_REQUEST, life);
	fflush(stdout);

	n = 1;
	a_init[n++] = (char *)"ca";
	a_init[n++] = (char *)"init";
	a_init[n++] = (char *)"--dir";
	a_init[n++] = cadir;
	a_init[n++] = (char *)"--log-level";
	a_init[n++] = (char *)"warn";
	a_init[n] = NULL;
	if (spawn(d, &d->p[P_INIT], a_init) != 0)
		goto out;
	(void)uv_run(&d->loop, UV_RUN_DEFAULT);
	if (!party_ok(&d->p[P_INIT]))
		goto out;
	printf("\nThe CA made its key and self-signed certificate (%s).\n"
	    "All three start now; the server and the client retry until\n"
	    "their peer answers.\n", cacert);
	fflush(stdout);

	n = 1;
	a_ca[n++] = (char *)"ca";
	a_ca[n++] = (char *)"serve";
	a_ca[n++] = (char *)"--dir";
	a_ca[n++] = cadir;
	a_ca[n++] = (char *)"--listen";
	a_ca[n++] = d->ca_addr;
	a_ca[n++] = (char *)"--open";
	common_args(d, a_ca, &n);
	n = 1;
	a_srv[n++] = (char *)"server";
	a_srv[n++] = (char *)"--dir";
	a_srv[n++] = srvdir;
	a_srv[n++] = (char *)"--ca";
	a_srv[n++] = d->ca_addr;
	a_srv[n++] = (char *)"--ca-cert";
	a_srv[n++] = cacert;
	a_srv[n++] = (char *)"--listen";
	a_srv[n++] = d->srv_addr;
	a_srv[n++] = (char *)"--lifetime";
	a_srv[n++] = life;
	if (d->csr)
		a_srv[n++] = (char *)"--csr";
	common_args(d, a_srv, &n);
	n = 1;
	a_cl[n++] = (char *)"client";
	a_cl[n++] = (char *)"--server";
	a_cl[n++] = d->srv_addr;
	a_cl[n++] = (char *)"--ca-cert";
	a_cl[n++] = cacert;
	common_args(d, a_cl, &n);
	uv_timer_start(&d->watchdog, on_watchdog, DEMO_TIMEOUT_MS, 0);
	if (spawn(d, &d->p[P_CA], a_ca) != 0 ||
	    spawn(d, &d->p[P_SERVER], a_srv) != 0 ||
	    spawn(d, &d->p[P_CLIENT], a_cl) != 0) {
		d->failed = 1;
		stop_daemons(d);
	}
	(void)uv_run(&d->loop, UV_RUN_DEFAULT);
	for (i = P_CA; i < P_N; i++)
		if (d->p[i].spawned && !party_ok(&d->p[i]))
			d->failed = 1;
	if (d->failed || d->step < 8 || d->data_lines != 1) {
		if (!d->failed)
			tcli_error("the exchange stopped at step %d of 8",
			    d->step);
		goto out;
	}
	printf("\nAll eight steps done: the client verified the server's "
	    "certificate with the\nCA certificate, got a session key, and "
	    "received the data.  The CA and the\nserver stopped cleanly on "
	    "SIGTERM.\n");
	r = TCLI_EXIT_OK;
out:
	if (loop_ok) {
		tcli_close((uv_handle_t *)&d->watchdog);
		tcli_loop_end(&d->loop);
	}
	if (made && nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		tcli_warn("could not remove %s", d->dir);
	free(d);
	return r;
}
