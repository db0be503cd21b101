// Block state: whether a slab block is live, kept in its back-pointer word's state bit.
//
//   back-pointer word = header address (128-byte aligned) | live bit (bit 0)
//
// The Node writes every back-pointer with state zero when it carves a buffer, so a block is born
// free; on_hand_out sets the bit, a free clears it. The codec that strips the bit for every
// lookup is SlabNode::Word (pool/slab.h, node/block.h): the one place that reads meaning into the
// word. The bit exists only when kDoubleFree or kFreeListCheck is on; then:
//   - kDoubleFree: a free of a block whose bit is clear is a double free (after any number of
//     other frees, from any thread, while the block sits in a cache or back in its slab);
//   - kFreeListCheck: a block a free list hands out must have its bit clear; one that is set means
//     a write after free made the list lead to a live block.
// Large blocks do not use the bit: the table of live large blocks answers for them.
#pragma once

#include <cstdint>

#include "base/mitigations.h"
#include "base/report.h"
#include "node/block.h"
#include "pool/slab.h"

namespace nodealloc::block_state {

using Word = SlabNode::Word;

inline constexpr std::uintptr_t kLive = 1;
static_assert((Word::kStateMask & kLive) == kLive || !enabled(Mitigation::kDoubleFree),
              "the slab codec keeps the live bit whenever a mitigation reads it");

inline bool is_live(const void* block) noexcept {
  return (Word::state(load_back_pointer_word(block)) & kLive) != 0;
}

// A slab block leaves a free list for the user.
inline void on_hand_out(void* block) noexcept {
  if constexpr (enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kFreeListCheck)) {
    const std::uintptr_t word = load_back_pointer_word(block);
    if constexpr (enabled(Mitigation::kFreeListCheck)) {
      if ((Word::state(word) & kLive) != 0) [[unlikely]] report_fatal(FatalError::kCorruptedFreeList, block);
    }
    store_back_pointer_word(block, Word::encode(Word::decode(word), kLive));
  }
}

// A slab block comes back from the user.
inline void on_free(void* block) noexcept {
  if constexpr (enabled(Mitigation::kDoubleFree)) {
    const std::uintptr_t word = load_back_pointer_word(block);
    if ((Word::state(word) & kLive) == 0) [[unlikely]] report_fatal(FatalError::kDoubleFree, block);
    store_back_pointer_word(block, Word::encode(Word::decode(word), 0));
  }
}

}  // namespace nodealloc::block_state
