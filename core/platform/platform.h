// The platform layer: the only part of nodealloc that asks the OS for memory.
//
// Everything above it gets memory through this contract, so a test can swap in a platform that
// fails on demand (tests/support/failing_platform.h) and watch every out-of-memory path.
//
// Contract (every implementation):
// - map(size, alignment): size and alignment are multiples of page_size(), alignment a power of
//   two. Returns zero-filled, readable and writable memory at an address aligned to `alignment`,
//   or nullptr (never a crash) when the OS refuses or the request is impossible.
// - unmap(p, size): gives back exactly a range map() returned (or a page-aligned part of one).
// - remap(p, old_size, new_size): grows a range map() returned at page alignment, or a
//   page-aligned part of one, from old_size to new_size bytes (new_size > old_size, both multiples
//   of page_size()), keeping its contents; the added bytes read as zero. Returns the range's
//   address, which may have moved (the old range is then gone, and the grown one is a mapping of
//   its own), or nullptr when the OS refuses: the range is then unchanged.
// - discard(p, size): the range stays mapped and usable, but its contents may be dropped and its
//   physical pages returned to the OS (madvise MADV_DONTNEED); it reads back as zeros.
// - protect(p, size): a page-aligned part of a live mapping becomes inaccessible (mprotect
//   PROT_NONE): any access to it faults, until it is unmapped. False when the OS refuses; the
//   range is then unchanged. Guard pages use it.
// - No function allocates from the heap, throws, or takes a lock the allocator might hold.
#pragma once

#include <cstddef>

namespace nodealloc {

class Platform {
 public:
  virtual void* map(std::size_t size, std::size_t alignment) noexcept = 0;
  virtual void unmap(void* memory, std::size_t size) noexcept = 0;
  virtual void* remap(void* memory, std::size_t old_size, std::size_t new_size) noexcept = 0;
  virtual void discard(void* memory, std::size_t size) noexcept = 0;
  virtual bool protect(void* memory, std::size_t size) noexcept = 0;

 protected:
  ~Platform() = default;
};

// The page size the platform works in (the OS page size, read once).
std::size_t page_size() noexcept;

// The process's OS platform: mmap, munmap and madvise.
Platform& os_platform() noexcept;

}  // namespace nodealloc
