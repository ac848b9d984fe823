#include "dataplane/dpdk/fault_injector.h"

#include "absl/strings/str_format.h"

namespace tern::dpdk {

std::string DescribeFaults(const FaultConfig& c) {
  if (!c.active()) return "none";
  return absl::StrFormat("loss=%g dup=%g corrupt=%g reorder=%s paths=%d blackhole=%d seed=%d",
                         c.loss, c.dup, c.corrupt, c.reorder.ToString(), c.paths, c.blackhole,
                         c.seed);
}

FaultInjector::FaultInjector(const FaultConfig& config) : config_(config), rng_(config.seed) {}

void FaultInjector::Configure(const FaultConfig& config) {
  config_ = config;
  rng_ = Random(config.seed);
}

FaultVerdict FaultInjector::Judge(uint16_t entropy, size_t frame_len, size_t protected_from) {
  FaultVerdict v;
  ++counters_.judged;
  const uint16_t paths = config_.paths == 0 ? 1 : config_.paths;
  v.path = static_cast<uint16_t>(entropy % paths);
  if (config_.blackhole >= 0 && v.path == config_.blackhole) {
    v.drop = true;
    ++counters_.blackholed;
    return v;
  }
  if (rng_.Bernoulli(config_.loss)) {
    v.drop = true;
    ++counters_.dropped;
    return v;
  }
  v.duplicate = rng_.Bernoulli(config_.dup);
  counters_.duplicated += v.duplicate;
  if (rng_.Bernoulli(config_.corrupt) && frame_len > protected_from) {
    v.corrupt_offset = protected_from + rng_.Uniform(frame_len - protected_from);
    v.corrupt_mask = static_cast<uint8_t>(1u << rng_.Uniform(8));
    ++counters_.corrupted;
  }
  if (config_.reorder > Duration::Zero() && paths > 1 && v.path > 0) {
    v.delay = config_.reorder * v.path / (paths - 1);
    ++counters_.delayed;
  }
  return v;
}

}  // namespace tern::dpdk
