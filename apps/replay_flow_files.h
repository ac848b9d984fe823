// Flow lists written for other simulators, read into a replay::Workload so the
// same traffic can be replayed over Tern: htsim's connection matrices (the Ultra
// Ethernet htsim simulator, including its flow triggers) and the HPCC ns-3
// simulator's flow files.
//
// Every error reads "<file>:<line>: <what is wrong>", and the result has passed
// ValidateWorkload().
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "apps/replay_workload.h"

namespace tern::replay {

// htsim connection matrix. Header lines (before the first flow or trigger):
//   Nodes N | Connections C | Triggers T | Failures F
// each optional; a count that is given must match the lines that follow. Flow
// lines, one step each, attributes in any order:
//   SRC->DST [id ID] (start PS | trigger TID) size BYTES
//            [send_done_trigger TID] [recv_done_trigger TID] [prio P] [addon]
// start is picoseconds -> Step::not_before; prio and addon are accepted and
// ignored. Trigger lines: `trigger id TID oneshot|multishot|barrier [count N]`.
// Lines starting with '#' and blank lines are skipped anywhere.
//
// Triggers become dependencies. A flow's send or receive finishing is the same
// event here (the step's end), so send_done_trigger and recv_done_trigger both
// make the flow a "firer" of the trigger. A flow waiting on trigger X depends on:
//   barrier    every firer of X (htsim fires after `count` activations; a count
//              other than the number of firers never fires or aborts htsim, so
//              it is refused);
//   oneshot    the first firer listed. htsim starts the waiters on the first
//              activation, whichever firer finishes first, and aborts on a
//              second one, so files that work have one firer; with several,
//              the first listed is an approximation;
//   multishot  htsim starts one waiter per activation, in listing order; the
//              k-th waiter listed depends on the k-th firer listed (the real
//              k-th activation is whichever firer finishes k-th).
// Failure lines describe switch failures, which a replay cannot model: refused.
// Label "htsim:ID" (or "htsim:line N" for a flow without an id). hosts is
// Nodes when given, else the largest host index + 1.
absl::StatusOr<Workload> ParseHtsimConnectionMatrix(std::string_view text,
                                                    std::string_view source_name);

// HPCC flow file: the first line is the number of flows, then one flow a line,
//   SRC DST PG DPORT SIZE_BYTES START_SECONDS
// (PG, the priority group, and DPORT are checked as numbers and ignored).
// Label "hpcc:LINE"; hosts is the largest host index + 1.
absl::StatusOr<Workload> ParseHpccFlowFile(std::string_view text, std::string_view source_name);

// Reads `path` and parses it as an htsim connection matrix when any line holds
// "->", else as an HPCC flow file. description is the path.
absl::StatusOr<Workload> LoadFlowFile(const std::string& path);

}  // namespace tern::replay
