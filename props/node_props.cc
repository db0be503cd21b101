// rapidcheck properties of the Node (core/node/), over several instantiations, random header
// positions and values, alignments, sizes, and placements of the data area.
//
// Replay a failure with the RC_PARAMS line rapidcheck prints, e.g.
//   RC_PARAMS="reproduce=..." build/gcc/props/node_props --gtest_filter=NodeProps.<name>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "node/node.h"
#include "support/arena.h"

namespace nodealloc {
namespace {

using testing::Arena;
using testing::kArenaAlign;
using testing::place_node;
using testing::reference_block_address;

constexpr std::size_t kMaxSize = std::numeric_limits<std::size_t>::max();

template <class... NodeTypes>
struct TypeList {
  template <class Visitor>
  static void for_each(Visitor&& visit) {
    (visit.template operator()<NodeTypes>(), ...);
  }
};
// The shapes of the unit tests, and the allocator's own: a 128-byte header over a 64 KiB slab of
// 16-byte buffers (size class 0) and of 64-byte buffers (class 3).
using NodeTypes = TypeList<Node<64, 16, 16>, Node<64, 4096, 4096>, Node<128, 4096, 512>,
                           Node<128, 256, 64>, Node<72, 64, 32>, Node<128, 65536, 16>,
                           Node<128, 65536, 64>>;

// One arena per Node type, reused across cases (a fresh one per case would dominate the run).
template <class NodeType>
NodeType* random_node() {
  static Arena arena(2 * kArenaAlign + sizeof(NodeType));
  const std::size_t residue = *rc::gen::inRange<std::size_t>(0, kArenaAlign / 8) * 8;
  return place_node<NodeType>(arena, residue);
}

template <class NodeType>
std::vector<std::byte> snapshot(const NodeType& node) {
  std::vector<std::byte> bytes(node.header().bytes().begin(), node.header().bytes().end());
  bytes.insert(bytes.end(), node.data(), node.data() + NodeType::kDataLen);
  return bytes;
}

// True when `after` equals `before` outside [offset, offset + kWordSize).
bool only_word_changed(const std::vector<std::byte>& before, const std::vector<std::byte>& after,
                       std::size_t offset) {
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i >= offset && i < offset + kWordSize) continue;
    if (before[i] != after[i]) return false;
  }
  return true;
}

template <class NodeType>
std::size_t random_position() {
  return *rc::gen::inRange<std::size_t>(0, NodeType::kHeaderLen - kWordSize + 1);
}

// Header words: any value, but with every byte likely to differ from a fresh (zeroed) header, so a
// write that stores too few bytes shows even for the small values rapidcheck starts with.
rc::Gen<std::uintptr_t> header_words() {
  return rc::gen::map(rc::gen::arbitrary<std::uintptr_t>(),
                      [](std::uintptr_t v) { return v ^ std::uintptr_t{0xa5c3e1f08796b4d2}; });
}

// Alignments: every power of two, and values that are not powers of two at all.
rc::Gen<std::size_t> alignments() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange(0, 64), [](int shift) { return std::size_t{1} << shift; }),
      rc::gen::arbitrary<std::size_t>(), rc::gen::inRange<std::size_t>(0, 4097));
}

// Sizes: around the data length, anywhere, and next to SIZE_MAX.
template <class NodeType>
rc::Gen<std::size_t> sizes() {
  return rc::gen::oneOf(
      rc::gen::inRange<std::size_t>(0, 2 * NodeType::kDataLen + 1),
      rc::gen::arbitrary<std::size_t>(),
      rc::gen::map(rc::gen::inRange<std::size_t>(0, 64), [](std::size_t d) { return kMaxSize - d; }));
}

RC_GTEST_PROP(NodeProps, HeaderWordReadsBackAndTouchesNothingElse, ()) {
  NodeTypes::for_each([]<class NodeType>() {
    NodeType* node = random_node<NodeType>();
    const std::size_t position = random_position<NodeType>();
    const std::uintptr_t value = *header_words();
    const std::vector<std::byte> before = snapshot(*node);

    RC_ASSERT(node->header().write_word(position, value) == position + kWordSize);
    const HeaderRead<std::uintptr_t> read = node->header().read_word(position);
    RC_ASSERT(read.next_position == position + kWordSize);
    RC_ASSERT(read.value == value);
    RC_ASSERT(only_word_changed(before, snapshot(*node), position));
  });
}

RC_GTEST_PROP(NodeProps, AlignedAddrHandsOutABlockExactlyWhenItFits, ()) {
  NodeTypes::for_each([]<class NodeType>() {
    NodeType* node = random_node<NodeType>();
    const std::size_t align = *alignments();
    const std::size_t size = *sizes<NodeType>();
    const auto data = reinterpret_cast<std::uintptr_t>(node->data());
    const std::uintptr_t expected = reference_block_address(data, NodeType::kDataLen, align, size);
    const std::vector<std::byte> before = snapshot(*node);

    std::byte* block = node->aligned_addr(align, size);
    RC_ASSERT(reinterpret_cast<std::uintptr_t>(block) == expected);
    if (block == nullptr) {
      RC_ASSERT(snapshot(*node) == before);
      return;
    }
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    RC_ASSERT(address % align == 0);
    RC_ASSERT(address - kWordSize >= data);                           // back-pointer inside
    RC_ASSERT(address <= data + NodeType::kDataLen);                   // block inside ...
    RC_ASSERT(size <= data + NodeType::kDataLen - address);            // ... and fits
    RC_ASSERT(read_back_pointer(block) == reinterpret_cast<std::uintptr_t>(&node->header()));
    const std::size_t back_pointer_offset = NodeType::kHeaderLen + (address - kWordSize - data);
    RC_ASSERT(only_word_changed(before, snapshot(*node), back_pointer_offset));
  });
}

RC_GTEST_PROP(NodeProps, LookupIsPureAndReturnsTheNodeInTheSlot, ()) {
  NodeTypes::for_each([]<class NodeType>() {
    NodeType* node = random_node<NodeType>();
    const std::size_t position = random_position<NodeType>();
    const std::uintptr_t stored = *header_words();
    node->header().write_word(position, stored);
    std::byte* block = node->aligned_addr(*rc::gen::elementOf(std::vector<std::size_t>{1, 8, 16}), 0);
    RC_ASSERT(block != nullptr);
    const std::vector<std::byte> before = snapshot(*node);

    const typename NodeType::Lookup found = NodeType::lookup(position, block);
    RC_ASSERT(found.header == &node->header());
    RC_ASSERT(reinterpret_cast<std::uintptr_t>(found.node) == stored);
    RC_ASSERT(snapshot(*node) == before);
  });
}

RC_GTEST_PROP(NodeProps, ResolveLinksExactlyTheGivenHead, ()) {
  NodeTypes::for_each([]<class NodeType>() {
    NodeType* node = random_node<NodeType>();
    const std::size_t position = random_position<NodeType>();
    RC_PRE(position + kWordSize <= header_slot::kFreeLink ||
           position >= header_slot::kFreeLink + kWordSize);  // the node slot is not word 7
    node->write_header_ptr(position, node);
    std::byte* block = node->aligned_addr(kWordSize, 1);
    RC_ASSERT(block != nullptr);
    const auto* head = reinterpret_cast<const NodeType*>(*rc::gen::arbitrary<std::uintptr_t>());
    const std::vector<std::byte> before = snapshot(*node);

    RC_ASSERT(NodeType::resolve(position, block, head) == node);
    RC_ASSERT(node->template read_header_ptr<const NodeType>(header_slot::kFreeLink).value == head);
    RC_ASSERT(only_word_changed(before, snapshot(*node), header_slot::kFreeLink));
  });
}

}  // namespace
}  // namespace nodealloc

namespace nodealloc {
namespace {

// Two Nodes of one type, side by side in one arena: whatever is done to the first (a header
// write, a block handed out, a resolve through one of its blocks) leaves every byte of the
// second, header and back-pointers included, as it was.
RC_GTEST_PROP(NodeProps, OperationsOnOneNodeNeverTouchAnother, ()) {
  NodeTypes::for_each([]<class NodeType>() {
    static Arena arena(2 * kArenaAlign + 2 * sizeof(NodeType) + 64);
    const std::size_t first_residue = *rc::gen::inRange<std::size_t>(0, 512) * 8;
    NodeType* node = place_node<NodeType>(arena, first_residue);
    // The neighbour right after it (its header follows the first node's data area).
    NodeType* neighbour = place_node<NodeType>(arena, first_residue + sizeof(NodeType));
    neighbour->write_header_ptr(header_slot::kNode, neighbour);
    RC_ASSERT(neighbour->aligned_addr(kWordSize, 0) != nullptr);  // a back-pointer to keep intact
    node->write_header_ptr(header_slot::kNode, node);
    const std::vector<std::byte> before = snapshot(*neighbour);

    const int operation = *rc::gen::inRange(0, 3);
    if (operation == 0) {
      node->header().write_word(random_position<NodeType>(), *header_words());
    } else {
      std::byte* block = node->aligned_addr(*alignments(), *sizes<NodeType>());
      if (block != nullptr && operation == 2) {
        const auto* head = reinterpret_cast<const NodeType*>(*rc::gen::arbitrary<std::uintptr_t>());
        RC_ASSERT(NodeType::resolve(header_slot::kNode, block, head) == node);
      }
    }
    RC_ASSERT(snapshot(*neighbour) == before);
  });
}

}  // namespace
}  // namespace nodealloc
