/*
 * The agent's internal interface: agent.c (PID 1: the host's frames and
 * the poll loop) drives run.c (the one run at a time), which uses
 * sandbox.c (the sandbox user, confined paths, its processes, clock and
 * descriptors), kernel.c (session interpreters) and files.c (file
 * transfers); scrub.c and relay.c serve agent.c. Host and agent share only
 * proto.h.
 */
#ifndef ISOL8_AGENT_H
#define ISOL8_AGENT_H

#include <sys/types.h>
#include <dirent.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SANDBOX_UID 1000
#define SANDBOX_GID 1000
#define SANDBOX_MAX_FDS 8
#define FILE_MAX (256ull << 20) /* one file sent back to the host */
#define QUEUE_HIGH (1u << 20)   /* stop reading a producer beyond this */
#define READ_CHUNK (64u << 10)

struct kernel;

/* A moment that may be unset: never "0 means none". */
struct deadline {
	int set;
	uint64_t at;
};

#define DEADLINE_NEVER ((struct deadline){ 0, 0 })

/* agent.c */
void agent_error(struct proto_buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* sandbox.c */
void agent_log(const char *, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);
struct deadline deadline_at(uint64_t);
struct deadline deadline_min(struct deadline, struct deadline);
int deadline_passed(struct deadline, uint64_t);
int deadline_poll_ms(struct deadline, uint64_t);
void set_nonblock(int);
void close_fd(int *);
void as_sandbox(int);
int open_confined(const char *, int, mode_t, int);
int sandbox_next_pid(DIR *, int);
int sandbox_alive(const struct kernel *);
void sandbox_exec(const char *const *, const char *const *, const char *,
    const int *, int) __attribute__((noreturn));

/* run.c: the one run at a time (docs/architecture.md, "The agent's run") */
#define RUN_POLLFDS 4
typedef void (*run_over_cb)(int);

void run_init(struct proto_buf *, run_over_cb);
int run_active(void);
void run_request(const unsigned char *, uint32_t);
void run_stdin(const unsigned char *, uint32_t);
void run_stdin_eof(void);
void run_signal(const unsigned char *, uint32_t);
void run_abandon(void);
void run_reap(void);
int run_stdin_full(void);
int run_poll(struct pollfd *, int);
void run_events(const struct pollfd *);
void run_step(void);
struct deadline run_deadline(void);

/* files.c: PUT_FILE, GET_FILE and a run's output files */
void file_put(struct proto_buf *, const unsigned char *, uint32_t);
void file_get(struct proto_buf *, const unsigned char *, uint32_t);
void file_send_outputs(struct proto_buf *, char *const *, int, uint64_t);

/* kernel.c: one long-lived interpreter per runtime in a session */
struct kernel_reply { /* what a run's kernel said; kernel_read() only adds */
	int started;  /* the kernel has opened this run's stdin */
	int done;     /* the run's code is over */
	int code;     /* its exit code, when done */
	int idle;     /* the kernel is back in its loop */
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
