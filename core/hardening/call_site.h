// Call sites (kCallSites, the full preset): where the program allocated and freed a block, for
// the reports that name a block's history (double free, write after free, overflow, mismatch).
//
// A call site is a return address into the program (reports print it as file+offset, for
// addr2line: base/report.h's FatalDetail::code): every exported entry point (malloc, free,
// new, delete, the na_* API and the rest) records __builtin_return_address(0) in a thread-local
// word first (NODEALLOC_RECORD_CALLER), so no frame walk and no frame pointers are needed; the
// heap stores it with the block:
//
//   live slab block:  | ... | canary | allocated_at | size+hash |   (the last 16 bytes: the trailer)
//   free slab block:  | link | fill ... | allocated_at | freed_at |
//   large block:      allocated_at in its header (word 14); when freed, both in the entry that
//                     holds its mapping back (hardening.h)
//
// A free block's two site words lie outside its fill (kFreedFill does not check them), and they
// are diagnostics, not metadata: nothing trusts them, a stray write only garbles a report. Calls
// made straight to the Allocator (tests, fuzzers) record nothing: their sites read zero and are
// not printed. Cost: a thread-local store per call, two words per free, the 8 more trailer bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "base/mitigations.h"
#include "base/sanitizer.h"

namespace nodealloc::call_site {

inline constexpr bool kOn = enabled(Mitigation::kCallSites);
// The trailer bytes the allocation site adds to a slab block (canary.h lays out the trailer).
inline constexpr std::size_t kTrailerBytes = kOn ? kWordSize : 0;
// The bytes at the end of a free slab block that hold its two sites (freed_fill leaves them out).
inline constexpr std::size_t kFreeBlockBytes = kOn ? 2 * kWordSize : 0;

// Where a block was allocated and freed (zero: unknown).
struct Sites {
  std::uintptr_t allocated = 0;
  std::uintptr_t freed = 0;
};

namespace detail {
extern constinit thread_local std::uintptr_t current __attribute__((tls_model("initial-exec")));
}  // namespace detail

// The program's call now entering nodealloc returns to `return_address`.
inline void record(const void* return_address) noexcept {
  if constexpr (kOn) detail::current = reinterpret_cast<std::uintptr_t>(return_address);
}

// The call site of the call being served (zero when none was recorded, or kCallSites is off).
inline std::uintptr_t current() noexcept {
  if constexpr (kOn) return detail::current;
  return 0;
}

namespace detail {
NODEALLOC_NO_SANITIZE inline std::uintptr_t load(const void* block, std::size_t offset) noexcept {
  std::uintptr_t word;
  const MetadataAccess window(static_cast<const unsigned char*>(block) + offset, sizeof word);
  std::memcpy(&word, static_cast<const unsigned char*>(block) + offset, sizeof word);
  return word;
}
NODEALLOC_NO_SANITIZE inline void store(void* block, std::size_t offset, std::uintptr_t word) noexcept {
  const MetadataAccess window(static_cast<unsigned char*>(block) + offset, sizeof word);
  std::memcpy(static_cast<unsigned char*>(block) + offset, &word, sizeof word);
}
}  // namespace detail

// A slab block of `usable` bytes is handed out, or freed (after its canary was checked: the free
// site takes the size word's place).
inline void on_slab_hand_out(void* block, std::size_t usable) noexcept {
  if constexpr (kOn) detail::store(block, usable - 2 * kWordSize, current());
}
inline void on_slab_free(void* block, std::size_t usable) noexcept {
  if constexpr (kOn) detail::store(block, usable - kWordSize, current());
}

// The sites a slab block holds: the allocation site, and (a free block's) the free site.
inline Sites slab_sites(const void* block, std::size_t usable, bool freed) noexcept {
  if constexpr (!kOn) return {};
  return {detail::load(block, usable - 2 * kWordSize), freed ? detail::load(block, usable - kWordSize) : 0};
}

}  // namespace nodealloc::call_site

// First statement of every exported entry point.
#define NODEALLOC_RECORD_CALLER() ::nodealloc::call_site::record(__builtin_return_address(0))
