#include "transport/transmit_schedule.h"

#include <algorithm>

namespace tern {

TransmitSchedule::Slot TransmitSchedule::Add() {
  Slot slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<Slot>(members_.size());
    members_.emplace_back();
    // The heap and the free list never hold more than every member.
    heap_.reserve(members_.capacity());
    free_.reserve(members_.capacity());
  }
  members_[slot] = Member{};
  members_[slot].in_use = true;
  return slot;
}

void TransmitSchedule::Remove(Slot slot) {
  Erase(slot);
  members_[slot].in_use = false;
  free_.push_back(slot);
}

void TransmitSchedule::Set(Slot slot, Time wakeup) {
  Member& m = members_[slot];
  if (m.heap_index == kNotQueued) {
    // The common case of a member with nothing to do, kept cheap: most
    // updates of a context's schedule of ACKs are that.
    m.sent_this_turn = 0;
    if (!wakeup.IsInfinite()) Insert(slot, std::max(wakeup, m.served_at));
    return;
  }
  const Time key = wakeup.IsInfinite() ? wakeup : std::max(wakeup, m.served_at);
  if (m.key == key) return;
  m.sent_this_turn = 0;
  Erase(slot);
  if (!key.IsInfinite()) Insert(slot, key);
}

void TransmitSchedule::Served(Slot slot, Time now, Time wakeup, uint32_t packets) {
  Member& m = members_[slot];
  m.sent_this_turn += packets;
  if (m.sent_this_turn < packets_per_turn_ && wakeup <= now && m.heap_index == kNotQueued) {
    Reinsert(slot);
    return;
  }
  m.sent_this_turn = 0;
  m.served_at = std::max(m.served_at, now);
  // Always a fresh place: behind the members already due at `now`, even when
  // the key is the one it had.
  Erase(slot);
  if (!wakeup.IsInfinite()) Insert(slot, std::max(wakeup, m.served_at));
}

bool TransmitSchedule::PopDue(Time now, Slot* slot) {
  if (heap_.empty() || members_[heap_[0]].key > now) return false;
  *slot = heap_[0];
  Erase(*slot);
  return true;
}

Time TransmitSchedule::NextWakeup() const {
  return heap_.empty() ? Time::Infinite() : members_[heap_[0]].key;
}

bool TransmitSchedule::Before(Slot a, Slot b) const {
  const Member& x = members_[a];
  const Member& y = members_[b];
  return x.key != y.key ? x.key < y.key : x.order < y.order;
}

void TransmitSchedule::Insert(Slot slot, Time key) {
  Member& m = members_[slot];
  m.key = key;
  m.order = next_order_++;
  m.heap_index = static_cast<uint32_t>(heap_.size());
  heap_.push_back(slot);
  SiftUp(m.heap_index);
}

void TransmitSchedule::Reinsert(Slot slot) {
  Member& m = members_[slot];
  m.heap_index = static_cast<uint32_t>(heap_.size());
  heap_.push_back(slot);
  SiftUp(m.heap_index);
}

void TransmitSchedule::Erase(Slot slot) {
  const uint32_t index = members_[slot].heap_index;
  if (index == kNotQueued) return;
  members_[slot].heap_index = kNotQueued;
  const Slot last = heap_.back();
  heap_.pop_back();
  if (index == heap_.size()) return;
  Place(index, last);
  // The moved member may belong above or below its new position.
  SiftUp(index);
  SiftDown(members_[last].heap_index);
}

void TransmitSchedule::SiftUp(uint32_t index) {
  const Slot slot = heap_[index];
  while (index > 0) {
    const uint32_t parent = (index - 1) / 2;
    if (!Before(slot, heap_[parent])) break;
    Place(index, heap_[parent]);
    index = parent;
  }
  Place(index, slot);
}

void TransmitSchedule::SiftDown(uint32_t index) {
  const Slot slot = heap_[index];
  const auto size = static_cast<uint32_t>(heap_.size());
  while (true) {
    uint32_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && Before(heap_[child + 1], heap_[child])) ++child;
    if (!Before(heap_[child], slot)) break;
    Place(index, heap_[child]);
    index = child;
  }
  Place(index, slot);
}

void TransmitSchedule::Place(uint32_t index, Slot slot) {
  heap_[index] = slot;
  members_[slot].heap_index = index;
}

}  // namespace tern
