/*
 * The filtered network's resolver: libevent's evdns on the loop, made on
 * the first lookup from the host's /etc/resolv.conf and /etc/hosts, with
 * what every lookup here needs: no search list (a name is looked up as it
 * was checked, never with a domain appended), a bounded wait
 * (EGRESS_DNS_TIMEOUT s per try, EGRESS_DNS_ATTEMPTS tries), and no
 * messages on stderr.
 *
 * Invariant: a lookup's callback comes exactly once, even after a cancel
 * (libevent calls back on a later turn with EVUTIL_EAI_CANCEL) -- so the
 * resolver counts the lookups whose callback has not come, and is freed
 * only when there are none (resolver_busy()): libevent's late callback
 * reads the evdns_base.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "net.h"

struct resolver {
	struct loop *loop;
	struct evdns_base *dns; /* made on first use, or the caller's */
	int own;
	unsigned pending; /* lookups whose callback has not come */
};

struct resolver_lookup {
	struct resolver *r;
	struct evdns_getaddrinfo_request *req; /* NULL once answered */
	resolver_cb cb;
	void *arg;
};

/*
 * libevent's resolver messages are dropped: evdns has one log function for
 * the whole process, with no argument to tell whose log a line would
 * belong to, and its default is stderr. What a lookup came to is in the
 * run's network events (a 502 that says why).
 */
static void
resolver_log(int is_warn, const char *msg)
{
	(void)is_warn, (void)msg;
}

/* What every resolver of the filtered network gets (also the tests'). */
void
resolver_options(struct evdns_base *dns)
{
	evdns_set_log_fn(resolver_log); /* the one process-wide setting */
	evdns_base_search_clear(dns);
	evdns_base_set_option(dns, "timeout:", EGRESS_DNS_TIMEOUT);
	evdns_base_set_option(dns, "attempts:", EGRESS_DNS_ATTEMPTS);
}

/* dns: the caller's (a test's own server), or NULL for the host's. */
struct resolver *
resolver_new(struct loop *loop, struct evdns_base *dns)
{
	struct resolver *r = xcalloc(1, sizeof *r);

	r->loop = loop;
	r->dns = dns;
	return r;
}

static struct evdns_base *
resolver_base(struct resolver *r)
{
	if (r->dns != NULL)
		return r->dns;
	r->dns = evdns_base_new(
	    loop_base(r->loop), EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (r->dns == NULL)
		fatalx("resolver: out of memory");
	r->own = 1;
	/* None there: libevent asks 127.0.0.1, as the C library would. */
	evdns_base_resolv_conf_parse(r->dns,
	    DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC | DNS_OPTION_HOSTSFILE,
	    "/etc/resolv.conf");
	resolver_options(r->dns);
	return r->dns;
}

static void
resolver_answered(int result, struct evutil_addrinfo *res, void *arg)
{
	struct resolver_lookup *l = arg;

	l->r->pending--;
	l->req = NULL;
	l->cb(result, res, l->arg);
	free(l);
}

/*
 * Look host:port up (TCP, any family). cb comes exactly once -- maybe
 * inside this call (a literal, a hosts-file name; then NULL is returned),
 * or with EVUTIL_EAI_CANCEL after resolver_cancel() -- and owns `res`.
 */
struct resolver_lookup *
resolver_lookup(struct resolver *r, const char *host, const char *port,
    resolver_cb cb, void *arg)
{
	struct resolver_lookup *l = xcalloc(1, sizeof *l);
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo hints;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	r->pending++;
	req = evdns_getaddrinfo(
	    resolver_base(r), host, port, &hints, resolver_answered, l);
	if (req == NULL)
		return NULL; /* answered (and l freed) inside */
	l->req = req;
	return l;
}

/* Stop a lookup: its callback still comes, with EVUTIL_EAI_CANCEL. */
void
resolver_cancel(struct resolver_lookup *l)
{
	if (l != NULL && l->req != NULL)
		evdns_getaddrinfo_cancel(l->req);
}

/* Whether lookups' callbacks are still due (then it may not be freed). */
int
resolver_busy(const struct resolver *r)
{
	return r->pending > 0;
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	if (r->own && r->dns != NULL)
		evdns_base_free(r->dns, 1);
	free(r);
}
