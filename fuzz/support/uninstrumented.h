// FUZZ_UNINSTRUMENTED: a harness function libFuzzer's coverage instrumentation leaves alone. For
// bulk loops over memory (zeroing pages, scanning them), where every comparison of the loop would
// call __sanitizer_cov_trace_cmp8: that was most of a run's time, and their branches say nothing
// about the allocator. ASan's checks (where the function has them) stay.
#pragma once

#if defined(__clang__)
#define FUZZ_UNINSTRUMENTED __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_UNINSTRUMENTED
#endif
