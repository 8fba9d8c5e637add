/*
 * images: what the sandboxes run. The runtimes table (how code of each
 * runtime is run in an image, and which file names select it), package
 * specs and their installers (docs/packages.md), and `isol8 setup`'s image
 * builds, offline: a Debian base made from the host's apt mirror, and per
 * runtime the base plus its baked packages, the agent and the session
 * kernels. Built through the Docker API only.
 */
#ifndef ISOL8_IMAGES_H
#define ISOL8_IMAGES_H

#include "isol8.h"
#include "../docker/docker.h"

#define IMAGES_REPO "isol8"
#define KERNEL_DIR "/usr/lib/isol8"         /* session kernels, in the images */
#define LABEL_PACKAGES "org.isol8.packages" /* the baked list, normalised */
#define LABEL_CUSTOM "org.isol8.custom"     /* "true": made by isol8 build */
#define LABEL_SETUP "org.isol8.setup"       /* build's commands, JSON array */
#define SETUP_MAX 64                        /* build's setup commands */
#define SETUP_MAX_BYTES (8u << 10)          /* all of them together */

/* Where baked packages live in an image (install.c says why there). */
#define PKG_NODE_DIR "/opt/isol8/node"
#define PKG_BUN_DIR "/opt/isol8/bun"
#define PKG_DENO_DIR "/opt/isol8/deno"
#define CA_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

#define REGISTRY_PIP_DEFAULT "https://pypi.org/simple"
#define REGISTRY_NPM_DEFAULT "https://registry.npmjs.org/"

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

/* packages.c: a normalised list of package specs of one runtime. */
#define PKG_MAX 256     /* packages in a list */
#define PKG_MAX_LEN 214 /* bytes of one spec */
struct pkgs {
	char **v; /* sorted by package, one spec per package */
	size_t n;
};
int pkgs_add(struct pkgs *, const char *, const char *, struct err **);
int pkgs_add_items(
    struct pkgs *, const char *, const char *const *, size_t, struct err **);
int pkgs_from_label(struct pkgs *, const char *, const char *, struct err **);
char *pkgs_label(const struct pkgs *);
int pkgs_missing(const char *, const struct pkgs *, const struct pkgs *,
    struct pkgs *, struct err **);
size_t pkg_name_len(const char *, const char *);
void pkgs_free(struct pkgs *);

/* install.c: the installers, at build time and at run time. */
struct registries {
	const char *pip_index_url; /* NULL: REGISTRY_PIP_DEFAULT */
	const char *npm_registry;  /* NULL: REGISTRY_NPM_DEFAULT */
};
enum install_when { INSTALL_BUILD, INSTALL_RUN };
struct install_cmd {
	char **argv; /* NULL-terminated */
	char **env;  /* K=V, NULL-terminated */
	char *cwd;
};
extern const char *const install_trust_env[];
const char *registry_url(const struct registries *, int);
int registries_check(const struct registries *, struct err **);
int install_endpoints(
    const char *, const struct registries *, char ***, struct err **);
int install_cmd(struct install_cmd *, const char *, enum install_when,
    const struct registries *, const struct pkgs *, struct err **);
void install_cmd_free(struct install_cmd *);
int install_dockerfile(struct buf *, const char *, const struct registries *,
    const struct pkgs *, struct err **);
const char *const *install_baked_env(const char *);
/* What an installer said, for its error: the last lines, cleaned. */
#define INSTALL_TAIL_LINES 16     /* kept */
#define INSTALL_TAIL_LINE_MAX 120 /* the end of each (the reason is there) */
#define INSTALL_TAIL_TELL 3       /* lines an error carries */
struct install_log {
	char *tail[INSTALL_TAIL_LINES];
	size_t next;
	struct buf partial; /* a line not ended yet (install_log_feed) */
};
void install_line_clean(char *, size_t, const char *, size_t);
void install_log_add(struct install_log *, const char *);
void install_log_feed(struct install_log *, const void *, size_t);
void install_log_reason(
    struct install_log *, const char *, const struct pkgs *, struct buf *);
void install_log_free(struct install_log *);
void strv_free(char **);

/* trust.c: the CA bundle, one certificate per file. */
#define CA_MAX 1024
#define CA_MAX_SIZE (4u << 20)
struct ca_bundle {
	struct buf data;
	size_t off[CA_MAX], len[CA_MAX];
	size_t n;
};
int ca_load(struct ca_bundle *, const char *, struct err **);
void ca_free(struct ca_bundle *);

/* images.c */
struct images_opts {
	int force;              /* rebuild even when up to date */
	const char *agent_path; /* NULL: $ISOL8_AGENT or next to us */
	void (*progress)(const char *, void *);
	void *arg;
	/* Baked packages per runtime (as in isol8_setup_opts), added to
	 * what each image carries, or with replace the whole list. */
	struct isol8_packages python, node, bun, deno, bash;
	int replace;
	struct registries registries;
	const char *ca_bundle; /* a PEM file, or NULL */
	const char *repo;      /* NULL: IMAGES_REPO (tests use their own) */
	/*
	 * isol8 build: only this image, of custom_runtime, carrying exactly
	 * that runtime's list above (replace or not), then the setup
	 * commands. NULL: setup's runtime images.
	 */
	const char *custom_tag;
	const char *custom_runtime;
	const char *const *setup;
	size_t setup_len;
};
int images_setup(struct docker *, const struct images_opts *, struct err **);
int images_packages_parse(yajl_val, const char *, struct pkgs *, struct err **);
char *images_tag_check(const char *, const char *, struct err **);
int images_custom_list(
    struct docker *, struct isol8_image **, size_t *, struct err **);
void images_custom_free(struct isol8_image *, size_t);

#endif
