#include "transport/receive_tracker.h"

#include <algorithm>
#include <bit>

namespace tern {

ReceiveTracker::ReceiveTracker(uint32_t window_packets)
    : bits_(std::max<uint32_t>(std::bit_ceil(std::max<uint32_t>(window_packets, 128)) / 64, 2)),
      mask_(static_cast<uint32_t>(bits_.size() * 64 - 1)) {}

void ReceiveTracker::Reset(Psn first_expected) {
  std::fill(bits_.begin(), bits_.end(), 0);
  rcv_nxt_ = first_expected;
  any_ = false;
}

bool ReceiveTracker::Test(Psn psn) const {
  const uint32_t index = psn & mask_;
  return (bits_[index >> 6] >> (index & 63)) & 1;
}

ReceiveTracker::Arrival ReceiveTracker::Classify(Psn psn) const {
  if (PsnBefore(psn, rcv_nxt_)) return Arrival::kDuplicate;
  if (PsnDistance(rcv_nxt_, psn) >= static_cast<int32_t>(capacity())) return Arrival::kOutOfWindow;
  return Test(psn) ? Arrival::kDuplicate : Arrival::kNew;
}

bool ReceiveTracker::Record(Psn psn) {
  const bool opens_hole = any_ ? PsnBefore(highest_ + 1, psn) : psn != rcv_nxt_;
  if (!any_ || PsnBefore(highest_, psn)) highest_ = psn;
  any_ = true;
  if (psn != rcv_nxt_) {
    const uint32_t index = psn & mask_;
    bits_[index >> 6] |= uint64_t{1} << (index & 63);
    return opens_hole;
  }
  // Advance over the contiguous run that follows, clearing bits as we go so
  // the ring slots are clean when the window moves over them.
  ++rcv_nxt_;
  while (Test(rcv_nxt_)) {
    const uint32_t index = rcv_nxt_ & mask_;
    bits_[index >> 6] &= ~(uint64_t{1} << (index & 63));
    ++rcv_nxt_;
  }
  return opens_hole;
}

uint64_t ReceiveTracker::Extract64(Psn from) const {
  // 64 bits starting at ring index `from & mask`, wrapping around the ring.
  const uint32_t index = from & mask_;
  const uint32_t word = index >> 6;
  const uint32_t shift = index & 63;
  const uint64_t low = bits_[word] >> shift;
  if (shift == 0) return low;
  const uint64_t high = bits_[(word + 1) % bits_.size()] << (64 - shift);
  return low | high;
}

void ReceiveTracker::BuildSack(Psn focus, bool at_cumulative, Psn* base,
                               uint64_t (&bitmap)[2]) const {
  Psn start = rcv_nxt_;
  if (any_ && !at_cumulative && PsnDistance(rcv_nxt_, highest_) >= 128) {
    // Not everything fits: show from the focus up, but never start so high
    // that the highest arrival falls off the end.
    start = PsnBefore(focus, rcv_nxt_) ? rcv_nxt_ : focus;
    if (PsnDistance(start, highest_) >= 128) start = highest_ - 127;
  }
  *base = start;
  // Bits at or above window_end() are stale ring contents: mask them off.
  const int32_t valid = PsnDistance(start, window_end());
  for (int w = 0; w < 2; ++w) {
    uint64_t bits = Extract64(start + static_cast<Psn>(64 * w));
    const int32_t left = valid - 64 * w;
    if (left <= 0)
      bits = 0;
    else if (left < 64)
      bits &= (uint64_t{1} << left) - 1;
    bitmap[w] = bits;
  }
}

}  // namespace tern
