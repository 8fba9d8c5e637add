/*
 * The runtimes table: where each runtime's code goes in /sandbox, how it is
 * run, how it reports its version, and which file extensions select it.
 * Every runtime image carries all five interpreters (one offline base), so
 * the table, not the image, decides how code runs. Code goes to
 * /tmp/.isol8, outside the working directory /sandbox, so that the user's
 * files are only the user's (`ls`, `grep -r .` see no isol8 artefacts).
 * In a session, code runs in the runtime's kernel (src/agent/kernels/,
 * installed in the images at KERNEL_DIR) when it has one.
 */
#include <stdlib.h>
#include <string.h>

#include "isol8.h"
#include "images.h"

static const char *const py_argv[] = { "python3", "@", NULL };
static const char *const py_version[] = { "python3", "--version", NULL };
static const char *const py_exts[] = { ".py", NULL };
static const char *const py_kernel[] = { "python3", KERNEL_DIR "/kernel.py",
	NULL };
static const char *const node_argv[] = { "node", "@", NULL };
static const char *const node_version[] = { "node", "--version", NULL };
static const char *const node_exts[] = { ".js", ".mjs", ".cjs", NULL };
static const char *const node_kernel[] = { "node", KERNEL_DIR "/kernel.cjs",
	NULL };
static const char *const bun_argv[] = { "bun", "run", "@", NULL };
static const char *const bun_version[] = { "bun", "--version", NULL };
static const char *const bun_exts[] = { ".ts", NULL };
static const char *const bun_kernel[] = { "bun", KERNEL_DIR "/kernel.cjs",
	NULL };
static const char *const deno_argv[] = { "deno", "run", "--no-prompt",
	"--allow-read=/sandbox,/tmp", "--allow-write=/sandbox,/tmp",
	"--allow-env", "--allow-net", "@", NULL };
static const char *const deno_version[] = { "deno", "--version", NULL };
static const char *const deno_exts[] = { ".mts", NULL };
static const char *const bash_argv[] = { "bash", "@", NULL };
static const char *const bash_version[] = { "bash", "--version", NULL };
static const char *const bash_exts[] = { ".sh", NULL };
static const char *const bash_kernel[] = { "bash", "--norc", "--noprofile",
	KERNEL_DIR "/kernel.sh", NULL };

static const struct runtime runtimes[] = {
	{ "python", "/tmp/.isol8/main.py", py_argv, py_version, py_exts,
	    py_kernel },
	{ "node", "/tmp/.isol8/main.mjs", node_argv, node_version, node_exts,
	    node_kernel },
	{ "bun", "/tmp/.isol8/main.ts", bun_argv, bun_version, bun_exts,
	    bun_kernel },
	/* Deno's Node compatibility cannot read the kernel's pipes. */
	{ "deno", "/tmp/.isol8/main.ts", deno_argv, deno_version, deno_exts,
	    NULL },
	{ "bash", "/tmp/.isol8/main.sh", bash_argv, bash_version, bash_exts,
	    bash_kernel },
};

const struct runtime *
runtime_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < nitems(runtimes); i++)
		if (strcmp(runtimes[i].name, name) == 0)
			return &runtimes[i];
	return NULL;
}

const struct runtime *
runtime_all(size_t *n)
{
	*n = nitems(runtimes);
	return runtimes;
}

/* The image a runtime runs in: isol8/<runtime>:latest. */
char *
runtime_image(const char *name)
{
	return xasprintf(IMAGES_REPO "/%s:latest", name);
}

int
isol8_runtime_known(const char *name)
{
	return runtime_find(name) != NULL;
}

/* The runtime a file name implies (by extension), or NULL. */
const char *
isol8_runtime_for_path(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
	const char *const *e;
	size_t i;

	if (dot == NULL || (slash != NULL && dot < slash))
		return NULL;
	for (i = 0; i < nitems(runtimes); i++)
		for (e = runtimes[i].exts; *e != NULL; e++)
			if (strcmp(dot, *e) == 0)
				return runtimes[i].name;
	return NULL;
}
