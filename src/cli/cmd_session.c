/*
 * isol8 session ls|rm: the persistent sessions on this Docker engine, or
 * with --host URL --key KEY (ISOL8_HOST, ISOL8_API_KEY, the configuration's
 * remote.host and remote.key: config_client) the key's sessions on that
 * `isol8 serve` (the library's remote engine: the same calls).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "../api/api.h"
#include "../util/util.h"

/* --host and --key (anywhere after the subcommand), then resolved. */
struct session_remote {
	const char *host;
	const char *key;
};

/*
 * Take --host URL, --key KEY out of argv (*argc shrinks); -1 with a
 * message for a flag without its value.
 */
static int
session_flags(int *argc, char **argv, struct session_remote *r)
{
	int i, n = 0;

	r->host = r->key = NULL;
	for (i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--host") != 0 &&
		    strcmp(argv[i], "--key") != 0) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			cli_error("%s wants a value", argv[i]);
			return -1;
		}
		*(argv[i][2] == 'h' ? &r->host : &r->key) = argv[i + 1];
		i++;
	}
	*argc = n;
	return 0;
}

/* The exit status for an error, said: the server's, or Docker's. */
static int
session_exit_for(const struct session_remote *r, const struct isol8_error *e)
{
	if (r->host == NULL)
		return cli_exit_for(e);
	cli_error("%s", e->message);
	return cli_exit_code(e);
}

/* The engine, local or on the server config_client says (into r). */
static struct isol8_engine *
session_engine(struct cli_config *cfg, struct session_remote *r, int *rc)
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
	if (config_client(cfg, &r->host, &r->key, &cerr) == -1) {
		*rc = cli_fail(&cerr, EXIT_USAGE);
		config_free(cfg);
		return NULL;
	}
	config_engine_opts(cfg, &eo);
	eo.remote_url = r->host;
	eo.remote_key = r->key;
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		*rc = session_exit_for(r, &err);
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
	for (i = 0; i < n; i++)
		api_session_write(g, &s[i], s[i].name);
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
session_ls(int json, struct session_remote *r)
{
	struct isol8_session_info *s = NULL;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	size_t n = 0;
	int rc = 0;

	if ((e = session_engine(&cfg, r, &rc)) == NULL)
		return rc;
	if (isol8_session_list(e, &s, &n, &err) == -1)
		rc = session_exit_for(r, &err);
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
session_rm(int argc, char **argv, struct session_remote *r)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	int i, rc = 0;

	if (argc < 1) {
		cli_error("session rm wants a session NAME");
		return EXIT_USAGE;
	}
	if ((e = session_engine(&cfg, r, &rc)) == NULL)
		return rc;
	for (i = 0; i < argc; i++)
		if (isol8_session_remove(e, argv[i], &err) == -1) {
			cli_error("%s", err.message);
			rc = err.code == ISOL8_ENOTFOUND ||
			        err.code == ISOL8_EINVAL
			    ? 1
			    : r->host != NULL ? cli_exit_code(&err)
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
	struct session_remote r;

	if (session_flags(&argc, argv, &r) == -1)
		return EXIT_USAGE;
	/* list and stop: the original isol8's names (docs/compat.md). */
	if (argc >= 2 &&
	    (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0))
		return session_ls(
		    argc >= 3 && strcmp(argv[2], "--json") == 0, &r);
	if (argc >= 2 &&
	    (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "stop") == 0))
		return session_rm(argc - 2, argv + 2, &r);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf(
		    "Usage: isol8 session ls [--json] [--host URL --key KEY]\n"
		    "       isol8 session rm NAME... [--host URL --key KEY]\n"
		    "       (list and stop are the same as ls and rm)\n\n"
		    "List or remove persistent sessions (`isol8 run --persistent`, `--session NAME`); with --host (or ISOL8_HOST)\n"
		    "the key's sessions on that isol8 serve.\n");
		return 0;
	}
	cli_error("usage: isol8 session ls [--json] | isol8 session rm NAME");
	return EXIT_USAGE;
}

const struct cli_cmd cmd_session_entry = { "session",
	"list or remove persistent sessions", cmd_session };
