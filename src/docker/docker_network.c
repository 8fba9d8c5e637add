/*
 * Network operations, for the filtered network mode: an internal network
 * (no route out) that sandboxes and isol8's proxy share.
 */
#include <stdlib.h>

#include "docker.h"

struct http_req *
docker_network_create(struct docker *d, const char *name, int internal,
    const char *const *labels, docker_cb cb, void *arg)
{
	cleanup_buf struct buf body = { 0 };
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	json_kstr(g, "Name", name);
	json_kbool(g, "CheckDuplicate", 1);
	json_kbool(g, "Internal", internal);
	if (labels != NULL) {
		json_key(g, "Labels");
		yajl_gen_map_open(g);
		for (; labels[0] != NULL && labels[1] != NULL; labels += 2)
			json_kstr(g, labels[0], labels[1]);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	json_gen_take(g, &body);
	return docker_call(d, "POST", "/networks/create", &body, cb, arg);
}

struct http_req *
docker_network_remove(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	cleanup_free char *path = xasprintf("/networks/%s", id);

	return docker_call(d, "DELETE", path, NULL, cb, arg);
}
