/*
 * The server: evhttp on the engine's event_base, its listeners (TCP,
 * optionally TLS, and a Unix socket), the routes of docs/api.md, and the
 * shutdown.
 *
 * Bounds (docs/api.md "Limits"): a request line and headers at most
 * max_headers bytes and a body at most max_body (evhttp answers 431/413
 * itself), a whole request within request_timeout_ms (server_conn.c), a
 * read or write that stalls idle_timeout_ms (evhttp's timeouts), at most
 * max_connections open (then accepting pauses), max_queue requests waiting
 * for a run (then 429), JSON bodies as the shared parser bounds them.
 *
 * Shutdown (server_stop): the listeners close, requests still arriving are
 * answered 503, requests waiting for a slot are answered 503, runs in
 * flight go on until the grace ends; then they are cancelled, and when the
 * last request is closed the `stopped` callback runs (from the loop). What
 * containers the engine made go with isol8_engine_free(), called by the
 * command afterwards; images are never touched.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server.h"

void
server_opts_init(struct server_opts *o)
{
	memset(o, 0, sizeof *o);
	o->listen = SERVER_DEFAULT_LISTEN;
	o->max_body = SERVER_MAX_BODY;
	o->max_headers = SERVER_MAX_HEADERS;
	o->request_timeout_ms = SERVER_REQUEST_TIMEOUT_MS;
	o->idle_timeout_ms = SERVER_IDLE_TIMEOUT_MS;
	o->max_connections = SERVER_MAX_CONNECTIONS;
	o->max_queue = SERVER_MAX_QUEUE;
	o->heartbeat_ms = SERVER_HEARTBEAT_MS;
}

/* OpenSSL's last error, for a message. */
static const char *
ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof buf);
	return buf;
}

/* The TLS context of the TCP listener: the certificate chain and key. */
static int
server_tls(struct server *s, struct err **errp)
{
	SSL_CTX *ctx;

	if (s->o.tls_cert == NULL && s->o.tls_key == NULL)
		return 0;
	if (s->o.tls_cert == NULL || s->o.tls_key == NULL)
		return err_set(errp, ERR_INVALID,
		    "TLS needs both --tls-cert and --tls-key");
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return err_set(errp, ERR_SYS, "cannot make a TLS context: %s",
		    ssl_error());
	s->ssl = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->o.tls_cert) != 1)
		return err_set(errp, ERR_INVALID,
		    "cannot use the certificate `%s`: %s", s->o.tls_cert,
		    ssl_error());
	if (SSL_CTX_use_PrivateKey_file(ctx, s->o.tls_key, SSL_FILETYPE_PEM) !=
	        1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return err_set(errp, ERR_INVALID,
		    "cannot use the key `%s` (with `%s`): %s", s->o.tls_key,
		    s->o.tls_cert, ssl_error());
	return 0;
}

/* A listening socket (non-blocking, close-on-exec) on sa. */
static evutil_socket_t
listen_on(const struct sockaddr *sa, socklen_t len, const char *what,
    struct err **errp)
{
	evutil_socket_t fd;
	int one = 1;

	fd = socket(
	    sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err_set(errp, ERR_SYS, "cannot make a socket for %s: %s", what,
		    strerror(errno));
		return -1;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, sa, len) == -1 || listen(fd, 511) == -1) {
		err_set(errp, ERR_SYS, "cannot listen on %s: %s", what,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * ADDR:PORT (or [V6]:PORT) as a socket address: numeric hosts only (no
 * lookups on the loop), port 0 for one the kernel picks.
 */
static int
parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *end;
	uint64_t port;
	size_t n;

	memset(ss, 0, sizeof *ss);
	if (text[0] == '[') {
		if ((end = strchr(text, ']')) == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
		n = (size_t)(end - text - 1);
		text++;
	} else {
		if ((colon = strrchr(text, ':')) == NULL)
			return -1;
		n = (size_t)(colon - text);
	}
	if (n == 0 || n >= sizeof host ||
	    parse_uint(colon + 1, 65535, &port) == -1)
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	if (evutil_inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof *in4;
		return 0;
	}
	if (evutil_inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof *in6;
		return 0;
	}
	return -1;
}

static int
server_listen_tcp(struct server *s, struct err **errp)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	evutil_socket_t fd;

	if (s->o.listen == NULL)
		return 0;
	if (parse_listen(s->o.listen, &ss, &len) == -1)
		return err_set(errp, ERR_INVALID,
		    "--listen wants ADDR:PORT with a numeric address (127.0.0.1:3000, [::1]:3000, 0.0.0.0:3000), got `%s`",
		    s->o.listen);
	if ((fd = listen_on((struct sockaddr *)&ss, len, s->o.listen, errp)) ==
	    -1)
		return -1;
	if ((s->tcp = evhttp_accept_socket_with_handle(s->http, fd)) == NULL) {
		close(fd);
		return err_set(
		    errp, ERR_SYS, "cannot accept on %s", s->o.listen);
	}
	return 0;
}

/* The Unix socket: a stale socket file is replaced, anything else not. */
static int
server_listen_unix(struct server *s, struct err **errp)
{
	struct sockaddr_un sun;
	struct stat st;
	evutil_socket_t fd;

	if (s->o.unix_path == NULL)
		return 0;
	if (strlen(s->o.unix_path) >= sizeof sun.sun_path)
		return err_set(errp, ERR_INVALID,
		    "--unix path `%s` is too long", s->o.unix_path);
	if (lstat(s->o.unix_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(errp, ERR_INVALID,
			    "--unix `%s` exists and is not a socket",
			    s->o.unix_path);
		unlink(s->o.unix_path);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->o.unix_path, strlen(s->o.unix_path));
	if ((fd = listen_on((struct sockaddr *)&sun, sizeof sun, s->o.unix_path,
	         errp)) == -1)
		return -1;
	/* Whoever can reach the socket still needs a key. */
	chmod(s->o.unix_path, 0660);
	s->unix_path = xstrdup(s->o.unix_path);
	if ((s->unix_sock = evhttp_accept_socket_with_handle(s->http, fd)) ==
	    NULL) {
		close(fd);
		return err_set(
		    errp, ERR_SYS, "cannot accept on %s", s->o.unix_path);
	}
	return 0;
}

static void
server_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	admit_kick(arg);
}

static void
server_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd, (void)what;
	if (s->stopped != NULL)
		s->stopped(s->stopped_arg);
}

/* The keys: --key, or --keys FILE (checked at start: a bad file fails). */
static int
server_keys_load(struct server *s, struct err **errp)
{
	TAILQ_INIT(&s->keys);
	if (s->o.keys_file != NULL)
		return keys_load_file(s->o.keys_file, &s->keys, errp);
	if (s->o.key == NULL || s->o.key[0] == '\0')
		return err_set(errp, ERR_INVALID,
		    "API key required: give --key KEY (or ISOL8_API_KEY), or --keys FILE");
	keys_single(s->o.key, &s->keys);
	return 0;
}

struct server *
server_new(struct event_base *base, struct isol8_engine *e,
    const struct server_opts *o, struct err **errp)
{
	struct server *s = xcalloc(1, sizeof *s);

	s->base = base;
	s->e = e;
	s->o = *o;
	TAILQ_INIT(&s->conns);
	TAILQ_INIT(&s->reqs);
	TAILQ_INIT(&s->waiting);
	TAILQ_INIT(&s->claims);
	TAILQ_INIT(&s->keys);
	s->max_runs = o->max_runs;
	if (s->max_runs == 0) {
		struct isol8_engine_opts eo;

		isol8_engine_opts_init(&eo);
		s->max_runs = eo.max_concurrent;
	}
	s->kick = event_new(base, -1, 0, server_kick_cb, s);
	s->stop_ev = event_new(base, -1, 0, server_stop_cb, s);
	s->sweep = conn_sweep_new(s);
	if (server_keys_load(s, errp) == -1 || server_tls(s, errp) == -1)
		goto fail;
	if ((s->http = evhttp_new(base)) == NULL) {
		err_set(errp, ERR_SYS, "cannot make an HTTP server");
		goto fail;
	}
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)o->max_headers);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)o->max_body);
	evhttp_set_timeout(s->http, (int)((o->idle_timeout_ms + 999) / 1000));
	evhttp_set_allowed_methods(s->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	        EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	/* Read a body over the limit to its end, so the client gets 413. */
	evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_bevcb(s->http, conn_bevcb, s);
	evhttp_set_gencb(s->http, server_handle, s);
	if (o->listen == NULL && o->unix_path == NULL) {
		err_set(errp, ERR_INVALID, "nothing to listen on");
		goto fail;
	}
	if (server_listen_tcp(s, errp) == -1 ||
	    server_listen_unix(s, errp) == -1)
		goto fail;
	return s;
fail:
	server_free(s);
	return NULL;
}

/* Where the server listens, one URL a line (for the command to say). */
void
server_describe(const struct server *s, struct buf *b)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	evutil_socket_t fd;
	int port = 0;

	if (s->tcp != NULL) {
		fd = evhttp_bound_socket_get_fd(s->tcp);
		memset(&ss, 0, sizeof ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			evutil_inet_ntop(
			    AF_INET6, &a->sin6_addr, host, sizeof host);
			port = ntohs(a->sin6_port);
			buf_printf(b, "%s://[%s]:%d\n",
			    s->ssl ? "https" : "http", host, port);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			evutil_inet_ntop(
			    AF_INET, &a->sin_addr, host, sizeof host);
			port = ntohs(a->sin_port);
			buf_printf(b, "%s://%s:%d\n", s->ssl ? "https" : "http",
			    host, port);
		}
	}
	if (s->unix_path != NULL)
		buf_printf(b, "unix://%s\n", s->unix_path);
}

int
server_reload_keys(struct server *s, struct err **errp)
{
	struct server_keys next;

	if (s->o.keys_file == NULL)
		return 0;
	if (keys_load_file(s->o.keys_file, &next, errp) == -1)
		return -1;
	keys_replace(&s->keys, &next);
	return 0;
}

/*
 * Draining, the last request closed and the last reply written: stopped,
 * on a later turn.
 */
void
server_drained(struct server *s)
{
	if (s->state != SERVER_DRAINING || s->nreqs > 0)
		return;
	/* The last replies reach the sockets first (within the grace). */
	if (!s->grace_over && conn_writing(s))
		return;
	s->state = SERVER_STOPPED;
	if (s->grace != NULL)
		evtimer_del(s->grace);
	event_active(s->stop_ev, EV_TIMEOUT, 0);
}

/* The grace is over (or cut short): every request still going is
 * cancelled. */
void
server_cut(struct server *s)
{
	struct server_req *r, *next;

	if (s->grace_over)
		return;
	s->grace_over = 1;
	log_warnx(s->o.log, "grace period over: cancelling %u request%s",
	    s->nreqs, s->nreqs == 1 ? "" : "s");
	for (r = TAILQ_FIRST(&s->reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		req_defer_step(r);
	}
	server_drained(s);
}

static void
server_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	server_cut(arg);
}

static void
server_unlisten(struct server *s)
{
	if (s->tcp != NULL)
		evhttp_del_accept_socket(s->http, s->tcp);
	if (s->unix_sock != NULL)
		evhttp_del_accept_socket(s->http, s->unix_sock);
	s->tcp = s->unix_sock = NULL;
	if (s->unix_path != NULL)
		unlink(s->unix_path);
}

/*
 * Stop: no new connections or requests, the waiting ones answered 503,
 * runs in flight given grace_ms; `done` runs when nothing is left.
 */
void
server_stop(
    struct server *s, uint64_t grace_ms, void (*done)(void *), void *arg)
{
	struct timeval tv = { (time_t)(grace_ms / 1000),
		(suseconds_t)(grace_ms % 1000) * 1000 };

	if (s->state != SERVER_RUNNING)
		return;
	s->state = SERVER_DRAINING;
	s->stopped = done;
	s->stopped_arg = arg;
	server_unlisten(s);
	admit_fail_waiting(s, 503, "the server is shutting down");
	s->grace = evtimer_new(s->base, server_grace_cb, s);
	evtimer_add(s->grace, &tv);
	server_drained(s);
}

void
server_free(struct server *s)
{
	struct server_req *r;

	if (s == NULL)
		return;
	/* Requests close before: the engine's free ends their runs. */
	TAILQ_FOREACH (r, &s->reqs, entry)
		log_warnx(s->o.log, "request %llu still open at server free",
		    (unsigned long long)r->id);
	if (s->http != NULL) {
		server_unlisten(s);
		evhttp_free(s->http);
	}
	conn_free_all(s);
	claim_free_all(s);
	if (s->sweep != NULL)
		event_free(s->sweep);
	keys_free(&s->keys);
	if (s->ssl != NULL)
		SSL_CTX_free(s->ssl);
	if (s->kick != NULL)
		event_free(s->kick);
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
	if (s->grace != NULL)
		event_free(s->grace);
	free(s->unix_path);
	free(s);
}
