// tern-replay on the DPDK dataplane: this process is one rank (host) of the
// workload. Every rank builds the same workload from the same spec and seed,
// runs its share through the verbs API (the transfers it sends, the delays on
// its host, the receive side of the transfers sent to it), and writes its
// rank file (apps/replay_rank_file.h) for the merge.
//
// Sequence: open the port; one TCP control connection per peer it exchanges
// data with, plus one to rank 0 (dataplane/control), carrying the QP set-up;
// ARP; a barrier through rank 0; base-RTT probes; a second barrier that hands
// out the common start time (rank 0's CLOCK_REALTIME + --start-delay); the run,
// bounded by --time-limit of wall clock; a last barrier so no rank tears down
// while a peer still needs its ACKs. docs/replay-dpdk.md has the details.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "apps/replay_options.h"

namespace tern::replay {

// The EAL is initialised by the caller. Returns an error for set-up failures
// (hosts file, workload, port, a peer that never came or refused the set-up);
// transfers that did not finish by the time limit are written to the rank
// file as unfinished, and *all_done says whether every step of this rank
// finished.
absl::Status RunDpdkRank(const ReplayOptions& options, bool* all_done);

}  // namespace tern::replay
