// What tern-replay replays: a workload is a dependency graph of steps over
// host ranks. A step is a transfer (bytes from one host to another, posted as
// a work request) or a delay (compute time on one host). A step starts once
// every step it depends on has finished and its own start time has come.
//
// Every workload source (synthetic generators, flow files, Chakra traces)
// produces this one form, so the runner and the report know nothing of where
// a workload came from; ValidateWorkload() is the single gate before a run.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "transport/units.h"

namespace tern::replay {

inline constexpr int32_t kNoCollective = -1;

// Transfers are below 1 TiB, whatever made them: Bandwidth::TransferTime is
// exact below 2^40 bytes, and the replayer holds a transfer's work requests
// (16 MiB each) at once, so a corrupt size of 2^62 would exhaust memory.
inline constexpr uint64_t kMaxTransferBytes = uint64_t{1} << 40;

// Steps a workload may hold: each costs about 0.5 KB here and as much again
// in the replayer, so more would exhaust a lab machine's memory rather than
// run (an allreduce ring over 8192 ranks is 134 M transfers).
inline constexpr uint64_t kMaxWorkloadSteps = 10'000'000;

enum class StepKind : uint8_t {
  kTransfer,  // `bytes` from `src` to `dst`
  kDelay,     // `duration` of compute on `src` (dst unused)
};

struct Step {
  StepKind kind = StepKind::kTransfer;
  uint32_t src = 0;  // host rank
  uint32_t dst = 0;  // host rank; != src for a transfer
  uint64_t bytes = 0;
  Duration duration = Duration::Zero();  // delays only
  // Earliest start, from the start of the run. A step with dependencies starts
  // at max(not_before, last dependency's finish).
  Time not_before = Time::Zero();
  // Indices into Workload::steps of the steps that must finish first.
  std::vector<uint32_t> deps;
  // Index into Workload::collectives of the collective this step belongs to.
  int32_t collective = kNoCollective;
  // Where the step came from, for error messages and the per-flow CSV:
  // "incast", "htsim:12" (flow id), "rank3/node17" (Chakra node), ...
  std::string label;
};

// A collective operation expanded into steps; it completes when its last step
// does. Bus bandwidth follows the nccl-tests convention (see BusBandwidthFactor).
struct Collective {
  std::string name;       // "allreduce", "alltoall", "rank0/node4", ...
  std::string operation;  // "allreduce", "alltoall", "allgather", "reducescatter", ...
  std::string algorithm;  // "ring", "recursive_doubling", "direct", ...
  uint64_t bytes = 0;     // per rank, as nccl-tests' "size"
  uint32_t ranks = 0;
};

struct Workload {
  std::string description;  // the --workload spec, or the file it came from
  uint32_t hosts = 0;       // ranks used: every src/dst is < hosts
  std::vector<Step> steps;
  std::vector<Collective> collectives;
};

// Checks what a runner relies on: every host rank < hosts, transfers with
// src != dst and bytes > 0, dependency indices in range, no dependency cycle
// (the error names one step on the cycle), collective indices in range.
absl::Status ValidateWorkload(const Workload& workload);

// The index of one step on a dependency cycle, or nullopt when there is none.
// Every dependency index must be in range (ValidateWorkload checks that first).
// For loaders that map the step back to their own input in the error message.
std::optional<uint32_t> FindDependencyCycle(const Workload& workload);

// Which steps wait on each step: the reverse of Step::deps, built once so a
// runner finishing a step visits only its dependents.
class DependentIndex {
 public:
  explicit DependentIndex(const Workload& workload);
  DependentIndex() = default;
  std::span<const uint32_t> Of(uint32_t step) const {
    return {dependents_.data() + begin_[step], begin_[step + 1] - begin_[step]};
  }

 private:
  std::vector<uint32_t> begin_;  // Of(s) is dependents_[begin_[s], begin_[s + 1])
  std::vector<uint32_t> dependents_;
};

// nccl-tests' bus-bandwidth factor: busbw = algbw * factor, where
// algbw = bytes / time. allreduce 2(n-1)/n; allgather, reducescatter and
// alltoall (n-1)/n; broadcast, reduce and anything else 1.
double BusBandwidthFactor(const std::string& operation, uint32_t ranks);

}  // namespace tern::replay
