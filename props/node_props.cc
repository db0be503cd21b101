// rapidcheck properties of the Node (core/node/), in two forms:
// - the compile-time Node<HeaderLen, DataLen, BufferLen>, over several instantiations (the unit
//   tests' shapes and two of the allocator's), random header positions and values, alignments,
//   sizes, and placements of the data area;
// - the allocator's own Node, SlabNode (core/pool/slab.h), made by slab_node() as the thread
//   caches make it: a SlabHeader (alignas(128)) set up as the pool sets one up (data area, class,
//   length) over a separate 64 KiB-aligned data area of the slab length of a random size class
//   (any of the kClassCount: strides 16 to 64 KiB, slabs of one to eight 64 KiB pages). These
//   check the blocks the allocator carves (aligned_addr_in_buffer(i, 16, usable) for i below the
//   class's capacity; the index past the last buffer is fatal, which the death tests cover),
//   aligned_addr over the whole view against the 128-bit reference, lookup and resolve through
//   the node slot (kNodePosition, the data area) and the header words. A Node<> is compared byte
//   for byte after each operation; a slab, up to 512 KiB, is not: its model is the header (compared
//   whole) and the data words operations wrote (back-pointers, compared each time, with the words
//   either side of the latest one), over a data area filled once with a pattern, and a case
//   restores only the words the one before it wrote.
//
// Replay a failure with the RC_PARAMS line rapidcheck prints, e.g.
//   RC_PARAMS="reproduce=..." build/gcc/props/node_props --gtest_filter=NodeProps.<name>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "node/node.h"
#include "pool/slab.h"
#include "size_class/size_classes.h"
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

// The allocator's Node: SlabNode, as slab_node() makes it for a slab of one size class.
namespace nodealloc {
namespace {

class SlabUnderTest {
 public:
  static constexpr std::size_t kMaxLen = kMaxSlabPages * kSlabPageSize;
  static constexpr std::size_t kWords = kMaxLen / kWordSize;
  static constexpr std::uintptr_t kFillWord = 0xa5a5a5a5a5a5a5a5u;  // no address: non-canonical

  // The one slab every case uses (a fresh 512 KiB area per case would dominate the run), made
  // afresh for a random class: the header as the pool sets it up, the data words the last case
  // wrote put back to the fill.
  static SlabUnderTest& fresh() {
    static SlabUnderTest slab;
    slab.reset(*rc::gen::inRange(0u, kClassCount));
    return slab;
  }

  SlabHeader& header() noexcept { return header_; }
  const SizeClass& size() const noexcept { return *size_; }
  std::byte* data() const noexcept { return area_.begin(); }  // the slab: what the node slot holds
  const SlabNode& node() const noexcept { return node_; }

  // A buffer index below the class's capacity, its ends likely.
  std::size_t random_index() const {
    const std::size_t capacity = size_->capacity;
    return *rc::gen::oneOf(rc::gen::just<std::size_t>(0), rc::gen::just(capacity - 1),
                           rc::gen::inRange<std::size_t>(0, capacity));
  }

  // Sizes around one buffer, around the whole view, anywhere, and next to SIZE_MAX.
  rc::Gen<std::size_t> sizes() const {
    const std::size_t length = node_.length();
    return rc::gen::oneOf(
        rc::gen::inRange<std::size_t>(0, 2 * std::size_t{size_->stride} + 1),
        rc::gen::inRange<std::size_t>(length - 64, length + 65), rc::gen::arbitrary<std::size_t>(),
        rc::gen::map(rc::gen::inRange<std::size_t>(0, 64), [](std::size_t d) { return kMaxSize - d; }));
  }

  // The model, told what an operation should have written.
  void header_word_written(std::size_t position, std::uintptr_t value) {
    std::memcpy(model_header_.data() + position, &value, kWordSize);
  }
  // The back-pointer before `block`: the header's address, state 0 (checks that, and that the
  // word lies in the data area, word-aligned, as every back-pointer of a 64 KiB-aligned slab does).
  void back_pointer_written(const std::byte* block) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    const auto area = reinterpret_cast<std::uintptr_t>(data());
    RC_ASSERT(address >= area + kWordSize);
    RC_ASSERT(address - area <= kMaxLen);
    const std::size_t offset = address - kWordSize - area;
    RC_ASSERT(offset % kWordSize == 0);
    const std::size_t word = offset / kWordSize;
    if (model_words_[word] == kFillWord) written_.push_back(word);
    model_words_[word] = reinterpret_cast<std::uintptr_t>(&header_);
    last_written_ = word;
  }

  // The header whole, every data word written since the reset, and the words either side of the
  // latest one: the rest of the slab is never compared (see the top of the file).
  void check() const {
    RC_ASSERT(std::memcmp(header_.bytes().data(), model_header_.data(), SlabHeader::kLength) == 0);
    for (const std::size_t word : written_) RC_ASSERT(word_intact(word));
    if (last_written_ != kNoWord) {
      if (last_written_ > 0) RC_ASSERT(word_intact(last_written_ - 1));
      if (last_written_ + 1 < kWords) RC_ASSERT(word_intact(last_written_ + 1));
    }
  }

 private:
  static constexpr std::size_t kNoWord = kMaxSize;

  SlabUnderTest() : area_(kMaxLen) {
    std::memset(area_.begin(), 0xa5, kMaxLen);
    model_words_.assign(kWords, kFillWord);
    written_.reserve(1024);
  }

  void reset(unsigned class_index) {
    for (const std::size_t word : written_) {
      std::memcpy(data() + word * kWordSize, &kFillWord, kWordSize);
      model_words_[word] = kFillWord;
    }
    written_.clear();
    last_written_ = kNoWord;

    size_ = &size_class(class_index);
    const std::size_t length = std::size_t{size_->slab_pages} * kSlabPageSize;
    RC_ASSERT(length <= kMaxLen);
    RC_ASSERT(size_->first_buffer + std::size_t{size_->capacity} * size_->stride <= length);
    header_ = SlabHeader{};
    header_.set_data(data());
    header_.set_class_index(class_index);
    header_.set_length(length);
    node_ = slab_node(header_, *size_);
    RC_ASSERT(node_.header() == &header_);
    RC_ASSERT(node_.data() == data() + size_->first_buffer);
    RC_ASSERT(node_.length() == std::size_t{size_->stride} * size_->capacity);
    // The header's model, by slab.h's table: data area in word 0, class in 1, length in 10.
    model_header_.fill(std::byte{0});
    header_word_written(SlabHeader::kNodePosition, reinterpret_cast<std::uintptr_t>(data()));
    header_word_written(1 * kWordSize, class_index);
    header_word_written(10 * kWordSize, length);
    check();
  }

  bool word_intact(std::size_t word) const {
    std::uintptr_t value;
    std::memcpy(&value, data() + word * kWordSize, kWordSize);  // our arena: nothing poisoned
    return value == model_words_[word];
  }

  alignas(128) SlabHeader header_;
  Arena area_;  // 64 KiB-aligned, as slabs are
  const SizeClass* size_ = &size_class(0);
  SlabNode node_{&header_, nullptr, 0, 0};
  std::array<std::byte, SlabHeader::kLength> model_header_{};
  std::vector<std::uintptr_t> model_words_;  // one per word of the data area
  std::vector<std::size_t> written_;         // the words that differ from the fill
  std::size_t last_written_ = kNoWord;
};

// The block the thread cache carves from buffer `index`: alignment 16, the class's usable size.
std::byte* carve(SlabUnderTest& slab, std::size_t index) {
  std::byte* block = slab.node().aligned_addr_in_buffer(index, kMinAlignment, slab.size().usable);
  slab.back_pointer_written(block);
  return block;
}

RC_GTEST_PROP(NodeProps, SlabHeaderWordReadsBackAndTouchesNothingElse, ()) {
  SlabUnderTest& slab = SlabUnderTest::fresh();
  const std::size_t position = *rc::gen::inRange<std::size_t>(0, SlabHeader::kLength - kWordSize + 1);
  const std::uintptr_t value = *header_words();

  RC_ASSERT(slab.node().write_header_ptr(position, reinterpret_cast<const void*>(value)) ==
            position + kWordSize);
  slab.header_word_written(position, value);
  const HeaderRead<const std::byte*> read = slab.node().read_header_ptr<const std::byte>(position);
  RC_ASSERT(read.next_position == position + kWordSize);
  RC_ASSERT(reinterpret_cast<std::uintptr_t>(read.value) == value);
  slab.check();
}

// What the allocator relies on for every block it hands out: buffer i's block is 8 bytes into the
// buffer, naturally aligned (so 16-aligned), its usable size fits the buffer exactly, and its
// back-pointer names the header with state 0. Several blocks per case, so neighbours are carved.
RC_GTEST_PROP(NodeProps, SlabCarvesEachBufferWhereTheAllocatorExpectsIt, ()) {
  SlabUnderTest& slab = SlabUnderTest::fresh();
  const SizeClass& size = slab.size();
  const int count = *rc::gen::inRange(1, 9);
  for (int n = 0; n < count; ++n) {
    const std::size_t index = slab.random_index();
    std::byte* block = carve(slab, index);
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    RC_ASSERT(block == slab.data() + size.first_buffer + index * size.stride + kWordSize);
    RC_ASSERT(address % kMinAlignment == 0);
    RC_ASSERT(address % size.natural_alignment == 0);
    RC_ASSERT(SlabNode::header_of(block) == &slab.header());
    RC_ASSERT(load_back_pointer_word(block) == reinterpret_cast<std::uintptr_t>(&slab.header()));
    slab.check();
  }
}

RC_GTEST_PROP(NodeProps, SlabAlignedAddrAgreesWithTheReference, ()) {
  SlabUnderTest& slab = SlabUnderTest::fresh();
  const std::size_t align = *alignments();
  const std::size_t size = *slab.sizes();
  const auto area = reinterpret_cast<std::uintptr_t>(slab.node().data());
  const std::size_t length = slab.node().length();
  const std::uintptr_t expected = reference_block_address(area, length, align, size);

  std::byte* block = slab.node().aligned_addr(align, size);
  RC_ASSERT(reinterpret_cast<std::uintptr_t>(block) == expected);
  if (block != nullptr) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    RC_ASSERT(address % align == 0);
    RC_ASSERT(address - kWordSize >= area);              // back-pointer inside the view
    RC_ASSERT(address <= area + length);                 // block inside ...
    RC_ASSERT(size <= area + length - address);          // ... and fits
    RC_ASSERT(SlabNode::header_of(block) == &slab.header());
    RC_ASSERT(load_back_pointer_word(block) == reinterpret_cast<std::uintptr_t>(&slab.header()));
    slab.back_pointer_written(block);
  }
  slab.check();
}

// free()'s lookup: block -> header -> the slab's data area, writing nothing. Then any header word
// as the node slot returns what is stored there.
RC_GTEST_PROP(NodeProps, SlabLookupIsPureAndReturnsTheDataArea, ()) {
  SlabUnderTest& slab = SlabUnderTest::fresh();
  const std::byte* block = carve(slab, slab.random_index());

  const SlabNode::Lookup found = SlabNode::lookup(SlabHeader::kNodePosition, block);
  RC_ASSERT(found.header == &slab.header());
  RC_ASSERT(found.node == slab.data());
  slab.check();

  const std::size_t position = *rc::gen::inRange<std::size_t>(0, SlabHeader::kLength - kWordSize + 1);
  const std::uintptr_t stored = *header_words();
  slab.header().write_word(position, stored);
  slab.header_word_written(position, stored);
  const SlabNode::Lookup other = SlabNode::lookup(position, block);
  RC_ASSERT(other.header == &slab.header());
  RC_ASSERT(reinterpret_cast<std::uintptr_t>(other.node) == stored);
  slab.check();
}

// Resolve through the node slot links the slab in front of the given head (word 7, which next()
// reads) and returns its data area; with the node slot zero (a released slab) it writes nothing.
RC_GTEST_PROP(NodeProps, SlabResolveLinksExactlyTheGivenHead, ()) {
  SlabUnderTest& slab = SlabUnderTest::fresh();
  const std::byte* block = carve(slab, slab.random_index());
  const auto* head = reinterpret_cast<const SlabHeader*>(*rc::gen::arbitrary<std::uintptr_t>());

  RC_ASSERT(SlabNode::resolve(SlabHeader::kNodePosition, block, head) == slab.data());
  slab.header_word_written(header_slot::kFreeLink, reinterpret_cast<std::uintptr_t>(head));
  RC_ASSERT(slab.header().next() == head);
  slab.check();

  slab.header().set_data(nullptr);
  slab.header_word_written(SlabHeader::kNodePosition, 0);
  const auto* other = reinterpret_cast<const SlabHeader*>(*rc::gen::arbitrary<std::uintptr_t>());
  RC_ASSERT(SlabNode::resolve(SlabHeader::kNodePosition, block, other) == nullptr);
  RC_ASSERT(slab.header().next() == head);
  slab.check();
}

}  // namespace
}  // namespace nodealloc
