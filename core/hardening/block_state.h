// Block state: whether a block is live, and which family of calls handed it out, kept in its
// back-pointer word's state bits.
//
//   back-pointer word = header address (128-byte aligned) | family (bits 1-2) | live (bit 0)
//
// The Node writes every back-pointer with state zero when it carves a buffer or places a large
// block, so a block is born free; on_hand_out sets the state, a free clears it. The codec that
// strips the bits for every lookup is SlabNode::Word (pool/slab.h, node/block.h): the one place
// that reads meaning into the word. The bits exist only when a mitigation reads them:
//   - kDoubleFree: a free of a block whose live bit is clear is a double free (after any number
//     of other frees, from any thread, while the block sits in a cache or back in its slab);
//   - kFreeListCheck: a block a free list hands out must have its live bit clear; one that is set
//     means a write after free made the list lead to a live block;
//   - kFamilyCheck: the family (malloc, new, new[]) is recorded at hand-out and must match the
//     call that gives the block back: free of a new[] block, delete of a malloc block, delete of a
//     new[] block are reported.
// With both on, a free checks the whole state in one comparison: live, and of its own family.
#pragma once

#include <cstdint>

#include "base/mitigations.h"
#include "base/report.h"
#include "node/block.h"
#include "pool/slab.h"

namespace nodealloc {

// The family of calls a block was handed out by, and must be given back by.
enum class Family : unsigned {
  kMalloc = 0,    // malloc, calloc, realloc, memalign and the rest: free, realloc
  kNew = 1,       // operator new (aligned or not): operator delete
  kNewArray = 2,  // operator new[]: operator delete[]
};

const char* family_name(Family family) noexcept;

}  // namespace nodealloc

namespace nodealloc::block_state {

using Word = SlabNode::Word;

inline constexpr std::uintptr_t kLive = 1;
inline constexpr unsigned kFamilyShift = 1;
static_assert((Word::kStateMask & kLive) == kLive || !enabled(Mitigation::kDoubleFree),
              "the slab codec keeps the live bit whenever a mitigation reads it");
static_assert((Word::kStateMask >> kFamilyShift) == 3 || !enabled(Mitigation::kFamilyCheck),
              "the slab codec keeps the family bits whenever kFamilyCheck reads them");

// The state of a live block of `family`, as far as this build records it.
constexpr std::uintptr_t live_state(Family family) noexcept {
  const std::uintptr_t family_bits =
      enabled(Mitigation::kFamilyCheck) ? static_cast<std::uintptr_t>(family) << kFamilyShift : 0;
  return kLive | family_bits;
}

[[noreturn, gnu::cold, gnu::noinline]] void report_bad_free(const void* block, std::uintptr_t state,
                                                            Family family) noexcept;

inline bool is_live(const void* block) noexcept {
  return (Word::state(load_back_pointer_word(block)) & kLive) != 0;
}

// A block (small or large) is handed out by a call of `family`.
inline void on_hand_out(void* block, Family family) noexcept {
  if constexpr (Word::kStateMask != 0) {
    const std::uintptr_t word = load_back_pointer_word(block);
    if constexpr (enabled(Mitigation::kFreeListCheck)) {
      if ((Word::state(word) & kLive) != 0) [[unlikely]] report_fatal(FatalError::kCorruptedFreeList, block);
    }
    store_back_pointer_word(block, Word::encode(Word::decode(word), live_state(family)));
  }
}

// A block stays live but must be of `family` (realloc of a new block is a mismatch too).
inline void check_family(const void* block, Family family) noexcept {
  if constexpr (enabled(Mitigation::kFamilyCheck)) {
    const std::uintptr_t state = Word::state(load_back_pointer_word(block));
    if ((state >> kFamilyShift) != static_cast<std::uintptr_t>(family)) [[unlikely]] report_bad_free(block, state, family);
  }
}

// A block comes back through a call of `family`: it must be live, and (kFamilyCheck) of it.
inline void on_free(void* block, Family family) noexcept {
  if constexpr (enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kFamilyCheck)) {
    const std::uintptr_t word = load_back_pointer_word(block);
    const std::uintptr_t state = Word::state(word);
    const std::uintptr_t expected = live_state(family);
    if (enabled(Mitigation::kDoubleFree) ? state != expected : (state | kLive) != expected) [[unlikely]] {
      report_bad_free(block, state, family);
    }
    store_back_pointer_word(block, Word::encode(Word::decode(word), 0));
  }
}

}  // namespace nodealloc::block_state
