// The one place that tells ASan and Valgrind which bytes of nodealloc's memory are live.
//
// A custom allocator hides its users' bugs: to ASan and to memcheck every byte it got from mmap is
// addressable (and, to memcheck, defined), so a use after free, an overflow into a neighbour block
// or a branch on fresh memory goes unseen. These events say what the user may touch, and map onto
// whichever tool the build has (or onto nothing: every one is an empty inline function then, so a
// build without a tool compiles to exactly what it would without the calls):
//
//   mark_allocated(p, n, zeroed)  n bytes at p became a live block: addressable; contents undefined
//                                 unless zeroed (a fresh mapping's zero pages)
//   mark_resized(p, old, new)     the live block at p, of old requested bytes, now has new (realloc
//                                 kept in place): the kept bytes keep their state
//   mark_freed(p, n)              the block at p (n usable bytes) was freed: any access is a bug
//   mark_no_access(p, n)          allocator memory that is never the user's (slack past a block's
//                                 requested size, back-pointers, carved-out data areas)
//   mark_reusable(p, n)           no-access memory the allocator is about to write as a whole
//                                 (a fill) or to give back to the OS
//   MetadataAccess window(p, n)   the allocator itself reads or writes n bytes of no-access memory
//                                 (a back-pointer, a free link, a fill, a canary, a trailer, a call
//                                 site word) for the window's lifetime; they are no-access after it
//
// ASan (clang -fsanitize=address): poisoning, reported as use-after-poison or heap-buffer-overflow.
// Its checks are compiled into the code, so the functions that touch metadata are marked
// NODEALLOC_NO_SANITIZE instead of opening a window.
// Valgrind (-Dvalgrind=true, NODEALLOC_VALGRIND=1): memcheck's client requests. A block is a
// malloc-like block (VALGRIND_MALLOCLIKE_BLOCK with its requested size, FREELIKE, RESIZEINPLACE),
// so memcheck reports invalid reads and writes, uninitialised values and leaks in nodealloc blocks
// as it does for glibc's malloc. memcheck checks every access at run time, so each metadata access
// opens a MetadataAccess window (defined for the access, no-access again after it): the words it
// brackets are no-access whenever the allocator touches them (the slack and a free block's bytes
// are, back-pointers always are), which is why closing to no-access restores their state. A client
// request costs nothing measurable outside valgrind, but the build is still a variant of its own:
// the release build has none of them.
//
// Invariant: allocator code calls these events, never a client request or a poisoning macro.
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
#else
#define NODEALLOC_VALGRIND 0
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
inline constexpr bool kBuiltWithValgrind = NODEALLOC_VALGRIND != 0;

inline void mark_allocated([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size,
                           [[maybe_unused]] bool zeroed = false) noexcept {
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MALLOCLIKE_BLOCK(block, size, 0, zeroed ? 1 : 0);
#endif
}

inline void mark_resized([[maybe_unused]] void* block, [[maybe_unused]] std::size_t old_size,
                         [[maybe_unused]] std::size_t new_size) noexcept {
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, new_size);  // the caller marks the slack past it no-access
#endif
#if NODEALLOC_VALGRIND
  if (old_size == new_size) return;
  if (old_size == 0 || new_size == 0) {
    // memcheck refuses an empty block in RESIZEINPLACE; with one side empty no byte is kept.
    VALGRIND_FREELIKE_BLOCK(block, 0);
    VALGRIND_MALLOCLIKE_BLOCK(block, new_size, 0, 0);
    return;
  }
  VALGRIND_RESIZEINPLACE_BLOCK(block, old_size, new_size, 0);
#endif
}

inline void mark_freed([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size) noexcept {
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_FREELIKE_BLOCK(block, 0);
  VALGRIND_MAKE_MEM_NOACCESS(block, size);  // FREELIKE covers the requested bytes only
#endif
}

inline void mark_no_access([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(memory, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(memory, size);
#endif
}

inline void mark_reusable([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(memory, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_UNDEFINED(memory, size);
#endif
}

// Bytes the allocator made defined behind the tool's back: a large block's fresh zero pages that
// calloc hands out without writing them.
inline void mark_defined([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(memory, size);
#endif
}

// The allocator's own access to no-access metadata; see the table above. Empty without Valgrind.
class MetadataAccess {
 public:
#if NODEALLOC_VALGRIND
  MetadataAccess(const void* memory, std::size_t size) noexcept : memory_(memory), size_(size) {
    VALGRIND_MAKE_MEM_DEFINED(memory_, size_);
  }
  ~MetadataAccess() { VALGRIND_MAKE_MEM_NOACCESS(memory_, size_); }
#else
  MetadataAccess(const void*, std::size_t) noexcept {}
#endif
  MetadataAccess(const MetadataAccess&) = delete;
  MetadataAccess& operator=(const MetadataAccess&) = delete;

 private:
#if NODEALLOC_VALGRIND
  const void* memory_;
  std::size_t size_;
#endif
};

}  // namespace nodealloc
