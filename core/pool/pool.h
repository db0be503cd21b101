// Pool: carves chunks into slabs and takes empty slabs back. Shared by every thread cache of an
// allocator instance; every call takes the pool's lock (slab traffic is the slow path: a thread
// cache goes to the pool once per slab, not per block).
//
// Memory policy (what goes back to the OS, and when):
// - a slab that becomes empty returns its pages to its chunk as "dirty" (still backed), so a
//   program that frees and allocates again in a loop does not fault pages in each time;
// - dirty pages beyond Config::kMaxDirtyBytes per pool are discarded (MADV_DONTNEED) at once;
// - a new slab goes on a run of dirty pages when one is long enough, else on the first free run:
//   reusing resident pages spares the page faults and resident memory of touching clean ones;
// - a chunk whose pages are all free is unmapped, except Config::kKeptEmptyChunks of them, kept
//   to absorb churn (base/config.h);
// - release_free_memory() discards every dirty page and unmaps every empty chunk.
// So a program that frees everything keeps at most kKeptEmptyChunks chunks mapped and
// kMaxDirtyBytes resident.
#pragma once

#include <cstddef>
#include <mutex>  // std::lock_guard

#include "base/mutex.h"
#include "pool/chunk.h"
#include "pool/memory_source.h"
#include "pool/slab.h"

namespace nodealloc {

class Pool {
 public:
  explicit Pool(MemorySource& source) : source_(source) {}
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A fresh slab of the class: header set (node, class, length; no owner, nothing carved), data
  // area poisoned. nullptr when no memory can be had.
  SlabHeader* acquire_slab(unsigned class_index) noexcept;

  // Takes back a slab with no block out.
  void release_slab(SlabHeader* header) noexcept;

  void release_free_memory() noexcept;

  std::size_t dirty_bytes() const noexcept;

  // Calls visit(ChunkHeader&) for every chunk, under the pool's lock.
  template <class Visitor>
  void for_each_chunk(Visitor&& visit) {
    std::lock_guard<Mutex> lock(mutex_);
    for (ChunkHeader* chunk = chunks_; chunk != nullptr; chunk = chunk->next) visit(*chunk);
  }

  // For fork(): the pool's lock, held across the fork so the child sees a consistent pool.
  Mutex& mutex() noexcept { return mutex_; }

 private:
  ChunkHeader* map_chunk() noexcept;
  void unmap_chunk(ChunkHeader* chunk) noexcept;
  void discard_pages(ChunkHeader* chunk, std::uint64_t pages) noexcept;

  MemorySource& source_;
  mutable Mutex mutex_;
  ChunkHeader* chunks_ = nullptr;
  std::size_t dirty_pages_ = 0;
};

}  // namespace nodealloc
