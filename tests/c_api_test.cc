// The C API (core/api/nodealloc.h) on the process-wide heap: glibc 2.36's answers to every odd
// request, and the basics of each call. The expected values are what glibc 2.36 returns on this
// system (checked by hand with a small C program; see the README's "C API" section).
#include "api/nodealloc.h"
#include "large/large_blocks.h"

#include <errno.h>
#include <malloc.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <vector>
#include <string>
#include <atomic>
#include <cstring>
#include <thread>

#include "api/default_heap.h"
#include "base/mitigations.h"
#include "base/sanitizer.h"

namespace {

struct ErrnoResult {
  void* block;
  int error;
};

template <class Call>
ErrnoResult with_errno(Call call) {
  errno = 0;
  void* block = call();
  return {block, errno};
}

TEST(CApi, MallocZeroAndFreeNull) {
  void* block = na_malloc(0);
  EXPECT_NE(block, nullptr);
  EXPECT_GE(na_usable_size(block), 0u);
  na_free(block);
  na_free(nullptr);
  EXPECT_EQ(na_usable_size(nullptr), 0u);
}

TEST(CApi, ImpossibleSizesAreNullWithEnomem) {
  for (std::size_t size : {SIZE_MAX, SIZE_MAX - 4096, static_cast<std::size_t>(PTRDIFF_MAX)}) {
    const ErrnoResult r = with_errno([&] { return na_malloc(size); });
    EXPECT_EQ(r.block, nullptr);
    EXPECT_EQ(r.error, ENOMEM);
  }
  const ErrnoResult overflow = with_errno([] { return na_calloc(SIZE_MAX / 2, 3); });
  EXPECT_EQ(overflow.block, nullptr);
  EXPECT_EQ(overflow.error, ENOMEM);
  const ErrnoResult array = with_errno([] { return na_reallocarray(nullptr, SIZE_MAX, 2); });
  EXPECT_EQ(array.block, nullptr);
  EXPECT_EQ(array.error, ENOMEM);
}

TEST(CApi, CallocZeroes) {
  auto* block = static_cast<unsigned char*>(na_calloc(100, 7));
  ASSERT_NE(block, nullptr);
  for (int i = 0; i < 700; ++i) ASSERT_EQ(block[i], 0);
  na_free(block);
}

TEST(CApi, ReallocLikeGlibc) {
  auto* block = static_cast<char*>(na_realloc(nullptr, 0));  // realloc(NULL, 0) is malloc(0)
  ASSERT_NE(block, nullptr);
  std::strcpy(static_cast<char*>(block = static_cast<char*>(na_realloc(block, 32))), "nodealloc");
  const ErrnoResult failed = with_errno([&] { return na_realloc(block, SIZE_MAX); });
  EXPECT_EQ(failed.block, nullptr);
  EXPECT_EQ(failed.error, ENOMEM);
  EXPECT_STREQ(block, "nodealloc");  // a failed realloc leaves the block intact
  const ErrnoResult freed = with_errno([&] { return na_realloc(block, 0); });
  EXPECT_EQ(freed.block, nullptr);  // realloc(p, 0) frees p
  EXPECT_EQ(freed.error, 0);
}

TEST(CApi, MemalignAndAlignedAllocLikeGlibc) {
  // glibc 2.36: not a power of two rounds up; 0 and small alignments are malloc's.
  for (std::size_t alignment : {0, 1, 3, 8, 24, 48, 64, 100, 4096, 1 << 20}) {
    for (auto* call : {na_memalign, na_aligned_alloc}) {
      void* block = call(alignment, 10);
      ASSERT_NE(block, nullptr) << alignment;
      std::size_t expected = 16;
      while (expected < alignment) expected *= 2;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % expected, 0u) << alignment;
      na_free(block);
    }
  }
  const ErrnoResult too_aligned = with_errno([] { return na_memalign((std::size_t{1} << 63) + 1, 10); });
  EXPECT_EQ(too_aligned.block, nullptr);
  EXPECT_EQ(too_aligned.error, EINVAL);
  const ErrnoResult unmappable = with_errno([] { return na_aligned_alloc(std::size_t{1} << 63, 10); });
  EXPECT_EQ(unmappable.block, nullptr);
  EXPECT_EQ(unmappable.error, ENOMEM);
}

TEST(CApi, PosixMemalignReturnsErrorsAndLeavesErrnoAlone) {
  void* block = reinterpret_cast<void*>(0x1234);
  for (std::size_t alignment : {0, 3, 4, 12, 24}) {
    errno = 42;
    EXPECT_EQ(na_posix_memalign(&block, alignment, 10), EINVAL) << alignment;
    EXPECT_EQ(errno, 42);
  }
  errno = 42;
  EXPECT_EQ(na_posix_memalign(&block, 16, SIZE_MAX), ENOMEM);
  EXPECT_EQ(errno, 42);
  EXPECT_EQ(block, reinterpret_cast<void*>(0x1234));  // untouched on failure
  ASSERT_EQ(na_posix_memalign(&block, 256, 1000), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 256, 0u);
  na_free(block);
}

TEST(CApi, VallocAndPvallocArePageAligned) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* v = na_valloc(10);
  void* pv = na_pvalloc(0);
  ASSERT_NE(v, nullptr);
  ASSERT_NE(pv, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v) % page, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pv) % page, 0u);
  EXPECT_GE(na_usable_size(pv), page);
  na_free(v);
  na_free(pv);
}

TEST(CApi, ForkedChildCanAllocate) {
  void* before = na_malloc(100);
#if NODEALLOC_TSAN
  // TSan does not support fork() while other threads run: it reports a "thread leak" in the child.
  const int busy_rounds = 0;
#else
  const int busy_rounds = 20000;
#endif
  std::thread busy([&] {  // another thread allocating while the main one forks
    for (int i = 0; i < busy_rounds; ++i) na_free(na_malloc(static_cast<std::size_t>(i % 5000)));
  });
#if NODEALLOC_TSAN
  busy.join();
#endif
  const pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 10000; ++i) na_free(na_malloc(static_cast<std::size_t>(i % 3000)));
    na_free(before);
    _exit(nodealloc::default_allocator().validate().ok ? 0 : 1);
  }
#if !NODEALLOC_TSAN
  busy.join();
#endif
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  na_free(before);
}

TEST(CApi, ThreadExitReleasesItsCache) {
  for (int i = 0; i < 50; ++i) {
    std::thread([] {
      void* blocks[100];
      for (void*& block : blocks) block = na_malloc(64);
      for (void* block : blocks) na_free(block);
    }).join();
  }
  const nodealloc::ValidationResult result = nodealloc::default_allocator().validate();
  EXPECT_TRUE(result.ok) << result.message;
}

}  // namespace

namespace {

// C23's sized frees: the right size frees, NULL does nothing, a wrong one is reported in the
// hardened presets (kSizedDeleteCheck) with its own name.
TEST(CApi, SizedFreesFreeAndCheckTheSize) {
  void* block = na_malloc(100);
  na_free_sized(block, 100);
  void* zeroed = na_calloc(10, 30);
  na_free_sized(zeroed, 300);
  void* aligned = na_aligned_alloc(4096, 100);
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 4096, 0u);
  na_free_aligned_sized(aligned, 4096, 100);
  void* large = na_malloc(std::size_t{1} << 20);
  na_free_sized(large, std::size_t{1} << 20);
  na_free_sized(nullptr, 8);
  na_free_aligned_sized(nullptr, 64, 8);
  if (!nodealloc::enabled(nodealloc::Mitigation::kSizedDeleteCheck)) return;
  void* wrong = na_malloc(40);
  EXPECT_DEATH(na_free_sized(wrong, 4000), "^nodealloc: fatal: sized free mismatch at 0x[0-9a-f]+ \\(size=4000, usable=[0-9]+\\)\n$");
  void* forgotten = na_aligned_alloc(4096, 100);
  EXPECT_DEATH(na_free_sized(forgotten, 100), "sized free mismatch at 0x[0-9a-f]+ \\(size=100, usable=");  // its alignment
  na_free(forgotten);
  na_free(wrong);
}

// na_mallopt answers as glibc's mallopt does (this test program runs on glibc's malloc, so
// mallopt here is glibc's own: the comparison is against the real thing).
TEST(CApi, MalloptAnswersAsGlibcDoes) {
  if (nodealloc::kBuiltWithAsan) GTEST_SKIP() << "ASan replaces glibc's mallopt with its own";
  const int parameters[] = {M_MXFAST, M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_CHECK_ACTION,
                            M_PERTURB, M_ARENA_TEST, M_ARENA_MAX, 12345, -12345};
  const int values[] = {-1, 0, 1, 64, 160, 161, 4096, 1 << 25, (1 << 25) + 1, 1 << 30};
  for (const int parameter : parameters) {
    for (const int value : values) {
      EXPECT_EQ(na_mallopt(parameter, value), mallopt(parameter, value)) << parameter << " " << value;
    }
  }
  mallopt(M_PERTURB, 0);  // leave glibc as it was for the other tests
  mallopt(M_CHECK_ACTION, 3);
}

}  // namespace

namespace {

// mallinfo2 with nodealloc's figures (nodealloc.h maps the fields).
TEST(CApi, Mallinfo2DescribesNodeallocsHeap) {
  const struct mallinfo2 before = na_mallinfo2();
  std::vector<void*> small;
  for (int i = 0; i < 1000; ++i) small.push_back(na_malloc(100));
  std::vector<void*> large;
  for (int i = 0; i < 5; ++i) large.push_back(na_malloc(100 << 10));  // above every class
  const struct mallinfo2 during = na_mallinfo2();
  EXPECT_GE(during.hblks, before.hblks + 5);
  EXPECT_GE(during.hblkhd, before.hblkhd + 5 * (100u << 10));
  EXPECT_GE(during.uordblks, before.uordblks + 1000 * 100);  // live, and blocks threads cache
  EXPECT_GE(during.arena, during.uordblks);
  EXPECT_EQ(during.fordblks, during.arena - during.uordblks);
  EXPECT_EQ(during.smblks + during.usmblks + during.fsmblks, 0u);
  for (void* block : large) na_free(block);
  for (void* block : small) na_free(block);
  const struct mallinfo2 after = na_mallinfo2();
  EXPECT_EQ(after.hblks, during.hblks - 5);
  EXPECT_EQ(after.hblkhd, before.hblkhd);
  // keepcost is what a trim gives back: with the mapping cache (none), the five freed mappings too.
  if (nodealloc::kDefaultLargeCacheBytes != 0) {
    EXPECT_GE(after.keepcost, 5 * (100u << 10));
  }
}

// Its figures come from counters, not from walking lists other threads change: asking in a loop
// while two threads allocate and free each other's blocks neither crashes nor (under TSan) races.
TEST(CApi, Mallinfo2IsSafeWhileOtherThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::atomic<void*> handoff{nullptr};
  std::thread producer([&] {
    while (!stop.load()) {
      void* block = na_malloc(48);
      void* expected = nullptr;
      if (!handoff.compare_exchange_strong(expected, block)) na_free(block);
    }
  });
  std::thread consumer([&] {  // frees the producer's blocks: remote frees into its slabs
    while (!stop.load()) {
      if (void* block = handoff.exchange(nullptr)) na_free(block);
    }
  });
  std::size_t seen = 0;
  for (int i = 0; i < 2000; ++i) seen += na_mallinfo2().arena != 0;
  stop = true;
  producer.join();
  consumer.join();
  if (void* block = handoff.exchange(nullptr)) na_free(block);
  EXPECT_EQ(seen, 2000u);
}

// glibc's shapes: the same labels malloc_stats prints, the same XML elements malloc_info writes,
// and the same answer to options it does not know. glibc's own run in this program (its malloc is
// glibc's), so each is compared against the real thing.
template <class Write>
std::string captured(Write write) {  // what write(FILE*) writes
  FILE* file = std::tmpfile();
  write(file);
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[512];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  std::fclose(file);
  return text;
}

template <class Print>
std::string stderr_of(Print print) {  // what print() writes to stderr
  return captured([&](FILE* file) {
    std::fflush(stderr);
    const int saved = dup(2);
    dup2(fileno(file), 2);
    print();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
  });
}

std::string labels(const std::string& text, char stop) {  // each line up to `stop`
  std::string result;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    const std::string line = text.substr(begin, end - begin);
    result += line.substr(0, line.find(stop)) + "\n";
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return result;
}

TEST(CApi, MallocStatsAndMallocInfoHaveGlibcsShape) {
  if (nodealloc::kBuiltWithAsan) GTEST_SKIP() << "ASan replaces glibc's malloc_stats and malloc_info with its own";
  const std::string glibc_stats = stderr_of([] { malloc_stats(); });
  const std::string nodealloc_stats = stderr_of([] { na_malloc_stats(); });
  // glibc prints an arena per arena it made (this program's threads made more): nodealloc has one.
  const std::string one_arena =
      std::regex_replace(labels(glibc_stats, '='), std::regex("Arena [1-9][0-9]*:\nsystem bytes +\nin use bytes +\n"), "");
  EXPECT_EQ(labels(nodealloc_stats, '='), one_arena);

  const std::string glibc_info = captured([](FILE* file) { malloc_info(0, file); });
  const std::string nodealloc_info = captured([](FILE* file) { na_malloc_info(0, file); });
  EXPECT_EQ(nodealloc_info.rfind("<malloc version=\"1\">\n<heap nr=\"0\">\n", 0), 0u) << nodealloc_info;
  for (const char* element : {"<total type=\"fast\"", "<total type=\"rest\"", "<total type=\"mmap\"",
                              "<system type=\"current\"", "<system type=\"max\"", "<aspace type=\"total\"",
                              "<aspace type=\"mprotect\"", "</malloc>"}) {
    EXPECT_NE(glibc_info.find(element), std::string::npos) << element;
    EXPECT_NE(nodealloc_info.find(element), std::string::npos) << element;
  }
  EXPECT_EQ(na_malloc_info(1, stderr), malloc_info(1, stderr));
  EXPECT_EQ(na_malloc_info(1, stderr), EINVAL);
}

// na_print_statistics(): the totals, then a line for each class with slabs, the block's among them.
TEST(CApi, PrintStatisticsNamesTheTotalsAndEachClassInUse) {
  void* block = na_malloc(100);
  ASSERT_NE(block, nullptr);
  ::testing::internal::CaptureStderr();
  na_print_statistics();
  const std::string printed = ::testing::internal::GetCapturedStderr();
  na_free(block);
  EXPECT_TRUE(std::regex_search(printed, std::regex("^nodealloc: in use [1-9][0-9]* B, mapped [1-9][0-9]* B, "
                                                    "dirty [0-9]+ B, large blocks [0-9]+\n")))
      << printed;
  EXPECT_TRUE(std::regex_search(printed, std::regex("nodealloc:   class +[0-9]+ \\( *[0-9]+ B\\): [1-9][0-9]* live, "
                                                    "[1-9][0-9]* slabs\n")))
      << printed;
}

// The statistics at exit, asked for by NODEALLOC_OPTIONS=stats=1 or the older NODEALLOC_STATS=1,
// and only then. Each in a fresh child ("threadsafe" death tests re-run the binary), whose
// default heap is made by its first call, after the variable is set.
void allocate_and_exit() {
  void* block = na_malloc(100);
  na_free(block);
  std::exit(block != nullptr ? 0 : 1);  // exit, so that atexit handlers run
}

TEST(CApi, StatisticsArePrintedAtExitWhenAsked) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "stats=1", 1);
        allocate_and_exit();
      },
      ::testing::ExitedWithCode(0), "^nodealloc: in use [0-9]+ B, mapped [1-9][0-9]* B");
  EXPECT_EXIT(
      {
        unsetenv("NODEALLOC_OPTIONS");
        setenv("NODEALLOC_STATS", "1", 1);
        allocate_and_exit();
      },
      ::testing::ExitedWithCode(0), "^nodealloc: in use [0-9]+ B, mapped [1-9][0-9]* B");
  EXPECT_EXIT(
      {
        unsetenv("NODEALLOC_OPTIONS");
        setenv("NODEALLOC_STATS", "0", 1);
        allocate_and_exit();
      },
      ::testing::ExitedWithCode(0), "^$");
}

// A heap that has handed nothing out reports nothing free either (no chunk yet), in a fresh child.
TEST(CApi, HeapReportsOfAnUnusedHeapAreZero) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const struct mallinfo2 info = na_mallinfo2();
        char* text = nullptr;
        std::size_t length = 0;
        FILE* stream = open_memstream(&text, &length);
        const int answer = na_malloc_info(0, stream);
        std::fclose(stream);
        const bool ok = info.arena == 0 && info.fordblks == 0 && info.uordblks == 0 && answer == 0 &&
                        std::strstr(text, "<total type=\"rest\" count=\"0\" size=\"0\"/>") != nullptr;
        std::free(text);
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// A thread that never allocated may ask for memory back: it claims no cache to do so.
TEST(CApi, ReleaseFreeMemoryFromAThreadWithoutACache) {
  void* block = na_malloc(100);
  ASSERT_NE(block, nullptr);
  std::memset(block, 0x5a, 100);
  const std::size_t before = nodealloc::default_allocator().statistics().bytes_mapped;
  std::thread([] { na_release_free_memory(); }).join();
  EXPECT_LE(nodealloc::default_allocator().statistics().bytes_mapped, before);
  EXPECT_EQ(static_cast<unsigned char*>(block)[99], 0x5a);
  const nodealloc::ValidationResult result = nodealloc::default_allocator().validate();
  EXPECT_TRUE(result.ok) << result.message;
  na_free(block);
}

}  // namespace
