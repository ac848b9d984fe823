#include "tools/tcp_rr_options.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::tcp_rr {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<TcpRrOptions> Parse(std::vector<std::string_view> args) {
  return ParseTcpRrOptions(args);
}

// The message of a usage error, or "" when `args` parse.
std::string ErrorOf(std::vector<std::string_view> args) {
  absl::StatusOr<TcpRrOptions> parsed = Parse(args);
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(TcpRrOptionsTest, LoopbackDefaults) {
  absl::StatusOr<TcpRrOptions> o = Parse({"loopback"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, RrMode::kLoopback);
  EXPECT_EQ(o->bind, "127.0.0.1");
  EXPECT_EQ(o->port, 0);
  EXPECT_EQ(o->size, 8u);
  EXPECT_EQ(o->iters, 100'000u);
  EXPECT_EQ(o->warmup, 100u);
  EXPECT_EQ(o->duration_sec, 0);
  EXPECT_EQ(o->timeout_sec, 10);
  EXPECT_FALSE(o->busy_poll);
  EXPECT_TRUE(o->pin);
  EXPECT_FALSE(o->cpu_server.has_value());  // resolved against the allowed CPUs at run time
  EXPECT_FALSE(o->cpu_client.has_value());
}

TEST(TcpRrOptionsTest, ClientFlagsInBothSpellings) {
  absl::StatusOr<TcpRrOptions> o =
      Parse({"client", "--host", "10.77.0.1", "--port=5000", "--size", "64K", "--iters=2000",
             "--warmup", "0", "--timeout", "0.5", "--busy-poll", "--cpu", "3", "--json", "r.json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, RrMode::kClient);
  EXPECT_EQ(o->host, "10.77.0.1");
  EXPECT_EQ(o->port, 5000);
  EXPECT_EQ(o->size, 65536u);
  EXPECT_EQ(o->iters, 2000u);
  EXPECT_EQ(o->warmup, 0u);
  EXPECT_EQ(o->timeout_sec, 0.5);
  EXPECT_TRUE(o->busy_poll);
  EXPECT_EQ(o->cpu_client, 3);
  EXPECT_FALSE(o->cpu_server.has_value());
  EXPECT_EQ(o->json_path, "r.json");
}

TEST(TcpRrOptionsTest, ServerCpuFlagPinsTheServer) {
  absl::StatusOr<TcpRrOptions> o = Parse({"server", "--port", "0", "--cpu", "1", "--forever"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->cpu_server, 1);
  EXPECT_FALSE(o->cpu_client.has_value());
  EXPECT_TRUE(o->forever);
  EXPECT_EQ(o->bind, "0.0.0.0");
}

TEST(TcpRrOptionsTest, LoopbackCpuFlagsPinEachSide) {
  absl::StatusOr<TcpRrOptions> o = Parse({"loopback", "--cpu-server", "1", "--cpu-client", "0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->cpu_server, 1);
  EXPECT_EQ(o->cpu_client, 0);
}

TEST(TcpRrOptionsTest, SizeOfOneMiBIsTheLargestAccepted) {
  EXPECT_EQ(Parse({"loopback", "--size", "1M"})->size, kMaxSize);
  EXPECT_EQ(Parse({"loopback", "--size", "1048576"})->size, kMaxSize);
  EXPECT_EQ(Parse({"loopback", "--size", "1"})->size, 1u);
  EXPECT_THAT(ErrorOf({"loopback", "--size", "1048577"}), HasSubstr("--size: '1048577'"));
  EXPECT_THAT(ErrorOf({"loopback", "--size", "1025K"}), HasSubstr("--size"));
  EXPECT_THAT(ErrorOf({"loopback", "--size", "0"}), HasSubstr("--size: '0'"));
}

TEST(TcpRrOptionsTest, MalformedNumbersAreUsageErrors) {
  EXPECT_THAT(ErrorOf({"loopback", "--iters", "12x"}), HasSubstr("--iters: '12x'"));
  EXPECT_THAT(ErrorOf({"loopback", "--iters", "-5"}), HasSubstr("--iters"));
  EXPECT_THAT(ErrorOf({"loopback", "--iters", ""}), HasSubstr("--iters"));
  EXPECT_THAT(ErrorOf({"loopback", "--iters", "0"}), HasSubstr("--iters"));
  EXPECT_THAT(ErrorOf({"loopback", "--iters", "100000001"}), HasSubstr("--iters"));
  EXPECT_THAT(ErrorOf({"loopback", "--size", "+8"}), HasSubstr("--size"));
  EXPECT_THAT(ErrorOf({"client", "--host", "h", "--port", "0"}), HasSubstr("--port: '0'"));
  EXPECT_THAT(ErrorOf({"client", "--host", "h", "--port", "65536"}), HasSubstr("--port"));
  EXPECT_THAT(ErrorOf({"loopback", "--cpu-server", "1024"}), HasSubstr("--cpu-server"));
}

TEST(TcpRrOptionsTest, SecondsMustBePositiveAndFinite) {
  for (std::string_view bad : {"0", "-1", "inf", "nan", "1e9", "1s", ""}) {
    EXPECT_THAT(ErrorOf({"loopback", "--timeout", bad}), HasSubstr("--timeout")) << bad;
    EXPECT_THAT(ErrorOf({"loopback", "--duration", bad}), HasSubstr("--duration")) << bad;
  }
  EXPECT_EQ(Parse({"loopback", "--duration", ".25"})->duration_sec, 0.25);
}

TEST(TcpRrOptionsTest, DurationAloneLiftsTheIterationCount) {
  EXPECT_EQ(Parse({"loopback", "--duration", "2"})->iters, kMaxIters);
  EXPECT_EQ(Parse({"loopback", "--duration", "2", "--iters", "50"})->iters, 50u);
}

TEST(TcpRrOptionsTest, ClientNeedsHostAndPort) {
  EXPECT_THAT(ErrorOf({"client", "--port", "5000"}), HasSubstr("--host: required"));
  EXPECT_THAT(ErrorOf({"client", "--host", "h"}), HasSubstr("--port: required"));
  EXPECT_THAT(ErrorOf({"client", "--host", "", "--port", "1"}), HasSubstr("--host"));
}

TEST(TcpRrOptionsTest, ServerNeedsPort) {
  EXPECT_THAT(ErrorOf({"server"}), HasSubstr("--port: required"));
}

TEST(TcpRrOptionsTest, UnknownFlagIsRejected) {
  EXPECT_THAT(ErrorOf({"loopback", "--bogus"}), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(ErrorOf({"loopback", "--bogus=1"}), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(ErrorOf({"loopback", "-s", "8"}), HasSubstr("unexpected argument '-s'"));
  EXPECT_THAT(ErrorOf({"loopback", "extra"}), HasSubstr("unexpected argument 'extra'"));
}

TEST(TcpRrOptionsTest, FlagOfAnotherModeIsRejected) {
  EXPECT_THAT(ErrorOf({"loopback", "--host", "h"}), HasSubstr("--host: not a flag of loopback"));
  EXPECT_THAT(ErrorOf({"server", "--port", "1", "--size", "8"}),
              HasSubstr("--size: not a flag of server"));
  EXPECT_THAT(ErrorOf({"client", "--host", "h", "--port", "1", "--forever"}),
              HasSubstr("--forever: not a flag of client"));
  EXPECT_THAT(ErrorOf({"loopback", "--cpu", "1"}), HasSubstr("--cpu: not a flag of loopback"));
}

TEST(TcpRrOptionsTest, ValueFlagWithoutValueIsRejected) {
  EXPECT_THAT(ErrorOf({"loopback", "--iters"}), HasSubstr("--iters: needs a value"));
}

TEST(TcpRrOptionsTest, SwitchWithValueIsRejected) {
  EXPECT_THAT(ErrorOf({"loopback", "--busy-poll=1"}), HasSubstr("--busy-poll: takes no value"));
}

TEST(TcpRrOptionsTest, MissingOrUnknownModeIsRejected) {
  EXPECT_THAT(ErrorOf({}), HasSubstr("missing mode"));
  EXPECT_THAT(ErrorOf({"--iters", "5"}), HasSubstr("unknown mode '--iters'"));
  EXPECT_THAT(ErrorOf({"pingpong"}), HasSubstr("unknown mode 'pingpong'"));
}

TEST(TcpRrOptionsTest, NoPinConflictsWithACpu) {
  EXPECT_THAT(ErrorOf({"loopback", "--no-pin", "--cpu-client", "1"}), HasSubstr("--no-pin"));
  EXPECT_FALSE(Parse({"loopback", "--no-pin"})->pin);
}

TEST(TcpRrOptionsTest, LoopbackSidesOnOneCpuIsRejected) {
  EXPECT_THAT(ErrorOf({"loopback", "--cpu-server", "1", "--cpu-client", "1"}),
              HasSubstr("--cpu-client: same CPU"));
}

TEST(TcpRrOptionsTest, HelpSkipsEveryOtherCheck) {
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"client", "--help"})->help);  // no --host: still help
  EXPECT_TRUE(Parse({"server", "-h"})->help);
}

TEST(TcpRrOptionsTest, UsageNamesEveryMode) {
  const std::string usage = TcpRrUsage();
  EXPECT_THAT(usage, HasSubstr("tern-tcp-rr server"));
  EXPECT_THAT(usage, HasSubstr("tern-tcp-rr client"));
  EXPECT_THAT(usage, HasSubstr("tern-tcp-rr loopback"));
  EXPECT_THAT(usage, HasSubstr("1..1048576"));
}

}  // namespace
}  // namespace tern::tcp_rr
