// Slabs: a Node that is a run of same-class blocks sharing one header.
//
// The allocator's Node is a header (SlabHeader, 16 words, slots in node/header_layout.h) and a
// data area of `length` bytes split into buffers of the class's stride (BufferLen in node.h):
//
//   data area (64 KiB-aligned)
//   | first_buffer | buffer 0             | buffer 1             | ... | buffer capacity-1 | tail |
//                  | back-ptr | block 0   | back-ptr | block 1   |
//
// Why a run and not one header per block: a header is 128 bytes; one per 16-byte block would be
// eight times the block. Shared, it costs 128 bytes per slab (under 0.2% of a 64 KiB slab), and
// each block pays only its back-pointer word, which is what lets free() find the header with one
// load and no address arithmetic. The headers live apart from the data (chunk.h), so an overflow
// out of a block reaches at most the next block's back-pointer, never a header.
//
// Who writes what:
// - class, length, node: set once when the slab is made (pool.cc), then read-only;
// - local free, used, carved, free/prev link, flags: only the owning thread cache, or the pool
//   under its lock while the slab has no owner;
// - remote free, notify link: any thread, atomically (thread_cache.cc explains the protocol).
//
// A free block's first word links it into whichever free list holds it (a thread cache's list,
// the slab's local list or its remote list). Its back-pointer stays in place for the block's
// whole life, written once when the buffer is first carved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/sanitizer.h"
#include "node/block.h"
#include "node/header_layout.h"
#include "node/node_header.h"
#include "size_class/size_classes.h"

namespace nodealloc {

using SlabHeader = NodeHeader<header_slot::kAllocatorHeaderLen>;

// The class word of a large block's header.
inline constexpr std::uintptr_t kLargeClass = 0xffff;

// Flag bits in the flags word.
inline constexpr std::uintptr_t kSlabListed = 1;  // on its owner's partial list

namespace slab {

inline std::uintptr_t get(const SlabHeader& header, std::size_t slot) {
  return header.read_word(slot).value;
}
inline void set(SlabHeader& header, std::size_t slot, std::uintptr_t value) {
  header.write_word(slot, value);
}
template <class T>
T* get_ptr(const SlabHeader& header, std::size_t slot) {
  return header.read_ptr<T>(slot).value;
}

inline std::byte* data(const SlabHeader& header) { return get_ptr<std::byte>(header, header_slot::kNode); }
inline unsigned class_index(const SlabHeader& header) {
  return static_cast<unsigned>(get(header, header_slot::kClass));
}

}  // namespace slab

// The free-list link in a free block's first word. The block is poisoned for ASan while free, so
// these two are exempt from its checks (and only these).
NODEALLOC_NO_SANITIZE inline void* next_free(const void* block) {
  void* next;
  std::memcpy(&next, block, sizeof next);
  return next;
}
NODEALLOC_NO_SANITIZE inline void set_next_free(void* block, void* next) {
  std::memcpy(block, &next, sizeof next);
}

// The free tag: set in the back-pointer word of a free block when kDoubleFree is on
// (base/mitigations.h). Headers are 128-byte aligned, so the bit never belongs to the address.
inline constexpr std::uintptr_t kFreeTag = 1;

// The raw back-pointer word of a block, tag included. Poisoned for ASan (the user must not touch
// it; the allocator must), hence NODEALLOC_NO_SANITIZE.
NODEALLOC_NO_SANITIZE inline std::uintptr_t back_pointer_word(const void* block) {
  std::uintptr_t word;
  std::memcpy(&word, static_cast<const std::byte*>(block) - kWordSize, kWordSize);
  return word;
}
NODEALLOC_NO_SANITIZE inline void set_back_pointer_word(void* block, std::uintptr_t word) {
  std::memcpy(static_cast<std::byte*>(block) - kWordSize, &word, kWordSize);
}

// The header a block names through its back-pointer: node/block.h's read_back_pointer, without
// the free tag.
inline SlabHeader* header_of(const void* block) {
  return reinterpret_cast<SlabHeader*>(back_pointer_word(block) & ~kFreeTag);
}

}  // namespace nodealloc
