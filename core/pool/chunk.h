// Chunks: the 4 MiB units the pool maps, and where slab headers live (1 MiB, 16 pages, in the
// fuzz targets' FuzzConfig: base/config.h; what follows is the default).
//
//   chunk (4 MiB, 4 MiB-aligned) = 64 pages of 64 KiB
//   +--------------------------------------------+---------+---------+-----+----------+
//   | page 0: metadata                           | page 1  | page 2  | ... | page 63  |
//   | ChunkHeader | SlabHeader[64] | (untouched) | slab data areas, 1 to 8 pages each  |
//   +--------------------------------------------+---------+---------+-----+----------+
//
// SlabHeader i describes the slab whose data area starts at page i; the headers of pages inside a
// longer slab, and of page 0, are unused. slab_start[p] is the first page of the slab that covers
// page p, or 0 when no slab does: one load finds any address's slab (slab_containing()).
// Keeping headers in page 0, away from the data, means no user overflow reaches them. Page 0
// costs 64 KiB of address space but only the few OS pages its headers occupy.
//
// Invariants: free_pages has bit i set exactly when page i (1..63) belongs to no slab; dirty_pages
// is a subset of free_pages (free pages whose memory was used and not yet discarded); slab_start
// is nonzero exactly on the pages of live slabs. All three change only under the pool's lock;
// slab_start is atomic because the pointer check reads it without the lock (relaxed: a block's
// own slab was published to the thread that frees it along with the block). Every mapped chunk is
// in the chunk registry (pool/chunk_registry.h) and names the pool that mapped it, so "is this
// address in one of this pool's chunks" is two loads, with no list to walk (validate() asks it).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "base/config.h"
#include "pool/slab.h"
#include "size_class/size_classes.h"

namespace nodealloc {

class Pool;

inline constexpr std::size_t kChunkSize = Config::kChunkSize;
inline constexpr unsigned kPagesPerChunk = kChunkSize / kSlabPageSize;  // 64 (16 in FuzzConfig)
inline constexpr std::uint64_t kAllDataPages =                          // pages 1..kPagesPerChunk-1
    (kPagesPerChunk == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << kPagesPerChunk) - 1) & ~std::uint64_t{1};
inline constexpr std::uint64_t kChunkMagic = 0x6e6f6465636e6b31;        // "nodecnk1"

struct ChunkHeader {
  std::uint64_t magic;
  const Pool* pool;  // the pool that mapped the chunk (one per allocator instance)
  ChunkHeader* next;
  ChunkHeader* prev;
  std::uint64_t free_pages;
  std::uint64_t dirty_pages;
  std::atomic<std::uint8_t> slab_start[kPagesPerChunk];
};

inline constexpr std::size_t kSlabHeadersOffset = 1024;
static_assert(sizeof(ChunkHeader) <= kSlabHeadersOffset);
static_assert(kSlabHeadersOffset + kPagesPerChunk * sizeof(SlabHeader) <= kSlabPageSize);

inline ChunkHeader* chunk_of(const void* address) {
  return reinterpret_cast<ChunkHeader*>(reinterpret_cast<std::uintptr_t>(address) &
                                        ~(kChunkSize - 1));
}

inline unsigned page_index(const void* address) {
  return static_cast<unsigned>((reinterpret_cast<std::uintptr_t>(address) & (kChunkSize - 1)) /
                               kSlabPageSize);
}

inline std::byte* page_address(ChunkHeader* chunk, unsigned page) {
  return reinterpret_cast<std::byte*>(chunk) + std::size_t{page} * kSlabPageSize;
}

inline SlabHeader* slab_header_at(ChunkHeader* chunk, unsigned page) {
  return reinterpret_cast<SlabHeader*>(reinterpret_cast<std::byte*>(chunk) + kSlabHeadersOffset +
                                       page * sizeof(SlabHeader));
}

// The header of the slab whose data area holds `address`, found from the chunk's own page table
// (never from a back-pointer), or nullptr when the address lies in page 0 or in a free page.
// Precondition: `address` is in a mapped chunk.
inline SlabHeader* slab_containing(const void* address) {
  ChunkHeader* chunk = chunk_of(address);
  const unsigned first = chunk->slab_start[page_index(address)].load(std::memory_order_relaxed);
  if (first == 0) return nullptr;
  SlabHeader* header = slab_header_at(chunk, first);
  return header->class_index() < kClassCount ? header : nullptr;
}

// Records the slab of `count` pages at `first` in the page table (first = 0: takes it out).
inline void set_slab_pages(ChunkHeader* chunk, unsigned first, unsigned count, unsigned start) {
  for (unsigned page = first; page < first + count; ++page) {
    chunk->slab_start[page].store(static_cast<std::uint8_t>(start), std::memory_order_relaxed);
  }
}

// Mask of `count` pages starting at `first`.
inline std::uint64_t page_mask(unsigned first, unsigned count) {
  return (count == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << count) - 1)) << first;
}

// The first page of a run of `count` free pages, or 0 when there is none.
inline unsigned find_free_run(std::uint64_t free_pages, unsigned count) {
  std::uint64_t starts = free_pages;
  for (unsigned i = 1; i < count; ++i) starts &= free_pages >> i;
  return starts == 0 ? 0 : static_cast<unsigned>(std::countr_zero(starts));
}

}  // namespace nodealloc
