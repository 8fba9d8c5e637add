/*
 * isol8 setup: the runtime images, offline.
 *
 * 1. The base: a Debian bookworm root filesystem with python3, nodejs,
 *    bash, Bun and Deno, made by the embedded mkrootfs.sh from the host's
 *    apt mirror and npm (no container registry), imported through the API
 *    as isol8/base:<hash of the script>. Built only when that tag is
 *    missing.
 * 2. Per runtime, isol8/<runtime>:latest = base + the agent as PID 1,
 *    built with POST /build from a tar context made in memory. The label
 *    org.isol8.hash covers the Dockerfile, the agent's bytes and the base,
 *    so an unchanged setup builds nothing and a new agent rebuilds all.
 * 3. Clean-up: unclaimed warm containers of superseded images, then the
 *    superseded images themselves (never the current ones).
 *
 * Setup waits for each Docker call (docker_sync_wait) on a loop that must
 * be the caller's own (the engine checks), and blocks only while the
 * (non-Docker) rootfs script runs. The engine's isol8_setup_sync() adds
 * the self-check through the normal execution path.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images.h"

#define AGENT_MAX_SIZE (16u << 20)

extern const char mkrootfs_sh[], kernel_py[], kernel_cjs[], kernel_sh[];
extern const size_t mkrootfs_sh_len, kernel_py_len, kernel_cjs_len,
    kernel_sh_len;

/* The session kernels (src/agent/kernels/), installed in KERNEL_DIR. */
static const struct {
	const char *name;
	const char *data;
	const size_t *len;
} kernels[] = {
	{ "kernel.py", kernel_py, &kernel_py_len },
	{ "kernel.cjs", kernel_cjs, &kernel_cjs_len },
	{ "kernel.sh", kernel_sh, &kernel_sh_len },
};

struct setup {
	struct docker *d;
	const struct images_opts *o;
	struct buf agent;
	char base_tag[64];
	char *old_ids[8]; /* superseded images still in use by warm ones */
	int nold;
};

static void say(struct setup *s, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
say(struct setup *s, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (s->o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->o->progress(line, s->o->arg);
}

static void
build_line(const char *line, void *arg)
{
	struct setup *s = ((struct docker_sync *)arg)->arg;

	size_t len = strlen(line);

	/* Docker's build output: keep "Step n/m" lines, one per line. */
	if (strncmp(line, "Step ", 5) == 0)
		say(s, "  %.*s",
		    (int)(len && line[len - 1] == '\n' ? len - 1 : len), line);
}

/* Inspect an image: 0 found (labels in *v), -1 with ERR_NOTFOUND if not. */
static int
image_inspect(struct setup *s, const char *name, yajl_val *v, struct err **errp)
{
	struct docker_sync c = { 0 };

	docker_image_inspect(s->d, name, docker_sync_cb, &c);
	docker_sync_wait(s->d, &c);
	if (c.err != NULL) {
		*errp = c.err;
		buf_free(&c.body);
		return -1;
	}
	*v = json_parse(c.body.data ? c.body.data : "{}", c.body.len, errp);
	buf_free(&c.body);
	return *v == NULL ? -1 : 0;
}

/* Where the agent binary is: the option, $ISOL8_AGENT, or beside us. */
static int
agent_load(struct setup *s, struct err **errp)
{
	char self[PATH_MAX], *dir, cand[PATH_MAX + 64];
	const char *path = s->o->agent_path;
	ssize_t n;

	if (path == NULL)
		path = getenv("ISOL8_AGENT");
	if (path == NULL &&
	    (n = readlink("/proc/self/exe", self, sizeof self - 1)) > 0) {
		self[n] = '\0';
		dir = dirname(self);
		snprintf(cand, sizeof cand, "%s/isol8-agent", dir);
		if (access(cand, R_OK) != 0)
			snprintf(cand, sizeof cand,
			    "%s/../libexec/isol8/isol8-agent", dir);
		path = cand;
	}
	if (path == NULL ||
	    read_file(path, AGENT_MAX_SIZE, &s->agent, errp) == -1)
		return err_wrap(errp,
		    "the sandbox agent (isol8-agent) was "
		    "not found; set ISOL8_AGENT to its path");
	return 0;
}

/* Run the embedded rootfs script into out_tar. */
static int
rootfs_build(struct setup *s, const char *out_tar, struct err **errp)
{
	char script[] = "/tmp/isol8-mkrootfs.XXXXXX", line[1024];
	int fd, pfd[2], status;
	FILE *f;
	pid_t pid;

	if (geteuid() != 0)
		return err_set(errp, ERR_INVALID,
		    "building the base image "
		    "needs root (debootstrap): run `isol8 setup` as root");
	if ((fd = mkstemp(script)) == -1)
		return err_set(errp, ERR_SYS, "mkstemp: %s", strerror(errno));
	if (write(fd, mkrootfs_sh, mkrootfs_sh_len) !=
	    (ssize_t)mkrootfs_sh_len) {
		close(fd);
		unlink(script);
		return err_set(errp, ERR_SYS, "writing %s", script);
	}
	close(fd);
	if (pipe2(pfd, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		unlink(script);
		return err_set(errp, ERR_SYS, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl("/bin/sh", "sh", script, out_tar, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if ((f = fdopen(pfd[0], "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			say(s, "  %s", line);
		}
		fclose(f);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	unlink(script);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(errp, ERR_SYS,
		    "building the base root "
		    "filesystem failed (see the messages above)");
	return 0;
}

/* isol8/base:<hash>, built and imported when missing. */
static int
base_ensure(struct setup *s, struct err **errp)
{
	struct sha256 h;
	struct docker_sync c = { 0 };
	struct stat st;
	char hex[65], tar[128];
	yajl_val v = NULL;
	int fd, rc;

	sha256_init(&h);
	sha256_add(&h, mkrootfs_sh, mkrootfs_sh_len);
	sha256_hex(&h, hex);
	snprintf(
	    s->base_tag, sizeof s->base_tag, IMAGES_REPO "/base:%.16s", hex);
	if (image_inspect(s, s->base_tag, &v, errp) == 0) {
		yajl_tree_free(v);
		say(s, "base image %s is up to date", s->base_tag);
		return 0;
	}
	if ((*errp)->kind != ERR_NOTFOUND)
		return -1;
	err_free(errp);
	say(s, "building base image %s offline (debootstrap + npm, ~1 min)",
	    s->base_tag);
	snprintf(tar, sizeof tar, "/var/tmp/isol8-base-%.16s.tar", hex);
	if (rootfs_build(s, tar, errp) == -1)
		return -1;
	if ((fd = open(tar, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		unlink(tar);
		return err_set(
		    errp, ERR_SYS, "opening %s: %s", tar, strerror(errno));
	}
	say(s, "importing %lld MB", (long long)st.st_size >> 20);
	docker_image_import(s->d, fd, st.st_size, IMAGES_REPO "/base",
	    s->base_tag + strlen(IMAGES_REPO "/base:"), NULL, docker_sync_cb,
	    &c);
	docker_sync_wait(s->d, &c);
	unlink(tar);
	buf_free(&c.body);
	rc = c.err ? -1 : 0;
	if (c.err != NULL) {
		*errp = c.err;
		err_wrap(errp, "importing the base image");
	}
	return rc;
}

/* isol8/<runtime>:latest, rebuilt when its context hash changed. */
static int
runtime_ensure(struct setup *s, const struct runtime *rt, struct err **errp)
{
	cleanup_buf struct buf df = { 0 }, ctx = { 0 };
	cleanup_free char *tag = runtime_image(rt->name);
	struct docker_sync c = { .arg = s };
	struct sha256 h;
	char hex[65], *old_id = NULL;
	const char *have;
	yajl_val v = NULL;
	size_t i;

	buf_printf(&df,
	    "FROM %s\nCOPY isol8-agent /isol8-agent\n"
	    "COPY kernels/ " KERNEL_DIR "/\n"
	    "WORKDIR /sandbox\nUSER 0:0\nENTRYPOINT []\n"
	    "CMD [\"/isol8-agent\"]\n",
	    s->base_tag);
	sha256_init(&h);
	sha256_add(&h, df.data, df.len);
	sha256_add(&h, rt->name, strlen(rt->name));
	sha256_add(&h, s->agent.data, s->agent.len);
	for (i = 0; i < nitems(kernels); i++)
		sha256_add(&h, kernels[i].data, *kernels[i].len);
	sha256_hex(&h, hex);
	buf_printf(&df,
	    "LABEL " LABEL_MANAGED "=true " LABEL_RUNTIME "=%s " LABEL_HASH
	    "=%s\n",
	    rt->name, hex);

	if (image_inspect(s, tag, &v, errp) == 0) {
		have = json_str(v, "Config", "Labels", LABEL_HASH, NULL);
		if (have != NULL && strcmp(have, hex) == 0 && !s->o->force) {
			yajl_tree_free(v);
			say(s, "image %s is up to date", tag);
			return 0;
		}
		if (json_str(v, "Id", NULL) != NULL)
			old_id = xstrdup(json_str(v, "Id", NULL));
		yajl_tree_free(v);
	} else if ((*errp)->kind != ERR_NOTFOUND)
		return -1;
	err_free(errp);

	say(s, "building image %s", tag);
	if (tar_add(&ctx, "Dockerfile", df.data, df.len, 0644, errp) == -1 ||
	    tar_add(&ctx, "isol8-agent", s->agent.data, s->agent.len, 0755,
	        errp) == -1) {
		free(old_id);
		return -1;
	}
	for (i = 0; i < nitems(kernels); i++) {
		cleanup_free char *name =
		    xasprintf("kernels/%s", kernels[i].name);

		if (tar_add(&ctx, name, kernels[i].data, *kernels[i].len, 0644,
		        errp) == -1) {
			free(old_id);
			return -1;
		}
	}
	tar_end(&ctx);
	docker_image_build(s->d, &ctx, tag, build_line, docker_sync_cb, &c);
	docker_sync_wait(s->d, &c);
	buf_free(&c.body);
	if (c.err != NULL) {
		*errp = c.err;
		free(old_id);
		return err_wrap(errp, "building %s", tag);
	}
	/*
	 * The previous build is superseded: removed after its containers.
	 * Unless the build cache gave back the very same image (--force on
	 * an unchanged context): that one is the current image.
	 */
	if (old_id != NULL && image_inspect(s, tag, &v, errp) == 0) {
		const char *now = json_str(v, "Id", NULL);

		if (now != NULL && strcmp(now, old_id) == 0) {
			free(old_id);
			old_id = NULL;
		}
		yajl_tree_free(v);
	}
	err_free(errp);
	if (old_id != NULL && s->nold < (int)nitems(s->old_ids))
		s->old_ids[s->nold++] = old_id;
	else
		free(old_id);
	return 0;
}

/*
 * Warm containers started from an image that has since been rebuilt would
 * still match their pool key (it names the image, not its id): remove
 * every unclaimed warm container whose image id is no longer current.
 */
static int
stale_warm_remove(struct setup *s, struct err **errp)
{
	struct docker_sync c = { .arg = s };
	const char *image, *id, *cid;
	yajl_val list = NULL, v = NULL;
	size_t i;
	int n = 0;

	docker_container_list(s->d, "{\"label\":[\"" LABEL_KIND "=warm\"]}", 1,
	    docker_sync_cb, &c);
	docker_sync_wait(s->d, &c);
	if (c.err != NULL) {
		*errp = c.err;
		buf_free(&c.body);
		return -1;
	}
	list = json_parse(c.body.data ? c.body.data : "[]", c.body.len, errp);
	buf_free(&c.body);
	for (i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
		image = json_str(list->u.array.values[i], "Image", NULL);
		id = json_str(list->u.array.values[i], "ImageID", NULL);
		cid = json_str(list->u.array.values[i], "Id", NULL);
		if (image == NULL || id == NULL || cid == NULL)
			continue;
		/*
		 * dockerd shows an image id instead of the name once the
		 * name has moved to a newer image: stale.
		 */
		if (strncmp(id, "sha256:", 7) == 0 &&
		    strncmp(image, id + 7, strlen(image)) == 0)
			goto remove;
		if (image_inspect(s, image, &v, errp) == 0) {
			const char *now = json_str(v, "Id", NULL);

			if (now != NULL && strcmp(now, id) == 0) {
				yajl_tree_free(v);
				continue;
			}
			yajl_tree_free(v);
		} else
			err_free(errp);
	remove : {
		struct docker_sync rc = { .arg = s };

		docker_container_remove(s->d, cid, 1, docker_sync_cb, &rc);
		docker_sync_wait(s->d, &rc);
		err_free(&rc.err);
		buf_free(&rc.body);
		n++;
	}
	}
	yajl_tree_free(list);
	if (n > 0)
		say(s, "removed %d warm container(s) of older images", n);
	for (i = 0; i < (size_t)s->nold; i++) {
		struct docker_sync rc = { .arg = s };

		docker_image_remove(
		    s->d, s->old_ids[i], 0, docker_sync_cb, &rc);
		docker_sync_wait(s->d, &rc);
		err_free(&rc.err);
		buf_free(&rc.body);
		free(s->old_ids[i]);
	}
	s->nold = 0;
	return 0;
}

/* Remove superseded isol8 images: dangling builds and older bases. */
static void
images_prune(struct setup *s)
{
	static const char *const filters[] = {
		"{\"dangling\":[\"true\"],\"label\":[\"" LABEL_MANAGED
		"=true\"]}",
		"{\"reference\":[\"" IMAGES_REPO "/base\"]}",
	};
	struct docker_sync c = { .arg = s };
	cleanup_err struct err *e = NULL;
	yajl_val list, tags;
	const char *id, *tag;
	size_t f, i;
	int n = 0;

	for (f = 0; f < nitems(filters); f++) {
		c.done = 0;
		docker_image_list(s->d, filters[f], docker_sync_cb, &c);
		docker_sync_wait(s->d, &c);
		list = c.err ? NULL
		             : json_parse(c.body.data ? c.body.data : "[]",
		                   c.body.len, &e);
		err_free(&c.err);
		buf_free(&c.body);
		for (i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
			struct docker_sync rc = { .arg = s };

			id = json_str(list->u.array.values[i], "Id", NULL);
			tags =
			    json_get(list->u.array.values[i], "RepoTags", NULL);
			tag = YAJL_IS_ARRAY(tags) && tags->u.array.len > 0 &&
			        YAJL_IS_STRING(tags->u.array.values[0])
			    ? tags->u.array.values[0]->u.string
			    : NULL;
			if (id == NULL ||
			    (f == 1 && tag != NULL &&
			        strcmp(tag, s->base_tag) == 0))
				continue;
			/* In use (a warm container): it stays, for now. */
			docker_image_remove(s->d, f == 1 && tag ? tag : id, 0,
			    docker_sync_cb, &rc);
			docker_sync_wait(s->d, &rc);
			n += rc.err == NULL;
			err_free(&rc.err);
			buf_free(&rc.body);
		}
		yajl_tree_free(list);
	}
	if (n > 0)
		say(s, "removed %d superseded image(s)", n);
}

/*
 * The base, then every runtime image, then what they superseded. Each
 * Docker call is waited for on d's loop, which must be the caller's own.
 */
int
images_setup(struct docker *d, const struct images_opts *o, struct err **errp)
{
	struct setup s;
	struct docker_sync c = { 0 };
	const struct runtime *rts;
	size_t i, n;
	int rc = -1;

	memset(&s, 0, sizeof s);
	s.d = d;
	s.o = o;
	docker_ping(d, docker_sync_cb, &c);
	docker_sync_wait(d, &c);
	buf_free(&c.body);
	if (c.err != NULL) {
		*errp = c.err;
		return -1;
	}
	say(&s, "Docker is reachable at %s", docker_socket(d));
	if (agent_load(&s, errp) == -1 || base_ensure(&s, errp) == -1)
		goto out;
	rts = runtime_all(&n);
	for (i = 0; i < n; i++)
		if (runtime_ensure(&s, &rts[i], errp) == -1)
			goto out;
	if (stale_warm_remove(&s, errp) == -1)
		goto out;
	images_prune(&s);
	rc = 0;
out:
	buf_free(&s.agent);
	for (i = 0; i < (size_t)s.nold; i++)
		free(s.old_ids[i]);
	return rc;
}
