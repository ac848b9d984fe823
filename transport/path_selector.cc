#include "transport/path_selector.h"

#include <algorithm>
#include <cassert>

#include "transport/wire.h"

namespace tern {

uint16_t EntropyBlockFrom(uint32_t first, uint16_t paths) {
  assert(paths >= 1 && paths <= kMaxPaths);
  constexpr uint32_t kTernPortsEnd = uint32_t{kDefaultUdpPort} + kTernUdpPortCount;
  if (first < kEntropyPortBase || first + paths > 0x10000) first = kEntropyPortBase;
  if (first < kTernPortsEnd && first + paths > kDefaultUdpPort) first = kTernPortsEnd;
  // kMaxPaths leaves room above Tern's ports for any block.
  return static_cast<uint16_t>(first);
}

PathSelector::PathSelector(PathPolicy policy, uint16_t paths, uint16_t base_entropy)
    : policy_(policy),
      base_(base_entropy),
      avoid_until_(policy == PathPolicy::kSinglePath ? 1 : std::max<uint16_t>(paths, 1),
                   Time::Zero()),
      strikes_(avoid_until_.size(), 0),
      recycled_(policy == PathPolicy::kRecycled ? kRecycledSlots : 0) {}

int PathSelector::IndexOf(uint16_t entropy) const {
  const int index = static_cast<int>(entropy) - static_cast<int>(base_);
  return index >= 0 && index < static_cast<int>(avoid_until_.size()) ? index : -1;
}

uint16_t PathSelector::Next(Time now) { return Pick(now, -1); }

uint16_t PathSelector::NextAvoiding(uint16_t previous, Time now) {
  return Pick(now, paths() > 1 ? IndexOf(previous) : -1);
}

uint16_t PathSelector::Pick(Time now, int excluded_index) {
  const uint16_t n = paths();
  if (n == 1) return base_;
  if (recycled_count_ > 0) {
    const int index = TakeRecycled(excluded_index);
    if (index >= 0) return static_cast<uint16_t>(base_ + index);
  }
  // Round-robin; the weighted and recycled policies skip paths under penalty.
  // When every path is penalised they take the one whose penalty ends first.
  const bool penalties = Penalises();
  int fallback = -1;
  for (uint16_t tries = 0; tries < n; ++tries) {
    const uint16_t index = cursor_;
    cursor_ = static_cast<uint16_t>(cursor_ + 1 == n ? 0 : cursor_ + 1);
    if (index == excluded_index) continue;
    if (!penalties || avoid_until_[index] <= now) {
      return static_cast<uint16_t>(base_ + index);
    }
    if (fallback < 0 || avoid_until_[index] < avoid_until_[fallback]) fallback = index;
  }
  if (fallback < 0) fallback = (excluded_index + 1) % n;
  return static_cast<uint16_t>(base_ + fallback);
}

int PathSelector::TakeRecycled(int excluded_index) {
  // Each queued index is looked at once; the excluded one goes back in.
  for (uint32_t left = recycled_count_; left > 0; --left) {
    const uint16_t index = recycled_[recycled_head_];
    recycled_head_ = (recycled_head_ + 1) % kRecycledSlots;
    --recycled_count_;
    if (index != excluded_index) return index;
    Recycle(index);
  }
  return -1;
}

void PathSelector::OnDelivered(uint16_t entropy, bool marked) {
  const int index = IndexOf(entropy);
  if (index < 0) return;
  strikes_[index] = 0;
  if (policy_ == PathPolicy::kRecycled && !marked) Recycle(static_cast<uint16_t>(index));
}

void PathSelector::Recycle(uint16_t index) {
  const uint32_t tail = (recycled_head_ + recycled_count_) % kRecycledSlots;
  recycled_[tail] = index;
  if (recycled_count_ < kRecycledSlots) {
    ++recycled_count_;
  } else {
    recycled_head_ = (recycled_head_ + 1) % kRecycledSlots;  // the oldest is overwritten
  }
}

void PathSelector::OnTimeout() {
  base_ = EntropyBlockFrom(uint32_t{base_} + paths(), paths());
  cursor_ = 0;
  std::fill(avoid_until_.begin(), avoid_until_.end(), Time::Zero());
  std::fill(strikes_.begin(), strikes_.end(), 0);
  recycled_count_ = 0;
}

void PathSelector::OnCongestion(uint16_t entropy, Time now, Duration penalty) {
  if (!Penalises()) return;
  const int index = IndexOf(entropy);
  if (index < 0) return;
  constexpr uint8_t kMaxDoublings = 6;
  const uint8_t doublings = std::min(strikes_[index], kMaxDoublings);
  if (strikes_[index] < 255) ++strikes_[index];
  avoid_until_[index] = std::max(avoid_until_[index], now + penalty * (int64_t{1} << doublings));
}

}  // namespace tern
