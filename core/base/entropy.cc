// See entropy.h.
#include "base/entropy.h"

#include <sys/auxv.h>
#include <sys/random.h>

#include <cstring>

namespace nodealloc {
namespace {

// splitmix64's finalizer: spreads AT_RANDOM's bits, so the word is not a copy of glibc's own
// stack-protector or pointer-guard words, which are taken from the same 16 bytes.
std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t entropy_word() noexcept {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof value)) {
    std::uint64_t bytes[2] = {0, 0};
    if (const auto random = getauxval(AT_RANDOM)) std::memcpy(bytes, reinterpret_cast<const void*>(random), sizeof bytes);
    value = mix(bytes[0] ^ mix(bytes[1]));
  }
  return value == 0 ? 0x9e3779b97f4a7c15ULL : value;
}

}  // namespace nodealloc
