// A platform (core/platform/platform.h) that refuses memory on demand, for out-of-memory tests:
// it maps (and remaps) through the OS platform until told to fail, and counts what is mapped, so
// a test can check that nothing leaked once the allocator is gone. It can refuse protect() too.
#pragma once

#include <atomic>
#include <cstddef>

#include "platform/platform.h"

namespace nodealloc::testing {

class FailingPlatform final : public Platform {
 public:
  // Refuse every map() from now on (true), or none (false).
  void fail_all(bool fail) { fail_all_ = fail; }
  // Let the next `successes` map() calls through, then refuse all (-1: no such budget).
  void fail_after(long successes) { successes_left_ = successes; }

  void* map(std::size_t size, std::size_t alignment) noexcept override {
    if (fail_all_ || successes_left_ == 0) {
      ++refusals_;
      return nullptr;
    }
    if (successes_left_ > 0) --successes_left_;
    void* memory = os_platform().map(size, alignment);
    if (memory != nullptr) {
      mapped_ += size;
      ++maps_;
    }
    return memory;
  }
  void unmap(void* memory, std::size_t size) noexcept override {
    mapped_ -= size;
    os_platform().unmap(memory, size);
  }
  void* remap(void* memory, std::size_t old_size, std::size_t new_size) noexcept override {
    if (fail_all_ || successes_left_ == 0 || refuse_remap_) {
      ++refusals_;
      return nullptr;
    }
    if (successes_left_ > 0) --successes_left_;
    void* moved = os_platform().remap(memory, old_size, new_size);
    if (moved != nullptr) {
      mapped_ += new_size - old_size;
      ++remaps_;
    }
    return moved;
  }
  void discard(void* memory, std::size_t size) noexcept override { os_platform().discard(memory, size); }
  bool protect(void* memory, std::size_t size) noexcept override {
    return !refuse_protect_ && os_platform().protect(memory, size);
  }
  // Refuse every protect() from now on (true: a sandbox, or a process at its limit of mappings).
  void refuse_protect(bool refuse) { refuse_protect_ = refuse; }
  // Refuse every remap() from now on (true), as the OS may when the address space is full.
  void refuse_remap(bool refuse) { refuse_remap_ = refuse; }

  std::size_t mapped() const { return mapped_; }
  long refusals() const { return refusals_; }
  long maps() const { return maps_; }      // map() calls that succeeded
  long remaps() const { return remaps_; }  // remap() calls that succeeded

 private:
  std::atomic<bool> fail_all_{false};
  std::atomic<long> successes_left_{-1};
  std::atomic<std::size_t> mapped_{0};
  std::atomic<long> refusals_{0};
  std::atomic<long> maps_{0};
  std::atomic<long> remaps_{0};
  std::atomic<bool> refuse_protect_{false};
  std::atomic<bool> refuse_remap_{false};
};

}  // namespace nodealloc::testing
