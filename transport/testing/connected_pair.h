// Test support: two contexts joined back to back in one thread, with a fake
// clock and a hook that may drop or alter frames. Each context has one PD, one
// CQ pair and can create connected QPs with ConnectQps(). Frames are delivered
// after `one_way_delay`, in the order sent.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "transport/verbs.h"

namespace tern::testing {

// Set-up in test support must not fail; when it does, say why and stop.
inline void RequireOk(const absl::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  std::abort();
}

// Brings two freshly created QPs of two contexts to RTS facing each other, as
// an out-of-band exchange would: `first_psn[i]` is the first PSN QP i sends;
// `rtr` gives the rest of RTR (the peer's address and PSN are filled in).
inline void ConnectInProcess(QueuePair* const (&qps)[2], Context* const (&contexts)[2],
                             const Psn (&first_psn)[2], const QpRtsAttr& rts,
                             const QpRtrAttr& rtr_base = {}) {
  for (QueuePair* qp : qps) RequireOk(qp->ToInit({}), "ToInit");
  for (int i = 0; i < 2; ++i) {
    QpRtrAttr rtr = rtr_base;
    rtr.dest_qp_num = qps[1 - i]->qp_num();
    rtr.rq_psn = first_psn[1 - i];
    rtr.remote = contexts[1 - i]->local();
    RequireOk(qps[i]->ToRtr(rtr), "ToRtr");
    QpRtsAttr rts_attr = rts;
    rts_attr.sq_psn = first_psn[i];
    RequireOk(qps[i]->ToRts(rts_attr), "ToRts");
  }
}

class ConnectedPair {
 public:
  struct Side {
    std::unique_ptr<Context> context;
    ProtectionDomain* pd = nullptr;
    CompletionQueue* send_cq = nullptr;
    CompletionQueue* recv_cq = nullptr;
  };
  // Returns false to drop the frame. May modify it.
  using FrameFilter = std::function<bool(int from_side, std::vector<uint8_t>& frame)>;

  // `base`: what both contexts share (addresses and seeds are set here).
  explicit ConnectedPair(uint64_t seed = 1, size_t cq_depth = 4096,
                         const ContextConfig& base = {}) {
    for (int i = 0; i < 2; ++i) {
      ContextConfig config = base;
      config.local.mac.bytes = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)};
      config.local.ip = IpAddress::V4(0x0A000001 + i);
      config.seed = seed + i;
      auto context = Context::Create(config);
      RequireOk(context.status(), "Context::Create");
      sides_[i].context = std::move(*context);
      sides_[i].pd = sides_[i].context->AllocPd();
      sides_[i].send_cq = *sides_[i].context->CreateCq(cq_depth);
      sides_[i].recv_cq = *sides_[i].context->CreateCq(cq_depth);
    }
  }

  Side& side(int i) { return sides_[i]; }
  Time now() const { return now_; }
  void set_filter(FrameFilter filter) { filter_ = std::move(filter); }
  // Called with true before and false after each PollTransmit and OnFrame
  // that Run makes, apart from the harness's own work (tests that watch what
  // the data path does, such as its allocations).
  std::function<void(bool inside)> around_context_calls = [](bool) {};
  Duration one_way_delay = Duration::Microseconds(1);
  // Time a frame spends on the wire beyond one_way_delay, so that a later
  // frame can overtake it; none when unset.
  std::function<Duration(int from_side, const std::vector<uint8_t>& frame)> extra_delay;
  // Of the QPs ConnectQps makes.
  uint32_t path_mtu = QpRtrAttr{}.path_mtu;
  uint32_t max_dest_rd_atomic = QpRtrAttr{}.max_dest_rd_atomic;

  // Creates one QP on each side and brings both to RTS, connected.
  std::pair<QueuePair*, QueuePair*> ConnectQps(const QpInitAttr& base_attr = {}, Psn psn_a = 0,
                                               Psn psn_b = 0, const QpRtsAttr& rts = {}) {
    QueuePair* qps[2];
    for (int i = 0; i < 2; ++i) {
      QpInitAttr attr = base_attr;
      attr.send_cq = sides_[i].send_cq;
      attr.recv_cq = sides_[i].recv_cq;
      auto qp = sides_[i].context->CreateQp(sides_[i].pd, attr);
      RequireOk(qp.status(), "CreateQp");
      qps[i] = *qp;
    }
    QpRtrAttr rtr;
    rtr.path_mtu = path_mtu;
    rtr.max_dest_rd_atomic = max_dest_rd_atomic;
    ConnectInProcess(qps, {sides_[0].context.get(), sides_[1].context.get()}, {psn_a, psn_b}, rts,
                     rtr);
    return {qps[0], qps[1]};
  }

  // Moves packets until both sides are idle or `limit` passes. Returns the
  // number of frames delivered.
  uint64_t Run(Duration limit = Duration::Seconds(1)) {
    const Time end = now_ + limit;
    uint64_t delivered = 0;
    TxPacket packets[16];
    std::vector<uint8_t> frame;
    while (now_ <= end) {
      bool progressed = false;
      for (int i = 0; i < 2; ++i) {
        around_context_calls(true);
        const size_t n = sides_[i].context->PollTransmit(now_, packets);
        around_context_calls(false);
        for (size_t k = 0; k < n; ++k) {
          frame.resize(packets[k].frame_len());
          packets[k].WriteFrame(frame.data());
          if (filter_ && !filter_(i, frame)) continue;
          const Time arrival =
              now_ + one_way_delay + (extra_delay ? extra_delay(i, frame) : Duration::Zero());
          // In arrival order; frames arriving together keep their send order.
          const auto later =
              std::upper_bound(in_flight_.begin(), in_flight_.end(), arrival,
                               [](Time t, const Flight& f) { return t < f.arrival; });
          in_flight_.insert(later, {arrival, 1 - i, frame});
        }
        progressed |= n > 0;
      }
      while (!in_flight_.empty() && in_flight_.front().arrival <= now_) {
        Flight f = std::move(in_flight_.front());
        in_flight_.pop_front();
        around_context_calls(true);
        sides_[f.to].context->OnFrame(f.frame, now_);
        around_context_calls(false);
        ++delivered;
        progressed = true;
      }
      if (progressed) continue;
      // Jump the clock to the next thing that can happen.
      Time next = std::min(sides_[0].context->NextWakeup(), sides_[1].context->NextWakeup());
      if (!in_flight_.empty()) next = std::min(next, in_flight_.front().arrival);
      if (next.IsInfinite()) break;
      now_ = std::max(next, now_ + Duration::Nanoseconds(1));
    }
    return delivered;
  }

  static std::vector<WorkCompletion> Drain(CompletionQueue* cq) {
    std::vector<WorkCompletion> out;
    WorkCompletion wc[32];
    for (size_t n; (n = cq->Poll(wc)) > 0;) out.insert(out.end(), wc, wc + n);
    return out;
  }

 private:
  struct Flight {
    Time arrival;
    int to;
    std::vector<uint8_t> frame;
  };
  Side sides_[2];
  Time now_ = Time::FromNanoseconds(1000);
  std::deque<Flight> in_flight_;
  FrameFilter filter_;
};

}  // namespace tern::testing
