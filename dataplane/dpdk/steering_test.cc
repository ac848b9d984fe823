// Two workers sharing one port: frames that arrive on the wrong worker's queue
// reach the worker whose context listens on their UDP port. A net_ring pair
// with two queues; whatever A sends on queue q arrives on B's queue q, so the
// test picks the queue a frame lands on.
#include "dataplane/dpdk/steering.h"

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "dataplane/dpdk/eal_test_environment.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/port_worker.h"

namespace tern::dpdk {
namespace {

constexpr uint16_t kUdpPorts[2] = {5000, 5001};

TEST(SoftwareSteeringTest, RefusesWhatCannotWork) {
  EXPECT_FALSE(SoftwareSteering::Create({}).ok());
  const uint16_t twice[] = {5000, 5000};
  const absl::StatusOr<std::unique_ptr<SoftwareSteering>> dup = SoftwareSteering::Create(twice);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("more than one worker"), std::string::npos) << dup.status();
  EXPECT_FALSE(SoftwareSteering::Create(kUdpPorts, 0).ok());
}

TEST(SoftwareSteeringTest, OwnerIsTheWorkerListeningOnThePort) {
  auto steering = SoftwareSteering::Create(kUdpPorts);
  ASSERT_TRUE(steering.ok()) << steering.status();
  EXPECT_EQ((*steering)->workers(), 2);
  EXPECT_EQ((*steering)->OwnerOf(5000), 0);
  EXPECT_EQ((*steering)->OwnerOf(5001), 1);
  EXPECT_EQ((*steering)->OwnerOf(4791), -1);
}

// B runs two workers on queues 0 and 1; worker 1's context has a QP connected
// to A's. B's worker 0 has a context with no QP.
class SteeringTest : public ::testing::Test {
 protected:
  void SetUp() override { SetUpWithRing(4096); }

  void SetUpWithRing(uint32_t ring_slots) {
    static int pair_index = 0;
    auto pair = CreateRingPortPair(absl::StrFormat("st%d", pair_index++), 2);
    ASSERT_TRUE(pair.ok()) << pair.status();
    for (uint16_t id : {pair->first, pair->second}) {
      PortOptions options;
      options.port_id = id;
      options.queues = 2;
      options.mbufs_per_queue = 2047;
      auto port = Port::Open(options);
      ASSERT_TRUE(port.ok()) << port.status();
      ASSERT_EQ((*port)->info().queues, 2);
      ports_.push_back(*std::move(port));
    }
    auto steering = SoftwareSteering::Create(kUdpPorts, ring_slots);
    ASSERT_TRUE(steering.ok()) << steering.status();
    steering_ = *std::move(steering);

    ContextConfig a;
    a.local.mac = ports_[0]->info().mac;
    a.local.ip = IpAddress::V4(0x0A000001);
    ctx_a_ = *Context::Create(a);
    for (int w : {0, 1}) {
      ContextConfig b;
      b.local.mac = ports_[1]->info().mac;
      b.local.ip = IpAddress::V4(0x0A000002);
      b.local.udp_port = kUdpPorts[w];
      ctx_b_[w] = *Context::Create(b);
      workers_b_[w] = std::make_unique<PortWorker>(*ports_[1], w, *ctx_b_[w], clock_);
      workers_b_[w]->JoinSteering(steering_.get(), w);
    }
    QueuePair* qps[2];
    Context* ctx[2] = {ctx_a_.get(), ctx_b_[1].get()};
    for (int i : {0, 1}) {
      ProtectionDomain* pd = ctx[i]->AllocPd();
      CompletionQueue* cq = *ctx[i]->CreateCq(64);
      QpInitAttr attr;
      attr.send_cq = cq;
      attr.recv_cq = cq;
      qps[i] = *ctx[i]->CreateQp(pd, attr);
      ASSERT_TRUE(qps[i]->ToInit({}).ok());
      buffer_[i].assign(4096, static_cast<uint8_t>(i));
      mr_[i] = *pd->RegisterMemory(buffer_[i].data(), buffer_[i].size(),
                                   kAccessLocalWrite | kAccessRemoteWrite);
    }
    for (int i : {0, 1}) {
      QpRtrAttr rtr;
      rtr.dest_qp_num = qps[1 - i]->qp_num();
      rtr.remote = ctx[1 - i]->local();
      ASSERT_TRUE(qps[i]->ToRtr(rtr).ok());
      ASSERT_TRUE(qps[i]->ToRts({}).ok());
    }
    qp_a_ = qps[0];
    qp_b_ = qps[1];
  }

  // A WRITE of 1 KiB from A to B's worker 1, as one frame.
  std::vector<uint8_t> WriteFrame() {
    const Sge sge{reinterpret_cast<uint64_t>(buffer_[0].data()), 1024, mr_[0]->lkey()};
    SendWr wr;
    wr.opcode = WrOpcode::kRdmaWrite;
    wr.sg_list = {&sge, 1};
    wr.remote_addr = reinterpret_cast<uint64_t>(buffer_[1].data());
    wr.rkey = mr_[1]->rkey();
    EXPECT_TRUE(qp_a_->PostSend(wr).ok());
    TxPacket packet;
    EXPECT_EQ(ctx_a_->PollTransmit(clock_.ToTime(rte_rdtsc()), {&packet, 1}), 1u);
    std::vector<uint8_t> frame(packet.frame_len());
    packet.WriteFrame(frame.data());
    return frame;
  }

  // Puts `frame` on B's RX queue `queue`.
  void SendOnQueue(const std::vector<uint8_t>& frame, uint16_t queue) {
    rte_mbuf* m = rte_pktmbuf_alloc(ports_[0]->pool(queue));
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame.size());
    m->data_len = static_cast<uint16_t>(frame.size());
    m->pkt_len = static_cast<uint32_t>(frame.size());
    ASSERT_EQ(rte_eth_tx_burst(ports_[0]->id(), queue, &m, 1), 1);
  }

  void PollB(int worker) { workers_b_[worker]->Poll(rte_rdtsc()); }
  const WorkerCounters& CountersB(int worker) const { return workers_b_[worker]->counters(); }

  TscClock clock_{rte_get_tsc_hz(), rte_rdtsc()};
  std::vector<std::unique_ptr<Port>> ports_;
  std::unique_ptr<SoftwareSteering> steering_;
  std::unique_ptr<Context> ctx_a_;
  std::unique_ptr<Context> ctx_b_[2];
  std::unique_ptr<PortWorker> workers_b_[2];
  QueuePair* qp_a_ = nullptr;
  QueuePair* qp_b_ = nullptr;
  std::vector<uint8_t> buffer_[2];
  MemoryRegion* mr_[2] = {};
};

TEST_F(SteeringTest, FrameOnAnotherWorkersQueueReachesItsOwner) {
  SendOnQueue(WriteFrame(), 0);
  PollB(0);
  EXPECT_EQ(CountersB(0).rx_frames, 1u);
  EXPECT_EQ(CountersB(0).steered_out, 1u);
  EXPECT_EQ(ctx_b_[0]->counters().frames_received, 0u) << "worker 0's context saw the frame";
  PollB(1);
  EXPECT_EQ(CountersB(1).steered_in, 1u);
  EXPECT_EQ(CountersB(1).rx_frames, 0u);
  EXPECT_EQ(qp_b_->counters().data_packets_received, 1u);
  EXPECT_EQ(std::memcmp(buffer_[1].data(), buffer_[0].data(), 1024), 0);
}

TEST_F(SteeringTest, FrameOnItsOwnersQueueIsNotHandedOver) {
  SendOnQueue(WriteFrame(), 1);
  PollB(1);
  EXPECT_EQ(CountersB(1).rx_frames, 1u);
  EXPECT_EQ(CountersB(1).steered_out + CountersB(1).steered_in, 0u);
  EXPECT_EQ(qp_b_->counters().data_packets_received, 1u);
}

TEST_F(SteeringTest, FrameForNoWorkerIsDroppedWhereItArrived) {
  std::vector<uint8_t> frame = WriteFrame();
  frame[36] = 0x17;  // UDP destination port 0x17xx: no worker's
  SendOnQueue(frame, 0);
  PollB(0);
  EXPECT_EQ(CountersB(0).steered_out, 0u);
  EXPECT_EQ(ctx_b_[0]->counters().drops[static_cast<size_t>(DropReason::kNotTern)], 1u);
}

// A NIC spreads ARP over queues by its own hash; worker 0 must still see it,
// since it keeps the table the port's neighbor resolution reads.
TEST_F(SteeringTest, ArpOnAnotherQueueIsAnsweredAndLearnedByWorkerZero) {
  const MacAddress a_mac = ports_[0]->info().mac;
  const ArpMessage request{ArpOp::kRequest, a_mac, 0x0A000001, {}, 0x0A000002};
  std::vector<uint8_t> frame(kArpFrameBytes);
  EncodeArp(request, frame);
  SendOnQueue(frame, 1);
  PollB(1);
  EXPECT_EQ(CountersB(1).steered_out, 1u);
  EXPECT_EQ(CountersB(1).arp_requests_answered, 0u);
  PollB(0);
  EXPECT_EQ(CountersB(0).steered_in, 1u);
  EXPECT_EQ(CountersB(0).arp_requests_answered, 1u);
  EXPECT_EQ(workers_b_[0]->neighbors().Lookup(IpAddress::V4(0x0A000001)), a_mac);
  EXPECT_FALSE(workers_b_[1]->neighbors().Lookup(IpAddress::V4(0x0A000001)).has_value());

  rte_mbuf* rx[4];
  const uint16_t n = rte_eth_rx_burst(ports_[0]->id(), 0, rx, 4);
  ASSERT_EQ(n, 1);
  const std::optional<ArpMessage> reply =
      DecodeArp({rte_pktmbuf_mtod(rx[0], const uint8_t*), rx[0]->data_len});
  rte_pktmbuf_free_bulk(rx, n);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->op, ArpOp::kReply);
  EXPECT_EQ(reply->sender_ip, 0x0A000002u);
}

TEST_F(SteeringTest, FullRingDropsCountsAndLeaksNothing) {
  // Rebuild with a one-frame ring.
  for (auto& w : workers_b_) w.reset();
  steering_.reset();
  ports_.clear();
  SetUpWithRing(1);
  const std::vector<uint8_t> frame = WriteFrame();
  SendOnQueue(frame, 0);
  SendOnQueue(frame, 0);
  PollB(0);
  EXPECT_EQ(CountersB(0).steered_out, 1u);
  EXPECT_EQ(CountersB(0).steer_ring_full, 1u);
  PollB(1);
  EXPECT_EQ(CountersB(1).steered_in, 1u);
  // net_ring hands A's mbufs to B: both are back in A's pool, the dropped one
  // and the one worker 1 processed.
  EXPECT_EQ(rte_mempool_in_use_count(ports_[0]->pool(0)), 0u);
}

TEST(PortSteeringTest, RingPortHasNoFlowRulesAndSaysSo) {
  auto pair = CreateRingPortPair("st_flow", 2);
  ASSERT_TRUE(pair.ok()) << pair.status();
  PortOptions options;
  options.port_id = pair->first;
  options.queues = 2;
  options.mbufs_per_queue = 1023;
  auto port = Port::Open(options);
  ASSERT_TRUE(port.ok()) << port.status();
  const absl::Status no_queue = (*port)->SteerUdpPort(5000, 2);
  EXPECT_EQ(no_queue.code(), absl::StatusCode::kInvalidArgument) << no_queue;
  const absl::Status unsupported = (*port)->SteerUdpPort(5000, 1);
  EXPECT_EQ(unsupported.code(), absl::StatusCode::kUnimplemented) << unsupported;
  EXPECT_NE(unsupported.message().find("net_ring"), std::string::npos) << unsupported;
}

}  // namespace
}  // namespace tern::dpdk
