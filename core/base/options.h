// Run-time options: one table (options.inc) with types, defaults and descriptions, read once from
// the environment variable NODEALLOC_OPTIONS, "name=value:name=value" (scudo's SCUDO_OPTIONS is
// the model).
//
// The parse allocates nothing and takes no lock the allocator holds: it runs while the first
// heap is being built, before the C++ runtime may be up. An unknown name or a bad value prints
// one line to stderr (write(2)) naming it, and is otherwise ignored: a typo never stops a program.
// Compile-time tunables are base/config.h's; this table holds only what a user may change per run.
#pragma once

namespace nodealloc {

struct Options {
#define NODEALLOC_OPTION(type, name, default_value, description) type name = default_value;
#include "base/options.inc"
#undef NODEALLOC_OPTION
};

// Parses `text` into `options` (fields it does not name keep their values), calling `warn` with
// one line (no newline) for each entry it ignores. `text` may be null.
void parse_options(const char* text, Options& options, void (*warn)(const char* line)) noexcept;

// The process's options: NODEALLOC_OPTIONS, parsed on the first call (warnings to stderr).
const Options& options() noexcept;

}  // namespace nodealloc
