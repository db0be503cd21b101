// Misuse is caught: every mitigation of base/mitigations.h fires, in a forked child (death test),
// with its exact one-line report. Builds with -Dhardening=none skip these (misuse is undefined
// behaviour there); under ASan, the tests that need a write into freed or metadata memory skip,
// since ASan reports that write first (sanitizer_test.cc checks it does).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "heap/allocator.h"

namespace nodealloc {
namespace {


// The report for `error` at `address`, as a whole-line regex; `details` is the parenthesised
// rest of the line, already a regex.
std::string report_line(const char* error, const void* address, const std::string& details = "") {
  char text[128];
  std::snprintf(text, sizeof text, "nodealloc: fatal: %s at 0x%jx", error,
                static_cast<std::uintmax_t>(reinterpret_cast<std::uintptr_t>(address)));
  return std::string("^") + text + (details.empty() ? "" : " " + details) + "\n$";
}

// Hides where a pointer comes from, so the compiler does not warn about the misuse on purpose.
void* opaque(void* pointer) {
  asm volatile("" : "+r"(pointer));
  return pointer;
}

class MisuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!enabled(Mitigation::kPointerCheck) || !enabled(Mitigation::kDoubleFree)) {
      GTEST_SKIP() << "built with -Dhardening=none";
    }
  }
  void* allocate(std::size_t size) { return allocator_.allocate(*cache_, size); }
  void free(void* block) { allocator_.deallocate(*cache_, block); }

  Allocator allocator_;
  ThreadCache* cache_ = allocator_.claim_cache();
};

TEST_F(MisuseTest, DoubleFree) {
  void* block = allocate(24);
  free(block);
  EXPECT_DEATH(free(block), report_line("double free", block));
}

TEST_F(MisuseTest, DoubleFreeAfterTheBlockWentBackToItsSlab) {
  void* block = allocate(24);
  void* neighbour = allocate(24);  // keeps the slab alive
  free(block);
  cache_->flush_all();  // no longer in the cache's list: only the tag remembers
  EXPECT_DEATH(free(block), report_line("double free", block));
  free(neighbour);
}

TEST_F(MisuseTest, FreeOfAnInteriorPointer) {
  auto* block = static_cast<char*>(allocate(100));
  EXPECT_DEATH(free(block + 16), report_line("invalid free", block + 16, "\\(class=[0-9]+, offset_in_buffer=24\\)"));
  free(block);
}

TEST_F(MisuseTest, FreeOfAWildPointer) {
  void* wild = opaque(reinterpret_cast<void*>(std::uintptr_t{0x12345678}));
  EXPECT_DEATH(free(wild), report_line("invalid free", wild));
}

TEST_F(MisuseTest, FreeOfAStackAddress) {
  int local = 0;
  void* stack = opaque(&local);
  EXPECT_DEATH(free(stack), report_line("invalid free", stack));
}

TEST_F(MisuseTest, FreeOfAFreeSlabPage) {
  void* block = allocate(24);
  // The chunk's last page holds no slab yet: inside nodealloc's memory, but not a block.
  auto* free_page = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(block) | (kChunkSize - 1)) - 4095);
  EXPECT_DEATH(free(free_page), report_line("invalid free", free_page, "\\(chunk_page=63\\)"));
  free(block);
}

TEST_F(MisuseTest, DoubleFreeOfALargeBlock) {
  void* block = allocate(1 << 20);
  free(block);
  EXPECT_DEATH(free(block), report_line("invalid free", block));  // unmapped: not nodealloc's now
}

TEST_F(MisuseTest, ReallocAndUsableSizeOfAFreedBlock) {
  void* block = allocate(40);
  free(block);
  EXPECT_DEATH(allocator_.reallocate(*cache_, block, 100), report_line("invalid free", block));
  EXPECT_DEATH(allocator_.usable_size(block), report_line("invalid free", block));
}

TEST_F(MisuseTest, UnderflowIntoTheBackPointer) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  auto* block = static_cast<char*>(allocate(40));
  std::memset(block - 8, 0x41, 8);  // a buffer underflow by the user
  EXPECT_DEATH(free(block), report_line("corrupted back-pointer", block, "\\(back_pointer=0x4141414141414141\\)"));
}

TEST_F(MisuseTest, WriteAfterFreeThatCorruptsTheFreeList) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  void* victim = allocate(40);
  void* live = allocate(40);
  free(victim);
  std::memcpy(victim, &live, sizeof live);  // use after free: the free list now leads to `live`
  EXPECT_DEATH(
      {
        allocate(40);  // victim
        allocate(40);  // `live`, which is not free
      },
      report_line("corrupted free list", live));
}

}  // namespace
}  // namespace nodealloc
