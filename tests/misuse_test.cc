// Misuse is caught: every mitigation of base/mitigations.h fires, in a forked child (death test),
// with its exact one-line report. Builds with -Dhardening=none skip these (misuse is undefined
// behaviour there); under ASan, the tests that need a write into freed or metadata memory skip,
// since ASan reports that write first (sanitizer_test.cc checks it does).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "hardening/call_site.h"
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

// The class a request of `size` bytes is served from, as the reports print it.
std::string class_of(std::size_t size) { return std::to_string(canary::class_for_request(size)); }

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
  // A free whose block goes onto the cache's free list at once, as it does without the quarantine
  // (full preset): for the tests that attack the list, or the next hand-out of the block.
  void free_to_list(void* block) {
    free(block);
    cache_->drain_quarantine();
  }

  Allocator allocator_;
  ThreadCache* cache_ = allocator_.claim_cache();
};

TEST_F(MisuseTest, DoubleFree) {
  void* block = allocate(24);
  free(block);
  EXPECT_DEATH(free(block), report_line("double free", block, "\\(class=" + class_of(24) + "\\)"));
}

// kQuarantine (full): a block waiting in the quarantine is still not live.
TEST_F(MisuseTest, DoubleFreeOfAQuarantinedBlock) {
  if (!enabled(Mitigation::kQuarantine)) GTEST_SKIP() << "kQuarantine is off (full preset only)";
  void* block = allocate(24);
  void* later = allocate(24);
  free(block);
  free(later);  // the block is not the newest resident
  ASSERT_EQ(cache_->quarantine().count(), 2u);
  EXPECT_DEATH(free(block), report_line("double free", block, "\\(class=" + class_of(24) + "\\)"));
}

TEST_F(MisuseTest, DoubleFreeAfterTheBlockWentBackToItsSlab) {
  void* block = allocate(24);
  void* neighbour = allocate(24);  // keeps the slab alive
  free(block);
  cache_->flush_all();  // no longer in the cache's list: only the tag remembers
  EXPECT_DEATH(free(block), report_line("double free", block, "\\(class=" + class_of(24) + "\\)"));
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
  // Held back, inaccessible, and freed lately: named for what it is.
  EXPECT_DEATH(free(block), report_line("double free", block, "\\(class=large\\)"));
  EXPECT_DEATH(allocator_.reallocate(*cache_, block, 100), report_line("invalid free", block, "\\(class=large\\)"));
}

TEST_F(MisuseTest, DoubleFreeOfALargeBlockAfterItsSizeWasAllocatedAgain) {
  // Unmapped at once, the freed block's address would be the first the OS hands out again, and
  // the second free would silently free the new block. Held back, the address stays unused.
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(allocate(1 << 20));
  void* freed = blocks[3];
  free(freed);
  void* fresh = allocate(1 << 20);
  EXPECT_NE(fresh, freed);
  EXPECT_DEATH(free(freed), report_line("double free", freed, "\\(class=large\\)"));
  for (void* block : blocks) {
    if (block != freed) free(block);
  }
  free(fresh);
}

TEST_F(MisuseTest, AUseAfterFreeOfALargeBlockFaults) {
  auto* block = static_cast<volatile char*>(allocate(1 << 20));
  free(const_cast<char*>(block));
  EXPECT_DEATH(block[100] = 1, "");  // its mapping is held back inaccessible: SIGSEGV
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

TEST_F(MisuseTest, UnderflowIntoALargeBlocksBackPointer) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  auto* block = static_cast<char*>(allocate(1 << 20));
  std::memset(block - 8, 0x41, 8);  // the free must not follow this word
  EXPECT_DEATH(free(block), report_line("corrupted back-pointer", block, "\\(back_pointer=0x4141414141414141\\)"));
}

// kBackPointerChecksum: a word that names the right header but was not sealed for this block in
// this state. Without the checksum each of these passes the pointer check (the header is right).
class ChecksumTest : public MisuseTest {
 protected:
  void SetUp() override {
    MisuseTest::SetUp();
    if (!enabled(Mitigation::kBackPointerChecksum)) GTEST_SKIP() << "kBackPointerChecksum is off";
    if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  }
  static std::uintptr_t word_before(const void* block) { return load_back_pointer_word(block); }
  static void set_word_before(void* block, std::uintptr_t word) { store_back_pointer_word(block, word); }
};

TEST_F(ChecksumTest, AWordCopiedFromALiveNeighbourDoesNotHideADoubleFree) {
  void* live = allocate(40);
  void* freed = allocate(40);  // same class, same slab: the copied word names the right header
  EXPECT_NE(word_before(freed), word_before(live));  // same header and state, other block
  free(freed);
  set_word_before(freed, word_before(live));  // an overflow out of `live`'s neighbour, say
  EXPECT_DEATH(free(freed), report_line("corrupted back-pointer", freed,
                                        "\\(back_pointer=0x[0-9a-f]+, expected=0x[0-9a-f]+\\)"));
  free(live);
}

TEST_F(ChecksumTest, ALiveBitSetByHandIsCaught) {
  void* block = allocate(40);
  void* neighbour = allocate(40);
  free(block);
  set_word_before(block, word_before(block) | 1);  // "live" again, to free it twice
  EXPECT_DEATH(free(block), report_line("corrupted back-pointer", block,
                                        "\\(back_pointer=0x[0-9a-f]+, expected=0x[0-9a-f]+\\)"));
  free(neighbour);
}

TEST_F(ChecksumTest, AFlippedChecksumBitOfAFreeBlockIsCaughtAtTheNextAllocation) {
  void* block = allocate(40);
  free_to_list(block);
  set_word_before(block, word_before(block) ^ (std::uintptr_t{1} << 60));
  EXPECT_DEATH(allocate(40), report_line("corrupted back-pointer", block,
                                         "\\(back_pointer=0x[0-9a-f]+, expected=0x[0-9a-f]+\\)"));
}

TEST_F(ChecksumTest, AFamilyChangedByHandIsCaught) {
  void* block = allocator_.allocate(*cache_, 40, Family::kNewArray);
  set_word_before(block, word_before(block) & ~std::uintptr_t{6});  // "malloc's", to free() it
  EXPECT_DEATH(free(block), report_line("corrupted back-pointer", block,
                                        "\\(back_pointer=0x[0-9a-f]+, expected=0x[0-9a-f]+\\)"));
}

TEST_F(ChecksumTest, ALargeBlocksWordIsSealedToo) {
  void* block = allocate(1 << 20);
  set_word_before(block, word_before(block) ^ (std::uintptr_t{1} << 50));
  EXPECT_DEATH(free(block), report_line("corrupted back-pointer", block,
                                        "\\(back_pointer=0x[0-9a-f]+, expected=0x[0-9a-f]+\\)"));
}

TEST_F(MisuseTest, WriteAfterFreeThatCorruptsTheFreeList) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  void* victim = allocate(40);
  void* live = allocate(40);
  free_to_list(victim);
  std::memcpy(victim, &live, sizeof live);  // use after free: the raw address of a live block
  // The link is encoded, so the raw address decodes to garbage: caught at the first pop, before
  // anything follows it.
  EXPECT_DEATH(
      {
        allocate(40);  // victim
        allocate(40);  // would be `live`
      },
      report_line("corrupted free list", victim, "\\(class=" + class_of(40) + ", link=0x[0-9a-f]+\\)"));
}

// The two free-list attacks of issue 9, as a user would write them.
TEST_F(MisuseTest, AWriteAfterFreeOverTheWholeBlockIsReportedNotACrashInMalloc) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  void* keep = allocate(64);  // keeps the slab
  void* block = allocate(64);
  free_to_list(block);
  std::memset(block, 0x41, 64);
  EXPECT_DEATH(
      {
        for (int i = 0; i < 3; ++i) allocate(64);
      },
      report_line("corrupted free list", block, "\\(class=" + class_of(64) + ", link=0x[0-9a-f]+\\)"));
  free(keep);
}

TEST_F(MisuseTest, AForgedLinkToAChosenAddressIsNeverHandedOut) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  alignas(16) static unsigned char target[64];
  std::uintptr_t forged_tag = 1;  // the old one-bit free tag, forged before the chosen address
  std::memcpy(target, &forged_tag, sizeof forged_tag);
  void* chosen = target + 16;
  void* first = allocate(8);
  void* second = allocate(8);
  free_to_list(first);
  free_to_list(second);
  std::memcpy(second, &chosen, sizeof chosen);  // second is the list head: its link now "leads" to chosen
  EXPECT_DEATH(
      {
        void* a = allocate(8);
        void* b = allocate(8);
        std::printf("%p %p\n", a, b);  // never reached: no forged pointer is handed out
      },
      report_line("corrupted free list", second, "\\(class=" + class_of(8) + ", link=0x[0-9a-f]+\\)"));
}

TEST_F(MisuseTest, ALinkIntoALiveBlockNeverMakesTwoBlocksOverlap) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  auto* live = static_cast<char*>(allocate(100));
  void* victim = allocate(100);
  free_to_list(victim);
  void* inside = live + 16;
  std::memcpy(victim, &inside, sizeof inside);
  EXPECT_DEATH(
      {
        allocate(100);
        allocate(100);
      },
      report_line("corrupted free list", victim, "\\(class=" + class_of(100) + ", link=0x[0-9a-f]+\\)"));
}

// kEncodedFreeLinks: a free block's first word is not the address of the next one, and a block
// handed out carries no encoded word.
TEST_F(MisuseTest, FreeLinksAreEncodedAndClearedOnHandOut) {
  if (kBuiltWithAsan) GTEST_SKIP() << "reads freed memory on purpose";
  if (!enabled(Mitigation::kEncodedFreeLinks)) GTEST_SKIP() << "kEncodedFreeLinks is off";
  void* a = allocate(40);
  void* b = allocate(40);
  free_to_list(a);
  free_to_list(b);  // b's link names a
  std::uintptr_t word = 0;
  std::memcpy(&word, b, sizeof word);
  EXPECT_NE(word, reinterpret_cast<std::uintptr_t>(a));
  EXPECT_NE(word, 0u);
  void* again = allocate(40);
  ASSERT_EQ(again, b);
  std::memcpy(&word, again, sizeof word);
  EXPECT_EQ(word, 0u);
  free(again);
}

// kFamilyCheck: each family of calls gives back only its own blocks, small or large.
TEST_F(MisuseTest, BlocksGoBackThroughTheirOwnFamily) {
  if (!enabled(Mitigation::kFamilyCheck)) GTEST_SKIP() << "kFamilyCheck is off";
  for (const std::size_t size : {std::size_t{24}, std::size_t{1} << 20}) {
    void* array = allocator_.allocate(*cache_, size, Family::kNewArray);
    EXPECT_DEATH(free(array), report_line("alloc-dealloc mismatch", array, "\\(allocated=new\\[\\], freed=free\\)"));
    EXPECT_DEATH(allocator_.deallocate(*cache_, array, Family::kNew),
                 report_line("alloc-dealloc mismatch", array, "\\(allocated=new\\[\\], freed=delete\\)"));
    EXPECT_DEATH(allocator_.reallocate(*cache_, array, 2 * size),
                 report_line("alloc-dealloc mismatch", array, "\\(allocated=new\\[\\], freed=free\\)"));
    allocator_.deallocate(*cache_, array, Family::kNewArray);

    void* block = allocate(size);
    EXPECT_DEATH(allocator_.deallocate(*cache_, block, Family::kNew),
                 report_line("alloc-dealloc mismatch", block, "\\(allocated=malloc, freed=delete\\)"));
    EXPECT_DEATH(allocator_.deallocate(*cache_, block, Family::kNewArray),
                 report_line("alloc-dealloc mismatch", block, "\\(allocated=malloc, freed=delete\\[\\]\\)"));
    free(block);

    void* object = allocator_.allocate(*cache_, size, Family::kNew);
    EXPECT_DEATH(allocator_.deallocate(*cache_, object, Family::kNewArray),
                 report_line("alloc-dealloc mismatch", object, "\\(allocated=new, freed=delete\\[\\]\\)"));
    allocator_.deallocate(*cache_, object, Family::kNew);
  }
}

TEST_F(MisuseTest, ADoubleDeleteIsADoubleFreeNotAMismatch) {
  void* object = allocator_.allocate(*cache_, 24, Family::kNew);
  allocator_.deallocate(*cache_, object, Family::kNew);
  EXPECT_DEATH(allocator_.deallocate(*cache_, object, Family::kNew), report_line("double free", object, "\\(class=" + class_of(24) + "\\)"));
}

// kSizedDeleteCheck: the size given to sized delete must be one the block was made for.
TEST_F(MisuseTest, SizedDeleteWithTheWrongSize) {
  if (!enabled(Mitigation::kSizedDeleteCheck)) GTEST_SKIP() << "kSizedDeleteCheck is off";
  void* object = allocator_.allocate(*cache_, 40, Family::kNew);  // class of 40: usable 40
  EXPECT_DEATH(allocator_.deallocate_sized(*cache_, object, 200, 0, Family::kNew),
               report_line("sized delete mismatch", object, "\\(size=200, usable=40\\)"));
  EXPECT_DEATH(allocator_.deallocate_sized(*cache_, object, 8, 0, Family::kNew),
               report_line("sized delete mismatch", object, "\\(size=8, usable=40\\)"));
  allocator_.deallocate_sized(*cache_, object, 33, 0, Family::kNew);  // same class: fine

  void* large = allocator_.allocate(*cache_, 1 << 20, Family::kNew);
  EXPECT_DEATH(allocator_.deallocate_sized(*cache_, large, std::size_t{4} << 20, 0, Family::kNew),
               report_line("sized delete mismatch", large, "\\(size=4194304, usable=[0-9]+\\)"));
  allocator_.deallocate_sized(*cache_, large, 1 << 20, 0, Family::kNew);

  void* aligned = allocator_.allocate_aligned(*cache_, 100, 256, Family::kNew);
  EXPECT_DEATH(allocator_.deallocate_sized(*cache_, aligned, 100, 0, Family::kNew),  // its alignment forgotten
               report_line("sized delete mismatch", aligned, "\\(size=100, usable=[0-9]+\\)"));
  allocator_.deallocate_sized(*cache_, aligned, 100, 256, Family::kNew);
}

// kFreedFill (full): a write after free past the link is reported when the block is handed out
// again, and the next owner sees none of the old contents.
TEST_F(MisuseTest, AWriteAfterFreeIsReportedAtTheNextAllocation) {
  if (!enabled(Mitigation::kFreedFill)) GTEST_SKIP() << "kFreedFill is off (full preset only)";
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  auto* block = static_cast<unsigned char*>(allocate(100));
  free_to_list(block);
  block[37] = 1;  // use after free
  EXPECT_DEATH(allocate(100), report_line("write after free", block, "\\(offset=37\\)"));
}

TEST_F(MisuseTest, TheNextOwnerSeesTheFillNotTheOldContents) {
  if (!enabled(Mitigation::kFreedFill)) GTEST_SKIP() << "kFreedFill is off (full preset only)";
  auto* secret = static_cast<unsigned char*>(allocate(64));
  std::memset(secret, 0x5a, 64);
  free_to_list(secret);
  auto* next = static_cast<unsigned char*>(allocate(64));
  ASSERT_EQ(next, secret);
  for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ(next[i], i < 8 ? 0 : 0xdf) << i;
  free(next);
}

// kCanaries (full): the slack past the requested size holds a canary, checked at free.
class CanaryTest : public MisuseTest {
 protected:
  void SetUp() override {
    MisuseTest::SetUp();
    if (!canary::kOn) GTEST_SKIP() << "kCanaries is off (full preset only)";
    if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  }
  // A write the user should not make, past what usable_size allows.
  NODEALLOC_NO_SANITIZE static void overwrite(void* at) {
    auto* byte = static_cast<volatile unsigned char*>(at);
    *byte = static_cast<unsigned char>(*byte ^ 0x20);
  }
};

TEST_F(CanaryTest, UsableSizeIsTheRequestedSize) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{40}, std::size_t{1000}, std::size_t{1} << 20}) {
    void* block = allocate(size);
    EXPECT_EQ(allocator_.usable_size(block), size);
    free(block);
  }
}

TEST_F(CanaryTest, AnOverflowByOneByteIsReportedAtFree) {
  auto* block = static_cast<unsigned char*>(allocate(30));
  const std::size_t room = size_class(Allocator::lookup(block).class_index).usable;
  ASSERT_GT(room - canary::kTrailerBytes, 30u) << "a class with slack after 30 bytes";
  overwrite(block + 30);
  EXPECT_DEATH(free(block), report_line("heap buffer overflow", block, "\\(size=30, offset=30\\)"));
}

TEST_F(CanaryTest, AnOverflowIntoTheTrailerIsReported) {
  const std::size_t usable = size_class(3).usable;
  auto* block = static_cast<unsigned char*>(allocate(usable - canary::kTrailerBytes));  // no slack
  overwrite(block + usable - 1);  // the size word's top byte: its hash
  const std::string at = std::to_string(usable - canary::kTrailerBytes);
  EXPECT_DEATH(free(block), report_line("heap buffer overflow", block, "\\(size=" + at + ", offset=" + at + "\\)"));
}

TEST_F(CanaryTest, ALargeBlocksSlackIsChecked) {
  const std::size_t size = (std::size_t{1} << 20) + 1;
  auto* block = static_cast<unsigned char*>(allocate(size));
  overwrite(block + size + 3);
  EXPECT_DEATH(free(block), report_line("heap buffer overflow", block, "\\(size=1048577, offset=1048580\\)"));
}

TEST_F(CanaryTest, AReallocInPlaceMovesTheCanary) {
  auto* block = static_cast<unsigned char*>(allocate(100));
  const std::size_t room = size_class(Allocator::lookup(block).class_index).usable;
  const std::size_t size = room - canary::kTrailerBytes - 3;  // the same class: in place
  ASSERT_EQ(allocator_.reallocate(*cache_, block, size), block);
  EXPECT_EQ(allocator_.usable_size(block), size);
  overwrite(block + size + 1);
  EXPECT_DEATH(free(block), report_line("heap buffer overflow", block,
                                        "\\(size=" + std::to_string(size) + ", offset=" + std::to_string(size + 1) + "\\)"));
}

// kCallSites (full): reports name where the block was allocated and freed. The tests call the
// Allocator straight, so they record the sites the exported entry points would.
class CallSiteTest : public MisuseTest {
 protected:
  void SetUp() override {
    MisuseTest::SetUp();
    if (!call_site::kOn) GTEST_SKIP() << "kCallSites is off (full preset only)";
  }
  void TearDown() override { call_site::record(nullptr); }
  static const void* site(std::uintptr_t address) { return reinterpret_cast<const void*>(address); }
};

TEST_F(CallSiteTest, ADoubleFreeNamesBothSites) {
  for (const std::size_t size : {std::size_t{40}, std::size_t{1} << 20}) {
    call_site::record(site(0x401230));
    void* block = allocate(size);
    call_site::record(site(0x405670));
    free(block);
    call_site::record(site(0x409990));
    const std::string klass = size < 1000 ? class_of(size) : "large";
    EXPECT_DEATH(free(block), report_line("double free", block,
                                          "\\(class=" + klass + ", allocated_at=0x401230, freed_at=0x405670\\)"))
        << size;
  }
}

// A site in a file mapping prints as the file and the offset addr2line reads.
TEST_F(CallSiteTest, ASiteInTheProgramPrintsAsFileAndOffset) {
  call_site::record(reinterpret_cast<const void*>(&class_of));  // code of this test program
  void* block = allocate(40);
  call_site::record(site(0x405670));
  free(block);
  EXPECT_DEATH(free(block), report_line("double free", block,
                                        "\\(class=" + class_of(40) + ", allocated_at=misuse_test\\+0x[0-9a-f]+, freed_at=0x405670\\)"));
}

TEST_F(CallSiteTest, AMismatchNamesTheAllocationSite) {
  call_site::record(site(0x401230));
  void* block = allocator_.allocate(*cache_, 40, Family::kNewArray);
  call_site::record(site(0x405670));
  EXPECT_DEATH(free(block), report_line("alloc-dealloc mismatch", block,
                                        "\\(allocated=new\\[\\], freed=free, allocated_at=0x401230\\)"));
}

TEST_F(CallSiteTest, AWriteAfterFreeNamesBothSites) {
  if (kBuiltWithAsan) GTEST_SKIP() << "ASan reports the write itself";
  call_site::record(site(0x401230));
  auto* block = static_cast<unsigned char*>(allocate(100));
  call_site::record(site(0x405670));
  free_to_list(block);
  std::memset(block + 37, 0x41, 1);
  call_site::record(site(0x409990));
  EXPECT_DEATH(allocate(100), report_line("write after free", block,
                                          "\\(offset=37, allocated_at=0x401230, freed_at=0x405670\\)"));
}

// kLargeGuardPages (full): a large block ends against an inaccessible page, so the first write
// past its usable end faults at once.
TEST_F(MisuseTest, AnOverflowOutOfALargeBlockFaultsAtTheGuardPage) {
  if (!enabled(Mitigation::kLargeGuardPages)) GTEST_SKIP() << "kLargeGuardPages is off (full preset only)";
  for (const std::size_t alignment : {std::size_t{16}, std::size_t{4096}, std::size_t{1} << 20}) {
    const std::size_t size = (std::size_t{1} << 20) + 1;
    auto* block = static_cast<unsigned char*>(allocator_.allocate_aligned(*cache_, size, alignment));
    ASSERT_NE(block, nullptr);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(block) % alignment, 0u);
    // Its room, to the guard page (with kCanaries usable_size is the requested size, and the
    // rest of the room holds the canary).
    const std::size_t usable = LargeBlocks::usable_size(*Allocator::lookup(block).header, block);
    EXPECT_GE(usable, size);
    EXPECT_LT(usable - size, alignment);  // against the guard, up to the alignment's rounding
    EXPECT_EXIT(
        {
          std::memset(block, 0x5a, usable);  // every byte of the room is writable (the canary's too)
          volatile unsigned char* end = block + usable;
          *end = 1;
        },
        ::testing::KilledBySignal(SIGSEGV), "");
    free(block);
  }
}

}  // namespace
}  // namespace nodealloc
