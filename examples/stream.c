/*
 * A small program on libisol8: run a snippet in a sandbox, stream its
 * output as it arrives, then print the result. Build against an installed
 * isol8 with:
 *
 *	cc stream.c $(pkg-config --cflags --libs isol8 libevent_core) -o stream
 *
 * Usage: stream [RUNTIME CODE]   (default: python, a counting loop)
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include <isol8.h>

static void
on_stdout(const char *data, size_t len, void *arg)
{
	(void)arg;
	fwrite(data, 1, len, stdout);
	fflush(stdout);
}

static void
on_stderr(const char *data, size_t len, void *arg)
{
	(void)arg;
	fwrite(data, 1, len, stderr);
}

static void
on_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct event_base *base = arg;

	if (e != NULL)
		fprintf(stderr, "failed: %s: %s\n", isol8_strerror(e->code),
		    e->message);
	else
		fprintf(stderr,
		    "exit %d in %llu ms (%llu ms end to end), %llu KiB peak%s%s\n",
		    r->exit_code, (unsigned long long)r->run_ms,
		    (unsigned long long)r->total_ms,
		    (unsigned long long)r->peak_rss_kb,
		    r->timed_out ? ", timed out" : "",
		    r->oom_killed ? ", over the memory limit" : "");
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	static const struct isol8_callbacks cbs = { on_stdout, on_stderr,
		on_done };
	struct event_base *base = event_base_new();
	struct isol8_engine *engine;
	struct isol8_request req;
	struct isol8_error err;

	/* The engine runs on our own event_base: it embeds in any loop. */
	if ((engine = isol8_engine_new(base, NULL, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	isol8_request_init(&req);
	req.runtime = argc > 2 ? argv[1] : "python";
	req.code = argc > 2 ? argv[2]
	                    : "import time\n"
	                      "for i in range(5):\n"
	                      "    print(i, flush=True)\n"
	                      "    time.sleep(0.2)\n";
	req.timeout_ms = 10000;
	req.memory = 128 << 20;
	if (isol8_run_start(engine, &req, &cbs, base, &err) == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	event_base_dispatch(base);
	isol8_engine_free(engine);
	/* The engine's last removals finish on our base (at most 10 s):
	 * dispatch returns once nothing of it is left. */
	event_base_dispatch(base);
	event_base_free(base);
	return 0;
}
