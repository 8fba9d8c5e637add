/*
 * isol8 session ls|rm: the persistent sessions on this Docker engine.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "../util/util.h"

static struct isol8_engine *
session_engine(struct cli_config *cfg, int *rc)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;
	struct isol8_engine *e;
	struct err *cerr = NULL;

	if (config_load(cfg, NULL, &cerr) == -1) {
		cli_error("%s", cerr->msg);
		err_free(&cerr);
		*rc = EXIT_USAGE;
		return NULL;
	}
	config_engine_opts(cfg, &eo);
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL)
		*rc = cli_exit_for(&err);
	return e;
}

static int
session_ls(int json)
{
	struct isol8_session_info *s = NULL;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	struct buf o = { 0 };
	char when[32];
	size_t n = 0, i;
	int rc = 0;

	if ((e = session_engine(&cfg, &rc)) == NULL)
		return rc;
	if (isol8_session_list(e, &s, &n, &err) == -1)
		rc = cli_exit_for(&err);
	else if (json) {
		buf_addstr(&o, "[");
		for (i = 0; i < n; i++) {
			buf_printf(&o, "%s{\"name\":\"", i ? "," : "");
			json_escape(&o, s[i].name, strlen(s[i].name));
			buf_addstr(&o, "\",\"image\":\"");
			json_escape(&o, s[i].image, strlen(s[i].image));
			buf_printf(&o,
			    "\",\"status\":\"%s\",\"created\":%lld,"
			    "\"memory\":%llu}",
			    s[i].status, (long long)s[i].created,
			    (unsigned long long)s[i].memory);
		}
		buf_addstr(&o, "]\n");
		fputs(o.data, stdout);
		buf_free(&o);
	} else {
		printf("%-24s %-22s %-9s %-20s %s\n", "NAME", "IMAGE", "STATUS",
		    "CREATED", "MEMORY");
		for (i = 0; i < n; i++) {
			time_t t = (time_t)s[i].created;

			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
			    localtime(&t));
			printf("%-24s %-22s %-9s %-20s %llu MiB\n", s[i].name,
			    s[i].image, s[i].status, when,
			    (unsigned long long)(s[i].memory >> 20));
		}
	}
	free(s);
	isol8_engine_free(e);
	config_free(&cfg);
	return rc;
}

static int
session_rm(int argc, char **argv)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	int i, rc = 0;

	if (argc < 1) {
		cli_error("session rm wants a session NAME");
		return EXIT_USAGE;
	}
	if ((e = session_engine(&cfg, &rc)) == NULL)
		return rc;
	for (i = 0; i < argc; i++)
		if (isol8_session_remove(e, argv[i], &err) == -1) {
			cli_error("%s", err.message);
			rc = err.code == ISOL8_ENOTFOUND ||
			        err.code == ISOL8_EINVAL
			    ? 1
			    : cli_exit_for(&err);
		} else
			printf("removed session %s\n", argv[i]);
	isol8_engine_free(e);
	config_free(&cfg);
	return rc;
}

static int
cmd_session(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ls") == 0)
		return session_ls(argc >= 3 && strcmp(argv[2], "--json") == 0);
	if (argc >= 2 && strcmp(argv[1], "rm") == 0)
		return session_rm(argc - 2, argv + 2);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: isol8 session ls [--json]\n"
		       "       isol8 session rm NAME...\n\n"
		       "List or remove persistent sessions (`isol8 run "
		       "--persistent`, `--session NAME`).\n");
		return 0;
	}
	cli_error("usage: isol8 session ls [--json] | isol8 session rm NAME");
	return EXIT_USAGE;
}

const struct cli_cmd cmd_session_entry = { "session",
	"list or remove persistent sessions", cmd_session };
