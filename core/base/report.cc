// See report.h. Formatting is done by hand into a fixed buffer: no printf, no allocation.
#include "base/report.h"

#include <span>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace nodealloc {
namespace {

// A fixed-size line buffer; text that does not fit is cut, never overflowed.
class ReportLine {
 public:
  void append(const char* text) noexcept {
    while (*text != '\0' && length_ < kCapacity) buffer_[length_++] = *text++;
  }

  void append_hex(std::uintmax_t value) noexcept {
    char digits[2 * sizeof value];
    int count = 0;
    do {
      digits[count++] = "0123456789abcdef"[value & 0xf];
      value >>= 4;
    } while (value != 0);
    append("0x");
    while (count > 0 && length_ < kCapacity) buffer_[length_++] = digits[--count];
  }

  void append_decimal(std::uintmax_t value) noexcept {
    char digits[24];
    int count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0 && length_ < kCapacity) buffer_[length_++] = digits[--count];
  }

  // `address` as file+offset when a file mapping of this process holds it, else in hex.
  void append_code(std::uintmax_t address) noexcept;

  // Writes the line and a newline to stderr, retrying short writes.
  void write_to_stderr() noexcept {
    buffer_[length_++] = '\n';  // kCapacity leaves room for it
    std::size_t written = 0;
    while (written < length_) {
      const ssize_t n = ::write(STDERR_FILENO, buffer_ + written, length_ - written);
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
  }

 private:
  static constexpr std::size_t kCapacity = 511;
  char buffer_[kCapacity + 1];
  std::size_t length_ = 0;
};

// The hex number at `text` (advanced past it).
std::uintmax_t parse_hex(const char*& text) noexcept {
  std::uintmax_t value = 0;
  for (;; ++text) {
    const char c = *text;
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return value;
    value = value * 16 + static_cast<std::uintmax_t>(digit);
  }
}

// One line of /proc/self/maps ("start-end perms offset dev inode path"): whether it maps
// `address` from a file, and then the file's basename and the address's offset in the file.
bool maps_from_file(const char* line, std::uintmax_t address, const char** name, std::uintmax_t* offset) noexcept {
  const std::uintmax_t start = parse_hex(line);
  if (*line++ != '-') return false;
  const std::uintmax_t end = parse_hex(line);
  if (address < start || address >= end) return false;
  for (int field = 0; field < 2; ++field) {  // past the permissions, to the offset
    while (*line != ' ' && *line != '\0') ++line;
    while (*line == ' ') ++line;
  }
  const std::uintmax_t file_offset = parse_hex(line);
  const char* path = std::strchr(line, '/');
  if (path == nullptr) return false;  // anonymous, [stack], [vdso]...
  const char* slash = std::strrchr(path, '/');
  *name = slash + 1;
  *offset = address - start + file_offset;
  return true;
}

std::atomic<FatalHook> fatal_hook{nullptr};

}  // namespace

const char* fatal_error_name(FatalError error) noexcept {
  switch (error) {
    case FatalError::kHeaderPositionOutOfBounds:
      return "header position out of bounds";
    case FatalError::kBufferIndexOutOfBounds:
      return "buffer index out of bounds";
    case FatalError::kInvalidFree:
      return "invalid free";
    case FatalError::kDoubleFree:
      return "double free";
    case FatalError::kCorruptedBackPointer:
      return "corrupted back-pointer";
    case FatalError::kCorruptedFreeList:
      return "corrupted free list";
    case FatalError::kAllocDeallocMismatch:
      return "alloc-dealloc mismatch";
    case FatalError::kSizedDeleteMismatch:
      return "sized delete mismatch";
    case FatalError::kSizedFreeMismatch:
      return "sized free mismatch";
    case FatalError::kWriteAfterFree:
      return "write after free";
    case FatalError::kHeapOverflow:
      return "heap buffer overflow";
    case FatalError::kBadAllocWithoutRuntime:
      return "bad_alloc without a C++ runtime";
  }
  return "unknown error";
}

// Reads /proc/self/maps with plain system calls, a line at a time in a fixed buffer (no
// allocation: the heap may be what broke). A line longer than the buffer is skipped.
void ReportLine::append_code(std::uintmax_t address) noexcept {
  const int file = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (file >= 0) {
    char chunk[1024];
    char line[512];
    std::size_t length = 0;
    bool overlong = false;
    for (ssize_t n; (n = ::read(file, chunk, sizeof chunk)) > 0;) {
      for (ssize_t i = 0; i < n; ++i) {
        if (chunk[i] != '\n') {
          if (length + 1 < sizeof line) line[length++] = chunk[i];
          else overlong = true;
          continue;
        }
        line[length] = '\0';
        const char* name = nullptr;
        std::uintmax_t offset = 0;
        if (!overlong && maps_from_file(line, address, &name, &offset)) {
          ::close(file);
          append(name);
          append("+");
          append_hex(offset);
          return;
        }
        length = 0;
        overlong = false;
      }
    }
    ::close(file);
  }
  append_hex(address);
}

// clang's profile runtime, linked only into -fprofile-instr-generate builds.
extern "C" int __llvm_profile_write_file(void) __attribute__((weak));

void report_fatal(FatalError error, const void* address,
                  std::initializer_list<FatalDetail> details) noexcept {
  report_fatal(error, address, details.begin(), details.size());
}

void report_fatal(FatalError error, const void* address, const FatalDetail* details, std::size_t count) noexcept {
  ReportLine line;
  line.append("nodealloc: fatal: ");
  line.append(fatal_error_name(error));
  line.append(" at ");
  line.append_hex(reinterpret_cast<std::uintptr_t>(address));
  const char* separator = " (";
  for (const FatalDetail& detail : std::span(details, count)) {
    line.append(separator);
    line.append(detail.name);
    line.append("=");
    switch (detail.format) {
      case FatalDetail::Format::kHex: line.append_hex(detail.value); break;
      case FatalDetail::Format::kText: line.append(detail.text != nullptr ? detail.text : "?"); break;
      case FatalDetail::Format::kDecimal: line.append_decimal(detail.value); break;
      case FatalDetail::Format::kCode: line.append_code(detail.value); break;
    }
    separator = ", ";
  }
  if (count != 0) line.append(")");
  line.write_to_stderr();
  if (FatalHook hook = fatal_hook.load(std::memory_order_acquire)) hook(error, address);
  // A source-coverage build (tools/coverage) writes its profile at exit, which abort() skips: the
  // death tests' children would count for nothing. Null in every other build.
  if (__llvm_profile_write_file != nullptr) __llvm_profile_write_file();
  std::abort();
}

void set_fatal_hook(FatalHook hook) noexcept { fatal_hook.store(hook, std::memory_order_release); }

}  // namespace nodealloc
