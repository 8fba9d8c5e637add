/*
 * isol8 setup: the runtime images, offline, with their baked packages.
 *
 * 1. The base: a Debian bookworm root filesystem with python3 (and pip),
 *    nodejs (and npm), bash, Bun and Deno, made by the embedded
 *    mkrootfs.sh from the host's apt mirror and npm (no container
 *    registry), imported through the API as <repo>/base:<hash of the
 *    script>. Built only when that tag is missing.
 * 2. Per runtime, <repo>/<runtime>:latest = base + the CA bundle
 *    (packages.caBundle) + the runtime's baked packages (install.c's
 *    installer as a RUN step, with the host's network) + the agent as
 *    PID 1 and the session kernels, built with POST /build from a tar
 *    context made in memory. The label org.isol8.hash covers the
 *    Dockerfile (so the packages and registries), the certificates, the
 *    agent's bytes and the base: an unchanged setup builds nothing, a new
 *    agent or list rebuilds. org.isol8.packages records the normalised
 *    list; the next setup adds to it (or, with replace, sets it).
 * 3. Clean-up: unclaimed warm containers of superseded images, then the
 *    superseded images themselves (never the current ones). A build that
 *    fails changes no tag and removes the layers it made.
 *
 * Setup waits for each Docker call (docker_sync_wait) on a loop that must
 * be the caller's own (the engine checks), and blocks only while the
 * (non-Docker) rootfs script runs. Every list, registry and the CA bundle
 * are checked before the first Docker call. The engine's
 * isol8_setup_sync() adds the self-check through the normal execution
 * path. <repo> is "isol8"; the tests build under a repository of their
 * own, so that they never touch the images everyone else runs.
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

#define NEW_IDS_MAX 16 /* layers one build makes */

/* What one build said: progress, the last lines, the layers it made. */
struct build_log {
	struct install_log tail; /* the installer's last lines */
	char *new_ids[NEW_IDS_MAX];
	size_t nids;
	int cached;     /* this step came from the build cache */
	int installing; /* this step is the packages' */
};

struct setup {
	struct docker *d;
	const struct images_opts *o;
	const char *repo;
	struct buf agent;
	struct ca_bundle ca;
	struct pkgs want[5]; /* per runtime_all() entry: the lists given */
	char base_tag[160];
	char *old_ids[8]; /* superseded images still in use by warm ones */
	int nold;
	struct build_log log;
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
build_log_reset(struct build_log *l)
{
	size_t i;

	install_log_free(&l->tail);
	for (i = 0; i < l->nids; i++)
		free(l->new_ids[i]);
	memset(l, 0, sizeof *l);
}

/* One line of the build's output: progress, tail, the layers made. */
static void
build_line_one(struct setup *s, const char *line, size_t len)
{
	struct build_log *l = &s->log;
	char clean[1024];
	size_t n;

	install_line_clean(clean, sizeof clean, line, len);
	if (clean[0] == '\0')
		return;
	if (strncmp(clean, "Step ", 5) == 0) {
		say(s, "  %s", clean);
		l->cached = 0;
		l->installing = strstr(clean, "isol8-install") != NULL;
		return;
	}
	if (strcmp(clean, " ---> Using cache") == 0) {
		l->cached = 1;
		return;
	}
	n = strspn(clean + 6, "0123456789abcdef");
	if (strncmp(clean, " ---> ", 6) == 0 && n >= 12 &&
	    clean[6 + n] == '\0') {
		if (!l->cached && l->nids < NEW_IDS_MAX)
			l->new_ids[l->nids++] = xstrdup(clean + 6);
		return;
	}
	if (strncmp(clean, " ---> Running in ", 17) == 0 ||
	    strncmp(clean, "Removing intermediate container ", 32) == 0)
		return;
	if (l->installing)
		say(s, "    %s", clean);
	install_log_add(&l->tail, clean);
}

static void
build_line(const char *text, void *arg)
{
	struct setup *s = ((struct docker_sync *)arg)->arg;
	const char *nl;

	/* A stream entry may hold several lines, or part of one. */
	while (*text != '\0') {
		nl = strchr(text, '\n');
		build_line_one(
		    s, text, nl ? (size_t)(nl - text) : strlen(text));
		if (nl == NULL)
			break;
		text = nl + 1;
	}
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
	    s->base_tag, sizeof s->base_tag, "%s/base:%.16s", s->repo, hex);
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
	snprintf(tar, sizeof tar, "/var/tmp/isol8-base-%.16s-%d.tar", hex,
	    (int)getpid());
	if (rootfs_build(s, tar, errp) == -1)
		return -1;
	if ((fd = open(tar, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		unlink(tar);
		return err_set(
		    errp, ERR_SYS, "opening %s: %s", tar, strerror(errno));
	}
	say(s, "importing %lld MB", (long long)st.st_size >> 20);
	*strchr(s->base_tag, ':') = '\0';
	docker_image_import(s->d, fd, st.st_size, s->base_tag,
	    s->base_tag + strlen(s->base_tag) + 1, NULL, docker_sync_cb, &c);
	s->base_tag[strlen(s->base_tag)] = ':';
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

/* Which entry of s->want (runtime_all() order) a runtime is. */
static size_t
rt_index(const struct runtime *rt)
{
	size_t n;

	return (size_t)(rt - runtime_all(&n));
}

/*
 * The Dockerfile of a runtime image carrying pkgs, and its hash (without
 * the LABEL line, which records it). With no CA bundle and no packages it
 * is the plain image's, byte for byte.
 */
static int
dockerfile_make(struct setup *s, const struct runtime *rt,
    const struct pkgs *pkgs, struct buf *df, char hex[65], struct err **errp)
{
	struct sha256 h;
	size_t i;

	buf_printf(df, "FROM %s\n", s->base_tag);
	if (s->ca.n > 0)
		buf_addstr(df,
		    "COPY ca/ /usr/local/share/ca-certificates/isol8/\n"
		    "RUN [\"update-ca-certificates\"]\n");
	if (pkgs->n > 0 &&
	    install_dockerfile(df, rt->name, &s->o->registries, pkgs, errp) ==
	        -1)
		return -1;
	buf_printf(df,
	    "COPY isol8-agent /isol8-agent\n"
	    "COPY kernels/ " KERNEL_DIR "/\n"
	    "WORKDIR /sandbox\nUSER 0:0\nENTRYPOINT []\n"
	    "CMD [\"/isol8-agent\"]\n");
	sha256_init(&h);
	sha256_add(&h, df->data, df->len);
	sha256_add(&h, rt->name, strlen(rt->name));
	sha256_add(&h, s->agent.data, s->agent.len);
	for (i = 0; i < nitems(kernels); i++)
		sha256_add(&h, kernels[i].data, *kernels[i].len);
	if (s->ca.n > 0)
		sha256_add(&h, s->ca.data.data, s->ca.data.len);
	sha256_hex(&h, hex);
	return 0;
}

/* The build context: the Dockerfile, the agent, kernels, certificates. */
static int
context_make(
    struct setup *s, const struct buf *df, struct buf *ctx, struct err **errp)
{
	size_t i;

	if (tar_add(ctx, "Dockerfile", df->data, df->len, 0644, errp) == -1 ||
	    tar_add(ctx, "isol8-agent", s->agent.data, s->agent.len, 0755,
	        errp) == -1)
		return -1;
	for (i = 0; i < nitems(kernels); i++) {
		cleanup_free char *name =
		    xasprintf("kernels/%s", kernels[i].name);

		if (tar_add(ctx, name, kernels[i].data, *kernels[i].len, 0644,
		        errp) == -1)
			return -1;
	}
	for (i = 0; i < s->ca.n; i++) {
		cleanup_free char *name = xasprintf("ca/isol8-%04zu.crt", i);

		if (tar_add(ctx, name, s->ca.data.data + s->ca.off[i],
		        s->ca.len[i], 0644, errp) == -1)
			return -1;
	}
	tar_end(ctx);
	return 0;
}

/*
 * A build failed: say why in the installer's words when its step failed,
 * and remove the layers this build made (no tag moved; none of them is
 * anyone's), newest first.
 */
static int
build_failed(struct setup *s, const struct runtime *rt, const char *tag,
    const struct pkgs *pkgs, struct err **errp)
{
	struct build_log *l = &s->log;
	cleanup_free char *list = pkgs_label(pkgs);
	struct buf why = { 0 };

	if (l->installing) {
		install_log_reason(&s->log.tail, rt->name, pkgs, &why);
		err_free(errp);
		err_set(errp, ERR_DOCKER,
		    "installing %s packages (%.100s%s) into %s failed: %s",
		    rt->name, list, strlen(list) > 100 ? "..." : "", tag,
		    buf_cstr(&why));
	} else
		err_wrap(errp, "building %s", tag);
	buf_free(&why);
	while (l->nids > 0) {
		struct docker_sync rc = { .arg = s };

		docker_image_remove(
		    s->d, l->new_ids[--l->nids], 0, docker_sync_cb, &rc);
		docker_sync_wait(s->d, &rc);
		err_free(&rc.err);
		buf_free(&rc.body);
		free(l->new_ids[l->nids]);
	}
	return -1;
}

/*
 * What a runtime's image is to carry: what it carries (its label) and the
 * lists given, or with replace the lists given alone.
 */
static int
packages_wanted(struct setup *s, const struct runtime *rt, yajl_val have,
    struct pkgs *out, struct err **errp)
{
	const struct pkgs *want = &s->want[rt_index(rt)];

	if (!s->o->replace && have != NULL &&
	    images_packages_parse(have, rt->name, out, errp) == -1)
		return err_wrap(errp,
		    "reading what the %s image carries (replace the list to "
		    "start again)",
		    rt->name);
	return pkgs_add_items(
	    out, rt->name, (const char *const *)want->v, want->n, errp);
}

/* <repo>/<runtime>:latest, rebuilt when its context hash changed. */
static int
runtime_ensure(struct setup *s, const struct runtime *rt, struct err **errp)
{
	cleanup_buf struct buf df = { 0 }, ctx = { 0 };
	cleanup_free char *tag = xasprintf("%s/%s:latest", s->repo, rt->name);
	cleanup_free char *list = NULL;
	struct docker_sync c = { .arg = s };
	struct pkgs pkgs = { 0 };
	char hex[65], *old_id = NULL;
	const char *have;
	yajl_val v = NULL;
	int rc = -1;

	if (image_inspect(s, tag, &v, errp) == -1) {
		if ((*errp)->kind != ERR_NOTFOUND)
			return -1;
		err_free(errp);
	}
	if (packages_wanted(s, rt, v, &pkgs, errp) == -1 ||
	    dockerfile_make(s, rt, &pkgs, &df, hex, errp) == -1)
		goto out;
	list = pkgs_label(&pkgs);
	if (pkgs.n > 0)
		buf_printf(&df, "LABEL " LABEL_PACKAGES "=\"%s\"\n", list);
	buf_printf(&df,
	    "LABEL " LABEL_MANAGED "=true " LABEL_RUNTIME "=%s " LABEL_HASH
	    "=%s\n",
	    rt->name, hex);
	if (v != NULL) {
		have = json_str(v, "Config", "Labels", LABEL_HASH, NULL);
		if (have != NULL && strcmp(have, hex) == 0 && !s->o->force) {
			say(s, "image %s is up to date%s%s", tag,
			    pkgs.n ? ", with " : "", list);
			rc = 0;
			goto out;
		}
		if (json_str(v, "Id", NULL) != NULL)
			old_id = xstrdup(json_str(v, "Id", NULL));
	}

	say(s, "building image %s%s%s", tag, pkgs.n ? " with " : "", list);
	if (context_make(s, &df, &ctx, errp) == -1)
		goto out;
	build_log_reset(&s->log);
	/* Installers reach registries with the host's own network, its
	 * loopback included (a registry the operator runs there). */
	docker_image_build(s->d, &ctx, tag, pkgs.n > 0 ? "host" : NULL,
	    build_line, docker_sync_cb, &c);
	docker_sync_wait(s->d, &c);
	buf_free(&c.body);
	if (c.err != NULL) {
		*errp = c.err;
		build_failed(s, rt, tag, &pkgs, errp);
		goto out;
	}
	rc = 0;
	/*
	 * The previous build is superseded: removed after its containers.
	 * Unless the build cache gave back the very same image (--force on
	 * an unchanged context): that one is the current image.
	 */
	yajl_tree_free(v);
	v = NULL;
	if (old_id != NULL && image_inspect(s, tag, &v, errp) == 0) {
		const char *now = json_str(v, "Id", NULL);

		if (now != NULL && strcmp(now, old_id) == 0) {
			free(old_id);
			old_id = NULL;
		}
	}
	err_free(errp);
	if (old_id != NULL && s->nold < (int)nitems(s->old_ids)) {
		s->old_ids[s->nold++] = old_id;
		old_id = NULL;
	}
out:
	free(old_id);
	yajl_tree_free(v);
	pkgs_free(&pkgs);
	build_log_reset(&s->log);
	return rc;
}

/* Whether an image id is one this setup superseded. */
static int
old_id(const struct setup *s, const char *id)
{
	int i;

	for (i = 0; i < s->nold; i++)
		if (strcmp(s->old_ids[i], id) == 0)
			return 1;
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
	if (list == NULL)
		return -1;
	for (i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
		image = json_str(list->u.array.values[i], "Image", NULL);
		id = json_str(list->u.array.values[i], "ImageID", NULL);
		cid = json_str(list->u.array.values[i], "Id", NULL);
		if (image == NULL || id == NULL || cid == NULL)
			continue;
		if (old_id(s, id))
			goto remove;
		/* Under another repository: another setup's to judge. */
		if (strcmp(s->repo, IMAGES_REPO) != 0 &&
		    (strncmp(image, s->repo, strlen(s->repo)) != 0 ||
		        image[strlen(s->repo)] != '/'))
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
	cleanup_free char *bases =
	    xasprintf("{\"reference\":[\"%s/base\"]}", s->repo);
	const char *filters[] = {
		"{\"dangling\":[\"true\"],\"label\":[\"" LABEL_MANAGED
		"=true\"]}",
		bases,
	};
	struct docker_sync c = { .arg = s };
	cleanup_err struct err *e = NULL;
	yajl_val list, tags;
	const char *id, *tag;
	size_t f, i;
	int n = 0;

	/* Untagged images have no repository: only isol8's own setup
	 * prunes them (a test's setup removes what it superseded by id). */
	for (f = strcmp(s->repo, IMAGES_REPO) == 0 ? 0 : 1; f < nitems(filters);
	     f++) {
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

/* The lists the options give for a runtime. */
static const struct isol8_packages *
opts_packages(const struct images_opts *o, const char *name)
{
	if (strcmp(name, "python") == 0)
		return &o->python;
	if (strcmp(name, "node") == 0)
		return &o->node;
	if (strcmp(name, "bun") == 0)
		return &o->bun;
	if (strcmp(name, "deno") == 0)
		return &o->deno;
	return &o->bash;
}

/*
 * Everything the caller gave, checked before the first Docker call: the
 * repository, every package list, the registries, the CA bundle.
 */
static int
setup_check(struct setup *s, struct err **errp)
{
	const struct isol8_packages *p;
	const struct runtime *rts;
	size_t i, n;

	s->repo = s->o->repo != NULL ? s->o->repo : IMAGES_REPO;
	if (*s->repo == '\0' || strlen(s->repo) > 64 ||
	    s->repo[strspn(
	        s->repo, "abcdefghijklmnopqrstuvwxyz0123456789._-")] != '\0')
		return err_set(errp, ERR_INVALID,
		    "image repository `%.80s`: lower-case letters, digits, . _ "
		    "- (at most 64)",
		    s->repo);
	rts = runtime_all(&n);
	for (i = 0; i < n && i < nitems(s->want); i++) {
		p = opts_packages(s->o, rts[i].name);
		if (p->len > 0 && p->items == NULL)
			return err_set(errp, ERR_INVALID,
			    "%s packages: %zu items but no array", rts[i].name,
			    p->len);
		if (pkgs_add_items(
		        &s->want[i], rts[i].name, p->items, p->len, errp) == -1)
			return -1;
	}
	if (registries_check(&s->o->registries, errp) == -1)
		return -1;
	if (s->o->ca_bundle != NULL &&
	    ca_load(&s->ca, s->o->ca_bundle, errp) == -1)
		return -1;
	return 0;
}

/*
 * The base, then every runtime image, then what they superseded (also
 * when a later image failed: the earlier ones are current now). Each
 * Docker call is waited for on d's loop, which must be the caller's own.
 */
int
images_setup(struct docker *d, const struct images_opts *o, struct err **errp)
{
	struct setup *s = xcalloc(1, sizeof *s);
	struct docker_sync c = { 0 };
	const struct runtime *rts;
	size_t i, n;
	int rc = -1;

	s->d = d;
	s->o = o;
	if (setup_check(s, errp) == -1)
		goto out;
	docker_ping(d, docker_sync_cb, &c);
	docker_sync_wait(d, &c);
	buf_free(&c.body);
	if (c.err != NULL) {
		*errp = c.err;
		goto out;
	}
	say(s, "Docker is reachable at %s", docker_socket(d));
	if (agent_load(s, errp) == -1 || base_ensure(s, errp) == -1)
		goto out;
	rts = runtime_all(&n);
	for (i = 0; i < n; i++)
		if (runtime_ensure(s, &rts[i], errp) == -1)
			break;
	rc = i == n ? 0 : -1;
	if (rc == 0 || s->nold > 0) {
		struct err *e2 = NULL;

		if (stale_warm_remove(s, rc == 0 ? errp : &e2) == -1)
			rc = -1;
		err_free(&e2);
		images_prune(s);
	}
out:
	buf_free(&s->agent);
	ca_free(&s->ca);
	for (i = 0; i < nitems(s->want); i++)
		pkgs_free(&s->want[i]);
	for (i = 0; i < (size_t)s->nold; i++)
		free(s->old_ids[i]);
	build_log_reset(&s->log);
	free(s);
	return rc;
}

/* The packages an image carries, from its inspect document (none when it
 * has no label: a plain image). */
int
images_packages_parse(
    yajl_val inspect, const char *runtime, struct pkgs *out, struct err **errp)
{
	const char *label =
	    json_str(inspect, "Config", "Labels", LABEL_PACKAGES, NULL);

	return label != NULL ? pkgs_from_label(out, runtime, label, errp) : 0;
}
