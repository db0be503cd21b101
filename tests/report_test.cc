// The one way nodealloc dies (core/base/report.h), at its edges: a line longer than its buffer is
// cut, never overflowed; a code address that no file maps, or that cannot be looked up (no file
// descriptor left, a maps line too long to read), is printed in hex; a report with stderr closed
// still aborts. Each case runs in a death test's child, since report_fatal() never returns.
#include "base/report.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace nodealloc {
namespace {

constexpr std::size_t kLineCapacity = 511;  // report.cc's ReportLine, before its newline

// A function of this program, as a code address a file mapping holds.
[[gnu::noinline]] void some_code() { asm volatile(""); }

TEST(Report, EveryErrorHasItsOwnName) {
  std::set<std::string> names;
  for (unsigned e = 0; e <= static_cast<unsigned>(FatalError::kBadAllocWithoutRuntime); ++e) {
    const std::string name = fatal_error_name(static_cast<FatalError>(e));
    EXPECT_NE(name, "unknown error") << e;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<unsigned>(FatalError::kBadAllocWithoutRuntime) + 1);
  EXPECT_STREQ(fatal_error_name(static_cast<FatalError>(0x7f)), "unknown error");
}

TEST(Report, ALineLongerThanItsBufferIsCut) {
  const std::string prefix = "nodealloc: fatal: invalid free at 0x1234 (text=";
  const std::string text(600, 'x');
  // The decimal and hex details after the text find the line full: cut, not written past it.
  const std::string expected = "^nodealloc: fatal: invalid free at 0x1234 \\(text=x{" +
                               std::to_string(kLineCapacity - prefix.size()) + "}\n$";
  EXPECT_DEATH(report_fatal(FatalError::kInvalidFree, reinterpret_cast<const void*>(0x1234),
                            {FatalDetail::word("text", text.c_str()), {"count", 123456789},
                             FatalDetail::address("word", 0xabcdef)}),
               expected);
}

TEST(Report, ATextDetailWithoutTextPrintsAQuestionMark) {
  EXPECT_DEATH(report_fatal(FatalError::kDoubleFree, nullptr, {FatalDetail::word("freed", nullptr)}),
               "^nodealloc: fatal: double free at 0x0 \\(freed=\\?\\)\n$");
}

TEST(Report, ACodeAddressIsAFileAndOffsetWhenAFileMapsIt) {
  const auto code = reinterpret_cast<std::uintptr_t>(&some_code);
  EXPECT_DEATH(report_fatal(FatalError::kDoubleFree, nullptr, {FatalDetail::code("at", code)}),
               "\\(at=report_test\\+0x[0-9a-f]+\\)\n$");
}

TEST(Report, ACodeAddressNoFileMapsIsHex) {
  int on_the_stack = 0;
  const auto address = reinterpret_cast<std::uintptr_t>(&on_the_stack);
  EXPECT_DEATH(report_fatal(FatalError::kDoubleFree, nullptr, {FatalDetail::code("at", address)}),
               "\\(at=0x[0-9a-f]+\\)\n$");
}

// No file may be opened (the soft limit at zero) until the report is written: then the fatal
// hook gives the limit back, so that what runs before abort() (a coverage build's profile) may.
rlimit saved_file_limit;
void open_no_more_files() {
  getrlimit(RLIMIT_NOFILE, &saved_file_limit);
  rlimit none = saved_file_limit;
  none.rlim_cur = 0;
  setrlimit(RLIMIT_NOFILE, &none);
  set_fatal_hook([](FatalError, const void*) { setrlimit(RLIMIT_NOFILE, &saved_file_limit); });
}

// /proc/self/maps cannot be opened when the process may open no more files: hex, and still one line.
TEST(Report, ACodeAddressIsHexWhenTheMapsCannotBeRead) {
  const auto code = reinterpret_cast<std::uintptr_t>(&some_code);
  EXPECT_DEATH(
      {
        open_no_more_files();
        report_fatal(FatalError::kDoubleFree, nullptr, {FatalDetail::code("at", code)});
      },
      "^nodealloc: fatal: double free at 0x0 \\(at=0x[0-9a-f]+\\)\n$");
}

// A maps line longer than report.cc's line buffer (a file with a path of over 600 characters) is
// skipped, not cut and misread: an address in that file is printed in hex.
TEST(Report, AMapsLineTooLongToReadIsSkipped) {
  char directory[] = "/tmp/report_test.XXXXXX";
  ASSERT_NE(mkdtemp(directory), nullptr);
  std::string path = directory;
  std::vector<std::string> made;
  for (int level = 0; level < 3; ++level) {
    path += "/" + std::string(200, static_cast<char>('a' + level));
    ASSERT_EQ(mkdir(path.c_str(), 0700), 0) << path;
    made.push_back(path);
  }
  const std::string file = path + "/mapped";
  const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  void* mapping = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(mapping, MAP_FAILED);
  close(fd);
  const auto address = reinterpret_cast<std::uintptr_t>(mapping) + 16;
  EXPECT_DEATH(report_fatal(FatalError::kDoubleFree, nullptr, {FatalDetail::code("at", address)}),
               "\\(at=0x[0-9a-f]+\\)\n$");
  munmap(mapping, 4096);
  unlink(file.c_str());
  for (auto level = made.rbegin(); level != made.rend(); ++level) rmdir(level->c_str());
  rmdir(directory);
}

// The report cannot be written: the process dies all the same, by the same signal.
TEST(Report, WithStderrClosedItStillAborts) {
  EXPECT_EXIT(
      {
        close(STDERR_FILENO);
        report_fatal(FatalError::kDoubleFree, nullptr);
      },
      ::testing::KilledBySignal(SIGABRT), "");
}

}  // namespace
}  // namespace nodealloc
