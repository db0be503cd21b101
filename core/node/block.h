// Blocks and their back-pointers: how an address handed out finds its header again.
//
// A block is placed inside a data area [area, area + area_len). The word just before the block
// holds the back-pointer word, which names the header that owns it:
//
//   area                                                             area + area_len
//   |  padding  | back-pointer | block: size bytes, aligned |  rest  |
//               ^ user - W     ^ user = align_up(area + W, align)
//
// place_block() hands out `user` exactly when
//     align is a power of two  and  align_up(area + W, align) + size <= area + area_len,
// every sum computed without overflow (alignments up to 2^63, sizes up to SIZE_MAX). It writes the
// back-pointer and nothing else. The back-pointer word lies inside the data area by construction
// (user >= area + W). A zero-sized block may sit at area + area_len; it owns no byte.
//
// The back-pointer word (BackPointerWord<StateMask>): the header's address, whose low bits are
// zero since headers are word-aligned, and whose top bits are zero since addresses have at most
// kHeaderAddressBits bits. The bits in StateMask, low or top, are the user's (the allocator's
// hardening keeps a block state and a checksum there); decode() strips them, encode() sets them,
// and place_block writes them zero. With StateMask 0 (the seed's reading) the word is the address
// itself and decoding costs nothing. This pair is the only code that reads meaning into the word.
//
// The word is allocator metadata inside user memory: the sanitizer layer marks it no-access, so
// the two functions that touch it are exempt from ASan's checks (and only they are), and open a
// MetadataAccess window for memcheck.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "base/sanitizer.h"

namespace nodealloc {

// The bits a header address may use: user space on x86-64 and AArch64 (4-level tables) is 47 or 48.
inline constexpr unsigned kHeaderAddressBits = 48;

template <std::uintptr_t StateMask>
struct BackPointerWord {
  static constexpr std::uintptr_t kAddressBits =
      ((std::uintptr_t{1} << kHeaderAddressBits) - 1) & ~std::uintptr_t{kWordSize - 1};
  static_assert((StateMask & kAddressBits) == 0,
                "the state bits are the ones a word-aligned header address leaves zero, low or top");
  static constexpr std::uintptr_t kStateMask = StateMask;

  static constexpr std::uintptr_t encode(std::uintptr_t header_address, std::uintptr_t state) noexcept {
    return header_address | (state & StateMask);
  }
  static constexpr std::uintptr_t decode(std::uintptr_t word) noexcept { return word & ~StateMask; }
  static constexpr std::uintptr_t state(std::uintptr_t word) noexcept { return word & StateMask; }
};

// The raw word before `block`, and its replacement. Neither interprets it.
NODEALLOC_NO_SANITIZE inline std::uintptr_t load_back_pointer_word(const void* block) noexcept {
  std::uintptr_t word = 0;
  const MetadataAccess window(static_cast<const std::byte*>(block) - kWordSize, kWordSize);
  std::memcpy(&word, static_cast<const std::byte*>(block) - kWordSize, kWordSize);
  return word;
}
NODEALLOC_NO_SANITIZE inline void store_back_pointer_word(void* block, std::uintptr_t word) noexcept {
  const MetadataAccess window(static_cast<std::byte*>(block) - kWordSize, kWordSize);
  std::memcpy(static_cast<std::byte*>(block) - kWordSize, &word, kWordSize);
}

// The user address for a block of `size` bytes aligned to `align` in the data area, or 0 when it
// does not fit or `align` is not a power of two. Pure: writes nothing.
inline std::uintptr_t block_address(std::uintptr_t area, std::size_t area_len, std::size_t align,
                                    std::size_t size) noexcept {
  std::uintptr_t area_end = 0;
  std::uintptr_t first_candidate = 0;
  std::uintptr_t user = 0;
  if (!is_power_of_two(align)) return 0;
  if (!checked_add(area, area_len, &area_end)) return 0;
  if (!checked_add(area, kWordSize, &first_candidate)) return 0;
  if (!checked_align_up(first_candidate, align, &user)) return 0;
  if (user > area_end || size > area_end - user) return 0;
  return user;
}

// Places a block as described above and returns it, or nullptr when it does not fit. The
// back-pointer word is the header's address with state zero, whatever the codec.
inline std::byte* place_block(std::byte* area, std::size_t area_len, const void* header,
                              std::size_t align, std::size_t size) noexcept {
  const auto area_address = reinterpret_cast<std::uintptr_t>(area);
  const std::uintptr_t user = block_address(area_address, area_len, align, size);
  if (user == 0) return nullptr;
  std::byte* block = area + (user - area_address);  // stays inside the area (or one past it)
  store_back_pointer_word(block, reinterpret_cast<std::uintptr_t>(header));
  return block;
}

// The header address the back-pointer of `block` names, for a Node without state bits.
inline std::uintptr_t read_back_pointer(const void* block) noexcept {
  return BackPointerWord<0>::decode(load_back_pointer_word(block));
}

}  // namespace nodealloc
