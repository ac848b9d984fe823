// The control wire format's contract: fields sit big-endian where the header
// comment says, a valid setup survives a round trip, and every malformed or
// truncated input is refused with an error that names the fault.
#include "dataplane/control/control_wire.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/random.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::control {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::string Hex(const std::vector<uint8_t>& bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

HostSetup SmallSetup() {
  HostSetup setup;
  setup.endpoint.mac.bytes = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  setup.endpoint.ip = IpAddress::V4(0x0A000001);
  setup.endpoint.udp_port = 0xC146;
  setup.mtu = 4096;
  setup.paths = 8;
  setup.congestion_control = "fixed";
  setup.workload = "wb";
  setup.qps.push_back({.qp_num = 0x100, .psn = 0x10, .addr = 0x1000, .length = 0x40, .rkey = 7});
  return setup;
}

HostSetup LargeSetup(bool ipv6) {
  HostSetup setup = SmallSetup();
  if (ipv6)
    setup.endpoint.ip =
        IpAddress::V6({0xfd, 0x00, 0x74, 0x65, 0x72, 0x6e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02});
  setup.congestion_control = "dcqcn:g=0.0039";
  setup.workload = "write_bw size=65536 iters=1000 qps=3";
  setup.qps.clear();
  for (uint32_t i = 0; i < 3; ++i) {
    setup.qps.push_back({.qp_num = 0x100 + i,
                         .psn = 0xFFFFFFF0u + i,
                         .addr = 0x7F0000000000ull + i * 0x10000,
                         .length = 65536,
                         .rkey = 0xABCD0000u | i});
  }
  return setup;
}

std::vector<uint8_t> Encode(const HostSetup& setup) { return *EncodeHostSetup(setup); }

TEST(ControlWireTest, HeaderIsMagicVersionTypeLengthBigEndian) {
  std::array<uint8_t, kMessageHeaderBytes> header;
  EncodeMessageHeader(MessageType::kBarrier, 0x0102, header);
  EXPECT_EQ(Hex({header.begin(), header.end()}),
            "546e4374"
            "0001"
            "0002"
            "00000102");
}

TEST(ControlWireTest, HostSetupFieldsSitAtDocumentedOffsets) {
  EXPECT_EQ(Hex(Encode(SmallSetup())),
            "020000000001"                      // mac
            "04"                                // ip_family
            "0a000001000000000000000000000000"  // ip
            "c146"                              // udp_port
            "00001000"                          // mtu
            "0008"                              // paths
            "0005"
            "6669786564"  // congestion_control "fixed"
            "0002"
            "7762"      // workload "wb"
            "00000001"  // qp_count
            "00000100"
            "00000010"
            "0000000000001000"
            "0000000000000040"
            "00000007");
}

TEST(ControlWireTest, HostSetupRoundTripsOverIpv4AndIpv6) {
  for (bool ipv6 : {false, true}) {
    const HostSetup setup = LargeSetup(ipv6);
    const std::vector<uint8_t> body = Encode(setup);
    EXPECT_EQ(body.size(), kHostSetupFixedBytes + setup.congestion_control.size() +
                               setup.workload.size() + 3 * kQpSetupBytes);
    absl::StatusOr<HostSetup> decoded = DecodeHostSetup(body);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, setup) << "ipv6=" << ipv6;
  }
}

TEST(ControlWireTest, EveryTruncationIsRefusedAsTruncated) {
  const std::vector<uint8_t> body = Encode(LargeSetup(false));
  for (size_t length = 0; length < body.size(); ++length) {
    absl::StatusOr<HostSetup> decoded =
        DecodeHostSetup(std::span<const uint8_t>(body.data(), length));
    ASSERT_FALSE(decoded.ok()) << length;
    EXPECT_THAT(Message(decoded.status()), StartsWith("control: truncated HostSetup: need "))
        << length;
    EXPECT_THAT(Message(decoded.status()), HasSubstr(absl::StrCat("have ", length))) << length;
  }
}

// Seeded damage to a peer's HostSetup (bytes overwritten, inserted, deleted,
// cut short): each decodes to a setup that passes validation and encodes
// again, or is refused with a message starting "control:", reading only the
// body's bytes (an allocation of exactly its size). Seeds 1 to 2000.
TEST(ControlWireTest, DamagedSetupsDecodeOrAreRefused) {
  const std::vector<uint8_t> body = Encode(LargeSetup(true));
  int decoded_count = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    const std::string damaged =
        tern::testing::MutateBytes(std::string(body.begin(), body.end()), rng);
    const std::unique_ptr<uint8_t[]> exact(new uint8_t[damaged.size() + 1]);
    std::copy(damaged.begin(), damaged.end(), exact.get());
    absl::StatusOr<HostSetup> decoded =
        DecodeHostSetup(std::span<const uint8_t>(exact.get(), damaged.size()));
    if (!decoded.ok()) {
      EXPECT_THAT(Message(decoded.status()), StartsWith("control:"));
      continue;
    }
    ++decoded_count;
    EXPECT_TRUE(EncodeHostSetup(*decoded).ok());
  }
  EXPECT_GT(decoded_count, 20) << "some damage leaves a valid setup: the accept path runs too";
}

TEST(ControlWireTest, TruncationNamesTheBytesNeeded) {
  const std::vector<uint8_t> body = Encode(SmallSetup());
  // The first read past 10 bytes is the 16-byte IP address at offset 7.
  EXPECT_EQ(Message(DecodeHostSetup(std::span<const uint8_t>(body.data(), 10)).status()),
            "control: truncated HostSetup: need 23 bytes, have 10");
  // Missing the last QP field: the QP count promises 28 bytes.
  EXPECT_EQ(
      Message(DecodeHostSetup(std::span<const uint8_t>(body.data(), body.size() - 1)).status()),
      absl::StrCat("control: truncated HostSetup: need ", body.size(), " bytes, have ",
                   body.size() - 1));
}

TEST(ControlWireTest, TrailingBytesAreRefused) {
  std::vector<uint8_t> body = Encode(SmallSetup());
  body.push_back(0);
  EXPECT_EQ(Message(DecodeHostSetup(body).status()),
            "control: HostSetup has 1 unexpected bytes after its 1 QPs");
}

TEST(ControlWireTest, OversizedCountsAreRefusedBeforeAllocating) {
  // SmallSetup's layout: cc_len at 31, "fixed", workload_len at 38, "wb",
  // qp_count at 42, one QP at 46.
  const std::vector<uint8_t> body = Encode(SmallSetup());
  std::vector<uint8_t> long_cc = body;
  long_cc[31] = 0x01;
  long_cc[32] = 0x00;
  EXPECT_EQ(Message(DecodeHostSetup(long_cc).status()),
            "control: peer's congestion_control is 256 bytes, limit 255");
  std::vector<uint8_t> many_qps = body;
  many_qps[43] = 0x02;
  EXPECT_EQ(Message(DecodeHostSetup(many_qps).status()),
            "control: peer sent 131073 QPs, limit 65536");
  std::vector<uint8_t> lying_count = body;
  lying_count[45] = 0xFF;  // 255 QPs promised, 1 present
  EXPECT_EQ(Message(DecodeHostSetup(lying_count).status()),
            absl::StrCat("control: truncated HostSetup: need ", 46 + 255 * kQpSetupBytes,
                         " bytes, have ", body.size()));
}

TEST(ControlWireTest, UnknownIpFamilyIsRefused) {
  std::vector<uint8_t> body = Encode(SmallSetup());
  body[6] = 5;
  EXPECT_EQ(Message(DecodeHostSetup(body).status()),
            "control: peer's HostSetup has IP family 5, expected 4 or 6");
}

TEST(ControlWireTest, PeerSetupFailingSanityIsRefused) {
  std::vector<uint8_t> body = Encode(SmallSetup());
  body[27] = 0x00;  // mtu at 25: 4096 -> 0
  EXPECT_EQ(Message(DecodeHostSetup(body).status()),
            "control: peer's HostSetup is invalid: mtu 0 outside [256, 9000]");
}

TEST(ControlWireTest, ValidateNamesTheBadField) {
  struct Case {
    void (*mutate)(HostSetup&);
    std::string error;
  };
  const Case cases[] = {
      {[](HostSetup& s) { s.mtu = 9001; }, "mtu 9001 outside [256, 9000]"},
      {[](HostSetup& s) { s.paths = 0; }, "paths 0 outside [1, 16383]"},
      {[](HostSetup& s) { s.endpoint.udp_port = 0; }, "udp_port is 0"},
      {[](HostSetup& s) { s.endpoint.ip.bytes[7] = 1; },
       "IPv4 address has non-zero bytes past the fourth"},
      {[](HostSetup& s) { s.congestion_control.clear(); }, "congestion_control is empty"},
      {[](HostSetup& s) { s.congestion_control.assign(256, 'a'); },
       "congestion_control is 256 bytes, limit 255"},
      {[](HostSetup& s) { s.workload = "a\nb"; },
       "workload has non-printable byte 0x0a at offset 1"},
      {[](HostSetup& s) { s.workload.assign(4097, 'w'); }, "workload is 4097 bytes, limit 4096"},
      {[](HostSetup& s) { s.qps[0].qp_num = 0; }, "qps[0].qp_num is 0"},
      {[](HostSetup& s) { s.qps.push_back(s.qps[0]); }, "qp_num 256 appears twice"},
      {[](HostSetup& s) { s.qps[0].addr = UINT64_MAX; },
       "qps[0] region 0xffffffffffffffff + 64 wraps past 2^64"},
      {[](HostSetup& s) { s.qps.resize(kMaxQps + 1); }, "65537 QPs, limit 65536"},
  };
  for (const Case& c : cases) {
    HostSetup setup = SmallSetup();
    c.mutate(setup);
    EXPECT_EQ(Message(ValidateHostSetup(setup)), c.error);
    EXPECT_EQ(Message(EncodeHostSetup(setup).status()),
              absl::StrCat("control: our HostSetup is invalid: ", c.error));
  }
  EXPECT_TRUE(ValidateHostSetup(SmallSetup()).ok());
}

TEST(ControlWireTest, LargestSetupEncodesWithinTheBound) {
  HostSetup setup = SmallSetup();
  setup.congestion_control.assign(kMaxCongestionControlBytes, 'c');
  setup.workload.assign(kMaxWorkloadBytes, 'w');
  setup.qps.resize(kMaxQps);
  for (uint32_t i = 0; i < kMaxQps; ++i) setup.qps[i].qp_num = i + 1;
  const std::vector<uint8_t> body = Encode(setup);
  EXPECT_EQ(body.size(), kMaxHostSetupBytes);
  absl::StatusOr<HostSetup> decoded = DecodeHostSetup(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->qps.size(), kMaxQps);
}

std::array<uint8_t, kMessageHeaderBytes> RawHeader(uint32_t magic, uint16_t version, uint16_t type,
                                                   uint32_t length) {
  return {static_cast<uint8_t>(magic >> 24),  static_cast<uint8_t>(magic >> 16),
          static_cast<uint8_t>(magic >> 8),   static_cast<uint8_t>(magic),
          static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version),
          static_cast<uint8_t>(type >> 8),    static_cast<uint8_t>(type),
          static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
          static_cast<uint8_t>(length >> 8),  static_cast<uint8_t>(length)};
}

TEST(ControlWireTest, HeaderDecodeChecksMagicThenVersionThenTypeThenLength) {
  EXPECT_EQ(Message(DecodeMessageHeader(RawHeader(0x47455420, 2, 9, 0)).status()),
            "control: peer sent bad magic 0x47455420 (expected 0x546e4374): not a Tern control "
            "channel");
  EXPECT_EQ(Message(DecodeMessageHeader(RawHeader(kMagic, 2, 9, 0)).status()),
            "control: peer sent version 2, this build speaks 1");
  EXPECT_EQ(Message(DecodeMessageHeader(RawHeader(kMagic, 1, 9, 0)).status()),
            "control: peer sent unknown message type 9");
  EXPECT_EQ(Message(DecodeMessageHeader(RawHeader(kMagic, 1, 2, 256)).status()),
            "control: peer's Barrier message claims 256 bytes, limit 255");
  absl::StatusOr<MessageHeader> ok = DecodeMessageHeader(RawHeader(kMagic, 1, 3, 1 << 20));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->type, MessageType::kOpaque);
  EXPECT_EQ(ok->length, 1u << 20);
}

TEST(ControlWireTest, SetupsMatchOnlyWhenTheSharedFieldsAgree) {
  const HostSetup ours = LargeSetup(false);
  HostSetup peers = LargeSetup(true);  // endpoints and QP contents may differ
  peers.qps[0].psn = 1;
  EXPECT_TRUE(CheckSetupsMatch(ours, peers).ok());

  peers = ours;
  peers.paths = 4;
  EXPECT_EQ(Message(CheckSetupsMatch(ours, peers)), "control: paths mismatch: ours 8, peer's 4");
}

}  // namespace
}  // namespace tern::control
