// Fuzz target: the same operations on nodealloc's C API (na_*, the process-wide heap) and on
// glibc 2.36's own malloc family, in one process, with every observable answer compared.
//
// Input layout: a stream of operations, each an opcode byte and its operands (FuzzInput reads
// zeros past the end, so every input is a valid program):
//
//   op (byte % 12)   operands            both sides run
//    0 malloc        size                malloc(size)
//    1 calloc        size, count         calloc(count, size)
//    2 realloc       pick, size          realloc(pair or NULL, size)
//    3 reallocarray  pick, size, count   reallocarray(pair or NULL, count, size)
//    4 free          pick, how           free(pair or NULL); on nodealloc's side `how` (byte % 3)
//                                        may make it free_sized or free_aligned_sized (below)
//    5 aligned_alloc alignment, size     aligned_alloc(alignment, size)
//    6 memalign      alignment, size     memalign(alignment, size)
//    7 posix_memalign alignment, size    posix_memalign(&result, alignment, size)
//    8 valloc        size                valloc(size)
//    9 pvalloc       size                pvalloc(size)
//   10 usable_size   pick                malloc_usable_size(pair or NULL)
//   11 check         pick                the pair's contents on both sides, then a new pattern
//                                        (NULL: every pair's contents)
//
//   pick       u16 % (pairs + 1): a live pair, or NULL when it equals the number of pairs
//   size       byte % 8, then: 0-2 a byte (0-255); 3, 5 a u16; 4 a u16 * 32 (up to 2 MiB);
//              6 SIZE_MAX - u16 (past PTRDIFF_MAX); 7 2^47 | u64 (past the address space)
//   count      byte % 5, then: 0-1 a byte; 2 a u16; 3 SIZE_MAX / size - 1 + byte % 3 (at the
//              overflow edge of count * size); 4 a u64
//   alignment  byte % 8, then: 0-2 2^(byte % 21) (1 B to 1 MiB); 3 a byte (0, non-powers); 4 a u16;
//              5 2^(47 + byte % 17); 6 2^63 - 2 + byte % 5; 7 SIZE_MAX - u16
//
// Only requests whose answer does not depend on the machine: a block of at most a few MiB (both
// must succeed), or one past the address space, past PTRDIFF_MAX or whose count * size overflows
// (both must fail). A count whose product with the size would land in between (more than 2 MiB
// but less than 2^47 bytes: what the kernel's overcommit and the machine's memory decide) is
// replaced by 1, and alignments are at most 1 MiB or at least 2^47 for the same reason.
//
// The model: up to kMaxPairs live pairs (a nodealloc block, a glibc block, the requested size,
// the pattern, how the block was allocated), kMaxLiveBytes in all; a request that needs more
// first frees the oldest pairs. Each block holds its pattern over its requested size (byte i is
// (phase + i) % 251: a copy shifted by any offset below 251, or a block's bytes turning up in
// another, shows), written into both blocks when they are handed out and checked whenever the
// operation touched them: after a failed realloc (both blocks intact), after one that succeeded
// (the prefix both sizes share kept, in place or moved), after calloc (zeros first), before every
// free, and at the end of the input, which frees every pair.
//
// What is compared, after errno is set to a sentinel before each call on each side:
// - NULL or not; after a failure errno (ENOMEM, EINVAL); posix_memalign's return value, and on
//   failure that *result was left alone; malloc_usable_size(NULL) (0);
// - after free (and realloc(p, 0), which frees in both), errno unchanged: glibc's free has kept
//   errno since 2.33;
// - on each side alone: a success is aligned to max(16, the alignment asked rounded up to a power
//   of two) (a page for valloc and pvalloc), has a usable size at least the request, and holds
//   what the model says; a request past the address space fails.
// Nothing else: the addresses, whether a realloc moved, usable sizes beyond the request, and
// errno after a success are each allocator's own business.
//
// The differences glibc 2.36 shows that nodealloc's promises allow, each checked as an explicit
// exception where it arises (search for "Exception:"):
// - posix_memalign's ENOMEM: glibc's inner memalign sets errno to ENOMEM on its way out;
//   nodealloc leaves errno alone (nodealloc.h). POSIX makes the return value the answer and does
//   not define errno here, so either is allowed; nodealloc's is checked to be the sentinel.
// - pvalloc(0): glibc rounds with the mask -(pagesize - 1) (not -pagesize), so pvalloc(0) asks
//   its memalign for 1 byte and gets a usable size of 24; nodealloc hands out a whole page. Both
//   are page-aligned; the page of usable size is checked on nodealloc's side only. From 1 byte up
//   glibc's mask still gives at least the rounded size, and both are checked for it.
// - glibc's aligned_alloc is memalign (one address in libc.so.6): it accepts an alignment that is
//   not a power of two and rounds it up, as nodealloc does, so no exception is needed there.
// - free_sized and free_aligned_sized (C23): glibc 2.36 has neither; nodealloc's side uses them
//   on blocks whose size (and alignment) C23 lets them take, glibc's frees with free.
//
// glibc's entry points: under a sanitizer `malloc` is the sanitizer's, and ASan and MSan also
// define a weak __libc_memalign of their own, so every glibc function is looked up by dlsym in
// libc.so.6's own handle (not RTLD_NEXT, whose answer depends on where an interposer sits) and
// checked, with dladdr, to lie in libc.so.6: __libc_malloc, __libc_calloc, __libc_realloc,
// __libc_free, __libc_memalign, __libc_valloc, __libc_pvalloc (public in 2.36), and, which have no
// public __libc_ name, aligned_alloc, posix_memalign, malloc_usable_size and reallocarray. glibc's
// reallocarray checks the product and then tail-calls realloc through the PLT, which reaches the
// sanitizer's realloc when one interposes: then only its overflow answer is glibc's to give, and
// a product that fits goes to __libc_realloc, which is the call glibc's own would make.
//
// Under Valgrind this target says nothing: memcheck redirects glibc's malloc entry points (the
// __libc_ names included) to its own, so the "glibc" side would be memcheck's (fuzz/meson.build
// keeps it out of the valgrind subset). Under MSan and ASan glibc's blocks are invisible to the
// sanitizer, which then checks nodealloc's blocks and this harness.
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "api/nodealloc.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"

namespace nodealloc::fuzz {
namespace {

constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kMaxPairs = 64;
constexpr std::size_t kMaxBlock = std::size_t{2} << 20;      // the largest size operand that can succeed
constexpr std::size_t kMaxLiveBytes = std::size_t{8} << 20;  // requested bytes plus alignments, all pairs
constexpr std::size_t kBeyondAddressSpace = std::size_t{1} << 47;  // x86-64's user half: nothing this big maps
constexpr std::size_t kMallocAlignment = 16;  // glibc's MALLOC_ALIGNMENT on x86-64, and nodealloc's minimum
constexpr int kErrnoSentinel = 4242;          // no errno value: a call that sets errno shows

// --- glibc's own entry points -------------------------------------------------------------------

struct Glibc {
  void* (*malloc)(std::size_t);
  void* (*calloc)(std::size_t, std::size_t);
  void* (*realloc)(void*, std::size_t);
  void (*free)(void*);
  void* (*memalign)(std::size_t, std::size_t);
  void* (*valloc)(std::size_t);
  void* (*pvalloc)(std::size_t);
  void* (*aligned_alloc)(std::size_t, std::size_t);
  int (*posix_memalign)(void**, std::size_t, std::size_t);
  std::size_t (*malloc_usable_size)(void*);
  void* (*reallocarray)(void*, std::size_t, std::size_t);
  bool realloc_interposed;  // the process's realloc is not glibc's (a sanitizer's)
};

template <typename Function>
void resolve(void* libc, const char* name, Function*& function) {
  void* symbol = dlsym(libc, name);
  Dl_info info{};
  const bool in_libc = symbol != nullptr && dladdr(symbol, &info) != 0 && info.dli_fname != nullptr &&
                       std::strstr(info.dli_fname, "libc.so.6") != nullptr;
  if (!in_libc) std::fprintf(stderr, "differential: %s is not libc.so.6's (%p)\n", name, symbol);
  FUZZ_CHECK(in_libc);
  function = reinterpret_cast<Function*>(symbol);
}

Glibc find_glibc() {
  void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  FUZZ_CHECK(libc != nullptr);
  Glibc glibc{};
  resolve(libc, "__libc_malloc", glibc.malloc);
  resolve(libc, "__libc_calloc", glibc.calloc);
  resolve(libc, "__libc_realloc", glibc.realloc);
  resolve(libc, "__libc_free", glibc.free);
  resolve(libc, "__libc_memalign", glibc.memalign);
  resolve(libc, "__libc_valloc", glibc.valloc);
  resolve(libc, "__libc_pvalloc", glibc.pvalloc);
  resolve(libc, "aligned_alloc", glibc.aligned_alloc);
  resolve(libc, "posix_memalign", glibc.posix_memalign);
  resolve(libc, "malloc_usable_size", glibc.malloc_usable_size);
  resolve(libc, "reallocarray", glibc.reallocarray);
  glibc.realloc_interposed = dlsym(RTLD_DEFAULT, "realloc") != dlsym(libc, "realloc");
  return glibc;
}

const Glibc& glibc() {
  static const Glibc resolved = find_glibc();
  return resolved;
}

// --- contents -------------------------------------------------------------------------------------

// Byte i of a block with phase f is kRamp[(f + i) % 251]: 251 is prime, so no shift by fewer bytes
// looks the same. Writes and checks go in runs of kRun (a multiple of 251) from one table.
constexpr std::size_t kPeriod = 251;
constexpr std::size_t kRun = kPeriod * 16;

struct Ramp {
  std::uint8_t bytes[kRun + kPeriod];
  Ramp() {
    for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(i % kPeriod + 1);
  }
};
const Ramp kRamp;
const std::uint8_t kZeros[kRun] = {};

void write_pattern(void* block, std::size_t size, unsigned phase) {
  auto* bytes = static_cast<std::uint8_t*>(block);
  for (std::size_t done = 0; done < size; done += kRun)
    std::memcpy(bytes + done, kRamp.bytes + phase, size - done < kRun ? size - done : kRun);
}

bool holds_pattern(const void* block, std::size_t size, unsigned phase) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  for (std::size_t done = 0; done < size; done += kRun)
    if (std::memcmp(bytes + done, kRamp.bytes + phase, size - done < kRun ? size - done : kRun) != 0) return false;
  return true;
}

bool holds_zeros(const void* block, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  for (std::size_t done = 0; done < size; done += kRun)
    if (std::memcmp(bytes + done, kZeros, size - done < kRun ? size - done : kRun) != 0) return false;
  return true;
}

bool aligned_to(const void* block, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(block) % alignment == 0;
}

bool is_power_of_two(std::size_t value) { return value != 0 && (value & (value - 1)) == 0; }

// The alignment glibc 2.36's memalign (and aligned_alloc) gives for `alignment`: malloc's up to 16,
// else the alignment rounded up to a power of two; 0 when it refuses it (EINVAL, above 2^63).
std::size_t effective_alignment(std::size_t alignment) {
  if (alignment > kSizeMax / 2 + 1) return 0;
  if (alignment <= kMallocAlignment) return kMallocAlignment;
  return is_power_of_two(alignment) ? alignment : std::size_t{1} << (64 - __builtin_clzl(alignment));
}

// --- the model ------------------------------------------------------------------------------------

// Which sized free C23 lets nodealloc's side use for a block.
enum class Origin : std::uint8_t {
  kMalloc,        // malloc, calloc, realloc, reallocarray: free_sized(size)
  kAlignedAlloc,  // aligned_alloc with a power-of-two alignment: free_aligned_sized(alignment, size)
  kOther,         // memalign, posix_memalign, valloc, pvalloc, aligned_alloc of a non-power: free
};

struct Pair {
  void* nodealloc;
  void* glibc;
  std::size_t size;       // requested
  std::size_t cost;       // size plus the alignment asked beyond malloc's: what kMaxLiveBytes counts
  std::size_t alignment;  // as asked (kAlignedAlloc's free_aligned_sized needs it)
  unsigned phase;         // the pattern both blocks hold
  Origin origin;
};

// One side's answer to the current call.
struct Answer {
  void* block = nullptr;
  int error = 0;     // errno after the call
  int returned = 0;  // posix_memalign's return value
};

// What the current call asked, for the failure message.
struct Call {
  const char* op = "";
  std::size_t size = 0;
  std::size_t count = 0;
  std::size_t alignment = 0;
  const void* nodealloc_in = nullptr;  // the blocks passed in (realloc, free, ...)
  const void* glibc_in = nullptr;
};

// A check of the current call: on failure, the call and both answers, then FUZZ_CHECK's line.
#define DIFF_CHECK(condition)                   \
  do {                                          \
    const bool diff_ok = (condition);           \
    if (!diff_ok) describe_failure(#condition); \
    FUZZ_CHECK(diff_ok);                        \
  } while (0)

class Differential {
 public:
  explicit Differential(FuzzInput& input) : input_(input), glibc_(glibc()) {}

  void run() {
    while (!input_.exhausted()) step(input_.byte() % 12);
    while (live_pairs_ > 0) release(live_pairs_ - 1, static_cast<unsigned>(live_pairs_));
    na_release_free_memory();
  }

 private:
  void step(unsigned op) {
    switch (op) {
      case 0: op_malloc(); break;
      case 1: op_calloc(); break;
      case 2: op_realloc(); break;
      case 3: op_reallocarray(); break;
      case 4: op_free(); break;
      case 5: case 6: case 7: op_aligned(op); break;
      case 8: op_valloc(); break;
      case 9: op_pvalloc(); break;
      case 10: op_usable_size(); break;
      default: op_check(); break;
    }
  }

  // --- operands ---

  std::size_t read_size() {
    switch (input_.byte() % 8) {
      case 0: case 1: case 2: return input_.byte();
      case 3: case 5: return input_.u16();
      case 4: return std::size_t{input_.u16()} << 5;
      case 6: return kSizeMax - input_.u16();
      default: return kBeyondAddressSpace | input_.u64();
    }
  }

  // A count for `size`; never one whose product with it only the machine can answer.
  std::size_t read_count(std::size_t size) {
    std::size_t count = 0;
    switch (input_.byte() % 5) {
      case 0: case 1: count = input_.byte(); break;
      case 2: count = input_.u16(); break;
      case 3: count = kSizeMax / (size == 0 ? 1 : size) - 1 + input_.byte() % 3; break;
      default: count = input_.u64(); break;
    }
    std::size_t bytes = 0;
    if (!__builtin_mul_overflow(count, size, &bytes) && bytes > kMaxBlock && bytes < kBeyondAddressSpace) count = 1;
    return count;
  }

  std::size_t read_alignment() {
    switch (input_.byte() % 8) {
      case 0: case 1: case 2: return std::size_t{1} << (input_.byte() % 21);
      case 3: return input_.byte();
      case 4: return input_.u16();
      case 5: return std::size_t{1} << (47 + input_.byte() % 17);
      case 6: return (std::size_t{1} << 63) - 2 + input_.byte() % 5;
      default: return kSizeMax - input_.u16();
    }
  }

  // A live pair's index, or live_pairs_ for NULL.
  std::size_t read_pick() { return input_.u16() % (live_pairs_ + 1); }

  // --- the calls ---

  // One call on one side: errno set to the sentinel before, read after.
  template <typename Body>
  static Answer answer_of(Body body) {
    Answer answer;
    errno = kErrnoSentinel;
    body(answer);
    answer.error = errno;
    return answer;
  }
  // A name per side, kept out of line, so a failure's stack says which side ran.
  template <typename Body>
  [[gnu::noinline]] Answer on_nodealloc(Body body) { return answer_of(body); }
  template <typename Body>
  [[gnu::noinline]] Answer on_glibc(Body body) { return answer_of(body); }

  void op_malloc() {
    begin("malloc");
    call_.size = read_size();
    const std::size_t size = call_.size;
    make_room(size, size);
    na_ = on_nodealloc([&](Answer& a) { a.block = na_malloc(size); });
    gl_ = on_glibc([&](Answer& a) { a.block = glibc_.malloc(size); });
    if (compare_allocation(size, kMallocAlignment)) add_pair(size, size, 0, Origin::kMalloc, false);
  }

  void op_calloc() {
    begin("calloc");
    call_.size = read_size();
    call_.count = read_count(call_.size);
    const std::size_t size = call_.size, count = call_.count;
    std::size_t bytes = 0;
    const bool overflows = __builtin_mul_overflow(count, size, &bytes);
    if (overflows) bytes = kSizeMax;
    make_room(bytes, bytes);
    na_ = on_nodealloc([&](Answer& a) { a.block = na_calloc(count, size); });
    gl_ = on_glibc([&](Answer& a) { a.block = glibc_.calloc(count, size); });
    if (overflows) DIFF_CHECK(na_.block == nullptr && na_.error == ENOMEM);
    if (compare_allocation(bytes, kMallocAlignment)) add_pair(bytes, bytes, 0, Origin::kMalloc, true);
  }

  void op_realloc() {
    begin("realloc");
    const std::size_t pick = read_pick();
    call_.size = read_size();
    resize(pick, call_.size, false);
  }

  void op_reallocarray() {
    begin("reallocarray");
    const std::size_t pick = read_pick();
    call_.size = read_size();
    call_.count = read_count(call_.size);
    resize(pick, call_.size, true);
  }

  // realloc(pair or NULL, size), or reallocarray(pair or NULL, count, size) when `array`.
  void resize(std::size_t pick, std::size_t size, bool array) {
    const std::size_t count = call_.count;
    std::size_t bytes = size;
    bool overflows = false;
    if (array) {
      overflows = __builtin_mul_overflow(count, size, &bytes);
      if (overflows) bytes = kSizeMax;
    }
    // The pair leaves the model for the call, so that making room never frees it.
    Pair old{};
    const bool from_null = pick == live_pairs_;
    if (!from_null) {
      old = take(pick);
      check_contents(old, "before the call");
    }
    make_room(bytes, bytes);
    call_.nodealloc_in = old.nodealloc;
    call_.glibc_in = old.glibc;
    na_ = on_nodealloc([&](Answer& a) {
      a.block = array ? na_reallocarray(old.nodealloc, count, size) : na_realloc(old.nodealloc, size);
    });
    gl_ = on_glibc([&](Answer& a) {
      if (!array) a.block = glibc_.realloc(old.glibc, size);
      else if (glibc_.realloc_interposed && !overflows) a.block = glibc_.realloc(old.glibc, bytes);
      else a.block = glibc_.reallocarray(old.glibc, count, size);
    });
    DIFF_CHECK((na_.block == nullptr) == (gl_.block == nullptr));
    if (overflows) DIFF_CHECK(na_.block == nullptr && na_.error == ENOMEM);
    if (!from_null && bytes == 0) {
      // realloc(p, 0): glibc frees p and returns NULL, and so does nodealloc; a free keeps errno.
      DIFF_CHECK(na_.block == nullptr);
      DIFF_CHECK(na_.error == kErrnoSentinel && gl_.error == kErrnoSentinel);
      return;
    }
    if (na_.block == nullptr) {
      DIFF_CHECK(na_.error == gl_.error);
      DIFF_CHECK(na_.error == ENOMEM);
      if (!from_null) {  // a failed realloc leaves the block as it was, on both sides
        check_contents(old, "after the failed call");
        put(old);
      }
      return;
    }
    DIFF_CHECK(bytes < kBeyondAddressSpace);
    check_answer(bytes, kMallocAlignment);
    if (!from_null) {
      const std::size_t kept = old.size < bytes ? old.size : bytes;
      DIFF_CHECK(holds_pattern(na_.block, kept, old.phase));
      DIFF_CHECK(holds_pattern(gl_.block, kept, old.phase));
    }
    add_pair(bytes, bytes, 0, Origin::kMalloc, false);
  }

  void op_free() {
    begin("free");
    const std::size_t pick = read_pick();
    const unsigned how = input_.byte() % 3;
    if (pick < live_pairs_) {
      release(pick, how);
      return;
    }
    na_ = on_nodealloc([&](Answer&) {
      if (how == 0) na_free(nullptr);
      else if (how == 1) na_free_sized(nullptr, 0);
      else na_free_aligned_sized(nullptr, 0, 0);
    });
    gl_ = on_glibc([&](Answer&) { glibc_.free(nullptr); });
    DIFF_CHECK(na_.error == kErrnoSentinel && gl_.error == kErrnoSentinel);
  }

  // aligned_alloc (op 5), memalign (6) or posix_memalign (7).
  void op_aligned(unsigned op) {
    begin(op == 5 ? "aligned_alloc" : op == 6 ? "memalign" : "posix_memalign");
    call_.alignment = read_alignment();
    call_.size = read_size();
    const std::size_t alignment = call_.alignment, size = call_.size;
    const std::size_t effective = effective_alignment(alignment);
    const std::size_t cost = size + (effective > kMallocAlignment ? effective : 0);
    make_room(size, cost);
    if (op == 7) {
      posix_memalign_call(alignment, size, effective, cost);
      return;
    }
    na_ = on_nodealloc([&](Answer& a) {
      a.block = op == 5 ? na_aligned_alloc(alignment, size) : na_memalign(alignment, size);
    });
    gl_ = on_glibc([&](Answer& a) {
      a.block = op == 5 ? glibc_.aligned_alloc(alignment, size) : glibc_.memalign(alignment, size);
    });
    if (effective == 0) DIFF_CHECK(na_.block == nullptr && na_.error == EINVAL);
    const Origin origin = op == 5 && is_power_of_two(alignment) ? Origin::kAlignedAlloc : Origin::kOther;
    if (compare_allocation(size, effective == 0 ? kMallocAlignment : effective))
      add_pair(size, cost, alignment, origin, false);
  }

  void posix_memalign_call(std::size_t alignment, std::size_t size, std::size_t effective, std::size_t cost) {
    // A result pointer each side must leave alone when it fails.
    void* const untouched = reinterpret_cast<void*>(std::uintptr_t{0x5e47});
    void* na_result = untouched;
    void* gl_result = untouched;
    na_ = on_nodealloc([&](Answer& a) { a.returned = na_posix_memalign(&na_result, alignment, size); });
    gl_ = on_glibc([&](Answer& a) { a.returned = glibc_.posix_memalign(&gl_result, alignment, size); });
    na_.block = na_.returned == 0 ? na_result : nullptr;
    gl_.block = gl_.returned == 0 ? gl_result : nullptr;
    DIFF_CHECK(na_.returned == gl_.returned);
    const bool valid = alignment % sizeof(void*) == 0 && is_power_of_two(alignment);
    if (!valid) DIFF_CHECK(na_.returned == EINVAL);
    if (na_.returned != 0) {
      DIFF_CHECK(na_result == untouched && gl_result == untouched);
      DIFF_CHECK(na_.error == kErrnoSentinel);
      // Exception: glibc's ENOMEM comes out of its memalign, which has set errno to ENOMEM on the
      // way; POSIX leaves errno undefined here, nodealloc keeps it (see the opening comment).
      DIFF_CHECK(gl_.error == kErrnoSentinel || (gl_.returned == ENOMEM && gl_.error == ENOMEM));
      return;
    }
    DIFF_CHECK(na_.block != nullptr && gl_.block != nullptr);
    DIFF_CHECK(size < kBeyondAddressSpace);
    check_answer(size, effective);
    add_pair(size, cost, alignment, Origin::kOther, false);
  }

  void op_valloc() {
    begin("valloc");
    call_.size = read_size();
    const std::size_t size = call_.size;
    make_room(size, size + page());
    na_ = on_nodealloc([&](Answer& a) { a.block = na_valloc(size); });
    gl_ = on_glibc([&](Answer& a) { a.block = glibc_.valloc(size); });
    if (compare_allocation(size, page())) add_pair(size, size + page(), page(), Origin::kOther, false);
  }

  void op_pvalloc() {
    begin("pvalloc");
    call_.size = read_size();
    const std::size_t size = call_.size;
    // pvalloc promises the request rounded up to whole pages (NULL with ENOMEM if that overflows).
    const std::size_t rounded = size > kSizeMax - (page() - 1) ? kSizeMax : (size + page() - 1) / page() * page();
    make_room(rounded, rounded + page());
    na_ = on_nodealloc([&](Answer& a) { a.block = na_pvalloc(size); });
    gl_ = on_glibc([&](Answer& a) { a.block = glibc_.pvalloc(size); });
    if (size == 0) {
      // Exception: glibc's pvalloc(0) gets 24 usable bytes, not a page (the opening comment);
      // both are page-aligned, and nodealloc's side must have its page.
      DIFF_CHECK((na_.block == nullptr) == (gl_.block == nullptr));
      DIFF_CHECK(na_.block != nullptr);
      DIFF_CHECK(aligned_to(na_.block, page()) && aligned_to(gl_.block, page()));
      DIFF_CHECK(na_usable_size(na_.block) >= page());
      add_pair(0, page(), page(), Origin::kOther, false);
      return;
    }
    if (compare_allocation(rounded, page())) add_pair(rounded, rounded + page(), page(), Origin::kOther, false);
  }

  void op_usable_size() {
    begin("malloc_usable_size");
    const std::size_t pick = read_pick();
    if (pick == live_pairs_) {
      DIFF_CHECK(na_usable_size(nullptr) == 0 && glibc_.malloc_usable_size(nullptr) == 0);
      return;
    }
    const Pair& pair = pairs_[pick];
    call_.size = pair.size;
    call_.nodealloc_in = pair.nodealloc;
    call_.glibc_in = pair.glibc;
    DIFF_CHECK(na_usable_size(pair.nodealloc) >= pair.size);
    DIFF_CHECK(glibc_.malloc_usable_size(pair.glibc) >= pair.size);
  }

  void op_check() {
    begin("check");
    const std::size_t pick = read_pick();
    if (pick == live_pairs_) {
      for (std::size_t i = 0; i < live_pairs_; ++i) check_contents(pairs_[i], "in the full check");
      return;
    }
    Pair& pair = pairs_[pick];
    check_contents(pair, "in the check");
    pair.phase = next_phase();
    write_pattern(pair.nodealloc, pair.size, pair.phase);
    write_pattern(pair.glibc, pair.size, pair.phase);
  }

  // --- answers ---

  // The common answer to a call that allocates `size` bytes aligned to `alignment`: the same
  // NULL-ness, the same errno after a failure, and each success checked. True when both succeeded
  // (the caller then adds the pair).
  bool compare_allocation(std::size_t size, std::size_t alignment) {
    DIFF_CHECK((na_.block == nullptr) == (gl_.block == nullptr));
    if (na_.block == nullptr) {
      DIFF_CHECK(na_.error == gl_.error);
      DIFF_CHECK(na_.error == ENOMEM || na_.error == EINVAL);
      return false;
    }
    DIFF_CHECK(size < kBeyondAddressSpace);
    check_answer(size, alignment);
    return true;
  }

  void check_answer(std::size_t size, std::size_t alignment) {
    DIFF_CHECK(aligned_to(na_.block, alignment));
    DIFF_CHECK(aligned_to(gl_.block, alignment));
    DIFF_CHECK(na_usable_size(na_.block) >= size);
    DIFF_CHECK(glibc_.malloc_usable_size(gl_.block) >= size);
  }

  void check_contents(const Pair& pair, const char* when) {
    if (holds_pattern(pair.nodealloc, pair.size, pair.phase) && holds_pattern(pair.glibc, pair.size, pair.phase))
      return;
    std::fprintf(stderr, "differential: the pair (nodealloc %p, glibc %p, size %zu) lost its contents %s\n",
                 pair.nodealloc, pair.glibc, pair.size, when);
    DIFF_CHECK(holds_pattern(pair.nodealloc, pair.size, pair.phase));
    DIFF_CHECK(holds_pattern(pair.glibc, pair.size, pair.phase));
  }

  // --- the model ---

  void add_pair(std::size_t size, std::size_t cost, std::size_t alignment, Origin origin, bool zeroed) {
    if (zeroed) {
      DIFF_CHECK(holds_zeros(na_.block, size));
      DIFF_CHECK(holds_zeros(gl_.block, size));
    }
    Pair pair{na_.block, gl_.block, size, cost, alignment, next_phase(), origin};
    write_pattern(pair.nodealloc, size, pair.phase);
    write_pattern(pair.glibc, size, pair.phase);
    put(pair);
  }

  // Frees the oldest pairs until a request of `size` bytes costing `cost` fits in the bounds. A
  // request that cannot succeed needs no room.
  void make_room(std::size_t size, std::size_t cost) {
    if (size >= kBeyondAddressSpace || cost >= kBeyondAddressSpace) return;
    const Call saved = call_;
    while (live_pairs_ > 0 && (live_pairs_ >= kMaxPairs || live_cost_ + cost > kMaxLiveBytes)) release(0, 0);
    call_ = saved;
  }

  // Checks a pair's contents and frees both blocks: glibc's with free, nodealloc's with free or,
  // when `how` says so and C23 allows it for the block, free_sized or free_aligned_sized.
  void release(std::size_t index, unsigned how) {
    const Pair pair = take(index);
    check_contents(pair, "before free");
    call_.op = how == 1 && pair.origin == Origin::kMalloc             ? "free_sized"
               : how == 2 && pair.origin == Origin::kAlignedAlloc     ? "free_aligned_sized"
                                                                      : "free";
    call_.size = pair.size;
    call_.alignment = pair.alignment;
    call_.nodealloc_in = pair.nodealloc;
    call_.glibc_in = pair.glibc;
    na_ = on_nodealloc([&](Answer&) {
      if (how == 1 && pair.origin == Origin::kMalloc) na_free_sized(pair.nodealloc, pair.size);
      else if (how == 2 && pair.origin == Origin::kAlignedAlloc)
        na_free_aligned_sized(pair.nodealloc, pair.alignment, pair.size);
      else na_free(pair.nodealloc);
    });
    gl_ = on_glibc([&](Answer&) { glibc_.free(pair.glibc); });
    DIFF_CHECK(na_.error == kErrnoSentinel && gl_.error == kErrnoSentinel);  // free keeps errno
  }

  // Removes pair `index` from the model (the last pair takes its place) and returns it.
  Pair take(std::size_t index) {
    const Pair pair = pairs_[index];
    pairs_[index] = pairs_[--live_pairs_];
    live_cost_ -= pair.cost;
    return pair;
  }

  void put(const Pair& pair) {
    FUZZ_CHECK(live_pairs_ < kMaxPairs);
    pairs_[live_pairs_++] = pair;
    live_cost_ += pair.cost;
  }

  unsigned next_phase() { return static_cast<unsigned>(++blocks_made_ * 97 % kPeriod); }

  static std::size_t page() {
    static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return size;
  }

  void begin(const char* op) {
    call_ = Call{};
    call_.op = op;
    na_ = Answer{};
    gl_ = Answer{};
  }

  void describe_failure(const char* condition) const {
    std::fprintf(stderr,
                 "differential: %s (size=%zu, count=%zu, alignment=%zu, nodealloc block in=%p, glibc block in=%p)\n"
                 "  nodealloc: %p, errno=%d, returned=%d\n"
                 "  glibc:     %p, errno=%d, returned=%d\n"
                 "  (errno %d means untouched) failed: %s\n",
                 call_.op, call_.size, call_.count, call_.alignment, call_.nodealloc_in, call_.glibc_in, na_.block,
                 na_.error, na_.returned, gl_.block, gl_.error, gl_.returned, kErrnoSentinel, condition);
  }

  FuzzInput& input_;
  const Glibc& glibc_;
  std::array<Pair, kMaxPairs> pairs_{};
  std::size_t live_pairs_ = 0;
  std::size_t live_cost_ = 0;
  unsigned blocks_made_ = 0;
  Call call_;
  Answer na_;
  Answer gl_;
};

}  // namespace
}  // namespace nodealloc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nodealloc::fuzz::FuzzInput input(data, size);
  nodealloc::fuzz::Differential(input).run();
  return 0;
}
