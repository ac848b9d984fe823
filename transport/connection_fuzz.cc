// Coverage-guided fuzzing of two connected contexts against a hostile wire.
//
// The input drives everything: the QPs' options, the work posted (writes,
// sends, reads, with keys and addresses that may be wrong), and what happens
// to each frame in flight (delivered, dropped, delayed past later ones,
// duplicated, bytes overwritten, cut short, or its Tern packet replaced by
// input bytes). Damaged packets are resealed with a valid checksum, so they
// reach the protocol logic behind the checksum check: what a buggy or
// malicious peer sends, not what a noisy link does.
// Passing means no crash, hang or sanitizer report, and no work request
// completed twice or out of order; each region sits in a heap buffer of its
// exact size, so AddressSanitizer catches a write past it. Each request owns
// a slice of both regions, so when no frame was damaged and no address was
// wild, every request that completed successfully must have moved exactly
// its source's bytes.
//
// Built two ways (the fuzz_targets loop at the end of meson.build): with
// -Dfuzzing=true (clang), as a libFuzzer binary; otherwise with
// transport/testing/fuzz_driver.cc, which replays the corpus in
// transport/fuzz_corpus/connection and a run of seeded random inputs as a
// test. docs/fuzzing.md says how to fuzz.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "cc/registry.h"
#include "transport/testing/connected_pair.h"
#include "transport/testing/fuzz_check.h"
#include "transport/testing/fuzz_input.h"
#include "transport/verbs.h"
#include "transport/wire.h"

namespace tern {
namespace {

using testing::FuzzInput;

// Request n uses slice n of each side's region, so no two requests touch the
// same bytes and each one's result can be checked on its own.
constexpr uint32_t kMaxRequests = 8;
constexpr size_t kSliceBytes = 4096;
constexpr size_t kRegionBytes = kMaxRequests * kSliceBytes;

// Byte `i` of slice `slice` of side `side` before the run: a hash, so bytes
// from any other slice or offset differ from the ones expected.
uint8_t PatternByte(int side, uint32_t slice, size_t i) {
  uint32_t h = (static_cast<uint32_t>(side) * kMaxRequests + slice + 1) * 0x9E3779B1u +
               static_cast<uint32_t>(i) * 0x85EBCA77u;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  return static_cast<uint8_t>(h);
}

// Overwrites, cuts or replaces the Tern part of `frame` as the input says,
// then reseals every packet in it and rebuilds the outer headers around it.
void Damage(FuzzInput& in, uint16_t tern_port, std::vector<uint8_t>& frame) {
  const FrameDecodeResult decoded = DecodeFrame(frame, tern_port);
  if (!decoded.ok()) return;
  const FrameView view = decoded.frame;
  std::vector<uint8_t> tern(view.tern.begin(), view.tern.end());
  switch (in.Below(3)) {
    case 0:  // a few bytes overwritten
      for (uint32_t n = 1 + in.Below(4); n > 0 && !tern.empty(); --n) {
        tern[in.Below(static_cast<uint32_t>(tern.size()))] = in.Byte();
      }
      break;
    case 1:  // cut short
      tern.resize(in.Below(static_cast<uint32_t>(tern.size()) + 1));
      break;
    default: {  // a packet of the input's own making
      const std::span<const uint8_t> bytes = in.Bytes(in.Below(256));
      tern.assign(bytes.begin(), bytes.end());
      break;
    }
  }
  // A datagram may hold several coalesced packets: seal each where it lies.
  for (std::span<uint8_t> rest = tern; !rest.empty();) {
    const size_t piece = FirstTernPacket(rest).size();
    SealTernChecksum(rest.first(piece));
    rest = rest.subspan(piece);
  }
  frame.resize(kMaxOuterHeaderBytes + tern.size());
  const size_t headers =
      EncodeFrameHeaders(frame.data(), view.src, view.dst, view.entropy, tern.size());
  std::copy(tern.begin(), tern.end(), frame.begin() + static_cast<ptrdiff_t>(headers));
  frame.resize(headers + tern.size());
}

// Moves frames between the two contexts for 20 ms of virtual time, or until
// both are idle. The input decides each frame's fate: delivered after the
// one-way delay (what every frame gets once the input runs out), dropped,
// damaged, held back so that later frames overtake it, or delivered twice.
// Returns whether any frame was damaged.
bool RunWire(FuzzInput& in, testing::ConnectedPair& pair) {
  constexpr Duration kOneWay = Duration::Microseconds(1);
  Context* const contexts[2] = {pair.side(0).context.get(), pair.side(1).context.get()};
  struct Flight {
    int to;
    std::vector<uint8_t> frame;
  };
  // By arrival, then by when the frame was sent.
  std::multimap<Time, Flight> flights;
  Time now = Time::FromNanoseconds(1000);
  const Time end = now + Duration::Milliseconds(20);
  TxPacket packets[16];
  bool damaged = false;
  while (now <= end) {
    bool progressed = false;
    for (int from = 0; from < 2; ++from) {
      const size_t n = contexts[from]->PollTransmit(now, packets);
      for (size_t k = 0; k < n; ++k) {
        std::vector<uint8_t> frame(packets[k].frame_len());
        packets[k].WriteFrame(frame.data());
        Time arrival = now + kOneWay;
        switch (in.Below(8)) {
          case 5:  // lost
            continue;
          case 6:
            Damage(in, contexts[1 - from]->local().udp_port, frame);
            damaged = true;
            break;
          case 7:  // late, and maybe twice
            if (in.Bit()) flights.emplace(arrival, Flight{1 - from, frame});
            arrival = arrival + Duration::Nanoseconds(in.Below(50'000));
            break;
          default:
            break;
        }
        flights.emplace(arrival, Flight{1 - from, std::move(frame)});
      }
      progressed |= n > 0;
    }
    while (!flights.empty() && flights.begin()->first <= now) {
      const Flight flight = std::move(flights.begin()->second);
      flights.erase(flights.begin());
      contexts[flight.to]->OnFrame(flight.frame, now);
      progressed = true;
    }
    if (progressed) continue;
    Time next = std::min(contexts[0]->NextWakeup(), contexts[1]->NextWakeup());
    if (!flights.empty()) next = std::min(next, flights.begin()->first);
    if (next.IsInfinite()) break;
    now = std::max(next, now + Duration::Nanoseconds(1));
  }
  return damaged;
}

// A request as posted, for checking its result.
struct Posted {
  int from = 0;
  WrOpcode opcode = WrOpcode::kSend;
  const uint8_t* local = nullptr;   // its scatter-gather entry
  const uint8_t* remote = nullptr;  // remote_addr
  uint32_t length = 0;
  bool accepted = false;  // PostSend took it
};

// Whether `length` bytes at `got` equal those at `want`; on a mismatch,
// says where.
void CheckBytes(const uint8_t* got, const uint8_t* want, uint32_t length, const std::string& what) {
  for (uint32_t i = 0; i < length; ++i) {
    if (got[i] != want[i]) {
      testing::FuzzCheckFailed(what + ": byte " + std::to_string(i) + " of " +
                               std::to_string(length) + " differs");
    }
  }
}

// Every successful completion moved exactly its source's bytes: a WRITE's to
// the remote slice, a READ's from it, a SEND's into the receive it landed in
// (a SEND from the other side with the same length: receives are consumed in
// the order posted, which need not be the requests' order when some were
// refused).
void CheckData(const std::vector<Posted>& posted, const std::vector<const uint8_t*>& landing,
               const std::vector<WorkCompletion> (&send_completions)[2],
               const std::vector<WorkCompletion> (&recv_completions)[2]) {
  for (int side = 0; side < 2; ++side) {
    for (const WorkCompletion& wc : send_completions[side]) {
      if (wc.status != WcStatus::kSuccess || wc.wr_id >= posted.size()) continue;
      const Posted& p = posted[wc.wr_id];
      const std::string what =
          "side " + std::to_string(side) + " request " + std::to_string(wc.wr_id);
      if (p.opcode == WrOpcode::kRdmaWrite || p.opcode == WrOpcode::kRdmaWriteWithImm) {
        CheckBytes(p.remote, p.local, p.length, what + " (WRITE), at the responder");
      } else if (p.opcode == WrOpcode::kRdmaRead) {
        CheckBytes(p.local, p.remote, p.length, what + " (READ), at the requester");
      }
    }
    for (const WorkCompletion& wc : recv_completions[side]) {
      if (wc.status != WcStatus::kSuccess || wc.opcode != WcOpcode::kRecv ||
          wc.wr_id >= landing.size() || landing[wc.wr_id] == nullptr) {
        continue;
      }
      const uint8_t* at = landing[wc.wr_id];
      const bool matched = std::any_of(posted.begin(), posted.end(), [&](const Posted& p) {
        return p.accepted && p.from != side && p.length == wc.byte_len &&
               (p.opcode == WrOpcode::kSend || p.opcode == WrOpcode::kSendWithImm) &&
               std::equal(p.local, p.local + p.length, at);
      });
      if (!matched) {
        testing::FuzzCheckFailed("side " + std::to_string(side) + " receive " +
                                 std::to_string(wc.wr_id) + " holds " +
                                 std::to_string(wc.byte_len) + " bytes no SEND sent");
      }
    }
  }
}

void RunOne(std::span<const uint8_t> data) {
  FuzzInput in(data);
  ContextConfig base;
  base.coalesce_control = in.Bit();
  testing::ConnectedPair pair(/*seed=*/1, /*cq_depth=*/64, base);
  static constexpr uint32_t kMtus[] = {256, 1024, 4096};
  pair.path_mtu = kMtus[in.Below(3)];

  QpInitAttr attr;
  attr.transport.window_packets = 16u << in.Below(3);
  attr.transport.paths = static_cast<uint16_t>(1 + in.Below(8));
  attr.transport.pull_window_packets = in.Bit() ? 0 : 4;
  const auto& algorithms = RegisteredAlgorithms();
  attr.transport.congestion_control =
      std::string(algorithms[in.Below(static_cast<uint32_t>(algorithms.size()))].name);
  QueuePair* qps[2];
  std::tie(qps[0], qps[1]) = pair.ConnectQps(attr, in.Uint32(), in.Uint32());

  std::vector<uint8_t> memory[2] = {std::vector<uint8_t>(kRegionBytes),
                                    std::vector<uint8_t>(kRegionBytes)};
  MemoryRegion* regions[2];
  for (int i = 0; i < 2; ++i) {
    for (size_t b = 0; b < kRegionBytes; ++b) {
      memory[i][b] = PatternByte(i, static_cast<uint32_t>(b / kSliceBytes), b % kSliceBytes);
    }
    auto mr =
        pair.side(i).pd->RegisterMemory(memory[i].data(), memory[i].size(),
                                        kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead);
    testing::RequireOk(mr.status(), "RegisterMemory");
    regions[i] = *mr;
  }

  // Work on either side, each request in its own slice, except where one
  // input byte in 32 gives a wrong key or an address anywhere (wild).
  std::vector<Posted> posted;
  std::vector<const uint8_t*> landing;  // by receive id (the request's); null: none posted
  bool wild = false;
  for (uint32_t n = in.Below(kMaxRequests + 1), id = 0; n > 0; --n, ++id) {
    const int from = in.Bit() ? 1 : 0;
    const MemoryRegion* local = regions[from];
    const MemoryRegion* remote = regions[1 - from];
    const uint32_t length = in.Below(kSliceBytes + 1);
    const auto somewhere_for = [&](const MemoryRegion* mr) {
      if (in.Below(32) == 31) {
        wild = true;
        return uint64_t{in.Uint32()} << in.Below(33);
      }
      return mr->addr() + id * kSliceBytes + in.Below(kSliceBytes - length + 1);
    };
    const Sge sge{somewhere_for(local), length, local->lkey()};
    SendWr wr;
    wr.wr_id = id;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {&sge, static_cast<size_t>(length > 0 ? 1 : 0)};
    wr.opcode = static_cast<WrOpcode>(in.Below(5));
    wr.imm_data = in.Uint32();
    wr.remote_addr = somewhere_for(remote);
    wr.rkey = in.Below(32) == 31 ? in.Uint32() : remote->rkey();
    landing.push_back(nullptr);
    if (wr.opcode == WrOpcode::kSend || wr.opcode == WrOpcode::kSendWithImm ||
        wr.opcode == WrOpcode::kRdmaWriteWithImm) {
      const Sge receive{somewhere_for(remote), length, remote->lkey()};
      landing.back() = reinterpret_cast<const uint8_t*>(receive.addr);
      RecvWr recv;
      recv.wr_id = id;
      recv.sg_list = {&receive, static_cast<size_t>(length > 0 ? 1 : 0)};
      (void)qps[1 - from]->PostRecv(recv);  // refused when out of bounds: fine
    }
    // Refused when malformed: fine.
    const bool accepted = qps[from]->PostSend(wr).ok();
    posted.push_back({from, wr.opcode, reinterpret_cast<const uint8_t*>(sge.addr),
                      reinterpret_cast<const uint8_t*>(wr.remote_addr), length, accepted});
  }

  const bool damaged = RunWire(in, pair);

  std::vector<WorkCompletion> send_completions[2];
  std::vector<WorkCompletion> recv_completions[2];
  for (int i = 0; i < 2; ++i) {
    send_completions[i] = testing::ConnectedPair::Drain(pair.side(i).send_cq);
    recv_completions[i] = testing::ConnectedPair::Drain(pair.side(i).recv_cq);
  }
  // Whatever the wire did, a work request completes at most once, and each
  // queue's completions come in the order its requests were posted (ids
  // grow with posting order on both sides).
  for (int i = 0; i < 2; ++i) {
    for (const std::vector<WorkCompletion>* completions :
         {&send_completions[i], &recv_completions[i]}) {
      for (size_t k = 1; k < completions->size(); ++k) {
        if ((*completions)[k].wr_id <= (*completions)[k - 1].wr_id) {
          testing::FuzzCheckFailed("side " + std::to_string(i) + ": completion of request " +
                                   std::to_string((*completions)[k].wr_id) + " after that of " +
                                   std::to_string((*completions)[k - 1].wr_id));
        }
      }
    }
  }
  // A damaged packet was resealed, so its bytes may have been placed as
  // sent; a wild address may land in another request's slice.
  if (!damaged && !wild) CheckData(posted, landing, send_completions, recv_completions);
}

}  // namespace
}  // namespace tern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::RunOne({data, size});
  return 0;
}
