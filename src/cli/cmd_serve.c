/*
 * isol8 serve: the HTTP API (docs/api.md) on one event_base with one
 * engine, so every request shares the engine's warm pool. The flags and
 * the configuration's "server" section into server options, the engine in
 * library mode (its warm containers attached to this process: no claim
 * round trip), the signals: TERM/INT stop accepting and let runs in
 * flight finish for --grace ms (a second one cuts the grace short), HUP
 * re-reads --keys. At the end the engine removes the containers it made;
 * images stay. The process ignores SIGPIPE (evhttp writes with writev).
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli.h"
#include "../server/server.h"

struct serve {
	struct event_base *base;
	struct isol8_engine *e;
	struct server *srv;
	uint64_t grace_ms;
	int stopping;
	int stopped;
	struct event *sig[4];
};

static void
serve_usage(FILE *f)
{
	fprintf(f,
	    "usage: isol8 serve [options]\n\n"
	    "Serve the HTTP API (docs/api.md): POST /execute, /execute/stream (SSE),\n"
	    "/batch, sessions and their files, GET /metrics. Every request but\n"
	    "GET /health needs `Authorization: Bearer KEY`.\n\n"
	    "  -k, --key KEY          the API key (or ISOL8_API_KEY): one key, no ceilings\n"
	    "      --keys FILE        many keys: name, SHA-256 of the key, ceilings a line\n"
	    "                         (re-read on SIGHUP)\n"
	    "      --listen ADDR:PORT where to listen (default 127.0.0.1:3000)\n"
	    "  -p, --port PORT        listen on 127.0.0.1:PORT\n"
	    "      --unix PATH        also listen on a Unix socket\n"
	    "      --tls-cert FILE    TLS on ADDR:PORT: the certificate chain (PEM)\n"
	    "      --tls-key FILE     and its private key (PEM)\n"
	    "      --max-body SIZE    the largest request body (16m)\n"
	    "      --max-queue N      requests waiting for a run; more get 429 (256)\n"
	    "      --grace MS         on SIGTERM, how long runs in flight may finish (30000)\n"
	    "  -v, --verbose          say more (twice: debug)\n"
	    "      --debug            as -vv\n"
	    "  -h, --help             this help\n\n"
	    "The configuration's \"server\" section sets these too (docs/config.md).\n");
}

enum {
	O_KEYS = 256,
	O_LISTEN,
	O_UNIX,
	O_TLS_CERT,
	O_TLS_KEY,
	O_MAX_BODY,
	O_MAX_QUEUE,
	O_GRACE,
	O_DEBUG,
};

static const struct option serve_options[] = {
	{ "key", required_argument, NULL, 'k' },
	{ "keys", required_argument, NULL, O_KEYS },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "port", required_argument, NULL, 'p' },
	{ "unix", required_argument, NULL, O_UNIX },
	{ "tls-cert", required_argument, NULL, O_TLS_CERT },
	{ "tls-key", required_argument, NULL, O_TLS_KEY },
	{ "max-body", required_argument, NULL, O_MAX_BODY },
	{ "max-queue", required_argument, NULL, O_MAX_QUEUE },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "debug", no_argument, NULL, O_DEBUG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The configuration's "server" section into the options (flags later). */
static void
serve_config(
    const struct cli_config *cfg, struct server_opts *o, uint64_t *grace)
{
	const struct cli_server_config *c = &cfg->server;

	if (c->listen != NULL)
		o->listen = c->listen;
	o->unix_path = c->unix_path;
	o->tls_cert = c->tls_cert;
	o->tls_key = c->tls_key;
	o->keys_file = c->keys_file;
	if (c->max_body)
		o->max_body = c->max_body;
	if (c->max_headers)
		o->max_headers = c->max_headers;
	if (c->request_timeout_ms)
		o->request_timeout_ms = c->request_timeout_ms;
	if (c->idle_timeout_ms)
		o->idle_timeout_ms = c->idle_timeout_ms;
	if (c->max_connections)
		o->max_connections = (unsigned)c->max_connections;
	if (c->max_queue)
		o->max_queue = (unsigned)c->max_queue;
	o->max_runs = (unsigned)c->max_runs;
	if (c->heartbeat_ms)
		o->heartbeat_ms = c->heartbeat_ms;
	if (c->grace_ms)
		*grace = c->grace_ms;
}

/* One flag into the options; -1 for a bad value. */
static int
serve_opt(int ch, const char *arg, struct server_opts *o, uint64_t *grace,
    int *verbose, char *port_listen, struct err **errp)
{
	uint64_t n;

	switch (ch) {
	case 'k':
		o->key = arg;
		return 0;
	case O_KEYS:
		o->keys_file = arg;
		return 0;
	case O_LISTEN:
		o->listen = arg;
		return 0;
	case 'p':
		if (cli_uint("--port", arg, 65535, &n, errp) == -1)
			return -1;
		snprintf(
		    port_listen, 32, "127.0.0.1:%llu", (unsigned long long)n);
		o->listen = port_listen;
		return 0;
	case O_UNIX:
		o->unix_path = arg;
		return 0;
	case O_TLS_CERT:
		o->tls_cert = arg;
		return 0;
	case O_TLS_KEY:
		o->tls_key = arg;
		return 0;
	case O_MAX_BODY:
		if (parse_size(arg, &n) == -1 || n < 1024 || n > (1ull << 30))
			return err_set(errp, ERR_INVALID,
			    "--max-body wants a size from 1k to 1g, got `%s`",
			    arg);
		o->max_body = n;
		return 0;
	case O_MAX_QUEUE:
		if (parse_uint(arg, 1000000, &n) == -1)
			return err_set(errp, ERR_INVALID,
			    "--max-queue wants a whole number up to 1000000, got `%s`",
			    arg);
		o->max_queue = (unsigned)n;
		return 0;
	case O_GRACE:
		if (parse_duration(arg, &n) == -1 || n > 86400000)
			return err_set(errp, ERR_INVALID,
			    "--grace wants a duration up to a day, got `%s`",
			    arg);
		*grace = n;
		return 0;
	case 'v':
		(*verbose)++;
		return 0;
	case O_DEBUG:
		*verbose = 2;
		return 0;
	}
	return err_set(errp, ERR_INVALID, "see isol8 serve --help");
}

static void
serve_stopped(void *arg)
{
	struct serve *sv = arg;

	sv->stopped = 1;
	event_base_loopbreak(sv->base);
}

static void
serve_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;
	struct err *e = NULL;

	(void)what;
	if (sig == SIGHUP) {
		if (server_reload_keys(sv->srv, &e) == -1) {
			cli_error("keys not reloaded (the old ones stay): %s",
			    e->msg);
			err_free(&e);
		} else
			cli_error("keys reloaded");
		return;
	}
	if (!sv->stopping) {
		sv->stopping = 1;
		cli_error(
		    "stopping: no new requests; runs in flight have %llu ms (signal again to stop now)",
		    (unsigned long long)sv->grace_ms);
		server_stop(sv->srv, sv->grace_ms, serve_stopped, sv);
		return;
	}
	/* A second signal: the grace is over now. */
	server_cut(sv->srv);
}

/* Listen, say where, serve until stopped. */
static int
serve_loop(struct serve *sv, const struct server_opts *so,
    const struct isol8_request *def)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, 0 };
	struct err *e = NULL;
	struct buf where = { 0 };
	char *line, *save = NULL;
	size_t i;

	if ((sv->srv = server_new(sv->base, sv->e, so, &e)) == NULL)
		return cli_fail(&e, 1);
	server_describe(sv->srv, &where);
	for (line = strtok_r(where.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		cli_error("listening on %s", line);
	buf_free(&where);
	for (i = 0; sigs[i] != 0; i++) {
		sv->sig[i] = evsignal_new(sv->base, sigs[i], serve_signal, sv);
		event_add(sv->sig[i], NULL);
	}
	/* The default runtime's containers, warm before the first client. */
	isol8_engine_prewarm(sv->e, def, NULL);
	while (!sv->stopped)
		event_base_loop(sv->base, EVLOOP_ONCE);
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	struct serve sv;
	struct cli_config cfg;
	struct server_opts so;
	struct isol8_engine_opts eo;
	struct isol8_request def;
	struct isol8_error ierr;
	struct log log;
	struct err *e = NULL;
	char port_listen[32];
	int ch, verbose = 0, rc;
	size_t i;

	memset(&sv, 0, sizeof sv);
	sv.grace_ms = SERVER_GRACE_MS;
	if (config_load(&cfg, NULL, &e) == -1)
		return cli_fail(&e, EXIT_USAGE);
	server_opts_init(&so);
	serve_config(&cfg, &so, &sv.grace_ms);
	so.key = getenv("ISOL8_API_KEY");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:p:vh", serve_options, NULL)) !=
	    -1) {
		if (ch == 'h') {
			serve_usage(stdout);
			config_free(&cfg);
			return 0;
		}
		if (serve_opt(ch, optarg, &so, &sv.grace_ms, &verbose,
		        port_listen, &e) == -1) {
			config_free(&cfg);
			return cli_fail(&e, EXIT_USAGE);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument `%s` (see isol8 serve --help)",
		    argv[optind]);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	if (so.keys_file == NULL && (so.key == NULL || so.key[0] == '\0')) {
		cli_error(
		    "API key required: use --key or the ISOL8_API_KEY env var (or --keys FILE)");
		config_free(&cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	isol8_request_init(&def);
	config_request(&cfg, &def);
	def.runtime = cfg.runtime;
	def.env = cfg.env;
	def.env_len = cfg.env_len;
	config_network(&cfg, &def);
	so.defaults = &def;
	log_init(&log,
	    verbose >= 2       ? LOG_LEVEL_DEBUG
	        : verbose == 1 ? LOG_LEVEL_INFO
	                       : LOG_LEVEL_WARN);
	so.log = &log;
	config_engine_opts(&cfg, &eo);
	eo.pool_shared = 0; /* warm containers attached to this process */
	eo.verbose = verbose;
	sv.base = event_base_new();
	if ((sv.e = isol8_engine_new(sv.base, &eo, &ierr)) == NULL)
		rc = cli_exit_for(&ierr);
	else
		rc = serve_loop(&sv, &so, &def);
	/* The engine ends what is left (on_done: the requests close), then
	 * removes its containers; the server goes after. */
	cli_engine_free(sv.base, sv.e, CLI_DRAIN_MS);
	server_free(sv.srv);
	for (i = 0; i < nitems(sv.sig); i++)
		if (sv.sig[i] != NULL)
			event_free(sv.sig[i]);
	/* Everything is ended: a late second signal (a supervisor's, a
	 * process group's) does not turn a clean exit into 143. (After
	 * event_free, which puts back the handler found at event_add.) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	event_base_free(sv.base);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_serve_entry = { "serve",
	"serve the HTTP API (docs/api.md)", cmd_serve };
