// IPv6 neighbor discovery (RFC 4861), the part ARP does for IPv4: Neighbor
// Solicitation to find a peer's or gateway's MAC, Neighbor Advertisement to
// answer for the local address, duplicate address detection of that address
// (ProbeAddress) and its defence against another host's. No router
// discovery, no unreachability detection. Pure byte handling, no DPDK types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "transport/wire.h"

namespace tern::dpdk {

// Ethernet + IPv6 + a solicitation or advertisement with one link-layer
// address option: both messages have the same length.
inline constexpr size_t kNdpFrameBytes = 14 + 40 + 24 + 8;

inline constexpr uint8_t kIpProtoIcmpv6 = 58;

enum class NdpType : uint8_t { kSolicitation = 135, kAdvertisement = 136 };

struct NdpMessage {
  NdpType type = NdpType::kSolicitation;
  MacAddress source_mac;  // Ethernet source
  MacAddress dest_mac;    // Ethernet destination
  IpAddress source_ip;    // IPv6 source
  IpAddress dest_ip;      // IPv6 destination
  IpAddress target;       // the address asked about, or advertised
  // The option: the sender's MAC in a solicitation, the target's in an
  // advertisement. Zero when the message carried none.
  MacAddress link_layer;
  bool solicited = false;  // advertisement S flag: answers a solicitation
};

// A solicitation from `local` for `target`, sent to target's solicited-node
// multicast group (ff02::1:ffXX:XXXX, Ethernet 33:33:ff:XX:XX:XX).
NdpMessage SolicitNeighbor(const Endpoint& local, const IpAddress& target);

// Duplicate address detection of `local`'s own address (RFC 4862 section
// 5.4.2): a solicitation for it from the unspecified address (::), without a
// link-layer option, to its solicited-node group. A host that owns the
// address answers with an advertisement to all nodes (AnswerNdp).
NdpMessage ProbeAddress(const Endpoint& local);

// Writes the frame into `out` (at least kNdpFrameBytes), with hop limit 255
// and the ICMPv6 checksum, and returns its length (8 bytes short of
// kNdpFrameBytes when `link_layer` is zero: no option); 0 when an address is
// not IPv6 or `out` is too short.
size_t EncodeNdp(const NdpMessage& message, std::span<uint8_t> out);

// The message in an Ethernet frame, or nullopt unless it is a valid
// solicitation or advertisement as RFC 4861 section 7.1 checks them: hop limit
// 255, ICMPv6 checksum, code 0, a unicast target, well-formed options.
std::optional<NdpMessage> DecodeNdp(std::span<const uint8_t> frame);

// The advertisement a host owning `local` sends in reply to `solicitation`,
// or nullopt when it asks for another address or is not a solicitation. A
// solicitation from the unspecified address is another host's duplicate
// address detection probing our address: the answer defends it, to all nodes
// (ff02::1) and not solicited (RFC 4861 section 7.2.4).
std::optional<NdpMessage> AnswerNdp(const NdpMessage& solicitation, const Endpoint& local);

// Whether `solicitation` is duplicate address detection (sent from ::).
bool IsDuplicateAddressProbe(const NdpMessage& solicitation);

// Whether `frame` is ICMPv6 over IPv6 (without checking anything else): where
// a worker sends it instead of to the transport.
bool IsIcmpv6(std::span<const uint8_t> frame);

}  // namespace tern::dpdk
