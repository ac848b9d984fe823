#include "dataplane/sim/topology.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::sim {
namespace {

// A node count that keeps the routing tables (switches^2 entries) in memory.
constexpr uint32_t kMaxSwitches = 4096;
constexpr uint32_t kMaxHosts = 1 << 20;
constexpr uint16_t kUnreachable = std::numeric_limits<uint16_t>::max();

class TopologyBuilder {
 public:
  TopologyBuilder(uint32_t hosts, uint32_t switches, Bandwidth rate, Duration delay)
      : rate_(rate), delay_(delay) {
    t_.hosts = hosts;
    t_.switches = switches;
  }
  uint32_t Switch(uint32_t index) const { return t_.hosts + index; }
  void Connect(uint32_t a, uint32_t b) { t_.cables.push_back(Cable{a, b, rate_, delay_}); }
  Topology Finish(std::string description) {
    t_.description = std::move(description);
    return std::move(t_);
  }

 private:
  Topology t_;
  Bandwidth rate_;
  Duration delay_;
};

absl::StatusOr<Topology> BuildStar(const TopologySpec& spec) {
  TopologyBuilder b(spec.hosts, 1, spec.link_rate, spec.link_delay);
  for (uint32_t h = 0; h < spec.hosts; ++h) b.Connect(h, b.Switch(0));
  return b.Finish(absl::StrFormat("star (%d hosts, 1 switch)", spec.hosts));
}

absl::StatusOr<Topology> BuildLeafSpine(const TopologySpec& spec) {
  if (!(spec.oversubscription >= 1 && spec.oversubscription <= 64)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf-spine oversubscription must be in [1, 64], got ", spec.oversubscription));
  }
  const uint32_t leaves = spec.leaves > 0 ? spec.leaves : std::max<uint32_t>(2, spec.hosts / 16);
  if (leaves > spec.hosts) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "leaf-spine with %d leaves needs at least as many hosts, got %d", leaves, spec.hosts));
  }
  const uint32_t per_leaf = (spec.hosts + leaves - 1) / leaves;
  const uint32_t spines =
      std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(per_leaf / spec.oversubscription)));
  if (leaves + spines > kMaxSwitches) {
    return absl::InvalidArgumentError(absl::StrFormat("leaf-spine needs %d switches, more than %d",
                                                      leaves + spines, kMaxSwitches));
  }
  TopologyBuilder b(spec.hosts, leaves + spines, spec.link_rate, spec.link_delay);
  for (uint32_t h = 0; h < spec.hosts; ++h) b.Connect(h, b.Switch(h / per_leaf));
  for (uint32_t leaf = 0; leaf < leaves; ++leaf) {
    for (uint32_t spine = 0; spine < spines; ++spine) {
      b.Connect(b.Switch(leaf), b.Switch(leaves + spine));
    }
  }
  return b.Finish(absl::StrFormat(
      "leafspine (%d hosts, %d leaves of %d host ports, %d spines, oversubscription %.2g:1)",
      spec.hosts, leaves, per_leaf, spines, static_cast<double>(per_leaf) / spines));
}

// k pods of k/2 edge and k/2 aggregation switches, (k/2)^2 cores. Switch
// index: pod p's edge e is p*k/2+e; its aggregation a is k*k/2 + p*k/2+a;
// core c is k*k + c. Aggregation a of every pod reaches cores a*k/2..+k/2-1.
absl::StatusOr<Topology> BuildFatTree(const TopologySpec& spec) {
  uint32_t k = spec.k;
  if (k == 0) {
    k = 2;
    while (static_cast<uint64_t>(k) * k * k / 4 < spec.hosts) k += 2;
  }
  if (k % 2 != 0 || k < 2 || k > 64) {
    return absl::InvalidArgumentError(absl::StrCat("fat tree k must be even, 2..64; got ", k));
  }
  const uint32_t half = k / 2;
  const uint32_t capacity = k * k * k / 4;
  if (spec.hosts > capacity) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a k=%d fat tree holds %d hosts, asked for %d", k, capacity, spec.hosts));
  }
  const uint32_t edges = k * half;
  const uint32_t cores = half * half;
  TopologyBuilder b(spec.hosts, 2 * edges + cores, spec.link_rate, spec.link_delay);
  for (uint32_t h = 0; h < spec.hosts; ++h) b.Connect(h, b.Switch(h / half));
  for (uint32_t pod = 0; pod < k; ++pod) {
    for (uint32_t e = 0; e < half; ++e) {
      for (uint32_t a = 0; a < half; ++a) {
        b.Connect(b.Switch(pod * half + e), b.Switch(edges + pod * half + a));
      }
    }
    for (uint32_t a = 0; a < half; ++a) {
      for (uint32_t c = 0; c < half; ++c) {
        b.Connect(b.Switch(edges + pod * half + a), b.Switch(2 * edges + a * half + c));
      }
    }
  }
  return b.Finish(
      absl::StrFormat("fattree k=%d (%d hosts, %d switches)", k, spec.hosts, 2 * edges + cores));
}

absl::Status LineError(std::string_view source, size_t line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", source, line, what));
}

}  // namespace

std::string Topology::NodeName(uint32_t node) const {
  return IsHost(node) ? absl::StrCat("h", node) : absl::StrCat("s", node - hosts);
}

absl::StatusOr<Topology> BuildTopology(const TopologySpec& spec) {
  if (spec.kind != TopologyKind::kFile && (spec.hosts < 2 || spec.hosts > kMaxHosts)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("hosts must be in [2, %d], got %d", kMaxHosts, spec.hosts));
  }
  if (spec.link_rate.IsUnlimited() || spec.link_delay < Duration::Zero()) {
    return absl::InvalidArgumentError("link rate must be > 0 and delay >= 0");
  }
  switch (spec.kind) {
    case TopologyKind::kStar:
      return BuildStar(spec);
    case TopologyKind::kLeafSpine:
      return BuildLeafSpine(spec);
    case TopologyKind::kFatTree:
      return BuildFatTree(spec);
    case TopologyKind::kFile:
      return absl::InvalidArgumentError("a topology file is read with ParseTopology");
  }
  return absl::InvalidArgumentError("unknown topology kind");
}

std::optional<uint32_t> FindNode(const Topology& t, std::string_view name) {
  uint32_t index;
  if (name.size() < 2 || !ParseUint(name.substr(1), &index)) return std::nullopt;
  if (name[0] == 'h' && index < t.hosts) return index;
  if (name[0] == 's' && index < t.switches) return t.hosts + index;
  return std::nullopt;
}

std::optional<uint32_t> FindCable(const Topology& t, uint32_t a, uint32_t b) {
  for (uint32_t c = 0; c < t.cables.size(); ++c) {
    const Cable& cable = t.cables[c];
    if ((cable.a == a && cable.b == b) || (cable.a == b && cable.b == a)) return c;
  }
  return std::nullopt;
}

absl::Status ParseFailureTiming(std::string_view at_us, std::string_view what, CableFailure* f) {
  double us;
  if (!ParseDouble(at_us, &us) || !(us >= 0 && us <= kMaxFailureTimeUs)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad time '%s' (microseconds in [0, 1e9])", at_us));
  }
  f->at = Time::Zero() + Duration::FractionalMicroseconds(us);
  if (what == "down") {
    f->kind = CableFailure::Kind::kDown;
  } else if (what == "up") {
    f->kind = CableFailure::Kind::kUp;
  } else if (what.starts_with("slow=")) {
    f->kind = CableFailure::Kind::kSlow;
    if (!ParseDouble(what.substr(5), &f->value) || !(f->value > 0 && f->value <= 1)) {
      return absl::InvalidArgumentError("slow= needs a factor in (0, 1]");
    }
  } else if (what.starts_with("loss=")) {
    f->kind = CableFailure::Kind::kLoss;
    if (!ParseDouble(what.substr(5), &f->value) || !(f->value >= 0 && f->value <= 1)) {
      return absl::InvalidArgumentError("loss= needs a probability in [0, 1]");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown failure kind '%s': down, slow=FACTOR, loss=P or up", what));
  }
  return absl::OkStatus();
}

absl::StatusOr<Topology> ParseTopology(std::string_view text, std::string_view source,
                                       Bandwidth default_rate, Duration default_delay) {
  Topology t;
  bool have_hosts = false;
  bool have_switches = false;
  size_t line_number = 0;
  const auto parse_node = [&](std::string_view name, uint32_t* node) {
    const std::optional<uint32_t> found = FindNode(t, name);
    if (found) *node = *found;
    return found.has_value();
  };
  for (std::string_view line : SplitText(text, '\n')) {
    ++line_number;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    const std::vector<std::string_view> words = SplitWords(line);
    if (words.empty()) continue;
    const std::string_view keyword = words[0];
    if (keyword == "hosts" || keyword == "switches") {
      uint32_t n;
      if (words.size() != 2 || !ParseUint(words[1], &n)) {
        return LineError(source, line_number, absl::StrFormat("expected '%s N'", keyword));
      }
      if (!t.cables.empty()) {
        return LineError(source, line_number,
                         absl::StrFormat("'%s' after the first link", keyword));
      }
      if (keyword == "hosts") {
        if (n < 2 || n > kMaxHosts) {
          return LineError(source, line_number,
                           absl::StrCat("hosts must be in [2, ", kMaxHosts, "]"));
        }
        t.hosts = n;
        have_hosts = true;
      } else {
        if (n < 1 || n > kMaxSwitches) {
          return LineError(source, line_number,
                           absl::StrCat("switches must be in [1, ", kMaxSwitches, "]"));
        }
        t.switches = n;
        have_switches = true;
      }
    } else if (keyword == "link") {
      if (!have_hosts || !have_switches) {
        return LineError(source, line_number, "'hosts N' and 'switches M' must come first");
      }
      Cable cable{0, 0, default_rate, default_delay};
      if (words.size() < 3 || words.size() > 5 || !parse_node(words[1], &cable.a) ||
          !parse_node(words[2], &cable.b)) {
        return LineError(
            source, line_number,
            "expected 'link A B [RATE_GBPS [DELAY_US]]' with A, B as hI or sJ in range");
      }
      if (cable.a == cable.b)
        return LineError(source, line_number, "a link joins two different nodes");
      double value;
      if (words.size() >= 4) {
        if (!ParseDouble(words[3], &value) || !(value > 0) || value > 1e5) {
          return LineError(source, line_number, absl::StrFormat("bad rate (Gb/s): %s", words[3]));
        }
        cable.rate = Bandwidth::Gbps(value);
      }
      if (words.size() == 5) {
        if (!ParseDouble(words[4], &value) || !(value >= 0) || value > 1e6) {
          return LineError(source, line_number, absl::StrFormat("bad delay (us): %s", words[4]));
        }
        cable.delay = Duration::FractionalMicroseconds(value);
      }
      t.cables.push_back(cable);
    } else if (keyword == "fail") {
      uint32_t a, b;
      if (words.size() != 5 || !parse_node(words[1], &a) || !parse_node(words[2], &b)) {
        return LineError(
            source, line_number,
            "expected 'fail A B AT_US down|slow=FACTOR|loss=P|up' with A, B as hI or sJ "
            "in range");
      }
      const std::optional<uint32_t> cable = FindCable(t, a, b);
      if (!cable) {
        return LineError(source, line_number,
                         absl::StrFormat("no link between %s and %s (yet)", words[1], words[2]));
      }
      CableFailure f;
      f.cable = *cable;
      if (absl::Status s = ParseFailureTiming(words[3], words[4], &f); !s.ok()) {
        return LineError(source, line_number, std::string(s.message()));
      }
      t.failures.push_back(f);
    } else {
      return LineError(
          source, line_number,
          absl::StrFormat("unknown statement '%s': hosts, switches, link, fail", keyword));
    }
  }
  if (!have_hosts || !have_switches || t.cables.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: needs 'hosts N', 'switches M' and at least one link", source));
  }
  t.description = absl::StrFormat("file %s (%d hosts, %d switches, %d links)", source, t.hosts,
                                  t.switches, t.cables.size());
  return t;
}

absl::StatusOr<Routing> Routing::Compute(const Topology& t) {
  Routing r;
  r.hosts_ = t.hosts;
  r.switches_ = t.switches;
  r.node_cables_.resize(t.nodes());
  for (uint32_t c = 0; c < t.cables.size(); ++c) {
    const Cable& cable = t.cables[c];
    if (cable.a >= t.nodes() || cable.b >= t.nodes()) {
      return absl::InvalidArgumentError(absl::StrCat("link ", c, " names a node out of range"));
    }
    r.node_cables_[cable.a].push_back(c);
    r.node_cables_[cable.b].push_back(c);
  }
  const auto peer = [&](uint32_t node, uint32_t cable) {
    return t.cables[cable].a == node ? t.cables[cable].b : t.cables[cable].a;
  };
  for (uint32_t node = 0; node < t.nodes(); ++node) {
    if (r.node_cables_[node].size() > std::numeric_limits<uint16_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat(t.NodeName(node), " has more than 65535 links"));
    }
  }
  r.host_switch_.resize(t.hosts);
  r.host_port_.resize(t.hosts);
  for (uint32_t h = 0; h < t.hosts; ++h) {
    const auto& cables = r.node_cables_[h];
    if (cables.size() != 1 || t.IsHost(peer(h, cables[0]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          t.NodeName(h), " must have exactly one link, to a switch; it has ", cables.size()));
    }
    const uint32_t sw = peer(h, cables[0]);
    r.host_switch_[h] = sw;
    const auto& sw_cables = r.node_cables_[sw];
    r.host_port_[h] = static_cast<uint32_t>(
        std::find(sw_cables.begin(), sw_cables.end(), cables[0]) - sw_cables.begin());
  }

  // One breadth-first search over the switches per destination switch gives
  // every switch's distance to it; a port is a next hop when it leads to a
  // switch one hop closer.
  const uint32_t s_count = t.switches;
  r.hops_.assign(static_cast<size_t>(s_count) * s_count, kUnreachable);
  std::vector<uint32_t> queue;
  queue.reserve(s_count);
  for (uint32_t d = 0; d < s_count; ++d) {
    queue.clear();
    queue.push_back(d);
    r.hops_[static_cast<size_t>(d) * s_count + d] = 0;
    for (size_t head = 0; head < queue.size(); ++head) {
      const uint32_t s = queue[head];
      const uint16_t next = r.hops_[static_cast<size_t>(s) * s_count + d] + 1;
      for (uint32_t cable : r.node_cables_[t.hosts + s]) {
        const uint32_t n = peer(t.hosts + s, cable);
        if (t.IsHost(n)) continue;
        uint16_t& hops = r.hops_[static_cast<size_t>(n - t.hosts) * s_count + d];
        if (hops == kUnreachable) {
          hops = next;
          queue.push_back(n - t.hosts);
        }
      }
    }
  }
  // One column per switch with hosts, in switch order.
  std::vector<bool> has_hosts(s_count, false);
  for (uint32_t h = 0; h < t.hosts; ++h) has_hosts[r.host_switch_[h] - t.hosts] = true;
  std::vector<uint32_t> column_of_switch(s_count, UINT32_MAX);
  for (uint32_t d = 0; d < s_count; ++d) {
    if (has_hosts[d]) column_of_switch[d] = r.columns_++;
  }
  r.host_column_.resize(t.hosts);
  for (uint32_t h = 0; h < t.hosts; ++h) {
    r.host_column_[h] = column_of_switch[r.host_switch_[h] - t.hosts];
  }
  absl::flat_hash_map<std::vector<uint16_t>, uint32_t> list_numbers;
  r.list_offsets_.push_back(0);
  const auto number_of = [&](const std::vector<uint16_t>& list) {
    const auto [it, added] = list_numbers.try_emplace(list, r.list_offsets_.size() - 1);
    if (added) {
      r.port_lists_.insert(r.port_lists_.end(), list.begin(), list.end());
      r.list_offsets_.push_back(static_cast<uint32_t>(r.port_lists_.size()));
    }
    return it->second;
  };
  r.list_of_.assign(static_cast<size_t>(s_count) * r.columns_, 0);
  std::vector<uint16_t> list;
  for (uint32_t s = 0; s < s_count; ++s) {
    const auto& cables = r.node_cables_[t.hosts + s];
    for (uint32_t d = 0; d < s_count; ++d) {
      if (!has_hosts[d]) continue;
      list.clear();
      const uint16_t hops = r.hops_[static_cast<size_t>(s) * s_count + d];
      if (hops != kUnreachable && hops != 0) {
        for (uint16_t port = 0; port < cables.size(); ++port) {
          const uint32_t n = peer(t.hosts + s, cables[port]);
          if (!t.IsHost(n) && r.hops_[static_cast<size_t>(n - t.hosts) * s_count + d] == hops - 1) {
            list.push_back(port);
          }
        }
      }
      r.list_of_[static_cast<size_t>(s) * r.columns_ + column_of_switch[d]] = number_of(list);
    }
  }

  // Every pair of host switches must be connected.
  std::vector<uint32_t> host_switches;
  for (uint32_t h = 0; h < t.hosts; ++h) host_switches.push_back(r.host_switch_[h] - t.hosts);
  std::sort(host_switches.begin(), host_switches.end());
  host_switches.erase(std::unique(host_switches.begin(), host_switches.end()), host_switches.end());
  for (uint32_t a : host_switches) {
    for (uint32_t b : host_switches) {
      const uint16_t hops = r.hops_[static_cast<size_t>(a) * s_count + b];
      if (hops == kUnreachable) {
        return absl::InvalidArgumentError(
            absl::StrCat("the topology is disconnected: ", t.NodeName(t.hosts + a),
                         " cannot reach ", t.NodeName(t.hosts + b)));
      }
      r.max_switch_hops_ = std::max<uint32_t>(r.max_switch_hops_, hops);
    }
  }
  return r;
}

std::span<const uint16_t> Routing::NextHops(uint32_t sw, uint32_t dst_host) const {
  const size_t entry = static_cast<size_t>(sw - hosts_) * columns_ + host_column_[dst_host];
  const uint32_t list = list_of_[entry];
  return std::span<const uint16_t>(port_lists_.data() + list_offsets_[list],
                                   list_offsets_[list + 1] - list_offsets_[list]);
}

uint32_t Routing::SwitchHops(uint32_t src_host, uint32_t dst_host) const {
  const uint32_t s = host_switch_[src_host] - hosts_;
  const uint32_t d = host_switch_[dst_host] - hosts_;
  return hops_[static_cast<size_t>(s) * switches_ + d];
}

}  // namespace tern::sim
