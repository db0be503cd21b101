// Node<HeaderLen, DataLen, BufferLen>: the smallest unit nodealloc hands out, after the seed.
//
// A Node is a header of pointer-width metadata slots (NodeHeader, slots in header_layout.h) and a
// data area that blocks are carved from (block.h):
//
//   Node
//   +--------------------------+---------------------------------------------------------------+
//   | header: HeaderLen bytes  | data: DataLen bytes = DataLen / BufferLen buffers               |
//   | word 0: node             | +---------------------+---------------------+-----+             |
//   | word 7: free link        | | buffer 0: BufferLen | buffer 1: BufferLen | ... |             |
//   +--------------------------+-+---------------------+---------------------+-----+-------------+
//
// This is the compile-time instance of NodeView (node_view.h): it owns its header and data, and
// every operation is the view's, over (header, data, BufferLen, DataLen / BufferLen). The
// allocator's slabs use the view directly, since their headers live apart from their data; both
// run the same code.
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
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "node/node_header.h"
#include "node/node_view.h"

namespace nodealloc {

template <std::size_t HeaderLen, std::size_t DataLen, std::size_t BufferLen>
class Node {
  static_assert(BufferLen >= kWordSize, "a buffer holds at least its block's back-pointer");
  static_assert(BufferLen <= DataLen && DataLen % BufferLen == 0,
                "the data area is a whole number of buffers");

 public:
  using Header = NodeHeader<HeaderLen>;
  using View = NodeView<Header, Node>;
  using Lookup = typename View::Lookup;

  static constexpr std::size_t kHeaderLen = HeaderLen;
  static constexpr std::size_t kDataLen = DataLen;
  static constexpr std::size_t kBufferLen = BufferLen;
  static constexpr std::size_t kBufferCount = DataLen / BufferLen;

  Header& header() noexcept { return header_; }
  const Header& header() const noexcept { return header_; }
  std::byte* data() noexcept { return data_.data(); }
  const std::byte* data() const noexcept { return data_.data(); }
  View view() noexcept { return View(&header_, data_.data(), BufferLen, kBufferCount); }

  template <class Pointee>
  std::size_t write_header_ptr(std::size_t position, const Pointee* pointer) noexcept {
    return view().write_header_ptr(position, pointer);
  }

  template <class Pointee>
  HeaderRead<Pointee*> read_header_ptr(std::size_t position) const noexcept {
    return header_.template read_ptr<Pointee>(position);
  }

  std::byte* aligned_addr(std::size_t align, std::size_t size) noexcept {
    return view().aligned_addr(align, size);
  }

  std::byte* aligned_addr_in_buffer(std::size_t index, std::size_t align,
                                    std::size_t size) noexcept {
    return view().aligned_addr_in_buffer(index, align, size);
  }

  static Lookup lookup(std::size_t node_position, const void* user_pointer) noexcept {
    return View::lookup(node_position, user_pointer);
  }

  static Node* resolve(std::size_t node_position, const void* user_pointer,
                       const Node* list_head) noexcept {
    return View::resolve(node_position, user_pointer, list_head);
  }

 private:
  Header header_;
  alignas(kWordSize) std::array<std::byte, DataLen> data_;
};

}  // namespace nodealloc
