// Stress: several threads allocate, fill blocks with a pattern, hand them to each other, check
// and free them, thousands of rounds, so cross-thread frees, remote lists, slab reuse and cache
// flushes all run concurrently. Every block is checked before it is freed; at the end the heap
// validates and holds no live block. Runs in every variant (TSan too, when it comes).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "heap/allocator.h"

namespace nodealloc {
namespace {

struct Parcel {
  unsigned char* block;
  std::size_t size;
  unsigned char fill;
};

class Mailbox {
 public:
  void put(Parcel parcel) {
    std::lock_guard<std::mutex> lock(mutex_);
    parcels_.push_back(parcel);
  }
  std::vector<Parcel> take_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Parcel> taken;
    taken.swap(parcels_);
    return taken;
  }

 private:
  std::mutex mutex_;
  std::vector<Parcel> parcels_;
};

bool holds(const Parcel& parcel) {
  for (std::size_t i = 0; i < parcel.size; ++i) {
    if (parcel.block[i] != static_cast<unsigned char>(parcel.fill + i)) return false;
  }
  return true;
}

TEST(Stress, ThreadsHandBlocksToEachOther) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 3000;
  Allocator allocator;
  Mailbox mailboxes[kThreads];
  std::atomic<long> bad_blocks{0};
  std::atomic<int> finished{0};

  auto work = [&](int self) {
    ThreadCache* cache = allocator.claim_cache();
    std::mt19937 random(static_cast<unsigned>(self) * 7919u + 1);
    std::vector<Parcel> own;
    auto check_and_free = [&](const Parcel& parcel) {
      if (!holds(parcel)) ++bad_blocks;
      allocator.deallocate(*cache, parcel.block);
    };
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < 8; ++i) {
        const unsigned pick = random() % 100;
        const std::size_t size = pick < 80 ? random() % 256 : pick < 98 ? random() % 8192 : 70000 + random() % 100000;
        auto* block = static_cast<unsigned char*>(allocator.allocate(*cache, size));
        ASSERT_NE(block, nullptr);
        const auto fill = static_cast<unsigned char>(random());
        for (std::size_t j = 0; j < size; ++j) block[j] = static_cast<unsigned char>(fill + j);
        const Parcel parcel{block, size, fill};
        if (random() % 2 == 0) mailboxes[random() % kThreads].put(parcel);
        else own.push_back(parcel);
      }
      while (own.size() > 64) {
        check_and_free(own.back());
        own.pop_back();
      }
      for (const Parcel& parcel : mailboxes[self].take_all()) check_and_free(parcel);
    }
    for (const Parcel& parcel : own) check_and_free(parcel);
    ++finished;
    // Keep draining until every thread has stopped sending.
    while (finished.load() < kThreads) {
      for (const Parcel& parcel : mailboxes[self].take_all()) check_and_free(parcel);
      std::this_thread::yield();
    }
    for (const Parcel& parcel : mailboxes[self].take_all()) check_and_free(parcel);
    allocator.release_cache(cache);
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t);
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(bad_blocks.load(), 0);
  const ValidationResult result = allocator.validate();
  EXPECT_TRUE(result.ok) << result.message;
  allocator.release_free_memory();
  const Statistics stats = allocator.statistics();
  EXPECT_EQ(stats.bytes_in_use, 0u);
  EXPECT_EQ(stats.live_large_blocks, 0u);
  EXPECT_TRUE(allocator.validate().ok);
}

}  // namespace
}  // namespace nodealloc
