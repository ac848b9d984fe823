#include "dataplane/dpdk/eal.h"

#include <gtest/gtest.h>

namespace tern::dpdk {
namespace {

TEST(EalArgumentsTest, SplitsAtTheFirstDoubleDash) {
  std::vector<std::string> eal, app;
  SplitEalArguments({"tern-perf", "-l", "0-1", "--", "--loopback", "--", "x"}, &eal, &app);
  EXPECT_EQ(eal, (std::vector<std::string>{"tern-perf", "-l", "0-1"}));
  EXPECT_EQ(app, (std::vector<std::string>{"--loopback", "--", "x"}));
}

TEST(EalArgumentsTest, WithoutDoubleDashEverythingIsEal) {
  std::vector<std::string> eal, app;
  SplitEalArguments({"tern-perf", "--no-huge"}, &eal, &app);
  EXPECT_EQ(eal.size(), 2u);
  EXPECT_TRUE(app.empty());
}

}  // namespace
}  // namespace tern::dpdk
