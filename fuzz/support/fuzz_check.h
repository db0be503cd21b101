// FUZZ_CHECK: the harnesses' assertion. A failed check prints the expression and its place and
// aborts, which libFuzzer and the replay main both treat as a crash. It is on in every build
// (unlike assert, which NDEBUG removes).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                           \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "fuzz check failed: %s at %s:%d\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
