#include "dataplane/dpdk/dma_memory.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include <cstdint>
#include <vector>

#include "dataplane/dpdk/eal_test_environment.h"

namespace tern::dpdk {
namespace {

TEST(DmaAddressMapTest, FindsDpdkMemoryAndNothingElse) {
  auto* region = static_cast<uint8_t*>(AllocateDmaMemory(1 << 20));
  ASSERT_NE(region, nullptr);
  DmaAddressMap map;
  const std::optional<uint64_t> first = map.Lookup(region, 4096);
  ASSERT_TRUE(first.has_value());
  if (rte_eal_iova_mode() == RTE_IOVA_VA) {
    EXPECT_EQ(*first, reinterpret_cast<uintptr_t>(region));
  }
  // The cached piece answers the same as a fresh lookup.
  DmaAddressMap fresh;
  EXPECT_EQ(map.Lookup(region + 100, 1000), fresh.Lookup(region + 100, 1000));

  std::vector<uint8_t> heap(1 << 16);
  EXPECT_FALSE(map.Lookup(heap.data(), 4096).has_value());
  EXPECT_FALSE(map.Lookup(heap.data() + 8192, 4096).has_value()) << "the remembered miss";
  // A miss remembered does not hide DPDK memory.
  EXPECT_TRUE(map.Lookup(region + 8192, 4096).has_value());
  FreeDmaMemory(region);
}

TEST(DmaAddressMapTest, ZeroedMemory) {
  auto* region = static_cast<uint8_t*>(AllocateDmaMemory(65536));
  ASSERT_NE(region, nullptr);
  for (size_t i = 0; i < 65536; ++i) ASSERT_EQ(region[i], 0) << i;
  FreeDmaMemory(region);
}

}  // namespace
}  // namespace tern::dpdk
