// Google Benchmark of the Node's block cycle: hand out an aligned block, then resolve it back to
// its node and link it onto a free list. Built by the test command, run by hand:
//   build/gcc/bench/node_bench
#include <benchmark/benchmark.h>

#include "node/node.h"

namespace nodealloc {
namespace {

constexpr std::size_t kBlockSize = 16;

template <class NodeType>
void BM_AlignedAddrThenResolve(benchmark::State& state) {
  alignas(4096) static NodeType node;
  node.write_header_ptr(header_slot::kNode, &node);
  const auto align = static_cast<std::size_t>(state.range(0));
  if (node.aligned_addr(align, kBlockSize) == nullptr) {
    state.SkipWithError("the block does not fit this Node at this alignment");
    return;
  }
  const NodeType* free_list = nullptr;
  for (auto _ : state) {
    std::byte* block = node.aligned_addr(align, kBlockSize);
    benchmark::DoNotOptimize(block);
    free_list = NodeType::resolve(header_slot::kNode, block, free_list);
    benchmark::DoNotOptimize(free_list);
  }
}
BENCHMARK_TEMPLATE(BM_AlignedAddrThenResolve, Node<64, 64, 64>)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK_TEMPLATE(BM_AlignedAddrThenResolve, Node<128, 4096, 4096>)->Arg(16)->Arg(1024);

}  // namespace
}  // namespace nodealloc

BENCHMARK_MAIN();
