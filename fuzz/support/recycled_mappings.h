// RecycledMappings: the OS mappings under the fuzz targets, kept from one input to the next.
//
// Every input builds a fresh Allocator, which maps the same chunk sizes and similar block sizes as
// the last one did and touches their pages again, and the first touch of each page of a fresh
// mapping is a page fault: most of a run's time went to the kernel. So a whole mapping given back
// is kept (up to kKeptBytes and kMaxKept mappings in all, the oldest unmapped first) and handed
// out again, cut to size, for a map() it is big enough for (but not twice over) at an alignment
// its address meets (the smallest such), after the dirty pages of what is handed out are zeroed:
// mincore() names the resident pages, each one that does not already read as zeros is cleared,
// and the ones that do are given back (nobody wrote them since they were zeroed: the next user
// likely will not either, and scanning them at every reuse cost more than the odd fault). Pages
// never touched are not resident and read as zeros anyway. So the platform contract
// (platform/platform.h: map() returns zero-filled memory) holds for recycled mappings as for
// fresh ones, and an input replays alone exactly as it ran among others: what it finds in its
// memory is zeros either way, and nothing else of an earlier input survives. Fresh mappings are
// madvise(MADV_NOHUGEPAGE): a huge page would be 2 MiB to fault in, zero and scan at each reuse.
//
// A discard is the OS's (ScriptedPlatform calls madvise(MADV_DONTNEED)). Zeroing the dirty pages
// in place instead, to spare their faults, cost more: most discarded pages are not touched again
// before their mapping is recycled, where they were scanned a second time.
//
// Never kept: a part of a mapping (its address and size would not be a map()'s). A mapping that
// was protected somewhere (PROT_NONE guard pages, held-back large blocks: the caller says so) is
// made readable and writable again when it is handed out. Process-wide, behind its own lock: the
// thread target's threads and every ScriptedPlatform share it. The memory is the OS's
// (os_platform()), never the allocator under test's.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "base/sanitizer.h"
#include "platform/platform.h"
#include "support/flat_map.h"
#include "support/uninstrumented.h"

namespace nodealloc::fuzz {

class RecycledMappings {
 public:
  static RecycledMappings& instance() {
    static RecycledMappings* mappings = new RecycledMappings;  // never destroyed: used until exit
    return *mappings;
  }

  // A zero-filled mapping of `size` bytes at `alignment`: a kept one, or a fresh one from the OS.
  void* map(std::size_t size, std::size_t alignment) noexcept {
    while (true) {
      const Mapping kept = take(size, alignment);
      if (kept.memory == nullptr) return fresh(size, alignment);
      if (kept.was_protected && ::mprotect(kept.memory, size, PROT_READ | PROT_WRITE) != 0) {
        os_platform().unmap(kept.memory, size);
        continue;
      }
      // As a fresh mapping is to memcheck and MSan: defined (the allocator made it reusable
      // before it unmapped it, which they take as undefined). Not under ASan: there reusable
      // means unpoisoned, which the allocator already did, as it must (a fresh OS mapping at the
      // same address would inherit the poison too); unpoisoning again would cost a shadow memset
      // of every recycled mapping and hide an unmap that forgot it.
      if constexpr (!kBuiltWithAsan) {
        mark_reusable(kept.memory, size);
        mark_defined(kept.memory, size);
      }
      zero_resident_pages(kept.memory, size);
      return kept.memory;
    }
  }

  // A whole mapping map() returned comes back (`was_protected`: some of it is PROT_NONE): kept,
  // or unmapped when there are enough.
  void unmap(void* memory, std::size_t size, bool was_protected) noexcept {
    std::vector<Mapping> evicted;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      keep({memory, size, was_protected});
      while (kept_bytes_ > kKeptBytes || by_age_.size() > kMaxKept) {  // the oldest go
        const auto oldest = by_size_.find({by_age_.begin()->second, by_age_.begin()->first});
        evicted.push_back(oldest->second);
        forget(oldest);
      }
    }
    for (const Mapping& mapping : evicted) os_platform().unmap(mapping.memory, mapping.size);
  }

 private:
  struct Mapping {
    void* memory;
    std::size_t size;
    bool was_protected;
  };
  // Sorted vectors (FlatMap), not std::map: MSan runs these targets, and std::map's rebalancing
  // is compiled in the uninstrumented libstdc++.so (support/flat_map.h).
  using BySize = testing::FlatMap<std::pair<std::size_t, std::uint64_t>, Mapping>;  // (size, age)
  static constexpr std::size_t kKeptBytes = std::size_t{256} << 20;
  // At most this many, too: each map() and unmap() moves the sorted indexes' entries, and the
  // cut-off remainders of large blocks had grown them to a thousand (20 s runs: alloc_ops 1330 ->
  // 1640 exec/s and alloc_oom 1662 -> 2046 with this bound; 1436 and 2069 with a bound of 256).
  static constexpr std::size_t kMaxKept = 64;

  // A new mapping from the OS, in 4 KiB pages: with transparent huge pages, the first touch of a
  // chunk would fault in (and zero) 2 MiB, and every reuse would scan all of it.
  static void* fresh(std::size_t size, std::size_t alignment) noexcept {
    void* memory = os_platform().map(size, alignment);
    if (memory != nullptr) ::madvise(memory, size, MADV_NOHUGEPAGE);
    return memory;
  }

  // The smallest kept mapping of `size` to twice it at `alignment`, cut to `size` (the rest
  // stays kept: an OS mapping may be unmapped in parts), or one whose memory is nullptr.
  Mapping take(std::size_t size, std::size_t alignment) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    // Not more than twice the size: a chunk is not cut up for a large block, which would leave
    // the next input's chunks to fresh mappings.
    auto found = by_size_.lower_bound({size, 0});
    while (found != by_size_.end() && found->first.first / 2 <= size &&
           reinterpret_cast<std::uintptr_t>(found->second.memory) % alignment != 0) {
      ++found;
    }
    if (found == by_size_.end() || found->first.first / 2 > size) return Mapping{nullptr, 0, false};
    Mapping taken = found->second;
    forget(found);
    if (taken.size > size) {
      keep({static_cast<unsigned char*>(taken.memory) + size, taken.size - size, taken.was_protected});
      taken.size = size;
    }
    return taken;
  }

  // The kept mappings, indexed twice: by size (then age) for take(), by age for eviction.
  void keep(const Mapping& mapping) {
    const std::uint64_t age = next_age_++;
    by_size_.emplace({mapping.size, age}, mapping);
    by_age_.emplace(age, mapping.size);
    kept_bytes_ += mapping.size;
  }
  void forget(BySize::const_iterator entry) {
    kept_bytes_ -= entry->first.first;
    by_age_.erase(by_age_.find(entry->first.second));
    by_size_.erase(entry);
  }

  // Clears the resident pages that hold anything and gives back the resident ones that hold
  // zeros (a resident page of zeros may also be the shared zero page, which a write would copy),
  // so what stays resident is what the last user wrote. Pages not resident are zeros already.
  // Reads and writes past ASan's poisoning, which stays as the allocator set it, with stores no
  // compiler turns into a call to (ASan's checked) memset.
  // Plain stores, vectorised, where the compiler can be told not to make them a memset call.
#if defined(__clang__)
  NODEALLOC_NO_SANITIZE FUZZ_UNINSTRUMENTED __attribute__((no_builtin("memset"))) static void clear_words(
      std::uint64_t* words, std::size_t count) noexcept {
    for (std::size_t w = 0; w < count; ++w) words[w] = 0;
  }
#else
  NODEALLOC_NO_SANITIZE static void clear_words(std::uint64_t* words, std::size_t count) noexcept {
    volatile std::uint64_t* out = words;
    for (std::size_t w = 0; w < count; ++w) out[w] = 0;
  }
#endif

  // mincore() a piece at a time into a buffer on the stack: a vector here was a heap allocation,
  // with ASan's stack unwinding, at every map().
  static constexpr std::size_t kPiecePages = 256;
  NODEALLOC_NO_SANITIZE FUZZ_UNINSTRUMENTED static void zero_resident_pages(void* memory, std::size_t size) noexcept {
    const std::size_t page = page_size();
    const std::size_t pages = size / page;
    auto* words = static_cast<std::uint64_t*>(memory);
    const std::size_t page_words = page / sizeof(std::uint64_t);
    std::size_t clean_run = 0;  // resident zero pages before page i, not yet given back
    unsigned char residency[kPiecePages];
    for (std::size_t i = 0; i <= pages; ++i) {
      const std::size_t slot = i % kPiecePages;
      if (slot == 0 && i < pages) {
        const std::size_t piece = std::min(kPiecePages, pages - i);
        if (::mincore(words + i * page_words, piece * page, residency) != 0) {
          // Cannot tell which are dirty: drop them all.
          std::memset(residency, 0, piece);
          os_platform().discard(words + i * page_words, piece * page);
        }
      }
      bool clean = false;
      if (i < pages && (residency[slot] & 1) != 0) {
        std::uint64_t* at = words + i * page_words;
        std::uint64_t any = 0;
        for (std::size_t w = 0; w < page_words; ++w) any |= at[w];
        if (any != 0) {
          clear_words(at, page_words);
        } else {
          clean = true;
        }
      }
      if (clean) {
        ++clean_run;
      } else if (clean_run > 0) {
        os_platform().discard(words + (i - clean_run) * page_words, clean_run * page);
        clean_run = 0;
      }
    }
  }

  std::mutex mutex_;
  BySize by_size_;
  testing::FlatMap<std::uint64_t, std::size_t> by_age_;  // age -> size
  std::uint64_t next_age_ = 0;
  std::size_t kept_bytes_ = 0;
};

}  // namespace nodealloc::fuzz
