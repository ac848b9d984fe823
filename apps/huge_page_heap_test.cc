#include "apps/huge_page_heap.h"

#include "gtest/gtest.h"

namespace tern {
namespace {

TEST(HugePageHeapTest, TunableIsTheWholeSettingWhenNoneIsSet) {
  EXPECT_EQ(TunablesWithHugePageHeap(nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(TunablesWithHugePageHeap(""), "glibc.malloc.hugetlb=1");
}

TEST(HugePageHeapTest, TunableJoinsTheUsersOthers) {
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
}

TEST(HugePageHeapTest, UsersOwnHugetlbSettingStands) {
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.hugetlb=0"), std::nullopt);
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"),
            std::nullopt);
  // A longer name that starts the same is another tunable.
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.hugetlbx=1"),
            "glibc.malloc.hugetlbx=1:glibc.malloc.hugetlb=1");
}

}  // namespace
}  // namespace tern
