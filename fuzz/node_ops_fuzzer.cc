// Fuzz target: sequences of Node operations against a shadow model.
//
// Two kinds of Node are under test, each in its own memory:
// - the compile-time Node<HeaderLen, DataLen, BufferLen> shapes of the unit tests and properties,
//   header and data area in one object placed anywhere in an arena;
// - the allocator's own Node: a SlabNode (core/pool/slab.h) built by slab_node(), the code the
//   thread caches carve slabs with, over a SlabHeader (128 bytes, alignas(128)) and a separate
//   64 KiB-aligned data area of the slab length of a size class chosen by the input (any of the
//   kClassCount classes: strides 16 to 64 KiB, slabs of one to eight 64 KiB pages).
//
// Input layout: for each Node under test, its setup (a Node<>: a 16-bit placement, where its data
// area starts modulo 64 KiB; the slab: one byte, its class modulo kClassCount), then a stream of
// operations, each a selector byte, an opcode byte and its operands:
//
//   node  (byte: which Node under test)   op (byte)   operands...
//
// Every node takes the same opcodes: write or read a header word (any byte position; a write into
// word 0 changes the node slot, and later lookups must return what the model says is there),
// aligned_addr, aligned_addr_in_buffer, lookup and resolve through a block handed out before, and
// store-self-in-node-slot (for the slab: its data area, as the pool does when it makes a slab).
// For the slab, aligned_addr_in_buffer asks either for what the allocator asks (alignment 16, the
// class's usable size: the block must be exactly first_buffer + index * stride + 8 into the slab,
// naturally aligned) or for any alignment and size.
//
// The model. A Node<>'s is a copy of every byte it owns (header and data area); after every
// operation the Node's bytes must equal the model's. The slab's is a copy of its header and one
// word per word of the data area, but a 512 KiB slab compared whole after every operation would
// dominate the run, so after every operation only the header (all of it), every data word some
// operation wrote (a back-pointer) and the words on either side of the one just written are
// compared; the data area is filled once with a pattern (so a stray write of zero shows), and a new
// input restores only the words the last one wrote. Each operation is applied to the model by
// rules written independently of core/ (128-bit arithmetic for the fit rule). Only valid
// operations are issued: out-of-bounds header positions and buffer indexes are fatal by design,
// and their reports are covered by the death tests, so here the harness only checks that
// word_fits() agrees with the model before it skips them.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/sanitizer.h"
#include "node/node.h"
#include "pool/slab.h"
#include "size_class/size_classes.h"
#include "support/arena.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"

namespace nodealloc::fuzz {
namespace {

using nodealloc::testing::Arena;
using nodealloc::testing::kArenaAlign;
using nodealloc::testing::place_node;
using nodealloc::testing::reference_block_address;

enum class Op : std::uint8_t {
  kWriteWord,
  kReadWord,
  kAlignedAddr,
  kAlignedAddrInBuffer,
  kLookup,
  kResolve,
  kStoreSelfInNodeSlot,
  kCount
};

constexpr std::uint8_t kFillByte = 0xa5;
constexpr std::size_t kMaxTrackedBlocks = 64;

class NodeUnderTestBase {
 public:
  virtual ~NodeUnderTestBase() = default;
  virtual void reset(FuzzInput& input) = 0;
  virtual void step(Op op, FuzzInput& input) = 0;
};

// Operands, shared by every node under test.

// A header position, sometimes past the end, and whether the model says a word fits there.
template <class Header>
std::size_t position_from(FuzzInput& input, bool* fits) {
  constexpr std::size_t kHeaderLen = Header::kLength;
  const std::uint8_t selector = input.byte();
  const std::size_t position =
      selector < 250 ? input.u16() % (kHeaderLen + 2 * kWordSize) : input.u64();
  __extension__ using Wide = unsigned __int128;
  *fits = Wide{position} + kWordSize <= kHeaderLen;
  FUZZ_CHECK(Header::word_fits(position) == *fits);
  return position;
}

std::size_t alignment_from(FuzzInput& input) {
  const std::uint8_t selector = input.byte();
  if (selector < 64) return std::size_t{1} << selector;
  if (selector < 128) return input.u16();
  return input.u64();
}

// Sizes around `data_len` (a Node<>'s data area), next to SIZE_MAX, or anything.
std::size_t size_from(FuzzInput& input, std::size_t data_len) {
  const std::uint8_t selector = input.byte();
  if (selector < 160) return input.u16() % (2 * data_len + 1);
  if (selector < 200) return SIZE_MAX - input.byte();
  return input.u64();
}

std::uintptr_t load_word(const std::byte* at) {
  std::uintptr_t value;
  std::memcpy(&value, at, kWordSize);
  return value;
}
void store_word(std::byte* at, std::uintptr_t value) { std::memcpy(at, &value, kWordSize); }

template <class NodeType>
class NodeUnderTest final : public NodeUnderTestBase {
  static constexpr std::size_t kHeaderLen = NodeType::kHeaderLen;
  static constexpr std::size_t kDataLen = NodeType::kDataLen;

 public:
  void reset(FuzzInput& input) override {
    const std::uint16_t placement = input.u16();
    const std::size_t residue = (placement % (kArenaAlign / kWordSize)) * kWordSize;
    node_ = place_node<NodeType>(arena_, residue);
    std::memset(node_->data(), kFillByte, kDataLen);
    model_header_.fill(std::byte{0});
    model_data_.fill(std::byte{kFillByte});
    blocks_.clear();
    check_bytes();
  }

  void step(Op op, FuzzInput& input) override {
    switch (op) {
      case Op::kWriteWord: write_word(input); break;
      case Op::kReadWord: read_word(input); break;
      case Op::kAlignedAddr: aligned_addr(input); break;
      case Op::kAlignedAddrInBuffer: aligned_addr_in_buffer(input); break;
      case Op::kLookup: lookup(input); break;
      case Op::kResolve: resolve(input); break;
      case Op::kStoreSelfInNodeSlot:
        FUZZ_CHECK(node_->write_header_ptr(header_slot::kNode, node_) == kWordSize);
        store_word(model_header_.data() + header_slot::kNode, reinterpret_cast<std::uintptr_t>(node_));
        break;
      case Op::kCount: break;
    }
    check_bytes();
  }

 private:
  static std::size_t position_from(FuzzInput& input, bool* fits) {
    return fuzz::position_from<typename NodeType::Header>(input, fits);
  }

  void write_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const std::uint64_t value = input.u64();
    if (!fits) return;
    FUZZ_CHECK(node_->header().write_word(position, value) == position + kWordSize);
    store_word(model_header_.data() + position, value);
  }

  void read_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    if (!fits) return;
    const HeaderRead<std::uintptr_t> read = node_->header().read_word(position);
    FUZZ_CHECK(read.next_position == position + kWordSize);
    FUZZ_CHECK(read.value == load_word(model_header_.data() + position));
  }

  // Checks a block handed out (or refused) for the area at `area_offset` of `area_len` bytes.
  void expect_block(std::byte* block, std::size_t area_offset, std::size_t area_len,
                    std::size_t align, std::size_t size) {
    const auto area = reinterpret_cast<std::uintptr_t>(node_->data()) + area_offset;
    const std::uintptr_t expected = reference_block_address(area, area_len, align, size);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(block) == expected);
    if (block == nullptr) return;
    const auto data = reinterpret_cast<std::uintptr_t>(node_->data());
    store_word(model_data_.data() + (expected - kWordSize - data),
               reinterpret_cast<std::uintptr_t>(&node_->header()));
    if (blocks_.size() < kMaxTrackedBlocks) blocks_.push_back(block);
  }

  void aligned_addr(FuzzInput& input) {
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input, kDataLen);
    expect_block(node_->aligned_addr(align, size), 0, kDataLen, align, size);
  }

  void aligned_addr_in_buffer(FuzzInput& input) {
    const std::size_t index = input.u16() % NodeType::kBufferCount;
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input, kDataLen);
    expect_block(node_->aligned_addr_in_buffer(index, align, size), index * NodeType::kBufferLen,
                 NodeType::kBufferLen, align, size);
  }

  const std::byte* tracked_block(FuzzInput& input) const {
    return blocks_.empty() ? nullptr : blocks_[input.byte() % blocks_.size()];
  }

  void lookup(FuzzInput& input) {
    const std::byte* block = tracked_block(input);
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    if (block == nullptr || !fits) return;
    const typename NodeType::Lookup found = NodeType::lookup(position, block);
    FUZZ_CHECK(found.header == &node_->header());
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(found.node) == load_word(model_header_.data() + position));
  }

  void resolve(FuzzInput& input) {
    const std::byte* block = tracked_block(input);
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const auto* head = reinterpret_cast<const NodeType*>(input.u64());
    if (block == nullptr || !fits) return;
    const std::uintptr_t node_word = load_word(model_header_.data() + position);
    NodeType* resolved = NodeType::resolve(position, block, head);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(resolved) == node_word);
    if (node_word != 0) {
      store_word(model_header_.data() + header_slot::kFreeLink, reinterpret_cast<std::uintptr_t>(head));
    }
  }

  void check_bytes() const {
    FUZZ_CHECK(std::memcmp(node_->header().bytes().data(), model_header_.data(), kHeaderLen) == 0);
    const MetadataAccess window(node_->data(), kDataLen);  // back-pointers in it: see word_intact
    FUZZ_CHECK(std::memcmp(node_->data(), model_data_.data(), kDataLen) == 0);
  }

  Arena arena_{2 * kArenaAlign + sizeof(NodeType)};
  NodeType* node_ = nullptr;
  std::array<std::byte, kHeaderLen> model_header_{};
  std::array<std::byte, kDataLen> model_data_{};
  std::vector<const std::byte*> blocks_;
};

// The allocator's Node: SlabNode over a slab of one size class, as slab_node() builds it. The
// header and the data area are this object's, set up at reset as the pool sets up a slab (data,
// class, length); the view is made then and kept, so a write into the node slot changes what
// lookups return but not where blocks go.
class SlabUnderTest final : public NodeUnderTestBase {
  static constexpr std::size_t kHeaderLen = SlabHeader::kLength;
  static constexpr std::size_t kMaxSlabLen = kMaxSlabPages * kSlabPageSize;
  static constexpr std::size_t kAreaWords = kMaxSlabLen / kWordSize;
  static constexpr std::uintptr_t kFillWord = 0x0101010101010101u * kFillByte;

 public:
  SlabUnderTest() {
    // Filled once; each input restores only the words the previous one wrote.
    std::memset(area_.begin(), kFillByte, kMaxSlabLen);
    model_words_.assign(kAreaWords, kFillWord);
    written_.reserve(kAreaWords);
  }

  void reset(FuzzInput& input) override {
    for (const std::size_t word : written_) {
      store_word(data() + word * kWordSize, kFillWord);
      model_words_[word] = kFillWord;
    }
    written_.clear();
    blocks_.clear();
    last_written_ = kNoWord;

    class_index_ = input.byte() % kClassCount;
    size_ = &size_class(class_index_);
    const std::size_t length = std::size_t{size_->slab_pages} * kSlabPageSize;
    FUZZ_CHECK(length <= kMaxSlabLen);
    FUZZ_CHECK(size_->first_buffer + std::size_t{size_->capacity} * size_->stride <= length);
    header_ = SlabHeader{};
    header_.set_data(data());
    header_.set_class_index(class_index_);
    header_.set_length(length);
    node_ = slab_node(header_, *size_);
    FUZZ_CHECK(node_.header() == &header_);
    FUZZ_CHECK(node_.data() == data() + size_->first_buffer);
    FUZZ_CHECK(node_.length() == std::size_t{size_->stride} * size_->capacity);
    // The model's header, field by field where slab.h puts them.
    model_header_.fill(std::byte{0});
    store_word(model_header_.data() + SlabHeader::kNodePosition, reinterpret_cast<std::uintptr_t>(data()));
    store_word(model_header_.data() + 1 * kWordSize, class_index_);
    store_word(model_header_.data() + 10 * kWordSize, length);
    check();
  }

  void step(Op op, FuzzInput& input) override {
    last_written_ = kNoWord;
    switch (op) {
      case Op::kWriteWord: write_word(input); break;
      case Op::kReadWord: read_word(input); break;
      case Op::kAlignedAddr: aligned_addr(input); break;
      case Op::kAlignedAddrInBuffer: aligned_addr_in_buffer(input); break;
      case Op::kLookup: lookup(input); break;
      case Op::kResolve: resolve(input); break;
      case Op::kStoreSelfInNodeSlot:
        header_.set_data(data());
        FUZZ_CHECK(header_.data() == data());
        store_word(model_header_.data() + SlabHeader::kNodePosition, reinterpret_cast<std::uintptr_t>(data()));
        break;
      case Op::kCount: break;
    }
    check();
  }

 private:
  static constexpr std::size_t kNoWord = SIZE_MAX;

  std::byte* data() const noexcept { return area_.begin(); }

  static std::size_t position_from(FuzzInput& input, bool* fits) {
    return fuzz::position_from<SlabHeader>(input, fits);
  }

  // Sizes around the stride (one buffer) and around the length of the whole view, next to
  // SIZE_MAX, or anything.
  std::size_t size_from(FuzzInput& input) const {
    const std::uint8_t selector = input.byte();
    if (selector < 96) return input.u16() % (2 * std::size_t{size_->stride} + 1);
    if (selector < 160) return node_.length() + 64 - input.byte() % 128;
    if (selector < 200) return SIZE_MAX - input.byte();
    return input.u64();
  }

  void write_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const std::uint64_t value = input.u64();
    if (!fits) return;
    FUZZ_CHECK(node_.write_header_ptr(position, reinterpret_cast<const void*>(value)) ==
               position + kWordSize);
    store_word(model_header_.data() + position, value);
  }

  void read_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    if (!fits) return;
    const HeaderRead<const std::byte*> read = node_.read_header_ptr<const std::byte>(position);
    FUZZ_CHECK(read.next_position == position + kWordSize);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(read.value) == load_word(model_header_.data() + position));
  }

  // Checks a block handed out (or refused) for [area, area + area_len) of the data area.
  void expect_block(std::byte* block, std::uintptr_t area, std::size_t area_len, std::size_t align,
                    std::size_t size) {
    const std::uintptr_t expected = reference_block_address(area, area_len, align, size);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(block) == expected);
    if (block == nullptr) return;
    const auto header = reinterpret_cast<std::uintptr_t>(&header_);
    FUZZ_CHECK(load_back_pointer_word(block) == header);  // state 0, whatever the codec
    FUZZ_CHECK(SlabNode::header_of(block) == &header_);
    const std::size_t offset = expected - kWordSize - reinterpret_cast<std::uintptr_t>(data());
    FUZZ_CHECK(offset % kWordSize == 0);  // the area is word-aligned, and so is every back-pointer
    const std::size_t word = offset / kWordSize;
    if (model_words_[word] == kFillWord) written_.push_back(word);  // kFillWord is no address
    model_words_[word] = header;
    last_written_ = word;
    if (blocks_.size() < kMaxTrackedBlocks) blocks_.push_back(block);
  }

  void aligned_addr(FuzzInput& input) {
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input);
    expect_block(node_.aligned_addr(align, size), reinterpret_cast<std::uintptr_t>(node_.data()),
                 node_.length(), align, size);
  }

  void aligned_addr_in_buffer(FuzzInput& input) {
    const std::size_t index = input.u16() % size_->capacity;
    const std::uint8_t mode = input.byte();
    const auto buffer = reinterpret_cast<std::uintptr_t>(data()) + size_->first_buffer + index * size_->stride;
    if (mode < 128) {  // what the thread cache asks for when it carves the buffer
      std::byte* block = node_.aligned_addr_in_buffer(index, kMinAlignment, size_->usable);
      const auto address = reinterpret_cast<std::uintptr_t>(block);
      FUZZ_CHECK(address == buffer + kWordSize);
      FUZZ_CHECK(address % kMinAlignment == 0 && address % size_->natural_alignment == 0);
      expect_block(block, buffer, size_->stride, kMinAlignment, size_->usable);
      return;
    }
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input);
    expect_block(node_.aligned_addr_in_buffer(index, align, size), buffer, size_->stride, align, size);
  }

  const std::byte* tracked_block(FuzzInput& input) const {
    return blocks_.empty() ? nullptr : blocks_[input.byte() % blocks_.size()];
  }

  void lookup(FuzzInput& input) {
    const std::byte* block = tracked_block(input);
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    if (block == nullptr || !fits) return;
    const SlabNode::Lookup found = SlabNode::lookup(position, block);
    FUZZ_CHECK(found.header == &header_);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(found.node) == load_word(model_header_.data() + position));
  }

  void resolve(FuzzInput& input) {
    const std::byte* block = tracked_block(input);
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const auto* head = reinterpret_cast<const SlabHeader*>(input.u64());
    if (block == nullptr || !fits) return;
    const std::uintptr_t node_word = load_word(model_header_.data() + position);
    std::byte* resolved = SlabNode::resolve(position, block, head);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(resolved) == node_word);
    if (node_word != 0) {
      store_word(model_header_.data() + header_slot::kFreeLink, reinterpret_cast<std::uintptr_t>(head));
      FUZZ_CHECK(header_.next() == head);
    }
  }

  // Back-pointers are no-access to memcheck and poisoned for MSan (base/sanitizer.h): the words
  // are read as the allocator reads its metadata, under a window.
  bool word_intact(std::size_t word) const {
    const MetadataAccess window(data() + word * kWordSize, kWordSize);
    return load_word(data() + word * kWordSize) == model_words_[word];
  }

  // The header whole; every data word written so far; and the words either side of the one the
  // operation wrote (nothing else of the slab is compared: see the top of the file).
  void check() const {
    FUZZ_CHECK(std::memcmp(header_.bytes().data(), model_header_.data(), kHeaderLen) == 0);
    for (const std::size_t word : written_) FUZZ_CHECK(word_intact(word));
    if (last_written_ != kNoWord) {
      if (last_written_ > 0) FUZZ_CHECK(word_intact(last_written_ - 1));
      if (last_written_ + 1 < kAreaWords) FUZZ_CHECK(word_intact(last_written_ + 1));
    }
  }

  alignas(128) SlabHeader header_;
  Arena area_{kMaxSlabLen};  // 64 KiB-aligned, as slabs are
  unsigned class_index_ = 0;
  const SizeClass* size_ = &size_class(0);
  SlabNode node_{&header_, nullptr, 0, 0};
  std::array<std::byte, kHeaderLen> model_header_{};
  std::vector<std::uintptr_t> model_words_;  // one per word of the data area
  std::vector<std::size_t> written_;         // the words that differ from the fill, in order
  std::size_t last_written_ = kNoWord;
  std::vector<const std::byte*> blocks_;
};

// The nodes under test: the Node<> shapes of the unit tests and properties, and the allocator's
// slab.
std::vector<std::unique_ptr<NodeUnderTestBase>> make_nodes() {
  std::vector<std::unique_ptr<NodeUnderTestBase>> nodes;
  nodes.push_back(std::make_unique<NodeUnderTest<Node<64, 16, 16>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<64, 4096, 4096>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<128, 4096, 512>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<128, 256, 64>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<72, 64, 32>>>());
  nodes.push_back(std::make_unique<SlabUnderTest>());
  return nodes;
}

}  // namespace
}  // namespace nodealloc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace nodealloc::fuzz;
  static const auto nodes = make_nodes();  // arenas are reused: allocating them per input is slow
  FuzzInput input(data, size);
  for (const auto& node : nodes) node->reset(input);
  while (!input.exhausted()) {
    NodeUnderTestBase& node = *nodes[input.byte() % nodes.size()];
    const auto op = static_cast<Op>(input.byte() % static_cast<std::uint8_t>(Op::kCount));
    node.step(op, input);
  }
  return 0;
}
