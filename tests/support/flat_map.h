// FlatMap: an ordered map as a sorted vector, with the few std::map operations the fuzz support
// and the allocator model (support/allocator_model.h) use (lower_bound, upper_bound, find, at,
// emplace, erase, ordered iteration). A value type: copying it copies the entries.
//
// Why not std::map: its rebalancing (_Rb_tree_insert_and_rebalance) lives compiled in libstdc++.so,
// which Debian ships uninstrumented, so MemorySanitizer sees the tree's links as never written and
// reports the next lookup. A vector is all templates, compiled into the fuzz target itself, so the
// MSan variant can run the allocator targets. Invariant: entries sorted by key, keys unique.
// Inserting and erasing cost O(n) moves (none for a key above every other, as fresh ids are):
// the models hold at most a few thousand entries.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace nodealloc::testing {

template <class Key, class Value>
class FlatMap {
 public:
  using Entry = std::pair<Key, Value>;
  using iterator = typename std::vector<Entry>::iterator;
  using const_iterator = typename std::vector<Entry>::const_iterator;

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  iterator lower_bound(const Key& key) {
    return std::lower_bound(begin(), end(), key, [](const Entry& entry, const Key& k) { return entry.first < k; });
  }
  const_iterator lower_bound(const Key& key) const {
    return std::lower_bound(begin(), end(), key, [](const Entry& entry, const Key& k) { return entry.first < k; });
  }
  iterator upper_bound(const Key& key) {
    return std::upper_bound(begin(), end(), key, [](const Key& k, const Entry& entry) { return k < entry.first; });
  }
  iterator find(const Key& key) {
    const iterator at = lower_bound(key);
    return at != end() && at->first == key ? at : end();
  }
  const_iterator find(const Key& key) const { return const_cast<FlatMap*>(this)->find(key); }
  // A missing key is a bug of the caller's, whichever framework it reports through.
  Value& at(const Key& key) {
    const iterator found = find(key);
    if (found == end()) {
      std::fputs("FlatMap::at: no such key\n", stderr);
      std::abort();
    }
    return found->second;
  }
  const Value& at(const Key& key) const { return const_cast<FlatMap*>(this)->at(key); }

  // As std::map::emplace: no change when the key is there already.
  std::pair<iterator, bool> emplace(const Key& key, const Value& value) {
    const iterator at = lower_bound(key);
    if (at != end() && at->first == key) return {at, false};
    return {entries_.insert(at, Entry{key, value}), true};
  }
  iterator erase(const_iterator at) { return entries_.erase(at); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace nodealloc::testing
