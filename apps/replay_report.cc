#include "apps/replay_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/perf_report.h"

namespace tern::replay {
namespace {

using perf::JsonNumber;
using perf::JsonString;

struct BucketBound {
  const char* name;
  uint64_t below;  // exclusive upper bound
};
constexpr BucketBound kBuckets[] = {
    {"<10KB", 10'000},        {"10KB-100KB", 100'000}, {"100KB-1MB", 1'000'000},
    {"1MB-10MB", 10'000'000}, {">=10MB", UINT64_MAX},
};

std::string JsonPercentiles(const Percentiles& p) {
  return absl::StrFormat(R"({"count": %d, "p50": %s, "p95": %s, "p99": %s, "max": %s, "mean": %s})",
                         p.count, JsonNumber(p.p50), JsonNumber(p.p95), JsonNumber(p.p99),
                         JsonNumber(p.max), JsonNumber(p.mean));
}

}  // namespace

Percentiles ComputePercentiles(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  const auto rank = [&](double q) {
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(i, 1, values.size()) - 1];
  };
  p.count = values.size();
  p.p50 = rank(0.50);
  p.p95 = rank(0.95);
  p.p99 = rank(0.99);
  p.max = values.back();
  double sum = 0;
  for (double v : values) sum += v;
  p.mean = sum / static_cast<double>(values.size());
  return p;
}

ReplaySummary Summarize(const ReplayResult& r) {
  ReplaySummary s;
  s.virtual_us = (r.end - Time::Zero()).microseconds();
  std::vector<double> fct, slowdown;
  std::vector<std::vector<double>> bucket_fct(std::size(kBuckets)),
      bucket_slow(std::size(kBuckets));
  std::map<uint32_t, std::vector<double>> throughput_by_receiver;
  for (const FlowResult& f : r.flows) {
    ++s.flows;
    if (f.failed) ++s.failed;
    if (!f.completed) {
      if (!f.failed) ++s.unfinished;
      continue;
    }
    ++s.completed;
    const double us = f.fct().microseconds();
    fct.push_back(us);
    slowdown.push_back(f.slowdown());
    size_t b = 0;
    while (f.bytes >= kBuckets[b].below) ++b;
    bucket_fct[b].push_back(us);
    bucket_slow[b].push_back(f.slowdown());
    throughput_by_receiver[f.dst].push_back(static_cast<double>(f.bytes) / f.fct().seconds());
  }
  s.fct_us = ComputePercentiles(fct);
  s.slowdown = ComputePercentiles(slowdown);
  for (size_t b = 0; b < std::size(kBuckets); ++b) {
    if (bucket_fct[b].empty()) continue;
    s.by_size.push_back(SizeBucket{kBuckets[b].name, bucket_fct[b].size(),
                                   ComputePercentiles(bucket_fct[b]),
                                   ComputePercentiles(bucket_slow[b])});
  }
  double fairness_sum = 0;
  for (const auto& [receiver, rates] : throughput_by_receiver) {
    if (rates.size() < 2) continue;
    double sum = 0, squares = 0;
    for (double x : rates) {
      sum += x;
      squares += x * x;
    }
    const double jain = sum * sum / (static_cast<double>(rates.size()) * squares);
    ++s.fairness_groups;
    fairness_sum += jain;
    s.fairness_min = std::min(s.fairness_min, jain);
  }
  if (s.fairness_groups > 0)
    s.fairness_mean = fairness_sum / static_cast<double>(s.fairness_groups);

  for (const CollectiveResult& c : r.collectives) {
    CollectiveSummary cs;
    cs.name = c.collective.name;
    cs.operation = c.collective.operation;
    cs.algorithm = c.collective.algorithm;
    cs.ranks = c.collective.ranks;
    cs.bytes = c.collective.bytes;
    cs.completed = c.completed && c.finish >= c.start;
    if (cs.completed) {
      cs.time_us = (c.finish - c.start).microseconds();
      if (cs.time_us > 0) {
        cs.algbw_gbps = static_cast<double>(cs.bytes) * 8 / (cs.time_us * 1e3);
        cs.busbw_gbps = cs.algbw_gbps * BusBandwidthFactor(cs.operation, cs.ranks);
      }
    }
    s.collectives.push_back(std::move(cs));
  }

  const double run_seconds = (r.end - Time::Zero()).seconds();
  for (const sim::PortReport& p : r.ports) {
    if (p.host_uplink || p.counters.frames_offered == 0) continue;
    PortSummary ps;
    ps.name = p.name;
    ps.queue_max_bytes = p.counters.max_queue_bytes;
    ps.queue_p50_bytes = p.queue_p50_bytes;
    ps.queue_p99_bytes = p.queue_p99_bytes;
    ps.ecn_marked = p.counters.ecn_marked;
    ps.trimmed = p.counters.trimmed;
    ps.dropped = p.counters.frames_dropped();
    if (run_seconds > 0 && !p.rate.IsUnlimited()) {
      ps.utilisation = static_cast<double>(p.counters.bytes_sent) * 8 /
                       (static_cast<double>(p.rate.bits_per_second()) * run_seconds);
    }
    s.queue_max_bytes = std::max(s.queue_max_bytes, ps.queue_max_bytes);
    s.queue_p50_bytes = std::max(s.queue_p50_bytes, ps.queue_p50_bytes);
    s.queue_p99_bytes = std::max(s.queue_p99_bytes, ps.queue_p99_bytes);
    s.ecn_marked += ps.ecn_marked;
    s.trimmed += ps.trimmed;
    s.dropped += ps.dropped;
    s.ports.push_back(std::move(ps));
  }
  std::stable_sort(s.ports.begin(), s.ports.end(), [](const PortSummary& a, const PortSummary& b) {
    return a.queue_max_bytes > b.queue_max_bytes;
  });
  for (const ConnectionResult& c : r.connections) s.transport += c.counters;
  return s;
}

std::string FormatSummary(const RunDescription& run, const ReplayResult& r,
                          const ReplaySummary& s) {
  std::string out;
  absl::StrAppendFormat(&out, "tern-replay  workload %s  cc %s  paths %d %s  seed %d\n",
                        run.workload, run.cc, run.paths, run.path_policy, run.seed);
  if (r.dataplane) {  // real ports: no simulated switch buffer to name
    absl::StrAppendFormat(&out, "fabric       %s\n", r.topology);
  } else {
    absl::StrAppendFormat(&out, "fabric       %s, %d B buffer per port\n", r.topology,
                          r.buffer_bytes);
  }
  absl::StrAppendFormat(&out, "flows        %d completed, %d failed, %d unfinished%s\n",
                        s.completed, s.failed, s.unfinished,
                        r.timed_out ? "  (stopped at the time limit)" : "");
  absl::StrAppendFormat(&out, "\n%-14s %7s %12s %12s %12s %12s   %9s %9s %9s\n", "flow size",
                        "flows", "fct p50 us", "fct p99 us", "fct max us", "fct mean us",
                        "slow p50", "slow p99", "slow max");
  const auto row = [&](const std::string& name, uint64_t n, const Percentiles& f,
                       const Percentiles& sl) {
    absl::StrAppendFormat(&out, "%-14s %7d %12.2f %12.2f %12.2f %12.2f   %9.3f %9.3f %9.3f\n", name,
                          n, f.p50, f.p99, f.max, f.mean, sl.p50, sl.p99, sl.max);
  };
  for (const SizeBucket& b : s.by_size) row(b.name, b.flows, b.fct_us, b.slowdown);
  row("all", s.completed, s.fct_us, s.slowdown);
  if (!s.collectives.empty()) {
    absl::StrAppendFormat(&out, "\n%-24s %-14s %-18s %6s %12s %12s %10s %10s\n", "collective",
                          "operation", "algorithm", "ranks", "bytes", "time us", "algbw Gb/s",
                          "busbw Gb/s");
    for (const CollectiveSummary& c : s.collectives) {
      if (c.completed) {
        absl::StrAppendFormat(&out, "%-24s %-14s %-18s %6d %12d %12.2f %10.2f %10.2f\n", c.name,
                              c.operation, c.algorithm, c.ranks, c.bytes, c.time_us, c.algbw_gbps,
                              c.busbw_gbps);
      } else {
        absl::StrAppendFormat(&out, "%-24s %-14s %-18s %6d %12d %12s\n", c.name, c.operation,
                              c.algorithm, c.ranks, c.bytes, "unfinished");
      }
    }
  }
  out += "\n";
  if (!r.dataplane) {  // the switches of a real fabric are not seen
    absl::StrAppendFormat(&out,
                          "switch ports  queue max %d B, largest p50 %d B, largest p99 %d B; ECN "
                          "marks %d, trims %d, drops %d\n",
                          s.queue_max_bytes, s.queue_p50_bytes, s.queue_p99_bytes, s.ecn_marked,
                          s.trimmed, s.dropped);
  }
  for (size_t i = 0; i < std::min<size_t>(3, s.ports.size()); ++i) {
    const PortSummary& p = s.ports[i];
    absl::StrAppendFormat(
        &out, "  %-16s queue max %9d B  p50 %9d B  p99 %9d B  util %5.1f%%  ecn %d  drops %d\n",
        p.name, p.queue_max_bytes, p.queue_p50_bytes, p.queue_p99_bytes, 100 * p.utilisation,
        p.ecn_marked, p.dropped);
  }
  const QpCounters& t = s.transport;
  absl::StrAppendFormat(
      &out,
      "retransmits  %d packets: %d detected lost, %d timeout, %d trimmed, %d RNR; "
      "%d tail probes\n",
      t.retransmitted_packets, t.retransmits_loss_detected, t.retransmits_timeout,
      t.retransmits_trim, t.retransmits_rnr, t.tail_probes);
  if (s.fairness_groups > 0) {
    absl::StrAppendFormat(&out, "fairness     Jain %.4f mean, %.4f min over %d shared receivers\n",
                          s.fairness_mean, s.fairness_min, s.fairness_groups);
  }
  if (r.dataplane) {
    const DataplaneResult& d = *r.dataplane;
    absl::StrAppendFormat(&out,
                          "run          %.3f us from the common start, %d frames sent; %d of %d "
                          "bytes verified, %d data errors\n",
                          s.virtual_us, d.frames_sent, d.bytes_verified, d.bytes_expected,
                          d.data_errors);
    if (d.faults.judged > 0) {
      absl::StrAppendFormat(&out,
                            "faults       %d frames judged: %d dropped, %d duplicated, %d "
                            "corrupted, %d delayed\n",
                            d.faults.judged, d.faults.dropped + d.faults.blackholed,
                            d.faults.duplicated, d.faults.corrupted, d.faults.delayed);
    }
  } else {
    absl::StrAppendFormat(
        &out,
        "run          %.3f us virtual, %d events, %d packets, %.2f s wall "
        "(%.2f M events/s)\n",
        s.virtual_us, r.sim_events, r.sim_packets, r.wall_seconds,
        r.wall_seconds > 0 ? static_cast<double>(r.sim_events) / r.wall_seconds / 1e6 : 0.0);
  }
  return out;
}

std::string FormatJson(const RunDescription& run, const ReplayResult& r, const ReplaySummary& s,
                       uint64_t peak_rss_bytes) {
  std::string out = "{\n";
  absl::StrAppendFormat(&out, "  \"tool\": \"tern-replay\",\n  \"command\": %s,\n",
                        JsonString(run.command));
  absl::StrAppendFormat(
      &out,
      "  \"config\": {\"workload\": %s, \"fabric\": %s, \"cc\": %s, \"paths\": %d, "
      "\"path_policy\": %s, \"seed\": %d, \"topology\": %s, \"buffer_bytes\": %d, "
      "\"base_rtt_us\": %s},\n",
      JsonString(run.workload), JsonString(run.fabric), JsonString(run.cc), run.paths,
      JsonString(run.path_policy), run.seed, JsonString(r.topology), r.buffer_bytes,
      JsonNumber(r.base_rtt.microseconds()));
  absl::StrAppendFormat(&out,
                        "  \"flows\": {\"total\": %d, \"completed\": %d, \"failed\": %d, "
                        "\"unfinished\": %d, \"timed_out\": %s},\n",
                        s.flows, s.completed, s.failed, s.unfinished,
                        r.timed_out ? "true" : "false");
  absl::StrAppendFormat(&out, "  \"fct_us\": %s,\n  \"slowdown\": %s,\n", JsonPercentiles(s.fct_us),
                        JsonPercentiles(s.slowdown));
  out += "  \"by_size\": [";
  for (size_t i = 0; i < s.by_size.size(); ++i) {
    const SizeBucket& b = s.by_size[i];
    absl::StrAppendFormat(
        &out, "%s\n    {\"bucket\": %s, \"flows\": %d, \"fct_us\": %s, \"slowdown\": %s}",
        i ? "," : "", JsonString(b.name), b.flows, JsonPercentiles(b.fct_us),
        JsonPercentiles(b.slowdown));
  }
  out += s.by_size.empty() ? "],\n" : "\n  ],\n";
  out += "  \"collectives\": [";
  for (size_t i = 0; i < s.collectives.size(); ++i) {
    const CollectiveSummary& c = s.collectives[i];
    absl::StrAppendFormat(
        &out,
        "%s\n    {\"name\": %s, \"operation\": %s, \"algorithm\": %s, \"ranks\": %d, "
        "\"bytes\": %d, \"completed\": %s, \"time_us\": %s, \"algbw_gbps\": %s, "
        "\"busbw_gbps\": %s}",
        i ? "," : "", JsonString(c.name), JsonString(c.operation), JsonString(c.algorithm), c.ranks,
        c.bytes, c.completed ? "true" : "false", JsonNumber(c.time_us), JsonNumber(c.algbw_gbps),
        JsonNumber(c.busbw_gbps));
  }
  out += s.collectives.empty() ? "],\n" : "\n  ],\n";
  const QpCounters& t = s.transport;
  absl::StrAppendFormat(
      &out,
      "  \"retransmits\": {\"packets\": %d, \"loss_detected\": %d, \"timeout\": %d, "
      "\"trim\": %d, \"rnr\": %d, \"tail_probes\": %d, \"rto_expiries\": %d},\n",
      t.retransmitted_packets, t.retransmits_loss_detected, t.retransmits_timeout,
      t.retransmits_trim, t.retransmits_rnr, t.tail_probes, t.local_ack_timeout_err);
  absl::StrAppendFormat(&out,
                        "  \"fairness\": {\"shared_receivers\": %d, \"jain_mean\": %s, "
                        "\"jain_min\": %s},\n",
                        s.fairness_groups, JsonNumber(s.fairness_mean), JsonNumber(s.fairness_min));
  absl::StrAppendFormat(
      &out,
      "  \"switch\": {\"queue_max_bytes\": %d, \"queue_p50_bytes\": %d, \"queue_p99_bytes\": %d, "
      "\"ecn_marked\": %d, \"trimmed\": %d, \"dropped\": %d, \"no_route_drops\": %d, "
      "\"ttl_expired_drops\": %d, \"failover_rehashed\": %d},\n",
      s.queue_max_bytes, s.queue_p50_bytes, s.queue_p99_bytes, s.ecn_marked, s.trimmed, s.dropped,
      r.fabric_counters.no_route_drops, r.fabric_counters.ttl_expired_drops,
      r.fabric_counters.failover_rehashed);
  out += "  \"ports\": [";
  for (size_t i = 0; i < s.ports.size(); ++i) {
    const PortSummary& p = s.ports[i];
    absl::StrAppendFormat(
        &out,
        "%s\n    {\"port\": %s, \"queue_max_bytes\": %d, \"queue_p50_bytes\": %d, "
        "\"queue_p99_bytes\": %d, \"ecn_marked\": %d, \"trimmed\": %d, \"dropped\": %d, "
        "\"utilisation\": %s}",
        i ? "," : "", JsonString(p.name), p.queue_max_bytes, p.queue_p50_bytes, p.queue_p99_bytes,
        p.ecn_marked, p.trimmed, p.dropped, JsonNumber(p.utilisation));
  }
  out += s.ports.empty() ? "],\n" : "\n  ],\n";
  out += "  \"connections\": [";
  for (size_t i = 0; i < r.connections.size(); ++i) {
    const ConnectionResult& c = r.connections[i];
    absl::StrAppendFormat(
        &out,
        "%s\n    {\"hosts\": [%d, %d], \"data_packets\": %d, \"retransmits\": %d, "
        "\"loss_detected\": %d, \"timeout\": %d, \"trim\": %d, \"rnr\": %d}",
        i ? "," : "", c.a, c.b, c.counters.data_packets_sent, c.counters.retransmitted_packets,
        c.counters.retransmits_loss_detected, c.counters.retransmits_timeout,
        c.counters.retransmits_trim, c.counters.retransmits_rnr);
  }
  out += r.connections.empty() ? "],\n" : "\n  ],\n";
  if (r.dataplane) {
    const DataplaneResult& d = *r.dataplane;
    absl::StrAppendFormat(
        &out,
        "  \"dataplane\": {\"name\": %s, \"ranks\": %d, \"verb\": %s, \"port\": %s, "
        "\"link_gbps\": %s, \"bytes_expected\": %d, \"bytes_verified\": %d, "
        "\"data_errors\": %d, \"frames_sent\": %d, \"frames_received\": %d, "
        "\"faults\": {\"judged\": %d, \"dropped\": %d, \"blackholed\": %d, "
        "\"duplicated\": %d, \"corrupted\": %d, \"delayed\": %d}},\n",
        JsonString(d.name), d.ranks, JsonString(d.verb), JsonString(d.port),
        JsonNumber(d.link_gbps), d.bytes_expected, d.bytes_verified, d.data_errors, d.frames_sent,
        d.frames_received, d.faults.judged, d.faults.dropped, d.faults.blackholed,
        d.faults.duplicated, d.faults.corrupted, d.faults.delayed);
  }
  absl::StrAppendFormat(
      &out, "  \"sim\": {\"virtual_us\": %s, \"sim_events\": %d, \"sim_packets\": %d},\n",
      JsonNumber(s.virtual_us), r.sim_events, r.sim_packets);
  absl::StrAppendFormat(
      &out,
      "  \"run\": {\"wall_seconds\": %s, \"events_per_second\": %s, "
      "\"peak_rss_bytes\": %d}\n}\n",
      JsonNumber(r.wall_seconds),
      JsonNumber(r.wall_seconds > 0 ? static_cast<double>(r.sim_events) / r.wall_seconds : 0.0),
      peak_rss_bytes);
  return out;
}

std::string FormatFlowsCsv(const ReplayResult& r) {
  std::string out =
      "step,label,src,dst,bytes,start_us,finish_us,fct_us,ideal_us,slowdown,status,collective\n";
  for (const FlowResult& f : r.flows) {
    const char* status = f.failed ? "failed" : f.completed ? "ok" : "unfinished";
    const bool done = f.completed;
    absl::StrAppendFormat(
        &out, "%d,%s,%d,%d,%d,%.6f,%s,%s,%.6f,%s,%s,%d\n", f.step, f.label, f.src, f.dst, f.bytes,
        (f.start - Time::Zero()).microseconds(),
        done ? absl::StrFormat("%.6f", (f.finish - Time::Zero()).microseconds()) : "",
        done ? absl::StrFormat("%.6f", f.fct().microseconds()) : "", f.ideal.microseconds(),
        done ? absl::StrFormat("%.6f", f.slowdown()) : "", status, f.collective);
  }
  return out;
}

std::string FormatTimelineCsv(const ReplayResult& r, Duration interval) {
  std::string out = "time_us,port,queued_bytes,gbps\n";
  for (const TimelineSample& s : r.timeline) {
    absl::StrAppendFormat(&out, "%.3f,%s,%d,%.3f\n", (s.at - Time::Zero()).microseconds(),
                          r.ports[s.port].name, s.queued_bytes,
                          static_cast<double>(s.bytes_sent) * 8 / (interval.seconds() * 1e9));
  }
  return out;
}

std::vector<FairnessPoint> FairnessTimeline(const ReplayResult& r, Duration interval,
                                            Duration window) {
  // The distinct sample times, and per sampled queue pair its bytes at each.
  std::vector<Time> ticks;
  for (const CcSample& s : r.cc_timeline) {
    if (ticks.empty() || ticks.back() != s.at) ticks.push_back(s.at);
  }
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> bytes_of;
  size_t tick = 0;
  for (const CcSample& s : r.cc_timeline) {
    while (ticks[tick] != s.at) ++tick;
    std::vector<uint64_t>& bytes = bytes_of[{s.src, s.dst}];
    bytes.resize(ticks.size(), 0);
    bytes[tick] += s.bytes_sent;
  }
  // The flows of each sampled queue pair, found once rather than per sample.
  std::map<std::pair<uint32_t, uint32_t>, std::vector<const FlowResult*>> flows_of;
  for (const FlowResult& f : r.flows) {
    if (bytes_of.contains({f.src, f.dst})) flows_of[{f.src, f.dst}].push_back(&f);
  }
  int64_t span = 1;  // the window in sampling intervals
  if (interval > Duration::Zero() && window > interval) {
    span = (window.picoseconds() + interval.picoseconds() - 1) / interval.picoseconds();
  }
  const Duration covered = interval * span;
  std::vector<FairnessPoint> out;
  out.reserve(ticks.size());
  for (size_t i = 0; i < ticks.size(); ++i) {
    const Time at = ticks[i];
    const Time from = at - covered;
    const size_t first = i + 1 >= static_cast<size_t>(span) ? i + 1 - span : 0;
    double sum = 0, sum_sq = 0;
    uint32_t active = 0;
    for (const auto& [pair, bytes] : bytes_of) {
      const std::vector<const FlowResult*>& flows = flows_of[pair];
      const bool running = std::any_of(flows.begin(), flows.end(), [&](const FlowResult* f) {
        return f->start <= from && (!f->completed || f->finish >= at);
      });
      if (!running) continue;
      uint64_t sent = 0;
      for (size_t j = first; j <= i; ++j) sent += bytes[j];
      const double rate = static_cast<double>(sent);
      sum += rate;
      sum_sq += rate * rate;
      ++active;
    }
    FairnessPoint p{at, active, active >= 2 && sum_sq == 0, 1.0};
    if (active >= 2 && !p.stalled) p.jain = sum * sum / (active * sum_sq);
    out.push_back(p);
  }
  return out;
}

Duration DefaultFairnessWindow(const ReplayResult& r, Duration interval) {
  return r.base_rtt > Duration::Zero() ? r.base_rtt * 2 : interval;
}

std::string FormatFairnessCsv(const ReplayResult& r, Duration interval, Duration window) {
  std::string out = "time_us,active,stalled,jain\n";
  for (const FairnessPoint& p : FairnessTimeline(r, interval, window)) {
    absl::StrAppendFormat(&out, "%.3f,%d,%d,%.6f\n", (p.at - Time::Zero()).microseconds(), p.active,
                          p.stalled ? 1 : 0, p.jain);
  }
  return out;
}

std::string FormatCcTimelineCsv(const ReplayResult& r, Duration interval) {
  std::string out = "time_us,src,dst,qp,gbps";
  // Every queue pair runs the same algorithm, so the first sample names the columns.
  if (!r.cc_timeline.empty()) {
    const CcSample& first = r.cc_timeline.front();
    for (int i = 0; i < first.count; ++i) {
      absl::StrAppend(&out, ",", std::string(first.variables[i].name));
    }
  }
  out += '\n';
  for (const CcSample& s : r.cc_timeline) {
    absl::StrAppendFormat(&out, "%.3f,%d,%d,%d,%.3f", (s.at - Time::Zero()).microseconds(), s.src,
                          s.dst, s.qp,
                          static_cast<double>(s.bytes_sent) * 8 / (interval.seconds() * 1e9));
    for (int i = 0; i < s.count; ++i) absl::StrAppendFormat(&out, ",%.10g", s.variables[i].value);
    out += '\n';
  }
  return out;
}

}  // namespace tern::replay
