// Fuzz target: allocator operations spread over 2-3 real threads, each with its own thread cache,
// against the shadow model of alloc_ops (fuzz/support/alloc_harness.h).
//
// Input layout:
//
//   threads (byte % 2 + 2)   how many worker threads this input uses
//   then operations, each a thread byte, an opcode byte and its operands:
//     thread (byte % threads)   which worker runs the operation
//     op (byte % 12)            an AllocOp (alloc_harness.h); kReleaseCache is a thread giving
//                               up its cache as at thread exit: its next operation claims one
//                               again, maybe another thread's old one, with that one's slabs
//
// Why real threads when alloc_ops already frees through other caches: here the caches are
// claimed, used, flushed and released by the threads that own them, so a block allocated by
// thread A and freed by thread B really crosses threads: onto B's list, then (when the list
// overflows or B releases its cache) onto the remote list of A's slab, and back to A when it
// refills. ASan sees each access from the thread that makes it.
//
// Determinism: the threads take turns. A driver (the fuzzing thread) reads the thread byte and
// hands the turn to that worker, which runs the whole operation, reading its operands from the
// input and checking the model, while holding the turn mutex, then hands the turn back. Exactly one
// thread runs at a time, in the input's order, and each hand-over goes through the mutex, so every
// write of one turn happens-before the next turn: an input replays the same way every time, and
// the model needs no locking. The heap checks (every 64 steps, and the ending's) run on whichever
// thread has the turn while the others wait, so statistics() and validate() are exact.
//
// The workers live for the whole process (started once, by the first input): starting threads
// per input would cost more than most inputs. Not in LLVMFuzzerInitialize: AFL++'s driver calls
// that before its fork server forks, and threads do not survive a fork (the children would wait
// for workers that are not there). What must not outlive an input, the
// Allocator and the caches, is made per input: each worker claims its cache at the start, frees
// its share of the blocks and releases its cache at the end, and the Allocator is destroyed with
// the platform left holding nothing.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "heap/allocator.h"
#include "support/alloc_harness.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"
#include "support/operation_mutator.h"
#include "support/scripted_platform.h"

namespace nodealloc::fuzz {
namespace {

constexpr std::size_t kMemoryLimit = std::size_t{64} << 20;
constexpr unsigned kMaxThreads = 3;

// Worker threads that run one task at a time, each when the driver gives it the turn.
class Workers {
 public:
  explicit Workers(unsigned count) {
    for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this, i] { serve(i); });
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs fn() on worker `worker` and returns when it is done.
  template <class Fn>
  void run(unsigned worker, Fn&& fn) {
    using Callable = std::remove_reference_t<Fn>;
    std::unique_lock<std::mutex> lock(mutex_);
    task_ = [](void* context) { (*static_cast<Callable*>(context))(); };
    context_ = &fn;
    turn_ = worker;
    turn_changed_.notify_all();
    turn_changed_.wait(lock, [this] { return turn_ == kDriver; });
  }

 private:
  static constexpr unsigned kDriver = ~0u;

  [[noreturn]] void serve(unsigned self) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      turn_changed_.wait(lock, [this, self] { return turn_ == self; });
      task_(context_);  // under the lock: one thread at a time is a fact, not a hope
      turn_ = kDriver;
      turn_changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable turn_changed_;
  unsigned turn_ = kDriver;
  void (*task_)(void*) = nullptr;
  void* context_ = nullptr;
  std::vector<std::thread> threads_;
};

// Never destroyed: the workers wait for a turn until the process exits.
Workers* workers = nullptr;

[[maybe_unused]] constexpr std::size_t kHeaderBytes = 1;  // the thread count

// One step after the header: the thread byte, the AllocOp and its operands. The one reading of
// this target's grammar, for run() and the custom mutator.
struct Step {
  std::uint8_t thread = 0;
  AllocOp op = AllocOp::kAllocate;
  AllocHarness::Operands operands;
};

Step read_step(FuzzInput& input) {
  Step step;
  step.thread = input.byte();
  step.op = static_cast<AllocOp>(input.byte() % kOpCount);
  step.operands = AllocHarness::read_operands(step.op, input);
  return step;
}

void run(FuzzInput& input) {
  if (workers == nullptr) workers = new Workers(kMaxThreads);
  const unsigned threads = 2 + input.byte() % 2;
  ScriptedPlatform platform;  // never refuses: only the limit makes a request fail here
  {
    Allocator allocator(AllocatorOptions{&platform, kMemoryLimit});
    AllocHarness harness(allocator, platform, threads);
    for (unsigned t = 0; t < threads; ++t) {
      workers->run(t, [&] {
        harness.set_lane(t);
        FUZZ_CHECK(harness.ensure_cache() != nullptr);  // a fresh heap has room for a cache
      });
    }
    while (!input.exhausted()) {
      const Step step = read_step(input);
      const unsigned t = step.thread % threads;
      workers->run(t, [&] {
        harness.set_lane(t);
        harness.apply(step.op, step.operands);
      });
    }
    // Each thread frees its share (blocks with id % threads == t, mostly allocated by others),
    // then releases its cache; the last releases flush blocks onto dormant caches' slabs, which
    // check_ending()'s release_free_memory() must collect.
    for (unsigned t = 0; t < threads; ++t) {
      workers->run(t, [&] {
        harness.set_lane(t);
        // There are never fewer caches than threads, so a thread without one finds one dormant.
        FUZZ_CHECK(harness.ensure_cache() != nullptr);
        harness.free_share(false);
      });
    }
    for (unsigned t = 0; t < threads; ++t) {
      workers->run(t, [&] {
        harness.set_lane(t);
        harness.release_cache();
      });
    }
    workers->run(0, [&] { harness.check_ending(); });
  }
  FUZZ_CHECK_EQ(platform.mapped(), std::size_t{0});
  FUZZ_CHECK_EQ(platform.ranges(), std::size_t{0});
}

}  // namespace
}  // namespace nodealloc::fuzz

NODEALLOC_OPERATION_MUTATOR(nodealloc::fuzz::kHeaderBytes, [](nodealloc::fuzz::FuzzInput& input) { nodealloc::fuzz::read_step(input); })

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nodealloc::fuzz::FuzzInput input(data, size);
  nodealloc::fuzz::run(input);
  return 0;
}
