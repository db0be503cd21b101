// Sanitizers see through nodealloc: in an ASan build, a use after free or an overflow in a
// nodealloc block is reported as it would be for a malloc block (core/base/sanitizer.h). In other
// builds these tests skip.
#include <gtest/gtest.h>

#include "base/sanitizer.h"
#include "heap/allocator.h"

namespace nodealloc {
namespace {


void use_after_free() {
  Allocator allocator;
  ThreadCache* cache = allocator.claim_cache();
  auto* block = static_cast<volatile char*>(allocator.allocate(*cache, 24));
  allocator.deallocate(*cache, const_cast<char*>(block));
  block[3] = 1;
}

void overflow_by_one(std::size_t size) {
  Allocator allocator;
  ThreadCache* cache = allocator.claim_cache();
  auto* block = static_cast<volatile char*>(allocator.allocate(*cache, size));
  block[size] = 1;
}

void back_pointer_write() {
  Allocator allocator;
  ThreadCache* cache = allocator.claim_cache();
  auto* block = static_cast<volatile char*>(allocator.allocate(*cache, 32));
  block[-1] = 0;
}

TEST(SanitizerVisibility, UseAfterFreeIsReported) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "not an ASan build";
  EXPECT_DEATH(use_after_free(), "AddressSanitizer: use-after-poison");
}

TEST(SanitizerVisibility, OverflowPastTheRequestedSizeIsReported) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "not an ASan build";
  EXPECT_DEATH(overflow_by_one(20), "AddressSanitizer: use-after-poison");      // inside the class
  EXPECT_DEATH(overflow_by_one(100000), "AddressSanitizer: use-after-poison");  // a large block
}

TEST(SanitizerVisibility, TheBackPointerIsNotTheUsers) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "not an ASan build";
  EXPECT_DEATH(back_pointer_write(), "AddressSanitizer: use-after-poison");
}

}  // namespace
}  // namespace nodealloc
