// Which queue pairs a transmit poll visits, and in what order: a min-heap of
// members keyed by when each next has work, so a poll costs in proportion to
// the members that are due rather than to all of them.
//
// Members are slots (small integers) the owner maps to its objects; the
// schedule knows nothing of connections. Ordering never depends on addresses:
// ties go to the member inserted first, so a simulation replays exactly.
//
// Fairness: a member gets turns of up to `packets_per_turn` packets in a row.
// When its turn ends it is ordered no earlier than the time it was served, so
// it goes behind every member that was due before then (round-robin among
// the due, FIFO by the time each became due). Its own wakeup may be older
// than that (an unpaced connection's is a past pacing time) and must not let
// it jump the queue. Turns longer than one packet keep a queue pair's state
// in cache across several packets and let the receiver coalesce their ACKs:
// with a thousand active queue pairs, a packet round-robin reaches a quarter
// of one pair's packet rate, turns of 16 about 0.6 (docs/dpdk.md).
#pragma once

#include <cstdint>
#include <vector>

#include "transport/units.h"

namespace tern {

class TransmitSchedule {
 public:
  using Slot = uint32_t;

  explicit TransmitSchedule(uint32_t packets_per_turn = 1) : packets_per_turn_(packets_per_turn) {}

  // Adds a member with nothing to do (wakeup Infinite). Slots of removed
  // members are reused. The only call that allocates: the others run on the
  // data path.
  Slot Add();
  // Forgets the member; `slot` may be handed out again by Add.
  void Remove(Slot slot);

  // The member's work is due at `wakeup` (Infinite: none). Cheap when that
  // leaves its place unchanged.
  void Set(Slot slot, Time wakeup);
  // Packets the member may still send in its current turn (at least one).
  uint32_t TurnLeft(Slot slot) const { return packets_per_turn_ - members_[slot].sent_this_turn; }
  // The popped member sent `packets` (at most TurnLeft) at `now` and next has
  // work at `wakeup`. While its turn lasts and it has work now, it keeps the
  // place it was popped from; otherwise it goes behind every member due at or
  // before `now`.
  void Served(Slot slot, Time now, Time wakeup, uint32_t packets = 1);
  // Takes out the first member due at `now` (whose wakeup is at or before
  // it); false when none is. The caller gives it back with Set or Served.
  bool PopDue(Time now, Slot* slot);

  // When the first member is due. Equal to the earliest wakeup when that lies
  // after every `now` passed to Served; otherwise at or before the latest such
  // `now`, so "due at t" reads the same for every t from then on. Infinite
  // when every member is idle.
  Time NextWakeup() const;
  // Members waiting for a wakeup (not idle, not popped).
  size_t scheduled() const { return heap_.size(); }

 private:
  static constexpr uint32_t kNotQueued = UINT32_MAX;
  struct Member {
    Time key;            // max(wakeup, served_at): the heap's order
    uint64_t order = 0;  // tie-break: insertion order
    Time served_at;      // when the member's last turn ended
    uint32_t heap_index = kNotQueued;
    uint32_t sent_this_turn = 0;
    bool in_use = false;
  };

  bool Before(Slot a, Slot b) const;
  void Insert(Slot slot, Time key);
  void Reinsert(Slot slot);  // with the key and order it had
  void Erase(Slot slot);
  void SiftUp(uint32_t index);
  void SiftDown(uint32_t index);
  void Place(uint32_t index, Slot slot);

  std::vector<Member> members_;
  std::vector<Slot> free_;
  std::vector<Slot> heap_;  // binary min-heap of slots by (key, order)
  uint64_t next_order_ = 0;
  uint32_t packets_per_turn_;
};

}  // namespace tern
