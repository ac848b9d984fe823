#include "dataplane/sim/sim_host.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "transport/testing/connected_pair.h"

namespace tern::sim {
namespace {

using ::tern::testing::ConnectedPair;

// The two contexts of a ConnectedPair, each behind a SimHost, joined by one
// 400G link each way. Every frame on the wire is looked at on its way: its
// type and whether it carries its payload as a tail.
class SimHostPair {
 public:
  struct Seen {
    bool data = false;
    size_t tail = 0;
  };

  SimHostPair() {
    LinkConfig config;
    config.rate = Bandwidth::Gbps(400);
    config.delay = Duration::Microseconds(1);
    for (int i = 0; i < 2; ++i) {
      links_[i] = std::make_unique<Link>(sim_, config, 1 + i, [this, i](Frame frame) {
        Frame whole = frame;
        whole.AttachTail();
        const FrameDecodeResult f = DecodeFrame(whole, kDefaultUdpPort);
        const TernDecodeResult t = DecodeTern(f.frame.tern, /*verify_checksum=*/true);
        EXPECT_TRUE(f.ok() && t.ok()) << "every frame whole on the wire";
        seen_[i].push_back({t.ok() && t.view.data != nullptr, frame.tail.size()});
        hosts_[1 - i]->Deliver(frame);
      });
      hosts_[i] = std::make_unique<SimHost>(sim_, *pair_.side(i).context, config.rate,
                                            [this, i](Frame frame) { links_[i]->Send(frame); });
    }
  }

  ConnectedPair& pair() { return pair_; }
  SimHost& host(int i) { return *hosts_[i]; }
  Simulator& sim() { return sim_; }
  // Frames host `i` sent, in order.
  const std::vector<Seen>& seen(int i) const { return seen_[i]; }
  void ClearSeen() { seen_[0].clear(), seen_[1].clear(); }

 private:
  Simulator sim_;
  ConnectedPair pair_;
  std::unique_ptr<Link> links_[2];
  std::unique_ptr<SimHost> hosts_[2];
  std::vector<Seen> seen_[2];
};

size_t Count(const std::vector<SimHostPair::Seen>& seen, bool data, bool tail) {
  size_t n = 0;
  for (const SimHostPair::Seen& s : seen) n += s.data == data && (s.tail > 0) == tail;
  return n;
}

// With a stable source, DATA frames leave with their payload as a tail and
// arrive whole: the bytes land, the WRITE completes. A payload that reaches
// past the stable memory, and every control frame, is copied as before.
TEST(SimHostTest, StablePayloadTravelsAsATailAndArrivesWhole) {
  SimHostPair net;
  ConnectedPair& pair = net.pair();
  // Named variables, not a structured binding: lambdas below capture them
  // (clang 14, the fuzzing build's compiler, cannot capture bindings).
  QueuePair* qp = pair.ConnectQps().first;
  constexpr size_t kBytes = 64 * 1024;
  std::vector<uint8_t> src(kBytes), dst(kBytes);
  for (size_t i = 0; i < kBytes; ++i) src[i] = static_cast<uint8_t>(i * 13 + (i >> 10));
  MemoryRegion* src_mr = *pair.side(0).pd->RegisterMemory(src.data(), kBytes, kAccessLocalWrite);
  MemoryRegion* dst_mr =
      *pair.side(1).pd->RegisterMemory(dst.data(), kBytes, kAccessLocalWrite | kAccessRemoteWrite);

  const auto write = [&](std::span<const uint8_t> stable) {
    std::fill(dst.begin(), dst.end(), uint8_t{0});
    net.ClearSeen();
    net.host(0).SetStablePayload(stable);
    Sge sge{reinterpret_cast<uint64_t>(src.data()), kBytes, src_mr->lkey()};
    SendWr wr;
    wr.wr_id = 1;
    wr.opcode = WrOpcode::kRdmaWrite;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {&sge, 1};
    wr.remote_addr = reinterpret_cast<uint64_t>(dst.data());
    wr.rkey = dst_mr->rkey();
    ASSERT_TRUE(qp->PostSend(wr).ok());
    net.host(0).Kick();
    net.sim().Run();
    const std::vector<WorkCompletion> wcs = ConnectedPair::Drain(pair.side(0).send_cq);
    ASSERT_EQ(wcs.size(), 1u);
    EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
    EXPECT_EQ(dst, src);
  };

  write(src);
  const size_t packets = Count(net.seen(0), /*data=*/true, /*tail=*/true);
  EXPECT_GE(packets, kBytes / 4096);
  EXPECT_EQ(Count(net.seen(0), true, false), 0u) << "every DATA frame carried its payload";
  EXPECT_EQ(Count(net.seen(1), false, true), 0u) << "control frames are copied";

  // The last packet's payload ends one byte past the stable memory.
  write(std::span<const uint8_t>(src).first(kBytes - 1));
  EXPECT_EQ(Count(net.seen(0), true, false), 1u);
  EXPECT_EQ(Count(net.seen(0), true, true), packets - 1);

  write({});
  EXPECT_EQ(Count(net.seen(0), true, true), 0u) << "off by default";
  EXPECT_EQ(Count(net.seen(0), true, false), packets);
}

}  // namespace
}  // namespace tern::sim
