// See options.h. Hand-written parsing into fixed buffers: no allocation, no locale, no stdio.
#include "base/options.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace nodealloc {
namespace {

constexpr std::size_t kMaxLine = 160;

// Appends `text` to line (cut at the buffer's end).
void append(char* line, std::size_t& length, const char* text, std::size_t count) {
  for (std::size_t i = 0; i < count && length + 1 < kMaxLine; ++i) line[length++] = text[i];
  line[length] = '\0';
}

void warn_about(void (*warn)(const char* line), const char* what, const char* entry, std::size_t entry_len) {
  char line[kMaxLine];
  std::size_t length = 0;
  line[0] = '\0';
  const char* prefix = "nodealloc: NODEALLOC_OPTIONS: ";
  append(line, length, prefix, std::strlen(prefix));
  append(line, length, what, std::strlen(what));
  append(line, length, " '", 2);
  append(line, length, entry, entry_len);
  const char* suffix = "' (ignored)";
  append(line, length, suffix, std::strlen(suffix));
  warn(line);
}

bool parse_value(const char* text, std::size_t length, bool& value) {
  if ((length == 1 && text[0] == '1') || (length == 4 && std::strncmp(text, "true", 4) == 0)) value = true;
  else if ((length == 1 && text[0] == '0') || (length == 5 && std::strncmp(text, "false", 5) == 0)) value = false;
  else return false;
  return true;
}

bool parse_value(const char* text, std::size_t length, unsigned& value) {
  unsigned base = 10;
  if (length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text += 2;
    length -= 2;
  }
  if (length == 0) return false;
  unsigned long long result = 0;
  for (std::size_t i = 0; i < length; ++i) {
    const char c = text[i];
    unsigned digit = 0;
    if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
    else return false;
    result = result * base + digit;
    if (result > 0xffffffffULL) return false;
  }
  value = static_cast<unsigned>(result);
  return true;
}

// Range checks beyond the type, by name.
bool in_range(const char* name, unsigned value) {
  if (std::strcmp(name, "fill_byte") == 0) return value <= 255;
  return true;
}
bool in_range(const char*, bool) { return true; }

void set_option(const char* entry, std::size_t entry_len, Options& options, void (*warn)(const char*)) {
  const char* equals = static_cast<const char*>(std::memchr(entry, '=', entry_len));
  if (equals == nullptr) return warn_about(warn, "no value in", entry, entry_len);
  const std::size_t name_len = static_cast<std::size_t>(equals - entry);
  const char* value = equals + 1;
  const std::size_t value_len = entry_len - name_len - 1;
#define NODEALLOC_OPTION(type, name, default_value, description)                               \
  if (name_len == sizeof(#name) - 1 && std::strncmp(entry, #name, name_len) == 0) {            \
    type parsed{};                                                                              \
    if (!parse_value(value, value_len, parsed) || !in_range(#name, parsed)) {                   \
      return warn_about(warn, "bad value in", entry, entry_len);                                \
    }                                                                                           \
    options.name = parsed;                                                                      \
    return;                                                                                     \
  }
#include "base/options.inc"
#undef NODEALLOC_OPTION
  warn_about(warn, "unknown option", entry, name_len);
}

void warn_to_stderr(const char* line) {
  const std::size_t length = std::strlen(line);
  if (::write(STDERR_FILENO, line, length) < 0) return;
  if (::write(STDERR_FILENO, "\n", 1) < 0) return;
}

Options process_options;
pthread_once_t options_once = PTHREAD_ONCE_INIT;

void read_process_options() { parse_options(std::getenv("NODEALLOC_OPTIONS"), process_options, warn_to_stderr); }

}  // namespace

void parse_options(const char* text, Options& options, void (*warn)(const char* line)) noexcept {
  if (text == nullptr) return;
  while (*text != '\0') {
    const char* end = std::strchr(text, ':');
    const std::size_t length = end != nullptr ? static_cast<std::size_t>(end - text) : std::strlen(text);
    if (length > 0) set_option(text, length, options, warn);
    text += length;
    if (*text == ':') ++text;
  }
}

const Options& options() noexcept {
  pthread_once(&options_once, read_process_options);
  return process_options;
}

}  // namespace nodealloc
