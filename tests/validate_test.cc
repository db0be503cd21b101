// Unit tests of Allocator::validate() (core/heap/validate.cc) against the corruptions it is there
// to find. validate() is the oracle of the fuzz targets' heap checks and of these tests' teardown:
// an oracle that never says no proves nothing, so each test breaks one invariant of the metadata
// by hand, expects validate() to name it, puts the word back and expects the heap valid again
// (the fixture's teardown checks once more after every cache is released).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <functional>
#include <string>

#include "base/mitigations.h"
#include "hardening/free_link.h"
#include "heap/allocator.h"
#include "node/block.h"
#include "pool/chunk.h"
#include "pool/chunk_registry.h"
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

  // The fixture's block's class, and the free list of that class in the test's cache (a list
  // the test may rewrite: the cache is the fixture's own, a non-const object).
  unsigned block_class() const { return header_->class_index(); }
  FreeList& cache_list(unsigned c) { return const_cast<FreeList&>(cache().list(c)); }

  // The lowest free page of the block's chunk (a chunk with one small slab has many).
  unsigned free_page() const {
    const std::uint64_t free_pages = chunk_->free_pages;
    EXPECT_NE(free_pages, 0u);
    return static_cast<unsigned>(std::countr_zero(free_pages));
  }

  // Releases the test's cache and claims it again: the block's slab, no longer current, is then
  // on the cache's partial list (it has a live block and free ones).
  void make_block_slab_partial() {
    ThreadCache* const released = &cache();
    allocator_->release_cache(released);
    ASSERT_EQ(allocator_->claim_cache(), released) << "the dormant cache is claimed again";
    ASSERT_EQ(cache().current_slab(block_class()), nullptr);
    ASSERT_EQ(cache().partial_slabs(block_class()), header_);
  }

  void* block_ = nullptr;
  SlabHeader* header_ = nullptr;
  ChunkHeader* chunk_ = nullptr;
};

TEST_F(ValidateTest, AChunkWithoutItsMagic) {
  const std::uint64_t magic = chunk_->magic;
  expect_caught([&] { chunk_->magic = magic ^ 1; }, [&] { chunk_->magic = magic; }, "bad magic");
}

TEST_F(ValidateTest, AChunkThatNamesAnotherPool) {
  const Pool* const pool = chunk_->pool;
  expect_caught([&] { chunk_->pool = reinterpret_cast<const Pool*>(chunk_); }, [&] { chunk_->pool = pool; },
                "names another pool");
}

TEST_F(ValidateTest, AChunkTheRegistryDoesNotHold) {
  expect_caught([&] { chunk_registry::remove(chunk_); }, [&] { ASSERT_TRUE(chunk_registry::add(chunk_)); },
                "not registered, or names another pool");
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

// The chunk walk: its page bitmaps and its page table.

TEST_F(ValidateTest, AChunkWithADirtyPageThatIsNotFree) {
  const std::uint64_t dirty_pages = chunk_->dirty_pages;
  const std::uint64_t slab_page = std::uint64_t{1} << page_index(block_);
  expect_caught([&] { chunk_->dirty_pages = dirty_pages | slab_page; }, [&] { chunk_->dirty_pages = dirty_pages; },
                "a dirty page not free");
}

TEST_F(ValidateTest, ASlabWhoseNodeIsNotItsPage) {
  std::byte* const data = header_->data();
  expect_caught([&] { header_->set_data(data + kSlabPageSize); }, [&] { header_->set_data(data); },
                "bad node or class");
}

TEST_F(ValidateTest, ASlabSharingAPageWithTheFreePages) {
  const std::uint64_t free_pages = chunk_->free_pages;
  const std::uint64_t slab_page = std::uint64_t{1} << page_index(block_);
  expect_caught([&] { chunk_->free_pages = free_pages | slab_page; }, [&] { chunk_->free_pages = free_pages; },
                "pages shared with a free page");
}

TEST_F(ValidateTest, ASlabPageThePageTableGivesToAnotherSlab) {
  const unsigned page = page_index(block_);
  expect_caught([&] { chunk_->slab_start[page].store(static_cast<std::uint8_t>(page + 1)); },
                [&] { chunk_->slab_start[page].store(static_cast<std::uint8_t>(page)); },
                "is not recorded as its page");
}

TEST_F(ValidateTest, AFreePageThePageTableNamesASlabFor) {
  const unsigned page = free_page();
  const unsigned named = page_index(block_);
  expect_caught([&] { chunk_->slab_start[page].store(static_cast<std::uint8_t>(named)); },
                [&] { chunk_->slab_start[page].store(0); }, "holds no slab but its page table names one");
}

TEST_F(ValidateTest, ASlabCarvedBeyondItsCapacity) {
  const std::size_t carved = header_->carved();
  const std::size_t capacity = size_class(block_class()).capacity;
  expect_caught([&] { header_->set_carved(capacity + 1); }, [&] { header_->set_carved(carved); },
                "capacity");
}

TEST_F(ValidateTest, ARemoteListHeadOffABufferBoundary) {
  void* const inside = static_cast<std::byte*>(block_) + 16;
  expect_caught(
      [&] {
        header_->remote_free().store(reinterpret_cast<std::uintptr_t>(inside));
        header_->remote_count().fetch_add(1);
      },
      [&] {
        header_->remote_free().store(0);
        header_->remote_count().fetch_sub(1);
      },
      "remote free list: block");
}

// A thread cache's lists: every block a free block of the list's class, and as many as its count.

TEST_F(ValidateTest, ACacheListLongerThanItsCount) {
  FreeList& list = cache_list(block_class());
  ASSERT_GE(list.count, 2u) << "a refill leaves the rest of its batch on the list";
  expect_caught([&] { list.count -= 2; }, [&] { list.count += 2; }, "list longer than");
}

TEST_F(ValidateTest, ACacheListShorterThanItsCount) {
  FreeList& list = cache_list(block_class());
  expect_caught([&] { ++list.count; }, [&] { --list.count; }, "count says");
}

TEST_F(ValidateTest, ACacheListHeadOutsideEveryChunk) {
  FreeList& list = cache_list(block_class());
  void* const head = list.head;
  alignas(16) static unsigned char elsewhere[64];
  expect_caught([&] { list.head = elsewhere + 16; }, [&] { list.head = head; }, "is not in any chunk");
}

// A block of another allocator instance lies in a mapped, registered chunk, with a slab header
// and a back-pointer that agree: only the chunk's pool says it is not this heap's.
TEST_F(ValidateTest, ACacheListHeadInAnotherHeapsChunk) {
  testing::FailingPlatform other_platform;
  Allocator other(AllocatorOptions{&other_platform});
  ThreadCache* const other_cache = other.claim_cache();
  void* const foreign = other.allocate(*other_cache, 100);
  ASSERT_NE(foreign, nullptr);
  FreeList& list = cache_list(block_class());
  void* const head = list.head;
  expect_caught([&] { list.head = foreign; }, [&] { list.head = head; }, "not in any chunk of this heap");
  other.deallocate(*other_cache, foreign);
  other.release_cache(other_cache);
  EXPECT_TRUE(other.validate().ok);
}

TEST_F(ValidateTest, ACacheListHeadInAFreePage) {
  FreeList& list = cache_list(block_class());
  void* const head = list.head;
  std::byte* const in_free_page = page_address(chunk_, free_page()) + 64;
  expect_caught([&] { list.head = in_free_page; }, [&] { list.head = head; }, "is in no slab");
}

TEST_F(ValidateTest, ACacheListBlockWhoseBackPointerNamesAnotherHeader) {
  void* const head = cache_list(block_class()).head;
  ASSERT_NE(head, nullptr);
  const std::uintptr_t word = load_back_pointer_word(head);
  // Headers are 128-byte aligned: the word with bit 7 flipped names the header beside it.
  expect_caught([&] { store_back_pointer_word(head, word ^ 128); }, [&] { store_back_pointer_word(head, word); },
                "does not name its slab's header");
}

TEST_F(ValidateTest, ACacheListHoldingABlockOfAnotherClass) {
  const unsigned c = block_class();
  const unsigned other = c + 1;
  ASSERT_LT(other, kClassCount);
  FreeList& list = cache_list(other);
  ASSERT_EQ(list.head, nullptr) << "nothing of the next class was allocated";
  void* const stranger = cache_list(c).head;
  ASSERT_NE(stranger, nullptr);
  expect_caught(
      [&] {
        list.head = stranger;
        list.count = 1;
      },
      [&] {
        list.head = nullptr;
        list.count = 0;
      },
      "where class");
}

// A thread cache's slabs: its partial list and its current slab.

TEST_F(ValidateTest, APartialSlabOfAnotherOwner) {
  ASSERT_NO_FATAL_FAILURE(make_block_slab_partial());
  ThreadCache* const other = &cache(1);
  expect_caught([&] { header_->set_owner(other); }, [&] { header_->set_owner(&cache()); },
                "wrong class, owner, flag or back link");
}

TEST_F(ValidateTest, APartialSlabNotFlaggedListed) {
  ASSERT_NO_FATAL_FAILURE(make_block_slab_partial());
  expect_caught([&] { header_->set_listed(false); }, [&] { header_->set_listed(true); },
                "wrong class, owner, flag or back link");
}

TEST_F(ValidateTest, APartialSlabWithABadBackLink) {
  ASSERT_NO_FATAL_FAILURE(make_block_slab_partial());
  ASSERT_EQ(header_->prev(), nullptr) << "the only slab on the list";
  expect_caught([&] { header_->set_prev(header_); }, [&] { header_->set_prev(nullptr); },
                "wrong class, owner, flag or back link");
}

// A partial list that loops back to its own first slab: the walk must stop and say so, not spin.
TEST_F(ValidateTest, APartialListThatLoopsBackToItsFirstSlab) {
  ASSERT_NO_FATAL_FAILURE(make_block_slab_partial());
  ASSERT_EQ(header_->next(), nullptr) << "the only slab on the list";
  expect_caught([&] { header_->write_ptr(header_slot::kFreeLink, header_); },
                [&] { header_->write_ptr(header_slot::kFreeLink, static_cast<SlabHeader*>(nullptr)); },
                "wrong class, owner, flag or back link");
}

TEST_F(ValidateTest, APartialSlabWithNoFreeBuffer) {
  ASSERT_NO_FATAL_FAILURE(make_block_slab_partial());
  const std::size_t carved = header_->carved();
  const std::size_t used = header_->used();
  void* const local = header_->local_free();
  const std::size_t capacity = size_class(block_class()).capacity;
  // Consistent for the chunk walk (all carved, all out, nothing on the local list), wrong for a
  // slab that is on the partial list.
  expect_caught(
      [&] {
        header_->set_carved(capacity);
        header_->set_used(capacity);
        header_->set_local_free(nullptr);
      },
      [&] {
        header_->set_local_free(local);
        header_->set_used(used);
        header_->set_carved(carved);
      },
      "has no free buffer");
}

TEST_F(ValidateTest, ACurrentSlabOfAnotherOwner) {
  ASSERT_EQ(cache().current_slab(block_class()), header_);
  ThreadCache* const other = &cache(1);
  expect_caught([&] { header_->set_owner(other); }, [&] { header_->set_owner(&cache()); },
                "current slab of class");
}

// Large blocks, the quarantine, and which failure is reported.

TEST_F(ValidateTest, ALargeBlockWhoseBackPointerNamesAnotherHeader) {
  void* large = allocator_->allocate(cache(), std::size_t{1} << 20);
  ASSERT_NE(large, nullptr);
  const std::uintptr_t word = load_back_pointer_word(large);
  expect_caught([&] { store_back_pointer_word(large, word ^ 128); }, [&] { store_back_pointer_word(large, word); },
                "bad class or back-pointer");
  allocator_->deallocate(cache(), large);
}

TEST_F(ValidateTest, TheFirstFailureFoundIsTheOneReported) {
  void* large = allocator_->allocate(cache(), std::size_t{1} << 20);
  ASSERT_NE(large, nullptr);
  SlabHeader* const large_header = Allocator::lookup(large).header;
  const std::uint64_t magic = chunk_->magic;
  expect_caught(
      [&] {
        chunk_->magic = magic ^ 1;  // the chunks are walked before the large blocks
        large_header->set_class_index(0);
      },
      [&] {
        large_header->set_class_index(kLargeClass);
        chunk_->magic = magic;
      },
      "bad magic");
  allocator_->deallocate(cache(), large);
}

TEST_F(ValidateTest, AQuarantinedBlockMarkedLive) {
  if (!enabled(Mitigation::kQuarantine)) GTEST_SKIP() << "no quarantine (full preset only)";
  void* resident = allocator_->allocate(cache(), 100);
  ASSERT_NE(resident, nullptr);
  allocator_->deallocate(cache(), resident);
  ASSERT_EQ(cache().quarantine().count(), 1u) << "a freed block waits in the quarantine";
  const std::uintptr_t word = load_back_pointer_word(resident);
  ASSERT_EQ(word & 1, 0u) << "not live while it waits";
  expect_caught([&] { store_back_pointer_word(resident, word | 1); },
                [&] { store_back_pointer_word(resident, word); }, "quarantine: block");
}

}  // namespace
}  // namespace nodealloc
