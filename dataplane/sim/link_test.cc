#include "dataplane/sim/link.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/wire.h"

namespace tern::sim {
namespace {

// --- Frame builders --------------------------------------------------------

Endpoint HostEndpoint(uint8_t host, bool ipv6) {
  Endpoint e;
  e.mac.bytes = {0x02, 0, 0, 0, 0, host};
  if (ipv6) {
    std::array<uint8_t, 16> b{0xfd, 0x00, 0x74, 0x65, 0x72, 0x6e};
    b[15] = host;
    e.ip = IpAddress::V6(b);
  } else {
    e.ip = IpAddress::V4(0x0A000000u | host);
  }
  return e;
}

struct DataFrameSpec {
  uint16_t entropy = kEntropyPortBase;
  uint32_t psn = 0;
  size_t payload = 1024;
  DataOpcode opcode = DataOpcode::kSend;
  bool ipv6 = false;
  bool telemetry = false;  // carries an empty TelemetryStack for switches to fill
};

// Outer headers for `tern_len` bytes of UDP payload, which the caller fills.
Frame FrameWithOuterHeaders(uint16_t entropy, size_t tern_len, bool ipv6, size_t* outer) {
  Frame frame(kMaxOuterHeaderBytes + tern_len);
  *outer = EncodeFrameHeaders(frame.data(), HostEndpoint(1, ipv6), HostEndpoint(2, ipv6), entropy,
                              tern_len);
  frame.resize(*outer + tern_len);
  return frame;
}

Frame MakeDataFrame(const DataFrameSpec& spec) {
  const uint16_t flags =
      static_cast<uint16_t>(kFlagFirst | kFlagLast | (spec.telemetry ? kFlagTelemetry : 0));
  const size_t headers = DataHeaderBytes(spec.opcode, flags);
  size_t outer;
  Frame frame = FrameWithOuterHeaders(spec.entropy, headers + spec.payload, spec.ipv6, &outer);
  TernHeader th{};
  th.version = kTernVersion;
  th.type = static_cast<uint8_t>(PacketType::kData);
  th.flags.set(flags);
  th.dst_qpn.set(0x101);
  th.src_qpn.set(0x100);
  th.psn.set(spec.psn);
  DataHeader dh{};
  dh.opcode = static_cast<uint8_t>(spec.opcode);
  dh.payload_len.set(static_cast<uint16_t>(spec.payload));
  dh.msg_id.set(7);
  dh.msg_len.set(static_cast<uint32_t>(spec.payload));
  std::memcpy(frame.data() + outer, &th, sizeof th);
  std::memcpy(frame.data() + outer + sizeof th, &dh, sizeof dh);
  if (OpcodeHasRdmaExtension(spec.opcode)) {
    RdmaExtension rdma{};
    rdma.remote_va.set(0x1000);
    rdma.rkey.set(0x55);
    std::memcpy(frame.data() + outer + sizeof th + sizeof dh, &rdma, sizeof rdma);
  }
  for (size_t i = 0; i < spec.payload; ++i) {
    frame[outer + headers + i] = static_cast<uint8_t>(i * 7 + spec.psn);
  }
  SealTernChecksum(std::span<uint8_t>(frame).subspan(outer));
  return frame;
}

Frame MakeAckFrame(uint16_t entropy) {
  size_t outer;
  Frame frame =
      FrameWithOuterHeaders(entropy, sizeof(TernHeader) + sizeof(AckHeader), false, &outer);
  TernHeader th{};
  th.version = kTernVersion;
  th.type = static_cast<uint8_t>(PacketType::kAck);
  th.dst_qpn.set(0x100);
  th.src_qpn.set(0x101);
  std::memcpy(frame.data() + outer, &th, sizeof th);
  SealTernChecksum(std::span<uint8_t>(frame).subspan(outer));
  return frame;
}

// A UDP frame whose payload is not Tern (version 0): never trimmed.
Frame MakeOpaqueUdpFrame(size_t payload) {
  size_t outer;
  return FrameWithOuterHeaders(kEntropyPortBase, payload, false, &outer);
}

FrameView MustDecodeFrame(const Frame& frame) {
  FrameDecodeResult r = DecodeFrame(frame, kDefaultUdpPort);
  EXPECT_TRUE(r.ok()) << DropReasonName(r.error);
  return r.frame;
}

uint32_t PsnOf(const Frame& frame) {
  FrameDecodeResult f = DecodeFrame(frame, kDefaultUdpPort);
  if (!f.ok()) return 0xFFFFFFFF;
  TernDecodeResult t = DecodeTern(f.frame.tern, false);
  return t.ok() ? t.view.tern->psn.get() : 0xFFFFFFFF;
}

// --- Harness ----------------------------------------------------------------

struct Delivery {
  Time at;
  Frame frame;
};

class LinkHarness {
 public:
  explicit LinkHarness(const LinkConfig& config, uint64_t seed = 1)
      : link_(sim_, config, seed, [this](Frame f) {
          delivered_.push_back(Delivery{sim_.now(), std::move(f)});
        }) {}

  Simulator& sim() { return sim_; }
  Link& link() { return link_; }
  const std::vector<Delivery>& delivered() const { return delivered_; }

 private:
  Simulator sim_;
  std::vector<Delivery> delivered_;
  Link link_;
};

LinkConfig Config400G(Duration delay) {
  LinkConfig c;
  c.rate = Bandwidth::Gbps(400);
  c.delay = delay;
  return c;
}

// --- Timing -----------------------------------------------------------------

TEST(LinkTest, SerializationTimeIsExactAt400G) {
  const Duration delay = Duration::Microseconds(1);
  LinkHarness h(Config400G(delay));
  const Frame frame = MakeDataFrame({.payload = 4096});
  ASSERT_EQ(frame.size(), 14u + 20 + 8 + 20 + 28 + 4096);  // 4186 bytes
  h.link().Send(frame);
  h.link().Send(MakeDataFrame({.psn = 1, .payload = 4096}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 2u);
  // 4186 B * 8 / 400 Gb/s = 83.72 ns: one byte is 20 ps.
  const Duration serialization = Duration::Picoseconds(4186 * 20);
  EXPECT_EQ(h.delivered()[0].at, Time::Zero() + serialization + delay);
  EXPECT_EQ(h.delivered()[1].at, Time::Zero() + serialization * 2 + delay);
  EXPECT_EQ(h.delivered()[0].frame, frame);
}

TEST(LinkTest, UnlimitedRateAddsOnlyTheDelay) {
  LinkConfig c;
  c.rate = Bandwidth::Unlimited();
  c.delay = Duration::Nanoseconds(500);
  LinkHarness h(c);
  for (uint32_t i = 0; i < 3; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 3u);
  for (const Delivery& d : h.delivered()) EXPECT_EQ(d.at, Time::FromNanoseconds(500));
}

TEST(LinkTest, JitterStaysWithinItsBound) {
  const uint64_t seed = 11;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkConfig c;
  c.rate = Bandwidth::Unlimited();
  c.delay = Duration::Microseconds(1);
  c.jitter = Duration::Microseconds(2);
  LinkHarness h(c, seed);
  // Frames far apart, so the FIFO rule never holds one back.
  std::vector<Time> sent;
  for (int i = 0; i < 200; ++i) {
    const Time at = Time::FromNanoseconds(int64_t{i} * 10'000);
    sent.push_back(at);
    h.sim().Schedule(at, [&h, i] { h.link().Send(MakeDataFrame({.psn = uint32_t(i)})); });
  }
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 200u);
  Duration min = Duration::Infinite();
  Duration max = Duration::Zero();
  for (size_t i = 0; i < sent.size(); ++i) {
    const Duration latency = h.delivered()[i].at - sent[i];
    EXPECT_GE(latency, c.delay);
    EXPECT_LT(latency, c.delay + c.jitter);
    min = std::min(min, latency);
    max = std::max(max, latency);
  }
  // The draws spread over most of the range.
  EXPECT_GT(max - min, Duration::Microseconds(1));
}

TEST(LinkTest, JitterNeverReordersFrames) {
  const uint64_t seed = 3;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkConfig c = Config400G(Duration::Microseconds(1));
  c.jitter = Duration::Microseconds(5);  // far more than the 2.6 ns between frames
  LinkHarness h(c, seed);
  for (uint32_t i = 0; i < 2000; ++i) h.link().Send(MakeDataFrame({.psn = i, .payload = 64}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 2000u);
  for (size_t i = 1; i < h.delivered().size(); ++i) {
    EXPECT_LE(h.delivered()[i - 1].at, h.delivered()[i].at);
    EXPECT_EQ(PsnOf(h.delivered()[i].frame), i);
  }
}

// --- Queue ------------------------------------------------------------------

TEST(LinkTest, DropTailAtQueueBytes) {
  const Frame frame = MakeDataFrame({.payload = 1000});
  LinkConfig c = Config400G(Duration::Zero());
  c.queue_bytes = 3 * frame.size();
  LinkHarness h(c);
  // One frame goes to the serializer, three fit the queue, six are dropped.
  for (uint32_t i = 0; i < 10; ++i) h.link().Send(MakeDataFrame({.psn = i, .payload = 1000}));
  EXPECT_EQ(h.link().queued_frames(), 3u);
  EXPECT_EQ(h.link().queued_bytes(), 3 * frame.size());
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(PsnOf(h.delivered()[i].frame), i);
  const LinkCounters& n = h.link().counters();
  EXPECT_EQ(n.dropped_queue_full, 6u);
  EXPECT_EQ(n.frames_offered, 10u);
  EXPECT_EQ(n.frames_sent, 4u);
  EXPECT_EQ(n.max_queue_bytes, 3 * frame.size());
}

TEST(LinkTest, QueueDrainsAndAcceptsAgain) {
  const Frame frame = MakeDataFrame({});
  LinkConfig c = Config400G(Duration::Zero());
  c.queue_bytes = frame.size();
  LinkHarness h(c);
  for (int i = 0; i < 3; ++i) h.link().Send(frame);  // 1 sent, 1 queued, 1 dropped
  h.sim().Run();
  for (int i = 0; i < 2; ++i) h.link().Send(frame);  // both fit again
  h.sim().Run();
  EXPECT_EQ(h.delivered().size(), 4u);
  EXPECT_EQ(h.link().counters().dropped_queue_full, 1u);
  EXPECT_TRUE(h.link().idle());
}

// A frame arriving at the instant the serializer frees up finds the queue
// after the departure, even when its arrival event runs first: here it is
// scheduled before the link's own event for that instant exists.
TEST(LinkTest, DepartureAtTheInstantOfAnArrivalGoesFirst) {
  const Frame frame = MakeDataFrame({});
  LinkConfig c = Config400G(Duration::Zero());
  c.queue_bytes = frame.size();
  LinkHarness h(c);
  const Time freed = Time::Zero() + c.rate.TransferTime(frame.size());
  h.sim().Schedule(freed, [&] { h.link().Send(frame); });
  h.link().Send(frame);  // serializes until `freed`
  h.link().Send(frame);  // fills the queue until then
  h.sim().Run();
  EXPECT_EQ(h.link().counters().dropped_queue_full, 0u);
  ASSERT_EQ(h.delivered().size(), 3u);
  EXPECT_EQ(h.delivered()[2].at, freed + c.rate.TransferTime(frame.size()) * 2);
}

// One event per frame where nothing queues (its arrival), one more per
// frame that waited (its start): the serializer's end is no event.
TEST(LinkTest, FramesThatDoNotQueueCostOneEventEach) {
  const Frame frame = MakeDataFrame({});
  LinkHarness h(Config400G(Duration::Microseconds(1)));
  const Duration gap = Duration::Microseconds(2);
  for (int i = 0; i < 10; ++i) {
    h.sim().Schedule(Time::Zero() + gap * i, [&] { h.link().Send(frame); });
  }
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 10u);
  EXPECT_EQ(h.sim().events_processed(), 10u + 10u);  // the sends, the arrivals
  for (int i = 0; i < 3; ++i) h.link().Send(frame);  // two wait
  const uint64_t before = h.sim().events_processed();
  h.sim().Run();
  EXPECT_EQ(h.sim().events_processed() - before, 3u + 2u);
}

TEST(LinkTest, EcnMarksFramesEnqueuedAboveThreshold) {
  const Frame frame = MakeDataFrame({});
  LinkConfig c = Config400G(Duration::Zero());
  c.ecn_kmin_bytes = c.ecn_kmax_bytes = frame.size();
  LinkHarness h(c);
  // Queue depth seen by frame i (the first goes straight to the serializer):
  // 0, 0, 1, 2, 3 frames. Only depths above one frame mark.
  for (uint32_t i = 0; i < 5; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(testing::Message() << "frame " << i);
    const FrameView view = MustDecodeFrame(h.delivered()[i].frame);  // IPv4 checksum still valid
    EXPECT_EQ(view.ecn, i >= 3 ? Ecn::kCe : Ecn::kEct0);
    EXPECT_TRUE(DecodeTern(view.tern, true).ok());  // ECN is outside the Tern checksum
  }
  EXPECT_EQ(h.link().counters().ecn_marked, 2u);
}

TEST(LinkTest, EcnMarksIpv6Frames) {
  const Frame frame = MakeDataFrame({.ipv6 = true});
  LinkConfig c = Config400G(Duration::Zero());
  c.ecn_kmin_bytes = c.ecn_kmax_bytes = 1;
  LinkHarness h(c);
  for (int i = 0; i < 3; ++i) h.link().Send(frame);
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 3u);
  EXPECT_EQ(MustDecodeFrame(h.delivered()[1].frame).ecn, Ecn::kEct0);
  EXPECT_EQ(MustDecodeFrame(h.delivered()[2].frame).ecn, Ecn::kCe);
}

TEST(LinkTest, EcnOffNeverMarks) {
  LinkHarness h(Config400G(Duration::Zero()));
  for (uint32_t i = 0; i < 50; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  for (const Delivery& d : h.delivered()) EXPECT_EQ(MustDecodeFrame(d.frame).ecn, Ecn::kEct0);
  EXPECT_EQ(h.link().counters().ecn_marked, 0u);
}

TEST(LinkTest, EcnMarkProbabilityIsTheRedCurve) {
  LinkConfig c;
  c.ecn_kmin_bytes = 1000;
  c.ecn_kmax_bytes = 5000;
  c.ecn_pmax = 0.2;
  EXPECT_EQ(EcnMarkProbability(c, 0), 0);
  EXPECT_EQ(EcnMarkProbability(c, 1000), 0);
  EXPECT_DOUBLE_EQ(EcnMarkProbability(c, 3000), 0.1);
  EXPECT_DOUBLE_EQ(EcnMarkProbability(c, 4999), 0.2 * 3999 / 4000);
  EXPECT_EQ(EcnMarkProbability(c, 5000), 1);
  c.ecn_kmax_bytes = 0;
  EXPECT_EQ(EcnMarkProbability(c, 1 << 20), 0);
}

// Frames sent back to back find the queue at 0, 0, 1, 2, ... frames: the mark
// rate at each depth, over many independently seeded links, must follow the
// RED curve within a binomial 4-sigma band.
TEST(LinkTest, EcnMarkingFollowsTheRedCurve) {
  const Frame frame = MakeDataFrame({});
  LinkConfig c = Config400G(Duration::Zero());
  c.ecn_kmin_bytes = 2 * frame.size();
  c.ecn_kmax_bytes = 10 * frame.size();
  c.ecn_pmax = 0.5;
  constexpr int kFrames = 14;
  constexpr int kTrials = 4000;
  std::vector<int> marks(kFrames, 0);
  for (int trial = 0; trial < kTrials; ++trial) {
    LinkHarness h(c, DeriveSeed(7, trial));
    for (int i = 0; i < kFrames; ++i) h.link().Send(frame);
    h.sim().Run();
    for (int i = 0; i < kFrames; ++i) {
      if (MustDecodeFrame(h.delivered()[i].frame).ecn == Ecn::kCe) ++marks[i];
    }
  }
  for (int i = 0; i < kFrames; ++i) {
    const uint64_t queued = i < 2 ? 0 : (i - 1) * frame.size();
    const double p = EcnMarkProbability(c, queued);
    const double sigma = std::sqrt(p * (1 - p) / kTrials);
    SCOPED_TRACE(testing::Message() << "frame " << i << " queued " << queued << " p " << p);
    EXPECT_NEAR(static_cast<double>(marks[i]) / kTrials, p, 4 * sigma + 1e-9);
  }
}

TEST(LinkTest, SharedBufferBoundsAllPortsTogether) {
  const Frame frame = MakeDataFrame({});
  Simulator sim;
  SharedBuffer buffer(3 * frame.size());
  std::vector<std::unique_ptr<Link>> ports;
  int delivered = 0;
  for (int i = 0; i < 2; ++i) {
    ports.push_back(
        std::make_unique<Link>(sim, Config400G(Duration::Zero()), i, [&](Frame) { ++delivered; }));
    ports.back()->SetSharedBuffer(&buffer);
  }
  // Each port serializes its first frame at once; the next three wait in the
  // shared memory, the rest are refused whichever port they are for.
  for (int i = 0; i < 4; ++i) ports[0]->Send(frame);
  for (int i = 0; i < 3; ++i) ports[1]->Send(frame);
  EXPECT_EQ(buffer.used(), 3 * frame.size());
  EXPECT_EQ(ports[0]->counters().dropped_shared_buffer, 0u);
  EXPECT_EQ(ports[1]->counters().dropped_shared_buffer, 2u);
  sim.Run();
  EXPECT_EQ(buffer.used(), 0u);
  EXPECT_EQ(delivered, 5);
}

TEST(LinkTest, QueueHistogramPercentiles) {
  QueueHistogram h(256 * 100);  // buckets of 100 bytes
  EXPECT_EQ(h.Percentile(0.99), 0u);
  for (int i = 0; i < 90; ++i) h.Add(0);
  for (int i = 0; i < 9; ++i) h.Add(450);
  h.Add(1 << 30);  // beyond the ceiling: the last bucket
  EXPECT_EQ(h.samples(), 100u);
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.Percentile(0.95), 500u);
  EXPECT_EQ(h.Percentile(0.99), 500u);
  EXPECT_EQ(h.Percentile(1.0), 256u * 100);
}

TEST(LinkTest, SetRateAppliesToTheNextFrame) {
  const Frame frame = MakeDataFrame({.payload = 4000});
  LinkConfig c = Config400G(Duration::Zero());
  LinkHarness h(c);
  h.link().Send(frame);
  h.link().SetRate(Bandwidth::Gbps(100));
  h.link().Send(frame);
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 2u);
  const Duration first = Bandwidth::Gbps(400).TransferTime(frame.size());
  EXPECT_EQ(h.delivered()[0].at, Time::Zero() + first);
  EXPECT_EQ(h.delivered()[1].at,
            Time::Zero() + first + Bandwidth::Gbps(100).TransferTime(frame.size()));
}

// --- Wire impairments -------------------------------------------------------

LinkConfig FastLink() {
  LinkConfig c;
  c.rate = Bandwidth::Unlimited();
  return c;
}

TEST(LinkTest, LossRateMatchesProbabilityOver100kFrames) {
  const uint64_t seed = 2024;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkConfig c = FastLink();
  c.loss = 0.01;
  LinkHarness h(c, seed);
  const Frame frame = MakeDataFrame({.payload = 16});
  constexpr int kFrames = 100'000;
  for (int i = 0; i < kFrames; ++i) h.link().Send(frame);
  h.sim().Run();
  // Expect 1000 lost, standard deviation ~31.5: five sigmas of tolerance.
  const uint64_t lost = h.link().counters().dropped_loss;
  EXPECT_NEAR(static_cast<double>(lost), 1000.0, 160.0);
  EXPECT_EQ(h.delivered().size(), kFrames - lost);
}

TEST(LinkTest, DupOneDeliversEveryFrameTwiceInOrder) {
  LinkConfig c = FastLink();
  c.dup = 1;
  LinkHarness h(c);
  for (uint32_t i = 0; i < 10; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 20u);
  for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(PsnOf(h.delivered()[i].frame), i / 2);
  EXPECT_EQ(h.link().counters().duplicated, 10u);
  EXPECT_EQ(h.link().counters().frames_delivered, 20u);
}

TEST(LinkTest, DupRateMatchesProbability) {
  const uint64_t seed = 99;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkConfig c = FastLink();
  c.dup = 0.05;
  LinkHarness h(c, seed);
  const Frame frame = MakeDataFrame({.payload = 16});
  for (int i = 0; i < 100'000; ++i) h.link().Send(frame);
  h.sim().Run();
  // Expect 5000, standard deviation ~69.
  EXPECT_NEAR(static_cast<double>(h.link().counters().duplicated), 5000.0, 350.0);
  EXPECT_EQ(h.delivered().size(), 100'000 + h.link().counters().duplicated);
}

TEST(LinkTest, CorruptFlipsOneBitAfterTheUdpHeader) {
  const uint64_t seed = 5;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkConfig c = FastLink();
  c.corrupt = 1;
  LinkHarness h(c, seed);
  std::vector<Frame> sent;
  for (uint32_t i = 0; i < 200; ++i) {
    sent.push_back(MakeDataFrame({.psn = i, .payload = 4096}));
    h.link().Send(sent.back());
  }
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), sent.size());
  const size_t tern_offset = sizeof(EthernetHeader) + sizeof(Ipv4Header) + sizeof(UdpHeader);
  const size_t payload_offset = tern_offset + sizeof(TernHeader) + sizeof(DataHeader);
  int bad_checksums = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "frame " << i);
    const Frame& got = h.delivered()[i].frame;
    ASSERT_EQ(got.size(), sent[i].size());
    int flipped_bits = 0;
    size_t flipped_at = 0;
    for (size_t b = 0; b < got.size(); ++b) {
      if (got[b] != sent[i][b]) {
        flipped_bits += __builtin_popcount(got[b] ^ sent[i][b]);
        flipped_at = b;
      }
    }
    EXPECT_EQ(flipped_bits, 1);
    EXPECT_GE(flipped_at, tern_offset);
    // The outer headers are intact; the Tern packet is rejected.
    const FrameView view = MustDecodeFrame(got);
    const TernDecodeResult tern = DecodeTern(view.tern, true);
    EXPECT_FALSE(tern.ok());
    // A flip in the payload can only be caught by the checksum. (One in a
    // header field may be caught earlier, as a bad length or flag.)
    if (flipped_at >= payload_offset) {
      EXPECT_EQ(tern.error, DropReason::kBadChecksum);
      ++bad_checksums;
    }
  }
  EXPECT_GT(bad_checksums, 150);
  EXPECT_EQ(h.link().counters().corrupted, sent.size());
}

TEST(LinkTest, BlackholeDropsEverythingAndCanBeSwitchedOff) {
  LinkConfig c = FastLink();
  c.blackhole = true;
  LinkHarness h(c);
  for (uint32_t i = 0; i < 5; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  EXPECT_TRUE(h.delivered().empty());
  EXPECT_EQ(h.link().counters().dropped_blackhole, 5u);
  h.link().SetBlackhole(false);
  for (uint32_t i = 5; i < 10; ++i) h.link().Send(MakeDataFrame({.psn = i}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 5u);
  EXPECT_EQ(PsnOf(h.delivered()[0].frame), 5u);
}

TEST(LinkTest, BlackholeSwitchedOnAtRunTimeSparesFramesAlreadyInFlight) {
  LinkConfig c = FastLink();
  c.delay = Duration::Microseconds(1);
  LinkHarness h(c);
  h.link().Send(MakeDataFrame({}));
  h.sim().RunUntil(Time::FromNanoseconds(1));  // on the wire now
  h.link().SetBlackhole(true);
  h.link().Send(MakeDataFrame({}));
  h.sim().Run();
  EXPECT_EQ(h.delivered().size(), 1u);
  EXPECT_EQ(h.link().counters().dropped_blackhole, 1u);
}

// --- Trimming -----------------------------------------------------------------

// Checks that `frame` is a well-formed trimmed copy of `original`.
void ExpectValidTrim(const Frame& frame, const Frame& original, size_t tern_headers) {
  const FrameDecodeResult f = DecodeFrame(frame, kDefaultUdpPort);
  ASSERT_TRUE(f.ok()) << DropReasonName(f.error);  // IP/UDP lengths and IPv4 checksum
  const FrameLayout layout = ParseFrameLayout(frame);
  ASSERT_TRUE(layout.udp);
  EXPECT_EQ(frame.size(), layout.payload_offset + tern_headers);
  EXPECT_EQ(f.frame.tern.size(), tern_headers);
  const TernDecodeResult t = DecodeTern(f.frame.tern, /*verify_checksum=*/true);
  ASSERT_TRUE(t.ok()) << DropReasonName(t.error);
  EXPECT_TRUE(t.view.flags() & kFlagTrimmed);
  EXPECT_TRUE(t.view.payload.empty());
  // Everything kept is unchanged but the flags, the checksum and the lengths.
  const TernDecodeResult before =
      DecodeTern(DecodeFrame(original, kDefaultUdpPort).frame.tern, true);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(t.view.flags(), before.view.flags() | kFlagTrimmed);
  EXPECT_EQ(t.view.tern->psn.get(), before.view.tern->psn.get());
  EXPECT_EQ(t.view.data->payload_len.get(), before.view.data->payload_len.get());
  EXPECT_EQ(std::memcmp(t.view.data, before.view.data, sizeof(DataHeader)), 0);
  EXPECT_EQ(f.frame.entropy, DecodeFrame(original, kDefaultUdpPort).frame.entropy);
}

TEST(LinkTest, TrimProducesAValidTrimmedPacket) {
  LinkConfig c = FastLink();
  c.trim = 1;
  LinkHarness h(c);
  const Frame original = MakeDataFrame({.psn = 42, .payload = 4096});
  h.link().Send(original);
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 1u);
  ExpectValidTrim(h.delivered()[0].frame, original, sizeof(TernHeader) + sizeof(DataHeader));
  EXPECT_EQ(h.link().counters().trimmed, 1u);
}

// --- In-band telemetry ----------------------------------------------------------

const TelemetryStack& StackOf(const Frame& frame) {
  const FrameView f = MustDecodeFrame(frame);
  const TernDecodeResult t = DecodeTern(f.tern, /*verify_checksum=*/true);
  EXPECT_TRUE(t.ok()) << DropReasonName(t.error);
  static const TelemetryStack kNone{};
  return t.ok() && t.view.telemetry != nullptr ? *t.view.telemetry : kNone;
}

TEST(LinkTest, StampsQueueBytesSentTimeAndRateAsEachFrameLeaves) {
  LinkConfig c = Config400G(Duration::Microseconds(1));
  c.stamp_telemetry = true;
  LinkHarness h(c);
  std::vector<Frame> sent;
  for (uint32_t psn = 0; psn < 3; ++psn) {
    sent.push_back(MakeDataFrame({.psn = psn, .payload = 1000, .telemetry = true}));
    h.link().Send(sent.back());
  }
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 3u);
  const uint64_t size = sent[0].size();
  const Duration serialize = Bandwidth::Gbps(400).TransferTime(size);
  // Frame 0 leaves at once, before the others are sent; frame 1 leaves with
  // frame 2 waiting behind it; frame 2 leaves last.
  const uint64_t queued_behind[3] = {0, size, 0};
  for (uint32_t i = 0; i < 3; ++i) {
    const TelemetryStack& stack = StackOf(h.delivered()[i].frame);
    ASSERT_EQ(stack.hops, 1) << "frame " << i;
    const TelemetryRecord& r = stack.record[0];
    EXPECT_EQ(r.timestamp_ns.get(), static_cast<uint32_t>((serialize * i).nanoseconds()));
    EXPECT_EQ(r.tx_bytes.get(), i * size);
    EXPECT_EQ(r.queue_bytes.get(), queued_behind[i]);
    EXPECT_EQ(r.rate_mbps.get(), 400'000u);
  }
}

TEST(LinkTest, StampingStopsWhenTheStackIsFull) {
  Frame frame = MakeDataFrame({.payload = 100, .telemetry = true});
  for (int hop = 0; hop < kTelemetryHops; ++hop) {
    EXPECT_TRUE(StampTelemetry(frame, Time::Zero() + Duration::Microseconds(hop), 1000 * hop, hop,
                               Bandwidth::Gbps(100)));
  }
  const Frame full = frame;
  EXPECT_FALSE(StampTelemetry(frame, Time::Zero(), 1, 1, Bandwidth::Gbps(100)));
  EXPECT_EQ(frame, full);
  const TelemetryStack& stack = StackOf(frame);
  EXPECT_EQ(stack.hops, kTelemetryHops);
  EXPECT_EQ(stack.record[3].tx_bytes.get(), 3000u);
  EXPECT_EQ(stack.record[4].timestamp_ns.get(), 4000u);
}

TEST(LinkTest, FramesThatDoNotAskAreNotStamped) {
  Frame plain = MakeDataFrame({.payload = 100});
  const Frame before = plain;
  EXPECT_FALSE(StampTelemetry(plain, Time::Zero(), 1, 1, Bandwidth::Gbps(100)));
  EXPECT_EQ(plain, before);
  Frame ack = MakeAckFrame(kEntropyPortBase);
  EXPECT_FALSE(StampTelemetry(ack, Time::Zero(), 1, 1, Bandwidth::Gbps(100)));
}

TEST(LinkTest, RouteNoteHoldsWhatSwitchesRouteBy) {
  const FabricRoute data = ReadFabricRoute(MakeDataFrame({.entropy = 0xC123, .telemetry = true}));
  EXPECT_TRUE(data.parsed);
  EXPECT_TRUE(data.routable);
  EXPECT_EQ(data.src_ip, HostEndpoint(1, false).ip.v4());
  EXPECT_EQ(data.dst_ip, HostEndpoint(2, false).ip.v4());
  EXPECT_EQ(data.src_port, 0xC123);
  EXPECT_EQ(data.dst_port, kDefaultUdpPort);
  EXPECT_EQ(data.ttl, kInitialTtl);
  EXPECT_EQ(data.hops, 0);
  EXPECT_TRUE(data.telemetry);
  EXPECT_FALSE(ReadFabricRoute(MakeDataFrame({})).telemetry);
  EXPECT_FALSE(ReadFabricRoute(MakeAckFrame(kEntropyPortBase)).telemetry);
  EXPECT_FALSE(ReadFabricRoute(MakeDataFrame({.ipv6 = true})).routable);
}

// The note lets a port skip frames without a stack; with no note (a frame
// not from a SimHost) the port reads the frame itself.
TEST(LinkTest, StampsByTheRouteNoteWhenThereIsOne) {
  LinkConfig c = Config400G(Duration::Microseconds(1));
  c.stamp_telemetry = true;
  LinkHarness h(c);
  Frame noted = MakeDataFrame({.payload = 100, .telemetry = true});
  noted.route = ReadFabricRoute(noted);
  Frame unnoted = MakeDataFrame({.payload = 100, .telemetry = true});
  Frame told_none = MakeDataFrame({.payload = 100, .telemetry = true});
  told_none.route.parsed = true;  // a note claiming no stack: the port believes it
  for (const Frame& f : {noted, unnoted, told_none}) h.link().Send(f);
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 3u);
  EXPECT_EQ(StackOf(h.delivered()[0].frame).hops, 1);
  EXPECT_EQ(StackOf(h.delivered()[1].frame).hops, 1);
  EXPECT_EQ(StackOf(h.delivered()[2].frame).hops, 0);
}

TEST(LinkTest, TrimKeepsTheTelemetryStack) {
  Frame frame = MakeDataFrame({.payload = 512, .telemetry = true});
  ASSERT_TRUE(StampTelemetry(frame, Time::Zero(), 7, 9, Bandwidth::Gbps(400)));
  const Frame original = frame;
  ASSERT_TRUE(TrimFrame(frame));
  ExpectValidTrim(frame, original, DataHeaderBytes(DataOpcode::kSend, kFlagTelemetry));
  EXPECT_EQ(StackOf(frame).record[0].queue_bytes.get(), 9u);
}

TEST(LinkTest, TrimKeepsTheRdmaExtension) {
  Frame frame = MakeDataFrame({.payload = 512, .opcode = DataOpcode::kWrite});
  const Frame original = frame;
  ASSERT_TRUE(TrimFrame(frame));
  ExpectValidTrim(frame, original, sizeof(TernHeader) + sizeof(DataHeader) + sizeof(RdmaExtension));
}

TEST(LinkTest, TrimFixesIpv6Lengths) {
  Frame frame = MakeDataFrame({.payload = 2000, .ipv6 = true});
  const Frame original = frame;
  ASSERT_TRUE(TrimFrame(frame));
  ExpectValidTrim(frame, original, sizeof(TernHeader) + sizeof(DataHeader));
}

// One's-complement sum of the IPv6 pseudo-header and the UDP datagram: 0xFFFF
// when the UDP checksum is right (RFC 8200 section 8.1).
uint16_t Ipv6UdpChecksumSum(const Frame& frame) {
  const FrameLayout l = ParseFrameLayout(frame);
  const size_t udp_len = sizeof(UdpHeader) + l.payload_len;
  uint32_t sum = kIpProtoUdp + static_cast<uint32_t>(udp_len);
  auto add = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i += 2) {
      sum += static_cast<uint32_t>(p[i] << 8 | (i + 1 < n ? p[i + 1] : 0));
    }
  };
  add(frame.data() + l.ip_offset + offsetof(Ipv6Header, src), 32);
  add(frame.data() + l.udp_offset, udp_len);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(LinkTest, TrimRecomputesANonZeroUdpChecksum) {
  Frame frame = MakeDataFrame({.payload = 999, .ipv6 = true});
  const FrameLayout l = ParseFrameLayout(frame);
  frame[l.udp_offset + offsetof(UdpHeader, checksum)] = 0x12;  // some sender filled it
  ASSERT_TRUE(TrimFrame(frame));
  EXPECT_NE(frame[l.udp_offset + 6] | frame[l.udp_offset + 7], 0);
  EXPECT_EQ(Ipv6UdpChecksumSum(frame), 0xFFFF);
}

TEST(LinkTest, TrimLeavesAZeroUdpChecksumZero) {
  Frame frame = MakeDataFrame({.ipv6 = true});
  ASSERT_TRUE(TrimFrame(frame));
  const FrameLayout l = ParseFrameLayout(frame);
  EXPECT_EQ(frame[l.udp_offset + 6] | frame[l.udp_offset + 7], 0);
}

TEST(LinkTest, TrimLeavesOtherPacketsAlone) {
  LinkConfig c = FastLink();
  c.trim = 1;
  LinkHarness h(c);
  const std::vector<Frame> frames = {
      MakeAckFrame(kEntropyPortBase),
      MakeDataFrame({.payload = 0, .opcode = DataOpcode::kReadRequest}),
      MakeDataFrame({.payload = 0}),
      MakeOpaqueUdpFrame(300),
  };
  for (const Frame& f : frames) h.link().Send(f);
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(h.delivered()[i].frame, frames[i]);
  EXPECT_EQ(h.link().counters().trimmed, 0u);
}

TEST(LinkTest, TrimDoesNotTrimTwice) {
  Frame frame = MakeDataFrame({});
  ASSERT_TRUE(TrimFrame(frame));
  const Frame trimmed = frame;
  EXPECT_FALSE(TrimFrame(frame));
  EXPECT_EQ(frame, trimmed);
}

TEST(LinkTest, TrimmedFrameOvertakesQueuedFullFrames) {
  LinkConfig c = Config400G(Duration::Zero());
  c.trim = 1;  // trims every DATA frame; the opaque ones stay full
  LinkHarness h(c);
  const Frame full = MakeOpaqueUdpFrame(4000);
  h.link().Send(full);  // serializing
  h.link().Send(full);  // queued
  h.link().Send(full);  // queued
  h.link().Send(MakeDataFrame({.psn = 9, .payload = 4000}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 4u);
  EXPECT_EQ(h.delivered()[0].frame, full);
  EXPECT_EQ(PsnOf(h.delivered()[1].frame), 9u);
  EXPECT_EQ(h.delivered()[2].frame, full);
  EXPECT_EQ(h.delivered()[3].frame, full);
}

TEST(LinkTest, TrimOnOverflowTrimsInsteadOfDropping) {
  const Frame frame = MakeDataFrame({.payload = 4000});
  LinkConfig c = Config400G(Duration::Zero());
  c.queue_bytes = 2 * frame.size();
  c.trim_on_overflow = true;
  LinkHarness h(c);
  for (uint32_t i = 0; i < 5; ++i) h.link().Send(MakeDataFrame({.psn = i, .payload = 4000}));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 5u);
  // 0 was serializing, 1 and 2 queued, 3 and 4 trimmed and sent first.
  std::vector<uint32_t> order;
  for (const Delivery& d : h.delivered()) order.push_back(PsnOf(d.frame));
  EXPECT_THAT(order, testing::ElementsAre(0, 3, 4, 1, 2));
  EXPECT_EQ(h.link().counters().trimmed, 2u);
  EXPECT_EQ(h.link().counters().dropped_queue_full, 0u);
}

// --- Bookkeeping and determinism ------------------------------------------------

// FNV-1a over the frame bytes.
uint64_t Fingerprint(const Frame& frame) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint8_t b : frame) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

// Delivery trace of a link with every random impairment on.
std::vector<std::pair<int64_t, uint64_t>> ImpairedTrace(uint64_t seed, LinkCounters* counters) {
  LinkConfig c = Config400G(Duration::Microseconds(1));
  c.jitter = Duration::Microseconds(1);
  c.loss = 0.05;
  c.dup = 0.05;
  c.corrupt = 0.05;
  c.trim = 0.05;
  c.queue_bytes = 20'000;
  c.ecn_kmin_bytes = c.ecn_kmax_bytes = 5'000;
  LinkHarness h(c, seed);
  for (uint32_t i = 0; i < 2000; ++i) {
    h.sim().Schedule(Time::FromNanoseconds(i * 20),
                     [&h, i] { h.link().Send(MakeDataFrame({.psn = i, .payload = 1024})); });
  }
  h.sim().Run();
  std::vector<std::pair<int64_t, uint64_t>> trace;
  for (const Delivery& d : h.delivered()) {
    trace.emplace_back(d.at.picoseconds(), Fingerprint(d.frame));
  }
  EXPECT_TRUE(h.link().idle());
  *counters = h.link().counters();
  return trace;
}

TEST(LinkTest, SameSeedGivesTheSameTrace) {
  const uint64_t seed = 77;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkCounters a, b;
  EXPECT_EQ(ImpairedTrace(seed, &a), ImpairedTrace(seed, &b));
  EXPECT_EQ(a.ToString(), b.ToString());
}

TEST(LinkTest, DifferentSeedsGiveDifferentTraces) {
  LinkCounters a, b;
  EXPECT_NE(ImpairedTrace(77, &a), ImpairedTrace(78, &b));
}

TEST(LinkTest, CountersBalanceOnceIdle) {
  const uint64_t seed = 8;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  LinkCounters n;
  ImpairedTrace(seed, &n);
  SCOPED_TRACE(n.ToString());
  EXPECT_EQ(n.frames_offered, n.frames_sent + n.dropped_queue_full);
  EXPECT_EQ(n.frames_delivered,
            n.frames_sent - n.dropped_loss - n.dropped_blackhole + n.duplicated);
  // Every impairment fired at least once.
  EXPECT_GT(n.dropped_queue_full, 0u);
  EXPECT_GT(n.dropped_loss, 0u);
  EXPECT_GT(n.duplicated, 0u);
  EXPECT_GT(n.corrupted, 0u);
  EXPECT_GT(n.trimmed, 0u);
  EXPECT_GT(n.ecn_marked, 0u);
  EXPECT_LE(n.max_queue_bytes, 20'000u * 2);
}

TEST(LinkTest, DestroyingALinkCancelsItsEvents) {
  Simulator sim;
  int delivered = 0;
  {
    Link link(sim, Config400G(Duration::Microseconds(1)), 1, [&](Frame) { ++delivered; });
    link.Send(MakeDataFrame({}));
    link.Send(MakeDataFrame({}));
    sim.RunUntil(Time::FromNanoseconds(30));  // one on the wire, one serializing
  }
  sim.Run();
  EXPECT_EQ(delivered, 0);
  EXPECT_EQ(sim.pending_events(), 0u);
}

TEST(LinkCountersTest, AddSumsCountsAndKeepsTheLargerQueue) {
  LinkCounters a;
  a.frames_sent = 2;
  a.dropped_loss = 1;
  a.max_queue_bytes = 100;
  LinkCounters b;
  b.frames_sent = 3;
  b.trimmed = 4;
  b.max_queue_bytes = 50;
  a += b;
  EXPECT_EQ(a.frames_sent, 5u);
  EXPECT_EQ(a.dropped_loss, 1u);
  EXPECT_EQ(a.trimmed, 4u);
  EXPECT_EQ(a.max_queue_bytes, 100u);
  EXPECT_EQ(a.frames_dropped(), 1u);
}

// --- Frame layout ----------------------------------------------------------------

TEST(FrameLayoutTest, FindsIpv4UdpFields) {
  const Frame frame = MakeDataFrame({.entropy = 0xC123, .payload = 100});
  const FrameLayout l = ParseFrameLayout(frame);
  ASSERT_TRUE(l.udp);
  EXPECT_FALSE(l.ipv6);
  EXPECT_EQ(l.ip_offset, 14u);
  EXPECT_EQ(l.udp_offset, 34u);
  EXPECT_EQ(l.payload_offset, 42u);
  EXPECT_EQ(l.payload_len, 148u);
  EXPECT_EQ(l.src_port, 0xC123);
  EXPECT_EQ(l.dst_port, kDefaultUdpPort);
  EXPECT_EQ(l.ecn, Ecn::kEct0);
  EXPECT_EQ(l.ecn_offset, MustDecodeFrame(frame).ecn_offset);
}

TEST(FrameLayoutTest, FindsIpv6UdpFields) {
  const Frame frame = MakeDataFrame({.entropy = 0xC001, .payload = 10, .ipv6 = true});
  const FrameLayout l = ParseFrameLayout(frame);
  ASSERT_TRUE(l.udp);
  EXPECT_TRUE(l.ipv6);
  EXPECT_EQ(l.payload_offset, 62u);
  EXPECT_EQ(l.src_port, 0xC001);
  EXPECT_EQ(l.ecn, Ecn::kEct0);
  EXPECT_EQ(l.ecn_offset, MustDecodeFrame(frame).ecn_offset);
}

TEST(FrameLayoutTest, RejectsNonIpAndTruncatedFrames) {
  Frame arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_FALSE(ParseFrameLayout(arp).ip);
  Frame frame = MakeDataFrame({});
  frame.resize(40);  // cut inside the UDP header
  const FrameLayout l = ParseFrameLayout(frame);
  EXPECT_TRUE(l.ip);
  EXPECT_FALSE(l.udp);
  EXPECT_FALSE(ParseFrameLayout(Frame{}).ip);
}

// --- Frames with a tail --------------------------------------------------------

// `whole` as a sender with a stable payload sends it: the last `tail_bytes`
// bytes stay in `store` (which must outlive the frame) and the frame holds the
// rest.
Frame WithTail(const Frame& whole, size_t tail_bytes, std::vector<uint8_t>& store) {
  store.assign(whole.end() - static_cast<ptrdiff_t>(tail_bytes), whole.end());
  Frame frame(whole.begin(), whole.end() - static_cast<ptrdiff_t>(tail_bytes));
  frame.tail = store;
  return frame;
}

Frame Attached(Frame frame) {
  frame.AttachTail();
  return frame;
}

// A link charges a frame with a tail its length on the wire: serialization,
// queue and byte counters are those of the whole frame.
TEST(LinkTest, FrameWithATailTakesItsWireLength) {
  const Duration delay = Duration::Microseconds(1);
  const Frame whole = MakeDataFrame({.payload = 4096});
  std::vector<uint8_t> store;
  LinkHarness with_tail(Config400G(delay));
  LinkHarness without(Config400G(delay));
  for (int i = 0; i < 3; ++i) {
    with_tail.link().Send(WithTail(whole, 4096, store));
    without.link().Send(whole);
  }
  EXPECT_EQ(with_tail.link().queued_bytes(), without.link().queued_bytes());
  with_tail.sim().Run();
  without.sim().Run();
  ASSERT_EQ(with_tail.delivered().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(with_tail.delivered()[i].at, without.delivered()[i].at);
    EXPECT_EQ(with_tail.delivered()[i].frame.tail.size(), 4096u) << "carried, not copied";
    EXPECT_EQ(Attached(with_tail.delivered()[i].frame), whole);
  }
  EXPECT_EQ(with_tail.link().counters().bytes_sent, 3 * whole.size());
  EXPECT_EQ(with_tail.link().counters().bytes_delivered, 3 * whole.size());
}

// Route, ECN mark and telemetry stamp need only the headers the frame holds.
TEST(LinkTest, FrameWithATailIsRoutedMarkedAndStampedAsTheWholeFrame) {
  const Frame whole = MakeDataFrame({.entropy = 0xC123, .payload = 2048, .telemetry = true});
  std::vector<uint8_t> store;
  const FabricRoute route = ReadFabricRoute(WithTail(whole, 2048, store));
  const FabricRoute expected = ReadFabricRoute(whole);
  EXPECT_EQ(route.src_port, 0xC123);
  EXPECT_EQ(route.dst_port, expected.dst_port);
  EXPECT_EQ(route.dst_ip, expected.dst_ip);
  EXPECT_TRUE(route.telemetry);

  LinkConfig c = Config400G(Duration::Zero());
  c.ecn_kmin_bytes = c.ecn_kmax_bytes = 1;
  c.stamp_telemetry = true;
  LinkHarness with_tail(c);
  LinkHarness without(c);
  for (int i = 0; i < 3; ++i) {
    with_tail.link().Send(WithTail(whole, 2048, store));
    without.link().Send(whole);
  }
  with_tail.sim().Run();
  without.sim().Run();
  ASSERT_EQ(with_tail.delivered().size(), 3u);
  EXPECT_EQ(with_tail.link().counters().ecn_marked, 1u);
  for (size_t i = 0; i < 3; ++i) {
    const Frame got = Attached(with_tail.delivered()[i].frame);
    EXPECT_EQ(got, without.delivered()[i].frame);
    EXPECT_EQ(StackOf(got).hops, 1);
  }
  EXPECT_EQ(MustDecodeFrame(Attached(with_tail.delivered()[2].frame)).ecn, Ecn::kCe);
}

// A trim drops the tail with the rest of the payload; a corruption copies it
// in before flipping a bit, leaving the sender's bytes alone.
TEST(LinkTest, TrimAndCorruptionOfAFrameWithATail) {
  const Frame whole = MakeDataFrame({.payload = 1024});
  std::vector<uint8_t> store;
  Frame trimmed = WithTail(whole, 1024, store);
  Frame expected = whole;
  ASSERT_TRUE(TrimFrame(trimmed));
  ASSERT_TRUE(TrimFrame(expected));
  EXPECT_TRUE(trimmed.tail.empty());
  EXPECT_EQ(trimmed, expected);
  LinkConfig trimming = FastLink();
  trimming.trim = 1;
  LinkHarness t(trimming);
  t.link().Send(WithTail(whole, 1024, store));
  t.sim().Run();
  ASSERT_EQ(t.delivered().size(), 1u);
  EXPECT_EQ(t.delivered()[0].frame, expected);
  EXPECT_EQ(t.link().counters().trimmed, 1u);

  LinkConfig c = FastLink();
  c.corrupt = 1;
  LinkHarness h(c);
  h.link().Send(WithTail(whole, 1024, store));
  h.sim().Run();
  ASSERT_EQ(h.delivered().size(), 1u);
  const Frame& got = h.delivered()[0].frame;
  EXPECT_TRUE(got.tail.empty());
  ASSERT_EQ(got.size(), whole.size());
  int bits = 0;
  for (size_t i = 0; i < whole.size(); ++i) bits += std::popcount<uint8_t>(got[i] ^ whole[i]);
  EXPECT_EQ(bits, 1);
  EXPECT_EQ(store, std::vector<uint8_t>(whole.end() - 1024, whole.end())) << "the sender's bytes";
}

}  // namespace
}  // namespace tern::sim
