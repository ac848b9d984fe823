#include "transport/pull_queue.h"

#include <cassert>

namespace tern {

void PullQueue::Reserve(size_t slots) {
  if (slots <= ring_.size()) return;
  std::vector<Slot> ring(slots);
  for (size_t i = 0; i < count_; ++i) ring[i] = ring_[(head_ + i) % ring_.size()];
  ring_ = std::move(ring);
  head_ = 0;
  queued_.resize(slots, 0);
}

void PullQueue::Push(Slot slot) {
  assert(slot < queued_.size() && !queued_[slot] && count_ < ring_.size());
  ring_[(head_ + count_) % ring_.size()] = slot;
  ++count_;
  queued_[slot] = 1;
}

PullQueue::Slot PullQueue::Pop() {
  assert(count_ > 0);
  const Slot slot = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --count_;
  queued_[slot] = 0;
  return slot;
}

void PullQueue::Remove(Slot slot) {
  if (!Contains(slot)) return;
  size_t kept = 0;
  for (size_t i = 0; i < count_; ++i) {
    const Slot s = ring_[(head_ + i) % ring_.size()];
    if (s != slot) ring_[(head_ + kept++) % ring_.size()] = s;
  }
  count_ = kept;
  queued_[slot] = 0;
}

}  // namespace tern
