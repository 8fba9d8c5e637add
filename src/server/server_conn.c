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
 * The bufferevent evhttp gets (evhttp_set_bevcb) is a filter -- passing
 * bytes through unchanged -- over the socket or TLS bufferevent: its
 * free_context tells this object, from the loop, that evhttp let the
 * connection go, so the object lives exactly as long as the connection
 * and the count of open connections is exact (at max_connections the
 * listeners pause; the kernel's backlog holds the rest).
 *
 * libevent 2.1's filter passes evhttp's output on only while its EV_WRITE
 * is on, and evhttp adds a response before it enables writing (enabling
 * moves nothing): a response would wait for a write event that never
 * comes. So every addition to the filter's output schedules a flush on
 * the next turn (conn->flush), when writing is on.
 *
 * Invariant: conn->bev is valid while state != CLOSED; a server freed
 * before its connections' bufferevents orphans them (conn->s NULL).
 */
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
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
		    "%u connections open (server.maxConnections): not "
		    "accepting more until one closes",
		    s->nconns);
}

static void
conn_close(struct server_conn *c)
{
	struct server *s = c->s;

	c->state = CONN_CLOSED;
	if (c->deadline != NULL)
		event_free(c->deadline);
	event_free(c->flush);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->outcb);
	if (s != NULL) {
		TAILQ_REMOVE(&s->conns, c, entry);
		s->nconns--;
		conn_accepting(s);
	}
	free(c);
}

/* The request deadline, from now. */
static void
conn_arm(struct server_conn *c)
{
	uint64_t ms = c->s->o.request_timeout_ms;
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	c->deadline_hit = 0;
	evtimer_add(c->deadline, &tv);
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
		if (c->busy) {
			evtimer_del(c->deadline);
			c->state = CONN_BUSY;
		} else if (c->deadline_hit) {
			/* Too slow: shut the socket; evhttp sees its end. */
			fd = bufferevent_getfd(c->under);
			if (fd != -1)
				shutdown(fd, SHUT_RDWR);
			c->s->m.slow_clients++;
			log_info(c->s->o.log,
			    "a client took over %llu ms to send a request: "
			    "cut off",
			    (unsigned long long)c->s->o.request_timeout_ms);
			c->state = CONN_CUT;
		}
		break;
	case CONN_BUSY:
		if (!c->busy) {
			conn_arm(c);
			c->state = CONN_WAIT;
		}
		break;
	case CONN_CUT:
	case CONN_CLOSED:
		break;
	}
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn *c = arg;

	(void)fd, (void)what;
	c->deadline_hit = 1;
	conn_step(c);
}

/* Output evhttp added goes on to the socket (or TLS) bufferevent. */
static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn *c = arg;

	(void)fd, (void)what;
	bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
}

static void
conn_outbuf_cb(
    struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct server_conn *c = arg;

	(void)b;
	if (info->n_added > 0)
		event_active(c->flush, EV_TIMEOUT, 0);
}

/* evhttp freed the connection's bufferevent (from the loop). */
static void
conn_freed(void *arg)
{
	struct server_conn *c = arg;

	c->freed = 1;
	conn_step(c);
}

/*
 * evhttp's bufferevent callback: a new connection's bufferevent (its
 * socket set by evhttp afterwards). TLS when the server has a context.
 */
struct bufferevent *
conn_bevcb(struct event_base *base, void *arg)
{
	struct server *s = arg;
	struct server_conn *c = xcalloc(1, sizeof *c);
	SSL *ssl;

	c->s = s;
	if (s->ssl != NULL && (ssl = SSL_new(s->ssl)) != NULL) {
		c->under = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		/* Clients that close without close_notify are the norm. */
		if (c->under != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(
			    c->under, 1);
	} else
		c->under =
		    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->under == NULL) {
		/* evhttp makes a plain one and fails the connection on
		 * TLS; nothing of ours to track. */
		free(c);
		return NULL;
	}
	c->bev = bufferevent_filter_new(
	    c->under, NULL, NULL, BEV_OPT_CLOSE_ON_FREE, conn_freed, c);
	if (c->bev == NULL) {
		bufferevent_free(c->under);
		free(c);
		return NULL;
	}
	c->flush = event_new(base, -1, 0, conn_flush_cb, c);
	c->outcb =
	    evbuffer_add_cb(bufferevent_get_output(c->bev), conn_outbuf_cb, c);
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	c->state = CONN_WAIT;
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	s->nconns++;
	conn_arm(c);
	conn_accepting(s);
	return c->bev;
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
		if (c->bev == bev && c->state != CONN_CLOSED)
			return c;
	return NULL;
}

/* A request was read (1), or its response written (0). */
void
conn_busy(struct server_conn *c, int busy)
{
	c->busy = busy;
	if (busy)
		c->requests++;
	conn_step(c);
}

/* The server goes first: the object waits for its bufferevent alone. */
void
conn_orphan(struct server_conn *c)
{
	if (c->deadline != NULL)
		event_free(c->deadline);
	c->deadline = NULL;
	c->s = NULL;
	c->state = CONN_CUT;
}
