// A stateful rapidcheck model of the whole allocator (core/heap/allocator.h).
//
//   Model (pure)                          System under test (real memory)
//   ─────────────────────────────         ──────────────────────────────────────────────
//   AllocatorModel: live blocks by id     an Allocator (fresh per case, 256 MiB limit)
//     (size, alignment asked for,         on a counting platform, 3 claimed ThreadCaches,
//     class, usable, room, mapping,       and id → address of every live block
//     fill byte and how long a prefix
//     holds it), the exact statistics
//   the cache commands go through
//
// One rc::state::Command per API call: Allocate, AllocateAligned, AllocateZeroed, Reallocate,
// Free, Lookup, UsableSize, WritePattern / CheckPattern (a byte derived from the block's id),
// ReleaseFreeMemory, SwitchCache (later commands go through another cache, so blocks are freed
// through caches other than the one that allocated them), ReleaseCache (release_cache, then
// claim_cache gives the same dormant cache back). checkPreconditions holds the model to a budget,
// apply updates the model, run calls the allocator and then checks the whole heap against the
// model after every command (check_heap): every block's alignment, usable size (which names a
// small block's class) and contents, no two blocks overlapping (back-pointers included),
// statistics() exactly as the model predicts (AllocatorModel::check: live blocks per class, large
// blocks, bytes in use, bytes mapped as the platform counts them) and validate(). Lookup checks
// the class itself, and that the lookup wrote nothing.
//
// The model (tests/support/allocator_model.h) is the allocator fuzz targets' too. Its classes
// come from a brute-force search of the size-class table, not from class_for(), so a wrong
// lookup table or class arithmetic shows here as well as in size_class_props.cc.
//
// The model predicts every answer, so every request is either one that must succeed or one that
// must fail whatever the heap holds (alignment not a power of two, a product that overflows, a
// mapping beyond the whole memory limit). Requests in between are never generated, and the budget
// (kMaxLiveBlocks, kLargeBudget) keeps the heap far below the limit. A case ends by freeing every
// block, releasing every cache and all free memory: the heap must then hold no chunk (only the
// caches and small metadata), and once the Allocator is gone the platform must have nothing mapped.
//
// The model predicts two documented layouts: a large block's mapping (large/large_blocks.h) and
// reallocate()'s rule for keeping a block in place (heap/allocator.cc).
//
// 100 cases of up to 100 commands by default. Many more:
//   RC_PARAMS="max_success=5000 max_size=200" build/gcc/props/allocator_props
// Replay a failure with the RC_PARAMS line rapidcheck prints:
//   RC_PARAMS="reproduce=..." build/gcc/props/allocator_props --gtest_filter=AllocatorProps.<name>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include "heap/allocator.h"
#include "platform/platform.h"
#include "support/allocator_model.h"
#include "support/failing_platform.h"

namespace nodealloc {
namespace {

using testing::AllocatorModel;
using testing::FailingPlatform;
using testing::ModelBlock;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kMemoryLimit = 256 * kMiB;
constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();
constexpr unsigned kCaches = 3;

// The budget: at most this many live blocks, large mappings of at most kMaxLargeMapping each and
// kLargeBudget in all. The heap then stays far below kMemoryLimit (5000 cases of up to 200
// commands peaked at 20 MiB mapped), so no request the model expects to succeed can fail.
constexpr std::size_t kMaxLiveBlocks = 64;
constexpr std::size_t kMaxLargeSize = 4 * kMiB;
constexpr std::size_t kMaxAlignment = 1 * kMiB;
constexpr std::size_t kMaxLargeMapping = 8 * kMiB;
constexpr std::size_t kLargeBudget = 96 * kMiB;

// ---------------------------------------------------------------------------------------------
// The model.

struct Model {
  AllocatorModel<std::uint64_t> heap{kMemoryLimit};  // by id
  std::uint64_t next_id = 1;
  unsigned cache = 0;  // the cache commands go through

  bool within_budget() const {
    if (heap.size() > kMaxLiveBlocks || heap.large_mapped() > kLargeBudget) return false;
    return std::all_of(heap.begin(), heap.end(),
                       [](const auto& entry) { return entry.second.mapping <= kMaxLargeMapping; });
  }
};

std::optional<ModelBlock> expected_block(std::size_t size, std::size_t alignment) {
  return testing::expected_block(size, alignment, kMemoryLimit);
}

// ---------------------------------------------------------------------------------------------
// The system under test.

// Pointers as numbers: rapidcheck prints those when an assertion fails (not void*).
std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

struct Sut {
  explicit Sut(FailingPlatform& platform)
      : platform(platform), allocator(AllocatorOptions{&platform, kMemoryLimit}) {
    for (ThreadCache*& cache : caches) {
      cache = allocator.claim_cache();
      RC_ASSERT(address(cache) != 0u);
    }
    baseline_mapped = allocator.statistics().bytes_mapped;  // the caches alone: no chunk yet
  }

  ThreadCache& cache(const Model& model) { return *caches[model.cache]; }
  void* block(std::uint64_t id) const {
    const auto found = blocks.find(id);
    RC_ASSERT(found != blocks.end());
    return found->second;
  }

  FailingPlatform& platform;
  Allocator allocator;
  ThreadCache* caches[kCaches] = {};
  std::map<std::uint64_t, void*> blocks;
  std::size_t baseline_mapped = 0;
};

// The first offset in [from, to) of `block` not holding `fill`, or `to`.
std::size_t first_mismatch(const void* block, std::size_t from, std::size_t to, std::uint8_t fill) {
  const auto* p = static_cast<const std::uint8_t*>(block);
  for (std::size_t i = from; i < to; ++i) {
    if (p[i] != fill) return i;
  }
  return to;
}

// Contents: the whole filled prefix, or (`sample`) its first and last 64 bytes.
void check_contents(std::uint64_t id, const ModelBlock& model, const void* block, bool sample) {
  constexpr std::size_t kSample = 64;
  std::vector<std::pair<std::size_t, std::size_t>> ranges{{0, model.filled}};
  if (sample && model.filled > 2 * kSample) ranges = {{0, kSample}, {model.filled - kSample, model.filled}};
  for (const auto& [from, to] : ranges) {
    const std::size_t bad = first_mismatch(block, from, to, model.fill);
    if (bad != to) {
      RC_LOG() << "block #" << id << " at " << block << ": byte " << bad << " is "
               << int{static_cast<const std::uint8_t*>(block)[bad]} << ", expected " << int{model.fill}
               << " in its first " << model.filled << " bytes\n";
    }
    RC_ASSERT(bad == to);
  }
}

void check_valid(Allocator& allocator) {
  const ValidationResult result = allocator.validate();
  if (!result.ok) RC_LOG() << "validate(): " << result.message << '\n';
  RC_ASSERT(result.ok);
}

// The whole heap against the model, after every command.
void check_heap(const Model& model, Sut& sut) {
  RC_ASSERT(sut.blocks.size() == model.heap.size());
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> spans;  // back-pointer to usable end
  for (const auto& [id, expected] : model.heap) {
    void* block = sut.block(id);
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    RC_ASSERT(address % expected.address_alignment() == 0u);
    // The usable size names a small block's class; Lookup checks the class itself (not here, so
    // that a lookup that writes shows the first time Lookup meets the block).
    RC_ASSERT(sut.allocator.usable_size(block) == expected.usable());
    check_contents(id, expected, block, /*sample=*/true);
    spans.emplace_back(address - kWordSize, address + expected.room);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i - 1].second > spans[i].first) {
      RC_LOG() << "blocks overlap: [" << spans[i - 1].first << ", " << spans[i - 1].second << ") and ["
               << spans[i].first << ", " << spans[i].second << ")\n";
    }
    RC_ASSERT(spans[i - 1].second <= spans[i].first);
  }

  const testing::Mismatch mismatch = model.heap.check(sut.allocator.statistics(), sut.platform.mapped());
  if (mismatch) RC_LOG() << mismatch.text << '\n';
  RC_ASSERT(!mismatch);
  check_valid(sut.allocator);
}

// ---------------------------------------------------------------------------------------------
// Generators.

rc::Gen<std::size_t> log_uniform(int min_bits, int max_bits, std::size_t limit) {
  return rc::gen::mapcat(rc::gen::inRange(min_bits, max_bits + 1), [limit](int bits) {
    const std::size_t low = bits == 0 ? 0 : std::size_t{1} << (bits - 1);
    return rc::gen::inRange<std::size_t>(std::min(low, limit), std::min(std::size_t{1} << bits, limit + 1));
  });
}

// Sizes a heap within budget can always serve: many small, some medium, a few large, and the
// edges of the size classes.
rc::Gen<std::size_t> possible_sizes() {
  return rc::gen::weightedOneOf<std::size_t>({
      {60, rc::gen::inRange<std::size_t>(0, 257)},
      {20, log_uniform(9, 16, kMaxSmallSize)},
      {10, rc::gen::map(rc::gen::pair(rc::gen::inRange(0u, kClassCount), rc::gen::inRange(-1, 2)),
                        [](std::pair<unsigned, int> edge) {
                          return size_class(edge.first).usable + static_cast<std::size_t>(edge.second);
                        })},
      {5, log_uniform(17, 22, kMaxLargeSize)},
  });
}

// Sizes no heap can serve: a mapping beyond the memory limit, or one that overflows.
rc::Gen<std::size_t> impossible_sizes() {
  return rc::gen::oneOf(rc::gen::inRange<std::size_t>(kMemoryLimit + 1, 4 * kMemoryLimit),
                        rc::gen::elementOf(std::vector<std::size_t>{kSizeMax, kSizeMax - 4096, kSizeMax / 2 + 1}));
}

rc::Gen<std::size_t> request_sizes() {
  return rc::gen::weightedOneOf<std::size_t>({{49, possible_sizes()}, {1, impossible_sizes()}});
}

rc::Gen<std::size_t> powers_of_two(int min_shift, int max_shift) {
  return rc::gen::map(rc::gen::inRange(min_shift, max_shift + 1),
                      [](int shift) { return std::size_t{1} << shift; });
}

// Alignments: mostly powers of two up to 1 MiB; a few that are not powers of two (nullptr), and
// a few so large that no mapping within the limit can serve them (nullptr).
rc::Gen<std::size_t> alignments() {
  return rc::gen::weightedOneOf<std::size_t>({
      {40, powers_of_two(0, 4)},
      {35, powers_of_two(5, 12)},
      {20, powers_of_two(13, 20)},
      {3, rc::gen::suchThat(rc::gen::oneOf(rc::gen::inRange<std::size_t>(0, 2 * kMaxAlignment),
                                           rc::gen::just(kSizeMax)),
                            [](std::size_t a) { return !is_power_of_two(a); })},
      {2, powers_of_two(29, 63)},
  });
}

// ---------------------------------------------------------------------------------------------
// Commands.

using Command = rc::state::Command<Model, Sut>;

// A command's run: the call and its own checks (act), then the whole heap against the model.
struct HeapCommand : Command {
  void run(const Model& s0, Sut& sut) const final {
    act(s0, sut);
    check_heap(nextState(s0), sut);
  }
  virtual void act(const Model& s0, Sut& sut) const = 0;
};

// A command on one live block, picked from the model when generated.
struct BlockCommand : HeapCommand {
  explicit BlockCommand(const Model& s0) {
    RC_PRE(!s0.heap.empty());
    id = *rc::gen::elementOf(s0.heap.keys());
  }
  void checkPreconditions(const Model& s0) const override { RC_PRE(s0.heap.contains(id)); }
  std::uint64_t id = 0;
};

// Records a new block in the model, or nothing when the call must fail.
void add_block(Model& s0, const std::optional<ModelBlock>& block) {
  if (!block) return;
  s0.heap.add(s0.next_id, *block);
  ++s0.next_id;
}

// Checks what an allocating call returned against what the model expects.
void took_block(const Model& s0, Sut& sut, const std::optional<ModelBlock>& expected, void* block) {
  if (!expected) {
    RC_ASSERT(address(block) == 0u);
    return;
  }
  if (block == nullptr) RC_LOG() << "bytes mapped: " << sut.allocator.statistics().bytes_mapped << '\n';
  RC_ASSERT(address(block) != 0u);
  RC_ASSERT(sut.allocator.usable_size(block) >= expected->size);
  sut.blocks[s0.next_id] = block;
  check_contents(s0.next_id, *expected, block, /*sample=*/false);  // a zeroed block: every byte
}

struct Allocate final : HeapCommand {
  std::size_t size = *request_sizes();

  std::optional<ModelBlock> expected() const { return expected_block(size, kMinAlignment); }
  void checkPreconditions(const Model& s0) const override { RC_PRE(nextState(s0).within_budget()); }
  void apply(Model& s0) const override { add_block(s0, expected()); }
  void act(const Model& s0, Sut& sut) const override {
    took_block(s0, sut, expected(), sut.allocator.allocate(sut.cache(s0), size));
  }
  void show(std::ostream& os) const override { os << "Allocate(size=" << size << ")"; }
};

struct AllocateAligned final : HeapCommand {
  std::size_t alignment = *alignments();
  std::size_t size = *request_sizes();

  std::optional<ModelBlock> expected() const { return expected_block(size, alignment); }
  void checkPreconditions(const Model& s0) const override { RC_PRE(nextState(s0).within_budget()); }
  void apply(Model& s0) const override { add_block(s0, expected()); }
  void act(const Model& s0, Sut& sut) const override {
    took_block(s0, sut, expected(), sut.allocator.allocate_aligned(sut.cache(s0), size, alignment));
  }
  void show(std::ostream& os) const override {
    os << "AllocateAligned(size=" << size << ", alignment=" << alignment << ")";
  }
};

struct AllocateZeroed final : HeapCommand {
  std::size_t count = 0;
  std::size_t size = 0;

  AllocateZeroed() {
    switch (*rc::gen::weightedOneOf<int>({{90, rc::gen::just(0)}, {5, rc::gen::just(1)}, {5, rc::gen::just(2)}})) {
      case 0: {  // count * size within the possible sizes
        const std::size_t total = *possible_sizes();
        count = *rc::gen::inRange<std::size_t>(0, 17);
        size = count == 0 ? total : total / count;
        break;
      }
      case 1:  // the product overflows
        count = *rc::gen::inRange<std::size_t>(std::size_t{1} << 32, kSizeMax);
        size = *rc::gen::inRange<std::size_t>((std::size_t{1} << 32) + 1, kSizeMax);
        break;
      default:  // the product fits a size_t but no heap
        count = *rc::gen::inRange<std::size_t>(1, 4097);
        size = (*impossible_sizes()) / count + 1;
        break;
    }
  }

  std::optional<ModelBlock> expected() const {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(count, size, &bytes)) return std::nullopt;
    std::optional<ModelBlock> block = expected_block(bytes, kMinAlignment);
    if (block) block->filled = bytes;  // fill 0
    return block;
  }
  void checkPreconditions(const Model& s0) const override { RC_PRE(nextState(s0).within_budget()); }
  void apply(Model& s0) const override { add_block(s0, expected()); }
  void act(const Model& s0, Sut& sut) const override {
    took_block(s0, sut, expected(), sut.allocator.allocate_zeroed(sut.cache(s0), count, size));
  }
  void show(std::ostream& os) const override {
    os << "AllocateZeroed(count=" << count << ", size=" << size << ")";
  }
};

// reallocate() of a live block, or of nullptr (an allocation).
struct Reallocate final : HeapCommand {
  // Its value is defined even when empty: gcc 12 at -O2 reads it before the flag, which memcheck
  // reports as a branch on uninitialised memory (the valgrind setup).
  std::optional<std::uint64_t> id{std::in_place, 0};
  std::size_t size = 0;

  explicit Reallocate(const Model& s0) {
    if (s0.heap.empty() || *rc::gen::inRange(0, 10) == 0) {
      id.reset();
      size = *request_sizes();
      return;
    }
    id = *rc::gen::elementOf(s0.heap.keys());
    // Half the time a size near the block's own, where it may stay in place: within its class,
    // or a large block still at least half used.
    const std::size_t room = s0.heap.at(*id).room;
    size = *rc::gen::weightedOneOf<std::size_t>(
        {{1, request_sizes()}, {1, rc::gen::inRange<std::size_t>(room / 2, room + 2)}});
  }

  std::optional<ModelBlock> expected(const Model& s0) const {
    return id ? testing::expected_realloc(s0.heap.at(*id), size, kMemoryLimit) : expected_block(size, kMinAlignment);
  }
  void checkPreconditions(const Model& s0) const override {
    RC_PRE(!id || s0.heap.contains(*id));
    RC_PRE(nextState(s0).within_budget());
  }
  void apply(Model& s0) const override {
    if (!id) return add_block(s0, expected(s0));
    if (const std::optional<ModelBlock> block = expected(s0)) s0.heap.replace(*id, *block);
  }
  void act(const Model& s0, Sut& sut) const override {
    if (!id) {
      took_block(s0, sut, expected(s0), sut.allocator.reallocate(sut.cache(s0), nullptr, size));
      return;
    }
    void* old = sut.block(*id);
    check_contents(*id, s0.heap.at(*id), old, /*sample=*/false);
    void* block = sut.allocator.reallocate(sut.cache(s0), old, size);
    if (!expected(s0)) {
      RC_ASSERT(address(block) == 0u);
      check_contents(*id, s0.heap.at(*id), old, /*sample=*/false);  // intact
      return;
    }
    RC_ASSERT(address(block) != 0u);
    sut.blocks[*id] = block;
    check_contents(*id, *expected(s0), block, /*sample=*/false);
  }
  void show(std::ostream& os) const override {
    os << "Reallocate(";
    if (id) os << "#" << *id;
    else os << "nullptr";
    os << ", size=" << size << ")";
  }
};

struct Free final : BlockCommand {
  using BlockCommand::BlockCommand;
  void apply(Model& s0) const override { s0.heap.remove(id); }
  void act(const Model& s0, Sut& sut) const override {
    void* block = sut.block(id);
    check_contents(id, s0.heap.at(id), block, /*sample=*/false);
    sut.allocator.deallocate(sut.cache(s0), block);
    sut.blocks.erase(id);
  }
  void show(std::ostream& os) const override { os << "Free(#" << id << ")"; }
};

// The lookup is pure: it finds the block's header and class and writes nothing.
struct Lookup final : BlockCommand {
  using BlockCommand::BlockCommand;
  void act(const Model& s0, Sut& sut) const override {
    void* block = sut.block(id);
    const ModelBlock& expected = s0.heap.at(id);
    // The header as the back-pointer names it, and its bytes, before any lookup.
    SlabHeader* header = SlabNode::header_of(block);
    RC_ASSERT(address(header) != 0u);
    std::byte before[sizeof(SlabHeader)];
    mark_defined(header, sizeof before);  // read raw: a large block's word 12 is no-access to memcheck (slab.h)
    std::memcpy(before, static_cast<const void*>(header), sizeof before);
    const Statistics stats_before = sut.allocator.statistics();

    const BlockInfo info = Allocator::lookup(block);
    RC_ASSERT(address(info.header) == address(header));
    RC_ASSERT(address(info.node) != 0u);
    RC_ASSERT(address(info.node) < address(block));
    RC_ASSERT(info.class_index == expected.class_index);
    // A small block is in class_for(size, alignment) (after an in-place reallocate too); a large
    // one reports kNoClass, whatever its size.
    if (info.class_index != kNoClass) {
      RC_ASSERT(info.class_index == testing::reference_class(expected.size, expected.address_alignment()));
    }
    const BlockInfo again = Allocator::lookup(block);
    RC_ASSERT(address(again.header) == address(info.header));
    RC_ASSERT(address(again.node) == address(info.node));
    RC_ASSERT(again.class_index == info.class_index);

    // Nothing written: not the header, not the back-pointer, not the heap's counts.
    mark_defined(header, sizeof before);  // statistics() read word 12 through its window, closing it
    RC_ASSERT(std::memcmp(before, static_cast<const void*>(header), sizeof before) == 0);
    RC_ASSERT(address(SlabNode::header_of(block)) == address(header));
    const Statistics stats_after = sut.allocator.statistics();
    RC_ASSERT(std::memcmp(&stats_before, &stats_after, sizeof stats_before) == 0);
  }
  void show(std::ostream& os) const override { os << "Lookup(#" << id << ")"; }
};

struct UsableSize final : BlockCommand {
  using BlockCommand::BlockCommand;
  void act(const Model& s0, Sut& sut) const override {
    const std::size_t usable = sut.allocator.usable_size(sut.block(id));
    RC_ASSERT(usable >= s0.heap.at(id).size);
    RC_ASSERT(usable == s0.heap.at(id).usable());
  }
  void show(std::ostream& os) const override { os << "UsableSize(#" << id << ")"; }
};

struct WritePattern final : BlockCommand {
  using BlockCommand::BlockCommand;
  void apply(Model& s0) const override { s0.heap.fill(id, testing::fill_byte(id)); }
  void act(const Model& s0, Sut& sut) const override {
    std::memset(sut.block(id), testing::fill_byte(id), s0.heap.at(id).size);
  }
  void show(std::ostream& os) const override { os << "WritePattern(#" << id << ")"; }
};

struct CheckPattern final : BlockCommand {
  using BlockCommand::BlockCommand;
  void act(const Model& s0, Sut& sut) const override {
    check_contents(id, s0.heap.at(id), sut.block(id), /*sample=*/false);
  }
  void show(std::ostream& os) const override { os << "CheckPattern(#" << id << ")"; }
};

struct ReleaseFreeMemory final : HeapCommand {
  void act(const Model&, Sut& sut) const override {
    sut.allocator.release_free_memory();
    RC_ASSERT(sut.allocator.statistics().bytes_dirty == 0u);
  }
  void show(std::ostream& os) const override { os << "ReleaseFreeMemory"; }
};

struct SwitchCache final : HeapCommand {
  unsigned target = 0;
  explicit SwitchCache(const Model& s0) {
    target = (s0.cache + *rc::gen::inRange(1u, kCaches)) % kCaches;
  }
  void checkPreconditions(const Model& s0) const override { RC_PRE(target != s0.cache); }
  void apply(Model& s0) const override { s0.cache = target; }
  void act(const Model&, Sut&) const override {}
  void show(std::ostream& os) const override { os << "SwitchCache(" << target << ")"; }
};

// release_cache() flushes the current cache and makes it dormant; claim_cache() must then hand
// back that same cache, the only dormant one, with its slabs.
struct ReleaseCache final : HeapCommand {
  void act(const Model& s0, Sut& sut) const override {
    ThreadCache* cache = sut.caches[s0.cache];
    sut.allocator.release_cache(cache);
    RC_ASSERT(address(sut.allocator.claim_cache()) == address(cache));
  }
  void show(std::ostream& os) const override { os << "ReleaseCache"; }
};

template <class Cmd>
rc::Gen<std::shared_ptr<const Command>> command(const Model& s0) {
  return rc::state::gen::execOneOfWithArgs<Cmd>()(s0);
}

rc::Gen<std::shared_ptr<const Command>> commands(const Model& s0) {
  return rc::gen::weightedOneOf<std::shared_ptr<const Command>>({
      {20, command<Allocate>(s0)},
      {6, command<AllocateAligned>(s0)},
      {4, command<AllocateZeroed>(s0)},
      {6, command<Reallocate>(s0)},
      {10, command<Free>(s0)},
      {4, command<Lookup>(s0)},
      {3, command<UsableSize>(s0)},
      {8, command<WritePattern>(s0)},
      {4, command<CheckPattern>(s0)},
      {1, command<ReleaseFreeMemory>(s0)},
      {5, command<SwitchCache>(s0)},
      {1, command<ReleaseCache>(s0)},
  });
}

RC_GTEST_PROP(AllocatorProps, BehavesLikeTheModel, ()) {
  FailingPlatform platform;  // never told to fail: it counts what is mapped
  {
    Sut sut(platform);
    rc::state::check(Model{}, sut, commands);

    // Everything back: the heap must hold nothing but the caches.
    for (const auto& [id, block] : sut.blocks) sut.allocator.deallocate(*sut.caches[0], block);
    sut.blocks.clear();
    check_heap(Model{}, sut);
    for (ThreadCache* cache : sut.caches) sut.allocator.release_cache(cache);
    sut.allocator.release_free_memory();
    check_valid(sut.allocator);
    const Statistics stats = sut.allocator.statistics();
    RC_ASSERT(stats.bytes_dirty == 0u);
    // Every slab is empty and back in the pool, so no chunk stays mapped. Metadata mapped on
    // demand (hardening's table of live large blocks) may stay: it is far below a chunk.
    RC_ASSERT(stats.bytes_mapped < sut.baseline_mapped + kChunkSize);
  }
  RC_ASSERT(platform.mapped() == 0u);  // the Allocator unmapped everything
}

}  // namespace
}  // namespace nodealloc
