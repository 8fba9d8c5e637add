/*
 * The CA bundle setup adds to every image's trust store (packages.caBundle:
 * a host that inspects TLS, as a company proxy does, re-signs what the
 * registries send, and installs and user code in the sandbox must verify
 * it). The file is read once, bounded (CA_MAX_SIZE, CA_MAX certificates),
 * and split into one PEM certificate per entry: update-ca-certificates
 * links only the first certificate of a file into the hashed directory
 * OpenSSL looks in. Anything between the certificates (comments, text
 * dumps) is dropped; a file with no certificate is refused.
 */
#include <string.h>

#include "images.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

int
ca_load(struct ca_bundle *ca, const char *path, struct err **errp)
{
	cleanup_buf struct buf raw = { 0 };
	const char *p, *end, *b, *e;
	size_t body;

	memset(ca, 0, sizeof *ca);
	if (read_file(path, CA_MAX_SIZE, &raw, errp) == -1)
		return err_wrap(errp, "the CA bundle (packages.caBundle)");
	p = raw.data;
	end = raw.data + raw.len;
	while (p != NULL && p < end &&
	    (b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN))) !=
	        NULL) {
		e = memmem(b, (size_t)(end - b), PEM_END, strlen(PEM_END));
		if (e == NULL)
			break;
		/* Between the markers: base64 and line ends only. */
		body = (size_t)(e - b) - strlen(PEM_BEGIN);
		if (strspn(b + strlen(PEM_BEGIN),
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		        "0123456789+/=\r\n") < body) {
			ca_free(ca);
			return err_set(errp, ERR_INVALID,
			    "the CA bundle `%s` (packages.caBundle): certificate %zu is not base64 PEM",
			    path, ca->n + 1);
		}
		if (ca->n == CA_MAX) {
			ca_free(ca);
			return err_set(errp, ERR_INVALID,
			    "the CA bundle `%s` (packages.caBundle) holds more than %d certificates",
			    path, CA_MAX);
		}
		e += strlen(PEM_END);
		ca->off[ca->n] = ca->data.len;
		buf_add(&ca->data, b, (size_t)(e - b));
		buf_add(&ca->data, "\n", 1);
		ca->len[ca->n] = (size_t)(e - b) + 1;
		ca->n++;
		p = e;
	}
	if (ca->n == 0)
		return err_set(errp, ERR_INVALID,
		    "the CA bundle `%s` (packages.caBundle) holds no PEM certificate (" PEM_BEGIN
		    " ...)",
		    path);
	return 0;
}

void
ca_free(struct ca_bundle *ca)
{
	buf_free(&ca->data);
	ca->n = 0;
}
