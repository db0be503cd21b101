// See free_link.h.
#include "hardening/free_link.h"

#include <sys/auxv.h>
#include <sys/random.h>

namespace nodealloc::free_link {

std::atomic<std::uintptr_t> detail::secret{0};

namespace {

// splitmix64's finalizer: spreads AT_RANDOM's bits, so the secret is not a copy of glibc's own
// stack-protector or pointer-guard words, which are taken from the same 16 bytes.
std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uintptr_t fresh_secret() noexcept {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof value)) {
    std::uint64_t bytes[2] = {0, 0};
    if (const auto random = getauxval(AT_RANDOM)) std::memcpy(bytes, reinterpret_cast<const void*>(random), sizeof bytes);
    value = mix(bytes[0] ^ mix(bytes[1]));
  }
  return value == 0 ? 0x9e3779b97f4a7c15ULL : value;  // zero would encode nothing
}

}  // namespace

void init_secret() noexcept {
  if constexpr (!enabled(Mitigation::kEncodedFreeLinks)) return;
  if (detail::secret.load(std::memory_order_acquire) != 0) return;
  std::uintptr_t expected = 0;
  detail::secret.compare_exchange_strong(expected, fresh_secret(), std::memory_order_acq_rel);
}

void detail::report_corrupted(const void* block, std::uintptr_t link, unsigned class_index) noexcept {
  report_fatal(FatalError::kCorruptedFreeList, block, {{"class", class_index}, FatalDetail::address("link", link)});
}

}  // namespace nodealloc::free_link
