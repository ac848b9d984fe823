// The receiver's pull pacer queue (TransportOptions::pull_window_packets): the
// connections owed pulls, each at most once, served first in, first out, so
// that the context's paced pulls go round-robin among them.
//
// Members are TransmitSchedule slots. Push and Pop run on the data path and
// never allocate: Reserve, on the set-up path, makes room for every slot.
#pragma once

#include <cstdint>
#include <vector>

#include "transport/transmit_schedule.h"

namespace tern {

class PullQueue {
 public:
  using Slot = TransmitSchedule::Slot;

  // Makes room for slots 0 .. slots - 1. Keeps the queue's order.
  void Reserve(size_t slots);
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  bool Contains(Slot slot) const { return slot < queued_.size() && queued_[slot]; }
  // Appends `slot`, which must be reserved and not queued.
  void Push(Slot slot);
  // Takes out the first slot; the queue must not be empty.
  Slot Pop();
  // Takes `slot` out wherever it is (a destroyed queue pair). Set-up path.
  void Remove(Slot slot);

 private:
  std::vector<Slot> ring_;       // count_ slots from head_, wrapping
  std::vector<uint8_t> queued_;  // by slot: in the ring
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace tern
