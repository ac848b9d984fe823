// PerfEndpoint without a port: a requester and a responder on two contexts
// joined back to back (transport/testing/connected_pair.h), as tern-perf's
// DPDK runner drives them.
#include "apps/perf_endpoint.h"

#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "transport/testing/connected_pair.h"

namespace tern::perf {
namespace {

PerfOptions Options(std::vector<std::string_view> args) {
  absl::StatusOr<PerfOptions> options = ParsePerfOptions(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : PerfOptions{};
}

struct Sides {
  testing::ConnectedPair pair;
  PerfEndpoint client;
  PerfEndpoint server;

  Sides(const PerfOptions& options, uint64_t size)
      : client(options, size, /*requester=*/true, *pair.side(0).context),
        server(options, size, /*requester=*/false, *pair.side(1).context) {}

  void SetUpAndConnect() {
    ASSERT_TRUE(client.SetUp().ok());
    ASSERT_TRUE(server.SetUp().ok());
    ASSERT_TRUE(client.Connect(server.LocalQps(), pair.side(1).context->local()).ok());
    ASSERT_TRUE(server.Connect(client.LocalQps(), pair.side(0).context->local()).ok());
  }

  // Runs the test to the end, as the runner does: server first.
  void Run() {
    server.Start(pair.now());
    client.Start(pair.now());
    for (int step = 0; step < 100000 && !(client.done() && server.done()); ++step) {
      pair.Run(Duration::Microseconds(2));
      client.Poll(pair.now());
      server.Poll(pair.now());
    }
    server.FinalCheck();
    EXPECT_TRUE(client.done() && server.done()) << client.DescribeProgress();
    EXPECT_FALSE(client.failed()) << client.failure();
    EXPECT_FALSE(server.failed()) << server.failure();
  }
};

std::vector<uint64_t> BufferBytes(const PerfEndpoint& endpoint) {
  std::vector<uint64_t> out;
  for (const control::QpSetup& qp : endpoint.LocalQps()) out.push_back(qp.length);
  return out;
}

TEST(PerfEndpointTest, WithoutVerifyAQpsMessagesCycleOverOnePageAsPerftestDoes) {
  for (const char* test : {"write_bw", "send_bw", "read_bw"}) {
    SCOPED_TRACE(test);
    Sides sides(Options({"--test", test, "-q", "3", "-t", "16", "-n", "200"}), 1024);
    sides.SetUpAndConnect();
    EXPECT_EQ(BufferBytes(sides.client), std::vector<uint64_t>(3, 4096));
    EXPECT_EQ(BufferBytes(sides.server), std::vector<uint64_t>(3, 4096));
    sides.Run();
    EXPECT_EQ(sides.client.messages_completed(), 600u) << "16 outstanding over 4 slots";
    EXPECT_EQ(sides.client.data_errors() + sides.server.data_errors(), 0u);
  }
  Sides large(Options({"--test=write_bw", "-t", "16", "-n", "20"}), 8192);
  large.SetUpAndConnect();
  EXPECT_EQ(BufferBytes(large.client), std::vector<uint64_t>{8192}) << "one message, not a page";
}

TEST(PerfEndpointTest, VerifyGivesEveryOutstandingMessageItsOwnSlot) {
  Sides sides(Options({"--test=write_bw", "-q", "2", "-t", "16", "-n", "200", "--verify"}), 1024);
  sides.SetUpAndConnect();
  EXPECT_EQ(BufferBytes(sides.client), std::vector<uint64_t>(2, 16 * 1024));
  EXPECT_EQ(BufferBytes(sides.server), std::vector<uint64_t>(2, 200 * 1024))
      << "every message its own target, to be checked at the end";
  sides.Run();
  EXPECT_EQ(sides.client.messages_completed(), 400u);
  EXPECT_EQ(sides.server.bytes_verified(), 400u * 1024);
  EXPECT_EQ(sides.server.data_errors(), 0u);
}

}  // namespace
}  // namespace tern::perf
