/* tripki: the command.  Each subcommand lives in its own file. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net/net.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "ca", tcli_ca_main, "certificate authority: ca init, ca serve" },
	{ "server", tcli_server_main, "application server daemon" },
	{ "client", tcli_client_main, "client: register and send requests" },
	{ "demo", tcli_demo_main, "run CA, server and client on loopback" },
	{ "bench", tcli_bench_main, "load generator: register, request, issue" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: tripki COMMAND [FLAGS]   (tripki COMMAND --help)\n"
	    "\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nman tripki (docs/tripki.1) describes flags, files and "
	    "exit statuses.\n");
}

int
main(int argc, char **argv)
{
	static char name[64];
	char err[160];
	size_t i;

	(void)signal(SIGPIPE, SIG_IGN);
	tcli_log_init("tripki");
	if (argc < 2) {
		usage(stderr);
		return TCLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return TCLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("tripki %s\n", TRIPKI_VERSION);
		return TCLI_EXIT_OK;
	}
	if (tnet_clock_init(err, sizeof(err)) != 0) {
		tcli_error("%s", err);
		return TCLI_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		snprintf(name, sizeof(name), "tripki %s", commands[i].name);
		tcli_log_init(name);
		return commands[i].run(argc - 1, argv + 1);
	}
	tcli_error("unknown command \"%s\" (see tripki --help)", argv[1]);
	return TCLI_EXIT_USAGE;
}
