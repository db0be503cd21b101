// See secret.h.
#include "hardening/secret.h"

#include "base/entropy.h"

namespace nodealloc::secret {

std::atomic<std::uintptr_t> detail::value{0};

void init() noexcept {
  if constexpr (!kNeeded) return;
  if (detail::value.load(std::memory_order_acquire) != 0) return;
  std::uintptr_t expected = 0;
  detail::value.compare_exchange_strong(expected, entropy_word(), std::memory_order_acq_rel);
}

}  // namespace nodealloc::secret
