// Fuzz target: allocator operations while the OS refuses memory when the input says so, against
// the shadow model of alloc_ops (fuzz/support/alloc_harness.h).
//
// Input layout:
//
//   limit (byte)          the Allocator's memory limit, in 256 KiB steps: 0 to 63.75 MiB, so
//                         inputs also meet the limit below one chunk (4 MiB) and between chunks
//   faults (u64)          the first fault pattern of the ScriptedPlatform
//   then operations, each an opcode byte and its operands:
//     op (byte % 14)      0-11: an AllocOp (alloc_harness.h)
//                         12:   switch cache, then a byte: the lane (0-3)
//                         13:   new fault pattern, then a u64
//
// The platform (fuzz/support/scripted_platform.h) consumes one bit of the pattern per map() call:
// 1 refuses. Every path that maps fails somewhere: a chunk for a slab, a large block, a thread
// cache. What must hold whatever fails, and why it is worth a target of its own:
// - a refused map() gives nullptr from the call that needed it and never a crash or a half-made
//   object (the harness accepts nullptr only when the platform refused or the limit was reached);
// - nothing stays mapped that a failed call mapped (platform bytes never grow across a failure);
// - every live block is intact after any failure: a failure halfway through a refill or a
//   realloc must not have touched them, so the whole model is checked after each failed call;
// - claim_cache() may fail, and the lane then runs without a cache (its operations are skipped)
//   until a later claim succeeds; a dormant cache must still be handed out without mapping;
// - after the ending (faults off, every block freed, every cache released) and the Allocator's
//   destruction, the platform holds no mapping: no failure path leaked one.
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

constexpr std::size_t kLimitStep = std::size_t{256} << 10;
constexpr unsigned kLanes = 4;
constexpr unsigned kSwitchLane = kOpCount;
constexpr unsigned kSetFaults = kOpCount + 1;

[[maybe_unused]] constexpr std::size_t kHeaderBytes = 9;  // the limit byte and the first fault pattern

// One step after the header: an AllocOp and its operands, a lane switch and its lane, or a new
// fault pattern. The one reading of this target's grammar, for run() and the custom mutator.
struct Step {
  unsigned op = 0;
  std::uint8_t lane = 0;
  std::uint64_t faults = 0;
  AllocHarness::Operands operands;
};

Step read_step(FuzzInput& input) {
  Step step;
  step.op = input.byte() % (kOpCount + 2);
  if (step.op == kSwitchLane) step.lane = input.byte();
  else if (step.op == kSetFaults) step.faults = input.u64();
  else step.operands = AllocHarness::read_operands(static_cast<AllocOp>(step.op), input);
  return step;
}

void run(FuzzInput& input) {
  ScriptedPlatform platform;
  const std::size_t limit = input.byte() * kLimitStep;
  platform.set_fault_pattern(input.u64());
  {
    Allocator allocator(AllocatorOptions{&platform, limit});
    AllocHarness harness(allocator, platform, kLanes);
    while (!input.exhausted()) {
      const Step step = read_step(input);
      const std::uint64_t refusals = platform.refusals();
      if (step.op == kSwitchLane) harness.set_lane(step.lane);
      else if (step.op == kSetFaults) platform.set_fault_pattern(step.faults);
      else harness.apply(static_cast<AllocOp>(step.op), step.operands);
      // A refusal is where a half-done operation would show: check the heap then, not only the
      // blocks the operation touched.
      if (platform.refusals() != refusals) harness.check_heap();
    }
    platform.set_fault_pattern(0);  // the ending must not fail: it checks what is left
    harness.finish_on_this_thread();
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
