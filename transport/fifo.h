// A ring buffer that grows, for the simulator's links and the verbs
// completion queues.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

namespace tern {

// A FIFO that allocates nothing until used and then only as many slots as it
// has held at once, rounded up to a power of two. std::deque allocates about
// 600 bytes at construction, too much for a fabric with 10^5 link directions;
// a vector sized for the worst case, too much for a host's completion queues
// on a 1024-host all-to-all. Few slots also keep a busy ring cached: a vector
// with a sliding head, compacted every 64 pops, cycled through 64 or more.
template <typename T>
class Fifo {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T& front() { return slots_[head_]; }
  void push_back(T item) {
    if (size_ == slots_.size()) Grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(item);
    ++size_;
  }
  // Takes memory for `n` items now rather than as they come.
  void reserve(size_t n) {
    while (slots_.size() < n) Grow();
  }
  void pop_front() {
    // Free what the slot holds now, not when it is reused.
    if constexpr (!std::is_trivially_destructible_v<T>) slots_[head_] = T();
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }

 private:
  void Grow() {
    std::vector<T> bigger(slots_.empty() ? 4 : 2 * slots_.size());
    for (size_t i = 0; i < size_; ++i) {
      bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    }
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // empty, or a power of two long
  size_t head_ = 0;       // the front's slot
  size_t size_ = 0;
};

}  // namespace tern
