// rapidcheck properties of the OS platform (core/platform/os_platform.cc) against what the kernel
// really holds, not against what the allocator asked for: every other test runs the platform
// under the allocator, or under a platform of its own (the fuzz targets' ScriptedPlatform), so a
// platform that unmapped too little or dropped an alignment would pass them all.
//
// For random page-multiple sizes and power-of-two alignments (a page to 4 MiB), and a random
// sequence of operations on the mapping, the kernel's view (mincore: ENOMEM where nothing is
// mapped; the bytes themselves) must be:
// - map: the whole range mapped, aligned as asked, reading as zeros;
// - discard of a part: that part reads as zeros again, the rest keeps its bytes;
// - unmap of the whole, or of a page-aligned head or tail: exactly that much no longer mapped,
//   and what is left still mapped and intact;
// - protect of a part: true, and the rest still intact (the protected pages are not read).
//
// Replay a failure with the RC_PARAMS line rapidcheck prints, e.g.
//   RC_PARAMS="reproduce=..." build/gcc/props/platform_props
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "platform/platform.h"

namespace nodealloc {
namespace {

// Whether every page of [memory, memory + size) is mapped (mincore fails with ENOMEM on a hole).
bool all_mapped(const void* memory, std::size_t size) {
  std::vector<unsigned char> residency(size / page_size());
  return ::mincore(const_cast<void*>(memory), size, residency.data()) == 0;
}

// Whether no page of the range is mapped.
bool none_mapped(const void* memory, std::size_t size) {
  std::vector<unsigned char> residency(1);
  const auto* bytes = static_cast<const unsigned char*>(memory);
  for (std::size_t offset = 0; offset < size; offset += page_size()) {
    errno = 0;
    if (::mincore(const_cast<unsigned char*>(bytes + offset), page_size(), residency.data()) == 0 || errno != ENOMEM) {
      return false;
    }
  }
  return true;
}

bool holds(const unsigned char* bytes, std::size_t size, unsigned char value) {
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != value) return false;
  }
  return true;
}

RC_GTEST_PROP(PlatformProps, MapDiscardUnmapAsTheKernelSeesThem, ()) {
  const std::size_t page = page_size();
  const std::size_t pages = *rc::gen::inRange<std::size_t>(1, 65);
  const std::size_t size = pages * page;
  const std::size_t alignment = page << *rc::gen::inRange(0, 11);  // a page to 4 MiB at 4 KiB pages
  Platform& platform = os_platform();
  auto* bytes = static_cast<unsigned char*>(platform.map(size, alignment));
  RC_ASSERT(bytes != nullptr);
  RC_ASSERT(reinterpret_cast<std::uintptr_t>(bytes) % alignment == 0);
  RC_ASSERT(all_mapped(bytes, size));
  RC_ASSERT(holds(bytes, size, 0));
  std::memset(bytes, 0x5a, size);

  // A part discarded reads as zeros, the rest keeps its bytes.
  const std::size_t first = *rc::gen::inRange<std::size_t>(0, pages);
  const std::size_t count = *rc::gen::inRange<std::size_t>(1, pages - first + 1);
  platform.discard(bytes + first * page, count * page);
  RC_ASSERT(all_mapped(bytes, size));
  RC_ASSERT(holds(bytes, first * page, 0x5a));
  RC_ASSERT(holds(bytes + first * page, count * page, 0));
  RC_ASSERT(holds(bytes + (first + count) * page, size - (first + count) * page, 0x5a));
  std::memset(bytes, 0x5a, size);

  // A head and a tail unmapped: exactly those pages go, the middle stays whole.
  std::size_t head = 0;
  std::size_t tail = 0;
  if (pages >= 3) {
    head = *rc::gen::inRange<std::size_t>(0, pages / 2);
    tail = *rc::gen::inRange<std::size_t>(0, pages / 2);
  }
  if (head > 0) platform.unmap(bytes, head * page);
  if (tail > 0) platform.unmap(bytes + (pages - tail) * page, tail * page);
  unsigned char* middle = bytes + head * page;
  const std::size_t middle_size = (pages - head - tail) * page;
  RC_ASSERT(none_mapped(bytes, head * page));
  RC_ASSERT(none_mapped(bytes + (pages - tail) * page, tail * page));
  RC_ASSERT(all_mapped(middle, middle_size));
  RC_ASSERT(holds(middle, middle_size, 0x5a));

  // A protected last page: granted, and the rest still readable and intact.
  if (middle_size > page) {
    RC_ASSERT(platform.protect(middle + middle_size - page, page));
    RC_ASSERT(holds(middle, middle_size - page, 0x5a));
  }

  platform.unmap(middle, middle_size);
  RC_ASSERT(none_mapped(middle, middle_size));
}

// Impossible requests are refused, never mapped.
TEST(PlatformProps, ImpossibleRequestsGiveNull) {
  Platform& platform = os_platform();
  const std::size_t page = page_size();
  EXPECT_EQ(platform.map(0, page), nullptr);
  EXPECT_EQ(platform.map(page + 1, page), nullptr);
  EXPECT_EQ(platform.map(page, 3 * page), nullptr);
  EXPECT_EQ(platform.map(page, page / 2), nullptr);
  EXPECT_EQ(platform.map(SIZE_MAX - page + 1, page), nullptr);
  EXPECT_EQ(platform.map(page, std::size_t{1} << 63), nullptr);
}

}  // namespace
}  // namespace nodealloc
