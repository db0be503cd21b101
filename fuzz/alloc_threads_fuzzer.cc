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
// Determinism: the threads take turns. A driver (the fuzzing thread) reads the steps, then hands
// the turn to the worker the first one names; each worker runs its step, checking the model,
// while holding the turn mutex, and hands the turn to the next step's worker (the driver's again
// after the last). Exactly one thread runs at a time, in the input's order, and each hand-over
// goes through the mutex, so every write of one turn happens-before the next turn: an input
// replays the same way every time, and the model needs no locking. Each thread waits on a
// condition variable of its own, so a hand-over wakes only the thread whose turn it is (one
// shared by all, with every step going back through the driver, woke every thread twice a step:
// most of the target's time went to the scheduler). The heap checks (every 64 steps, and the
// ending's) run on whichever thread has the turn while the others wait, so statistics() and
// validate() are exact.
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

// Worker threads that run a sequence of tasks in turns: task i on worker owner(i), one at a time.
class Workers {
 public:
  explicit Workers(unsigned count) {
    for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this, i] { serve(i); });
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs task(0) ... task(count - 1) in that order, each on worker owner(i), and returns when the
  // last is done. A worker that ends a task hands the turn straight to the next task's worker
  // (itself, often: then without waking anyone), not back to the driver.
  template <class Owner, class Task>
  void run_in_turns(std::size_t count, Owner&& owner, Task&& task) {
    struct Context {
      Owner& owner;
      Task& task;
    } context{owner, task};
    std::unique_lock<std::mutex> lock(mutex_);
    owner_ = [](void* c, std::size_t i) -> unsigned { return static_cast<Context*>(c)->owner(i); };
    task_ = [](void* c, std::size_t i) { static_cast<Context*>(c)->task(i); };
    context_ = &context;
    count_ = count;
    next_ = 0;
    pass_turn();
    your_turn_[kDriver].wait(lock, [this] { return turn_ == kDriver; });
  }

  // Runs fn() on worker `worker` and returns when it is done.
  template <class Fn>
  void run(unsigned worker, Fn&& fn) {
    run_in_turns(1, [worker](std::size_t) { return worker; }, [&fn](std::size_t) { fn(); });
  }

 private:
  static constexpr unsigned kDriver = kMaxThreads;

  // Under the lock: the turn goes to the next task's worker, or back to the driver after the last.
  void pass_turn() {
    turn_ = next_ < count_ ? owner_(context_, next_) : kDriver;
    your_turn_[turn_].notify_one();
  }

  [[noreturn]] void serve(unsigned self) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      your_turn_[self].wait(lock, [this, self] { return turn_ == self; });
      task_(context_, next_++);  // under the lock: one thread at a time is a fact, not a hope
      pass_turn();
    }
  }

  std::mutex mutex_;
  std::condition_variable your_turn_[kMaxThreads + 1];  // each worker's, then the driver's
  unsigned turn_ = kDriver;
  unsigned (*owner_)(void*, std::size_t) = nullptr;
  void (*task_)(void*, std::size_t) = nullptr;
  void* context_ = nullptr;
  std::size_t count_ = 0;
  std::size_t next_ = 0;  // the task to run next
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
    // The steps are read first (reading is parsing, apart from the model), then run in turns.
    std::vector<Step> steps;
    while (!input.exhausted()) steps.push_back(read_step(input));
    workers->run_in_turns(
        steps.size(), [&](std::size_t i) -> unsigned { return steps[i].thread % threads; },
        [&](std::size_t i) {
          harness.set_lane(steps[i].thread % threads);
          harness.apply(steps[i].op, steps[i].operands);
        });
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
