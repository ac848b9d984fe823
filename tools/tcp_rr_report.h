// tern-tcp-rr output: the banner, perftest's latency table (the very rows
// tern-perf --test=send_lat prints, so the two line up) and the JSON file. Pure
// formatting and statistics: numbers in, strings out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/perf_runner.h"
#include "tools/tcp_rr_options.h"

namespace tern::tcp_rr {

// What a measuring run (client or loopback) produced.
struct RrResult {
  std::string peer;         // "127.0.0.1:40123"
  uint64_t bytes = 0;       // request size = response size
  uint64_t iterations = 0;  // measured round trips
  uint64_t warmup = 0;      // round trips made before measuring
  // Statistics of round trip / 2 in microseconds (perftest's send_lat rule).
  perf::LatencyStats latency;
  double wall_seconds = 0;  // the measured phase
  double transactions_per_sec = 0;
  bool stopped_early = false;  // a signal ended the run before iters or duration
  int cpu_server = -1;         // -1: not pinned, or not known (client mode)
  int cpu_client = -1;
};

// Fills `iterations`, `latency`, `wall_seconds` and `transactions_per_sec` of
// `result` from the samples (round trip / 2 in microseconds, one per measured
// round trip) and the measured phase's length in seconds.
void Summarize(std::vector<double> half_rtt_usec, double wall_seconds, RrResult& result);

// The banner: mode, peer, size, socket mode, CPUs, latency definition.
std::string FormatRrBanner(const TcpRrOptions& options, const RrResult& result);
// Table header, the row, the closing rule and the transactions/s line.
std::string FormatRrTable(const RrResult& result);
// The JSON document: one flat object, latency fields named as in tern-perf's JSON.
std::string FormatRrJson(const TcpRrOptions& options, const RrResult& result);

}  // namespace tern::tcp_rr
