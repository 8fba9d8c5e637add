/*
 * images: what the sandboxes run. The runtimes table (how code of each
 * runtime is run in an image, and which file names select it) and
 * `isol8 setup`'s image builds, offline: a Debian base made from the host's
 * apt mirror, and per runtime the base plus the agent and the session
 * kernels. Built through the Docker API only.
 */
#ifndef ISOL8_IMAGES_H
#define ISOL8_IMAGES_H

#include "../docker/docker.h"

#define IMAGES_REPO "isol8"
#define KERNEL_DIR "/usr/lib/isol8" /* session kernels, in the images */

struct runtime {
	const char *name;
	const char *file;        /* where the code goes */
	const char *const *argv; /* run it; "@" stands for the file */
	const char *const *version;
	const char *const *exts;
	const char *const *kernel; /* a session's interpreter, or NULL */
};

/* runtime.c */
const struct runtime *runtime_find(const char *);
const struct runtime *runtime_all(size_t *);
char *runtime_image(const char *);

/* images.c */
struct images_opts {
	int force;              /* rebuild even when up to date */
	const char *agent_path; /* NULL: $ISOL8_AGENT or next to us */
	void (*progress)(const char *, void *);
	void *arg;
};
int images_setup(struct docker *, const struct images_opts *, struct err **);

#endif
