// The sender's view of every packet between the oldest unacknowledged PSN and
// the next new one: what each carried, where and when it was last sent, and
// whether it is in flight, acknowledged or lost. It applies ACKs (cumulative
// point plus SACK bitmap) and detects losses in a way that tolerates the
// reordering that spraying creates:
//
//  * path order: paths are FIFO, so a packet is lost once a packet sent after
//    it on the same path has been acknowledged;
//  * time (RACK, RFC 8985 idea): a packet is lost once a packet sent after it
//    on any path has been acknowledged and it has been out longer than the
//    loss threshold (largest recent RTT plus a reordering allowance). This
//    catches paths that lost everything (a blackhole has no later packet to
//    overtake with).
//
// There is no duplicate-ACK counting: under spraying nearly every ACK is a
// "duplicate". Retransmission timeouts are the connection's business.
//
// Slots live in a power-of-two ring indexed by PSN, so nothing is allocated
// after construction.
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
  SlotState state;
  SlotSource source;
  uint8_t transmissions;
  uint8_t flags;  // TernFlag bits that belong to the packet (first/last/ack request)
};
static_assert(sizeof(TxSlot) == 40, "TxSlot is per-packet NIC state: keep it small");

class SendScoreboard {
 public:
  SendScoreboard(uint32_t window_packets, uint16_t paths);

  // Starts the sequence at `first` with nothing outstanding.
  void Reset(Psn first);

  Psn snd_una() const { return snd_una_; }
  Psn snd_nxt() const { return snd_nxt_; }
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }
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

  // Records a (re)transmission of `psn` on `path` at `now`.
  void OnTransmit(Psn psn, uint16_t path, Time now);

  // Applies an ACK. Calls on_acked(psn, slot) once for every packet it newly
  // acknowledges (before the slot's state changes, so the callback sees
  // whether it was in flight or already declared lost), then advances
  // snd_una. Returns the number newly acknowledged.
  template <typename OnAcked>
  uint32_t ApplyAck(Psn cumulative, Psn sack_base, const uint64_t (&sack)[2], OnAcked&& on_acked);

  // Declares lost every in-flight packet the rules above condemn, calling
  // on_lost(psn, slot) for each (state is then kLost and the PSN queued for
  // retransmission). `threshold` is the time rule's RTT allowance.
  template <typename OnLost>
  uint32_t DetectLosses(Time now, Duration threshold, OnLost&& on_lost);

  // Marks `psn` lost for a reason found elsewhere (trim NACK, timeout).
  // Returns false when it was not in flight.
  bool MarkLost(Psn psn);

  // Earliest time the time rule could condemn a packet that is not lost yet;
  // Infinite when none could.
  Time NextLossCheck(Duration threshold) const;

  // The next PSN waiting for retransmission, skipping (and forgetting) any
  // acknowledged since it was queued. Returns false when none.
  bool PeekLost(Psn* psn);
  void PopLost() {
    lost_head_ = (lost_head_ + 1) & mask_;
    --lost_count_;
  }
  // Cheap and possibly stale: true when something may await retransmission.
  bool MayHaveLost() const { return lost_count_ > 0; }

 private:
  void Acknowledge(Psn psn, TxSlot& s);

  std::vector<TxSlot> slots_;
  uint32_t mask_;
  Psn snd_una_ = 0;
  Psn snd_nxt_ = 0;
  Psn highest_acked_ = 0;      // highest PSN acknowledged (valid when any_acked_)
  bool any_acked_ = false;
  Time latest_acked_sent_at_;  // RACK: send time of the most recently sent acknowledged packet
  uint64_t bytes_in_flight_ = 0;
  uint32_t packets_in_flight_ = 0;
  std::vector<uint32_t> next_path_seq_;   // per path
  std::vector<uint32_t> acked_path_seq_;  // per path: one past the highest path_seq acknowledged
  std::vector<Psn> lost_;                 // ring of PSNs awaiting retransmission
  uint32_t lost_head_ = 0;
  uint32_t lost_count_ = 0;
};

// ---------------------------------------------------------------------------

template <typename OnAcked>
uint32_t SendScoreboard::ApplyAck(Psn cumulative, Psn sack_base, const uint64_t (&sack)[2],
                                  OnAcked&& on_acked) {
  uint32_t newly = 0;
  // A cumulative point beyond what was sent is a broken peer: clamp.
  if (PsnBefore(snd_nxt_, cumulative)) cumulative = snd_nxt_;
  for (Psn psn = snd_una_; PsnBefore(psn, cumulative); ++psn) {
    TxSlot& s = slot(psn);
    if (s.state == SlotState::kAcked) continue;
    on_acked(psn, s);
    Acknowledge(psn, s);
    ++newly;
  }
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = sack[word];
    while (bits != 0) {
      const int bit = std::countr_zero(bits);
      bits &= bits - 1;
      const Psn psn = sack_base + static_cast<Psn>(word * 64 + bit);
      if (!Contains(psn) || PsnBefore(psn, cumulative)) continue;
      TxSlot& s = slot(psn);
      if (s.state == SlotState::kAcked) continue;
      on_acked(psn, s);
      Acknowledge(psn, s);
      ++newly;
    }
  }
  while (snd_una_ != snd_nxt_ && slot(snd_una_).state == SlotState::kAcked) {
    slot(snd_una_).state = SlotState::kFree;
    ++snd_una_;
  }
  return newly;
}

template <typename OnLost>
uint32_t SendScoreboard::DetectLosses(Time now, Duration threshold, OnLost&& on_lost) {
  if (!any_acked_ || PsnBefore(highest_acked_, snd_una_)) return 0;
  uint32_t lost = 0;
  // Only packets below the highest acknowledged PSN can have been overtaken:
  // everything above it was first sent after it.
  for (Psn psn = snd_una_; PsnBefore(psn, highest_acked_); ++psn) {
    TxSlot& s = slot(psn);
    if (s.state != SlotState::kInFlight) continue;
    const bool overtaken_on_path =
        static_cast<int32_t>(acked_path_seq_[s.path] - s.path_seq) > 0;
    const bool overtaken_in_time =
        s.sent_at < latest_acked_sent_at_ && now >= s.sent_at + threshold;
    if (!overtaken_on_path && !overtaken_in_time) continue;
    MarkLost(psn);
    on_lost(psn, s);
    ++lost;
  }
  return lost;
}

}  // namespace tern
