// Block state: whether a block is live, which family of calls handed it out, and a checksum that
// binds both to the block, all kept in its back-pointer word's spare bits.
//
//   back-pointer word = checksum (bits 48-63) | header address (bits 7-47, 128-byte aligned)
//                       | family (bits 1-2) | live (bit 0)
//
// The Node writes every back-pointer with zero state when it carves a buffer or places a large
// block; the cache seals a carved block as free (seal_free) and a fresh large block is sealed live
// when handed out, so every block's word is sealed before anyone checks it. on_hand_out sets the
// live state, a free clears it. The codec that strips the bits for every lookup is SlabNode::Word
// (pool/slab.h, node/block.h): the one place that reads meaning into the word. The bits exist only
// when a mitigation reads them:
//   - kDoubleFree: a free of a block whose live bit is clear is a double free (after any number
//     of other frees, from any thread, while the block sits in a cache or back in its slab);
//   - kFreeListCheck: a block a free list hands out must be sealed free; one that is live means
//     a write after free made the list lead to a live block;
//   - kFamilyCheck: the family (malloc, new, new[]) is recorded at hand-out and must match the
//     call that gives the block back: free of a new[] block, delete of a malloc block, delete of a
//     new[] block are reported;
//   - kBackPointerChecksum: the top 16 bits are checksum(block address, header address, state),
//     a multiply-shift hash keyed by the process secret (secret.h). A word that fails it was not
//     written by nodealloc for this block in this state: an overflow rewrote it, it was copied
//     from another block, or its state was set by hand. It stops blind forgery and corruption,
//     not an attacker who reads many words to recover the key (scudo's checksum has the same
//     limit), and 1 in 65536 random words passes it.
// A check compares the whole word with the one expected at once: live, of its family, sealed.
#pragma once

#include <cstdint>

#include "base/mitigations.h"
#include "base/report.h"
#include "hardening/secret.h"
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
inline constexpr std::uintptr_t kStateBits = 7;  // live and family: the low bits of the word
inline constexpr unsigned kChecksumShift = kHeaderAddressBits;
inline constexpr bool kChecksummed = enabled(Mitigation::kBackPointerChecksum);
static_assert((Word::kStateMask & kLive) == kLive || !enabled(Mitigation::kDoubleFree),
              "the slab codec keeps the live bit whenever a mitigation reads it");
static_assert(((Word::kStateMask & kStateBits) >> kFamilyShift) == 3 || !enabled(Mitigation::kFamilyCheck),
              "the slab codec keeps the family bits whenever kFamilyCheck reads them");
static_assert((Word::kStateMask >> kChecksumShift) == 0xffff || !kChecksummed,
              "the slab codec keeps the checksum bits whenever kBackPointerChecksum reads them");
static_assert(enabled(Mitigation::kDoubleFree) || !kChecksummed,
              "the checksum binds the live bit, which only kDoubleFree keeps exact");

// The state of a live block of `family`, as far as this build records it.
constexpr std::uintptr_t live_state(Family family) noexcept {
  const std::uintptr_t family_bits =
      enabled(Mitigation::kFamilyCheck) ? static_cast<std::uintptr_t>(family) << kFamilyShift : 0;
  return kLive | family_bits;
}

// The words nodealloc writes before one block: its header, a state and (kBackPointerChecksum)
// the checksum of all three, the top 16 bits of (block + ((header | state) << 16)) * key, a
// multiply-shift hash whose key (the process secret, made odd) the writer does not know. The
// product is linear in the state, so one multiply serves every state of the block: a check and the
// rewrite that follows it cost one multiply together.
class Seal {
 public:
  Seal(const void* block, std::uintptr_t header) noexcept : header_(header) {
    if constexpr (kChecksummed) {
      const std::uintptr_t key = secret::value() | 1;
      product_ = (reinterpret_cast<std::uintptr_t>(block) + (header << 16)) * key;
      key_step_ = key << 16;
    }
  }
  std::uintptr_t word(std::uintptr_t state) const noexcept {
    if constexpr (!kChecksummed) return Word::encode(header_, state);
    const std::uintptr_t checksum = (product_ + state * key_step_) >> kChecksumShift;
    return Word::encode(header_, state | (checksum << kChecksumShift));
  }

 private:
  std::uintptr_t header_;
  std::uintptr_t product_ = 0;   // the checksum's product for state 0
  std::uintptr_t key_step_ = 0;  // what one unit of state adds to it
};

inline std::uintptr_t low_state(std::uintptr_t word) noexcept { return Word::state(word) & kStateBits; }

// The word before `block`, read once, and the seal of the header it names.
struct Sealed {
  std::uintptr_t word;
  Seal seal;
};
// Whether `word` is a word nodealloc sealed for `block`, in whatever state.
inline bool intact(const void* block, std::uintptr_t word) noexcept {
  return word == Seal(block, Word::decode(word)).word(low_state(word));
}
inline Sealed load(const void* block) noexcept {
  const std::uintptr_t word = load_back_pointer_word(block);
  return {word, Seal(block, Word::decode(word))};
}

// The reports of a word that is not the expected one (hardening.cc), with the expected word.
[[noreturn, gnu::cold, gnu::noinline]] void report_bad_free(const void* block, std::uintptr_t found,
                                                            std::uintptr_t expected, Family family) noexcept;
[[noreturn, gnu::cold, gnu::noinline]] void report_not_free(const void* block, std::uintptr_t found,
                                                            std::uintptr_t expected) noexcept;

inline bool is_live(const void* block) noexcept { return (low_state(load_back_pointer_word(block)) & kLive) != 0; }

// A carved block joins its first free list: sealed free.
inline void seal_free(void* block) noexcept {
  if constexpr (kChecksummed) store_back_pointer_word(block, load(block).seal.word(0));
}

// A block that left a free list is handed out by a call of `family`: it must be sealed free.
inline void on_hand_out(void* block, Family family) noexcept {
  if constexpr (Word::kStateMask != 0) {
    const Sealed found = load(block);
    if constexpr (enabled(Mitigation::kFreeListCheck) || kChecksummed) {
      const std::uintptr_t expected = found.seal.word(0);
      if (found.word != expected) [[unlikely]] report_not_free(block, found.word, expected);
    }
    store_back_pointer_word(block, found.seal.word(live_state(family)));
  }
}

// A fresh large block, never on a free list (its word is the Node's, unsealed), is handed out.
inline void on_fresh_hand_out(void* block, Family family) noexcept {
  if constexpr (Word::kStateMask != 0) store_back_pointer_word(block, load(block).seal.word(live_state(family)));
}

// A block stays live but must be of `family` (realloc of a new block is a mismatch too).
inline void check_family(const void* block, Family family) noexcept {
  if constexpr (enabled(Mitigation::kFamilyCheck)) {
    const Sealed found = load(block);
    const std::uintptr_t expected = found.seal.word(live_state(family));
    if (found.word != expected) [[unlikely]] report_bad_free(block, found.word, expected, family);
  }
}

// A block comes back through a call of `family`: it must be live, and (kFamilyCheck) of it.
inline void on_free(void* block, Family family) noexcept {
  if constexpr (enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kFamilyCheck)) {
    const Sealed found = load(block);
    const std::uintptr_t expected = found.seal.word(live_state(family));
    const bool as_expected = enabled(Mitigation::kDoubleFree) ? found.word == expected : (found.word | kLive) == expected;
    if (!as_expected) [[unlikely]] report_bad_free(block, found.word, expected, family);
    store_back_pointer_word(block, found.seal.word(0));
  }
}

}  // namespace nodealloc::block_state
