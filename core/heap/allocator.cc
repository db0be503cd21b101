// See allocator.h.
#include "heap/allocator.h"

#include <cstdio>

#include "base/fault_injection.h"
#include <cstring>
#include <new>

namespace nodealloc {
namespace {

std::size_t cache_mapping_size() {
  const std::size_t page = page_size();
  return (sizeof(ThreadCache) + page - 1) / page * page;
}

}  // namespace

Allocator::Allocator(const AllocatorOptions& options)
    : source_(options.platform != nullptr ? *options.platform : os_platform(), options.memory_limit),
      pool_(source_),
      large_(source_, options.large_cache_bytes),
      hardening_(source_) {
  source_.set_kept_memory(&large_);
  secret::init();      // before this instance writes its first keyed word
  freed_fill::init();  // before it fills its first block
}

Allocator::~Allocator() {
  while (caches_ != nullptr) {
    ThreadCache* cache = caches_;
    caches_ = cache->next_cache;
    cache->~ThreadCache();
    source_.unmap(cache, cache_mapping_size());
  }
}

ThreadCache* Allocator::claim_cache() noexcept {
  std::lock_guard<Mutex> lock(caches_mutex_);
  for (ThreadCache* cache = caches_; cache != nullptr; cache = cache->next_cache) {
    bool expected = false;
    if (cache->claimed.compare_exchange_strong(expected, true, std::memory_order_acquire)) return cache;
  }
  void* memory = source_.map(cache_mapping_size(), page_size());
  if (memory == nullptr) return nullptr;
  auto* cache = new (memory) ThreadCache(pool_);
  cache->claimed.store(true, std::memory_order_relaxed);
  cache->next_cache = caches_;
  caches_ = cache;
  return cache;
}

void Allocator::release_cache(ThreadCache* cache) noexcept {
  cache->flush_all();
  cache->claimed.store(false, std::memory_order_release);
}

void* Allocator::allocate_large(std::size_t size, std::size_t alignment, Family family, bool zeroed) noexcept {
  void* block = large_.allocate(size, alignment, zeroed);
  if (block == nullptr) return nullptr;
  SlabHeader* header = SlabNode::header_of(block);
  if (!hardening_.on_large_allocated(block, header)) {  // out of memory for the table of live blocks
    large_.deallocate(header);
    return nullptr;
  }
  hand_out_large(block, size, LargeBlocks::usable_size(*header, block), family);
  return block;
}

void Allocator::deallocate_large(SlabHeader* header, void* block) noexcept {
  const std::size_t room = LargeBlocks::usable_size(*header, block);
  canary::check_large(*header, block, room);
  mark_freed(block, room);
  const LargeBlocks::Mapping mapping = large_.retire(header);
  if (!hardening_.on_large_freed(block, mapping.address, mapping.length)) large_.release(mapping);
}

void* Allocator::allocate_aligned(ThreadCache& cache, std::size_t size, std::size_t alignment,
                                  Family family) noexcept {
  if (!is_power_of_two(alignment)) return nullptr;
  const unsigned class_index = canary::class_for_request(size, alignment);
  if (class_index != kNoClass) {
    void* block = cache.allocate(class_index);
    if (block != nullptr) hand_out(block, size, size_class(class_index).usable, family);
    return block;
  }
  return allocate_large(size, alignment < kMinAlignment ? kMinAlignment : alignment, family);
}

void Allocator::deallocate_sized(ThreadCache& cache, void* block, std::size_t size, std::size_t alignment,
                                 Family family) noexcept {
  hardening_.check_pointer(block);
  if constexpr (enabled(Mitigation::kSizedDeleteCheck)) {
    const SlabHeader* header = SlabNode::header_of(block);
    hardening_.check_sized_delete(block, size, alignment, header->class_index(), usable_of(*header, block), family);
  }
  release(cache, block, family);
}

void* Allocator::allocate_zeroed(ThreadCache& cache, std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return nullptr;
  if (canary::class_for_request(bytes) != kNoClass) {
    void* block = allocate(cache, bytes);
    if (block != nullptr) std::memset(block, 0, bytes);
    return block;
  }
  // A large block is zero already (a fresh mapping) or zeroed by large_ (a reused one): memcheck
  // and MSan are told so.
  void* block = allocate_large(bytes, kMinAlignment, Family::kMalloc, true);
  if (block != nullptr) mark_defined(block, bytes);
  return block;
}

void* Allocator::reallocate(ThreadCache& cache, void* block, std::size_t size) noexcept {
  if (block == nullptr) return allocate(cache, size);
  hardening_.check_live(block, FatalError::kInvalidFree);
  Hardening::check_family(block, Family::kMalloc);
  SlabHeader* header = SlabNode::header_of(block);
  const std::size_t usable = usable_of(*header, block);
  const std::size_t room = room_of(*header, block);
  const unsigned old_class = header->class_index();
  // Keep the block when the request still belongs in it: same class, or a large block that is
  // still at least half used.
  const bool same_class = old_class < kClassCount && canary::class_for_request(size) == old_class;
  const bool large_fits = old_class == kLargeClass && size <= room && size >= room / 2;
  if (same_class || large_fits) {
    if (same_class) {
      canary::arm_slab(block, size, room);
    } else {
      canary::arm_large(*header, block, size, room);
    }
    mark_resized(block, usable, size);  // usable is the requested size where memcheck runs (canary.h)
    if (room > size) mark_no_access(static_cast<std::byte*>(block) + size, room - size);
    return block;
  }
  // A large block that outgrows its room grows its own mapping where it can (large_blocks.h):
  // the OS keeps its bytes, and none is copied. Its usable bytes are what a copy would have kept
  // (they stay defined); the rest of the room is a fresh block's.
  if (old_class == kLargeClass && size > room) {
    if (void* grown = large_.grow(header, block, size)) {
      hand_out_large(grown, size, LargeBlocks::usable_size(*SlabNode::header_of(grown), grown), Family::kMalloc);
      mark_defined(grown, usable);
      return grown;
    }
  }
  void* moved = allocate(cache, size);
  if (moved == nullptr) return nullptr;
  // Without kCanaries, usable is the room, whose tail past the requested size may be poisoned: it
  // is copied as bytes. With them, usable is the requested size, all of it addressable already.
  if constexpr (!canary::kOn) mark_copyable(block, usable);
  const std::size_t kept = size < usable ? size : usable;
  std::memcpy(moved, block, NODEALLOC_FAULT(realloc_copies_short) && kept > 0 ? kept - 1 : kept);
  release(cache, block, Family::kMalloc);  // checked above
  return moved;
}

std::size_t Allocator::usable_size(const void* block) const noexcept {
  const_cast<Hardening&>(hardening_).check_live(block, FatalError::kInvalidFree);
  return usable_of(*SlabNode::header_of(block), block);
}

std::size_t Allocator::usable_of(const SlabHeader& header, const void* block) noexcept {
  if constexpr (canary::kOn) {
    const unsigned class_index = header.class_index();
    if (class_index < kClassCount) return canary::slab_size(block, size_class(class_index).usable);
    return header.requested_size();
  }
  return room_of(header, block);
}

std::size_t Allocator::room_of(const SlabHeader& header, const void* block) noexcept {
  const unsigned class_index = header.class_index();
  if (class_index < kClassCount) return size_class(class_index).usable;
  return LargeBlocks::usable_size(header, block);
}

BlockInfo Allocator::lookup(const void* block) noexcept {
  const SlabNode::Lookup found = SlabNode::lookup(SlabHeader::kNodePosition, block);
  if (found.header == nullptr) return {};
  const unsigned class_index = found.header->class_index();
  return {found.header, found.node, class_index < kClassCount ? class_index : kNoClass};
}

void Allocator::release_free_memory() noexcept {
  {
    std::lock_guard<Mutex> lock(caches_mutex_);
    for (ThreadCache* cache = caches_; cache != nullptr; cache = cache->next_cache) {
      bool expected = false;
      if (!cache->claimed.compare_exchange_strong(expected, true, std::memory_order_acquire)) continue;
      // A dormant cache: collect what other threads freed into its slabs, and give back every
      // slab that is now empty (flush_all, not just the collection: a slab emptied here would
      // otherwise stay as the class's kept empty slab).
      cache->flush_all();
      cache->claimed.store(false, std::memory_order_release);
    }
  }
  pool_.release_free_memory();
  hardening_.release_held_back();
  large_.drain_cache();
}

Statistics Allocator::statistics() noexcept {
  Statistics stats;
  pool_.for_each_chunk([&](ChunkHeader& chunk) {
    for (unsigned page = 1; page < kPagesPerChunk; ++page) {
      SlabHeader& header = *slab_header_at(&chunk, page);
      if (!header.in_use()) continue;
      const unsigned c = header.class_index();
      ++stats.slabs[c];
      stats.live_blocks[c] += header.blocks_out();
    }
  });
  {
    std::lock_guard<Mutex> lock(caches_mutex_);
    for (ThreadCache* cache = caches_; cache != nullptr; cache = cache->next_cache) {
      for (unsigned c = 0; c < kClassCount; ++c) stats.live_blocks[c] -= cache->list(c).count;
      // Quarantined blocks count as used in their slabs, as cached ones do, but are not live.
      cache->quarantine().for_each([&](const void*, unsigned c) { --stats.live_blocks[c]; });
    }
  }
  if (NODEALLOC_FAULT(stats_miscount) && stats.live_blocks[0] != 0) ++stats.live_blocks[0];
  for (unsigned c = 0; c < kClassCount; ++c) {
    stats.bytes_in_use += stats.live_blocks[c] * size_class(c).usable;
  }
  large_.for_each([&](SlabHeader& header) {
    ++stats.live_large_blocks;
    stats.bytes_in_use += room_of(header, header.large_block());
  });
  stats.bytes_mapped = source_.bytes_mapped();
  stats.bytes_dirty = pool_.dirty_bytes();
  return stats;
}

HeapUsage Allocator::usage() noexcept {
  HeapUsage usage;
  pool_.for_each_chunk([&](ChunkHeader& chunk) {  // the pool's lock: no slab is made or given back
    usage.chunk_bytes += kChunkSize;
    for (unsigned page = 1; page < kPagesPerChunk; ++page) {
      SlabHeader& header = *slab_header_at(&chunk, page);
      if (!header.in_use()) continue;
      const SizeClass& size = size_class(header.class_index());
      const std::size_t out = header.blocks_out();
      usage.slab_bytes_out += out * size.usable;
      usage.free_slab_blocks += size.capacity - out;
    }
  });
  const LargeBlocks::Counts large = large_.counts();
  usage.large_blocks = large.blocks;
  usage.large_bytes = large.bytes;
  usage.peak_large_blocks = large.peak_blocks;
  usage.peak_large_bytes = large.peak_bytes;
  usage.kept_large_mappings = large.kept_mappings;
  usage.kept_large_bytes = large.kept_bytes;
  usage.dirty_bytes = pool_.dirty_bytes();
  usage.bytes_mapped = source_.bytes_mapped();
  return usage;
}

// In the order the paths that hold two of them take them: the pool maps a chunk under its lock,
// and asks the large blocks' cache to give mappings back first (MemorySource::map_trading_kept).
void Allocator::lock_for_fork() noexcept {
  caches_mutex_.lock();
  pool_.mutex().lock();
  large_.mutex().lock();
  hardening_.mutex().lock();
}

void Allocator::unlock_after_fork() noexcept {
  hardening_.mutex().unlock();
  large_.mutex().unlock();
  pool_.mutex().unlock();
  caches_mutex_.unlock();
}

}  // namespace nodealloc
