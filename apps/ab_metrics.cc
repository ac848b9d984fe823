#include "apps/ab_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::ab {
namespace {

constexpr std::array<MetricDefinition, 15> kMetrics = {{
    {"slowdown_p50", "FCT slowdown p50", Better::kLower},
    {"slowdown_p99", "FCT slowdown p99", Better::kLower},
    {"slowdown_max", "FCT slowdown max", Better::kLower},
    {"fct_p99_us", "FCT p99 (us)", Better::kLower},
    {"unfinished_flows", "unfinished flows", Better::kLower},
    {"collective_time_us", "collective time, mean (us)", Better::kLower},
    {"collective_time_max_us", "collective time, max (us)", Better::kLower},
    {"busbw_gbps", "bus bandwidth, mean (Gb/s)", Better::kHigher},
    {"queue_p99_bytes", "bottleneck queue p99 (bytes)", Better::kLower},
    {"queue_max_bytes", "bottleneck queue max (bytes)", Better::kLower},
    {"retransmits", "retransmitted packets", Better::kLower},
    {"timeout_retransmits", "retransmits after a timeout", Better::kLower},
    {"drops", "switch drops", Better::kLower},
    {"trims", "switch trims", Better::kLower},
    {"fairness_jain", "Jain fairness, mean", Better::kHigher},
}};

constexpr std::string_view kRecordHeader = "# tern-ab run record v1";

}  // namespace

std::span<const MetricDefinition> MetricDefinitions() { return kMetrics; }

const MetricDefinition* FindMetric(std::string_view name) {
  for (const MetricDefinition& m : kMetrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::vector<MetricValue> ExtractMetrics(const replay::ReplaySummary& s) {
  std::vector<MetricValue> out;
  auto add = [&](std::string_view name, double value, std::string bucket = "") {
    out.push_back({std::string(name), std::move(bucket), value});
  };
  // Times exist only for what finished: a run where nothing completed has no
  // slowdown (rather than a zero that would read as perfect), and the metric
  // then drops out of the comparison; unfinished_flows carries the failure.
  if (s.slowdown.count > 0) {
    add("slowdown_p50", s.slowdown.p50);
    add("slowdown_p99", s.slowdown.p99);
    add("slowdown_max", s.slowdown.max);
    add("fct_p99_us", s.fct_us.p99);
  }
  add("unfinished_flows", static_cast<double>(s.unfinished + s.failed));
  const bool collectives_done =
      std::all_of(s.collectives.begin(), s.collectives.end(),
                  [](const replay::CollectiveSummary& c) { return c.completed; });
  if (!s.collectives.empty() && collectives_done) {
    double total = 0, longest = 0, busbw = 0;
    for (const replay::CollectiveSummary& c : s.collectives) {
      total += c.time_us;
      longest = std::max(longest, c.time_us);
      busbw += c.busbw_gbps;
    }
    const auto n = static_cast<double>(s.collectives.size());
    add("collective_time_us", total / n);
    add("collective_time_max_us", longest);
    add("busbw_gbps", busbw / n);
  }
  // Switch figures exist only where tern-ab sees the switches (the simulator).
  const bool switches = !s.ports.empty();
  if (switches) {
    add("queue_p99_bytes", static_cast<double>(s.queue_p99_bytes));
    add("queue_max_bytes", static_cast<double>(s.queue_max_bytes));
  }
  add("retransmits", static_cast<double>(s.transport.retransmitted_packets));
  add("timeout_retransmits", static_cast<double>(s.transport.retransmits_timeout));
  if (switches) {
    add("drops", static_cast<double>(s.dropped));
    add("trims", static_cast<double>(s.trimmed));
  }
  add("fairness_jain", s.fairness_mean);
  for (const replay::SizeBucket& bucket : s.by_size) {
    if (bucket.slowdown.count == 0) continue;
    add("slowdown_p50", bucket.slowdown.p50, bucket.name);
    add("slowdown_p99", bucket.slowdown.p99, bucket.name);
    add("slowdown_max", bucket.slowdown.max, bucket.name);
  }
  return out;
}

std::string FormatRunRecord(const RunRecord& record) {
  std::string text =
      absl::StrFormat("%s\nkey\t%s\nbottleneck\t%s\nwall_seconds\t%.17g\n", kRecordHeader,
                      record.key, record.bottleneck, record.wall_seconds);
  for (const MetricValue& m : record.metrics) {
    // %.17g: the value read back is the value written, bit for bit.
    text += absl::StrFormat("metric\t%s\t%s\t%.17g\n", m.name, m.bucket.empty() ? "-" : m.bucket,
                            m.value);
  }
  return text;
}

absl::StatusOr<RunRecord> ParseRunRecord(std::string_view text, std::string_view source) {
  RunRecord record;
  size_t line_number = 0;
  auto error = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", source, line_number, what));
  };
  bool header = false, has_key = false;
  for (std::string_view line : SplitText(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    if (!header) {
      if (line != kRecordHeader) return error("not a tern-ab run record (or another version)");
      header = true;
      continue;
    }
    const std::vector<std::string_view> f = SplitText(line, '\t');
    double value = 0;
    if (f[0] == "key" && f.size() == 2) {
      record.key = std::string(f[1]);
      has_key = true;
    } else if (f[0] == "bottleneck" && f.size() == 2) {
      record.bottleneck = std::string(f[1]);
    } else if (f[0] == "wall_seconds" && f.size() == 2 && ParseDouble(f[1], &value)) {
      record.wall_seconds = value;
    } else if (f[0] == "metric" && f.size() == 4) {
      if (FindMetric(f[1]) == nullptr) return error(absl::StrFormat("unknown metric '%s'", f[1]));
      if (!ParseDouble(f[3], &value)) {
        return error(absl::StrFormat("'%s' is not a number", f[3]));
      }
      record.metrics.push_back({std::string(f[1]), f[2] == "-" ? "" : std::string(f[2]), value});
    } else {
      return error("expected key, bottleneck, wall_seconds or metric fields");
    }
  }
  if (!header) return error("empty");
  if (!has_key) return error("no key line");
  return record;
}

}  // namespace tern::ab
