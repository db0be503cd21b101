// operator new and delete from the drop-in (core/override/new_override.cc), linked into this test
// so that every new in it is nodealloc's: the new-handler loop, std::bad_alloc, the nothrow and
// aligned forms. Built only where the drop-in is (no sanitizer: ASan owns operator new there).
#include <gtest/gtest.h>

#include <string>

#include <cstdint>
#include <new>
#include <vector>

#include "api/nodealloc.h"
#include "heap/allocator.h"

namespace {

int handler_calls = 0;

void counting_handler() {
  if (++handler_calls == 3) std::set_new_handler(nullptr);  // give up on the third call
}

TEST(NewDelete, NewHandlerRunsInALoopThenBadAllocIsThrown) {
  handler_calls = 0;
  std::set_new_handler(counting_handler);
  EXPECT_THROW((void)::operator new(SIZE_MAX / 2), std::bad_alloc);
  EXPECT_EQ(handler_calls, 3);
  std::set_new_handler(nullptr);
}

TEST(NewDelete, NothrowFormsReturnNull) {
  EXPECT_EQ(::operator new(SIZE_MAX / 2, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](SIZE_MAX / 2, std::nothrow), nullptr);
  EXPECT_EQ(::operator new(SIZE_MAX / 2, std::align_val_t{64}, std::nothrow), nullptr);
}

// The nothrow forms call the new-handler as the throwing ones do, and answer nullptr when it
// throws (they hand a failure to libstdc++'s nothrow form, which catches: new_override.cc).
void throwing_handler() {
  if (++handler_calls == 2) throw std::bad_alloc();
}

TEST(NewDelete, NothrowFormsCallTheNewHandlerAndReturnNullWhenItThrows) {
  std::set_new_handler(throwing_handler);
  handler_calls = 0;
  EXPECT_EQ(::operator new(SIZE_MAX / 2, std::nothrow), nullptr);
  EXPECT_EQ(handler_calls, 2);
  handler_calls = 0;
  EXPECT_EQ(::operator new[](SIZE_MAX / 2, std::align_val_t{64}, std::nothrow), nullptr);
  EXPECT_EQ(handler_calls, 2);
  std::set_new_handler(nullptr);
}

TEST(NewDelete, BlocksComeFromNodealloc) {
  auto* numbers = new std::vector<int>(1000, 7);
  // The lookup finds a nodealloc header through the back-pointer of a block new returned.
  EXPECT_NE(nodealloc::Allocator::lookup(numbers->data()).header, nullptr);
  EXPECT_EQ(nodealloc::Allocator::lookup(numbers->data()).class_index,
            nodealloc::class_for_size(1000 * sizeof(int)));
  delete numbers;
}

struct alignas(256) Aligned {
  char bytes[300];
};

TEST(NewDelete, AlignedAndSizedForms) {
  auto* one = new Aligned;
  auto* many = new Aligned[5];
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(one) % 256, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(many) % 256, 0u);
  delete one;  // sized, aligned delete
  delete[] many;
  void* raw = ::operator new(100, std::align_val_t{4096});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(raw) % 4096, 0u);
  ::operator delete(raw, 100, std::align_val_t{4096});
}

// Hides where a pointer comes from, so the compiler does not warn about the mismatch on purpose.
template <class T>
T* opaque(T* pointer) {
  asm volatile("" : "+r"(pointer));
  return pointer;
}

// The real operators: each gives back only its own family's blocks (kFamilyCheck). malloc and
// free are glibc's in this program (only new and delete are replaced), so the C API stands in.
TEST(NewDeleteMisuse, FreeOfNewArrayAndDeleteOfMallocAreReported) {
  if (!nodealloc::enabled(nodealloc::Mitigation::kFamilyCheck)) GTEST_SKIP() << "kFamilyCheck is off";
  // kCallSites (full): the real entry points record where the block was allocated.
  const std::string site = nodealloc::call_site::kOn ? ", allocated_at=new_delete_test\\+0x[0-9a-f]+" : "";
  int* numbers = opaque(new int[4]);
  EXPECT_DEATH(na_free(numbers),
               "^nodealloc: fatal: alloc-dealloc mismatch at 0x[0-9a-f]+ \\(allocated=new\\[\\], freed=free" + site + "\\)\n$");
  delete[] numbers;
  auto* raw = opaque(static_cast<int*>(na_malloc(sizeof(int))));
  EXPECT_DEATH(delete raw,
               "^nodealloc: fatal: alloc-dealloc mismatch at 0x[0-9a-f]+ \\(allocated=malloc, freed=delete" + site + "\\)\n$");
  na_free(raw);
  auto* one = opaque(new Aligned);
  EXPECT_DEATH(delete[] one, "alloc-dealloc mismatch at 0x[0-9a-f]+ \\(allocated=new, freed=delete\\[\\]" + site + "\\)");
  delete one;
}

}  // namespace
