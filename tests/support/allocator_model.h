// AllocatorModel: what an Allocator (core/heap/allocator.h) must hold, as a pure value. The one
// model of the stateful property (props/allocator_props.cc) and of the allocator fuzz targets'
// harness (fuzz/support/alloc_harness.h); each drives the real allocator and reports mismatches
// its own way (RC_ASSERT, FUZZ_CHECK), so nothing here asserts.
//
//   AllocatorModel<Key>
//   ├── blocks: Key → ModelBlock, in key order
//   │     size, alignment asked for
//   │     class (or kNoClass), room (and so the usable size), mapping (large blocks)
//   │     contents: the first `filled` bytes hold `fill` (0: allocate_zeroed's zeros)
//   ├── live blocks per class, large blocks, bytes in use, large bytes mapped: kept as blocks
//   │     come and go, always the sums over `blocks`
//   └── the memory limit the allocator was given
//
// The caller chooses the key. The property keys blocks by an id of its own and never sees an
// address in its model (it keeps id → address beside it). The harness keys them by address: its
// overlap checks then look at a block's neighbours in O(log n), and each allocation or free
// moves the 16-byte entries of one sorted index, not the records (the fuzz targets' speed is a
// tracked figure). Copying the model is cheap (vectors of at most a few hundred entries):
// rapidcheck copies its state for every command it tries.
//
// The predictions (expected_block, expected_realloc) are exact: the class by brute force over
// the size-class table (reference_class: written apart from class_for()'s lookup table and
// arithmetic, so the allocator's are checked, not repeated), a large block's room and mapping
// from the layout large/large_blocks.h documents, and reallocate()'s rules for staying in place
// and for growing a large block's mapping (heap/allocator.cc). They hold in every configuration
// (base/config.h) and hardening preset: kCanaries (usable size is the request, slab requests
// carry the trailer), kLargeGuardPages (a large block ends against its guard page) and
// kGrowsLiveLargeBlocks (whether realloc may grow a mapping) are read from core/.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "base/bits.h"
#include "base/config.h"
#include "base/mitigations.h"
#include "hardening/canary.h"
#include "heap/allocator.h"
#include "platform/platform.h"
#include "size_class/size_classes.h"
#include "support/flat_map.h"
#include "support/uninstrumented.h"

namespace nodealloc::testing {

// Sums of sizes, alignments and pages never wrap in it.
__extension__ using WideSize = unsigned __int128;

// 48 bytes (the small fields last, side by side; the usable size derived, not stored): rapidcheck
// copies the model for every command it tries.
struct ModelBlock {
  std::size_t size = 0;          // bytes asked for (the last reallocate's size)
  std::size_t alignment = 1;     // alignment asked for
  std::size_t room = 0;          // the bytes it occupies: its class's usable size, a large block's
                                 // to its end
  std::size_t mapping = 0;       // large blocks: bytes their mapping takes
  std::size_t filled = 0;        // the first `filled` bytes hold `fill`
  unsigned class_index = kNoClass;
  std::uint8_t fill = 0;

  // What usable_size() must say: the room, but with kCanaries the requested size (the rest of
  // the room is the canary's).
  std::size_t usable() const { return canary::kOn ? size : room; }
  // What the address must be a multiple of: as asked, and at least malloc's promise.
  std::size_t address_alignment() const { return std::max(alignment, kMinAlignment); }
};
static_assert(sizeof(ModelBlock) <= 48, "the small fields side by side");

// The byte a block's contents are made of, from its id: never 0, so a block's fill and
// allocate_zeroed's zeros never look alike.
inline std::uint8_t fill_byte(std::uint64_t id) {
  const auto value = static_cast<std::uint8_t>(id * 0x3d + 0x11);
  return value != 0 ? value : 0x5a;
}

// The class a request must get: the smallest class whose usable size holds `size` and, with
// kCanaries, the trailer after it, at `alignment`.
FUZZ_UNINSTRUMENTED inline unsigned reference_class(std::size_t size, std::size_t alignment) {
  const WideSize needed = WideSize{size} + canary::kTrailerBytes;
  for (unsigned c = 0; c < kClassCount; ++c) {
    if (size_class(c).usable >= needed && size_class(c).natural_alignment >= alignment) return c;
  }
  return kNoClass;
}

// A large block (large/large_blocks.h): a header page, then the block at the first address
// aligned to `alignment` that leaves a word for its back-pointer, in a mapping aligned to
// max(alignment, page) whose length is header page + alignment + size rounded up to pages. The
// block is usable to the end of the mapping. With kLargeGuardPages (full preset) a guard page
// follows, and the block ends against it instead: its start is the guard's address minus the
// size, rounded down to the alignment. nullopt when the mapping exceeds the memory limit (or
// any size_t): no heap state can serve that.
struct LargeLayout {
  std::size_t mapping;
  std::size_t room;
};
FUZZ_UNINSTRUMENTED inline std::optional<LargeLayout> large_layout(std::size_t size, std::size_t alignment,
                                                                  std::size_t limit) {
  const WideSize page = page_size();
  const WideSize align = std::max(alignment, kMinAlignment);
  const WideSize body = (page + align + size + page - 1) / page * page;  // all but the guard
  const WideSize guard = enabled(Mitigation::kLargeGuardPages) ? page : 0;
  if (body + guard > limit) return std::nullopt;
  const WideSize offset = guard != 0 ? (body - size) / align * align  // against the guard
                                     : (page + kWordSize + align - 1) / align * align;
  return LargeLayout{static_cast<std::size_t>(body + guard), static_cast<std::size_t>(body - offset)};
}

// What allocate_aligned(size, alignment) must hand out, contents unknown (filled 0), or nullopt
// when it must give nullptr whatever the heap holds.
FUZZ_UNINSTRUMENTED inline std::optional<ModelBlock> expected_block(std::size_t size, std::size_t alignment,
                                                                   std::size_t limit) {
  if (!is_power_of_two(alignment)) return std::nullopt;
  ModelBlock block;
  block.size = size;
  block.alignment = alignment;
  block.class_index = reference_class(size, block.address_alignment());
  if (block.class_index != kNoClass) {
    block.room = size_class(block.class_index).usable;
  } else {
    const std::optional<LargeLayout> layout = large_layout(size, alignment, limit);
    if (!layout) return std::nullopt;
    block.room = layout->room;
    block.mapping = layout->mapping;
  }
  return block;
}

// Whether reallocate(block, size) keeps the block where it is: its class is still the one for
// the size, or a large block the size still half fills.
FUZZ_UNINSTRUMENTED inline bool stays_in_place(const ModelBlock& old, std::size_t size) {
  if (old.class_index != kNoClass) return reference_class(size, kMinAlignment) == old.class_index;
  return size <= old.room && size >= old.room / 2;
}

// Whether reallocate(block, size) may grow the block's own mapping (large/large_blocks.h) rather
// than copy it: a large block placed as malloc places it, asked for more than its room, in a
// preset that grows live blocks. The grown block is what a fresh one would be (room, mapping), at
// the old address or moved, and the old one is gone either way; when the OS or the limit refuses
// the growth, the copy gives the same record.
FUZZ_UNINSTRUMENTED inline bool may_grow(const ModelBlock& old, std::size_t size) {
  return kGrowsLiveLargeBlocks && old.class_index == kNoClass && old.address_alignment() == kMinAlignment &&
         size > old.room;
}

// What reallocate(block, size) must leave: the same block resized, else a fresh 16-aligned block
// (moved, or grown: may_grow) holding the prefix both sizes share. nullopt when no heap can serve
// the move: the call must fail and leave the block intact.
FUZZ_UNINSTRUMENTED inline std::optional<ModelBlock> expected_realloc(const ModelBlock& old, std::size_t size,
                                                                     std::size_t limit) {
  ModelBlock result = old;
  if (!stays_in_place(old, size)) {
    const std::optional<ModelBlock> moved = expected_block(size, kMinAlignment, limit);
    if (!moved) return std::nullopt;
    result = *moved;
    result.fill = old.fill;
  }
  result.size = size;
  result.filled = std::min(old.filled, size);
  return result;
}

// The first way statistics() disagrees with the model, as text; empty when they agree. A fixed
// buffer, not a std::string: the MSan variant runs this code, and std::string's out-of-line
// members live in the uninstrumented libstdc++.so (as std::map's do: flat_map.h).
struct Mismatch {
  char text[160] = {};
  explicit operator bool() const { return text[0] != '\0'; }
};

template <class Key>
class AllocatorModel {
 private:
  using Slot = std::uint32_t;
  using Index = FlatMap<Key, Slot>;

 public:
  // Iterates the blocks in key order as (key, record) pairs; `->first`, `->second` and
  // structured bindings work as on a map's iterator.
  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = std::pair<Key, const ModelBlock&>;
    using difference_type = std::ptrdiff_t;
    using reference = value_type;
    struct pointer {
      value_type entry;
      const value_type* operator->() const { return &entry; }
    };

    const_iterator(typename Index::const_iterator at, const std::vector<ModelBlock>& slots)
        : at_(at), slots_(&slots) {}
    reference operator*() const { return {at_->first, (*slots_)[at_->second]}; }
    pointer operator->() const { return pointer{**this}; }
    const_iterator& operator++() {
      ++at_;
      return *this;
    }
    const_iterator& operator--() {
      --at_;
      return *this;
    }
    bool operator==(const const_iterator& other) const { return at_ == other.at_; }

   private:
    typename Index::const_iterator at_;
    const std::vector<ModelBlock>* slots_;
  };

  explicit AllocatorModel(std::size_t limit) : limit_(limit) {}

  std::size_t limit() const { return limit_; }
  std::size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  const_iterator begin() const { return {index_.begin(), slots_}; }
  const_iterator end() const { return {index_.end(), slots_}; }
  // The first block whose key is not below `key`: with addresses for keys, a block's neighbours.
  const_iterator lower_bound(const Key& key) const { return {index_.lower_bound(key), slots_}; }
  bool contains(const Key& key) const { return index_.find(key) != index_.end(); }
  const ModelBlock& at(const Key& key) const { return slots_[index_.at(key)]; }
  std::vector<Key> keys() const {
    std::vector<Key> result;
    result.reserve(index_.size());
    for (const auto& entry : index_) result.push_back(entry.first);
    return result;
  }

  std::size_t live_in_class(unsigned class_index) const { return counts_[class_index]; }
  std::size_t large_blocks() const { return counts_[kNoClass]; }
  std::size_t bytes_in_use() const { return bytes_in_use_; }
  std::size_t large_mapped() const { return large_mapped_; }

  // A new live block; false (and no change) when `key` is live already.
  bool add(const Key& key, const ModelBlock& block) {
    const Slot slot = free_slots_.empty() ? static_cast<Slot>(slots_.size()) : free_slots_.back();
    if (!index_.emplace(key, slot).second) return false;
    if (free_slots_.empty()) {
      slots_.push_back(block);
    } else {
      free_slots_.pop_back();
      slots_[slot] = block;
    }
    count(block, +1);
    return true;
  }
  // The block `key` is now `block` (a reallocate in place).
  void replace(const Key& key, const ModelBlock& block) {
    ModelBlock& entry = slots_[index_.at(key)];
    count(entry, -1);
    entry = block;
    count(entry, +1);
  }
  ModelBlock remove(const Key& key) {
    const Slot slot = index_.at(key);  // aborts when there is none
    const ModelBlock block = slots_[slot];
    index_.erase(index_.find(key));
    free_slots_.push_back(slot);
    count(block, -1);
    return block;
  }
  // The whole block now holds `fill`.
  void fill(const Key& key, std::uint8_t fill) {
    ModelBlock& block = slots_[index_.at(key)];
    block.fill = fill;
    block.filled = block.size;
  }

  // statistics() against the model: live blocks per class exactly (and within their slabs),
  // large blocks, bytes in use, bytes mapped equal to what the platform says it has mapped and
  // within the limit, dirty bytes within the pool's bound.
  FUZZ_UNINSTRUMENTED Mismatch check(const Statistics& stats, std::size_t platform_mapped) const {
    Mismatch found;
    // Names the first figure that is not what it should be (formatted then only: the fuzz
    // targets check often); later calls leave it.
    auto expect = [&found](bool holds, const char* what, std::size_t left, std::size_t right) {
      if (holds || found) return;
      std::snprintf(found.text, sizeof found.text, "statistics: %s (%zu, %zu)", what, left, right);
    };
    for (unsigned c = 0; c < kClassCount; ++c) {
      const std::size_t capacity = stats.slabs[c] * size_class(c).capacity;
      if (stats.live_blocks[c] != counts_[c] || stats.live_blocks[c] > capacity) {
        std::snprintf(found.text, sizeof found.text,
                      "statistics: live_blocks[%u] is %zu, the model's %zu (its %zu slabs hold %zu)", c,
                      stats.live_blocks[c], counts_[c], stats.slabs[c], capacity);
        return found;
      }
    }
    expect(stats.live_large_blocks == large_blocks(), "live_large_blocks != the model's", stats.live_large_blocks,
           large_blocks());
    expect(stats.bytes_in_use == bytes_in_use_, "bytes_in_use != the model's", stats.bytes_in_use, bytes_in_use_);
    expect(stats.bytes_mapped == platform_mapped, "bytes_mapped != the platform's", stats.bytes_mapped,
           platform_mapped);
    expect(stats.bytes_in_use <= stats.bytes_mapped, "bytes_in_use > bytes_mapped", stats.bytes_in_use,
           stats.bytes_mapped);
    expect(stats.bytes_mapped <= limit_, "bytes_mapped > the limit", stats.bytes_mapped, limit_);
    expect(stats.bytes_dirty <= Config::kMaxDirtyBytes, "bytes_dirty > the pool's bound", stats.bytes_dirty,
           Config::kMaxDirtyBytes);
    expect(stats.bytes_dirty <= stats.bytes_mapped, "bytes_dirty > bytes_mapped", stats.bytes_dirty,
           stats.bytes_mapped);
    return found;
  }

 private:
  void count(const ModelBlock& block, int sign) {
    if (sign > 0) {
      ++counts_[block.class_index];
      bytes_in_use_ += block.room;
      large_mapped_ += block.mapping;
    } else {
      --counts_[block.class_index];
      bytes_in_use_ -= block.room;
      large_mapped_ -= block.mapping;
    }
  }

  // The blocks in key order: a sorted index of (key, slot), 16 bytes an entry, and the records
  // in slots that stay where they are while the block lives (a freed block's slot is reused), so
  // an insert or erase in the middle moves 16 bytes an entry where it moved 56 with the records in
  // the index. In the harness those moves, with ASan's check of each, were a seventh of
  // alloc_ops' time.
  Index index_;
  std::vector<ModelBlock> slots_;
  std::vector<Slot> free_slots_;
  std::array<std::size_t, kClassCount + 1> counts_{};  // [kNoClass]: large blocks
  std::size_t bytes_in_use_ = 0;
  std::size_t large_mapped_ = 0;
  std::size_t limit_;
};

}  // namespace nodealloc::testing
