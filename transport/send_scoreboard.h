// The sender's view of every packet between the oldest unacknowledged PSN and
// the next new one: what each carried, where and when it was last sent, and
// whether it is in flight, acknowledged or lost. It applies ACKs (cumulative
// point plus a 128-PSN SACK bitmap) and decides from each ACK which packets it
// proves lost, tolerating the reordering that spraying creates.
//
// A packet in flight is declared lost when an ACK covers it (below its
// cumulative point or inside its bitmap), reports it missing, and either
//  * path order: the same ACK reports a packet sent after it on the same path
//    (paths are FIFO, so it would have arrived first), or
//  * time: it has been out longer than `threshold` (the slowest recent RTT plus
//    a reordering allowance), so it would have arrived by the time the ACK was
//    generated. This catches a path that lost everything.
// It is also declared lost, covered or not, by
//  * send order (RACK, RFC 8985): some transmission sent after it has been
//    delivered, and it has been out longer than `threshold`. The bitmap spans
//    128 PSNs, so a run of losses longer than that, or one behind a long
//    SACKed stretch, is reported missing by no ACK; without this rule each
//    such packet waited for a tail-loss probe of its own.
// Delivery is positive evidence, so the rules stay sound when ACKs themselves
// are reordered on their way back. There is no duplicate-ACK counting: under
// spraying nearly every ACK is a "duplicate". Timeouts are the connection's.
//
// Slots live in a power-of-two ring indexed by PSN.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "transport/sequence.h"
#include "transport/units.h"

namespace tern {

enum class SlotState : uint8_t { kFree, kInFlight, kLost, kAcked };
// Which of the connection's queues a packet's message lives in.
enum class SlotSource : uint8_t { kSendQueue, kReadResponse };

struct TxSlot {
  Time sent_at;           // last transmission
  uint64_t payload_addr;  // first payload byte (registered memory or inline copy)
  uint32_t offset;        // of the payload within its message
  uint32_t path_seq;      // transmission order on its path (last transmission)
  uint16_t message;       // index of the message in its source queue
  uint16_t length;        // payload bytes
  uint16_t path;          // path index of the last transmission
  uint16_t entropy;       // its entropy: the path index's only until a timeout re-paths
  SlotState state;
  SlotSource source;
  uint8_t transmissions;
  uint8_t flags;  // TernFlag bits that belong to the packet (first/last/ack request)
};
static_assert(sizeof(TxSlot) == 40, "TxSlot is per-packet NIC state: keep it small");

// Bits in an ACK's SACK bitmap (AckHeader::sack_bitmap).
inline constexpr uint32_t kSackBitmapBits = 128;

class SendScoreboard {
 public:
  // The ring starts at 16 slots and doubles as outstanding packets fill it,
  // up to the window; `full_size` takes the whole window at once.
  SendScoreboard(uint32_t window_packets, uint16_t paths, bool full_size = false);

  // Starts the sequence at `first` with nothing outstanding.
  void Reset(Psn first);

  Psn snd_una() const { return snd_una_; }
  Psn snd_nxt() const { return snd_nxt_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t outstanding() const { return snd_nxt_ - snd_una_; }
  bool HasRoom() const { return outstanding() < capacity(); }
  bool Empty() const { return snd_una_ == snd_nxt_; }
  uint64_t bytes_in_flight() const { return bytes_in_flight_; }
  uint32_t packets_in_flight() const { return packets_in_flight_; }

  TxSlot& slot(Psn psn) { return slots_[psn & mask_]; }
  const TxSlot& slot(Psn psn) const { return slots_[psn & mask_]; }
  bool Contains(Psn psn) const { return PsnAtOrBefore(snd_una_, psn) && PsnBefore(psn, snd_nxt_); }

  // Claims snd_nxt for a new packet described by `slot` (its timing and path
  // fields are filled by OnTransmit) and returns its PSN. Requires HasRoom().
  Psn Append(const TxSlot& slot);

  // Records a (re)transmission of `psn` on `path`, whose entropy is now
  // `entropy`, at `now`.
  void OnTransmit(Psn psn, uint16_t path, uint16_t entropy, Time now);

  struct AckResult {
    uint32_t acked = 0;
    uint32_t lost = 0;
  };

  // Applies an ACK received at `now`. Calls on_acked(psn, slot) once for
  // every packet it newly acknowledges (before the slot's state changes, so the
  // callback sees whether it was in flight or already declared lost), then
  // on_lost(psn, slot) for every packet it proves lost (the slot is then
  // kLost, awaiting retransmission), then advances snd_una.
  // `min_rtt` tells a retransmission's delivery from its original's (see
  // VouchesForLastTransmission).
  template <typename OnAcked, typename OnLost>
  AckResult ApplyAck(Psn cumulative, Psn sack_base, const uint64_t (&sack)[2], Time now,
                     Duration threshold, Duration min_rtt, OnAcked&& on_acked, OnLost&& on_lost);

  // Marks `psn` lost for a reason found elsewhere (trim NACK, timeout).
  // Returns false when it was not in flight.
  bool MarkLost(Psn psn);

  // The lowest PSN waiting for retransmission; false when none. Resending
  // lowest first unblocks the receiver's cumulative point (and its window)
  // soonest: the bitmap can always report around that point, while a run
  // resent in the order its losses were found may sit behind PSNs no ACK
  // covers.
  bool NextLost(Psn* psn) const;
  uint32_t packets_lost() const { return packets_lost_; }

 private:
  void Acknowledge(TxSlot& s);
  // Whether an ACK arriving at `now` that reports `s` received speaks of its
  // last transmission, whose path, order and time the slot holds. A
  // retransmission reported sooner than `min_rtt` after it went out was
  // delivered by an earlier copy, whose path and time are forgotten: it
  // vouches for nothing, or it would condemn packets the earlier copy
  // overtook on no path.
  static bool VouchesForLastTransmission(const TxSlot& s, Time now, Duration min_rtt) {
    return s.transmissions == 1 || now - s.sent_at >= min_rtt;
  }
  // Records that the last transmission of `s` arrived: evidence for both loss
  // rules. A retransmission reported a round trip after it went out may still
  // have been delivered by a delayed earlier copy, so it only moves the time
  // rule, which waits out the loss threshold; the path-order rule condemns at
  // once, and on a wrong guess would resend everything ahead of it on its path.
  void NoteReported(const TxSlot& s, Time now, Duration min_rtt) {
    if (s.transmissions == 0 || !VouchesForLastTransmission(s, now, min_rtt)) return;
    if (s.transmissions == 1) NoteReportedOnPath(s);
    if (s.sent_at > delivered_sent_at_) delivered_sent_at_ = s.sent_at;
  }
  void NoteReportedOnPath(const TxSlot& s);
  template <typename OnLost>
  void MarkLostBySendOrder(Time now, Duration threshold, OnLost&& on_lost, AckResult* result);
  // Only a report on the same entropy counts: after a re-path the path index
  // names another entropy, whose packets need not follow the old one's.
  bool ReportedLaterOnPath(const TxSlot& s) const {
    return reported_epoch_[s.path] == epoch_ && reported_entropy_[s.path] == s.entropy &&
           static_cast<int32_t>(reported_path_seq_[s.path] - s.path_seq) > 0;
  }

  // Doubles the ring, keeping every outstanding slot at its PSN.
  void Grow();

  // A ring indexed by PSN. It starts small and doubles when full, up to
  // capacity_: a queue pair's window is sized for the longest path, while
  // most keep far fewer packets outstanding (the receiving side of a flow,
  // none), and a thousand QPs or an 8192-host simulation would otherwise
  // hold 40 KB each of slots never used.
  std::vector<TxSlot> slots_;
  uint32_t mask_;
  uint32_t capacity_;
  Psn snd_una_ = 0;
  Psn snd_nxt_ = 0;
  uint64_t bytes_in_flight_ = 0;
  uint32_t packets_in_flight_ = 0;
  std::vector<uint32_t> next_path_seq_;  // per path
  // Per path, within the ACK being applied: one past the highest path_seq it
  // reports. Valid where reported_epoch_ matches epoch_, so nothing is cleared
  // between ACKs.
  std::vector<uint32_t> reported_path_seq_;
  std::vector<uint16_t> reported_entropy_;  // of the packet that set reported_path_seq_
  std::vector<uint32_t> reported_epoch_;
  uint32_t epoch_ = 0;
  Time delivered_sent_at_;     // latest send time of a transmission known delivered
  uint32_t packets_lost_ = 0;  // slots in kLost, awaiting retransmission
  // No slot below it is kLost: where NextLost starts looking. A cache, moved
  // on by the const NextLost, so it is mutable.
  mutable Psn lost_hint_ = 0;
};

// ---------------------------------------------------------------------------

template <typename OnAcked, typename OnLost>
SendScoreboard::AckResult SendScoreboard::ApplyAck(Psn cumulative, Psn sack_base,
                                                   const uint64_t (&sack)[2], Time now,
                                                   Duration threshold, Duration min_rtt,
                                                   OnAcked&& on_acked, OnLost&& on_lost) {
  AckResult result;
  ++epoch_;
  // A cumulative point beyond what was sent is a broken peer: clamp.
  if (PsnBefore(snd_nxt_, cumulative)) cumulative = snd_nxt_;
  for (Psn psn = snd_una_; PsnBefore(psn, cumulative); ++psn) {
    TxSlot& s = slot(psn);
    NoteReported(s, now, min_rtt);
    if (s.state == SlotState::kAcked) continue;
    on_acked(psn, s);
    Acknowledge(s);
    ++result.acked;
  }
  // Highest PSN this ACK reports: nothing above it can have been overtaken.
  Psn report_end = cumulative;
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = sack[word];
    while (bits != 0) {
      const int bit = std::countr_zero(bits);
      bits &= bits - 1;
      const Psn psn = sack_base + static_cast<Psn>(word * 64 + bit);
      if (!Contains(psn) || PsnBefore(psn, cumulative)) continue;
      TxSlot& s = slot(psn);
      NoteReported(s, now, min_rtt);
      report_end = PsnMax(report_end, psn + 1);
      if (s.state == SlotState::kAcked) continue;
      on_acked(psn, s);
      Acknowledge(s);
      ++result.acked;
    }
  }
  // Packets the bitmap covers and reports missing, up to the highest reported.
  Psn from = PsnBefore(sack_base, snd_una_) ? snd_una_ : sack_base;
  if (PsnBefore(from, cumulative)) from = cumulative;
  const Psn bitmap_end = sack_base + static_cast<Psn>(kSackBitmapBits);
  const Psn to = PsnBefore(bitmap_end, report_end) ? bitmap_end : report_end;
  for (Psn psn = from; PsnBefore(psn, to); ++psn) {
    TxSlot& s = slot(psn);
    if (s.state != SlotState::kInFlight) continue;
    if (!ReportedLaterOnPath(s) && now < s.sent_at + threshold) continue;
    MarkLost(psn);
    on_lost(psn, s);
    ++result.lost;
  }
  while (snd_una_ != snd_nxt_ && slot(snd_una_).state == SlotState::kAcked) {
    slot(snd_una_).state = SlotState::kFree;
    ++snd_una_;
  }
  MarkLostBySendOrder(now, threshold, on_lost, &result);
  return result;
}

template <typename OnLost>
void SendScoreboard::MarkLostBySendOrder(Time now, Duration threshold, OnLost&& on_lost,
                                         AckResult* result) {
  // Original transmissions go out in PSN order and a retransmission follows
  // its original, so past the first in-flight original that is too young (or
  // not older than the latest delivery) every packet is younger still: stop
  // there. Without loss that is snd_una itself.
  for (Psn psn = snd_una_; psn != snd_nxt_; ++psn) {
    const TxSlot& s = slot(psn);
    if (s.state != SlotState::kInFlight) continue;
    if (s.sent_at < delivered_sent_at_ && s.sent_at + threshold <= now) {
      MarkLost(psn);
      on_lost(psn, s);
      ++result->lost;
    } else if (s.transmissions == 1) {
      return;
    }
  }
}

}  // namespace tern
