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
  std::string collective_algorithm;
};

// Reads every *.et file of `dir`; ranks are the numbers before ".et" and must
// be 0..N-1 with none missing. Errors name the file and, past the header, the
// node id: unreadable or truncated protobuf, a dependency on an unknown node,
// a SEND without its RECV (or the reverse), collectives that disagree across
// ranks, a dependency cycle.
absl::StatusOr<Workload> LoadChakraTrace(const std::string& dir, const ChakraOptions& options = {});

}  // namespace tern::replay
