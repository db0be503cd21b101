// Freed-block fill (kFreedFill, the full preset): a free slab block's bytes after its link word
// hold a fixed pattern, from the moment the block is carved or freed until it is handed out
// again, when the pattern is checked.
//
//   free block:  | link (encoded) | pattern ... pattern | (call sites) |
//                0                8                     fill_end       usable
//
// What it stops: a write after free that lands past the first word is reported at the next
// allocation of the block ("write after free at <block> (offset=<first changed byte>)"), not left
// to corrupt the next owner's data; and nothing of a freed block's old contents reaches its next
// owner (it reads the pattern). The first word is the free-list link, which kFreeListCheck guards.
// Blocks are filled when carved too, so every block on a free list carries the pattern and the
// check never needs to know where a block has been. Large blocks go back to the OS on free, and
// come back zeroed from it.
//
// The pattern byte is the run-time option fill_byte (NODEALLOC_OPTIONS=fill_byte=0x..., default
// 0xdf), read when the first allocator instance is made.
//
// Cost: a memset of the block's usable size on every free and carve, and a scan of it on every
// malloc: full preset only. The block is poisoned for ASan while free, so the fill unpoisons and
// poisons around itself, and the scan is exempt from ASan's checks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "base/mitigations.h"
#include "base/report.h"
#include "base/sanitizer.h"
#include "hardening/call_site.h"

namespace nodealloc::freed_fill {

namespace detail {
// The pattern byte in every byte of a word, from the run-time option fill_byte (base/options.h);
// set once, by init(), before the first block is filled.
extern std::atomic<std::uintptr_t> pattern_word;
}  // namespace detail

// Reads the option; every allocator instance calls it before it carves a block.
void init() noexcept;

inline std::uintptr_t pattern_word() noexcept { return detail::pattern_word.load(std::memory_order_relaxed); }
inline unsigned char pattern() noexcept { return static_cast<unsigned char>(pattern_word()); }

// Fills the free block's bytes after its link. The block is, and stays, poisoned (free).
// The end of the filled bytes: the block's end, less its call sites' words (kCallSites).
constexpr std::size_t fill_end(std::size_t usable) noexcept {
  return usable > kWordSize + call_site::kFreeBlockBytes ? usable - call_site::kFreeBlockBytes : kWordSize;
}

inline void fill(void* block, std::size_t usable) noexcept {
  if constexpr (enabled(Mitigation::kFreedFill)) {
    const std::size_t end = fill_end(usable);
    if (end <= kWordSize) return;
    auto* bytes = static_cast<unsigned char*>(block) + kWordSize;
    mark_reusable(bytes, end - kWordSize);
    std::memset(bytes, pattern(), end - kWordSize);
    mark_no_access(bytes, end - kWordSize);
  }
}

// The first byte after the link that lost the pattern, or `usable` when none did. Usable sizes
// are multiples of 8 beyond the link (strides are multiples of 16), so it reads whole words.
NODEALLOC_NO_SANITIZE inline std::size_t first_changed(const void* block, std::size_t usable) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(block);
  const std::uintptr_t expected = pattern_word();
  const MetadataAccess window(block, usable);
  for (std::size_t offset = kWordSize; offset + kWordSize <= usable; offset += kWordSize) {
    std::uintptr_t word;
    std::memcpy(&word, bytes + offset, sizeof word);
    if (word != expected) [[unlikely]] {
      while (bytes[offset] == static_cast<unsigned char>(expected)) ++offset;
      return offset;
    }
  }
  return usable;
}

// hardening.cc: with the block's call sites, when it has them.
[[noreturn, gnu::cold, gnu::noinline]] void report_write_after_free(const void* block, std::size_t usable,
                                                                    std::size_t offset) noexcept;

// A slab block is about to be handed out: its pattern must be whole.
inline void check(const void* block, std::size_t usable) noexcept {
  if constexpr (enabled(Mitigation::kFreedFill)) {
    const std::size_t end = fill_end(usable);
    const std::size_t offset = first_changed(block, end);
    if (offset != end) [[unlikely]] report_write_after_free(block, usable, offset);
  }
}

}  // namespace nodealloc::freed_fill
