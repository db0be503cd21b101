// The quarantine (kQuarantine, core/hardening/quarantine.h; built for -Dhardening=full only): a
// freed slab block is not handed out again until other frees push it out, blocks come back in no
// fixed order, the bounds (slots and quarantine_size bytes) hold, quarantine_size=0 turns it off,
// and statistics() and validate() stay exact with blocks waiting in it. validate() runs after
// every test. (A double free of a quarantined block: misuse_test.cc.)
#include "hardening/quarantine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "heap/allocator.h"
#include "support/allocator_fixture.h"

namespace nodealloc {
namespace {

static_assert(enabled(Mitigation::kQuarantine), "tests/meson.build builds this for the full preset only");

constexpr std::size_t kSize = 56;  // class 3: 64-byte strides, kSlots of them far below the default bound
constexpr unsigned kSlots = Quarantine::kSlots;

class QuarantineTest : public testing::AllocatorFixture {
 protected:
  std::vector<void*> allocate(std::size_t count, std::size_t size = kSize, std::size_t index = 0) {
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < count; ++i) blocks.push_back(allocator_->allocate(cache(index), size));
    return blocks;
  }
  void free(const std::vector<void*>& blocks, std::size_t index = 0) {
    for (void* block : blocks) allocator_->deallocate(cache(index), block);
  }

  // Frees kSlots + kEvicted fresh blocks of the cache in order, so that the last kEvicted frees
  // each evict one resident onto the (LIFO) free list, then allocates kEvicted blocks: for each,
  // its position in the order of the frees.
  static constexpr std::size_t kEvicted = 32;
  std::vector<std::size_t> reuse_order(std::size_t index) {
    const std::vector<void*> freed = allocate(kSlots + kEvicted, kSize, index);
    free(freed, index);
    EXPECT_EQ(cache(index).quarantine().count(), kSlots);
    const std::vector<void*> back = allocate(kEvicted, kSize, index);
    std::vector<std::size_t> order;
    for (void* block : back) {
      const auto found = std::find(freed.begin(), freed.end(), block);
      EXPECT_NE(found, freed.end()) << "a block that was never freed came back";
      order.push_back(static_cast<std::size_t>(found - freed.begin()));
    }
    free(back, index);
    return order;
  }
};

TEST_F(QuarantineTest, AFreedBlockIsNotHandedOutAgainUntilOtherFreesPushItOut) {
  void* freed = allocate(1)[0];
  free({freed});
  const std::vector<void*> later = allocate(2000);  // no frees in between: nothing leaves
  EXPECT_EQ(std::count(later.begin(), later.end(), freed), 0);
  EXPECT_EQ(cache().quarantine().count(), 1u);
  free(later);
}

// Which blocks come back, and in what order, is not a function of the order they were freed in:
// not the newest (a stack, as without a quarantine), not the oldest (a queue), and not sorted by
// freeing time either way. Each holds by chance with a probability below 2^-100.
TEST_F(QuarantineTest, BlocksComeBackNeitherNewestFirstNorOldestFirst) {
  ASSERT_LE(kEvicted, list_limit(canary::class_for_request(kSize)));  // the evicted blocks stay on the list
  const std::vector<std::size_t> order = reuse_order(0);
  std::vector<std::size_t> which = order;
  std::sort(which.begin(), which.end());
  std::vector<std::size_t> oldest(kEvicted), newest(kEvicted);
  for (std::size_t i = 0; i < kEvicted; ++i) {
    oldest[i] = i;
    newest[i] = kSlots + i;
  }
  EXPECT_NE(which, newest);
  EXPECT_NE(which, oldest);
  EXPECT_NE(order, which);
  EXPECT_FALSE(std::is_sorted(order.rbegin(), order.rend()));
}

// Each quarantine has its own seed: two caches freeing alike do not evict alike (the chance they
// do by luck is below 2^-200).
TEST_F(QuarantineTest, TwoCachesDoNotEvictInTheSameOrder) { EXPECT_NE(reuse_order(0), reuse_order(1)); }

TEST_F(QuarantineTest, TheSlotBoundHoldsAndEveryBlockComesBack) {
  const std::vector<void*> blocks = allocate(3 * kSlots);
  free(blocks);
  EXPECT_EQ(cache().quarantine().count(), kSlots);
  EXPECT_EQ(cache().quarantine().bytes(), kSlots * size_class(canary::class_for_request(kSize)).usable);
  expect_valid();
  cache().drain_quarantine();
  EXPECT_EQ(cache().quarantine().count(), 0u);
  EXPECT_EQ(cache().quarantine().bytes(), 0u);
  expect_valid();
}

TEST_F(QuarantineTest, StatisticsStayExactWithBlocksInTheQuarantine) {
  std::vector<void*> live;
  std::vector<void*> freed;
  for (const std::size_t size : {std::size_t{24}, std::size_t{100}, std::size_t{3000}}) {
    for (void* block : allocate(300, size)) (live.size() <= freed.size() ? live : freed).push_back(block);
  }
  free(freed);
  ASSERT_GT(cache().quarantine().count(), 0u);
  const Statistics stats = allocator_->statistics();
  std::size_t live_blocks[kClassCount] = {};
  std::size_t bytes_in_use = 0;
  for (void* block : live) {
    ++live_blocks[Allocator::lookup(block).class_index];
    bytes_in_use += size_class(Allocator::lookup(block).class_index).usable;  // the room it occupies
  }
  for (unsigned c = 0; c < kClassCount; ++c) EXPECT_EQ(stats.live_blocks[c], live_blocks[c]) << "class " << c;
  EXPECT_EQ(stats.bytes_in_use, bytes_in_use);
  expect_valid();
  free(live);
  EXPECT_EQ(allocator_->statistics().bytes_in_use, 0u);
}

// A block freed through another thread's cache waits in that cache's quarantine, not its owner's.
TEST_F(QuarantineTest, RemoteFreesWaitInTheFreeingCachesQuarantine) {
  const std::vector<void*> blocks = allocate(100);
  free(blocks, 1);
  EXPECT_EQ(cache(0).quarantine().count(), 0u);
  EXPECT_EQ(cache(1).quarantine().count(), 100u);
  EXPECT_EQ(allocator_->statistics().live_blocks[canary::class_for_request(kSize)], 0u);
  expect_valid();
  allocator_->release_cache(caches_[1]);  // a thread's exit: its quarantine drains with its lists
  caches_.erase(caches_.begin() + 1);
  EXPECT_EQ(allocator_->statistics().live_blocks[canary::class_for_request(kSize)], 0u);
}

TEST_F(QuarantineTest, ThreadExitAndReleaseFreeMemoryLeaveNothingHeldBack) {
  const std::size_t baseline = platform_.mapped();
  const std::vector<void*> blocks = allocate(20000, 200);
  free(blocks);
  ASSERT_EQ(cache().quarantine().count(), kSlots);
  allocator_->release_cache(caches_[0]);
  EXPECT_EQ(caches_[0]->quarantine().count(), 0u);
  caches_.clear();
  allocator_->release_free_memory();
  EXPECT_LE(platform_.mapped(), baseline + kChunkSize + (64 << 10));  // the kept empty chunk and the cache
  EXPECT_EQ(allocator_->statistics().bytes_dirty, 0u);
}

TEST_F(QuarantineTest, NothingLeaksWhenTheAllocatorGoesWithBlocksInTheQuarantine) {
  free(allocate(500));
  allocator_.reset();  // the cache was never released: its quarantine is still full
  caches_.clear();
  EXPECT_EQ(platform_.mapped(), 0u);
  allocator_ = std::make_unique<Allocator>(AllocatorOptions{&platform_});
}

// The options are read by the first cache of a process: each case runs in a fresh child.
class QuarantineOptionTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(QuarantineOptionTest, QuarantineSizeZeroTurnsItOff) {
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "quarantine_size=0", 1);
        Allocator allocator;
        ThreadCache* cache = allocator.claim_cache();
        void* freed = allocator.allocate(*cache, kSize);
        allocator.deallocate(*cache, freed);
        const bool off = cache->quarantine().count() == 0 && allocator.allocate(*cache, kSize) == freed;
        std::_Exit(off ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// quarantine_size bounds the bytes; a block larger than the bound goes straight back.
TEST_F(QuarantineOptionTest, QuarantineSizeBoundsTheBytesHeldBack) {
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "quarantine_size=1024", 1);
        Allocator allocator;
        ThreadCache* cache = allocator.claim_cache();
        std::vector<void*> blocks;
        for (int i = 0; i < 100; ++i) blocks.push_back(allocator.allocate(*cache, kSize));
        for (void* block : blocks) allocator.deallocate(*cache, block);
        const std::size_t usable = size_class(canary::class_for_request(kSize)).usable;
        const bool bounded = cache->quarantine().count() == 1024 / usable && cache->quarantine().bytes() <= 1024;
        void* big = allocator.allocate(*cache, 2000);
        allocator.deallocate(*cache, big);
        const bool bypassed = cache->quarantine().count() == 1024 / usable && allocator.allocate(*cache, 2000) == big;
        std::_Exit(bounded && bypassed && allocator.validate().ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// A full quarantine where a larger block would pass the byte bound by taking one small
// resident's slot: enough small residents leave for it to fit.
TEST_F(QuarantineOptionTest, ALargerBlockMakesRoomUnderTheByteBound) {
  EXPECT_EXIT(
      {
        const std::size_t usable = size_class(canary::class_for_request(kSize)).usable;
        const std::size_t limit = kSlots * usable + 100;
        char setting[64];
        std::snprintf(setting, sizeof setting, "quarantine_size=%zu", limit);
        setenv("NODEALLOC_OPTIONS", setting, 1);
        Allocator allocator;
        ThreadCache* cache = allocator.claim_cache();
        std::vector<void*> blocks;
        for (unsigned i = 0; i < kSlots; ++i) blocks.push_back(allocator.allocate(*cache, kSize));
        void* big = allocator.allocate(*cache, 2000);
        for (void* block : blocks) allocator.deallocate(*cache, block);
        const bool full = cache->quarantine().count() == kSlots;
        allocator.deallocate(*cache, big);
        const std::size_t big_usable = size_class(canary::class_for_request(2000)).usable;
        const std::size_t left = (limit - big_usable) / usable;  // small residents that still fit beside it
        const bool made_room = cache->quarantine().count() == left + 1 && cache->quarantine().bytes() <= limit;
        std::_Exit(full && made_room && allocator.validate().ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace nodealloc
