#include "transport/receive_tracker.h"

#include <algorithm>
#include <bit>

namespace tern {

ReceiveTracker::ReceiveTracker(uint32_t window_packets)
    : bits_(std::max<uint32_t>(std::bit_ceil(std::max<uint32_t>(window_packets, 128)) / 64, 2)),
      unreported_(bits_.size(), 0),
      mask_(static_cast<uint32_t>(bits_.size() * 64 - 1)) {}

void ReceiveTracker::Reset(Psn first_expected) {
  std::fill(bits_.begin(), bits_.end(), 0);
  std::fill(unreported_.begin(), unreported_.end(), 0);
  unreported_count_ = 0;
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
    MarkUnreported(psn);
    return opens_hole;
  }
  // Advance over the contiguous run that follows, clearing bits as we go so
  // the ring slots are clean when the window moves over them. The cumulative
  // point reports what it passes.
  ++rcv_nxt_;
  while (Test(rcv_nxt_)) {
    const uint32_t index = rcv_nxt_ & mask_;
    bits_[index >> 6] &= ~(uint64_t{1} << (index & 63));
    MarkReported(rcv_nxt_);
    ++rcv_nxt_;
  }
  return opens_hole;
}

void ReceiveTracker::Rereport(Psn psn) {
  if (PsnBefore(psn, rcv_nxt_) || !Test(psn)) return;  // the cumulative point reports it
  MarkUnreported(psn);
}

void ReceiveTracker::MarkUnreported(Psn psn) {
  const uint32_t index = psn & mask_;
  uint64_t& word = unreported_[index >> 6];
  const uint64_t bit = uint64_t{1} << (index & 63);
  if ((word & bit) == 0) ++unreported_count_;
  word |= bit;
}

void ReceiveTracker::MarkReported(Psn psn) {
  const uint32_t index = psn & mask_;
  uint64_t& word = unreported_[index >> 6];
  const uint64_t bit = uint64_t{1} << (index & 63);
  if ((word & bit) != 0) --unreported_count_;
  word &= ~bit;
}

uint64_t ReceiveTracker::Extract64(const std::vector<uint64_t>& ring, Psn from) const {
  // 64 bits starting at ring index `from & mask`, wrapping around the ring.
  const uint32_t index = from & mask_;
  const uint32_t word = index >> 6;
  const uint32_t shift = index & 63;
  const uint64_t low = ring[word] >> shift;
  if (shift == 0) return low;
  const uint64_t high = ring[(word + 1) % ring.size()] << (64 - shift);
  return low | high;
}

std::optional<Psn> ReceiveTracker::LowestUnreported() const {
  // Bits from the cumulative point to the highest arrival only: Record clears
  // them as it passes, and nothing above the highest has arrived.
  if (unreported_count_ == 0) return std::nullopt;
  const uint32_t span = static_cast<uint32_t>(PsnDistance(rcv_nxt_, highest_)) + 1;
  for (uint32_t offset = 0; offset < span; offset += 64) {
    const uint64_t bits = Extract64(unreported_, rcv_nxt_ + offset);
    if (bits != 0) return rcv_nxt_ + offset + static_cast<Psn>(std::countr_zero(bits));
  }
  return std::nullopt;
}

void ReceiveTracker::BuildSack(bool at_cumulative, Psn* base, uint64_t (&bitmap)[2]) {
  Psn start = rcv_nxt_;
  if (any_ && !at_cumulative && PsnDistance(rcv_nxt_, highest_) >= 128) {
    // Not everything fits: show from the lowest arrival not yet shown.
    if (const std::optional<Psn> lowest = LowestUnreported()) start = *lowest;
  }
  *base = start;
  // Bits at or above window_end() are stale ring contents: mask them off.
  const int32_t valid = PsnDistance(start, window_end());
  for (int w = 0; w < 2; ++w) {
    const Psn from = start + static_cast<Psn>(64 * w);
    uint64_t bits = Extract64(bits_, from);
    const int32_t left = valid - 64 * w;
    if (left <= 0)
      bits = 0;
    else if (left < 64)
      bits &= (uint64_t{1} << left) - 1;
    bitmap[w] = bits;
    if (unreported_count_ == 0) continue;
    // Only the shown bits still unreported need clearing (usually few).
    for (uint64_t newly = bits & Extract64(unreported_, from); newly != 0; newly &= newly - 1) {
      MarkReported(from + static_cast<Psn>(std::countr_zero(newly)));
    }
  }
}

}  // namespace tern
