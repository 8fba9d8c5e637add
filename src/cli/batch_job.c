/*
 * A line of the job list into a job (docs/batch.md "Jobs"). The request
 * itself is parsed by the shared wire format (src/api/, api_request_parse),
 * which names the field in its errors; a job adds its line -- the line
 * number is the id when the line gave none, and every error says
 * "line N: ..." -- and lets `file` read below the job file's folder. A
 * job's error is part of its result (j->error), not a failure of the
 * batch: it is reported in the job's place and the batch goes on.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

/* An error result quotes at most this much of the parser's message. */
#define JOB_MAX_ERROR 512

/*
 * Parse one line into j. Returns 0, or -1 with j->error set; j->id is
 * always set (the line's id, or its number), so an error result has one.
 */
int
batch_job_parse(const char *text, size_t len, long line, const char *dir,
    struct batch_job *j)
{
	const struct api_request_opts o = { 1, dir };
	struct err *e = NULL;
	int rc;

	memset(j, 0, sizeof *j);
	j->line = line;
	rc = api_request_parse(text, len, &o, &j->api, &e);
	j->id = j->api.id != NULL ? xstrdup(j->api.id) : xasprintf("%ld", line);
	if (rc == -1) {
		j->error =
		    xasprintf("line %ld: %.*s", line, JOB_MAX_ERROR, e->msg);
		err_free(&e);
	}
	return rc;
}

void
batch_job_free(struct batch_job *j)
{
	free(j->id);
	free(j->error);
	api_request_free(&j->api);
	memset(j, 0, sizeof *j);
}
