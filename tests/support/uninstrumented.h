// FUZZ_UNINSTRUMENTED: a function of the fuzz targets' own (their harness, their platform, the
// allocator model they share with the properties: allocator_model.h) that libFuzzer's coverage
// instrumentation leaves alone. For bulk loops over memory (zeroing pages, scanning them) and the
// model's predictions and sums, where every comparison would call __sanitizer_cov_trace_cmp8:
// that was most of a run's time for the loops, and a few percent for the model, and their
// branches say nothing about the allocator. ASan's checks (where the function has them) stay.
// Outside clang (the properties, the gcc replays) it is nothing.
#pragma once

#if defined(__clang__)
#define FUZZ_UNINSTRUMENTED __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_UNINSTRUMENTED
#endif
