#include "apps/replay_flow_files.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::replay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

Workload MustParseHtsim(std::string_view text) {
  absl::StatusOr<Workload> workload = ParseHtsimConnectionMatrix(text, "m.cm");
  EXPECT_TRUE(workload.ok()) << workload.status();
  return workload.ok() ? *workload : Workload{};
}

// The message of an error that must be InvalidArgument.
std::string ErrorOf(const absl::StatusOr<Workload>& workload) {
  EXPECT_FALSE(workload.ok());
  if (workload.ok()) return "";
  EXPECT_EQ(workload.status().code(), absl::StatusCode::kInvalidArgument);
  const auto message = workload.status().message();
  return std::string(message.data(), message.size());
}

std::string HtsimError(std::string_view text) {
  return ErrorOf(ParseHtsimConnectionMatrix(text, "m.cm"));
}

std::string HpccError(std::string_view text) { return ErrorOf(ParseHpccFlowFile(text, "f.txt")); }

std::string WriteTempFile(const std::string& name, std::string_view text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  EXPECT_NE(file, nullptr) << path;
  if (file == nullptr) return path;
  std::fwrite(text.data(), 1, text.size(), file);
  std::fclose(file);
  return path;
}

// ---- htsim ----

TEST(HtsimConnectionMatrixTest, TimedFlowsBecomeTransfersWithStartAndLabel) {
  const Workload w = MustParseHtsim(
      "Nodes 4\n"
      "Connections 2\n"
      "0->1 id 7 start 1000 size 5000\n"
      "3->2 size 100 start 2500000.5 id 8\n");
  EXPECT_EQ(w.hosts, 4u);
  EXPECT_EQ(w.description, "m.cm");
  ASSERT_EQ(w.steps.size(), 2u);
  EXPECT_EQ(w.steps[0].kind, StepKind::kTransfer);
  EXPECT_EQ(w.steps[0].src, 0u);
  EXPECT_EQ(w.steps[0].dst, 1u);
  EXPECT_EQ(w.steps[0].bytes, 5000u);
  EXPECT_EQ(w.steps[0].not_before, Time::FromPicoseconds(1000));
  EXPECT_EQ(w.steps[0].label, "htsim:7");
  EXPECT_THAT(w.steps[0].deps, IsEmpty());
  EXPECT_EQ(w.steps[1].src, 3u);
  EXPECT_EQ(w.steps[1].dst, 2u);
  EXPECT_EQ(w.steps[1].not_before, Time::FromPicoseconds(2500001));  // rounded to 1 ps
  EXPECT_EQ(w.steps[1].label, "htsim:8");
}

TEST(HtsimConnectionMatrixTest, WithoutNodesHostsIsLargestIndexPlusOne) {
  const Workload w = MustParseHtsim("0->5 start 0 size 10\n");
  EXPECT_EQ(w.hosts, 6u);
  ASSERT_EQ(w.steps.size(), 1u);
  EXPECT_EQ(w.steps[0].label, "htsim:line 1");
}

TEST(HtsimConnectionMatrixTest, CommentsBlankLinesPrioAndAddonAreAccepted) {
  const Workload w = MustParseHtsim(
      "# generated\n"
      "Nodes 2\n"
      "\n"
      "0->1 id 1 start 0 size 10 prio 3 addon\n"
      "   # indented comment\n"
      "1->0\tid 2  start 0 size 20\r\n");
  ASSERT_EQ(w.steps.size(), 2u);
  EXPECT_EQ(w.steps[1].bytes, 20u);
}

TEST(HtsimConnectionMatrixTest, BarrierWaiterDependsOnEveryFirer) {
  const Workload w = MustParseHtsim(
      "Nodes 4\nConnections 3\nTriggers 1\n"
      "0->1 id 1 start 0 size 10 send_done_trigger 5\n"
      "2->1 id 2 start 0 size 10 recv_done_trigger 5\n"
      "1->3 id 3 trigger 5 size 10\n"
      "trigger id 5 barrier count 2\n");
  ASSERT_EQ(w.steps.size(), 3u);
  EXPECT_THAT(w.steps[0].deps, IsEmpty());
  EXPECT_THAT(w.steps[1].deps, IsEmpty());
  EXPECT_THAT(w.steps[2].deps, ElementsAre(0u, 1u));
  EXPECT_EQ(w.steps[2].not_before, Time::Zero());
}

TEST(HtsimConnectionMatrixTest, BarrierWithoutCountWaitsForAllFirers) {
  const Workload w = MustParseHtsim(
      "0->1 id 1 start 0 size 10 send_done_trigger 1\n"
      "2->1 id 2 start 0 size 10 send_done_trigger 1\n"
      "3->1 id 3 start 0 size 10 send_done_trigger 1\n"
      "1->0 id 4 trigger 1 size 10\n"
      "trigger id 1 barrier\n");
  EXPECT_THAT(w.steps[3].deps, ElementsAre(0u, 1u, 2u));
}

TEST(HtsimConnectionMatrixTest, OneshotWaitersDependOnTheFirstListedFirer) {
  const Workload w = MustParseHtsim(
      "0->1 id 1 start 0 size 10 send_done_trigger 9\n"
      "2->1 id 2 start 0 size 10 send_done_trigger 9\n"
      "1->0 id 3 trigger 9 size 10\n"
      "1->2 id 4 trigger 9 size 10\n"
      "trigger id 9 oneshot\n");
  EXPECT_THAT(w.steps[2].deps, ElementsAre(0u));
  EXPECT_THAT(w.steps[3].deps, ElementsAre(0u));
}

TEST(HtsimConnectionMatrixTest, MultishotStartsTheKthWaiterOnTheKthFirer) {
  const Workload w = MustParseHtsim(
      "0->1 id 1 start 0 size 10 send_done_trigger 2\n"
      "2->1 id 2 start 0 size 10 send_done_trigger 2\n"
      "1->0 id 3 trigger 2 size 10\n"
      "1->2 id 4 trigger 2 size 10\n"
      "trigger id 2 multishot\n");
  EXPECT_THAT(w.steps[2].deps, ElementsAre(0u));
  EXPECT_THAT(w.steps[3].deps, ElementsAre(1u));
}

// The layout htsim's gen_allreduce.py writes: each flow of a ring waits on
// the trigger the previous one fires, trigger lines last.
TEST(HtsimConnectionMatrixTest, TriggerChainBecomesADependencyChain) {
  const Workload w = MustParseHtsim(
      "Nodes 3\nConnections 3\nTriggers 2\n"
      "0->1 id 1 start 0 size 100 send_done_trigger 1\n"
      "1->2 id 2 trigger 1 size 100 send_done_trigger 2\n"
      "2->0 id 3 trigger 2 size 100\n"
      "trigger id 1 oneshot\n"
      "trigger id 2 oneshot\n");
  EXPECT_THAT(w.steps[0].deps, IsEmpty());
  EXPECT_THAT(w.steps[1].deps, ElementsAre(0u));
  EXPECT_THAT(w.steps[2].deps, ElementsAre(1u));
}

TEST(HtsimConnectionMatrixTest, FiringTheSameTriggerOnSendAndReceiveCountsOnce) {
  const Workload w = MustParseHtsim(
      "0->1 id 1 start 0 size 10 send_done_trigger 1 recv_done_trigger 1\n"
      "1->0 id 2 trigger 1 size 10\n"
      "trigger id 1 barrier count 1\n");
  EXPECT_THAT(w.steps[1].deps, ElementsAre(0u));
}

TEST(HtsimConnectionMatrixTest, FlowLineErrorsNameFileAndLine) {
  EXPECT_EQ(HtsimError("Nodes 2\n0->x start 0 size 10\n"), "m.cm:2: host 'x' is not a host index");
  EXPECT_EQ(HtsimError("0->1 start 0 size ten\n"), "m.cm:1: size 'ten' is not a byte count");
  EXPECT_EQ(HtsimError("0->1 start 0 size 0\n"), "m.cm:1: size is 0; a flow must carry bytes");
  EXPECT_EQ(HtsimError("0->1 start 0 size 1099511627776\n"),
            "m.cm:1: size 1099511627776 is 1 TiB or more");
  EXPECT_EQ(HtsimError("0->1 start -5 size 10\n"),
            "m.cm:1: start '-5' is not a non-negative number of picoseconds");
  EXPECT_EQ(HtsimError("0->1 start 1e20 size 10\n"),
            "m.cm:1: start 1e20 is more than a day into the run");
  EXPECT_EQ(HtsimError("0->1 start 0\n"), "m.cm:1: flow has no size");
  EXPECT_EQ(HtsimError("0->1 start 0 size\n"), "m.cm:1: 'size' needs a value");
  EXPECT_EQ(HtsimError("0->1 size 10\n"), "m.cm:1: flow has neither start nor trigger");
  EXPECT_EQ(HtsimError("0->1 start 0 trigger 1 size 10\ntrigger id 1 oneshot\n"),
            "m.cm:1: flow has both start and trigger");
  EXPECT_EQ(HtsimError("3->3 start 0 size 10\n"), "m.cm:1: flow from host 3 to itself");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 colour red\n"),
            "m.cm:1: unknown flow attribute 'colour'");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 size 20\n"), "m.cm:1: 'size' given twice");
  EXPECT_EQ(HtsimError("0->1 id 0 start 0 size 10\n"),
            "m.cm:1: flow id '0' is not a number from 1 to 4294967295");
  EXPECT_EQ(HtsimError("0->1 id 4 start 0 size 10\n\n1->0 id 4 start 0 size 10\n"),
            "m.cm:3: flow id 4 already used on line 1");
  EXPECT_EQ(HtsimError("Nodes 4\n0->4 start 0 size 10\n"),
            "m.cm:2: host 4 is not below Nodes 4 (line 1)");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 trigger 0\n"),
            "m.cm:1: trigger id '0' is not a number from 1 to 4294967295");
}

TEST(HtsimConnectionMatrixTest, HeaderAndStructureErrorsNameFileAndLine) {
  EXPECT_EQ(HtsimError("Nodes four\n"), "m.cm:1: Nodes 'four' is not a count");
  EXPECT_EQ(HtsimError("Nodes 1\n"), "m.cm:1: Nodes 1 is not in 2..1048576");
  EXPECT_EQ(HtsimError("Nodes 4\nNodes 4\n"), "m.cm:2: Nodes given twice (first on line 1)");
  EXPECT_EQ(HtsimError("Connections\n"), "m.cm:1: expected 'Connections COUNT'");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\nNodes 2\n"),
            "m.cm:2: 'Nodes' must come before the first flow or trigger");
  EXPECT_EQ(HtsimError("Nodes 2\nflows 3\n"),
            "m.cm:2: 'flows' is neither a header (Nodes, Connections, Triggers, Failures), a flow "
            "(SRC->DST ...) nor a trigger");
  EXPECT_EQ(HtsimError("Nodes 2\nConnections 0\n\n"),
            "m.cm:3: no flows (expected lines like '0->1 start 0 size 1000')");
  EXPECT_EQ(HtsimError("Nodes 4\nConnections 3\n0->1 start 0 size 10\n1->2 start 0 size 10\n"),
            "m.cm:2: Connections 3, but the file has 2 flows");
  EXPECT_EQ(HtsimError("Triggers 2\n0->1 start 0 size 10 send_done_trigger 1\n"
                       "trigger id 1 oneshot\n"),
            "m.cm:1: Triggers 2, but the file has 1 trigger lines");
  EXPECT_EQ(HtsimError("Failures 1\n0->1 start 0 size 10\n"),
            "m.cm:1: Failures 1, but the file has 0 failure lines");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\nfailure switch_type TOR switch_id 0 link_id 1\n"),
            "m.cm:2: switch failures cannot be replayed; remove the failure lines");
}

TEST(HtsimConnectionMatrixTest, TriggerErrorsNameFileAndLine) {
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\n1->0 trigger 3 size 10\n"),
            "m.cm:2: trigger 3 is used but never defined (no 'trigger id 3 ...' line)");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 send_done_trigger 4\n"),
            "m.cm:1: trigger 4 is used but never defined (no 'trigger id 4 ...' line)");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\n1->0 trigger 3 size 10\ntrigger id 3 oneshot\n"),
            "m.cm:3: trigger 3 starts flows but no flow fires it "
            "(send_done_trigger or recv_done_trigger 3)");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger oneshot\n"), "m.cm:2: trigger has no id");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger id 2\n"),
            "m.cm:2: trigger 2 has no type (oneshot, multishot, barrier)");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger id 2 oneshot barrier\n"),
            "m.cm:2: trigger has two types");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger id 2 oneshot\ntrigger id 2 barrier\n"),
            "m.cm:3: trigger 2 already defined on line 2");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger id 2 oneshot soon\n"),
            "m.cm:2: unknown trigger attribute 'soon'");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10\ntrigger id 2 barrier count\n"),
            "m.cm:2: 'count' needs a value");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 send_done_trigger 1\n1->0 trigger 1 size 10\n"
                       "trigger id 1 barrier count 3\n"),
            "m.cm:3: barrier trigger 1 has count 3 but 1 flows fire it");
  EXPECT_EQ(HtsimError("0->1 start 0 size 10 send_done_trigger 1\n1->0 trigger 1 size 10\n"
                       "1->2 trigger 1 size 10\ntrigger id 1 multishot\n"),
            "m.cm:4: multishot trigger 1 starts one flow per firing: 2 flows wait on it but "
            "only 1 fire it");
}

TEST(HtsimConnectionMatrixTest, TriggerCycleIsRefusedByValidation) {
  const std::string error = HtsimError(
      "0->1 id 1 trigger 1 size 10 send_done_trigger 2\n"
      "1->0 id 2 trigger 2 size 10 send_done_trigger 1\n"
      "trigger id 1 oneshot\ntrigger id 2 oneshot\n");
  EXPECT_THAT(error, StartsWith("m.cm: "));
  EXPECT_THAT(error, HasSubstr("htsim:"));
}

// ---- HPCC ----

TEST(HpccFlowFileTest, FlowsBecomeTransfersWithStartInSeconds) {
  absl::StatusOr<Workload> w = ParseHpccFlowFile(
      "3\n"
      "0 1 3 100 1000 2.5\n"
      "2 0 3 100 5000 0.000001\n"
      "1 2 3 100 7 0\n",
      "f.txt");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->hosts, 3u);
  EXPECT_EQ(w->description, "f.txt");
  ASSERT_EQ(w->steps.size(), 3u);
  EXPECT_EQ(w->steps[0].src, 0u);
  EXPECT_EQ(w->steps[0].dst, 1u);
  EXPECT_EQ(w->steps[0].bytes, 1000u);
  EXPECT_EQ(w->steps[0].not_before, Time::FromPicoseconds(2'500'000'000'000));
  EXPECT_EQ(w->steps[0].label, "hpcc:2");
  EXPECT_EQ(w->steps[1].not_before, Time::FromPicoseconds(1'000'000));
  EXPECT_EQ(w->steps[1].label, "hpcc:3");
  EXPECT_EQ(w->steps[2].bytes, 7u);
  EXPECT_THAT(w->steps[2].deps, IsEmpty());
}

TEST(HpccFlowFileTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(HpccError(""), "f.txt:1: empty flow file");
  EXPECT_EQ(HpccError("two\n0 1 3 100 10 0\n"),
            "f.txt:1: the first line must be the number of flows, alone");
  EXPECT_EQ(HpccError("0\n"), "f.txt:1: no flows");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10 0\n1 0 3 100 10 0\n"),
            "f.txt:3: more flows than the 1 announced on line 1");
  EXPECT_EQ(HpccError("3\n0 1 3 100 10 0\n1 0 3 100 10 0\n"),
            "f.txt:3: line 1 announced 3 flows but the file ends after 2");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10\n"),
            "f.txt:2: expected 'SRC DST PG DPORT SIZE START_SECONDS', got 5 fields");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10 0 extra\n"),
            "f.txt:2: expected 'SRC DST PG DPORT SIZE START_SECONDS', got 7 fields");
  EXPECT_EQ(HpccError("1\n-1 1 3 100 10 0\n"), "f.txt:2: host '-1' is not a host index");
  EXPECT_EQ(HpccError("1\n0 2000000 3 100 10 0\n"),
            "f.txt:2: host 2000000 is beyond the 1048576 hosts a replay supports");
  EXPECT_EQ(HpccError("1\n4 4 3 100 10 0\n"), "f.txt:2: flow from host 4 to itself");
  EXPECT_EQ(HpccError("1\n0 1 x 100 10 0\n"), "f.txt:2: priority group 'x' is not a number");
  EXPECT_EQ(HpccError("1\n0 1 3 70000 10 0\n"),
            "f.txt:2: port '70000' is not a number from 0 to 65535");
  EXPECT_EQ(HpccError("1\n0 1 3 100 0 0\n"), "f.txt:2: size is 0; a flow must carry bytes");
  EXPECT_EQ(HpccError("1\n0 1 3 100 1.5 0\n"), "f.txt:2: size '1.5' is not a byte count");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10 -1\n"),
            "f.txt:2: start '-1' is not a non-negative number of seconds");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10 1e9\n"),
            "f.txt:2: start 1e9 is more than a day into the run");
  EXPECT_EQ(HpccError("1\n0 1 3 100 10 nan\n"),
            "f.txt:2: start 'nan' is not a non-negative number of seconds");
}

// ---- LoadFlowFile ----

TEST(LoadFlowFileTest, DetectsHtsimByItsArrows) {
  const std::string path = WriteTempFile("flows.cm", "Nodes 2\n0->1 id 1 start 0 size 10\n");
  absl::StatusOr<Workload> w = LoadFlowFile(path);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->description, path);
  ASSERT_EQ(w->steps.size(), 1u);
  EXPECT_EQ(w->steps[0].label, "htsim:1");
}

TEST(LoadFlowFileTest, ReadsAnythingElseAsHpcc) {
  const std::string path = WriteTempFile("flow.txt", "1\n1 0 3 100 10 0\n");
  absl::StatusOr<Workload> w = LoadFlowFile(path);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->steps.size(), 1u);
  EXPECT_EQ(w->steps[0].label, "hpcc:2");
}

TEST(LoadFlowFileTest, ErrorsNameThePath) {
  const std::string path = WriteTempFile("bad.txt", "2\n1 0 3 100 10 0\n");
  EXPECT_EQ(ErrorOf(LoadFlowFile(path)),
            path + ":2: line 1 announced 2 flows but the file ends after 1");
  EXPECT_THAT(ErrorOf(LoadFlowFile(path + ".missing")),
              StartsWith(path + ".missing: cannot open: "));
  EXPECT_THAT(ErrorOf(LoadFlowFile(::testing::TempDir())), HasSubstr(": cannot read: "));
}

// ---- damaged files ----

// Seeded damage to valid files of both formats (bytes overwritten, inserted,
// deleted, the file cut short): each result is a workload that passes
// ValidateWorkload or an InvalidArgument naming the file. Seeds 1 to 500; the
// failing seed and input are printed.
TEST(FlowFileRobustnessTest, DamagedFilesParseOrAreRefusedNamingTheFile) {
  const std::string htsim =
      "Nodes 4\nConnections 3\nTriggers 1\n"
      "0->1 id 1 start 0 size 1000 send_done_trigger 1\n"
      "1->2 id 2 trigger 1 size 2000\n"
      "2->3 id 3 start 5000000 size 300\n"
      "trigger id 1 oneshot\n";
  const std::string hpcc = "3\n0 1 3 100 1000 0.000001\n1 2 3 100 2000 0.0\n2 3 3 100 300 0.5\n";
  int parsed = 0;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    Random rng(seed);
    for (const bool is_htsim : {true, false}) {
      const std::string text = testing::MutateBytes(is_htsim ? htsim : hpcc, rng);
      SCOPED_TRACE(::testing::Message()
                   << "seed=" << seed << " input=\"" << absl::CEscape(text) << "\"");
      const absl::StatusOr<Workload> w =
          is_htsim ? ParseHtsimConnectionMatrix(text, "m.cm") : ParseHpccFlowFile(text, "f.txt");
      if (w.ok()) {
        ++parsed;
        EXPECT_TRUE(ValidateWorkload(*w).ok()) << ValidateWorkload(*w);
        continue;
      }
      EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
      EXPECT_THAT(std::string(w.status().message()), StartsWith(is_htsim ? "m.cm:" : "f.txt:"));
    }
  }
  EXPECT_GT(parsed, 20) << "some damage leaves a valid file: the accept path runs too";
}

}  // namespace
}  // namespace tern::replay
