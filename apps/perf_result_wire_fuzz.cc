// Coverage-guided fuzzing of what the two tern-perf processes of a DPDK run
// send each other at its end (apps/perf_result_wire.h). The first input byte
// picks the message: even, the server's report; odd, the client's result; the
// rest is the message. Beyond no crash and no sanitizer report: a message that
// decodes encodes to one that decodes to the same values. See
// transport/connection_fuzz.cc for how fuzz targets are built and run.
#include <cstdint>
#include <span>
#include <vector>

#include "apps/perf_result_wire.h"
#include "transport/testing/fuzz_check.h"

namespace tern::perf {
namespace {

void CheckServerReport(std::span<const uint8_t> message) {
  const absl::StatusOr<ServerReport> report = DecodeServerReport(message);
  if (!report.ok()) return;
  const absl::StatusOr<ServerReport> again = DecodeServerReport(EncodeServerReport(*report));
  if (!again.ok()) testing::FuzzCheckFailed("an encoded server report does not decode");
  if (!(*again == *report)) testing::FuzzCheckFailed("a server report changes on a round trip");
}

// Doubles may be NaN, so the check compares encodings: "1.0" decodes to what
// encodes as "1", and from then on a round trip must not change a byte.
void CheckClientResult(std::span<const uint8_t> message) {
  PerfResult result;
  if (!DecodeClientResult(message, &result).ok()) return;
  const std::vector<uint8_t> encoded = EncodeClientResult(result);
  PerfResult again;
  if (!DecodeClientResult(encoded, &again).ok()) {
    testing::FuzzCheckFailed("an encoded client result does not decode");
  }
  if (EncodeClientResult(again) != encoded) {
    testing::FuzzCheckFailed("a client result changes on a round trip");
  }
}

void RunOne(std::span<const uint8_t> data) {
  if (data.empty()) return;
  if (data[0] % 2 == 0) {
    CheckServerReport(data.subspan(1));
  } else {
    CheckClientResult(data.subspan(1));
  }
}

}  // namespace
}  // namespace tern::perf

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::perf::RunOne({data, size});
  return 0;
}
