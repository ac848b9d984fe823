#include "dataplane/dpdk/neighbors.h"

#include <gtest/gtest.h>

namespace tern::dpdk {
namespace {

const MacAddress kMacA{{0x02, 0, 0, 0, 0, 0x0A}};
const MacAddress kMacB{{0x02, 0, 0, 0, 0, 0x0B}};

TEST(NeighborTableTest, LearnsAndUpdates) {
  NeighborTable table;
  const IpAddress one = IpAddress::V4(1);
  EXPECT_FALSE(table.Lookup(one).has_value());
  table.Learn(one, kMacA);
  table.Learn(IpAddress::V4(2), kMacB);
  EXPECT_EQ(*table.Lookup(one), kMacA);
  table.Learn(one, kMacB);
  EXPECT_EQ(*table.Lookup(one), kMacB);
  EXPECT_EQ(table.size(), 2u);
}

// ::1 and 1.0.0.0 share their first bytes; the family keeps them apart.
TEST(NeighborTableTest, KeysByFamilyAndAllSixteenBytes) {
  NeighborTable table;
  const IpAddress v4 = IpAddress::V4(0x01000000);
  const IpAddress v6 = *IpAddress::Parse("100::");
  ASSERT_EQ(v4.bytes[0], v6.bytes[0]);
  table.Learn(v4, kMacA);
  EXPECT_FALSE(table.Lookup(v6).has_value());
  table.Learn(v6, kMacB);
  EXPECT_EQ(*table.Lookup(v4), kMacA);
  EXPECT_EQ(*table.Lookup(v6), kMacB);
  EXPECT_FALSE(table.Lookup(*IpAddress::Parse("100::1")).has_value());
}

}  // namespace
}  // namespace tern::dpdk
