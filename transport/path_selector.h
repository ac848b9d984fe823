// Chooses the entropy value (UDP source port) of each packet, which is how a
// sender picks a path through an ECMP fabric.
#pragma once

#include <cstdint>
#include <vector>

#include "transport/units.h"
#include "transport/verbs.h"

namespace tern {

// The first entropy of a block of `paths` consecutive entropy values at or
// after `first`: the block lies within the entropy ports (kEntropyPortBase to
// 0xFFFF) and clear of Tern's own UDP ports, wrapping to kEntropyPortBase
// when it would run past 0xFFFF. `paths` is at most kMaxPaths.
uint16_t EntropyBlockFrom(uint32_t first, uint16_t paths);

class PathSelector {
 public:
  // Spreads over `paths` entropies starting at `base_entropy`.
  PathSelector(PathPolicy policy, uint16_t paths, uint16_t base_entropy);

  // Entropy for a new packet.
  uint16_t Next(Time now);
  // Entropy for a retransmission of a packet last sent on `previous`: another
  // path when the policy sprays, so a loss on one path is not repeated there.
  uint16_t NextAvoiding(uint16_t previous, Time now);

  // The path carrying `entropy` was congested or lossy (ECN mark, trim, loss):
  // the weighted and recycled policies' round-robin leaves it alone for
  // `penalty`, doubled for each further report before the path delivers again
  // (up to 64x), so a dead path is probed ever more rarely. Unknown entropies
  // are ignored.
  void OnCongestion(uint16_t entropy, Time now, Duration penalty);
  // A packet sent on `entropy` was acknowledged: its penalty stops growing.
  // The recycled policy also queues the entropy for a new packet, unless the
  // ACK blamed that path for ECN marks (`marked`).
  void OnDelivered(uint16_t entropy, bool marked);
  // The retransmission timer expired: the paths in use lost the packet or the
  // ACKs coming back (an ACK returns on its packet's entropy, which hashes
  // onto another path in the reverse direction), and a switch does not route
  // around a dead link it is not attached to. The selector moves to the next
  // block of entropies, as TCP's protective re-routing changes its flow label
  // on a timeout, and forgets what it learnt of the old block: penalties and
  // the recycled queue. Feedback about packets sent before the move names
  // entropies of the old block, which the selector no longer knows (ignored).
  void OnTimeout();

  uint16_t paths() const { return static_cast<uint16_t>(avoid_until_.size()); }
  // Index 0..paths-1 of an entropy of this selector, or -1.
  int IndexOf(uint16_t entropy) const;
  uint16_t EntropyOf(uint16_t index) const { return static_cast<uint16_t>(base_ + index); }
  PathPolicy policy() const { return policy_; }

 private:
  uint16_t Pick(Time now, int excluded_index);
  bool Penalises() const {
    return policy_ == PathPolicy::kWeighted || policy_ == PathPolicy::kRecycled;
  }
  // The oldest queued path index other than `excluded_index`, or -1.
  int TakeRecycled(int excluded_index);
  void Recycle(uint16_t index);

  // Room for the acknowledged packets of a receive burst's ACKs (32 ACKs of a
  // few packets each would overflow 16) while the sender waits for its turn.
  static constexpr uint32_t kRecycledSlots = 64;

  PathPolicy policy_;
  uint16_t base_;
  uint16_t cursor_ = 0;
  std::vector<Time> avoid_until_;  // per path; weighted and recycled policies
  std::vector<uint8_t> strikes_;   // per path: reports since it last delivered
  // Recycled policy only: path indexes of acknowledged unmarked packets, each
  // to be used once, oldest first, in a ring that overwrites its oldest entry
  // when full. A congested path drops out because its marked or lost packets
  // do not come back; queued entries are used even while their path is under
  // penalty (vetoing them sent every QP of a 64-host all-to-all onto the same
  // unpenalised paths at once: 4x the drops).
  std::vector<uint16_t> recycled_;
  uint32_t recycled_head_ = 0;
  uint32_t recycled_count_ = 0;
};

}  // namespace tern
