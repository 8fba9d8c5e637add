/*
 * The isol8 agent protocol (docs/agent-protocol.md), shared by the host and
 * the in-container agent; this header and proto.c are all they share.
 *
 * A frame is an 8-byte header -- type, three zero bytes, big-endian payload
 * length -- and the payload. Structured payloads are TLV records: a 2-byte
 * tag, a 4-byte length, the value. Strings carry their NUL; numbers are
 * 8-byte big-endian. Every length is checked against a limit before
 * anything is allocated, on both sides.
 */
#ifndef ISOL8_PROTO_H
#define ISOL8_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 2 /* 2: session kernels (KERNEL, GRACE_MS) */
#define PROTO_HDR_LEN 8
#define PROTO_MAX_PAYLOAD (1u << 20)
#define PROTO_MAX_ARGS 1024
#define PROTO_MAX_ENV 1024
#define PROTO_CHUNK (256u << 10)
#define PROTO_MAX_OUTPUTS 64
#define PROTO_MAX_KERNEL_ARGS 8

enum proto_type {
	/* host -> agent */
	PROTO_HELLO = 0x01, /* NONCE: claim the agent */
	PROTO_RUN = 0x02,   /* ARGV* ENV* CWD TIMEOUT_MS OUTPUT_CAP ... */
	PROTO_STDIN = 0x03, /* raw bytes for the program's stdin */
	PROTO_STDIN_EOF = 0x04,
	PROTO_SIGNAL = 0x05,   /* SIGNO [GRACE_MS]: to the program's group */
	PROTO_PUT_FILE = 0x06, /* PATH MODE DATA [APPEND] [END] */
	PROTO_GET_FILE = 0x07, /* PATH MAX_SIZE */
	PROTO_SCRUB = 0x08,    /* wipe everything the sandbox user left */
	PROTO_BYE = 0x09,      /* exit now */
	/* both ways: the filtered network's connections (ID, then bytes) */
	PROTO_CONN_OPEN = 0x0a,  /* agent: a program connected to the proxy */
	PROTO_CONN_DATA = 0x0b,  /* bytes of one connection */
	PROTO_CONN_CLOSE = 0x0c, /* one side of a connection closed */
	/* agent -> host */
	PROTO_READY = 0x81, /* NONCE VERSION STATUS */
	PROTO_OUT = 0x82,   /* raw stdout bytes */
	PROTO_ERR = 0x83,   /* raw stderr bytes */
	PROTO_EXIT = 0x84, /* EXIT_CODE SIGNAL WALL_MS CPU_MS MAXRSS_KB FLAGS */
	PROTO_FILE = 0x85, /* DATA [END] */
	PROTO_ERROR = 0x86, /* MSG: a request failed, the agent goes on */
	PROTO_OK = 0x87,    /* a PUT_FILE or SCRUB succeeded */
};

enum proto_tag {
	PROTO_T_NONCE = 1,
	PROTO_T_VERSION = 2,
	PROTO_T_STATUS = 3, /* READY: 0 claimed by you, 1 busy */
	PROTO_T_ARGV = 10,
	PROTO_T_ENV = 11,
	PROTO_T_CWD = 12,
	PROTO_T_TIMEOUT_MS = 13,
	PROTO_T_OUTPUT_CAP = 14,
	PROTO_T_STDIN = 15,   /* 1: STDIN frames follow; else /dev/null */
	PROTO_T_ONESHOT = 16, /* 1: exit after this run */
	PROTO_T_OUTPUT = 17,  /* a file to send back (FILE) before EXIT */
	PROTO_T_KERNEL = 18, /* the session kernel's argv: run the code in it */
	PROTO_T_PROXY = 19, /* listen on 127.0.0.1:PROXY for the host's proxy */
	PROTO_T_PATH = 20,
	PROTO_T_MODE = 21,
	PROTO_T_DATA = 22,
	PROTO_T_APPEND = 23,
	PROTO_T_END = 24,
	PROTO_T_MAX_SIZE = 25,
	PROTO_T_SECRET = 26, /* RUN: an ENV name that is a secret (kernels) */
	PROTO_T_EXIT_CODE = 30,
	PROTO_T_SIGNAL = 31,
	PROTO_T_WALL_MS = 32,
	PROTO_T_CPU_MS = 33,
	PROTO_T_MAXRSS_KB = 34,
	PROTO_T_FLAGS = 35,
	PROTO_T_MSG = 36,
	PROTO_T_SIGNO = 37,
	PROTO_T_GRACE_MS = 38, /* SIGNAL: kill the run if still going then */
};

#define PROTO_F_TIMEDOUT 0x1
#define PROTO_F_OOM 0x2
#define PROTO_F_TRUNCATED 0x4
#define PROTO_F_STATE_LOST 0x8 /* the session kernel died in this run */
#define PROTO_F_FRESH 0x10     /* it had died before: a new one ran this */

/* A growable byte buffer for building frames (no util/ in the agent). */
struct proto_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

struct proto_run {
	const char *argv[PROTO_MAX_ARGS + 1];
	int argc;
	const char *env[PROTO_MAX_ENV + 1];
	int envc;
	const char *cwd;
	uint64_t timeout_ms;
	uint64_t output_cap;
	int stdin_pipe;
	int oneshot;
	const char *outputs[PROTO_MAX_OUTPUTS + 1];
	int noutputs;
	uint64_t output_max; /* per output file; 0: the agent's limit */
	const char *kernel[PROTO_MAX_KERNEL_ARGS + 1]; /* session kernel */
	int kernelc;
	uint64_t proxy_port;                    /* 0: no filtered network */
	const char *secrets[PROTO_MAX_ENV + 1]; /* ENV names not to keep */
	int secretc;
};

struct proto_exit {
	int64_t exit_code;
	int64_t signal;
	uint64_t wall_ms;
	uint64_t cpu_ms;
	uint64_t maxrss_kb;
	uint64_t flags;
};

struct proto_file {
	const char *path;
	const char *msg; /* FILE: why it could not be read */
	uint64_t mode;
	const unsigned char *data;
	uint32_t len;
	int append;
	int end;
	uint64_t max_size;
};

void proto_buf_add(struct proto_buf *, const void *, size_t);
void proto_buf_free(struct proto_buf *);
void proto_buf_drain(struct proto_buf *, size_t);
size_t proto_frame_begin(struct proto_buf *, int);
void proto_frame_end(struct proto_buf *, size_t);
void proto_frame(struct proto_buf *, int, const void *, size_t);
void proto_tlv(struct proto_buf *, int, const void *, size_t);
void proto_tlv_str(struct proto_buf *, int, const char *);
void proto_tlv_u64(struct proto_buf *, int, uint64_t);

int proto_header(const unsigned char *, int *, uint32_t *);
int proto_tlv_next(const unsigned char **, size_t *, int *,
    const unsigned char **, uint32_t *);
int proto_run_decode(const unsigned char *, uint32_t, struct proto_run *);
int proto_exit_decode(const unsigned char *, uint32_t, struct proto_exit *);
int proto_file_decode(const unsigned char *, uint32_t, struct proto_file *);
int proto_u64_decode(const unsigned char *, uint32_t, int, uint64_t *);
const char *proto_str_decode(const unsigned char *, uint32_t, int);
void proto_conn_frame(struct proto_buf *, int, uint32_t, const void *, size_t);
int proto_conn_decode(const unsigned char *, uint32_t, uint32_t *);

#endif
