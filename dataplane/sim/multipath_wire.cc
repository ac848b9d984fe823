#include "dataplane/sim/multipath_wire.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::sim {

MultipathWire::MultipathWire(Simulator& sim, const MultipathWireConfig& config) : config_(config) {
  if (config_.paths == 0) config_.paths = 1;
  links_.reserve(2 * config_.paths);
  for (WirePort from : {WirePort::kA, WirePort::kB}) {
    const WirePort to = from == WirePort::kA ? WirePort::kB : WirePort::kA;
    for (uint16_t path = 0; path < config_.paths; ++path) {
      LinkConfig lc;
      lc.rate = config_.rate;
      lc.delay = PathDelay(config_, path);
      lc.jitter = config_.jitter;
      lc.queue_bytes = config_.queue_bytes;
      lc.ecn_kmin_bytes = config_.ecn_threshold_bytes;
      lc.ecn_kmax_bytes = config_.ecn_threshold_bytes;
      lc.loss = config_.loss;
      lc.dup = config_.dup;
      lc.corrupt = config_.corrupt;
      lc.trim = config_.trim;
      lc.blackhole = config_.blackhole == path;
      const size_t index = LinkIndex(from, path);
      links_.push_back(std::make_unique<Link>(sim, lc, DeriveSeed(config_.seed, index),
                                              [this, to](Frame f) { Receive(to, std::move(f)); }));
    }
  }
}

void MultipathWire::Connect(WirePort port, FrameSink receiver) {
  receivers_[static_cast<size_t>(port)] = std::move(receiver);
}

Duration MultipathWire::PathDelay(const MultipathWireConfig& config, uint16_t path) {
  if (config.paths <= 1 || config.reorder <= Duration::Zero()) return config.delay;
  // reorder * path / (paths - 1), exact and free of overflow for any reorder:
  // with reorder = q * (paths - 1) + r, it is q * path + r * path / (paths - 1).
  const int64_t span = config.paths - 1;
  const int64_t q = config.reorder.picoseconds() / span;
  const int64_t r = config.reorder.picoseconds() % span;
  return config.delay + Duration::Picoseconds(q * path + r * path / span);
}

uint16_t MultipathWire::PathOf(std::span<const uint8_t> frame, uint16_t paths) {
  if (paths <= 1) return 0;
  const FrameLayout layout = ParseFrameLayout(frame);
  return layout.udp ? static_cast<uint16_t>(layout.src_port % paths) : 0;
}

void MultipathWire::Send(WirePort from, Frame frame) {
  const uint16_t path = PathOf(frame, config_.paths);
  links_[LinkIndex(from, path)]->Send(std::move(frame));
}

void MultipathWire::Receive(WirePort at, Frame frame) {
  FrameSink& receiver = receivers_[static_cast<size_t>(at)];
  if (!receiver) {
    ++unconnected_drops_;
    return;
  }
  receiver(std::move(frame));
}

void MultipathWire::SetBlackhole(int path) {
  config_.blackhole = path >= 0 && path < config_.paths ? path : -1;
  for (WirePort from : {WirePort::kA, WirePort::kB}) {
    for (uint16_t p = 0; p < config_.paths; ++p) {
      links_[LinkIndex(from, p)]->SetBlackhole(p == config_.blackhole);
    }
  }
}

const Link& MultipathWire::link(WirePort from, uint16_t path) const {
  return *links_[LinkIndex(from, path)];
}

LinkCounters MultipathWire::counters() const {
  LinkCounters sum = counters(WirePort::kA);
  sum += counters(WirePort::kB);
  return sum;
}

LinkCounters MultipathWire::counters(WirePort from) const {
  LinkCounters sum;
  for (uint16_t p = 0; p < config_.paths; ++p) sum += links_[LinkIndex(from, p)]->counters();
  return sum;
}

bool MultipathWire::idle() const {
  for (const auto& link : links_) {
    if (!link->idle()) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// --fabric=sim: spec.

namespace {

// Longest value accepted by the duration keys: 1000 s, far from int64 overflow
// in picoseconds.
constexpr double kMaxMicroseconds = 1e9;
// 1 Pb/s: far above any link, far from int64 overflow in bits per second.
constexpr double kMaxGbps = 1e6;

constexpr const char* kValidKeys =
    "loss, dup, corrupt, trim, delay, reorder, jitter, rate, paths, blackhole, queue, ecn, seed";

absl::Status BadValue(std::string_view key, std::string_view value, std::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrFormat("wire spec: bad value '%s' for key '%s': expected %s", value, key, expected));
}

absl::Status ParseProbability(std::string_view key, std::string_view value, double* out) {
  double p;
  if (!ParseDouble(value, &p) || p < 0 || p > 1) {
    return BadValue(key, value, "a probability in [0, 1]");
  }
  *out = p;
  return absl::OkStatus();
}

absl::Status ParseMicroseconds(std::string_view key, std::string_view value, Duration* out) {
  double us;
  if (!ParseDouble(value, &us) || us < 0 || us > kMaxMicroseconds) {
    return BadValue(key, value, "microseconds, a number in [0, 1e9]");
  }
  *out = Duration::FractionalMicroseconds(us);
  return absl::OkStatus();
}

// Shortest decimal form that reads back as the same double.
std::string FormatDouble(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "nan";
}

}  // namespace

absl::StatusOr<MultipathWireConfig> ParseWireSpec(std::string_view spec) {
  MultipathWireConfig config;
  std::vector<std::string_view> seen;
  uint64_t blackhole = 0;
  std::string_view blackhole_text;
  for (const auto& [item, key, value, has_equals] : SplitKeyValues(spec)) {
    if (item.empty()) continue;
    if (!has_equals) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "wire spec: expected KEY=VALUE, got '%s' (valid keys: %s)", item, kValidKeys));
    }
    for (std::string_view k : seen) {
      if (k == key) {
        return absl::InvalidArgumentError(
            absl::StrFormat("wire spec: key '%s' given twice (second value '%s')", key, value));
      }
    }
    seen.push_back(key);

    absl::Status status;
    if (key == "loss") {
      status = ParseProbability(key, value, &config.loss);
    } else if (key == "dup") {
      status = ParseProbability(key, value, &config.dup);
    } else if (key == "corrupt") {
      status = ParseProbability(key, value, &config.corrupt);
    } else if (key == "trim") {
      status = ParseProbability(key, value, &config.trim);
    } else if (key == "delay") {
      status = ParseMicroseconds(key, value, &config.delay);
    } else if (key == "reorder") {
      status = ParseMicroseconds(key, value, &config.reorder);
    } else if (key == "jitter") {
      status = ParseMicroseconds(key, value, &config.jitter);
    } else if (key == "rate") {
      double gbps;
      if (!ParseDouble(value, &gbps) || gbps <= 0 || gbps > kMaxGbps ||
          std::llround(gbps * 1e9) < 1) {
        return BadValue(key, value, "Gb/s, a number > 0 and <= 1e6");
      }
      config.rate = Bandwidth::BitsPerSecond(std::llround(gbps * 1e9));
    } else if (key == "paths") {
      uint64_t paths;
      if (!ParseUint(value, &paths) || paths < 1 || paths > 65535) {
        return BadValue(key, value, "an integer in [1, 65535]");
      }
      config.paths = static_cast<uint16_t>(paths);
    } else if (key == "blackhole") {
      // Checked against `paths` once every key is read, so order does not matter.
      if (!ParseUint(value, &blackhole) || blackhole > 65534) {
        return BadValue(key, value, "a path index, an integer in [0, paths)");
      }
      blackhole_text = value;
    } else if (key == "queue") {
      if (!ParseUint(value, &config.queue_bytes)) {
        return BadValue(key, value, "bytes, a non-negative integer (0: unbounded)");
      }
    } else if (key == "ecn") {
      if (!ParseUint(value, &config.ecn_threshold_bytes)) {
        return BadValue(key, value, "bytes, a non-negative integer (0: no marking)");
      }
    } else if (key == "seed") {
      if (!ParseUint(value, &config.seed)) {
        return BadValue(key, value, "a non-negative 64-bit integer");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "wire spec: unknown key '%s' (value '%s'); valid keys: %s", key, value, kValidKeys));
    }
    if (!status.ok()) return status;
  }
  if (!blackhole_text.empty()) {
    if (blackhole >= config.paths) {
      return BadValue("blackhole", blackhole_text,
                      absl::StrCat("a path index below paths (", config.paths, ")"));
    }
    config.blackhole = static_cast<int>(blackhole);
  }
  return config;
}

std::string DescribeWireSpec() {
  return "--fabric=sim:KEY=VALUE,...  two hosts joined by parallel paths; keys:\n"
         "  paths=N      parallel paths per direction, 1..65535 (default 8); a frame takes\n"
         "               path (UDP source port mod N)\n"
         "  rate=G       per-path rate in Gb/s, > 0 (default 400)\n"
         "  delay=US     per-path one-way delay in microseconds (default 2)\n"
         "  reorder=US   delay spread: path i gets reorder*i/(paths-1) extra (default 0)\n"
         "  jitter=US    extra delay per frame, uniform in [0, jitter); never reorders a path\n"
         "  loss=P       probability a frame is lost (default 0)\n"
         "  dup=P        probability a frame arrives twice (default 0)\n"
         "  corrupt=P    probability one bit of the Tern packet flips (default 0)\n"
         "  trim=P       probability a DATA packet loses its payload, as a trimming switch\n"
         "               cuts it (default 0)\n"
         "  blackhole=I  path I drops every frame, both directions (default none)\n"
         "  queue=B      per-path queue in bytes, drop-tail; 0 = unbounded (default 0)\n"
         "  ecn=B        mark CE when more than B bytes are queued; 0 = off (default 0)\n"
         "  seed=S       seed of the impairments (default 1)\n"
         "Impairments apply to both directions. Example: sim:loss=0.001,reorder=5,paths=16\n";
}

std::string ToString(const MultipathWireConfig& config) {
  std::string out =
      absl::StrCat("paths=", config.paths,
                   ",rate=", FormatDouble(static_cast<double>(config.rate.bits_per_second()) / 1e9),
                   ",delay=", FormatDouble(config.delay.microseconds()),
                   ",reorder=", FormatDouble(config.reorder.microseconds()),
                   ",jitter=", FormatDouble(config.jitter.microseconds()),
                   ",loss=", FormatDouble(config.loss), ",dup=", FormatDouble(config.dup),
                   ",corrupt=", FormatDouble(config.corrupt), ",trim=", FormatDouble(config.trim));
  if (config.blackhole >= 0) absl::StrAppend(&out, ",blackhole=", config.blackhole);
  absl::StrAppend(&out, ",queue=", config.queue_bytes, ",ecn=", config.ecn_threshold_bytes,
                  ",seed=", config.seed);
  return out;
}

}  // namespace tern::sim
