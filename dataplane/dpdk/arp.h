// ARP for IPv4 over Ethernet (RFC 826): what a host on a routed fabric needs
// to find its peer's or gateway's MAC and to be found itself, and (with a
// sender address of 0) to probe that nobody holds its own (RFC 5227). Pure
// byte handling, no DPDK types, so it is tested without a port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "transport/wire.h"

namespace tern::dpdk {

// Ethernet header + ARP body, padded to the 60-byte Ethernet minimum.
inline constexpr size_t kArpFrameBytes = 60;

enum class ArpOp : uint16_t { kRequest = 1, kReply = 2 };

struct ArpMessage {
  ArpOp op = ArpOp::kRequest;
  MacAddress sender_mac;
  uint32_t sender_ip = 0;  // host order
  MacAddress target_mac;   // zero in a request
  uint32_t target_ip = 0;
};

// Writes the frame into `out` (at least kArpFrameBytes) and returns its
// length. Requests go to the broadcast address, replies to the target.
size_t EncodeArp(const ArpMessage& message, std::span<uint8_t> out);

// The ARP message in an Ethernet frame, or nullopt when the frame is not a
// well-formed IPv4-over-Ethernet ARP request or reply.
std::optional<ArpMessage> DecodeArp(std::span<const uint8_t> frame);

// The reply a host owning `local` sends to `request`, or nullopt when the
// request is not for `local`'s IPv4 address.
std::optional<ArpMessage> AnswerArp(const ArpMessage& request, const Endpoint& local);

}  // namespace tern::dpdk
