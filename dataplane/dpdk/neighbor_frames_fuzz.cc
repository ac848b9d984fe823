// Coverage-guided fuzzing of the ARP and IPv6 neighbor-discovery decoders,
// which read whatever frames arrive on a port. The input is one frame, tried
// as both. Beyond no crash and no sanitizer report: a frame that decodes
// re-encodes to one that decodes to the same frame again, and the answer a
// host would send (AnswerArp, AnswerNdp) encodes to a frame that decodes.
// See transport/connection_fuzz.cc for how fuzz targets are built and run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/dpdk/arp.h"
#include "dataplane/dpdk/ndp.h"
#include "transport/wire.h"

namespace tern::dpdk {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "neighbor_frames_fuzz: %s\n", what);
  std::abort();
}

// This host, as the decoded message's target, so that requests for it get
// an answer.
Endpoint LocalFor(const IpAddress& target) {
  Endpoint local;
  local.mac.bytes = {0x02, 0, 0, 0, 0, 0x01};
  local.ip = target;
  return local;
}

void CheckArp(std::span<const uint8_t> frame) {
  const std::optional<ArpMessage> message = DecodeArp(frame);
  if (!message) return;
  std::vector<uint8_t> encoded(kArpFrameBytes), again(kArpFrameBytes);
  encoded.resize(EncodeArp(*message, encoded));
  const std::optional<ArpMessage> decoded = DecodeArp(encoded);
  if (!decoded) Fail("an ARP message re-encoded does not decode");
  again.resize(EncodeArp(*decoded, again));
  if (again != encoded) Fail("an ARP message changes on a second round trip");
  if (const std::optional<ArpMessage> answer =
          AnswerArp(*message, LocalFor(IpAddress::V4(message->target_ip)))) {
    std::vector<uint8_t> reply(kArpFrameBytes);
    reply.resize(EncodeArp(*answer, reply));
    if (!DecodeArp(reply)) Fail("the answer to an ARP request does not decode");
  }
}

void CheckNdp(std::span<const uint8_t> frame) {
  const std::optional<NdpMessage> message = DecodeNdp(frame);
  if (!message) return;
  std::vector<uint8_t> encoded(kNdpFrameBytes), again(kNdpFrameBytes);
  encoded.resize(EncodeNdp(*message, encoded));
  const std::optional<NdpMessage> decoded = DecodeNdp(encoded);
  if (!decoded) Fail("a neighbor-discovery message re-encoded does not decode");
  again.resize(EncodeNdp(*decoded, again));
  if (again != encoded) Fail("a neighbor-discovery message changes on a second round trip");
  if (const std::optional<NdpMessage> answer = AnswerNdp(*message, LocalFor(message->target))) {
    std::vector<uint8_t> reply(kNdpFrameBytes);
    reply.resize(EncodeNdp(*answer, reply));
    if (!DecodeNdp(reply)) Fail("the answer to a neighbor solicitation does not decode");
  }
}

}  // namespace
}  // namespace tern::dpdk

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::dpdk::CheckArp({data, size});
  tern::dpdk::CheckNdp({data, size});
  return 0;
}
