// Slabs: a Node that is a run of same-class blocks sharing one header.
//
// The allocator's Node is a header (SlabHeader, 16 words, below) and a data area split into
// buffers of the class's stride, viewed through the Node's NodeView (node/node_view.h):
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
// The header's fields, one word each, read and written only through the typed accessors below
// (which go through the Node's header slots; words 0 and 7 are the seed's, checked at compile
// time). Large blocks (core/large/) use the same header with class kLargeClass.
//
//   word  field          type          who writes it, and when
//   0     node           std::byte*    the data area; set when the slab or large block is made (the seed's node slot)
//   1     class          unsigned      set when made; kLargeClass for a large block
//   2     local free     void*         head of free blocks only the owner touches
//   3     remote free    void* atomic  head of blocks other threads freed into the slab (any thread, CAS)
//   4     owner          void* atomic  the owning thread cache (release store, acquire load)
//   5     used           count atomic  blocks out of the slab: live, in some thread cache or on its remote list
//                                      (owner's relaxed stores; usage() reads it from any thread)
//   6     carved         count         buffers handed out at least once (the rest is untouched)
//   7     next           SlabHeader*   SlabList link (the seed's free link, written by NodeHeader::link)
//   8     prev           SlabHeader*   SlabList back link
//   9     notify next    SlabHeader* atomic  next slab on the owner's stack of slabs with remote frees
//   10    length         bytes         of the data area; set when made
//   11    listed         bool          on its owner's partial list (SlabList keeps it)
//   12    large block    void*         large blocks only: the block's address
//   13    requested      bytes         large blocks only, kCanaries: the size asked for (hardening/canary.h)
//   14    allocated at   address       large blocks only, kCallSites: the allocation's call site (hardening/call_site.h)
//   15    remote count   count atomic  blocks on the remote list: pushers add, the owner subtracts what it collects
//
// "Owner" means: local free, used, carved, next, prev and listed are written only by the owning
// thread cache, or by the pool under its lock while the slab has no owner; thread_cache.h says
// how the atomic fields are used.
//
// A free block's first word links it into whichever free list holds it (a thread cache's list,
// the slab's local list or its remote list). Its back-pointer stays in place for the block's
// whole life, written once by the Node when the buffer is first carved; its state and checksum
// bits (the hardening layer's, when a mitigation needs them) are the only part that changes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "node/header_layout.h"
#include "node/node_header.h"
#include "node/node_view.h"
#include "size_class/size_classes.h"

namespace nodealloc {

inline constexpr std::size_t kSlabHeaderLen = 16 * kWordSize;

// The class word of a large block's header.
inline constexpr unsigned kLargeClass = 0xffff;

class SlabHeader : public NodeHeader<kSlabHeaderLen> {
  struct Slot {  // byte positions of the fields
    static constexpr std::size_t kNode = header_slot::kNode;
    static constexpr std::size_t kClass = 1 * kWordSize;
    static constexpr std::size_t kLocalFree = 2 * kWordSize;
    static constexpr std::size_t kRemoteFree = 3 * kWordSize;
    static constexpr std::size_t kOwner = 4 * kWordSize;
    static constexpr std::size_t kUsed = 5 * kWordSize;
    static constexpr std::size_t kCarved = 6 * kWordSize;
    static constexpr std::size_t kNext = header_slot::kFreeLink;
    static constexpr std::size_t kPrev = 8 * kWordSize;
    static constexpr std::size_t kNotifyNext = 9 * kWordSize;
    static constexpr std::size_t kLength = 10 * kWordSize;
    static constexpr std::size_t kListed = 11 * kWordSize;
    static constexpr std::size_t kLargeBlock = 12 * kWordSize;
    static constexpr std::size_t kRequestedSize = 13 * kWordSize;
    static constexpr std::size_t kAllocationSite = 14 * kWordSize;
    static constexpr std::size_t kRemoteCount = 15 * kWordSize;
  };
  static_assert(Slot::kNode == 0 && Slot::kNext == 7 * kWordSize, "the seed's slots stay where the seed puts them");
  static_assert(word_fits(Slot::kRemoteCount), "every field lies inside the header");

  std::uintptr_t word(std::size_t slot) const noexcept { return read_word(slot).value; }
  void set_word(std::size_t slot, std::uintptr_t value) noexcept { write_word(slot, value); }
  template <class T>
  T* pointer(std::size_t slot) const noexcept { return read_ptr<T>(slot).value; }

 public:
  // The position lookups read: the node slot holds the data area.
  static constexpr std::size_t kNodePosition = Slot::kNode;

  std::byte* data() const noexcept { return pointer<std::byte>(Slot::kNode); }
  void set_data(std::byte* data) noexcept { write_ptr(Slot::kNode, data); }
  // A header whose node slot is zero describes nothing (a free page's, or a released slab's).
  bool in_use() const noexcept { return data() != nullptr; }

  unsigned class_index() const noexcept { return static_cast<unsigned>(word(Slot::kClass)); }
  void set_class_index(unsigned index) noexcept { set_word(Slot::kClass, index); }
  bool is_large() const noexcept { return class_index() == kLargeClass; }

  std::size_t length() const noexcept { return word(Slot::kLength); }
  void set_length(std::size_t length) noexcept { set_word(Slot::kLength, length); }

  void* local_free() const noexcept { return pointer<void>(Slot::kLocalFree); }
  void set_local_free(void* head) noexcept { write_ptr(Slot::kLocalFree, head); }

  std::atomic_ref<std::uintptr_t> remote_free() noexcept { return atomic_word(Slot::kRemoteFree); }

  void* owner() noexcept {
    return reinterpret_cast<void*>(atomic_word(Slot::kOwner).load(std::memory_order_acquire));
  }
  void set_owner(const void* owner) noexcept {
    atomic_word(Slot::kOwner).store(reinterpret_cast<std::uintptr_t>(owner), std::memory_order_release);
  }

  std::size_t used() const noexcept {
    return const_cast<SlabHeader*>(this)->atomic_word(Slot::kUsed).load(std::memory_order_relaxed);
  }
  void set_used(std::size_t count) noexcept { atomic_word(Slot::kUsed).store(count, std::memory_order_relaxed); }
  std::atomic_ref<std::uintptr_t> remote_count() noexcept { return atomic_word(Slot::kRemoteCount); }
  // Blocks out of the slab and not on its way back: live, cached by a thread (or quarantined).
  // Exact when no thread is inside the allocator; read while others run, the two counts are a
  // moment apart (a remote free may be in one and not yet the other), so it never goes below 0.
  std::size_t blocks_out() noexcept {
    const std::size_t out = used();
    const std::size_t remote = remote_count().load(std::memory_order_relaxed);
    return out > remote ? out - remote : 0;
  }
  std::size_t carved() const noexcept { return word(Slot::kCarved); }
  void set_carved(std::size_t count) noexcept { set_word(Slot::kCarved, count); }

  SlabHeader* next() const noexcept { return pointer<SlabHeader>(Slot::kNext); }
  SlabHeader* prev() const noexcept { return pointer<SlabHeader>(Slot::kPrev); }
  void set_prev(const SlabHeader* prev) noexcept { write_ptr(Slot::kPrev, prev); }
  // The next link is written by the Node's link() (word 7), as the seed's resolve does.

  std::atomic_ref<std::uintptr_t> notify_next() noexcept { return atomic_word(Slot::kNotifyNext); }

  bool listed() const noexcept { return word(Slot::kListed) != 0; }
  void set_listed(bool listed) noexcept { set_word(Slot::kListed, listed ? 1 : 0); }

  // No-access to memcheck once set (sanitizer.h): a word holding the block's address would make
  // a leaked large block "still reachable" to --leak-check instead of "definitely lost".
  void* large_block() const noexcept {
    const MetadataAccess window(bytes().data() + Slot::kLargeBlock, kWordSize);
    return pointer<void>(Slot::kLargeBlock);
  }
  void set_large_block(void* block) noexcept {
    const MetadataAccess window(bytes().data() + Slot::kLargeBlock, kWordSize);
    write_ptr(Slot::kLargeBlock, block);
  }

  std::size_t requested_size() const noexcept { return word(Slot::kRequestedSize); }
  void set_requested_size(std::size_t size) noexcept { set_word(Slot::kRequestedSize, size); }

  std::uintptr_t allocation_site() const noexcept { return word(Slot::kAllocationSite); }
  void set_allocation_site(std::uintptr_t site) noexcept { set_word(Slot::kAllocationSite, site); }
};
static_assert(sizeof(SlabHeader) == kSlabHeaderLen);

// The back-pointer word's state bits: kept only when a mitigation reads them
// (hardening/block_state.h gives them their meaning: a live bit and two family bits at the bottom,
// a checksum in the 16 top bits); otherwise the codec has no state bits and decoding is free.
inline constexpr std::uintptr_t kBlockStateMask =
    (enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kFreeListCheck) || enabled(Mitigation::kFamilyCheck) ? 1 : 0) |
    (enabled(Mitigation::kFamilyCheck) ? 6 : 0) |
    (enabled(Mitigation::kBackPointerChecksum) ? ~std::uintptr_t{0} << kHeaderAddressBits : 0);

// The allocator's Node: a slab (or large block) header, its data area as the node.
using SlabNode = NodeView<SlabHeader, std::byte, kBlockStateMask>;

// The Node view of a slab of class `size`: its buffers, from first_buffer on.
inline SlabNode slab_node(SlabHeader& header, const SizeClass& size) noexcept {
  return SlabNode(&header, header.data() + size.first_buffer, size.stride, size.capacity);
}

// Where an address lies in its slab's buffers, by the Node's layout and no division (the
// stride's reciprocal, size_classes.h). Precondition: the header is a slab's (class below
// kClassCount) and the address lies in its data area; an address before the first buffer gives
// is_block false.
struct SlabPosition {
  std::size_t index;             // the buffer it falls in
  std::size_t offset_in_buffer;  // from the buffer's start: kWordSize at a block's start
  bool is_block;                 // the start of a block of one of the slab's buffers
};

inline SlabPosition slab_position(const SlabHeader& header, const void* address) noexcept {
  const SizeClass& size = size_class(header.class_index());
  const std::size_t offset = reinterpret_cast<std::uintptr_t>(address) -
                             (reinterpret_cast<std::uintptr_t>(header.data()) + size.first_buffer);
  const std::size_t index = buffer_index(size, offset);
  const std::size_t in_buffer = offset - index * size.stride;
  return {index, in_buffer, in_buffer == kWordSize && index < size.capacity};
}

}  // namespace nodealloc
