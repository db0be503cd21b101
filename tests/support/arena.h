// Test support: memory to place Nodes at chosen addresses, and a reference for "does it fit".
//
// Alignment cases depend on the absolute address of a Node's data area, so tests place Nodes in an
// arena aligned to kArenaAlign and pick the data area's address modulo that alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "base/sanitizer.h"

namespace nodealloc::testing {

inline constexpr std::size_t kArenaAlign = 1 << 16;

struct FreeDeleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};

// An arena of `size` bytes aligned to kArenaAlign.
class Arena {
 public:
  // aligned_alloc wants a size that is a multiple of the alignment.
  explicit Arena(std::size_t size)
      : memory_(static_cast<std::byte*>(std::aligned_alloc(kArenaAlign, round_up(size)))),
        size_(round_up(size)) {
    if (!memory_) throw std::bad_alloc();
    std::memset(memory_.get(), 0, size_);
  }
  std::byte* begin() const noexcept { return memory_.get(); }
  std::size_t size() const noexcept { return size_; }

 private:
  static std::size_t round_up(std::size_t size) {
    return (size + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  }

  std::unique_ptr<std::byte, FreeDeleter> memory_;
  std::size_t size_;
};

// Constructs a NodeType in `arena` so that its data area starts at arena + kArenaAlign + residue
// (residue a multiple of the Node's alignment, below kArenaAlign). The arena needs at least
// 2 * kArenaAlign + sizeof(NodeType) bytes.
template <class NodeType>
NodeType* place_node(Arena& arena, std::size_t residue) {
  NodeType probe;
  const std::size_t data_offset =
      static_cast<std::size_t>(probe.data() - reinterpret_cast<std::byte*>(&probe));
  std::byte* data = arena.begin() + kArenaAlign + residue;
  // The arena is the test's own memory: the back-pointers of Nodes placed in it before are
  // no-access to memcheck (base/sanitizer.h), and a new Node may lie over them.
  mark_defined(arena.begin(), arena.size());
  return new (data - data_offset) NodeType;
}

// The fit rule of block.h, computed another way: in 128-bit arithmetic, where nothing overflows.
// Returns the user address, or 0 when the block does not fit.
inline std::uintptr_t reference_block_address(std::uintptr_t area, std::size_t area_len,
                                              std::size_t align, std::size_t size) {
  __extension__ using Wide = unsigned __int128;
  if (align == 0 || (align & (align - 1)) != 0) return 0;
  const Wide first = Wide{area} + sizeof(std::uintptr_t);
  const Wide user = (first + align - 1) / align * align;
  if (user + size > Wide{area} + area_len) return 0;
  return static_cast<std::uintptr_t>(user);
}

}  // namespace nodealloc::testing
