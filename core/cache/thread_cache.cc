// See thread_cache.h for the design and the lock-free protocol.
#include "cache/thread_cache.h"

#include "base/mitigations.h"
#include "base/sanitizer.h"
#include "node/block.h"

namespace nodealloc {
namespace {

using slab::get;
using slab::set;

ThreadCache* owner_of(SlabHeader* header) {
  return reinterpret_cast<ThreadCache*>(
      header->atomic_word(header_slot::kOwner).load(std::memory_order_acquire));
}

bool is_listed(const SlabHeader* header) { return (get(*header, header_slot::kFlags) & kSlabListed) != 0; }

}  // namespace

std::uint32_t ThreadCache::take_blocks(SlabHeader* header, unsigned class_index) noexcept {
  FreeList& list = lists_[class_index];
  const std::uintptr_t carved = get(*header, header_slot::kCarved);
  const std::uintptr_t used = get(*header, header_slot::kUsed);

  // The slab's whole local free list at once: its length is carved - used.
  if (void* local = slab::get_ptr<void>(*header, header_slot::kLocalFree)) {
    list.head = local;
    list.count = static_cast<std::uint32_t>(carved - used);
    set(*header, header_slot::kLocalFree, 0);
    set(*header, header_slot::kUsed, carved);
    return list.count;
  }

  // Else carve fresh buffers: each gets its back-pointer from the Node's place_block, once.
  const SizeClass& size = size_class(class_index);
  const std::uintptr_t left = size.capacity - carved;
  const auto count = static_cast<std::uint32_t>(left < refill_batch(class_index) ? left : refill_batch(class_index));
  std::byte* data = slab::data(*header);
  void* head = nullptr;
  for (std::uint32_t i = count; i-- > 0;) {  // backwards, so the list pops in address order
    std::byte* buffer = data + size.first_buffer + (carved + i) * size.stride;
    mark_reusable(buffer, kWordSize);
    std::byte* block = place_block(buffer, size.stride, header, kMinAlignment, size.usable);
    if constexpr (enabled(Mitigation::kDoubleFree)) {
      set_back_pointer_word(block, back_pointer_word(block) | kFreeTag);  // born free
    }
    mark_no_access(buffer, kWordSize);
    set_next_free(block, head);
    head = block;
  }
  set(*header, header_slot::kCarved, carved + count);
  set(*header, header_slot::kUsed, used + count);
  list.head = head;
  list.count = count;
  return count;
}

void* ThreadCache::refill_and_allocate(unsigned class_index) noexcept {
  if (notified_.load(std::memory_order_relaxed) != nullptr) collect_remote_frees();
  if (lists_[class_index].head != nullptr) return allocate(class_index);
  for (;;) {
    if (SlabHeader* header = current_[class_index]) {
      if (take_blocks(header, class_index) > 0) return allocate(class_index);
      current_[class_index] = nullptr;  // full: found again when one of its blocks comes back
    }
    if (SlabHeader* header = partial_[class_index]) {
      unlink_partial(header, class_index);
      if (get(*header, header_slot::kUsed) == 0) --empty_slabs_[class_index];
      current_[class_index] = header;
      continue;
    }
    SlabHeader* header = pool_.acquire_slab(class_index);
    if (header == nullptr) return nullptr;
    header->atomic_word(header_slot::kOwner)
        .store(reinterpret_cast<std::uintptr_t>(this), std::memory_order_release);
    current_[class_index] = header;
  }
}

void ThreadCache::link_partial(SlabHeader* header, unsigned class_index) noexcept {
  SlabHeader* head = partial_[class_index];
  header->link(head);  // word 7: the seed's free link
  set(*header, header_slot::kPrevLink, 0);
  if (head != nullptr) head->write_ptr(header_slot::kPrevLink, header);
  partial_[class_index] = header;
  set(*header, header_slot::kFlags, get(*header, header_slot::kFlags) | kSlabListed);
}

void ThreadCache::unlink_partial(SlabHeader* header, unsigned class_index) noexcept {
  auto* next = slab::get_ptr<SlabHeader>(*header, header_slot::kFreeLink);
  auto* prev = slab::get_ptr<SlabHeader>(*header, header_slot::kPrevLink);
  if (prev != nullptr) prev->link(next);
  else partial_[class_index] = next;
  if (next != nullptr) next->write_ptr(header_slot::kPrevLink, prev);
  header->link(nullptr);
  set(*header, header_slot::kPrevLink, 0);
  set(*header, header_slot::kFlags, get(*header, header_slot::kFlags) & ~kSlabListed);
}

// A slab of ours got blocks back: list it. When nothing of it is out any more, keep it if it is
// the class's only empty slab (a program that frees a batch and allocates it again would
// otherwise give the slab back and carve a new one every round), else give it to the pool.
void ThreadCache::slab_gained_free_blocks(SlabHeader* header, unsigned class_index) noexcept {
  if (header == current_[class_index]) return;
  if (get(*header, header_slot::kUsed) == 0) {
    if (empty_slabs_[class_index] == 0) {
      ++empty_slabs_[class_index];
      if (!is_listed(header)) link_partial(header, class_index);
      return;
    }
    if (is_listed(header)) unlink_partial(header, class_index);
    pool_.release_slab(header);
  } else if (!is_listed(header)) {
    link_partial(header, class_index);
  }
}

// Splices the chain first..last (already linked, `count` blocks) onto the slab's local list.
void ThreadCache::give_back_to_own_slab(SlabHeader* header, void* first, void* last,
                                        std::uint32_t count) noexcept {
  set_next_free(last, slab::get_ptr<void>(*header, header_slot::kLocalFree));
  header->write_ptr(header_slot::kLocalFree, first);
  set(*header, header_slot::kUsed, get(*header, header_slot::kUsed) - count);
}

void ThreadCache::flush(unsigned class_index, std::uint32_t count) noexcept {
  FreeList& list = lists_[class_index];
  // Blocks of one slab mostly come in runs (they were carved and handed out together): each run
  // goes back in one step, one splice or one CAS, however long it is.
  while (count > 0 && list.head != nullptr) {
    void* first = list.head;
    SlabHeader* header = header_of(first);
    void* last = first;
    std::uint32_t run = 1;
    void* next = next_free(first);
    while (run < count && next != nullptr && header_of(next) == header) {
      last = next;
      next = next_free(next);
      ++run;
    }
    list.head = next;
    list.count -= run;
    count -= run;
    if (owner_of(header) == this) {
      give_back_to_own_slab(header, first, last, run);
      slab_gained_free_blocks(header, class_index);
    } else {
      free_to_remote_slab(header, first, last);
    }
  }
}

void ThreadCache::free_to_remote_slab(SlabHeader* header, void* first, void* last) noexcept {
  std::atomic_ref<std::uintptr_t> remote = header->atomic_word(header_slot::kRemoteFree);
  std::uintptr_t old_head = remote.load(std::memory_order_relaxed);
  do {
    set_next_free(last, reinterpret_cast<void*>(old_head));
  } while (!remote.compare_exchange_weak(old_head, reinterpret_cast<std::uintptr_t>(first),
                                         std::memory_order_release, std::memory_order_relaxed));
  if (old_head != 0) return;  // the owner was told already, when the list became non-empty

  ThreadCache* owner = owner_of(header);
  std::atomic_ref<std::uintptr_t> link = header->atomic_word(header_slot::kNotifyLink);
  SlabHeader* old_top = owner->notified_.load(std::memory_order_relaxed);
  do {
    link.store(reinterpret_cast<std::uintptr_t>(old_top), std::memory_order_relaxed);
  } while (!owner->notified_.compare_exchange_weak(old_top, header, std::memory_order_release,
                                                   std::memory_order_relaxed));
}

void ThreadCache::collect_remote_frees() noexcept {
  SlabHeader* header = notified_.exchange(nullptr, std::memory_order_acquire);
  while (header != nullptr) {
    // Read the link first: once the remote list is empty again, a pusher may push this slab anew.
    auto* next = reinterpret_cast<SlabHeader*>(
        header->atomic_word(header_slot::kNotifyLink).load(std::memory_order_relaxed));
    void* blocks = reinterpret_cast<void*>(
        header->atomic_word(header_slot::kRemoteFree).exchange(0, std::memory_order_acquire));
    std::uintptr_t count = 0;
    void* tail = nullptr;
    for (void* block = blocks; block != nullptr; block = next_free(block)) {
      tail = block;
      ++count;
    }
    if (tail != nullptr) {
      set_next_free(tail, slab::get_ptr<void>(*header, header_slot::kLocalFree));
      header->write_ptr(header_slot::kLocalFree, blocks);
      set(*header, header_slot::kUsed, get(*header, header_slot::kUsed) - count);
      slab_gained_free_blocks(header, slab::class_index(*header));
    }
    header = next;
  }
}

void ThreadCache::flush_all() noexcept {
  for (unsigned c = 0; c < kClassCount; ++c) flush(c, lists_[c].count);
  collect_remote_frees();
  for (unsigned c = 0; c < kClassCount; ++c) {
    // The kept empty slab goes back too: a released cache holds only slabs with live blocks.
    for (SlabHeader* header = partial_[c]; header != nullptr && empty_slabs_[c] > 0;) {
      auto* next = slab::get_ptr<SlabHeader>(*header, header_slot::kFreeLink);
      if (get(*header, header_slot::kUsed) == 0) {
        unlink_partial(header, c);
        pool_.release_slab(header);
        --empty_slabs_[c];
      }
      header = next;
    }
    SlabHeader* header = current_[c];
    if (header == nullptr) continue;
    current_[c] = nullptr;
    const std::uintptr_t used = get(*header, header_slot::kUsed);
    if (used == 0) {
      pool_.release_slab(header);
    } else if (used < size_class(c).capacity) {
      link_partial(header, c);  // has free or uncarved buffers
    }
  }
}

}  // namespace nodealloc
