#include "dataplane/dpdk/port.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "dataplane/dpdk/eal_test_environment.h"

namespace tern::dpdk {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// A net_ring port: it reports no frame limit of its own, so what is
// negotiated comes from the options alone.
std::unique_ptr<Port> OpenRingPort(const PortOptions& base) {
  static int pair_index = 0;
  auto pair = CreateRingPortPair(absl::StrFormat("pt%d", pair_index++), 1);
  EXPECT_TRUE(pair.ok()) << pair.status();
  if (!pair.ok()) return nullptr;
  PortOptions options = base;
  options.port_id = pair->first;
  options.mbufs_per_queue = 1023;
  auto port = Port::Open(options);
  EXPECT_TRUE(port.ok()) << port.status();
  return port.ok() ? *std::move(port) : nullptr;
}

TEST(PortTest, MtuFitsTheRequestedPayload) {
  PortOptions options;
  options.payload_mtu = 4096;
  std::unique_ptr<Port> port = OpenRingPort(options);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->info().payload_mtu, 4096u);
  EXPECT_GT(port->info().mtu, 4096u);
  EXPECT_EQ(port->max_frame_bytes(), port->info().mtu + 18) << "Ethernet header and FCS";
}

TEST(PortTest, LinkMtuBelowThePortsLimitCapsThePayload) {
  PortOptions options;
  options.payload_mtu = 4096;
  options.link_mtu = 1500;
  std::unique_ptr<Port> port = OpenRingPort(options);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->info().mtu, 1500u);
  EXPECT_EQ(port->max_frame_bytes(), 1518u);
  EXPECT_LT(port->info().payload_mtu, 1500u);
  EXPECT_GT(port->info().payload_mtu, 1200u);
  EXPECT_THAT(port->info().missing, Contains(HasSubstr("the link MTU given")));
  // What an app asking for more gets, and for less.
  EXPECT_EQ(port->FitPayloadMtu(4096), port->info().payload_mtu);
  EXPECT_EQ(port->FitPayloadMtu(1024), 1024u);
}

TEST(PortTest, LinkMtuAboveWhatThePayloadNeedsChangesNothing) {
  PortOptions options;
  options.payload_mtu = 1024;
  options.link_mtu = 9216;
  std::unique_ptr<Port> port = OpenRingPort(options);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->info().payload_mtu, 1024u);
  EXPECT_LT(port->info().mtu, 1500u);
}

TEST(MemifBufferBytesTest, ReadsBsizeFromTheDeviceArguments) {
  EXPECT_EQ(MemifBufferBytes("role=client,socket=/tmp/m.sock,bsize=9728"), 9728u);
  EXPECT_EQ(MemifBufferBytes("bsize=4096,role=server"), 4096u);
}

TEST(MemifRingSlotsTest, ReadsRsizeAsALog2) {
  EXPECT_EQ(MemifRingSlots("role=client,socket=/tmp/m.sock,rsize=12"), 4096u);
  EXPECT_EQ(MemifRingSlots("rsize=1,bsize=9230"), 2u);
  EXPECT_EQ(MemifRingSlots("rsize=14"), 16384u);
}

TEST(MemifRingSlotsTest, WithoutAValidRsizeThePmdDefault) {
  EXPECT_EQ(MemifRingSlots(""), 1024u);
  EXPECT_EQ(MemifRingSlots("role=server,bsize=9230"), 1024u);
  EXPECT_EQ(MemifRingSlots("rsize=0"), 1024u);
  EXPECT_EQ(MemifRingSlots("rsize=15"), 1024u);
  EXPECT_EQ(MemifRingSlots("rsize=,xrsize=12"), 1024u);
}

TEST(MemifBufferBytesTest, WithoutBsizeThePmdDefault) {
  EXPECT_EQ(MemifBufferBytes(""), 2048u);
  EXPECT_EQ(MemifBufferBytes("role=server,socket=/tmp/m.sock"), 2048u);
  // Names that merely contain the key, and values the PMD would refuse.
  EXPECT_EQ(MemifBufferBytes("xbsize=9000,bsizes=9000"), 2048u);
  EXPECT_EQ(MemifBufferBytes("bsize=0"), 2048u);
  EXPECT_EQ(MemifBufferBytes("bsize=70000"), 2048u);
  EXPECT_EQ(MemifBufferBytes("bsize=,bsize"), 2048u);
}

}  // namespace
}  // namespace tern::dpdk
