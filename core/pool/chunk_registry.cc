// See chunk_registry.h.
#include "pool/chunk_registry.h"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstddef>

#include "pool/chunk.h"

namespace nodealloc::chunk_registry {

std::atomic<std::atomic<std::uint64_t>*> detail::bitmap{nullptr};

namespace {

using detail::bitmap;
constexpr std::size_t kBitmapBytes = kGranules / 8;
static_assert(kChunkSize == Config::kChunkSize);

std::atomic<std::uint64_t>* get_bitmap() noexcept {
  std::atomic<std::uint64_t>* words = bitmap.load(std::memory_order_acquire);
  if (words != nullptr) return words;
  void* memory = ::mmap(nullptr, kBitmapBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* fresh = static_cast<std::atomic<std::uint64_t>*>(memory);
  if (!bitmap.compare_exchange_strong(words, fresh, std::memory_order_acq_rel)) {
    ::munmap(memory, kBitmapBytes);  // another thread won the race
    return words;
  }
  return fresh;
}

}  // namespace

bool add(const void* chunk) noexcept {
  std::atomic<std::uint64_t>* words = get_bitmap();
  if (words == nullptr) return false;
  const std::uintptr_t granule = reinterpret_cast<std::uintptr_t>(chunk) >> kGranuleShift;
  if (granule >= kGranules) return false;
  words[granule / 64].fetch_or(std::uint64_t{1} << (granule % 64), std::memory_order_release);
  return true;
}

void remove(const void* chunk) noexcept {
  std::atomic<std::uint64_t>* words = bitmap.load(std::memory_order_acquire);
  const std::uintptr_t granule = reinterpret_cast<std::uintptr_t>(chunk) >> kGranuleShift;
  if (words == nullptr || granule >= kGranules) return;
  words[granule / 64].fetch_and(~(std::uint64_t{1} << (granule % 64)), std::memory_order_release);
}

}  // namespace nodealloc::chunk_registry
