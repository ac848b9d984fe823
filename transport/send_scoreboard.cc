#include "transport/send_scoreboard.h"

#include <algorithm>

namespace tern {

SendScoreboard::SendScoreboard(uint32_t window_packets, uint16_t paths)
    : slots_(std::bit_ceil(std::max<uint32_t>(window_packets, 2))),
      mask_(static_cast<uint32_t>(slots_.size()) - 1),
      next_path_seq_(std::max<uint16_t>(paths, 1), 0),
      reported_path_seq_(std::max<uint16_t>(paths, 1), 0),
      reported_epoch_(std::max<uint16_t>(paths, 1), 0),
      lost_(slots_.size()) {}

void SendScoreboard::Reset(Psn first) {
  snd_una_ = snd_nxt_ = first;
  delivered_sent_at_ = Time();
  bytes_in_flight_ = 0;
  packets_in_flight_ = 0;
  lost_head_ = lost_count_ = 0;
  for (TxSlot& s : slots_) s.state = SlotState::kFree;
}

Psn SendScoreboard::Append(const TxSlot& slot_value) {
  const Psn psn = snd_nxt_++;
  TxSlot& s = slot(psn);
  s = slot_value;
  s.state = SlotState::kFree;  // becomes in flight at OnTransmit
  s.transmissions = 0;
  return psn;
}

void SendScoreboard::OnTransmit(Psn psn, uint16_t path, Time now) {
  TxSlot& s = slot(psn);
  if (path >= next_path_seq_.size()) path = 0;
  s.sent_at = now;
  s.path = path;
  s.path_seq = next_path_seq_[path]++;
  if (s.transmissions < 255) ++s.transmissions;
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
  }
  s.state = SlotState::kAcked;
}

void SendScoreboard::NoteReportedOnPath(const TxSlot& s) {
  uint32_t& seq = reported_path_seq_[s.path];
  if (reported_epoch_[s.path] != epoch_ || static_cast<int32_t>(s.path_seq + 1 - seq) > 0) {
    seq = s.path_seq + 1;
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
  // The ring cannot overflow: a PSN is queued at most once per loss and every
  // queued PSN is within the window.
  lost_[(lost_head_ + lost_count_) & mask_] = psn;
  ++lost_count_;
  return true;
}

bool SendScoreboard::PeekLost(Psn* psn) {
  while (lost_count_ > 0) {
    const Psn candidate = lost_[lost_head_];
    if (Contains(candidate) && slot(candidate).state == SlotState::kLost) {
      *psn = candidate;
      return true;
    }
    PopLost();
  }
  return false;
}

}  // namespace tern
