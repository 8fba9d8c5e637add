/*
 * Encoding and decoding of agent frames and TLV payloads. Decoders never
 * allocate: strings are returned as pointers into the payload after checking
 * that each ends with its only NUL. Any bound violated makes the whole
 * payload invalid (-1).
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
proto_buf_add(struct proto_buf *b, const void *data, size_t len)
{
	size_t cap;

	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		if ((b->data = realloc(b->data, cap)) == NULL)
			abort();
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void
proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void
proto_buf_drain(struct proto_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Start a frame; returns its offset for proto_frame_end(). */
size_t
proto_frame_begin(struct proto_buf *b, int type)
{
	unsigned char h[PROTO_HDR_LEN] = { (unsigned char)type, 0, 0, 0 };
	size_t at = b->len;

	proto_buf_add(b, h, sizeof h);
	return at;
}

/* Fill in the length of the frame started at `at`. */
void
proto_frame_end(struct proto_buf *b, size_t at)
{
	put_be32(b->data + at + 4, (uint32_t)(b->len - at - PROTO_HDR_LEN));
}

void
proto_frame(struct proto_buf *b, int type, const void *data, size_t len)
{
	size_t at = proto_frame_begin(b, type);

	proto_buf_add(b, data, len);
	proto_frame_end(b, at);
}

void
proto_tlv(struct proto_buf *b, int tag, const void *val, size_t len)
{
	unsigned char h[6] = { (unsigned char)(tag >> 8), (unsigned char)tag };

	put_be32(h + 2, (uint32_t)len);
	proto_buf_add(b, h, sizeof h);
	proto_buf_add(b, val, len);
}

void
proto_tlv_str(struct proto_buf *b, int tag, const char *s)
{
	proto_tlv(b, tag, s, strlen(s) + 1);
}

void
proto_tlv_u64(struct proto_buf *b, int tag, uint64_t v)
{
	unsigned char p[8];

	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
	proto_tlv(b, tag, p, sizeof p);
}

/* Parse a frame header: 0 and the type and length, or -1 when invalid. */
int
proto_header(const unsigned char *h, int *type, uint32_t *len)
{
	if (h[1] || h[2] || h[3])
		return -1;
	*type = h[0];
	*len = get_be32(h + 4);
	return *len > PROTO_MAX_PAYLOAD ? -1 : 0;
}

/* The next TLV record: 1 and the record, 0 at the end, -1 when malformed. */
int
proto_tlv_next(const unsigned char **p, size_t *left, int *tag,
    const unsigned char **val, uint32_t *len)
{
	if (*left == 0)
		return 0;
	if (*left < 6)
		return -1;
	*tag = (*p)[0] << 8 | (*p)[1];
	*len = get_be32(*p + 2);
	if (*len > *left - 6)
		return -1;
	*val = *p + 6;
	*p += 6 + *len;
	*left -= 6 + *len;
	return 1;
}

const char *
proto_str_decode(const unsigned char *val, uint32_t len, int allow_empty)
{
	if (len == 0 || val[len - 1] != '\0' ||
	    memchr(val, '\0', len - 1) != NULL)
		return NULL;
	if (!allow_empty && len == 1)
		return NULL;
	return (const char *)val;
}

int
proto_u64_decode(const unsigned char *val, uint32_t len, int tag, uint64_t *out)
{
	(void)tag;
	if (len != 8)
		return -1;
	*out = (uint64_t)get_be32(val) << 32 | get_be32(val + 4);
	return 0;
}

int
proto_run_decode(const unsigned char *p, uint32_t plen, struct proto_run *r)
{
	const unsigned char *val;
	size_t left = plen;
	uint32_t len;
	uint64_t v;
	int tag, rc;
	const char *s;

	memset(r, 0, sizeof *r);
	while ((rc = proto_tlv_next(&p, &left, &tag, &val, &len)) == 1) {
		switch (tag) {
		case PROTO_T_ARGV:
			if (r->argc == PROTO_MAX_ARGS ||
			    (s = proto_str_decode(val, len, r->argc > 0)) ==
			        NULL)
				return -1;
			r->argv[r->argc++] = s;
			break;
		case PROTO_T_ENV:
			if (r->envc == PROTO_MAX_ENV ||
			    (s = proto_str_decode(val, len, 0)) == NULL ||
			    strchr(s, '=') == NULL)
				return -1;
			r->env[r->envc++] = s;
			break;
		case PROTO_T_CWD:
			if ((r->cwd = proto_str_decode(val, len, 0)) == NULL)
				return -1;
			break;
		case PROTO_T_OUTPUT:
			if (r->noutputs == PROTO_MAX_OUTPUTS ||
			    (s = proto_str_decode(val, len, 0)) == NULL)
				return -1;
			r->outputs[r->noutputs++] = s;
			break;
		case PROTO_T_KERNEL:
			if (r->kernelc == PROTO_MAX_KERNEL_ARGS ||
			    (s = proto_str_decode(val, len, r->kernelc > 0)) ==
			        NULL)
				return -1;
			r->kernel[r->kernelc++] = s;
			break;
		case PROTO_T_MAX_SIZE:
			if (proto_u64_decode(val, len, tag, &r->output_max) ==
			    -1)
				return -1;
			break;
		case PROTO_T_SECRET:
			if (r->secretc == PROTO_MAX_ENV ||
			    (s = proto_str_decode(val, len, 0)) == NULL)
				return -1;
			r->secrets[r->secretc++] = s;
			break;
		case PROTO_T_PROXY:
			if (proto_u64_decode(val, len, tag, &r->proxy_port) ==
			        -1 ||
			    r->proxy_port > 65535)
				return -1;
			break;
		case PROTO_T_TIMEOUT_MS:
		case PROTO_T_OUTPUT_CAP:
		case PROTO_T_STDIN:
		case PROTO_T_ONESHOT:
			if (proto_u64_decode(val, len, tag, &v) == -1)
				return -1;
			if (tag == PROTO_T_TIMEOUT_MS)
				r->timeout_ms = v;
			else if (tag == PROTO_T_OUTPUT_CAP)
				r->output_cap = v;
			else if (tag == PROTO_T_STDIN)
				r->stdin_pipe = v != 0;
			else
				r->oneshot = v != 0;
			break;
		default:
			break; /* unknown tags are skipped: newer hosts */
		}
	}
	if (rc == -1 || r->argc == 0)
		return -1;
	r->argv[r->argc] = NULL;
	r->env[r->envc] = NULL;
	r->outputs[r->noutputs] = NULL;
	r->kernel[r->kernelc] = NULL;
	r->secrets[r->secretc] = NULL;
	return 0;
}

int
proto_exit_decode(const unsigned char *p, uint32_t plen, struct proto_exit *e)
{
	const unsigned char *val;
	size_t left = plen;
	uint32_t len;
	uint64_t v;
	int tag, rc, seen = 0;

	memset(e, 0, sizeof *e);
	while ((rc = proto_tlv_next(&p, &left, &tag, &val, &len)) == 1) {
		if (tag < PROTO_T_EXIT_CODE || tag > PROTO_T_FLAGS)
			continue;
		if (proto_u64_decode(val, len, tag, &v) == -1)
			return -1;
		switch (tag) {
		case PROTO_T_EXIT_CODE:
			e->exit_code = (int64_t)v;
			seen = 1;
			break;
		case PROTO_T_SIGNAL:
			e->signal = (int64_t)v;
			break;
		case PROTO_T_WALL_MS:
			e->wall_ms = v;
			break;
		case PROTO_T_CPU_MS:
			e->cpu_ms = v;
			break;
		case PROTO_T_MAXRSS_KB:
			e->maxrss_kb = v;
			break;
		case PROTO_T_FLAGS:
			e->flags = v;
			break;
		}
	}
	return rc == -1 || !seen ? -1 : 0;
}

int
proto_file_decode(const unsigned char *p, uint32_t plen, struct proto_file *f)
{
	const unsigned char *val;
	size_t left = plen;
	uint32_t len;
	uint64_t v;
	int tag, rc;

	memset(f, 0, sizeof *f);
	f->mode = 0644;
	while ((rc = proto_tlv_next(&p, &left, &tag, &val, &len)) == 1) {
		switch (tag) {
		case PROTO_T_PATH:
			if ((f->path = proto_str_decode(val, len, 0)) == NULL)
				return -1;
			break;
		case PROTO_T_MSG:
			if ((f->msg = proto_str_decode(val, len, 1)) == NULL)
				return -1;
			break;
		case PROTO_T_DATA:
			f->data = val;
			f->len = len;
			break;
		case PROTO_T_MODE:
		case PROTO_T_APPEND:
		case PROTO_T_END:
		case PROTO_T_MAX_SIZE:
			if (proto_u64_decode(val, len, tag, &v) == -1)
				return -1;
			if (tag == PROTO_T_MODE)
				f->mode = v & 0777;
			else if (tag == PROTO_T_APPEND)
				f->append = v != 0;
			else if (tag == PROTO_T_END)
				f->end = v != 0;
			else
				f->max_size = v;
			break;
		}
	}
	return rc == -1 ? -1 : 0;
}

/* A CONN_* frame: the connection's id (4 bytes, big-endian), then bytes. */
void
proto_conn_frame(
    struct proto_buf *b, int type, uint32_t id, const void *data, size_t len)
{
	unsigned char h[4];
	size_t at = proto_frame_begin(b, type);

	put_be32(h, id);
	proto_buf_add(b, h, sizeof h);
	proto_buf_add(b, data, len);
	proto_frame_end(b, at);
}

/* The id of a CONN_* payload; its bytes follow at offset 4. -1: too short. */
int
proto_conn_decode(const unsigned char *p, uint32_t len, uint32_t *id)
{
	if (len < 4)
		return -1;
	*id = get_be32(p);
	return 0;
}
