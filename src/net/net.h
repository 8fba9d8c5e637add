/*
 * net: the filtered network, on the loop. The proxy (egress.c, with
 * egress_http.c parsing what it reads) takes the connections a sandbox's
 * agent relays, checks each against deny/allow rules and the address
 * table, resolves the name on the host (resolver.c) and connects
 * upstream. It needs only the loop and a resolver: nothing of the engine.
 */
#ifndef ISOL8_NET_H
#define ISOL8_NET_H

#include "isol8.h"
#include "../agent/proto.h"
#include "../loop/loop.h"

#define EGRESS_PORT 8118
#define EGRESS_DNS_MS 5000      /* a name resolves within this, or 502 */
#define EGRESS_CONNECT_MS 10000 /* then a connection is made, or 502 */
#define EGRESS_DNS_TIMEOUT "2"  /* evdns: seconds before asking again, */
#define EGRESS_DNS_ATTEMPTS "3" /* times: over EGRESS_DNS_MS together */

struct evdns_base;
struct evutil_addrinfo;
struct sockaddr;

/* resolver.c */
struct resolver;
typedef void (*resolver_cb)(int, struct evutil_addrinfo *, void *);
struct resolver_lookup;
struct resolver *resolver_new(struct loop *, struct evdns_base *);
void resolver_options(struct evdns_base *);
struct resolver_lookup *resolver_lookup(
    struct resolver *, const char *, const char *, resolver_cb, void *);
void resolver_cancel(struct resolver_lookup *);
int resolver_busy(const struct resolver *);
void resolver_free(struct resolver *);

/* egress_http.c: what the proxy reads and rewrites */
struct egress_target {
	char host[256]; /* canonical: what is matched, resolved, sent */
	char port[8];
	int tunnel; /* CONNECT */
	char method[16];
};
/* Where a forwarded request's body ends (egress_body_feed). */
enum egress_body_state {
	EGRESS_BODY_DONE, /* the request is complete */
	EGRESS_BODY_LENGTH,
	EGRESS_BODY_SIZE, /* chunked: the chunk-size line ... */
	EGRESS_BODY_EXT,
	EGRESS_BODY_SIZE_LF,
	EGRESS_BODY_DATA,
	EGRESS_BODY_DATA_CR,
	EGRESS_BODY_DATA_LF,
	EGRESS_BODY_TRAILER,
	EGRESS_BODY_TRAILER_LF,
	EGRESS_BODY_END_LF,
	EGRESS_BODY_EOF, /* an answer that ends with the connection */
};
struct egress_body {
	enum egress_body_state state;
	uint64_t left;     /* bytes of the body or the chunk still to come */
	unsigned line;     /* bytes of the current framing line */
	unsigned trailers; /* bytes of the trailer section */
};
int egress_host(const char *, size_t, char *, size_t);
int egress_parse(const char *, size_t, struct egress_target *, struct buf *,
    struct egress_body *, struct err **);
long egress_body_feed(struct egress_body *, const void *, size_t);
int egress_response_head(
    const char *, size_t, int, struct buf *, struct egress_body *);
int egress_addr_private(const struct sockaddr *);

/* egress.c: the proxy of one run */
struct egress;
struct egress_rules {
	const char *const *allow; /* POSIX EREs, case-insensitive */
	size_t nallow;
	const char *const *deny;
	size_t ndeny;
	int allow_private;
	int with_port; /* allow patterns see "host:port", not the host */
};
typedef void (*egress_send_cb)(const struct proto_buf *, void *);
typedef size_t (*egress_pending_cb)(void *);
struct egress *egress_new(struct loop *, struct resolver *,
    const struct egress_rules *, egress_send_cb, egress_pending_cb, void *,
    struct err **);
void egress_frame(struct egress *, int, const unsigned char *, uint32_t);
struct isol8_net_event *egress_events(struct egress *, size_t *, uint64_t *);
void egress_events_free(struct isol8_net_event *, size_t);
void egress_free(struct egress *);

#endif
