#include "apps/replay_collectives.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "apps/replay_workload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using PerRank = std::vector<std::vector<uint32_t>>;

CollectiveSpec Spec(std::string operation, std::vector<uint32_t> ranks, uint64_t bytes,
                    std::string algorithm = "") {
  CollectiveSpec spec;
  spec.name = "c";
  spec.operation = std::move(operation);
  spec.algorithm = std::move(algorithm);
  spec.bytes = bytes;
  spec.ranks = std::move(ranks);
  return spec;
}

// A workload over `hosts` with one zero-length "entry" delay per host, for
// the collective's entry dependencies.
struct Fixture {
  explicit Fixture(uint32_t hosts) {
    workload.hosts = hosts;
    for (uint32_t h = 0; h < hosts; ++h) {
      Step entry;
      entry.kind = StepKind::kDelay;
      entry.src = h;
      entry.label = absl::StrCat("entry", h);
      workload.steps.push_back(entry);
    }
  }
  PerRank EntryDeps(const std::vector<uint32_t>& ranks) const {
    PerRank deps;
    for (uint32_t r : ranks) deps.push_back({r});
    return deps;
  }
  PerRank Expand(const CollectiveSpec& spec) {
    absl::StatusOr<PerRank> done = ExpandCollective(spec, EntryDeps(spec.ranks), workload);
    EXPECT_TRUE(done.ok()) << done.status();
    EXPECT_TRUE(ValidateWorkload(workload).ok()) << ValidateWorkload(workload);
    return done.ok() ? *done : PerRank{};
  }
  size_t Index(const std::string& label) const {
    for (size_t i = 0; i < workload.steps.size(); ++i) {
      if (workload.steps[i].label == label) return i;
    }
    ADD_FAILURE() << "no step " << label;
    return 0;
  }
  std::vector<const Step*> Transfers() const {
    std::vector<const Step*> out;
    for (const Step& s : workload.steps) {
      if (s.kind == StepKind::kTransfer) out.push_back(&s);
    }
    return out;
  }
  std::map<uint32_t, uint64_t> SentBytes() const {
    std::map<uint32_t, uint64_t> sent;
    for (const Step* s : Transfers()) sent[s->src] += s->bytes;
    return sent;
  }
  std::map<uint32_t, uint64_t> ReceivedBytes() const {
    std::map<uint32_t, uint64_t> received;
    for (const Step* s : Transfers()) received[s->dst] += s->bytes;
    return received;
  }
  // Whether `target` must finish before all of `from`.
  bool Precedes(size_t target, const std::vector<uint32_t>& from) const {
    std::vector<bool> seen(workload.steps.size(), false);
    std::vector<uint32_t> stack(from.begin(), from.end());
    while (!stack.empty()) {
      const uint32_t at = stack.back();
      stack.pop_back();
      if (at == target) return true;
      if (seen[at]) continue;
      seen[at] = true;
      for (uint32_t dep : workload.steps[at].deps) stack.push_back(dep);
    }
    return false;
  }

  Workload workload;
};

std::string Label(int step, uint32_t src, uint32_t dst) {
  return absl::StrCat("c/step", step, "/r", src, "->r", dst);
}

TEST(ExpandCollectiveTest, RingAllreduceMovesTwoNMinusOneOverNOfTheBytesPerRank) {
  constexpr uint64_t kBytes = 1 << 20;
  Fixture f(8);
  CollectiveSpec spec = Spec("allreduce", {0, 1, 2, 3, 4, 5, 6, 7}, kBytes);
  spec.not_before = Time::FromNanoseconds(500);
  f.Expand(spec);

  EXPECT_EQ(f.Transfers().size(), 2u * 7 * 8);
  for (uint32_t r = 0; r < 8; ++r) {
    EXPECT_EQ(f.SentBytes()[r], 2 * 7 * kBytes / 8) << r;
    EXPECT_EQ(f.ReceivedBytes()[r], 2 * 7 * kBytes / 8) << r;
  }
  for (const Step* s : f.Transfers()) {
    EXPECT_EQ(s->dst, (s->src + 1) % 8);
    EXPECT_EQ(s->collective, 0);
    EXPECT_EQ(s->not_before, Time::FromNanoseconds(500));
  }
  ASSERT_EQ(f.workload.collectives.size(), 1u);
  const Collective& c = f.workload.collectives[0];
  EXPECT_EQ(c.name, "c");
  EXPECT_EQ(c.operation, "allreduce");
  EXPECT_EQ(c.algorithm, "ring");
  EXPECT_EQ(c.bytes, kBytes);
  EXPECT_EQ(c.ranks, 8u);
}

TEST(ExpandCollectiveTest, RingChunksSpreadTheRemainderAndSumToTheBytes) {
  Fixture f(4);
  f.Expand(Spec("allreduce", {0, 1, 2, 3}, 10));  // chunks 3, 3, 2, 2
  uint64_t total = 0;
  for (const Step* s : f.Transfers()) {
    EXPECT_TRUE(s->bytes == 2 || s->bytes == 3) << s->label;
    total += s->bytes;
  }
  EXPECT_EQ(total, 2u * 3 * 10);  // each of 2(n-1) steps moves the whole buffer once
}

// Not for its own send of the previous step: NCCL does not wait for that ACK.
TEST(ExpandCollectiveTest, RingStepWaitsForItsEntryAndTheReceiveOfThePreviousStep) {
  // Ring order follows spec.ranks, not host numbering.
  const std::vector<uint32_t> ring = {5, 2, 7, 0};
  Fixture f(8);
  const PerRank done = f.Expand(Spec("allreduce", ring, 4000));
  const size_t n = ring.size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t me = ring[i], next = ring[(i + 1) % n], prev = ring[(i + n - 1) % n];
    EXPECT_THAT(f.workload.steps[f.Index(Label(0, me, next))].deps, ElementsAre(me))
        << "step 0 waits for the entry dependencies only";
    for (int s = 1; s < 6; ++s) {
      EXPECT_THAT(f.workload.steps[f.Index(Label(s, me, next))].deps,
                  UnorderedElementsAre(me, f.Index(Label(s - 1, prev, me))))
          << "rank " << me << " step " << s;
    }
    EXPECT_THAT(done[i],
                UnorderedElementsAre(f.Index(Label(5, me, next)), f.Index(Label(5, prev, me))));
  }
}

TEST(ExpandCollectiveTest, RingCompletionOfEveryRankFollowsEveryRanksEntry) {
  for (const std::string op : {"allreduce", "allgather", "reducescatter", "barrier"}) {
    Fixture f(5);
    const PerRank done = f.Expand(Spec(op, {0, 1, 2, 3, 4}, 1000));
    for (uint32_t r = 0; r < 5; ++r) {
      for (uint32_t entry = 0; entry < 5; ++entry) {
        EXPECT_TRUE(f.Precedes(entry, done[r])) << op << ": rank " << r << " entry " << entry;
      }
    }
  }
}

TEST(ExpandCollectiveTest, AllgatherAndReducescatterRingsTakeNMinusOneSteps) {
  for (const std::string op : {"allgather", "reducescatter"}) {
    Fixture f(4);
    f.Expand(Spec(op, {0, 1, 2, 3}, 4096));
    EXPECT_EQ(f.Transfers().size(), 3u * 4) << op;
    for (uint32_t r = 0; r < 4; ++r) EXPECT_EQ(f.SentBytes()[r], 3u * 4096 / 4) << op;
    EXPECT_EQ(f.workload.collectives[0].algorithm, "ring");
  }
}

TEST(ExpandCollectiveTest, BarrierSendsOneByteMessagesAroundTheRing) {
  Fixture f(4);
  f.Expand(Spec("barrier", {0, 1, 2, 3}, 0));
  EXPECT_EQ(f.Transfers().size(), 3u * 4);
  for (const Step* s : f.Transfers()) EXPECT_EQ(s->bytes, 1u);
}

TEST(ExpandCollectiveTest, RecursiveDoublingExchangesTheWholeBufferWithXorPartners) {
  constexpr uint64_t kBytes = 1 << 16;
  Fixture f(8);
  const PerRank done =
      f.Expand(Spec("allreduce", {0, 1, 2, 3, 4, 5, 6, 7}, kBytes, "recursive_doubling"));
  EXPECT_EQ(f.workload.collectives[0].algorithm, "recursive_doubling");
  EXPECT_EQ(f.Transfers().size(), 3u * 8);
  for (uint32_t r = 0; r < 8; ++r) EXPECT_EQ(f.SentBytes()[r], 3 * kBytes);
  for (uint32_t r = 0; r < 8; ++r) {
    EXPECT_THAT(f.workload.steps[f.Index(Label(0, r, r ^ 1))].deps, ElementsAre(r));
    for (int k = 1; k < 3; ++k) {
      const uint32_t partner = r ^ (1u << k), last = r ^ (1u << (k - 1));
      EXPECT_THAT(
          f.workload.steps[f.Index(Label(k, r, partner))].deps,
          UnorderedElementsAre(f.Index(Label(k - 1, r, last)), f.Index(Label(k - 1, last, r))));
    }
    EXPECT_THAT(done[r],
                UnorderedElementsAre(f.Index(Label(2, r, r ^ 4)), f.Index(Label(2, r ^ 4, r))));
    for (uint32_t entry = 0; entry < 8; ++entry) EXPECT_TRUE(f.Precedes(entry, done[r]));
  }
}

TEST(ExpandCollectiveTest, DirectAlltoallSendsToEveryoneAtOnce) {
  Fixture f(4);
  const PerRank done = f.Expand(Spec("alltoall", {0, 1, 2, 3}, 4000));
  EXPECT_EQ(f.workload.collectives[0].algorithm, "direct");
  EXPECT_EQ(f.Transfers().size(), 4u * 3);
  for (uint32_t r = 0; r < 4; ++r) {
    EXPECT_EQ(f.SentBytes()[r], 3u * 1000);
    EXPECT_EQ(done[r].size(), 2u * 3) << "every send and every receive";
  }
  for (const Step* s : f.Transfers()) {
    EXPECT_EQ(s->bytes, 1000u);
    EXPECT_THAT(s->deps, ElementsAre(s->src)) << "only the entry dependencies";
  }
}

TEST(ExpandCollectiveTest, BroadcastPipelinesFromTheRootDownTheChain) {
  constexpr uint64_t kBytes = 3000;
  const std::vector<uint32_t> ranks = {2, 0, 1};  // root 2, chain 2 -> 0 -> 1
  Fixture f(3);
  const PerRank done = f.Expand(Spec("broadcast", ranks, kBytes));
  EXPECT_EQ(f.Transfers().size(), 2u * 3) << "two hops, three chunks";
  EXPECT_EQ(f.SentBytes()[2], kBytes);
  EXPECT_EQ(f.SentBytes()[0], kBytes);
  EXPECT_EQ(f.SentBytes()[1], 0u);
  EXPECT_EQ(f.ReceivedBytes()[2], 0u);
  // Rank 0 forwards chunk 1 once it has received it (and entered), whether
  // or not its send of chunk 0 is acknowledged; the root sends every chunk at
  // its entry.
  EXPECT_THAT(f.workload.steps[f.Index(Label(1, 0, 1))].deps,
              UnorderedElementsAre(0u, f.Index(Label(1, 2, 0))));
  EXPECT_THAT(f.workload.steps[f.Index(Label(2, 2, 0))].deps, ElementsAre(2u));
  EXPECT_THAT(f.workload.steps[f.Index(Label(0, 0, 1))].deps,
              UnorderedElementsAre(0u, f.Index(Label(0, 2, 0))));
  // The sink never sends: its completion is its last receive plus its entry.
  EXPECT_THAT(done[2], UnorderedElementsAre(f.Index(Label(2, 0, 1)), 1u));
  EXPECT_THAT(done[0], ElementsAre(f.Index(Label(2, 2, 0))));
}

TEST(ExpandCollectiveTest, ReduceEndsAtTheRoot) {
  Fixture f(4);
  f.Expand(Spec("reduce", {3, 0, 1, 2}, 4096));  // chain 0 -> 1 -> 2 -> 3
  EXPECT_EQ(f.SentBytes()[3], 0u);
  EXPECT_EQ(f.ReceivedBytes()[0], 0u);
  for (uint32_t r : {0u, 1u, 2u}) EXPECT_EQ(f.SentBytes()[r], 4096u) << r;
  for (const Step* s : f.Transfers()) EXPECT_EQ(s->dst, s->src + 1);
}

TEST(ExpandCollectiveTest, TinyBuffersStillSendAByteAChunk) {
  for (const std::string op : {"allreduce", "allgather", "alltoall", "broadcast", "reduce"}) {
    Fixture f(8);
    f.Expand(Spec(op, {0, 1, 2, 3, 4, 5, 6, 7}, 3));
    for (const Step* s : f.Transfers()) EXPECT_GE(s->bytes, 1u) << op;
  }
}

TEST(ExpandCollectiveTest, EntryDepsMayBeEmptyAndCollectivesAccumulate) {
  Workload w;
  w.hosts = 2;
  absl::StatusOr<PerRank> first = ExpandCollective(Spec("allreduce", {0, 1}, 100), {}, w);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(w.steps[0].deps, IsEmpty());
  CollectiveSpec second = Spec("allgather", {1, 0}, 100);
  second.name = "second";
  absl::StatusOr<PerRank> done = ExpandCollective(second, *first, w);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(w.collectives.size(), 2u);
  EXPECT_EQ(w.steps.back().collective, 1);
  EXPECT_THAT(w.steps.back().label, HasSubstr("second/step0/"));
  EXPECT_TRUE(ValidateWorkload(w).ok()) << ValidateWorkload(w);
}

TEST(ExpandCollectiveTest, RejectsBadSpecsAndLeavesTheWorkloadAlone) {
  struct Case {
    CollectiveSpec spec;
    PerRank entry_deps;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Spec("allsum", {0, 1}, 10), {}, "unknown operation 'allsum'"},
      {Spec("allgather", {0, 1}, 10, "recursive_doubling"), {}, "does not do allgather"},
      {Spec("alltoall", {0, 1}, 10, "ring"), {}, "does not do alltoall"},
      {Spec("allreduce", {0, 1}, 10, "tree"), {}, "algorithm 'tree'"},
      {Spec("allreduce", {0}, 10), {}, "at least two ranks"},
      {Spec("allreduce", {0, 1, 0}, 10), {}, "rank 0 appears twice"},
      {Spec("allreduce", {0, 1, 2}, 10, "recursive_doubling"), {}, "power-of-two"},
      {Spec("allreduce", {0, 1, 2}, 10), {{0}, {1}}, "2 entry dependency lists for 3 ranks"},
      {Spec("allreduce", {0, 1}, 0), {}, "zero bytes"},
  };
  for (const Case& c : cases) {
    Fixture f(4);
    const Workload before = f.workload;
    absl::StatusOr<PerRank> done = ExpandCollective(c.spec, c.entry_deps, f.workload);
    EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(done.status().message(), HasSubstr(c.error));
    EXPECT_EQ(f.workload.steps.size(), before.steps.size()) << c.error;
    EXPECT_THAT(f.workload.collectives, IsEmpty()) << c.error;
  }
}

TEST(ExpandCollectiveTest, RefusesMoreStepsThanAWorkloadHoldsBeforeBuildingThem) {
  std::vector<uint32_t> ranks(4096);
  for (uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
  Fixture f(4096);
  const size_t entries = f.workload.steps.size();
  absl::StatusOr<PerRank> ring =
      ExpandCollective(Spec("allreduce", ranks, 1 << 20), {}, f.workload);
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ring.status().message(),
              HasSubstr("ring allreduce over 4096 ranks is 33546240 transfers, and a workload "
                        "holds at most 10000000 steps (recursive_doubling"));
  EXPECT_EQ(f.workload.steps.size(), entries);
  EXPECT_THAT(f.workload.collectives, IsEmpty());
  // n log2 n = 49152 transfers fit.
  ASSERT_TRUE(
      ExpandCollective(Spec("allreduce", ranks, 1 << 20, "recursive_doubling"), {}, f.workload)
          .ok());
  EXPECT_EQ(f.workload.steps.size(), entries + 4096 * 12);
}

}  // namespace
}  // namespace tern::replay
