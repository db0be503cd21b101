// LiveTable (core/hardening/live_table.h), the pointer check's table of live large blocks, on its
// own: against a std::map model through long runs of inserts and erases (backward-shift deletion
// must keep every probe run reachable, also where a run wraps around the end of the array), on an
// empty table, and when the memory source refuses to let it grow.
#include "hardening/live_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "platform/platform.h"
#include "pool/memory_source.h"

namespace nodealloc {
namespace {

constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

// Every key of the model is found with its value, and a key the model lacks is not.
void expect_agrees(const LiveTable& table, const std::map<std::uintptr_t, std::uintptr_t>& model,
                   std::uintptr_t absent) {
  for (const auto& [key, value] : model) ASSERT_EQ(table.find(key), value) << key;
  if (model.count(absent) == 0) {
    ASSERT_EQ(table.find(absent), 0u) << absent;
  }
}

TEST(LiveTable, AnEmptyTableFindsAndErasesNothing) {
  MemorySource source(os_platform(), kNoLimit);
  LiveTable table(source);
  EXPECT_EQ(table.find(0x1000), 0u);
  table.erase(0x1000);  // before the array exists
  EXPECT_TRUE(table.insert(0x2000, 7));
  table.erase(0x1000);  // a key that was never there
  EXPECT_EQ(table.find(0x2000), 7u);
  EXPECT_EQ(source.bytes_mapped(), page_size());
}

// Keys as large blocks' addresses are: page-aligned (plus a header's offset), so they differ in
// their high bits only and lean on the hash. Inserts and erases interleave so that the table
// grows several times and its probe runs are cut in every place.
TEST(LiveTable, AgreesWithAMapThroughInsertsAndErases) {
  MemorySource source(os_platform(), kNoLimit);
  std::map<std::uintptr_t, std::uintptr_t> model;
  {
    LiveTable table(source);
    std::uint64_t random = 0x9e3779b97f4a7c15ULL;
    auto next = [&random] {
      random ^= random << 13;
      random ^= random >> 7;
      random ^= random << 17;
      return random;
    };
    std::vector<std::uintptr_t> keys;
    for (int step = 0; step < 20000; ++step) {
      const std::uint64_t r = next();
      const bool erase = !keys.empty() && (r % 5 < 2 || keys.size() > 3000);
      if (erase) {
        const std::size_t index = (r >> 8) % keys.size();
        table.erase(keys[index]);
        model.erase(keys[index]);
        keys[index] = keys.back();
        keys.pop_back();
      } else {
        const std::uintptr_t key = 0x7f0000000000 + ((r >> 12) % (1u << 20)) * 4096 + 4096;
        if (model.count(key) != 0) continue;
        ASSERT_TRUE(table.insert(key, key ^ 0xff));
        model[key] = key ^ 0xff;
        keys.push_back(key);
      }
      if (step % 97 == 0) expect_agrees(table, model, 0x7f0000000000 + ((r >> 40) % (1u << 20)) * 4096 + 4096);
    }
    expect_agrees(table, model, 0x10);
    for (std::uintptr_t key : keys) table.erase(key);
    for (std::uintptr_t key : keys) ASSERT_EQ(table.find(key), 0u);
  }
  EXPECT_EQ(source.bytes_mapped(), 0u) << "the table unmaps its array";
}

// A table that cannot grow refuses the insert and keeps what it had.
TEST(LiveTable, AnInsertTheSourceCannotMakeRoomForFails) {
  MemorySource source(os_platform(), page_size());  // room for the first array only
  LiveTable table(source);
  const std::size_t fits = page_size() / (2 * sizeof(std::uintptr_t)) / 2;  // half of the first array
  for (std::size_t i = 1; i <= fits; ++i) ASSERT_TRUE(table.insert(i * 4096, i)) << i;
  EXPECT_FALSE(table.insert((fits + 1) * 4096, fits + 1));
  for (std::size_t i = 1; i <= fits; ++i) ASSERT_EQ(table.find(i * 4096), i) << i;
  EXPECT_EQ(table.find((fits + 1) * 4096), 0u);
}

}  // namespace
}  // namespace nodealloc
