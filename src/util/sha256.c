/*
 * SHA-256 for content hashes (image contexts, pool keys), from libcrypto,
 * which libcurl already loads. A hash in progress holds a digest context
 * until sha256_hex() ends it.
 */
#include <openssl/evp.h>

#include "util.h"

void
sha256_init(struct sha256 *h)
{
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		fatalx("sha256: libcrypto has no SHA-256");
}

void
sha256_add(struct sha256 *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		fatalx("sha256: digest update failed");
}

/* The digest as 64 hex digits and a NUL; the context is freed. */
void
sha256_hex(struct sha256 *h, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		fatalx("sha256: digest failed");
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	for (n = 0; n < 32; n++)
		snprintf(out + 2 * n, 3, "%02x", md[n]);
}
