// realloc of a live large block past its room (core/large/large_blocks.h, "Growth in place"):
// where the preset grows live blocks, the block's own mapping grows (remap) and nothing is mapped
// or copied; elsewhere, and when the remap is refused, a fresh block takes a copy. Either way the
// block holds what it held and is exactly a fresh block of the new size (room, mapping, counts),
// which the shared model's large_layout predicts. A platform that counts map() and remap() calls
// tells the two apart; the mapping cache is off, so no kept mapping takes part.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "heap/allocator.h"
#include "large/large_blocks.h"
#include "support/allocator_model.h"
#include "support/failing_platform.h"

namespace nodealloc {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

class LargeGrowthTest : public ::testing::Test {
 protected:
  void TearDown() override { stop(); }

  void start(std::size_t memory_limit = SIZE_MAX) {
    AllocatorOptions options{&platform_, memory_limit};
    options.large_cache_bytes = 0;
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
  }

  static void fill(void* block, std::size_t size) {
    auto* bytes = static_cast<unsigned char*>(block);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 3);
  }
  static bool holds_fill(const void* block, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(block);
    for (std::size_t i = 0; i < size; ++i) {
      if (bytes[i] != static_cast<unsigned char>(i * 7 + 3)) return false;
    }
    return true;
  }

  // The grown block is a fresh one of `size`: its room and its mapping, the only large block.
  void expect_fresh(void* block, std::size_t size) {
    const std::optional<testing::LargeLayout> layout = testing::large_layout(size, kMinAlignment, SIZE_MAX);
    ASSERT_TRUE(layout.has_value());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % kMinAlignment, 0u);
    EXPECT_EQ(allocator_->usable_size(block), canary::kOn ? size : layout->room);
    const HeapUsage usage = allocator_->usage();
    EXPECT_EQ(usage.large_blocks, 1u);
    EXPECT_EQ(usage.large_bytes, layout->mapping);
    const Statistics stats = allocator_->statistics();
    EXPECT_EQ(stats.live_large_blocks, 1u);
    EXPECT_EQ(stats.bytes_mapped, platform_.mapped());
    EXPECT_EQ(Allocator::lookup(block).class_index, kNoClass);
  }

  testing::FailingPlatform platform_;
  Allocator* allocator_ = nullptr;
  ThreadCache* cache_ = nullptr;
};

TEST_F(LargeGrowthTest, AGrownBlockKeepsItsBytesAndIsAFreshBlockOfTheNewSize) {
  start();
  // Each step outgrows the room by a little, as a string builder does.
  std::size_t size = kMiB;
  void* block = allocator_->allocate(*cache_, size);
  ASSERT_NE(block, nullptr);
  fill(block, size);
  for (int step = 0; step < 4; ++step) {
    // Past the room (which, with kCanaries, usable_size does not tell).
    const std::size_t bigger = testing::large_layout(size, kMinAlignment, SIZE_MAX)->room + 1 + step * 3 * kMiB;
    const long maps = platform_.maps();
    const long remaps = platform_.remaps();
    void* grown = allocator_->reallocate(*cache_, block, bigger);
    ASSERT_NE(grown, nullptr);
    EXPECT_TRUE(holds_fill(grown, size)) << "step " << step;
    if constexpr (kGrowsLiveLargeBlocks) {
      EXPECT_EQ(platform_.maps(), maps) << "grown, not mapped";
      EXPECT_EQ(platform_.remaps(), remaps + 1);
      // Never two mappings at once, and the peak follows the growth.
      const HeapUsage usage = allocator_->usage();
      EXPECT_EQ(usage.peak_large_blocks, 1u);
      EXPECT_EQ(usage.peak_large_bytes, usage.large_bytes);
    } else {
      EXPECT_EQ(platform_.maps(), maps + 1) << "copied into a fresh mapping";
      EXPECT_EQ(platform_.remaps(), remaps);
      EXPECT_NE(grown, block);
    }
    expect_fresh(grown, bigger);
    fill(grown, bigger);
    block = grown;
    size = bigger;
  }
  allocator_->deallocate(*cache_, block);
  EXPECT_EQ(allocator_->usage().large_blocks, 0u);
}

TEST_F(LargeGrowthTest, ARefusedRemapCopiesIntoAFreshBlock) {
  start();
  void* block = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(block, nullptr);
  fill(block, kMiB);
  platform_.refuse_remap(true);
  const long maps = platform_.maps();
  void* moved = allocator_->reallocate(*cache_, block, 3 * kMiB);
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved, block);
  EXPECT_EQ(platform_.maps(), maps + 1);
  EXPECT_TRUE(holds_fill(moved, kMiB));
  expect_fresh(moved, 3 * kMiB);
  allocator_->deallocate(*cache_, moved);
}

// A block aligned beyond malloc's sits deeper in its mapping than a fresh one would: it is copied.
TEST_F(LargeGrowthTest, ABlockAlignedBeyondMallocsIsCopied) {
  start();
  void* block = allocator_->allocate_aligned(*cache_, kMiB, 4096);
  ASSERT_NE(block, nullptr);
  fill(block, kMiB);
  const long maps = platform_.maps();
  const long remaps = platform_.remaps();
  void* moved = allocator_->reallocate(*cache_, block, 3 * kMiB);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(platform_.maps(), maps + 1);
  EXPECT_EQ(platform_.remaps(), remaps);
  EXPECT_TRUE(holds_fill(moved, kMiB));
  allocator_->deallocate(*cache_, moved);
}

// The memory limit counts the bytes a growth adds, and only those: a limit that leaves room for
// them but not for a second mapping lets the block grow, one page less refuses it, and the block
// stays as it was.
TEST_F(LargeGrowthTest, TheMemoryLimitCountsTheAddedBytes) {
  const std::size_t small = testing::large_layout(kMiB, kMinAlignment, SIZE_MAX)->mapping;
  const std::size_t big = testing::large_layout(3 * kMiB, kMinAlignment, SIZE_MAX)->mapping;
  // What the allocator maps besides the block (its thread cache; standard's table of live large
  // blocks), measured with the block live.
  start();
  void* probe = allocator_->allocate(*cache_, kMiB);
  ASSERT_NE(probe, nullptr);
  const std::size_t with_block = platform_.mapped();
  allocator_->deallocate(*cache_, probe);
  stop();

  for (const std::size_t short_by : {std::size_t{0}, page_size()}) {
    start(with_block + (big - small) - short_by);
    void* block = allocator_->allocate(*cache_, kMiB);
    ASSERT_NE(block, nullptr);
    fill(block, kMiB);
    void* grown = allocator_->reallocate(*cache_, block, 3 * kMiB);
    if (kGrowsLiveLargeBlocks && short_by == 0) {
      ASSERT_NE(grown, nullptr);
      EXPECT_TRUE(holds_fill(grown, kMiB));
      EXPECT_EQ(platform_.mapped(), with_block + (big - small));
      block = grown;
    } else {
      EXPECT_EQ(grown, nullptr) << "no room for a second mapping, short by " << short_by;
      EXPECT_TRUE(holds_fill(block, kMiB));
      EXPECT_EQ(platform_.mapped(), with_block);
    }
    EXPECT_LE(platform_.mapped(), allocator_->memory_limit());
    allocator_->deallocate(*cache_, block);
    stop();
  }
}

}  // namespace
}  // namespace nodealloc
