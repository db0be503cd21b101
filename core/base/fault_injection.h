// Deliberate breakages, to prove that the property tests and fuzz corpora bite (props/, suite
// "faults": each fault's should_fail test runs every property program and every corpus replay).
//
// Built only with -Dfault_injection=true (NODEALLOC_FAULT_INJECTION=1); otherwise every
// NODEALLOC_FAULT(...) is the constant false and compiles away. In such a build, the environment
// variable NODEALLOC_FAULT names the one fault that is on for the whole process:
//
//   alignment_off_by_one   class_for() accepts a class aligned to half the alignment asked for
//   wrong_header_slot      NodeHeader::link() writes the free link into word 6, not word 7
//   lost_free_link         a block freed into a thread cache drops the rest of the cache's list
//   class_too_small        a request of exactly a class's usable size gets the class below
//   stats_miscount         statistics() counts one live block too many in class 0
//   trim_keeps_a_chunk     (pool) release_free_memory() keeps the last empty chunk mapped
//   realloc_copies_short   (heap) a realloc that moves a block copies one byte less
//   free_link_unchecked    (hardening) a free-list link is followed without its plausibility check
//   reallocarray_wraps     (api) reallocarray() forgets its count * size overflow check
//   large_not_unlinked     (large) a freed large block stays on the list of live ones
//   unmap_keeps_last_page  (platform) unmap() gives back all but the last page
//   aligned_alloc_unaligned (override) the drop-in's aligned_alloc() drops its alignment argument
#pragma once

#if NODEALLOC_FAULT_INJECTION
#include <cstdlib>
#include <cstring>

namespace nodealloc::fault {

// Read at every check, not kept in a function-local static: its guard is the C++ runtime's,
// which core/ does without (core/meson.build). Fault builds are for tests; getenv is cheap.
inline bool active(const char* name) {
  const char* const chosen = std::getenv("NODEALLOC_FAULT");
  return chosen != nullptr && std::strcmp(chosen, name) == 0;
}

}  // namespace nodealloc::fault

#define NODEALLOC_FAULT(name) (::nodealloc::fault::active(#name))
#else
#define NODEALLOC_FAULT(name) false
#endif
