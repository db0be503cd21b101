// The chunk registry: one bit per chunk-sized granule (Config::kChunkSize, 4 MiB) of the address
// space, set while a nodealloc chunk (any allocator instance's) is mapped there. kPointerCheck asks it before reading anything at
// a pointer a caller hands back, so a wild pointer is reported, never dereferenced.
//
// 2^47 bytes of user address space / 4 MiB = 2^25 bits: a 4 MiB bitmap, reserved once with
// MAP_NORESERVE and touched only where chunks are (one OS page covers 128 GiB of addresses).
// Bits change with atomic or/and; readers use relaxed loads (a chunk is registered before any of
// its blocks can be handed out, and unregistered after the last one came back).
#pragma once

#include <cstdint>

namespace nodealloc::chunk_registry {

// Both return false when the bitmap cannot be mapped (then kPointerCheck cannot vouch for any
// pointer, and the pool refuses the chunk: safety first).
bool add(const void* chunk) noexcept;
void remove(const void* chunk) noexcept;
bool contains(const void* address) noexcept;

}  // namespace nodealloc::chunk_registry
