/*
 * Session claims: a key's `sessions=N` ceiling, counted.
 *
 * A session is a container named for its key (server_session.c), made by
 * the engine on the first run that names it and gone when removed or idle
 * too long -- so the engine's list (Docker's) is the truth of what a key
 * owns, and a run that may open a new session asks it first:
 *
 *	LISTING --(the list came)--> HELD --(the run ended)--> RELEASED
 *	   \--(over the ceiling, or no list)--> refused: the callback, freed
 *
 * A claim is the request's hold on one session name while its run is
 * admitted and runs. Deciding when the list comes back, the key's
 * sessions are the union of the names listed, the names held by other
 * claims (runs about to open theirs: two new names racing for the last
 * place get one each, never both) and the names of claims released after
 * this list was asked for (their container may be newer than the list).
 * The name already among them is always granted: it opens nothing new.
 *
 * Any list will do, even one asked before the claim came: a session made
 * before the list was asked is in it, one made later belongs to a claim
 * still held or released since. So one list is out at a time, and every
 * claim that comes while it is out waits for that one: a key flooding the
 * server with new names costs dockerd one list at a time, not one each.
 *
 * Invariants: every claim is in s->claims until freed; the callback comes
 * exactly once, from the list's callback (the engine calls back exactly
 * once, ISOL8_ECANCELLED at its free), in the order the claims came; a
 * RELEASED claim is freed once no list older than its release is out;
 * the owner drops a claim it holds (claim_drop) and never one still
 * LISTING.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

enum claim_state {
	CLAIM_LISTING,  /* the engine's list was asked for */
	CLAIM_HELD,     /* granted: its run may open the session */
	CLAIM_RELEASED, /* the run ended; kept for lists older than that */
};

struct claim {
	struct server *s;
	enum claim_state state;
	char key[33];
	char name[128]; /* the engine's session name, KEY.NAME */
	unsigned max;   /* the key's ceiling when asked */
	uint64_t seq;   /* LISTING: the list it waits for; RELEASED: the
	                   newest list number when released */
	claim_cb cb;
	void *arg;
	TAILQ_ENTRY(claim) entry;
};

/* Whether a request may open a session its key has to count. */
int
claim_needed(const struct server_key *k, const struct isol8_request *q)
{
	return q->session != NULL && !q->session_must_exist &&
	    k->c.has_sessions && k->c.sessions > 0;
}

/* Whether internal names a session of the key named key. */
static int
claim_is_keys(const char *key, const char *internal)
{
	size_t n = strlen(key);

	return strncmp(internal, key, n) == 0 && internal[n] == '.';
}

/* The names of the key's sessions, counted once each. */
struct names {
	const char **v;
	size_t n;
	size_t cap;
};

static void
names_add(struct names *ns, const char *name)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], name) == 0)
			return;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = xreallocarray(ns->v, ns->cap, sizeof *ns->v);
	}
	ns->v[ns->n++] = name;
}

/* Whether c may hold its name, the key's sessions being listed. */
static int
claim_fits(struct claim *c, const struct isol8_session_info *list, size_t n)
{
	struct names ns = { 0 };
	struct claim *o;
	size_t i;
	int fits;

	for (i = 0; i < n; i++)
		if (claim_is_keys(c->key, list[i].name))
			names_add(&ns, list[i].name);
	TAILQ_FOREACH (o, &c->s->claims, entry) {
		if (o == c || strcmp(o->key, c->key) != 0)
			continue;
		if (o->state == CLAIM_HELD ||
		    (o->state == CLAIM_RELEASED && o->seq >= c->seq))
			names_add(&ns, o->name);
	}
	fits = ns.n < c->max;
	for (i = 0; i < ns.n && !fits; i++)
		fits = strcmp(ns.v[i], c->name) == 0;
	free(ns.v);
	return fits;
}

/* Released claims no list still out may need: freed. */
static void
claim_prune(struct server *s)
{
	struct claim *c, *tmp;
	uint64_t oldest = UINT64_MAX;

	TAILQ_FOREACH (c, &s->claims, entry)
		if (c->state == CLAIM_LISTING && c->seq < oldest)
			oldest = c->seq;
	TAILQ_FOREACH_SAFE (c, &s->claims, entry, tmp)
		if (c->state == CLAIM_RELEASED && c->seq < oldest) {
			TAILQ_REMOVE(&s->claims, c, entry);
			free(c);
		}
}

static void
claim_free(struct claim *c)
{
	TAILQ_REMOVE(&c->s->claims, c, entry);
	free(c);
}

/* Decide c on the list: held, or refused (freed); then tell its owner. */
static void
claim_decide(struct claim *c, const struct isol8_session_info *list, size_t n,
    const struct isol8_error *e)
{
	struct isol8_error refusal;
	claim_cb cb = c->cb;
	void *cbarg = c->arg;
	const char *dot;

	if (e == NULL && claim_fits(c, list, n)) {
		c->state = CLAIM_HELD;
		cb(c, NULL, cbarg);
		return;
	}
	if (e != NULL)
		refusal = *e;
	else {
		memset(&refusal, 0, sizeof refusal);
		refusal.code = ISOL8_ELIMIT;
		dot = strchr(c->name, '.');
		snprintf(refusal.message, sizeof refusal.message,
		    "key `%s` may not own more than %u session%s (its `sessions` ceiling): remove one (DELETE /sessions/NAME) or use one it has, not `%s`",
		    c->key, c->max, c->max == 1 ? "" : "s",
		    dot != NULL ? dot + 1 : c->name);
	}
	claim_free(c);
	cb(NULL, &refusal, cbarg);
}

/*
 * The engine's list: every claim waiting for it decided, in the order
 * they came (each sees the ones granted before it). An owner's callback
 * may start a claim (it waits for a new list) or drop one, so the next
 * claim is looked up afresh each time.
 */
static void
claim_listed(const struct isol8_session_info *list, size_t n,
    const struct isol8_error *e, void *arg)
{
	struct server *s = arg;
	uint64_t seq = s->claim_seq;
	struct claim *c;

	s->claim_listing = 0;
	for (;;) {
		TAILQ_FOREACH (c, &s->claims, entry)
			if (c->state == CLAIM_LISTING && c->seq == seq)
				break;
		if (c == NULL)
			break;
		claim_decide(c, list, n, e);
	}
	claim_prune(s);
}

/*
 * A claim on the session the request q names (its engine name) for key
 * k: cb comes later with the claim (held) or NULL and why not.
 */
void
claim_start(struct server *s, const struct server_key *k,
    const struct isol8_request *q, claim_cb cb, void *arg)
{
	struct claim *c = xcalloc(1, sizeof *c);
	struct isol8_error e;

	c->s = s;
	c->state = CLAIM_LISTING;
	snprintf(c->key, sizeof c->key, "%s", k->name);
	snprintf(c->name, sizeof c->name, "%s", q->session);
	c->max = k->c.sessions;
	c->cb = cb;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&s->claims, c, entry);
	if (s->claim_listing) { /* the list out will do */
		c->seq = s->claim_seq;
		return;
	}
	c->seq = ++s->claim_seq;
	s->claim_listing = 1;
	if (isol8_session_list_start(s->e, claim_listed, s, &e) == -1)
		claim_listed(NULL, 0, &e, s);
}

/* The run that held c ended: c counts on for lists asked before now. */
void
claim_drop(struct claim *c)
{
	if (c == NULL || c->state != CLAIM_HELD)
		return;
	c->state = CLAIM_RELEASED;
	c->seq = c->s->claim_seq;
	claim_prune(c->s);
}

/* The server goes: whatever is left (nothing is LISTING by then). */
void
claim_free_all(struct server *s)
{
	struct claim *c;

	while ((c = TAILQ_FIRST(&s->claims)) != NULL)
		claim_free(c);
}
