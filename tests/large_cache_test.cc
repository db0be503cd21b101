// The mapping cache of large blocks (core/large/large_blocks.h): a freed mapping comes back for
// the next request without the OS, cut to a fresh mapping's length, zeroed for calloc, within
// its bounds (slots, bytes, the memory limit), and given back by release_free_memory. A platform
// that counts map() calls tells reuse from a fresh mapping.
//
// The cache is switched on by the options here (its default is off in the hardened presets), and
// the platform refuses protect(): a hardened preset holds a freed mapping back, inaccessible, as
// long as the OS protects it (hardening.cc), and sends it on to the cache only when it cannot. So
// these tests run in none and standard; full's guard pages need protect(), and switch the cache
// off, so there they are skipped.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "heap/allocator.h"
#include "platform/platform.h"
#include "support/failing_platform.h"

namespace nodealloc {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

class LargeCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (enabled(Mitigation::kLargeGuardPages)) GTEST_SKIP() << "no mapping cache with guard pages";
    platform_.refuse_protect(true);
    start(64 * kMiB);
  }
  void TearDown() override { stop(); }

  void start(std::size_t cache_bytes, std::size_t memory_limit = SIZE_MAX) {
    AllocatorOptions options{&platform_, memory_limit};
    options.large_cache_bytes = cache_bytes;
    allocator_ = new Allocator(options);
    cache_ = allocator_->claim_cache();
    ASSERT_NE(cache_, nullptr);
  }
  void stop() {
    if (allocator_ == nullptr) return;
    const ValidationResult result = allocator_->validate();
    EXPECT_TRUE(result.ok) << result.message;
    allocator_->release_cache(cache_);
    delete allocator_;
    allocator_ = nullptr;
    EXPECT_EQ(platform_.mapped(), 0u) << "the cache gave every mapping back";
  }

  testing::FailingPlatform platform_;
  Allocator* allocator_ = nullptr;
  ThreadCache* cache_ = nullptr;
};

TEST_F(LargeCacheTest, AFreedMappingServesTheNextRequestWithoutTheOs) {
  void* first = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(first, nullptr);
  std::memset(first, 0x5a, 3 * kMiB);
  const std::size_t usable = allocator_->usable_size(first);
  allocator_->deallocate(*cache_, first);
  const long maps = platform_.maps();
  const std::size_t mapped = platform_.mapped();
  void* second = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second, first);
  EXPECT_EQ(platform_.maps(), maps) << "reused, not mapped";
  EXPECT_EQ(platform_.mapped(), mapped);
  EXPECT_EQ(allocator_->usable_size(second), usable);
  allocator_->deallocate(*cache_, second);
}

TEST_F(LargeCacheTest, CallocOfAReusedMappingReadsAsZero) {
  unsigned char* dirty = static_cast<unsigned char*>(allocator_->allocate(*cache_, 2 * kMiB));
  ASSERT_NE(dirty, nullptr);
  std::memset(dirty, 0xab, 2 * kMiB);
  allocator_->deallocate(*cache_, dirty);
  auto* zeroed = static_cast<unsigned char*>(allocator_->allocate_zeroed(*cache_, 2, kMiB));
  ASSERT_NE(zeroed, nullptr);
  EXPECT_EQ(zeroed, dirty);
  for (std::size_t i = 0; i < 2 * kMiB; ++i) ASSERT_EQ(zeroed[i], 0) << "byte " << i;
  allocator_->deallocate(*cache_, zeroed);
}

// A smaller request takes a bigger kept mapping, cut to a fresh mapping's length: the block's
// room is a fresh block's. The cut-off part stays kept, its pages backed, and serves the next
// request it holds.
TEST_F(LargeCacheTest, ABiggerKeptMappingIsCutToAFreshOnesLength) {
  void* fresh = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(fresh, nullptr);
  const std::size_t fresh_usable = allocator_->usable_size(fresh);
  allocator_->deallocate(*cache_, fresh);
  allocator_->release_free_memory();  // nothing kept: the next mapping is the big one's

  void* big = allocator_->allocate(*cache_, 4 * kMiB);
  ASSERT_NE(big, nullptr);
  const std::size_t with_big = platform_.mapped();
  allocator_->deallocate(*cache_, big);
  void* cut = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(cut, nullptr);
  EXPECT_EQ(cut, big);
  EXPECT_EQ(allocator_->usable_size(cut), fresh_usable);
  EXPECT_EQ(platform_.mapped(), with_big) << "the cut-off part is kept";
  const long maps = platform_.maps();
  void* from_tail = allocator_->allocate(*cache_, 2 * kMiB);
  ASSERT_NE(from_tail, nullptr);
  EXPECT_EQ(platform_.maps(), maps) << "the cut-off part served it";
  EXPECT_GT(static_cast<std::byte*>(from_tail), static_cast<std::byte*>(cut));
  EXPECT_LT(static_cast<std::byte*>(from_tail), static_cast<std::byte*>(big) + 4 * kMiB);
  allocator_->deallocate(*cache_, from_tail);
  allocator_->deallocate(*cache_, cut);
}

// A request bigger than every kept mapping grows the biggest (mremap) instead of mapping afresh;
// the grown block reads as zero for calloc, the kept part included.
TEST_F(LargeCacheTest, ABiggerRequestGrowsAKeptMapping) {
  // A fresh 3 MiB block: its room, and its mapping's length (standard's table of live large
  // blocks stays mapped once made, so the base is measured after one block came and went).
  void* fresh = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(fresh, nullptr);
  const std::size_t fresh_usable = allocator_->usable_size(fresh);
  allocator_->deallocate(*cache_, fresh);
  allocator_->release_free_memory();
  const std::size_t base = platform_.mapped();
  fresh = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(fresh, nullptr);
  const std::size_t fresh_mapping = platform_.mapped() - base;
  allocator_->deallocate(*cache_, fresh);
  allocator_->release_free_memory();

  auto* small = static_cast<unsigned char*>(allocator_->allocate(*cache_, kMiB));
  ASSERT_NE(small, nullptr);
  std::memset(small, 0xcd, kMiB);
  allocator_->deallocate(*cache_, small);
  const long maps = platform_.maps();
  const long remaps = platform_.remaps();
  auto* grown = static_cast<unsigned char*>(allocator_->allocate_zeroed(*cache_, 3, kMiB));
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(platform_.maps(), maps) << "grown, not mapped";
  EXPECT_EQ(platform_.remaps(), remaps + 1);
  EXPECT_EQ(allocator_->usable_size(grown), fresh_usable);
  EXPECT_EQ(platform_.mapped() - base, fresh_mapping) << "a fresh block's mapping, no more";
  for (std::size_t i = 0; i < 3 * kMiB; ++i) ASSERT_EQ(grown[i], 0) << "byte " << i;
  allocator_->deallocate(*cache_, grown);
}

// A refused remap() costs the kept mapping, not the request: it is unmapped, and a fresh mapping
// serves the request.
TEST_F(LargeCacheTest, ARefusedGrowthFallsBackToAFreshMapping) {
  void* small = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(small, nullptr);
  const std::size_t with_small = platform_.mapped();
  allocator_->deallocate(*cache_, small);
  platform_.refuse_remap(true);
  const long maps = platform_.maps();
  void* big = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(platform_.maps(), maps + 1);
  EXPECT_GT(platform_.mapped(), with_small + kMiB) << "the small mapping is gone, the big one mapped";
  EXPECT_LT(platform_.mapped(), with_small + 3 * kMiB);
  allocator_->deallocate(*cache_, big);
}

TEST_F(LargeCacheTest, AnAlignedRequestTakesOnlyAnAlignedMapping) {
  constexpr std::size_t kAlignment = 16 * kMiB;
  void* plain = allocator_->allocate(*cache_, 8 * kMiB);
  ASSERT_NE(plain, nullptr);
  allocator_->deallocate(*cache_, plain);
  void* aligned = allocator_->allocate_aligned(*cache_, kMiB, kAlignment);
  ASSERT_NE(aligned, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % kAlignment, 0u);
  allocator_->deallocate(*cache_, aligned);
}

// Eight mappings at most: the ninth freed pushes the oldest out, back to the OS.
TEST_F(LargeCacheTest, KeepsAtMostItsSlotsOldestLeavingFirst) {
  constexpr unsigned kBlocks = LargeBlocks::kCacheSlots + 1;
  void* blocks[kBlocks];
  for (void*& block : blocks) {
    block = allocator_->allocate(*cache_, kMiB);
    ASSERT_NE(block, nullptr);
  }
  const std::size_t all_live = platform_.mapped();
  for (void* block : blocks) allocator_->deallocate(*cache_, block);
  const std::size_t one = all_live - platform_.mapped();
  EXPECT_GT(one, kMiB) << "one mapping left, the oldest";
  EXPECT_LT(one, 2 * kMiB);
  void* newest = allocator_->allocate(*cache_, kMiB);
  EXPECT_NE(newest, blocks[0]) << "the oldest is gone";
  allocator_->deallocate(*cache_, newest);
}

// The byte bound: a mapping bigger than the whole bound is never kept, and kept ones leave,
// oldest first, to make room for a new one.
TEST_F(LargeCacheTest, KeepsNoMoreThanItsBytes) {
  stop();
  start(3 * kMiB);
  const std::size_t before = platform_.mapped();  // the thread cache's mapping
  void* huge = allocator_->allocate(*cache_, 4 * kMiB);
  ASSERT_NE(huge, nullptr);
  allocator_->deallocate(*cache_, huge);
  const std::size_t base = platform_.mapped();  // with standard's table of live large blocks
  EXPECT_LT(base - before, kMiB) << "too big to keep";

  void* a = allocator_->allocate(*cache_, kMiB);  // each mapping: 1 MiB and two pages
  void* b = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::size_t both = platform_.mapped();
  allocator_->deallocate(*cache_, a);
  allocator_->deallocate(*cache_, b);
  EXPECT_EQ(platform_.mapped(), both) << "both fit in 3 MiB";

  void* c = allocator_->allocate(*cache_, 2 * kMiB);  // neither kept mapping holds it
  ASSERT_NE(c, nullptr);
  allocator_->deallocate(*cache_, c);  // a and b leave to make room
  EXPECT_LE(platform_.mapped() - base, 3 * kMiB);
  const long maps = platform_.maps();
  void* again = allocator_->allocate(*cache_, 2 * kMiB);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again, c);
  EXPECT_EQ(platform_.maps(), maps);
  allocator_->deallocate(*cache_, again);
}

TEST_F(LargeCacheTest, ReleaseFreeMemoryGivesKeptMappingsBack) {
  void* block = allocator_->allocate(*cache_, 5 * kMiB);
  ASSERT_NE(block, nullptr);
  const std::size_t live = platform_.mapped();
  const std::size_t mapping = allocator_->usage().large_bytes;
  allocator_->deallocate(*cache_, block);
  EXPECT_EQ(platform_.mapped(), live) << "kept";
  const HeapUsage kept = allocator_->usage();
  EXPECT_EQ(kept.large_bytes, 0u);
  EXPECT_EQ(kept.kept_large_mappings, 1u);
  EXPECT_EQ(kept.kept_large_bytes, mapping) << "the heap reports say what a trim would give back";
  allocator_->release_free_memory();
  EXPECT_LE(platform_.mapped() + 5 * kMiB, live);
  EXPECT_EQ(allocator_->usage().kept_large_mappings, 0u);
  EXPECT_EQ(allocator_->usage().kept_large_bytes, 0u);
}

// The length bound: a mapping longer than kMaxKeptLength goes back at once, however much room
// the cache has, since nothing but later large frees would ever give it back.
TEST_F(LargeCacheTest, AMappingLongerThanTheLengthBoundIsNeverKept) {
  constexpr std::size_t kBound = LargeBlocks::kMaxKeptLength;
  void* near_bound = allocator_->allocate(*cache_, kBound - 64 * 1024);
  ASSERT_NE(near_bound, nullptr);
  allocator_->deallocate(*cache_, near_bound);
  EXPECT_EQ(allocator_->usage().kept_large_mappings, 1u) << "within the bound: kept";
  allocator_->release_free_memory();

  const std::size_t before = platform_.mapped();
  void* beyond = allocator_->allocate(*cache_, kBound);  // its mapping adds the header's page
  ASSERT_NE(beyond, nullptr);
  EXPECT_GE(platform_.mapped(), before + kBound);
  allocator_->deallocate(*cache_, beyond);
  EXPECT_EQ(allocator_->usage().kept_large_mappings, 0u);
  EXPECT_LT(platform_.mapped(), before + kMiB) << "given back to the OS";
}

// Kept mappings count against the memory limit, and are given back before a request that needs
// their bytes is refused.
TEST_F(LargeCacheTest, KeptMappingsGoBackBeforeARequestIsRefused) {
  stop();
  start(64 * kMiB, 12 * kMiB);
  void* first = allocator_->allocate(*cache_, 5 * kMiB);
  ASSERT_NE(first, nullptr);
  allocator_->deallocate(*cache_, first);
  EXPECT_GT(platform_.mapped(), 5 * kMiB) << "kept";
  void* second = allocator_->allocate(*cache_, 8 * kMiB);  // 5 MiB kept + 8 MiB > the limit
  ASSERT_NE(second, nullptr) << "refused for memory the cache held";
  EXPECT_LE(platform_.mapped(), 12 * kMiB);
  allocator_->deallocate(*cache_, second);
}

// Slab memory that grows trades kept mappings for its chunk (MemorySource::map_trading_kept): a
// large block freed long ago does not stay resident beside it.
TEST_F(LargeCacheTest, AChunkForSlabsTradesKeptMappingsFirst) {
  void* large = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(large, nullptr);
  allocator_->deallocate(*cache_, large);
  ASSERT_EQ(allocator_->usage().kept_large_mappings, 1u);

  std::vector<void*> small;
  void* first = allocator_->allocate(*cache_, 8000);
  ASSERT_NE(first, nullptr);
  small.push_back(first);
  const std::size_t one_chunk = allocator_->usage().chunk_bytes;
  EXPECT_EQ(allocator_->usage().kept_large_mappings, 0u) << "the first chunk took the kept mapping's place";

  large = allocator_->allocate(*cache_, 3 * kMiB);
  ASSERT_NE(large, nullptr);
  allocator_->deallocate(*cache_, large);
  ASSERT_EQ(allocator_->usage().kept_large_mappings, 1u);
  while (allocator_->usage().chunk_bytes == one_chunk && small.size() < 4096) {
    void* block = allocator_->allocate(*cache_, 8000);
    ASSERT_NE(block, nullptr);
    small.push_back(block);
    if (allocator_->usage().chunk_bytes == one_chunk) {
      EXPECT_EQ(allocator_->usage().kept_large_mappings, 1u) << "kept while the slabs fit their chunk";
    }
  }
  EXPECT_GT(allocator_->usage().chunk_bytes, one_chunk);
  EXPECT_EQ(allocator_->usage().kept_large_mappings, 0u) << "the second chunk took its place";
  for (void* block : small) allocator_->deallocate(*cache_, block);
}

// Under the memory limit a slab request is not refused for memory the cache holds.
TEST_F(LargeCacheTest, ASmallRequestIsNotRefusedForKeptMappings) {
  stop();
  start(64 * kMiB, 8 * kMiB);
  void* large = allocator_->allocate(*cache_, 5 * kMiB);
  ASSERT_NE(large, nullptr);
  allocator_->deallocate(*cache_, large);
  ASSERT_EQ(allocator_->usage().kept_large_mappings, 1u);
  void* small = allocator_->allocate(*cache_, 100);  // its chunk: 4 MiB, + 5 MiB kept > the limit
  ASSERT_NE(small, nullptr);
  EXPECT_LE(platform_.mapped(), 8 * kMiB);
  allocator_->deallocate(*cache_, small);
}

}  // namespace
}  // namespace nodealloc
