// Unit tests of the allocator's Node (core/pool/slab.h, slab_list.h): the typed slab header keeps
// each field in one word of its own and the seed's slots where the seed puts them; SlabList links
// through words 7 and 8; the allocator's blocks are the ones the Node places and finds; with
// -Dhardening=none the back-pointer codec has no state bit.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "hardening/hardening.h"
#include "heap/allocator.h"
#include "pool/slab.h"
#include "pool/slab_list.h"

namespace nodealloc {
namespace {

// Which words of a header differ from a zeroed one.
std::vector<std::size_t> changed_words(const SlabHeader& header) {
  std::vector<std::size_t> words;
  mark_defined(header.bytes().data(), kSlabHeaderLen);  // the large block word is no-access to memcheck (slab.h)
  for (std::size_t w = 0; w < kSlabHeaderLen / kWordSize; ++w) {
    std::uintptr_t value = 0;
    std::memcpy(&value, header.bytes().data() + w * kWordSize, kWordSize);
    if (value != 0) words.push_back(w);
  }
  return words;
}

template <class Set>
void expect_one_word(Set set, std::size_t word) {
  alignas(128) SlabHeader header;
  set(header);
  EXPECT_EQ(changed_words(header), std::vector<std::size_t>{word});
}

TEST(SlabHeader, EveryFieldIsOneWordOfItsOwnAndTheSeedsSlotsStayPut) {
  std::byte data[16];
  int owner = 0;
  alignas(128) SlabHeader other;
  expect_one_word([&](SlabHeader& h) { h.set_data(data); }, header_slot::kNode / kWordSize);
  expect_one_word([](SlabHeader& h) { h.set_class_index(5); }, 1);
  expect_one_word([&](SlabHeader& h) { h.set_local_free(data); }, 2);
  expect_one_word([&](SlabHeader& h) { h.remote_free().store(1); }, 3);
  expect_one_word([&](SlabHeader& h) { h.set_owner(&owner); }, 4);
  expect_one_word([](SlabHeader& h) { h.set_used(3); }, 5);
  expect_one_word([](SlabHeader& h) { h.set_carved(4); }, 6);
  expect_one_word([&](SlabHeader& h) { h.link(&other); }, header_slot::kFreeLink / kWordSize);
  expect_one_word([&](SlabHeader& h) { h.set_prev(&other); }, 8);
  expect_one_word([&](SlabHeader& h) { h.notify_next().store(1); }, 9);
  expect_one_word([](SlabHeader& h) { h.set_length(65536); }, 10);
  expect_one_word([](SlabHeader& h) { h.set_listed(true); }, 11);
  expect_one_word([&](SlabHeader& h) { h.set_large_block(data); }, 12);
  static_assert(SlabHeader::kNodePosition == header_slot::kNode);
}

TEST(SlabHeader, FieldsReadBackWhatWasWritten) {
  alignas(128) SlabHeader header;
  std::byte data[16];
  int owner = 0;
  header.set_data(data);
  header.set_class_index(kLargeClass);
  header.set_owner(&owner);
  header.set_used(7);
  header.set_carved(9);
  header.set_length(4096);
  header.set_listed(true);
  EXPECT_EQ(header.data(), data);
  EXPECT_TRUE(header.in_use());
  EXPECT_TRUE(header.is_large());
  EXPECT_EQ(header.owner(), &owner);
  EXPECT_EQ(header.used(), 7u);
  EXPECT_EQ(header.carved(), 9u);
  EXPECT_EQ(header.length(), 4096u);
  EXPECT_TRUE(header.listed());
}

TEST(SlabList, PushAndRemoveKeepBothLinksAndTheListedField) {
  alignas(128) std::array<SlabHeader, 3> headers;
  SlabList list;
  for (SlabHeader& h : headers) list.push_front(&h);  // 2, 1, 0
  EXPECT_EQ(list.front(), &headers[2]);
  EXPECT_EQ(headers[2].next(), &headers[1]);
  EXPECT_EQ(headers[1].prev(), &headers[2]);
  list.remove(&headers[1]);
  EXPECT_EQ(headers[2].next(), &headers[0]);
  EXPECT_EQ(headers[0].prev(), &headers[2]);
  EXPECT_FALSE(headers[1].listed());
  EXPECT_EQ(headers[1].next(), nullptr);
  EXPECT_EQ(headers[1].prev(), nullptr);
  std::vector<SlabHeader*> order;
  list.for_each([&](SlabHeader& h) {
    order.push_back(&h);
    list.remove(&h);  // removing the visited header is allowed
  });
  EXPECT_EQ(order, (std::vector<SlabHeader*>{&headers[2], &headers[0]}));
  EXPECT_TRUE(list.empty());
}

// The blocks malloc hands out are where the Node places them, and the Node's lookup finds their
// slab: the same code on both sides, for every class.
TEST(SlabNode, TheAllocatorsBlocksAreTheNodesBuffers) {
  Allocator allocator;
  ThreadCache* cache = allocator.claim_cache();
  ASSERT_NE(cache, nullptr);
  for (unsigned c = 0; c < kClassCount; ++c) {
    const SizeClass& size = size_class(c);
    if (size.usable < canary::kTrailerBytes) continue;  // full preset: no room for a request
    void* block = allocator.allocate(*cache, size.usable - canary::kTrailerBytes);  // the largest request of the class
    ASSERT_NE(block, nullptr);
    const SlabNode::Lookup found = SlabNode::lookup(SlabHeader::kNodePosition, block);
    ASSERT_NE(found.header, nullptr);
    EXPECT_EQ(found.header->class_index(), c);
    EXPECT_EQ(found.node, found.header->data());
    const SlabNode node = slab_node(*found.header, size);
    const auto offset = static_cast<std::size_t>(static_cast<std::byte*>(block) - node.data());
    EXPECT_EQ(offset % size.stride, kWordSize) << "class " << c;
    EXPECT_LT(offset / size.stride, size.capacity);
    EXPECT_EQ(block_address(reinterpret_cast<std::uintptr_t>(node.data()) + offset / size.stride * size.stride,
                            size.stride, kMinAlignment, size.usable),
              reinterpret_cast<std::uintptr_t>(block));
    EXPECT_EQ(Allocator::lookup(block).header, found.header);
    allocator.deallocate(*cache, block);
  }
  allocator.release_cache(cache);
}

TEST(SlabNode, TheBackPointerCodecHasAStateBitOnlyWhenAMitigationReadsIt) {
  const bool needed = enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kFreeListCheck);
  EXPECT_EQ(SlabNode::Word::kStateMask != 0, needed);
  const std::uintptr_t header = 0x7f0000001000;
  EXPECT_EQ(SlabNode::Word::decode(SlabNode::Word::encode(header, 1)), header);
  EXPECT_EQ(SlabNode::Word::state(SlabNode::Word::encode(header, 1)), needed ? 1u : 0u);
}

// The live bit: a fresh block is live, a freed one is not (hardened builds only).
TEST(SlabNode, TheLiveBitFollowsTheBlock) {
  if (!enabled(Mitigation::kDoubleFree)) GTEST_SKIP() << "built with -Dhardening=none";
  Allocator allocator;
  ThreadCache* cache = allocator.claim_cache();
  void* block = allocator.allocate(*cache, 40);
  void* neighbour = allocator.allocate(*cache, 40);
  EXPECT_TRUE(Hardening::is_live(block));
  allocator.deallocate(*cache, block);
  EXPECT_FALSE(Hardening::is_live(block));
  EXPECT_EQ(SlabNode::header_of(block), SlabNode::header_of(neighbour));  // the codec strips it
  allocator.deallocate(*cache, neighbour);
  allocator.release_cache(cache);
}

}  // namespace
}  // namespace nodealloc
