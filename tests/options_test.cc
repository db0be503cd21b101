// Run-time options (core/base/options.h): the parser takes every entry of the table, keeps the
// defaults for what it is not told, and warns (one line each) about unknown names and bad values
// without giving up on the rest; the process reads NODEALLOC_OPTIONS, and the drop-in acts on it.
#include "base/options.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/mitigations.h"
#include "heap/allocator.h"

namespace nodealloc {
namespace {

std::vector<std::string> warnings;
void collect(const char* line) { warnings.emplace_back(line); }

Options parse(const char* text) {
  warnings.clear();
  Options options;
  parse_options(text, options, collect);
  return options;
}

TEST(Options, DefaultsComeFromTheTable) {
  const Options options = parse(nullptr);
  EXPECT_FALSE(options.stats);
  EXPECT_EQ(options.fill_byte, 0xdfu);
  EXPECT_EQ(options.quarantine_size, 262144u);
  EXPECT_TRUE(warnings.empty());
}

TEST(Options, EveryFormOfValue) {
  const Options options = parse("stats=1:fill_byte=0x41");
  EXPECT_TRUE(options.stats);
  EXPECT_EQ(options.fill_byte, 0x41u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(parse("stats=true").stats);
  EXPECT_FALSE(parse("stats=1:stats=false").stats);  // the last one counts
  EXPECT_EQ(parse("fill_byte=200").fill_byte, 200u);
  EXPECT_EQ(parse("::fill_byte=7::").fill_byte, 7u);  // empty entries are nothing
  EXPECT_EQ(parse("quarantine_size=0").quarantine_size, 0u);
  EXPECT_EQ(parse("quarantine_size=0x100000").quarantine_size, 1u << 20);
  EXPECT_TRUE(warnings.empty());
}

TEST(Options, UnknownNamesAndBadValuesAreNamedAndIgnored) {
  const Options options = parse("stat=1:fill_byte=300:stats=yes:fill_byte:fill_byte=0x:fill_byte=12");
  EXPECT_FALSE(options.stats);
  EXPECT_EQ(options.fill_byte, 12u);  // what follows a bad entry still counts
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'stat' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: bad value in 'fill_byte=300' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: bad value in 'stats=yes' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: no value in 'fill_byte' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: bad value in 'fill_byte=0x' (ignored)",
                      }));
}

// The process's options, read in a fresh child ("threadsafe" death tests re-run the binary), so
// that nothing this process read before counts.
TEST(Options, TheProcessReadsNodeallocOptionsAndWarnsOnStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "fill_byte=0x41:colour=blue", 1);
        std::_Exit(options().fill_byte == 0x41 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "^nodealloc: NODEALLOC_OPTIONS: unknown option 'colour' \\(ignored\\)\n$");
}

// fill_byte is what kFreedFill fills with (full preset only).
TEST(Options, TheFillByteIsTheFreedFill) {
  if (!enabled(Mitigation::kFreedFill)) GTEST_SKIP() << "kFreedFill is off (full preset only)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "fill_byte=0x41", 1);
        Allocator allocator;  // the first instance in this child: it reads the option
        ThreadCache* cache = allocator.claim_cache();
        auto* block = static_cast<unsigned char*>(allocator.allocate(*cache, 64));
        allocator.deallocate(*cache, block);
        block = static_cast<unsigned char*>(allocator.allocate(*cache, 64));
        std::_Exit(block[8] == 0x41 && block[63] == 0x41 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace nodealloc
