// The named slots of a Node header: the one place that says which word holds what.
//
// A header is HeaderLen bytes (at least eight pointer-width words) of metadata. Positions are
// byte offsets; the named slots are word-aligned, but the Node accepts any byte position whose
// word lies inside the header (the seed's layout is a byte array, and so is ours).
//
//   byte  0       8      16      24      32      40      48      56      64         HeaderLen
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//         | node  |          reserved for the allocator               | free  | extra   |
//         |       |          (words 1-6)                              | link  | words   |
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//   word      0       1       2       3       4       5       6       7       8...
//
//   node       the Node this header describes: what a lookup of a user pointer returns.
//   free link  the next entry of the free list this Node is on; `resolve` writes the list's
//              current head here (word 7, as in the seed).
//
// Invariant: a header is never shorter than kMinHeaderLen, so every named slot exists in every
// header (Node checks this with a static_assert).
#pragma once

#include <cstddef>

#include "base/bits.h"

namespace nodealloc::header_slot {

inline constexpr std::size_t kNode = 0 * kWordSize;
inline constexpr std::size_t kFreeLink = 7 * kWordSize;

// The smallest header that holds every named slot.
inline constexpr std::size_t kMinHeaderLen = 8 * kWordSize;

}  // namespace nodealloc::header_slot
