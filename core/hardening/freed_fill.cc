// See freed_fill.h.
#include "hardening/freed_fill.h"

#include "base/options.h"

namespace nodealloc::freed_fill {

std::atomic<std::uintptr_t> detail::pattern_word{0};

void init() noexcept {
  if constexpr (!enabled(Mitigation::kFreedFill)) return;
  if (detail::pattern_word.load(std::memory_order_acquire) != 0) return;
  // A fill byte of zero gives the word 0, which also means "not read yet": init() then reads the
  // option again on each call, and gets the same answer.
  const std::uintptr_t word = std::uintptr_t{0x0101010101010101ULL} * (options().fill_byte & 0xffu);
  std::uintptr_t expected = 0;
  detail::pattern_word.compare_exchange_strong(expected, word, std::memory_order_acq_rel);
}

}  // namespace nodealloc::freed_fill
