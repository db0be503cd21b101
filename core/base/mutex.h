// Mutex: the lock of the allocator's slow paths (pool, large blocks, hardening tables, the list of
// thread caches). A default pthread mutex behind the lock()/unlock() that std::lock_guard takes.
//
// Not std::mutex: its lock() throws std::system_error when pthread_mutex_lock fails, which makes
// every object that takes a lock refer to the C++ runtime (std::__throw_system_error), and so
// ties the drop-in library, and every C program that preloads it, to libstdc++. A default mutex,
// statically initialised and locked only by a thread that does not hold it, cannot fail to lock
// (EINVAL, EAGAIN and EDEADLK are for other kinds of mutex or for misuse), so there is nothing to
// throw. Sanitizers (TSan's lock order, memcheck's helgrind) see pthread calls as they saw
// std::mutex's, which is a pthread mutex too.
#pragma once

#include <pthread.h>

namespace nodealloc {

class Mutex {
 public:
  constexpr Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() noexcept { pthread_mutex_lock(&mutex_); }
  void unlock() noexcept { pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_ = PTHREAD_MUTEX_INITIALIZER;
};

}  // namespace nodealloc
