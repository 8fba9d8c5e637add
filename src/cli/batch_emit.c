/*
 * Result lines of `isol8 batch`, written as jobs end (completion order) or
 * in the order of the job list (--order input): a result that comes before
 * its turn is held until every earlier line's result is written.
 *
 * Invariants:
 * - every line (seq 0, 1, 2, ...) is given exactly once, with its text or
 *   with NULL (a resumed job: nothing to write, but its turn passes);
 * - at most BATCH_ORDER_MAX results are held: a job starts only while
 *   the held results and the jobs in flight (each of which may end up
 *   held) are fewer (batch_emit_room()). Counting only the held ones let
 *   the jobs already running overflow the array when the first job was
 *   slow (`--order input -c 4`: 1026 held);
 * - each line is written whole and flushed (cli_out); after a failed
 *   write the sink drops everything silently and batch_emit() says -1.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

static int
emit_write(struct batch_emit *em, const char *text)
{
	if (text == NULL)
		return 0;
	return cli_out_write(em->out, text, strlen(text));
}

/*
 * The result of line seq (text is taken; NULL: none). -1 when a write
 * failed (said once, by cli_out): the batch should stop.
 */
int
batch_emit(struct batch_emit *em, uint64_t seq, char *text)
{
	int i, found, rc = 0;

	if (!em->ordered) {
		rc = emit_write(em, text);
		free(text);
		return rc;
	}
	if (em->nheld == BATCH_ORDER_MAX)
		fatalx("batch: more than %d results held", BATCH_ORDER_MAX);
	em->held[em->nheld].seq = seq;
	em->held[em->nheld++].text = text;
	do {
		found = 0;
		for (i = 0; i < em->nheld; i++) {
			if (em->held[i].seq != em->next)
				continue;
			if (emit_write(em, em->held[i].text) == -1)
				rc = -1;
			free(em->held[i].text);
			em->held[i] = em->held[--em->nheld];
			em->next++;
			found = 1;
			break;
		}
	} while (found);
	return rc;
}

/*
 * Whether one more line may be taken, with inflight jobs running: its
 * result, and theirs, will each have a place.
 */
int
batch_emit_room(const struct batch_emit *em, unsigned inflight)
{
	return !em->ordered || (size_t)em->nheld + inflight < BATCH_ORDER_MAX;
}

void
batch_emit_free(struct batch_emit *em)
{
	int i;

	for (i = 0; i < em->nheld; i++)
		free(em->held[i].text);
	em->nheld = 0;
}
