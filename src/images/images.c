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
 * isol8 build (images_opts.custom_tag) makes one custom image the same
 * way under the caller's name: exactly its list, then its setup commands
 * as one `bash -e` RUN (exec form, the script a JSON string), labelled
 * org.isol8.custom and org.isol8.setup (the commands, a JSON array quoted
 * for the Dockerfile: \ " $). It never takes a name under isol8/ (or the
 * repository in use) nor one holding an image without org.isol8.custom,
 * and removes only what it superseded (no prune).
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
#include <ctype.h>
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

#define NEW_IDS_MAX 16             /* layers one build makes */
#define SETUP_MARK "# isol8-setup" /* the first line of build's script */

/* What one build said: progress, the last lines, the layers it made. */
struct build_log {
	struct install_log tail; /* the installer's last lines */
	char *new_ids[NEW_IDS_MAX];
	size_t nids;
	int cached;     /* this step came from the build cache */
	int installing; /* this step is the packages' */
	int setting_up; /* this step is build's setup commands' */
};

struct setup {
	struct docker *d;
	const struct images_opts *o;
	const char *repo;
	struct buf agent;
	struct ca_bundle ca;
	struct pkgs want[5]; /* per runtime_all() entry: the lists given */
	char *custom_tag;    /* isol8 build's, normalised; NULL for setup */
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
		l->setting_up = strstr(clean, SETUP_MARK) != NULL;
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
	if (l->installing || l->setting_up)
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
		    "the sandbox agent (isol8-agent) was not found; set ISOL8_AGENT to its path");
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
		    "building the base image needs root (debootstrap): run `isol8 setup` as root");
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
		    "building the base root filesystem failed (see the messages above)");
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
		say(s, "base image %s: Up to date", s->base_tag);
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

/* A JSON string into a Dockerfile's double quotes (LABEL k="..."). */
static void
dockerfile_quote(struct buf *df, const struct buf *json)
{
	size_t i;

	for (i = 0; i < json->len; i++) {
		if (strchr("\\\"$", json->data[i]) != NULL)
			buf_add(df, "\\", 1);
		buf_add(df, json->data + i, 1);
	}
}

/*
 * isol8 build's setup commands: one bash script (-e), as RUN's exec form,
 * so no shell of Docker's parses it; setup_check() bounded it.
 */
static void
setup_dockerfile(struct setup *s, struct buf *df)
{
	struct buf script = { 0 };
	yajl_gen g = json_gen_new();
	size_t i;

	buf_addstr(&script, SETUP_MARK ": isol8 build's setup commands\n");
	for (i = 0; i < s->o->setup_len; i++)
		buf_printf(&script, "%s\n", s->o->setup[i]);
	buf_addstr(df, "RUN [\"/bin/bash\", \"-e\", \"-c\", ");
	json_strn_add(g, script.data, script.len);
	json_gen_take(g, df);
	buf_addstr(df, "]\n");
	buf_free(&script);
}

/* The LABEL lines of a custom image: the mark and its setup commands. */
static void
custom_labels(struct setup *s, struct buf *df)
{
	struct buf json = { 0 };
	yajl_gen g;
	size_t i;

	buf_addstr(df, "LABEL " LABEL_CUSTOM "=true\n");
	if (s->o->setup_len == 0)
		return;
	g = json_gen_new();
	yajl_gen_array_open(g);
	for (i = 0; i < s->o->setup_len; i++)
		json_str_add(g, s->o->setup[i]);
	yajl_gen_array_close(g);
	json_gen_take(g, &json);
	buf_addstr(df, "LABEL " LABEL_SETUP "=\"");
	dockerfile_quote(df, &json);
	buf_addstr(df, "\"\n");
	buf_free(&json);
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
	if (s->custom_tag != NULL && s->o->setup_len > 0)
		setup_dockerfile(s, df);
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
	} else if (l->setting_up) {
		struct pkgs none = { 0 };

		install_log_reason(&s->log.tail, rt->name, &none, &why);
		err_free(errp);
		err_set(errp, ERR_DOCKER,
		    "the setup commands of %s failed (as root, in /, with bash -e): %s",
		    tag, buf_cstr(&why));
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

	/* A custom image carries exactly its list. */
	if (!s->o->replace && s->custom_tag == NULL && have != NULL &&
	    images_packages_parse(have, rt->name, out, errp) == -1)
		return err_wrap(errp,
		    "reading what the %s image carries (replace the list to start again)",
		    rt->name);
	return pkgs_add_items(
	    out, rt->name, (const char *const *)want->v, want->n, errp);
}

/*
 * An image isol8 did not build keeps its tag: a custom build refuses to
 * take a name that holds one (its removal as "superseded" would follow).
 */
static int
tag_ours(struct setup *s, yajl_val v, const char *tag, struct err **errp)
{
	const char *custom =
	    json_str(v, "Config", "Labels", LABEL_CUSTOM, NULL);

	if (s->custom_tag != NULL && (custom == NULL || strcmp(custom, "true")))
		return err_set(errp, ERR_INVALID,
		    "%s is an image isol8 build did not make: choose another --tag, or remove it first",
		    tag);
	return 0;
}

/*
 * <repo>/<runtime>:latest, or isol8 build's tag, rebuilt when its context
 * hash changed.
 */
static int
runtime_ensure(struct setup *s, const struct runtime *rt, struct err **errp)
{
	cleanup_buf struct buf df = { 0 }, ctx = { 0 };
	cleanup_free char *tag = s->custom_tag != NULL
	    ? xstrdup(s->custom_tag)
	    : xasprintf("%s/%s:latest", s->repo, rt->name);
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
	if ((v != NULL && tag_ours(s, v, tag, errp) == -1) ||
	    packages_wanted(s, rt, v, &pkgs, errp) == -1 ||
	    dockerfile_make(s, rt, &pkgs, &df, hex, errp) == -1)
		goto out;
	list = pkgs_label(&pkgs);
	if (pkgs.n > 0)
		buf_printf(&df, "LABEL " LABEL_PACKAGES "=\"%s\"\n", list);
	if (s->custom_tag != NULL)
		custom_labels(s, &df);
	buf_printf(&df,
	    "LABEL " LABEL_MANAGED "=true " LABEL_RUNTIME "=%s " LABEL_HASH
	    "=%s\n",
	    rt->name, hex);
	if (v != NULL) {
		have = json_str(v, "Config", "Labels", LABEL_HASH, NULL);
		if (have != NULL && strcmp(have, hex) == 0 && !s->o->force) {
			say(s, "image %s: Up to date%s%s", tag,
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
	docker_image_build(s->d, &ctx, tag,
	    pkgs.n > 0 || (s->custom_tag != NULL && s->o->setup_len > 0)
	        ? "host"
	        : NULL,
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

static int
islower_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One component of a repository path: [a-z0-9] at both ends, . _ - inside. */
static int
tag_component(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || !islower_digit(p[0]) || !islower_digit(p[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!islower_digit(p[i]) && strchr("._-", p[i]) == NULL)
			return 0;
	return 1;
}

/* A registry host: name labels of letters, digits and inner - or ., and
 * an optional :port. */
static int
tag_host(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	size_t h = colon ? (size_t)(colon - p) : n, i, port;

	if (h == 0 || !isalnum((unsigned char)p[0]) ||
	    !isalnum((unsigned char)p[h - 1]))
		return 0;
	for (i = 0; i < h; i++)
		if (!isalnum((unsigned char)p[i]) &&
		    ((p[i] != '.' && p[i] != '-') ||
		        (p[i] == '.' && !isalnum((unsigned char)p[i + 1]))))
			return 0;
	if (colon == NULL)
		return 1;
	port = n - h - 1;
	return port >= 1 && port <= 5 &&
	    strspn(colon + 1, "0123456789") >= port;
}

/*
 * A custom image's name, as Docker's references are (a registry host
 * with an optional port first, lower-case path components, an optional
 * :tag), normalised with ":latest"; never under isol8's own repository or
 * repo. NULL with ERR_INVALID otherwise.
 */
char *
images_tag_check(const char *ref, const char *repo, struct err **errp)
{
	const char *slash, *colon, *p, *end;
	size_t len = ref != NULL ? strlen(ref) : 0, n;
	int first = 1;

	if (len == 0 || len > 200)
		goto bad;
	slash = strrchr(ref, '/');
	colon = strrchr(slash ? slash : ref, ':');
	end = colon ? colon : ref + len;
	if (end == ref || end[-1] == '/')
		goto bad;
	if (colon != NULL &&
	    (colon[1] == '\0' || strlen(colon + 1) > 128 || colon[1] == '.' ||
	        colon[1] == '-' ||
	        colon[1 +
	            strspn(colon + 1,
	                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                "0123456789_.-")] != '\0'))
		goto bad;
	for (p = ref; p < end; p = p + n + 1, first = 0) {
		slash = memchr(p, '/', (size_t)(end - p));
		n = slash ? (size_t)(slash - p) : (size_t)(end - p);
		/* A registry host: has a dot or a port, or is localhost. */
		if (first && slash != NULL &&
		    (memchr(p, '.', n) || memchr(p, ':', n) ||
		        (n == 9 && strncmp(p, "localhost", 9) == 0))) {
			if (!tag_host(p, n))
				goto bad;
			continue;
		}
		if (!tag_component(p, n))
			goto bad;
		if (first && slash != NULL &&
		    ((n == strlen(IMAGES_REPO) &&
		         strncmp(p, IMAGES_REPO, n) == 0) ||
		        (repo != NULL && n == strlen(repo) &&
		            strncmp(p, repo, n) == 0))) {
			err_set(errp, ERR_INVALID,
			    "%s: %.*s/ is where setup keeps the runtime images; choose another name",
			    ref, (int)n, p);
			return NULL;
		}
		if (slash == NULL)
			break;
	}
	return colon ? xstrdup(ref) : xasprintf("%s:latest", ref);
bad:
	err_set(errp, ERR_INVALID,
	    "image name `%.80s`: [HOST[:PORT]/]NAME[:TAG], the name in lower case (a-z 0-9 . _ - /), the tag at most 128 of A-Z a-z 0-9 _ . -",
	    ref ? ref : "");
	return NULL;
}

/*
 * isol8 build's target: a known runtime, a name of the caller's, and at
 * most SETUP_MAX commands of SETUP_MAX_BYTES in all, UTF-8 text (tabs
 * and newlines, no other control bytes: they stay readable in a label).
 */
static int
custom_check(struct setup *s, struct err **errp)
{
	const struct images_opts *o = s->o;
	size_t i, j, total = 0, len;

	if (o->custom_runtime == NULL ||
	    runtime_find(o->custom_runtime) == NULL)
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%s` (python, node, bun, deno, bash)",
		    o->custom_runtime ? o->custom_runtime : "");
	if ((s->custom_tag = images_tag_check(o->custom_tag, s->repo, errp)) ==
	    NULL)
		return -1;
	if (o->setup_len > 0 && o->setup == NULL)
		return err_set(errp, ERR_INVALID,
		    "%zu setup commands but no array", o->setup_len);
	if (o->setup_len > SETUP_MAX)
		return err_set(errp, ERR_INVALID,
		    "%zu setup commands: at most %d", o->setup_len, SETUP_MAX);
	for (i = 0; i < o->setup_len; i++) {
		struct buf tmp = { 0 };
		size_t out;
		int utf8;

		len = o->setup[i] ? strlen(o->setup[i]) : 0;
		total += len;
		if (len == 0)
			return err_set(errp, ERR_INVALID,
			    "setup command %zu is empty", i + 1);
		if (total > SETUP_MAX_BYTES)
			return err_set(errp, ERR_INVALID,
			    "the setup commands are over %u bytes in all (at command %zu)",
			    SETUP_MAX_BYTES, i + 1);
		for (j = 0; j < len; j++)
			if (((unsigned char)o->setup[i][j] < 0x20 &&
			        o->setup[i][j] != '\n' &&
			        o->setup[i][j] != '\t') ||
			    o->setup[i][j] == 0x7f)
				return err_set(errp, ERR_INVALID,
				    "setup command %zu has a control byte (0x%02x)",
				    i + 1, (unsigned char)o->setup[i][j]);
		utf8 = json_utf8(o->setup[i], len, &tmp, &out) == o->setup[i];
		buf_free(&tmp);
		if (!utf8)
			return err_set(errp, ERR_INVALID,
			    "setup command %zu is not UTF-8 text", i + 1);
	}
	return 0;
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
		    "image repository `%.80s`: lower-case letters, digits, . _ - (at most 64)",
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
	if (s->o->custom_tag != NULL && custom_check(s, errp) == -1)
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
		if ((s->custom_tag == NULL ||
		        strcmp(rts[i].name, o->custom_runtime) == 0) &&
		    runtime_ensure(s, &rts[i], errp) == -1)
			break;
	rc = i == n ? 0 : -1;
	if (rc == 0 || s->nold > 0) {
		struct err *e2 = NULL;

		if (stale_warm_remove(s, rc == 0 ? errp : &e2) == -1)
			rc = -1;
		err_free(&e2);
		/* A custom build removes only what it superseded. */
		if (s->custom_tag == NULL)
			images_prune(s);
	}
out:
	free(s->custom_tag);
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

/* A label holding a JSON array of strings, as a string vector. */
static void
label_strv(yajl_val labels, const char *key, char ***v, size_t *n)
{
	const char *text = json_str(labels, key, NULL);
	cleanup_err struct err *e = NULL;
	yajl_val a;
	size_t i;

	*v = NULL;
	*n = 0;
	if (text == NULL || (a = json_parse(text, strlen(text), &e)) == NULL)
		return;
	if (YAJL_IS_ARRAY(a)) {
		*v = xcalloc(a->u.array.len + 1, sizeof **v);
		for (i = 0; i < a->u.array.len; i++)
			if (YAJL_IS_STRING(a->u.array.values[i]))
				(*v)[(*n)++] =
				    xstrdup(a->u.array.values[i]->u.string);
	}
	yajl_tree_free(a);
}

/* One entry per tag of a listed custom image. */
static void
custom_add(yajl_val img, const char *tag, struct isol8_image **out, size_t *n)
{
	yajl_val labels = json_get(img, "Labels", NULL);
	const char *pk = json_str(labels, LABEL_PACKAGES, NULL);
	struct isol8_image *m;
	long long num;
	char *p, *save = NULL, *copy;

	*out = xreallocarray(*out, *n + 1, sizeof **out);
	m = &(*out)[(*n)++];
	memset(m, 0, sizeof *m);
	m->tag = xstrdup(tag);
	m->id =
	    xstrdup(json_str(img, "Id", NULL) ? json_str(img, "Id", NULL) : "");
	m->runtime = xstrdup(json_str(labels, LABEL_RUNTIME, NULL)
	        ? json_str(labels, LABEL_RUNTIME, NULL)
	        : "");
	if (json_int(img, &num, "Created", NULL) == 0)
		m->created = num;
	if (json_int(img, &num, "Size", NULL) == 0)
		m->size = num;
	copy = xstrdup(pk ? pk : "");
	m->packages = xcalloc(strlen(copy) / 2 + 2, sizeof *m->packages);
	for (p = strtok_r(copy, " ", &save); p != NULL;
	     p = strtok_r(NULL, " ", &save))
		m->packages[m->packages_len++] = xstrdup(p);
	free(copy);
	label_strv(labels, LABEL_SETUP, &m->setup, &m->setup_len);
}

static int
custom_cmp(const void *a, const void *b)
{
	return strcmp(((const struct isol8_image *)a)->tag,
	    ((const struct isol8_image *)b)->tag);
}

/* The images isol8 build made (label org.isol8.custom), one per tag. */
int
images_custom_list(
    struct docker *d, struct isol8_image **out, size_t *n, struct err **errp)
{
	struct docker_sync c = { 0 };
	yajl_val list, img, tags;
	size_t i, j;

	*out = NULL;
	*n = 0;
	docker_image_list(
	    d, "{\"label\":[\"" LABEL_CUSTOM "=true\"]}", docker_sync_cb, &c);
	docker_sync_wait(d, &c);
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
		img = list->u.array.values[i];
		tags = json_get(img, "RepoTags", NULL);
		for (j = 0; YAJL_IS_ARRAY(tags) && j < tags->u.array.len; j++)
			if (YAJL_IS_STRING(tags->u.array.values[j]) &&
			    strcmp(tags->u.array.values[j]->u.string,
			        "<none>:<none>") != 0)
				custom_add(img,
				    tags->u.array.values[j]->u.string, out, n);
	}
	yajl_tree_free(list);
	if (*n > 1)
		qsort(*out, *n, sizeof **out, custom_cmp);
	return 0;
}

static void
strv_n_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
images_custom_free(struct isol8_image *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].tag);
		free(v[i].id);
		free(v[i].runtime);
		strv_n_free(v[i].packages, v[i].packages_len);
		strv_n_free(v[i].setup, v[i].setup_len);
	}
	free(v);
}
