/* The drop-in's C entry points against the C contract, from a plain program that is not linked with
 * nodealloc: run with LD_PRELOAD=libnodealloc.so (tests/override/meson.build), it first checks that
 * malloc really is nodealloc's (the same object as na_malloc, which only the drop-in defines),
 * then calls every function core/override/malloc_override.cc exports and checks each answer:
 * alignment as asked, usable size at least the request, calloc's zeros, realloc's kept contents,
 * and NULL with the POSIX errno (or posix_memalign's return) for impossible sizes and alignments.
 * The C API's own tests check na_* in-process; this is the layer in between, where an argument
 * dropped or swapped on the way from malloc's name to its body would show. Prints one line per
 * failed check and a summary; exits 0 only when every check held.
 *
 * It also checks what the drop-in brings into a C program: no C++ runtime (libstdc++, libm,
 * libgcc_s are not mapped), and an operator new that, called by hand where no runtime could
 * catch a std::bad_alloc, serves a block and, for an impossible size, ends the process in abort()
 * with nodealloc's one line (core/override/new_override.cc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Entry points glibc 2.36 does not define (free_sized, free_aligned_sized: C23) or no longer links
 * against (cfree): found in the drop-in at run time. */
static void (*free_sized)(void *block, size_t size);
static void (*free_aligned_sized)(void *block, size_t alignment, size_t size);
static void (*cfree)(void *block);

static int checks, failures;

static void check(int ok, const char *what, size_t a, size_t b) {
  ++checks;
  if (!ok) {
    ++failures;
    printf("override: FAILED %s (%zu, %zu)\n", what, a, b);
  }
}

/* A value the compiler cannot see, so that it neither warns about the impossible (or odd) sizes
 * and alignments below nor folds their calls away. */
static size_t opaque(size_t value) {
  volatile size_t hidden = value;
  return hidden;
}

/* The answer of a call the compiler must not judge itself: clang removes an allocation nobody
 * uses and folds its comparison with NULL to false, whatever the size. */
static void *seen(void *block) {
  void *volatile hidden = block;
  return hidden;
}

static int aligned(const void *block, size_t alignment) { return ((uintptr_t)block % alignment) == 0; }

/* A block as malloc promises it: non-NULL, aligned to `alignment` (and to 16), with room for
 * `size` bytes, all of which can be written. */
static void check_block(void *block, size_t size, size_t alignment, const char *what) {
  check(block != NULL, what, size, alignment);
  if (block == NULL) return;
  check(aligned(block, alignment) && aligned(block, 16), what, size, alignment);
  check(malloc_usable_size(block) >= size, what, size, malloc_usable_size(block));
  memset(block, 0xa5, size);
}

static int all_bytes(const unsigned char *bytes, size_t size, unsigned char value) {
  for (size_t i = 0; i < size; ++i)
    if (bytes[i] != value) return 0;
  return 1;
}

/* Whether /proc/self/maps maps a file whose name contains `name`. */
static int mapped(const char *name) {
  FILE *maps = fopen("/proc/self/maps", "r");
  if (maps == NULL) return 1; /* cannot tell: count it as there, so the check fails */
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, maps) != NULL) found = strstr(line, name) != NULL;
  fclose(maps);
  return found;
}

/* operator new(size), called by hand in a child whose stderr is a pipe: the child's exit status
 * and what it wrote (at most capacity - 1 bytes). */
static int new_in_child(size_t size, char *output, size_t capacity) {
  void *(*new_)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znwm");
  void (*delete_)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdlPv");
  int out[2];
  if (new_ == NULL || delete_ == NULL || pipe(out) != 0) return -1;
  fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    dup2(out[1], 2);
    void *block = new_(opaque(size));
    delete_(block);
    _exit(block != NULL ? 0 : 3);
  }
  close(out[1]);
  size_t length = 0;
  ssize_t got;
  while (length + 1 < capacity && (got = read(out[0], output + length, capacity - 1 - length)) > 0) length += (size_t)got;
  output[length] = 0;
  close(out[0]);
  int status = -1;
  waitpid(child, &status, 0);
  return status;
}

int main(void) {
  /* On nodealloc: malloc comes from the object that defines na_malloc. */
  void *na_malloc = dlsym(RTLD_DEFAULT, "na_malloc");
  Dl_info ours, theirs;
  if (na_malloc == NULL || !dladdr(na_malloc, &ours) || !dladdr((void *)&malloc, &theirs) ||
      strcmp(ours.dli_fname, theirs.dli_fname) != 0) {
    printf("override: malloc is not nodealloc's (run with LD_PRELOAD=libnodealloc.so)\n");
    return 1;
  }
  *(void **)&free_sized = dlsym(RTLD_DEFAULT, "free_sized");
  *(void **)&free_aligned_sized = dlsym(RTLD_DEFAULT, "free_aligned_sized");
  *(void **)&cfree = dlsym(RTLD_DEFAULT, "cfree");
  if (free_sized == NULL || free_aligned_sized == NULL || cfree == NULL) {
    printf("override: free_sized, free_aligned_sized or cfree is missing\n");
    return 1;
  }
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4096, 40000, 70000, 1 << 20};
  const size_t nsizes = sizeof sizes / sizeof sizes[0];
  const size_t alignments[] = {16, 32, 64, 256, 4096, 65536, 1 << 20};
  const size_t nalignments = sizeof alignments / sizeof alignments[0];

  for (size_t i = 0; i < nsizes; ++i) {
    const size_t size = sizes[i];
    void *block = malloc(size);
    check_block(block, size, 16, "malloc");
    free(block);

    unsigned char *zeroed = calloc(size, 1);
    check(zeroed != NULL && all_bytes(zeroed, size, 0), "calloc zeros", size, 1);
    if (zeroed != NULL) check_block(zeroed, size, 16, "calloc");
    free_sized(zeroed, size);

    /* realloc keeps the prefix both sizes share, growing and shrinking; realloc(block, 0) frees
     * and returns NULL, as glibc's does. */
    unsigned char *bytes = malloc(size);
    if (bytes != NULL) memset(bytes, 0x3c, size);
    for (size_t j = 1; size > 0 && bytes != NULL && j < nsizes; ++j) {
      const size_t kept = sizes[j] < size ? sizes[j] : size;
      unsigned char *moved = realloc(bytes, sizes[j]);
      check(moved != NULL && all_bytes(moved, kept, 0x3c), "realloc keeps contents", size, sizes[j]);
      if (moved == NULL) break;
      check(malloc_usable_size(moved) >= sizes[j], "realloc usable size", size, sizes[j]);
      bytes = realloc(moved, size);  /* back, for the next size */
      check(bytes != NULL && all_bytes(bytes, kept, 0x3c), "realloc back keeps contents", sizes[j], size);
      if (bytes != NULL) memset(bytes, 0x3c, size);
    }
    if (size > 0) cfree(bytes);
    else check(realloc(bytes, 0) == NULL, "realloc(block, 0) frees", 0, 0);

    void *array = reallocarray(NULL, size, 3);
    check_block(array, size * 3, 16, "reallocarray");
    free(array);

    for (size_t k = 0; k < nalignments; ++k) {
      const size_t alignment = alignments[k];
      void *a = memalign(alignment, size);
      check_block(a, size, alignment, "memalign");
      free_aligned_sized(a, alignment, size);
      void *b = aligned_alloc(alignment, size);
      check_block(b, size, alignment, "aligned_alloc");
      free(b);
      void *c = (void *)1;
      check(posix_memalign(&c, alignment, size) == 0, "posix_memalign", size, alignment);
      check_block(c, size, alignment, "posix_memalign");
      free(c);
    }
    void *v = valloc(size);
    check_block(v, size, page, "valloc");
    free(v);
    void *p = pvalloc(size);
    check_block(p, (size + page - 1) / page * page, page, "pvalloc");
    free(p);
  }

  /* Impossible requests: NULL and ENOMEM (EINVAL for a bad alignment); posix_memalign returns the
   * error and leaves *result alone. */
  const size_t huge = opaque(SIZE_MAX);
  errno = 0;
  check(seen(malloc(huge)) == NULL && errno == ENOMEM, "malloc(SIZE_MAX)", huge, 0);
  errno = 0;
  check(seen(calloc(huge / 2, 3)) == NULL && errno == ENOMEM, "calloc overflow", huge / 2, 3);
  errno = 0;
  check(seen(reallocarray(NULL, huge / 2, 3)) == NULL && errno == ENOMEM, "reallocarray overflow", huge / 2, 3);
  void *kept = malloc(8);
  errno = 0;
  void *grown = seen(realloc(kept, huge - 4096));
  check(grown == NULL && errno == ENOMEM, "realloc(SIZE_MAX)", huge - 4096, 0);
  free(grown != NULL ? grown : kept);  /* a failed realloc leaves the block live */
  errno = 0;
  check(seen(memalign(opaque((size_t)1 << 62), 64)) == NULL && errno == ENOMEM, "memalign(2^62)", 64, 0);
  errno = 0;
  check(seen(memalign(huge, 64)) == NULL && errno == EINVAL, "memalign(SIZE_MAX)", 64, 0);
  /* glibc 2.36: an alignment that is not a power of two is rounded up to one. */
  void *rounded = aligned_alloc(opaque(24), 64);
  check_block(rounded, 64, 32, "aligned_alloc(24)");
  free(rounded);
  void *untouched = (void *)1;
  check(posix_memalign(&untouched, opaque(24), 64) == EINVAL && untouched == (void *)1, "posix_memalign(24)", 24, 64);
  check(posix_memalign(&untouched, opaque(4), 64) == EINVAL && untouched == (void *)1, "posix_memalign(4)", 4, 64);
  check(posix_memalign(&untouched, 64, huge - 4096) == ENOMEM && untouched == (void *)1,
        "posix_memalign(SIZE_MAX)", 64, huge - 4096);
  free(NULL);
  check(malloc_trim(0) == 1, "malloc_trim", 0, 0);

  check(!mapped("libstdc++") && !mapped("libgcc_s") && !mapped("/libm."), "no C++ runtime loaded", 0, 0);
  char output[512];
  int status = new_in_child(100, output, sizeof output);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "operator new without a C++ runtime", 100, (size_t)status);
  status = new_in_child(huge / 2, output, sizeof output);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
            strstr(output, "nodealloc: fatal: bad_alloc without a C++ runtime at 0x0 (size=") == output,
        "operator new(SIZE_MAX / 2) without a C++ runtime aborts with one line", huge / 2, (size_t)status);

  printf("override: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
