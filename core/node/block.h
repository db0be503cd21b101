// Blocks and their back-pointers: how an address handed out finds its header again.
//
// A block is placed inside a data area [area, area + area_len). The word just before the block
// holds the address of the header that owns it (the back-pointer):
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
// read_back_pointer() is the inverse: it reads the word before a block, touching nothing. Like the
// seed, it trusts that the word is a back-pointer; checking that (a cookie, a checksum) is the
// hardening layer's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"

namespace nodealloc {

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

// Places a block as described above and returns it, or nullptr when it does not fit.
inline std::byte* place_block(std::byte* area, std::size_t area_len, const void* header,
                              std::size_t align, std::size_t size) noexcept {
  const auto area_address = reinterpret_cast<std::uintptr_t>(area);
  const std::uintptr_t user = block_address(area_address, area_len, align, size);
  if (user == 0) return nullptr;
  std::byte* block = area + (user - area_address);  // stays inside the area (or one past it)
  const auto header_address = reinterpret_cast<std::uintptr_t>(header);
  std::memcpy(block - kWordSize, &header_address, kWordSize);
  return block;
}

// The back-pointer stored in the word before `block`.
inline std::uintptr_t read_back_pointer(const void* block) noexcept {
  std::uintptr_t header_address = 0;
  std::memcpy(&header_address, static_cast<const std::byte*>(block) - kWordSize, kWordSize);
  return header_address;
}

}  // namespace nodealloc
