// Random words from the kernel, for the secrets hardening keys on: the process secret
// (hardening/secret.h) and each quarantine's eviction order (hardening/quarantine.h).
//
// getrandom(), without blocking; if that fails (an old kernel, a seccomp filter), the 16 bytes the
// kernel gave the process at exec (AT_RANDOM), hashed. Never derived from heap addresses, which a
// heap bug may leak. Allocates nothing and takes no lock: callable while the first heap is built.
#pragma once

#include <cstdint>

namespace nodealloc {

// A random word, never zero (zero would encode nothing, or stop a xorshift generator). With the
// AT_RANDOM fallback every call returns the same word: unknown to an attacker, but not fresh.
std::uint64_t entropy_word() noexcept;

}  // namespace nodealloc
