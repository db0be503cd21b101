/* A main for fuzz targets built without libFuzzer: it runs LLVMFuzzerTestOneInput once on every
 * file named on the command line, and on every regular file inside every directory named there.
 * Plain C and stdio, so the targets also build with g++ and run under MSan and Valgrind, and the
 * committed corpora replay as ordinary tests (`meson test --suite fuzz`).
 *
 * Exits 0 when it ran at least one input and every one returned; 1 when an argument cannot be read
 * or no input was found (an empty corpus must not pass as a test). A failing input aborts inside
 * the target, which the test runner sees. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 0;
  }
  size_t capacity = 4096, size = 0;
  uint8_t *data = malloc(capacity);
  size_t got;
  while (data != NULL && (got = fread(data + size, 1, capacity - size, file)) > 0) {
    size += got;
    if (size == capacity) {
      uint8_t *bigger = realloc(data, capacity *= 2);
      if (bigger == NULL) free(data);
      data = bigger;
    }
  }
  int ok = data != NULL && !ferror(file);
  fclose(file);
  if (!ok) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    free(data);
    return 0;
  }
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 1;
}

/* Runs every regular file in `dir`; adds their number to *count. Returns 0 on a read error. */
static int run_directory(const char *dir, long *count) {
  DIR *stream = opendir(dir);
  if (stream == NULL) {
    fprintf(stderr, "replay: cannot open directory %s\n", dir);
    return 0;
  }
  int ok = 1;
  struct dirent *entry;
  while (ok && (entry = readdir(stream)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    size_t length = strlen(dir) + strlen(entry->d_name) + 2;
    char *path = malloc(length);
    if (path == NULL) {
      ok = 0;
      break;
    }
    snprintf(path, length, "%s/%s", dir, entry->d_name);
    struct stat info = {0}; /* zeroed: MSan (clang 14) does not see glibc 2.36's stat fill it */
    if (stat(path, &info) == 0 && S_ISREG(info.st_mode)) {
      ok = run_file(path);
      *count += ok;
    }
    free(path);
  }
  closedir(stream);
  return ok;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long count = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat info = {0}; /* zeroed: MSan (clang 14) does not see glibc 2.36's stat fill it */
    if (stat(argv[i], &info) != 0) {
      fprintf(stderr, "replay: cannot stat %s\n", argv[i]);
      return 1;
    }
    if (S_ISDIR(info.st_mode)) {
      if (!run_directory(argv[i], &count)) return 1;
    } else {
      if (!run_file(argv[i])) return 1;
      ++count;
    }
  }
  if (count == 0) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  printf("replay: %ld inputs ran without a failure\n", count);
  return 0;
}
