// Fuzz target: sequences of Node operations against a byte-exact shadow model.
//
// Input layout: for each Node type under test, a 16-bit placement (where its data area starts,
// modulo 64 KiB), then a stream of operations, each an opcode byte followed by its operands:
//
//   node  (byte: which Node type)   op (byte)   operands...
//
// The model is a copy of every byte the Node owns (header and data area). Each operation is
// applied to the model by rules written independently of core/ (128-bit arithmetic for the fit
// rule), and after every operation the Node's bytes must equal the model's. Only valid operations
// are issued: out-of-bounds header positions and buffer indexes are fatal by design, and their
// reports are covered by the death tests, so here the harness only checks that word_fits() agrees
// with the model before it skips them.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "node/node.h"
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
  virtual void reset(std::uint16_t placement) = 0;
  virtual void step(Op op, FuzzInput& input) = 0;
};

template <class NodeType>
class NodeUnderTest final : public NodeUnderTestBase {
  static constexpr std::size_t kHeaderLen = NodeType::kHeaderLen;
  static constexpr std::size_t kDataLen = NodeType::kDataLen;

 public:
  void reset(std::uint16_t placement) override {
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
        store_model_word(model_header_.data() + header_slot::kNode,
                         reinterpret_cast<std::uintptr_t>(node_));
        break;
      case Op::kCount: break;
    }
    check_bytes();
  }

 private:
  // A header position, sometimes past the end, and whether the model says a word fits there.
  static std::size_t position_from(FuzzInput& input, bool* fits) {
    const std::uint8_t selector = input.byte();
    const std::size_t position =
        selector < 250 ? input.u16() % (kHeaderLen + 2 * kWordSize) : input.u64();
    __extension__ using Wide = unsigned __int128;
    *fits = Wide{position} + kWordSize <= kHeaderLen;
    FUZZ_CHECK(NodeType::Header::word_fits(position) == *fits);
    return position;
  }

  static std::size_t alignment_from(FuzzInput& input) {
    const std::uint8_t selector = input.byte();
    if (selector < 64) return std::size_t{1} << selector;
    if (selector < 128) return input.u16();
    return input.u64();
  }

  static std::size_t size_from(FuzzInput& input) {
    const std::uint8_t selector = input.byte();
    if (selector < 160) return input.u16() % (2 * kDataLen + 1);
    if (selector < 200) return SIZE_MAX - input.byte();
    return input.u64();
  }

  static std::uintptr_t load_model_word(const std::byte* at) {
    std::uintptr_t value;
    std::memcpy(&value, at, kWordSize);
    return value;
  }
  static void store_model_word(std::byte* at, std::uintptr_t value) {
    std::memcpy(at, &value, kWordSize);
  }

  void write_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const std::uint64_t value = input.u64();
    if (!fits) return;
    FUZZ_CHECK(node_->header().write_word(position, value) == position + kWordSize);
    store_model_word(model_header_.data() + position, value);
  }

  void read_word(FuzzInput& input) {
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    if (!fits) return;
    const HeaderRead<std::uintptr_t> read = node_->header().read_word(position);
    FUZZ_CHECK(read.next_position == position + kWordSize);
    FUZZ_CHECK(read.value == load_model_word(model_header_.data() + position));
  }

  // Checks a block handed out (or refused) for the area at `area_offset` of `area_len` bytes.
  void expect_block(std::byte* block, std::size_t area_offset, std::size_t area_len,
                    std::size_t align, std::size_t size) {
    const auto area = reinterpret_cast<std::uintptr_t>(node_->data()) + area_offset;
    const std::uintptr_t expected = reference_block_address(area, area_len, align, size);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(block) == expected);
    if (block == nullptr) return;
    const auto data = reinterpret_cast<std::uintptr_t>(node_->data());
    store_model_word(model_data_.data() + (expected - kWordSize - data),
                     reinterpret_cast<std::uintptr_t>(&node_->header()));
    if (blocks_.size() < kMaxTrackedBlocks) blocks_.push_back(block);
  }

  void aligned_addr(FuzzInput& input) {
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input);
    expect_block(node_->aligned_addr(align, size), 0, kDataLen, align, size);
  }

  void aligned_addr_in_buffer(FuzzInput& input) {
    const std::size_t index = input.u16() % NodeType::kBufferCount;
    const std::size_t align = alignment_from(input);
    const std::size_t size = size_from(input);
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
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(found.node) ==
               load_model_word(model_header_.data() + position));
  }

  void resolve(FuzzInput& input) {
    const std::byte* block = tracked_block(input);
    bool fits = false;
    const std::size_t position = position_from(input, &fits);
    const auto* head = reinterpret_cast<const NodeType*>(input.u64());
    if (block == nullptr || !fits) return;
    const std::uintptr_t node_word = load_model_word(model_header_.data() + position);
    NodeType* resolved = NodeType::resolve(position, block, head);
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(resolved) == node_word);
    if (node_word != 0) {
      store_model_word(model_header_.data() + header_slot::kFreeLink,
                       reinterpret_cast<std::uintptr_t>(head));
    }
  }

  void check_bytes() const {
    FUZZ_CHECK(std::memcmp(node_->header().bytes().data(), model_header_.data(), kHeaderLen) == 0);
    FUZZ_CHECK(std::memcmp(node_->data(), model_data_.data(), kDataLen) == 0);
  }

  Arena arena_{2 * kArenaAlign + sizeof(NodeType)};
  NodeType* node_ = nullptr;
  std::array<std::byte, kHeaderLen> model_header_{};
  std::array<std::byte, kDataLen> model_data_{};
  std::vector<const std::byte*> blocks_;
};

// The Node types under test: the shapes of the unit tests and properties.
std::vector<std::unique_ptr<NodeUnderTestBase>> make_nodes() {
  std::vector<std::unique_ptr<NodeUnderTestBase>> nodes;
  nodes.push_back(std::make_unique<NodeUnderTest<Node<64, 16, 16>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<64, 4096, 4096>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<128, 4096, 512>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<128, 256, 64>>>());
  nodes.push_back(std::make_unique<NodeUnderTest<Node<72, 64, 32>>>());
  return nodes;
}

}  // namespace
}  // namespace nodealloc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace nodealloc::fuzz;
  static const auto nodes = make_nodes();  // arenas are reused: allocating them per input is slow
  FuzzInput input(data, size);
  for (const auto& node : nodes) node->reset(input.u16());
  while (!input.exhausted()) {
    NodeUnderTestBase& node = *nodes[input.byte() % nodes.size()];
    const auto op = static_cast<Op>(input.byte() % static_cast<std::uint8_t>(Op::kCount));
    node.step(op, input);
  }
  return 0;
}
