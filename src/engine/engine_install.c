/*
 * A run's packages: the INSTALL state of engine_run.c, between the box
 * arriving and the code's RUN.
 *
 * What the image has baked (its org.isol8.packages label, asked of dockerd
 * when the run is admitted, while the pool finds a box) costs nothing; what
 * it lacks is installed by the runtime's installer (src/images/install.c)
 * in the run's own container, as the sandbox user, into /sandbox, before
 * the code: a RUN frame of its own, not one-shot, whose network is a
 * filtered proxy that lets through the registries' hosts and nothing else,
 * whatever the run's own network. Its output is not the program's: it is
 * kept (the last lines) for the error when it fails. The code's RUN then
 * gets the time the install left.
 *
 * Facts are recorded here and the run's step decides (install_verdict);
 * this file never ends a run.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define INSTALL_OUTPUT_CAP (64ull << 20) /* the installer's, then killed */
#define RUN_DENO_DIR "/sandbox/.deno"    /* install.c's run-time $DIR */
#define INSTALL_NODE_LINK                                                      \
	"mkdir -p /tmp/.isol8 && ln -sfn /sandbox/node_modules /tmp/.isol8/node_modules && exec \"$@\""

static const char *const install_proxy_env[] = { "HTTP_PROXY", "HTTPS_PROXY",
	"http_proxy", "https_proxy", NULL };

/* dockerd's answer about the image: its baked list, if it has one. */
static void
install_inspected(
    const struct docker_reply *rep, const struct err *err, void *arg)
{
	struct install *in = arg;
	struct err *perr = NULL;
	const char *label;

	in->inspect = NULL;
	in->inspected = 1;
	/* No answer: nothing counts as baked for now (the acquire says
	 * why); a run held back for dockerd asks again. */
	in->inspect_failed = err != NULL;
	if (err == NULL && rep->json != NULL &&
	    (label = json_str(rep->json, "Config", "Labels", LABEL_PACKAGES,
	         NULL)) != NULL &&
	    pkgs_from_label(&in->have, in->plan->runtime, label, &perr) == -1) {
		log_warnx(loop_log(in->e->loop), "image %s: %s",
		    in->plan->image, perr->msg);
		err_free(&perr);
		pkgs_free(&in->have);
	}
	in->step(in->arg);
}

/*
 * Ask what is baked, when that matters: of the container when one is
 * given (a session's was made from the image as it was then), else of
 * the plan's image. Step on the answer. Starts afresh.
 */
void
install_start(struct install *in, struct isol8_engine *e, const struct plan *pl,
    const char *container, void (*step)(void *), void *arg)
{
	install_free(in);
	in->e = e;
	in->plan = pl;
	in->step = step;
	in->arg = arg;
	if (!pl->baked || pl->runtime == NULL) {
		in->inspected = 1;
		return;
	}
	in->inspect = container != NULL
	    ? docker_container_inspect(
	          e->docker, container, install_inspected, in)
	    : docker_image_inspect(e->docker, pl->image, install_inspected, in);
}

/*
 * What the image lacks, into in->missing: 0 when nothing is. deno keeps
 * one cache (DENO_DIR): a run that installs any package installs all it
 * asked for into its own.
 */
int
install_needed(struct install *in, struct err **errp)
{
	const struct plan *pl = in->plan;
	size_t i;

	if (pl->packages.n == 0)
		return 0;
	if (pkgs_missing(pl->runtime, &in->have, &pl->packages, &in->missing,
	        errp) == -1)
		return -1;
	if (in->missing.n > 0 && strcmp(pl->runtime, "deno") == 0) {
		pkgs_free(&in->missing);
		for (i = 0; i < pl->packages.n; i++)
			if (pkgs_add(&in->missing, pl->runtime,
			        pl->packages.v[i], errp) == -1)
				return -1;
	}
	return in->missing.n > 0;
}

/*
 * One allow pattern for host:port: the host in the proxy's canonical form
 * (what its rules see: no brackets, lower case, dotted quads), every
 * character that means something to a regular expression escaped.
 */
static char *
install_allow(const char *ep)
{
	const char *colon = strrchr(ep, ':');
	char host[256];
	struct buf b = { 0 };
	const char *h;

	if (colon == NULL ||
	    egress_host(ep, (size_t)(colon - ep), host, sizeof host) == -1)
		return NULL;
	buf_addstr(&b, "^");
	for (h = host; *h != '\0'; h++) {
		if (strchr(".[]()*+?{}|^$\\", *h) != NULL)
			buf_add(&b, "\\", 1);
		buf_add(&b, h, 1);
	}
	buf_printf(&b, ":%s$", colon + 1);
	return buf_cstr(&b);
}

/* The installer's proxy: the registries' host:port, exactly, no other. */
static int
install_egress(struct install *in, egress_send_cb send,
    egress_pending_cb pending, void *arg, struct err **errp)
{
	const struct plan *pl = in->plan;
	struct egress_rules rules = { 0 };
	char **allow;
	size_t n = 0, i;

	for (i = 0; pl->registry_eps[i] != NULL; i++)
		;
	allow = xcalloc(i + 1, sizeof *allow);
	for (i = 0; pl->registry_eps[i] != NULL; i++)
		if ((allow[n] = install_allow(pl->registry_eps[i])) != NULL)
			n++;
	rules.allow = (const char *const *)allow;
	rules.nallow = n;
	rules.with_port = 1;
	/* A registry the operator named may be on a private address. */
	rules.allow_private = pl->registry_private;
	in->egress = n == 0 ? NULL
	                    : egress_new(in->e->loop, in->e->resolver, &rules,
	                          send, pending, arg, errp);
	strv_free(allow);
	if (n == 0)
		return err_set(errp, ERR_INVALID,
		    "the registry's host `%s` is not one the proxy takes",
		    pl->registry_eps[0]);
	return in->egress != NULL ? 0 : -1;
}

/*
 * The installer's RUN frame into out, and its proxy (whose frames go
 * through send): in /sandbox as the sandbox user, timeout_ms at most.
 */
int
install_send(struct install *in, uint64_t timeout_ms, egress_send_cb send,
    egress_pending_cb pending, void *arg, struct proto_buf *out,
    struct err **errp)
{
	struct install_cmd c;
	const char *const *a;
	char *const *p;
	char *kv;
	size_t at;

	if (install_cmd(&c, in->plan->runtime, INSTALL_RUN, &in->e->reg,
	        &in->missing, errp) == -1)
		return -1;
	if (install_egress(in, send, pending, arg, errp) == -1) {
		install_cmd_free(&c);
		return -1;
	}
	at = proto_frame_begin(out, PROTO_RUN);
	if (strcmp(in->plan->runtime, "node") == 0 ||
	    strcmp(in->plan->runtime, "bun") == 0) {
		/* node, bun: the code (/tmp/.isol8/main.*) imports by walking
		 * up from its file; /sandbox/node_modules is not on that way,
		 * so a link is. A fixed script: the installer is "$@". */
		proto_tlv_str(out, PROTO_T_ARGV, "/bin/sh");
		proto_tlv_str(out, PROTO_T_ARGV, "-c");
		proto_tlv_str(out, PROTO_T_ARGV, INSTALL_NODE_LINK);
		proto_tlv_str(out, PROTO_T_ARGV, "isol8-install");
	}
	for (p = c.argv; *p != NULL; p++)
		proto_tlv_str(out, PROTO_T_ARGV, *p);
	proto_tlv_str(out, PROTO_T_ENV, "PATH=/usr/local/bin:/usr/bin:/bin");
	proto_tlv_str(out, PROTO_T_ENV, "LANG=C.UTF-8");
	proto_tlv_str(out, PROTO_T_ENV, "TMPDIR=/tmp");
	for (p = c.env; *p != NULL; p++)
		proto_tlv_str(out, PROTO_T_ENV, *p);
	for (a = install_proxy_env; *a != NULL; a++) {
		kv = xasprintf("%s=http://127.0.0.1:%d", *a, EGRESS_PORT);
		proto_tlv_str(out, PROTO_T_ENV, kv);
		free(kv);
	}
	proto_tlv_str(out, PROTO_T_CWD, c.cwd);
	proto_tlv_u64(out, PROTO_T_TIMEOUT_MS, timeout_ms);
	proto_tlv_u64(out, PROTO_T_OUTPUT_CAP, INSTALL_OUTPUT_CAP);
	proto_tlv_u64(out, PROTO_T_STDIN, 0);
	proto_tlv_u64(out, PROTO_T_ONESHOT, 0); /* the code's RUN follows */
	proto_tlv_u64(out, PROTO_T_PROXY, EGRESS_PORT);
	proto_frame_end(out, at);
	install_cmd_free(&c);
	in->sent = 1;
	in->t0 = now_ms();
	return 0;
}

/* The installer's proxy goes (its relay closed): its events are kept. */
void
install_stop(struct install *in)
{
	size_t i;

	if (in->egress == NULL)
		return;
	in->events = egress_events(in->egress, &in->nevents, &in->dropped);
	for (i = 0; i < in->nevents; i++)
		in->events[i].install = 1;
	egress_free(in->egress);
	in->egress = NULL;
}

/* A frame while the installer runs: its output, its network, its EXIT. */
void
install_frame(
    struct install *in, int type, const unsigned char *p, uint32_t len)
{
	switch (type) {
	case PROTO_OUT:
	case PROTO_ERR:
		install_log_feed(&in->log, p, len);
		break;
	case PROTO_CONN_OPEN:
	case PROTO_CONN_DATA:
	case PROTO_CONN_CLOSE:
		if (in->egress != NULL)
			egress_frame(in->egress, type, p, len);
		break;
	case PROTO_EXIT:
		if (!in->sent || in->exited)
			break; /* not the installer's */
		in->exited = 1;
		in->ms = now_ms() - in->t0;
		if (proto_exit_decode(p, len, &in->exit) == -1)
			in->bad_exit = 1;
		install_stop(in); /* its relay closed with it */
		in->step(in->arg);
		break;
	default:
		break;
	}
}

/* What the installer's proxy refused, first: often the reason. */
static void
install_refused(const struct install *in, struct buf *why)
{
	size_t i;

	for (i = 0; i < in->nevents; i++)
		if (!in->events[i].allowed) {
			buf_printf(why, " (its proxy refused %s:%s: %s)",
			    in->events[i].host, in->events[i].port,
			    in->events[i].reason ? in->events[i].reason
			                         : "not a registry");
			return;
		}
}

/* The run's time ran out during INSTALL: why, as the run's error. */
struct err *
install_late(struct install *in)
{
	char *list = pkgs_label(in->sent ? &in->missing : &in->plan->packages);
	struct err *e;

	install_stop(in);
	e = err_new(ERR_INSTALL,
	    "installing %s packages (%s) did not finish within the run's timeout (%llu ms)",
	    in->plan->runtime ? in->plan->runtime : "the", list,
	    (unsigned long long)in->plan->timeout_ms);
	free(list);
	return e;
}

/* After the installer's EXIT: NULL when it succeeded, else why not. */
struct err *
install_verdict(struct install *in)
{
	const struct plan *pl = in->plan;
	struct buf why = { 0 };
	char *list = pkgs_label(&in->missing);
	struct err *e;

	if (in->bad_exit)
		e = err_new(ERR_PROTO, "agent sent a malformed EXIT frame");
	else if (in->exit.exit_code == 0 && in->exit.signal == 0 &&
	    !(in->exit.flags & PROTO_F_TIMEDOUT))
		e = NULL;
	else {
		install_log_reason(&in->log, pl->runtime, &in->missing, &why);
		install_refused(in, &why);
		e = err_new(ERR_INSTALL, "installing %s packages (%s) %s: %s",
		    pl->runtime, list,
		    in->exit.flags & PROTO_F_TIMEDOUT
		        ? "used up the run's timeout"
		        : in->exit.flags & PROTO_F_OOM ? "ran out of memory"
		                                       : "failed",
		    buf_cstr(&why));
		buf_free(&why);
	}
	free(list);
	return e;
}

/*
 * The environment the code needs for its packages (deno only: where its
 * cache is, the image's baked one unless this run installed its own, and
 * the registry it was filled from, as deno keeps a cache per registry).
 * It goes before the request's own environment, which may override it.
 */
const char *const *
install_code_env(struct install *in)
{
	const struct plan *pl = in->plan;
	int deno = pl->runtime != NULL && strcmp(pl->runtime, "deno") == 0;

	if (deno && in->env[0] == NULL) {
		in->env[0] = xstrdup(in->have.n > 0 && !in->sent
		        ? install_baked_env("deno")[0]
		        : "DENO_DIR=" RUN_DENO_DIR);
		in->env[1] = xasprintf(
		    "NPM_CONFIG_REGISTRY=%s", registry_url(&in->e->reg, 1));
	}
	return (const char *const *)in->env;
}

void
install_free(struct install *in)
{
	if (in->inspect != NULL)
		docker_cancel(in->inspect);
	egress_free(in->egress);
	egress_events_free(in->events, in->nevents);
	pkgs_free(&in->have);
	pkgs_free(&in->missing);
	install_log_free(&in->log);
	free(in->env[0]);
	free(in->env[1]);
	memset(in, 0, sizeof *in);
}
