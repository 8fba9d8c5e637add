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
		*rc = cli_fail(&cerr, EXIT_USAGE);
		return NULL;
	}
	config_start(cfg, "session", 0);
	config_engine_opts(cfg, &eo);
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		*rc = cli_exit_for(&err);
		config_free(cfg);
	}
	return e;
}

/* `session ls --json`: an array of objects, one per session. */
static void
session_ls_json(const struct isol8_session_info *s, size_t n)
{
	struct buf o = { 0 };
	yajl_gen g = json_gen_new();
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_kstr(g, "name", s[i].name);
		json_kstr(g, "image", s[i].image);
		json_kstr(g, "status", s[i].status);
		json_kint(g, "created", s[i].created);
		json_kuint(g, "memory", s[i].memory);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_gen_take(g, &o);
	printf("%.*s\n", (int)o.len, o.data);
	buf_free(&o);
}

static void
session_ls_table(const struct isol8_session_info *s, size_t n)
{
	char when[32];
	size_t i;

	printf("%-24s %-22s %-9s %-20s %s\n", "NAME", "IMAGE", "STATUS",
	    "CREATED", "MEMORY");
	for (i = 0; i < n; i++) {
		time_t t = (time_t)s[i].created;

		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("%-24s %-22s %-9s %-20s %llu MiB\n", s[i].name,
		    s[i].image, s[i].status, when,
		    (unsigned long long)(s[i].memory >> 20));
	}
}

static int
session_ls(int json)
{
	struct isol8_session_info *s = NULL;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	size_t n = 0;
	int rc = 0;

	if ((e = session_engine(&cfg, &rc)) == NULL)
		return rc;
	if (isol8_session_list(e, &s, &n, &err) == -1)
		rc = cli_exit_for(&err);
	else if (json)
		session_ls_json(s, n);
	else
		session_ls_table(s, n);
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
		printf("Usage: isol8 session ls [--json]\n"
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
