// See quarantine.h.
#include "hardening/quarantine.h"

#include "base/entropy.h"
#include "base/options.h"

namespace nodealloc {

// The seed is the kernel's, never the cache's address: a heap bug that leaks addresses must not
// tell the attacker which freed block comes back next.
Quarantine::Quarantine() noexcept : limit_(options().quarantine_size), random_(entropy_word()) {}

}  // namespace nodealloc
