// A small program that misuses the heap one way, chosen by its argument, for the misuse suite:
// run with the hardened drop-in preloaded (run-misuse-program), it must die by SIGABRT with
// nodealloc's one-line report, as a user's program would. Nothing here knows about nodealloc: it
// is the plain C and C++ heap API. The pointers go through opaque() so the compiler neither warns
// about the misuse (the build treats warnings as errors) nor optimizes it away.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

// The misuse is the point of this program: g++ 12's -Wall sees some of it through opaque().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif

// C23's sized free: glibc 2.36 does not have it, the drop-in exports it. Weak, so that the
// program links without nodealloc; preloaded, the drop-in's is found.
extern "C" void free_sized(void* block, std::size_t size) __attribute__((weak));

namespace {

template <class T>
T* opaque(T* pointer) {
  asm volatile("" : "+r"(pointer));
  return pointer;
}

void use(void* pointer) { asm volatile("" : : "r"(pointer) : "memory"); }

int run(const std::string& misuse) {
  if (misuse == "double-free") {
    void* block = opaque(std::malloc(24));
    std::free(block);
    std::free(opaque(block));
  } else if (misuse == "free-of-new-array") {
    int* numbers = opaque(new int[4]);
    std::free(numbers);
  } else if (misuse == "delete-of-malloc") {
    auto* number = opaque(static_cast<int*>(std::malloc(sizeof(int))));
    delete number;
  } else if (misuse == "sized-delete-wrong-size") {
    void* block = ::operator new(40);
    ::operator delete(opaque(block), 4000);
  } else if (misuse == "write-after-free") {
    void* keep = std::malloc(64);
    auto* block = opaque(static_cast<unsigned char*>(std::malloc(64)));
    std::free(block);
    std::memset(opaque(block), 0x41, 64);
    for (int i = 0; i < 3; ++i) use(std::malloc(64));
    use(keep);
  } else if (misuse == "forged-link") {
    // The classic free-list poisoning: the freed block's link is made to name a chosen address.
    alignas(16) static unsigned char target[64];
    void* chosen = target + 16;
    void* first = std::malloc(8);
    auto* second = opaque(static_cast<void**>(std::malloc(8)));
    std::free(first);
    std::free(second);
    std::memcpy(opaque(second), &chosen, sizeof chosen);
    void* a = std::malloc(8);
    void* b = std::malloc(8);
    std::printf("handed out %p and %p\n", a, b);  // reached only if the forgery went unseen
    if (a == chosen || b == chosen) return 3;     // and worked
  } else if (misuse == "large-double-free-after-reuse") {
    // Freed, its size allocated again (the OS would hand out the same address), freed again.
    void* block = opaque(std::malloc(1 << 20));
    std::free(block);
    void* again = std::malloc(1 << 20);
    use(again);
    std::free(opaque(block));
    std::printf("the second free went unseen (new block %p)\n", again);
  } else if (misuse == "back-pointer-copied") {
    // An overflow that copies a live neighbour's back-pointer word over a freed block's, so that
    // freeing it again would pass as a valid free.
    auto* live = opaque(static_cast<unsigned char*>(std::malloc(40)));
    auto* freed = opaque(static_cast<unsigned char*>(std::malloc(40)));
    std::free(freed);
    std::memcpy(opaque(freed) - 8, live - 8, 8);
    std::free(opaque(freed));
  } else if (misuse == "off-by-one") {
    // The classic off-by-one: a string of 40 characters and its terminator in 40 bytes.
    auto* text = opaque(static_cast<char*>(std::malloc(40)));
    std::memset(text, 'x', 40);
    opaque(text)[40] = '\0';
    std::free(text);
  } else if (misuse == "free-sized-wrong-size") {
    if (free_sized == nullptr) return 2;  // not preloaded
    void* block = std::malloc(40);
    free_sized(opaque(block), 4000);
  } else if (misuse == "invalid-free") {
    int local = 0;
    std::free(opaque(&local));
  } else {
    std::fprintf(stderr, "unknown misuse %s\n", misuse.c_str());
    return 2;
  }
  return 0;  // the misuse went unreported
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <misuse>\n", argv[0]);
    return 2;
  }
  return run(argv[1]);
}
