#include "apps/replay_workload.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tern::replay {
namespace {

// "step 12 (rank3/node17)": how every error points at a step.
std::string StepName(const Workload& workload, size_t index) {
  return absl::StrCat("step ", index, " (", workload.steps[index].label, ")");
}

absl::Status CheckStep(const Workload& workload, size_t index) {
  const Step& step = workload.steps[index];
  if (step.src >= workload.hosts) {
    return absl::InvalidArgumentError(absl::StrCat(StepName(workload, index), ": host ", step.src,
                                                   " out of range (", workload.hosts, " hosts)"));
  }
  switch (step.kind) {
    case StepKind::kTransfer:
      if (step.dst >= workload.hosts) {
        return absl::InvalidArgumentError(
            absl::StrCat(StepName(workload, index), ": destination host ", step.dst,
                         " out of range (", workload.hosts, " hosts)"));
      }
      if (step.src == step.dst) {
        return absl::InvalidArgumentError(absl::StrCat(
            StepName(workload, index), ": transfer from host ", step.src, " to itself"));
      }
      if (step.bytes == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(StepName(workload, index), ": transfer of zero bytes"));
      }
      if (step.bytes >= kMaxTransferBytes) {
        return absl::InvalidArgumentError(absl::StrCat(StepName(workload, index), ": transfer of ",
                                                       step.bytes, " bytes, 1 TiB or more"));
      }
      break;
    case StepKind::kDelay:
      if (step.duration < Duration::Zero()) {
        return absl::InvalidArgumentError(
            absl::StrCat(StepName(workload, index), ": negative delay ", step.duration.ToString()));
      }
      break;
  }
  for (uint32_t dep : step.deps) {
    if (dep >= workload.steps.size()) {
      return absl::InvalidArgumentError(absl::StrCat(StepName(workload, index),
                                                     ": depends on step ", dep, " of only ",
                                                     workload.steps.size()));
    }
  }
  if (step.collective != kNoCollective &&
      (step.collective < 0 ||
       static_cast<size_t>(step.collective) >= workload.collectives.size())) {
    return absl::InvalidArgumentError(absl::StrCat(StepName(workload, index), ": collective ",
                                                   step.collective, " of only ",
                                                   workload.collectives.size()));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<uint32_t> FindDependencyCycle(const Workload& workload) {
  const std::vector<Step>& steps = workload.steps;
  const size_t n = steps.size();

  // Kahn's algorithm over the dependents index: workloads reach millions of
  // steps, so no recursion and no per-step vectors.
  const DependentIndex dependents(workload);
  std::vector<uint32_t> pending(n, 0);  // unfinished dependencies per step
  for (size_t i = 0; i < n; ++i) pending[i] = static_cast<uint32_t>(steps[i].deps.size());

  std::vector<uint32_t> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<uint32_t>(i));
  }
  size_t finished = 0;
  while (!ready.empty()) {
    const uint32_t step = ready.back();
    ready.pop_back();
    ++finished;
    for (uint32_t dependent : dependents.Of(step)) {
      if (--pending[dependent] == 0) ready.push_back(dependent);
    }
  }
  if (finished == n) return std::nullopt;

  // Every step left unfinished waits on another unfinished one. Walking those
  // waits backwards must revisit a step, and the first one revisited lies on
  // a cycle (the steps before it may only lead into the cycle).
  uint32_t at = 0;
  while (pending[at] == 0) ++at;
  std::vector<bool> visited(n, false);
  while (!visited[at]) {
    visited[at] = true;
    for (uint32_t dep : steps[at].deps) {
      if (pending[dep] != 0) {
        at = dep;
        break;
      }
    }
  }
  return at;
}

absl::Status ValidateWorkload(const Workload& workload) {
  if (workload.steps.size() > kMaxWorkloadSteps) {
    return absl::InvalidArgumentError(absl::StrCat(workload.steps.size(), " steps: more than the ",
                                                   kMaxWorkloadSteps, " a workload may hold"));
  }
  for (size_t i = 0; i < workload.steps.size(); ++i) {
    if (absl::Status status = CheckStep(workload, i); !status.ok()) return status;
  }
  if (std::optional<uint32_t> step = FindDependencyCycle(workload)) {
    return absl::InvalidArgumentError(
        absl::StrCat(StepName(workload, *step), " is on a dependency cycle"));
  }
  return absl::OkStatus();
}

DependentIndex::DependentIndex(const Workload& workload) {
  const size_t n = workload.steps.size();
  begin_.assign(n + 1, 0);
  for (const Step& step : workload.steps) {
    for (uint32_t d : step.deps) ++begin_[d + 1];
  }
  for (size_t i = 0; i < n; ++i) begin_[i + 1] += begin_[i];
  dependents_.resize(begin_[n]);
  std::vector<uint32_t> fill(begin_.begin(), begin_.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d : workload.steps[i].deps) dependents_[fill[d]++] = i;
  }
}

double BusBandwidthFactor(const std::string& operation, uint32_t ranks) {
  // Zero ranks count as one (no bus traffic) rather than dividing by zero.
  const double n = ranks == 0 ? 1.0 : ranks;
  if (operation == "allreduce") return 2.0 * (n - 1) / n;
  if (operation == "allgather" || operation == "reducescatter" || operation == "alltoall") {
    return (n - 1) / n;
  }
  return 1.0;
}

}  // namespace tern::replay
