// See thread_cache.h for the design and the lock-free protocol.
#include "cache/thread_cache.h"

#include <algorithm>

namespace nodealloc {
namespace {

ThreadCache* owner_of(SlabHeader* header) { return static_cast<ThreadCache*>(header->owner()); }

}  // namespace

std::uint32_t ThreadCache::take_blocks(SlabHeader* header, unsigned class_index) noexcept {
  FreeList& list = lists_[class_index];
  const std::size_t carved = header->carved();
  const std::size_t used = header->used();

  // The slab's whole local free list at once: its length is carved - used.
  if (void* local = header->local_free()) {
    list.head = local;
    list.count = static_cast<std::uint32_t>(carved - used);
    header->set_local_free(nullptr);
    header->set_used(carved);
    return list.count;
  }

  // Else carve fresh buffers: the Node places each block and its back-pointer, once.
  const SizeClass& size = size_class(class_index);
  const SlabNode node = slab_node(*header, size);
  const std::size_t left = size.capacity - carved;
  const unsigned slowdown = Config::kSlowStartSteps - carves_[class_index];  // config.h: slow start
  if (slowdown > 0) ++carves_[class_index];
  const std::uint32_t batch = std::max<std::uint32_t>(refill_batch(class_index) >> slowdown, 1);
  const auto count = static_cast<std::uint32_t>(left < batch ? left : batch);
  void* head = nullptr;
  for (std::uint32_t i = count; i-- > 0;) {  // backwards, so the list pops in address order
    // The back-pointer stays poisoned: the Node writes it through the sanitizer-exempt store.
    std::byte* block = node.aligned_addr_in_buffer(carved + i, kMinAlignment, size.usable);
    block_state::seal_free(block);
    freed_fill::fill(block, size.usable);
    free_link::store(block, head);
    head = block;
  }
  header->set_carved(carved + count);
  header->set_used(used + count);
  list.head = head;
  list.count = count;
  return count;
}

void* ThreadCache::refill_and_allocate(unsigned class_index) noexcept {
  // The class's list is empty (allocate() comes here only then), and stays so: remote frees
  // go back to their slabs, not to the list.
  if (notified_.load(std::memory_order_relaxed) != nullptr) collect_remote_frees();
  for (;;) {
    if (SlabHeader* header = current_[class_index]) {
      if (take_blocks(header, class_index) > 0) return allocate(class_index);
      current_[class_index] = nullptr;  // full: found again when one of its blocks comes back
    }
    if (SlabHeader* header = partial_[class_index].front()) {
      partial_[class_index].remove(header);
      if (header->used() == 0) --empty_slabs_[class_index];
      current_[class_index] = header;
      continue;
    }
    SlabHeader* header = pool_.acquire_slab(class_index);
    if (header == nullptr) return nullptr;
    header->set_owner(this);
    current_[class_index] = header;
  }
}

// A slab of ours got blocks back: list it. When nothing of it is out any more, keep it if it is
// the class's only empty slab (a program that frees a batch and allocates it again would
// otherwise give the slab back and carve a new one every round), else give it to the pool.
void ThreadCache::slab_gained_free_blocks(SlabHeader* header, unsigned class_index) noexcept {
  if (header == current_[class_index]) return;
  SlabList& partial = partial_[class_index];
  if (header->used() == 0) {
    if (empty_slabs_[class_index] < Config::kKeptEmptySlabsPerClass) {
      ++empty_slabs_[class_index];
      if (!header->listed()) partial.push_front(header);
      return;
    }
    if (header->listed()) partial.remove(header);
    pool_.release_slab(header);
  } else if (!header->listed()) {
    partial.push_front(header);
  }
}

// Splices the chain first..last (already linked, `count` blocks) onto the slab's local list.
void ThreadCache::give_back_to_own_slab(SlabHeader* header, void* first, void* last,
                                        std::uint32_t count) noexcept {
  free_link::store(last, header->local_free());
  header->set_local_free(first);
  header->set_used(header->used() - count);
}

void ThreadCache::flush(unsigned class_index, std::uint32_t count) noexcept {
  FreeList& list = lists_[class_index];
  // Blocks of one slab mostly come in runs (they were carved and handed out together): each run
  // goes back in one step, one splice or one CAS, however long it is.
  while (count > 0 && list.head != nullptr) {
    void* first = list.head;
    SlabHeader* header = SlabNode::header_of(first);
    void* last = first;
    std::uint32_t run = 1;
    void* next = free_link::next(first, class_index);
    while (run < count && next != nullptr && SlabNode::header_of(next) == header) {
      last = next;
      next = free_link::next(next, class_index);
      ++run;
    }
    list.head = next;
    list.count -= run;
    count -= run;
    if (owner_of(header) == this) {
      give_back_to_own_slab(header, first, last, run);
      slab_gained_free_blocks(header, class_index);
    } else {
      free_to_remote_slab(header, first, last, run);
    }
  }
}

void ThreadCache::free_to_remote_slab(SlabHeader* header, void* first, void* last, std::uint32_t count) noexcept {
  header->remote_count().fetch_add(count, std::memory_order_relaxed);  // before the blocks can be collected
  std::atomic_ref<std::uintptr_t> remote = header->remote_free();
  std::uintptr_t old_head = remote.load(std::memory_order_relaxed);
  do {
    free_link::store(last, reinterpret_cast<void*>(old_head));
  } while (!remote.compare_exchange_weak(old_head, reinterpret_cast<std::uintptr_t>(first),
                                         std::memory_order_release, std::memory_order_relaxed));
  if (old_head != 0) return;  // the owner was told already, when the list became non-empty

  ThreadCache* owner = owner_of(header);
  std::atomic_ref<std::uintptr_t> link = header->notify_next();
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
    auto* next = reinterpret_cast<SlabHeader*>(header->notify_next().load(std::memory_order_relaxed));
    auto* blocks = reinterpret_cast<void*>(header->remote_free().exchange(0, std::memory_order_acquire));
    std::size_t count = 0;
    void* tail = nullptr;
    const unsigned class_index = header->class_index();
    for (void* block = blocks; block != nullptr; block = free_link::next(block, class_index)) {
      tail = block;
      ++count;
    }
    if (tail != nullptr) {
      free_link::store(tail, header->local_free());
      header->set_local_free(blocks);
      header->remote_count().fetch_sub(count, std::memory_order_relaxed);
      header->set_used(header->used() - count);
      slab_gained_free_blocks(header, class_index);
    }
    header = next;
  }
}

void ThreadCache::flush_all() noexcept {
  drain_quarantine();
  for (unsigned c = 0; c < kClassCount; ++c) flush(c, lists_[c].count);
  collect_remote_frees();
  for (unsigned c = 0; c < kClassCount; ++c) {
    // The kept empty slab goes back too: a released cache holds only slabs with live blocks.
    if (empty_slabs_[c] > 0) {
      partial_[c].for_each([&](SlabHeader& header) {
        if (header.used() != 0) return;
        partial_[c].remove(&header);
        pool_.release_slab(&header);
        --empty_slabs_[c];
      });
    }
    SlabHeader* header = current_[c];
    if (header == nullptr) continue;
    current_[c] = nullptr;
    const std::size_t used = header->used();
    if (used == 0) {
      pool_.release_slab(header);
    } else if (used < size_class(c).capacity) {
      partial_[c].push_front(header);  // has free or uncarved buffers
    }
  }
}

}  // namespace nodealloc
