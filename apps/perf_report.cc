#include "apps/perf_report.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/file_io.h"
#include "dataplane/sim/multipath_wire.h"

namespace tern::perf {
namespace {

constexpr std::string_view kRule =
    "---------------------------------------------------------------------------------------\n";

constexpr std::string_view kPeakDefinition =
    "BW peak is the highest rate over any window of W consecutive completions, W = max(N/20, 4 x "
    "QPs x tx-depth), at most N, "
    "with N the messages of the run (iters x QPs): W messages over the time from the completion "
    "before the window to the last completion in it. BW average is payload bytes over (last "
    "completion - first post). Gb/s are 10^9 bit/s; all times are virtual.";

// Builds one JSON object, a key at a time, with two-space indentation.
class JsonObject {
 public:
  explicit JsonObject(int indent) : indent_(indent) {}
  JsonObject& Raw(std::string_view key, std::string_view json) {
    absl::StrAppendFormat(&body_, "%s%*s%s: %s", body_.empty() ? "" : ",\n", indent_ + 2, "",
                          JsonString(key), json);
    return *this;
  }
  JsonObject& String(std::string_view key, std::string_view value) {
    return Raw(key, JsonString(value));
  }
  JsonObject& Uint(std::string_view key, uint64_t value) { return Raw(key, absl::StrCat(value)); }
  JsonObject& Double(std::string_view key, double value) { return Raw(key, JsonNumber(value)); }
  JsonObject& Bool(std::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  std::string Build() const {
    if (body_.empty()) return "{}";
    return absl::StrCat("{\n", body_, "\n", std::string(indent_, ' '), "}");
  }

 private:
  int indent_;
  std::string body_;
};

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) == 0) {
    return absl::StrCat(bytes >> 30, "G");
  }
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) {
    return absl::StrCat(bytes >> 20, "M");
  }
  if (bytes >= (uint64_t{1} << 10) && bytes % (uint64_t{1} << 10) == 0) {
    return absl::StrCat(bytes >> 10, "K");
  }
  return absl::StrCat(bytes);
}

// Counters of all runs added up, in the order of the first run.
std::vector<std::pair<std::string, uint64_t>> SumCounters(const std::vector<PerfResult>& results) {
  std::vector<std::pair<std::string, uint64_t>> sum;
  std::map<std::string, size_t> index;
  for (const PerfResult& r : results) {
    for (const auto& [name, value] : r.counters) {
      auto [it, inserted] = index.emplace(name, sum.size());
      if (inserted) {
        sum.emplace_back(name, 0);
      }
      // The high-water mark is a maximum, not a count.
      if (name == "wire_max_queue_bytes") {
        sum[it->second].second = std::max(sum[it->second].second, value);
      } else {
        sum[it->second].second += value;
      }
    }
  }
  return sum;
}

}  // namespace

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.10g", value);
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else if (c < 0x80) {
          out += ch;
        } else if (const size_t length =
                       Utf8SequenceLength(absl::string_view(text.data() + i, text.size() - i));
                   length > 0) {
          out.append(text.data() + i, length);  // JSON allows UTF-8 unescaped
          i += length - 1;
        } else {
          // JSON text must be UTF-8: a stray byte (a Latin-1 file name, say)
          // is written as the code point of the same value.
          absl::StrAppendFormat(&out, "\\u%04x", c);
        }
    }
  }
  out += '"';
  return out;
}

std::string FormatBanner(const PerfOptions& options) {
  const bool latency = IsLatencyTest(options.test);
  std::string out(kRule);
  const bool dpdk = options.fabric_kind == FabricKind::kDpdk;
  absl::StrAppendFormat(&out, "                    %s %s Test (tern-perf, %s)\n",
                        PerfTestVerb(options.test), latency ? "Latency" : "BW",
                        dpdk ? "DPDK" : "simulated fabric");
  auto pair = [&](std::string_view k1, std::string v1, std::string_view k2, std::string v2) {
    absl::StrAppendFormat(&out, " %-15s : %-15s %-15s : %s\n", k1, v1, k2, v2);
  };
  pair("Number of qps", absl::StrCat(options.qps), "Transport type", "Tern RC");
  pair("TX depth", latency ? "1" : absl::StrCat(options.tx_depth), "Mtu",
       absl::StrCat(options.mtu, "[B]"));
  pair("Paths per QP", absl::StrCat(options.paths, " (", PathPolicyName(options.path_policy), ")"),
       "Wire paths", absl::StrCat(options.wire.paths));
  pair("Line rate", absl::StrCat(absl::StrFormat("%g", options.line_rate_gbps), " Gb/s"),
       "Congestion ctl",
       absl::StrCat(options.cc,
                    absl::StrFormat(" (base RTT %g us)", options.base_rtt.microseconds())));
  pair("Seed", absl::StrCat(options.seed), "Data verify", options.verify ? "ON" : "OFF");
  absl::StrAppendFormat(&out, " %-15s : %s\n", "Fabric", options.fabric);
  if (dpdk) {
    const sim::MultipathWireConfig& w = options.wire;
    absl::StrAppendFormat(&out, " %-15s : loss=%g dup=%g corrupt=%g reorder=%s over %d paths%s\n",
                          "TX faults", w.loss, w.dup, w.corrupt, w.reorder.ToString(), w.paths,
                          w.blackhole >= 0 ? absl::StrCat(", blackhole ", w.blackhole) : "");
  } else {
    absl::StrAppendFormat(&out, " %-15s : %s\n", "Wire", sim::ToString(options.wire));
  }
  if (latency && options.warmup > 0) {
    absl::StrAppendFormat(&out, " %-15s : %d round trips first, not counted\n", "Warm-up",
                          options.warmup);
  }
  if (!latency) {
    absl::StrAppendFormat(&out, " %-15s : best rate over max(N/20, 4 x outstanding) completions\n",
                          "BW peak");
  }
  out += kRule;
  return out;
}

std::string FormatTableHeader(PerfTest test) {
  if (IsLatencyTest(test)) {
    return " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    "
           "t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] \n";
  }
  return " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n";
}

std::string FormatRow(const PerfResult& r) {
  if (r.has_latency) {
    const LatencyStats& l = r.latency;
    return absl::StrFormat(" %-7d%-15d%-15.2f%-13.2f%-19.2f%-15.2f%-16.2f%-23.2f%.2f\n", r.bytes,
                           r.iterations, l.t_min, l.t_max, l.t_typical, l.t_avg, l.t_stdev, l.p99,
                           l.p99_9);
  }
  return absl::StrFormat(" %-10d %-14d %-18.2f %-20.2f %-.6f\n", r.bytes, r.iterations,
                         r.bw_peak_gbps, r.bw_avg_gbps, r.msg_rate_mpps);
}

std::string FormatRule() { return std::string(kRule); }

std::string FormatCounters(const PerfOptions& options, const std::vector<PerfResult>& results) {
  const auto sum = SumCounters(results);
  auto get = [&](std::string_view name) -> uint64_t {
    for (const auto& [n, v] : sum) {
      if (n == name) return v;
    }
    return 0;
  };
  std::string out;
  const char* scope = results.size() > 1 ? " (all sizes)" : "";
  absl::StrAppendFormat(&out, " Counters%s, both hosts:\n", scope);
  absl::StrAppendFormat(
      &out,
      "  retransmitted packets : %d (marked lost: detected %d, timeout %d, trim %d, rnr %d, tail "
      "probe %d; %d of the marks spurious)\n",
      get("retransmitted_packets"), get("retransmits_loss_detected"), get("retransmits_timeout"),
      get("retransmits_trim"), get("retransmits_rnr"), get("tail_probes"),
      get("spurious_loss_marks"));
  absl::StrAppendFormat(&out, "  timeouts (RTO)        : %d\n", get("local_ack_timeout_err"));
  absl::StrAppendFormat(&out,
                        "  received              : %d data packets, %d trimmed, %d duplicate, %d "
                        "out of sequence, %d outside the window\n",
                        get("data_packets_received"), get("trimmed_received"),
                        get("duplicate_packets"), get("out_of_sequence"), get("packet_seq_err"));
  absl::StrAppendFormat(
      &out, "  acks / nacks          : %d / %d sent, RNR NAKs %d; %d in another's datagram\n",
      get("acks_sent"), get("nacks_sent"), get("rnr_nak_sent"), get("ctx_control_coalesced_sent"));
  std::vector<std::string> drops;
  for (const auto& [name, value] : sum) {
    if (name.rfind("drop_", 0) == 0 && value > 0) {
      drops.push_back(absl::StrCat(name.substr(5), " ", value));
    }
  }
  absl::StrAppendFormat(&out, "  context drops         : %s\n",
                        drops.empty() ? "none" : absl::StrJoin(drops, ", "));
  if (options.fabric_kind == FabricKind::kDpdk) {
    absl::StrAppendFormat(
        &out,
        "  port                  : %d frames sent, %d received; TX queue full %d, "
        "no mbuf %d\n",
        get("port_tx_frames"), get("port_rx_frames"), get("port_tx_ring_full"),
        get("port_tx_no_mbuf"));
    absl::StrAppendFormat(&out,
                          "  TX faults             : dropped %d, duplicated %d, corrupted %d, "
                          "delayed %d\n",
                          get("fault_dropped"), get("fault_duplicated"), get("fault_corrupted"),
                          get("fault_delayed"));
  } else {
    absl::StrAppendFormat(
        &out,
        "  wire                  : %d frames offered, %d delivered; lost %d, queue drops %d, "
        "black hole %d, duplicated %d, corrupted %d, trimmed %d, ECN marked %d\n",
        get("wire_frames_offered"), get("wire_frames_delivered"), get("wire_dropped_loss"),
        get("wire_dropped_queue_full"), get("wire_dropped_blackhole"), get("wire_duplicated"),
        get("wire_corrupted"), get("wire_trimmed"), get("wire_ecn_marked"));
  }
  if (get("host_guard_wakeups") > 0 || get("cq_overruns") > 0 || get("sim_late_schedules") > 0) {
    absl::StrAppendFormat(&out,
                          "  anomalies             : %d guard wake-ups, %d CQ overruns, %d "
                          "late schedules\n",
                          get("host_guard_wakeups"), get("cq_overruns"), get("sim_late_schedules"));
  }
  uint64_t verified = 0;
  uint64_t errors = 0;
  double wall = 0;
  double virt = 0;
  for (const PerfResult& r : results) {
    verified += r.bytes_verified;
    errors += r.data_errors;
    wall += r.wall_seconds;
    virt += r.virtual_seconds;
  }
  if (options.verify) {
    absl::StrAppendFormat(&out, "  data verify           : %d bytes checked, %d bytes wrong\n",
                          verified, errors);
  } else if (errors > 0) {
    absl::StrAppendFormat(&out, "  data                  : %d bytes missing or extra\n", errors);
  }
  if (options.fabric_kind == FabricKind::kDpdk) {
    absl::StrAppendFormat(&out,
                          "  time                  : %.6f s first post to last completion, "
                          "%.2f s wall with set-up\n",
                          virt, wall);
  } else {
    absl::StrAppendFormat(&out,
                          "  time                  : %.6f s virtual, %.2f s wall, %d events\n",
                          virt, wall, get("sim_events"));
  }
  return out;
}

std::string FormatProgress(const PerfProgress& p) {
  return absl::StrFormat("tern-perf: %s B: %d/%d messages, virtual %.3f ms, wall %.1f s",
                         FormatBytes(p.bytes), p.done, p.total, p.virtual_seconds * 1e3,
                         p.wall_seconds);
}

std::string FormatJson(const PerfOptions& options, const std::vector<PerfResult>& results) {
  std::vector<std::string> sizes;
  for (uint64_t s : options.Sizes()) sizes.push_back(absl::StrCat(s));
  JsonObject config(2);
  config.String("test", PerfTestName(options.test))
      .Raw("size", options.all_sizes ? "null" : absl::StrCat(options.size))
      .Bool("all", options.all_sizes)
      .Raw("max_size", options.all_sizes ? absl::StrCat(options.max_size) : "null")
      .Raw("sizes", absl::StrCat("[", absl::StrJoin(sizes, ", "), "]"))
      .Uint("iters", options.iters)
      .Uint("warmup", options.warmup)
      .Uint("qps", options.qps)
      .Uint("tx_depth", IsLatencyTest(options.test) ? 1 : options.tx_depth)
      .Uint("paths", options.paths)
      .String("path_policy", PathPolicyName(options.path_policy))
      .Uint("tclass", options.traffic_class)
      .Uint("mtu", options.mtu)
      .String("cc", options.cc)
      .Uint("seed", options.seed)
      .String("fabric", options.fabric)
      .String("wire", sim::ToString(options.wire))
      .Uint("wire_paths", options.wire.paths)
      .Double("line_rate_gbps", options.line_rate_gbps)
      .Double("base_rtt_us", options.base_rtt.microseconds())
      .Bool("verify", options.verify)
      .Bool("quiet", options.quiet)
      .Raw("json", JsonString(options.json_path));

  std::vector<std::string> runs;
  bool passed = !results.empty();
  for (const PerfResult& r : results) {
    passed = passed && r.passed();
    JsonObject run(4);
    run.Uint("bytes", r.bytes)
        .Uint("iterations", r.iterations)
        .Uint("qps", r.qps)
        .Uint("mtu", r.mtu)
        .Bool("ok", r.ok)
        .Raw("failure", r.ok ? "null" : JsonString(r.failure))
        .Double("bw_peak_gbps", r.bw_peak_gbps)
        .Double("bw_avg_gbps", r.bw_avg_gbps)
        .Double("msg_rate_mpps", r.msg_rate_mpps)
        .Uint("bw_peak_window", r.peak_window);
    if (r.has_latency) {
      run.Double("t_min_usec", r.latency.t_min)
          .Double("t_max_usec", r.latency.t_max)
          .Double("t_typical_usec", r.latency.t_typical)
          .Double("t_avg_usec", r.latency.t_avg)
          .Double("t_stdev_usec", r.latency.t_stdev)
          .Double("p99_usec", r.latency.p99)
          .Double("p99_9_usec", r.latency.p99_9);
    }
    run.Uint("messages_posted", r.messages_posted)
        .Uint("messages_completed", r.messages_completed)
        .Uint("bytes_verified", r.bytes_verified)
        .Uint("data_errors", r.data_errors)
        .Uint("retransmitted_packets", r.retransmitted_packets)
        .Uint("timeouts", r.timeouts)
        .Double("wall_seconds", r.wall_seconds)
        .Double("virtual_seconds", r.virtual_seconds);
    JsonObject counters(6);
    for (const auto& [name, value] : r.counters) counters.Uint(name, value);
    run.Raw("counters", counters.Build());
    runs.push_back(absl::StrCat("    ", run.Build()));
  }
  JsonObject doc(0);
  doc.String("test", PerfTestName(options.test))
      .Raw("config", config.Build())
      .String("bw_peak_definition", kPeakDefinition)
      .Bool("passed", passed)
      .Raw("runs", runs.empty() ? "[]" : absl::StrCat("[\n", absl::StrJoin(runs, ",\n"), "\n  ]"));
  return doc.Build() + "\n";
}

}  // namespace tern::perf
