#include "dataplane/sim/fabric.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::sim {
namespace {

constexpr uint32_t kHostIpBase = 0x0A000001;  // host 0 is 10.0.0.1
// The smallest Tern frame (an ACK), for the default buffer's base RTT.
constexpr uint32_t kAckFrameBytes = 100;

uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::Status BadValue(std::string_view key, std::string_view value, std::string_view accepted) {
  return absl::InvalidArgumentError(
      absl::StrFormat("--fabric=sim: %s=%s is invalid: %s", key, value, accepted));
}

bool ParseFlag(std::string_view value, bool* out) {
  if (value == "1" || value == "true" || value == "on") {
    *out = true;
  } else if (value == "0" || value == "false" || value == "off") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// "A-B@AT_US:down|slow=F|loss=P|up" against the topology's node names.
absl::StatusOr<CableFailure> ParseFailure(std::string_view text, const Topology& t) {
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--fabric=sim: fail=%s: %s (form: A-B@AT_US:down|slow=FACTOR|loss=P|up)", text, why));
  };
  const size_t at = text.find('@');
  const size_t colon = text.find(':', at == std::string_view::npos ? 0 : at);
  if (at == std::string_view::npos || colon == std::string_view::npos) return bad("malformed");
  const std::vector<std::string_view> ends = SplitText(text.substr(0, at), '-');
  if (ends.size() != 2) return bad("expected two node names joined by '-'");
  const std::optional<uint32_t> a = FindNode(t, ends[0]);
  const std::optional<uint32_t> b = FindNode(t, ends[1]);
  if (!a || !b) return bad("unknown node (hI or sJ, in range)");
  const std::optional<uint32_t> cable = FindCable(t, *a, *b);
  if (!cable) return bad("no link joins those nodes");
  CableFailure f;
  f.cable = *cable;
  if (absl::Status s =
          ParseFailureTiming(text.substr(at + 1, colon - at - 1), text.substr(colon + 1), &f);
      !s.ok()) {
    return bad(std::string(s.message()));
  }
  return f;
}

}  // namespace

absl::StatusOr<FabricConfig> ParseFabricSpec(std::string_view spec) {
  FabricConfig c;
  std::vector<std::string> seen;
  for (const auto& [item, key, value, has_equals] : SplitKeyValues(spec)) {
    if (item.empty()) continue;
    if (!has_equals) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--fabric=sim: expected KEY=VALUE, got '%s'", item));
    }
    if (key != "fail") {
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        return absl::InvalidArgumentError(absl::StrFormat("--fabric=sim: %s given twice", key));
      }
      seen.emplace_back(key);
    }
    double d;
    uint64_t u;
    if (key == "topology") {
      if (value == "star")
        c.topology.kind = TopologyKind::kStar;
      else if (value == "leafspine")
        c.topology.kind = TopologyKind::kLeafSpine;
      else if (value == "fattree")
        c.topology.kind = TopologyKind::kFatTree;
      else
        return BadValue(key, value, "star, leafspine or fattree (or file=PATH)");
    } else if (key == "file") {
      if (value.empty()) return BadValue(key, value, "a topology file path");
      c.topology.kind = TopologyKind::kFile;
      c.topology.file = std::string(value);
    } else if (key == "hosts" || key == "k" || key == "leaves") {
      if (!ParseUint(value, &u) || u > (1u << 20)) {
        return BadValue(key, value, "a whole number up to 2^20");
      }
      (key == "hosts" ? c.topology.hosts
       : key == "k"   ? c.topology.k
                      : c.topology.leaves) = static_cast<uint32_t>(u);
    } else if (key == "oversub") {
      if (!ParseDouble(value, &d) || !(d >= 1 && d <= 64))
        return BadValue(key, value, "in [1, 64]");
      c.topology.oversubscription = d;
    } else if (key == "rate") {
      if (!ParseDouble(value, &d) || !(d > 0 && d <= 1e5)) {
        return BadValue(key, value, "Gb/s in (0, 100000]");
      }
      c.topology.link_rate = Bandwidth::Gbps(d);
    } else if (key == "delay") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 1e6)) {
        return BadValue(key, value, "microseconds in [0, 1e6]");
      }
      c.topology.link_delay = Duration::FractionalMicroseconds(d);
    } else if (key == "jitter") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 1e3)) {
        return BadValue(key, value, "microseconds in [0, 1000]");
      }
      c.link_jitter = Duration::FractionalMicroseconds(d);
    } else if (key == "mtu") {
      if (!ParseUint(value, &u) || u < 128 || u > 10000) {
        return BadValue(key, value, "frame bytes in [128, 10000]");
      }
      c.mtu_frame_bytes = static_cast<uint32_t>(u);
    } else if (key == "buffer") {
      if (!ParseUint(value, &u) || (u != 0 && u < 1500) || u > (uint64_t{1} << 34)) {
        return BadValue(key, value, "bytes >= 1500 (0: one BDP)");
      }
      c.buffer_bytes = u;
    } else if (key == "kmin" || key == "kmax" || key == "pmax") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 1)) return BadValue(key, value, "in [0, 1]");
      (key == "kmin" ? c.ecn_kmin : key == "kmax" ? c.ecn_kmax : c.ecn_pmax) = d;
    } else if (key == "shared" || key == "ecn" || key == "trim" || key == "int" ||
               key == "failover") {
      bool flag;
      if (!ParseFlag(value, &flag)) return BadValue(key, value, "0 or 1");
      (key == "shared" ? c.shared_buffer
       : key == "ecn"  ? c.ecn
       : key == "trim" ? c.trim
       : key == "int"  ? c.telemetry
                       : c.failover) = flag;
    } else if (key == "fail") {
      c.failures.emplace_back(value);
    } else if (key == "seed") {
      if (!ParseUint(value, &u)) return BadValue(key, value, "a whole number");
      c.seed = u;
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("--fabric=sim: unknown key '%s'; valid: topology, file, hosts, k, "
                          "leaves, oversub, rate, delay, jitter, mtu, buffer, "
                          "shared, ecn, kmin, kmax, pmax, trim, int, failover, fail, seed",
                          key));
    }
  }
  if (c.ecn_kmin > c.ecn_kmax) {
    return absl::InvalidArgumentError("--fabric=sim: kmin must not exceed kmax");
  }
  return c;
}

std::string DescribeFabricSpec() {
  return R"(  --fabric=sim[:KEY=VALUE,...]   a packet-level fabric in virtual time
      topology=fattree|leafspine|star   (default fattree)   file=PATH  a topology file
      hosts=N (128)  k=K (fat tree arity; default: smallest holding N hosts)
      leaves=L  oversub=R (leaf-spine; default N/16 leaves, 1:1)
      rate=GBPS (400)  delay=US per link (1)  mtu=FRAME_BYTES (4150)
      jitter=US (0; extra delay per frame and link, uniform in [0, jitter), FIFO kept)
      buffer=BYTES per switch port (0: one BDP of the longest path)  shared=0|1
      ecn=0|1 (1)  kmin=0.2 kmax=0.8 (fractions of the buffer)  pmax=1
      trim=0|1 (0)  int=0|1 (1: stamp telemetry on packets that ask, for HPCC)
      failover=0|1 (0; 1: a switch stops hashing onto its own ports that are down)
      fail=A-B@US:down|slow=F|loss=P|up (repeatable)  seed=N)";
}

absl::StatusOr<Topology> MakeTopology(const FabricConfig& config, std::string_view file_text) {
  absl::StatusOr<Topology> topology;
  if (config.topology.kind == TopologyKind::kFile) {
    topology = ParseTopology(file_text, config.topology.file, config.topology.link_rate,
                             config.topology.link_delay);
  } else {
    topology = BuildTopology(config.topology);
  }
  if (!topology.ok()) return topology.status();
  for (const std::string& failure : config.failures) {
    absl::StatusOr<CableFailure> f = ParseFailure(failure, *topology);
    if (!f.ok()) return f.status();
    topology->failures.push_back(*f);
  }
  return topology;
}

absl::StatusOr<Topology> MakeTopology(const FabricConfig& config) {
  if (config.topology.kind == TopologyKind::kFile) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.topology.file, ": a topology file's text must be read and passed in"));
  }
  return MakeTopology(config, {});
}

Duration PathInfo::ForwardingDelay(uint32_t bytes) const {
  Duration total = Duration::Zero();
  for (size_t i = 1; i < rates.size(); ++i) total += rates[i].TransferTime(bytes);
  return total;
}

Endpoint Fabric::HostEndpoint(uint32_t host, uint16_t udp_port) {
  Endpoint e;
  e.mac.bytes = {0x02,
                 0x74,
                 static_cast<uint8_t>(host >> 16),
                 static_cast<uint8_t>(host >> 8),
                 static_cast<uint8_t>(host),
                 0x01};
  e.ip = IpAddress::V4(kHostIpBase + host);
  e.udp_port = udp_port;
  return e;
}

absl::StatusOr<std::unique_ptr<Fabric>> Fabric::Create(Simulator& sim, Topology topology,
                                                       const FabricConfig& config) {
  absl::StatusOr<Routing> routing = Routing::Compute(topology);
  if (!routing.ok()) return routing.status();
  if (topology.hosts > (1u << 24) - 2) {
    return absl::InvalidArgumentError("more hosts than 10.0.0.0/8 holds");
  }
  std::unique_ptr<Fabric> fabric(new Fabric(sim, std::move(topology), std::move(*routing), config));
  fabric->Build();
  return fabric;
}

Fabric::Fabric(Simulator& sim, Topology topology, Routing routing, const FabricConfig& config)
    : sim_(sim), topology_(std::move(topology)), routing_(std::move(routing)), config_(config) {}

Fabric::~Fabric() {
  for (EventId id : failure_events_) sim_.Cancel(id);
}

void Fabric::Build() {
  const Topology& t = topology_;
  // One BDP of the longest path at the configured link rate.
  const uint32_t longest = routing_.max_switch_hops() + 2;
  const Bandwidth rate = config_.topology.link_rate;
  longest_base_rtt_ = config_.topology.link_delay * (2 * longest) +
                      rate.TransferTime(config_.mtu_frame_bytes) * longest +
                      rate.TransferTime(kAckFrameBytes) * longest;
  const Duration rtt = longest_base_rtt_;
  buffer_bytes_ =
      config_.buffer_bytes > 0 ? config_.buffer_bytes : static_cast<uint64_t>(rate.BytesIn(rtt));
  buffer_bytes_ = std::max<uint64_t>(buffer_bytes_, 2 * config_.mtu_frame_bytes);

  port_config_.queue_bytes = config_.shared_buffer ? 0 : buffer_bytes_;
  port_config_.trim_on_overflow = config_.trim;
  port_config_.stamp_telemetry = config_.telemetry;
  if (config_.ecn) {
    port_config_.ecn_kmin_bytes = static_cast<uint64_t>(config_.ecn_kmin * buffer_bytes_);
    port_config_.ecn_kmax_bytes =
        std::max<uint64_t>(1, static_cast<uint64_t>(config_.ecn_kmax * buffer_bytes_));
    port_config_.ecn_pmax = config_.ecn_pmax;
  }

  if (config_.shared_buffer) {
    for (uint32_t s = 0; s < t.switches; ++s) {
      shared_buffers_.push_back(
          std::make_unique<SharedBuffer>(buffer_bytes_ * routing_.ports(t.hosts + s).size()));
    }
  }
  switch_salt_.resize(t.switches);
  for (uint32_t s = 0; s < t.switches; ++s) switch_salt_[s] = Mix(DeriveSeed(config_.seed, s));
  host_receivers_.resize(t.hosts);

  links_.reserve(2 * t.cables.size());
  for (uint32_t c = 0; c < t.cables.size(); ++c) {
    const Cable& cable = t.cables[c];
    for (int dir = 0; dir < 2; ++dir) {
      const uint32_t from = dir == 0 ? cable.a : cable.b;
      const uint32_t to = dir == 0 ? cable.b : cable.a;
      const LinkConfig lc = BuiltLinkConfig(cable, from);
      FrameSink sink;
      if (t.IsHost(to)) {
        sink = [this, to](Frame frame) { DeliverToHost(to, std::move(frame)); };
      } else {
        sink = [this, to](Frame frame) { Forward(to, std::move(frame)); };
      }
      links_.push_back(std::make_unique<Link>(sim_, lc, DeriveSeed(config_.seed, 2 * c + dir + 1),
                                              std::move(sink)));
      if (config_.shared_buffer && !t.IsHost(from)) {
        links_.back()->SetSharedBuffer(shared_buffers_[from - t.hosts].get());
      }
    }
  }
  const uint32_t nodes = t.hosts + t.switches;
  port_link_offset_.resize(nodes);
  for (uint32_t node = 0; node < nodes; ++node) {
    port_link_offset_[node] = static_cast<uint32_t>(port_links_.size());
    for (uint32_t port = 0; port < routing_.ports(node).size(); ++port) {
      port_links_.push_back(links_[LinkFrom(node, port)].get());
    }
  }
  for (const CableFailure& f : t.failures) ScheduleFailure(f);
}

LinkConfig Fabric::BuiltLinkConfig(const Cable& cable, uint32_t from) const {
  LinkConfig lc;
  if (topology_.IsHost(from)) {
    // The NIC already serialized the frame at line rate.
    lc.rate = Bandwidth::Unlimited();
  } else {
    lc = port_config_;
    lc.rate = cable.rate;
  }
  lc.delay = cable.delay;
  lc.jitter = config_.link_jitter;
  return lc;
}

void Fabric::ScheduleFailure(const CableFailure& f) {
  failure_events_.push_back(sim_.Schedule(f.at, [this, f] {
    for (int dir = 0; dir < 2; ++dir) {
      Link& link = *links_[2 * f.cable + dir];
      switch (f.kind) {
        case CableFailure::Kind::kUp: {
          const Cable& cable = topology_.cables[f.cable];
          const LinkConfig built = BuiltLinkConfig(cable, dir == 0 ? cable.a : cable.b);
          link.SetBlackhole(false);
          link.SetRate(built.rate);
          link.SetLoss(built.loss);
          break;
        }
        case CableFailure::Kind::kDown:
          link.SetBlackhole(true);
          break;
        case CableFailure::Kind::kSlow:
          if (!link.config().rate.IsUnlimited()) {
            link.SetRate(Bandwidth::BitsPerSecond(static_cast<int64_t>(
                static_cast<double>(link.config().rate.bits_per_second()) * f.value)));
          }
          break;
        case CableFailure::Kind::kLoss:
          link.SetLoss(f.value);
          break;
      }
    }
  }));
}

size_t Fabric::LinkFrom(uint32_t node, uint32_t port) const {
  const uint32_t cable = routing_.ports(node)[port];
  return 2 * static_cast<size_t>(cable) + (topology_.cables[cable].a == node ? 0 : 1);
}

void Fabric::AttachHost(uint32_t host, FrameSink receiver) {
  host_receivers_[host] = std::move(receiver);
}

void Fabric::SendFromHost(uint32_t host, Frame frame) {
  port_links_[port_link_offset_[host]]->Send(std::move(frame));
}

void Fabric::DeliverToHost(uint32_t host, Frame frame) {
  // The hops come off the TTL now, as each switch would have done.
  for (; frame.route.hops > 0; --frame.route.hops) DecrementTtl(frame);
  if (host_receivers_[host]) {
    host_receivers_[host](std::move(frame));
  } else {
    ++counters_.host_unattached_drops;
  }
}

void Fabric::Forward(uint32_t sw, Frame frame) {
  FabricRoute& route = frame.route;
  if (!route.parsed) route = ReadFabricRoute(frame);  // not sent by a SimHost
  const uint32_t dst = route.dst_ip - kHostIpBase;
  if (!route.routable || route.dst_ip < kHostIpBase || dst >= topology_.hosts) {
    ++counters_.no_route_drops;
    return;
  }
  // An L3 switch: the TTL goes down by one per hop, which is how a receiver
  // (Swift's hop count) knows the path length without telemetry.
  if (route.ttl <= route.hops + 1) {
    ++counters_.ttl_expired_drops;
    return;
  }
  ++route.hops;
  ++counters_.switched_frames;
  uint32_t port;
  if (routing_.host_switch(dst) == sw) {
    port = routing_.host_port(dst);
  } else {
    const std::span<const uint16_t> hops = routing_.NextHops(sw, dst);
    if (hops.size() == 1) {
      port = hops[0];
    } else {
      // ECMP on the 5-tuple (protocol is always UDP here), salted per switch
      // so consecutive tiers do not all pick the same index.
      const uint64_t h =
          Mix(switch_salt_[sw - topology_.hosts] ^ (uint64_t{route.src_ip} << 32 | route.dst_ip)) ^
          (uint64_t{route.src_port} << 16 | route.dst_port);
      const uint64_t pick = Mix(h);
      port = hops[pick % hops.size()];
      if (config_.failover) port = LivePort(sw, hops, port, pick);
    }
  }
  port_links_[port_link_offset_[sw] + port]->Send(std::move(frame));
}

uint32_t Fabric::LivePort(uint32_t sw, std::span<const uint16_t> hops, uint32_t port,
                          uint64_t pick) {
  Link* const* links = &port_links_[port_link_offset_[sw]];
  if (!links[port]->config().blackhole) return port;
  uint32_t live = 0;
  for (const uint16_t p : hops) live += links[p]->config().blackhole ? 0 : 1;
  if (live == 0) return port;
  uint64_t k = pick % live;
  for (const uint16_t p : hops) {
    if (links[p]->config().blackhole) continue;
    if (k-- == 0) {
      ++counters_.failover_rehashed;
      return p;
    }
  }
  return port;  // not reached: k < live
}

PathInfo Fabric::Path(uint32_t src_host, uint32_t dst_host) const {
  PathInfo p;
  const auto add = [&](uint32_t cable) {
    ++p.links;
    p.propagation += topology_.cables[cable].delay;
    p.rates.push_back(topology_.cables[cable].rate);
  };
  add(routing_.ports(src_host)[0]);
  uint32_t node = routing_.host_switch(src_host);
  const uint32_t last = routing_.host_switch(dst_host);
  while (node != last) {
    const uint32_t cable = routing_.ports(node)[routing_.NextHops(node, dst_host)[0]];
    add(cable);
    node =
        topology_.cables[cable].a == node ? topology_.cables[cable].b : topology_.cables[cable].a;
  }
  add(routing_.ports(dst_host)[0]);
  p.bottleneck = *std::min_element(p.rates.begin(), p.rates.end());
  return p;
}

Duration Fabric::BaseRtt(uint32_t src_host, uint32_t dst_host, uint32_t data_frame_bytes,
                         uint32_t ack_frame_bytes) const {
  const PathInfo there = Path(src_host, dst_host);
  const PathInfo back = Path(dst_host, src_host);
  return there.propagation + back.propagation + there.ForwardingDelay(data_frame_bytes) +
         back.rates[0].TransferTime(ack_frame_bytes) + back.ForwardingDelay(ack_frame_bytes);
}

std::vector<PortReport> Fabric::Ports() const {
  std::vector<PortReport> out;
  out.reserve(links_.size());
  for (uint32_t c = 0; c < topology_.cables.size(); ++c) {
    const Cable& cable = topology_.cables[c];
    for (int dir = 0; dir < 2; ++dir) {
      const uint32_t from = dir == 0 ? cable.a : cable.b;
      const uint32_t to = dir == 0 ? cable.b : cable.a;
      const Link& link = *links_[2 * c + dir];
      PortReport r;
      r.name = absl::StrCat(topology_.NodeName(from), "->", topology_.NodeName(to));
      r.host_uplink = topology_.IsHost(from);
      r.rate = cable.rate;
      r.counters = link.counters();
      // The histogram resolves to bucket edges; the exact maximum bounds it.
      r.queue_p50_bytes =
          std::min(link.queue_histogram().Percentile(0.5), link.counters().max_queue_bytes);
      r.queue_p99_bytes =
          std::min(link.queue_histogram().Percentile(0.99), link.counters().max_queue_bytes);
      r.queue_samples = link.queue_histogram().samples();
      out.push_back(std::move(r));
    }
  }
  return out;
}

LinkCounters Fabric::SwitchPortTotals() const {
  LinkCounters total;
  for (uint32_t c = 0; c < topology_.cables.size(); ++c) {
    const Cable& cable = topology_.cables[c];
    if (!topology_.IsHost(cable.a)) total += links_[2 * c]->counters();
    if (!topology_.IsHost(cable.b)) total += links_[2 * c + 1]->counters();
  }
  return total;
}

}  // namespace tern::sim
