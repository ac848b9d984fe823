// The pure part of tern-replay over DPDK: the hosts file, and what one rank
// of a workload does (the steps it runs, the transfers it receives, the peers
// it connects to). No DPDK, no sockets: unit-tested beside it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_workload.h"
#include "transport/wire.h"

namespace tern::replay {

// One line of the hosts file: `IPV4 [mac=MAC] [gw=IPV4] [control-port=PORT]`;
// `#` starts a comment, blank lines are skipped. Line i (counting hosts only,
// from 0) is rank i.
struct RankHost {
  IpAddress ip;
  std::optional<MacAddress> mac;  // absent: found with ARP
  // This rank's router on a routed fabric: it asks ARP for the gateway's MAC,
  // not each peer's, and sends every frame there.
  std::optional<IpAddress> gateway;
  uint16_t control_port = 0;
};

// Errors name the file and line. IPv4 only (the DPDK path has no NDP), no
// address twice, at least two hosts; gw= and mac= do not mix (behind a router
// a peer's own MAC is not the next hop).
absl::StatusOr<std::vector<RankHost>> ParseHostsFile(std::string_view text, std::string_view name,
                                                     uint16_t default_control_port);

// The rank of this process: `flag` (--rank) when given, else the Open MPI
// launcher's OMPI_COMM_WORLD_RANK (`ompi_env`, may be null); must be below
// `ranks`. Errors say which source was used.
absl::StatusOr<uint32_t> ResolveRank(std::optional<uint32_t> flag, const char* ompi_env,
                                     uint32_t ranks);

// Work requests carry at most this much; every rank sizes its per-peer slots
// from the workload's largest transfer, capped here, so all agree. Small
// enough that a peer's 32 slots a side (2 MiB) stay in the caches, where the
// sender's pattern fill, the receive copy and the receiver's check run; 16
// such work requests in flight (1 MiB) still cover a core's rate times the
// RTT of a software path (docs/replay-dpdk.md, "Chunks").
inline constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 16;
uint64_t ChunkBytes(const Workload& workload);
// Work requests a transfer of `bytes` is posted as.
inline uint64_t ChunksOf(uint64_t bytes, uint64_t chunk) { return (bytes + chunk - 1) / chunk; }

// Every step runs on its source host (a transfer is posted there, a delay
// waits there), and a host learns only of the steps it runs and the
// transfers it receives. A dependency outside those cannot be observed
// without a message the workload does not contain: refused, naming the step,
// its host and the dependency, rather than a run that would hang.
absl::Status CheckDependenciesObservable(const Workload& workload);

struct RankPlan {
  uint32_t rank = 0;
  uint32_t workers = 1;              // --workers: each peer has one QP per worker
  std::vector<uint32_t> runs;        // steps this rank runs, ascending
  std::vector<uint32_t> receives;    // transfers sent to it, ascending
  std::vector<uint32_t> data_peers;  // ranks it sends to or receives from, ascending
  // Ranks it holds a control connection with: its data peers and rank 0
  // (rank 0: every rank, for the barriers), ascending.
  std::vector<uint32_t> control_peers;
  // Per data peer (same order) and worker: work requests it will send to
  // this rank on that worker's QP, at [peer index * workers + worker].
  std::vector<uint64_t> chunks_from;
  // Per step of the workload: the worker that runs it on its source rank and
  // receives it on its destination (StepWorkers).
  std::vector<uint16_t> step_worker;
};
// Each rank's steps dealt out to its workers in turn, in step order, so that
// both ends of a transfer know which worker's QP carries it without asking.
std::vector<uint16_t> StepWorkers(const Workload& workload, uint32_t workers);
RankPlan PlanRank(const Workload& workload, uint32_t rank, uint32_t ranks, uint64_t chunk_bytes,
                  uint32_t workers);

}  // namespace tern::replay
