// See free_link.h.
#include "hardening/free_link.h"

#include "base/entropy.h"

namespace nodealloc::free_link {

std::atomic<std::uintptr_t> detail::secret{0};

void init_secret() noexcept {
  if constexpr (!enabled(Mitigation::kEncodedFreeLinks)) return;
  if (detail::secret.load(std::memory_order_acquire) != 0) return;
  std::uintptr_t expected = 0;
  detail::secret.compare_exchange_strong(expected, entropy_word(), std::memory_order_acq_rel);
}

void detail::report_corrupted(const void* block, std::uintptr_t link, unsigned class_index) noexcept {
  report_fatal(FatalError::kCorruptedFreeList, block, {{"class", class_index}, FatalDetail::address("link", link)});
}

}  // namespace nodealloc::free_link
