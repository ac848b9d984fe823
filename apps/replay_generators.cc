#include "apps/replay_generators.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "apps/file_io.h"
#include "apps/replay_chakra.h"
#include "apps/replay_collectives.h"
#include "apps/replay_flow_files.h"
#include "transport/text.h"

namespace tern::replay {
namespace {

constexpr uint64_t kDefaultSize = 2'000'000;
constexpr double kMaxDurationSeconds = 86400;

// Digits with at most one '.', no sign or exponent: "2", "0.5", "1.25".
std::optional<double> ParsePlainDecimal(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos ||
      text.find_first_of("0123456789") == std::string_view::npos) {
    return std::nullopt;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Splits "1.5MiB" into "1.5" and "MiB".
std::pair<std::string_view, std::string_view> NumberAndSuffix(std::string_view text) {
  size_t split = text.find_first_not_of("0123456789.");
  if (split == std::string_view::npos) split = text.size();
  return {text.substr(0, split), text.substr(split)};
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// Bytes with an optional KB/MB/GB or KiB/MiB/GiB suffix; nullopt and `why`
// when refused.
std::optional<uint64_t> ParseSize(std::string_view text, std::string& why) {
  const auto [number, suffix] = NumberAndSuffix(text);
  const std::string unit = Lower(suffix);
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "kb") scale = 1e3;
  if (unit == "mb") scale = 1e6;
  if (unit == "gb") scale = 1e9;
  if (unit == "kib") scale = 0x1p10;
  if (unit == "mib") scale = 0x1p20;
  if (unit == "gib") scale = 0x1p30;
  if (unit == "k" || unit == "m" || unit == "g") {
    why = absl::StrFormat("ambiguous suffix '%s'; write %sB (10^3 steps) or %siB (2^10 steps)",
                          suffix, suffix, suffix);
    return std::nullopt;
  }
  const std::optional<double> mantissa = ParsePlainDecimal(number);
  if (scale == 0 || !mantissa) {
    why = "not a size (bytes, or with KB, MB, GB, KiB, MiB, GiB: 2MB, 64KiB, 1000)";
    return std::nullopt;
  }
  const double bytes = *mantissa * scale;
  if (bytes >= static_cast<double>(kMaxTransferBytes)) {
    why = "1 TiB or more";
    return std::nullopt;
  }
  const double whole = std::round(bytes);
  if (std::abs(bytes - whole) > 1e-6 * std::max(1.0, bytes)) {
    why = "not a whole number of bytes";
    return std::nullopt;
  }
  return static_cast<uint64_t>(whole);
}

// Microseconds unless suffixed ns, us, ms or s.
std::optional<Duration> ParseDuration(std::string_view text, std::string& why) {
  const auto [number, suffix] = NumberAndSuffix(text);
  double ps_per_unit = 0;
  if (suffix.empty() || suffix == "us") ps_per_unit = 1e6;
  if (suffix == "ns") ps_per_unit = 1e3;
  if (suffix == "ms") ps_per_unit = 1e9;
  if (suffix == "s") ps_per_unit = 1e12;
  const std::optional<double> value = ParsePlainDecimal(number);
  if (ps_per_unit == 0 || !value) {
    why = "not a duration (microseconds, or with ns, us, ms, s: 50, 2.5ms)";
    return std::nullopt;
  }
  const double ps = *value * ps_per_unit;
  if (ps > kMaxDurationSeconds * 1e12) {
    why = "more than a day";
    return std::nullopt;
  }
  return Duration::Picoseconds(std::llround(ps));
}

// ---- spec keys -------------------------------------------------------------

struct KeyHelp {
  std::string_view key;
  std::string_view value;  // placeholder in the synopsis: "N", "B", "T"
  bool required;
  std::string_view help;  // meaning and default, for DescribeWorkloadSpecs()
};

// The key=value arguments of one spec, with the generator name for messages.
class SpecArgs {
 public:
  SpecArgs(std::string_view generator, std::map<std::string_view, std::string_view> values)
      : generator_(generator), values_(std::move(values)) {}

  absl::Status Error(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s=%s: %s", generator_, key, values_.at(key), what));
  }
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", generator_, what));
  }

  std::optional<std::string_view> Get(std::string_view key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  absl::StatusOr<uint64_t> Count(std::string_view key, uint64_t fallback, uint64_t min,
                                 uint64_t max) const {
    const std::optional<std::string_view> text = Get(key);
    if (!text) return fallback;
    const std::optional<uint64_t> value = ParseUnsigned(*text);
    if (!value || *value < min || *value > max) {
      return Error(key, absl::StrFormat("not a whole number from %d to %d", min, max));
    }
    return *value;
  }

  absl::StatusOr<uint64_t> Size(std::string_view key, uint64_t fallback) const {
    const std::optional<std::string_view> text = Get(key);
    if (!text) return fallback;
    std::string why;
    const std::optional<uint64_t> bytes = ParseSize(*text, why);
    if (!bytes) return Error(key, why);
    if (*bytes == 0) return Error(key, "a transfer must carry bytes");
    return *bytes;
  }

  absl::StatusOr<Duration> Length(std::string_view key, Duration fallback) const {
    const std::optional<std::string_view> text = Get(key);
    if (!text) return fallback;
    std::string why;
    const std::optional<Duration> duration = ParseDuration(*text, why);
    if (!duration) return Error(key, why);
    return *duration;
  }

  // The `hosts` key: how many of the fabric's hosts (0..N-1) take part.
  absl::StatusOr<uint32_t> Hosts(const WorkloadEnvironment& env) const {
    const std::optional<std::string_view> text = Get("hosts");
    if (!text) return env.hosts;
    const std::optional<uint64_t> hosts = ParseUnsigned(*text);
    if (!hosts || *hosts < 2) return Error("hosts", "not a whole number of at least 2");
    if (*hosts > env.hosts) {
      return Error("hosts", absl::StrFormat("the fabric has only %d hosts", env.hosts));
    }
    return static_cast<uint32_t>(*hosts);
  }

 private:
  std::string_view generator_;
  std::map<std::string_view, std::string_view> values_;
};

std::vector<uint32_t> FirstHosts(uint32_t count) {
  std::vector<uint32_t> hosts(count);
  std::iota(hosts.begin(), hosts.end(), 0u);
  return hosts;
}

Step Transfer(uint32_t src, uint32_t dst, uint64_t bytes, Time not_before, std::string label) {
  Step step;
  step.src = src;
  step.dst = dst;
  step.bytes = bytes;
  step.not_before = not_before;
  step.label = std::move(label);
  return step;
}

// ---- generators ----------------------------------------------------------

// Senders are spread evenly over the H-1 hosts after the receiver, counting
// round the fabric: sender i is number i * (H-1) / N of them, from 0. With
// hosts numbered rack by rack, a few senders thus cross racks rather than
// crowding the receiver's.
absl::StatusOr<Workload> MakeIncast(const SpecArgs& args, const WorkloadEnvironment& env) {
  const uint32_t n = env.hosts;
  const absl::StatusOr<uint64_t> receiver = args.Count("receiver", 0, 0, n - 1);
  if (!receiver.ok()) return receiver.status();
  const absl::StatusOr<uint64_t> senders = args.Count("senders", std::min(8u, n - 1), 1, n - 1);
  if (!senders.ok()) return senders.status();
  const absl::StatusOr<uint64_t> size = args.Size("size", kDefaultSize);
  if (!size.ok()) return size.status();
  const absl::StatusOr<Duration> jitter = args.Length("jitter", Duration::Zero());
  if (!jitter.ok()) return jitter.status();

  Random random(env.seed);
  Workload workload;
  workload.hosts = n;
  for (uint64_t i = 0; i < *senders; ++i) {
    const uint64_t offset = 1 + i * (n - 1) / *senders;
    const auto src = static_cast<uint32_t>((*receiver + offset) % n);
    const Time start =
        jitter->IsZero()
            ? Time::Zero()
            : Time::FromPicoseconds(static_cast<int64_t>(random.Uniform(jitter->picoseconds())));
    workload.steps.push_back(
        Transfer(src, static_cast<uint32_t>(*receiver), *size, start, "incast"));
  }
  return workload;
}

// A uniformly random derangement: Fisher-Yates shuffles until no host is
// mapped to itself (about e = 2.7 shuffles on average).
std::vector<uint32_t> RandomDerangement(uint32_t n, Random& random) {
  std::vector<uint32_t> to = FirstHosts(n);
  for (;;) {
    for (uint32_t i = n - 1; i > 0; --i) std::swap(to[i], to[random.Uniform(i + 1)]);
    bool fixed_point = false;
    for (uint32_t i = 0; i < n; ++i) fixed_point = fixed_point || to[i] == i;
    if (!fixed_point) return to;
  }
}

absl::StatusOr<Workload> MakePermutation(const SpecArgs& args, const WorkloadEnvironment& env) {
  const absl::StatusOr<uint64_t> size = args.Size("size", kDefaultSize);
  if (!size.ok()) return size.status();
  Random random(env.seed);
  const std::vector<uint32_t> to = RandomDerangement(env.hosts, random);
  Workload workload;
  workload.hosts = env.hosts;
  for (uint32_t src = 0; src < env.hosts; ++src) {
    workload.steps.push_back(Transfer(src, to[src], *size, Time::Zero(), "permutation"));
  }
  return workload;
}

absl::StatusOr<Workload> ExpandWholeCollective(const SpecArgs& args, CollectiveSpec spec,
                                               uint32_t hosts) {
  Workload workload;
  workload.hosts = hosts;
  spec.ranks = FirstHosts(hosts);
  const auto ends = ExpandCollective(spec, {}, workload);
  if (!ends.ok()) {
    const auto message = ends.status().message();
    return args.Error(std::string_view(message.data(), message.size()));
  }
  return workload;
}

// CollectiveSpec::bytes is what each rank holds; alltoall sends bytes/n of it
// to each peer (and keeps its own share), so bytes = size * n puts `size` on
// every pair.
absl::StatusOr<Workload> MakeAlltoall(const SpecArgs& args, const WorkloadEnvironment& env) {
  const absl::StatusOr<uint64_t> size = args.Size("size", kDefaultSize);
  if (!size.ok()) return size.status();
  const absl::StatusOr<uint32_t> hosts = args.Hosts(env);
  if (!hosts.ok()) return hosts.status();
  if (*size > UINT64_MAX / *hosts) return args.Error("size", "too large for this many hosts");
  CollectiveSpec spec;
  spec.name = "alltoall";
  spec.operation = "alltoall";
  spec.bytes = *size * *hosts;
  return ExpandWholeCollective(args, std::move(spec), *hosts);
}

absl::StatusOr<Workload> MakeAllreduce(const SpecArgs& args, const WorkloadEnvironment& env) {
  const absl::StatusOr<uint64_t> size = args.Size("size", kDefaultSize);
  if (!size.ok()) return size.status();
  const absl::StatusOr<uint32_t> hosts = args.Hosts(env);
  if (!hosts.ok()) return hosts.status();
  const std::string_view algorithm = args.Get("algorithm").value_or("ring");
  if (algorithm != "ring" && algorithm != "recursive_doubling") {
    return args.Error("algorithm", "valid: ring, recursive_doubling");
  }
  if (algorithm == "recursive_doubling" && (*hosts & (*hosts - 1)) != 0) {
    return args.Error(absl::StrFormat(
        "recursive_doubling needs a power-of-two number of hosts, not %d (set hosts=)", *hosts));
  }
  CollectiveSpec spec;
  spec.name = "allreduce";
  spec.operation = "allreduce";
  spec.algorithm = std::string(algorithm);
  spec.bytes = *size;
  return ExpandWholeCollective(args, std::move(spec), *hosts);
}

// Each host draws flows as a Poisson process whose rate makes the expected
// offered bytes load * host_rate: flows/s = load * rate_bytes_per_s / mean size.
absl::StatusOr<Workload> MakeLoad(const SpecArgs& args, const WorkloadEnvironment& env) {
  const std::optional<std::string_view> cdf_path = args.Get("cdf");
  if (!cdf_path) return args.Error("cdf=FILE is required");
  const std::optional<std::string_view> load_text = args.Get("load");
  if (!load_text) return args.Error("load=F (0 < F <= 1) is required");
  const std::optional<double> load = ParsePlainDecimal(*load_text);
  if (!load || *load <= 0 || *load > 1) return args.Error("load", "not a fraction in (0, 1]");
  const absl::StatusOr<Duration> duration = args.Length("duration", Duration::Microseconds(1000));
  if (!duration.ok()) return duration.status();
  if (duration->IsZero()) return args.Error("duration", "must be more than zero");
  const absl::StatusOr<uint32_t> hosts = args.Hosts(env);
  if (!hosts.ok()) return hosts.status();
  if (env.host_rate.IsUnlimited()) {
    return args.Error("needs the hosts' link rate to turn a load into flow arrivals");
  }
  const absl::StatusOr<FlowSizeCdf> cdf = LoadFlowSizeCdf(std::string(*cdf_path));
  if (!cdf.ok()) return cdf.status();

  const double bytes_per_second = *load * static_cast<double>(env.host_rate.bits_per_second()) / 8;
  const double mean_gap_ps = cdf->Mean() / bytes_per_second * 1e12;
  const double duration_ps = static_cast<double>(duration->picoseconds());
  const double expected_flows = duration_ps / mean_gap_ps * *hosts;
  // Usually a typo (a duration in seconds meant as microseconds).
  if (expected_flows > static_cast<double>(kMaxWorkloadSteps)) {
    return args.Error(absl::StrFormat(
        "would generate about %.0f flows (more than %d); shorten duration or use fewer hosts",
        expected_flows, kMaxWorkloadSteps));
  }

  Random random(env.seed);
  Workload workload;
  workload.hosts = *hosts;
  for (uint32_t src = 0; src < *hosts; ++src) {
    double t = 0;
    for (;;) {
      // 1 - U is in (0, 1], so the logarithm is finite.
      t += -std::log(1.0 - random.UniformDouble()) * mean_gap_ps;
      if (t >= duration_ps) break;
      auto dst = static_cast<uint32_t>(random.Uniform(*hosts - 1));
      if (dst >= src) ++dst;
      const uint64_t bytes = cdf->Sample(random);
      workload.steps.push_back(
          Transfer(src, dst, bytes, Time::FromPicoseconds(std::llround(t)), "load"));
    }
  }
  std::stable_sort(workload.steps.begin(), workload.steps.end(),
                   [](const Step& a, const Step& b) { return a.not_before < b.not_before; });
  return workload;
}

struct Generator {
  std::string_view name;
  std::vector<KeyHelp> keys;
  std::string_view summary;
  absl::StatusOr<Workload> (*make)(const SpecArgs&, const WorkloadEnvironment&);
};

const std::vector<Generator>& Generators() {
  static const std::vector<Generator> generators = {
      {"incast",
       {{"senders", "N", false, "how many hosts send (default min(8, hosts-1))"},
        {"size", "B", false, "bytes each sender sends (default 2MB)"},
        {"receiver", "R", false, "the host they all send to (default 0)"},
        {"jitter", "T", false,
         "each sender starts uniformly in [0, jitter) (default 0: all at once)"}},
       "senders spread evenly over the hosts after the receiver, all sending to it",
       MakeIncast},
      {"permutation",
       {{"size", "B", false, "bytes each host sends (default 2MB)"}},
       "every host sends to one other and receives from one (a random derangement)",
       MakePermutation},
      {"alltoall",
       {{"size", "B", false, "bytes each host sends to each other host (default 2MB)"},
        {"hosts", "N", false, "hosts 0..N-1 take part (default all)"}},
       "MoE-style all-to-all, expanded as the collective library does",
       MakeAlltoall},
      {"allreduce",
       {{"size", "B", false, "bytes per rank, as nccl-tests' size (default 2MB)"},
        {"algorithm", "A", false, "ring or recursive_doubling (power-of-two hosts) (default ring)"},
        {"hosts", "N", false, "hosts 0..N-1 take part (default all)"}},
       "one all-reduce over the hosts",
       MakeAllreduce},
      {"load",
       {{"cdf", "FILE", true, "flow-size CDF file, lines 'BYTES CUMULATIVE_PERCENT' (required)"},
        {"load", "F", true,
         "offered load per host, a fraction of its link rate in (0, 1] (required)"},
        {"duration", "T", false, "flows arrive in [0, duration) (default 1000us)"},
        {"hosts", "N", false, "hosts 0..N-1 send and receive (default all)"}},
       "Poisson flow arrivals on every host, sizes from the CDF, destinations uniform",
       MakeLoad},
  };
  return generators;
}

std::string ValidKeys(const Generator& generator) {
  std::string keys;
  for (const KeyHelp& key : generator.keys) {
    if (!keys.empty()) keys += ", ";
    keys += key.key;
  }
  return keys;
}

absl::StatusOr<SpecArgs> ParseArgs(const Generator& generator, std::string_view text) {
  std::map<std::string_view, std::string_view> values;
  std::vector<KeyValue> items = SplitKeyValues(text);
  // A trailing comma, or no arguments at all, is accepted.
  if (items.back().item.empty()) items.pop_back();
  for (const auto& [item, key, value, has_equals] : items) {
    if (!has_equals || key.empty() || value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: '%s' is not key=value", generator.name, item));
    }
    const bool known = std::any_of(generator.keys.begin(), generator.keys.end(),
                                   [&key = key](const KeyHelp& k) { return k.key == key; });
    if (!known) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: unknown key '%s' (valid: %s)",
                                                        generator.name, key, ValidKeys(generator)));
    }
    if (!values.emplace(key, value).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: key '%s' given twice", generator.name, key));
    }
  }
  return SpecArgs(generator.name, std::move(values));
}

// flows:FILE and chakra:DIR: what the file holds, if it fits the fabric.
absl::StatusOr<Workload> LoadFileWorkload(std::string_view name, std::string_view path,
                                          std::string_view spec, const WorkloadEnvironment& env) {
  const bool flows = name == "flows";
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s needs a %s: %s:%s", name, flows ? "file" : "directory", name, flows ? "FILE" : "DIR"));
  }
  absl::StatusOr<Workload> workload =
      flows ? LoadFlowFile(std::string(path)) : LoadChakraTrace(std::string(path), env.chakra);
  if (!workload.ok()) return workload.status();
  if (workload->hosts > env.hosts) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s needs %d hosts; the fabric has %d", spec, workload->hosts, env.hosts));
  }
  return workload;
}

absl::StatusOr<Workload> Generate(std::string_view name, std::string_view args_text,
                                  const WorkloadEnvironment& env) {
  const auto& generators = Generators();
  const auto generator = std::find_if(generators.begin(), generators.end(),
                                      [&](const Generator& g) { return g.name == name; });
  if (generator == generators.end()) {
    std::string names;
    for (const Generator& g : generators) names += absl::StrFormat("%s, ", g.name);
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown workload '%s' (valid: %sflows:FILE, chakra:DIR)", name, names));
  }
  if (env.hosts < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the fabric has %d hosts; a workload needs at least 2", name, env.hosts));
  }
  absl::StatusOr<SpecArgs> args = ParseArgs(*generator, args_text);
  if (!args.ok()) return args.status();
  return generator->make(*args, env);
}

// "incast[:senders=N,size=B]", "load:cdf=FILE,load=F[,duration=T]".
std::string Synopsis(const Generator& generator) {
  std::string required, optional;
  for (const KeyHelp& key : generator.keys) {
    std::string& list = key.required ? required : optional;
    if (!list.empty()) list += ",";
    list += absl::StrFormat("%s=%s", key.key, key.value);
  }
  std::string synopsis(generator.name);
  if (!required.empty()) synopsis += ":" + required;
  if (!optional.empty())
    synopsis += absl::StrFormat("[%s%s]", required.empty() ? ":" : ",", optional);
  return synopsis;
}

}  // namespace

FlowSizeCdf::FlowSizeCdf(std::vector<Point> points) : points_(std::move(points)) {
  mean_ = points_.front().bytes * points_.front().percent / 100;
  for (size_t i = 1; i < points_.size(); ++i) {
    const Point& a = points_[i - 1];
    const Point& b = points_[i];
    mean_ += (b.percent - a.percent) / 100 * (a.bytes + b.bytes) / 2;
  }
}

uint64_t FlowSizeCdf::Sample(Random& random) const {
  const double percent = random.UniformDouble() * 100;
  // The first point at or above `percent`; the last point is at 100.
  const auto it = std::lower_bound(points_.begin(), points_.end(), percent,
                                   [](const Point& p, double v) { return p.percent < v; });
  double bytes = it->bytes;
  if (it != points_.begin() && it->percent > std::prev(it)->percent) {
    const Point& a = *std::prev(it);
    bytes = a.bytes + (it->bytes - a.bytes) * (percent - a.percent) / (it->percent - a.percent);
  }
  return std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(bytes)));
}

absl::StatusOr<FlowSizeCdf> ParseFlowSizeCdf(std::string_view text, std::string_view source_name) {
  std::vector<FlowSizeCdf::Point> points;
  size_t line_number = 0;
  size_t last_point_line = 0;
  auto error = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", source_name, line_number, what));
  };
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    std::vector<std::string_view> fields;
    for (size_t i = 0; i < line.size();) {
      const size_t begin = line.find_first_not_of(" \t\r", i);
      if (begin == std::string_view::npos) break;
      const size_t end = std::min(line.find_first_of(" \t\r", begin), line.size());
      fields.push_back(line.substr(begin, end - begin));
      i = end;
    }
    if (fields.empty() || fields.front().front() == '#') continue;
    if (fields.size() != 2) return error("expected 'BYTES CUMULATIVE_PERCENT'");
    const std::optional<double> bytes = ParsePlainDecimal(fields[0]);
    const std::optional<double> percent = ParsePlainDecimal(fields[1]);
    if (!bytes) return error(absl::StrFormat("size '%s' is not a number of bytes", fields[0]));
    if (*bytes >= static_cast<double>(kMaxTransferBytes)) {
      return error(absl::StrFormat("size %s is 1 TiB or more", fields[0]));
    }
    if (!percent || *percent > 100) {
      return error(absl::StrFormat("'%s' is not a percent from 0 to 100", fields[1]));
    }
    if (!points.empty() && *bytes < points.back().bytes) {
      return error(
          absl::StrFormat("size %s is below the previous point's; sizes must ascend", fields[0]));
    }
    if (!points.empty() && *percent < points.back().percent) {
      return error(absl::StrFormat("percent %s is below the previous point's; a CDF never falls",
                                   fields[1]));
    }
    points.push_back({*bytes, *percent});
    last_point_line = line_number;
  }
  line_number = std::max<size_t>(1, line_number);
  if (points.empty()) return error("no points (expected lines 'BYTES CUMULATIVE_PERCENT')");
  line_number = last_point_line;
  if (points.back().percent != 100) {
    return error(
        absl::StrFormat("the last point is at %g%%; a CDF ends at 100", points.back().percent));
  }
  if (points.back().bytes == 0) return error("every flow would be 0 bytes");
  return FlowSizeCdf(std::move(points));
}

absl::StatusOr<FlowSizeCdf> LoadFlowSizeCdf(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParseFlowSizeCdf(*text, path);
}

namespace {

// Appends `part` to `into`: its steps' dependencies and collective indices
// move by the steps and collectives already there; its times are unchanged,
// so the parts run side by side.
void AppendWorkload(Workload part, Workload& into) {
  const auto step_base = static_cast<uint32_t>(into.steps.size());
  const auto collective_base = static_cast<int32_t>(into.collectives.size());
  for (Step& step : part.steps) {
    for (uint32_t& dep : step.deps) dep += step_base;
    if (step.collective != kNoCollective) step.collective += collective_base;
    into.steps.push_back(std::move(step));
  }
  for (Collective& collective : part.collectives) into.collectives.push_back(std::move(collective));
  into.hosts = std::max(into.hosts, part.hosts);
}

}  // namespace

absl::StatusOr<Workload> MakeWorkload(std::string_view spec, const WorkloadEnvironment& env) {
  if (spec.find('+') != std::string_view::npos) {
    Workload combined;
    for (std::string_view part : SplitText(spec, '+')) {
      if (part.empty()) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: empty part around '+'", spec));
      }
      absl::StatusOr<Workload> w = MakeWorkload(part, env);
      if (!w.ok()) return w.status();
      AppendWorkload(*std::move(w), combined);
    }
    combined.description = std::string(spec);
    return combined;
  }
  const size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  absl::StatusOr<Workload> workload = name == "flows" || name == "chakra"
                                          ? LoadFileWorkload(name, rest, spec, env)
                                          : Generate(name, rest, env);
  if (!workload.ok()) return workload.status();
  workload->description = std::string(spec);
  // Generators build valid workloads by construction, and the loaders have
  // validated theirs: an error here is a bug, reported against the spec.
  if (absl::Status s = ValidateWorkload(*workload); !s.ok()) {
    return absl::Status(s.code(), absl::StrFormat("%s: %s", spec, s.message()));
  }
  return workload;
}

std::string DescribeWorkloadSpecs() {
  std::string text = "Workloads (--workload=NAME[:key=value,...]):\n";
  for (const Generator& generator : Generators()) {
    text += absl::StrFormat("  %s\n      %s\n", Synopsis(generator), generator.summary);
    for (const KeyHelp& key : generator.keys) {
      text += absl::StrFormat("      %-10s %s\n", key.key, key.help);
    }
  }
  text +=
      "  flows:FILE\n"
      "      an htsim connection matrix (lines SRC->DST ..., with triggers) or an HPCC\n"
      "      flow file (a count, then SRC DST PG DPORT SIZE START_SECONDS lines)\n"
      "  chakra:DIR\n"
      "      MLCommons Chakra execution traces, one NAME.RANK.et file per rank\n"
      "Sizes are bytes, or with a suffix KB, MB, GB (10^3, 10^6, 10^9) or KiB, MiB, GiB\n"
      "(2^10, 2^20, 2^30). Durations are microseconds, or with a suffix ns, us, ms, s.\n"
      "Random choices (senders' jitter, the permutation, load arrivals) follow the seed.\n"
      "Workloads joined by '+' run side by side, e.g. incast:senders=16+load:cdf=F,load=0.3\n";
  return text;
}

}  // namespace tern::replay
