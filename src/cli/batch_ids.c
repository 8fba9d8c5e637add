/*
 * Sets of job ids for `isol8 batch`: 64-bit FNV-1a hashes in an open
 * addressing table, 8 bytes per id (the ids themselves are not kept), for
 * duplicate detection and for the jobs a --resume finds done. A hash of
 * 0 is stored as 1: 0 marks an empty slot.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

/* The hash of an id of len bytes. */
uint64_t
batch_id_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* Add h; 1 when it was new, 0 when already there. */
int
batch_ids_add(struct batch_ids *s, uint64_t h)
{
	size_t i, cap;
	uint64_t *old;

	if (s->n * 2 >= s->cap) {
		old = s->slot;
		cap = s->cap;
		s->cap = cap ? cap * 2 : 1024;
		s->slot = xcalloc(s->cap, sizeof *s->slot);
		s->n = 0;
		for (i = 0; i < cap; i++)
			if (old[i])
				batch_ids_add(s, old[i]);
		free(old);
	}
	for (i = h & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return 0;
	s->slot[i] = h;
	s->n++;
	return 1;
}

int
batch_ids_has(const struct batch_ids *s, uint64_t h)
{
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = h & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return 1;
	return 0;
}

void
batch_ids_free(struct batch_ids *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}
