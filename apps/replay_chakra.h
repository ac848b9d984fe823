// MLCommons Chakra execution traces (one NAME.RANK.et file per rank) turned
// into a replay::Workload: COMM_COLL nodes expanded by ExpandCollective,
// COMM_SEND/COMM_RECV nodes matched into transfers by source, destination and
// tag, COMP nodes as delays of their duration, every other node as a zero-length
// step, and data and control dependencies kept.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "apps/replay_workload.h"

namespace tern::replay {

struct ChakraOptions {
  // Algorithm for COMM_COLL nodes, as CollectiveSpec::algorithm ("" = default).
  std::string collective_algorithm = {};
  // Communicator groups, in ASTRA-sim's --comm-group-configuration format: a
  // JSON object mapping each group's name to its ranks, {"1": [0, 1], ...}
  // (or {"1": {"ranks": [0, 1]}}). A COMM_COLL node whose pg_name attribute
  // names a group runs among that group's ranks, in the order listed (the
  // ring order). "" = no file: the groups that the traces' own
  // process_group:init METADATA nodes record (PyTorch's), and without those
  // every collective spans all ranks. A file overrides the traces' groups.
  std::string comm_groups_file = {};
};

// Reads every *.et file of `dir`; ranks are the numbers before ".et" and must
// be 0..N-1 with none missing. Errors name the file and, past the header, the
// node id: unreadable or truncated protobuf, a dependency on an unknown node,
// a SEND without its RECV (or the reverse), collectives that disagree across
// ranks, a dependency cycle; errors in the groups file name it and the group,
// errors in a process_group:init node name the file and node (groups listed
// differently on two ranks too), and a pg_name that names no group, or a group
// without the node's rank, is refused.
absl::StatusOr<Workload> LoadChakraTrace(const std::string& dir, const ChakraOptions& options = {});

}  // namespace tern::replay
