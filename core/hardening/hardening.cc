// The slow paths of hardening.h: the pointer check, the reports of a bad free (double free or
// family mismatch), the sized-delete check.
//
// The pointer check of kPointerCheck (base/mitigations.h): is this a block nodealloc handed out?
// Order matters: nothing is read at the pointer until the chunk registry says the address is in
// a chunk (so the word before it is mapped), or the live table says it is a large block. Then the
// slab is found from the chunk's own page table, not from the block's back-pointer, so a
// corrupted back-pointer is caught instead of followed. No report is made with a lock held.
#include "hardening/hardening.h"

#include "base/sanitizer.h"
#include "pool/chunk.h"
#include "pool/chunk_registry.h"

namespace nodealloc {

constinit thread_local std::uintptr_t call_site::detail::current __attribute__((tls_model("initial-exec"))) = 0;

namespace {

// report_fatal, with the block's call sites (kCallSites) after the details, those that are known.
[[noreturn]] void report_with_sites(FatalError error, const void* block, std::initializer_list<FatalDetail> details,
                                    call_site::Sites sites) noexcept {
  FatalDetail all[8];
  std::size_t count = 0;
  for (const FatalDetail& detail : details) all[count++] = detail;
  if (sites.allocated != 0) all[count++] = FatalDetail::code("allocated_at", sites.allocated);
  if (sites.freed != 0) all[count++] = FatalDetail::code("freed_at", sites.freed);
  report_fatal(error, block, all, count);
}

// The block's class, as reports name it: its index, or "large".
FatalDetail class_detail(const void* block) noexcept {
  const unsigned class_index = SlabNode::header_of(block)->class_index();
  if (class_index < kClassCount) return {"class", class_index};
  return FatalDetail::word("class", "large");
}

// The call sites a block holds (kCallSites): a slab block's in its trailer (`freed`: the free site
// too), a large block's allocation site in its header.
call_site::Sites sites_of(const void* block, bool freed) noexcept {
  if constexpr (!call_site::kOn) return {};
  const SlabHeader* header = SlabNode::header_of(block);
  const unsigned class_index = header->class_index();
  if (class_index < kClassCount) return call_site::slab_sites(block, size_class(class_index).usable, freed);
  return {header->allocation_site(), 0};
}

}  // namespace

Hardening::~Hardening() { release_held_back(); }

void Hardening::release_held_back() noexcept {
  for (unsigned i = 0; i < kHeldBack; ++i) {
    HeldBack held;
    {
      std::lock_guard<Mutex> lock(mutex_);
      held = held_back_[i];
      held_back_[i] = {};
    }
    unmap_held(source_, held);
  }
}

void Hardening::unmap_held(MemorySource& source, HeldBack held) noexcept {
  if (held.mapping == nullptr) return;
  mark_reusable(held.mapping, held.length);  // ASan must not think the next mapping here is poisoned
  source.unmap(held.mapping, held.length);
}

bool Hardening::on_large_freed(const void* block, void* mapping, std::size_t length) noexcept {
  if constexpr (!enabled(Mitigation::kPointerCheck) && !enabled(Mitigation::kDoubleFree)) return false;
  const auto address = reinterpret_cast<std::uintptr_t>(block);
  if constexpr (enabled(Mitigation::kPointerCheck)) {
    std::lock_guard<Mutex> lock(mutex_);
    live_large_.erase(address);
  }
  if constexpr (!enabled(Mitigation::kDoubleFree)) return false;
  // Outside the lock: two system calls. A mapping the OS will not protect is unmapped at once
  // (its double free then reads as an invalid free). The header is read before it goes.
  const std::uintptr_t allocation_site = static_cast<const SlabHeader*>(mapping)->allocation_site();
  if (!source_.hold(mapping, length)) return false;
  HeldBack evicted;
  {
    std::lock_guard<Mutex> lock(mutex_);
    HeldBack& slot = held_back_[next_held_++ % kHeldBack];
    evicted = slot;
    slot = {address, mapping, length, {allocation_site, call_site::current()}};
  }
  unmap_held(source_, evicted);
  return true;
}

Hardening::LargeState Hardening::large_state(const void* block, std::uintptr_t* header,
                                             call_site::Sites* sites) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(block);
  std::lock_guard<Mutex> lock(mutex_);
  *header = live_large_.find(address);
  if (*header != 0) return LargeState::kLive;
  for (const HeldBack& held : held_back_) {
    if (held.block == address) {
      *sites = held.sites;
      return LargeState::kRecentlyFreed;
    }
  }
  return LargeState::kUnknown;
}

void Hardening::check_large_pointer(const void* block, FatalError if_recently_freed) noexcept {
  std::uintptr_t header = 0;
  call_site::Sites sites;
  const LargeState state = large_state(block, &header, &sites);  // the lock is released before any report
  if (state == LargeState::kLive) {
    if (reinterpret_cast<std::uintptr_t>(SlabNode::header_of(block)) == header) return;
    report_corrupted_back_pointer(block);
  }
  if (state == LargeState::kRecentlyFreed) {
    report_with_sites(if_recently_freed, block, {FatalDetail::word("class", "large")}, sites);
  }
  report_fatal(FatalError::kInvalidFree, block);
}

void Hardening::report_not_in_a_slab(const void* block) noexcept {
  report_fatal(FatalError::kInvalidFree, block, {{"chunk_page", page_index(block)}});
}

void Hardening::report_not_a_block_start(const void* block, const SlabHeader& header) noexcept {
  report_fatal(FatalError::kInvalidFree, block,  // inside a block, not at its start
               {{"class", header.class_index()}, {"offset_in_buffer", slab_position(header, block).offset_in_buffer}});
}

void Hardening::report_corrupted_back_pointer(const void* block) noexcept {
  report_fatal(FatalError::kCorruptedBackPointer, block,
               {FatalDetail::address("back_pointer", load_back_pointer_word(block))});
}

const char* family_name(Family family) noexcept {
  switch (family) {
    case Family::kMalloc: return "malloc";
    case Family::kNew: return "new";
    case Family::kNewArray: return "new[]";
  }
  return "?";
}

namespace {

// What gives a block of each family back: free for malloc's, delete for new's...
const char* release_name(Family family) noexcept {
  switch (family) {
    case Family::kMalloc: return "free";
    case Family::kNew: return "delete";
    case Family::kNewArray: return "delete[]";
  }
  return "?";
}

}  // namespace

namespace {

// A word that fails its checksum was not written by nodealloc for this block: say so before
// reading anything else into it.
void report_if_forged(const void* block, std::uintptr_t found, std::uintptr_t expected) noexcept {
  if (block_state::kChecksummed && !block_state::intact(block, found)) {
    report_fatal(FatalError::kCorruptedBackPointer, block,
                 {FatalDetail::address("back_pointer", found), FatalDetail::address("expected", expected)});
  }
}

}  // namespace

void block_state::report_bad_free(const void* block, std::uintptr_t found, std::uintptr_t expected,
                                  Family family) noexcept {
  report_if_forged(block, found, expected);
  const std::uintptr_t state = low_state(found);
  if ((state & kLive) == 0) report_with_sites(FatalError::kDoubleFree, block, {class_detail(block)}, sites_of(block, true));
  const auto allocated = static_cast<Family>(state >> kFamilyShift);
  report_with_sites(FatalError::kAllocDeallocMismatch, block,
                    {FatalDetail::word("allocated", family_name(allocated)), FatalDetail::word("freed", release_name(family))},
                    sites_of(block, false));
}

void block_state::report_not_free(const void* block, std::uintptr_t found, std::uintptr_t expected) noexcept {
  report_if_forged(block, found, expected);
  report_fatal(FatalError::kCorruptedFreeList, block, {FatalDetail::address("back_pointer", found)});
}

void canary::detail::report_overflow(const void* block, std::size_t size, std::size_t offset) noexcept {
  report_with_sites(FatalError::kHeapOverflow, block, {{"size", size}, {"offset", offset}}, sites_of(block, false));
}

void freed_fill::report_write_after_free(const void* block, std::size_t usable, std::size_t offset) noexcept {
  report_with_sites(FatalError::kWriteAfterFree, block, {{"offset", offset}},
                    call_site::slab_sites(block, usable, true));
}

void Hardening::check_sized_delete_slow(const void* block, std::size_t size, std::size_t alignment,
                                        unsigned class_index, std::size_t usable, Family family) noexcept {
  const bool fits =
      class_index < kClassCount ? canary::class_for_request(size, alignment) == class_index : size <= usable;
  if (fits) return;
  report_fatal(family == Family::kMalloc ? FatalError::kSizedFreeMismatch : FatalError::kSizedDeleteMismatch, block,
               {{"size", size}, {"usable", usable}});
}

void Hardening::check_live_slow(const void* block, FatalError if_free) noexcept {
  check_pointer_checked(block, if_free);
  if constexpr (enabled(Mitigation::kDoubleFree)) {
    if (chunk_registry::contains(block) && !is_live(block)) report_fatal(if_free, block);
  }
}

}  // namespace nodealloc
