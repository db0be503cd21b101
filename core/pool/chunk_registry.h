// The chunk registry: one bit per chunk-sized granule (Config::kChunkSize, 4 MiB) of the address
// space, set while a nodealloc chunk (any allocator instance's) is mapped there. kPointerCheck asks it before reading anything at
// a pointer a caller hands back, so a wild pointer is reported, never dereferenced.
//
// 2^47 bytes of user address space / 4 MiB = 2^25 bits: a 4 MiB bitmap, reserved once with
// MAP_NORESERVE and touched only where chunks are (one OS page covers 128 GiB of addresses).
// Bits change with atomic or/and; readers use relaxed loads (a chunk is registered before any of
// its blocks can be handed out, and unregistered after the last one came back).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "base/config.h"

namespace nodealloc::chunk_registry {

inline constexpr unsigned kAddressBits = 47;
inline constexpr unsigned kGranuleShift = std::countr_zero(Config::kChunkSize);  // a bit per chunk
inline constexpr std::uintptr_t kGranules = std::uintptr_t{1} << (kAddressBits - kGranuleShift);

namespace detail {
extern std::atomic<std::atomic<std::uint64_t>*> bitmap;
}  // namespace detail

// add returns false when the bitmap cannot be mapped (then kPointerCheck cannot vouch for any
// pointer, and the pool refuses the chunk: safety first).
bool add(const void* chunk) noexcept;
void remove(const void* chunk) noexcept;

// Inline: the pointer check asks it on every free.
inline bool contains(const void* address) noexcept {
  std::atomic<std::uint64_t>* words = detail::bitmap.load(std::memory_order_acquire);
  const std::uintptr_t granule = reinterpret_cast<std::uintptr_t>(address) >> kGranuleShift;
  if (words == nullptr || granule >= kGranules) return false;
  return (words[granule / 64].load(std::memory_order_relaxed) >> (granule % 64)) & 1;
}

}  // namespace nodealloc::chunk_registry
