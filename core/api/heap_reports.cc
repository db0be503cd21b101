// glibc's heap reports, with nodealloc's figures: mallinfo2, mallinfo, malloc_stats and
// malloc_info (nodealloc.h maps the fields). Each reads one Allocator::usage(), which is safe while
// other threads allocate, and formats it in glibc 2.36's shape, so that tools that parse glibc's
// output read nodealloc's. Nothing here holds an allocator lock while it writes: usage() returns
// before the first byte is formatted, so a stream that allocates its buffer may call malloc.
#include <errno.h>

#include <cstdio>


#include "api/c_api_impl.h"
#include "api/nodealloc.h"

using namespace nodealloc;

extern "C" {

struct mallinfo2 na_mallinfo2(void) {
  const HeapUsage usage = default_allocator().usage();
  struct mallinfo2 info = {};
  info.arena = usage.chunk_bytes;
  info.ordblks = usage.free_slab_blocks;
  info.hblks = usage.large_blocks;
  info.hblkhd = usage.large_bytes;
  info.uordblks = usage.slab_bytes_out;
  info.fordblks = usage.chunk_bytes > usage.slab_bytes_out ? usage.chunk_bytes - usage.slab_bytes_out : 0;
  info.keepcost = usage.dirty_bytes + usage.kept_large_bytes;  // what malloc_trim gives back
  return info;
}

void na_malloc_stats(void) {
  const HeapUsage usage = default_allocator().usage();
  // glibc's lines (malloc/malloc.c, __malloc_stats), for the one "arena" nodealloc has.
  std::fprintf(stderr,
               "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
               "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
               "max mmap regions = %10zu\nmax mmap bytes   = %10zu\n",
               usage.chunk_bytes, usage.slab_bytes_out,
               usage.chunk_bytes + usage.large_bytes + usage.kept_large_bytes,  // kept mappings are system bytes too
               usage.slab_bytes_out + usage.large_bytes, usage.peak_large_blocks, usage.peak_large_bytes);
}

int na_malloc_info(int options, FILE* stream) {
  if (options != 0) return EINVAL;  // as glibc answers: the error itself, errno untouched
  const HeapUsage usage = default_allocator().usage();
  const std::size_t free_bytes = usage.chunk_bytes > usage.slab_bytes_out ? usage.chunk_bytes - usage.slab_bytes_out : 0;
  // glibc's shape (malloc/malloc.c, __malloc_info): one heap, its free space as "rest", the large
  // blocks as "mmap". nodealloc keeps no per-size table of free blocks: <sizes> is empty.
  std::fprintf(stream,
               "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n"
               "<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
               "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
               "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n"
               "<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
               "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
               "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
               "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
               usage.free_slab_blocks, free_bytes, usage.chunk_bytes, usage.chunk_bytes, usage.chunk_bytes,
               usage.chunk_bytes, usage.free_slab_blocks, free_bytes, usage.large_blocks, usage.large_bytes,
               usage.chunk_bytes, usage.chunk_bytes, usage.chunk_bytes, usage.chunk_bytes);
  return 0;
}

}  // extern "C"
