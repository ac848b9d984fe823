// Coverage-guided fuzzing of the ARP and IPv6 neighbor-discovery decoders,
// which read whatever frames arrive on a port. The input is one frame, tried
// as both. Beyond no crash and no sanitizer report: a frame that decodes
// re-encodes to one that decodes to the same frame again, and the answer a
// host would send (AnswerArp, AnswerNdp) encodes to a frame that decodes.
// See transport/connection_fuzz.cc for how fuzz targets are built and run.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/dpdk/arp.h"
#include "dataplane/dpdk/ndp.h"
#include "transport/testing/fuzz_check.h"
#include "transport/wire.h"

namespace tern::dpdk {
namespace {

// This host, as the decoded message's target, so that requests for it get
// an answer.
Endpoint LocalFor(const IpAddress& target) {
  Endpoint local;
  local.mac.bytes = {0x02, 0, 0, 0, 0, 0x01};
  local.ip = target;
  return local;
}

// What both protocols must satisfy. `answer` gives the reply of a host owning
// the address the message asks about, or nothing.
template <class Message>
void CheckMessage(const char* protocol, std::span<const uint8_t> frame, size_t frame_bytes,
                  std::optional<Message> (*decode)(std::span<const uint8_t>),
                  size_t (*encode)(const Message&, std::span<uint8_t>),
                  std::optional<Message> (*answer)(const Message&)) {
  const std::optional<Message> message = decode(frame);
  if (!message) return;
  std::vector<uint8_t> encoded(frame_bytes), again(frame_bytes);
  encoded.resize(encode(*message, encoded));
  const std::optional<Message> decoded = decode(encoded);
  if (!decoded) {
    testing::FuzzCheckFailed(std::string(protocol) + ": a message re-encoded does not decode");
  }
  again.resize(encode(*decoded, again));
  if (again != encoded) {
    testing::FuzzCheckFailed(std::string(protocol) + ": a message changes on a second round trip");
  }
  if (const std::optional<Message> reply = answer(*message)) {
    std::vector<uint8_t> reply_frame(frame_bytes);
    reply_frame.resize(encode(*reply, reply_frame));
    if (!decode(reply_frame)) {
      testing::FuzzCheckFailed(std::string(protocol) + ": the answer to a message does not decode");
    }
  }
}

std::optional<ArpMessage> AnswerForTarget(const ArpMessage& request) {
  return AnswerArp(request, LocalFor(IpAddress::V4(request.target_ip)));
}
std::optional<NdpMessage> AnswerForTarget(const NdpMessage& solicitation) {
  return AnswerNdp(solicitation, LocalFor(solicitation.target));
}

}  // namespace
}  // namespace tern::dpdk

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tern::dpdk;
  const std::span<const uint8_t> frame(data, size);
  CheckMessage<ArpMessage>("ARP", frame, kArpFrameBytes, DecodeArp, EncodeArp, AnswerForTarget);
  CheckMessage<NdpMessage>("NDP", frame, kNdpFrameBytes, DecodeNdp, EncodeNdp, AnswerForTarget);
  return 0;
}
