/*
 * Replay a fuzz target's corpus without libFuzzer: every file in the
 * directories given is fed to LLVMFuzzerTestOneInput once. Used by ctest
 * (label fuzz) so that every build, sanitized or not, runs the corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char **argv)
{
	struct dirent *de;
	char path[4096];
	int i, n = 0;
	DIR *d;

	for (i = 1; i < argc; i++) {
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d)) != NULL) {
			FILE *f;
			uint8_t *buf;
			long len;

			if (de->d_name[0] == '.')
				continue;
			snprintf(
			    path, sizeof path, "%s/%s", argv[i], de->d_name);
			if ((f = fopen(path, "rb")) == NULL)
				continue;
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			rewind(f);
			buf = malloc(len > 0 ? (size_t)len : 1);
			if (len > 0 &&
			    fread(buf, 1, (size_t)len, f) != (size_t)len)
				len = 0;
			fclose(f);
			LLVMFuzzerTestOneInput(buf, len > 0 ? (size_t)len : 0);
			free(buf);
			n++;
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", n);
	return n > 0 ? 0 : 1;
}
