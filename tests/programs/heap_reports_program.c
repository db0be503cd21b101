/* Calls glibc's heap reports the way a program does, knowing nothing of nodealloc: with the
 * drop-in preloaded they must describe nodealloc's heap. Five live blocks of 100 KiB are above
 * every nodealloc size class (large blocks: mallinfo2's hblks) and below glibc's mmap threshold
 * (128 KiB: glibc counts none of them in hblks), so exit 0 means the reports were nodealloc's;
 * mallinfo, deprecated but still called, must agree. malloc_stats and malloc_info must write
 * their shapes too. */
#define _GNU_SOURCE /* fmemopen */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  static void* volatile blocks[5];  /* volatile: clang may otherwise elide a malloc/free pair */
  for (int i = 0; i < 5; ++i) blocks[i] = malloc(100 << 10);
  const struct mallinfo2 info = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* glibc 2.33 deprecated mallinfo; programs still call it */
  const struct mallinfo narrow = mallinfo();
#pragma GCC diagnostic pop
  char text[4096] = {0};
  FILE* stream = fmemopen(text, sizeof text - 1, "w");
  if (stream == NULL || malloc_info(0, stream) != 0) return 3;
  fclose(stream);
  malloc_stats();
  printf("hblks %zu, hblkhd %zu, uordblks %zu\n", info.hblks, info.hblkhd, info.uordblks);
  const int large_seen = info.hblks >= 5 && info.hblkhd >= 5 * (100 << 10) && narrow.hblks == (int)info.hblks &&
                         narrow.hblkhd == (int)info.hblkhd;
  const int xml = strstr(text, "<malloc version=\"1\">") != NULL && strstr(text, "<total type=\"mmap\" count=\"") != NULL;
  for (int i = 0; i < 5; ++i) free(blocks[i]);
  return large_seen && xml ? 0 : 1;
}
