// Every path annotates each block event exactly once (core/base/sanitizer.h, the counting backend):
// a block is marked allocated once when it is handed out, resized once when realloc keeps it, freed
// once when it comes back, and nothing else marks it: not a cache flush, a remote free collected,
// a slab or chunk returned, the freed fill, the quarantine's eviction or a thread's exit. Linked
// against core/ built with NODEALLOC_COUNT_ANNOTATIONS=1 (core/meson.build), whatever the variant.
//
// The observer keeps its own set of the blocks the annotations say are live, and flags an event
// that contradicts it (allocated while live, resized or freed while dead, a no-access or reusable
// region over live bytes); each test then compares that set with the blocks it holds.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/nodealloc.h"
#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "hardening/canary.h"
#include "heap/allocator.h"

namespace nodealloc {
namespace {

using annotations::Event;
using annotations::Record;

// Whether a resize names the block's requested size as its old size: only where the allocator
// records it (kCanaries); elsewhere it names the block's room.
constexpr bool kKnowsRequestedSize = enabled(Mitigation::kCanaries);

// The live blocks as the annotations describe them. The observer runs inside the allocator, on
// any thread; it uses glibc's malloc (this test does not replace it), never nodealloc's.
class AnnotatedHeap {
 public:
  void observe(const Record& record) {
    const std::lock_guard lock(mutex_);
    const auto address = reinterpret_cast<std::uintptr_t>(record.memory);
    switch (record.event) {
      case Event::kAllocated:
        if (live_.count(address) != 0) flag("allocated while live", address);
        live_[address] = record.size;
        break;
      case Event::kResized: {
        auto found = live_.find(address);
        if (found == live_.end()) {
          flag("resized while not live", address);
        } else {
          if (kKnowsRequestedSize && found->second != record.old_size) flag("resized from a size it did not have", address);
          found->second = record.size;
        }
        break;
      }
      case Event::kFreed:
        if (live_.erase(address) == 0) flag("freed while not live", address);
        break;
      case Event::kNoAccess:
      case Event::kReusable:
        if (overlaps_live(address, record.size)) flag("no-access or reusable over live bytes", address);
        break;
      case Event::kDefined:
      case Event::kCopyable:
        if (!inside_one_live_block(address, record.size)) flag("defined or copied outside a live block", address);
        break;
      case Event::kCount:
        break;
    }
  }

  std::map<std::uintptr_t, std::size_t> live() {
    const std::lock_guard lock(mutex_);
    return live_;
  }
  std::vector<std::string> violations() {
    const std::lock_guard lock(mutex_);
    return violations_;
  }

 private:
  void flag(const char* what, std::uintptr_t address) {
    if (violations_.size() < 20) violations_.push_back(std::string(what) + " at " + std::to_string(address));
  }
  bool overlaps_live(std::uintptr_t begin, std::size_t size) const {
    auto next = live_.lower_bound(begin);
    if (next != live_.end() && next->first < begin + size && next->second != 0) return true;
    if (next == live_.begin()) return false;
    auto before = std::prev(next);
    return before->first + before->second > begin;
  }
  bool inside_one_live_block(std::uintptr_t begin, std::size_t size) const {
    auto next = live_.upper_bound(begin);
    if (next == live_.begin()) return false;
    auto block = std::prev(next);
    // kCopyable names the block's room, which may reach past its requested size.
    return block->first <= begin && (begin + size <= block->first + block->second || block->first == begin);
  }

  std::mutex mutex_;
  std::map<std::uintptr_t, std::size_t> live_;
  std::vector<std::string> violations_;
};

AnnotatedHeap* observed = nullptr;

void observe(const Record& record) noexcept { observed->observe(record); }

struct Counts {
  std::size_t allocated, resized, freed;
  static Counts now() {
    return {annotations::count(Event::kAllocated), annotations::count(Event::kResized),
            annotations::count(Event::kFreed)};
  }
  Counts since(const Counts& before) const {
    return {allocated - before.allocated, resized - before.resized, freed - before.freed};
  }
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Counts& counts) {
  return out << "{allocated " << counts.allocated << ", resized " << counts.resized << ", freed " << counts.freed << "}";
}

class AnnotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static_assert(kCountsAnnotations, "link this test with core/'s counting build");
    observed = &heap_;
    annotations::set_observer(observe);
    cache_ = allocator_.claim_cache();
    ASSERT_NE(cache_, nullptr);
  }
  void TearDown() override {
    allocator_.release_cache(cache_);
    allocator_.release_free_memory();
    annotations::set_observer(nullptr);
    observed = nullptr;
    EXPECT_TRUE(heap_.violations().empty()) << heap_.violations().front();
  }

  // What the annotations say is live must be exactly what the test holds, at its requested size.
  void expect_live(const std::map<void*, std::size_t>& held) {
    std::map<std::uintptr_t, std::size_t> expected;
    for (const auto& [block, size] : held) expected[reinterpret_cast<std::uintptr_t>(block)] = size;
    EXPECT_EQ(heap_.live(), expected);
  }

  AnnotatedHeap heap_;
  Allocator allocator_;
  ThreadCache* cache_ = nullptr;
};

constexpr std::size_t kSizes[] = {0, 1, 24, 100, 1000, 4000, 20000, kMaxSmallSize - 64, 100000, std::size_t{1} << 20};

TEST_F(AnnotationTest, MallocAndFreeAnnotateOnceEach) {
  for (std::size_t size : kSizes) {
    const Counts before = Counts::now();
    void* block = allocator_.allocate(*cache_, size);
    ASSERT_NE(block, nullptr);
    expect_live({{block, size}});
    allocator_.deallocate(*cache_, block);
    EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 1})) << "size " << size;
    expect_live({});
  }
}

TEST_F(AnnotationTest, AlignedCallocAndSizedPathsAnnotateOnceEach) {
  for (std::size_t size : kSizes) {
    for (std::size_t alignment : {std::size_t{16}, std::size_t{64}, std::size_t{4096}, std::size_t{1} << 16}) {
      const Counts before = Counts::now();
      void* block = allocator_.allocate_aligned(*cache_, size, alignment);
      ASSERT_NE(block, nullptr);
      expect_live({{block, size}});
      allocator_.deallocate_sized(*cache_, block, size, alignment, Family::kMalloc);
      EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 1})) << "size " << size << ", alignment " << alignment;
    }
    const Counts before = Counts::now();
    const std::size_t defined_before = annotations::count(Event::kDefined);
    void* zeroed = allocator_.allocate_zeroed(*cache_, 1, size);
    ASSERT_NE(zeroed, nullptr);
    expect_live({{zeroed, size}});
    // A large block's zero pages are untouched: the annotation says they are defined, once.
    EXPECT_LE(annotations::count(Event::kDefined) - defined_before, 1u);
    allocator_.deallocate(*cache_, zeroed);
    EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 1})) << "calloc size " << size;
  }
}

TEST_F(AnnotationTest, ReallocInPlaceIsOneResizeAndAMoveOrGrowthIsOneAllocationAndOneFree) {
  // In place: the same class (grown to its last size, or shrunk by one), or a large block still at
  // least half used.
  auto last_in_class = [](std::size_t size) {
    while (canary::class_for_request(size + 1) == canary::class_for_request(size)) ++size;
    return size;
  };
  const std::pair<std::size_t, std::size_t> in_place[] = {
      {20, last_in_class(20)}, {last_in_class(24), last_in_class(24) - 1}, {1000, last_in_class(1000)}, {1 << 20, 600000}};
  for (auto [from, to] : in_place) {
    void* block = allocator_.allocate(*cache_, from);
    const Counts before = Counts::now();
    void* resized = allocator_.reallocate(*cache_, block, to);
    EXPECT_EQ(resized, block) << from << " -> " << to;
    EXPECT_EQ(Counts::now().since(before), (Counts{0, 1, 0})) << from << " -> " << to;
    expect_live({{resized, to}});
    allocator_.deallocate(*cache_, resized);
  }
  const std::pair<std::size_t, std::size_t> moved[] = {{20, 2000}, {2000, 20}, {100, 200000}, {200000, 100}, {1 << 20, 100000}};
  for (auto [from, to] : moved) {
    void* block = allocator_.allocate(*cache_, from);
    std::memset(block, 0x5a, from);
    const Counts before = Counts::now();
    void* moved_to = allocator_.reallocate(*cache_, block, to);
    ASSERT_NE(moved_to, nullptr);
    EXPECT_NE(moved_to, block) << from << " -> " << to;
    EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 1})) << from << " -> " << to;
    expect_live({{moved_to, to}});
    allocator_.deallocate(*cache_, moved_to);
  }
  // A large block past its room: grown in its own mapping where the preset grows live blocks
  // (large/large_blocks.h), at its address or moved, else copied; one allocation and one free
  // either way, and a moved mapping's old addresses marked over no live byte.
  const std::pair<std::size_t, std::size_t> grown[] = {{1 << 20, 3 << 20}, {100000, 100001 + (1 << 20)}};
  for (auto [from, to] : grown) {
    void* block = allocator_.allocate(*cache_, from);
    std::memset(block, 0x5a, from);
    const Counts before = Counts::now();
    void* grown_to = allocator_.reallocate(*cache_, block, to);
    ASSERT_NE(grown_to, nullptr);
    EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 1})) << from << " -> " << to;
    expect_live({{grown_to, to}});
    allocator_.deallocate(*cache_, grown_to);
  }
  const Counts before = Counts::now();
  void* fresh = allocator_.reallocate(*cache_, nullptr, 40);  // realloc(NULL, n) is malloc(n)
  EXPECT_EQ(Counts::now().since(before), (Counts{1, 0, 0}));
  allocator_.deallocate(*cache_, fresh);
}

// Flushes, slabs and chunks returned, remote frees collected, quarantine evictions (full) and the
// cache's release move free blocks around: no block event.
TEST_F(AnnotationTest, FlushesReturnsAndRemoteFreesAnnotateNothing) {
  constexpr std::size_t kBlocks = 20000;
  std::vector<void*> blocks;
  const Counts before = Counts::now();
  for (std::size_t i = 0; i < kBlocks; ++i) blocks.push_back(allocator_.allocate(*cache_, 16 + (i % 7) * 48));
  // Half freed here (the cache flushes as it fills), half by another thread (remote frees).
  for (std::size_t i = 0; i < kBlocks; i += 2) allocator_.deallocate(*cache_, blocks[i]);
  std::thread other([&] {
    ThreadCache* cache = allocator_.claim_cache();
    for (std::size_t i = 1; i < kBlocks; i += 2) allocator_.deallocate(*cache, blocks[i]);
    allocator_.release_cache(cache);
  });
  other.join();
  EXPECT_EQ(Counts::now().since(before), (Counts{kBlocks, 0, kBlocks}));
  const Counts freed = Counts::now();
  const std::size_t reusable_before = annotations::count(Event::kReusable);
  // Collects the remote frees, returns the empty slabs and chunks.
  allocator_.release_cache(cache_);
  allocator_.release_free_memory();
  cache_ = allocator_.claim_cache();
  for (int i = 0; i < 100; ++i) allocator_.deallocate(*cache_, allocator_.allocate(*cache_, 64));
  EXPECT_EQ(Counts::now().since(freed), (Counts{100, 0, 100}));
  EXPECT_GT(annotations::count(Event::kReusable), reusable_before) << "no chunk went back to the OS";
  expect_live({});
}

TEST_F(AnnotationTest, AThreadsExitAnnotatesNothing) {
  const Counts before = Counts::now();
  std::thread([] {
    for (int i = 0; i < 1000; ++i) na_free(na_malloc(static_cast<std::size_t>(i)));
    EXPECT_EQ(na_realloc(na_malloc(48), 0), nullptr);  // realloc(p, 0) frees p, as glibc's does
  }).join();
  EXPECT_EQ(Counts::now().since(before), (Counts{1001, 0, 1001}));
}

// Random sequences of every call: after each one, the annotations' live set is the test's.
TEST_F(AnnotationTest, RandomSequencesKeepTheAnnotatedHeapExact) {
  std::mt19937_64 random(20261202);
  std::map<void*, std::size_t> held;
  std::map<void*, bool> aligned;  // a sized free of these would need their alignment too
  auto pick_size = [&]() -> std::size_t {
    switch (random() % 8) {
      case 0: return random() % 17;
      case 1: return 100000 + random() % 300000;
      case 2: return random() % kMaxSmallSize;
      default: return random() % 600;
    }
  };
  auto pick_block = [&]() {
    auto it = held.begin();
    std::advance(it, static_cast<long>(random() % held.size()));
    return it;
  };
  for (int step = 0; step < 20000; ++step) {
    const unsigned operation = static_cast<unsigned>(random() % 12);
    if (held.empty() || operation < 3) {
      const std::size_t size = pick_size();
      void* block = allocator_.allocate(*cache_, size);
      ASSERT_NE(block, nullptr);
      held[block] = size;
    } else if (operation == 3) {
      const std::size_t size = pick_size();
      const std::size_t alignment = std::size_t{16} << (random() % 10);
      void* block = allocator_.allocate_aligned(*cache_, size, alignment);
      ASSERT_NE(block, nullptr);
      held[block] = size;
      aligned[block] = true;
    } else if (operation == 4) {
      const std::size_t size = pick_size();
      void* block = allocator_.allocate_zeroed(*cache_, 1, size);
      ASSERT_NE(block, nullptr);
      held[block] = size;
    } else if (operation <= 6) {
      auto it = pick_block();
      const std::size_t size = random() % 2 ? pick_size() : it->second + random() % 64;
      void* moved = allocator_.reallocate(*cache_, it->first, size);
      ASSERT_NE(moved, nullptr);
      const bool stays_aligned = moved == it->first && aligned.erase(it->first) != 0;
      if (moved != it->first) aligned.erase(it->first);
      held.erase(it);
      held[moved] = size;
      if (stays_aligned) aligned[moved] = true;
    } else if (operation == 7 && aligned.count(held.begin()->first) == 0) {
      auto it = held.begin();
      allocator_.deallocate_sized(*cache_, it->first, it->second, 0, Family::kMalloc);
      held.erase(it);
    } else if (operation == 8 && random() % 50 == 0) {
      allocator_.release_cache(cache_);
      if (random() % 2) allocator_.release_free_memory();
      cache_ = allocator_.claim_cache();
    } else {
      auto it = pick_block();
      allocator_.deallocate(*cache_, it->first);
      aligned.erase(it->first);
      held.erase(it);
    }
    if (step % 64 == 0 || held.size() < 4) {
      expect_live(held);
      ASSERT_TRUE(heap_.violations().empty()) << "step " << step << ": " << heap_.violations().front();
    }
  }
  expect_live(held);
  for (auto [block, size] : held) allocator_.deallocate(*cache_, block);
  expect_live({});
}

}  // namespace
}  // namespace nodealloc
