// Named failure scenarios over the simulated wire: a black-holed path, a dead
// wire, PSN wraparound under loss, trimming, duplication and corruption, and
// access violations while the wire is lossy.
#include <vector>

#include "gtest/gtest.h"
#include "tests/sim_testbed.h"

namespace tern {
namespace {

using testing::SimTestbed;

constexpr uint32_t kAccessAll = kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead;

// A WRITE stream from host 0 to host 1 of `count` messages of `size` bytes,
// kept `depth` deep. Returns the completions' statuses in order.
struct WriteStream {
  std::vector<uint8_t> source, target;
  MemoryRegion* source_mr = nullptr;
  MemoryRegion* target_mr = nullptr;
  std::vector<WcStatus> statuses;

  WriteStream(SimTestbed& bed, uint32_t size, uint32_t slots)
      : source(size * slots), target(size * slots) {
    Random rng(99);
    for (auto& b : source) b = static_cast<uint8_t>(rng.Next());
    source_mr = *bed.host(0).pd->RegisterMemory(source.data(), source.size(), kAccessAll);
    target_mr = *bed.host(1).pd->RegisterMemory(target.data(), target.size(), kAccessAll);
  }

  // Runs until `count` completions or the limit; returns completions seen.
  size_t Run(SimTestbed& bed, QueuePair* qp, uint32_t size, uint32_t count, uint32_t depth,
             Duration limit = Duration::Seconds(1), uint32_t rkey_xor = 0) {
    const uint32_t slots = static_cast<uint32_t>(source.size() / size);
    uint32_t posted = 0;
    auto post = [&] {
      while (posted < count && posted - statuses.size() < depth) {
        const uint32_t slot = posted % slots;
        const Sge sge{reinterpret_cast<uint64_t>(source.data()) + slot * size, size,
                      source_mr->lkey()};
        SendWr wr;
        wr.wr_id = posted;
        wr.opcode = WrOpcode::kRdmaWrite;
        wr.send_flags = kSendSignaled;
        wr.sg_list = {&sge, 1};
        wr.remote_addr = reinterpret_cast<uint64_t>(target.data()) + slot * size;
        wr.rkey = target_mr->rkey() ^ rkey_xor;
        if (!qp->PostSend(wr).ok()) return;
        ++posted;
      }
    };
    post();
    bed.RunUntil(
        [&] {
          WorkCompletion wcs[32];
          for (size_t n; (n = bed.host(0).send_cq->Poll(wcs)) > 0;) {
            for (size_t i = 0; i < n; ++i) statuses.push_back(wcs[i].status);
          }
          const uint32_t before = posted;
          post();
          if (posted != before) bed.Kick();
          return statuses.size() == count || qp->state() == QpState::kErr;
        },
        limit);
    // Drain what an error flushed.
    WorkCompletion wcs[32];
    for (size_t n; (n = bed.host(0).send_cq->Poll(wcs)) > 0;) {
      for (size_t i = 0; i < n; ++i) statuses.push_back(wcs[i].status);
    }
    return statuses.size();
  }

  bool AllSucceeded() const {
    for (WcStatus s : statuses) {
      if (s != WcStatus::kSuccess) return false;
    }
    return true;
  }
};

TEST(ScenarioTest, BlackholedPathIsRoutedAroundWithoutError) {
  for (PathPolicy policy : {PathPolicy::kWeighted, PathPolicy::kRecycled, PathPolicy::kOblivious}) {
    SCOPED_TRACE(std::string("policy=") + PathPolicyName(policy) + " seed=5");
    sim::MultipathWireConfig wire;
    wire.paths = 8;
    wire.blackhole = 3;
    wire.seed = 5;
    SimTestbed bed(wire, 5);
    QpInitAttr attr;
    attr.transport.paths = 8;
    attr.transport.path_policy = policy;
    auto [a, b] = bed.ConnectQps(attr);
    WriteStream stream(bed, 65536, 16);
    EXPECT_EQ(stream.Run(bed, a, 65536, 200, 16), 200u);
    EXPECT_TRUE(stream.AllSucceeded());
    EXPECT_EQ(stream.source, stream.target);
    EXPECT_GT(bed.wire().counters().dropped_blackhole, 0u);
    EXPECT_EQ(a->counters().local_ack_timeout_err, 0u) << "detected by the time rule, not RTO";
    if (policy != PathPolicy::kOblivious) {
      // Steering away: far fewer packets fall into the hole than 1/8 of them.
      EXPECT_LT(bed.wire().counters().dropped_blackhole * 8, a->counters().data_packets_sent / 4);
    }
  }
}

TEST(ScenarioTest, DeadWireFailsWithRetryExceededWithinTheRetryBudget) {
  sim::MultipathWireConfig wire;
  wire.loss = 1.0;
  wire.seed = 6;
  SimTestbed bed(wire, 6);
  QpInitAttr attr;
  attr.transport.min_rto = Duration::Microseconds(100);
  attr.transport.max_rto = Duration::Milliseconds(100);
  QpRtsAttr rts;
  rts.retry_cnt = 5;
  auto [a, b] = bed.ConnectQps(attr, rts);
  WriteStream stream(bed, 4096, 4);
  const Time start = bed.sim().now();
  stream.Run(bed, a, 4096, 4, 4, Duration::Seconds(5));
  ASSERT_EQ(a->state(), QpState::kErr);
  // 100 + 200 + 400 + 800 + 1600 + 3200 us of backed-off timeouts.
  EXPECT_LE(bed.sim().now() - start, Duration::Microseconds(6300 + 50));
  ASSERT_EQ(stream.statuses.size(), 4u);
  EXPECT_EQ(stream.statuses[0], WcStatus::kRetryExcErr);
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(stream.statuses[i], WcStatus::kWrFlushErr);
  EXPECT_EQ(a->counters().local_ack_timeout_err, 6u);
}

TEST(ScenarioTest, PsnWrapsAroundMidTransferUnderLoss) {
  sim::MultipathWireConfig wire;
  wire.loss = 0.05;
  wire.reorder = Duration::Microseconds(3);
  wire.seed = 7;
  SimTestbed bed(wire, 7);
  auto [a, b] = bed.ConnectQps({}, {}, 0xFFFFFF00u, 0xFFFFFFF0u);
  WriteStream stream(bed, 65536, 8);
  EXPECT_EQ(stream.Run(bed, a, 65536, 64, 8), 64u);  // 1024 packets cross PSN 0
  EXPECT_TRUE(stream.AllSucceeded());
  EXPECT_EQ(stream.source, stream.target);
}

TEST(ScenarioTest, TrimmedPacketsAreResentAtOnceWithoutTimeouts) {
  sim::MultipathWireConfig wire;
  wire.trim = 0.05;
  wire.seed = 8;
  SimTestbed bed(wire, 8);
  auto [a, b] = bed.ConnectQps();
  WriteStream stream(bed, 65536, 8);
  EXPECT_EQ(stream.Run(bed, a, 65536, 64, 8), 64u);
  EXPECT_TRUE(stream.AllSucceeded());
  EXPECT_EQ(stream.source, stream.target);
  EXPECT_GT(b->counters().trimmed_received, 0u);
  EXPECT_EQ(a->counters().retransmits_trim, b->counters().trimmed_received);
  EXPECT_EQ(a->counters().local_ack_timeout_err, 0u);
}

TEST(ScenarioTest, DuplicatedAndCorruptedFramesAreDroppedAndRecovered) {
  sim::MultipathWireConfig wire;
  wire.dup = 0.05;
  wire.corrupt = 0.05;
  wire.seed = 9;
  SimTestbed bed(wire, 9);
  auto [a, b] = bed.ConnectQps();
  WriteStream stream(bed, 65536, 8);
  EXPECT_EQ(stream.Run(bed, a, 65536, 64, 8), 64u);
  EXPECT_TRUE(stream.AllSucceeded());
  EXPECT_EQ(stream.source, stream.target);
  EXPECT_GT(b->counters().duplicate_packets, 0u);
  const auto& drops = bed.host(1).context->counters().drops;
  uint64_t rejected = 0;
  for (uint64_t d : drops) rejected += d;
  EXPECT_GT(rejected, 0u) << "corrupted frames are counted as drops";
}

TEST(ScenarioTest, BadRkeyUnderLossFailsWithRemoteAccessErrorAndTouchesNothing) {
  sim::MultipathWireConfig wire;
  wire.loss = 0.05;
  wire.seed = 10;
  SimTestbed bed(wire, 10);
  auto [a, b] = bed.ConnectQps();
  WriteStream stream(bed, 65536, 4);
  stream.Run(bed, a, 65536, 4, 4, Duration::Seconds(1), /*rkey_xor=*/0x100);
  ASSERT_FALSE(stream.statuses.empty());
  EXPECT_EQ(stream.statuses[0], WcStatus::kRemAccessErr);
  EXPECT_EQ(a->state(), QpState::kErr);
  EXPECT_EQ(stream.target, std::vector<uint8_t>(stream.target.size(), 0));
}

TEST(ScenarioTest, SameSeedGivesTheSameRun) {
  auto run = [](uint64_t seed) {
    sim::MultipathWireConfig wire;
    wire.loss = 0.02;
    wire.reorder = Duration::Microseconds(4);
    wire.seed = seed;
    SimTestbed bed(wire, seed);
    auto [a, b] = bed.ConnectQps();
    WriteStream stream(bed, 65536, 8);
    stream.Run(bed, a, 65536, 32, 8);
    return std::make_pair(bed.sim().now(), a->counters().retransmitted_packets);
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11).first, run(12).first);
}

}  // namespace
}  // namespace tern
