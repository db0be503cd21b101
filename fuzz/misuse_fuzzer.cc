// Fuzz target that attacks the checks (hardened builds: -Dhardening=standard or full).
//
// The input interleaves valid operations with misuse, each an opcode byte and its operands:
//
//   op (byte % 11)  0 alloc           size, alignment and family bytes (malloc, new, new[])
//                   1 free            a live block, through its own family (sometimes sized: sized delete,
//                                     or C23 free_sized for malloc's)
//                   2 double free     a block freed earlier and not handed out again
//                   3 interior free   a live block plus an offset inside it
//                   4 wild free       a stack, global, chunk-metadata or unmapped address
//                   5 wrong family    a live block through another family's release
//                   6 wrong size      sized delete, or free_sized, with a size the block was not made for
//                   7 link overwrite  free a slab block, overwrite its free-list link, allocate it again
//                   8 back-pointer    overwrite a live block's back-pointer word (random, or copied from
//                                     another block), then free it
//                   9 fill overwrite  (full) free a slab block, change a byte of its fill, allocate again
//                  10 slack overwrite (full) change a byte past a live block's requested size, inside
//                                     its room (the canary, or a slab block's trailer), then free it
//
// Every misuse must be reported, through base/report.h's hook, as one of the errors it may be
// named (a freed large block whose address the OS mapped again may read as an invalid free, say);
// a misuse that returns normally, or a report of the wrong kind, is a crash of this target. No
// forged pointer may be handed out: a link overwrite must be reported by the allocation that
// meets it, before the block is handed out. After a report the allocator's state is whatever the
// misuse made it: the target drops that allocator and goes on with a new one. At the end every
// live block is freed, validate() must pass, and nothing may stay mapped.
//
// The deliberate writes into allocator-owned memory (freed blocks, back-pointers) go through
// NODEALLOC_NO_SANITIZE helpers with volatile byte stores, so ASan does not report them first, and
// the reads of it open a MetadataAccess window, so MSan does not.
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/mitigations.h"
#include "base/report.h"
#include "base/sanitizer.h"
#include "heap/allocator.h"
#include "support/fuzz_check.h"
#include "support/fuzz_input.h"
#include "support/scripted_platform.h"

namespace nodealloc::fuzz {
namespace {

constexpr std::size_t kMemoryLimit = std::size_t{64} << 20;
constexpr std::size_t kMaxLive = 64;

std::jmp_buf* landing = nullptr;
FatalError reported{};

void on_fatal(FatalError error, const void*) {
  reported = error;
  if (landing != nullptr) std::longjmp(*landing, 1);
}

NODEALLOC_NO_SANITIZE void poke(void* at, std::uint64_t value, std::size_t bytes) {
  auto* target = static_cast<volatile unsigned char*>(at);
  for (std::size_t i = 0; i < bytes; ++i) target[i] = static_cast<unsigned char>(value >> (8 * i));
}
// Reads of allocator-owned memory, as the allocator reads it: under a MetadataAccess window (it is
// poisoned for MSan).
NODEALLOC_NO_SANITIZE std::uint8_t peek_byte(const void* at) {
  const MetadataAccess window(at, 1);
  return *static_cast<const volatile unsigned char*>(at);
}
NODEALLOC_NO_SANITIZE std::uint64_t peek_word(const void* at) {
  const MetadataAccess window(at, 8);
  const auto* source = static_cast<const volatile unsigned char*>(at);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value |= std::uint64_t{source[i]} << (8 * i);
  return value;
}

struct Block {
  void* pointer;
  std::size_t size;
  std::size_t alignment;  // 0: plain malloc / new
  Family family;
};

unsigned char global_bytes[64];

class MisuseSession {
 public:
  explicit MisuseSession(ScriptedPlatform& platform) : platform_(platform) { fresh_allocator(); }

  void step(FuzzInput& input) {
    switch (input.byte() % 11) {
      case 0: allocate(input); break;
      case 1: free_one(input); break;
      case 2: double_free(input); break;
      case 3: interior_free(input); break;
      case 4: wild_free(input); break;
      case 5: wrong_family(input); break;
      case 6: wrong_size(input); break;
      case 7: link_overwrite(input); break;
      case 8: back_pointer_overwrite(input); break;
      case 9: fill_overwrite(input); break;
      case 10: slack_overwrite(input); break;
    }
  }

  void finish() {
    for (const Block& block : live_) release(block);
    live_.clear();
    allocator_->release_cache(cache_);
    const ValidationResult result = allocator_->validate();
    if (!result.ok) std::fprintf(stderr, "validate: %s\n", result.message);
    FUZZ_CHECK(result.ok);
    allocator_.reset();
  }

 private:
  void fresh_allocator() {
    allocator_.reset();
    allocator_ = std::make_unique<Allocator>(AllocatorOptions{&platform_, kMemoryLimit});
    cache_ = allocator_->claim_cache();
    FUZZ_CHECK(cache_ != nullptr);
    live_.clear();
    freed_.clear();
  }

  // Runs `misuse`, which must end in a report of one of `allowed`; then starts afresh.
  template <class Misuse>
  void expect_report(std::initializer_list<FatalError> allowed, Misuse&& misuse) {
    std::jmp_buf here;
    landing = &here;
    if (setjmp(here) == 0) {
      misuse();
      landing = nullptr;
      std::fprintf(stderr, "misuse not reported\n");
      FUZZ_CHECK(false);
    }
    landing = nullptr;
    bool expected = false;
    for (const FatalError error : allowed) expected |= error == reported;
    if (!expected) std::fprintf(stderr, "reported %s, not what this misuse is\n", fatal_error_name(reported));
    FUZZ_CHECK(expected);
    fresh_allocator();  // the old allocator is dropped: its mappings go back to the platform
  }

  Block* pick_live(FuzzInput& input) { return live_.empty() ? nullptr : &live_[input.byte() % live_.size()]; }
  Block* pick_small(FuzzInput& input) {
    Block* block = pick_live(input);
    return block != nullptr && class_of(*block) < kClassCount ? block : nullptr;
  }
  static unsigned class_of(const Block& block) { return SlabNode::header_of(block.pointer)->class_index(); }
  std::size_t usable(const Block& block) { return allocator_->usable_size(block.pointer); }
  // The bytes it occupies: its class's usable size, or a large block's to its end (usable_size,
  // unless kCanaries makes that the requested size).
  static std::size_t room(const Block& block) {
    const SlabHeader* header = SlabNode::header_of(block.pointer);
    if (header->class_index() < kClassCount) return size_class(header->class_index()).usable;
    return LargeBlocks::usable_size(*header, block.pointer);
  }

  void* raw_allocate(std::size_t size, std::size_t alignment, Family family) {
    return alignment == 0 ? allocator_->allocate(*cache_, size, family)
                          : allocator_->allocate_aligned(*cache_, size, alignment, family);
  }

  void allocate(FuzzInput& input) {
    if (live_.size() >= kMaxLive) release(take(0));
    const std::uint8_t selector = input.byte();
    const std::size_t size = selector < 220 ? input.u16() % 2048 : (std::size_t{1} << 17) + input.u16() * std::size_t{16};
    const std::uint8_t align_byte = input.byte();
    const std::size_t alignment = align_byte % 4 == 0 ? std::size_t{16} << (align_byte % 9) : 0;
    const auto family = static_cast<Family>(input.byte() % 3);
    void* pointer = raw_allocate(size, alignment, family);
    if (pointer == nullptr) return;  // the memory limit
    handed_out(pointer);
    live_.push_back({pointer, size, alignment, family});
  }

  void handed_out(void* pointer) {
    std::erase(freed_, pointer);  // an address handed out again is no longer a freed block
  }

  Block take(std::size_t index) {
    const Block block = live_[index];
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(index));
    return block;
  }

  void release(const Block& block) {
    if ((reinterpret_cast<std::uintptr_t>(block.pointer) & 16) != 0) {  // sized delete, or C23 free_sized
      allocator_->deallocate_sized(*cache_, block.pointer, block.size, block.alignment, block.family);
    } else {
      allocator_->deallocate(*cache_, block.pointer, block.family);
    }
    freed_.push_back(block.pointer);
  }

  void free_one(FuzzInput& input) {
    if (live_.empty()) return;
    release(take(input.byte() % live_.size()));
  }

  void double_free(FuzzInput& input) {
    if (freed_.empty()) return;
    void* pointer = freed_[input.byte() % freed_.size()];
    // A small block's slab may have been given back and its pages reused or discarded since.
    expect_report({FatalError::kDoubleFree, FatalError::kInvalidFree, FatalError::kCorruptedBackPointer},
                  [&] { allocator_->deallocate(*cache_, pointer); });
  }

  void interior_free(FuzzInput& input) {
    Block* block = pick_live(input);
    if (block == nullptr) return;
    const std::size_t room = usable(*block);
    if (room < 2) return;
    auto* inside = static_cast<unsigned char*>(block->pointer) + 1 + input.u16() % (room - 1);
    // Inside a large block's mapping the OS may have put a large block freed lately: a double free.
    expect_report({FatalError::kInvalidFree, FatalError::kDoubleFree}, [&] { allocator_->deallocate(*cache_, inside); });
  }

  void wild_free(FuzzInput& input) {
    unsigned char local[32];
    void* wild = nullptr;
    switch (input.byte() % 4) {
      case 0: wild = local + 16; break;
      case 1: wild = global_bytes + 16; break;
      case 2: wild = reinterpret_cast<void*>(std::uintptr_t{0x10000} + input.u16() * std::uintptr_t{16}); break;
      case 3: {
        Block* block = pick_small(input);
        if (block == nullptr) return;
        // The chunk's page 0: its headers, never a block.
        wild = reinterpret_cast<unsigned char*>(chunk_of(block->pointer)) + 16 * (1 + input.byte());
        break;
      }
    }
    expect_report({FatalError::kInvalidFree}, [&] { allocator_->deallocate(*cache_, wild); });
  }

  void wrong_family(FuzzInput& input) {
    if (!enabled(Mitigation::kFamilyCheck)) return;
    Block* block = pick_live(input);
    if (block == nullptr) return;
    const auto other = static_cast<Family>((static_cast<unsigned>(block->family) + 1 + input.byte() % 2) % 3);
    void* pointer = block->pointer;
    expect_report({FatalError::kAllocDeallocMismatch}, [&] { allocator_->deallocate(*cache_, pointer, other); });
  }

  void wrong_size(FuzzInput& input) {
    if (!enabled(Mitigation::kSizedDeleteCheck)) return;
    Block* block = pick_live(input);
    if (block == nullptr) return;
    const std::size_t wrong = room(*block) + 1 + input.u16();  // more than it holds
    const Block target = *block;
    expect_report({target.family == Family::kMalloc ? FatalError::kSizedFreeMismatch : FatalError::kSizedDeleteMismatch}, [&] {
      allocator_->deallocate_sized(*cache_, target.pointer, wrong, target.alignment, target.family);
    });
  }

  // Frees a slab block so that it is the head of its cache list (when a free would flush the
  // list, the misuse is skipped: the block would leave the head), then hands back `then`. The
  // quarantine (full preset) is drained before and after, so the block goes to the list at once:
  // these misuses attack the list, which a quarantined block is not on yet.
  template <class Then>
  void free_to_head(std::size_t index, Then&& then) {
    const Block block = live_[index];
    const unsigned c = class_of(block);
    cache_->drain_quarantine();
    if (cache_->list(c).count + 1 > cache_->list(c).limit) return;
    take(index);
    allocator_->deallocate(*cache_, block.pointer, block.family);
    cache_->drain_quarantine();
    then(block);
  }

  void link_overwrite(FuzzInput& input) {
    if (!enabled(Mitigation::kFreeListCheck)) return;
    if (live_.empty()) return;
    const std::size_t index = input.byte() % live_.size();
    if (class_of(live_[index]) >= kClassCount) return;
    const std::uint64_t value = input.u64();
    free_to_head(index, [&](const Block& block) {
      if (value == peek_word(block.pointer)) return;  // no change: not a misuse
      poke(block.pointer, value, 8);
      expect_report({FatalError::kCorruptedFreeList}, [&] {
        void* again = raw_allocate(block.size, block.alignment, block.family);
        std::fprintf(stderr, "handed out %p after its link was overwritten\n", again);
      });
    });
  }

  void back_pointer_overwrite(FuzzInput& input) {
    Block* block = pick_live(input);
    if (block == nullptr) return;
    // A random word, or one copied from another live block (a valid word, for its own block).
    const bool copy = (input.byte() & 1) != 0 && live_.size() > 1;
    const std::uint64_t value =
        copy ? peek_word(static_cast<unsigned char*>(live_[input.byte() % live_.size()].pointer) - 8) : input.u64();
    void* word = static_cast<unsigned char*>(block->pointer) - 8;
    if (value == peek_word(word)) return;
    poke(word, value, 8);
    const Block target = *block;
    // A value that still names the header, with other state bits, reads as a double free or a
    // family mismatch, unless the checksum proves it forged, which it must whenever the word is
    // not one nodealloc could have sealed for this block.
    if (block_state::kChecksummed && !block_state::intact(target.pointer, value)) {
      expect_report({FatalError::kCorruptedBackPointer}, [&] { allocator_->deallocate(*cache_, target.pointer, target.family); });
      return;
    }
    expect_report({FatalError::kCorruptedBackPointer, FatalError::kDoubleFree, FatalError::kAllocDeallocMismatch},
                  [&] { allocator_->deallocate(*cache_, target.pointer, target.family); });
  }

  void fill_overwrite(FuzzInput& input) {
    if (!enabled(Mitigation::kFreedFill)) return;
    if (live_.empty()) return;
    const std::size_t index = input.byte() % live_.size();
    if (class_of(live_[index]) >= kClassCount) return;
    const std::size_t room = usable(live_[index]);
    if (room <= 16) return;
    const std::size_t offset = 8 + input.u16() % (room - 8);
    const std::uint8_t flip = static_cast<std::uint8_t>(1 + input.byte() % 255);
    free_to_head(index, [&](const Block& block) {
      const auto* at = static_cast<unsigned char*>(block.pointer) + offset;
      poke(const_cast<unsigned char*>(at), (peek_word(at) ^ flip) & 0xff, 1);
      expect_report({FatalError::kWriteAfterFree}, [&] { raw_allocate(block.size, block.alignment, block.family); });
    });
  }

  void slack_overwrite(FuzzInput& input) {
    if (!canary::kOn) return;
    Block* block = pick_live(input);
    if (block == nullptr) return;
    const std::size_t slack = room(*block) - block->size;
    if (slack == 0) return;
    auto* at = static_cast<unsigned char*>(block->pointer) + block->size + input.u16() % slack;
    const std::uint8_t flip = static_cast<std::uint8_t>(1 + input.byte() % 255);
    poke(at, peek_byte(at) ^ flip, 1);  // one byte: the room may end against a guard page
    const Block target = *block;
    expect_report({FatalError::kHeapOverflow}, [&] { allocator_->deallocate(*cache_, target.pointer, target.family); });
  }

  ScriptedPlatform& platform_;
  std::unique_ptr<Allocator> allocator_;
  ThreadCache* cache_ = nullptr;
  std::vector<Block> live_;
  std::vector<void*> freed_;
};

}  // namespace
}  // namespace nodealloc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace nodealloc::fuzz;
  nodealloc::set_fatal_hook(on_fatal);
  ScriptedPlatform platform;
  {
    FuzzInput input(data, size);
    MisuseSession session(platform);
    while (!input.exhausted()) session.step(input);
    session.finish();
  }
  FUZZ_CHECK(platform.mapped() == 0);
  return 0;
}
