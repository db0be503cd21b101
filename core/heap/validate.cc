// Allocator::validate(): walks the whole heap and checks every invariant the design relies on,
// without trusting any pointer before it is shown to point into the heap (a corrupt list must give
// a failed result, not a crash in the validator). Used as the oracle of tests, properties and
// fuzzers; exact when no other thread is inside the allocator.
#include <atomic>
#include <cstdarg>
#include <cstdio>

#include "heap/allocator.h"
#include "pool/chunk_registry.h"

namespace nodealloc {
namespace {

class Validator {
 public:
  Validator(ValidationResult& result, const Pool& pool) : result_(result), pool_(pool) {}

  bool fail(const char* format, ...) __attribute__((format(printf, 2, 3))) {
    if (result_.ok) {
      va_list args;
      va_start(args, format);
      std::vsnprintf(result_.message, sizeof result_.message, format, args);
      va_end(args);
      result_.ok = false;
    }
    return false;
  }

  // The slab header of a block in one of this heap's chunks, or nullptr after reporting why not.
  // The registry is asked first: a chunk's header is read only once it is known to be mapped.
  SlabHeader* slab_of(const void* block, const char* where) {
    if (!chunk_registry::contains(block) || chunk_of(block)->pool != &pool_) {
      fail("%s: block %p is not in any chunk of this heap", where, block);
      return nullptr;
    }
    if (SlabHeader* header = slab_containing(block)) return check_block(header, block, where);
    fail("%s: block %p is in no slab", where, block);
    return nullptr;
  }

  // The block sits on a carved buffer boundary of `header`'s slab and names it.
  SlabHeader* check_block(SlabHeader* header, const void* block, const char* where) {
    const SlabPosition position = slab_position(*header, block);
    if (!position.is_block) {
      fail("%s: block %p is not on a buffer boundary of its slab", where, block);
      return nullptr;
    }
    if (position.index >= header->carved()) {
      fail("%s: block %p lies in the uncarved part of its slab", where, block);
      return nullptr;
    }
    if (SlabNode::header_of(block) != header) {
      fail("%s: the back-pointer of block %p does not name its slab's header", where, block);
      return nullptr;
    }
    return header;
  }

  // Walks a free list of at most `limit` blocks, all of `header`'s slab (or of class `c` when
  // header is null). Returns the length, or -1 after a failure.
  long walk(void* head, SlabHeader* header, unsigned c, std::size_t limit, const char* where) {
    long count = 0;
    for (void* block = head; block != nullptr; block = free_link::load(block)) {
      if (static_cast<std::size_t>(count) >= limit) {
        fail("%s: list longer than %zu blocks (a cycle?)", where, limit);
        return -1;
      }
      if (!is_free_block(block, header, c, where)) return -1;
      ++count;
    }
    return count;
  }

  // A freed block of class `c` (of `header`'s slab, when not null): carved, on a block boundary,
  // named by its back-pointer, and not live.
  bool is_free_block(const void* block, SlabHeader* header, unsigned c, const char* where) {
    SlabHeader* owner = header != nullptr ? check_block(header, block, where) : slab_of(block, where);
    if (owner == nullptr) return false;
    if (owner->class_index() != c) {
      return fail("%s: block %p of class %u where class %u belongs", where, block, owner->class_index(), c);
    }
    if (enabled(Mitigation::kDoubleFree) && Hardening::is_live(block)) {
      return fail("%s: block %p is free there but marked live", where, block);
    }
    return true;
  }

 private:
  ValidationResult& result_;
  const Pool& pool_;
};

}  // namespace

ValidationResult Allocator::validate() noexcept {
  ValidationResult result;
  // The table and its lookup are fixed when nodealloc is built: one check per process is enough
  // (it was more than half of what validate() cost the fuzz targets' heap checks). Kept in an
  // atomic, not a function-local static whose guard is the C++ runtime's (core/meson.build says why
  // core/ needs none); threads that race to check first find the same answer.
  static const char unchecked = 0;
  static std::atomic<const char*> size_class_fault{&unchecked};
  const char* fault = size_class_fault.load(std::memory_order_acquire);
  if (fault == &unchecked) {
    fault = validate_size_classes();
    size_class_fault.store(fault, std::memory_order_release);
  }
  if (fault != nullptr) {
    std::snprintf(result.message, sizeof result.message, "size classes: %s", fault);
    result.ok = false;
    return result;
  }
  Validator v(result, pool_);

  pool_.for_each_chunk([&](ChunkHeader& chunk) {
    if (chunk.magic != kChunkMagic) return (void)v.fail("chunk %p: bad magic", static_cast<void*>(&chunk));
    if (chunk.pool != &pool_ || !chunk_registry::contains(&chunk)) {
      return (void)v.fail("chunk %p: not registered, or names another pool", static_cast<void*>(&chunk));
    }
    if ((chunk.free_pages & 1) != 0 || (chunk.dirty_pages & ~chunk.free_pages) != 0) {
      return (void)v.fail("chunk %p: page 0 free, or a dirty page not free", static_cast<void*>(&chunk));
    }
    std::uint64_t slab_pages = 0;
    for (unsigned page = 1; page < kPagesPerChunk; ++page) {
      SlabHeader* header = slab_header_at(&chunk, page);
      std::byte* data = header->data();
      if (data == nullptr) continue;
      const unsigned c = header->class_index();
      if (data != page_address(&chunk, page) || c >= kClassCount) {
        return (void)v.fail("slab at page %u of chunk %p: bad node or class", page, static_cast<void*>(&chunk));
      }
      const SizeClass& size = size_class(c);
      const std::uint64_t pages = page_mask(page, size.slab_pages);
      if (page + size.slab_pages > kPagesPerChunk || header->length() != size.slab_pages * kSlabPageSize ||
          (pages & (slab_pages | chunk.free_pages)) != 0) {
        return (void)v.fail("slab %p: length, or pages shared with a free page or another slab", static_cast<void*>(data));
      }
      slab_pages |= pages;
      for (unsigned p = page; p < page + size.slab_pages; ++p) {
        if (chunk.slab_start[p].load(std::memory_order_relaxed) != page) {
          return (void)v.fail("slab %p: page %u is not recorded as its page", static_cast<void*>(data), p);
        }
      }
      const std::size_t carved = header->carved();
      const std::size_t used = header->used();
      if (carved > size.capacity || used > carved) {
        return (void)v.fail("slab %p: used %zu, carved %zu, capacity %u", static_cast<void*>(data),
                            static_cast<std::size_t>(used), static_cast<std::size_t>(carved), size.capacity);
      }
      if (header->owner() == nullptr) return (void)v.fail("slab %p: no owner", static_cast<void*>(data));
      const long local = v.walk(header->local_free(), header, c, carved, "local free list");
      if (local < 0) return;
      if (static_cast<std::size_t>(local) != carved - used) {
        return (void)v.fail("slab %p: %ld blocks on its local list, carved - used is %zu", static_cast<void*>(data), local,
                            static_cast<std::size_t>(carved - used));
      }
      const long remote = v.walk(reinterpret_cast<void*>(header->remote_free().load()), header, c,
                                 used, "remote free list");
      if (remote < 0) return;
      if (static_cast<std::size_t>(remote) != header->remote_count().load(std::memory_order_relaxed)) {
        return (void)v.fail("slab %p: %ld blocks on its remote list, its remote count says %zu", static_cast<void*>(data),
                            remote, static_cast<std::size_t>(header->remote_count().load(std::memory_order_relaxed)));
      }
    }
    for (unsigned p = 0; p < kPagesPerChunk; ++p) {
      if ((slab_pages & (std::uint64_t{1} << p)) == 0 && chunk.slab_start[p].load(std::memory_order_relaxed) != 0) {
        return (void)v.fail("chunk %p: page %u holds no slab but its page table names one", static_cast<void*>(&chunk), p);
      }
    }
    if ((slab_pages | chunk.free_pages) != kAllDataPages) {
      return (void)v.fail("chunk %p: a page is neither free nor in a slab", static_cast<void*>(&chunk));
    }
  });

  {
    std::lock_guard<Mutex> lock(caches_mutex_);
    for (ThreadCache* cache = caches_; cache != nullptr && result.ok; cache = cache->next_cache) {
      for (unsigned c = 0; c < kClassCount && result.ok; ++c) {
        // A list may be longer than its limit right after a refill took a whole slab's free list.
        const long length = v.walk(cache->list(c).head, nullptr, c, std::size_t{cache->list(c).count} + 1, "thread cache list");
        if (length >= 0 && static_cast<std::uint32_t>(length) != cache->list(c).count) {
          v.fail("thread cache list of class %u: %ld blocks, count says %u", c, length, cache->list(c).count);
        }
        // A cycle ends at the back-link check: the slab where it closes is reached a second
        // time from another slab than the first time, and its back link can name only one.
        SlabHeader* prev = nullptr;
        for (SlabHeader* h = cache->partial_slabs(c); h != nullptr && result.ok;
             prev = h, h = h->next()) {
          if (h->class_index() != c || h->owner() != cache || !h->listed() || h->prev() != prev) {
            v.fail("partial list of class %u: slab %p has the wrong class, owner, flag or back link", c,
                   static_cast<void*>(h->data()));
          } else if (h->used() >= size_class(c).capacity) {
            v.fail("partial list of class %u: slab %p has no free buffer", c, static_cast<void*>(h->data()));
          }
        }
        if (SlabHeader* current = cache->current_slab(c)) {
          if (current->owner() != cache || current->class_index() != c) {
            v.fail("current slab of class %u: wrong owner or class", c);
          }
        }
      }
      // Each resident is a free block of the class its slot names, and the byte count adds up.
      std::size_t quarantined_bytes = 0;
      cache->quarantine().for_each([&](const void* block, unsigned c) {
        if (c >= kClassCount) return (void)v.fail("quarantine: block %p with class %u", block, c);
        if (v.is_free_block(block, nullptr, c, "quarantine")) quarantined_bytes += size_class(c).usable;
      });
      if (result.ok && quarantined_bytes != cache->quarantine().bytes()) {
        v.fail("quarantine: residents of %zu bytes, its count says %zu", quarantined_bytes, cache->quarantine().bytes());
      }
    }
  }

  large_.for_each([&](SlabHeader& header) {
    if (!header.is_large() || SlabNode::header_of(header.large_block()) != &header) {
      v.fail("large block with header %p: bad class or back-pointer", static_cast<void*>(&header));
    }
  });
  return result;
}

}  // namespace nodealloc
