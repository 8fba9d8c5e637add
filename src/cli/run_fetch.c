/*
 * run --url, --github, --gist: the code fetched on the host before the
 * run, through the loop's libcurl glue (src/loop/loop_http.c) on the run's
 * own event_base -- only when the configuration's remoteCode.enabled says
 * so, and within its policy (config_remote.c): the allowed schemes (http
 * needs --allow-insecure-code-url as well), the allowed and blocked host
 * patterns, checked for the URL and for every redirect's target (each
 * followed by us, at most RUN_FETCH_REDIRECTS), no connection to a
 * private, loopback or link-local address unless remoteCode.allowPrivate
 * (checked for the address connected to, so a name cannot resolve its
 * way around it), at most maxCodeSize bytes (more ends the transfer),
 * within fetchTimeoutMs, and, with --hash (a must with requireHash), the
 * SHA-256 of what came.
 *
 * The fetch is an async object of the usual shape: a state, one _step(),
 * one _close(); the done callback records and steps. The caller turns the
 * base until it ends or the run is interrupted.
 */
#include <sys/socket.h>
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "run.h"
#include "../loop/loop.h"
#include "../net/net.h"
#include "../util/util.h"

#define RUN_FETCH_REDIRECTS 5

enum fetch_state {
	FETCH_GET,    /* a request in flight */
	FETCH_GOT,    /* its answer (or its failure) recorded */
	FETCH_DONE,   /* the code is in f->code */
	FETCH_FAILED, /* f->err says why */
};

struct fetch {
	enum fetch_state state;
	const struct cli_remote *p;
	const char *hash;
	int insecure;
	struct loop *loop;
	struct http *http;
	struct http_req *req;
	char *url;          /* the one asked for now */
	char *next;         /* where its 3xx answer points */
	unsigned redirects; /* followed so far */
	long status;
	struct buf *code;
	int too_big; /* more than maxCodeSize came: the transfer stopped */
	int refused; /* a connection to a private address was refused */
	struct err *err;
};

/* Whether host (canonical) matches one of the patterns (checked ones). */
static int
host_matches(char *const *pats, size_t n, const char *key, const char *host)
{
	regex_t re;
	size_t i;
	int hit;

	for (i = 0; i < n; i++) {
		if (config_host_regex(&re, pats[i], key, NULL) == -1)
			continue;
		hit = regexec(&re, host, 0, NULL, 0) == 0;
		regfree(&re);
		if (hit)
			return 1;
	}
	return 0;
}

/*
 * Whether the policy lets the code come from url: a URL, an allowed
 * scheme (http also needing --allow-insecure-code-url), an allowed host
 * that no blocked pattern matches.
 */
static int
fetch_url_ok(const struct cli_remote *p, const char *url, int insecure,
    struct err **errp)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, canon[256];
	size_t i;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(errp, ERR_INVALID, "`%s` is not a URL", url);
		goto out;
	}
	for (i = 0; i < p->schemes_len; i++)
		if (strcasecmp(p->schemes[i], scheme) == 0)
			break;
	if (strcasecmp(scheme, "http") == 0 && !insecure)
		err_set(errp, ERR_INVALID,
		    "insecure code URL `%s` blocked: http:// needs --allow-insecure-code-url",
		    url);
	else if (i == p->schemes_len)
		err_set(errp, ERR_INVALID,
		    "URL scheme `%s` not allowed (remoteCode.allowedSchemes)",
		    scheme);
	else if (egress_host(host, strlen(host), canon, sizeof canon) == -1)
		err_set(errp, ERR_INVALID,
		    "`%s`: a host name isol8 does not take", host);
	else if ((p->allow_hosts_len > 0 &&
	             !host_matches(p->allow_hosts, p->allow_hosts_len,
	                 "remoteCode.allowedHosts", canon)) ||
	    host_matches(p->block_hosts, p->block_hosts_len,
	        "remoteCode.blockedHosts", canon))
		err_set(errp, ERR_INVALID,
		    "blocked code URL host `%s` (remoteCode.allowedHosts, blockedHosts)",
		    canon);
	else
		rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The URL of the code: --url as given, --github owner/repo/ref/path and
 * --gist id/file through the configured bases (raw.githubusercontent.com
 * and gist.githubusercontent.com by default), as the original makes them.
 */
char *
run_fetch_url(const struct cli_remote *p, const char *url, const char *github,
    const char *gist, struct err **errp)
{
	const char *s;
	int n;

	if (url != NULL)
		return xstrdup(url);
	if (github != NULL) {
		for (n = 0, s = github; (s = strchr(s, '/')) != NULL; s++)
			n++;
		if (n < 3 || github[0] == '/' || strstr(github, "//") != NULL) {
			err_set(errp, ERR_INVALID,
			    "--github wants owner/repo/ref/path/to/file, got `%s`",
			    github);
			return NULL;
		}
		return xasprintf("%s/%s", p->github_base, github);
	}
	if ((s = strchr(gist, '/')) == NULL || s == gist || s[1] == '\0') {
		err_set(errp, ERR_INVALID,
		    "--gist wants gistId/file.ext, got `%s`", gist);
		return NULL;
	}
	return xasprintf(
	    "%s/%.*s/raw/%s", p->gist_base, (int)(s - gist), gist, s + 1);
}

/*
 * What can be said before any network: fetching is enabled, the URL is
 * allowed, a hash is given when one is required and looks like one.
 */
int
run_fetch_check(const struct cli_remote *p, const char *url, const char *hash,
    int insecure, struct err **errp)
{
	size_t i;

	if (!p->enabled)
		return err_set(errp, ERR_INVALID,
		    "remote code fetching is disabled: set remoteCode.enabled to true in isol8.config.json to allow it");
	if (hash == NULL && p->require_hash)
		return err_set(errp, ERR_INVALID,
		    "--hash is required for remote code (remoteCode.requireHash)");
	for (i = 0; hash != NULL && hash[i] != '\0'; i++)
		if (!isxdigit((unsigned char)hash[i]))
			break;
	if (hash != NULL && (i != 64 || hash[i] != '\0'))
		return err_set(errp, ERR_INVALID,
		    "--hash wants the SHA-256 of the code in hex (64 characters), got `%s`",
		    hash);
	return fetch_url_ok(p, url, insecure, errp);
}

static int
fetch_addr_ok(const struct sockaddr *sa, void *arg)
{
	struct fetch *f = arg;

	if (f->p->allow_private || !egress_addr_private(sa))
		return 1;
	f->refused = 1;
	return 0;
}

static int
fetch_data(const char *data, size_t len, void *arg)
{
	struct fetch *f = arg;

	if (f->code->len + len > f->p->max_size) {
		f->too_big = 1;
		return -1;
	}
	buf_add(f->code, data, len);
	return 0;
}

static void fetch_step(struct fetch *);

/* The answer: its status, where a 3xx points, or why it failed. */
static void
fetch_done(struct http_req *r, const struct err *e, void *arg)
{
	struct fetch *f = arg;
	const char *next;

	f->req = NULL;
	f->status = http_req_status(r);
	if ((next = http_req_redirect(r)) != NULL)
		f->next = xstrdup(next);
	if (e != NULL && !f->too_big)
		f->err = err_new(e->kind, "%s", e->msg);
	f->state = FETCH_GOT;
	fetch_step(f);
}

static void
fetch_start(struct fetch *f)
{
	f->req = http_req_new(f->http, "GET", f->url);
	http_req_outside(
	    f->req, f->insecure ? "http,https" : "https", fetch_addr_ok, f);
	http_req_stream(f->req, fetch_data, f);
	http_req_timeout(f->req, (long)f->p->timeout_ms);
	f->state = FETCH_GET;
	http_req_submit(f->req, fetch_done, f);
}

/* What came is the code: no NUL byte (not a script), the --hash. */
static void
fetch_verify(struct fetch *f)
{
	struct sha256 h;
	char hex[65];

	if (memchr(f->code->data ? f->code->data : "", '\0', f->code->len) !=
	    NULL) {
		f->err = err_new(ERR_INVALID,
		    "the code at `%s` looks binary (it has a NUL byte)",
		    f->url);
		return;
	}
	if (f->hash == NULL)
		return;
	sha256_init(&h);
	sha256_add(&h, f->code->data ? f->code->data : "", f->code->len);
	sha256_hex(&h, hex);
	if (strcasecmp(hex, f->hash) != 0)
		f->err = err_new(ERR_INVALID,
		    "the code at `%s` does not match --hash (its SHA-256 is %s)",
		    f->url, hex);
}

/* An answer came: fail, follow a redirect (checked), or verify. */
static void
fetch_got(struct fetch *f)
{
	if (f->too_big)
		f->err = err_new(ERR_LIMIT,
		    "the code at `%s` is over remoteCode.maxCodeSize (%llu bytes)",
		    f->url, (unsigned long long)f->p->max_size);
	else if (f->err != NULL && f->refused) {
		err_free(&f->err);
		f->err = err_new(ERR_INVALID,
		    "`%s`: not fetched from a private, loopback or link-local address (remoteCode.allowPrivate allows it)",
		    f->url);
	} else if (f->err != NULL)
		err_wrap(&f->err, "cannot fetch `%s`", f->url);
	else if (f->status >= 300 && f->status < 400 && f->next != NULL) {
		if (++f->redirects > RUN_FETCH_REDIRECTS)
			f->err =
			    err_new(ERR_INVALID, "`%s`: more than %d redirects",
			        f->url, RUN_FETCH_REDIRECTS);
		else if (fetch_url_ok(f->p, f->next, f->insecure, &f->err) ==
		    0) {
			free(f->url);
			f->url = f->next;
			f->next = NULL;
			f->code->len = 0;
			fetch_start(f);
			return;
		}
	} else if (f->status < 200 || f->status > 299)
		f->err = err_new(ERR_NOTFOUND, "cannot fetch `%s`: HTTP %ld",
		    f->url, f->status);
	else
		fetch_verify(f);
	f->state = f->err != NULL ? FETCH_FAILED : FETCH_DONE;
}

static void
fetch_step(struct fetch *f)
{
	switch (f->state) {
	case FETCH_GET:
		break; /* its answer steps */
	case FETCH_GOT:
		fetch_got(f);
		break;
	case FETCH_DONE:
	case FETCH_FAILED:
		break;
	}
}

/* The one teardown: what is in flight is cancelled, why is kept. */
static void
fetch_close(struct fetch *f, const char *why)
{
	if (f->req != NULL)
		http_req_cancel(f->req);
	f->req = NULL;
	if (why != NULL && f->err == NULL)
		f->err = err_new(ERR_CANCELLED, "%s", why);
	http_free(f->http);
	loop_free(f->loop);
	free(f->url);
	free(f->next);
}

/*
 * Fetch the code at url into code (checked by run_fetch_check first),
 * turning base until it has come or *interrupted. -1 with the reason.
 */
int
run_fetch(struct event_base *base, const struct cli_remote *p, const char *url,
    const char *hash, int insecure, const int *interrupted, struct buf *code,
    struct err **errp)
{
	struct fetch f;

	memset(&f, 0, sizeof f);
	f.p = p;
	f.hash = hash;
	f.insecure = insecure;
	f.code = code;
	f.url = xstrdup(url);
	if ((f.loop = loop_new(base, NULL, errp)) == NULL ||
	    (f.http = http_new(f.loop, NULL, 4, errp)) == NULL) {
		fetch_close(&f, NULL);
		return -1;
	}
	cli_debugf("[Run] Fetching code from %s", url);
	fetch_start(&f);
	while ((f.state == FETCH_GET || f.state == FETCH_GOT) && !*interrupted)
		event_base_loop(base, EVLOOP_ONCE);
	fetch_close(&f, *interrupted ? "interrupted" : NULL);
	if (f.err != NULL) {
		*errp = f.err;
		return -1;
	}
	cli_debugf("[Run] Fetched %zu bytes from %s", code->len, url);
	return 0;
}
