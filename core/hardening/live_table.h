// LiveTable: the set of live large blocks' addresses, for kPointerCheck (base/mitigations.h):
// free() of a pointer outside every chunk is valid only if it is in here. Open addressing with
// linear probing and backward-shift deletion (no tombstones), at most half full, its array mapped
// from the allocator's MemorySource. Not thread-safe: Hardening holds its lock around it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "platform/platform.h"
#include "pool/memory_source.h"

namespace nodealloc {

class LiveTable {
 public:
  explicit LiveTable(MemorySource& source) : source_(source) {}
  ~LiveTable() {
    if (slots_ != nullptr) source_.unmap(slots_, capacity_ * sizeof(std::uintptr_t));
  }
  LiveTable(const LiveTable&) = delete;
  LiveTable& operator=(const LiveTable&) = delete;

  // False when the table cannot grow (out of memory).
  bool insert(std::uintptr_t key) noexcept {
    if ((count_ + 1) * 2 > capacity_ && !grow()) return false;
    std::size_t i = slot_of(key);
    while (slots_[i] != 0) i = (i + 1) & (capacity_ - 1);
    slots_[i] = key;
    ++count_;
    return true;
  }

  bool contains(std::uintptr_t key) const noexcept {
    if (slots_ == nullptr) return false;
    for (std::size_t i = slot_of(key); slots_[i] != 0; i = (i + 1) & (capacity_ - 1)) {
      if (slots_[i] == key) return true;
    }
    return false;
  }

  void erase(std::uintptr_t key) noexcept {
    if (slots_ == nullptr) return;
    std::size_t i = slot_of(key);
    while (slots_[i] != key) {
      if (slots_[i] == 0) return;
      i = (i + 1) & (capacity_ - 1);
    }
    // Backward shift: move later entries of the probe run into the hole when that keeps them
    // reachable from their home slot.
    for (std::size_t j = (i + 1) & (capacity_ - 1); slots_[j] != 0; j = (j + 1) & (capacity_ - 1)) {
      const std::size_t home = slot_of(slots_[j]);
      const bool hole_between = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (hole_between) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = 0;
    --count_;
  }

 private:
  std::size_t slot_of(std::uintptr_t key) const noexcept {
    return static_cast<std::size_t>((key >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & (capacity_ - 1);
  }

  bool grow() noexcept {
    const std::size_t capacity = capacity_ == 0 ? page_size() / sizeof(std::uintptr_t) : 2 * capacity_;
    auto* slots = static_cast<std::uintptr_t*>(source_.map(capacity * sizeof(std::uintptr_t), page_size()));
    if (slots == nullptr) return false;
    std::uintptr_t* old_slots = slots_;
    const std::size_t old_capacity = capacity_;
    slots_ = slots;
    capacity_ = capacity;
    count_ = 0;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old_slots[i] != 0) insert(old_slots[i]);
    }
    if (old_slots != nullptr) source_.unmap(old_slots, old_capacity * sizeof(std::uintptr_t));
    return true;
  }

  MemorySource& source_;
  std::uintptr_t* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t count_ = 0;
};

}  // namespace nodealloc
