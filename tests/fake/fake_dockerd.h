/*
 * A fake dockerd on a Unix socket, for fault injection only: the real
 * dockerd is the integration target (tests/docker). Each connection is
 * answered according to the mode.
 */
#ifndef ISOL8_FAKE_DOCKERD_H
#define ISOL8_FAKE_DOCKERD_H

#include <event2/event.h>

enum fake_mode {
	FAKE_OK,               /* 200 {} */
	FAKE_500,              /* 500 {"message":"boom"} */
	FAKE_STALL,            /* read the request, never answer */
	FAKE_RESET,            /* close at once, with RST */
	FAKE_ATTACH_TRUNCATED, /* 101, then half a frame, then EOF */
	FAKE_ATTACH_BAD_FRAME, /* 101, then a bad stdcopy header */
	FAKE_ATTACH_OK,        /* 101, a stdout frame "hi", EOF */
	FAKE_SIM,              /* a tiny dockerd: see struct fake_sim */
};

/*
 * FAKE_SIM: creates answer after create_delay_ms (or 500 when
 * fail_creates), starts and deletes succeed, the list returns the warm
 * names, renames succeed once per warm name (then 404), and an attach
 * answers as an agent would: READY to HELLO (busy for warm ones when
 * agent_busy), OK to PUT_FILE, and to RUN a stdout "ok\n" and EXIT 0 --
 * or, with vanish_on_run, nothing: the connection closes, as when dockerd
 * dies during a run. The first vanish_on_hello attached streams close at
 * HELLO instead, as when dockerd dies while a container starts.
 */
struct fake_sim {
	int create_delay_ms;
	int fail_creates;
	int agent_busy;
	int vanish_on_run;
	int vanish_on_hello;
	const char *warm[8]; /* names of unclaimed warm containers */
	/* counters, read by the test */
	int creates;
	int creates_inflight;
	int max_creates_inflight;
	int renames_ok;
	int renames_404;
	int attaches;
	int deletes;
	int runs;
	int pings;
};

struct fake_dockerd;
struct fake_dockerd *fake_dockerd_new(struct event_base *, enum fake_mode);
void fake_dockerd_mode(struct fake_dockerd *, enum fake_mode);
const char *fake_dockerd_host(struct fake_dockerd *);
int fake_dockerd_requests(struct fake_dockerd *);
struct fake_sim *fake_dockerd_sim(struct fake_dockerd *);
/* Like dockerd killed: every connection closes, the socket file stays
 * and refuses; up: listening again on the same path. */
void fake_dockerd_down(struct fake_dockerd *);
void fake_dockerd_up(struct fake_dockerd *);
void fake_dockerd_free(struct fake_dockerd *);

#endif
