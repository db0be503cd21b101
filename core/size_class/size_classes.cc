// See size_classes.h. The validator recomputes every property from the table by brute force, so
// it does not share the lookup's arithmetic it is checking.
#include "size_class/size_classes.h"

namespace nodealloc {

// Worst waste allowed: the usable bytes a request may get beyond what it asked for, as a fraction
// of the stride, for classes above 128 bytes (below, steps of 16 bytes rule).
static constexpr double kMaxWasteFraction = 0.25;
static constexpr double kMaxFineWasteFraction = 0.125;  // 4-16 KiB (size_classes.h says why)

const char* validate_size_classes() {
  for (unsigned i = 0; i < kClassCount; ++i) {
    const SizeClass& c = size_class(i);
    if (c.stride % kMinAlignment != 0) return "a stride is not a multiple of 16";
    if (c.usable + kWordSize != c.stride) return "usable size is not stride minus the back-pointer";
    if (i > 0 && c.stride <= size_class(i - 1).stride) return "strides are not increasing";
    if (!is_power_of_two(c.natural_alignment) || c.stride % c.natural_alignment != 0 ||
        (c.stride / c.natural_alignment) % 2 == 0) {
      return "natural alignment is not the largest power of two dividing the stride";
    }
    if (c.natural_alignment < kMinAlignment) return "a class is less than 16-aligned";
    if (c.slab_pages == 0 || c.slab_pages > kMaxSlabPages) return "slab size out of range";
    const std::size_t slab_bytes = std::size_t{c.slab_pages} * kSlabPageSize;
    if (c.first_buffer + kWordSize != c.natural_alignment) return "first buffer misplaced";
    if (c.capacity == 0 || c.first_buffer + std::size_t{c.capacity} * c.stride > slab_bytes ||
        c.first_buffer + std::size_t{c.capacity + 1} * c.stride <= slab_bytes) {
      return "capacity is not the number of buffers that fit the slab";
    }
    if (c.refill_batch == 0 || c.cache_limit < c.refill_batch) return "cache batch or limit out of range";
    if (c.stride_reciprocal * c.stride < (std::uint64_t{1} << kReciprocalShift) ||
        (c.stride_reciprocal - 1) * c.stride >= (std::uint64_t{1} << kReciprocalShift)) {
      return "a stride's reciprocal is not ceil(2^40 / stride)";
    }
    if (i > 0 && c.stride > 128) {
      const std::size_t smallest_request = size_class(i - 1).usable + 1;
      if (static_cast<double>(c.usable - smallest_request) > kMaxWasteFraction * c.stride) {
        return "a class wastes more than a quarter of its stride";
      }
      if (c.stride > 4096 && c.stride <= 16384 &&
          static_cast<double>(c.usable - smallest_request) > kMaxFineWasteFraction * c.stride) {
        return "a class of 4-16 KiB wastes more than an eighth of its stride";
      }
    }
    // Every size maps to the smallest class that fits: check both edges of the class.
    if (class_for_size(c.usable) != i) return "the class's own usable size maps elsewhere";
    const std::size_t below = i == 0 ? 0 : size_class(i - 1).usable + 1;
    if (class_for_size(below) != i) return "the smallest request of a class maps elsewhere";
  }
  if (size_class(kClassCount - 1).usable != kMaxSmallSize) return "kMaxSmallSize is off";
  if (class_for_size(kMaxSmallSize + 1) != kNoClass) return "a size beyond the classes maps in";
  for (std::size_t align = 32; align <= kMaxStride; align *= 2) {
    const unsigned index = class_for(1, align);
    if (index == kNoClass || size_class(index).natural_alignment < align) {
      return "an alignment up to the largest stride has no class";
    }
    for (unsigned j = 0; j < index; ++j) {
      if (size_class(j).natural_alignment >= align) return "an aligned request skips a fitting class";
    }
  }
  return nullptr;
}

}  // namespace nodealloc
