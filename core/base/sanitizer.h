// The one place that tells ASan, MSan and Valgrind which bytes of nodealloc's memory are live.
//
// A custom allocator hides its users' bugs: to ASan and to memcheck every byte it got from mmap is
// addressable (and, to memcheck, defined), so a use after free, an overflow into a neighbour block
// or a branch on fresh memory goes unseen. These events say what the user may touch; the first
// three are block events, which each path calls exactly once per block it hands out, resizes in
// place or takes back:
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
//   mark_defined(p, n)            bytes the allocator made defined behind the tools' back (a large
//                                 block's fresh zero pages, which calloc hands out unwritten)
//   mark_copyable(p, n)           the allocator is about to copy a live block's whole room, slack
//                                 included (realloc moving a block whose requested size is unknown)
//
// Backends, any of them at once (none: every event is an empty inline function, so a build without
// one compiles to exactly what it would without the calls):
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
// MSan (clang -fsanitize=memory): memcheck's definedness, without its addressability. A fresh
// block's bytes are uninitialised (poisoned, the allocation as their origin), a zeroed one's
// initialised, and bytes a resize in place adds uninitialised; freed blocks and no-access memory
// are poisoned, so slack a realloc grows into or copies reads as uninitialised, as memcheck says.
// MSan sees writes, so the allocator's own reads of poisoned metadata are the MetadataAccess
// windows memcheck already needs: unpoisoned for the access, poisoned after it.
// Counting (NODEALLOC_COUNT_ANNOTATIONS=1, the tests' build of core/ only): each event is counted
// and passed to an observer the test installs (annotations::set_observer), which checks that every
// path calls each block event exactly once: a block is allocated while dead, resized and freed
// while live (tests/annotation_test.cc).
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

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#define NODEALLOC_MSAN 1
#endif
#endif
#if NODEALLOC_MSAN
#include <sanitizer/msan_interface.h>
#endif

#if NODEALLOC_VALGRIND
#include <valgrind/memcheck.h>
#else
#define NODEALLOC_VALGRIND 0
#endif

#if NODEALLOC_COUNT_ANNOTATIONS
#include <atomic>
#else
#define NODEALLOC_COUNT_ANNOTATIONS 0
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
#if NODEALLOC_MSAN
inline constexpr bool kBuiltWithMsan = true;
#else
inline constexpr bool kBuiltWithMsan = false;
#endif
inline constexpr bool kBuiltWithValgrind = NODEALLOC_VALGRIND != 0;
inline constexpr bool kCountsAnnotations = NODEALLOC_COUNT_ANNOTATIONS != 0;

namespace annotations {

enum class Event : unsigned { kAllocated, kResized, kFreed, kNoAccess, kReusable, kDefined, kCopyable, kCount };

#if NODEALLOC_COUNT_ANNOTATIONS
// One event as the counting backend saw it. `size` is the new size, `old_size` a resize's old one.
struct Record {
  Event event;
  const void* memory;
  std::size_t size;
  std::size_t old_size;
  bool zeroed;
};
// Called for each event, on the allocating thread, inside the allocator (it must not call it).
using Observer = void (*)(const Record&) noexcept;

namespace detail {
inline std::atomic<std::size_t> counts[static_cast<unsigned>(Event::kCount)];
inline std::atomic<Observer> observer{nullptr};
}  // namespace detail

inline std::size_t count(Event event) noexcept {
  return detail::counts[static_cast<unsigned>(event)].load(std::memory_order_relaxed);
}
inline void set_observer(Observer observer) noexcept { detail::observer.store(observer, std::memory_order_release); }

inline void record(Event event, const void* memory, std::size_t size, std::size_t old_size = 0,
                   bool zeroed = false) noexcept {
  detail::counts[static_cast<unsigned>(event)].fetch_add(1, std::memory_order_relaxed);
  if (Observer observer = detail::observer.load(std::memory_order_acquire)) {
    observer(Record{event, memory, size, old_size, zeroed});
  }
}
#else
inline void record(Event, const void*, std::size_t, std::size_t = 0, bool = false) noexcept {}
#endif

}  // namespace annotations

inline void mark_allocated([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size,
                           [[maybe_unused]] bool zeroed = false) noexcept {
  annotations::record(annotations::Event::kAllocated, block, size, 0, zeroed);
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_MSAN
  if (zeroed) {
    __msan_unpoison(block, size);
  } else {
    __msan_allocated_memory(block, size);
  }
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MALLOCLIKE_BLOCK(block, size, 0, zeroed ? 1 : 0);
#endif
}

inline void mark_resized([[maybe_unused]] void* block, [[maybe_unused]] std::size_t old_size,
                         [[maybe_unused]] std::size_t new_size) noexcept {
  annotations::record(annotations::Event::kResized, block, new_size, old_size);
#if NODEALLOC_MSAN
  if (new_size > old_size) __msan_allocated_memory(static_cast<char*>(block) + old_size, new_size - old_size);
#endif
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
  annotations::record(annotations::Event::kFreed, block, size);
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(block, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_FREELIKE_BLOCK(block, 0);
  VALGRIND_MAKE_MEM_NOACCESS(block, size);  // FREELIKE covers the requested bytes only
#endif
#if NODEALLOC_MSAN
  __msan_poison(block, size);
#endif
}

inline void mark_no_access([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
  annotations::record(annotations::Event::kNoAccess, memory, size);
#if NODEALLOC_ASAN
  ASAN_POISON_MEMORY_REGION(memory, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(memory, size);
#endif
#if NODEALLOC_MSAN
  __msan_poison(memory, size);
#endif
}

inline void mark_reusable([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
  annotations::record(annotations::Event::kReusable, memory, size);
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(memory, size);
#endif
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_UNDEFINED(memory, size);
#endif
#if NODEALLOC_MSAN
  __msan_unpoison(memory, size);  // a mapping given back may come back from mmap, which MSan unpoisons itself
#endif
}

inline void mark_defined([[maybe_unused]] const void* memory, [[maybe_unused]] std::size_t size) noexcept {
  annotations::record(annotations::Event::kDefined, memory, size);
#if NODEALLOC_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(memory, size);
#endif
#if NODEALLOC_MSAN
  __msan_unpoison(memory, size);
#endif
}

// The whole room of a live block becomes readable for a copy (realloc moving it). Only builds
// that do not know a block's requested size call it; memcheck's builds always do (they need it
// for RESIZEINPLACE), so there is no Valgrind side.
inline void mark_copyable([[maybe_unused]] const void* block, [[maybe_unused]] std::size_t size) noexcept {
  annotations::record(annotations::Event::kCopyable, block, size);
#if NODEALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
}

// The allocator's own access to no-access metadata; see the table above. Empty without Valgrind
// or MSan.
class MetadataAccess {
 public:
#if NODEALLOC_VALGRIND || NODEALLOC_MSAN
  MetadataAccess(const void* memory, std::size_t size) noexcept : memory_(memory), size_(size) {
#if NODEALLOC_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(memory_, size_);
#endif
#if NODEALLOC_MSAN
    __msan_unpoison(memory_, size_);
#endif
  }
  ~MetadataAccess() {
#if NODEALLOC_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(memory_, size_);
#endif
#if NODEALLOC_MSAN
    __msan_poison(memory_, size_);
#endif
  }
#else
  MetadataAccess(const void*, std::size_t) noexcept {}
#endif
  MetadataAccess(const MetadataAccess&) = delete;
  MetadataAccess& operator=(const MetadataAccess&) = delete;

 private:
#if NODEALLOC_VALGRIND || NODEALLOC_MSAN
  const void* memory_;
  std::size_t size_;
#endif
};

}  // namespace nodealloc
