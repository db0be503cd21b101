// Unit tests of the allocator instance (core/heap/allocator.h) and what it stands on: every size
// class, alignments, realloc, exact statistics, out of memory, cross-thread frees through thread
// cache objects, thread exit, release to the OS. validate() runs after every test.
#include "heap/allocator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "platform/platform.h"
#include "support/allocator_fixture.h"
#include "support/failing_platform.h"

namespace nodealloc {
namespace {

class AllocatorTest : public testing::AllocatorFixture {};

TEST(SizeClasses, TableIsValid) { EXPECT_EQ(validate_size_classes(), nullptr); }

// The fast path's table (16-byte steps, up to kMaxTabulatedSize) and the arithmetic behind it
// give every size the same class, at the table's edge and beyond it.
TEST(SizeClasses, TheLookupTableAgreesWithTheArithmetic) {
  for (std::size_t size = 0; size <= kMaxSmallSize + 1; ++size) {
    ASSERT_EQ(class_for_size(size), compute_class_for_size(size)) << size;
  }
}

// buffer_index() divides by a multiplication: exact for every offset of every class's slab.
TEST(SizeClasses, TheStrideReciprocalDividesEveryOffsetOfASlab) {
  for (unsigned c = 0; c < kClassCount; ++c) {
    const SizeClass& size = size_class(c);
    const std::size_t slab_bytes = std::size_t{size.slab_pages} * kSlabPageSize;
    for (std::size_t offset = 0; offset < slab_bytes; ++offset) {
      ASSERT_EQ(buffer_index(size, offset), offset / size.stride) << "class " << c << ", offset " << offset;
    }
  }
}

TEST(SizeClasses, EverySizeGetsTheSmallestClassThatFits) {
  for (std::size_t size = 0; size <= kMaxSmallSize; ++size) {
    const unsigned c = class_for_size(size);
    ASSERT_LT(c, kClassCount) << size;
    ASSERT_GE(size_class(c).usable, size) << size;
    if (c > 0) {
      ASSERT_LT(size_class(c - 1).usable, size) << size;
    }
  }
  EXPECT_EQ(class_for_size(kMaxSmallSize + 1), kNoClass);
}

TEST_F(AllocatorTest, EveryClassHandsOutAlignedWritableBlocksOfItsUsableSize) {
  for (unsigned c = 0; c < kClassCount; ++c) {
    if (size_class(c).usable < canary::kTrailerBytes) continue;  // full preset: no room for a request
    // The largest request of the class: its usable size, less the canary's trailer (full preset),
    // whose usable_size is the requested size.
    const std::size_t request = size_class(c).usable - canary::kTrailerBytes;
    std::vector<void*> blocks;
    for (int i = 0; i < 20; ++i) {
      void* block = allocator_->allocate(cache(), request);
      ASSERT_NE(block, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % kMinAlignment, 0u);
      EXPECT_EQ(allocator_->usable_size(block), request);
      EXPECT_EQ(Allocator::lookup(block).class_index, c);
      std::memset(block, 0x5a, request);
      blocks.push_back(block);
    }
    expect_valid();
    for (void* block : blocks) allocator_->deallocate(cache(), block);
  }
}

TEST_F(AllocatorTest, AlignmentsUpToAMegabyte) {
  for (std::size_t alignment = 1; alignment <= (1u << 20); alignment *= 2) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{24}, alignment, 3 * alignment + 5}) {
      void* block = allocator_->allocate_aligned(cache(), size, alignment);
      ASSERT_NE(block, nullptr) << alignment << " " << size;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % std::max(alignment, kMinAlignment), 0u);
      EXPECT_GE(allocator_->usable_size(block), size);
      std::memset(block, 1, size);
      allocator_->deallocate(cache(), block);
    }
  }
  EXPECT_EQ(allocator_->allocate_aligned(cache(), 8, 24), nullptr);
  EXPECT_EQ(allocator_->allocate_aligned(cache(), 8, 0), nullptr);
}

TEST_F(AllocatorTest, ImpossibleSizesGiveNull) {
  EXPECT_EQ(allocator_->allocate(cache(), SIZE_MAX), nullptr);
  EXPECT_EQ(allocator_->allocate(cache(), SIZE_MAX / 2), nullptr);
  EXPECT_EQ(allocator_->allocate_aligned(cache(), 16, std::size_t{1} << 63), nullptr);
  EXPECT_EQ(allocator_->allocate_zeroed(cache(), SIZE_MAX / 2, 3), nullptr);
}

TEST_F(AllocatorTest, ReallocKeepsContentsAcrossClassesAndIntoLargeBlocks) {
  std::size_t size = 1;
  auto* block = static_cast<unsigned char*>(allocator_->allocate(cache(), size));
  block[0] = 0;
  for (std::size_t next : {7, 8, 9, 100, 1000, 5000, 70000, 300000, 2000000, 70000, 900, 16, 3}) {
    block = static_cast<unsigned char*>(allocator_->reallocate(cache(), block, next));
    ASSERT_NE(block, nullptr);
    for (std::size_t i = 0; i < std::min(size, next); ++i) ASSERT_EQ(block[i], static_cast<unsigned char>(i * 7)) << i;
    for (std::size_t i = 0; i < next; ++i) block[i] = static_cast<unsigned char>(i * 7);
    size = next;
    expect_valid();
  }
  allocator_->deallocate(cache(), block);
}

TEST_F(AllocatorTest, CallocIsZeroEvenForReusedBlocks) {
  void* dirty = allocator_->allocate(cache(), 100);
  std::memset(dirty, 0xff, 100);
  allocator_->deallocate(cache(), dirty);
  cache().drain_quarantine();  // the quarantine (full preset) would keep the block from reuse
  auto* zeroed = static_cast<unsigned char*>(allocator_->allocate_zeroed(cache(), 10, 10));
  ASSERT_EQ(zeroed, dirty);  // LIFO: the same block again
  for (int i = 0; i < 100; ++i) ASSERT_EQ(zeroed[i], 0);
  allocator_->deallocate(cache(), zeroed);
}

TEST_F(AllocatorTest, StatisticsAreExact) {
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(allocator_->allocate(cache(), 100));
  void* large = allocator_->allocate(cache(), 1 << 20);
  Statistics stats = allocator_->statistics();
  const unsigned c = canary::class_for_request(100);
  EXPECT_EQ(stats.live_blocks[c], 1000u);
  EXPECT_EQ(stats.live_large_blocks, 1u);
  // The bytes blocks occupy: their class's usable size, a large block's bytes to its end (with
  // kCanaries, usable_size is only the requested part of those).
  const std::size_t large_room = LargeBlocks::usable_size(*Allocator::lookup(large).header, large);
  EXPECT_GE(large_room, allocator_->usable_size(large));
  EXPECT_EQ(stats.bytes_in_use, 1000 * size_class(c).usable + large_room);
  EXPECT_EQ(stats.bytes_mapped, platform_.mapped());

  for (std::size_t i = 0; i < blocks.size(); i += 2) allocator_->deallocate(cache(), blocks[i]);
  allocator_->deallocate(cache(), large);
  stats = allocator_->statistics();
  EXPECT_EQ(stats.live_blocks[c], 500u);
  EXPECT_EQ(stats.live_large_blocks, 0u);
  EXPECT_EQ(stats.bytes_in_use, 500 * size_class(c).usable);
  for (std::size_t i = 1; i < blocks.size(); i += 2) allocator_->deallocate(cache(), blocks[i]);
  EXPECT_EQ(allocator_->statistics().bytes_in_use, 0u);
}

TEST_F(AllocatorTest, OutOfMemoryGivesNullAndKeepsLiveBlocksIntact) {
  std::vector<unsigned char*> live;
  for (int i = 0; i < 100; ++i) {
    live.push_back(static_cast<unsigned char*>(allocator_->allocate(cache(), 4000)));
    std::memset(live.back(), i, 4000);
  }
  platform_.fail_all(true);
  int refused = 0;
  for (int i = 0; i < 10000; ++i) {
    void* block = allocator_->allocate(cache(), 4000);
    if (block == nullptr) {
      ++refused;
      break;
    }
    live.push_back(static_cast<unsigned char*>(block));
    std::memset(block, 0xee, 4000);
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(allocator_->allocate(cache(), 1 << 20), nullptr);  // large blocks too
  expect_valid();
  for (int i = 0; i < 100; ++i) {
    for (int j = 0; j < 4000; ++j) ASSERT_EQ(live[i][j], i);
  }
  platform_.fail_all(false);
  void* after = allocator_->allocate(cache(), 1 << 20);
  EXPECT_NE(after, nullptr);
  allocator_->deallocate(cache(), after);
  for (unsigned char* block : live) allocator_->deallocate(cache(), block);
}

TEST_F(AllocatorTest, NothingLeaksWhenTheAllocatorGoes) {
  for (int i = 0; i < 5000; ++i) allocator_->allocate(cache(), static_cast<std::size_t>(i * 13 % 70000));
  allocator_->release_cache(caches_[0]);
  caches_.clear();
  allocator_.reset();
  EXPECT_EQ(platform_.mapped(), 0u);
  allocator_ = std::make_unique<Allocator>(AllocatorOptions{&platform_});
}

TEST_F(AllocatorTest, MemoryLimitHolds) {
  allocator_.reset();
  allocator_ = std::make_unique<Allocator>(AllocatorOptions{&platform_, 16 << 20});
  EXPECT_EQ(allocator_->allocate(cache(), 32 << 20), nullptr);
  std::vector<void*> blocks;
  while (void* block = allocator_->allocate(cache(), 60000)) blocks.push_back(block);
  EXPECT_LE(allocator_->statistics().bytes_mapped, std::size_t{16} << 20);
  EXPECT_GT(blocks.size(), 100u);
  for (void* block : blocks) allocator_->deallocate(cache(), block);
}

TEST_F(AllocatorTest, BlocksFreedThroughAnotherCacheGoBackToTheirOwner) {
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(allocator_->allocate(cache(0), 48));
  for (void* block : blocks) allocator_->deallocate(cache(1), block);  // a "remote" thread
  expect_valid();
  allocator_->release_cache(caches_[1]);  // flushes: blocks go to cache 0's slabs, remotely
  caches_.erase(caches_.begin() + 1);
  expect_valid();
  EXPECT_EQ(allocator_->statistics().live_blocks[class_for_size(48)], 0u);
  // Cache 0 collects them when it needs blocks again, and gets back the same memory.
  const std::size_t mapped = allocator_->statistics().bytes_mapped;
  for (int i = 0; i < 3000; ++i) blocks[i] = allocator_->allocate(cache(0), 48);
  EXPECT_EQ(allocator_->statistics().bytes_mapped, mapped);
  expect_valid();
  for (void* block : blocks) allocator_->deallocate(cache(0), block);
}

TEST_F(AllocatorTest, ThreadsThatExitLeaveTheirMemoryToTheNextThread) {
  const std::size_t before = allocator_->statistics().bytes_mapped;
  for (int round = 0; round < 20; ++round) {
    std::thread worker([&] {
      ThreadCache* mine = allocator_->claim_cache();
      std::vector<void*> blocks;
      for (int i = 0; i < 2000; ++i) blocks.push_back(allocator_->allocate(*mine, 200));
      for (void* block : blocks) allocator_->deallocate(*mine, block);
      allocator_->release_cache(mine);
    });
    worker.join();
  }
  // One cache serves every round: memory does not grow with the number of threads.
  EXPECT_LE(allocator_->statistics().bytes_mapped, before + kChunkSize + (64 << 10));
}

TEST_F(AllocatorTest, ReleaseFreeMemoryGivesBackEverythingUnused) {
  std::vector<void*> blocks;
  for (int i = 0; i < 200000; ++i) blocks.push_back(allocator_->allocate(cache(), 64));
  EXPECT_GT(platform_.mapped(), std::size_t{12} << 20);
  for (void* block : blocks) allocator_->deallocate(cache(), block);
  cache().flush_all();
  allocator_->release_free_memory();
  EXPECT_LE(platform_.mapped(), kChunkSize + (64 << 10));
  EXPECT_EQ(allocator_->statistics().bytes_dirty, 0u);
}

// A refill takes a slab's whole free list at once, so a cache's list may be longer than its
// limit; validate() once mistook that for a cycle.
TEST_F(AllocatorTest, ACacheListLongerThanItsLimitIsValid) {
  std::vector<void*> blocks;
  const unsigned c = canary::class_for_request(0);  // the smallest class a request gets
  const std::size_t request = size_class(c).usable - canary::kTrailerBytes;
  for (int i = 0; i < 2000; ++i) blocks.push_back(allocator_->allocate(cache(), request));
  for (void* block : blocks) allocator_->deallocate(cache(), block);  // most go back to the slab
  cache().drain_quarantine();
  for (std::uint32_t i = 0; i <= list_limit(c); ++i) blocks[i] = allocator_->allocate(cache(), request);
  ASSERT_GT(cache().list(c).count, list_limit(c));  // the refill took the slab's whole list
  expect_valid();
  for (std::uint32_t i = 0; i <= list_limit(c); ++i) allocator_->deallocate(cache(), blocks[i]);
}

// Slow start (base/config.h): a fresh cache carves a quarter of a class's batch, then half, then
// the whole batch, so a class a program barely uses costs it a page, not a batch's pages.
TEST_F(AllocatorTest, ACachesFirstCarvesOfAClassStartSmall) {
  const unsigned c = canary::class_for_request(0);
  const std::size_t request = size_class(c).usable - canary::kTrailerBytes;
  const std::uint32_t batch = refill_batch(c);
  ASSERT_GE(batch, 4u << Config::kSlowStartSteps) << "a class whose batch the slow start divides";
  std::vector<void*> blocks;
  std::uint32_t expected_carve = batch >> Config::kSlowStartSteps;
  for (unsigned carve = 0; carve <= Config::kSlowStartSteps + 1; ++carve) {
    blocks.push_back(allocator_->allocate(cache(), request));  // the list is empty: this carves
    EXPECT_EQ(cache().list(c).count, expected_carve - 1) << "carve " << carve;
    while (cache().list(c).count > 0) blocks.push_back(allocator_->allocate(cache(), request));
    if (expected_carve < batch) expected_carve *= 2;
  }
  for (void* block : blocks) allocator_->deallocate(cache(), block);
}

TEST_F(AllocatorTest, LookupIsPureAndFindsHeaderAndNode) {
  void* block = allocator_->allocate(cache(), 40);
  const BlockInfo info = Allocator::lookup(block);
  ASSERT_NE(info.header, nullptr);
  EXPECT_EQ(info.class_index, canary::class_for_request(40));
  EXPECT_LE(info.node, static_cast<std::byte*>(block));
  void* large = allocator_->allocate(cache(), 1 << 20);
  EXPECT_EQ(Allocator::lookup(large).class_index, kNoClass);
  allocator_->deallocate(cache(), block);
  allocator_->deallocate(cache(), large);
}

// A platform that maps but never protects (mprotect refused: a sandbox, or the process at its
// limit of mappings). A large block needs protect() for its guard page (kLargeGuardPages) and to
// be held back once freed (kDoubleFree): without it, no large block is handed out in full, and in
// the other presets a freed one is unmapped at once. Nothing leaks either way.
TEST(AllocatorWithoutProtect, LargeBlocksWorkOrFailCleanly) {
  testing::FailingPlatform platform;
  platform.refuse_protect(true);
  {
    AllocatorOptions options{&platform};
    options.large_cache_bytes = 0;  // a freed mapping goes back at once, in every preset
    Allocator allocator(options);
    ThreadCache* cache = allocator.claim_cache();
    ASSERT_NE(cache, nullptr);
    void* large = allocator.allocate(*cache, std::size_t{1} << 20);
    if (enabled(Mitigation::kLargeGuardPages)) {
      EXPECT_EQ(large, nullptr) << "a large block without its guard page";
    } else {
      ASSERT_NE(large, nullptr);
      std::memset(large, 0x5a, std::size_t{1} << 20);
      const std::size_t before = platform.mapped();
      allocator.deallocate(*cache, large);
      EXPECT_LE(platform.mapped() + (std::size_t{1} << 20), before) << "unmapped at once, not held back";
    }
    void* small = allocator.allocate(*cache, 100);
    EXPECT_NE(small, nullptr) << "slab blocks need no protect()";
    allocator.deallocate(*cache, small);
    const ValidationResult result = allocator.validate();
    EXPECT_TRUE(result.ok) << result.message;
    allocator.release_cache(cache);
  }
  EXPECT_EQ(platform.mapped(), 0u);
}

}  // namespace
}  // namespace nodealloc
