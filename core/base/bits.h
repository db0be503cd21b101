// Word-size constants and overflow-checked address arithmetic.
//
// Every address computation in nodealloc that can meet a caller-chosen value (an alignment, a size,
// a header position) goes through these helpers, so that an impossible request answers "does not
// fit" instead of wrapping around the address space. They work on std::uintptr_t, never on
// pointers: forming an out-of-range pointer is undefined behaviour even if it is never used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nodealloc {

// The width of one header slot and of a back-pointer: one pointer-sized word.
inline constexpr std::size_t kWordSize = sizeof(std::uintptr_t);

constexpr bool is_power_of_two(std::uintmax_t value) noexcept {
  return value != 0 && (value & (value - 1)) == 0;
}

// *sum = a + b; false when the sum does not fit in a uintptr_t.
constexpr bool checked_add(std::uintptr_t a, std::uintmax_t b, std::uintptr_t* sum) noexcept {
  return !__builtin_add_overflow(a, b, sum);
}

// *aligned = the smallest multiple of `align` that is >= value; false when that is not
// representable. Precondition: `align` is a power of two (any of them, up to 2^63).
constexpr bool checked_align_up(std::uintptr_t value, std::uintmax_t align,
                                std::uintptr_t* aligned) noexcept {
  std::uintptr_t bumped = 0;
  if (!checked_add(value, align - 1, &bumped)) return false;
  *aligned = bumped & ~static_cast<std::uintptr_t>(align - 1);
  return true;
}

}  // namespace nodealloc
