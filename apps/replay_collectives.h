// Collectives expanded into point-to-point transfers with their dependencies,
// as a collective library schedules them: the `allreduce` workload and Chakra's
// COMM_COLL nodes both come through here, so one algorithm has one expansion.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_workload.h"

namespace tern::replay {

struct CollectiveSpec {
  std::string name;  // Collective::name
  std::string
      operation;  // allreduce | allgather | reducescatter | alltoall | broadcast | reduce | barrier
  // ring | recursive_doubling (allreduce, power-of-two ranks) | direct (alltoall)
  // | "" for the operation's default (ring; direct for alltoall).
  std::string algorithm;
  uint64_t bytes = 0;           // per rank, nccl-tests' "size"
  std::vector<uint32_t> ranks;  // host ranks taking part, in ring order; >= 2, distinct
  Time not_before = Time::Zero();
};

// Appends the collective's steps (and one Collective entry) to `workload`.
// `entry_deps[i]`, when not empty, lists steps that rank spec.ranks[i] must
// finish before its first transfer of this collective (entry_deps may be empty:
// no dependencies). Returns, per rank in spec.ranks order, the steps whose
// completion means the collective is done on that rank (its last send and
// last receive; every send and receive for direct alltoall; a rank that only
// receives also lists its entry_deps), for later steps to depend on.
// Errors (InvalidArgument): unknown operation or algorithm, fewer than two
// ranks, repeated ranks, recursive doubling on a non-power-of-two count,
// entry_deps of the wrong size, zero bytes (except for barrier). On error the
// workload is left unchanged.
absl::StatusOr<std::vector<std::vector<uint32_t>>> ExpandCollective(
    const CollectiveSpec& spec, const std::vector<std::vector<uint32_t>>& entry_deps,
    Workload& workload);

}  // namespace tern::replay
