/*
 * isol8_setup_sync(): the images (src/images), with the caller's baked
 * package lists, registries and CA bundle passed through as they are
 * (src/images checks them all before any Docker call), then a self-check
 * -- each runtime prints its version from a hardened container through
 * the normal execution path, so a setup that says yes has run code.
 * isol8_build_sync() is the same for one custom image (isol8 build), and
 * isol8_images_custom() lists those.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

void
isol8_setup_opts_init(struct isol8_setup_opts *o)
{
	memset(o, 0, sizeof *o);
}

static void say(const struct isol8_setup_opts *o, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static void
say(const struct isol8_setup_opts *o, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->progress(line, o->arg);
}

static int
self_check(struct isol8_engine *e, const struct isol8_setup_opts *o,
    const struct runtime *rt, struct err **errp)
{
	struct isol8_request req;
	struct isol8_output out;
	struct isol8_error pe;
	char *nl;

	isol8_request_init(&req);
	req.runtime = rt->name;
	req.argv = rt->version;
	req.timeout_ms = 20000;
	if (isol8_run_sync(e, &req, &out, &pe) == -1) {
		isol8_output_free(&out);
		return err_set(errp, ERR_DOCKER, "self-check of %s failed: %s",
		    rt->name, pe.message);
	}
	if (out.result.exit_code != 0) {
		err_set(errp, ERR_DOCKER, "self-check of %s exited %d: %s",
		    rt->name, out.result.exit_code, out.stderr_data);
		isol8_output_free(&out);
		return -1;
	}
	if ((nl = strchr(out.stdout_data, '\n')) != NULL)
		*nl = '\0';
	say(o, "%-7s %s  (hardened container, %llu ms)", rt->name,
	    out.stdout_data, (unsigned long long)out.result.total_ms);
	isol8_output_free(&out);
	return 0;
}

int
isol8_setup_sync(struct isol8_engine *e, const struct isol8_setup_opts *o,
    struct isol8_error *errp)
{
	struct isol8_setup_opts defaults;
	struct images_opts io;
	struct err *err = NULL;
	const struct runtime *rts;
	size_t i, n;

	if (engine_can_wait(e, errp) == -1)
		return -1;
	if (o == NULL) {
		isol8_setup_opts_init(&defaults);
		o = &defaults;
	}
	memset(&io, 0, sizeof io);
	io.force = o->force;
	io.agent_path = o->agent_path;
	io.progress = o->progress;
	io.arg = o->arg;
	io.python = o->python;
	io.node = o->node;
	io.bun = o->bun;
	io.deno = o->deno;
	io.bash = o->bash;
	io.replace = o->packages_replace;
	io.registries.pip_index_url = o->pip_index_url;
	io.registries.npm_registry = o->npm_registry;
	io.ca_bundle = o->ca_bundle;
	if (images_setup(e->docker, &io, &err) == -1)
		goto fail;
	say(o, "self-check:");
	rts = runtime_all(&n);
	for (i = 0; i < n; i++)
		if (self_check(e, o, &rts[i], &err) == -1)
			goto fail;
	return 0;
fail:
	engine_error(errp, err);
	err_free(&err);
	return -1;
}

void
isol8_build_opts_init(struct isol8_build_opts *o)
{
	memset(o, 0, sizeof *o);
}

/* The runtime's list of a custom build, in images_opts' field for it. */
static void
build_packages(struct images_opts *io, const struct isol8_build_opts *o)
{
	const char *rt = o->runtime ? o->runtime : "";

	if (strcmp(rt, "python") == 0)
		io->python = o->packages;
	else if (strcmp(rt, "node") == 0)
		io->node = o->packages;
	else if (strcmp(rt, "bun") == 0)
		io->bun = o->packages;
	else if (strcmp(rt, "deno") == 0)
		io->deno = o->packages;
	else if (strcmp(rt, "bash") == 0)
		io->bash = o->packages;
}

/*
 * isol8 build: the image (src/images checks everything first), then the
 * self-check of setup, in the new image.
 */
int
isol8_build_sync(struct isol8_engine *e, const struct isol8_build_opts *o,
    struct isol8_error *errp)
{
	struct isol8_setup_opts so;
	struct images_opts io;
	struct isol8_request req;
	struct isol8_output out;
	struct isol8_error pe;
	struct err *err = NULL;
	const struct runtime *rt;
	char *tag = NULL, *nl;

	if (engine_can_wait(e, errp) == -1)
		return -1;
	if (o == NULL) {
		err_set(&err, ERR_INVALID, "no build options");
		goto fail;
	}
	memset(&io, 0, sizeof io);
	io.force = o->force;
	io.agent_path = o->agent_path;
	io.progress = o->progress;
	io.arg = o->arg;
	build_packages(&io, o);
	io.registries.pip_index_url = o->pip_index_url;
	io.registries.npm_registry = o->npm_registry;
	io.ca_bundle = o->ca_bundle;
	io.custom_tag = o->tag;
	io.custom_runtime = o->runtime;
	io.setup = o->setup;
	io.setup_len = o->setup_len;
	if (images_setup(e->docker, &io, &err) == -1)
		goto fail;
	/* images_setup() checked both. */
	rt = runtime_find(o->runtime);
	tag = images_tag_check(o->tag, NULL, &err);
	isol8_setup_opts_init(&so);
	so.progress = o->progress;
	so.arg = o->arg;
	isol8_request_init(&req);
	req.runtime = rt->name;
	req.image = tag;
	req.argv = rt->version;
	req.timeout_ms = 20000;
	if (isol8_run_sync(e, &req, &out, &pe) == -1 ||
	    out.result.exit_code != 0) {
		err_set(&err, ERR_DOCKER, "self-check of %s failed: %s", tag,
		    out.stderr_data && *out.stderr_data ? out.stderr_data
		                                        : pe.message);
		isol8_output_free(&out);
		goto fail;
	}
	if ((nl = strchr(out.stdout_data, '\n')) != NULL)
		*nl = '\0';
	say(&so, "self-check: %s %s  (hardened container, %llu ms)", tag,
	    out.stdout_data, (unsigned long long)out.result.total_ms);
	isol8_output_free(&out);
	free(tag);
	return 0;
fail:
	free(tag);
	engine_error(errp, err);
	err_free(&err);
	return -1;
}

int
isol8_images_custom(struct isol8_engine *e, struct isol8_image **images,
    size_t *n, struct isol8_error *errp)
{
	struct err *err = NULL;

	*images = NULL;
	*n = 0;
	if (engine_can_wait(e, errp) == -1)
		return -1;
	if (images_custom_list(e->docker, images, n, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		return -1;
	}
	return 0;
}

void
isol8_images_free(struct isol8_image *images, size_t n)
{
	images_custom_free(images, n);
}

int
isol8_registries_check(const char *pip_index_url, const char *npm_registry,
    struct isol8_error *errp)
{
	struct registries r = { pip_index_url, npm_registry };
	struct err *err = NULL;

	if (registries_check(&r, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		return -1;
	}
	return 0;
}

int
isol8_packages_check(const char *runtime, const struct isol8_packages *packages,
    struct isol8_error *errp)
{
	struct pkgs l = { 0 };
	struct err *err = NULL;
	int rc;

	if (packages != NULL && packages->len > 0 && packages->items == NULL)
		rc = err_set(&err, ERR_INVALID, "%zu packages but no array",
		    packages->len);
	else
		rc = pkgs_add_items(&l, runtime,
		    packages ? packages->items : NULL,
		    packages ? packages->len : 0, &err);
	pkgs_free(&l);
	if (rc == -1) {
		engine_error(errp, err);
		err_free(&err);
	}
	return rc;
}
