// The entropy source (core/base/entropy.h): fresh words from getrandom(), and, when getrandom()
// fails, the fallback on the 16 bytes the kernel gave the process at exec (AT_RANDOM), hashed.
// The fallback is reached for real: a child process installs a seccomp filter that makes
// getrandom() fail with ENOSYS, as an old kernel or a sandbox would.
#include "base/entropy.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace nodealloc {
namespace {

// Makes every getrandom() of this process (and its children) fail with ENOSYS. False when the
// kernel refuses the filter.
bool deny_getrandom() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Whether this machine lets a process install the filter (a container may not).
bool seccomp_available() {
  const pid_t child = fork();
  if (child == 0) _exit(deny_getrandom() ? 0 : 1);
  int status = 0;
  return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(Entropy, WordsFromGetrandomAreFresh) {
  const std::uint64_t first = entropy_word();
  const std::uint64_t second = entropy_word();
  EXPECT_NE(first, 0u);
  EXPECT_NE(second, 0u);
  EXPECT_NE(first, second) << "two words from getrandom() (equal once in 2^64)";
}

// Without getrandom: a word that is not zero, the same at every call (one source), and not a
// copy of either of AT_RANDOM's words, which glibc takes its stack and pointer guards from.
TEST(Entropy, WithoutGetrandomTheWordComesFromAtRandom) {
  if (!seccomp_available()) GTEST_SKIP() << "this machine does not allow seccomp filters";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (!deny_getrandom()) std::exit(2);
        std::uint64_t probe = 0;
        if (getrandom(&probe, sizeof probe, GRND_NONBLOCK) != -1 || errno != ENOSYS) std::exit(3);
        std::uint64_t at_random[2];
        std::memcpy(at_random, reinterpret_cast<const void*>(getauxval(AT_RANDOM)), sizeof at_random);
        const std::uint64_t word = entropy_word();
        const bool ok = word != 0 && entropy_word() == word && word != at_random[0] && word != at_random[1];
        std::exit(ok ? 0 : 1);  // exit, not _exit: a coverage build writes its profile at exit
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace nodealloc
