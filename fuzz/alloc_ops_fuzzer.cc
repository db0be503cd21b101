// Fuzz target: sequences of allocator operations, on one thread through up to four thread caches,
// against a shadow model of every live block (fuzz/support/alloc_harness.h: the operations, the
// model and the checks, shared with alloc_oom and alloc_threads).
//
// Input layout: a stream of operations, each an opcode byte and its operands:
//
//   op (byte % 13)   0-11: an AllocOp (alloc_harness.h lists them and their operands)
//                    12:   switch cache, then a byte: the lane (0-3) the next operations use
//
// Four lanes, each with a cache claimed from the allocator on first use, all on this thread: a
// block allocated through one cache and freed through another takes the remote-free path (onto
// its slab's remote list, then back to the owning cache) without any thread, so every input
// replays exactly. kReleaseCache makes a lane's cache dormant; the next lane to need one must get
// it back, with its slabs.
//
// Each input gets a fresh Allocator with a 64 MiB limit, so no input can take the process near
// libFuzzer's RSS limit and the heap of one input never leaks into the next: the ending frees
// every block through the lanes, releases every cache, checks the heap holds nothing but the
// caches' mappings, then destroys the Allocator and checks the platform has nothing left mapped.
#include <cstddef>
#include <cstdint>

#include "heap/allocator.h"
#include "support/alloc_harness.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"
#include "support/operation_mutator.h"
#include "support/scripted_platform.h"

namespace nodealloc::fuzz {
namespace {

constexpr std::size_t kMemoryLimit = std::size_t{64} << 20;
constexpr unsigned kLanes = 4;
constexpr unsigned kSwitchLane = kOpCount;

// One step of the input: an AllocOp and its operands, or a lane switch and its lane. The one
// reading of this target's grammar, for run() and for the custom mutator.
struct Step {
  unsigned op = 0;
  std::uint8_t lane = 0;
  AllocHarness::Operands operands;
};

Step read_step(FuzzInput& input) {
  Step step;
  step.op = input.byte() % (kOpCount + 1);
  if (step.op == kSwitchLane) step.lane = input.byte();
  else step.operands = AllocHarness::read_operands(static_cast<AllocOp>(step.op), input);
  return step;
}

void run(FuzzInput& input) {
  ScriptedPlatform platform;  // never refuses: only the limit makes a request fail here
  {
    Allocator allocator(AllocatorOptions{&platform, kMemoryLimit});
    AllocHarness harness(allocator, platform, kLanes);
    while (!input.exhausted()) {
      const Step step = read_step(input);
      if (step.op == kSwitchLane) harness.set_lane(step.lane);
      else harness.apply(static_cast<AllocOp>(step.op), step.operands);
    }
    harness.finish_on_this_thread();
  }
  FUZZ_CHECK_EQ(platform.mapped(), std::size_t{0});
  FUZZ_CHECK_EQ(platform.ranges(), std::size_t{0});
}

}  // namespace
}  // namespace nodealloc::fuzz

NODEALLOC_OPERATION_MUTATOR(0, [](nodealloc::fuzz::FuzzInput& input) { nodealloc::fuzz::read_step(input); })

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nodealloc::fuzz::FuzzInput input(data, size);
  nodealloc::fuzz::run(input);
  return 0;
}
