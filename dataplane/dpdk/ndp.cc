#include "dataplane/dpdk/ndp.h"

#include <algorithm>
#include <cstring>

namespace tern::dpdk {
namespace {

constexpr size_t kIpOffset = sizeof(EthernetHeader);
constexpr size_t kIcmpOffset = kIpOffset + sizeof(Ipv6Header);

// ICMPv6 Neighbor Solicitation / Advertisement body (RFC 4861 sections 4.3,
// 4.4): the advertisement's flags sit in the solicitation's reserved field.
struct NeighborBody {
  uint8_t type;
  uint8_t code;  // 0
  Be16 checksum;
  uint8_t flags;  // advertisement: R (0x80), S (0x40), O (0x20)
  uint8_t reserved[3];
  uint8_t target[16];
};
static_assert(sizeof(NeighborBody) == 24);

constexpr uint8_t kFlagSolicited = 0x40;
constexpr uint8_t kFlagOverride = 0x20;
constexpr uint8_t kOptionSourceLinkLayer = 1;
constexpr uint8_t kOptionTargetLinkLayer = 2;
constexpr uint8_t kHopLimit = 255;  // proves the sender is on this link (section 7.1)

bool IsMulticast(const IpAddress& ip) { return ip.bytes[0] == 0xFF; }

// An IPv6 multicast group's Ethernet address: 33:33 and the group's last four
// bytes (RFC 2464 section 7).
MacAddress MulticastMac(const IpAddress& group) {
  const auto& g = group.bytes;
  return MacAddress{{0x33, 0x33, g[12], g[13], g[14], g[15]}};
}

// All nodes on the link, ff02::1 (RFC 4291 section 2.7.1).
const IpAddress kAllNodes = IpAddress::V6({0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
bool IsUnspecified(const IpAddress& ip) { return ip.bytes == std::array<uint8_t, 16>{}; }

// RFC 8200 section 8.1: the pseudo-header then the ICMPv6 message.
uint16_t Icmpv6Checksum(const uint8_t* src, const uint8_t* dst, std::span<const uint8_t> message) {
  uint32_t sum = OnesComplementAdd(std::span(src, 16));
  sum = OnesComplementAdd(std::span(dst, 16), sum);
  sum += static_cast<uint32_t>(message.size()) + kIpProtoIcmpv6;
  return FoldChecksum(OnesComplementAdd(message, sum));
}

}  // namespace

NdpMessage SolicitNeighbor(const Endpoint& local, const IpAddress& target) {
  NdpMessage m;
  m.type = NdpType::kSolicitation;
  m.source_mac = local.mac;
  m.source_ip = local.ip;
  m.target = target;
  m.link_layer = local.mac;
  // Solicited-node group (RFC 4291 section 2.7.1).
  std::array<uint8_t, 16> group{0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xFF};
  std::copy_n(target.bytes.begin() + 13, 3, group.begin() + 13);
  m.dest_ip = IpAddress::V6(group);
  m.dest_mac = MulticastMac(m.dest_ip);
  return m;
}

NdpMessage ProbeAddress(const Endpoint& local) {
  NdpMessage m = SolicitNeighbor(local, local.ip);
  m.source_ip = IpAddress::V6({});
  m.link_layer = MacAddress{};
  return m;
}

size_t EncodeNdp(const NdpMessage& message, std::span<uint8_t> out) {
  if (out.size() < kNdpFrameBytes || !message.source_ip.is_v6 || !message.dest_ip.is_v6 ||
      !message.target.is_v6) {
    return 0;
  }
  // A zero link-layer address means no option (as DecodeNdp reports one).
  const size_t option_bytes = message.link_layer.IsZero() ? 0 : 8;
  const size_t frame_bytes = kNdpFrameBytes - 8 + option_bytes;
  uint8_t* f = out.data();
  std::fill_n(f, frame_bytes, 0);
  EthernetHeader eth;
  std::memcpy(eth.dst, message.dest_mac.bytes.data(), 6);
  std::memcpy(eth.src, message.source_mac.bytes.data(), 6);
  eth.ether_type.set(kEtherTypeIpv6);
  std::memcpy(f, &eth, sizeof(eth));

  const size_t icmp_bytes = frame_bytes - kIcmpOffset;
  Ipv6Header ip;
  ip.version_class_flow.set(uint32_t{6} << 28);
  ip.payload_length.set(static_cast<uint16_t>(icmp_bytes));
  ip.next_header = kIpProtoIcmpv6;
  ip.hop_limit = kHopLimit;
  std::memcpy(ip.src, message.source_ip.bytes.data(), 16);
  std::memcpy(ip.dst, message.dest_ip.bytes.data(), 16);
  std::memcpy(f + kIpOffset, &ip, sizeof(ip));

  NeighborBody body = {};
  body.type = static_cast<uint8_t>(message.type);
  if (message.type == NdpType::kAdvertisement) {
    // Override: this host owns the address, so its answer replaces a cached one.
    body.flags = kFlagOverride | (message.solicited ? kFlagSolicited : 0);
  }
  std::memcpy(body.target, message.target.bytes.data(), 16);
  std::memcpy(f + kIcmpOffset, &body, sizeof(body));
  if (option_bytes > 0) {
    uint8_t* option = f + kIcmpOffset + sizeof(body);
    option[0] =
        message.type == NdpType::kSolicitation ? kOptionSourceLinkLayer : kOptionTargetLinkLayer;
    option[1] = 1;  // length in units of 8 bytes
    std::memcpy(option + 2, message.link_layer.bytes.data(), 6);
  }

  const uint16_t checksum = Icmpv6Checksum(ip.src, ip.dst, std::span(f + kIcmpOffset, icmp_bytes));
  f[kIcmpOffset + offsetof(NeighborBody, checksum)] = static_cast<uint8_t>(checksum >> 8);
  f[kIcmpOffset + offsetof(NeighborBody, checksum) + 1] = static_cast<uint8_t>(checksum);
  return frame_bytes;
}

bool IsIcmpv6(std::span<const uint8_t> frame) {
  return frame.size() >= kIcmpOffset && frame[12] == (kEtherTypeIpv6 >> 8) &&
         frame[13] == (kEtherTypeIpv6 & 0xFF) &&
         frame[kIpOffset + offsetof(Ipv6Header, next_header)] == kIpProtoIcmpv6;
}

std::optional<NdpMessage> DecodeNdp(std::span<const uint8_t> frame) {
  if (!IsIcmpv6(frame) || frame.size() < kIcmpOffset + sizeof(NeighborBody)) return std::nullopt;
  Ipv6Header ip;
  std::memcpy(&ip, frame.data() + kIpOffset, sizeof(ip));
  const size_t icmp_bytes = ip.payload_length.get();
  if (ip.version_class_flow.get() >> 28 != 6 || ip.hop_limit != kHopLimit ||
      icmp_bytes < sizeof(NeighborBody) || kIcmpOffset + icmp_bytes > frame.size()) {
    return std::nullopt;
  }
  const std::span<const uint8_t> icmp = frame.subspan(kIcmpOffset, icmp_bytes);
  if (Icmpv6Checksum(ip.src, ip.dst, icmp) != 0) return std::nullopt;
  NeighborBody body;
  std::memcpy(&body, icmp.data(), sizeof(body));
  if ((body.type != static_cast<uint8_t>(NdpType::kSolicitation) &&
       body.type != static_cast<uint8_t>(NdpType::kAdvertisement)) ||
      body.code != 0) {
    return std::nullopt;
  }

  NdpMessage m;
  m.type = static_cast<NdpType>(body.type);
  std::array<uint8_t, 16> address;
  std::copy_n(ip.src, 16, address.begin());
  m.source_ip = IpAddress::V6(address);
  std::copy_n(ip.dst, 16, address.begin());
  m.dest_ip = IpAddress::V6(address);
  std::copy_n(body.target, 16, address.begin());
  m.target = IpAddress::V6(address);
  std::copy_n(frame.begin() + 6, 6, m.source_mac.bytes.begin());
  std::copy_n(frame.begin(), 6, m.dest_mac.bytes.begin());
  m.solicited = m.type == NdpType::kAdvertisement && (body.flags & kFlagSolicited) != 0;
  if (IsMulticast(m.target)) return std::nullopt;
  if (m.solicited && IsMulticast(m.dest_ip)) return std::nullopt;
  // No packet comes from a group (RFC 4291 section 2.7); answering one would
  // send a solicited advertisement to a multicast address, which is invalid.
  if (IsMulticast(m.source_ip)) return std::nullopt;

  // Options: type, length in 8-byte units (never 0), contents.
  const uint8_t wanted =
      m.type == NdpType::kSolicitation ? kOptionSourceLinkLayer : kOptionTargetLinkLayer;
  bool has_link_layer = false;
  for (size_t at = sizeof(NeighborBody); at < icmp.size();) {
    if (icmp.size() - at < 2 || icmp[at + 1] == 0) return std::nullopt;
    const size_t len = size_t{icmp[at + 1]} * 8;
    if (len > icmp.size() - at) return std::nullopt;
    if (icmp[at] == wanted && len == 8) {
      std::copy_n(icmp.begin() + at + 2, 6, m.link_layer.bytes.begin());
      has_link_layer = true;
    }
    at += len;
  }
  // Duplicate address detection asks from no address, to the group, with no option.
  if (m.type == NdpType::kSolicitation && IsUnspecified(m.source_ip) &&
      (has_link_layer || !IsMulticast(m.dest_ip))) {
    return std::nullopt;
  }
  return m;
}

bool IsDuplicateAddressProbe(const NdpMessage& solicitation) {
  return solicitation.type == NdpType::kSolicitation && IsUnspecified(solicitation.source_ip);
}

std::optional<NdpMessage> AnswerNdp(const NdpMessage& solicitation, const Endpoint& local) {
  if (solicitation.type != NdpType::kSolicitation || !local.ip.is_v6 ||
      solicitation.target != local.ip) {
    return std::nullopt;
  }
  NdpMessage reply;
  reply.type = NdpType::kAdvertisement;
  reply.source_mac = local.mac;
  reply.source_ip = local.ip;
  reply.target = local.ip;
  reply.link_layer = local.mac;
  if (IsDuplicateAddressProbe(solicitation)) {
    // The prober has no address to answer to: every node hears the defence.
    reply.dest_ip = kAllNodes;
    reply.dest_mac = MulticastMac(kAllNodes);
    reply.solicited = false;
    return reply;
  }
  reply.dest_mac =
      solicitation.link_layer.IsZero() ? solicitation.source_mac : solicitation.link_layer;
  reply.dest_ip = solicitation.source_ip;
  reply.solicited = true;
  return reply;
}

}  // namespace tern::dpdk
