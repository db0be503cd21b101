// The named slots of a Node header: the one place that says which word holds what.
//
// A header is HeaderLen bytes (at least eight pointer-width words) of metadata. Positions are
// byte offsets; the named slots are word-aligned, but the Node accepts any byte position whose
// word lies inside the header (the seed's layout is a byte array, and so is ours).
//
//   byte  0       8      16      24      32      40      48      56      64         HeaderLen
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//         | node  | class | local | remote| owner | used  | carved| free  | extra   |
//         |       |       | free  | free  |       |       |       | link  | words   |
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//   word      0       1       2       3       4       5       6       7       8...
//
//   node       the Node this header describes: what a lookup of a user pointer returns. For the
//              allocator's slabs and large blocks, the start of the data area the header owns.
//   free link  the next entry of the free list this Node is on; `resolve` writes the list's
//              current head here (word 7, as in the seed).
//
// Words 1-6 and 8-15 are the allocator's (core/pool/slab.h says who may write each, and when):
//   class      size class index, or kLargeClass for a large block
//   local free head of the slab's free blocks that only its owner touches
//   remote free head of the blocks other threads freed into the slab (atomic)
//   owner      the thread cache that owns the slab
//   used       blocks out of the slab: live or sitting in some thread cache
//   carved     buffers handed out at least once (the rest of the slab is untouched)
//   8 prev link     the previous entry of the list word 7 links forward
//   9 notify link   next slab on the owner's stack of slabs with remote frees (atomic)
//   10 length       bytes in the data area
//   11 flags        kSlabListed bit
//   12 large block  large blocks only: the block's address
//
// Invariant: a header is never shorter than kMinHeaderLen, so every named slot exists in every
// header (Node checks this with a static_assert).
#pragma once

#include <cstddef>

#include "base/bits.h"

namespace nodealloc::header_slot {

inline constexpr std::size_t kNode = 0 * kWordSize;
inline constexpr std::size_t kClass = 1 * kWordSize;
inline constexpr std::size_t kLocalFree = 2 * kWordSize;
inline constexpr std::size_t kRemoteFree = 3 * kWordSize;
inline constexpr std::size_t kOwner = 4 * kWordSize;
inline constexpr std::size_t kUsed = 5 * kWordSize;
inline constexpr std::size_t kCarved = 6 * kWordSize;
inline constexpr std::size_t kFreeLink = 7 * kWordSize;
inline constexpr std::size_t kPrevLink = 8 * kWordSize;
inline constexpr std::size_t kNotifyLink = 9 * kWordSize;
inline constexpr std::size_t kLength = 10 * kWordSize;
inline constexpr std::size_t kFlags = 11 * kWordSize;
inline constexpr std::size_t kLargeBlock = 12 * kWordSize;

// The header length the allocator uses for slabs and large blocks: 16 words, two cache lines'
// worth of metadata at most one cache line apart from each other.
inline constexpr std::size_t kAllocatorHeaderLen = 16 * kWordSize;

// The smallest header that holds every named slot.
inline constexpr std::size_t kMinHeaderLen = 8 * kWordSize;

}  // namespace nodealloc::header_slot
