/*
 * A fake dockerd on a Unix socket, for fault injection only: the real
 * dockerd is the integration target (tests/docker). Each connection is
 * answered according to the mode. In FAKE_SIM mode it simulates dockerd's
 * container API and, behind each attach, isol8-agent, whose runs follow
 * scripts the test chooses (struct fake_script). The fake never raises
 * SIGPIPE: a SIGPIPE in a test is the library's.
 */
#ifndef ISOL8_FAKE_DOCKERD_H
#define ISOL8_FAKE_DOCKERD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

enum fake_mode {
	FAKE_OK,               /* 200 {} */
	FAKE_500,              /* 500 {"message":"boom"} */
	FAKE_STALL,            /* read the request, never answer */
	FAKE_RESET,            /* close at once, with RST */
	FAKE_ATTACH_TRUNCATED, /* 101, then half a frame, then EOF */
	FAKE_ATTACH_BAD_FRAME, /* 101, then a bad stdcopy header */
	FAKE_ATTACH_OK,        /* 101, a stdout frame "hi", EOF */
	FAKE_ENDLESS,          /* 200, a chunked body of FAKE_ENDLESS_MAX bytes,
			   written only as fast as the client reads */
	FAKE_HALF_BODY, /* 200, 10 bytes of a 100-byte body, then silence */
	FAKE_SIM,       /* a tiny dockerd: see struct fake_sim */
};

#define FAKE_ENDLESS_MAX (64u << 20)

/* What the simulated agent reports in every EXIT, besides the script's. */
#define FAKE_WALL_MS 11
#define FAKE_CPU_MS 9
#define FAKE_RSS_KB 7780

/* What the simulated agent does with a RUN. */
enum fake_act {
	FAKE_RUN_EXIT,       /* OUT `out`, ERR `err`, then EXIT */
	FAKE_RUN_ECHO,       /* each STDIN back as OUT; EXIT at STDIN_EOF */
	FAKE_RUN_HANG,       /* never answer */
	FAKE_RUN_FLOOD,      /* `flood` bytes, OUT and ERR frames of 4 KiB
	                        in turn, then EXIT (the flags as given: no
	                        TRUNCATED unless the script says so) */
	FAKE_RUN_CLOSE,      /* OUT `out`, then the attach ends (it died) */
	FAKE_RUN_BAD_EXIT,   /* an EXIT whose EXIT_CODE is 4 bytes long */
	FAKE_RUN_BAD_HEADER, /* a frame header with non-zero padding */
	FAKE_RUN_UNKNOWN,    /* a frame of unknown type, then as EXIT */
	FAKE_RUN_FILE,       /* a FILE frame nobody asked for */
	FAKE_RUN_ERROR,      /* ERROR{MSG `err`} */
};

/*
 * A run's script, chosen by the RUN frame's last ARGV (`cmd` of a request
 * with req.cmd); a RUN that matches none hangs, as the fake always did.
 */
struct fake_script {
	const char *cmd;
	enum fake_act act;
	const char *out;
	const char *err;
	int64_t exit_code;
	int64_t signal;
	uint64_t flags; /* PROTO_F_* */
	size_t flood;
};

/*
 * FAKE_SIM: creates answer after create_delay_ms (or 500 when
 * fail_creates; 409 for a name in use), starts succeed, deletes remove
 * the container and end its attaches, inspect knows what was created
 * (labels kind and limits: enough for sessions), the list returns the
 * warm names, renames succeed once per warm name (then 404). An attach
 * speaks the agent protocol: READY to HELLO (busy for warm ones when
 * agent_busy, nothing when agent_silent; the first vanish_on_hello
 * attaches end there instead, as when dockerd dies while a container
 * starts, and the count goes down), OK to each last PUT_FILE chunk
 * (unless put_file_silent) and to SCRUB, RUN as scripted, STDIN and
 * SIGNAL recorded. The agent exits -- and its container goes, as with
 * AutoRemove -- after a one-shot run's EXIT, at BYE and when a script
 * dies; fake_dockerd_live() counts the containers still there. /_ping
 * answers 200 OK. A run whose stream ends as when dockerd dies during it
 * is a FAKE_RUN_CLOSE script. The other *_delay_ms hold an answer (an
 * attach's upgrade) that long, to catch a client in the state that waits
 * for it; 0 answers at once. busy_sessions: the agents of session
 * containers answer busy, as when another process holds the session;
 * scrub_silent: no OK to SCRUB (a scrub still going on).
 */
struct fake_sim {
	int create_delay_ms;
	int start_delay_ms;
	int attach_delay_ms;
	int list_delay_ms;
	int rename_delay_ms;
	int inspect_delay_ms;
	int fail_creates;
	int agent_busy;
	int busy_sessions;
	int agent_silent;
	int put_file_silent;
	int scrub_silent;
	int vanish_on_hello;
	const char *warm[8];               /* unclaimed warm containers */
	const struct fake_script *scripts; /* ends with a NULL cmd */
	/* counters, read by the test */
	int creates;
	int creates_inflight;
	int max_creates_inflight;
	int conflicts;
	int inspects;
	int starts;
	int lists;
	int renames_ok;
	int renames_404;
	int attaches;
	int deletes;
	int hellos;
	int put_files;
	int runs;
	uint64_t run_timeout_ms; /* of the last RUN */
	uint64_t run_output_cap;
	uint64_t run_oneshot;
	uint64_t run_stdin;
	size_t stdin_bytes;
	int stdin_eofs;
	int signals;
	uint64_t last_signo;
	uint64_t last_grace_ms;
	int scrubs;
	int byes;
	int bad_frames; /* from the host: the attach was closed */
	int pings;
};

struct fake_dockerd;
struct fake_dockerd *fake_dockerd_new(struct event_base *, enum fake_mode);
void fake_dockerd_mode(struct fake_dockerd *, enum fake_mode);
const char *fake_dockerd_host(struct fake_dockerd *);
const char *fake_dockerd_path(struct fake_dockerd *);
int fake_dockerd_requests(struct fake_dockerd *);
size_t fake_dockerd_sent(struct fake_dockerd *);
struct fake_sim *fake_dockerd_sim(struct fake_dockerd *);
int fake_dockerd_live(struct fake_dockerd *);
int fake_dockerd_deleted(struct fake_dockerd *, const char *);
/* Like dockerd killed: every connection closes, the socket file stays
 * and refuses connections; up: listening again on the same path. */
void fake_dockerd_down(struct fake_dockerd *);
void fake_dockerd_up(struct fake_dockerd *);
void fake_dockerd_free(struct fake_dockerd *);

#endif
