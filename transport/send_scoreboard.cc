#include "transport/send_scoreboard.h"

#include <algorithm>

namespace tern {

namespace {
constexpr uint32_t kFirstSlots = 16;
}  // namespace

SendScoreboard::SendScoreboard(uint32_t window_packets, uint16_t paths, bool full_size)
    : capacity_(std::bit_ceil(std::max<uint32_t>(window_packets, 2))),
      next_path_seq_(std::max<uint16_t>(paths, 1), 0),
      reported_path_seq_(std::max<uint16_t>(paths, 1), 0),
      reported_entropy_(std::max<uint16_t>(paths, 1), 0),
      reported_epoch_(std::max<uint16_t>(paths, 1), 0) {
  slots_.resize(full_size ? capacity_ : std::min(capacity_, kFirstSlots));
  mask_ = static_cast<uint32_t>(slots_.size()) - 1;
}

void SendScoreboard::Grow() {
  std::vector<TxSlot> bigger(slots_.size() * 2);
  const uint32_t bigger_mask = static_cast<uint32_t>(bigger.size()) - 1;
  for (Psn psn = snd_una_; psn != snd_nxt_; ++psn) bigger[psn & bigger_mask] = slot(psn);
  slots_ = std::move(bigger);
  mask_ = bigger_mask;
}

void SendScoreboard::Reset(Psn first) {
  snd_una_ = snd_nxt_ = first;
  delivered_sent_at_ = Time();
  bytes_in_flight_ = 0;
  packets_in_flight_ = 0;
  packets_lost_ = 0;
  lost_hint_ = first;
  for (TxSlot& s : slots_) s.state = SlotState::kFree;
}

Psn SendScoreboard::Append(const TxSlot& slot_value) {
  if (outstanding() == slots_.size()) Grow();
  const Psn psn = snd_nxt_++;
  TxSlot& s = slot(psn);
  s = slot_value;
  s.state = SlotState::kFree;  // becomes in flight at OnTransmit
  s.transmissions = 0;
  return psn;
}

void SendScoreboard::OnTransmit(Psn psn, uint16_t path, uint16_t entropy, Time now) {
  TxSlot& s = slot(psn);
  if (path >= next_path_seq_.size()) path = 0;
  s.sent_at = now;
  s.path = path;
  s.entropy = entropy;
  s.path_seq = next_path_seq_[path]++;
  if (s.transmissions < 255) ++s.transmissions;
  if (s.state == SlotState::kLost) --packets_lost_;
  if (s.state != SlotState::kInFlight) {
    s.state = SlotState::kInFlight;
    bytes_in_flight_ += s.length;
    ++packets_in_flight_;
  }
}

void SendScoreboard::Acknowledge(TxSlot& s) {
  if (s.state == SlotState::kInFlight) {
    bytes_in_flight_ -= s.length;
    --packets_in_flight_;
  } else if (s.state == SlotState::kLost) {
    --packets_lost_;
  }
  s.state = SlotState::kAcked;
}

void SendScoreboard::NoteReportedOnPath(const TxSlot& s) {
  uint32_t& seq = reported_path_seq_[s.path];
  if (reported_epoch_[s.path] != epoch_ || static_cast<int32_t>(s.path_seq + 1 - seq) > 0) {
    seq = s.path_seq + 1;
    reported_entropy_[s.path] = s.entropy;
  }
  reported_epoch_[s.path] = epoch_;
}

bool SendScoreboard::MarkLost(Psn psn) {
  if (!Contains(psn)) return false;
  TxSlot& s = slot(psn);
  if (s.state != SlotState::kInFlight) return false;
  s.state = SlotState::kLost;
  bytes_in_flight_ -= s.length;
  --packets_in_flight_;
  ++packets_lost_;
  if (PsnBefore(psn, lost_hint_)) lost_hint_ = psn;
  return true;
}

bool SendScoreboard::NextLost(Psn* psn) const {
  if (packets_lost_ == 0) return false;
  for (Psn p = PsnMax(lost_hint_, snd_una_); p != snd_nxt_; ++p) {
    if (slot(p).state == SlotState::kLost) {
      lost_hint_ = p;
      *psn = p;
      return true;
    }
  }
  return false;  // unreachable while packets_lost_ counts the kLost slots
}

}  // namespace tern
