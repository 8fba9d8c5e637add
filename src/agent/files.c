/*
 * File transfers between the host and the sandbox: PUT_FILE writes a file
 * (the code, inputs), GET_FILE reads one back as FILE frames, and a run's
 * output files go back the same way before its EXIT (run.c).
 *
 * Invariants: every path is opened through open_confined() as the sandbox
 * user (below /sandbox or /tmp, no `..`, no link followed), non-blocking,
 * and only a regular file is read or written, so nothing user code plants
 * (a FIFO, a link, a directory) can block PID 1 or take it elsewhere; a
 * read never sends more than its limit, even from a file that grows.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define OUTPUTS_MAX (32ull << 20) /* all output files of a run */

/* Write a PUT_FILE chunk; OK after the last one, ERROR if it fails. */
void
file_put(struct proto_buf *out, const unsigned char *payload, uint32_t len)
{
	struct proto_file f;
	struct stat st;
	ssize_t n;
	uint32_t off = 0;
	int fd;

	if (proto_file_decode(payload, len, &f) == -1 || f.path == NULL) {
		agent_error(out, "malformed PUT_FILE frame");
		return;
	}
	/*
	 * Non-blocking: a FIFO planted at the path (a session keeps what a
	 * run left) must not block PID 1 in open(); only a regular file is
	 * written.
	 */
	as_sandbox(1);
	fd = open_confined(f.path,
	    O_WRONLY | O_CREAT | O_NONBLOCK | (f.append ? O_APPEND : O_TRUNC),
	    (mode_t)f.mode, 1);
	as_sandbox(0);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		agent_error(out, "cannot write `%s`: %s", f.path,
		    fd != -1 || errno == ENXIO ? "not a regular file"
		                               : strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	while (off < f.len) {
		n = write(fd, f.data + off, f.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			agent_error(out, "cannot write `%s`: %s", f.path,
			    n == 0 ? "short write" : strerror(errno));
			close(fd);
			return;
		}
		off += (uint32_t)n;
	}
	close(fd);
	if (f.end)
		proto_frame(out, PROTO_OK, NULL, 0);
}

/*
 * Open `path` to send it, if it is a regular file of at most `max` bytes;
 * -1 with the reason in `msg` if not.
 */
static int
file_open(const char *path, uint64_t max, char *msg, size_t len)
{
	struct stat st;
	int fd;

	as_sandbox(1);
	fd = open_confined(path, O_RDONLY | O_NONBLOCK, 0, 0);
	as_sandbox(0);
	if (fd == -1) {
		snprintf(
		    msg, len, "cannot read `%s`: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		snprintf(
		    msg, len, "cannot read `%s`: not a regular file", path);
	else if ((uint64_t)st.st_size > max)
		snprintf(msg, len,
		    "cannot read `%s`: %lld bytes is over the %llu-byte limit",
		    path, (long long)st.st_size, (unsigned long long)max);
	else
		return fd;
	close(fd);
	return -1;
}

/*
 * Send a file as FILE frames (DATA chunks, END on the last). For a
 * GET_FILE a failure is an ERROR frame; for a run's output file
 * (`tagged`) every frame carries PATH and a failure is a FILE with MSG, so
 * one missing output does not fail the run. Returns the bytes sent.
 */
static uint64_t
file_send(struct proto_buf *out, const char *path, uint64_t max, int tagged)
{
	unsigned char *chunk;
	char msg[256];
	uint64_t sent = 0;
	ssize_t n;
	size_t at;
	int fd;

	if ((fd = file_open(path, max, msg, sizeof msg)) == -1) {
		if (!tagged) {
			agent_error(out, "%s", msg);
			return 0;
		}
		at = proto_frame_begin(out, PROTO_FILE);
		proto_tlv_str(out, PROTO_T_PATH, path);
		proto_tlv_str(out, PROTO_T_MSG, msg);
		proto_tlv_u64(out, PROTO_T_END, 1);
		proto_frame_end(out, at);
		return 0;
	}
	if ((chunk = malloc(PROTO_CHUNK)) == NULL)
		abort();
	for (;;) {
		n = read(fd, chunk, PROTO_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		/* A file that grows while read: stop at the limit. */
		if (n > 0 && sent + (uint64_t)n > max)
			n = (ssize_t)(max - sent);
		at = proto_frame_begin(out, PROTO_FILE);
		if (tagged)
			proto_tlv_str(out, PROTO_T_PATH, path);
		if (n < 0)
			proto_tlv_str(out, PROTO_T_MSG, strerror(errno));
		proto_tlv(out, PROTO_T_DATA, chunk, n > 0 ? (size_t)n : 0);
		proto_tlv_u64(out, PROTO_T_END, n <= 0);
		proto_frame_end(out, at);
		if (n <= 0)
			break;
		sent += (uint64_t)n;
	}
	free(chunk);
	close(fd);
	return sent;
}

/* Answer a GET_FILE: the file, up to its MAX_SIZE and FILE_MAX. */
void
file_get(struct proto_buf *out, const unsigned char *payload, uint32_t len)
{
	struct proto_file f;

	if (proto_file_decode(payload, len, &f) == -1 || f.path == NULL) {
		agent_error(out, "malformed GET_FILE frame");
		return;
	}
	if (f.max_size == 0 || f.max_size > FILE_MAX)
		f.max_size = FILE_MAX;
	file_send(out, f.path, f.max_size, 0);
}

/*
 * Send a run's output files, each up to `max` bytes and all of them up to
 * OUTPUTS_MAX: what is left of that budget caps the next file.
 */
void
file_send_outputs(
    struct proto_buf *out, char *const *paths, int n, uint64_t max)
{
	uint64_t total = 0, left;
	int i;

	for (i = 0; i < n; i++) {
		left = total < OUTPUTS_MAX ? OUTPUTS_MAX - total : 0;
		total += file_send(out, paths[i], max < left ? max : left, 1);
	}
}
