/* SPDX-License-Identifier: MIT */
/*
 * A main() for the fuzz targets when no fuzzing engine is linked: every
 * file named on the command line, and every regular file in every directory
 * named there, is read and passed once to LLVMFuzzerTestOneInput().  meson
 * runs each target over its corpus this way, so each input that ever found
 * a bug stays a regression test.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

/* Read a whole file into a buffer of exactly its size, so that a read past
 * the end is caught by ASan and valgrind as it would be under libFuzzer. */
static uint8_t *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *p = realloc(buf, cap);
      if (!p) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = p;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  uint8_t *exact = malloc(len ? len : 1);
  if (exact && len)
    memcpy(exact, buf, len);
  free(buf);
  *size = len;
  return exact;
}

static int run_file(const char *path) {
  size_t size;
  uint8_t *data = slurp(path, &size);
  if (!data) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int only_files(const struct dirent *d) { return d->d_name[0] != '.'; }

/* The number of files run, or -1. */
static long run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return run_file(path) < 0 ? -1 : 1;
  struct dirent **names;
  int n = scandir(path, &names, only_files, alphasort);
  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  long count = 0;
  for (int i = 0; i < n; i++) {
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
    if (count >= 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode))
      count = run_file(full) < 0 ? -1 : count + 1;
    free(names[i]);
  }
  free(names);
  return count;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
    return 2;
  }
  long total = 0;
  for (int i = 1; i < argc; i++) {
    long n = run_path(argv[i]);
    if (n < 0)
      return 1;
    total += n;
  }
  printf("%ld inputs replayed\n", total);
  /* An empty corpus is a mistake in the build, not a pass. */
  return total > 0 ? 0 : 1;
}
