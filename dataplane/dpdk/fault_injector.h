// Impairments applied on transmit, so loss recovery and spraying can be tested
// on the real data path: drop, duplicate and corrupt with given probabilities,
// and reorder by delaying each path (entropy mod paths) by a different amount,
// as the simulated wire does. Pure logic, no DPDK types: the worker applies
// the verdicts to its mbufs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "transport/random.h"
#include "transport/units.h"

namespace tern::dpdk {

struct FaultConfig {
  double loss = 0;
  double dup = 0;
  double corrupt = 0;
  // Delay spread across paths: path i waits reorder * i / (paths - 1), so
  // packets sprayed over the paths arrive out of order.
  Duration reorder = Duration::Zero();
  uint16_t paths = 8;
  int blackhole = -1;  // a path that drops everything; -1: none
  uint64_t seed = 1;

  bool active() const {
    return loss > 0 || dup > 0 || corrupt > 0 || reorder > Duration::Zero() || blackhole >= 0;
  }
  bool operator==(const FaultConfig&) const = default;
};

// One line, for logs and telemetry.
std::string DescribeFaults(const FaultConfig& config);

struct FaultVerdict {
  bool drop = false;
  bool duplicate = false;
  size_t corrupt_offset = SIZE_MAX;  // byte whose bits to flip; SIZE_MAX: none
  uint8_t corrupt_mask = 0;
  uint16_t path = 0;
  Duration delay = Duration::Zero();
};

struct FaultCounters {
  uint64_t judged = 0;
  uint64_t dropped = 0;
  uint64_t blackholed = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;
  uint64_t delayed = 0;

  FaultCounters& operator+=(const FaultCounters& other) {
    judged += other.judged;
    dropped += other.dropped;
    blackholed += other.blackholed;
    duplicated += other.duplicated;
    corrupted += other.corrupted;
    delayed += other.delayed;
    return *this;
  }
};

class FaultInjector {
 public:
  explicit FaultInjector(const FaultConfig& config = {});
  // Replaces the impairments (counters carry on).
  void Configure(const FaultConfig& config);
  const FaultConfig& config() const { return config_; }
  bool active() const { return config_.active(); }

  // The fate of one frame of `frame_len` bytes with UDP source port `entropy`.
  // Corruption hits a byte in [protected_from, frame_len): the part the Tern
  // checksum covers, so the receiver must catch it.
  FaultVerdict Judge(uint16_t entropy, size_t frame_len, size_t protected_from);

  const FaultCounters& counters() const { return counters_; }

 private:
  FaultConfig config_;
  Random rng_;
  FaultCounters counters_;
};

}  // namespace tern::dpdk
