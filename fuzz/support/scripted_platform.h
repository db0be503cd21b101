// ScriptedPlatform: the platform (core/platform/platform.h) under the allocator fuzz targets.
//
// Two jobs, after tests/support/failing_platform.h:
//
// 1. It lets the input decide which map() calls fail. The input sets a 64-bit fault pattern; each
//    map() takes the pattern's lowest bit (1: refuse) and rotates the pattern right by one, so a
//    pattern is a periodic schedule of refusals. 0 never refuses, ~0 refuses everything. A
//    pattern rather than one input byte per map() call: the number of map() calls an operation
//    makes is the allocator's business, and reading input bytes there would shift the parse of
//    every later operation whenever it changes.
//
// 2. It is an oracle for the allocator's side of the contract. It records every range it handed
//    out, so it can check that unmap() and discard() only ever name (page-aligned parts of) live
//    mappings, that map() is asked for whole pages at power-of-two alignments, and it can say how
//    many bytes and ranges are still mapped: after an Allocator is destroyed, both must be 0.
//
// Below it, the memory comes from RecycledMappings (recycled_mappings.h): whole mappings unmapped
// by one input are zeroed and handed out again to the next.
//
// The range table lives on the process heap (glibc or the sanitizer's), never on the allocator
// under test, so taking it does not re-enter the allocator. One mutex covers it: the threads
// target calls in from several threads (one at a time, but a lock keeps that an assumption of the
// harness, not of this class).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "platform/platform.h"
#include "support/flat_map.h"
#include "support/fuzz_check.h"
#include "support/recycled_mappings.h"

namespace nodealloc::fuzz {

class ScriptedPlatform final : public Platform {
 public:
  void set_fault_pattern(std::uint64_t pattern) {
    std::lock_guard<std::mutex> lock(mutex_);
    pattern_ = pattern;
  }

  void* map(std::size_t size, std::size_t alignment) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t page = page_size();
    FUZZ_CHECK(size > 0 && size % page == 0);
    FUZZ_CHECK(std::has_single_bit(alignment) && alignment % page == 0);
    const bool refuse = (pattern_ & 1) != 0;
    pattern_ = std::rotr(pattern_, 1);
    void* memory = refuse ? nullptr : RecycledMappings::instance().map(size, alignment);
    if (memory == nullptr) {
      ++refusals_;
      return nullptr;
    }
    const auto begin = reinterpret_cast<std::uintptr_t>(memory);
    FUZZ_CHECK(begin % alignment == 0);
    // The OS never hands out a range twice; if the table says otherwise, it lost an unmap.
    const auto next = ranges_.lower_bound(begin);
    FUZZ_CHECK(next == ranges_.end() || next->first >= begin + size);
    FUZZ_CHECK(next == ranges_.begin() || end_of(std::prev(next)) <= begin);
    ranges_.emplace(begin, Range{size, false});
    mapped_ += size;
    return memory;
  }

  void unmap(void* memory, std::size_t size) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto begin = reinterpret_cast<std::uintptr_t>(memory);
    const auto range = containing(begin, size);
    // Cut [begin, begin + size) out of the range: what is left either side stays mapped.
    const std::uintptr_t range_begin = range->first;
    const std::uintptr_t range_end = end_of(range);
    const bool was_protected = range->second.was_protected;
    ranges_.erase(range);
    if (range_begin < begin) ranges_.emplace(range_begin, Range{begin - range_begin, was_protected});
    if (begin + size < range_end) ranges_.emplace(begin + size, Range{range_end - begin - size, was_protected});
    mapped_ -= size;
    // Only a whole mapping can be handed out again as a map()'s.
    if (range_begin == begin && range_end == begin + size) {
      RecycledMappings::instance().unmap(memory, size, was_protected);
    } else {
      os_platform().unmap(memory, size);
    }
  }

  // A mapping or a part of one grows in place or moves (the OS's mremap), refused like a map() by
  // the fault pattern; the grown range is a mapping of its own, recycled like any once unmapped
  // whole.
  void* remap(void* memory, std::size_t old_size, std::size_t new_size) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto begin = reinterpret_cast<std::uintptr_t>(memory);
    const auto range = containing(begin, old_size);
    FUZZ_CHECK(new_size > old_size && new_size % page_size() == 0);
    const bool refuse = (pattern_ & 1) != 0;
    pattern_ = std::rotr(pattern_, 1);
    void* moved = refuse ? nullptr : os_platform().remap(memory, old_size, new_size);
    if (moved == nullptr) {
      ++refusals_;
      return nullptr;
    }
    // What was around the part stays mapped where it was.
    const std::uintptr_t range_begin = range->first;
    const std::uintptr_t range_end = end_of(range);
    const bool was_protected = range->second.was_protected;
    const Range grown{new_size, was_protected};
    ranges_.erase(range);
    if (range_begin < begin) ranges_.emplace(range_begin, Range{begin - range_begin, was_protected});
    if (begin + old_size < range_end) {
      ranges_.emplace(begin + old_size, Range{range_end - begin - old_size, was_protected});
    }
    const auto moved_begin = reinterpret_cast<std::uintptr_t>(moved);
    const auto next = ranges_.lower_bound(moved_begin);
    FUZZ_CHECK(next == ranges_.end() || next->first >= moved_begin + new_size);
    FUZZ_CHECK(next == ranges_.begin() || end_of(std::prev(next)) <= moved_begin);
    ranges_.emplace(moved_begin, grown);
    mapped_ += new_size - old_size;
    return moved;
  }

  void discard(void* memory, std::size_t size) noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      containing(reinterpret_cast<std::uintptr_t>(memory), size);  // checks it is mapped
    }
    os_platform().discard(memory, size);
  }

  bool protect(void* memory, std::size_t size) noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      containing(reinterpret_cast<std::uintptr_t>(memory), size)->second.was_protected = true;
    }
    return os_platform().protect(memory, size);
  }

  std::size_t mapped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return mapped_;
  }
  std::size_t ranges() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ranges_.size();
  }
  // Live ranges of at least `size` bytes (chunk-sized ones, say).
  std::size_t ranges_of_at_least(std::size_t size) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t count = 0;
    for (const auto& [begin, range] : ranges_) count += range.length >= size ? 1 : 0;
    return count;
  }
  // map() calls that returned nullptr, by the pattern or by the OS.
  std::uint64_t refusals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return refusals_;
  }

 private:
  struct Range {
    std::size_t length;
    bool was_protected;  // protect() named a part of it
  };
  using Ranges = testing::FlatMap<std::uintptr_t, Range>;

  static std::uintptr_t end_of(Ranges::const_iterator range) { return range->first + range->second.length; }

  // The live range that holds all of [begin, begin + size), which must be whole pages.
  Ranges::iterator containing(std::uintptr_t begin, std::size_t size) {
    const std::size_t page = page_size();
    FUZZ_CHECK(size > 0 && size % page == 0 && begin % page == 0);
    auto range = ranges_.upper_bound(begin);
    FUZZ_CHECK(range != ranges_.begin());
    --range;
    FUZZ_CHECK(begin >= range->first && size <= end_of(range) - begin);
    return range;
  }

  mutable std::mutex mutex_;
  Ranges ranges_;
  std::uint64_t pattern_ = 0;
  std::size_t mapped_ = 0;
  std::uint64_t refusals_ = 0;
};

}  // namespace nodealloc::fuzz
