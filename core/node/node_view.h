// NodeView: the Node's four operations over a header and a data area that live anywhere.
//
// The seed's Node is one object, header then data. The allocator keeps a slab's header in its
// chunk's page 0, apart from the slab's data (core/pool/chunk.h), so the run-time Node is a view:
//
//   header (Header*)              data (buffer_count buffers of `stride` bytes)
//   +----------------------+      +--------------------+--------------------+-----+
//   | word 0: node         |      | buffer 0           | buffer 1           | ... |
//   | word 7: free link    | <--- | back-ptr | block 0 | back-ptr | block 1 |     |
//   +----------------------+      +--------------------+--------------------+-----+
//
// Node<HeaderLen, DataLen, BufferLen> (node.h) is this view's inline compile-time instance: it
// owns the header and the data and delegates every operation here, so there is one
// implementation of each, whichever form calls it.
//
// The operations:
// - write_header_ptr / read_header_ptr: a word at a byte position of the header (NodeHeader;
//   positions outside the header are fatal in every build, and fold away when constant);
// - aligned_addr(align, size): a block anywhere in the data area, back-pointer before it;
//   aligned_addr_in_buffer(index, align, size): the same inside one buffer (an index past the
//   last buffer is fatal in every build);
// - lookup(position, user): pure: back-pointer -> header -> the node stored at `position`;
//   header_of(user) is its first half;
// - resolve(position, user, head): lookup, then link the node in front of `head` through word 7.
//   A zero back-pointer or node slot gives an empty result and writes nothing.
//
// Header is a NodeHeader<N> (or a type derived from one); NodeType is what the node slot points
// to (the Node itself for Node<>, the data area for the allocator's slabs); StateMask is the
// back-pointer word's state bits (block.h), zero for the seed's Node.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "base/report.h"
#include "node/block.h"
#include "node/header_layout.h"

namespace nodealloc {

template <class Header, class NodeType>
struct NodeLookup {
  Header* header;  // from the back-pointer; nullptr when it is zero
  NodeType* node;  // from the header slot; nullptr when either word is zero
};

template <class Header, class NodeType, std::uintptr_t StateMask = 0>
class NodeView {
 public:
  using Lookup = NodeLookup<Header, NodeType>;
  using Word = BackPointerWord<StateMask>;

  NodeView(Header* header, std::byte* data, std::size_t stride, std::size_t buffer_count) noexcept
      : header_(header), data_(data), stride_(stride), buffer_count_(buffer_count) {}

  Header* header() const noexcept { return header_; }
  std::byte* data() const noexcept { return data_; }
  std::size_t length() const noexcept { return stride_ * buffer_count_; }

  template <class Pointee>
  std::size_t write_header_ptr(std::size_t position, const Pointee* pointer) const noexcept {
    return header_->write_ptr(position, pointer);
  }

  template <class Pointee>
  auto read_header_ptr(std::size_t position) const noexcept {
    return header_->template read_ptr<Pointee>(position);
  }

  std::byte* aligned_addr(std::size_t align, std::size_t size) const noexcept {
    return place_block(data_, length(), header_, align, size);
  }

  std::byte* aligned_addr_in_buffer(std::size_t index, std::size_t align,
                                    std::size_t size) const noexcept {
    if (index >= buffer_count_) [[unlikely]] {
      report_fatal(FatalError::kBufferIndexOutOfBounds, data_,
                   {{"index", index}, {"buffer_count", buffer_count_}});
    }
    return place_block(data_ + index * stride_, stride_, header_, align, size);
  }

  // The header the back-pointer before `user_pointer` names (its state bits stripped), or
  // nullptr when the word is zero. Reads one word; writes nothing.
  static Header* header_of(const void* user_pointer) noexcept {
    return reinterpret_cast<Header*>(Word::decode(load_back_pointer_word(user_pointer)));
  }

  // Pure: follows the back-pointer before `user_pointer` to its header and reads the node stored
  // at `node_position` there. Writes nothing. Inline, so a caller that uses only the header
  // pays only for the back-pointer load.
  static Lookup lookup(std::size_t node_position, const void* user_pointer) noexcept {
    // Check the position before touching memory, so a bad position is fatal for every block.
    if (!Header::word_fits(node_position)) [[unlikely]] {
      report_fatal(FatalError::kHeaderPositionOutOfBounds, user_pointer,
                   {{"position", node_position}, {"header_len", Header::kLength}});
    }
    // No early return on a zero back-pointer: a caller that uses only the header (free())
    // then meets no branch at all once the unused node read is dropped.
    Header* header = header_of(user_pointer);
    NodeType* node = header == nullptr ? nullptr : header->template read_ptr<NodeType>(node_position).value;
    return {header, node};
  }

  // Lookup, then push the found node on the list whose head is `list_head`: its header's word 7
  // takes `list_head`. Returns the node (the list's new head), or nullptr, having written
  // nothing, when the lookup found none.
  static NodeType* resolve(std::size_t node_position, const void* user_pointer,
                           const void* list_head) noexcept {
    const Lookup found = lookup(node_position, user_pointer);
    if (found.node == nullptr) return nullptr;
    found.header->link(list_head);
    return found.node;
  }

 private:
  Header* header_;
  std::byte* data_;
  std::size_t stride_;
  std::size_t buffer_count_;
};

}  // namespace nodealloc
