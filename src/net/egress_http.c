/*
 * What the filtered network's proxy (egress.c) reads and rewrites: a proxy
 * request's head, the host name in it, the addresses a sandbox may not
 * reach, where a forwarded request's body ends, and the head of the answer.
 * Each is a function of its input only, so the unit tests and the fuzz
 * target check them directly.
 *
 * Invariants:
 * - A host comes out canonical (egress_host) or not at all, and that one
 *   string is matched against the rules, resolved, connected to and sent
 *   as Host: lower case, one trailing dot removed, letters, digits, '-'
 *   and '_' in dot-separated labels of 1-63 bytes, 253 at most; a name
 *   whose last label is a number is an IPv4 address in one of the forms
 *   inet_aton() takes (0x7f.1, 2130706433, 0177.0.0.1) and comes out as
 *   its dotted quad, or is refused; an IPv6 literal comes out as
 *   inet_ntop() writes it.
 * - A head that two HTTP parsers could read differently is refused: a NUL,
 *   a CR or LF outside a CRLF, a folded line, a field name that is not a
 *   token (space before the colon), two Content-Lengths, a Content-Length
 *   and a Transfer-Encoding, a transfer coding other than chunked.
 * - One request per connection: the request goes upstream with
 *   `Connection: close`, its body ends where egress_body_feed() says, and
 *   nothing after it is forwarded; the answer's head says
 *   `Connection: close` to the program as well, and its body is framed the
 *   same way when its head says how (else it ends with upstream's).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net.h"

#define CHUNK_LINE_MAX 4096      /* a chunk-size line with its extensions */
#define TRAILERS_MAX (16u << 10) /* a chunked body's trailer section */

/* Whether c may be in a token (RFC 9110 5.6.2): a method, a field name. */
static int
tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One part of an IPv4 address as inet_aton() reads it: decimal, 0-prefixed
 * octal or 0x-prefixed hexadecimal. -1 if it is not a number.
 */
static int
v4_part(const char *s, size_t n, uint64_t *v)
{
	unsigned base = 10;
	size_t i = 0;
	int d;

	*v = 0;
	if (n >= 2 && s[0] == '0' && s[1] == 'x')
		base = 16, i = 2;
	else if (n >= 2 && s[0] == '0')
		base = 8, i = 1;
	if (i == n || n > 34)
		return -1; /* no digits ("", "0x"), or far too many */
	for (; i < n; i++) {
		if ((d = hexval((unsigned char)s[i])) < 0 ||
		    (unsigned)d >= base)
			return -1;
		*v = *v * base + (unsigned)d;
		if (*v > 0xffffffffu)
			return -1;
	}
	return 0;
}

/*
 * A name whose last label is a number is an IPv4 address to inet_aton()
 * and to many resolvers: a.b.c.d, a.b.c (c: 16 bits), a.b (b: 24 bits) or
 * a (32 bits), each part decimal, octal or hex. Its dotted quad, or -1.
 */
static int
v4_literal(const char *s, size_t n, char *out, size_t outsz)
{
	uint64_t part[4], max;
	const char *dot;
	uint32_t a;
	size_t np = 0, i, l;

	for (;;) {
		dot = memchr(s, '.', n);
		l = dot ? (size_t)(dot - s) : n;
		if (np == 4 || v4_part(s, l, &part[np]) == -1)
			return -1;
		np++;
		if (dot == NULL)
			break;
		s += l + 1, n -= l + 1;
	}
	for (i = 0; i + 1 < np; i++)
		if (part[i] > 255)
			return -1;
	max = 0xffffffffu >> (8 * (np - 1));
	if (part[np - 1] > max)
		return -1;
	a = (uint32_t)part[np - 1];
	for (i = 0; i + 1 < np; i++)
		a |= (uint32_t)part[i] << (24 - 8 * i);
	snprintf(out, outsz, "%u.%u.%u.%u", a >> 24, a >> 16 & 255,
	    a >> 8 & 255, a & 255);
	return 0;
}

/*
 * The canonical form of a request's host (`in`, n bytes, no port; an IPv6
 * literal in its brackets) into out (at least 256 bytes): the one string
 * the rules see and the resolver gets. -1: not a host this proxy takes.
 */
int
egress_host(const char *in, size_t n, char *out, size_t outsz)
{
	char name[256];
	struct in6_addr a6;
	const char *label, *dot;
	size_t i, l;

	if (n < 1 || n >= sizeof name || outsz < sizeof name)
		return -1;
	if (in[0] == '[') {
		if (n < 3 || in[n - 1] != ']')
			return -1;
		memcpy(name, in + 1, n - 2);
		name[n - 2] = '\0';
		/* No zone (fe80::1%eth0): '%' is not in an address. */
		if (inet_pton(AF_INET6, name, &a6) != 1 ||
		    inet_ntop(AF_INET6, &a6, out, (socklen_t)outsz) == NULL)
			return -1;
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '_' || c == '.'))
			return -1; /* no %-escapes, no IDN: a client sends xn-- */
		name[i] = (char)c;
	}
	if (name[n - 1] == '.')
		n--; /* the root: `a.b.` is `a.b` */
	name[n] = '\0';
	if (n == 0 || n > 253)
		return -1;
	for (label = name;; label = dot + 1) {
		dot = memchr(label, '.', n - (size_t)(label - name));
		l = dot ? (size_t)(dot - label) : n - (size_t)(label - name);
		if (l == 0 || l > 63)
			return -1; /* `.a`, `a..b`, `a.b..` */
		if (dot == NULL)
			break;
	}
	/* The last label a number: an IPv4 address, whichever form. */
	if (strspn(label, "0123456789") == l ||
	    (l >= 2 && label[0] == '0' && label[1] == 'x' &&
	        strspn(label + 2, "0123456789abcdef") == l - 2))
		return v4_literal(name, n, out, outsz);
	memcpy(out, name, n + 1);
	return 0;
}

/* Whether an IPv4 address (host order) is one a sandbox must not reach. */
static int
v4_private(uint32_t a)
{
	return (a >> 24) == 0 ||                   /* "this network" */
	    (a >> 24) == 10 || (a >> 24) == 127 || /* private, loopback */
	    (a >> 22) == (100u << 2 | 1) ||        /* 100.64/10 CGNAT */
	    (a >> 16) == (169u << 8 | 254) ||      /* link-local, metadata */
	    (a >> 20) == (172u << 4 | 1) ||        /* 172.16/12 */
	    (a >> 8) == (192u << 16) ||            /* 192.0.0/24 */
	    (a >> 8) == (192u << 16 | 2) ||        /* 192.0.2/24 TEST-NET-1 */
	    (a >> 8) == (192u << 16 | 88 << 8 | 99) ||  /* 6to4 relays */
	    (a >> 16) == (192u << 8 | 168) ||           /* 192.168/16 */
	    (a >> 17) == (198u << 7 | 18 >> 1) ||       /* 198.18/15 */
	    (a >> 8) == (198u << 16 | 51 << 8 | 100) || /* TEST-NET-2 */
	    (a >> 8) == (203u << 16 | 0 << 8 | 113) ||  /* TEST-NET-3 */
	    (a >> 28) >= 14; /* multicast, 240/4, broadcast */
}

static uint32_t
be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/*
 * Whether an address is one a sandbox must not reach by default. IPv6:
 * only global unicast (2000::/3) is reachable, minus its special blocks:
 * 2001::/23 (Teredo, benchmarking, ORCHID, ...), 2001:db8::/32 and
 * 3fff::/20 (documentation); 6to4 (2002::/16) is decided by the IPv4
 * address in it. Outside 2000::/3, IPv4-mapped (::ffff:0:0/96) and NAT64
 * (64:ff9b::/96) are decided by their IPv4 address; everything else --
 * ::, ::1, IPv4-compatible ::/96, IPv4-translated, local-use NAT64
 * 64:ff9b:1::/48, discard 100::/64, ULA, site- and link-local, multicast
 * -- is refused.
 */
int
egress_addr_private(const struct sockaddr *sa)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	const unsigned char *b = v6.sin6_addr.s6_addr;

	if (sa->sa_family == AF_INET) {
		memcpy(&v4, sa, sizeof v4);
		return v4_private(ntohl(v4.sin_addr.s_addr));
	}
	if (sa->sa_family != AF_INET6)
		return 1;
	memcpy(&v6, sa, sizeof v6);
	if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 ||
	    memcmp(b, "\0\x64\xff\x9b\0\0\0\0\0\0\0\0", 12) == 0)
		return v4_private(be32(b + 12));
	if ((b[0] & 0xe0) != 0x20)
		return 1; /* not global unicast */
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_private(be32(b + 2));                 /* 6to4 */
	return (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) || /* 2001::/23 */
	    memcmp(b, "\x20\x01\x0d\xb8", 4) == 0 ||            /* doc */
	    (b[0] == 0x3f && b[1] == 0xff && b[2] < 0x10);      /* 3fff::/20 */
}

/* Split "host[:port]" into t->host (canonical) and t->port. */
static int
split_authority(
    struct egress_target *t, const char *a, size_t n, unsigned dport)
{
	const char *colon = NULL, *end;
	size_t hl, i;
	unsigned port = 0;

	if (n > 0 && a[0] == '[') {
		if ((end = memchr(a, ']', n)) == NULL)
			return -1;
		hl = (size_t)(end - a) + 1;
		if (hl < n && a[hl] != ':')
			return -1;
		colon = hl < n ? a + hl : NULL;
	} else {
		colon = memchr(a, ':', n);
		hl = colon ? (size_t)(colon - a) : n;
	}
	if (egress_host(a, hl, t->host, sizeof t->host) == -1)
		return -1;
	if (colon == NULL)
		port = dport;
	else {
		if (n - hl < 2 || n - hl > 6)
			return -1;
		for (i = hl + 1; i < n; i++) {
			if (a[i] < '0' || a[i] > '9')
				return -1;
			port = port * 10 + (unsigned)(a[i] - '0');
		}
	}
	if (port == 0 || port > 65535)
		return -1;
	snprintf(t->port, sizeof t->port, "%u", port);
	return 0;
}

/* Whether a head's bytes are lines, each ending in CRLF, without NUL. */
static int
lines_clean(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			return 0;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n';
}

/* A field value without its surrounding spaces and tabs. */
static void
field_value(const char *line, size_t n, const char **v, size_t *vl)
{
	const char *s = (const char *)memchr(line, ':', n) + 1, *e = line + n;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*v = s;
	*vl = (size_t)(e - s);
}

static int
field_is(const char *line, size_t nl, const char *name)
{
	size_t l = strlen(name);

	return nl == l && strncasecmp(line, name, l) == 0;
}

/*
 * The header fields of a head (`p`, n bytes of CRLF lines): each checked,
 * the body's framing read into *body, and for plain HTTP (request != NULL)
 * the fields that go upstream appended.
 */
static int
parse_fields(const char *p, size_t n, int http10, struct buf *request,
    struct egress_body *body, struct err **errp)
{
	const char *line, *next, *v;
	size_t ll, nl, vl, i;
	int cl = 0, te = 0;
	uint64_t len = 0;

	for (line = p; line < p + n; line = next) {
		next = (const char *)memmem(
		           line, (size_t)(p + n - line), "\r\n", 2) +
		    2;
		ll = (size_t)(next - line) - 2;
		for (nl = 0; nl < ll && tchar((unsigned char)line[nl]); nl++)
			;
		if (nl == 0 || nl == ll || line[nl] != ':')
			return err_set(errp, ERR_INVALID,
			    "a header line is not `Name: value` (folded, or a space before the colon)");
		for (i = nl + 1; i < ll; i++)
			if (((unsigned char)line[i] < 0x20 &&
			        line[i] != '\t') ||
			    line[i] == 0x7f)
				return err_set(errp, ERR_INVALID,
				    "a control character in a header value");
		field_value(line, ll, &v, &vl);
		if (field_is(line, nl, "content-length")) {
			if (cl++ || vl == 0 || vl > 18 ||
			    strspn(v, "0123456789") < vl)
				return err_set(errp, ERR_INVALID,
				    "Content-Length must be one decimal number");
			for (len = 0, i = 0; i < vl; i++)
				len = len * 10 + (uint64_t)(v[i] - '0');
		} else if (field_is(line, nl, "transfer-encoding")) {
			if (te++ || http10 || vl != 7 ||
			    strncasecmp(v, "chunked", 7) != 0)
				return err_set(errp, ERR_INVALID,
				    "the only transfer coding taken is one `chunked` (HTTP/1.1)");
		}
		if (request == NULL || field_is(line, nl, "host") ||
		    field_is(line, nl, "connection") ||
		    field_is(line, nl, "keep-alive") ||
		    field_is(line, nl, "upgrade") ||
		    (nl > 6 && strncasecmp(line, "proxy-", 6) == 0))
			continue; /* hop-by-hop, or replaced */
		buf_add(request, line, ll + 2);
	}
	if (cl && te)
		return err_set(errp, ERR_INVALID,
		    "both Content-Length and Transfer-Encoding");
	memset(body, 0, sizeof *body);
	body->state = te ? EGRESS_BODY_SIZE
	    : len > 0    ? EGRESS_BODY_LENGTH
	                 : EGRESS_BODY_DONE;
	body->left = len;
	return 0;
}

/*
 * Parse a proxy request head: `p` holds its lines, `end` is where its
 * blank line starts (p[end..end+4) is CRLF CRLF). Fills the target, and
 * for plain HTTP the request as upstream gets it (origin-form, Host the
 * checked host, no hop-by-hop fields, `Connection: close`) and where its
 * body ends. -1 (with why) if this proxy does not take it.
 */
int
egress_parse(const char *p, size_t end, struct egress_target *t,
    struct buf *request, struct egress_body *body, struct err **errp)
{
	const char *eol, *sp1, *sp2, *target, *path;
	size_t tl, ml, hn = end + 2;
	int http10;

	memset(t, 0, sizeof *t);
	memset(body, 0, sizeof *body);
	if (!lines_clean(p, hn))
		return err_set(errp, ERR_INVALID,
		    "a NUL, CR or LF outside a CRLF line end in the request");
	eol = memmem(p, hn, "\r\n", 2);
	for (ml = 0; p + ml < eol && p[ml] >= 'A' && p[ml] <= 'Z'; ml++)
		;
	sp1 = p + ml;
	if (ml == 0 || ml >= sizeof t->method || sp1 == eol || *sp1 != ' ')
		goto notproxy;
	memcpy(t->method, p, ml);
	for (sp2 = sp1 + 1; sp2<eol && * sp2> ' ' && *sp2 < 0x7f; sp2++)
		;
	if (eol - sp2 != 9 || sp2 == sp1 + 1 ||
	    (memcmp(sp2, " HTTP/1.1", 9) != 0 &&
	        memcmp(sp2, " HTTP/1.0", 9) != 0))
		goto notproxy;
	http10 = sp2[8] == '0';
	target = sp1 + 1, tl = (size_t)(sp2 - target);
	if (ml == 7 && memcmp(p, "CONNECT", 7) == 0) {
		t->tunnel = 1;
		if (split_authority(t, target, tl, 443) == -1)
			goto badhost;
		/* Checked, not forwarded; what follows is the tunnel. */
		if (parse_fields(eol + 2, hn - (size_t)(eol + 2 - p), http10,
		        NULL, body, errp) == -1)
			return -1;
		body->state = EGRESS_BODY_DONE;
		return 0;
	}
	if (tl < 8 || strncasecmp(target, "http://", 7) != 0 ||
	    memchr(target, '#', tl) != NULL)
		goto notproxy;
	target += 7, tl -= 7;
	for (path = target; path < target + tl && *path != '/' && *path != '?';
	     path++)
		;
	if (split_authority(t, target, (size_t)(path - target), 80) == -1)
		goto badhost;
	buf_add(request, p, ml + 1);
	if (path == target + tl || *path == '?')
		buf_addstr(request, "/");
	buf_add(request, path, (size_t)(target + tl - path));
	buf_add(request, sp2, 11);
	/* The Host field names the host that was checked: no fronting. */
	buf_printf(request, "Host: %s%s%s%s%s\r\n",
	    strchr(t->host, ':') ? "[" : "", t->host,
	    strchr(t->host, ':') ? "]" : "", strcmp(t->port, "80") ? ":" : "",
	    strcmp(t->port, "80") ? t->port : "");
	if (parse_fields(eol + 2, hn - (size_t)(eol + 2 - p), http10, request,
	        body, errp) == -1)
		return -1;
	buf_addstr(request, "Connection: close\r\n\r\n");
	return 0;
notproxy:
	return err_set(errp, ERR_INVALID,
	    "the filtered network takes proxy requests only (HTTP_PROXY/HTTPS_PROXY): `CONNECT host:port` or an absolute http:// URI");
badhost:
	return err_set(errp, ERR_INVALID,
	    "not a host name, IPv4 or [IPv6] address with a port 1-65535");
}

/* One byte of a chunked body's framing (not of its data). */
static int
chunk_byte(struct egress_body *b, unsigned char c)
{
	int d;

	switch (b->state) {
	case EGRESS_BODY_SIZE: /* 1*HEXDIG */
		if ((d = hexval(c)) >= 0 && b->line < 15) {
			b->left = b->left * 16 + (unsigned)d;
			b->line++;
			return 0;
		}
		if (b->line == 0 || d >= 0)
			return -1; /* no digits, or over 15 of them */
		if (c == '\r')
			b->state = EGRESS_BODY_SIZE_LF;
		else if (c == ';')
			b->state = EGRESS_BODY_EXT;
		else
			return -1; /* not even a space: one reading only */
		return 0;
	case EGRESS_BODY_EXT: /* chunk extensions: anything on the line */
		if (++b->line > CHUNK_LINE_MAX || c == '\n' || c == '\0')
			return -1;
		if (c == '\r')
			b->state = EGRESS_BODY_SIZE_LF;
		return 0;
	case EGRESS_BODY_SIZE_LF:
		if (c != '\n')
			return -1;
		b->line = 0;
		b->state = b->left > 0 ? EGRESS_BODY_DATA : EGRESS_BODY_TRAILER;
		return 0;
	case EGRESS_BODY_DATA_CR:
		b->state = EGRESS_BODY_DATA_LF;
		return c == '\r' ? 0 : -1;
	case EGRESS_BODY_DATA_LF:
		b->state = EGRESS_BODY_SIZE;
		return c == '\n' ? 0 : -1;
	case EGRESS_BODY_TRAILER: /* a trailer line, or the blank end */
		if (++b->trailers > TRAILERS_MAX || c == '\n' || c == '\0')
			return -1;
		if (c == '\r')
			b->state = b->line == 0 ? EGRESS_BODY_END_LF
			                        : EGRESS_BODY_TRAILER_LF;
		else
			b->line++;
		return 0;
	case EGRESS_BODY_TRAILER_LF:
		b->line = 0;
		b->state = EGRESS_BODY_TRAILER;
		return c == '\n' ? 0 : -1;
	case EGRESS_BODY_END_LF:
		b->state = EGRESS_BODY_DONE;
		return c == '\n' ? 0 : -1;
	default:
		return -1;
	}
}

/*
 * Feed bytes that follow a request head: how many of them belong to the
 * request (the rest is not forwarded), or -1 if a chunked body is
 * malformed. The request is complete when b->state is EGRESS_BODY_DONE.
 */
long
egress_body_feed(struct egress_body *b, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i = 0, take;

	if (b->state == EGRESS_BODY_EOF)
		return (long)n; /* until upstream's end */
	while (i < n && b->state != EGRESS_BODY_DONE) {
		if (b->state == EGRESS_BODY_LENGTH ||
		    b->state == EGRESS_BODY_DATA) {
			take = n - i < b->left ? n - i : (size_t)b->left;
			i += take;
			b->left -= take;
			if (b->left == 0)
				b->state = b->state == EGRESS_BODY_LENGTH
				    ? EGRESS_BODY_DONE
				    : EGRESS_BODY_DATA_CR;
			continue;
		}
		if (chunk_byte(b, p[i++]) == -1)
			return -1;
	}
	return (long)i;
}

/*
 * Where an answer's body ends (RFC 9112 6.3): none after HEAD, 204 or 304;
 * chunked when that is the last transfer coding; else one valid
 * Content-Length; else -- none given, or two that disagree -- at
 * upstream's end.
 */
static void
answer_framing(const char *p, size_t hn, int head_request, int status,
    struct egress_body *body)
{
	const char *line, *next, *v;
	size_t nl, vl, i;
	int cl = 0, te = 0;
	uint64_t len = 0;

	memset(body, 0, sizeof *body);
	if (head_request || status == 204 || status == 304)
		return; /* EGRESS_BODY_DONE */
	for (line = (const char *)memmem(p, hn, "\r\n", 2) + 2; line < p + hn;
	     line = next) {
		next = (const char *)memmem(
		           line, (size_t)(p + hn - line), "\r\n", 2) +
		    2;
		for (nl = 0; line + nl < next && tchar((unsigned char)line[nl]);
		     nl++)
			;
		if (line[nl] != ':')
			continue;
		field_value(line, (size_t)(next - line) - 2, &v, &vl);
		if (field_is(line, nl, "transfer-encoding"))
			te = vl >= 7 &&
			        strncasecmp(v + vl - 7, "chunked", 7) == 0 &&
			        (vl == 7 || v[vl - 8] == ',' ||
			            v[vl - 8] == ' ')
			    ? 1
			    : -1;
		else if (field_is(line, nl, "content-length")) {
			for (len = 0, i = 0;
			     i < vl && i < 18 && v[i] >= '0' && v[i] <= '9';
			     i++)
				len = len * 10 + (uint64_t)(v[i] - '0');
			cl = cl == 0 && vl > 0 && i == vl ? 1 : -1;
		}
	}
	if (te == 1)
		body->state = EGRESS_BODY_SIZE;
	else if (te == 0 && cl == 1)
		body->state = len > 0 ? EGRESS_BODY_LENGTH : EGRESS_BODY_DONE;
	else
		body->state = EGRESS_BODY_EOF;
	body->left = te == 0 && cl == 1 ? len : 0;
}

/*
 * The head of an answer (`p`, its blank line at `end`) as the program gets
 * it: Connection, Keep-Alive and Proxy-Connection replaced by
 * `Connection: close`; *body says where the answer ends. 1: an interim
 * (1xx) head, passed as it is, another follows; 0: rewritten; -1: not an
 * HTTP/1.x head (pass it, and the rest, as they are).
 */
int
egress_response_head(const char *p, size_t end, int head_request,
    struct buf *out, struct egress_body *body)
{
	const char *eol, *line, *next;
	size_t hn = end + 2, nl;

	body->state = EGRESS_BODY_EOF;
	if (!lines_clean(p, hn) || hn < 14 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    strspn(p + 9, "0123456789") != 3 || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	if (p[9] == '1' && memcmp(p + 9, "101", 3) != 0) {
		buf_add(out, p, end + 4);
		return 1;
	}
	eol = memmem(p, hn, "\r\n", 2);
	buf_add(out, p, (size_t)(eol + 2 - p));
	for (line = eol + 2; line < p + hn; line = next) {
		next = (const char *)memmem(
		           line, (size_t)(p + hn - line), "\r\n", 2) +
		    2;
		for (nl = 0; line + nl < next && line[nl] != ':'; nl++)
			;
		if (!field_is(line, nl, "connection") &&
		    !field_is(line, nl, "keep-alive") &&
		    !field_is(line, nl, "proxy-connection"))
			buf_add(out, line, (size_t)(next - line));
	}
	buf_addstr(out, "Connection: close\r\n\r\n");
	if (memcmp(p + 9, "101", 3) != 0)
		answer_framing(p, hn, head_request,
		    (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'),
		    body);
	return 0;
}
