// The allocator's tunables, in one place: a compile-time configuration struct.
//
// Every layer reads its numbers from `Config` (below) and from nowhere else, so the trade-offs are
// visible side by side and a build can choose another configuration (a fuzzing build with small
// chunks, say) without a run-time value on the fast path: each is a constant the compiler folds.
// Other configurations derive from DefaultConfig and override what they change; the checks at the
// end of this file hold for any of them (the size-class validator checks the rest at start-up and
// in tests).
#pragma once

#include <bit>
#include <cstddef>

namespace nodealloc {

struct DefaultConfig {
  // The unit the pool maps from the OS. 4 MiB: 64 pages of 64 KiB, so one 64-bit mask tracks a
  // chunk's free pages, and one bit of the chunk registry covers a chunk (a 4 MiB bitmap covers the
  // whole 47-bit address space). Larger chunks would cost address space for small programs;
  // smaller ones more trips to the OS.
  static constexpr std::size_t kChunkSize = std::size_t{4} << 20;

  // A slab is made of whole pages of this size, aligned to it. 64 KiB: a small class's slab holds
  // thousands of blocks (one trip to the pool per thousands of mallocs), and the data areas' natural
  // alignment serves every aligned request up to 64 KiB from a class.
  static constexpr std::size_t kSlabPageSize = std::size_t{64} << 10;

  // A slab is at least this many buffers long, in at most kMaxSlabPages pages: big classes still
  // share a header among several blocks, and the pointer check walks at most this many headers back.
  static constexpr std::size_t kMinSlabBuffers = 8;
  static constexpr std::size_t kMaxSlabPages = 8;

  // A thread cache refills about this many bytes of blocks at once, between these counts: small
  // classes amortise the trip to the slab, large ones do not hoard memory in caches.
  static constexpr std::size_t kRefillBytes = std::size_t{16} << 10;
  static constexpr std::size_t kMinRefillBlocks = 4;
  static constexpr std::size_t kMaxRefillBlocks = 128;
  // Slow start: a cache's first carve of a class is its batch >> kSlowStartSteps blocks (at least
  // one), each later carve twice the last, up to the batch. A carve writes every block it hands
  // the cache (link and back-pointer), so a class a program barely uses costs it about a page, not
  // a batch's pages: peak RSS of a C program that mallocs 3 blocks of each of 57 sizes (8 B to
  // 40 KiB) 2884 -> 2632 KiB, of `python3 -c 'import json, re, collections'` 15308 -> 15072
  // (glibc 2300 and 13690; release, medians of 5 interleaved runs, 2026-12-03).
  static constexpr unsigned kSlowStartSteps = 2;
  // A cache's free list may grow to this many refills before free() flushes half of it: enough
  // that alloc/free churn around one size stays in the cache, little enough to bound what a thread
  // keeps from others.
  static constexpr std::size_t kCacheLimitInRefills = 2;

  // Empty slabs a thread cache keeps per class instead of giving them to the pool: a program that
  // frees a batch and allocates it again would otherwise give a slab back and carve a new one
  // every round.
  static constexpr unsigned kKeptEmptySlabsPerClass = 1;

  // Free slab pages the pool keeps backed (dirty) before it discards them with MADV_DONTNEED:
  // reuse without page faults, at a bounded cost in resident memory.
  static constexpr std::size_t kMaxDirtyBytes = std::size_t{4} << 20;
  // Empty chunks the pool keeps mapped to absorb churn; the others go back to the OS at once.
  static constexpr unsigned kKeptEmptyChunks = 1;

  // Slots of a thread cache's quarantine (kQuarantine, full preset; hardening/quarantine.h): the
  // most freed blocks it holds back, whatever their size (quarantine_size bounds their bytes).
  // 256: a block waits for hundreds of other frees, in 4 KiB per cache.
  static constexpr unsigned kQuarantineSlots = 256;

  // Freed large blocks whose mappings stay held back as inaccessible address space (kDoubleFree;
  // hardening/hardening.h): a double free of one is caught, a use after free faults. 64: address
  // space only, no memory.
  static constexpr unsigned kHeldBackLargeBlocks = 64;
};

// The allocator fuzz targets' configuration (NODEALLOC_FUZZ_CONFIG=1: fuzz/meson.build links
// alloc_ops, alloc_oom and alloc_threads with a copy of core/ built with it, in every variant, so a
// corpus replays under the configuration it was found with). The same code at a scale where a few
// hundred blocks reach what takes tens of thousands by default: a chunk of 16 pages fills after a
// few slabs and empties again, a cache's list overflows after 16 frees, the dirty-page bound is
// four pages, the quarantine 16 blocks, and the 9th large free unmaps the oldest held-back block
// (large blocks come at most four to a burst). Slab pages stay 64 KiB: the classes' natural
// alignment rests on slabs being 64 KiB-aligned (size_class/size_classes.h).
struct FuzzConfig : DefaultConfig {
  static constexpr std::size_t kChunkSize = std::size_t{1} << 20;
  static constexpr std::size_t kRefillBytes = std::size_t{1} << 10;
  static constexpr std::size_t kMinRefillBlocks = 2;
  static constexpr std::size_t kMaxRefillBlocks = 8;
  static constexpr std::size_t kMaxDirtyBytes = std::size_t{256} << 10;
  static constexpr unsigned kQuarantineSlots = 16;
  static constexpr unsigned kHeldBackLargeBlocks = 8;
};

// The configuration this build compiles in.
#if defined(NODEALLOC_FUZZ_CONFIG) && NODEALLOC_FUZZ_CONFIG
using Config = FuzzConfig;
#else
using Config = DefaultConfig;
#endif

static_assert(std::has_single_bit(Config::kChunkSize) && std::has_single_bit(Config::kSlabPageSize));
static_assert(Config::kChunkSize / Config::kSlabPageSize <= 64, "one 64-bit mask per chunk's pages");
static_assert(Config::kMaxSlabPages < Config::kChunkSize / Config::kSlabPageSize,
              "a slab fits in a chunk beside its page 0");
static_assert(Config::kMinRefillBlocks >= 1 && Config::kMinRefillBlocks <= Config::kMaxRefillBlocks);
static_assert(Config::kSlowStartSteps < 8, "a shift of a 32-bit batch, counted in a byte");
static_assert(Config::kCacheLimitInRefills >= 1);
static_assert(Config::kQuarantineSlots >= 1);
static_assert(Config::kHeldBackLargeBlocks >= 1);

}  // namespace nodealloc
