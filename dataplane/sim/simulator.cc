#include "dataplane/sim/simulator.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace tern::sim {
namespace {

// SplitMix64's finalizer (Steele, Lea & Flood 2014): a bijection on 64 bits
// whose output bits each depend on every input bit.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Below this size an overflow heap full of stale entries is cheap enough to keep.
constexpr size_t kMinCompactSize = 1024;

}  // namespace

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  // Mixing the stream before combining keeps (seed, stream) pairs apart that a
  // plain sum or xor would collide, e.g. (1, 0) and (0, 1).
  return Mix64(seed + 0x9E3779B97F4A7C15ull * (Mix64(stream + 0x632BE59BD9B4E019ull) | 1));
}

EventId Simulator::Schedule(Time at, Callback callback, const void* touches) {
  if (at < now_) {
    ++late_schedules_;
    at = now_;
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.callback = std::move(callback);
  s.touches = touches;
  s.pending = true;
  Enqueue(Entry{at, next_order_++, slot, s.generation});
  ++pending_;
  return MakeId(slot, s.generation);
}

void Simulator::Enqueue(const Entry& e) {
  const uint64_t bucket = BucketOf(e.at);
  if (bucket <= base_) {
    // Due in the current bucket, or before it when NextEventTime() moved the
    // window ahead of now(); it moved over empty buckets only, so the event
    // still runs before everything in the wheel.
    PushEntry(current_, e);
  } else if (bucket - base_ < kBucketCount) {
    AppendToBucket(bucket & kBucketMask, e);
  } else {
    slots_[e.slot].in_overflow = true;
    PushEntry(overflow_, e);
  }
}

void Simulator::PushEntry(std::vector<Entry>& heap, const Entry& e) {
  heap.push_back(e);
  std::push_heap(heap.begin(), heap.end(), RunsLater());
}

Simulator::Entry Simulator::PopFirst(std::vector<Entry>& heap) {
  const Entry first = heap.front();
  std::pop_heap(heap.begin(), heap.end(), RunsLater());
  heap.pop_back();
  return first;
}

bool Simulator::IsPending(EventId id) const {
  const uint32_t slot = static_cast<uint32_t>(id);
  const uint32_t generation = static_cast<uint32_t>(id >> 32);
  if (id == kNoEvent || slot >= slots_.size()) return false;
  const Slot& s = slots_[slot];
  return s.pending && s.generation == generation;
}

bool Simulator::Cancel(EventId id) {
  if (!IsPending(id)) return false;
  const uint32_t slot = static_cast<uint32_t>(id);
  const bool in_overflow = slots_[slot].in_overflow;
  ReleaseSlot(slot);
  --pending_;
  // A cancelled entry stays where it is and is skipped when reached; a wheel
  // bucket is reached within one window, overflow_ may hold it for seconds.
  if (in_overflow) {
    ++overflow_stale_;
    MaybeCompactOverflow();
  }
  return true;
}

void Simulator::ReleaseSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  s.callback = nullptr;
  s.pending = false;
  s.in_overflow = false;
  // A new generation invalidates the old id and any queued entry still naming
  // it. Generation 0 is skipped so that no id equals kNoEvent.
  if (++s.generation == 0) s.generation = 1;
  free_slots_.push_back(slot);
}

bool Simulator::SkipToNextLive(Time limit) {
  while (true) {
    while (!current_.empty()) {
      if (IsLive(current_.front())) return true;
      PopFirst(current_);
    }
    if (!AdvanceWindow(limit)) return false;
  }
}

bool Simulator::AdvanceWindow(Time limit) {
  while (!overflow_.empty() && !IsLive(overflow_.front())) {
    PopFirst(overflow_);
    --overflow_stale_;
  }
  uint64_t next = NextOccupiedBucket();
  const bool from_wheel = next != kNoBucket;
  if (!from_wheel) {
    // The wheel is empty: jump straight to the first overflow event rather
    // than walk empty buckets.
    if (overflow_.empty()) return false;
    next = BucketOf(overflow_.front().at);
  }
  // Stay put when even the bucket's start is past `limit`, so a run that stops
  // there leaves the window no further ahead than its clock.
  if (next > BucketOf(limit)) return false;
  if (from_wheel) {
    TakeBucket(next & kBucketMask);
  }
  base_ = next;
  std::make_heap(current_.begin(), current_.end(), RunsLater());
  DrainOverflow();
  if (!current_.empty()) __builtin_prefetch(&slots_[current_.front().slot]);
  return true;
}

uint64_t Simulator::NextOccupiedBucket() const {
  // Scans the bitmap from the bucket after base_, wrapping once around.
  constexpr uint64_t kWords = kBucketCount / 64;
  const uint64_t first = (base_ + 1) & kBucketMask;
  uint64_t word = first / 64;
  uint64_t bits = occupied_[word] & (~uint64_t{0} << (first % 64));
  for (uint64_t scanned = 0; scanned <= kWords; ++scanned) {
    if (bits != 0) {
      const uint64_t index = word * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      return base_ + ((index - base_) & kBucketMask);
    }
    word = (word + 1) % kWords;
    bits = occupied_[word];
  }
  return kNoBucket;
}

void Simulator::AppendToBucket(uint64_t index, const Entry& e) {
  Bucket& bucket = buckets_[index];
  if (bucket.tail == kNoChunk || chunks_[bucket.tail].count == kChunkEntries) {
    uint32_t chunk = free_chunk_;
    if (chunk != kNoChunk) {
      free_chunk_ = chunks_[chunk].next;
      chunks_[chunk].count = 0;
      chunks_[chunk].next = kNoChunk;
    } else {
      chunk = static_cast<uint32_t>(chunks_.size());
      chunks_.emplace_back();
    }
    if (bucket.tail == kNoChunk) {
      bucket.head = chunk;
      occupied_[index / 64] |= uint64_t{1} << (index % 64);
    } else {
      chunks_[bucket.tail].next = chunk;
    }
    bucket.tail = chunk;
  }
  Chunk& tail = chunks_[bucket.tail];
  tail.entries[tail.count++] = e;
}

void Simulator::TakeBucket(uint64_t index) {
  Bucket& bucket = buckets_[index];
  uint32_t chunk = bucket.head;
  while (chunk != kNoChunk) {
    Chunk& c = chunks_[chunk];
    current_.insert(current_.end(), c.entries, c.entries + c.count);
    const uint32_t next = c.next;
    c.next = free_chunk_;
    free_chunk_ = chunk;
    chunk = next;
  }
  bucket = Bucket();
  occupied_[index / 64] &= ~(uint64_t{1} << (index % 64));
}

void Simulator::DrainOverflow() {
  while (!overflow_.empty() && BucketOf(overflow_.front().at) - base_ < kBucketCount) {
    const Entry e = PopFirst(overflow_);
    if (!IsLive(e)) {
      --overflow_stale_;
      continue;
    }
    slots_[e.slot].in_overflow = false;
    Enqueue(e);
  }
}

void Simulator::MaybeCompactOverflow() {
  if (overflow_.size() < kMinCompactSize || overflow_stale_ * 2 < overflow_.size()) return;
  std::erase_if(overflow_, [this](const Entry& e) { return !IsLive(e); });
  std::make_heap(overflow_.begin(), overflow_.end(), RunsLater());
  overflow_stale_ = 0;
}

Time Simulator::NextEventTime() {
  return SkipToNextLive(Time::Infinite()) ? current_.front().at : Time::Infinite();
}

bool Simulator::Step() {
  if (!SkipToNextLive(Time::Infinite())) return false;
  PopAndRun();
  return true;
}

void Simulator::PopAndRun() {
  const Entry entry = PopFirst(current_);
  // What the next event's callback reads first is a cache miss in a large
  // run: fetch it while this callback runs. (Reading the hint costs the next
  // slot's miss now rather than when that event runs.)
  if (!current_.empty()) {
    const Slot& next = slots_[current_.front().slot];
    if (next.touches != nullptr) __builtin_prefetch(next.touches);
  }
  // Move the callback out and free the slot first: the callback may schedule
  // (reusing the slot) or cancel its own, already spent, id.
  Callback callback = std::move(slots_[entry.slot].callback);
  ReleaseSlot(entry.slot);
  --pending_;
  now_ = entry.at;
  ++events_processed_;
  callback();
}

void Simulator::Run() {
  stop_requested_ = false;
  while (!stop_requested_ && Step()) {
  }
}

void Simulator::RunUntil(Time end) {
  stop_requested_ = false;
  while (!stop_requested_) {
    if (!SkipToNextLive(end) || current_.front().at > end) break;
    PopAndRun();
  }
  if (!stop_requested_ && !end.IsInfinite() && end > now_) now_ = end;
}

bool Simulator::RunWhile(absl::FunctionRef<bool()> condition, Time deadline) {
  stop_requested_ = false;
  while (!stop_requested_) {
    if (!condition()) return true;
    if (!SkipToNextLive(deadline) || current_.front().at > deadline) return false;
    PopAndRun();
  }
  return false;
}

}  // namespace tern::sim
