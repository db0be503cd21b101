// NodeHeader<HeaderLen>: the metadata part of a Node, on its own.
//
// A header is a byte array of HeaderLen bytes (layout and slot names: header_layout.h). It is a
// separate type because a header need not sit next to the data it describes: blocks find their
// header through a back-pointer (block.h), so the allocator may keep headers apart from the memory
// it hands out, where a buffer overflow in user data cannot reach them.
//
// Invariants:
// - a word is read or written at byte position p only if p + kWordSize <= HeaderLen, computed
//   without overflow; any other position is reported as fatal in every build, release included
//   (C++ arrays do not check bounds the way the seed's slices do);
// - words move in and out by std::memcpy, never by casting the byte array to another type, so
//   unaligned positions are fine and no aliasing rule is broken;
// - a slot that holds zero reads back as a null pointer, never as a "non-null" null.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "base/fault_injection.h"
#include "base/report.h"
#include "node/header_layout.h"

namespace nodealloc {

// What a read returns: the value and the position just after it, as the seed's read does.
template <class Value>
struct HeaderRead {
  std::size_t next_position;
  Value value;
};

template <std::size_t HeaderLen>
class NodeHeader {
  static_assert(HeaderLen >= header_slot::kMinHeaderLen,
                "a header holds at least eight words: the free link is word 7");

 public:
  static constexpr std::size_t kLength = HeaderLen;

  // True when a whole word at `position` lies inside the header. Defined for every position.
  static constexpr bool word_fits(std::size_t position) noexcept {
    return position <= HeaderLen && HeaderLen - position >= kWordSize;
  }

  // Writes `value` at byte `position`; returns the position just after it.
  std::size_t write_word(std::size_t position, std::uintptr_t value) noexcept {
    check_position(position);
    std::memcpy(bytes_.data() + position, &value, kWordSize);
    return position + kWordSize;
  }

  template <class Pointee>
  std::size_t write_ptr(std::size_t position, const Pointee* pointer) noexcept {
    return write_word(position, reinterpret_cast<std::uintptr_t>(pointer));
  }

  HeaderRead<std::uintptr_t> read_word(std::size_t position) const noexcept {
    check_position(position);
    std::uintptr_t value = 0;
    std::memcpy(&value, bytes_.data() + position, kWordSize);
    return {position + kWordSize, value};
  }

  // The pointer stored at `position`, or nullptr when the slot holds zero.
  template <class Pointee>
  HeaderRead<Pointee*> read_ptr(std::size_t position) const noexcept {
    const HeaderRead<std::uintptr_t> word = read_word(position);
    return {word.next_position, reinterpret_cast<Pointee*>(word.value)};
  }

  // Puts this header's Node in front of a free list: word 7 takes the list's current head.
  void link(const void* list_head) noexcept {
    write_ptr(NODEALLOC_FAULT(wrong_header_slot) ? header_slot::kFreeLink - kWordSize : header_slot::kFreeLink,
              list_head);
  }

  // A word-aligned slot that several threads use, as an atomic. The byte array implicitly
  // creates the uintptr_t object there (C++20 [intro.object]), so no aliasing rule is broken.
  std::atomic_ref<std::uintptr_t> atomic_word(std::size_t position) noexcept {
    check_position(position);
    if (position % kWordSize != 0) [[unlikely]] {
      report_fatal(FatalError::kHeaderPositionOutOfBounds, this,
                   {{"position", position}, {"header_len", HeaderLen}});
    }
    return std::atomic_ref<std::uintptr_t>(
        *reinterpret_cast<std::uintptr_t*>(bytes_.data() + position));
  }

  const std::array<std::byte, HeaderLen>& bytes() const noexcept { return bytes_; }

 private:
  void check_position(std::size_t position) const noexcept {
    if (!word_fits(position)) [[unlikely]] {
      report_fatal(FatalError::kHeaderPositionOutOfBounds, this,
                   {{"position", position}, {"header_len", HeaderLen}});
    }
  }

  alignas(kWordSize) std::array<std::byte, HeaderLen> bytes_{};
};

}  // namespace nodealloc
