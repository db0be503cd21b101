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
// Determinism: the threads take turns. A driver (the fuzzing thread) reads the whole input into
// one sequence of turns (each thread claims its cache, the steps, each frees its share and
// releases its cache, the ending's check), then hands the first turn to its worker; each worker
// runs its turn, checking the model, and hands the turn to the next turn's worker (the driver's
// again after the last). Exactly one thread runs at a time, in the input's order, and each
// hand-over is a release store of the next thread's turn flag that it acquires, so every write of
// one turn happens-before the next: an input replays the same way every time, and the model
// needs no locking. Each thread waits on its own flag, so a hand-over wakes only the thread whose
// turn it is, and the driver sleeps through the whole input (a shared condition variable, with
// every step going back through the driver, woke every thread twice a step: most of the target's
// time went to the scheduler). The heap checks (every 64 steps, and the ending's) run on whichever
// thread has the turn while the others wait, so statistics() and validate() are exact.
//
// The workers live for the whole process (started once, by the first input): starting threads
// per input would cost more than most inputs. Not in LLVMFuzzerInitialize: AFL++'s driver calls
// that before its fork server forks, and threads do not survive a fork (the children would wait
// for workers that are not there). What must not outlive an input, the
// Allocator and the caches, is made per input: each worker claims its cache at the start, frees
// its share of the blocks and releases its cache at the end, and the Allocator is destroyed with
// the platform left holding nothing.
#include <atomic>
#include <cstddef>
#include <cstdint>
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
    owner_ = [](void* c, std::size_t i) -> unsigned { return static_cast<Context*>(c)->owner(i); };
    task_ = [](void* c, std::size_t i) { static_cast<Context*>(c)->task(i); };
    context_ = &context;
    count_ = count;
    next_ = 0;
    pass_turn();
    wait_for_turn(kDriver);
  }

 private:
  static constexpr unsigned kDriver = kMaxThreads;
  // The turn goes to the next task's worker, or back to the driver after the last. The release
  // store publishes everything this turn wrote to the thread whose turn is next.
  void pass_turn() {
    const unsigned next = next_ < count_ ? owner_(context_, next_) : kDriver;
    your_turn_[next].flag.store(true, std::memory_order_release);
    your_turn_[next].flag.notify_one();  // a system call only if that thread sleeps
  }

  // Returns when it is `self`'s turn (the acquire load sees everything the last turn wrote).
  // std::atomic's wait spins a little before it sleeps in the kernel; a spin of our own, a few
  // steps long, made the target three times slower on this 2-core machine: spinning threads took
  // the core the thread whose turn it was needed.
  void wait_for_turn(unsigned self) {
    std::atomic<bool>& flag = your_turn_[self].flag;
    flag.wait(false, std::memory_order_acquire);
    flag.store(false, std::memory_order_relaxed);  // only its owner clears it, after its turn came
  }

  [[noreturn]] void serve(unsigned self) {
    for (;;) {
      wait_for_turn(self);
      task_(context_, next_++);  // one thread at a time: the turn is a fact, not a hope
      pass_turn();
    }
  }

  // Each worker's turn flag, then the driver's; a cache line each, so that a waiting thread's
  // loads never share a line with another's flag.
  struct alignas(64) Turn {
    std::atomic<bool> flag{false};
  };
  Turn your_turn_[kMaxThreads + 1];
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

// What a turn does: a thread claims its cache, runs one step of the input, frees its share of
// the blocks, releases its cache, or (the last turn) checks the ending.
enum class Phase : std::uint8_t { kClaim, kStep, kFreeShare, kRelease, kEnding };
struct Turn {
  unsigned thread;
  Phase phase;
  std::size_t step = 0;  // kStep: which
};

void run(FuzzInput& input) {
  if (workers == nullptr) workers = new Workers(kMaxThreads);
  const unsigned threads = 2 + input.byte() % 2;
  // The whole input as one sequence of turns, read before anything runs (reading is parsing,
  // apart from the model), so the driver wakes a worker once and is woken once per input.
  std::vector<Step> steps;
  while (!input.exhausted()) steps.push_back(read_step(input));
  std::vector<Turn> turns;
  for (unsigned t = 0; t < threads; ++t) turns.push_back({t, Phase::kClaim});
  for (std::size_t i = 0; i < steps.size(); ++i) turns.push_back({steps[i].thread % threads, Phase::kStep, i});
  // Each thread frees its share (blocks with id % threads == t, mostly allocated by others),
  // then each releases its cache; the last releases flush blocks onto dormant caches' slabs,
  // which check_ending()'s release_free_memory() must collect.
  for (unsigned t = 0; t < threads; ++t) turns.push_back({t, Phase::kFreeShare});
  for (unsigned t = 0; t < threads; ++t) turns.push_back({t, Phase::kRelease});
  turns.push_back({0, Phase::kEnding});

  ScriptedPlatform platform;  // never refuses: only the limit makes a request fail here
  {
    Allocator allocator(AllocatorOptions{&platform, kMemoryLimit});
    AllocHarness harness(allocator, platform, threads);
    workers->run_in_turns(
        turns.size(), [&](std::size_t i) { return turns[i].thread; },
        [&](std::size_t i) {
          const Turn& turn = turns[i];
          harness.set_lane(turn.thread);
          switch (turn.phase) {
            case Phase::kClaim:
              FUZZ_CHECK(harness.ensure_cache() != nullptr);  // a fresh heap has room for a cache
              break;
            case Phase::kStep: harness.apply(steps[turn.step].op, steps[turn.step].operands); break;
            case Phase::kFreeShare:
              // There are never fewer caches than threads, so a thread without one finds one dormant.
              FUZZ_CHECK(harness.ensure_cache() != nullptr);
              harness.free_share(false);
              break;
            case Phase::kRelease: harness.release_cache(); break;
            case Phase::kEnding: harness.check_ending(); break;
          }
        });
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
