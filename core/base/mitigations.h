// Hardening, as named mitigations. Each one says what misuse it stops and what it costs; a build
// picks a preset with -Dhardening=none|standard|full (NODEALLOC_HARDENING=0|1|2), and code asks
// `if constexpr (enabled(Mitigation::kX))`, so a mitigation that is off compiles to nothing.
// Every detection ends in base/report.h: one line naming the error and the address, then abort.
//
//   kPointerCheck     free/realloc/usable_size of a pointer nodealloc did not hand out: a wild,
//                     stack or foreign-heap pointer, or one into the middle of a block. The pointer
//                     is checked against a registry of nodealloc's chunks before any read, then
//                     its slab, buffer boundary and back-pointer are checked; large blocks are
//                     looked up in a table of live large blocks. Cost: a bitmap test, a few loads
//                     and a division per free; a table lookup under a lock per large free.
//                     Reports: "invalid free", "corrupted back-pointer".
//   kDoubleFree       freeing a block twice. A free block's back-pointer word carries a tag bit
//                     (headers are 128-byte aligned, so the low bits are free); free() finds it
//                     set on a second free. Cost: a store on malloc, a load and a store on free.
//                     Reports: "double free".
//   kFreeListCheck    a free list corrupted by a write after free: every block a free list hands
//                     out must carry the free tag. Cost: a test on malloc, with kDoubleFree.
//                     Reports: "corrupted free list".
//
// Presets: none = {}; standard = {kPointerCheck, kDoubleFree, kFreeListCheck}; full = standard
// (room for costlier checks to come). The Node's own bounds checks (header positions, buffer
// indexes) are not mitigations: they are always on.
#pragma once

#ifndef NODEALLOC_HARDENING
#define NODEALLOC_HARDENING 1
#endif

namespace nodealloc {

enum class Mitigation : unsigned {
  kPointerCheck = 1u << 0,
  kDoubleFree = 1u << 1,
  kFreeListCheck = 1u << 2,
};

inline constexpr unsigned kStandardMitigations = 0x7;
inline constexpr unsigned kEnabledMitigations =
    NODEALLOC_HARDENING >= 1 ? kStandardMitigations : 0u;

constexpr bool enabled(Mitigation mitigation) {
  return (kEnabledMitigations & static_cast<unsigned>(mitigation)) != 0;
}

}  // namespace nodealloc
