// What the data path allocates: every heap allocation made inside a context's
// calls (posting, PollTransmit, OnFrame, CQ polls) once its QPs are at RTS is
// counted. A DPDK worker must allocate nothing there (ContextConfig::
// allocate_up_front); the simulator lets queues grow as used, which costs a
// few allocations per QP early in its life. This binary replaces the global
// operator new, so it holds no other tests.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "transport/testing/connected_pair.h"
#include "transport/verbs.h"

namespace {

thread_local bool counting = false;
thread_local uint64_t allocations = 0;

void* Allocate(std::size_t size, std::size_t alignment) {
  if (counting) ++allocations;
  if (size == 0) size = 1;
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(size)
                : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Out of line: once inlined into a caller, GCC sees free() on what operator
// new returned and warns (-Wmismatched-new-delete), though both are ours.
[[gnu::noinline]] void Release(void* p) noexcept { std::free(p); }

}  // namespace

void* operator new(std::size_t size) { return Allocate(size, 0); }
void* operator new[](std::size_t size) { return Allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, std::size_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t) noexcept { Release(p); }
void operator delete(void* p, std::align_val_t) noexcept { Release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { Release(p); }

namespace tern {
namespace {

// Counts the allocations made while it lives.
class Counted {
 public:
  Counted() { counting = true; }
  ~Counted() { counting = false; }
};

constexpr uint32_t kMtu = 1024;
constexpr uint32_t kRegionBytes = 1 << 20;
constexpr uint64_t kSeed = 11;

// Two hosts back to back, each QP pair moving WRITEs, SENDs and READs with
// every 23rd frame lost on the way, so that loss detection, retransmission
// and timeouts run too. Returns the allocations inside the contexts' calls.
uint64_t AllocationsOnTheDataPath(bool allocate_up_front, int qp_pairs) {
  ContextConfig base;
  base.allocate_up_front = allocate_up_front;
  testing::ConnectedPair pair(kSeed, /*cq_depth=*/4096, base);
  std::vector<uint8_t> memory[2] = {std::vector<uint8_t>(kRegionBytes, 0x11),
                                    std::vector<uint8_t>(kRegionBytes, 0x22)};
  MemoryRegion* mr[2];
  for (int i = 0; i < 2; ++i) {
    mr[i] = *pair.side(i).pd->RegisterMemory(
        memory[i].data(), kRegionBytes, kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead);
  }
  QpInitAttr attr;
  attr.cap.max_send_wr = 128;
  attr.cap.max_recv_wr = 128;
  attr.transport.window_packets = 1024;
  pair.path_mtu = kMtu;
  std::vector<std::pair<QueuePair*, QueuePair*>> qps;
  for (int q = 0; q < qp_pairs; ++q) qps.push_back(pair.ConnectQps(attr));

  allocations = 0;
  const uint32_t slice = kRegionBytes / static_cast<uint32_t>(qp_pairs);
  size_t expected = 0;
  for (int q = 0; q < qp_pairs; ++q) {
    const uint64_t local = mr[0]->addr() + q * slice;
    const uint64_t remote = mr[1]->addr() + q * slice;
    const Sge receive{mr[1]->addr() + q * slice, 64 * 1024, mr[1]->lkey()};
    const Sge writes{local, slice / 2, mr[0]->lkey()};
    const Sge send{local, 64 * 1024, mr[0]->lkey()};
    const Sge read{local + slice / 2, slice / 2, mr[0]->lkey()};
    RecvWr recv;
    recv.sg_list = {&receive, 1};
    SendWr wr[3];
    wr[0].opcode = WrOpcode::kRdmaWrite;
    wr[0].sg_list = {&writes, 1};
    wr[0].remote_addr = remote;
    wr[0].rkey = mr[1]->rkey();
    wr[1].opcode = WrOpcode::kSend;
    wr[1].sg_list = {&send, 1};
    wr[2].opcode = WrOpcode::kRdmaRead;
    wr[2].sg_list = {&read, 1};
    wr[2].remote_addr = remote + slice / 2;
    wr[2].rkey = mr[1]->rkey();
    for (SendWr& w : wr) w.send_flags = kSendSignaled;
    Counted counted;
    EXPECT_TRUE(qps[q].second->PostRecv(recv).ok());
    EXPECT_TRUE(qps[q].first->PostSend(wr).ok());
    expected += 4;  // three at the sender, one receive
  }

  // The harness's own work (the frames on the wire) is not counted.
  pair.around_context_calls = [](bool inside) { counting = inside; };
  uint64_t sent = 0;
  pair.set_filter([&](int, std::vector<uint8_t>&) { return ++sent % 23 != 0; });
  pair.Run();
  size_t completed = 0;
  WorkCompletion wc[32];
  for (int i = 0; i < 2; ++i) {
    for (CompletionQueue* cq : {pair.side(i).send_cq, pair.side(i).recv_cq}) {
      Counted counted;
      for (size_t n; (n = cq->Poll(wc)) > 0;) {
        for (size_t k = 0; k < n; ++k) EXPECT_EQ(wc[k].status, WcStatus::kSuccess);
        completed += n;
      }
    }
  }
  EXPECT_EQ(completed, expected) << "seed " << kSeed;
  uint64_t retransmitted = 0;
  for (const auto& [sender, receiver] : qps) {
    retransmitted += sender->counters().retransmitted_packets;
    retransmitted += receiver->counters().retransmitted_packets;
  }
  EXPECT_GT(retransmitted, 0u) << "the lost frames were sent again";
  return allocations;
}

TEST(DataPathAllocationTest, NothingIsAllocatedWhenQueuesTakeTheirSizeUpFront) {
  EXPECT_EQ(AllocationsOnTheDataPath(/*allocate_up_front=*/true, 1), 0u);
  EXPECT_EQ(AllocationsOnTheDataPath(/*allocate_up_front=*/true, 8), 0u);
}

// The other setting grows the queues as they fill: the count above is not
// zero because nothing was counted.
TEST(DataPathAllocationTest, QueuesThatGrowAllocateAsTheyFill) {
  EXPECT_GT(AllocationsOnTheDataPath(/*allocate_up_front=*/false, 1), 0u);
}

}  // namespace
}  // namespace tern
