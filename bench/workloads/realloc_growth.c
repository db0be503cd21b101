/* Buffers grown by realloc step by step, as string builders and vectors grow: 64 buffers live at
   once, each appended to in turn at random, so a buffer's neighbour is usually still in use and
   growing in place is not free. Half of them are naive string builders (realloc to the exact new
   length at every append of 1-64 bytes), half are vectors (capacity doubled when full). A buffer
   that reaches its target length (1 KiB-256 KiB) is read back in full, freed, and started again.
   Every byte appended is written, and every byte is read back: a realloc that loses or moves
   content wrongly changes the checksum.

     realloc_growth [appends]   (default 6000000) */
#include "workload.h"

enum { kBuffers = 64 };

struct buffer {
  unsigned char *bytes;
  size_t length, capacity, target;
  int doubles;  /* a vector (capacity doubles) rather than a string builder (exact lengths) */
};

static uint64_t finish(struct buffer *buffer) {
  uint64_t sum = 0;
  for (size_t i = 0; i < buffer->length; ++i) sum = sum * 131 + buffer->bytes[i];
  free(buffer->bytes);
  buffer->bytes = NULL;
  buffer->length = buffer->capacity = 0;
  return sum;
}

int main(int argc, char **argv) {
  const long appends = workload_size(argc, argv, 6000000);
  uint64_t random = seed_for(0), sum = 0;
  struct buffer buffers[kBuffers] = {{0}};
  for (long n = 0; n < appends; ++n) {
    const uint64_t r = next_random(&random);
    struct buffer *buffer = &buffers[r % kBuffers];
    if (buffer->bytes == NULL) {
      buffer->target = 1024 + (size_t)(r >> 8) % (255 * 1024);
      buffer->doubles = (r >> 40) & 1;
    }
    const size_t piece = 1 + (size_t)(r >> 48) % 64;
    const size_t needed = buffer->length + piece;
    if (needed > buffer->capacity) {
      size_t capacity = needed;
      if (buffer->doubles) {
        capacity = buffer->capacity ? buffer->capacity : 16;
        while (capacity < needed) capacity *= 2;
      }
      unsigned char *grown = realloc(buffer->bytes, capacity);
      if (grown == NULL) {
        fprintf(stderr, "realloc_growth: realloc(%zu) failed\n", capacity);
        return 1;
      }
      buffer->bytes = grown;
      buffer->capacity = capacity;
    }
    memset(buffer->bytes + buffer->length, (int)(n & 0xff), piece);
    buffer->length = needed;
    if (buffer->length >= buffer->target) sum += finish(buffer);
  }
  for (unsigned i = 0; i < kBuffers; ++i)
    if (buffers[i].bytes != NULL) sum += finish(&buffers[i]);
  print_checksum(sum);
  return 0;
}
