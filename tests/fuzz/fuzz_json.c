/* Fuzz JSON parsing (dockerd replies) and generation (results we print). */
#include <stdint.h>
#include <string.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct err *e = NULL;
	struct buf b = { 0 };
	yajl_gen g;
	yajl_val v;

	v = json_parse((const char *)data, len, &e);
	if (v != NULL) {
		json_str(v, "Id", NULL);
		json_str(v, "Config", "Labels", "org.isol8.hash", NULL);
		json_bool(v, "State", "Running", NULL);
	}
	yajl_tree_free(v);
	err_free(&e);
	/*
	 * Whatever the bytes, the generated string (repaired to UTF-8) must
	 * parse back as a string of its length, NULs aside.
	 */
	g = json_gen_new();
	json_strn_add(g, (const char *)data, len);
	json_gen_take(g, &b);
	v = json_parse(b.data, b.len, &e);
	if (v == NULL || !YAJL_IS_STRING(v))
		__builtin_trap();
	yajl_tree_free(v);
	buf_free(&b);
	return 0;
}
