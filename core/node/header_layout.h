// The Node's own header slots: the two words the seed gives a meaning to.
//
// A header is HeaderLen bytes (at least eight pointer-width words) of metadata. Positions are
// byte offsets; the seed's two slots are word-aligned, but the Node accepts any byte position
// whose word lies inside the header (the seed's header is a byte array, and so is ours).
//
//   byte  0       8                                               56      64         HeaderLen
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//         | node  |            the user's words 1-6               | free  | words   |
//         |       |                                               | link  | 8...    |
//         +-------+-------+-------+-------+-------+-------+-------+-------+-- ... --+
//   word      0       1       2       3       4       5       6       7       8...
//
//   node       the Node this header describes: what a lookup of a user pointer returns.
//   free link  the next entry of the list this Node is on; `link` (and so `resolve`) writes the
//              list's current head here (word 7, as in the seed).
//
// Every other word belongs to whoever uses the Node. The allocator names its own (the slab
// header's fields) in core/pool/slab.h; the Node layer knows nothing of them.
//
// Invariant: a header is never shorter than kMinHeaderLen, so both slots exist in every header
// (NodeHeader checks this with a static_assert).
#pragma once

#include <cstddef>

#include "base/bits.h"

namespace nodealloc::header_slot {

inline constexpr std::size_t kNode = 0 * kWordSize;
inline constexpr std::size_t kFreeLink = 7 * kWordSize;

// The smallest header that holds both slots.
inline constexpr std::size_t kMinHeaderLen = 8 * kWordSize;

}  // namespace nodealloc::header_slot
