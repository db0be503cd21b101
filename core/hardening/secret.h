// The per-process secret that keyed mitigations mix into what they store in attacker-reachable
// memory: free-list links (free_link.h) and back-pointer checksums (block_state.h).
//
// It comes from entropy_word() (base/entropy.h: getrandom, or AT_RANDOM hashed), never from the
// heap or an address, is set once per process before any allocator writes a keyed word, and never
// changes after: a word written under one secret must decode under the same one. It is never
// zero. It lives apart from what it protects (in the library's data, not in any chunk), so an
// overflow out of a block cannot reach it.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/mitigations.h"

namespace nodealloc::secret {

// Whether this build has a mitigation that reads the secret.
inline constexpr bool kNeeded =
    enabled(Mitigation::kEncodedFreeLinks) || enabled(Mitigation::kBackPointerChecksum);

namespace detail {
extern std::atomic<std::uintptr_t> value;
}  // namespace detail

// Sets the secret, once per process; every allocator instance calls it before it writes a keyed
// word. Later calls change nothing.
void init() noexcept;

// The secret (zero before init(), and always zero when no mitigation needs it).
inline std::uintptr_t value() noexcept { return detail::value.load(std::memory_order_relaxed); }

}  // namespace nodealloc::secret
