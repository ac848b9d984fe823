// Storage for simulated frames, recycled last in, first out.
//
// A large fabric keeps hundreds of megabytes of frames in flight, far more
// than the caches hold. glibc's malloc hands chunks of a frame's size (4 KB)
// back oldest first, so every new frame was written into memory long evicted.
// Here the buffer a frame gets is the one most recently freed, per size class,
// usually still in the cache from the delivery that freed it. Under
// AddressSanitizer every buffer comes from operator new, so that a frame used
// after it was freed is still caught.
#pragma once

#include <cstddef>
#include <new>

namespace tern::sim {

class FrameBufferPool {
 public:
  // Buffers are pooled in classes of kClassBytes up to kMaxPooledBytes (a
  // 9000-byte jumbo frame and its headers); larger ones go to operator new.
  static constexpr size_t kClassBytes = 256;
  static constexpr size_t kMaxPooledBytes = 10240;

  // The calling thread's pool: simulations on different threads never share one.
  static FrameBufferPool& ForThisThread() {
    thread_local FrameBufferPool pool;
    return pool;
  }

  FrameBufferPool() = default;
  FrameBufferPool(const FrameBufferPool&) = delete;
  FrameBufferPool& operator=(const FrameBufferPool&) = delete;
  ~FrameBufferPool() {
    for (FreeBuffer*& head : free_) {
      while (head != nullptr) {
        FreeBuffer* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
  }

  void* Allocate(size_t bytes) {
    if (!Pooled(bytes)) return ::operator new(bytes);
    FreeBuffer*& head = free_[ClassOf(bytes)];
    if (head == nullptr) return ::operator new(ClassOf(bytes) * kClassBytes + kClassBytes);
    FreeBuffer* b = head;
    head = b->next;
    return b;
  }

  void Free(void* p, size_t bytes) {
    if (!Pooled(bytes)) {
      ::operator delete(p);
      return;
    }
    FreeBuffer*& head = free_[ClassOf(bytes)];
    head = new (p) FreeBuffer{head};
  }

 private:
  struct FreeBuffer {
    FreeBuffer* next;
  };
  static bool Pooled(size_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
    constexpr bool kSanitized = true;
#else
    constexpr bool kSanitized = false;
#endif
    return !kSanitized && bytes > 0 && bytes <= kMaxPooledBytes;
  }
  static size_t ClassOf(size_t bytes) { return (bytes - 1) / kClassBytes; }

  FreeBuffer* free_[kMaxPooledBytes / kClassBytes] = {};
};

// A std::allocator for frame bytes drawing on the thread's FrameBufferPool.
template <class T>
struct FrameBufferAllocator {
  using value_type = T;
  FrameBufferAllocator() = default;
  template <class U>
  FrameBufferAllocator(const FrameBufferAllocator<U>&) {}  // NOLINT: rebinding is implicit

  T* allocate(size_t n) {
    return static_cast<T*>(FrameBufferPool::ForThisThread().Allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) { FrameBufferPool::ForThisThread().Free(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const FrameBufferAllocator<U>&) const {
    return true;
  }
};

}  // namespace tern::sim
