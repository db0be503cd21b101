// See large_blocks.h.
#include "large/large_blocks.h"

#include <new>

#include "base/bits.h"
#include "base/sanitizer.h"
#include "platform/platform.h"

namespace nodealloc {

LargeBlocks::~LargeBlocks() {
  while (SlabHeader* header = blocks_.front()) {
    blocks_.remove(header);
    unmap(header);
  }
}

void LargeBlocks::unmap(SlabHeader* header) noexcept {
  const std::size_t length = header->length();
  mark_reusable(header, length);  // ASan must not think the next mapping here is poisoned
  source_.unmap(header, length);
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
  header->set_data(data);
  header->set_class_index(kLargeClass);
  header->set_length(length);
  const std::size_t data_len = length - page;
  std::byte* block = SlabNode(header, data, data_len, 1).aligned_addr(alignment, size);  // fits by construction
  header->set_large_block(block);
  mark_no_access(data, static_cast<std::size_t>(block - data));

  std::lock_guard<std::mutex> lock(mutex_);
  blocks_.push_front(header);
  return block;
}

void LargeBlocks::deallocate(SlabHeader* header) noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    blocks_.remove(header);
  }
  unmap(header);
}

std::size_t LargeBlocks::usable_size(const SlabHeader& header, const void* block) noexcept {
  const auto end = reinterpret_cast<std::uintptr_t>(&header) + header.length();
  return end - reinterpret_cast<std::uintptr_t>(block);
}

}  // namespace nodealloc
