// A test fixture with one allocator instance on a FailingPlatform (so a test can count what is
// mapped and make maps fail), thread caches claimed on demand, and validate() after every test,
// once every cache the test claimed has been released.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "heap/allocator.h"
#include "support/failing_platform.h"

namespace nodealloc::testing {

class AllocatorFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    for (ThreadCache* cache : caches_) allocator_->release_cache(cache);
    const ValidationResult result = allocator_->validate();
    EXPECT_TRUE(result.ok) << result.message;
  }

  // The test's cache number `index`, claimed the first time it is asked for.
  ThreadCache& cache(std::size_t index = 0) {
    while (caches_.size() <= index) caches_.push_back(allocator_->claim_cache());
    return *caches_[index];
  }

  void expect_valid() {
    const ValidationResult result = allocator_->validate();
    ASSERT_TRUE(result.ok) << result.message;
  }

  FailingPlatform platform_;
  std::unique_ptr<Allocator> allocator_ = std::make_unique<Allocator>(AllocatorOptions{&platform_});
  std::vector<ThreadCache*> caches_;
};

}  // namespace nodealloc::testing
