// The receiver's record of which PSNs have arrived: a cumulative point (every
// PSN before it arrived) and a bitmap of arrivals in the window above it. It
// suppresses duplicates, bounds what the sender may have in flight (flow
// control) and builds the SACK bitmap of each ACK. The receiver keeps no
// packets: payload is placed on arrival, so arrival order does not matter.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "transport/sequence.h"
#include "transport/units.h"

namespace tern {

class ReceiveTracker {
 public:
  enum class Arrival : uint8_t {
    kNew,          // first arrival, inside the window
    kDuplicate,    // arrived before (or below the cumulative point)
    kOutOfWindow,  // beyond what flow control allowed: dropped
  };

  explicit ReceiveTracker(uint32_t window_packets);

  void Reset(Psn first_expected);

  // Classifies `psn` without recording it.
  Arrival Classify(Psn psn) const;
  // Records a kNew arrival; advances the cumulative point over what is now
  // contiguous. Returns true when `psn` opened a new hole (it is above the
  // highest PSN seen plus one).
  bool Record(Psn psn);
  // A duplicate of `psn` arrived: the sender has not heard of it, so the next
  // bitmap reports it again.
  void Rereport(Psn psn);

  Psn cumulative() const { return rcv_nxt_; }
  Psn highest() const { return highest_; }  // valid when !Empty()
  bool HasHoles() const { return any_ && PsnBefore(rcv_nxt_, highest_ + 1); }
  // Flow control: the sender may send PSNs before this.
  Psn window_end() const { return rcv_nxt_ + capacity(); }
  uint32_t capacity() const { return static_cast<uint32_t>(bits_.size() * 64); }

  // SACK bitmap of 128 PSNs from `*base`, for an ACK about to be sent. When
  // everything above the cumulative point fits, it starts there. Otherwise it
  // starts at the cumulative point when `at_cumulative` (so the oldest hole
  // keeps being reported missing, which is what recovers it), else at the
  // lowest arrival no bitmap has reported yet; the caller alternates. Every
  // arrival is reported at least once: a sender not told of one takes it for
  // lost once the loss threshold passes, and resends it for nothing.
  void BuildSack(bool at_cumulative, Psn* base, uint64_t (&bitmap)[2]);
  // True while some arrival has not been shown by a bitmap yet.
  bool HasUnreported() const { return unreported_count_ > 0; }

 private:
  bool Test(Psn psn) const;
  uint64_t Extract64(const std::vector<uint64_t>& ring, Psn from) const;
  void MarkUnreported(Psn psn);
  void MarkReported(Psn psn);
  // The lowest PSN above the cumulative point with its bit set in `unreported_`.
  std::optional<Psn> LowestUnreported() const;

  std::vector<uint64_t> bits_;  // bit (psn & mask) set: psn arrived, for psn >= rcv_nxt
  // Set: arrived above the cumulative point, and no bitmap has shown it since.
  std::vector<uint64_t> unreported_;
  uint32_t unreported_count_ = 0;  // bits set in unreported_: ACKs test it every time
  uint32_t mask_;
  Psn rcv_nxt_ = 0;
  Psn highest_ = 0;
  bool any_ = false;
};

// When the receiver sends an ACK: coalesced over `ack_every` packets or
// `ack_delay` after the first unacknowledged arrival; at once when the sender
// asks, a duplicate arrives (the sender's view is stale), a new hole opens, or
// a message completes.
class AckPolicy {
 public:
  AckPolicy(uint32_t ack_every, Duration ack_delay)
      : ack_every_(ack_every == 0 ? 1 : ack_every), ack_delay_(ack_delay) {}

  // Records an arrival that needs acknowledging.
  void OnArrival(Time now, bool immediate) {
    if (pending_ == 0) first_pending_at_ = now;
    ++pending_;
    if (immediate || pending_ >= ack_every_) due_ = true;
  }
  void RequestImmediate() { due_ = true; }
  // True when an ACK should go out at `now`.
  bool Due(Time now) const {
    return due_ || (pending_ > 0 && now >= first_pending_at_ + ack_delay_);
  }
  // When an ACK will be due by timer; Infinite when none is pending.
  Time Deadline() const {
    if (due_) return Time::Zero();
    return pending_ > 0 ? first_pending_at_ + ack_delay_ : Time::Infinite();
  }
  void OnAckSent() {
    pending_ = 0;
    due_ = false;
  }

 private:
  uint32_t ack_every_;
  Duration ack_delay_;
  uint32_t pending_ = 0;
  bool due_ = false;
  Time first_pending_at_;
};

}  // namespace tern
