// Two host ports, A and B, joined by N parallel paths in each direction: the
// smallest fabric on which per-packet spraying, reordering across paths and a
// black-holed path can be studied. Each path is one Link per direction; a frame
// takes path (entropy mod N), entropy being its UDP source port, as an ECMP
// switch would hash it. The same impairments apply to every path in both
// directions, so ACKs suffer them as data does.
//
// The command-line form is --fabric=sim:KEY=VALUE,...; ParseWireSpec() reads the
// part after "sim:".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/sim/link.h"
#include "dataplane/sim/simulator.h"
#include "transport/units.h"

namespace tern::sim {

struct MultipathWireConfig {
  uint16_t paths = 8;
  Bandwidth rate = Bandwidth::Gbps(400);       // per path
  Duration delay = Duration::Microseconds(2);  // per path, one way
  // Delay spread across paths: path i gets reorder * i / (paths - 1) on top of
  // `delay`, so frames sprayed over the paths arrive out of order.
  Duration reorder = Duration::Zero();
  Duration jitter = Duration::Zero();  // per frame, uniform in [0, jitter)
  double loss = 0;
  double dup = 0;
  double corrupt = 0;
  double trim = 0;
  int blackhole = -1;                // index of a path that drops everything, both ways; -1: none
  uint64_t queue_bytes = 0;          // per path link; 0: unbounded
  uint64_t ecn_threshold_bytes = 0;  // per path link; 0: no marking
  uint64_t seed = 1;                 // each path link draws from DeriveSeed(seed, index)

  bool operator==(const MultipathWireConfig&) const = default;
};

// The two host ports. Frames sent from one arrive at the other.
enum class WirePort : uint8_t { kA = 0, kB = 1 };

class MultipathWire {
 public:
  MultipathWire(Simulator& sim, const MultipathWireConfig& config);
  MultipathWire(const MultipathWire&) = delete;
  MultipathWire& operator=(const MultipathWire&) = delete;

  // Where frames arriving at `port` go (the host's ingress). Frames that arrive
  // at a port with no receiver are counted in unconnected_drops() and discarded.
  void Connect(WirePort port, FrameSink receiver);

  // Sends a frame from `from` toward the other port, on the frame's path.
  void Send(WirePort from, Frame frame);

  // Makes `path` a black hole in both directions; any other path is healed.
  // -1 (or any index that is not a path) heals them all.
  void SetBlackhole(int path);

  // The path a frame takes: entropy mod paths for IP/UDP frames, 0 otherwise.
  static uint16_t PathOf(std::span<const uint8_t> frame, uint16_t paths);

  // One-way delay of `path`: delay + reorder * path / (paths - 1).
  static Duration PathDelay(const MultipathWireConfig& config, uint16_t path);

  const MultipathWireConfig& config() const { return config_; }
  uint16_t paths() const { return config_.paths; }
  // The link carrying frames from `from` on `path`.
  const Link& link(WirePort from, uint16_t path) const;
  // Counters summed over all paths of both directions, or of one direction.
  LinkCounters counters() const;
  LinkCounters counters(WirePort from) const;
  uint64_t unconnected_drops() const { return unconnected_drops_; }
  // Nothing queued, serializing or in flight on any path.
  bool idle() const;

 private:
  size_t LinkIndex(WirePort from, uint16_t path) const {
    return static_cast<size_t>(from) * config_.paths + path;
  }
  void Receive(WirePort at, Frame frame);

  MultipathWireConfig config_;
  // paths links from A (index path), then paths links from B.
  std::vector<std::unique_ptr<Link>> links_;
  FrameSink receivers_[2];
  uint64_t unconnected_drops_ = 0;
};

// Parses the KEY=VALUE,... list of --fabric=sim: (without the "sim:" prefix).
// Empty gives the defaults. Keys: loss, dup, corrupt, trim (probabilities in
// [0, 1]); delay, reorder, jitter (microseconds, >= 0); rate (Gb/s, > 0);
// paths (1..65535); blackhole (path index < paths); queue, ecn (bytes); seed.
// An unknown key, a malformed or out-of-range value, or a key given twice is an
// InvalidArgumentError naming the key, the value and what is accepted.
absl::StatusOr<MultipathWireConfig> ParseWireSpec(std::string_view spec);
// Help text for the spec keys, for --help.
std::string DescribeWireSpec();
// The config in spec form; ParseWireSpec(ToString(c)) gives c back.
std::string ToString(const MultipathWireConfig& config);

}  // namespace tern::sim
