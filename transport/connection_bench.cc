// Packet rate of the protocol core on one core: a sender and a receiver
// context in one thread, wired back to back with no I/O. The sender streams
// RDMA WRITEs of `message` bytes in 4 KiB packets; each packet's Tern headers
// are written in front of a fixed payload area, so the wire copies no payload
// (as a NIC sending from registered memory would not) and the outer
// Ethernet/IP/UDP headers are left to the "NIC" (BM_FrameCodec measures them).
// The receiver places every payload into its region — the one copy, standing
// in for the NIC's DMA — and returns ACKs, which the sender processes.
// items_per_second = data packets per second.
//
// Checksums are left to the "NIC" too (checksum_offload); BM_Crc32c4KiB
// measures what computing them in software costs per packet.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <vector>

#include "transport/testing/connected_pair.h"
#include "transport/verbs.h"

namespace tern {
namespace {

constexpr uint32_t kPayload = 4096;
constexpr size_t kBurst = 32;
constexpr size_t kHeadroom = 128;  // room for outer + Tern headers before the payload

struct Host {
  std::unique_ptr<Context> context;
  CompletionQueue* cq;
  QueuePair* qp;
  std::vector<uint8_t> memory;
  MemoryRegion* mr;
};

Host MakeHost(int index, uint32_t message) {
  Host h;
  ContextConfig config;
  config.local.mac.bytes = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(index + 1)};
  config.local.ip = IpAddress::V4(0x0A000001 + index);
  config.checksum_offload = true;
  config.seed = 7 + index;
  h.context = std::move(*Context::Create(config));
  ProtectionDomain* pd = h.context->AllocPd();
  h.cq = *h.context->CreateCq(65536);
  QpInitAttr attr;
  attr.send_cq = h.cq;
  attr.recv_cq = h.cq;
  attr.cap.max_send_wr = 64;
  attr.transport.window_packets = 1024;
  // The "fixed" default window is a bandwidth-delay product; back to back
  // with no delay the window must simply not be what limits the rate.
  attr.transport.congestion_control = "fixed:window=4194304";
  h.qp = *h.context->CreateQp(pd, attr);
  h.memory.resize(message);
  h.mr =
      *pd->RegisterMemory(h.memory.data(), h.memory.size(), kAccessLocalWrite | kAccessRemoteWrite);
  return h;
}

void Connect(Host& a, Host& b) {
  for (Host* h : {&a, &b}) testing::RequireOk(h->qp->ToInit({}), "ToInit");
  for (auto [self, peer] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    QpRtrAttr rtr;
    rtr.dest_qp_num = peer->qp->qp_num();
    rtr.remote = peer->context->local();
    testing::RequireOk(self->qp->ToRtr(rtr), "ToRtr");
    testing::RequireOk(self->qp->ToRts({}), "ToRts");
  }
}

void BM_CorePacketRate(benchmark::State& state) {
  const auto message = static_cast<uint32_t>(state.range(0));
  Host sender = MakeHost(0, message);
  Host receiver = MakeHost(1, message);
  Connect(sender, receiver);

  Sge sge{reinterpret_cast<uint64_t>(sender.memory.data()), message, sender.mr->lkey()};
  SendWr wr;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.remote_addr = reinterpret_cast<uint64_t>(receiver.memory.data());
  wr.rkey = receiver.mr->rkey();
  auto refill = [&] {
    while (sender.qp->PostSend(wr).ok()) {
    }
  };
  refill();

  // One buffer per burst slot: headers go in front of a payload area that is
  // filled once and never copied again.
  std::vector<std::vector<uint8_t>> frames(kBurst,
                                           std::vector<uint8_t>(kHeadroom + kPayload, 0x5A));
  TxPacket packets[kBurst];
  WorkCompletion wcs[64];
  Time now = Time::FromNanoseconds(1000);
  uint64_t data_packets = 0;
  // What the NIC's parser would report for each direction.
  FrameView to_receiver;
  to_receiver.src = sender.context->local();
  FrameView to_sender;
  to_sender.src = receiver.context->local();

  for (auto _ : state) {
    const size_t n = sender.context->PollTransmit(now, packets);
    for (size_t i = 0; i < n; ++i) {
      const TxPacket& p = packets[i];
      uint8_t* start = frames[i].data() + kHeadroom - p.header_len;
      std::memcpy(start, p.header, p.header_len);
      to_receiver.tern = {start, p.header_len + p.payload.size()};
      to_receiver.entropy = p.entropy;
      receiver.context->OnPacket(to_receiver, now);
      data_packets += p.payload.size() == kPayload;
    }
    const size_t acks = receiver.context->PollTransmit(now, packets);
    for (size_t i = 0; i < acks; ++i) {
      to_sender.tern = {packets[i].header, packets[i].header_len};
      to_sender.entropy = packets[i].entropy;
      sender.context->OnPacket(to_sender, now);
    }
    while (sender.cq->Poll(wcs) > 0) {
    }
    refill();
    now = now + Duration::Nanoseconds(100);
  }
  state.SetItemsProcessed(static_cast<int64_t>(data_packets));
  state.counters["retransmits"] = static_cast<double>(sender.qp->counters().retransmitted_packets);
  state.counters["acks"] = static_cast<double>(receiver.qp->counters().acks_sent);
  if (sender.qp->state() != QpState::kRts) state.SkipWithError("sender QP left RTS");
}
// 64 KiB messages: the receiver's region stays in cache. 1 MiB: it does not,
// and placement runs at memory bandwidth.
BENCHMARK(BM_CorePacketRate)->Arg(64 << 10)->Arg(1 << 20);

void BM_FrameCodec(benchmark::State& state) {
  Endpoint a, b;
  a.ip = IpAddress::V4(0x0A000001);
  b.ip = IpAddress::V4(0x0A000002);
  std::vector<uint8_t> frame(kMaxOuterHeaderBytes + 60 + kPayload, 0);
  for (auto _ : state) {
    EncodeFrameHeaders(frame.data(), a, b, 0xC001, 60 + kPayload);
    benchmark::DoNotOptimize(DecodeFrame(frame, kDefaultUdpPort));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameCodec);

void BM_Crc32c4KiB(benchmark::State& state) {
  std::vector<uint8_t> packet(kPayload + 60, 0xA5);
  for (auto _ : state) {
    benchmark::DoNotOptimize(TernChecksum(packet));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(packet.size()));
}
BENCHMARK(BM_Crc32c4KiB);

}  // namespace
}  // namespace tern

BENCHMARK_MAIN();
