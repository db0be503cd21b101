// The operation-level mutator of the allocator targets: libFuzzer's LLVMFuzzerCustomMutator and
// LLVMFuzzerCustomCrossOver, working on whole operations instead of bytes.
//
// An allocator target's input is a header of fixed length (the oom target's limit and fault
// pattern, the threads target's thread count), then a stream of steps, each an opcode and its
// operands. Byte mutation breaks such a stream: one byte inserted or dropped shifts every later
// operand, so most mutants are another, shorter program, not a variant of the one that found
// coverage. Each target hands this file the one function that reads one of its steps (read_step,
// which reads exactly what run() reads: the operands of an operation depend on its bytes only,
// alloc_harness.h), so an input splits into steps without running it:
//
//   | header | step | step | step | ... |        a step: [begin, end) of the input's bytes
//
// and a mutant is the input with one of these changes, chosen at random:
//   - a step deleted, duplicated in place, copied to another place, or two steps swapped;
//   - a fresh step (random bytes, cut to what one step reads) inserted;
//   - one step's bytes (or the header's) mutated by libFuzzer's own LLVMFuzzerMutate, so
//     dictionaries and comparison hints still reach the operands;
//   - the whole input mutated by LLVMFuzzerMutate, as without this file (one time in three).
// The crossover keeps the header and a run of steps of one input and appends a run of steps of
// the other. Results never exceed libFuzzer's max_size.
//
// NODEALLOC_FUZZ_BYTE_MUTATION=1 in the environment switches all of it off: the mutator is then
// LLVMFuzzerMutate alone and the crossover a splice at byte offsets, so the same binary compares
// the two (README.md's fuzzing section has the comparison).
//
// Defined wherever the engine may be libFuzzer: its fuzzer binaries, and the OSS-Fuzz build, which
// links the replay programs' objects with $LIB_FUZZING_ENGINE (tools/oss-fuzz-build). So the
// replay programs carry the hooks too, never called, and LLVMFuzzerMutate is a weak reference they
// link without. Not under AFL++'s compilers (__AFL_COMPILER): its driver has mutators of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "support/fuzz_input.h"

namespace nodealloc::fuzz::mutation {

struct Span {
  std::size_t begin;
  std::size_t end;
};

// The input's steps after its header, by reading them as the target does.
template <class ReadStep>
std::vector<Span> split(const std::uint8_t* data, std::size_t size, std::size_t header, ReadStep read_step) {
  std::vector<Span> steps;
  if (size <= header) return steps;
  FuzzInput input(data + header, size - header);
  while (!input.exhausted()) {
    const std::size_t begin = input.offset();
    read_step(input);
    steps.push_back({header + begin, header + input.offset()});
  }
  return steps;
}

inline bool byte_mutation_only() {
  static const bool only = [] {
    const char* value = std::getenv("NODEALLOC_FUZZ_BYTE_MUTATION");
    return value != nullptr && value[0] != '\0' && value[0] != '0';
  }();
  return only;
}

// Writes `out` into data (at most max_size bytes) and returns its size.
inline std::size_t emit(const std::vector<std::uint8_t>& out, std::uint8_t* data, std::size_t max_size) {
  const std::size_t size = out.size() < max_size ? out.size() : max_size;
  if (size > 0) std::memcpy(data, out.data(), size);
  return size;
}

}  // namespace nodealloc::fuzz::mutation

#if !defined(__AFL_COMPILER)
extern "C" __attribute__((weak)) std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size,
                                                               std::size_t max_size);

namespace nodealloc::fuzz::mutation {

template <class ReadStep>
std::size_t mutate(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned seed,
                   std::size_t header, ReadStep read_step) {
  if (LLVMFuzzerMutate == nullptr) return size;  // an engine without it: no mutation of ours
  std::minstd_rand random(seed);
  const std::vector<Span> steps = split(data, size, header, read_step);
  if (byte_mutation_only() || steps.empty() || random() % 3 == 0) return LLVMFuzzerMutate(data, size, max_size);
  const auto pick = [&] { return static_cast<std::size_t>(random() % steps.size()); };
  std::vector<std::uint8_t> out(data, data + (header < size ? header : size));
  const auto append = [&](const Span& span) { out.insert(out.end(), data + span.begin, data + span.end); };
  unsigned change = static_cast<unsigned>(random() % 7);
  if (change == 5 && header == 0) change = 4;
  // A fresh step (change 6): random bytes, cut to what one step reads of them.
  std::vector<std::uint8_t> fresh(16);
  for (std::uint8_t& byte : fresh) byte = static_cast<std::uint8_t>(random());
  {
    FuzzInput input(fresh.data(), fresh.size());
    read_step(input);
    fresh.resize(input.offset());
  }
  if (change == 5 && out.size() == header) {  // the header's bytes, its length kept
    std::vector<std::uint8_t> bytes(out.begin(), out.end());
    bytes.resize(header + 1);
    const std::size_t length = LLVMFuzzerMutate(bytes.data(), header, header);
    bytes.resize(header);
    if (length < header) std::memset(bytes.data() + length, 0, header - length);
    out = bytes;
  }
  const std::size_t chosen = pick();
  const std::size_t other = pick();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    switch (change) {
      case 0:  // delete one step
        if (i != chosen || steps.size() == 1) append(steps[i]);
        break;
      case 1:  // duplicate one step in place
        append(steps[i]);
        if (i == chosen) append(steps[i]);
        break;
      case 2:  // copy one step before another
        if (i == other) append(steps[chosen]);
        append(steps[i]);
        break;
      case 3:  // swap two steps
        append(steps[i == chosen ? other : i == other ? chosen : i]);
        break;
      case 6:  // a fresh step before one
        if (i == chosen) out.insert(out.end(), fresh.begin(), fresh.end());
        append(steps[i]);
        break;
      case 4: {  // one step's bytes through libFuzzer's mutator, which may grow them a little
        if (i != chosen) {
          append(steps[i]);
          break;
        }
        const std::size_t length = steps[i].end - steps[i].begin;
        std::vector<std::uint8_t> bytes(data + steps[i].begin, data + steps[i].end);
        bytes.resize(length + 16);
        bytes.resize(LLVMFuzzerMutate(bytes.data(), length, bytes.size()));
        out.insert(out.end(), bytes.begin(), bytes.end());
        break;
      }
      default:  // the header changed above
        append(steps[i]);
        break;
    }
  }
  return emit(out, data, max_size);
}

template <class ReadStep>
std::size_t cross_over(const std::uint8_t* first, std::size_t first_size, const std::uint8_t* second,
                       std::size_t second_size, std::uint8_t* out_data, std::size_t max_size, unsigned seed,
                       std::size_t header, ReadStep read_step) {
  std::minstd_rand random(seed);
  std::vector<std::uint8_t> out;
  if (byte_mutation_only()) {  // a splice at byte offsets: the first's prefix, the second's suffix
    const std::size_t cut_first = first_size == 0 ? 0 : random() % (first_size + 1);
    const std::size_t cut_second = second_size == 0 ? 0 : random() % (second_size + 1);
    out.assign(first, first + cut_first);
    out.insert(out.end(), second + cut_second, second + second_size);
    return emit(out, out_data, max_size);
  }
  const std::vector<Span> a = split(first, first_size, header, read_step);
  const std::vector<Span> b = split(second, second_size, header, read_step);
  out.assign(first, first + (header < first_size ? header : first_size));
  // A run of the first's steps, then a run of the second's.
  const std::size_t a_begin = a.empty() ? 0 : random() % a.size();
  const std::size_t a_end = a.empty() ? 0 : a_begin + 1 + random() % (a.size() - a_begin);
  for (std::size_t i = a_begin; i < a_end; ++i) out.insert(out.end(), first + a[i].begin, first + a[i].end);
  const std::size_t b_begin = b.empty() ? 0 : random() % b.size();
  const std::size_t b_end = b.empty() ? 0 : b_begin + 1 + random() % (b.size() - b_begin);
  for (std::size_t i = b_begin; i < b_end; ++i) out.insert(out.end(), second + b[i].begin, second + b[i].end);
  return emit(out, out_data, max_size);
}

}  // namespace nodealloc::fuzz::mutation

// Defines the target's libFuzzer hooks from its header length and its read_step.
#define NODEALLOC_OPERATION_MUTATOR(header, read_step)                                                  \
  extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size, \
                                                 unsigned seed) {                                       \
    return nodealloc::fuzz::mutation::mutate(data, size, max_size, seed, header, read_step);            \
  }                                                                                                     \
  extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t* first, std::size_t first_size,   \
                                                   const std::uint8_t* second, std::size_t second_size, \
                                                   std::uint8_t* out, std::size_t max_size, unsigned seed) { \
    return nodealloc::fuzz::mutation::cross_over(first, first_size, second, second_size, out, max_size,  \
                                                 seed, header, read_step);                              \
  }
#else
#define NODEALLOC_OPERATION_MUTATOR(header, read_step)
#endif
