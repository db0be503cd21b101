// Canaries (kCanaries: the full preset, and every Valgrind build): the slack between a live
// block's requested size and the end of its room holds a pattern, checked when the block is
// freed, so an overflow that stays inside the block's room (where no guard page or back-pointer
// lies) is still reported.
//
//   slab block of class usable U:  | requested n bytes | canary [n, U - T) | trailer |
//                                  0                   n                   U - T     U
//   trailer (T bytes): the size word last; before it, with kCallSites, the allocation site
//   large block, room R bytes:     | requested n bytes | canary [n, R) |   (n in the header)
//
// The trailer word holds n and a keyed hash of n and the block's address, so a stray write that
// reaches it is reported like an overflow into the canary. A large block keeps n in its header (word 13), which no user write reaches.
// Slab requests are classed with the trailer's 8 bytes added (slab_request), and usable_size is
// the requested size: the slack is not the user's, so a program that trusts malloc_usable_size
// never writes into the canary.
//
// The canary byte at address a is byte (a mod 8) of a word made from the process secret, so it
// cannot be guessed and a run of them compares a word at a time. Reports: "heap buffer overflow at
// <block> (size=<n>, offset=<first changed byte>)". Cost: a fill of the slack on every malloc and
// a scan of it on every free, and 8 bytes per slab block: full preset (and Valgrind builds) only.
// The slack is poisoned for ASan while the block lives, so these functions are exempt from its
// checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "base/mitigations.h"
#include "base/report.h"
#include "base/sanitizer.h"
#include "hardening/call_site.h"
#include "hardening/secret.h"
#include "pool/slab.h"

namespace nodealloc::canary {

inline constexpr bool kOn = enabled(Mitigation::kCanaries);
// The trailer: the size word, after the allocation site's word (call_site.h) when there is one.
inline constexpr std::size_t kTrailerBytes = kOn ? kWordSize + call_site::kTrailerBytes : 0;
static_assert(kOn || !call_site::kOn, "the call sites live in the canary's trailer");

// The bytes a slab class must hold for a request of `size`: its bytes and the trailer. A size
// that leaves no room for the trailer stays too big for every class.
constexpr std::size_t slab_request(std::size_t size) noexcept {
  return size > SIZE_MAX - kTrailerBytes ? SIZE_MAX : size + kTrailerBytes;
}

// The slab class that serves a request of `size` bytes (at `alignment`), or kNoClass: the one
// place that adds the trailer to a request before it is classed.
inline unsigned class_for_request(std::size_t size) noexcept { return class_for_size(slab_request(size)); }
inline unsigned class_for_request(std::size_t size, std::size_t alignment) noexcept {
  return class_for(slab_request(size), alignment);
}

namespace detail {

inline std::uintptr_t canary_word() noexcept { return (secret::value() * 0x9e3779b97f4a7c15ULL) ^ 0xa5a5a5a5a5a5a5a5ULL; }
// The size word: the size in the low 32 bits (slab blocks hold under 64 KiB), and in the high 32
// a keyed hash of it, the block's address and the allocation site before it (kCallSites), so no
// changed bit of the trailer goes unseen.
inline std::uintptr_t trailer_word(const void* block, std::size_t size, std::uintptr_t site) noexcept {
  const std::uintptr_t mixed = size + (reinterpret_cast<std::uintptr_t>(block) << 16) + site * 0x9e3779b97f4a7c15ULL;
  return size | ((mixed * (secret::value() | 1)) >> 32 << 32);
}
inline unsigned char canary_byte(std::uintptr_t word, std::uintptr_t address) noexcept {
  return static_cast<unsigned char>(word >> (8 * (address % kWordSize)));
}

NODEALLOC_NO_SANITIZE inline void fill(unsigned char* begin, unsigned char* end) noexcept {
  const std::uintptr_t word = canary_word();
  const MetadataAccess window(begin, begin < end ? static_cast<std::size_t>(end - begin) : 0);
  for (; begin < end && reinterpret_cast<std::uintptr_t>(begin) % kWordSize != 0; ++begin) {
    *begin = canary_byte(word, reinterpret_cast<std::uintptr_t>(begin));
  }
  for (; begin + kWordSize <= end; begin += kWordSize) std::memcpy(begin, &word, kWordSize);
  for (; begin < end; ++begin) *begin = canary_byte(word, reinterpret_cast<std::uintptr_t>(begin));
}

// The first byte in [begin, end) that lost its canary, or end.
NODEALLOC_NO_SANITIZE inline const unsigned char* first_changed(const unsigned char* begin,
                                                                const unsigned char* end) noexcept {
  const std::uintptr_t word = canary_word();
  const MetadataAccess window(begin, begin < end ? static_cast<std::size_t>(end - begin) : 0);
  for (; begin < end; ++begin) {
    if (reinterpret_cast<std::uintptr_t>(begin) % kWordSize == 0 && begin + kWordSize <= end) {
      std::uintptr_t found;
      std::memcpy(&found, begin, kWordSize);
      if (found == word) {
        begin += kWordSize - 1;
        continue;
      }
    }
    if (*begin != canary_byte(word, reinterpret_cast<std::uintptr_t>(begin))) return begin;
  }
  return end;
}

NODEALLOC_NO_SANITIZE inline std::uintptr_t load_trailer(const void* block, std::size_t usable) noexcept {
  std::uintptr_t word;
  const MetadataAccess window(static_cast<const unsigned char*>(block) + usable - kWordSize, kWordSize);
  std::memcpy(&word, static_cast<const unsigned char*>(block) + usable - kWordSize, kWordSize);
  return word;
}
NODEALLOC_NO_SANITIZE inline void store_trailer(void* block, std::size_t usable, std::uintptr_t word) noexcept {
  const MetadataAccess window(static_cast<unsigned char*>(block) + usable - kWordSize, kWordSize);
  std::memcpy(static_cast<unsigned char*>(block) + usable - kWordSize, &word, kWordSize);
}

// hardening.cc: with the block's allocation site, when it has one.
[[noreturn, gnu::cold, gnu::noinline]] void report_overflow(const void* block, std::size_t size, std::size_t offset) noexcept;

// Checks [block + size, block + end): the canary must be whole.
inline void check_slack(const void* block, std::size_t size, std::size_t end) noexcept {
  const auto* begin = static_cast<const unsigned char*>(block);
  const unsigned char* changed = first_changed(begin + size, begin + end);
  if (changed != begin + end) [[unlikely]] report_overflow(block, size, static_cast<std::size_t>(changed - begin));
}

}  // namespace detail

// A slab block of class usable `usable` is handed out for `size` bytes (size <= usable - 8).
inline void arm_slab(void* block, std::size_t size, std::size_t usable) noexcept {
  if constexpr (kOn) {
    call_site::on_slab_hand_out(block, usable);
    detail::store_trailer(block, usable, detail::trailer_word(block, size, call_site::slab_sites(block, usable, false).allocated));
    auto* bytes = static_cast<unsigned char*>(block);
    detail::fill(bytes + size, bytes + usable - kTrailerBytes);
  }
}

// The requested size of a live slab block (kCanaries), from its trailer; a trailer that fails
// its hash or names a size the block cannot hold was overwritten: an overflow into it.
inline std::size_t slab_size(const void* block, std::size_t usable) noexcept {
  const std::uintptr_t word = detail::load_trailer(block, usable);
  const std::size_t size = word & 0xffffffffu;
  const std::uintptr_t site = call_site::slab_sites(block, usable, false).allocated;
  if (size > usable - kTrailerBytes || word != detail::trailer_word(block, size, site)) [[unlikely]] {
    detail::report_overflow(block, usable - kTrailerBytes, usable - kTrailerBytes);  // into the trailer
  }
  return size;
}

// A live slab block comes back: its canary must be whole. Then its free site is recorded.
inline void check_slab(void* block, std::size_t usable) noexcept {
  if constexpr (kOn) {
    detail::check_slack(block, slab_size(block, usable), usable - kTrailerBytes);
    call_site::on_slab_free(block, usable);
  }
}

// A large block with `room` bytes to its end is handed out (or resized in place) for `size`.
inline void arm_large(SlabHeader& header, void* block, std::size_t size, std::size_t room) noexcept {
  if constexpr (kOn) {
    header.set_requested_size(size);
    if constexpr (call_site::kOn) header.set_allocation_site(call_site::current());
    auto* bytes = static_cast<unsigned char*>(block);
    detail::fill(bytes + size, bytes + room);
  }
}

inline void check_large(const SlabHeader& header, const void* block, std::size_t room) noexcept {
  if constexpr (kOn) detail::check_slack(block, header.requested_size(), room);
}

}  // namespace nodealloc::canary
