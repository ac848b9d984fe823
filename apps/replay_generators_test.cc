#include "apps/replay_generators.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::replay {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The project's shared real inputs (../shared/data beside the checkout; meson
// passes TERN_SHARED_DATA). Tests that read them skip where they are absent.
std::string SharedData(const char* relative) {
  const char* root = std::getenv("TERN_SHARED_DATA");
  return absl::StrCat(root != nullptr ? root : "/work/shared/data", "/", relative);
}
// The web-search CDF that ships in apps/workloads (the points of the shared
// flowsize/websearch.cdf, with comments), so the tests of `load` run on any
// checkout; meson passes TERN_WORKLOADS_DIR.
std::string InTreeWorkload(const char* name) {
  const char* dir = std::getenv("TERN_WORKLOADS_DIR");
  return absl::StrCat(dir != nullptr ? dir : "apps/workloads", "/", name);
}
const std::string kWebsearchCdf = InTreeWorkload("websearch.cdf");
const std::string kChakraAllReduce = SharedData("chakra/all_reduce_8npus_1MB");
#define SKIP_WITHOUT(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no shared input at " << (path)

WorkloadEnvironment Env(uint32_t hosts, uint64_t seed = 1) {
  WorkloadEnvironment env;
  env.hosts = hosts;
  env.host_rate = Bandwidth::Gbps(100);
  env.seed = seed;
  return env;
}

Workload MustMake(std::string_view spec, const WorkloadEnvironment& env) {
  absl::StatusOr<Workload> workload = MakeWorkload(spec, env);
  EXPECT_TRUE(workload.ok()) << spec << ": " << workload.status();
  return workload.ok() ? *std::move(workload) : Workload{};
}

// The message of an InvalidArgument error, which `spec` must produce.
std::string ErrorOf(std::string_view spec, const WorkloadEnvironment& env) {
  absl::StatusOr<Workload> workload = MakeWorkload(spec, env);
  EXPECT_FALSE(workload.ok()) << spec;
  if (workload.ok()) return "";
  EXPECT_EQ(workload.status().code(), absl::StatusCode::kInvalidArgument) << spec;
  const auto message = workload.status().message();
  return std::string(message.data(), message.size());
}

std::string WriteTempFile(const std::string& name, std::string_view text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  EXPECT_NE(file, nullptr) << path;
  if (file == nullptr) return path;
  std::fwrite(text.data(), 1, text.size(), file);
  std::fclose(file);
  return path;
}

std::vector<uint32_t> Sources(const Workload& w) {
  std::vector<uint32_t> sources;
  for (const Step& step : w.steps) sources.push_back(step.src);
  return sources;
}

std::vector<int64_t> StartsPs(const Workload& w) {
  std::vector<int64_t> starts;
  for (const Step& step : w.steps) starts.push_back(step.not_before.picoseconds());
  return starts;
}

// Bytes each (src, dst) pair carries over the whole workload.
std::map<std::pair<uint32_t, uint32_t>, uint64_t> BytesPerPair(const Workload& w) {
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> bytes;
  for (const Step& step : w.steps) {
    if (step.kind == StepKind::kTransfer) bytes[{step.src, step.dst}] += step.bytes;
  }
  return bytes;
}

// ---- spec syntax ----

TEST(MakeWorkloadTest, UnknownNameListsTheValidOnes) {
  EXPECT_EQ(ErrorOf("ring", Env(8)),
            "unknown workload 'ring' (valid: incast, permutation, alltoall, allreduce, load, "
            "flows:FILE, chakra:DIR)");
}

TEST(MakeWorkloadTest, UnknownKeyListsTheValidKeys) {
  EXPECT_EQ(ErrorOf("incast:fanin=4", Env(8)),
            "incast: unknown key 'fanin' (valid: senders, size, receiver, jitter)");
  EXPECT_EQ(ErrorOf("permutation:hosts=4", Env(8)),
            "permutation: unknown key 'hosts' (valid: size)");
}

TEST(MakeWorkloadTest, MalformedAndRepeatedKeysAreRefused) {
  EXPECT_EQ(ErrorOf("incast:size", Env(8)), "incast: 'size' is not key=value");
  EXPECT_EQ(ErrorOf("incast:size=", Env(8)), "incast: 'size=' is not key=value");
  EXPECT_EQ(ErrorOf("incast:size=1KB,,senders=2", Env(8)), "incast: '' is not key=value");
  EXPECT_EQ(ErrorOf("incast:size=1KB,size=2KB", Env(8)), "incast: key 'size' given twice");
}

TEST(MakeWorkloadTest, FabricOfOneHostIsRefused) {
  EXPECT_EQ(ErrorOf("permutation", Env(1)),
            "permutation: the fabric has 1 hosts; a workload needs at least 2");
}

TEST(MakeWorkloadTest, SizesTakeDecimalAndBinarySuffixes) {
  const auto bytes_of = [](std::string_view size) {
    const Workload w = MustMake(absl::StrFormat("incast:senders=1,size=%s", size), Env(2));
    return w.steps.empty() ? 0 : w.steps[0].bytes;
  };
  EXPECT_EQ(bytes_of("1000"), 1000u);
  EXPECT_EQ(bytes_of("64B"), 64u);
  EXPECT_EQ(bytes_of("3KB"), 3000u);
  EXPECT_EQ(bytes_of("1.5MB"), 1'500'000u);
  EXPECT_EQ(bytes_of("2GB"), 2'000'000'000u);
  EXPECT_EQ(bytes_of("64KiB"), 65536u);
  EXPECT_EQ(bytes_of("1.5KiB"), 1536u);
  EXPECT_EQ(bytes_of("2MiB"), 2u << 20);
  EXPECT_EQ(bytes_of("1GiB"), 1u << 30);
  EXPECT_EQ(bytes_of("4kb"), 4000u);
}

TEST(MakeWorkloadTest, BadSizesAreRefusedWithTheReason) {
  EXPECT_EQ(ErrorOf("incast:size=2M", Env(4)),
            "incast: size=2M: ambiguous suffix 'M'; write MB (10^3 steps) or MiB (2^10 steps)");
  EXPECT_EQ(ErrorOf("incast:size=lots", Env(4)),
            "incast: size=lots: not a size (bytes, or with KB, MB, GB, KiB, MiB, GiB: 2MB, "
            "64KiB, 1000)");
  EXPECT_EQ(ErrorOf("incast:size=-5", Env(4)),
            "incast: size=-5: not a size (bytes, or with KB, MB, GB, KiB, MiB, GiB: 2MB, "
            "64KiB, 1000)");
  EXPECT_EQ(ErrorOf("incast:size=1.5", Env(4)), "incast: size=1.5: not a whole number of bytes");
  EXPECT_EQ(ErrorOf("incast:size=0", Env(4)), "incast: size=0: a transfer must carry bytes");
  EXPECT_EQ(ErrorOf("incast:size=2000GB", Env(4)), "incast: size=2000GB: 1 TiB or more");
}

// ---- incast ----

TEST(IncastTest, DefaultsAreEightSendersOfTwoMegabytesSpreadOverTheFabric) {
  const Workload w = MustMake("incast", Env(16));
  EXPECT_EQ(w.description, "incast");
  EXPECT_EQ(w.hosts, 16u);
  // Sender i is the (1 + i*15/8)-th host after the receiver.
  EXPECT_THAT(Sources(w), ElementsAre(1, 2, 4, 6, 8, 10, 12, 14));
  for (const Step& step : w.steps) {
    EXPECT_EQ(step.kind, StepKind::kTransfer);
    EXPECT_EQ(step.dst, 0u);
    EXPECT_EQ(step.bytes, 2'000'000u);
    EXPECT_EQ(step.not_before, Time::Zero());
    EXPECT_TRUE(step.deps.empty());
    EXPECT_EQ(step.label, "incast");
  }
}

TEST(IncastTest, SmallFabricDefaultsToEveryOtherHost) {
  const Workload w = MustMake("incast", Env(4));
  EXPECT_THAT(Sources(w), ElementsAre(1, 2, 3));
}

TEST(IncastTest, AllSendersToAnotherReceiverSkipItAndWrapRound) {
  const Workload w = MustMake("incast:receiver=5,senders=7,size=1KB", Env(8));
  EXPECT_THAT(Sources(w), ElementsAre(6, 7, 0, 1, 2, 3, 4));
  for (const Step& step : w.steps) {
    EXPECT_EQ(step.dst, 5u);
    EXPECT_EQ(step.bytes, 1000u);
  }
}

TEST(IncastTest, JitterSpreadsStartsInItsWindowDeterministically) {
  const Workload a = MustMake("incast:senders=15,jitter=10", Env(16, 7));
  const Workload b = MustMake("incast:senders=15,jitter=10", Env(16, 7));
  const Workload c = MustMake("incast:senders=15,jitter=10", Env(16, 8));
  ASSERT_EQ(a.steps.size(), 15u);
  EXPECT_EQ(StartsPs(a), StartsPs(b));
  EXPECT_NE(StartsPs(a), StartsPs(c));
  const std::vector<int64_t> starts = StartsPs(a);
  EXPECT_THAT(starts, Each(AllOf(::testing::Ge(0), ::testing::Lt(10'000'000))));  // 10 us
  EXPECT_GT(std::set<int64_t>(starts.begin(), starts.end()).size(), 10u);
}

TEST(IncastTest, JitterTakesDurationSuffixes) {
  const Workload w = MustMake("incast:senders=15,jitter=50ns", Env(16));
  EXPECT_THAT(StartsPs(w), Each(::testing::Lt(50'000)));
  EXPECT_THAT(StartsPs(MustMake("incast:senders=15,jitter=2ms", Env(16))),
              Each(::testing::Lt(2'000'000'000)));
  EXPECT_THAT(StartsPs(MustMake("incast:senders=15,jitter=0.5s", Env(16))),
              Each(::testing::Lt(500'000'000'000)));
}

TEST(IncastTest, BadValuesAreRefused) {
  EXPECT_EQ(ErrorOf("incast:receiver=8", Env(8)),
            "incast: receiver=8: not a whole number from 0 to 7");
  EXPECT_EQ(ErrorOf("incast:senders=0", Env(8)),
            "incast: senders=0: not a whole number from 1 to 7");
  EXPECT_EQ(ErrorOf("incast:senders=8", Env(8)),
            "incast: senders=8: not a whole number from 1 to 7");
  EXPECT_EQ(ErrorOf("incast:jitter=soon", Env(8)),
            "incast: jitter=soon: not a duration (microseconds, or with ns, us, ms, s: 50, 2.5ms)");
  EXPECT_EQ(ErrorOf("incast:jitter=2h", Env(8)),
            "incast: jitter=2h: not a duration (microseconds, or with ns, us, ms, s: 50, 2.5ms)");
  EXPECT_EQ(ErrorOf("incast:jitter=100000s", Env(8)), "incast: jitter=100000s: more than a day");
}

// ---- permutation ----

TEST(PermutationTest, EveryHostSendsOnceAndReceivesOnceButNotFromItself) {
  for (uint32_t hosts : {2u, 3u, 16u, 101u}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(absl::StrFormat("hosts=%d seed=%d", hosts, seed));
      const Workload w = MustMake("permutation", Env(hosts, seed));
      EXPECT_EQ(w.hosts, hosts);
      ASSERT_EQ(w.steps.size(), hosts);
      std::set<uint32_t> receivers;
      for (uint32_t i = 0; i < hosts; ++i) {
        EXPECT_EQ(w.steps[i].src, i);
        EXPECT_NE(w.steps[i].dst, i);
        EXPECT_EQ(w.steps[i].bytes, 2'000'000u);
        receivers.insert(w.steps[i].dst);
      }
      EXPECT_EQ(receivers.size(), hosts);
    }
  }
}

TEST(PermutationTest, SameSeedSamePermutationOtherSeedAnother) {
  const auto destinations = [](uint64_t seed) {
    std::vector<uint32_t> to;
    for (const Step& step : MustMake("permutation:size=1KB", Env(32, seed)).steps) {
      to.push_back(step.dst);
    }
    return to;
  };
  EXPECT_EQ(destinations(5), destinations(5));
  EXPECT_NE(destinations(5), destinations(6));
}

// ---- alltoall ----

TEST(AlltoallTest, EveryPairOfTheChosenHostsCarriesSize) {
  const Workload w = MustMake("alltoall:size=1000,hosts=4", Env(8));
  EXPECT_EQ(w.hosts, 4u);
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].operation, "alltoall");
  EXPECT_EQ(w.collectives[0].ranks, 4u);
  EXPECT_EQ(w.collectives[0].bytes, 4000u);  // per rank, its own share included
  const auto pairs = BytesPerPair(w);
  EXPECT_EQ(pairs.size(), 12u);
  for (const auto& [pair, bytes] : pairs) {
    EXPECT_NE(pair.first, pair.second);
    EXPECT_LT(std::max(pair.first, pair.second), 4u);
    EXPECT_EQ(bytes, 1000u) << pair.first << "->" << pair.second;
  }
}

TEST(AlltoallTest, DefaultsToEveryHost) {
  const Workload w = MustMake("alltoall", Env(5));
  EXPECT_EQ(w.hosts, 5u);
  EXPECT_EQ(BytesPerPair(w).size(), 20u);
}

TEST(AlltoallTest, HostsBeyondTheFabricAreRefused) {
  EXPECT_EQ(ErrorOf("alltoall:hosts=9", Env(8)), "alltoall: hosts=9: the fabric has only 8 hosts");
  EXPECT_EQ(ErrorOf("alltoall:hosts=1", Env(8)),
            "alltoall: hosts=1: not a whole number of at least 2");
}

// ---- combined workloads ----

TEST(MakeWorkloadTest, PlusRunsWorkloadsSideBySide) {
  const Workload incast = MustMake("incast:senders=3,size=1000", Env(8));
  const Workload allreduce = MustMake("allreduce:size=8000,hosts=4", Env(8));
  const Workload both = MustMake("incast:senders=3,size=1000+allreduce:size=8000,hosts=4", Env(8));
  ASSERT_EQ(both.steps.size(), incast.steps.size() + allreduce.steps.size());
  ASSERT_EQ(both.collectives.size(), 1u);
  EXPECT_EQ(both.hosts, std::max(incast.hosts, allreduce.hosts));
  const auto base = static_cast<uint32_t>(incast.steps.size());
  for (size_t i = 0; i < allreduce.steps.size(); ++i) {
    const Step& original = allreduce.steps[i];
    const Step& moved = both.steps[base + i];
    EXPECT_EQ(moved.src, original.src);
    EXPECT_EQ(moved.bytes, original.bytes);
    EXPECT_EQ(moved.not_before, original.not_before);
    EXPECT_EQ(moved.collective, original.collective);  // the first collective stays index 0
    ASSERT_EQ(moved.deps.size(), original.deps.size());
    for (size_t d = 0; d < moved.deps.size(); ++d)
      EXPECT_EQ(moved.deps[d], original.deps[d] + base);
  }
  EXPECT_TRUE(ValidateWorkload(both).ok());
}

TEST(MakeWorkloadTest, PlusShiftsCollectivesOfLaterParts) {
  const Workload both = MustMake("allreduce:size=8000,hosts=4+allreduce:size=4000,hosts=8", Env(8));
  ASSERT_EQ(both.collectives.size(), 2u);
  EXPECT_EQ(both.collectives[1].ranks, 8u);
  EXPECT_EQ(both.steps.back().collective, 1);
}

TEST(MakeWorkloadTest, PlusRefusesEmptyAndBadParts) {
  EXPECT_THAT(ErrorOf("incast+", Env(8)), HasSubstr("empty part"));
  EXPECT_THAT(ErrorOf("+incast", Env(8)), HasSubstr("empty part"));
  EXPECT_THAT(ErrorOf("incast+ring", Env(8)), HasSubstr("unknown workload 'ring'"));
}

// ---- allreduce ----

TEST(AllreduceTest, RingOverTheChosenHosts) {
  const Workload w = MustMake("allreduce:size=8000,hosts=4", Env(8));
  EXPECT_EQ(w.hosts, 4u);
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].operation, "allreduce");
  EXPECT_EQ(w.collectives[0].algorithm, "ring");
  EXPECT_EQ(w.collectives[0].bytes, 8000u);
  EXPECT_EQ(w.collectives[0].ranks, 4u);
  // A ring all-reduce sends 2(n-1)/n of the buffer from every rank.
  std::map<uint32_t, uint64_t> sent;
  for (const Step& step : w.steps) {
    if (step.kind == StepKind::kTransfer) sent[step.src] += step.bytes;
    EXPECT_EQ(step.collective, 0);
  }
  EXPECT_THAT(sent, ElementsAre(std::pair<const uint32_t, uint64_t>(0, 12000),
                                std::pair<const uint32_t, uint64_t>(1, 12000),
                                std::pair<const uint32_t, uint64_t>(2, 12000),
                                std::pair<const uint32_t, uint64_t>(3, 12000)));
}

TEST(AllreduceTest, RecursiveDoublingNeedsAPowerOfTwo) {
  const Workload w = MustMake("allreduce:algorithm=recursive_doubling", Env(8));
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].algorithm, "recursive_doubling");
  EXPECT_EQ(w.collectives[0].ranks, 8u);
  EXPECT_EQ(ErrorOf("allreduce:algorithm=recursive_doubling,hosts=6", Env(8)),
            "allreduce: recursive_doubling needs a power-of-two number of hosts, not 6 (set "
            "hosts=)");
  EXPECT_EQ(ErrorOf("allreduce:algorithm=tree", Env(8)),
            "allreduce: algorithm=tree: valid: ring, recursive_doubling");
}

// ---- load ----

TEST(FlowSizeCdfTest, MeanIsThePiecewiseLinearIntegral) {
  absl::StatusOr<FlowSizeCdf> uniform = ParseFlowSizeCdf("0 0\n100 100\n", "u.cdf");
  ASSERT_TRUE(uniform.ok()) << uniform.status();
  EXPECT_DOUBLE_EQ(uniform->Mean(), 50);
  // Half the flows exactly 10 bytes, half uniform in [10, 20].
  absl::StatusOr<FlowSizeCdf> step = ParseFlowSizeCdf("10 50\n20 100\n", "s.cdf");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_DOUBLE_EQ(step->Mean(), 12.5);
  absl::StatusOr<FlowSizeCdf> websearch = LoadFlowSizeCdf(kWebsearchCdf);
  ASSERT_TRUE(websearch.ok()) << websearch.status();
  EXPECT_DOUBLE_EQ(websearch->Mean(), 1'711'250);  // worked out by hand from the file
}

TEST(FlowSizeCdfTest, SamplesFollowTheCdf) {
  absl::StatusOr<FlowSizeCdf> cdf =
      ParseFlowSizeCdf("# comment\n\n10 50\n20 50\n30 100\n", "c.cdf");
  ASSERT_TRUE(cdf.ok()) << cdf.status();
  Random random(3);
  int tens = 0;
  int in_gap = 0;  // strictly between 10 and 20: probability zero
  for (int i = 0; i < 10000; ++i) {
    const uint64_t size = cdf->Sample(random);
    tens += size == 10;
    in_gap += size > 10 && size < 20;
    EXPECT_LE(size, 30u);
  }
  EXPECT_NEAR(tens, 5000, 250);
  EXPECT_EQ(in_gap, 0);
}

TEST(FlowSizeCdfTest, WebsearchSampleMeanMatchesMean) {
  absl::StatusOr<FlowSizeCdf> cdf = LoadFlowSizeCdf(kWebsearchCdf);
  ASSERT_TRUE(cdf.ok()) << cdf.status();
  Random random(11);
  double total = 0;
  constexpr int kSamples = 200'000;
  for (int i = 0; i < kSamples; ++i) total += static_cast<double>(cdf->Sample(random));
  // The sample mean's relative standard deviation is about 0.6% here.
  EXPECT_NEAR(total / kSamples / cdf->Mean(), 1.0, 0.02);
}

// Seeded damage to a valid CDF: each result is a CDF whose samples stay within
// its sizes, or an InvalidArgument naming the file. Seeds 1 to 500; the
// failing seed and input are printed.
TEST(FlowSizeCdfTest, DamagedFilesParseOrAreRefusedNamingTheFile) {
  const std::string valid = "# size percent\n0 0\n1000 20\n10000 50.5\n100000 90\n1000000 100\n";
  int parsed = 0;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    Random rng(seed);
    const std::string text = testing::MutateBytes(valid, rng);
    SCOPED_TRACE(::testing::Message()
                 << "seed=" << seed << " input=\"" << absl::CEscape(text) << "\"");
    const absl::StatusOr<FlowSizeCdf> cdf = ParseFlowSizeCdf(text, "x.cdf");
    if (cdf.ok()) {
      ++parsed;
      EXPECT_GT(cdf->Mean(), 0);
      for (int i = 0; i < 100; ++i) EXPECT_GT(cdf->Sample(rng), 0u);
      continue;
    }
    EXPECT_EQ(cdf.status().code(), absl::StatusCode::kInvalidArgument) << cdf.status();
    EXPECT_THAT(std::string(cdf.status().message()), StartsWith("x.cdf:"));
  }
  EXPECT_GT(parsed, 20) << "some damage leaves a valid file: the accept path runs too";
}

TEST(FlowSizeCdfTest, BadFilesAreRefusedWithFileAndLine) {
  const auto error = [](std::string_view text) {
    absl::StatusOr<FlowSizeCdf> cdf = ParseFlowSizeCdf(text, "x.cdf");
    EXPECT_FALSE(cdf.ok());
    return cdf.ok() ? std::string() : std::string(cdf.status().message());
  };
  EXPECT_EQ(error("0 0\n10\n"), "x.cdf:2: expected 'BYTES CUMULATIVE_PERCENT'");
  EXPECT_EQ(error("0 0\nten 100\n"), "x.cdf:2: size 'ten' is not a number of bytes");
  EXPECT_EQ(error("0 0\n10 -5\n"), "x.cdf:2: '-5' is not a percent from 0 to 100");
  EXPECT_EQ(error("0 0\n10 101\n"), "x.cdf:2: '101' is not a percent from 0 to 100");
  EXPECT_EQ(error("0 0\n1099511627776 100\n"), "x.cdf:2: size 1099511627776 is 1 TiB or more");
  EXPECT_EQ(error("0 0\n1000000000000000000000000000000 100\n"),
            "x.cdf:2: size 1000000000000000000000000000000 is 1 TiB or more");
  EXPECT_EQ(error("0 0\n10 50\n5 100\n"),
            "x.cdf:3: size 5 is below the previous point's; sizes must ascend");
  EXPECT_EQ(error("0 0\n10 50\n20 40\n30 100\n"),
            "x.cdf:3: percent 40 is below the previous point's; a CDF never falls");
  EXPECT_EQ(error("0 0\n10 50\n20 99.5\n\n"),
            "x.cdf:3: the last point is at 99.5%; a CDF ends at 100");
  EXPECT_EQ(error("# nothing\n"), "x.cdf:1: no points (expected lines 'BYTES CUMULATIVE_PERCENT')");
  EXPECT_EQ(error("0 0\n0 100\n"), "x.cdf:2: every flow would be 0 bytes");
  absl::StatusOr<FlowSizeCdf> missing = LoadFlowSizeCdf("/nonexistent/x.cdf");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              StartsWith("/nonexistent/x.cdf: cannot open: "));
}

TEST(LoadTest, OfferedBytesMatchTheTargetLoad) {
  // 2 s at 100 Gb/s and load 0.5: about 7300 websearch flows per host, so the
  // offered bytes' relative standard deviation is about 3% per host and 1%
  // over the eight.
  const std::string spec = absl::StrFormat("load:cdf=%s,load=0.5,duration=2s", kWebsearchCdf);
  const Workload w = MustMake(spec, Env(8, 42));
  EXPECT_EQ(w.hosts, 8u);
  EXPECT_EQ(w.description, spec);
  std::map<uint32_t, double> offered;
  for (const Step& step : w.steps) offered[step.src] += static_cast<double>(step.bytes);
  const double capacity_per_host = 100e9 / 8 * 2;  // bytes in 2 s
  double total = 0;
  for (const auto& [host, bytes] : offered) {
    EXPECT_NEAR(bytes / capacity_per_host, 0.5, 0.07) << "host " << host;
    total += bytes;
  }
  EXPECT_EQ(offered.size(), 8u);
  EXPECT_NEAR(total / (8 * capacity_per_host), 0.5, 0.015);
}

TEST(LoadTest, FlowsStayInTheWindowBetweenDistinctHostsInTimeOrder) {
  const std::string spec =
      absl::StrFormat("load:cdf=%s,load=0.8,duration=10ms,hosts=4", kWebsearchCdf);
  const Workload w = MustMake(spec, Env(6));
  EXPECT_EQ(w.hosts, 4u);
  ASSERT_FALSE(w.steps.empty());
  std::set<uint32_t> destinations;
  for (size_t i = 0; i < w.steps.size(); ++i) {
    const Step& step = w.steps[i];
    EXPECT_LT(step.src, 4u);
    EXPECT_LT(step.dst, 4u);
    EXPECT_NE(step.src, step.dst);
    EXPECT_GE(step.bytes, 1u);
    EXPECT_GE(step.not_before, Time::Zero());
    EXPECT_LT(step.not_before, Time::FromPicoseconds(10'000'000'000));
    EXPECT_EQ(step.label, "load");
    if (i > 0) {
      EXPECT_LE(w.steps[i - 1].not_before, step.not_before);
    }
    destinations.insert(step.dst);
  }
  EXPECT_EQ(destinations.size(), 4u);
}

TEST(LoadTest, SameSeedSameFlowsOtherSeedOthers) {
  const std::string spec = absl::StrFormat("load:cdf=%s,load=0.3", kWebsearchCdf);
  const auto flows_for_seed = [&](uint64_t seed) {
    std::vector<std::pair<int64_t, uint64_t>> flows;
    for (const Step& step : MustMake(spec, Env(8, seed)).steps) {
      flows.emplace_back(step.not_before.picoseconds(), step.bytes);
    }
    return flows;
  };
  EXPECT_EQ(flows_for_seed(1), flows_for_seed(1));
  EXPECT_NE(flows_for_seed(1), flows_for_seed(2));
}

TEST(LoadTest, BadSpecsAreRefused) {
  const std::string cdf = kWebsearchCdf;
  EXPECT_EQ(ErrorOf("load:load=0.5", Env(8)), "load: cdf=FILE is required");
  EXPECT_EQ(ErrorOf("load:cdf=" + cdf, Env(8)), "load: load=F (0 < F <= 1) is required");
  EXPECT_EQ(ErrorOf("load:cdf=" + cdf + ",load=0", Env(8)),
            "load: load=0: not a fraction in (0, 1]");
  EXPECT_EQ(ErrorOf("load:cdf=" + cdf + ",load=1.5", Env(8)),
            "load: load=1.5: not a fraction in (0, 1]");
  EXPECT_EQ(ErrorOf("load:cdf=" + cdf + ",load=0.5,duration=0", Env(8)),
            "load: duration=0: must be more than zero");
  EXPECT_THAT(ErrorOf("load:cdf=" + cdf + ",load=1,duration=1000s", Env(8)),
              AllOf(StartsWith("load: would generate about "),
                    HasSubstr("shorten duration or use fewer hosts")));
  WorkloadEnvironment unlimited = Env(8);
  unlimited.host_rate = Bandwidth::Unlimited();
  EXPECT_EQ(ErrorOf("load:cdf=" + cdf + ",load=0.5", unlimited),
            "load: needs the hosts' link rate to turn a load into flow arrivals");
  const std::string bad_cdf = WriteTempFile("bad.cdf", "0 0\n10 50\n");
  EXPECT_EQ(ErrorOf("load:cdf=" + bad_cdf + ",load=0.5", Env(8)),
            bad_cdf + ":2: the last point is at 50%; a CDF ends at 100");
}

// ---- files ----

TEST(FileWorkloadTest, FlowsFileIsLoadedAndChecked) {
  const std::string path =
      WriteTempFile("six.cm", "Nodes 6\n0->5 id 1 start 0 size 100\n5->0 id 2 start 0 size 100\n");
  const Workload w = MustMake("flows:" + path, Env(6));
  EXPECT_EQ(w.description, "flows:" + path);
  EXPECT_EQ(w.steps.size(), 2u);
  EXPECT_EQ(ErrorOf("flows:" + path, Env(4)), "flows:" + path + " needs 6 hosts; the fabric has 4");
  EXPECT_EQ(ErrorOf("flows:", Env(4)), "flows needs a file: flows:FILE");
  EXPECT_THAT(ErrorOf("flows:/nonexistent/f.txt", Env(4)),
              StartsWith("/nonexistent/f.txt: cannot open: "));
}

TEST(FileWorkloadTest, ChakraTraceMustFitTheFabric) {
  SKIP_WITHOUT(kChakraAllReduce);
  EXPECT_EQ(ErrorOf("chakra:", Env(4)), "chakra needs a directory: chakra:DIR");
  EXPECT_EQ(ErrorOf(absl::StrFormat("chakra:%s", kChakraAllReduce), Env(4)),
            absl::StrFormat("chakra:%s needs 8 hosts; the fabric has 4", kChakraAllReduce));
  const Workload w = MustMake(absl::StrFormat("chakra:%s", kChakraAllReduce), Env(8));
  EXPECT_EQ(w.hosts, 8u);
  EXPECT_FALSE(w.steps.empty());
}

// ---- help ----

TEST(DescribeWorkloadSpecsTest, NamesEveryFormAndKey) {
  const std::string help = DescribeWorkloadSpecs();
  for (std::string_view form :
       {"incast[:senders=N,size=B,receiver=R,jitter=T]", "permutation[:size=B]",
        "alltoall[:size=B,hosts=N]", "allreduce[:size=B,algorithm=A,hosts=N]",
        "load:cdf=FILE,load=F[,duration=T,hosts=N]", "flows:FILE", "chakra:DIR", "KiB", "ns"}) {
    EXPECT_THAT(help, HasSubstr(form));
  }
  EXPECT_THAT(help, Not(HasSubstr("\n\n")));
}

}  // namespace
}  // namespace tern::replay
