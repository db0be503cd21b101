// alloc_pairs: the time of a small malloc+free pair under whichever allocator the process runs on.
// It calls the ordinary malloc/free and links no allocator of its own, so LD_PRELOAD chooses what
// is measured (tools/bench runs it under glibc, the peers and nodealloc, interleaved).
//
//   alloc_pairs [--reps N] [pattern...]   one line "pattern ns_per_pair" each: the median of N
//                                         timed repetitions (default 7) after one untimed warm-up
//   alloc_pairs --which-malloc            the file the process's malloc comes from (checks that
//                                         the preload took effect)
//   alloc_pairs --callgrind-lifo16 N      N lifo16 pairs, for valgrind --tool=callgrind
//
// Patterns: lifo16, lifo64, lifo256 (one pair at a time, with 1000 other blocks of that size live
// so that no allocator times its "page became empty" path); batch64, batch256 (1000 mallocs, then
// 1000 frees in allocation order, as a container of objects is built and torn down); xthread16
// (one thread allocates, hands each block through a bounded single-producer/single-consumer ring
// to a second thread, which frees it: wall time / pairs, so it prices the remote free).
//
// Every block gets one byte written, so the allocator hands out memory that is really used, and
// every pointer escapes through an empty asm, so the compiler can neither drop a pair nor reuse a
// block across iterations. Each repetition takes tens of milliseconds: long enough for the clock,
// short enough to run many interleaved rounds on a noisy machine.
//
// Instruction counting (tools/bench --callgrind): --callgrind-lifo16 N sets up the 1000 live
// blocks, runs 10000 uncounted pairs (binds symbols, fills the allocator's caches), then calls
// alloc_pairs_lifo16_loop(N). valgrind --tool=callgrind --toggle-collect=alloc_pairs_lifo16_loop
// counts that call and everything it calls; minus the function's own instructions (its self cost
// in callgrind_annotate), divided by N, that is the instructions malloc and free execute per pair,
// the allocator's start-up and the program's excluded. It is the figure NUMBERS.md quotes (glibc
// 129 = malloc 41 + free 88).
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

// callgrind's --toggle-collect matches a symbol name, so the counted functions must keep theirs:
// no inlining, and (GCC) no specialised clone that the call would go to instead.
#if defined(__clang__)
#define ALLOC_PAIRS_COUNTED __attribute__((noinline))
#else
#define ALLOC_PAIRS_COUNTED __attribute__((noipa))
#endif

namespace {

// Tells the compiler that unknown code reads and writes *p: the store into a block, the malloc
// and the free around it all have to happen, each iteration.
inline void escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

[[noreturn]] void out_of_memory() {
  std::fputs("alloc_pairs: malloc returned null\n", stderr);
  std::exit(1);
}

inline unsigned char* allocate(std::size_t size) {
  auto* block = static_cast<unsigned char*>(std::malloc(size));
  if (block == nullptr) out_of_memory();
  return block;
}

using Clock = std::chrono::steady_clock;

double ns_per(Clock::time_point start, Clock::time_point end, std::size_t pairs) {
  return std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(pairs);
}

constexpr std::size_t kLiveBlocks = 1000;
constexpr std::size_t kBatch = 1000;

// Blocks of the measured size that stay allocated while the pairs run: the pair's block then
// lives in a page that never becomes empty, as in a program that holds other objects of that size.
class LiveBlocks {
 public:
  explicit LiveBlocks(std::size_t size) : blocks_(kLiveBlocks) {
    for (auto& block : blocks_) {
      auto* b = allocate(size);
      b[0] = 1;
      block = b;
    }
    escape(blocks_.data());
  }
  ~LiveBlocks() {
    for (void* block : blocks_) std::free(block);
  }
  LiveBlocks(const LiveBlocks&) = delete;
  LiveBlocks& operator=(const LiveBlocks&) = delete;

 private:
  std::vector<void*> blocks_;
};

inline void lifo_pairs(std::size_t size, std::size_t pairs) {
  for (std::size_t i = 0; i < pairs; ++i) {
    unsigned char* block = allocate(size);
    block[0] = static_cast<unsigned char>(i);
    escape(block);
    std::free(block);
  }
}

double lifo(std::size_t size) {
  constexpr std::size_t kPairs = 2'000'000;
  LiveBlocks live(size);
  const auto start = Clock::now();
  lifo_pairs(size, kPairs);
  const auto end = Clock::now();
  return ns_per(start, end, kPairs);
}

void fill(std::vector<unsigned char*>& blocks, std::size_t size) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    unsigned char* block = allocate(size);
    block[0] = static_cast<unsigned char>(i);
    blocks[i] = block;
  }
  escape(blocks.data());
}

void empty(const std::vector<unsigned char*>& blocks) {
  for (unsigned char* block : blocks) std::free(block);
}

double batch(std::size_t size) {
  constexpr std::size_t kRounds = 1000;
  std::vector<unsigned char*> blocks(kBatch);
  // One untimed round, and one more block of the size allocated while that round is live. In an
  // allocator that carves from a growing heap top (glibc) the extra block sits above the batch,
  // so a freed batch cannot fall back into the top and be trimmed to the OS and faulted in again
  // every round. Without it glibc's batch256 swings between about 20 and 85 ns here, depending
  // only on whether something happened to be allocated after the batch (an earlier pattern's
  // leftovers, the stdout buffer). A program with other data on its heap behaves like this.
  fill(blocks, size);
  unsigned char* above = allocate(size);
  escape(above);
  empty(blocks);
  const auto start = Clock::now();
  for (std::size_t round = 0; round < kRounds; ++round) {
    fill(blocks, size);
    empty(blocks);
  }
  const auto end = Clock::now();
  std::free(above);
  return ns_per(start, end, kRounds * kBatch);
}

// A waiting thread must let the other one run if both share a core (a taskset of one CPU, or a
// busy machine); otherwise it only pauses, so the hand-off itself stays cheap.
inline void wait_a_little(unsigned& spins) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
  if (++spins % 1024 == 0) std::this_thread::yield();
}

// Bounded single-producer/single-consumer ring of blocks. The indices are free-running counts on
// cache lines of their own; each side publishes its index every kStep blocks (and before it waits,
// so neither can wait on a count the other has not published), and reads the other's only when its
// last copy says full (or empty). The hand-off then costs a few cache-line transfers per kStep
// blocks instead of one per block, and what remains is the allocator's own cross-thread traffic.
class Ring {
 public:
  static constexpr std::size_t kSlots = 1024;
  static constexpr std::size_t kStep = 64;

  void push(void* block) {
    if (head_local_ - tail_seen_ == kSlots) {
      head_.store(head_local_, std::memory_order_release);
      unsigned spins = 0;
      while ((tail_seen_ = tail_.load(std::memory_order_acquire)) + kSlots == head_local_) {
        wait_a_little(spins);
      }
    }
    slots_[head_local_ % kSlots] = block;
    if (++head_local_ % kStep == 0) head_.store(head_local_, std::memory_order_release);
  }

  // The producer's last blocks, fewer than kStep.
  void flush() { head_.store(head_local_, std::memory_order_release); }

  void* pop() {
    if (tail_local_ == head_seen_) {
      tail_.store(tail_local_, std::memory_order_release);
      unsigned spins = 0;
      while ((head_seen_ = head_.load(std::memory_order_acquire)) == tail_local_) {
        wait_a_little(spins);
      }
    }
    void* block = slots_[tail_local_ % kSlots];
    if (++tail_local_ % kStep == 0) tail_.store(tail_local_, std::memory_order_release);
    return block;
  }

 private:
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t head_local_ = 0;  // producer only
  std::size_t tail_seen_ = 0;   // producer only
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t tail_local_ = 0;  // consumer only
  std::size_t head_seen_ = 0;   // consumer only
  alignas(64) void* slots_[kSlots] = {};
};

double xthread(std::size_t size) {
  constexpr std::size_t kPairs = 300'000;
  auto ring_owner = std::make_unique<Ring>();  // 8 KiB: not for the stack
  Ring& ring = *ring_owner;
  std::atomic<bool> consumer_ready{false};
  Clock::time_point end;
  std::thread consumer([&] {
    // Creating the consumer's thread-local allocator state is not part of a pair.
    std::free(allocate(size));
    consumer_ready.store(true, std::memory_order_release);
    for (std::size_t i = 0; i < kPairs; ++i) std::free(ring.pop());
    end = Clock::now();
  });
  unsigned spins = 0;
  while (!consumer_ready.load(std::memory_order_acquire)) wait_a_little(spins);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < kPairs; ++i) {
    unsigned char* block = allocate(size);
    block[0] = static_cast<unsigned char>(i);
    ring.push(block);
  }
  ring.flush();
  consumer.join();
  return ns_per(start, end, kPairs);
}

struct Pattern {
  std::string_view name;
  double (*run)(std::size_t size);
  std::size_t size;
};

constexpr Pattern kPatterns[] = {
    {"lifo16", lifo, 16},      {"lifo64", lifo, 64},         {"lifo256", lifo, 256},
    {"batch64", batch, 64},    {"batch256", batch, 256},     {"xthread16", xthread, 16},
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

bool parse_count(const char* text, std::size_t& out) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || text[0] == '-') return false;
  out = static_cast<std::size_t>(value);
  return true;
}

int usage() {
  std::fputs(
      "usage: alloc_pairs [--reps N] [pattern...]\n"
      "       alloc_pairs --which-malloc\n"
      "       alloc_pairs --callgrind-lifo16 N\n"
      "patterns: lifo16 lifo64 lifo256 batch64 batch256 xthread16 (default: all)\n",
      stderr);
  return 2;
}

// dladdr on malloc's address names the object the dynamic linker bound malloc to: the preloaded
// library, or libc when nothing was preloaded (or the preload was refused).
int which_malloc() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&malloc), &info) == 0 || info.dli_fname == nullptr) {
    std::puts("unknown");
    return 1;
  }
  std::puts(info.dli_fname);
  return 0;
}

}  // namespace

// The function tools/bench --callgrind counts (callgrind --toggle-collect, which includes callees).
// malloc and free are called through pointers the compiler cannot see through, so no PLT stub
// stands between the loop and the allocator: all the instructions counted under this function
// that are not its own (callgrind's self cost) are malloc's and free's.
extern "C" ALLOC_PAIRS_COUNTED void alloc_pairs_lifo16_loop(std::size_t pairs) {
  void* (*malloc_fn)(std::size_t) = &std::malloc;
  void (*free_fn)(void*) = &std::free;
  asm volatile("" : "+r"(malloc_fn), "+r"(free_fn));
  for (std::size_t i = 0; i < pairs; ++i) {
    auto* block = static_cast<unsigned char*>(malloc_fn(16));
    if (block == nullptr) out_of_memory();
    block[0] = static_cast<unsigned char>(i);
    escape(block);
    free_fn(block);
  }
}

namespace {

int callgrind_lifo16(std::size_t pairs) {
  LiveBlocks live(16);
  lifo_pairs(16, 10'000);  // binds the PLT entries and fills the allocator's caches: not counted
  alloc_pairs_lifo16_loop(pairs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // stdout's buffer would otherwise be malloc'ed at the first line printed, in the middle of the
  // patterns, and change the heap the later ones run in.
  static char stdout_buffer[4096];
  std::setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);
  std::size_t reps = 7;
  std::vector<const Pattern*> selected;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--which-malloc") return which_malloc();
    if (arg == "--callgrind-lifo16" || arg == "--reps") {
      std::size_t count = 0;
      if (i + 1 >= argc || !parse_count(argv[++i], count)) return usage();
      if (arg == "--callgrind-lifo16") return callgrind_lifo16(count);
      if (count == 0) return usage();
      reps = count;
      continue;
    }
    const auto* found = std::find_if(std::begin(kPatterns), std::end(kPatterns),
                                     [&](const Pattern& p) { return p.name == arg; });
    if (found == std::end(kPatterns)) {
      std::fprintf(stderr, "alloc_pairs: unknown pattern or option '%s'\n", argv[i]);
      return usage();
    }
    selected.push_back(found);
  }
  if (selected.empty()) {
    for (const Pattern& p : kPatterns) selected.push_back(&p);
  }

  for (const Pattern* pattern : selected) {
    pattern->run(pattern->size);  // warm-up: first-touch page faults and allocator set-up
    std::vector<double> times;
    for (std::size_t r = 0; r < reps; ++r) times.push_back(pattern->run(pattern->size));
    std::printf("%.*s %.2f\n", static_cast<int>(pattern->name.size()), pattern->name.data(),
                median(times));
    std::fflush(stdout);
  }
  return 0;
}
