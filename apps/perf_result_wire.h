// What the two tern-perf processes of a run over DPDK tell each other at its
// end, over the control channel: the server's checks of the data it received,
// then the client's result, which both print. The bytes come from another
// process, so decoding is strict: "name=value" lines in a fixed order, each
// value whole (a peer from another build is refused, not half-read), with the
// failure text last, where it may hold anything.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/perf_runner.h"

namespace tern::perf {

// What the server knows that the client's result needs.
struct ServerReport {
  uint64_t bytes_verified = 0;
  uint64_t data_errors = 0;
  std::string failure;  // empty when the server saw nothing wrong

  bool operator==(const ServerReport&) const = default;
};

std::vector<uint8_t> EncodeServerReport(const ServerReport& report);
absl::StatusOr<ServerReport> DecodeServerReport(std::span<const uint8_t> bytes);

// The client's measurements: ok, rates, latency, message and byte counts,
// peak window, virtual time, message size, MTU and failure. Not the test, the
// iterations or the QPs (both sides have them from their own options), nor
// the counters (each side prints its own).
std::vector<uint8_t> EncodeClientResult(const PerfResult& result);
// Sets exactly the fields EncodeClientResult sends; *result is untouched on
// an error.
absl::Status DecodeClientResult(std::span<const uint8_t> bytes, PerfResult* result);

}  // namespace tern::perf
