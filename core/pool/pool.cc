// See pool.h.
#include "pool/pool.h"

#include <bit>
#include <new>

#include "base/fault_injection.h"
#include "pool/chunk_registry.h"

namespace nodealloc {

Pool::~Pool() {
  while (chunks_ != nullptr) unmap_chunk(chunks_);
}

ChunkHeader* Pool::map_chunk() noexcept {
  void* memory = source_.map_trading_kept(kChunkSize, kChunkSize);
  if (memory == nullptr) return nullptr;
  if (!chunk_registry::add(memory)) {
    // A chunk the registry cannot record could be vouched for by neither the pointer check nor
    // validate(). The registry fails only when its one reservation cannot be mapped, or above the
    // 47-bit user address space.
    source_.unmap(memory, kChunkSize);
    return nullptr;
  }
  auto* chunk = new (memory) ChunkHeader{kChunkMagic, this, chunks_, nullptr, kAllDataPages, 0, {}};
  for (unsigned page = 0; page < kPagesPerChunk; ++page) new (slab_header_at(chunk, page)) SlabHeader;
  if (chunks_ != nullptr) chunks_->prev = chunk;
  chunks_ = chunk;
  mark_no_access(page_address(chunk, 1), kChunkSize - kSlabPageSize);
  return chunk;
}

void Pool::unmap_chunk(ChunkHeader* chunk) noexcept {
  dirty_pages_ -= static_cast<std::size_t>(std::popcount(chunk->dirty_pages));
  if (chunk->prev != nullptr) chunk->prev->next = chunk->next;
  else chunks_ = chunk->next;
  if (chunk->next != nullptr) chunk->next->prev = chunk->prev;
  chunk_registry::remove(chunk);
  mark_reusable(chunk, kChunkSize);  // ASan must not think the next mapping here is poisoned
  source_.unmap(chunk, kChunkSize);
}

void Pool::discard_pages(ChunkHeader* chunk, std::uint64_t pages) noexcept {
  dirty_pages_ -= static_cast<std::size_t>(std::popcount(pages & chunk->dirty_pages));
  chunk->dirty_pages &= ~pages;
  while (pages != 0) {  // one madvise per run of pages
    const auto first = static_cast<unsigned>(std::countr_zero(pages));
    const auto count = static_cast<unsigned>(std::countr_one(pages >> first));
    source_.discard(page_address(chunk, first), std::size_t{count} * kSlabPageSize);
    pages &= ~page_mask(first, count);
  }
}

SlabHeader* Pool::acquire_slab(unsigned class_index) noexcept {
  const SizeClass& size = size_class(class_index);
  std::lock_guard<Mutex> lock(mutex_);
  // Dirty pages first: they are resident already, so a slab there costs no page faults and no
  // more resident memory, where a clean run's first touches cost both (and the dirty pages stay
  // resident beside it, up to kMaxDirtyBytes).
  ChunkHeader* chunk = chunks_;
  unsigned first = 0;
  for (; chunk != nullptr; chunk = chunk->next) {
    first = find_free_run(chunk->free_pages & chunk->dirty_pages, size.slab_pages);
    if (first != 0) break;
  }
  if (chunk == nullptr) {
    for (chunk = chunks_; chunk != nullptr; chunk = chunk->next) {
      first = find_free_run(chunk->free_pages, size.slab_pages);
      if (first != 0) break;
    }
  }
  if (chunk == nullptr) {
    chunk = map_chunk();
    if (chunk == nullptr) return nullptr;
    first = 1;
  }
  const std::uint64_t pages = page_mask(first, size.slab_pages);
  dirty_pages_ -= static_cast<std::size_t>(std::popcount(pages & chunk->dirty_pages));
  chunk->free_pages &= ~pages;
  chunk->dirty_pages &= ~pages;

  SlabHeader* header = new (slab_header_at(chunk, first)) SlabHeader;  // all slots zero
  header->set_data(page_address(chunk, first));
  header->set_class_index(class_index);
  header->set_length(std::size_t{size.slab_pages} * kSlabPageSize);
  set_slab_pages(chunk, first, size.slab_pages, first);
  return header;
}

void Pool::release_slab(SlabHeader* header) noexcept {
  std::byte* data = header->data();
  ChunkHeader* chunk = chunk_of(data);
  const unsigned first = page_index(data);
  const auto count = static_cast<unsigned>(header->length() / kSlabPageSize);
  const std::uint64_t pages = page_mask(first, count);
  mark_no_access(data, std::size_t{count} * kSlabPageSize);

  std::lock_guard<Mutex> lock(mutex_);
  set_slab_pages(chunk, first, count, 0);
  new (header) SlabHeader;  // node slot zero: not a slab, validate() and stats skip it
  chunk->free_pages |= pages;
  chunk->dirty_pages |= pages;
  dirty_pages_ += count;
  if (dirty_pages_ * kSlabPageSize > Config::kMaxDirtyBytes) discard_pages(chunk, pages);

  if (chunk->free_pages == kAllDataPages) {
    // Keep Config::kKeptEmptyChunks empty chunks to absorb churn; unmap any other.
    unsigned other_empty = 0;
    for (ChunkHeader* other = chunks_; other != nullptr; other = other->next) {
      if (other != chunk && other->free_pages == kAllDataPages && ++other_empty >= Config::kKeptEmptyChunks) {
        unmap_chunk(chunk);
        return;
      }
    }
  }
}

void Pool::release_free_memory() noexcept {
  std::lock_guard<Mutex> lock(mutex_);
  ChunkHeader* chunk = chunks_;
  while (chunk != nullptr) {
    ChunkHeader* next = chunk->next;
    if (chunk->free_pages == kAllDataPages && !(NODEALLOC_FAULT(trim_keeps_a_chunk) && next == nullptr)) {
      unmap_chunk(chunk);
    } else {
      discard_pages(chunk, chunk->dirty_pages);
    }
    chunk = next;
  }
}

std::size_t Pool::dirty_bytes() const noexcept {
  std::lock_guard<Mutex> lock(mutex_);
  return dirty_pages_ * kSlabPageSize;
}

}  // namespace nodealloc
