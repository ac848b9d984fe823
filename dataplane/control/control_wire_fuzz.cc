// Coverage-guided fuzzing of the control-channel decoders, which read what
// the peer (or any stray client on the port) sends before a run. The input's
// first 12 bytes are tried as a message header and the rest as a HostSetup
// body. Beyond no crash and no sanitizer report: a setup that decodes
// encodes, and that encoding decodes to the same setup; a setup always
// matches itself. See transport/connection_fuzz.cc for how
// fuzz targets are built and run.
#include <cstdint>
#include <span>

#include "dataplane/control/control_wire.h"
#include "transport/testing/fuzz_check.h"

namespace tern::control {
namespace {

void RunOne(std::span<const uint8_t> data) {
  if (data.size() >= kMessageHeaderBytes) {
    (void)DecodeMessageHeader(data.first<kMessageHeaderBytes>());
    data = data.subspan(kMessageHeaderBytes);
  }
  const absl::StatusOr<HostSetup> setup = DecodeHostSetup(data);
  if (!setup.ok()) return;
  if (!CheckSetupsMatch(*setup, *setup).ok()) {
    testing::FuzzCheckFailed("a setup does not match itself");
  }
  const absl::StatusOr<std::vector<uint8_t>> encoded = EncodeHostSetup(*setup);
  if (!encoded.ok()) testing::FuzzCheckFailed("a setup that decodes does not encode");
  const absl::StatusOr<HostSetup> decoded = DecodeHostSetup(*encoded);
  if (!decoded.ok()) testing::FuzzCheckFailed("an encoded setup does not decode");
  if (!(*decoded == *setup)) testing::FuzzCheckFailed("a setup changes on a round trip");
}

}  // namespace
}  // namespace tern::control

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::control::RunOne({data, size});
  return 0;
}
