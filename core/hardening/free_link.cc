// See free_link.h.
#include "hardening/free_link.h"

namespace nodealloc::free_link {

void detail::report_corrupted(const void* block, std::uintptr_t link, unsigned class_index) noexcept {
  report_fatal(FatalError::kCorruptedFreeList, block, {{"class", class_index}, FatalDetail::address("link", link)});
}

}  // namespace nodealloc::free_link
