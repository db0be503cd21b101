// Unit tests of the Node (core/node/): every operation, over several header, data and buffer
// lengths, with Nodes placed so that the data area's address reaches every alignment case.
#include "node/node.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/arena.h"

namespace nodealloc {
namespace {

using testing::Arena;
using testing::kArenaAlign;
using testing::place_node;
using testing::reference_block_address;

constexpr std::size_t kMaxSize = std::numeric_limits<std::size_t>::max();

template <class NodeType>
class NodeTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kHeaderLen = NodeType::kHeaderLen;
  static constexpr std::size_t kDataLen = NodeType::kDataLen;

  NodeType* node_at(std::size_t residue) { return place_node<NodeType>(arena_, residue); }

  // A copy of every byte of a node, to show what an operation changed.
  static std::vector<std::byte> snapshot(const NodeType& node) {
    std::vector<std::byte> bytes(node.header().bytes().begin(), node.header().bytes().end());
    bytes.insert(bytes.end(), node.data(), node.data() + kDataLen);
    return bytes;
  }

  static std::uintptr_t word_at(const std::byte* p) {
    std::uintptr_t value;
    std::memcpy(&value, p, sizeof value);
    return value;
  }

  Arena arena_{2 * kArenaAlign + 3 * 8192 + sizeof(NodeType)};
};

using NodeTypes = ::testing::Types<Node<64, 16, 16>, Node<64, 4096, 4096>, Node<128, 4096, 512>,
                                   Node<128, 256, 64>, Node<72, 64, 32>>;
TYPED_TEST_SUITE(NodeTest, NodeTypes);

TYPED_TEST(NodeTest, HeaderWordRoundTripsAtEveryBytePosition) {
  TypeParam* node = this->node_at(0);
  for (std::size_t position = 0; position + kWordSize <= TestFixture::kHeaderLen; ++position) {
    const auto value = static_cast<std::uintptr_t>(0x0123456789abcdefULL ^ (position * 0x1111));
    const std::vector<std::byte> before = TestFixture::snapshot(*node);
    const auto* pointer = reinterpret_cast<const int*>(value);
    EXPECT_EQ(node->write_header_ptr(position, pointer), position + kWordSize);

    const HeaderRead<const int*> read = node->template read_header_ptr<const int>(position);
    EXPECT_EQ(read.next_position, position + kWordSize);
    EXPECT_EQ(read.value, pointer);
    // Only the word's own bytes changed.
    const std::vector<std::byte> after = TestFixture::snapshot(*node);
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (i >= position && i < position + kWordSize) continue;
      ASSERT_EQ(after[i], before[i]) << "byte " << i << " changed by a write at " << position;
    }
  }
}

TYPED_TEST(NodeTest, ZeroSlotReadsAsNull) {
  TypeParam* node = this->node_at(0);
  EXPECT_EQ(node->template read_header_ptr<int>(header_slot::kNode).value, nullptr);
  node->header().write_word(3, 0);
  EXPECT_EQ(node->template read_header_ptr<int>(3).value, nullptr);
}

TYPED_TEST(NodeTest, WordFitsExactlyInsideTheHeader) {
  using Header = typename TypeParam::Header;
  EXPECT_TRUE(Header::word_fits(0));
  EXPECT_TRUE(Header::word_fits(TestFixture::kHeaderLen - kWordSize));
  EXPECT_FALSE(Header::word_fits(TestFixture::kHeaderLen - kWordSize + 1));
  EXPECT_FALSE(Header::word_fits(TestFixture::kHeaderLen));
  EXPECT_FALSE(Header::word_fits(kMaxSize));  // position + W overflows
  EXPECT_FALSE(Header::word_fits(kMaxSize - kWordSize + 1));
}

TYPED_TEST(NodeTest, HeaderPositionOutsideTheHeaderIsFatal) {
  TypeParam* node = this->node_at(0);
  const std::size_t header_len = TestFixture::kHeaderLen;
  for (std::size_t position : {header_len - kWordSize + 1, header_len, header_len + 4096,
                               kMaxSize - kWordSize + 1, kMaxSize}) {
    const std::string message = "nodealloc: fatal: header position out of bounds at 0x[0-9a-f]+ "
                                "\\(position=" + std::to_string(position) +
                                ", header_len=" + std::to_string(header_len) + "\\)";
    EXPECT_DEATH(node->write_header_ptr(position, node), message);
    EXPECT_DEATH(node->template read_header_ptr<int>(position), message);
    EXPECT_DEATH(TypeParam::lookup(position, node->data() + kWordSize), message);
  }
}

// Sweeps alignments, sizes and data-area addresses and compares with the 128-bit reference.
TYPED_TEST(NodeTest, AlignedAddrMatchesTheFitRuleEverywhere) {
  const std::size_t data_len = TestFixture::kDataLen;
  const std::vector<std::size_t> sizes = {0,           1,           7,        8,
                                          16,          data_len - 8, data_len - 7, data_len,
                                          data_len + 1, kMaxSize / 2, kMaxSize - 7, kMaxSize};
  for (std::size_t residue = 0; residue < 2 * 4096; residue += 8) {
    TypeParam* node = this->node_at(residue);
    const auto data = reinterpret_cast<std::uintptr_t>(node->data());
    for (unsigned shift = 0; shift < 64; ++shift) {
      const std::size_t align = std::size_t{1} << shift;
      for (std::size_t size : sizes) {
        const std::uintptr_t expected = reference_block_address(data, data_len, align, size);
        std::byte* block = node->aligned_addr(align, size);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(block), expected)
            << "data=" << data << " align=" << align << " size=" << size;
      }
    }
  }
}

TYPED_TEST(NodeTest, BlockIsAlignedInsideAndNamesItsHeader) {
  const std::size_t data_len = TestFixture::kDataLen;
  for (std::size_t residue : {std::size_t{0}, std::size_t{8}, std::size_t{24}, std::size_t{4088}}) {
    TypeParam* node = this->node_at(residue);
    for (std::size_t align = 1; align <= 4096; align *= 2) {
      const std::vector<std::byte> before = TestFixture::snapshot(*node);
      std::byte* block = node->aligned_addr(align, 1);
      if (block == nullptr) continue;
      const auto address = reinterpret_cast<std::uintptr_t>(block);
      EXPECT_EQ(address % align, 0u);
      EXPECT_GE(block - kWordSize, node->data());
      EXPECT_LE(block + 1, node->data() + data_len);
      EXPECT_EQ(TestFixture::word_at(block - kWordSize),
                reinterpret_cast<std::uintptr_t>(&node->header()));
      // The back-pointer is the only thing written.
      const std::vector<std::byte> after = TestFixture::snapshot(*node);
      const std::size_t back_pointer_offset =
          TestFixture::kHeaderLen + static_cast<std::size_t>(block - kWordSize - node->data());
      for (std::size_t i = 0; i < after.size(); ++i) {
        if (i >= back_pointer_offset && i < back_pointer_offset + kWordSize) continue;
        ASSERT_EQ(after[i], before[i]) << "byte " << i;
      }
    }
  }
}

TYPED_TEST(NodeTest, WholeDataAreaFitsAndOneMoreByteDoesNot) {
  TypeParam* node = this->node_at(0);  // data area aligned to kArenaAlign
  const std::size_t data_len = TestFixture::kDataLen;
  EXPECT_EQ(node->aligned_addr(1, data_len - kWordSize), node->data() + kWordSize);
  EXPECT_EQ(node->aligned_addr(8, data_len - kWordSize), node->data() + kWordSize);
  EXPECT_EQ(node->aligned_addr(1, data_len - kWordSize + 1), nullptr);
  // Alignment 16 from a 16-aligned area skips to data + 16.
  EXPECT_EQ(node->aligned_addr(16, data_len - 16), node->data() + 16);
  EXPECT_EQ(node->aligned_addr(16, data_len - 15), nullptr);
}

TYPED_TEST(NodeTest, ZeroSizedBlockMayEndTheArea) {
  TypeParam* node = this->node_at(0);
  const std::size_t data_len = TestFixture::kDataLen;
  if (data_len > kArenaAlign || data_len < 16) GTEST_SKIP();
  // From a kArenaAlign-aligned area, align = data_len lands exactly on the end of the area.
  EXPECT_EQ(node->aligned_addr(data_len, 0), node->data() + data_len);
  EXPECT_EQ(node->aligned_addr(data_len, 1), nullptr);
}

TYPED_TEST(NodeTest, HugeAlignmentsAndSizesNeverFit) {
  TypeParam* node = this->node_at(8);
  const std::vector<std::byte> before = TestFixture::snapshot(*node);
  EXPECT_EQ(node->aligned_addr(std::size_t{1} << 63, 0), nullptr);
  EXPECT_EQ(node->aligned_addr(std::size_t{1} << 62, 1), nullptr);
  EXPECT_EQ(node->aligned_addr(std::size_t{1} << 32, 1), nullptr);
  EXPECT_EQ(node->aligned_addr(1, kMaxSize), nullptr);
  EXPECT_EQ(node->aligned_addr(1, kMaxSize - kWordSize), nullptr);
  EXPECT_EQ(node->aligned_addr(std::size_t{1} << 63, kMaxSize), nullptr);
  EXPECT_EQ(TestFixture::snapshot(*node), before);  // a refusal writes nothing
}

TYPED_TEST(NodeTest, NonPowerOfTwoAlignmentIsRefused) {
  TypeParam* node = this->node_at(0);
  const std::vector<std::byte> before = TestFixture::snapshot(*node);
  for (std::size_t align : {std::size_t{0}, std::size_t{3}, std::size_t{6}, std::size_t{24},
                            std::size_t{48}, (std::size_t{1} << 63) + 1, kMaxSize}) {
    EXPECT_EQ(node->aligned_addr(align, 0), nullptr) << "align " << align;
  }
  EXPECT_EQ(TestFixture::snapshot(*node), before);
}

TYPED_TEST(NodeTest, LookupFindsHeaderAndNodeAndWritesNothing) {
  TypeParam* node = this->node_at(16);
  node->write_header_ptr(header_slot::kNode, node);
  std::byte* block = node->aligned_addr(8, 8);
  ASSERT_NE(block, nullptr);
  const std::vector<std::byte> before = TestFixture::snapshot(*node);

  const typename TypeParam::Lookup found = TypeParam::lookup(header_slot::kNode, block);
  EXPECT_EQ(found.header, &node->header());
  EXPECT_EQ(found.node, node);
  EXPECT_EQ(TestFixture::snapshot(*node), before);
}

TYPED_TEST(NodeTest, LookupReadsWhicheverSlotItIsGiven) {
  TypeParam* node = this->node_at(0);
  TypeParam* other = this->node_at(8192);
  node->write_header_ptr(13, other);  // an unaligned position
  std::byte* block = node->aligned_addr(1, 0);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(TypeParam::lookup(13, block).node, other);
}

TYPED_TEST(NodeTest, LookupOfAZeroSlotOrZeroBackPointerIsEmpty) {
  TypeParam* node = this->node_at(0);
  std::byte* block = node->aligned_addr(8, 0);
  ASSERT_NE(block, nullptr);
  const typename TypeParam::Lookup no_node = TypeParam::lookup(header_slot::kNode, block);
  EXPECT_EQ(no_node.header, &node->header());
  EXPECT_EQ(no_node.node, nullptr);

  std::memset(block - kWordSize, 0, kWordSize);
  const typename TypeParam::Lookup no_header = TypeParam::lookup(header_slot::kNode, block);
  EXPECT_EQ(no_header.header, nullptr);
  EXPECT_EQ(no_header.node, nullptr);
}

TYPED_TEST(NodeTest, ResolveLinksExactlyTheGivenHead) {
  TypeParam* node = this->node_at(0);
  TypeParam* head = this->node_at(8192);
  node->write_header_ptr(header_slot::kNode, node);
  std::byte* block = node->aligned_addr(8, 8);
  ASSERT_NE(block, nullptr);
  const std::vector<std::byte> before = TestFixture::snapshot(*node);

  EXPECT_EQ(TypeParam::resolve(header_slot::kNode, block, head), node);
  EXPECT_EQ(node->template read_header_ptr<TypeParam>(header_slot::kFreeLink).value, head);
  const std::vector<std::byte> after = TestFixture::snapshot(*node);
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (i >= header_slot::kFreeLink && i < header_slot::kFreeLink + kWordSize) continue;
    ASSERT_EQ(after[i], before[i]) << "byte " << i;
  }
}

TYPED_TEST(NodeTest, ResolveOfAnEmptyLookupWritesNothing) {
  TypeParam* node = this->node_at(0);
  std::byte* block = node->aligned_addr(8, 8);
  ASSERT_NE(block, nullptr);
  const std::vector<std::byte> before = TestFixture::snapshot(*node);
  EXPECT_EQ(TypeParam::resolve(header_slot::kNode, block, node), nullptr);
  EXPECT_EQ(TestFixture::snapshot(*node), before);
}

TYPED_TEST(NodeTest, ResolvedNodesFormAListThroughWordSeven) {
  std::array<TypeParam*, 3> nodes = {this->node_at(0), this->node_at(8192), this->node_at(16384)};
  TypeParam* head = nullptr;
  for (TypeParam* node : nodes) {
    node->write_header_ptr(header_slot::kNode, node);
    std::byte* block = node->aligned_addr(1, 0);
    ASSERT_NE(block, nullptr);
    head = TypeParam::resolve(header_slot::kNode, block, head);
    ASSERT_EQ(head, node);
  }
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    ASSERT_EQ(head, *it);
    head = head->template read_header_ptr<TypeParam>(header_slot::kFreeLink).value;
  }
  EXPECT_EQ(head, nullptr);
}

TYPED_TEST(NodeTest, EveryBufferHoldsItsOwnBlock) {
  TypeParam* node = this->node_at(8);
  const std::size_t buffer_len = TypeParam::kBufferLen;
  for (std::size_t index = 0; index < TypeParam::kBufferCount; ++index) {
    std::byte* buffer = node->data() + index * buffer_len;
    std::byte* block = node->aligned_addr_in_buffer(index, 8, buffer_len - kWordSize);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(block, buffer + kWordSize);  // buffers start 8-aligned
    EXPECT_EQ(TypeParam::lookup(header_slot::kNode, block).header, &node->header());
    EXPECT_EQ(node->aligned_addr_in_buffer(index, 1, buffer_len - kWordSize + 1), nullptr);
  }
}

TYPED_TEST(NodeTest, BufferIndexPastTheLastBufferIsFatal) {
  TypeParam* node = this->node_at(0);
  const std::string message = "nodealloc: fatal: buffer index out of bounds at 0x[0-9a-f]+ "
                              "\\(index=" + std::to_string(TypeParam::kBufferCount) +
                              ", buffer_count=" + std::to_string(TypeParam::kBufferCount) + "\\)";
  EXPECT_DEATH(node->aligned_addr_in_buffer(TypeParam::kBufferCount, 1, 0), message);
  EXPECT_DEATH(node->aligned_addr_in_buffer(kMaxSize, 1, 0), "buffer index out of bounds");
}

// Header and data area need not be adjacent: a block placed in a separate area with a standalone
// header resolves to that header.
TEST(NodeApart, BlockInASeparateAreaFindsItsStandaloneHeader) {
  using SlabNode = Node<128, 4096, 256>;
  SlabNode node;
  SlabNode::Header header;
  header.write_ptr(header_slot::kNode, &node);
  alignas(64) std::array<std::byte, 256> area{};

  std::byte* block = place_block(area.data(), area.size(), &header, 64, 128);
  ASSERT_EQ(block, area.data() + 64);
  const SlabNode::Lookup found = SlabNode::lookup(header_slot::kNode, block);
  EXPECT_EQ(found.header, &header);
  EXPECT_EQ(found.node, &node);
  EXPECT_EQ(SlabNode::resolve(header_slot::kNode, block, nullptr), &node);
  EXPECT_EQ(header.read_ptr<SlabNode>(header_slot::kFreeLink).value, nullptr);
}

TEST(FatalReport, IsOneLineWithPrefixErrorAddressAndDetails) {
  NodeHeader<64> header;
  const auto address = reinterpret_cast<std::uintptr_t>(&header);
  char expected[128];
  std::snprintf(expected, sizeof expected,
                "^nodealloc: fatal: header position out of bounds at 0x%jx "
                "\\(position=57, header_len=64\\)\n$",
                static_cast<std::uintmax_t>(address));
  EXPECT_DEATH(header.write_word(57, 1), expected);
}

// An atomic slot must be word-aligned as well as inside the header: fatal otherwise.
TEST(FatalReport, AnAtomicWordOffAWordBoundaryIsFatal) {
  NodeHeader<64> header;
  EXPECT_EQ(header.atomic_word(8).load(), 0u) << "an aligned slot of a fresh header";
  EXPECT_DEATH(header.atomic_word(3), "^nodealloc: fatal: header position out of bounds at 0x[0-9a-f]+ "
                                      "\\(position=3, header_len=64\\)\n$");
}

// Sums near the top of the address space answer "does not fit" instead of wrapping: the area's
// end, the first candidate after the back-pointer, and its alignment.
TEST(BlockAddress, SumsThatWouldWrapDoNotFit) {
  constexpr std::uintptr_t kTop = std::numeric_limits<std::uintptr_t>::max();
  EXPECT_EQ(block_address(kTop - 4, 16, 16, 1), 0u);      // area + area_len
  EXPECT_EQ(block_address(kTop - 3, 2, 16, 0), 0u);       // area + the back-pointer word
  EXPECT_EQ(block_address(kTop - 100, 50, 4096, 1), 0u);  // aligned up past the top
  // The same shapes lower down fit.
  EXPECT_NE(block_address(0x10000, 4096, 16, 1), 0u);
  EXPECT_NE(block_address(0x10000, 8192, 4096, 1), 0u);
}

}  // namespace
}  // namespace nodealloc
