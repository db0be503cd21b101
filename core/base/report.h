// The one way nodealloc dies.
//
// Every error that cannot be answered with a return value (a header position outside the header,
// and, as the allocator grows, double frees, invalid frees and corrupted metadata) ends in
// report_fatal(). It writes exactly one line to stderr and aborts:
//
//   nodealloc: fatal: <error name> at 0x<address> (<name>=<value>, ...)
//
// The prefix and the error names are stable: tests, death tests and users' log scrapers match
// them. The line is formatted on the stack and written with write(2), so reporting works while the
// heap is broken, inside malloc itself, and before the C++ runtime is up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace nodealloc {

enum class FatalError {
  kHeaderPositionOutOfBounds,  // a header slot position p with p + word > HeaderLen
  kBufferIndexOutOfBounds,     // a buffer index past the last buffer of a Node's data area
  kInvalidFree,                // free of a pointer nodealloc did not hand out (or its interior)
  kDoubleFree,                 // free of a block that is already free
  kCorruptedBackPointer,       // the word before a block does not name the block's header
  kCorruptedFreeList,          // a free list handed out a block that was not free
  kAllocDeallocMismatch,       // a block given back by another family of calls (free of new[]...)
  kSizedDeleteMismatch,        // sized operator delete with a size the block was not made for
  kSizedFreeMismatch,          // free_sized / free_aligned_sized (C23) with a size the block was not made for
  kWriteAfterFree,             // a freed block's fill was changed before it was handed out again
  kHeapOverflow,               // a live block's canary (the slack past its requested size) was changed
  kBadAllocWithoutRuntime,     // operator new failed where no C++ runtime is loaded to throw std::bad_alloc
};

// The stable name printed for each error, e.g. "header position out of bounds".
const char* fatal_error_name(FatalError error) noexcept;

// One number that explains the error, printed as name=value: counts, sizes and indexes in
// decimal; addresses and raw metadata words in hex (FatalDetail::address), so they read as the
// pointers they are.
struct FatalDetail {
  enum class Format : unsigned char { kDecimal, kHex, kText, kCode };
  const char* name;
  std::uintmax_t value;
  Format format = Format::kDecimal;
  const char* text = nullptr;  // kText: a fixed name (a family of calls, say), printed as is

  static FatalDetail address(const char* name, std::uintmax_t value) noexcept {
    return {name, value, Format::kHex};
  }
  static FatalDetail word(const char* name, const char* text) noexcept {
    return {name, 0, Format::kText, text};
  }
  // An address in a program's code (a call site): printed as file+offset (misuse_program+0x1310,
  // what `addr2line -e misuse_program 0x1310` reads) when a file mapping holds it, else in hex.
  static FatalDetail code(const char* name, std::uintmax_t value) noexcept {
    return {name, value, Format::kCode};
  }
};

[[noreturn, gnu::cold, gnu::noinline]] void report_fatal(
    FatalError error, const void* address, std::initializer_list<FatalDetail> details = {}) noexcept;
// The same, with `count` details made at run time (some are printed only when known).
[[noreturn, gnu::cold, gnu::noinline]] void report_fatal(FatalError error, const void* address,
                                                         const FatalDetail* details, std::size_t count) noexcept;

// For the misuse fuzz target and tests only: a hook report_fatal calls after it wrote its line,
// instead of aborting. It must not return into the allocator: it long-jumps out, and its caller
// then drops the allocator whose check fired (its state is whatever the misuse made it). No
// report site holds a lock when it reports, so the jump leaves none held. If the hook returns,
// abort() follows all the same. nullptr (the default) restores plain abort().
using FatalHook = void (*)(FatalError error, const void* address);
void set_fatal_hook(FatalHook hook) noexcept;

}  // namespace nodealloc
