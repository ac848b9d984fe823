#include "apps/perf_options.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/connection.h"
#include "transport/text.h"
#include "transport/wire.h"

namespace tern::perf {
namespace {

struct FlagInfo {
  std::string_view name;  // long form, without "--"
  char short_name;        // 0: none
  bool takes_value;
};

// clang-format off
constexpr FlagInfo kFlags[] = {
    {"test", 0, true},        {"size", 's', true},       {"all", 'a', false},
    {"max-size", 0, true},    {"iters", 'n', true},      {"warmup", 0, true},
    {"qps", 'q', true},       {"tx-depth", 't', true},   {"paths", 0, true},
    {"path-policy", 0, true}, {"mtu", 0, true},          {"cc", 0, true},
    {"seed", 0, true},        {"fabric", 0, true},       {"line-rate", 0, true},
    {"verify", 0, false},     {"json", 0, true},         {"quiet", 0, false},
    {"help", 'h', false},     {"loopback", 0, false},    {"server", 0, false},
    {"connect", 0, true},     {"control-port", 0, true}, {"dpdk-port", 0, true},
    {"ip", 0, true},          {"peer-mac", 0, true},     {"pcap", 0, true},
    {"timeout", 0, true},     {"workers", 0, true},      {"min-rto", 0, true},
    {"base-rtt", 0, true},
    {"retry-cnt", 0, true},   {"tx-copy", 0, false},     {"gateway", 0, true},
    {"link-mtu", 0, true},    {"no-coalesce-control", 0, false},
    {"pull-window", 0, true}, {"no-address-check", 0, false},
    {"packets-per-turn", 0, true}, {"tclass", 0, true},
};
// clang-format on
constexpr size_t kFlagCount = std::size(kFlags);

const FlagInfo* FindLong(std::string_view name) {
  for (const FlagInfo& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const FlagInfo* FindShort(char c) {
  for (const FlagInfo& f : kFlags) {
    if (f.short_name != 0 && f.short_name == c) return &f;
  }
  return nullptr;
}

// This Abseil's string_view is its own type, not std::string_view.
std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

// "-s/--size" or "--mtu": how errors name a flag.
std::string Display(const FlagInfo& f) {
  if (f.short_name != 0) return absl::StrFormat("-%c/--%s", f.short_name, f.name);
  return absl::StrFormat("--%s", f.name);
}

absl::Status FlagError(std::string_view flag_name, std::string_view message) {
  const FlagInfo* f = FindLong(flag_name);
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: %s", f != nullptr ? Display(*f) : std::string(flag_name), message));
}

constexpr std::string_view kTestNames = "send_bw|write_bw|read_bw|send_lat|write_lat|read_lat";

std::optional<PerfTest> ParseTest(std::string_view name) {
  for (PerfTest t : {PerfTest::kSendBw, PerfTest::kWriteBw, PerfTest::kReadBw, PerfTest::kSendLat,
                     PerfTest::kWriteLat, PerfTest::kReadLat}) {
    if (name == PerfTestName(t)) return t;
  }
  return std::nullopt;
}

std::string FormatGiB(double bytes) { return absl::StrFormat("%.1f GiB", bytes / (1u << 30)); }

// Raw flag values in the order kFlags lists them; `given` says which appeared.
struct RawFlags {
  std::array<std::string_view, kFlagCount> value;
  std::array<bool, kFlagCount> given{};

  size_t Index(std::string_view name) const {
    for (size_t i = 0; i < kFlagCount; ++i) {
      if (kFlags[i].name == name) return i;
    }
    return 0;  // never: callers pass names from kFlags
  }
  bool Has(std::string_view name) const { return given[Index(name)]; }
  std::string_view Get(std::string_view name) const { return value[Index(name)]; }
};

absl::StatusOr<RawFlags> SplitFlags(std::span<const std::string_view> args) {
  RawFlags raw;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const FlagInfo* flag = nullptr;
    std::optional<std::string_view> inline_value;
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      const std::string_view body = arg.substr(2);
      const size_t eq = body.find('=');
      flag = FindLong(body.substr(0, eq));
      if (eq != std::string_view::npos) inline_value = body.substr(eq + 1);
      if (flag == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrFormat("unknown flag '--%s'", body.substr(0, eq)));
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      flag = FindShort(arg[1]);
      if (flag == nullptr) {
        return absl::InvalidArgumentError(absl::StrFormat("unknown flag '%s'", arg));
      }
      if (arg.size() > 2) inline_value = arg.substr(2);  // getopt style: -s4096
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unexpected argument '%s' (flags start with - or --)", arg));
    }
    const auto index = static_cast<size_t>(flag - kFlags);
    if (raw.given[index]) {
      return FlagError(flag->name, "given more than once");
    }
    raw.given[index] = true;
    if (!flag->takes_value) {
      if (inline_value) return FlagError(flag->name, "takes no value");
      continue;
    }
    if (inline_value) {
      raw.value[index] = *inline_value;
    } else if (i + 1 < args.size()) {
      raw.value[index] = args[++i];
    } else {
      return FlagError(flag->name, "needs a value");
    }
  }
  return raw;
}

absl::Status ParseFabric(std::string_view text, const RawFlags& raw, PerfOptions& options) {
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  if (kind != "sim" && kind != "dpdk") {
    return FlagError(
        "fabric",
        absl::StrFormat("unknown fabric '%s'; valid: sim[:KEY=VALUE,...], dpdk[:KEY=VALUE,...]",
                        kind));
  }
  const std::string_view spec =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  absl::StatusOr<sim::MultipathWireConfig> wire = sim::ParseWireSpec(spec);
  if (!wire.ok()) return FlagError("fabric", ToStd(wire.status().message()));
  if (absl::Status s = ApplyWireDefaults(spec, options.paths, options.seed, *wire); !s.ok()) {
    return FlagError(raw.Has("paths") && !WireSpecSetsKey(spec, "paths") ? "paths" : "fabric",
                     ToStd(s.message()));
  }
  if (kind == "dpdk") {
    if (absl::Status s = CheckDpdkFaultKeys(spec); !s.ok()) {
      return FlagError("fabric", ToStd(s.message()));
    }
    options.fabric_kind = FabricKind::kDpdk;
  }
  options.fabric = std::string(text);
  options.wire = *wire;
  return absl::OkStatus();
}

absl::Status ParseDpdkFlags(const RawFlags& raw, PerfOptions& options) {
  const bool dpdk = options.fabric_kind == FabricKind::kDpdk;
  for (std::string_view flag : {"loopback", "server", "connect", "control-port", "dpdk-port", "ip",
                                "peer-mac", "gateway", "pcap", "timeout", "workers", "tx-copy",
                                "link-mtu", "no-coalesce-control", "no-address-check"}) {
    if (raw.Has(flag) && !dpdk) {
      return FlagError(flag, "needs --fabric=dpdk");
    }
  }
  if (!dpdk) return absl::OkStatus();
  const int roles = raw.Has("loopback") + raw.Has("server") + raw.Has("connect");
  if (roles > 1) {
    return FlagError("loopback", "choose one of --loopback, --server, --connect=HOST");
  }
  options.role = raw.Has("server")    ? DpdkRole::kServer
                 : raw.Has("connect") ? DpdkRole::kClient
                                      : DpdkRole::kLoopback;
  if (raw.Has("connect")) {
    if (raw.Get("connect").empty()) return FlagError("connect", "needs the server's address");
    options.connect_host = std::string(raw.Get("connect"));
  }
  if (raw.Has("control-port")) {
    const std::optional<uint64_t> port = ParseUnsigned(raw.Get("control-port"));
    if (!port || *port > 65535) {
      return FlagError("control-port", absl::StrFormat("'%s' is not a TCP port; valid: 1..65535",
                                                       raw.Get("control-port")));
    }
    // 0: the kernel chooses a port that is free, which the server logs.
    if (*port == 0 && !raw.Has("server")) {
      return FlagError("control-port", "0 (a port the kernel chooses) is only for --server");
    }
    options.control_port = static_cast<uint16_t>(*port);
  }
  if (raw.Has("dpdk-port")) {
    const std::optional<uint64_t> port = ParseUnsigned(raw.Get("dpdk-port"));
    if (!port || *port > 1023) {
      return FlagError("dpdk-port", absl::StrFormat("'%s' is not a port id; valid: 0..1023",
                                                    raw.Get("dpdk-port")));
    }
    options.dpdk_port = static_cast<uint16_t>(*port);
  }
  if (raw.Has("ip")) {
    const std::optional<IpAddress> ip = IpAddress::Parse(raw.Get("ip"));
    if (!ip) {
      return FlagError("ip", absl::StrFormat("'%s' is not an IPv4 or IPv6 address", raw.Get("ip")));
    }
    // --loopback puts the server at the next address.
    if (!raw.Has("server") && !raw.Has("connect") && ip->bytes[ip->is_v6 ? 15 : 3] == 0xFF) {
      return FlagError("ip", absl::StrFormat("'%s' leaves no next address for the --loopback "
                                             "server; end it below 255 (0xff)",
                                             raw.Get("ip")));
    }
    options.local_ip = std::string(raw.Get("ip"));
  }
  if (raw.Has("peer-mac")) {
    if (!MacAddress::Parse(raw.Get("peer-mac"))) {
      return FlagError("peer-mac", absl::StrFormat("'%s' is not a MAC; valid: 02:00:00:00:00:01",
                                                   raw.Get("peer-mac")));
    }
    options.peer_mac = std::string(raw.Get("peer-mac"));
  }
  if (raw.Has("gateway")) {
    const std::optional<IpAddress> gateway = IpAddress::Parse(raw.Get("gateway"));
    if (!gateway) {
      return FlagError("gateway",
                       absl::StrFormat("'%s' is not an IPv4 or IPv6 address", raw.Get("gateway")));
    }
    // The local address is IPv4 unless --ip says otherwise.
    const bool local_v6 = raw.Has("ip") && IpAddress::Parse(raw.Get("ip"))->is_v6;
    if (gateway->is_v6 != local_v6) {
      return FlagError(
          "gateway", absl::StrFormat("'%s' is IPv%d and this host's address (--ip) "
                                     "is IPv%d: a next hop is of the host's family",
                                     raw.Get("gateway"), gateway->is_v6 ? 6 : 4, local_v6 ? 6 : 4));
    }
    // Loopback has no routed fabric between its two ports; a static next
    // hop leaves nothing to ask ARP for.
    if (options.role == DpdkRole::kLoopback) {
      return FlagError("gateway", "is for --server and --connect runs");
    }
    if (raw.Has("peer-mac")) return FlagError("gateway", "excludes --peer-mac (a static next hop)");
    options.gateway_ip = std::string(raw.Get("gateway"));
  }
  if (raw.Has("pcap")) {
    if (raw.Get("pcap").empty()) return FlagError("pcap", "needs a file name");
    options.pcap_path = std::string(raw.Get("pcap"));
  }
  options.tx_copy = raw.Has("tx-copy");
  options.coalesce_control = !raw.Has("no-coalesce-control");
  options.address_check = !raw.Has("no-address-check");
  if (raw.Has("link-mtu")) {
    const std::optional<uint64_t> mtu = ParseUnsigned(raw.Get("link-mtu"));
    if (!mtu || *mtu < kMinLinkMtu || *mtu > kMaxLinkMtu) {
      return FlagError("link-mtu", absl::StrFormat("'%s' is not an IP MTU; valid: %d..%d",
                                                   raw.Get("link-mtu"), kMinLinkMtu, kMaxLinkMtu));
    }
    options.link_mtu = static_cast<uint32_t>(*mtu);
  }
  if (raw.Has("workers")) {
    const std::optional<uint64_t> n = ParseUnsigned(raw.Get("workers"));
    if (!n || *n < 1 || *n > kMaxWorkers) {
      return FlagError("workers", absl::StrFormat("'%s' is not a worker count; valid: 1..%d",
                                                  raw.Get("workers"), kMaxWorkers));
    }
    options.workers = static_cast<uint16_t>(*n);
  }
  if (raw.Has("timeout")) {
    const std::optional<double> t = ParseNonNegativeDouble(raw.Get("timeout"));
    if (!t || *t <= 0 || *t > 86400) {
      return FlagError("timeout", absl::StrFormat("'%s' is not a duration; valid: 0..86400 s",
                                                  raw.Get("timeout")));
    }
    options.timeout_seconds = *t;
  }
  return absl::OkStatus();
}

// Bytes of message buffers the run allocates on both hosts together.
double BufferBytes(const PerfOptions& options) {
  const auto largest = static_cast<double>(options.all_sizes ? options.max_size : options.size);
  if (IsLatencyTest(options.test)) return 2 * 3 * largest;  // per host: 2 send slots + 1 target
  return 2.0 * options.qps * static_cast<double>(options.SlotsPerQp()) * largest;
}

}  // namespace

bool WireSpecSetsKey(std::string_view spec, std::string_view key) {
  return std::ranges::any_of(SplitKeyValues(spec),
                             [key](const KeyValue& item) { return item.key == key; });
}

absl::Status ApplyWireDefaults(std::string_view spec, uint16_t paths, uint64_t seed,
                               sim::MultipathWireConfig& wire) {
  if (!WireSpecSetsKey(spec, "paths")) wire.paths = paths;
  if (!WireSpecSetsKey(spec, "seed")) wire.seed = seed;
  if (wire.blackhole >= static_cast<int>(wire.paths)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("blackhole=%d needs more than %u wire paths", wire.blackhole, wire.paths));
  }
  return absl::OkStatus();
}

absl::Status CheckDpdkFaultKeys(std::string_view spec) {
  // A real port has its own rate, delay and queues; only transmit faults apply.
  for (std::string_view key : {"trim", "delay", "jitter", "rate", "queue", "ecn"}) {
    if (WireSpecSetsKey(spec, key)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("key '%s' is simulator-only; dpdk takes loss, dup, corrupt, reorder, "
                          "paths, blackhole, seed",
                          key));
    }
  }
  return absl::OkStatus();
}

dpdk::FaultConfig DpdkFaults(const sim::MultipathWireConfig& wire) {
  dpdk::FaultConfig f;
  f.loss = wire.loss;
  f.dup = wire.dup;
  f.corrupt = wire.corrupt;
  f.reorder = wire.reorder;
  f.paths = wire.paths;
  f.blackhole = wire.blackhole;
  f.seed = wire.seed;
  return f;
}

// Bytes with an optional binary suffix: 4096, 64K, 1M, 1G (case-insensitive).
std::optional<uint64_t> ParseBytes(std::string_view text) {
  uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        scale = uint64_t{1} << 10;
        break;
      case 'm':
      case 'M':
        scale = uint64_t{1} << 20;
        break;
      case 'g':
      case 'G':
        scale = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  const std::optional<uint64_t> value = ParseUnsigned(text);
  if (!value || *value > UINT64_MAX / scale) return std::nullopt;
  return *value * scale;
}

absl::StatusOr<Duration> ParseBaseRtt(std::string_view microseconds) {
  const double max_us = TransportOptions{}.max_rto.microseconds();
  const std::optional<double> us = ParseNonNegativeDouble(microseconds);
  if (!us || *us <= 0 || *us > max_us) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "'%s' is not a round-trip time; valid: above 0, up to %g us", microseconds, max_us));
  }
  return Duration::FractionalMicroseconds(*us);
}

const char* PerfTestName(PerfTest test) {
  switch (test) {
    case PerfTest::kSendBw:
      return "send_bw";
    case PerfTest::kWriteBw:
      return "write_bw";
    case PerfTest::kReadBw:
      return "read_bw";
    case PerfTest::kSendLat:
      return "send_lat";
    case PerfTest::kWriteLat:
      return "write_lat";
    case PerfTest::kReadLat:
      return "read_lat";
  }
  return "unknown";
}

const char* PerfTestVerb(PerfTest test) {
  switch (test) {
    case PerfTest::kSendBw:
    case PerfTest::kSendLat:
      return "Send";
    case PerfTest::kWriteBw:
    case PerfTest::kWriteLat:
      return "RDMA_Write";
    case PerfTest::kReadBw:
    case PerfTest::kReadLat:
      return "RDMA_Read";
  }
  return "unknown";
}

bool IsLatencyTest(PerfTest test) {
  return test == PerfTest::kSendLat || test == PerfTest::kWriteLat || test == PerfTest::kReadLat;
}

std::vector<uint64_t> PerfOptions::Sizes() const {
  if (!all_sizes) return {size};
  std::vector<uint64_t> sizes;
  for (uint64_t s = 2; s <= max_size; s *= 2) sizes.push_back(s);
  return sizes;
}

PerfOptions WithWarmupIterations(const PerfOptions& options) {
  PerfOptions run = options;
  run.iters += options.warmup;
  return run;
}

uint64_t PerfOptions::SlotsPerQp() const {
  if (IsLatencyTest(test)) return 1;
  return std::min<uint64_t>(tx_depth, iters);
}

absl::StatusOr<PerfOptions> ParsePerfOptions(std::span<const std::string_view> args) {
  PerfOptions options;
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
  }
  absl::StatusOr<RawFlags> split = SplitFlags(args);
  if (!split.ok()) return split.status();
  const RawFlags& raw = *split;

  if (!raw.Has("test"))
    return FlagError("test", absl::StrFormat("required; valid: %s", kTestNames));
  const std::optional<PerfTest> test = ParseTest(raw.Get("test"));
  if (!test) {
    return FlagError("test",
                     absl::StrFormat("unknown test '%s'; valid: %s", raw.Get("test"), kTestNames));
  }
  options.test = *test;
  const bool latency = IsLatencyTest(options.test);

  if (raw.Has("size")) {
    const std::optional<uint64_t> size = ParseBytes(raw.Get("size"));
    if (!size || *size < 1 || *size > kMaxMessageSize) {
      return FlagError("size",
                       absl::StrFormat("'%s' is not a message size; valid: 1..1G bytes (K, M, G "
                                       "suffixes are powers of 1024)",
                                       raw.Get("size")));
    }
    options.size = *size;
  }
  options.all_sizes = raw.Has("all");
  if (options.all_sizes && raw.Has("size")) {
    return FlagError("all", "cannot be combined with -s/--size; use --max-size to cap -a");
  }
  if (raw.Has("max-size")) {
    if (!options.all_sizes) return FlagError("max-size", "only applies with -a/--all");
    const std::optional<uint64_t> max = ParseBytes(raw.Get("max-size"));
    if (!max || *max < 2 || *max > kMaxMessageSize) {
      return FlagError("max-size",
                       absl::StrFormat("'%s' is not a size; valid: 2..1G bytes (K, M, G "
                                       "suffixes)",
                                       raw.Get("max-size")));
    }
    options.max_size = *max;
  }
  if (raw.Has("iters")) {
    const std::optional<uint64_t> iters = ParseUnsigned(raw.Get("iters"));
    if (!iters || *iters < 1 || *iters > kMaxIters) {
      return FlagError("iters", absl::StrFormat("'%s' is not an iteration count; valid: 1..%d",
                                                raw.Get("iters"), kMaxIters));
    }
    options.iters = *iters;
  }
  if (raw.Has("warmup")) {
    const std::optional<uint64_t> warmup = ParseUnsigned(raw.Get("warmup"));
    if (!warmup || *warmup > kMaxIters) {
      return FlagError("warmup", absl::StrFormat("'%s' is not a round-trip count; valid: 0..%d",
                                                 raw.Get("warmup"), kMaxIters));
    }
    options.warmup = *warmup;
  }
  if (raw.Has("qps")) {
    const std::optional<uint64_t> qps = ParseUnsigned(raw.Get("qps"));
    if (!qps || *qps < 1 || *qps > kMaxQps) {
      return FlagError(
          "qps", absl::StrFormat("'%s' is not a QP count; valid: 1..%u", raw.Get("qps"), kMaxQps));
    }
    if (latency && *qps != 1) {
      return FlagError("qps", absl::StrFormat("latency tests use one QP; %s needs -q 1",
                                              PerfTestName(options.test)));
    }
    options.qps = static_cast<uint32_t>(*qps);
  }
  if (raw.Has("tx-depth")) {
    if (latency) {
      return FlagError("tx-depth",
                       absl::StrFormat("applies to bandwidth tests only (%s keeps one message "
                                       "outstanding)",
                                       PerfTestName(options.test)));
    }
    const std::optional<uint64_t> depth = ParseUnsigned(raw.Get("tx-depth"));
    if (!depth || *depth < 1 || *depth > kMaxTxDepth) {
      return FlagError("tx-depth", absl::StrFormat("'%s' is not a depth; valid: 1..%u",
                                                   raw.Get("tx-depth"), kMaxTxDepth));
    }
    options.tx_depth = static_cast<uint32_t>(*depth);
  }
  if (raw.Has("paths")) {
    const std::optional<uint64_t> paths = ParseUnsigned(raw.Get("paths"));
    if (!paths || *paths < 1 || *paths > kMaxPaths) {
      return FlagError("paths", absl::StrFormat("'%s' is not a path count; valid: 1..%u",
                                                raw.Get("paths"), kMaxPaths));
    }
    options.paths = static_cast<uint16_t>(*paths);
  }
  if (raw.Has("path-policy")) {
    const std::string_view name = raw.Get("path-policy");
    const std::optional<PathPolicy> policy = ParsePathPolicy(name);
    if (!policy) {
      return FlagError("path-policy",
                       absl::StrFormat("unknown policy '%s'; valid: %s", name, PathPolicyNames()));
    }
    options.path_policy = *policy;
  }
  if (raw.Has("mtu")) {
    const std::optional<uint64_t> mtu = ParseUnsigned(raw.Get("mtu"));
    if (!mtu || *mtu < kMinMtu || *mtu > kMaxMtu) {
      return FlagError("mtu", absl::StrFormat("'%s' is not an MTU; valid: %u..%u bytes",
                                              raw.Get("mtu"), kMinMtu, kMaxMtu));
    }
    options.mtu = static_cast<uint32_t>(*mtu);
  }
  if (raw.Has("cc")) {
    const absl::Status status = ValidateCongestionControlSpec(raw.Get("cc"));
    if (!status.ok()) return FlagError("cc", ToStd(status.message()));
    options.cc = std::string(raw.Get("cc"));
  }
  if (raw.Has("seed")) {
    const std::optional<uint64_t> seed = ParseUnsigned(raw.Get("seed"));
    if (!seed) {
      return FlagError("seed",
                       absl::StrFormat("'%s' is not a seed; valid: 0..2^64-1", raw.Get("seed")));
    }
    options.seed = *seed;
  }
  // After --paths and --seed: the wire inherits them.
  const absl::Status fabric =
      ParseFabric(raw.Has("fabric") ? raw.Get("fabric") : "sim", raw, options);
  if (!fabric.ok()) return fabric;
  if (absl::Status dpdk = ParseDpdkFlags(raw, options); !dpdk.ok()) return dpdk;
  if (raw.Has("line-rate")) {
    const std::optional<double> rate = ParseNonNegativeDouble(raw.Get("line-rate"));
    if (!rate || *rate < 0.001 || *rate > 100000) {
      return FlagError("line-rate", absl::StrFormat("'%s' is not a rate; valid: 0.001..100000 Gb/s",
                                                    raw.Get("line-rate")));
    }
    options.line_rate_gbps = *rate;
  }
  if (raw.Has("min-rto")) {
    const double max_us = TransportOptions{}.max_rto.microseconds();
    const std::optional<double> us = ParseNonNegativeDouble(raw.Get("min-rto"));
    if (!us || *us < 1 || *us > max_us) {
      return FlagError("min-rto", absl::StrFormat("'%s' is not a timeout; valid: 1..%g us",
                                                  raw.Get("min-rto"), max_us));
    }
    options.min_rto = Duration::FractionalMicroseconds(*us);
  }
  if (raw.Has("base-rtt")) {
    const absl::StatusOr<Duration> rtt = ParseBaseRtt(raw.Get("base-rtt"));
    if (!rtt.ok()) return FlagError("base-rtt", std::string(rtt.status().message()));
    options.base_rtt = *rtt;
  }
  if (raw.Has("pull-window")) {
    const uint32_t window = TransportOptions{}.window_packets;
    const std::optional<uint64_t> packets = ParseUnsigned(raw.Get("pull-window"));
    if (!packets || *packets > window) {
      return FlagError("pull-window", absl::StrFormat("'%s' is not a packet count; valid: 0..%u",
                                                      raw.Get("pull-window"), window));
    }
    options.pull_window_packets = static_cast<uint32_t>(*packets);
  }
  if (raw.Has("packets-per-turn")) {
    const std::optional<uint64_t> packets = ParseUnsigned(raw.Get("packets-per-turn"));
    if (!packets || *packets < 1 || *packets > kMaxPacketsPerTurn) {
      return FlagError("packets-per-turn",
                       absl::StrFormat("'%s' is not a packet count; valid: 1..%u",
                                       raw.Get("packets-per-turn"), kMaxPacketsPerTurn));
    }
    options.packets_per_turn = static_cast<uint32_t>(*packets);
  }
  if (raw.Has("tclass")) {
    const std::optional<uint64_t> tclass = ParseUnsigned(raw.Get("tclass"));
    if (!tclass || !IsDscpTrafficClass(*tclass)) {
      return FlagError("tclass",
                       absl::StrFormat("'%s' is not a traffic class; valid: DSCP x 4, 0..252 "
                                       "(the ECN bits are Tern's)",
                                       raw.Get("tclass")));
    }
    options.traffic_class = static_cast<uint8_t>(*tclass);
  }
  if (raw.Has("retry-cnt")) {
    const std::optional<uint64_t> count = ParseUnsigned(raw.Get("retry-cnt"));
    if (!count || *count > 255) {
      return FlagError("retry-cnt", absl::StrFormat("'%s' is not a retry count; valid: 0..255",
                                                    raw.Get("retry-cnt")));
    }
    options.retry_cnt = static_cast<uint8_t>(*count);
  }
  options.verify = raw.Has("verify");
  options.quiet = raw.Has("quiet");
  if (raw.Has("json")) {
    if (raw.Get("json").empty()) return FlagError("json", "needs a file name");
    options.json_path = std::string(raw.Get("json"));
  }

  // Combinations.
  if (options.warmup > 0 && !latency) {
    return FlagError("warmup", "is for latency tests (send_lat, write_lat, read_lat)");
  }
  if (options.iters + options.warmup > kMaxIters) {
    return FlagError("warmup", absl::StrFormat("--iters plus --warmup exceeds %d", kMaxIters));
  }
  if (options.workers > 1) {
    if (latency) return FlagError("workers", "latency tests use one QP and one worker");
    if (options.qps < options.workers) {
      return FlagError("workers", absl::StrFormat("%u workers need at least as many QPs (-q %u)",
                                                  options.workers, options.qps));
    }
  }
  if (static_cast<uint64_t>(options.qps) * options.SlotsPerQp() > kMaxOutstanding) {
    return FlagError("tx-depth",
                     absl::StrFormat("%u QPs x %u outstanding messages exceeds %d; lower "
                                     "-t/--tx-depth or -q/--qps",
                                     options.qps, options.SlotsPerQp(), kMaxOutstanding));
  }
  const double buffers = BufferBytes(options);
  if (buffers > static_cast<double>(kMaxBufferBytes)) {
    const char* flag = latency ? "size" : (options.all_sizes ? "max-size" : "tx-depth");
    return FlagError(
        flag, absl::StrFormat(
                  "message buffers would take %s on the two hosts, above the %s "
                  "limit; lower %s",
                  FormatGiB(buffers), FormatGiB(static_cast<double>(kMaxBufferBytes)),
                  latency ? "-s/--size" : "-s/--size (or --max-size), -t/--tx-depth or -q/--qps"));
  }
  return options;
}

TransportOptions PerfTransportOptions(const PerfOptions& options, Bandwidth line_rate) {
  TransportOptions t;
  t.paths = options.paths;
  t.path_policy = options.path_policy;
  t.congestion_control = options.cc;
  t.line_rate = line_rate;
  t.min_rto = options.min_rto;
  t.base_rtt = options.base_rtt;
  t.pull_window_packets = options.pull_window_packets;
  return t;
}

std::string PerfUsage() {
  std::string text = absl::StrFormat(
      R"(usage: tern-perf --test=TEST [flags]

What ib_write_bw / ib_send_lat are to RDMA, over Tern on a simulated wire.
Every result is in virtual time: the simulator's clock, not the wall clock.

  --test=TEST            %s (required)
  -s, --size=BYTES       message size, 1..1G; K, M, G suffixes are powers of 1024
                         (default 65536)
  -a, --all              run sizes 2, 4, 8, ... up to --max-size (not with -s)
      --max-size=BYTES   largest size for -a, 2..1G (default 8M)
  -n, --iters=N          messages per QP (bandwidth) or round trips (latency),
                         1..10^8 (default 1000)
      --warmup=N         latency tests: round trips run first and left out of
                         every statistic, 0..10^8 (default 0)
  -q, --qps=N            QP pairs, 1..%u (default 1; latency tests use 1)
  -t, --tx-depth=N       outstanding messages per QP in bandwidth tests, 1..%u
                         (default 128)
      --paths=N          entropies each QP sprays over, and wire paths unless the
                         fabric spec sets paths=, 1..%u (default 8)
      --path-policy=P    single|oblivious|weighted|recycled (default weighted)
      --mtu=BYTES        payload bytes per packet, %u..%u (default 4096)
      --cc=SPEC          congestion control, NAME[:key=value,...] (default fixed)
      --seed=N           seed of everything random: PSNs, contexts, wire impairments
                         unless the fabric spec sets seed= (default 1)
      --fabric=SPEC      sim[:KEY=VALUE,...] (default sim), or dpdk[:KEY=VALUE,...]
                         with the faults loss, dup, corrupt, reorder, paths,
                         blackhole, seed applied on transmit
      --line-rate=GBPS   host NIC rate in Gb/s (default 400)
      --min-rto=US       floor of the retransmission timeout, 1..%g us (default
                         %g); raise it where a host can stall for longer
      --base-rtt=US      path RTT the congestion control sizes its windows and
                         targets from, above 0 and up to %g us (default %g)
      --pull-window=N    receiver-driven pulls (docs/protocol.md 8.6): a QP sends N
                         packets unpulled, then one per pull; 0..1024 (default 0:
                         off); both sides of a DPDK run must give the same N
      --packets-per-turn=N  packets a QP sends in a row before the next QP gets
                         its turn, 1..%u (default %u; 1: a packet round-robin)
      --tclass=N         IPv4 TOS / IPv6 traffic class of every frame, DSCP x 4
                         (e.g. 104 for DSCP 26), 0..252 (default 0)
      --retry-cnt=N      timeouts without progress before a QP fails with
                         RETRY_EXC_ERR, 0..255 (default %u)
      --verify           fill every message with a pattern derived from (seed, QP,
                         message) and check every byte that arrives
      --json=FILE        also write the results as JSON
      --quiet            no progress lines on stderr
  -h, --help             this text

Over DPDK (tern-perf [EAL args] -- --fabric=dpdk[:faults] [flags]):
      --loopback         both sides in this process over a net_ring pair (default)
      --server           wait for a client on --control-port, then serve the test
      --connect=HOST     run the test against the server at HOST
      --control-port=N   TCP port of the out-of-band set-up (default 18515);
                         --server with 0: a free port, logged at start
      --dpdk-port=N      ethdev port id to use (default 0)
      --ip=ADDR          this host's data address, IPv4 or IPv6 (default 10.0.0.1
                         client, 10.0.0.2 server); both sides of one family;
                         --loopback: the client's, the server at the next one
      --peer-mac=MAC     next hop's MAC; without it the peer is found with ARP
                         (IPv4) or neighbor discovery (IPv6)
      --gateway=ADDR     router toward the peer, of --ip's family: its MAC is
                         asked for instead of the peer's (peer on another subnet)
      --pcap=FILE        write what the port sends and receives as pcapng
      --link-mtu=BYTES   IP MTU of the link, %u..%u, in place of what the port
                         reports: lowers it, or raises it past a PMD that
                         under-reports (net_memif on DPDK 22.11 says 1500 but
                         carries jumbo frames; give the same value to both sides)
      --timeout=SEC      wall-clock budget per message size (default 60)
      --workers=N        worker lcores per host, 1..%d (default 1): each drives its
                         own port queue and UDP port with every Nth QP; give
                         the EAL enough lcores (--loopback: 2N) or they share
      --tx-copy          copy every payload into the mbuf; by default a payload of
                         512 B or more is sent by reference from the message
                         buffer (zero-copy) where the port has multi-segment TX
      --no-coalesce-control  send each ACK and NACK in a datagram of its own; by
                         default those one poll produces for a host share one
                         (flag COALESCED, docs/protocol.md 2.11), which a peer
                         built before 2026-11-23 drops
      --no-address-check skip the start-up probe (ARP probe, IPv6 duplicate address
                         detection) that stops a run whose address another host
                         holds; for a link where something answers for every address

Both --flag=value and --flag value work; short flags take -s 4096 or -s4096.

Bandwidth tests keep tx-depth messages outstanding on every QP, reposting on
completion, until each QP completed --iters messages. Every message is signaled.
  BW average = payload bytes / (last completion - first post), in Gb/s (10^9 bit/s)
  BW peak    = the highest rate over any window of W consecutive completions,
               W = max(N/20, 4 x QPs x tx-depth), at most N, with N the messages
               of the run (iters x QPs): the rate of W messages over the time
               from the completion before the window to the last completion in
               it. Four rounds of outstanding messages absorb the burst of
               completions one ACK releases after a repaired loss
  MsgRate    = messages / (last completion - first post), in Mpps
Latency tests keep one message outstanding on one QP. send_lat and write_lat are
ping-pong (A->B, then B->A; latency = round trip / 2, as perftest reports);
write_lat sees arrival through RDMA_WRITE_WITH_IMM completions. read_lat reports
READ completion - post. t_typical is the median; percentiles are nearest-rank.

A run that stalls (no event left, or virtual time past 10x the ideal time + 1 s)
or sees a completion error stops and is reported as failed.
Exit status: 0 when every message completed successfully with no data error,
1 otherwise, 2 for usage errors.

Fabric:
)",
      kTestNames, kMaxQps, kMaxTxDepth, kMaxPaths, kMinMtu, kMaxMtu,
      TransportOptions{}.max_rto.microseconds(), TransportOptions{}.min_rto.microseconds(),
      TransportOptions{}.max_rto.microseconds(), TransportOptions{}.base_rtt.microseconds(),
      kMaxPacketsPerTurn, ContextConfig{}.packets_per_turn, QpRtsAttr{}.retry_cnt, kMinLinkMtu,
      kMaxLinkMtu, kMaxWorkers);
  absl::StrAppend(&text, sim::DescribeWireSpec(), "\nCongestion control (--cc):\n",
                  DescribeAlgorithms());
  return text;
}

}  // namespace tern::perf
