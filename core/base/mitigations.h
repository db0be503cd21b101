// Hardening, as named mitigations: which checks this build compiles in.
//
// This header only names them and says which preset turns which on; the checks themselves live
// in one layer, core/hardening/ (its README-style comment in hardening/hardening.h says where
// each one sits on the allocator's paths). It sits in base/ because layers below the hardening
// layer must know a few answers (the pool refuses a chunk the pointer check could not vouch for;
// the slab's back-pointer codec keeps the block-state bit only when a mitigation reads it).
//
// A build picks a preset with -Dhardening=none|standard|full (NODEALLOC_HARDENING=0|1|2), and code
// asks `if constexpr (enabled(Mitigation::kX))`, so a mitigation that is off compiles to nothing.
// Every detection ends in base/report.h: one line naming the error and the address, then abort.
//
//   kPointerCheck     free/realloc/usable_size of a pointer nodealloc did not hand out: a wild,
//                     stack or foreign-heap pointer, or one into the middle of a block. The pointer
//                     is checked against a registry of nodealloc's chunks before any read, then
//                     its slab, buffer boundary and back-pointer are checked; large blocks are
//                     looked up in a table of live large blocks. Cost: a bitmap test, a few loads
//                     and a division per free; a table lookup under a lock per large free.
//                     Reports: "invalid free", "corrupted back-pointer".
//   kDoubleFree       freeing a block twice. A live slab block's back-pointer word carries a
//                     "live" bit (headers are 128-byte aligned, so the low bits are free); free()
//                     finds it clear on a second free. Cost: a load and a store on malloc and on
//                     free. Reports: "double free".
//   kEncodedFreeLinks free-list poisoning: a free block's link is stored XORed with a per-process
//                     secret and the block's own address (hardening/free_link.h), so a write after
//                     free cannot choose where the list leads; the link is cleared when the block
//                     is handed out, so no user sees an encoded word. Cost: a load and two XORs
//                     per push and per pop, a store per malloc.
//   kFreeListCheck    a free list corrupted by a write after free: every link is checked before it
//                     is followed (16-byte aligned, in a chunk, in a slab of the list's class, at a
//                     block's start), and a block a free list hands out must not carry the live
//                     bit. Cost: a registry test, a page-table load and a multiply per malloc.
//                     Reports: "corrupted free list".
//
//   kBackPointerChecksum  a forged, copied or bit-flipped back-pointer word: the word's top 16 bits
//                     (user addresses need 47) hold a checksum of the header address, the block
//                     state and the block's own address, keyed by the per-process secret
//                     (hardening/block_state.h). Every hand-out and every free checks the whole
//                     word, so an overflow that rewrites it, a word copied from another block, or a
//                     state bit set by hand (a double free made to look live) is reported; usable
//                     sizes do not change. Cost: a multiply per malloc and two per free.
//                     Reports: "corrupted back-pointer (back_pointer=, expected=)".
//   kFamilyCheck      a block given back by the wrong family of calls: free() of a new or new[]
//                     block, delete of a malloc or new[] block, delete[] of a new block. The family
//                     is kept in two more state bits of the back-pointer word; a free compares the
//                     whole state at once. Cost: nothing beyond kDoubleFree's compare.
//                     Reports: "alloc-dealloc mismatch (allocated=new[], freed=free)".
//   kSizedDeleteCheck sized operator delete with a size the block was not allocated with: for a
//                     slab block the size (and alignment) must map to the block's class, for a large
//                     block it must fit. Cost: a class lookup per sized delete.
//                     Reports: "sized delete mismatch (size=, usable=)".
//   kFreedFill        a write after free past a block's first word, and old contents leaking to the
//                     next owner: free slab blocks hold a pattern (hardening/freed_fill.h), checked
//                     when the block is handed out again. Cost: a memset per free and carve, a scan
//                     per malloc, of the block's usable size. Reports: "write after free (offset=)".
//   kCanaries         an overflow past the requested size that stays inside the block's room (where
//                     no guard page or back-pointer lies): the slack holds a secret pattern, checked
//                     at free, and usable_size is the requested size (hardening/canary.h). Cost: 8
//                     bytes per slab block (a trailer with the size), a fill per malloc and a scan
//                     per free of the slack. Reports: "heap buffer overflow (size=, offset=)".
//   kCallSites        reports that do not say where the block came from: the return addresses of
//                     the program's calls that allocated and freed a block are kept with it and
//                     printed as allocated_at= and freed_at= (hardening/call_site.h). Cost: a
//                     thread-local store per call, 8 more trailer bytes, a store per malloc and free.
//   kLargeGuardPages  a linear overflow out of a large block: the page after every large block is
//                     made inaccessible, and the block ends against it (its start rounded down to
//                     its alignment), so the first byte written past the end (past the last
//                     16-byte step) faults at once. Cost: one mprotect and one page of address
//                     space per large block. Reports: the kernel's SIGSEGV at the faulting write.
//   kQuarantine       use-after-free exploitation by immediate reuse: a freed slab block is not
//                     handed out again at once, where a dangling pointer would alias the next
//                     object of its size, and the order blocks come back in is not the order they
//                     were freed in (hardening/quarantine.h). Each thread cache holds up to 256
//                     freed blocks and quarantine_size bytes (NODEALLOC_OPTIONS; 0 turns it off),
//                     and a free past either bound really frees a resident chosen at random. A
//                     block stays not live while it waits, so freeing it again is still a double
//                     free, and kFreedFill sees writes made meanwhile. Cost: a random number and a
//                     slot swap per free, up to quarantine_size bytes per thread cache kept from
//                     reuse. Reports: nothing of its own (kDoubleFree and kFreedFill report).
//
// Presets: none = {}; standard = {kPointerCheck, kDoubleFree, kFreeListCheck, kEncodedFreeLinks,
// kBackPointerChecksum, kFamilyCheck, kSizedDeleteCheck}; full = standard + {kFreedFill,
// kLargeGuardPages, kQuarantine, kCanaries, kCallSites}. Presets are built from
// names, never from bits. The Node's own bounds checks (header positions, buffer indexes) are not
// mitigations: they are always on.
#pragma once

#include <initializer_list>

#ifndef NODEALLOC_HARDENING
#define NODEALLOC_HARDENING 1
#endif

namespace nodealloc {

enum class Mitigation : unsigned {
  kPointerCheck = 1u << 0,
  kDoubleFree = 1u << 1,
  kFreeListCheck = 1u << 2,
  kEncodedFreeLinks = 1u << 3,
  kFamilyCheck = 1u << 4,
  kSizedDeleteCheck = 1u << 5,
  kFreedFill = 1u << 6,
  kLargeGuardPages = 1u << 7,
  kBackPointerChecksum = 1u << 8,
  kQuarantine = 1u << 9,
  kCanaries = 1u << 10,
  kCallSites = 1u << 11,
};

// A set of mitigations, built from their names.
class MitigationSet {
 public:
  constexpr MitigationSet(std::initializer_list<Mitigation> names) {
    for (Mitigation name : names) bits_ |= static_cast<unsigned>(name);
  }
  constexpr bool contains(Mitigation name) const { return (bits_ & static_cast<unsigned>(name)) != 0; }
  constexpr MitigationSet with(Mitigation name, bool added = true) const {
    MitigationSet more = *this;
    if (added) more.bits_ |= static_cast<unsigned>(name);
    return more;
  }

 private:
  unsigned bits_ = 0;
};

namespace preset {
inline constexpr MitigationSet kNone{};
inline constexpr MitigationSet kStandard{Mitigation::kPointerCheck,        Mitigation::kDoubleFree,
                                         Mitigation::kFreeListCheck,       Mitigation::kEncodedFreeLinks,
                                         Mitigation::kBackPointerChecksum, Mitigation::kFamilyCheck,
                                         Mitigation::kSizedDeleteCheck};
inline constexpr MitigationSet kFull{Mitigation::kPointerCheck,        Mitigation::kDoubleFree,
                                     Mitigation::kFreeListCheck,       Mitigation::kEncodedFreeLinks,
                                     Mitigation::kBackPointerChecksum, Mitigation::kFamilyCheck,
                                     Mitigation::kSizedDeleteCheck,    Mitigation::kFreedFill,
                                     Mitigation::kLargeGuardPages,     Mitigation::kQuarantine,
                                     Mitigation::kCanaries,            Mitigation::kCallSites};
}  // namespace preset

#if defined(NODEALLOC_VALGRIND) && NODEALLOC_VALGRIND
inline constexpr bool kValgrindBuild = true;
#else
inline constexpr bool kValgrindBuild = false;
#endif

// A Valgrind build (-Dvalgrind=true) adds kCanaries to whichever preset it has: memcheck needs each
// block's requested size (its blocks are that long, and an in-place realloc names the old one),
// which the canary's trailer records.
inline constexpr MitigationSet kEnabledMitigations = (NODEALLOC_HARDENING >= 2   ? preset::kFull
                                                      : NODEALLOC_HARDENING == 1 ? preset::kStandard
                                                                                 : preset::kNone)
                                                         .with(Mitigation::kCanaries, kValgrindBuild);

constexpr bool enabled(Mitigation mitigation) { return kEnabledMitigations.contains(mitigation); }

}  // namespace nodealloc
