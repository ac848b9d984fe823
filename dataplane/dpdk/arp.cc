#include "dataplane/dpdk/arp.h"

#include <algorithm>
#include <cstring>

namespace tern::dpdk {
namespace {

// RFC 826 body for hardware type Ethernet, protocol IPv4.
struct ArpBody {
  Be16 hardware_type;  // 1
  Be16 protocol_type;  // 0x0800
  uint8_t hardware_len;
  uint8_t protocol_len;
  Be16 op;
  uint8_t sender_mac[6];
  Be32 sender_ip;
  uint8_t target_mac[6];
  Be32 target_ip;
};
static_assert(sizeof(ArpBody) == 28);

constexpr MacAddress kBroadcast{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};

}  // namespace

size_t EncodeArp(const ArpMessage& message, std::span<uint8_t> out) {
  if (out.size() < kArpFrameBytes) return 0;
  std::fill(out.begin(), out.begin() + kArpFrameBytes, 0);
  EthernetHeader eth;
  const MacAddress& dst = message.op == ArpOp::kRequest ? kBroadcast : message.target_mac;
  std::memcpy(eth.dst, dst.bytes.data(), 6);
  std::memcpy(eth.src, message.sender_mac.bytes.data(), 6);
  eth.ether_type.set(kEtherTypeArp);
  ArpBody body;
  body.hardware_type.set(1);
  body.protocol_type.set(kEtherTypeIpv4);
  body.hardware_len = 6;
  body.protocol_len = 4;
  body.op.set(static_cast<uint16_t>(message.op));
  std::memcpy(body.sender_mac, message.sender_mac.bytes.data(), 6);
  body.sender_ip.set(message.sender_ip);
  std::memcpy(body.target_mac, message.target_mac.bytes.data(), 6);
  body.target_ip.set(message.target_ip);
  std::memcpy(out.data(), &eth, sizeof(eth));
  std::memcpy(out.data() + sizeof(eth), &body, sizeof(body));
  return kArpFrameBytes;
}

std::optional<ArpMessage> DecodeArp(std::span<const uint8_t> frame) {
  if (frame.size() < sizeof(EthernetHeader) + sizeof(ArpBody)) return std::nullopt;
  EthernetHeader eth;
  std::memcpy(&eth, frame.data(), sizeof(eth));
  if (eth.ether_type.get() != kEtherTypeArp) return std::nullopt;
  ArpBody body;
  std::memcpy(&body, frame.data() + sizeof(eth), sizeof(body));
  if (body.hardware_type.get() != 1 || body.protocol_type.get() != kEtherTypeIpv4 ||
      body.hardware_len != 6 || body.protocol_len != 4) {
    return std::nullopt;
  }
  const uint16_t op = body.op.get();
  if (op != static_cast<uint16_t>(ArpOp::kRequest) && op != static_cast<uint16_t>(ArpOp::kReply)) {
    return std::nullopt;
  }
  ArpMessage message;
  message.op = static_cast<ArpOp>(op);
  std::memcpy(message.sender_mac.bytes.data(), body.sender_mac, 6);
  message.sender_ip = body.sender_ip.get();
  std::memcpy(message.target_mac.bytes.data(), body.target_mac, 6);
  message.target_ip = body.target_ip.get();
  return message;
}

std::optional<ArpMessage> AnswerArp(const ArpMessage& request, const Endpoint& local) {
  if (request.op != ArpOp::kRequest || local.ip.is_v6 || request.target_ip != local.ip.v4()) {
    return std::nullopt;
  }
  ArpMessage reply;
  reply.op = ArpOp::kReply;
  reply.sender_mac = local.mac;
  reply.sender_ip = local.ip.v4();
  reply.target_mac = request.sender_mac;
  reply.target_ip = request.sender_ip;
  return reply;
}

}  // namespace tern::dpdk
