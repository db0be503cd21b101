// Unit tests of the pool's page policy (core/pool/pool.h): where a new slab goes among a chunk's
// free pages. The pool is driven directly, over a platform that counts what is mapped.
#include <gtest/gtest.h>

#include <cstdint>

#include "pool/memory_source.h"
#include "pool/pool.h"
#include "size_class/size_classes.h"
#include "support/failing_platform.h"

namespace nodealloc {
namespace {

// A slab goes on dirty pages (freed, still resident) before clean ones (discarded, or never
// touched), even where the clean ones come first in the chunk: reusing resident pages costs no
// page faults and no more resident memory.
TEST(Pool, ANewSlabTakesDirtyPagesBeforeCleanOnes) {
  testing::FailingPlatform platform;
  MemorySource source(platform, SIZE_MAX);
  Pool pool(source);
  const unsigned one_page_class = 0;
  ASSERT_EQ(size_class(one_page_class).slab_pages, 1u);
  SlabHeader* low = pool.acquire_slab(one_page_class);
  SlabHeader* high = pool.acquire_slab(one_page_class);
  ASSERT_NE(low, nullptr);
  ASSERT_NE(high, nullptr);
  std::byte* const low_data = low->data();
  std::byte* const high_data = high->data();
  ASSERT_LT(low_data, high_data);
  pool.release_slab(low);
  pool.release_free_memory();  // low's page is discarded: clean
  pool.release_slab(high);     // high's stays dirty
  ASSERT_EQ(pool.dirty_bytes(), kSlabPageSize);

  SlabHeader* again = pool.acquire_slab(one_page_class);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->data(), high_data) << "the dirty page, not the first free one";
  EXPECT_EQ(pool.dirty_bytes(), 0u);
  pool.release_slab(again);
}

}  // namespace
}  // namespace nodealloc
