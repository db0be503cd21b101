// Free-list links: the first word of a free block names the next block of whatever free list
// holds it (a thread cache's list, a slab's local or remote list). Every read and write of that
// word goes through here.
//
//   stored word = next ^ secret ^ address of the block   (kEncodedFreeLinks; else: next)
//
// Why encode: a write after free into the first word of a freed block (the commonest heap bug)
// would otherwise redirect the list to any address the writer chose, and the next malloc would
// hand it out ("free-list poisoning"). With the per-process secret (secret.h) the writer cannot choose what
// the word decodes to, and a link copied from one block to another decodes to garbage, since the
// block's own address is mixed in. A block
// handed out has its link cleared (clear()), so no encoded word, and so nothing of the secret,
// reaches its user.
//
// Why check: kFreeListCheck makes next() check every link it decodes before anyone follows it:
// 16-byte aligned, inside a nodealloc chunk, inside a slab of the list's class, at a block's
// start. A link that fails is reported as "corrupted free list" at the block that held it, never
// followed. So a corrupted list is a report, not a crash inside malloc.
//
// Free blocks are poisoned for ASan; the functions that touch their first word are exempt.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "base/fault_injection.h"
#include "base/mitigations.h"
#include "base/report.h"
#include "base/sanitizer.h"
#include "hardening/secret.h"
#include "pool/chunk.h"
#include "pool/chunk_registry.h"
#include "pool/slab.h"

namespace nodealloc::free_link {

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] void report_corrupted(const void* block, std::uintptr_t link,
                                                             unsigned class_index) noexcept;
}  // namespace detail

inline std::uintptr_t key(const void* block) noexcept {
  if constexpr (!enabled(Mitigation::kEncodedFreeLinks)) return 0;
  return secret::value() ^ reinterpret_cast<std::uintptr_t>(block);
}

NODEALLOC_NO_SANITIZE inline void store(void* block, const void* next) noexcept {
  const std::uintptr_t word = reinterpret_cast<std::uintptr_t>(next) ^ key(block);
  const MetadataAccess window(block, sizeof word);
  std::memcpy(block, &word, sizeof word);
}

// The decoded link, unchecked: for the validator, which checks every block itself.
NODEALLOC_NO_SANITIZE inline void* load(const void* block) noexcept {
  std::uintptr_t word = 0;
  const MetadataAccess window(block, sizeof word);
  std::memcpy(&word, block, sizeof word);
  return reinterpret_cast<void*>(word ^ key(block));
}

// Whether `link`, read from `holder` (a block already on the list, so already shown to be a
// block of the class), may be followed on a free list of class `class_index`: kFreeListCheck's rule.
// A link into the holder's own chunk needs no registry lookup: that chunk is mapped.
inline bool plausible(std::uintptr_t link, const void* holder, unsigned class_index) noexcept {
  constexpr std::uintptr_t kNotABlock =  // unaligned, or above the user address space
      ~((std::uintptr_t{1} << chunk_registry::kAddressBits) - 1) | (kMinAlignment - 1);
  if ((link & kNotABlock) != 0) return false;
  const bool same_chunk = ((link ^ reinterpret_cast<std::uintptr_t>(holder)) & ~(kChunkSize - 1)) == 0;
  if (!same_chunk && !chunk_registry::contains(reinterpret_cast<void*>(link))) return false;
  const SlabHeader* header = slab_containing(reinterpret_cast<void*>(link));
  return header != nullptr && header->class_index() == class_index &&
         slab_position(*header, reinterpret_cast<void*>(link)).is_block;
}

// The next block after `block` on a free list of class `class_index`, or nullptr at the end. With
// kFreeListCheck, a link that is not a block of the class is reported, never returned.
inline void* next(const void* block, unsigned class_index) noexcept {
  void* link = load(block);
  if constexpr (enabled(Mitigation::kFreeListCheck)) {
    const auto address = reinterpret_cast<std::uintptr_t>(link);
    if (address != 0 && !NODEALLOC_FAULT(free_link_unchecked) && !plausible(address, block, class_index)) [[unlikely]] {
      detail::report_corrupted(block, address, class_index);
    }
  }
  return link;
}

// A block leaves its free list for the user: its link (an encoded word) is not the user's.
NODEALLOC_NO_SANITIZE inline void clear(void* block) noexcept {
  if constexpr (enabled(Mitigation::kEncodedFreeLinks)) {
    const std::uintptr_t zero = 0;
    const MetadataAccess window(block, sizeof zero);
    std::memcpy(block, &zero, sizeof zero);
  }
}

}  // namespace nodealloc::free_link
