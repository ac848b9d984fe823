#include "apps/replay_workload.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

Step Transfer(uint32_t src, uint32_t dst, uint64_t bytes, std::vector<uint32_t> deps = {}) {
  Step step;
  step.kind = StepKind::kTransfer;
  step.src = src;
  step.dst = dst;
  step.bytes = bytes;
  step.deps = std::move(deps);
  step.label = absl::StrCat("t", src, "->", dst);
  return step;
}

Step Delay(uint32_t host, Duration duration, std::vector<uint32_t> deps = {}) {
  Step step;
  step.kind = StepKind::kDelay;
  step.src = host;
  step.duration = duration;
  step.deps = std::move(deps);
  step.label = absl::StrCat("compute", host);
  return step;
}

// A diamond: 0 fans out to 1 and 2, which join in 3.
Workload Diamond() {
  Workload w;
  w.hosts = 3;
  w.steps.push_back(Delay(0, Duration::Microseconds(5)));
  w.steps.push_back(Transfer(0, 1, 100, {0}));
  w.steps.push_back(Transfer(0, 2, 100, {0}));
  w.steps.push_back(Transfer(1, 2, 100, {1, 2}));
  return w;
}

TEST(ValidateWorkloadTest, AcceptsADag) { EXPECT_TRUE(ValidateWorkload(Diamond()).ok()); }

TEST(ValidateWorkloadTest, AcceptsAnEmptyWorkload) { EXPECT_TRUE(ValidateWorkload({}).ok()); }

TEST(ValidateWorkloadTest, AcceptsADelayWhoseUnusedDestinationIsOutOfRange) {
  Workload w = Diamond();
  w.steps[0].dst = 1000;
  EXPECT_TRUE(ValidateWorkload(w).ok());
}

TEST(ValidateWorkloadTest, AcceptsRepeatedDependencies) {
  Workload w = Diamond();
  w.steps[3].deps = {1, 1, 2, 1};
  EXPECT_TRUE(ValidateWorkload(w).ok());
}

TEST(ValidateWorkloadTest, RejectsASourceHostOutOfRange) {
  Workload w = Diamond();
  w.steps[2].src = 3;
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 2 (t0->2)"));
  EXPECT_THAT(status.message(), HasSubstr("host 3 out of range (3 hosts)"));
}

TEST(ValidateWorkloadTest, RejectsADestinationHostOutOfRange) {
  Workload w = Diamond();
  w.steps[1].dst = 7;
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 1"));
  EXPECT_THAT(status.message(), HasSubstr("destination host 7"));
}

TEST(ValidateWorkloadTest, RejectsATransferToItself) {
  Workload w = Diamond();
  w.steps[3].dst = 1;
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 3"));
  EXPECT_THAT(status.message(), HasSubstr("to itself"));
}

TEST(ValidateWorkloadTest, RejectsAZeroByteTransfer) {
  Workload w = Diamond();
  w.steps[2].bytes = 0;
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 2"));
  EXPECT_THAT(status.message(), HasSubstr("zero bytes"));
}

TEST(ValidateWorkloadTest, RejectsATransferOf1TiBOrMore) {
  Workload w = Diamond();
  w.steps[2].bytes = kMaxTransferBytes - 1;
  EXPECT_TRUE(ValidateWorkload(w).ok());
  w.steps[2].bytes = uint64_t{1} << 62;  // what a corrupt trace can announce
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("step 2 (t0->2): transfer of 4611686018427387904 bytes, 1 TiB or more"));
}

TEST(ValidateWorkloadTest, RejectsANegativeDelay) {
  Workload w = Diamond();
  w.steps[0].duration = Duration::Nanoseconds(-1);
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("negative delay"));
}

TEST(ValidateWorkloadTest, RejectsADependencyOutOfRange) {
  Workload w = Diamond();
  w.steps[1].deps.push_back(4);
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 1"));
  EXPECT_THAT(status.message(), HasSubstr("depends on step 4 of only 4"));
}

TEST(ValidateWorkloadTest, RejectsACollectiveIndexOutOfRange) {
  Workload w = Diamond();
  w.collectives.push_back(
      {.name = "c", .operation = "allreduce", .algorithm = "ring", .bytes = 1, .ranks = 2});
  w.steps[1].collective = 0;
  EXPECT_TRUE(ValidateWorkload(w).ok());
  w.steps[2].collective = 1;
  absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 2"));
  EXPECT_THAT(status.message(), HasSubstr("collective 1 of only 1"));
  w.steps[2].collective = -2;
  status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("collective -2"));
}

TEST(ValidateWorkloadTest, RejectsASelfDependency) {
  Workload w = Diamond();
  w.steps[2].deps.push_back(2);
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 2 (t0->2) is on a dependency cycle"));
}

TEST(ValidateWorkloadTest, CycleErrorNamesAStepOnTheCycleNotOneDownstream) {
  // 1 -> 2 -> 3 -> 1 is the cycle; step 0 and step 4 only wait on it.
  Workload w;
  w.hosts = 2;
  w.steps.push_back(Transfer(0, 1, 1, {2}));
  w.steps.push_back(Transfer(0, 1, 1, {3}));
  w.steps.push_back(Transfer(1, 0, 1, {1}));
  w.steps.push_back(Transfer(0, 1, 1, {2}));
  w.steps.push_back(Transfer(1, 0, 1, {0, 3}));
  for (size_t i = 0; i < w.steps.size(); ++i) w.steps[i].label = absl::StrCat("s", i);
  EXPECT_THAT(FindDependencyCycle(w), AnyOf(std::optional<uint32_t>(1), std::optional<uint32_t>(2),
                                            std::optional<uint32_t>(3)));
  const absl::Status status = ValidateWorkload(w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AnyOf(HasSubstr("step 1 (s1) is on"), HasSubstr("step 2 (s2) is on"),
                    HasSubstr("step 3 (s3) is on")));
}

TEST(ValidateWorkloadTest, HandlesAMillionStepChainAndCycleWithoutRecursion) {
  constexpr uint32_t kSteps = 1'000'000;
  Workload w;
  w.hosts = 2;
  w.steps.reserve(kSteps);
  for (uint32_t i = 0; i < kSteps; ++i) {
    Step step = Delay(i % 2, Duration::Zero());
    if (i > 0) step.deps.push_back(i - 1);
    w.steps.push_back(std::move(step));
  }
  EXPECT_TRUE(ValidateWorkload(w).ok());
  EXPECT_EQ(FindDependencyCycle(w), std::nullopt);
  w.steps[0].deps.push_back(kSteps - 1);  // closes the chain into one long cycle
  EXPECT_NE(FindDependencyCycle(w), std::nullopt);
  EXPECT_THAT(ValidateWorkload(w).message(), HasSubstr("is on a dependency cycle"));
}

TEST(BusBandwidthFactorTest, FollowsNcclTests) {
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("allreduce", 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("allgather", 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("reducescatter", 4), 3.0 / 4);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("alltoall", 2), 0.5);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("broadcast", 8), 1.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("reduce", 8), 1.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("incast", 8), 1.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("allreduce", 1), 0.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor("allreduce", 0), 0.0);
}

}  // namespace
}  // namespace tern::replay

namespace tern::replay {
namespace {

TEST(DependentIndexTest, ListsTheStepsWaitingOnEachStep) {
  Workload w;
  w.hosts = 2;
  w.steps.resize(4);
  w.steps[1].deps = {0};
  w.steps[2].deps = {0, 1};
  w.steps[3].deps = {1};
  const DependentIndex index(w);
  EXPECT_THAT(index.Of(0), ::testing::ElementsAre(1, 2));
  EXPECT_THAT(index.Of(1), ::testing::ElementsAre(2, 3));
  EXPECT_TRUE(index.Of(2).empty());
  EXPECT_TRUE(index.Of(3).empty());
}

}  // namespace
}  // namespace tern::replay
