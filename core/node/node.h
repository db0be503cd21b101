// Node<HeaderLen, DataLen, BufferLen>: the smallest unit nodealloc hands out, after the seed.
//
// A Node is a header of pointer-width metadata slots (NodeHeader, layout in header_layout.h) and a
// data area that blocks are carved from (block.h):
//
//   Node
//   +--------------------------+---------------------------------------------------------------+
//   | header: HeaderLen bytes  | data: DataLen bytes = DataLen / BufferLen buffers               |
//   | word 0: node             | +---------------------+---------------------+-----+             |
//   | word 7: free link        | | buffer 0: BufferLen | buffer 1: BufferLen | ... |             |
//   +--------------------------+-+---------------------+---------------------+-----+-------------+
//
// BufferLen (unused in the seed) is the length of one buffer: the slot a single block and its
// back-pointer occupy. A Node whose BufferLen equals DataLen holds one block (the seed's literal
// reading); a smaller BufferLen makes the Node a run of same-sized blocks that share one header,
// which is what the allocator's size classes are built from.
//
// The four operations of the seed, with what changed:
// - write_header_ptr / read_header_ptr: a word at a byte position; positions outside the header
//   are fatal in every build (the seed panicked through slice bounds checks);
// - aligned_addr(align, size): takes the size the seed forgot, and answers nullptr when the block
//   would not fit or align is not a power of two (the seed wrote past the array or panicked);
//   aligned_addr_in_buffer does the same inside one buffer;
// - lookup: the pure half of the seed's resolve_addr: user pointer -> back-pointer -> header ->
//   node slot, writing nothing, so checks can look at live blocks without disturbing them;
// - resolve: lookup, then link the node onto a free list through word 7. A zero back-pointer or a
//   zero node slot gives an empty result and writes nothing (the seed's NonNull::new_unchecked on
//   zero was undefined behaviour).
//
// Header and data need not be adjacent: lookup and resolve follow the back-pointer, so they work
// for any header a block names, wherever it lives.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "base/report.h"
#include "node/block.h"
#include "node/header_layout.h"
#include "node/node_header.h"

namespace nodealloc {

template <class Header, class NodeType>
struct NodeLookup {
  Header* header;  // from the back-pointer; nullptr when it is zero
  NodeType* node;  // from the header slot; nullptr when either word is zero
};

template <std::size_t HeaderLen, std::size_t DataLen, std::size_t BufferLen>
class Node {
  static_assert(BufferLen >= kWordSize, "a buffer holds at least its block's back-pointer");
  static_assert(BufferLen <= DataLen && DataLen % BufferLen == 0,
                "the data area is a whole number of buffers");

 public:
  using Header = NodeHeader<HeaderLen>;
  using Lookup = NodeLookup<Header, Node>;

  static constexpr std::size_t kHeaderLen = HeaderLen;
  static constexpr std::size_t kDataLen = DataLen;
  static constexpr std::size_t kBufferLen = BufferLen;
  static constexpr std::size_t kBufferCount = DataLen / BufferLen;

  Header& header() noexcept { return header_; }
  const Header& header() const noexcept { return header_; }
  std::byte* data() noexcept { return data_.data(); }
  const std::byte* data() const noexcept { return data_.data(); }

  template <class Pointee>
  std::size_t write_header_ptr(std::size_t position, const Pointee* pointer) noexcept {
    return header_.write_ptr(position, pointer);
  }

  template <class Pointee>
  HeaderRead<Pointee*> read_header_ptr(std::size_t position) const noexcept {
    return header_.template read_ptr<Pointee>(position);
  }

  std::byte* aligned_addr(std::size_t align, std::size_t size) noexcept {
    return place_block(data_.data(), DataLen, &header_, align, size);
  }

  std::byte* aligned_addr_in_buffer(std::size_t index, std::size_t align,
                                    std::size_t size) noexcept {
    if (index >= kBufferCount) [[unlikely]] {
      report_fatal(FatalError::kBufferIndexOutOfBounds, this,
                   {{"index", index}, {"buffer_count", kBufferCount}});
    }
    return place_block(data_.data() + index * BufferLen, BufferLen, &header_, align, size);
  }

  // Pure: follows the back-pointer before `user_pointer` to its header and reads the node stored
  // at `node_position` there. Writes nothing.
  static Lookup lookup(std::size_t node_position, const void* user_pointer) noexcept {
    // Check the position before touching memory, so a bad position is fatal for every block.
    if (!Header::word_fits(node_position)) [[unlikely]] {
      report_fatal(FatalError::kHeaderPositionOutOfBounds, user_pointer,
                   {{"position", node_position}, {"header_len", HeaderLen}});
    }
    auto* header = reinterpret_cast<Header*>(read_back_pointer(user_pointer));
    if (header == nullptr) return {nullptr, nullptr};
    return {header, header->template read_ptr<Node>(node_position).value};
  }

  // Lookup, then push the found node on the free list whose head is `list_head`: its header's
  // word 7 takes `list_head`. Returns the node (the list's new head), or nullptr, having written
  // nothing, when the lookup found none.
  static Node* resolve(std::size_t node_position, const void* user_pointer,
                       const Node* list_head) noexcept {
    const Lookup found = lookup(node_position, user_pointer);
    if (found.node == nullptr) return nullptr;
    found.header->link(list_head);
    return found.node;
  }

 private:
  Header header_;
  alignas(kWordSize) std::array<std::byte, DataLen> data_;
};

}  // namespace nodealloc
