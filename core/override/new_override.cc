// Every replaceable form of operator new and delete, on nodealloc. operator new follows the
// standard: on failure, call the new-handler and try again, and throw std::bad_alloc when there
// is none; the nothrow forms return nullptr instead. new hands out blocks of the family kNew, new[]
// of kNewArray, and each delete gives back its own (kFamilyCheck reports a mismatch); the sized
// deletes pass their size and alignment on (kSizedDeleteCheck).
//
// Without the C++ runtime. libnodealloc.so is preloaded into C programs too, and must not bring
// libstdc++ into them (with it, libm and libgcc_s: 1.7 MiB more peak RSS on a C program that
// mallocs one buffer, README says how measured). Only the failure path of new needs the runtime, and a program that calls
// new has it loaded already, so that path finds it there (dlsym): std::get_new_handler, and
// std::__throw_bad_alloc, which throws through these frames (they have unwind tables, and nothing
// to clean up). A nothrow form that fails hands the request to the next library's nothrow form,
// libstdc++'s, which calls the throwing form (ours again: libstdc++ calls operator new through
// its PLT, as a replaceable function must be called) inside its own try, and returns nullptr for
// whatever it throws: the catch stays in libstdc++, with the personality routine it needs. So the
// handler loop, the throw and the nothrow answers are the standard's, as with a libstdc++-linked
// drop-in; only a block that a nothrow form gets after a failure and a new-handler's help is
// recorded (kCallSites) as allocated in libstdc++, not at the caller. A program that calls new
// with no C++ runtime loaded (a C program calling _Znwm by hand) cannot catch a throw: a new that
// fails there ends as an uncaught std::bad_alloc would, in abort(), with a line on stderr.
#include <dlfcn.h>

#include <cstddef>
#include <new>

#include "api/c_api_impl.h"
#include "base/report.h"

#define NODEALLOC_EXPORT __attribute__((visibility("default")))

namespace {

using nodealloc::Family;
using nodealloc::capi::free_impl;
using nodealloc::capi::sized_free_impl;

void* try_allocate(std::size_t size, std::size_t alignment, Family family) noexcept {
  return alignment == 0 ? nodealloc::capi::malloc_impl(size, family)
                        : nodealloc::capi::memalign_impl(alignment, size, family);
}

// A function of the loaded C++ runtime, or nullptr when none is loaded. The mangled names are
// libstdc++'s ABI (std::get_new_handler, GLIBCXX_3.4.20; std::__throw_bad_alloc, GLIBCXX_3.4).
template <class Function>
Function* runtime_function(void* scope, const char* mangled_name) noexcept {
  return reinterpret_cast<Function*>(::dlsym(scope, mangled_name));
}

void* allocate_or_handle(std::size_t size, std::size_t alignment, Family family) {
  for (;;) {
    if (void* block = try_allocate(size, alignment, family)) return block;
    auto* get_new_handler = runtime_function<std::new_handler()>(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
    std::new_handler handler = get_new_handler != nullptr ? get_new_handler() : nullptr;
    if (handler == nullptr) {
      auto* throw_bad_alloc = runtime_function<void()>(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
      if (throw_bad_alloc != nullptr) throw_bad_alloc();
      nodealloc::report_fatal(nodealloc::FatalError::kBadAllocWithoutRuntime, nullptr, {{"size", size}});
    }
    handler();
  }
}

// A nothrow form: nodealloc's answer when it has a block, else the next library's (libstdc++'s)
// nothrow form of the same mangled name, or nullptr when there is none.
using NothrowNew = void*(std::size_t, const std::nothrow_t&) noexcept;
using AlignedNothrowNew = void*(std::size_t, std::align_val_t, const std::nothrow_t&) noexcept;

void* allocate_nothrow(const char* mangled_name, std::size_t size, Family family, const std::nothrow_t& tag) noexcept {
  if (void* block = try_allocate(size, 0, family)) return block;
  auto* next = runtime_function<NothrowNew>(RTLD_NEXT, mangled_name);
  return next != nullptr ? next(size, tag) : nullptr;
}

void* allocate_nothrow(const char* mangled_name, std::size_t size, std::align_val_t alignment, Family family,
                       const std::nothrow_t& tag) noexcept {
  if (void* block = try_allocate(size, static_cast<std::size_t>(alignment), family)) return block;
  auto* next = runtime_function<AlignedNothrowNew>(RTLD_NEXT, mangled_name);
  return next != nullptr ? next(size, alignment, tag) : nullptr;
}

constexpr std::size_t align_of(std::align_val_t alignment) { return static_cast<std::size_t>(alignment); }

constexpr Family kNew = Family::kNew;
constexpr Family kArray = Family::kNewArray;

}  // namespace

NODEALLOC_EXPORT void* operator new(std::size_t size) { NODEALLOC_RECORD_CALLER(); return allocate_or_handle(size, 0, kNew); }
NODEALLOC_EXPORT void* operator new[](std::size_t size) { NODEALLOC_RECORD_CALLER(); return allocate_or_handle(size, 0, kArray); }
NODEALLOC_EXPORT void* operator new(std::size_t size, const std::nothrow_t& tag) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow("_ZnwmRKSt9nothrow_t", size, kNew, tag);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow("_ZnamRKSt9nothrow_t", size, kArray, tag);
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment) { NODEALLOC_RECORD_CALLER();
  return allocate_or_handle(size, align_of(alignment), kNew);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment) { NODEALLOC_RECORD_CALLER();
  return allocate_or_handle(size, align_of(alignment), kArray);
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment,
                                    const std::nothrow_t& tag) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow("_ZnwmSt11align_val_tRKSt9nothrow_t", size, alignment, kNew, tag);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment,
                                      const std::nothrow_t& tag) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow("_ZnamSt11align_val_tRKSt9nothrow_t", size, alignment, kArray, tag);
}

NODEALLOC_EXPORT void operator delete(void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t size) noexcept { NODEALLOC_RECORD_CALLER(); sized_free_impl(block, size, 0, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, 0, kArray);
}
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t size, std::align_val_t alignment) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, align_of(alignment), kNew);
}
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t size, std::align_val_t alignment) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, align_of(alignment), kArray);
}
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  free_impl(block, kNew);
}
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  free_impl(block, kArray);
}
