#include "tools/tcp_rr_report.h"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/perf_report.h"

namespace tern::tcp_rr {
namespace {

constexpr std::string_view kLatencyDefinition =
    "round trip / 2 per iteration, as perftest send_lat and tern-perf --test=send_lat; t_typical "
    "is the median, percentiles are nearest-rank";

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.10g", value);
}

// A CPU as the banner and the JSON show it: -1 is "not pinned".
std::string CpuText(int cpu) { return cpu < 0 ? "not pinned" : absl::StrCat(cpu); }
std::string CpuJson(int cpu) { return cpu < 0 ? "null" : absl::StrCat(cpu); }

std::string SocketText(const TcpRrOptions& options) {
  return options.busy_poll ? "TCP_NODELAY, busy-poll (non-blocking I/O, SO_BUSY_POLL)"
                           : "TCP_NODELAY, blocking I/O";
}

}  // namespace

void Summarize(std::vector<double> half_rtt_usec, double wall_seconds, RrResult& result) {
  result.iterations = half_rtt_usec.size();
  result.wall_seconds = wall_seconds;
  result.transactions_per_sec =
      wall_seconds > 0 ? static_cast<double>(result.iterations) / wall_seconds : 0;
  result.latency = perf::ComputeLatencyStats(std::move(half_rtt_usec));
}

std::string FormatRrBanner(const TcpRrOptions& options, const RrResult& result) {
  std::string out = perf::FormatRule();
  absl::StrAppend(&out,
                  "                    TCP request/response (tern-tcp-rr, Linux kernel TCP)\n");
  auto line = [&](std::string_view key, std::string_view value) {
    absl::StrAppendFormat(&out, " %-15s : %s\n", key, value);
  };
  line("Mode", options.mode == RrMode::kLoopback ? "loopback (both sides in this process)"
                                                 : RrModeName(options.mode));
  line("Peer", result.peer);
  line("Message size", absl::StrCat(result.bytes, " [B] each way, 1 outstanding"));
  line("Socket", SocketText(options));
  if (options.mode == RrMode::kLoopback) {
    line("CPUs", absl::StrCat("server ", CpuText(result.cpu_server), ", client ",
                              CpuText(result.cpu_client)));
  } else {
    line("CPU", CpuText(result.cpu_client));
  }
  line("Warm-up", absl::StrCat(result.warmup, " round trips, not reported"));
  line("Latency", "round trip / 2 (as perftest send_lat)");
  absl::StrAppend(&out, perf::FormatRule());
  return out;
}

std::string FormatRrTable(const RrResult& result) {
  perf::PerfResult row;
  row.test = perf::PerfTest::kSendLat;
  row.bytes = result.bytes;
  row.iterations = result.iterations;
  row.has_latency = true;
  row.latency = result.latency;
  std::string out = perf::FormatTableHeader(perf::PerfTest::kSendLat);
  absl::StrAppend(&out, perf::FormatRow(row), perf::FormatRule());
  absl::StrAppendFormat(&out, " %-15s : %.0f (round trips per second, %.3f s measured)%s\n",
                        "Transactions/s", result.transactions_per_sec, result.wall_seconds,
                        result.stopped_early ? "; stopped early by a signal" : "");
  return out;
}

std::string FormatRrJson(const TcpRrOptions& options, const RrResult& result) {
  const perf::LatencyStats& l = result.latency;
  const std::vector<std::pair<std::string_view, std::string>> fields = {
      {"tool", perf::JsonString("tern-tcp-rr")},
      {"transport", perf::JsonString("linux_tcp")},
      {"mode", perf::JsonString(RrModeName(options.mode))},
      {"peer", perf::JsonString(result.peer)},
      {"bytes", absl::StrCat(result.bytes)},
      {"iterations", absl::StrCat(result.iterations)},
      {"warmup_iterations", absl::StrCat(result.warmup)},
      {"latency_definition", perf::JsonString(kLatencyDefinition)},
      {"t_min_usec", JsonNumber(l.t_min)},
      {"t_max_usec", JsonNumber(l.t_max)},
      {"t_typical_usec", JsonNumber(l.t_typical)},
      {"t_avg_usec", JsonNumber(l.t_avg)},
      {"t_stdev_usec", JsonNumber(l.t_stdev)},
      {"p99_usec", JsonNumber(l.p99)},
      {"p99_9_usec", JsonNumber(l.p99_9)},
      {"transactions_per_sec", JsonNumber(result.transactions_per_sec)},
      {"wall_seconds", JsonNumber(result.wall_seconds)},
      {"stopped_early", result.stopped_early ? "true" : "false"},
      {"tcp_nodelay", "true"},
      {"busy_poll", options.busy_poll ? "true" : "false"},
      {"cpu_server", CpuJson(result.cpu_server)},
      {"cpu_client", CpuJson(result.cpu_client)},
      {"duration_sec", JsonNumber(options.duration_sec)},
      {"timeout_sec", JsonNumber(options.timeout_sec)},
  };
  std::vector<std::string> lines;
  lines.reserve(fields.size());
  for (const auto& [key, value] : fields) {
    lines.push_back(absl::StrCat("  ", perf::JsonString(key), ": ", value));
  }
  return absl::StrCat("{\n", absl::StrJoin(lines, ",\n"), "\n}\n");
}

}  // namespace tern::tcp_rr
