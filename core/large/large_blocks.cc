// See large_blocks.h.
#include "large/large_blocks.h"

#include <cstdint>
#include <cstring>
#include <new>

#include "base/bits.h"
#include "base/fault_injection.h"
#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "node/block.h"
#include "platform/platform.h"
#include "size_class/size_classes.h"

namespace nodealloc {

LargeBlocks::LargeBlocks(MemorySource& source, std::size_t cache_bytes) noexcept
    : source_(source), cache_limit_(guard_bytes() == 0 ? cache_bytes : 0) {}

LargeBlocks::~LargeBlocks() {
  while (SlabHeader* header = blocks_.front()) deallocate(header);
  drain_cache();
}

void LargeBlocks::release(Mapping mapping) noexcept {
  if (mapping.length > cache_limit_ || mapping.length > kMaxKeptLength) {
    unmap(mapping);
    return;
  }
  Mapping leaving[kCacheSlots];
  unsigned left = 0;
  {
    std::lock_guard<Mutex> lock(mutex_);
    while (kept_count_ == kCacheSlots || kept_bytes_ + mapping.length > cache_limit_) {
      leaving[left++] = remove_kept(0);
    }
    kept_[kept_count_++] = mapping;
    kept_bytes_ += mapping.length;
  }
  for (unsigned i = 0; i < left; ++i) unmap(leaving[i]);
}

void* LargeBlocks::take_kept(std::size_t length, std::size_t alignment) noexcept {
  Mapping taken{nullptr, 0};
  {
    std::lock_guard<Mutex> lock(mutex_);
    // The smallest that holds `length`; else, when the address may move (page alignment), the
    // biggest, to grow.
    unsigned fit = kept_count_, biggest = kept_count_;
    for (unsigned i = 0; i < kept_count_; ++i) {
      const Mapping& kept = kept_[i];
      if ((reinterpret_cast<std::uintptr_t>(kept.address) & (alignment - 1)) != 0) continue;
      if (kept.length >= length && (fit == kept_count_ || kept.length < kept_[fit].length)) fit = i;
      if (biggest == kept_count_ || kept.length > kept_[biggest].length) biggest = i;
    }
    const unsigned chosen = fit != kept_count_ ? fit : alignment == page_size() ? biggest : kept_count_;
    if (chosen == kept_count_) return nullptr;
    taken = remove_kept(chosen);
  }
  // Its bytes are a new block's now, whatever the freed one left them as.
  mark_reusable(taken.address, taken.length);
  if (taken.length > length) {
    release({static_cast<std::byte*>(taken.address) + length, taken.length - length});
  } else if (taken.length < length) {
    // Grown by the OS: its pages stay backed, and only the added ones fault when written.
    void* grown = source_.remap(taken.address, taken.length, length);
    if (grown == nullptr) {
      source_.unmap(taken.address, taken.length);
      return nullptr;
    }
    taken.address = grown;
    mark_reusable(grown, length);  // a move: the new addresses' state may be an older block's
  }
  return taken.address;
}

LargeBlocks::Mapping LargeBlocks::remove_kept(unsigned index) noexcept {
  const Mapping removed = kept_[index];
  kept_bytes_ -= removed.length;
  --kept_count_;
  for (unsigned i = index; i < kept_count_; ++i) kept_[i] = kept_[i + 1];
  return removed;
}

bool LargeBlocks::drain_cache() noexcept { return unmap_oldest(SIZE_MAX) != 0; }

void LargeBlocks::give_back(std::size_t bytes) noexcept { unmap_oldest(bytes); }

unsigned LargeBlocks::unmap_oldest(std::size_t bytes) noexcept {
  Mapping leaving[kCacheSlots];
  unsigned left = 0;
  {
    std::lock_guard<Mutex> lock(mutex_);
    std::size_t given = 0;
    while (given < bytes && kept_count_ > 0) {
      leaving[left] = remove_kept(0);
      given += leaving[left++].length;
    }
  }
  for (unsigned i = 0; i < left; ++i) unmap(leaving[i]);
  return left;
}

void LargeBlocks::unmap(Mapping mapping) noexcept {
  mark_reusable(mapping.address, mapping.length);  // ASan must not think the next mapping here is poisoned
  source_.unmap(mapping.address, mapping.length);
}

std::size_t LargeBlocks::guard_bytes() noexcept { return enabled(Mitigation::kLargeGuardPages) ? page_size() : 0; }

bool LargeBlocks::mapping_length(std::size_t size, std::size_t alignment, std::size_t* length) noexcept {
  const std::size_t page = page_size();
  // The first sum cannot overflow (a power of two is at most 2^63); the others may.
  std::uintptr_t sum = page + alignment;
  if (!checked_add(sum, size, &sum) || !checked_align_up(sum, page, &sum) || !checked_add(sum, guard_bytes(), &sum)) {
    return false;
  }
  *length = sum;
  return true;
}

void* LargeBlocks::allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  const std::size_t page = page_size();
  const std::size_t guard = guard_bytes();
  if (alignment < kWordSize) alignment = kWordSize;
  std::size_t length = 0;
  if (!mapping_length(size, alignment, &length)) return nullptr;
  const std::size_t map_alignment = alignment > page ? alignment : page;
  void* memory = take_kept(length, map_alignment);
  const bool reused = memory != nullptr;
  if (!reused) {
    memory = source_.map(length, map_alignment);
    if (memory == nullptr && drain_cache()) memory = source_.map(length, map_alignment);
    if (memory == nullptr) return nullptr;
  }
  std::byte* data = static_cast<std::byte*>(memory) + page;
  std::byte* data_end = static_cast<std::byte*>(memory) + length - guard;
  if (guard != 0 && !source_.protect(data_end, guard)) {
    source_.unmap(memory, length);
    return nullptr;
  }

  auto* header = new (memory) SlabHeader;
  header->set_data(data);
  header->set_class_index(kLargeClass);
  header->set_length(length);
  // The Node places the block at the first aligned address of the area it is given: the whole
  // data area, or, against a guard page, the tail that ends at the guard (its start is the block's
  // back-pointer: the block start rounded down to the alignment, one word before). Fits by
  // construction: the area before the guard holds size + alignment bytes.
  std::byte* area = data;
  if (guard != 0) {
    const auto end = reinterpret_cast<std::uintptr_t>(data_end);
    area = data_end - (end - ((end - size) & ~(std::uintptr_t{alignment} - 1))) - kWordSize;
  }
  std::byte* block = SlabNode(header, area, static_cast<std::size_t>(data_end - area), 1).aligned_addr(alignment, size);
  header->set_large_block(block);
  if (reused && zeroed) std::memset(block, 0, size);
  mark_no_access(data, static_cast<std::size_t>(block - data));

  std::lock_guard<Mutex> lock(mutex_);
  blocks_.push_front(header);
  ++counts_.blocks;
  counts_.bytes += length;
  if (counts_.blocks > counts_.peak_blocks) counts_.peak_blocks = counts_.blocks;
  if (counts_.bytes > counts_.peak_bytes) counts_.peak_bytes = counts_.bytes;
  return block;
}

void* LargeBlocks::grow(SlabHeader* header, void* block, std::size_t size) noexcept {
  if constexpr (!kGrowsLiveLargeBlocks) return nullptr;
  const std::size_t page = page_size();
  void* const old_mapping = header;
  const std::size_t old_length = header->length();
  const std::size_t old_room = usable_size(*header, block);
  const auto old_data = reinterpret_cast<std::uintptr_t>(header->data());
  // Where the Node puts a malloc block in this data area: a block anywhere else was aligned further.
  if (reinterpret_cast<std::uintptr_t>(block) != block_address(old_data, old_length - page, kMinAlignment, 0)) {
    return nullptr;
  }
  std::size_t length = 0;
  if (!mapping_length(size, kMinAlignment, &length) || length <= old_length) return nullptr;
  void* mapping = nullptr;
  std::byte* grown = nullptr;
  {
    // Off the list first: a move leaves its neighbours' links naming the old header address.
    std::lock_guard<Mutex> lock(mutex_);
    blocks_.remove(header);
    mapping = source_.remap(old_mapping, old_length, length);
    if (mapping == nullptr) {
      blocks_.push_front(header);
      return nullptr;
    }
    header = static_cast<SlabHeader*>(mapping);
    std::byte* data = static_cast<std::byte*>(mapping) + page;
    header->set_data(data);
    header->set_length(length);
    // Fits: the length is a fresh mapping's for this size and alignment.
    grown = SlabNode(header, data, length - page, 1).aligned_addr(kMinAlignment, size);
    header->set_large_block(grown);
    blocks_.push_front(header);
    counts_.bytes += length - old_length;
    if (counts_.bytes > counts_.peak_bytes) counts_.peak_bytes = counts_.bytes;
  }
  // The old block ends before any byte of it is re-marked. When the OS moved the mapping, its old
  // addresses are unmapped: their state goes, as unmap() clears it, so that ASan does not find
  // them poisoned in the next mapping there (memcheck then sees them as addressable until
  // something is mapped there; any access faults anyway). The data area is then a fresh one's,
  // whatever the move or the added pages left in it; the header page keeps its state.
  mark_freed(block, old_room);
  if (mapping != old_mapping) mark_reusable(old_mapping, old_length);
  std::byte* data = header->data();
  mark_reusable(data, length - page);
  mark_no_access(data, static_cast<std::size_t>(grown - data));
  return grown;
}

LargeBlocks::Mapping LargeBlocks::retire(SlabHeader* header) noexcept {
  std::lock_guard<Mutex> lock(mutex_);
  if (!NODEALLOC_FAULT(large_not_unlinked)) blocks_.remove(header);
  --counts_.blocks;
  counts_.bytes -= header->length();
  return {header, header->length()};
}

std::size_t LargeBlocks::usable_size(const SlabHeader& header, const void* block) noexcept {
  const auto end = reinterpret_cast<std::uintptr_t>(&header) + header.length() - guard_bytes();
  return end - reinterpret_cast<std::uintptr_t>(block);
}

}  // namespace nodealloc
