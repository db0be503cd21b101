// SlabList: a doubly linked list of headers (slabs or large blocks), through header word 7 (next,
// the seed's free link, written with the Node's link()) and word 8 (prev). A header joins a
// list only through push_front and leaves only through remove, which keep its `listed` field.
// One owner at a time: a thread cache for its partial slabs, LargeBlocks under its lock.
#pragma once

#include "pool/slab.h"

namespace nodealloc {

class SlabList {
 public:
  SlabHeader* front() const noexcept { return head_; }
  bool empty() const noexcept { return head_ == nullptr; }

  void push_front(SlabHeader* header) noexcept {
    header->link(head_);
    header->set_prev(nullptr);
    if (head_ != nullptr) head_->set_prev(header);
    head_ = header;
    header->set_listed(true);
  }

  void remove(SlabHeader* header) noexcept {
    SlabHeader* next = header->next();
    SlabHeader* prev = header->prev();
    if (prev != nullptr) prev->link(next);
    else head_ = next;
    if (next != nullptr) next->set_prev(prev);
    header->link(nullptr);
    header->set_prev(nullptr);
    header->set_listed(false);
  }

  // Calls visit(SlabHeader&) for each header, front to back; visit may remove the one it is given.
  template <class Visitor>
  void for_each(Visitor&& visit) {
    for (SlabHeader* header = head_; header != nullptr;) {
      SlabHeader* next = header->next();
      visit(*header);
      header = next;
    }
  }

 private:
  SlabHeader* head_ = nullptr;
};

}  // namespace nodealloc
