// Size classes: which slab block serves a request of (size, alignment).
//
// A small block lives in a buffer of `stride` bytes inside a slab: its back-pointer (one word) and
// then `usable = stride - 8` bytes for the user. Strides:
//
//   16, 32, 48, ..., 128                    steps of 16        (classes 0-7)
//   160, 192, 224, 256, 320, ..., 4096      four per doubling  (classes 8-27)
//   4608, 5120, 5632, ..., 16384            eight per doubling (classes 28-43)
//   20480, 24576, 28672, ..., 65536         four per doubling  (classes 44-51)
//
// so a request never gets more than about 25% more than it asked for, beyond the back-pointer,
// and from 4 to 16 KiB about 12.5% (validate_size_classes() checks both bounds). Why finer there:
// sizes just above a page or two are common (a page plus its bookkeeping: sqlite's page cache
// asks for 4368 bytes, which took a 5120-byte stride, 17% of its memory; now 4608), and each
// slack is a page's worth in a program that holds thousands. Why not above 16 KiB too: every
// class costs a slab and a cache list of its own, so more classes cost more memory in a program
// that holds few blocks of each (eight per doubling up to 64 KiB: bench/workloads/realloc_growth's
// peak RSS 22.0 -> 27.7 MiB, churn's 8.0 -> 8.6; up to 16 KiB: 23.1 and 8.1; sqlite 69.1 both).
//
// Natural alignment. A slab's first buffer starts at slab + natural_alignment - 8, where
// natural_alignment is the largest power of two dividing the stride (16 for 48, 64 for 192, 4096
// for 4096). Every block of the class is then aligned to natural_alignment, since slabs are
// 64 KiB-aligned. So an aligned request is served by the smallest class whose natural alignment
// is at least the alignment asked for, and no class ever needs a block placed off its slot.
//
// Slab size: at least 64 KiB and at least 8 strides, in 64 KiB pages (at most 8 pages).
// Requests above kMaxSmallSize, or aligned beyond any class, are large allocations.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "base/config.h"
#include "base/fault_injection.h"

namespace nodealloc {

inline constexpr std::size_t kMinAlignment = 16;  // alignof(std::max_align_t) on x86-64
inline constexpr std::size_t kSlabPageSize = Config::kSlabPageSize;
inline constexpr unsigned kClassCount = 52;
inline constexpr unsigned kFirstFineClass = 28;  // eight per doubling from here (4608)
inline constexpr unsigned kFineClassEnd = 44;    // to here (16384 is class 43)
inline constexpr unsigned kNoClass = kClassCount;  // "not a small request"
inline constexpr std::size_t kMaxStride = std::size_t{64} << 10;
inline constexpr std::size_t kMaxSmallSize = kMaxStride - kWordSize;
inline constexpr std::size_t kMaxSlabPages = Config::kMaxSlabPages;

struct SizeClass {
  std::uint32_t stride;             // buffer length: back-pointer + usable bytes
  std::uint32_t usable;             // what usable_size() reports
  std::uint32_t natural_alignment;  // every block of the class is aligned to this
  std::uint32_t first_buffer;       // offset of buffer 0 from the slab's start
  std::uint32_t slab_pages;         // slab length in kSlabPageSize pages
  std::uint32_t capacity;           // blocks per slab
  std::uint32_t refill_batch;       // blocks a thread cache carves or takes at once
  std::uint32_t cache_limit;        // longest a thread cache's free list of the class may grow
  std::uint64_t stride_reciprocal;  // ceil(2^kReciprocalShift / stride): see buffer_index()
};

// Dividing by a stride without a division: for every offset inside a slab (below 2^19),
//   offset / stride == (offset * ceil(2^40 / stride)) >> 40.
// Why: the product overshoots offset / stride by less than offset / 2^40 < 2^-21, and a quotient's
// fraction is at most 1 - 1/stride, with 1/stride >= 2^-16; so the floor never reaches the next
// integer. The validator checks the reciprocals; a unit test checks every offset of every class.
inline constexpr unsigned kReciprocalShift = 40;
static_assert(kMaxSlabPages * kSlabPageSize <= std::size_t{1} << 19 && kMaxStride <= std::size_t{1} << 16,
              "the bound above holds for these slab and stride limits");

constexpr std::size_t stride_of_class(unsigned index) {
  if (index < 8) return 16 * (index + 1);
  if (index < kFirstFineClass) {
    const unsigned group = (index - 8) / 4;  // 0: (128, 256], 1: (256, 512], ... 4: (2048, 4096]
    const unsigned step = (index - 8) % 4 + 1;
    const std::size_t base = std::size_t{128} << group;
    return base + step * (base / 4);
  }
  if (index < kFineClassEnd) {
    const unsigned group = (index - kFirstFineClass) / 8;  // 0: (4096, 8192], 1: (8192, 16384]
    const unsigned step = (index - kFirstFineClass) % 8 + 1;
    const std::size_t base = std::size_t{4096} << group;
    return base + step * (base / 8);
  }
  const unsigned group = (index - kFineClassEnd) / 4;  // 0: (16384, 32768], 1: (32768, 65536]
  const unsigned step = (index - kFineClassEnd) % 4 + 1;
  const std::size_t base = std::size_t{16384} << group;
  return base + step * (base / 4);
}

constexpr SizeClass make_size_class(unsigned index) {
  const std::size_t stride = stride_of_class(index);
  const std::size_t natural = stride & (~stride + 1);  // lowest set bit
  const std::size_t min_bytes = stride * Config::kMinSlabBuffers;
  std::size_t slab_bytes = min_bytes > kSlabPageSize ? min_bytes : kSlabPageSize;
  slab_bytes = (slab_bytes + kSlabPageSize - 1) / kSlabPageSize * kSlabPageSize;
  const std::size_t first = natural - kWordSize;
  // Config::kRefillBytes of blocks per refill, within the configured counts (base/config.h says why).
  std::size_t batch = Config::kRefillBytes / stride;
  batch = batch < Config::kMinRefillBlocks ? Config::kMinRefillBlocks
                                           : (batch > Config::kMaxRefillBlocks ? Config::kMaxRefillBlocks : batch);
  return SizeClass{static_cast<std::uint32_t>(stride),
                   static_cast<std::uint32_t>(stride - kWordSize),
                   static_cast<std::uint32_t>(natural),
                   static_cast<std::uint32_t>(first),
                   static_cast<std::uint32_t>(slab_bytes / kSlabPageSize),
                   static_cast<std::uint32_t>((slab_bytes - first) / stride),
                   static_cast<std::uint32_t>(batch),
                   static_cast<std::uint32_t>(Config::kCacheLimitInRefills * batch),
                   ((std::uint64_t{1} << kReciprocalShift) + stride - 1) / stride};
}

struct SizeClassTable {
  SizeClass classes[kClassCount];
};

constexpr SizeClassTable make_size_class_table() {
  SizeClassTable table{};
  for (unsigned i = 0; i < kClassCount; ++i) table.classes[i] = make_size_class(i);
  return table;
}

inline constexpr SizeClassTable kSizeClasses = make_size_class_table();

constexpr const SizeClass& size_class(unsigned index) { return kSizeClasses.classes[index]; }

// offset / size.stride for an offset inside a slab of the class, by multiplication (see above).
constexpr std::size_t buffer_index(const SizeClass& size, std::size_t offset) {
  return static_cast<std::size_t>((offset * size.stride_reciprocal) >> kReciprocalShift);
}

// The arithmetic behind class_for_size, for any size.
constexpr unsigned compute_class_for_size(std::size_t size) {
  if (size > kMaxSmallSize) return kNoClass;
  const std::size_t needed = size + kWordSize;  // stride needed
  if (needed <= 128) return needed <= 16 ? 0 : static_cast<unsigned>((needed + 15) / 16 - 1);
  const unsigned log2_floor = static_cast<unsigned>(std::bit_width(needed - 1)) - 1;  // 2^e < needed
  const std::size_t base = std::size_t{1} << log2_floor;
  const bool fine = log2_floor >= 12 && log2_floor < 14;  // (4096, 16384]: eight steps per doubling
  const unsigned step_shift = log2_floor - (fine ? 3 : 2);  // steps of base / 8 or / 4: a shift
  const auto steps = static_cast<unsigned>((needed - base + (std::size_t{1} << step_shift) - 1) >> step_shift);
  if (fine) return kFirstFineClass + (log2_floor - 12) * 8 + steps - 1;
  if (log2_floor >= 14) return kFineClassEnd + (log2_floor - 14) * 4 + steps - 1;
  return 8 + (log2_floor - 7) * 4 + steps - 1;
}

// Requests up to kMaxTabulatedSize find their class in a table indexed by 16-byte steps of the
// stride they need: one load on the fast path instead of the arithmetic above.
inline constexpr std::size_t kMaxTabulatedSize = 1024 - kWordSize;

struct ClassLookupTable {
  std::uint8_t class_of_step[1024 / 16 + 1];
};

constexpr ClassLookupTable make_class_lookup_table() {
  ClassLookupTable table{};
  for (std::size_t step = 0; step <= 1024 / 16; ++step) {
    const std::size_t needed = step * 16;  // the largest stride need that maps to this step
    table.class_of_step[step] =
        static_cast<std::uint8_t>(compute_class_for_size(needed < kWordSize ? 0 : needed - kWordSize));
  }
  return table;
}

inline constexpr ClassLookupTable kClassLookup = make_class_lookup_table();

// The smallest class whose usable size holds `size` (alignment kMinAlignment), or kNoClass.
constexpr unsigned class_for_size(std::size_t size) {
  if (size <= kMaxTabulatedSize) {
    const unsigned index = kClassLookup.class_of_step[(size + kWordSize + 15) / 16];
    if (NODEALLOC_FAULT(class_too_small) && index > 0 && size == size_class(index).usable) return index - 1;
    return index;
  }
  return compute_class_for_size(size);
}

// The smallest class that holds `size` with every block aligned to `alignment` (a power of two),
// or kNoClass.
constexpr unsigned class_for(std::size_t size, std::size_t alignment) {
  unsigned index = class_for_size(size);
  if (alignment <= kMinAlignment) return index;
  const std::size_t needed = NODEALLOC_FAULT(alignment_off_by_one) ? alignment / 2 : alignment;
  while (index < kClassCount && size_class(index).natural_alignment < needed) ++index;
  return index;
}

// Checks the whole table: strides ordered and multiples of 16, every size maps to the smallest
// class that fits, natural alignments right, waste bounded, slabs within limits. Returns nullptr
// when the table is sound, else a description of the first fault.
const char* validate_size_classes();

}  // namespace nodealloc
