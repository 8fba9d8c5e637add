/*
 * The agent's internal interface: sandbox.c (the sandbox user, confined
 * paths, descriptors) and kernel.c (session interpreters) as agent.c uses
 * them. Host and agent share only proto.h.
 */
#ifndef ISOL8_AGENT_H
#define ISOL8_AGENT_H

#include <sys/types.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SANDBOX_UID 1000
#define SANDBOX_GID 1000
#define SANDBOX_MAX_FDS 8

/* sandbox.c */
void agent_log(const char *, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);
void set_nonblock(int);
void close_fd(int *);
void as_sandbox(int);
int open_confined(const char *, int, mode_t, int);
void sandbox_exec(const char *const *, const char *const *, const char *,
    const int *, int) __attribute__((noreturn));

/* kernel.c: one long-lived interpreter per runtime in a session */
struct kernel;

struct kernel_reply {
	int started;          /* the kernel has opened this run's stdin */
	int done;             /* the run's code is over */
	int code;             /* its exit code, when done */
	int idle;             /* the kernel is back in its loop */
	const char *tampered; /* not the reply due: what it was */
};

struct kernel *kernel_get(const struct proto_run *, int *, char *, size_t);
void kernel_discard(struct kernel *);
int kernel_request(struct kernel *, const char *, const struct proto_run *);
int kernel_read(struct kernel *, struct kernel_reply *);
struct kernel *kernel_of(pid_t);
pid_t kernel_pid(const struct kernel *);
int kernel_reply_fd(const struct kernel *);
int *kernel_out_fd(struct kernel *, int);
void kernel_died(struct kernel *, int);
void kernel_stop(struct kernel *);
int kernel_spared(pid_t, const struct kernel *);
int kernel_others(const struct kernel *);
void kernel_continue(const struct kernel *);
uint64_t kernel_cpu_ms(const struct kernel *);
uint64_t kernel_maxrss_kb(const struct kernel *);

/* scrub.c: a reused container made as a fresh one */
void scrub_init(void);
int scrub_files(char *, size_t);
int scrub_ipc(char *, size_t);

/* relay.c: the filtered network's connections, relayed to the host */
#define RELAY_POLLFDS 65
void relay_init(void);
int relay_listen(unsigned);
void relay_stop(void);
int relay_full(void);
int relay_poll(struct pollfd *, int);
void relay_events(const struct pollfd *, struct proto_buf *);
void relay_frame(int, const unsigned char *, uint32_t);

#endif
