// Fabric topologies as plain graphs: hosts and switches joined by cables, each
// cable a full-duplex link with a rate and a propagation delay. Builders for the
// shapes labs simulate (star, leaf-spine, k-ary fat tree), a text format for
// anything else, and the shortest-path routing (all equal-cost next hops) a
// switch hashes over. Nothing here moves frames: Fabric does.
//
// Node numbering: hosts are 0..hosts-1, switches hosts..hosts+switches-1.
//
// Text format (one statement per line, '#' starts a comment):
//   hosts N
//   switches M
//   link A B [RATE_GBPS [DELAY_US]]     A, B: hI or sJ; defaults from the spec
//   fail A B AT_US down|slow=FACTOR|loss=P|up
// Every host needs exactly one link, to a switch.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "transport/units.h"

namespace tern::sim {

struct Cable {
  uint32_t a = 0;  // node ids
  uint32_t b = 0;
  Bandwidth rate;
  Duration delay;
};

// Latest failure time accepted, in microseconds: 1000 s of virtual time, far
// past any run and far inside the picosecond clock's range.
inline constexpr double kMaxFailureTimeUs = 1e9;

// Something that happens to one cable (both directions) at a given time.
// kUp ends whatever happened before: the cable is as built again, so a
// down-then-up pair is a link flap.
struct CableFailure {
  enum class Kind : uint8_t { kDown, kSlow, kLoss, kUp };
  uint32_t cable = 0;  // index into Topology::cables
  Time at;
  Kind kind = Kind::kDown;
  double value = 0;  // kSlow: rate factor in (0, 1]; kLoss: probability in [0, 1]
};

struct Topology {
  std::string description;  // "fattree k=8 (128 hosts, 80 switches)", ...
  uint32_t hosts = 0;
  uint32_t switches = 0;
  std::vector<Cable> cables;
  std::vector<CableFailure> failures;

  uint32_t nodes() const { return hosts + switches; }
  bool IsHost(uint32_t node) const { return node < hosts; }
  // "h3", "s12" (switch index, not node id).
  std::string NodeName(uint32_t node) const;
};

enum class TopologyKind : uint8_t { kStar, kLeafSpine, kFatTree, kFile };

struct TopologySpec {
  TopologyKind kind = TopologyKind::kFatTree;
  // Hosts wanted. Fat tree: k is the smallest even arity with k^3/4 >= hosts
  // unless `k` is given; hosts fill the edge switches in order.
  uint32_t hosts = 128;
  uint32_t k = 0;
  uint32_t leaves = 0;          // leaf-spine: 0 picks sqrt-ish (hosts / 16, at least 2)
  double oversubscription = 1;  // leaf-spine: host ports per leaf / uplinks per leaf
  std::string file;             // kFile
  Bandwidth link_rate = Bandwidth::Gbps(400);
  Duration link_delay = Duration::Microseconds(1);
};

absl::StatusOr<Topology> BuildTopology(const TopologySpec& spec);

// The pieces of a failure statement, shared by the topology file's `fail`
// lines and --fabric=sim:fail=. FindNode reads "hI" or "sJ" (in range);
// FindCable finds a cable joining two nodes either way round.
std::optional<uint32_t> FindNode(const Topology& topology, std::string_view name);
std::optional<uint32_t> FindCable(const Topology& topology, uint32_t a, uint32_t b);
// Fills failure->at and kind/value from "AT_US" and "down|slow=F|loss=P|up";
// the error says which part is wrong.
absl::Status ParseFailureTiming(std::string_view at_us, std::string_view what,
                                CableFailure* failure);
// Parses the text format; `source` names the file in errors ("FILE:LINE: ...").
absl::StatusOr<Topology> ParseTopology(std::string_view text, std::string_view source,
                                       Bandwidth default_rate, Duration default_delay);

// Shortest-path routes: for every switch and every destination switch, the
// switch's ports (indices into its cable list, see Routing::ports) on a
// shortest path. Hosts reach their one switch.
class Routing {
 public:
  // Fails when a host is not attached to exactly one switch, or some host
  // cannot reach another.
  static absl::StatusOr<Routing> Compute(const Topology& topology);

  // The cables (indices into Topology::cables) at `node`, in a fixed order:
  // a port number at a node is an index into this list.
  const std::vector<uint32_t>& ports(uint32_t node) const { return node_cables_[node]; }
  // The switch a host hangs off, and the port of that switch leading to it.
  uint32_t host_switch(uint32_t host) const { return host_switch_[host]; }
  uint32_t host_port(uint32_t host) const { return host_port_[host]; }
  // Ports of switch node `sw` on shortest paths toward `dst_host`.
  std::span<const uint16_t> NextHops(uint32_t sw, uint32_t dst_host) const;
  // Switch-to-switch hops between the hosts' switches (0: same switch).
  uint32_t SwitchHops(uint32_t src_host, uint32_t dst_host) const;
  uint32_t max_switch_hops() const { return max_switch_hops_; }

 private:
  uint32_t hosts_ = 0;
  uint32_t switches_ = 0;
  std::vector<std::vector<uint32_t>> node_cables_;
  std::vector<uint32_t> host_switch_;
  std::vector<uint32_t> host_port_;
  // Switch index s, destination switch index d: hops_[s * switches + d].
  std::vector<uint16_t> hops_;
  // Next hops, read at every switch a frame crosses. A fat tree repeats a few
  // port lists (all the up ports, one down port) over and over, so each
  // distinct list is stored once, in port_lists_ from list_offsets_[i] to
  // list_offsets_[i + 1], and the table holds list numbers: list_of_[s *
  // columns + host_column_[dst_host]], with one column per switch that has
  // hosts. For 8192 hosts that is 2.6 MB of list numbers; peak RSS of an
  // 8192-host permutation fell by 45 MB when a list per switch pair went.
  std::vector<uint32_t> host_column_;  // per host: its switch's column
  uint32_t columns_ = 0;
  std::vector<uint32_t> list_of_;
  std::vector<uint32_t> list_offsets_;
  std::vector<uint16_t> port_lists_;
  uint32_t max_switch_hops_ = 0;
};

}  // namespace tern::sim
