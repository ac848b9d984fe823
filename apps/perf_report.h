// tern-perf output: perftest-style text (banner, one table row per size, a
// counters block) and the JSON file. Pure formatting: strings in, strings out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "apps/perf_options.h"
#include "apps/perf_runner.h"

namespace tern::perf {

// The banner above the table: test, QPs, paths, MTU, fabric, cc, seed.
std::string FormatBanner(const PerfOptions& options);
// The column header line of the table (bandwidth or latency columns).
std::string FormatTableHeader(PerfTest test);
// One table row.
std::string FormatRow(const PerfResult& result);
// The closing rule of the table.
std::string FormatRule();
// Counters summed over `results`: retransmissions by cause, timeouts, trims,
// duplicates, drops by reason, wire counters, verification.
std::string FormatCounters(const PerfOptions& options, const std::vector<PerfResult>& results);
// One progress line (no newline).
std::string FormatProgress(const PerfProgress& progress);

// The JSON document: {"test", "config", "bw_peak_definition", "passed", "runs"}.
std::string FormatJson(const PerfOptions& options, const std::vector<PerfResult>& results);
// `text` as a JSON string literal, quotes included.
std::string JsonString(std::string_view text);
// A JSON number: a finite double with ten significant digits, null otherwise
// (printf would write inf or nan, which no JSON parser reads).
std::string JsonNumber(double value);

}  // namespace tern::perf
