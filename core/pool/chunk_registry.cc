// See chunk_registry.h.
#include "pool/chunk_registry.h"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstddef>

#include "pool/chunk.h"

namespace nodealloc::chunk_registry {
namespace {

constexpr unsigned kAddressBits = 47;
constexpr unsigned kGranuleShift = std::countr_zero(kChunkSize);  // one bit per chunk-sized granule
constexpr std::uintptr_t kGranules = std::uintptr_t{1} << (kAddressBits - kGranuleShift);
constexpr std::size_t kBitmapBytes = kGranules / 8;

std::atomic<std::atomic<std::uint64_t>*> bitmap{nullptr};

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

bool contains(const void* address) noexcept {
  std::atomic<std::uint64_t>* words = bitmap.load(std::memory_order_acquire);
  const std::uintptr_t granule = reinterpret_cast<std::uintptr_t>(address) >> kGranuleShift;
  if (words == nullptr || granule >= kGranules) return false;
  return (words[granule / 64].load(std::memory_order_relaxed) >> (granule % 64)) & 1;
}

}  // namespace nodealloc::chunk_registry
