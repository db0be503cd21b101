// The one place that tells ASan and Valgrind which bytes of nodealloc's memory are live.
//
// A custom allocator hides its users' bugs: to ASan every byte it got from mmap is addressable, so
// a use after free or an overflow into a neighbour block goes unseen. These three annotations say
// what the user may touch, and map onto whichever tool the build has (or onto nothing):
//
//   mark_allocated(p, n)   n bytes at p became a live block: addressable, contents undefined
//   mark_freed(p, n)       the block at p (n usable bytes) was freed: any access is a bug
//   mark_no_access(p, n)   allocator metadata in user memory (back-pointers): never the user's
//
// ASan (clang -fsanitize=address): poisoning, reported as use-after-poison or heap-buffer-overflow.
// Valgrind (-Dvalgrind=true, NODEALLOC_VALGRIND=1): malloc-like/free-like client requests, so
// memcheck reports invalid reads and writes and leaks in nodealloc blocks as it does for malloc.
//
// The allocator's own accesses to freed blocks (the free-list link in a free block's first word)
// and to back-pointers happen in functions marked NODEALLOC_NO_SANITIZE, which ASan does not check.
#pragma once

#include <cstddef>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NODEALLOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NODEALLOC_ASAN 1
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NODEALLOC_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NODEALLOC_TSAN 1
#endif

#if NODEALLOC_ASAN
#include <sanitizer/asan_interface.h>
#define NODEALLOC_NO_SANITIZE __attribute__((no_sanitize("address")))
#else
#define NODEALLOC_NO_SANITIZE
#endif

#if NODEALLOC_VALGRIND
#include <valgrind/memcheck.h>
#endif

namespace nodealloc {

// Which sanitizer this build runs under, for code and tests that must behave differently.
#if NODEALLOC_ASAN
inline constexpr bool kBuiltWithAsan = true;
#else
inline constexpr bool kBuiltWithAsan = false;
#endif
#if NODEALLOC_TSAN
inline constexpr bool kBuiltWithTsan = true;
#else
inline constexpr bool kBuiltWithTsan = false;
#endif

inline void mark_allocated([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size) {
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MALLOCLIKE_BLOCK(block, size, 0, 0);
#endif
}

inline void mark_freed([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size) {
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_FREELIKE_BLOCK(block, 0);
#endif
}

inline void mark_no_access([[maybe_unused]] void* memory, [[maybe_unused]] std::size_t size) {
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(memory, size);
#endif
}

// Metadata the allocator is about to reuse for a user block.
inline void mark_reusable([[maybe_unused]] void* memory, [[maybe_unused]] std::size_t size) {
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(memory, size);
#endif
}

}  // namespace nodealloc
