// A switched fabric in virtual time: the Topology's cables become Links (one
// per direction), its switches forward by destination IP with ECMP hashing of
// the 5-tuple over the equal-cost next hops, so the UDP source port (Tern's
// entropy) picks the path. Switch output ports have a buffer (per port or
// shared per switch), RED-style ECN marking and optional trimming. Failures
// from the topology happen at their time.
//
// The fabric moves frames only: hosts attach a receiver and send frames into
// their uplink. The host NIC (SimHost) serializes at line rate, so the uplink
// only adds propagation delay; every switch port serializes at its cable rate.
//
// Host h has IPv4 address 10.0.0.0 + h + 1 and MAC 02:74:hh:hh:hh:01; frames
// to any other address, and non-IPv4 frames, are dropped and counted.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "dataplane/sim/link.h"
#include "dataplane/sim/simulator.h"
#include "dataplane/sim/topology.h"
#include "transport/units.h"
#include "transport/wire.h"

namespace tern::sim {

struct FabricConfig {
  TopologySpec topology;
  // The largest frame (payload MTU plus headers); with the base RTT it sets
  // the default buffer. 4150 bytes, as in the published Ultra Ethernet runs.
  uint32_t mtu_frame_bytes = 4150;
  // Switch output-port buffer in bytes; 0: one bandwidth-delay product of the
  // longest path, link rate x longest_base_rtt() (which counts the data
  // frame's serialization on every link, the NIC's too).
  uint64_t buffer_bytes = 0;
  // The buffer is a pool per switch (buffer_bytes x ports) any port may use.
  bool shared_buffer = false;
  // ECN marking thresholds as fractions of the port buffer, and the marking
  // probability reached at kmax (RED: linear in between, always above).
  double ecn_kmin = 0.2;
  double ecn_kmax = 0.8;
  double ecn_pmax = 1.0;
  bool ecn = true;
  // Trim Tern DATA frames to their headers instead of dropping on overflow.
  bool trim = false;
  bool telemetry = true;  // switch ports stamp in-band telemetry on packets that ask
  // A switch stops hashing onto its own ports whose cable is down, as an ECMP
  // group drops a member whose link fails; other switches, which do not see
  // the failure, keep sending toward it (no routing protocol reconverges).
  bool failover = false;
  // Extra delay on every link, per frame, uniform in [0, jitter): breaks the
  // exact phase lock of equal links at equal rates, where which frame a full
  // queue drops (and so some results) turns on how simultaneous events are
  // ordered (docs/simulator.md). Links stay FIFO. Ideal FCTs leave it out.
  Duration link_jitter = Duration::Zero();
  // A failure in addition to the topology's: --fabric=sim:...,fail=s0-s8@100:down
  std::vector<std::string> failures;  // "A-B@AT_US:down|slow=F|loss=P|up"
  uint64_t seed = 0;  // ECMP hash salts and link randomness; tern-replay: 0 takes --seed
};

// Parses the KEY=VALUE,... list after "sim:". Keys: topology
// (star|leafspine|fattree|FILE path via file=), hosts, k, leaves, oversub,
// rate (Gb/s), delay (us), mtu (frame bytes), buffer (bytes), shared (0|1),
// ecn (0|1), kmin, kmax (fractions), pmax, trim (0|1), int (0|1), failover (0|1),
// jitter (us), fail, seed.
absl::StatusOr<FabricConfig> ParseFabricSpec(std::string_view spec);
std::string DescribeFabricSpec();

// Builds the configured topology. For topology=file, `file_text` holds the
// contents of config.topology.file, which the caller reads.
absl::StatusOr<Topology> MakeTopology(const FabricConfig& config, std::string_view file_text);
// The same for a built topology; topology=file is refused, since its text
// was not read (it would otherwise parse as an empty file).
absl::StatusOr<Topology> MakeTopology(const FabricConfig& config);

// The one-way shape of the shortest path between two hosts.
struct PathInfo {
  uint32_t links = 0;  // host link, switch-to-switch links, host link
  Duration propagation = Duration::Zero();
  Bandwidth bottleneck;
  // Store-and-forward time of one frame of `bytes` over every link after the
  // first (the first is the sender NIC's own serialization).
  Duration ForwardingDelay(uint32_t bytes) const;
  std::vector<Bandwidth> rates;  // per link, in path order
};

// Everything one switch output port (or host uplink) saw.
struct PortReport {
  std::string name;  // "s3->s17", "s0->h5", "h5->s0"
  bool host_uplink = false;
  Bandwidth rate;
  LinkCounters counters;
  uint64_t queue_p50_bytes = 0;  // the occupancy arriving frames found
  uint64_t queue_p99_bytes = 0;
  uint64_t queue_samples = 0;
};

struct FabricCounters {
  uint64_t switched_frames = 0;
  uint64_t no_route_drops = 0;     // not IPv4, or to an address no host has
  uint64_t ttl_expired_drops = 0;  // arrived with a TTL of 0 or 1: a routing loop
  uint64_t host_unattached_drops = 0;
  uint64_t failover_rehashed = 0;  // hashed onto a down port, sent on a live one (failover=1)
};

class Fabric {
 public:
  static absl::StatusOr<std::unique_ptr<Fabric>> Create(Simulator& sim, Topology topology,
                                                        const FabricConfig& config);
  ~Fabric();
  Fabric(const Fabric&) = delete;
  Fabric& operator=(const Fabric&) = delete;

  static Endpoint HostEndpoint(uint32_t host, uint16_t udp_port);

  uint32_t hosts() const { return topology_.hosts; }
  const Topology& topology() const { return topology_; }
  const Routing& routing() const { return routing_; }
  uint64_t buffer_bytes() const { return buffer_bytes_; }
  // Base RTT of the longest path at the configured link rate and delay, with
  // full-MTU data frames: the default buffer is this times the link rate, and
  // it is the one fabric-wide base RTT transports are configured with.
  Duration longest_base_rtt() const { return longest_base_rtt_; }
  const LinkConfig& switch_port_config() const { return port_config_; }

  // Frames arriving for `host` go to `receiver`.
  void AttachHost(uint32_t host, FrameSink receiver);
  // A frame leaves `host`'s NIC now, into its uplink.
  void SendFromHost(uint32_t host, Frame frame);

  PathInfo Path(uint32_t src_host, uint32_t dst_host) const;
  // Base RTT between two hosts: propagation both ways plus the store-and-
  // forward of one `data_frame_bytes` frame and of its `ack_frame_bytes` ACK,
  // not counting the sender's own serialization of the data frame. A flow of
  // W bytes on the wire ideally completes in W / bottleneck + BaseRtt.
  Duration BaseRtt(uint32_t src_host, uint32_t dst_host, uint32_t data_frame_bytes,
                   uint32_t ack_frame_bytes) const;

  // The link carrying frames from `from` over cable `cable`.
  const Link& link(uint32_t cable, bool from_a) const {
    return *links_[2 * cable + (from_a ? 0 : 1)];
  }
  std::vector<PortReport> Ports() const;
  const FabricCounters& counters() const { return counters_; }
  // Sums over every switch output port (host uplinks excluded).
  LinkCounters SwitchPortTotals() const;

 private:
  Fabric(Simulator& sim, Topology topology, Routing routing, const FabricConfig& config);
  void Build();
  void ScheduleFailure(const CableFailure& failure);
  // How the link carrying frames from `from` over `cable` is built; what an
  // `up` event restores.
  LinkConfig BuiltLinkConfig(const Cable& cable, uint32_t from) const;
  // A frame arrived at switch node `sw`.
  void Forward(uint32_t sw, Frame frame);
  // With failover: `port`, or when its cable is down, the (pick mod n)-th of
  // the n ports in `hops` whose cable is up; `port` when none is.
  uint32_t LivePort(uint32_t sw, std::span<const uint16_t> hops, uint32_t port, uint64_t pick);
  void DeliverToHost(uint32_t host, Frame frame);
  // Index into links_ of the link leaving `node` through its port `port`.
  size_t LinkFrom(uint32_t node, uint32_t port) const;

  Simulator& sim_;
  Topology topology_;
  Routing routing_;
  FabricConfig config_;
  uint64_t buffer_bytes_ = 0;
  Duration longest_base_rtt_;
  LinkConfig port_config_;
  std::vector<std::unique_ptr<Link>> links_;  // 2 per cable: a->b, b->a
  // The link leaving node n through port p: port_links_[port_link_offset_[n] + p]
  // (LinkFrom flattened, one load per hop instead of four).
  std::vector<Link*> port_links_;
  std::vector<uint32_t> port_link_offset_;
  std::vector<std::unique_ptr<SharedBuffer>> shared_buffers_;  // per switch, when shared
  std::vector<uint64_t> switch_salt_;
  std::vector<FrameSink> host_receivers_;
  std::vector<EventId> failure_events_;
  FabricCounters counters_;
};

}  // namespace tern::sim
