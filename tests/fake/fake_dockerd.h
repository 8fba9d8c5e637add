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
};

struct fake_dockerd;
struct fake_dockerd *fake_dockerd_new(struct event_base *, enum fake_mode);
void fake_dockerd_mode(struct fake_dockerd *, enum fake_mode);
const char *fake_dockerd_host(struct fake_dockerd *);
int fake_dockerd_requests(struct fake_dockerd *);
void fake_dockerd_free(struct fake_dockerd *);

#endif
