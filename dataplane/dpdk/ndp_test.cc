#include "dataplane/dpdk/ndp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "transport/random.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::dpdk {
namespace {

const MacAddress kMacA{{0x02, 0, 0, 0, 0, 0x0A}};
const MacAddress kMacB{{0x02, 0, 0, 0, 0, 0x0B}};

// Captured with tshark on a veth pair (Linux 6.18): host A (02:..:0a,
// fd00::1) pinged fd00::2, which B (02:..:0b) owns. A's solicitation:
const std::vector<uint8_t> kLinuxSolicitation = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x86, 0xdd, 0x60,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, 0x7d, 0x8e, 0x00, 0x00,
    0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
// ...and B's advertisement in reply (flags S and O).
const std::vector<uint8_t> kLinuxAdvertisement = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x86, 0xdd, 0x60,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0x1c, 0x91, 0x60, 0x00,
    0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};

Endpoint HostA() { return {kMacA, *IpAddress::Parse("fd00::1")}; }
Endpoint HostB() { return {kMacB, *IpAddress::Parse("fd00::2")}; }

std::vector<uint8_t> Encode(const NdpMessage& m) {
  std::vector<uint8_t> frame(kNdpFrameBytes);
  frame.resize(EncodeNdp(m, frame));
  return frame;
}

TEST(NdpTest, SolicitationIsByteForByteWhatLinuxSends) {
  const NdpMessage ns = SolicitNeighbor(HostA(), HostB().ip);
  EXPECT_EQ(ns.dest_ip, *IpAddress::Parse("ff02::1:ff00:2"));
  EXPECT_EQ(Encode(ns), kLinuxSolicitation);
}

TEST(NdpTest, TheOwnersAnswerIsByteForByteWhatLinuxSends) {
  const std::optional<NdpMessage> ns = DecodeNdp(kLinuxSolicitation);
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(ns->type, NdpType::kSolicitation);
  EXPECT_EQ(ns->source_ip, HostA().ip);
  EXPECT_EQ(ns->target, HostB().ip);
  EXPECT_EQ(ns->link_layer, kMacA);
  const std::optional<NdpMessage> na = AnswerNdp(*ns, HostB());
  ASSERT_TRUE(na.has_value());
  EXPECT_EQ(Encode(*na), kLinuxAdvertisement);
}

TEST(NdpTest, DecodesLinuxsAdvertisement) {
  const std::optional<NdpMessage> na = DecodeNdp(kLinuxAdvertisement);
  ASSERT_TRUE(na.has_value());
  EXPECT_EQ(na->type, NdpType::kAdvertisement);
  EXPECT_TRUE(na->solicited);
  EXPECT_EQ(na->target, HostB().ip);
  EXPECT_EQ(na->link_layer, kMacB);
  EXPECT_EQ(na->source_mac, kMacB);
}

TEST(NdpTest, OnlyTheOwnerAnswers) {
  const NdpMessage ns = SolicitNeighbor(HostA(), HostB().ip);
  EXPECT_FALSE(AnswerNdp(ns, HostA()).has_value()) << "asks for another address";
  Endpoint v4 = HostB();
  v4.ip = IpAddress::V4(0x0A000002);
  EXPECT_FALSE(AnswerNdp(ns, v4).has_value());
  EXPECT_FALSE(AnswerNdp(*AnswerNdp(ns, HostB()), HostB()).has_value()) << "not a solicitation";
  // Without the option, the answer goes to the Ethernet source.
  NdpMessage bare = ns;
  bare.link_layer = {};
  EXPECT_EQ(AnswerNdp(bare, HostB())->dest_mac, kMacA);
}

// Another host probing for B's address (duplicate address detection: from ::,
// to the solicited-node group, no option) gets B's defence, sent to all nodes
// and not flagged solicited, which the prober reads as "taken".
TEST(NdpTest, DuplicateAddressProbesForOurAddressAreDefended) {
  NdpMessage probe = SolicitNeighbor(HostA(), HostB().ip);
  probe.source_ip = *IpAddress::Parse("::");
  probe.link_layer = {};
  const std::optional<NdpMessage> decoded = DecodeNdp(Encode(probe));
  ASSERT_TRUE(decoded.has_value()) << "a well-formed probe";
  EXPECT_TRUE(IsDuplicateAddressProbe(*decoded));
  EXPECT_FALSE(IsDuplicateAddressProbe(SolicitNeighbor(HostA(), HostB().ip)));

  const std::optional<NdpMessage> defence = AnswerNdp(*decoded, HostB());
  ASSERT_TRUE(defence.has_value());
  EXPECT_EQ(defence->dest_ip, *IpAddress::Parse("ff02::1"));
  EXPECT_EQ(defence->dest_mac, (MacAddress{{0x33, 0x33, 0, 0, 0, 0x01}}));
  EXPECT_FALSE(defence->solicited);
  // On the wire it is an advertisement any node accepts, naming B's MAC.
  const std::optional<NdpMessage> heard = DecodeNdp(Encode(*defence));
  ASSERT_TRUE(heard.has_value());
  EXPECT_EQ(heard->type, NdpType::kAdvertisement);
  EXPECT_FALSE(heard->solicited);
  EXPECT_EQ(heard->target, HostB().ip);
  EXPECT_EQ(heard->link_layer, kMacB);
  EXPECT_EQ(heard->source_ip, HostB().ip);
  // A probe for another address is not ours to defend.
  EXPECT_FALSE(AnswerNdp(*decoded, HostA()).has_value());
}

TEST(NdpTest, IsIcmpv6LooksOnlyAtTheHeaders) {
  EXPECT_TRUE(IsIcmpv6(kLinuxSolicitation));
  EXPECT_FALSE(IsIcmpv6(std::span(kLinuxSolicitation).first(53)));
  std::vector<uint8_t> udp = kLinuxSolicitation;
  udp[20] = 17;
  EXPECT_FALSE(IsIcmpv6(udp));
}

// Recomputes the ICMPv6 checksum after an edit, so that the check under test
// is the one that refuses the frame.
std::vector<uint8_t> Resealed(std::vector<uint8_t> f) {
  const size_t icmp = 54;
  // The IPv6 payload length, but never past the frame (a test may overstate it).
  const size_t len = std::min(static_cast<size_t>(f[18] << 8 | f[19]), f.size() - icmp);
  f[icmp + 2] = f[icmp + 3] = 0;
  uint32_t sum = OnesComplementAdd(std::span(f).subspan(22, 32));
  sum += static_cast<uint32_t>(len) + kIpProtoIcmpv6;
  const uint16_t c = FoldChecksum(OnesComplementAdd(std::span(f).subspan(icmp, len), sum));
  f[icmp + 2] = static_cast<uint8_t>(c >> 8);
  f[icmp + 3] = static_cast<uint8_t>(c);
  return f;
}

TEST(NdpTest, MalformedMessagesAreRefused) {
  const std::vector<uint8_t>& good = kLinuxSolicitation;
  ASSERT_TRUE(DecodeNdp(Resealed(good)).has_value());
  auto edited = [&](size_t offset, uint8_t value, bool reseal = true) {
    std::vector<uint8_t> f = good;
    f[offset] = value;
    return DecodeNdp(reseal ? Resealed(f) : f).has_value();
  };
  for (size_t n : {0, 54, 77, 85}) {
    EXPECT_FALSE(DecodeNdp(std::span(good).first(n)).has_value()) << "truncated to " << n;
  }
  EXPECT_FALSE(edited(56, 0x7d ^ 1, false)) << "bad checksum";
  EXPECT_FALSE(edited(21, 254)) << "hop limit below 255: not from this link";
  EXPECT_FALSE(edited(14, 0x40)) << "IP version 4 in an IPv6 header";
  EXPECT_FALSE(edited(54, 128)) << "an echo request, not neighbor discovery";
  EXPECT_FALSE(edited(55, 1)) << "code not 0";
  EXPECT_FALSE(edited(62, 0xff)) << "multicast target";
  // Found by neighbor_frames_fuzz: answered, it drew a solicited
  // advertisement to a multicast address, which no decoder accepts.
  EXPECT_FALSE(edited(22, 0xff)) << "multicast source";
  EXPECT_FALSE(edited(79, 0)) << "option of length 0";
  EXPECT_FALSE(edited(79, 2)) << "option running past the message";
  EXPECT_FALSE(edited(19, 0x28)) << "payload length past the frame";
  EXPECT_FALSE(edited(19, 0x10)) << "payload length shorter than the body";
  // A solicited advertisement may not go to a multicast group.
  std::vector<uint8_t> na = kLinuxAdvertisement;
  na[38] = 0xff;
  na[39] = 0x02;
  EXPECT_FALSE(DecodeNdp(Resealed(na)).has_value());
  // Duplicate address detection: from ::, so no source option allowed.
  std::vector<uint8_t> dad = good;
  std::fill(dad.begin() + 22, dad.begin() + 38, 0);
  EXPECT_FALSE(DecodeNdp(Resealed(dad)).has_value());
}

// Seeded damage to Linux's two messages, the checksum resealed where the
// frame still holds one so that the checks behind it run: decoding reads only
// the frame's bytes (each copied to an allocation of exactly its size, for
// AddressSanitizer), and whatever decodes can be answered. Seeds 1 to 2000.
TEST(NdpTest, DamagedMessagesDecodeOrAreRefusedWithinTheirBytes) {
  int decoded = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    std::vector<uint8_t> frame(seed % 2 == 0 ? kLinuxSolicitation : kLinuxAdvertisement);
    std::string bytes(frame.begin(), frame.end());
    bytes = testing::MutateBytes(bytes, rng);
    frame.assign(bytes.begin(), bytes.end());
    if (frame.size() >= 58 && rng.Bernoulli(0.9)) frame = Resealed(frame);
    const std::unique_ptr<uint8_t[]> exact(new uint8_t[frame.size() + 1]);
    std::copy(frame.begin(), frame.end(), exact.get());
    const std::optional<NdpMessage> m =
        DecodeNdp(std::span<const uint8_t>(exact.get(), frame.size()));
    if (!m.has_value()) continue;
    ++decoded;
    std::optional<NdpMessage> answer = AnswerNdp(*m, HostB());
    if (answer.has_value()) {
      EXPECT_EQ(Encode(*answer).size(), kNdpFrameBytes);
    }
    IsDuplicateAddressProbe(*m);
  }
  EXPECT_GT(decoded, 20) << "some damage leaves a valid message: the accept path runs too";
}

TEST(NdpTest, UnknownOptionsAreSkipped) {
  std::vector<uint8_t> f = kLinuxSolicitation;
  f[19] = 0x28;  // 8 more bytes: a nonce option (type 14) after the address
  const std::vector<uint8_t> nonce = {14, 1, 1, 2, 3, 4, 5, 6};
  f.insert(f.end(), nonce.begin(), nonce.end());
  const std::optional<NdpMessage> ns = DecodeNdp(Resealed(f));
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(ns->link_layer, kMacA);
}

TEST(NdpTest, EncodingNeedsIpv6AndRoom) {
  NdpMessage ns = SolicitNeighbor(HostA(), HostB().ip);
  std::vector<uint8_t> small(kNdpFrameBytes - 1);
  EXPECT_EQ(EncodeNdp(ns, small), 0u);
  ns.source_ip = IpAddress::V4(1);
  std::vector<uint8_t> room(kNdpFrameBytes);
  EXPECT_EQ(EncodeNdp(ns, room), 0u);
}

}  // namespace
}  // namespace tern::dpdk
