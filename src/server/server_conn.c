/*
 * A connection, from accept to close. evhttp owns the HTTP side; this
 * object owns what evhttp does not watch: the time a client takes to send
 * a whole request. evhttp's own timeouts are per read (a client sending a
 * byte every few seconds -- slowloris -- never trips them), so from the
 * accept, and again after each response, a request must arrive whole
 * within request_timeout_ms or the connection is cut off (its socket shut
 * down: evhttp sees the end and frees it the usual way). Others proceed.
 *
 *	WAIT --(a request read)--> BUSY --(its response written)--> WAIT
 *	WAIT --(deadline)--> CUT --(evhttp frees it)--> CLOSED
 *	any --(evhttp frees it)--> CLOSED
 *
 * evhttp gets the socket (or TLS) bufferevent itself, and this object
 * holds a reference on it (bufferevent_incref): when evhttp frees the
 * connection the bufferevent stays, its callbacks cleared -- which the
 * server's sweep (every SERVER_SWEEP_MS) sees: the object drops its
 * reference (the socket closes then) and goes. The sweep also cuts the
 * connections past their deadline. (A filter bufferevent over the socket
 * would tell of the free at once, but libevent 2.1's filter holds a
 * response until a write event that never comes, and evhttp closes the
 * socket under the last bytes still in the socket's bufferevent.) At
 * max_connections the listeners pause; the kernel's backlog holds the
 * rest.
 *
 * Invariant: c->bev holds our reference until the object goes; evhttp is
 * done with it once its callbacks are all NULL (evhttp keeps an error
 * callback set for as long as it uses a connection).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "server.h"

static void conn_step(struct server_conn *);

/* Pause or resume accepting, by the count of open connections. */
static void
conn_accepting(struct server *s)
{
	struct evhttp_bound_socket *b[2] = { s->tcp, s->unix_sock };
	int pause = s->nconns >= s->o.max_connections;
	size_t i;

	if (pause == s->accept_paused || s->state != SERVER_RUNNING)
		return;
	s->accept_paused = pause;
	for (i = 0; i < 2; i++) {
		if (b[i] == NULL)
			continue;
		if (pause)
			evconnlistener_disable(
			    evhttp_bound_socket_get_listener(b[i]));
		else
			evconnlistener_enable(
			    evhttp_bound_socket_get_listener(b[i]));
	}
	if (pause)
		log_warnx(s->o.log,
		    "%u connections open (server.maxConnections): not accepting more until one closes",
		    s->nconns);
}

/* The one end: our reference goes (the socket closes with it). */
static void
conn_close(struct server_conn *c)
{
	struct server *s = c->s;

	c->state = CONN_CLOSED;
	TAILQ_REMOVE(&s->conns, c, entry);
	s->nconns--;
	bufferevent_decref(c->bev);
	conn_accepting(s);
	free(c);
	server_drained(s);
}

/* The one place a connection's state moves. */
static void
conn_step(struct server_conn *c)
{
	evutil_socket_t fd;

	if (c->freed) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_WAIT:
		if (c->busy)
			c->state = CONN_BUSY;
		else if (c->deadline_hit) {
			/* Too slow: shut the socket; evhttp sees its end. */
			fd = bufferevent_getfd(c->bev);
			if (fd != -1)
				shutdown(fd, SHUT_RDWR);
			c->s->m.slow_clients++;
			log_info(c->s->o.log,
			    "a client took over %llu ms to send a request: cut off",
			    (unsigned long long)c->s->o.request_timeout_ms);
			c->state = CONN_CUT;
		}
		break;
	case CONN_BUSY:
		if (!c->busy) {
			c->since = now_ms();
			c->state = CONN_WAIT;
			/* a stopping server waits for its last replies */
			server_drained(c->s);
		}
		break;
	case CONN_CUT:
	case CONN_CLOSED:
		break;
	}
}

/*
 * The sweep: connections evhttp let go of (their callbacks cleared) go;
 * those waiting past the deadline for a whole request are cut.
 */
static void
conn_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct server_conn *c, *next;
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	uint64_t now = now_ms();

	(void)fd, (void)what;
	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, NULL);
		if (rcb == NULL && wcb == NULL && ecb == NULL)
			c->freed = 1;
		else if (c->state == CONN_WAIT && !c->busy &&
		    now - c->since >= s->o.request_timeout_ms)
			c->deadline_hit = 1;
		else
			continue;
		conn_step(c);
	}
}

/* The server's sweep timer (server_new). */
struct event *
conn_sweep_new(struct server *s)
{
	struct timeval tv = { 0, SERVER_SWEEP_MS * 1000 };
	struct event *ev = event_new(s->base, -1, EV_PERSIST, conn_sweep_cb, s);

	evtimer_add(ev, &tv);
	return ev;
}

/*
 * evhttp's bufferevent callback: a new connection's bufferevent (its
 * socket set by evhttp afterwards). TLS when the server has a context.
 */
struct bufferevent *
conn_bevcb(struct event_base *base, void *arg)
{
	struct server *s = arg;
	struct server_conn *c;
	struct bufferevent *bev;
	SSL *ssl;

	if (s->ssl != NULL && (ssl = SSL_new(s->ssl)) != NULL) {
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		/* Clients that close without close_notify are the norm. */
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		/* evhttp makes a plain one and fails the connection on
		 * TLS; nothing of ours to track. */
		return NULL;
	c = xcalloc(1, sizeof *c);
	c->s = s;
	c->bev = bev;
	bufferevent_incref(bev);
	c->state = CONN_WAIT;
	c->since = now_ms();
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	s->nconns++;
	conn_accepting(s);
	return bev;
}

/* The connection a request came on (NULL: not one of ours). */
struct server_conn *
conn_find(struct server *s, struct evhttp_connection *evcon)
{
	struct bufferevent *bev;
	struct server_conn *c;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	TAILQ_FOREACH (c, &s->conns, entry)
		if (c->bev == bev && !c->freed)
			return c;
	return NULL;
}

/* A request was read (1), or its response written (0). */
void
conn_busy(struct server_conn *c, int busy)
{
	int one = 1;

	c->busy = busy;
	if (busy && c->requests++ == 0)
		/* Replies go out as they are made (an SSE exit event right
		 * after the last output must not wait for the client's ACK
		 * of it); on a Unix socket this fails and means nothing. */
		(void)setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof one);
	conn_step(c);
}

/* Whether a reply is still being written to some connection. */
int
conn_writing(const struct server *s)
{
	const struct server_conn *c;

	TAILQ_FOREACH (c, &s->conns, entry)
		if (c->busy && !c->freed)
			return 1;
	return 0;
}

/* The server goes (after evhttp_free): our references go. */
void
conn_free_all(struct server *s)
{
	struct server_conn *c;

	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_close(c);
}
