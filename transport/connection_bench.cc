// Packet rate of the protocol core on one core: a sender and a receiver
// context in one thread, wired back to back with no I/O. The sender streams
// RDMA WRITEs in 4 KiB packets; each packet's Tern headers are written in
// front of a fixed payload area, so the wire copies no payload (as a NIC
// sending from registered memory would not) and the outer Ethernet/IP/UDP
// headers are left to the "NIC" (BM_FrameCodec measures them). The receiver
// places every payload into its region — the one copy, standing in for the
// NIC's DMA — and returns ACKs, which the sender processes.
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
  ProtectionDomain* pd = nullptr;
  CompletionQueue* cq = nullptr;
  std::vector<QueuePair*> qps;
  std::vector<MemoryRegion*> mrs;  // one per QP
  std::vector<uint8_t> memory;
};

// `qps` QPs, each allowed `max_send_wr` outstanding messages, each with its
// own region of `region_bytes` starting `region_stride` bytes after the
// previous QP's (a stride of 0: every QP's region is the same memory).
Host MakeHost(int index, size_t qps, uint32_t max_send_wr, size_t region_bytes,
              size_t region_stride, uint32_t packets_per_turn = ContextConfig{}.packets_per_turn) {
  Host h;
  ContextConfig config;
  config.packets_per_turn = packets_per_turn;
  config.local.mac.bytes = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(index + 1)};
  config.local.ip = IpAddress::V4(0x0A000001 + index);
  config.checksum_offload = true;
  config.seed = 7 + index;
  h.context = std::move(*Context::Create(config));
  h.pd = h.context->AllocPd();
  h.cq = *h.context->CreateCq(65536);
  h.memory.resize(region_stride * (qps - 1) + region_bytes);
  for (size_t q = 0; q < qps; ++q) {
    QpInitAttr attr;
    attr.send_cq = h.cq;
    attr.recv_cq = h.cq;
    attr.cap.max_send_wr = max_send_wr;
    attr.transport.window_packets = 1024;
    // The "fixed" default window is a bandwidth-delay product; back to back
    // with no delay the window must simply not be what limits the rate.
    attr.transport.congestion_control = "fixed:window=4194304";
    h.qps.push_back(*h.context->CreateQp(h.pd, attr));
    h.mrs.push_back(*h.pd->RegisterMemory(h.memory.data() + q * region_stride, region_bytes,
                                          kAccessLocalWrite | kAccessRemoteWrite));
  }
  return h;
}

// The two hosts and the "wire" between them: each Step() moves one burst of
// data to the receiver and the receiver's ACKs back.
class BackToBack {
 public:
  BackToBack(Host& sender, Host& receiver) : sender_(sender), receiver_(receiver) {
    Context* const contexts[2] = {sender.context.get(), receiver.context.get()};
    for (size_t q = 0; q < sender.qps.size(); ++q) {
      QueuePair* const pair[2] = {sender.qps[q], receiver.qps[q]};
      testing::ConnectInProcess(pair, contexts, {1, 1}, {});
    }
    to_receiver_.src = sender.context->local();
    to_sender_.src = receiver.context->local();
  }

  // A WRITE of the whole region of sender QP `q` into receiver QP `q`'s.
  SendWr Write(size_t q, Sge& sge) const {
    sge = {sender_.mrs[q]->addr(), static_cast<uint32_t>(sender_.mrs[q]->length()),
           sender_.mrs[q]->lkey()};
    SendWr wr;
    wr.wr_id = q;
    wr.opcode = WrOpcode::kRdmaWrite;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {&sge, 1};
    wr.remote_addr = receiver_.mrs[q]->addr();
    wr.rkey = receiver_.mrs[q]->rkey();
    return wr;
  }

  void Step() {
    const size_t n = sender_.context->PollTransmit(now_, packets_);
    for (size_t i = 0; i < n; ++i) {
      const TxPacket& p = packets_[i];
      uint8_t* start = frames_[i].data() + kHeadroom - p.header_len;
      std::memcpy(start, p.header, p.header_len);
      to_receiver_.tern = {start, p.header_len + p.payload.size()};
      to_receiver_.entropy = p.entropy;
      receiver_.context->OnPacket(to_receiver_, now_);
      data_packets_ += p.payload.size() == kPayload;
    }
    const size_t acks = receiver_.context->PollTransmit(now_, packets_);
    for (size_t i = 0; i < acks; ++i) {
      // A control packet may carry others (ACKs of other QPs) as its payload.
      const TxPacket& p = packets_[i];
      std::memcpy(control_.data(), p.header, p.header_len);
      std::memcpy(control_.data() + p.header_len, p.payload.data(), p.payload.size());
      to_sender_.tern = {control_.data(), p.tern_len()};
      to_sender_.entropy = p.entropy;
      sender_.context->OnPacket(to_sender_, now_);
    }
    now_ = now_ + Duration::Nanoseconds(100);
  }

  void Report(benchmark::State& state) const {
    state.SetItemsProcessed(static_cast<int64_t>(data_packets_));
    uint64_t retransmits = 0;
    for (QueuePair* qp : sender_.qps) {
      retransmits += qp->counters().retransmitted_packets;
      if (qp->state() != QpState::kRts) state.SkipWithError("sender QP left RTS");
    }
    state.counters["retransmits"] = static_cast<double>(retransmits);
  }

 private:
  Host& sender_;
  Host& receiver_;
  // One buffer per burst slot: headers go in front of a payload area that is
  // filled once and never copied again.
  std::vector<std::vector<uint8_t>> frames_ =
      std::vector<std::vector<uint8_t>>(kBurst, std::vector<uint8_t>(kHeadroom + kPayload, 0x5A));
  std::vector<uint8_t> control_ = std::vector<uint8_t>(kHeadroom + kPayload);
  TxPacket packets_[kBurst];
  // What the NIC's parser would report for each direction.
  FrameView to_receiver_;
  FrameView to_sender_;
  Time now_ = Time::FromNanoseconds(1000);
  uint64_t data_packets_ = 0;
};

// One QP, messages of `message` bytes, as many posted as the SQ takes.
void BM_CorePacketRate(benchmark::State& state) {
  const auto message = static_cast<size_t>(state.range(0));
  Host sender = MakeHost(0, 1, 64, message, 0);
  Host receiver = MakeHost(1, 1, 64, message, 0);
  BackToBack wire(sender, receiver);
  Sge sge;
  const SendWr wr = wire.Write(0, sge);
  auto refill = [&] {
    while (sender.qps[0]->PostSend(wr).ok()) {
    }
  };
  refill();
  WorkCompletion wcs[64];
  for (auto _ : state) {
    wire.Step();
    while (sender.cq->Poll(wcs) > 0) {
    }
    refill();
  }
  wire.Report(state);
}
// 64 KiB messages: the receiver's region stays in cache. 1 MiB: it does not,
// and placement runs at memory bandwidth.
BENCHMARK(BM_CorePacketRate)->Arg(64 << 10)->Arg(1 << 20);

// Many QPs, as tern-perf's write_bw -q N -s 4096 -t 16 runs them: each QP
// keeps 16 one-packet WRITEs posted and posts the next as one completes.
// Arguments: QPs; page_per_qp: 1, each QP writes its own 4 KiB page
// (perftest's buffer convention), 0, every QP's region is one shared page,
// which keeps the placement copy in cache and leaves to the protocol's per-QP
// state what grows with N; packets_per_turn of both contexts (1: a strict
// packet round-robin). Compare items_per_second against qps=1.
void BM_CorePacketRateQps(benchmark::State& state) {
  const auto qps = static_cast<size_t>(state.range(0));
  const size_t stride = state.range(1) != 0 ? kPayload : 0;
  const auto turn = static_cast<uint32_t>(state.range(2));
  constexpr uint32_t kOutstanding = 16;
  Host sender = MakeHost(0, qps, kOutstanding, kPayload, stride, turn);
  Host receiver = MakeHost(1, qps, kOutstanding, kPayload, stride, turn);
  BackToBack wire(sender, receiver);
  auto post = [&](size_t q) {
    Sge sge;
    testing::RequireOk(sender.qps[q]->PostSend(wire.Write(q, sge)), "PostSend");
  };
  for (size_t q = 0; q < qps; ++q) {
    for (uint32_t k = 0; k < kOutstanding; ++k) post(q);
  }
  WorkCompletion wcs[64];
  for (auto _ : state) {
    wire.Step();
    for (size_t got; (got = sender.cq->Poll(wcs)) > 0;) {
      for (size_t i = 0; i < got; ++i) post(wcs[i].wr_id);
    }
    while (receiver.cq->Poll(wcs) > 0) {
    }
  }
  wire.Report(state);
}
BENCHMARK(BM_CorePacketRateQps)
    ->ArgNames({"qps", "page_per_qp", "packets_per_turn"})
    ->ArgsProduct({{1, 10, 100, 1000}, {0, 1}, {1, ContextConfig{}.packets_per_turn}});

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
