// AllocHarness: the interpreter and shadow model shared by the allocator fuzz targets
// (alloc_ops, alloc_oom, alloc_threads). Each target owns the Allocator, its ScriptedPlatform and
// the "lanes" (thread caches) the operations run through; the harness reads one operation at a
// time from the input, runs it on the current lane and checks the allocator against its model.
//
// Operations (opcode byte modulo kOpCount, then operands; FuzzInput reads zeros past the end):
//
//   kAllocate         size                    allocate(size)
//   kAllocateAligned  size, alignment         allocate_aligned(size, alignment)
//   kAllocateZeroed   count, size             allocate_zeroed(count, size)
//   kReallocate       selector, pick, size    reallocate(one live block, or nullptr, size)
//   kDeallocate       pick                    deallocate(one live block)
//   kAllocateBurst    count, size             1-64 allocate(size) in a row: fills a cache's list
//                                             (1-4 for a large size: no list to fill)
//   kDeallocateBurst  count, pick             1-64 frees in a row: a few overflow a list (the
//                                             limit is 16-256 blocks), so it flushes half of it
//   kFill             pick                    write a block's fill byte over its zeros
//   kInspect          pick                    lookup() and usable_size() of one block
//   kReleaseFree      -                       release_free_memory()
//   kCheckHeap        -                       the heap check (also every 64 steps)
//   kReleaseCache     -                       release_cache() of the current lane's cache
//
// Every operand is read before the operation runs (read_operands), whatever the heap's state, so
// an operation's length depends on its bytes only and an input splits into operations without
// running it: the custom mutator (operation_mutator.h) inserts, deletes, copies and swaps whole
// operations. A pick is a u16 modulo the number of live blocks, read even when there is none. Sizes
// are mostly small (the 16-byte classes, any class, a class's edges), sometimes large (up to ~576
// KiB), sometimes absurd (SIZE_MAX - k, any u64); alignments are every power of two up to 2^21,
// plus non-powers (which must give nullptr) and huge powers.
//
// The model: every live block by address (a FlatMap, to check overlaps in O(log n)) with its id,
// requested size, alignment, usable size, the class lookup() must report, and whether it still
// holds allocate_zeroed's zeros. A block's contents are its fill byte (derived from its id, never
// 0) over its requested size (sampled beyond 4 KiB: for_each_sampled), written by the harness
// when the block is handed out, so any write by the allocator into a live block, or any two
// blocks sharing memory, shows up as a wrong byte. Only the requested bytes are touched: the rest
// of the usable size is poisoned for ASan.
//
// What is checked, and why:
// - after each operation, on the blocks it touched: alignment as asked (and at least 16, as
//   malloc promises), usable_size() exact for a class and bounded for a large block, the block and
//   its back-pointer word overlap no other live block, contents intact (a realloc keeps the prefix
//   both sizes share), lookup() names a header and the expected class and writes nothing. The
//   expected class is found by brute force over the class table (reference_class), not by
//   class_for(), so the allocator's lookup table and arithmetic are checked, not repeated;
// - every nullptr: right only if the request is impossible (not a power of two, count * size
//   overflows, more than the limit), or the platform refused a map() during the call, or the
//   limit leaves no room (a chunk for a small request, the block plus alignment and two pages for
//   a large one, plus 64 KiB for the heap's tables). So the allocator may neither hand out the
//   impossible nor fail spuriously;
// - after a failed call, no byte stays mapped that was not mapped before (nothing leaked);
// - claim_cache() returns a dormant cache whenever one exists (its slabs must not be stranded);
// - every 64 steps, on kCheckHeap and at the end (check_heap): statistics() against the model
//   (live blocks per class, large blocks, bytes_in_use as the sum of usable sizes, bytes_mapped
//   equal to what the platform has mapped and within the limit, dirty bytes within the pool's
//   bound), validate(), the heap's own walk of its invariants, and check_block() on the next
//   kSweepBlocks live blocks, a cursor going round them. Not every block each time: inputs the
//   fuzzer grew were hundreds of one-byte checks over a thousand blocks, and rereading them all
//   was nine tenths of their time. Nothing goes unchecked for it: every block is checked whole
//   whenever an operation picks it and before it is freed, and the ending frees them all;
// - at the end, after freeing everything through the lanes and releasing every cache: no byte in
//   use, and after release_free_memory() no slab and no chunk left, only the caches' own mappings
//   and the heap's small tables (the target checks that destroying the Allocator leaves the
//   platform with nothing mapped).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <vector>

#include "heap/allocator.h"
#include "pool/chunk.h"
#include "pool/pool.h"
#include "size_class/size_classes.h"
#include "support/flat_map.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"
#include "support/scripted_platform.h"
#include "support/uninstrumented.h"

// FUZZ_CHECK for two integers: prints both values, which is most of what a failing run needs.
#define FUZZ_CHECK_EQ(a, b)                                                                   \
  do {                                                                                        \
    const auto fuzz_a = (a);                                                                  \
    const auto fuzz_b = (b);                                                                  \
    if (!(fuzz_a == fuzz_b)) {                                                                \
      std::fprintf(stderr, "fuzz check failed: %s == %s (%llu vs %llu) at %s:%d\n", #a, #b,   \
                   static_cast<unsigned long long>(fuzz_a),                                   \
                   static_cast<unsigned long long>(fuzz_b), __FILE__, __LINE__);              \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace nodealloc::fuzz {

enum class AllocOp : std::uint8_t {
  kAllocate,
  kAllocateAligned,
  kAllocateZeroed,
  kReallocate,
  kDeallocate,
  kAllocateBurst,
  kDeallocateBurst,
  kFill,
  kInspect,
  kReleaseFree,
  kCheckHeap,
  kReleaseCache,
  kCount
};

inline constexpr unsigned kOpCount = static_cast<unsigned>(AllocOp::kCount);
inline constexpr unsigned kMaxLanes = 4;

class AllocHarness {
 public:
  // Enough blocks to overflow any class's cache list sixteen times over (256 in the targets'
  // FuzzConfig, base/config.h), and to fill the slabs of every class from 512 bytes up.
  static constexpr std::size_t kMaxLiveBlocks = 16 * Config::kCacheLimitInRefills * Config::kMaxRefillBlocks;
  static constexpr unsigned kHeapCheckEvery = 64;
  static constexpr std::size_t kSweepBlocks = 16;
  // A burst of large blocks stops at this many: they have no cache list for a burst to fill, and
  // each costs mappings, a guard page and system calls (bursts of up to 64 were about 30% of
  // alloc_ops' time). Several bursts still reach the memory limit, as do alloc_oom's own limits.
  static constexpr unsigned kMaxLargeBurst = 4;

  AllocHarness(Allocator& allocator, ScriptedPlatform& platform, unsigned lanes)
      : allocator_(allocator), platform_(platform), limit_(allocator.memory_limit()), lanes_(lanes) {
    FUZZ_CHECK(lanes >= 1 && lanes <= kMaxLanes);
  }
  AllocHarness(const AllocHarness&) = delete;
  AllocHarness& operator=(const AllocHarness&) = delete;

  // The lane (thread cache) the next operations run through. In the threads target it must be
  // called, like everything that follows, on the lane's own thread.
  void set_lane(unsigned lane) { lane_ = lane % lanes_; }
  unsigned lanes() const { return lanes_; }

  // An operation's operands, all read before it runs: how many bytes an operation takes depends
  // on its own bytes only, never on the heap's state, so an input splits into its operations
  // without running it (the custom mutator does that: fuzz/support/operation_mutator.h).
  struct Operands {
    std::uint8_t selector = 0;  // kReallocate: below 16, realloc(nullptr, size)
    std::uint16_t pick = 0;     // which live block: pick modulo their number
    unsigned count = 0;         // a burst's length, 1-64
    std::size_t size = 0;
    std::size_t alignment = 0;
    std::size_t items = 0;      // kAllocateZeroed: the count of calloc(count, size)
  };

  // The one reading of the operand grammar (the table at the top of this file).
  static Operands read_operands(AllocOp op, FuzzInput& input) {
    Operands operands;
    switch (op) {
      case AllocOp::kAllocate: operands.size = size_from(input); break;
      case AllocOp::kAllocateAligned:
        operands.size = size_from(input);
        operands.alignment = alignment_from(input);
        break;
      case AllocOp::kAllocateZeroed:
        operands.items = count_from(input);
        operands.size = size_from(input);
        break;
      case AllocOp::kReallocate:
        operands.selector = input.byte();
        operands.pick = input.u16();
        operands.size = size_from(input);
        break;
      case AllocOp::kAllocateBurst:
        operands.count = 1 + input.byte() % 64;
        operands.size = size_from(input);
        break;
      case AllocOp::kDeallocateBurst:
        operands.count = 1 + input.byte() % 64;
        operands.pick = input.u16();
        break;
      case AllocOp::kDeallocate:
      case AllocOp::kFill:
      case AllocOp::kInspect: operands.pick = input.u16(); break;
      case AllocOp::kReleaseFree:
      case AllocOp::kCheckHeap:
      case AllocOp::kReleaseCache:
      case AllocOp::kCount: break;
    }
    return operands;
  }

  // Reads one operation's operands and runs it on the current lane.
  void step(AllocOp op, FuzzInput& input) { apply(op, read_operands(op, input)); }

  void apply(AllocOp op, const Operands& operands) {
    switch (op) {
      case AllocOp::kAllocate: allocate(operands); break;
      case AllocOp::kAllocateAligned: allocate_aligned(operands); break;
      case AllocOp::kAllocateZeroed: allocate_zeroed(operands); break;
      case AllocOp::kReallocate: reallocate(operands); break;
      case AllocOp::kDeallocate: deallocate(operands); break;
      case AllocOp::kAllocateBurst: allocate_burst(operands); break;
      case AllocOp::kDeallocateBurst: deallocate_burst(operands); break;
      case AllocOp::kFill: fill(operands); break;
      case AllocOp::kInspect: inspect(operands); break;
      case AllocOp::kReleaseFree: release_free_memory(); break;
      case AllocOp::kCheckHeap: check_heap(); break;
      case AllocOp::kReleaseCache: release_cache(); break;
      case AllocOp::kCount: break;
    }
    if (++steps_ % kHeapCheckEvery == 0) check_heap();
  }

  // The current lane's cache, claimed now if it has none; nullptr when none can be had (checked:
  // only when no cache is dormant and the platform or the limit refused its mapping).
  ThreadCache* ensure_cache() {
    ThreadCache*& cache = caches_[lane_];
    if (cache != nullptr) return cache;
    const std::uint64_t refusals = platform_.refusals();
    cache = allocator_.claim_cache();
    if (!dormant_.empty()) {
      const auto found = std::find(dormant_.begin(), dormant_.end(), cache);
      FUZZ_CHECK(found != dormant_.end());  // a dormant cache's slabs must not be stranded
      dormant_.erase(found);
    } else if (cache != nullptr) {
      FUZZ_CHECK(std::find(known_.begin(), known_.end(), cache) == known_.end());
      known_.push_back(cache);
    } else {
      FUZZ_CHECK(platform_.refusals() != refusals || no_room(kCacheRoom));
    }
    return cache;
  }

  // Frees, through the current lane, every live block whose id falls to this lane (id modulo the
  // number of lanes), or every live block when `everything`. Blocks freed through another lane
  // than the one that allocated them are the cross-cache (or cross-thread) frees of the ending.
  void free_share(bool everything) {
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr) return;
    for (std::size_t i = live_.size(); i-- > 0;) {
      if (everything || blocks_.at(live_[i]).id % lanes_ == lane_) free_at(*cache, i);
    }
  }

  // Gives the current lane's cache back (flushes it; it stays dormant, for a later claim).
  void release_cache() {
    ThreadCache*& cache = caches_[lane_];
    if (cache == nullptr) return;
    allocator_.release_cache(cache);
    dormant_.push_back(cache);
    cache = nullptr;
  }

  // After every block is freed and every lane's cache released: nothing in use, and once free
  // memory is released, no chunk mapped: only the caches themselves (the allocator never unmaps
  // a cache while it lives: a remote free may still be on its way to it) and the heap's tables.
  void check_ending() {
    FUZZ_CHECK(live_.empty());
    for (ThreadCache* cache : caches_) FUZZ_CHECK(cache == nullptr);
    check_heap();
    allocator_.release_free_memory();
    const Statistics stats = allocator_.statistics();
    check_statistics(stats);
    FUZZ_CHECK_EQ(stats.bytes_in_use, std::size_t{0});
    FUZZ_CHECK_EQ(stats.bytes_dirty, std::size_t{0});
    for (unsigned c = 0; c < kClassCount; ++c) FUZZ_CHECK_EQ(stats.slabs[c], std::size_t{0});
    FUZZ_CHECK_EQ(platform_.ranges_of_at_least(kChunkSize), std::size_t{0});  // every chunk unmapped
    FUZZ_CHECK(platform_.ranges() >= known_.size());  // the caches, and the heap's own tables
    FUZZ_CHECK(platform_.mapped() <= known_.size() * kCacheRoom + kMetadataRoom);
    check_valid();
  }

  // statistics() against the model, validate(), and the next kSweepBlocks live blocks.
  void check_heap() {
    for (std::size_t i = 0; i < kSweepBlocks && i < live_.size(); ++i) {
      sweep_ = (sweep_ + 1) % live_.size();
      check_block(to_pointer(live_[sweep_]), blocks_.at(live_[sweep_]));
    }
    check_statistics(allocator_.statistics());
    check_valid();
  }

  // The ending of a single-threaded target: every lane frees its share of the blocks, then any
  // lane that has a cache frees what is left (a lane may have none: its claim can fail in the oom
  // target), every cache is released, and check_ending() runs.
  void finish_on_this_thread() {
    for (unsigned lane = 0; lane < lanes_; ++lane) {
      set_lane(lane);
      free_share(false);
    }
    for (unsigned lane = 0; lane < lanes_ && !live_.empty(); ++lane) {
      set_lane(lane);
      free_share(true);
    }
    for (unsigned lane = 0; lane < lanes_; ++lane) {
      set_lane(lane);
      release_cache();
    }
    check_ending();
  }

  std::size_t live_blocks() const { return live_.size(); }

 private:
  struct ShadowBlock {
    std::uint32_t id;
    std::size_t size;       // requested
    std::size_t alignment;  // what the address must be a multiple of (at least 16)
    std::size_t usable;     // usable_size() when placed; a block keeps it while it lives
    std::size_t room;       // the bytes it occupies: its class's usable size, a large block's to
                            // its end (usable_size, unless kCanaries makes that the requested size)
    unsigned class_index;   // what lookup() must say: the block's class, or kNoClass
    bool zeroed;            // holds allocate_zeroed's zeros, not yet filled
  };

  __extension__ using Wide = unsigned __int128;  // sums of sizes and alignments never wrap

  // A cache's mapping: a few pages at most (sizeof(ThreadCache) is about 1.5 KiB).
  static constexpr std::size_t kCacheRoom = std::size_t{64} << 10;
  // The heap's own tables that grow with it (the live large-block table of kPointerCheck: 8
  // bytes a slot, at most half full, so 32 KiB for kMaxLiveBlocks), and that a request may have
  // to grow besides mapping its block.
  static constexpr std::size_t kMetadataRoom = std::size_t{64} << 10;

  static void* to_pointer(std::uintptr_t address) { return reinterpret_cast<void*>(address); }

  static std::uint8_t fill_byte(std::uint32_t id) {
    const auto value = static_cast<std::uint8_t>(id * 0x3d + 0x11);
    return value != 0 ? value : 0x5a;  // never 0, so zeros and fill never look alike
  }

  // The class a request must get, by brute force over the table: the smallest class that holds
  // `size` at `alignment`. Written apart from class_for() (a lookup table and arithmetic), so the
  // harness checks the lookup instead of repeating it.
  // With kCanaries a slab block also holds the canary's trailer word after the request.
  static unsigned reference_class(std::size_t size, std::size_t alignment) {
    const Wide needed = Wide{size} + canary::kTrailerBytes;
    for (unsigned c = 0; c < kClassCount; ++c) {
      if (size_class(c).usable >= needed && size_class(c).natural_alignment >= alignment) return c;
    }
    return kNoClass;
  }

  // The bytes the allocator says the block occupies, from its header.
  static std::size_t room_of(const void* block) {
    const BlockInfo info = Allocator::lookup(block);
    if (info.class_index != kNoClass) return size_class(info.class_index).usable;
    return LargeBlocks::usable_size(*info.header, block);
  }

  // The bytes of a block of `size` that the model writes and checks: every byte of a block of up
  // to kWholeBytes, and of a larger one its first and last kEdgeBytes (so the edges of every class
  // and of every large block are always checked) and kSamples windows of kSampleBytes at offsets
  // drawn from its id. Writing all of a 60 KiB or 500 KiB block cost most of a run in page faults,
  // where a few cache lines see what a stray write or a shared page would do to it; over a
  // campaign, the windows cover every offset. `limit` cuts the ranges (a realloc keeps only the
  // prefix both sizes share). Calls visit(offset, length).
  static constexpr std::size_t kWholeBytes = 4096;
  static constexpr std::size_t kEdgeBytes = 256;
  static constexpr std::size_t kSampleBytes = 64;
  static constexpr unsigned kSamples = 4;
  template <class Visit>
  static void for_each_sampled(std::uint32_t id, std::size_t size, std::size_t limit, Visit&& visit) {
    auto cut = [&](std::size_t offset, std::size_t length) {
      if (offset < limit) visit(offset, std::min(length, limit - offset));
    };
    if (size <= kWholeBytes) {
      cut(0, size);
      return;
    }
    cut(0, kEdgeBytes);
    std::uint64_t state = (std::uint64_t{id} + 1) * 0x9e3779b97f4a7c15ULL;
    for (unsigned k = 0; k < kSamples; ++k) {
      state ^= state >> 29;
      state *= 0xbf58476d1ce4e5b9ULL;
      state ^= state >> 32;
      cut(kEdgeBytes + state % (size - 2 * kEdgeBytes - kSampleBytes), kSampleBytes);
    }
    cut(size - kEdgeBytes, kEdgeBytes);
  }

  // Whether bytes[0, length) all hold `value`. Plain word loads, outside ASan's checks and
  // coverage: the harness reads only requested bytes, which place() wrote through ASan's checked
  // memset (so their addressability is checked once per block), and a loop over contents is no
  // behaviour of the allocator's. Through ASan's memcmp interceptor, rereading the live blocks was
  // most of a long input's time.
  NODEALLOC_NO_SANITIZE FUZZ_UNINSTRUMENTED static bool all_bytes_are(const unsigned char* bytes,
                                                                      std::size_t length,
                                                                      std::uint8_t value) {
    const std::uint64_t pattern = 0x0101010101010101ULL * value;
    std::uint64_t differ = 0;
    std::size_t i = 0;
    for (; i + sizeof(std::uint64_t) <= length; i += sizeof(std::uint64_t)) {
      std::uint64_t word;
      __builtin_memcpy(&word, bytes + i, sizeof(word));
      differ |= word ^ pattern;
    }
    for (; i < length; ++i) differ |= bytes[i] ^ value;
    return differ == 0;
  }

  // Whether the sampled bytes of the block (id, size) hold `value`, up to `limit`.
  static bool holds(const void* block, std::uint32_t id, std::size_t size, std::uint8_t value,
                    std::size_t limit = SIZE_MAX) {
    const auto* bytes = static_cast<const unsigned char*>(block);
    bool intact = true;
    for_each_sampled(id, size, std::min(limit, size), [&](std::size_t offset, std::size_t length) {
      intact = intact && all_bytes_are(bytes + offset, length, value);
    });
    return intact;
  }
  static void write(void* block, std::uint32_t id, std::size_t size, std::uint8_t value) {
    auto* bytes = static_cast<unsigned char*>(block);
    for_each_sampled(id, size, size, [&](std::size_t offset, std::size_t length) {
      std::memset(bytes + offset, value, length);
    });
  }

  // --- reading operands ------------------------------------------------------------------------

  static std::size_t size_from(FuzzInput& input) {
    const std::uint8_t selector = input.byte();
    if (selector < 96) return input.byte();                             // the 16-byte classes
    if (selector < 150) return input.u16() % (kMaxSmallSize + 1);      // any class
    if (selector < 190) {                                               // a class's edges
      const unsigned c = input.byte() % kClassCount;
      return size_class(c).usable - 1 + selector % 3;
    }
    if (selector < 236) return kMaxSmallSize - 255 + std::size_t{input.u16()} * 8;  // large
    if (selector < 248) return SIZE_MAX - input.byte();                // absurd
    return input.u64();                                                 // anything
  }

  static std::size_t alignment_from(FuzzInput& input) {
    const std::uint8_t selector = input.byte();
    if (selector < 176) return std::size_t{1} << (selector % 22);  // every power up to 2^21
    if (selector < 216) return input.u16();                         // mostly not powers of two
    if (selector < 240) return std::size_t{1} << (22 + selector % 42);  // 2^22..2^63
    return input.u64();
  }

  static std::size_t count_from(FuzzInput& input) {
    const std::uint8_t selector = input.byte();
    if (selector < 200) return selector % 17;
    if (selector < 240) return input.u16();
    return input.u64();
  }

  std::size_t pick(const Operands& operands) const { return operands.pick % live_.size(); }

  // --- the rules for nullptr -------------------------------------------------------------------

  bool no_room(Wide needed) const { return Wide{platform_.mapped()} + needed > limit_; }

  // After a nullptr for (size, alignment): the request was impossible, or the platform refused a
  // map() since `refusals`, or the limit leaves no room for the mapping it needs.
  void expect_failure_allowed(std::size_t size, std::size_t alignment, std::uint64_t refusals) const {
    if (!std::has_single_bit(alignment) || size > limit_) return;
    if (platform_.refusals() != refusals) return;
    const std::size_t align = std::max(alignment, kMinAlignment);
    const Wide needed = kMetadataRoom + (reference_class(size, align) != kNoClass
                                             ? Wide{kChunkSize}
                                             : Wide{size} + align + 2 * Wide{page_size()});
    if (!no_room(needed)) {
      std::fprintf(stderr, "fuzz: nullptr for size %zu alignment %zu with %zu of %zu bytes mapped\n",
                   size, alignment, platform_.mapped(), limit_);
    }
    FUZZ_CHECK(no_room(needed));
  }

  // After a block for (size, alignment): the request was possible.
  void expect_possible(std::size_t size, std::size_t alignment) const {
    FUZZ_CHECK(std::has_single_bit(alignment));
    FUZZ_CHECK(size <= limit_);
  }

  // --- placing and checking blocks -------------------------------------------------------------

  void check_lookup(const void* block, const ShadowBlock& shadow) const {
    const BlockInfo info = Allocator::lookup(block);
    FUZZ_CHECK(info.header != nullptr);
    FUZZ_CHECK_EQ(info.class_index, shadow.class_index);
    FUZZ_CHECK(info.node != nullptr && info.node + kWordSize <= static_cast<const std::byte*>(block));
    if (shadow.class_index != kNoClass) {
      const std::size_t slab_bytes = std::size_t{size_class(shadow.class_index).slab_pages} * kSlabPageSize;
      FUZZ_CHECK(static_cast<const std::byte*>(block) + shadow.room <= info.node + slab_bytes);
    }
    // Pure: the header reads the same before and after, and so does a second lookup.
    std::array<std::byte, SlabHeader::kLength> before;
    mark_defined(info.header, before.size());  // read raw: a large block's word 12 is no-access to memcheck (slab.h)
    std::memcpy(before.data(), info.header->bytes().data(), before.size());
    const BlockInfo again = Allocator::lookup(block);
    FUZZ_CHECK(again.header == info.header && again.node == info.node &&
               again.class_index == info.class_index);
    FUZZ_CHECK(std::memcmp(before.data(), info.header->bytes().data(), before.size()) == 0);
  }

  void check_block(void* block, const ShadowBlock& shadow) const {
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(block) % shadow.alignment == 0);
    FUZZ_CHECK_EQ(allocator_.usable_size(block), shadow.usable);
    FUZZ_CHECK(shadow.usable >= shadow.size);
    FUZZ_CHECK(shadow.room >= shadow.usable);
    check_lookup(block, shadow);
    if (!holds(block, shadow.id, shadow.size, shadow.zeroed ? 0 : fill_byte(shadow.id))) {
      std::fprintf(stderr, "fuzz: block %u at %p (size %zu) lost its contents\n", shadow.id, block,
                   shadow.size);
    }
    FUZZ_CHECK(holds(block, shadow.id, shadow.size, shadow.zeroed ? 0 : fill_byte(shadow.id)));
  }

  // [block - 8, block + room): the block and the back-pointer in front of it.
  static std::uintptr_t extent_begin(std::uintptr_t address) { return address - kWordSize; }
  static std::uintptr_t extent_end(std::uintptr_t address, const ShadowBlock& shadow) {
    return address + shadow.room;
  }

  void check_no_overlap(std::uintptr_t address, const ShadowBlock& shadow) const {
    const auto next = blocks_.lower_bound(address);
    FUZZ_CHECK(next == blocks_.end() || extent_end(address, shadow) <= extent_begin(next->first));
    if (next != blocks_.begin()) {
      const auto previous = std::prev(next);
      FUZZ_CHECK(extent_end(previous->first, previous->second) <= extent_begin(address));
    }
  }

  // Takes a block the allocator just handed out into the model: checks where it is and what it
  // says about itself, then writes its contents. `zeroed`: it must hold zeros now.
  void place(void* block, std::uint32_t id, std::size_t size, std::size_t alignment, unsigned class_index,
             bool zeroed) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    ShadowBlock shadow{id, size, std::max(alignment, kMinAlignment), allocator_.usable_size(block),
                       room_of(block), class_index, zeroed};
    FUZZ_CHECK(address % shadow.alignment == 0);
    // usable_size: the class's usable size, or a large block's room; with kCanaries, exactly the
    // requested size (the rest of the room is the canary's).
    if (canary::kOn) FUZZ_CHECK_EQ(shadow.usable, size);
    if (class_index != kNoClass) {
      FUZZ_CHECK_EQ(shadow.room, std::size_t{size_class(class_index).usable});
      if (!canary::kOn) FUZZ_CHECK_EQ(shadow.usable, shadow.room);
    } else {
      // One mapping per large block: the waste is the room to align it and the page rounding.
      FUZZ_CHECK(shadow.room >= size);
      if (!canary::kOn) FUZZ_CHECK_EQ(shadow.usable, shadow.room);
      FUZZ_CHECK(Wide{shadow.room} < Wide{size} + shadow.alignment + 2 * Wide{page_size()});
    }
    check_no_overlap(address, shadow);
    if (zeroed) FUZZ_CHECK(holds(block, id, size, 0));
    else write(block, id, size, fill_byte(id));
    check_lookup(block, shadow);
    blocks_.emplace(address, shadow);
    live_.push_back(address);
    ++class_counts_[class_index];
    bytes_in_use_ += shadow.room;
  }

  // Takes live_[index] out of the model (the caller freed it or is about to).
  ShadowBlock forget(std::size_t index) {
    const std::uintptr_t address = live_[index];
    const auto found = blocks_.find(address);
    const ShadowBlock shadow = found->second;
    blocks_.erase(found);
    live_[index] = live_.back();
    live_.pop_back();
    --class_counts_[shadow.class_index];
    bytes_in_use_ -= shadow.room;
    return shadow;
  }

  void free_at(ThreadCache& cache, std::size_t index) {
    void* block = to_pointer(live_[index]);
    check_block(block, blocks_.at(live_[index]));
    forget(index);
    allocator_.deallocate(cache, block);
  }

  bool full() const { return live_.size() >= kMaxLiveBlocks; }

  // --- operations ------------------------------------------------------------------------------

  // One allocate(size) (or realloc(nullptr, size) when `through_realloc`), checked.
  void allocate_one(ThreadCache& cache, std::size_t size, bool through_realloc) {
    const std::uint64_t refusals = platform_.refusals();
    const std::size_t mapped = platform_.mapped();
    void* block = through_realloc ? allocator_.reallocate(cache, nullptr, size) : allocator_.allocate(cache, size);
    if (block == nullptr) {
      expect_failure_allowed(size, kMinAlignment, refusals);
      FUZZ_CHECK(platform_.mapped() <= mapped);
      return;
    }
    expect_possible(size, kMinAlignment);
    place(block, next_id_++, size, kMinAlignment, reference_class(size, kMinAlignment), false);
  }

  void allocate(const Operands& operands) {
    const std::size_t size = operands.size;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr || full()) return;
    allocate_one(*cache, size, false);
  }

  void allocate_aligned(const Operands& operands) {
    const std::size_t size = operands.size;
    const std::size_t alignment = operands.alignment;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr || full()) return;
    const std::uint64_t refusals = platform_.refusals();
    const std::size_t mapped = platform_.mapped();
    void* block = allocator_.allocate_aligned(*cache, size, alignment);
    if (block == nullptr) {
      expect_failure_allowed(size, alignment, refusals);
      FUZZ_CHECK(platform_.mapped() <= mapped);
      return;
    }
    expect_possible(size, alignment);
    place(block, next_id_++, size, alignment, reference_class(size, std::max(alignment, kMinAlignment)), false);
  }

  void allocate_zeroed(const Operands& operands) {
    const std::size_t count = operands.items;
    const std::size_t size = operands.size;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr || full()) return;
    const std::uint64_t refusals = platform_.refusals();
    const std::size_t mapped = platform_.mapped();
    void* block = allocator_.allocate_zeroed(*cache, count, size);
    std::size_t bytes = 0;
    const bool overflows = __builtin_mul_overflow(count, size, &bytes);
    if (block == nullptr) {
      if (!overflows) expect_failure_allowed(bytes, kMinAlignment, refusals);
      FUZZ_CHECK(platform_.mapped() <= mapped);
      return;
    }
    FUZZ_CHECK(!overflows);
    expect_possible(bytes, kMinAlignment);
    place(block, next_id_++, bytes, kMinAlignment, reference_class(bytes, kMinAlignment), true);
  }

  void reallocate(const Operands& operands) {
    const std::uint8_t selector = operands.selector;
    const std::uint16_t which = operands.pick;
    const std::size_t size = operands.size;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr) return;
    if (live_.empty() || selector < 16) {  // realloc(nullptr, size) is allocate(size)
      if (!full()) allocate_one(*cache, size, true);
      return;
    }
    const std::size_t index = which % live_.size();
    const std::uintptr_t address = live_[index];
    void* block = to_pointer(address);
    const ShadowBlock old = blocks_.at(address);
    check_block(block, old);

    const std::uint64_t refusals = platform_.refusals();
    const std::size_t mapped = platform_.mapped();
    void* moved = allocator_.reallocate(*cache, block, size);
    if (moved == nullptr) {
      expect_failure_allowed(size, kMinAlignment, refusals);
      FUZZ_CHECK(platform_.mapped() <= mapped);
      check_block(block, old);  // C realloc: a failure leaves the block as it was
      return;
    }
    expect_possible(size, kMinAlignment);
    // The prefix both sizes share survives, zeros or fill.
    FUZZ_CHECK(holds(moved, old.id, old.size, old.zeroed ? 0 : fill_byte(old.id), size));
    if (moved == block) {
      // In place: same mapping or slab buffer, so the same class and room, and the same usable
      // size (with kCanaries: the new requested size).
      FUZZ_CHECK(Allocator::lookup(block).class_index == old.class_index);
      FUZZ_CHECK_EQ(room_of(block), old.room);
      FUZZ_CHECK_EQ(allocator_.usable_size(block), canary::kOn ? size : old.usable);
      FUZZ_CHECK(old.room >= size);
      ShadowBlock& shadow = blocks_.at(address);
      shadow.size = size;
      shadow.usable = allocator_.usable_size(block);
      shadow.zeroed = false;
      write(block, old.id, size, fill_byte(old.id));
      check_block(block, shadow);
      return;
    }
    // Moved: the new block was taken while the old one was still live, so it must not overlap
    // it; check that before the old one leaves the model.
    const auto moved_address = reinterpret_cast<std::uintptr_t>(moved);
    ShadowBlock probe = old;
    probe.usable = allocator_.usable_size(moved);
    probe.room = room_of(moved);
    check_no_overlap(moved_address, probe);
    forget(index);
    // place() writes the fill byte over the whole block; the prefix was checked above.
    place(moved, old.id, size, kMinAlignment, reference_class(size, kMinAlignment), false);
  }

  void deallocate(const Operands& operands) {
    if (live_.empty()) return;
    const std::size_t index = pick(operands);
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr) return;
    free_at(*cache, index);
  }

  void allocate_burst(const Operands& operands) {
    const unsigned count = operands.count;
    const std::size_t size = operands.size;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr) return;
    const unsigned blocks = size > kMaxSmallSize ? std::min(count, kMaxLargeBurst) : count;
    for (unsigned i = 0; i < blocks && !full(); ++i) allocate_one(*cache, size, false);
  }

  void deallocate_burst(const Operands& operands) {
    const unsigned count = operands.count;
    const std::uint16_t start = operands.pick;
    ThreadCache* cache = ensure_cache();
    if (cache == nullptr) return;
    for (unsigned i = 0; i < count && !live_.empty(); ++i) free_at(*cache, start % live_.size());
  }

  void fill(const Operands& operands) {
    if (live_.empty()) return;
    const std::uintptr_t address = live_[pick(operands)];
    ShadowBlock& shadow = blocks_.at(address);
    check_block(to_pointer(address), shadow);
    write(to_pointer(address), shadow.id, shadow.size, fill_byte(shadow.id));
    shadow.zeroed = false;
  }

  void inspect(const Operands& operands) {
    if (live_.empty()) return;
    const std::uintptr_t address = live_[pick(operands)];
    check_block(to_pointer(address), blocks_.at(address));
  }

  void release_free_memory() {
    allocator_.release_free_memory();
    const Statistics stats = allocator_.statistics();
    FUZZ_CHECK_EQ(stats.bytes_dirty, std::size_t{0});  // every dirty page discarded
    check_statistics(stats);
  }

  // --- whole-heap checks -----------------------------------------------------------------------

  void check_statistics(const Statistics& stats) const {
    for (unsigned c = 0; c < kClassCount; ++c) {
      FUZZ_CHECK_EQ(stats.live_blocks[c], class_counts_[c]);
      FUZZ_CHECK(stats.live_blocks[c] <= stats.slabs[c] * size_class(c).capacity);
    }
    FUZZ_CHECK_EQ(stats.live_large_blocks, class_counts_[kNoClass]);
    FUZZ_CHECK_EQ(stats.bytes_in_use, bytes_in_use_);
    FUZZ_CHECK_EQ(stats.bytes_mapped, platform_.mapped());
    FUZZ_CHECK(stats.bytes_mapped <= limit_);
    FUZZ_CHECK(stats.bytes_dirty <= Config::kMaxDirtyBytes && stats.bytes_dirty <= stats.bytes_mapped);
  }

  void check_valid() const {
    const ValidationResult result = allocator_.validate();
    if (!result.ok) std::fprintf(stderr, "fuzz: validate() failed: %s\n", result.message);
    FUZZ_CHECK(result.ok);
  }

  Allocator& allocator_;
  ScriptedPlatform& platform_;
  const std::size_t limit_;
  const unsigned lanes_;
  unsigned lane_ = 0;
  std::array<ThreadCache*, kMaxLanes> caches_{};
  std::vector<ThreadCache*> known_;    // every cache ever claimed, each once
  std::vector<ThreadCache*> dormant_;  // released, not claimed again
  FlatMap<std::uintptr_t, ShadowBlock> blocks_;
  std::vector<std::uintptr_t> live_;   // the same addresses, for picking by index
  std::array<std::size_t, kClassCount + 1> class_counts_{};  // [kNoClass]: large blocks
  std::size_t bytes_in_use_ = 0;
  std::uint32_t next_id_ = 0;
  std::uint64_t steps_ = 0;
  std::size_t sweep_ = 0;  // check_heap()'s cursor into live_
};

}  // namespace nodealloc::fuzz
