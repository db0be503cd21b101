// See large_blocks.h.
#include "large/large_blocks.h"

#include <new>

#include "base/bits.h"
#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "node/block.h"
#include "platform/platform.h"

namespace nodealloc {

LargeBlocks::~LargeBlocks() {
  while (blocks_ != nullptr) {
    SlabHeader* header = blocks_;
    blocks_ = slab::get_ptr<SlabHeader>(*header, header_slot::kFreeLink);
    const std::size_t length = slab::get(*header, header_slot::kLength);
    mark_reusable(header, length);
    source_.unmap(header, length);
  }
}

void* LargeBlocks::allocate(std::size_t size, std::size_t alignment) noexcept {
  const std::size_t page = page_size();
  if (alignment < kWordSize) alignment = kWordSize;
  // header page + room to align the block + the block, in whole pages; no sum may overflow.
  std::uintptr_t length = 0;
  if (!checked_add(page, alignment, &length) || !checked_add(length, size, &length) ||
      !checked_align_up(length, page, &length)) {
    return nullptr;
  }
  const std::size_t map_alignment = alignment > page ? alignment : page;
  void* memory = source_.map(length, map_alignment);
  if (memory == nullptr) return nullptr;

  auto* header = new (memory) SlabHeader;
  std::byte* data = static_cast<std::byte*>(memory) + page;
  header->write_ptr(header_slot::kNode, data);
  slab::set(*header, header_slot::kClass, kLargeClass);
  slab::set(*header, header_slot::kLength, length);
  void* block = place_block(data, length - page, header, alignment, size);  // fits by construction
  header->write_ptr(header_slot::kLargeBlock, block);
  mark_no_access(data, static_cast<std::size_t>(static_cast<std::byte*>(block) - data));

  std::lock_guard<std::mutex> lock(mutex_);
  if constexpr (enabled(Mitigation::kPointerCheck)) {
    if (!live_.insert(reinterpret_cast<std::uintptr_t>(block))) {  // out of memory for the table
      mark_reusable(memory, length);  // or ASan keeps the padding poisoned for the next mapping
      source_.unmap(memory, length);
      return nullptr;
    }
  }
  header->link(blocks_);
  if (blocks_ != nullptr) blocks_->write_ptr(header_slot::kPrevLink, header);
  blocks_ = header;
  return block;
}

void LargeBlocks::deallocate(SlabHeader* header, void* block) noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if constexpr (enabled(Mitigation::kPointerCheck)) live_.erase(reinterpret_cast<std::uintptr_t>(block));
    auto* next = slab::get_ptr<SlabHeader>(*header, header_slot::kFreeLink);
    auto* prev = slab::get_ptr<SlabHeader>(*header, header_slot::kPrevLink);
    if (prev != nullptr) prev->link(next);
    else blocks_ = next;
    if (next != nullptr) next->write_ptr(header_slot::kPrevLink, prev);
  }
  const std::size_t length = slab::get(*header, header_slot::kLength);
  mark_reusable(header, length);
  source_.unmap(header, length);
}

std::size_t LargeBlocks::usable_size(const SlabHeader& header, const void* block) noexcept {
  const auto end = reinterpret_cast<std::uintptr_t>(&header) + slab::get(header, header_slot::kLength);
  return end - reinterpret_cast<std::uintptr_t>(block);
}

}  // namespace nodealloc
