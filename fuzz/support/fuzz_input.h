// Reading a fuzz input as a stream of small decisions.
//
// Every read succeeds: past the end of the input, reads return zeros and exhausted() turns true,
// so a harness loops `while (!input.exhausted())` and every input, however short, is a valid
// program. Multi-byte values are little-endian, so a corpus file means the same on every host.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nodealloc::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool exhausted() const { return offset_ >= size_; }
  // The bytes read so far (past the end: the input's size), where the next read starts.
  std::size_t offset() const { return offset_ < size_ ? offset_ : size_; }

  std::uint8_t byte() { return offset_ < size_ ? data_[offset_++] : 0; }

  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | byte() << 8); }

  std::uint64_t u64() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 8) value |= std::uint64_t{byte()} << shift;
    return value;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace nodealloc::fuzz
