/*
 * One execution as a state machine on the loop:
 *
 *	QUEUED -> ACQUIRE -> RUNNING -> DONE
 *	          ACQUIRE -> QUEUED (dockerd went away: engine_docker.c)
 *
 * QUEUED waits for an admission slot, ACQUIRE for a ready box from the
 * pool; RUNNING sends the code (PUT_FILE), the RUN frame and stdin, then
 * streams OUT/ERR frames through the secret mask to the caller until the
 * agent's EXIT. From RUNNING on, the result says may_have_run; a sandbox
 * lost there (its container killed, dockerd restarted) is ISOL8_ELOST.
 * Callbacks only record what happened and call engine_run_step(); states
 * change only there and in run_finish().
 *
 * The agent enforces the timeout and the output cap inside the container;
 * the host keeps its own hard deadline (timeout + ENGINE_HARD_GRACE_MS) and
 * removes the container if the agent has not answered by then. on_done is
 * called exactly once, from the loop, never from inside a call the caller
 * made (cancel defers it).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum run_state {
	RUN_QUEUED,
	RUN_ACQUIRE,
	RUN_RUNNING,
	RUN_DONE,
};

static const char *const run_state_names[] = { "queued", "acquire", "running",
	"done" };

struct isol8_run {
	struct isol8_engine *e;
	enum run_state state;
	struct pool_spec spec;
	char *image;
	char *network;
	struct proto_buf frames;  /* PUT_FILE(code) + RUN, prebuilt */
	struct proto_buf stdin_q; /* STDIN frames before the box is ready */
	int stdin_stream;
	int stdin_closed;
	struct mask *mask;
	struct egress *egress; /* the filtered network's proxy, or NULL */
	uint64_t timeout_ms;
	uint64_t max_output;
	struct pool_wait *wait;
	struct session_open *sopen;
	char *session;
	int deadline_hit;
	struct box *box;
	struct event *deadline;
	struct isol8_callbacks cbs;
	void *arg;
	struct isol8_result result;
	int exited;
	int acks_pending; /* PUT_FILEs not yet acknowledged */
	struct run_output *outs;
	size_t nouts;
	uint64_t max_output_file;
	uint64_t t_start;
	int cancelled;
	int cancelled_pending;   /* a deferred cancel still holds run */
	unsigned unreachable_at; /* docker_unreachable() at the acquire */
	int holds;               /* back in the queue for dockerd, so often */
	TAILQ_ENTRY(isol8_run) entry;
	TAILQ_ENTRY(isol8_run) qentry;
};

/* An output file being received. */
struct run_output {
	char *path;
	struct buf data;
	char *error;
	int done;
};

static void run_acquired(struct box *, const struct err *, void *);
static int run_file(struct isol8_run *, const unsigned char *, uint32_t);
static void run_frame(int, const unsigned char *, uint32_t, void *);
static void run_lost(const struct err *, void *);
static void run_deadline_cb(evutil_socket_t, short, void *);
static void run_finish(struct isol8_run *, struct err *);
static void run_free(struct isol8_run *);

/* The filtered network's frames go to the run's agent, when it has one. */
static void
run_egress_send(const struct proto_buf *pb, void *arg)
{
	struct isol8_run *run = arg;

	if (run->box != NULL)
		box_send(run->box, pb);
}

static size_t
run_egress_pending(void *arg)
{
	struct isol8_run *run = arg;

	return run->box != NULL ? box_pending(run->box) : 0;
}

void
isol8_request_init(struct isol8_request *r)
{
	memset(r, 0, sizeof *r);
	r->timeout_ms = ENGINE_DEFAULT_TIMEOUT_MS;
	r->memory = ENGINE_DEFAULT_MEMORY;
	r->cpus = (double)ENGINE_DEFAULT_NANO_CPUS / 1e9;
	r->pids = ENGINE_DEFAULT_PIDS;
	r->sandbox_size = ENGINE_DEFAULT_SANDBOX;
	r->tmp_size = ENGINE_DEFAULT_TMP;
	r->max_output = ENGINE_DEFAULT_MAX_OUTPUT;
	r->network = "none";
}

/*
 * A sandbox path: relative ones are below /sandbox; absolute ones must be
 * below /sandbox (or /tmp when allowed). No empty, `.` or `..` parts.
 */
static char *
sandbox_path(const char *in, int allow_tmp, struct err **errp)
{
	char *p, *c, *save = NULL, *copy;
	int bad = 0;

	if (in == NULL || *in == '\0' || strlen(in) > 1024) {
		err_set(
		    errp, ERR_INVALID, "bad sandbox path `%s`", in ? in : "");
		return NULL;
	}
	if (*in == '/')
		p = xstrdup(in);
	else
		p = xasprintf("/sandbox/%s", in);
	if (strncmp(p, "/sandbox/", 9) != 0 &&
	    !(allow_tmp && strncmp(p, "/tmp/", 5) == 0))
		bad = 1;
	copy = xstrdup(p + 1);
	for (c = strtok_r(copy, "/", &save); c != NULL && !bad;
	     c = strtok_r(NULL, "/", &save))
		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
			bad = 1;
	if (strstr(p, "//") != NULL || p[strlen(p) - 1] == '/')
		bad = 1;
	free(copy);
	if (bad) {
		err_set(errp, ERR_INVALID,
		    "path `%s` is not a file below "
		    "/sandbox%s",
		    in, allow_tmp ? " or /tmp" : "");
		free(p);
		return NULL;
	}
	return p;
}

/* PUT_FILE frames for one file, in chunks; one OK will answer. */
static void
run_put_file(
    struct isol8_run *run, const char *path, const void *data, size_t len)
{
	const char *p = data;
	size_t at, off = 0, n;

	do {
		n = len - off < PROTO_CHUNK ? len - off : PROTO_CHUNK;
		at = proto_frame_begin(&run->frames, PROTO_PUT_FILE);
		proto_tlv_str(&run->frames, PROTO_T_PATH, path);
		proto_tlv_u64(&run->frames, PROTO_T_MODE, 0644);
		proto_tlv(&run->frames, PROTO_T_DATA, p + off, n);
		proto_tlv_u64(&run->frames, PROTO_T_APPEND, off > 0);
		proto_tlv_u64(&run->frames, PROTO_T_END, off + n == len);
		proto_frame_end(&run->frames, at);
		off += n;
	} while (off < len);
	run->acks_pending++;
}

static int
valid_session(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static int
valid_env_key(const char *k)
{
	return k != NULL && *k != '\0' && strchr(k, '=') == NULL;
}

/*
 * The pool key of a request: what its container is created with. The
 * strings are allocated into *image and *network.
 */
int
engine_spec(const struct isol8_request *req, struct pool_spec *spec,
    char **image, char **network, struct err **errp)
{
	const struct runtime *rt =
	    runtime_find(req->runtime ? req->runtime : "bash");
	struct engine_limits lim;

	if (rt == NULL)
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%s` (known: python, node, bun, deno, "
		    "bash)",
		    req->runtime);
	if (req->network != NULL && strcmp(req->network, "none") != 0 &&
	    strcmp(req->network, "host") != 0 &&
	    strcmp(req->network, "filtered") != 0)
		return err_set(errp, ERR_INVALID,
		    "network mode `%s` is not supported (none, host, filtered)",
		    req->network);
	if (engine_limits(req, &lim, errp) == -1)
		return -1;
	*image = req->image ? xstrdup(req->image) : runtime_image(rt->name);
	/* Filtered: no network; the agent relays to the host's proxy. */
	*network = xstrdup(
	    req->network != NULL && strcmp(req->network, "filtered") != 0
	        ? req->network
	        : "none");
	memset(spec, 0, sizeof *spec);
	spec->image = *image;
	spec->network = *network;
	/* Bounded by engine_limits(): each fits an int64. */
	spec->memory = (int64_t)lim.memory;
	spec->nano_cpus = (int64_t)lim.nano_cpus;
	spec->pids = (int64_t)lim.pids;
	spec->sandbox_size = (int64_t)lim.sandbox_size;
	spec->tmp_size = (int64_t)lim.tmp_size;
	return 0;
}

int
isol8_engine_prewarm(struct isol8_engine *e, const struct isol8_request *req,
    struct isol8_error *errp)
{
	struct pool_spec spec;
	char *image = NULL, *network = NULL;
	struct err *err = NULL;

	if (engine_spec(req, &spec, &image, &network, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		return -1;
	}
	pool_prewarm(e->pool, &spec);
	free(image);
	free(network);
	return 0;
}

_Static_assert(ISOL8_MAX_OUTPUTS <= PROTO_MAX_OUTPUTS,
    "the agent takes every output a request may name");

/* A file of len bytes (the code, or one of files) fits the limits. */
static int
run_check_size(const char *what, size_t len, const struct engine_limits *lim,
    int in_tmp, struct err **errp)
{
	if (len > ISOL8_MAX_CODE)
		return err_set(errp, ERR_LIMIT,
		    "%s of %zu bytes is over the %u-byte limit", what, len,
		    ISOL8_MAX_CODE);
	/* sandbox_size is also the file-size ulimit of the container. */
	if (len > lim->sandbox_size)
		return err_set(errp, ERR_INVALID,
		    "%s of %zu bytes is larger than `sandbox_size` (%llu "
		    "bytes), the largest file the sandbox may write",
		    what, len, (unsigned long long)lim->sandbox_size);
	if (in_tmp && len > lim->tmp_size)
		return err_set(errp, ERR_INVALID,
		    "%s of %zu bytes does not fit in `tmp_size` (%llu bytes), "
		    "where it is written",
		    what, len, (unsigned long long)lim->tmp_size);
	return 0;
}

/*
 * What can be checked of a request before anything is built: its limits
 * (engine_limits), its source, names, counts and sizes. What passes is
 * not refused by Docker or the agent for its numbers, which used to end
 * as an internal error once a container was made.
 */
static int
run_check(const struct isol8_request *req, struct engine_limits *lim,
    size_t *code_len, struct err **errp)
{
	size_t i;
	int filtered;

	if ((req->code != NULL) + (req->cmd != NULL) + (req->argv != NULL) != 1)
		return err_set(
		    errp, ERR_INVALID, "give exactly one of code, cmd or argv");
	if (req->runtime == NULL && req->code != NULL)
		return err_set(errp, ERR_INVALID, "no runtime given");
	if (req->argv != NULL && req->argv[0] == NULL)
		return err_set(errp, ERR_INVALID, "empty argv");
	if (engine_limits(req, lim, errp) == -1)
		return -1;
	filtered =
	    req->network != NULL && strcmp(req->network, "filtered") == 0;
	if (!filtered && (req->net_allow_len > 0 || req->net_deny_len > 0))
		return err_set(errp, ERR_INVALID,
		    "allow and deny patterns need the filtered network");
	*code_len = 0;
	if (req->code != NULL) {
		*code_len = req->code_len ? req->code_len : strlen(req->code);
		if (run_check_size("code", *code_len, lim, 1, errp) == -1)
			return -1;
	}
	if (req->file_ext != NULL &&
	    (req->file_ext[0] != '.' || strlen(req->file_ext) > 8 ||
	        strchr(req->file_ext, '/')))
		return err_set(errp, ERR_INVALID, "bad file extension `%s`",
		    req->file_ext);
	for (i = 0; i < req->env_len; i++)
		if (!valid_env_key(req->env[i].key) || !req->env[i].value)
			return err_set(errp, ERR_INVALID,
			    "bad environment variable name `%s`",
			    req->env[i].key ? req->env[i].key : "");
	for (i = 0; i < req->secrets_len; i++)
		if (!valid_env_key(req->secrets[i].key) ||
		    !req->secrets[i].value)
			return err_set(errp, ERR_INVALID,
			    "bad secret name `%s`",
			    req->secrets[i].key ? req->secrets[i].key : "");
	if (req->files_len > ISOL8_MAX_FILES ||
	    req->outputs_len > ISOL8_MAX_OUTPUTS)
		return err_set(errp, ERR_LIMIT,
		    "at most %d files and %d outputs", ISOL8_MAX_FILES,
		    ISOL8_MAX_OUTPUTS);
	for (i = 0; i < req->files_len; i++)
		if (run_check_size("file", req->files[i].len, lim, 0, errp) ==
		    -1)
			return err_wrap(errp, "`%s`",
			    req->files[i].path ? req->files[i].path : "");
	return 0;
}

/* The RUN frame's program: the code's file, a command line, or argv. */
static void
run_argv(struct isol8_run *run, const struct isol8_request *req,
    const struct runtime *rt, const char *file)
{
	const char *const *a;

	if (req->code != NULL && req->session != NULL && rt->kernel != NULL) {
		/* In a session, into its interpreter: variables persist. The
		 * kernel takes argv as the program would see it: the file. */
		for (a = rt->kernel; *a != NULL; a++)
			proto_tlv_str(&run->frames, PROTO_T_KERNEL, *a);
		proto_tlv_str(&run->frames, PROTO_T_ARGV, rt->kernel[0]);
		proto_tlv_str(&run->frames, PROTO_T_ARGV, file);
	} else if (req->code != NULL) {
		for (a = rt->argv; *a != NULL; a++)
			proto_tlv_str(&run->frames, PROTO_T_ARGV,
			    strcmp(*a, "@") == 0 ? file : *a);
	} else if (req->cmd != NULL) {
		proto_tlv_str(&run->frames, PROTO_T_ARGV, "bash");
		proto_tlv_str(&run->frames, PROTO_T_ARGV, "-c");
		proto_tlv_str(&run->frames, PROTO_T_ARGV, req->cmd);
	} else
		for (a = req->argv; *a != NULL; a++)
			proto_tlv_str(&run->frames, PROTO_T_ARGV, *a);
}

/* Check a request and build its PUT_FILE and RUN frames. */
static int
run_prepare(
    struct isol8_run *run, const struct isol8_request *req, struct err **errp)
{
	static const char *const base_env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/sandbox",
		"LANG=C.UTF-8", "TMPDIR=/tmp", "PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH=/sandbox",
		"NODE_PATH=/sandbox/node_modules", "DENO_DIR=/sandbox/.deno",
		"DENO_NO_UPDATE_CHECK=1", "NO_UPDATE_NOTIFIER=1", NULL
	};
	struct engine_limits lim;
	const struct runtime *rt;
	const char *const *a;
	char *file = NULL, *kv;
	size_t at, i, code_len = 0;
	int filtered;

	if (run_check(req, &lim, &code_len, errp) == -1 ||
	    engine_spec(req, &run->spec, &run->image, &run->network, errp) ==
	        -1)
		return -1;
	rt = runtime_find(req->runtime ? req->runtime : "bash");
	filtered =
	    req->network != NULL && strcmp(req->network, "filtered") == 0;
	if (filtered) {
		struct egress_rules rules = { req->net_allow,
			req->net_allow_len, req->net_deny, req->net_deny_len,
			req->net_allow_private };

		if ((run->egress = egress_new(run->e->loop, run->e->resolver,
		         &rules, run_egress_send, run_egress_pending, run,
		         errp)) == NULL)
			return -1;
	}

	/* The request's files, then the code file. */
	for (i = 0; i < req->files_len; i++) {
		char *path = sandbox_path(req->files[i].path, 0, errp);

		if (path == NULL)
			return -1;
		run_put_file(run, path, req->files[i].data, req->files[i].len);
		free(path);
	}
	if (req->code != NULL) {
		if (req->file_ext != NULL)
			file = xasprintf("/tmp/.isol8/main%s", req->file_ext);
		else
			file = xstrdup(rt->file);
		run_put_file(run, file, req->code, code_len);
	}
	run->max_output_file = lim.max_output_file;
	if (req->outputs_len > 0)
		run->outs = xcalloc(req->outputs_len, sizeof *run->outs);
	for (i = 0; i < req->outputs_len; i++) {
		if ((run->outs[i].path =
		            sandbox_path(req->outputs[i], 1, errp)) == NULL) {
			free(file);
			return -1;
		}
		run->nouts++;
	}

	at = proto_frame_begin(&run->frames, PROTO_RUN);
	run_argv(run, req, rt, file);
	for (a = base_env; *a != NULL; a++)
		proto_tlv_str(&run->frames, PROTO_T_ENV, *a);
	for (i = 0; i < req->env_len; i++) {
		kv = xasprintf("%s=%s", req->env[i].key, req->env[i].value);
		proto_tlv_str(&run->frames, PROTO_T_ENV, kv);
		free(kv);
	}
	for (i = 0; i < req->secrets_len; i++) {
		kv = xasprintf(
		    "%s=%s", req->secrets[i].key, req->secrets[i].value);
		proto_tlv_str(&run->frames, PROTO_T_ENV, kv);
		proto_tlv_str(
		    &run->frames, PROTO_T_SECRET, req->secrets[i].key);
		free(kv);
	}
	if (filtered) {
		static const char *const proxy_env[] = { "HTTP_PROXY",
			"HTTPS_PROXY", "http_proxy", "https_proxy" };

		for (i = 0; i < nitems(proxy_env); i++) {
			kv = xasprintf("%s=http://127.0.0.1:%d", proxy_env[i],
			    EGRESS_PORT);
			proto_tlv_str(&run->frames, PROTO_T_ENV, kv);
			free(kv);
		}
		proto_tlv_str(
		    &run->frames, PROTO_T_ENV, "NO_PROXY=localhost,127.0.0.1");
		proto_tlv_u64(&run->frames, PROTO_T_PROXY, EGRESS_PORT);
	}
	proto_tlv_str(&run->frames, PROTO_T_CWD, "/sandbox");
	proto_tlv_u64(&run->frames, PROTO_T_TIMEOUT_MS, lim.timeout_ms);
	proto_tlv_u64(&run->frames, PROTO_T_OUTPUT_CAP, lim.max_output);
	for (i = 0; i < run->nouts; i++)
		proto_tlv_str(&run->frames, PROTO_T_OUTPUT, run->outs[i].path);
	proto_tlv_u64(&run->frames, PROTO_T_MAX_SIZE, run->max_output_file);
	proto_tlv_u64(&run->frames, PROTO_T_STDIN,
	    req->stdin_data != NULL || req->stdin_stream);
	/* One-use: the agent exits after the run; with reuse it stays. */
	proto_tlv_u64(&run->frames, PROTO_T_ONESHOT,
	    !run->e->opts.pool_reuse && req->session == NULL);
	proto_frame_end(&run->frames, at);
	if (run->frames.len > PROTO_MAX_PAYLOAD + ENGINE_MAX_CODE * 2) {
		free(file);
		return err_set(errp, ERR_LIMIT, "request too large");
	}
	free(file);

	run->timeout_ms = lim.timeout_ms;
	run->max_output = lim.max_output;
	run->stdin_stream = req->stdin_stream;
	run->session = req->session ? xstrdup(req->session) : NULL;
	run->mask = mask_new(req->secrets, req->secrets_len);
	return 0;
}

/* Queue stdin bytes as STDIN frames (before the box: held in stdin_q). */
static void
run_stdin(struct isol8_run *run, const void *data, size_t len, int eof)
{
	struct proto_buf pb = { 0 };
	const char *p = data;
	size_t n;

	while (len > 0) {
		n = len < PROTO_CHUNK ? len : PROTO_CHUNK;
		proto_frame(&pb, PROTO_STDIN, p, n);
		p += n, len -= n;
	}
	if (eof)
		proto_frame(&pb, PROTO_STDIN_EOF, NULL, 0);
	if (run->box != NULL)
		box_send(run->box, &pb);
	else
		proto_buf_add(&run->stdin_q, pb.data, pb.len);
	proto_buf_free(&pb);
}

struct isol8_run *
isol8_run_start(struct isol8_engine *e, const struct isol8_request *req,
    const struct isol8_callbacks *cbs, void *arg, struct isol8_error *errp)
{
	struct isol8_run *run = xcalloc(1, sizeof *run);
	struct err *err = NULL;

	if (req->session != NULL && !valid_session(req->session)) {
		err_set(&err, ERR_INVALID,
		    "bad session name `%s` (letters, "
		    "digits, `.`, `_`, `-`; at most 64)",
		    req->session);
		goto fail;
	}
	if (cbs == NULL || cbs->on_done == NULL) {
		err_set(&err, ERR_INVALID, "on_done callback is required");
		goto fail;
	}
	run->e = e;
	if (run_prepare(run, req, &err) == -1)
		goto fail;
	run->cbs = *cbs;
	run->arg = arg;
	run->t_start = now_ms();
	run->deadline = evtimer_new(loop_base(e->loop), run_deadline_cb, run);
	if (req->stdin_data != NULL)
		run_stdin(run, req->stdin_data, req->stdin_len, 1);
	run->state = RUN_QUEUED;
	TAILQ_INSERT_TAIL(&e->runs, run, entry);
	TAILQ_INSERT_TAIL(&e->queue, run, qentry);
	/* Admission happens from the loop, never inside this call. */
	loop_defer(e->loop, (loop_defer_cb)engine_kick, e);
	return run;
fail:
	engine_error(errp, err);
	err_free(&err);
	run_free(run); /* the one teardown: whatever prepare got to */
	return NULL;
}

int
isol8_run_write_stdin(struct isol8_run *run, const void *data, size_t len)
{
	if (!run->stdin_stream || run->stdin_closed || run->state == RUN_DONE)
		return -1;
	run_stdin(run, data, len, 0);
	return 0;
}

size_t
isol8_run_stdin_pending(struct isol8_run *run)
{
	return run->stdin_q.len + (run->box ? box_pending(run->box) : 0);
}

void
isol8_run_close_stdin(struct isol8_run *run)
{
	if (!run->stdin_stream || run->stdin_closed || run->state == RUN_DONE)
		return;
	run->stdin_closed = 1;
	run_stdin(run, NULL, 0, 1);
}

static void
run_cancelled(void *arg)
{
	struct isol8_run *run = arg;

	run->cancelled_pending = 0;
	if (run->state == RUN_DONE)
		run_free(run); /* it ended on its own meanwhile */
	else
		run_finish(run, err_new(ERR_CANCELLED, "run cancelled"));
}

/* Stop a run; on_done follows from the loop with ISOL8_ECANCELLED. */
void
isol8_run_cancel(struct isol8_run *run)
{
	if (run->state == RUN_DONE || run->cancelled)
		return;
	run->cancelled = 1;
	run->cancelled_pending = 1;
	loop_defer(run->e->loop, run_cancelled, run);
}

/* Back to the head of the queue: dockerd went away before it started. */
static void
run_requeue(struct isol8_run *run)
{
	struct isol8_engine *e = run->e;

	log_debug(loop_log(e->loop),
	    "run %p: acquire -> queued (dockerd is away)", (void *)run);
	run->holds++;
	run->state = RUN_QUEUED;
	e->active--;
	TAILQ_INSERT_HEAD(&e->queue, run, qentry);
}

/*
 * Finish the runs queued now (not those their on_done queues) with copies
 * of err: the engine gave up waiting for dockerd. How many.
 */
unsigned
engine_fail_queued(struct isol8_engine *e, const struct err *err)
{
	struct isol8_run *r;
	unsigned n = 0, i;

	TAILQ_FOREACH (r, &e->queue, qentry)
		n++;
	for (i = 0; i < n && (r = TAILQ_FIRST(&e->queue)) != NULL; i++)
		run_finish(r, err_dup(err));
	return n;
}

/* Engine shutdown: finish the run now, with ISOL8_ECANCELLED. */
void
engine_run_abort(struct isol8_run *run)
{
	run->cancelled = 1;
	run_finish(run, err_new(ERR_CANCELLED, "engine shut down"));
}

/*
 * Admit queued runs, in order, while there is room -- none while dockerd
 * is away. A cancelled run stays where it is until its deferred cancel
 * finishes it: it is stepped over, never waited on (it would be the head
 * of the queue for ever).
 */
void
engine_kick(struct isol8_engine *e)
{
	struct isol8_run *r, *next;

	if (e->docker_down)
		return; /* resumed when a probe gets an answer */
	for (r = TAILQ_FIRST(&e->queue);
	     r != NULL && e->active < e->opts.max_concurrent; r = next) {
		/* Admission never calls back at once: next stays valid. */
		next = TAILQ_NEXT(r, qentry);
		if (!r->cancelled)
			engine_run_step(r);
	}
}

/* Advance the run to its next state. */
void
engine_run_step(struct isol8_run *run)
{
	struct isol8_engine *e = run->e;
	enum run_state old = run->state;
	struct timeval tv;
	uint64_t ms;

	switch (run->state) {
	case RUN_QUEUED:
		if (run->cancelled)
			return;
		TAILQ_REMOVE(&e->queue, run, qentry);
		e->active++;
		run->state = RUN_ACQUIRE;
		run->unreachable_at = docker_unreachable(pool_docker(e->pool));
		if (run->session != NULL)
			run->sopen =
			    pool_session_open(e->pool, &run->spec, run->session,
			        e->opts.session_idle_ms, run_acquired, run);
		else
			run->wait = pool_acquire(
			    e->pool, &run->spec, run_acquired, run);
		break;
	case RUN_ACQUIRE:
		run->state = RUN_RUNNING;
		run->result.queued_ms = now_ms() - run->t_start;
		/* From here on, a failure may come after the program ran. */
		run->result.may_have_run = 1;
		box_send(run->box, &run->frames);
		proto_buf_free(&run->frames);
		box_send(run->box, &run->stdin_q);
		proto_buf_free(&run->stdin_q);
		ms = run->timeout_ms + ENGINE_HARD_GRACE_MS;
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		evtimer_add(run->deadline, &tv);
		break;
	case RUN_RUNNING:
	case RUN_DONE:
		break;
	}
	if (old != run->state)
		log_debug(loop_log(e->loop), "run %p: %s -> %s", (void *)run,
		    run_state_names[old], run_state_names[run->state]);
}

static void
run_acquired(struct box *b, const struct err *e, void *arg)
{
	struct isol8_run *run = arg;
	static const struct box_cbs cbs = { run_frame, run_lost };

	run->wait = NULL;
	run->sopen = NULL;
	if (e != NULL) {
		/* dockerd went away: nothing ran, wait for it to come back. */
		if (engine_docker_hold(
		        run->e, e, run->unreachable_at, run->holds)) {
			run_requeue(run);
			return;
		}
		run_finish(run, err_dup(e));
		return;
	}
	engine_docker_seen(run->e);
	run->box = b;
	box_set_cbs(b, &cbs, run);
	engine_run_step(run);
}

static void
run_emit(int stream, const char *data, size_t len, void *arg)
{
	struct isol8_run *run = arg;

	if (len == 0)
		return;
	if (stream == 1 && run->cbs.on_stdout != NULL)
		run->cbs.on_stdout(data, len, run->arg);
	else if (stream == 2 && run->cbs.on_stderr != NULL)
		run->cbs.on_stderr(data, len, run->arg);
}

/* Output from the agent, capped here too: the host trusts no count. */
static void
run_output(
    struct isol8_run *run, int stream, const unsigned char *p, uint32_t len)
{
	uint64_t seen = run->result.stdout_bytes + run->result.stderr_bytes;
	uint64_t room = seen < run->max_output ? run->max_output - seen : 0;

	if (len > room) {
		len = (uint32_t)room;
		run->result.truncated = 1;
	}
	if (stream == 1)
		run->result.stdout_bytes += len;
	else
		run->result.stderr_bytes += len;
	mask_feed(run->mask, stream, (const char *)p, len, run_emit, run);
}

static void
run_frame(int type, const unsigned char *p, uint32_t len, void *arg)
{
	struct isol8_run *run = arg;
	struct proto_exit ex;
	const char *msg = NULL;
	const unsigned char *val;
	size_t left = len;
	uint32_t vlen;
	int tag;

	switch (type) {
	case PROTO_OUT:
	case PROTO_ERR:
		run_output(run, type == PROTO_OUT ? 1 : 2, p, len);
		break;
	case PROTO_OK:
		if (run->acks_pending > 0)
			run->acks_pending--;
		break;
	case PROTO_FILE:
		if (run_file(run, p, len) == -1) {
			run_finish(run,
			    err_new(ERR_PROTO,
			        "agent sent a "
			        "malformed or unasked-for FILE frame"));
			return;
		}
		break;
	case PROTO_EXIT:
		if (proto_exit_decode(p, len, &ex) == -1) {
			run_finish(run,
			    err_new(ERR_PROTO,
			        "agent sent a "
			        "malformed EXIT frame"));
			return;
		}
		run->exited = 1;
		run->result.exit_code = (int)ex.exit_code;
		run->result.signal = (int)ex.signal;
		run->result.run_ms = ex.wall_ms;
		run->result.cpu_ms = ex.cpu_ms;
		run->result.peak_rss_kb = ex.maxrss_kb;
		run->result.timed_out = (ex.flags & PROTO_F_TIMEDOUT) != 0;
		run->result.oom_killed = (ex.flags & PROTO_F_OOM) != 0;
		if (ex.flags & PROTO_F_TRUNCATED)
			run->result.truncated = 1;
		run->result.state_lost = ex.flags & PROTO_F_STATE_LOST
		    ? ISOL8_STATE_LOST
		    : ex.flags & PROTO_F_FRESH ? ISOL8_STATE_FRESH
		                               : ISOL8_STATE_KEPT;
		run_finish(run, NULL);
		break;
	case PROTO_CONN_OPEN:
	case PROTO_CONN_DATA:
	case PROTO_CONN_CLOSE:
		if (run->egress != NULL)
			egress_frame(run->egress, type, p, len);
		break;
	case PROTO_ERROR:
		while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
			if (tag == PROTO_T_MSG)
				msg = proto_str_decode(val, vlen, 1);
		run_finish(run,
		    err_new(ERR_PROTO, "sandbox agent: %s",
		        msg ? msg : "unknown error"));
		break;
	default:
		break;
	}
}

/* A chunk of an output file; bounded by max_output_file. */
static int
run_file(struct isol8_run *run, const unsigned char *p, uint32_t len)
{
	struct proto_file f;
	struct run_output *o = NULL;
	size_t i;

	if (proto_file_decode(p, len, &f) == -1 || f.path == NULL)
		return -1;
	for (i = 0; i < run->nouts; i++)
		if (strcmp(run->outs[i].path, f.path) == 0 &&
		    !run->outs[i].done) {
			o = &run->outs[i];
			break;
		}
	if (o == NULL)
		return -1;
	if (f.msg != NULL && o->error == NULL)
		o->error = xstrdup(f.msg);
	if (o->error == NULL && f.len > 0) {
		if (o->data.len + f.len > run->max_output_file)
			o->error = xstrdup("over the output file limit");
		else
			buf_add(&o->data, f.data, f.len);
	}
	o->done = f.end;
	return 0;
}

static void
run_lost(const struct err *e, void *arg)
{
	struct isol8_run *run = arg;

	/* A protocol error is the agent's; else the sandbox went away. */
	if (e->kind == ERR_PROTO)
		run_finish(
		    run, err_new(ERR_PROTO, "sandbox agent: %s", e->msg));
	else
		run_finish(run,
		    err_new(ERR_LOST,
		        "lost the sandbox before the program finished: %s",
		        e->msg));
}

static void
run_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct isol8_run *run = arg;

	(void)fd;
	(void)what;
	/* The agent did not end the run itself: the container goes. */
	log_warnx(loop_log(run->e->loop),
	    "run %p: sandbox did not answer %llu ms after the timeout; "
	    "removing the container",
	    (void *)run, (unsigned long long)ENGINE_HARD_GRACE_MS);
	run->result.timed_out = 1;
	run->result.exit_code = 137;
	run->result.signal = 9;
	run->result.run_ms = run->timeout_ms;
	run->exited = 1;
	run->acks_pending = 1; /* do not trust the box: discard it */
	run->deadline_hit = 1;
	run_finish(run, NULL);
}

static void
run_free(struct isol8_run *run)
{
	size_t i;

	for (i = 0; i < run->nouts; i++) {
		free(run->outs[i].path);
		buf_free(&run->outs[i].data);
		free(run->outs[i].error);
	}
	free(run->outs);
	if (run->deadline != NULL)
		event_free(run->deadline);
	proto_buf_free(&run->frames);
	proto_buf_free(&run->stdin_q);
	mask_free(run->mask);
	egress_free(run->egress);
	free(run->image);
	free(run->network);
	free(run->session);
	free(run);
}

/* The one way a run ends: release what it holds, report, free. */
static void
run_finish(struct isol8_run *run, struct err *e)
{
	struct isol8_engine *eng = run->e;
	struct isol8_error pub;
	enum run_state old = run->state;
	struct isol8_output_file *pubouts = NULL;
	struct isol8_net_event *net = NULL;
	size_t i, nnet = 0;
	int clean = 0;

	if (run->state == RUN_DONE) {
		err_free(&e);
		return;
	}
	run->state = RUN_DONE;
	/* Its connections end with it, before the box is let go. */
	if (run->egress != NULL) {
		net = egress_events(
		    run->egress, &nnet, &run->result.net_events_dropped);
		run->result.net_events = net;
		run->result.net_events_len = nnet;
	}
	egress_free(run->egress);
	run->egress = NULL;
	log_debug(loop_log(eng->loop), "run %p: %s -> done%s%s", (void *)run,
	    run_state_names[old], e ? ": " : "", e ? e->msg : "");
	evtimer_del(run->deadline);
	if (old == RUN_QUEUED)
		TAILQ_REMOVE(&eng->queue, run, qentry);
	else
		eng->active--;
	if (run->wait != NULL)
		pool_acquire_cancel(run->wait);
	run->wait = NULL;
	if (run->sopen != NULL)
		pool_session_cancel(run->sopen);
	run->sopen = NULL;
	if (run->box != NULL) {
		run->result.container_id = box_id(run->box);
		clean = e == NULL && run->exited && run->acks_pending == 0;
		mask_flush(run->mask, 1, run_emit, run);
		mask_flush(run->mask, 2, run_emit, run);
	}
	TAILQ_REMOVE(&eng->runs, run, entry);
	run->result.total_ms = now_ms() - run->t_start;
	if (e != NULL) {
		memset(&pub, 0, sizeof pub);
		engine_error(&pub, e);
	}
	if (run->nouts > 0) {
		pubouts = xcalloc(run->nouts, sizeof *pubouts);
		for (i = 0; i < run->nouts; i++) {
			pubouts[i].path = run->outs[i].path;
			pubouts[i].error = run->outs[i].error
			    ? run->outs[i].error
			    : run->outs[i].done ? NULL
			                        : "not received";
			if (pubouts[i].error == NULL) {
				pubouts[i].data = buf_cstr(&run->outs[i].data);
				pubouts[i].len = run->outs[i].data.len;
			}
		}
		run->result.outputs = pubouts;
		run->result.outputs_len = run->nouts;
	}
	run->cbs.on_done(&run->result, e ? &pub : NULL, run->arg);
	free(pubouts);
	egress_events_free(net, nnet);
	run->result.net_events = NULL;
	run->result.net_events_len = 0;
	/* A session keeps its container unless its agent is stuck. */
	if (run->box != NULL && run->session != NULL && !run->deadline_hit)
		pool_session_release(run->box, clean);
	else if (run->box != NULL)
		pool_release(eng->pool, &run->spec, run->box, clean);
	err_free(&e);
	if (!run->cancelled_pending)
		run_free(run);
	engine_kick(eng);
}
