// Unit tests of Allocator::validate() (core/heap/validate.cc) against the corruptions it is there
// to find. validate() is the oracle of the fuzz targets' heap checks and of these tests' teardown:
// an oracle that never says no proves nothing, so each test breaks one invariant of the metadata
// by hand, expects validate() to name it, puts the word back and expects the heap valid again
// (the fixture's teardown checks once more after every cache is released).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/mitigations.h"
#include "hardening/free_link.h"
#include "heap/allocator.h"
#include "pool/chunk.h"
#include "pool/slab.h"
#include "support/allocator_fixture.h"

namespace nodealloc {
namespace {

class ValidateTest : public testing::AllocatorFixture {
 protected:
  // A live block of a small class, and its slab's header and chunk.
  void SetUp() override {
    block_ = allocator_->allocate(cache(), 100);
    ASSERT_NE(block_, nullptr);
    header_ = Allocator::lookup(block_).header;
    ASSERT_NE(header_, nullptr);
    chunk_ = chunk_of(block_);
    expect_valid();
  }
  void TearDown() override {
    allocator_->deallocate(cache(), block_);
    AllocatorFixture::TearDown();
  }

  // validate() fails while `corrupt` holds, with a message that contains `expected`, and
  // succeeds again once `restore` has undone it.
  void expect_caught(const std::function<void()>& corrupt, const std::function<void()>& restore,
                     const std::string& expected) {
    corrupt();
    const ValidationResult broken = allocator_->validate();
    restore();
    EXPECT_FALSE(broken.ok);
    EXPECT_NE(std::string(broken.message).find(expected), std::string::npos) << broken.message;
    expect_valid();
  }

  void* block_ = nullptr;
  SlabHeader* header_ = nullptr;
  ChunkHeader* chunk_ = nullptr;
};

TEST_F(ValidateTest, AChunkWithoutItsMagic) {
  const std::uint64_t magic = chunk_->magic;
  expect_caught([&] { chunk_->magic = magic ^ 1; }, [&] { chunk_->magic = magic; }, "bad magic");
}

TEST_F(ValidateTest, AChunkWhosePageZeroIsFree) {
  const std::uint64_t free_pages = chunk_->free_pages;
  expect_caught([&] { chunk_->free_pages = free_pages | 1; }, [&] { chunk_->free_pages = free_pages; },
                "page 0 free");
}

TEST_F(ValidateTest, AChunkPageNeitherFreeNorInASlab) {
  const std::uint64_t free_pages = chunk_->free_pages;
  ASSERT_NE(free_pages, 0u) << "a chunk with one small slab has free pages";
  const std::uint64_t lowest_free = free_pages & ~(free_pages - 1);
  const std::uint64_t dirty_pages = chunk_->dirty_pages;
  expect_caught(
      [&] {
        chunk_->free_pages = free_pages & ~lowest_free;
        chunk_->dirty_pages = dirty_pages & ~lowest_free;
      },
      [&] {
        chunk_->free_pages = free_pages;
        chunk_->dirty_pages = dirty_pages;
      },
      "neither free nor in a slab");
}

TEST_F(ValidateTest, ASlabOfAClassThatDoesNotExist) {
  const unsigned c = header_->class_index();
  expect_caught([&] { header_->set_class_index(kClassCount); }, [&] { header_->set_class_index(c); },
                "bad node or class");
}

TEST_F(ValidateTest, ASlabOfTheWrongLength) {
  const std::size_t length = header_->length();
  expect_caught([&] { header_->set_length(length + kSlabPageSize); }, [&] { header_->set_length(length); },
                "length, or pages shared");
}

TEST_F(ValidateTest, ASlabWithMoreBlocksUsedThanCarved) {
  const std::size_t used = header_->used();
  expect_caught([&] { header_->set_used(header_->carved() + 1); }, [&] { header_->set_used(used); },
                "used");
}

TEST_F(ValidateTest, ASlabWhoseLocalListDisagreesWithItsCounts) {
  const std::size_t used = header_->used();
  ASSERT_GT(used, 0u);
  expect_caught([&] { header_->set_used(used - 1); }, [&] { header_->set_used(used); },
                "blocks on its local list");
}

TEST_F(ValidateTest, ASlabWithoutAnOwner) {
  void* const owner = header_->owner();
  expect_caught([&] { header_->set_owner(nullptr); }, [&] { header_->set_owner(owner); }, "no owner");
}

TEST_F(ValidateTest, ASlabWhoseRemoteCountDisagreesWithItsRemoteList) {
  expect_caught([&] { header_->remote_count().fetch_add(1); }, [&] { header_->remote_count().fetch_sub(1); },
                "its remote count says");
}

TEST_F(ValidateTest, AFreeListHeadOffABufferBoundary) {
  void* const head = header_->local_free();
  void* const inside = static_cast<std::byte*>(block_) + 16;
  expect_caught([&] { header_->set_local_free(inside); }, [&] { header_->set_local_free(head); },
                "not on a buffer boundary");
}

TEST_F(ValidateTest, AFreeListHeadInTheUncarvedPart) {
  const std::size_t carved = header_->carved();
  if (carved == size_class(header_->class_index()).capacity) GTEST_SKIP() << "the slab is carved whole";
  const std::size_t index = slab_position(*header_, block_).index;
  void* const head = header_->local_free();
  void* const uncarved = static_cast<std::byte*>(block_) + (carved - index) * size_class(header_->class_index()).stride;
  expect_caught([&] { header_->set_local_free(uncarved); }, [&] { header_->set_local_free(head); },
                "uncarved part");
}

TEST_F(ValidateTest, ALiveBlockOnAFreeList) {
  if (!enabled(Mitigation::kDoubleFree)) GTEST_SKIP() << "no live mark to tell it by";
  void* const head = header_->local_free();
  void* const next = free_link::load(block_);  // the live block's first word, as a link
  expect_caught(
      [&] {
        free_link::store(block_, nullptr);
        header_->set_local_free(block_);
      },
      [&] {
        header_->set_local_free(head);
        free_link::store(block_, next);
      },
      "free there but marked live");
}

TEST_F(ValidateTest, ALargeBlockWithASlabsClass) {
  void* large = allocator_->allocate(cache(), std::size_t{1} << 20);
  ASSERT_NE(large, nullptr);
  SlabHeader* const header = Allocator::lookup(large).header;
  ASSERT_NE(header, nullptr);
  const unsigned c = header->class_index();
  expect_caught([&] { header->set_class_index(0); }, [&] { header->set_class_index(c); },
                "bad class or back-pointer");
  allocator_->deallocate(cache(), large);
}

}  // namespace
}  // namespace nodealloc
