/* run_measured: runs one command and writes its wall time, CPU time and peak RSS, for
   tools/bench-programs.

     run_measured RESULT_FILE COMMAND [ARGUMENT...]

   RESULT_FILE gets one line: "wall_s user_s system_s peak_rss_kib exit_code" (exit_code is
   128 + the signal when the command was killed). The command's exit status is run_measured's.

   Why not measure from the Python runner itself: a process's peak RSS (ru_maxrss) starts at that
   of the process it was forked from, since exec keeps the high-water mark of the memory it
   replaces. Forked from a 20 MiB Python, every workload would read at least 20 MiB. Forked from
   this program, which allocates nothing, the floor is about a megabyte, below any program's own
   (libc alone maps more). For the same reason the allocator is not preloaded into run_measured:
   the runner passes it as BENCH_PRELOAD, which becomes the command's LD_PRELOAD between fork and
   exec. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fputs("usage: run_measured RESULT_FILE COMMAND [ARGUMENT...]\n", stderr);
    return 2;
  }
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const pid_t child = fork();
  if (child < 0) {
    perror("run_measured: fork");
    return 2;
  }
  if (child == 0) {
    const char *preload = getenv("BENCH_PRELOAD");
    if (preload != NULL && *preload != '\0') setenv("LD_PRELOAD", preload, 1);
    unsetenv("BENCH_PRELOAD");
    execvp(argv[2], argv + 2);
    perror("run_measured: exec");
    _exit(127);
  }
  int status;
  struct rusage usage;
  if (wait4(child, &status, 0, &usage) < 0) {
    perror("run_measured: wait4");
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *result = fopen(argv[1], "w");
  if (result == NULL) {
    perror("run_measured: the result file");
    return 2;
  }
  fprintf(result, "%.6f %.6f %.6f %ld %d\n",
          (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9,
          seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss, code);
  fclose(result);
  return code;
}
