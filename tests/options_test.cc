// Run-time options (core/base/options.h): the parser takes every entry of the table, keeps the
// defaults for what it is not told, and warns (one line each) about unknown names and bad values
// without giving up on the rest; the process reads NODEALLOC_OPTIONS, and the drop-in acts on it.
#include "base/options.h"

#include <gtest/gtest.h>

#include <unistd.h>

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

// Every spelling the table's types accept, and the ones just beside them.
TEST(Options, TheValueFormsOfEachType) {
  EXPECT_FALSE(parse("stats=1:stats=0").stats);
  EXPECT_TRUE(parse("stats=false:stats=true").stats);
  EXPECT_EQ(parse("fill_byte=0XaB").fill_byte, 0xabu);
  EXPECT_EQ(parse("fill_byte=0xCd").fill_byte, 0xcdu);
  EXPECT_EQ(parse("fill_byte=012").fill_byte, 12u);  // a leading zero is decimal, not octal
  EXPECT_EQ(parse("fill_byte=0").fill_byte, 0u);
  EXPECT_EQ(parse("quarantine_size=4294967295").quarantine_size, 4294967295u);
  EXPECT_EQ(parse("quarantine_size=0xffffffff").quarantine_size, 4294967295u);
  EXPECT_TRUE(warnings.empty());
}

TEST(Options, ValuesJustOutsideTheirTypeAreRejected) {
  const char* const bad[] = {
      "stats=2",    "stats=t",      "stats=trUe",     "stats=False",   "stats=11",     "stats=falsey", "stats=",
      "fill_byte=", "fill_byte=1a", "fill_byte=0x1g", "fill_byte=-1",  "fill_byte=0x",
      "quarantine_size=4294967296", "quarantine_size=0x100000000",  // one past 32 bits
  };
  for (const char* entry : bad) {
    const Options options = parse(entry);
    EXPECT_EQ(warnings, std::vector<std::string>{"nodealloc: NODEALLOC_OPTIONS: bad value in '" + std::string(entry) +
                                                 "' (ignored)"});
    EXPECT_FALSE(options.stats) << entry;
    EXPECT_EQ(options.fill_byte, 0xdfu) << entry;
    EXPECT_EQ(options.quarantine_size, 262144u) << entry;
  }
}

// A name of a known name's length, but not it, is unknown (the match is on the whole name).
TEST(Options, NamesMatchWhole) {
  const Options options = parse("statz=1:fill_bite=1:quarantine_sizx=1:fill_byte_=1:stat=1");
  EXPECT_FALSE(options.stats);
  EXPECT_EQ(options.fill_byte, 0xdfu);
  EXPECT_EQ(options.quarantine_size, 262144u);
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'statz' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'fill_bite' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'quarantine_sizx' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'fill_byte_' (ignored)",
                          "nodealloc: NODEALLOC_OPTIONS: unknown option 'stat' (ignored)",
                      }));
}

// A warning is one line of at most 159 characters (options.cc's fixed buffer): a longer entry is
// cut, and the line is still whole up to there.
TEST(Options, AWarningAboutALongEntryIsCut) {
  const std::string name(300, 'x');
  parse((name + "=1").c_str());
  ASSERT_EQ(warnings.size(), 1u);
  const std::string expected = "nodealloc: NODEALLOC_OPTIONS: unknown option '" + name;
  EXPECT_EQ(warnings[0], expected.substr(0, 159));
}

// The process's options, read in a fresh child ("threadsafe" death tests re-run the binary), so
// that nothing this process read before counts.
TEST(Options, TheProcessReadsNodeallocOptionsAndWarnsOnStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "fill_byte=0x41:colour=blue", 1);
        std::exit(options().fill_byte == 0x41 ? 0 : 1);  // exit: a coverage build writes its profile
      },
      ::testing::ExitedWithCode(0), "^nodealloc: NODEALLOC_OPTIONS: unknown option 'colour' \\(ignored\\)\n$");
}

// Warnings go to stderr; with stderr closed, the options are still read (and nothing fails).
TEST(Options, TheProcessReadsItsOptionsWithStderrClosed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("NODEALLOC_OPTIONS", "colour=blue:fill_byte=0x42", 1);
        close(STDERR_FILENO);
        std::exit(options().fill_byte == 0x42 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
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
