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
// The model: the one the stateful property uses too (tests/support/allocator_model.h), keyed by
// address (a FlatMap, to check overlaps in O(log n)): every live block's requested size,
// alignment, class, usable size, room, mapping and contents, the exact statistics, and the exact
// prediction of every block an allocating call hands out. Beside it the harness keeps the live
// blocks in pick order, each with its id (its fill byte and samples). A block's contents are its
// fill byte (derived from its id, never 0) over its requested size (sampled beyond 4 KiB:
// for_each_sampled), written by the harness when the block is handed out, or allocate_zeroed's
// zeros, so any write by the allocator into a live block, or any two blocks sharing memory, shows
// up as a wrong byte. Only the requested bytes are touched: the rest of the usable size is
// poisoned for ASan.
//
// What is checked, and why:
// - after each operation, on the blocks it touched: alignment as asked (and at least 16, as
//   malloc promises), usable_size() and the room exactly as the model predicts (a class's usable
//   size, a large block's layout), the block and its back-pointer word overlap no other live
//   block, contents intact (a realloc keeps the prefix both sizes share, and stays in place
//   exactly when the model says), lookup() names a header and the expected class and writes
//   nothing. The expected class is found by brute force over the class table (reference_class),
//   not by class_for(), so the allocator's lookup table and arithmetic are checked, not repeated;
// - every nullptr: right only if the request is impossible (not a power of two, count * size
//   overflows, a mapping beyond the limit), or the platform refused a map() during the call, or
//   the limit leaves no room (a chunk for a small request, a large block's mapping, plus 64 KiB
//   for the heap's tables). So the allocator may neither hand out the impossible nor fail
//   spuriously;
// - after a failed call, no byte stays mapped that was not mapped before (nothing leaked);
// - claim_cache() returns a dormant cache whenever one exists (its slabs must not be stranded);
// - every 64 steps, on kCheckHeap and at the end (check_heap): statistics() against the model
//   (AllocatorModel::check: live blocks per class, large blocks, bytes_in_use as the sum of
//   rooms, bytes_mapped equal to what the platform has mapped and within the limit, dirty bytes
//   within the pool's bound), validate(), the heap's own walk of its invariants, and
//   check_block() on the next kSweepBlocks live blocks, a cursor going round them. Not every
//   block each time: inputs the fuzzer grew were hundreds of one-byte checks over a thousand
//   blocks, and rereading them all was nine tenths of their time. Nothing goes unchecked for it:
//   every block is checked whole whenever an operation picks it and before it is freed, and the
//   ending frees them all;
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
#include <optional>
#include <vector>

#include "heap/allocator.h"
#include "pool/chunk.h"
#include "pool/pool.h"
#include "size_class/size_classes.h"
#include "support/allocator_model.h"
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
      : allocator_(allocator),
        platform_(platform),
        limit_(allocator.memory_limit()),
        lanes_(lanes),
        model_(allocator.memory_limit()) {
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
      if (everything || live_[i].id % lanes_ == lane_) free_at(*cache, i);
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
      check_block(live_[sweep_]);
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
  using ModelBlock = testing::ModelBlock;
  using Wide = testing::WideSize;

  // A live block as picks find it: where it is (its key in the model), and its id.
  struct LiveBlock {
    std::uintptr_t address;
    std::uint64_t id;
  };

  // A cache's mapping: a few pages at most (sizeof(ThreadCache) is about 1.5 KiB).
  static constexpr std::size_t kCacheRoom = std::size_t{64} << 10;
  // The heap's own tables that grow with it (the live large-block table of kPointerCheck: 8
  // bytes a slot, at most half full, so 32 KiB for kMaxLiveBlocks), and that a request may have
  // to grow besides mapping its block.
  static constexpr std::size_t kMetadataRoom = std::size_t{64} << 10;

  static void* to_pointer(std::uintptr_t address) { return reinterpret_cast<void*>(address); }

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
  // campaign, the windows cover every offset. One window, not four: each lands on a page nothing
  // else touched, so each was a page fault (the corpus replay of alloc_ops: 173k faults with four,
  // 116k with one; fuzz-rate 30 s, alloc_ops 802 -> 976 exec/s). `limit` cuts the ranges (a
  // realloc keeps only the prefix both sizes share). Calls visit(offset, length).
  static constexpr std::size_t kWholeBytes = 4096;
  static constexpr std::size_t kEdgeBytes = 256;
  static constexpr std::size_t kSampleBytes = 256;
  static constexpr unsigned kSamples = 1;
  template <class Visit>
  static void for_each_sampled(std::uint64_t id, std::size_t size, std::size_t limit, Visit&& visit) {
    auto cut = [&](std::size_t offset, std::size_t length) {
      if (offset < limit) visit(offset, std::min(length, limit - offset));
    };
    if (size <= kWholeBytes) {
      cut(0, size);
      return;
    }
    cut(0, kEdgeBytes);
    std::uint64_t state = (id + 1) * 0x9e3779b97f4a7c15ULL;
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
  static bool holds(const void* block, std::uint64_t id, std::size_t size, std::uint8_t value,
                    std::size_t limit = SIZE_MAX) {
    const auto* bytes = static_cast<const unsigned char*>(block);
    bool intact = true;
    for_each_sampled(id, size, std::min(limit, size), [&](std::size_t offset, std::size_t length) {
      intact = intact && all_bytes_are(bytes + offset, length, value);
    });
    return intact;
  }
  static void write(void* block, std::uint64_t id, std::size_t size, std::uint8_t value) {
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

  // After a nullptr for (size, alignment): the request was impossible (the model predicts no
  // block), or the platform refused a map() since `refusals`, or the limit leaves no room for
  // the mapping it needs.
  void expect_failure_allowed(std::size_t size, std::size_t alignment, std::uint64_t refusals) const {
    const std::optional<ModelBlock> expected = testing::expected_block(size, alignment, limit_);
    if (!expected) return;
    if (platform_.refusals() != refusals) return;
    const Wide mapping = expected->class_index != kNoClass ? Wide{kChunkSize} : Wide{expected->mapping};
    const Wide needed = kMetadataRoom + mapping;
    if (!no_room(needed)) {
      std::fprintf(stderr, "fuzz: nullptr for size %zu alignment %zu with %zu of %zu bytes mapped\n",
                   size, alignment, platform_.mapped(), limit_);
    }
    FUZZ_CHECK(no_room(needed));
  }

  // --- placing and checking blocks -------------------------------------------------------------

  void check_lookup(const void* block, const ModelBlock& expected) const {
    const BlockInfo info = Allocator::lookup(block);
    FUZZ_CHECK(info.header != nullptr);
    FUZZ_CHECK_EQ(info.class_index, expected.class_index);
    FUZZ_CHECK(info.node != nullptr && info.node + kWordSize <= static_cast<const std::byte*>(block));
    if (expected.class_index != kNoClass) {
      const std::size_t slab_bytes = std::size_t{size_class(expected.class_index).slab_pages} * kSlabPageSize;
      FUZZ_CHECK(static_cast<const std::byte*>(block) + expected.room <= info.node + slab_bytes);
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

  // Whether the block holds what the model says: its fill (or zeros) over the first `filled` of
  // its requested bytes, sampled as they were written.
  static bool intact(const void* block, std::uint64_t id, const ModelBlock& model) {
    return holds(block, id, model.size, model.fill, model.filled);
  }

  void check_block(void* block, std::uint64_t id, const ModelBlock& model) const {
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(block) % model.address_alignment() == 0);
    FUZZ_CHECK_EQ(allocator_.usable_size(block), model.usable());
    FUZZ_CHECK(model.usable() >= model.size);
    FUZZ_CHECK(model.room >= model.usable());
    check_lookup(block, model);
    if (!intact(block, id, model)) {
      std::fprintf(stderr, "fuzz: block %llu at %p (size %zu) lost its contents\n",
                   static_cast<unsigned long long>(id), block, model.size);
    }
    FUZZ_CHECK(intact(block, id, model));
  }
  void check_block(const LiveBlock& live) const {
    check_block(to_pointer(live.address), live.id, model_.at(live.address));
  }

  // [block - 8, block + room): the block and the back-pointer in front of it, against its
  // neighbours in the model.
  void check_no_overlap(std::uintptr_t address, std::size_t room) const {
    const auto next = model_.lower_bound(address);
    FUZZ_CHECK(next == model_.end() || address + room <= next->first - kWordSize);
    if (next != model_.begin()) {
      const auto previous = std::prev(next);
      FUZZ_CHECK(previous->first + previous->second.room <= address - kWordSize);
    }
  }

  // Checks a block the allocator just handed out against the model's prediction: where it is,
  // what it says about itself, and, `zeroed`, that it holds zeros; otherwise writes its fill.
  // Returns its record, its whole size now holding the zeros or the fill. `id`: the block's, new
  // or (a moved realloc) its old one.
  ModelBlock take(void* block, std::uint64_t id, ModelBlock expected, bool zeroed) const {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    FUZZ_CHECK(address % expected.address_alignment() == 0);
    FUZZ_CHECK_EQ(allocator_.usable_size(block), expected.usable());
    FUZZ_CHECK_EQ(room_of(block), expected.room);
    check_no_overlap(address, expected.room);
    expected.fill = zeroed ? 0 : testing::fill_byte(id);
    expected.filled = expected.size;
    if (zeroed) FUZZ_CHECK(intact(block, id, expected));
    else write(block, id, expected.size, expected.fill);
    check_lookup(block, expected);
    return expected;
  }

  // Into the model and the picks, and out of them again.
  void track(void* block, std::uint64_t id, const ModelBlock& record) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    const bool added = model_.add(address, record);
    FUZZ_CHECK(added);  // not while a block at that address is live
    live_.push_back(LiveBlock{address, id});
  }
  void untrack(std::size_t index) {
    model_.remove(live_[index].address);
    live_[index] = live_.back();
    live_.pop_back();
  }

  // A new block into the model, checked against `expected` (allocate's prediction).
  void place(void* block, const std::optional<ModelBlock>& expected, bool zeroed) {
    FUZZ_CHECK(expected.has_value());  // not a request the model says no heap can serve
    const std::uint64_t id = next_id_++;
    track(block, id, take(block, id, *expected, zeroed));
  }

  void free_at(ThreadCache& cache, std::size_t index) {
    const LiveBlock live = live_[index];
    check_block(live);
    untrack(index);
    allocator_.deallocate(cache, to_pointer(live.address));
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
    place(block, testing::expected_block(size, kMinAlignment, limit_), false);
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
    place(block, testing::expected_block(size, alignment, limit_), false);
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
    place(block, testing::expected_block(bytes, kMinAlignment, limit_), true);
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
    const LiveBlock live = live_[index];
    void* block = to_pointer(live.address);
    const ModelBlock old = model_.at(live.address);
    check_block(block, live.id, old);
    const std::optional<ModelBlock> expected = testing::expected_realloc(old, size, limit_);
    const bool in_place = testing::stays_in_place(old, size);
    const bool may_grow = testing::may_grow(old, size);

    const std::uint64_t refusals = platform_.refusals();
    const std::size_t mapped = platform_.mapped();
    void* moved = allocator_.reallocate(*cache, block, size);
    if (moved == nullptr) {
      FUZZ_CHECK(!in_place);  // resizing in place maps nothing, so it cannot fail
      expect_failure_allowed(size, kMinAlignment, refusals);
      FUZZ_CHECK(platform_.mapped() <= mapped);
      check_block(block, live.id, old);  // C realloc: a failure leaves the block as it was
      return;
    }
    FUZZ_CHECK(expected.has_value());
    FUZZ_CHECK((moved == block) == in_place || may_grow);
    // The prefix both sizes share survives, zeros or fill, where the old block's samples were.
    FUZZ_CHECK(holds(moved, live.id, old.size, old.fill, expected->filled));
    if (in_place) {
      // Same mapping or slab buffer: the same class and room; the usable size as predicted (with
      // kCanaries: the new requested size).
      FUZZ_CHECK_EQ(room_of(block), expected->room);
      ModelBlock resized = *expected;
      resized.fill = testing::fill_byte(live.id);
      resized.filled = size;
      write(block, live.id, size, resized.fill);
      model_.replace(live.address, resized);
      check_block(block, live.id, resized);
      return;
    }
    // Moved: the new block was taken while the old one was still live, so take() checks it
    // overlaps no block, the old one included, before the old one leaves the model. It writes
    // the fill byte over the whole block; the prefix was checked above. Grown: the old block is
    // gone (its mapping grew, in place or moved), so it leaves the model first; so does a block
    // whose growth was refused and copied, which the record does not tell apart.
    if (may_grow) {
      untrack(index);
      track(moved, live.id, take(moved, live.id, *expected, false));
      return;
    }
    const ModelBlock record = take(moved, live.id, *expected, false);
    untrack(index);
    track(moved, live.id, record);
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
    const LiveBlock live = live_[pick(operands)];
    const ModelBlock& model = model_.at(live.address);
    check_block(to_pointer(live.address), live.id, model);
    write(to_pointer(live.address), live.id, model.size, testing::fill_byte(live.id));
    model_.fill(live.address, testing::fill_byte(live.id));
  }

  void inspect(const Operands& operands) {
    if (live_.empty()) return;
    check_block(live_[pick(operands)]);
  }

  void release_free_memory() {
    allocator_.release_free_memory();
    const Statistics stats = allocator_.statistics();
    FUZZ_CHECK_EQ(stats.bytes_dirty, std::size_t{0});  // every dirty page discarded
    check_statistics(stats);
  }

  // --- whole-heap checks -----------------------------------------------------------------------

  void check_statistics(const Statistics& stats) const {
    const testing::Mismatch mismatch = model_.check(stats, platform_.mapped());
    if (mismatch) std::fprintf(stderr, "fuzz: %s\n", mismatch.text);
    FUZZ_CHECK(!mismatch);
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
  testing::AllocatorModel<std::uintptr_t> model_;  // by address
  std::vector<LiveBlock> live_;                    // the model's blocks, in the order picks index them
  std::uint64_t next_id_ = 0;
  std::uint64_t steps_ = 0;
  std::size_t sweep_ = 0;  // check_heap()'s cursor into live_
};

}  // namespace nodealloc::fuzz
