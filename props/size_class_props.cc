// rapidcheck properties of the size-class table (core/size_class/size_classes.h): the lookup
// against a brute-force search of the table, for random requests weighted towards the edges of
// the classes and for every size around a random class, and the same comparison over every small
// request exhaustively (a plain test: it needs no generator).
//
// The reference answer for (size, alignment): among the classes whose usable size holds `size`
// and whose natural alignment is at least `alignment`, the one with the smallest usable size;
// kNoClass when there is none. It reads only the table, not the lookup's arithmetic.
//
// Replay a failure with the RC_PARAMS line rapidcheck prints, e.g.
//   RC_PARAMS="reproduce=..." build/gcc/props/size_class_props --gtest_filter=SizeClassProps.<name>
// More cases: RC_PARAMS="max_success=100000" build/gcc/props/size_class_props
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "size_class/size_classes.h"

namespace nodealloc {
namespace {

constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();

// validate_size_classes()'s answer as a string, "" when the table is sound (printable either way).
std::string table_fault() {
  const char* fault = validate_size_classes();
  return fault == nullptr ? std::string() : std::string(fault);
}

unsigned reference_class(std::size_t size, std::size_t alignment) {
  unsigned best = kNoClass;
  for (unsigned i = 0; i < kClassCount; ++i) {
    const SizeClass& c = size_class(i);
    if (c.usable < size || c.natural_alignment < alignment) continue;
    if (best == kNoClass || c.usable < size_class(best).usable) best = i;
  }
  return best;
}

// Sizes: anywhere among the small ones, the edges of every class, and beyond the largest.
rc::Gen<std::size_t> sizes() {
  return rc::gen::weightedOneOf<std::size_t>({
      {30, rc::gen::inRange<std::size_t>(0, kMaxSmallSize + 1)},
      {20, rc::gen::inRange<std::size_t>(0, 300)},
      {40, rc::gen::map(rc::gen::pair(rc::gen::inRange(0u, kClassCount), rc::gen::inRange(-2, 3)),
                        [](std::pair<unsigned, int> edge) {
                          return size_class(edge.first).usable + static_cast<std::size_t>(edge.second);
                        })},
      {10, rc::gen::oneOf(rc::gen::inRange<std::size_t>(kMaxSmallSize + 1, 4 * kMaxSmallSize),
                          rc::gen::inRange<std::size_t>(kMaxSmallSize + 1, kSizeMax))},
  });
}

// Every power of two, weighted towards those some class can serve.
rc::Gen<std::size_t> alignments() {
  return rc::gen::map(rc::gen::weightedOneOf<int>({{85, rc::gen::inRange(0, 18)}, {15, rc::gen::inRange(18, 64)}}),
                      [](int shift) { return std::size_t{1} << shift; });
}

RC_GTEST_PROP(SizeClassProps, ClassForPicksTheSmallestClassThatFits, ()) {
  RC_ASSERT(table_fault() == std::string());
  const std::size_t size = *sizes();
  const std::size_t alignment = *alignments();
  const unsigned index = class_for(size, alignment);
  RC_ASSERT(index == reference_class(size, alignment));
  if (index == kNoClass) return;
  RC_ASSERT(size_class(index).usable >= size);
  RC_ASSERT(size_class(index).natural_alignment >= alignment);
  RC_ASSERT(size_class(index).stride % size_class(index).natural_alignment == 0u);
}

// Every size that could map to one class (from just below its smallest request to just above its
// usable size), at every alignment up to twice the largest class's: a fault inside a class, where
// validate_size_classes() checks only the edges, shows here within a few cases.
RC_GTEST_PROP(SizeClassProps, ClassForIsRightAcrossAWholeClass, ()) {
  const unsigned index = *rc::gen::inRange(0u, kClassCount);
  const std::size_t first = index == 0 ? 0 : size_class(index - 1).usable - 1;
  const std::size_t last = size_class(index).usable + 1;
  for (std::size_t alignment = 1; alignment <= 2 * kMaxStride; alignment *= 2) {
    for (std::size_t size = first; size <= last; ++size) {
      const unsigned found = class_for(size, alignment);
      const unsigned expected = reference_class(size, alignment);
      if (found != expected) RC_LOG() << "size " << size << ", alignment " << alignment << '\n';
      RC_ASSERT(found == expected);
    }
  }
}

RC_GTEST_PROP(SizeClassProps, ClassForSizeIsClassForAtTheMinimumAlignment, ()) {
  const std::size_t size = *sizes();
  const unsigned index = class_for_size(size);
  RC_ASSERT(index == class_for(size, kMinAlignment));
  RC_ASSERT(index == reference_class(size, kMinAlignment));
  RC_ASSERT((index == kNoClass) == (size > kMaxSmallSize));
  // Alignments below the minimum change nothing: every class is 16-aligned.
  const std::size_t small_alignment = std::size_t{1} << *rc::gen::inRange(0, 5);
  RC_ASSERT(class_for(size, small_alignment) == index);
}

// The first property over every small request and every alignment up to twice the largest
// class's: 65529 sizes x 18 alignments.
TEST(SizeClassProps, ClassForMatchesTheReferenceForEveryRequest) {
  ASSERT_EQ(table_fault(), "");
  for (std::size_t alignment = 1; alignment <= 2 * kMaxStride; alignment *= 2) {
    for (std::size_t size = 0; size <= kMaxSmallSize + 1; ++size) {
      ASSERT_EQ(class_for(size, alignment), reference_class(size, alignment))
          << "size " << size << ", alignment " << alignment;
    }
  }
}

}  // namespace
}  // namespace nodealloc
