// Test support: two hosts with one Context each, joined by a MultipathWire in
// a Simulator, with QP pairs connected in-process. Everything is in virtual
// time and deterministic for the seed.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "dataplane/sim/multipath_wire.h"
#include "dataplane/sim/sim_host.h"
#include "dataplane/sim/simulator.h"
#include "transport/random.h"
#include "transport/testing/connected_pair.h"
#include "transport/verbs.h"

namespace tern::testing {

class SimTestbed {
 public:
  struct Host {
    std::unique_ptr<Context> context;
    std::unique_ptr<sim::SimHost> nic;
    ProtectionDomain* pd = nullptr;
    CompletionQueue* send_cq = nullptr;
    CompletionQueue* recv_cq = nullptr;
  };

  SimTestbed(const sim::MultipathWireConfig& wire_config, uint64_t seed,
             Bandwidth line_rate = Bandwidth::Gbps(400))
      : wire_(sim_, wire_config), rng_(seed) {
    for (int i = 0; i < 2; ++i) {
      ContextConfig config;
      config.local.mac.bytes = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)};
      config.local.ip = IpAddress::V4(0x0A000001 + i);
      config.seed = seed * 2 + i;
      auto context = Context::Create(config);
      RequireOk(context.status(), "Context::Create");
      Host& h = hosts_[i];
      h.context = std::move(*context);
      h.pd = h.context->AllocPd();
      h.send_cq = *h.context->CreateCq(1 << 16);
      h.recv_cq = *h.context->CreateCq(1 << 16);
      const auto port = static_cast<sim::WirePort>(i);
      h.nic = std::make_unique<sim::SimHost>(
          sim_, *h.context, line_rate,
          [this, port](sim::Frame frame) { wire_.Send(port, std::move(frame)); });
      wire_.Connect(port, [nic = h.nic.get()](sim::Frame frame) { nic->Deliver(frame); });
    }
  }

  sim::Simulator& sim() { return sim_; }
  sim::MultipathWire& wire() { return wire_; }
  Host& host(int i) { return hosts_[i]; }
  Random& rng() { return rng_; }

  // Connects one QP on each host; PSNs start at the given values (random
  // when not given).
  std::pair<QueuePair*, QueuePair*> ConnectQps(const QpInitAttr& base = {},
                                               const QpRtsAttr& rts = {}) {
    const Psn first[2] = {static_cast<Psn>(rng_.Next()), static_cast<Psn>(rng_.Next())};
    return ConnectQps(base, rts, first[0], first[1]);
  }
  std::pair<QueuePair*, QueuePair*> ConnectQps(const QpInitAttr& base, const QpRtsAttr& rts,
                                               Psn psn_a, Psn psn_b) {
    QueuePair* qps[2];
    for (int i = 0; i < 2; ++i) {
      QpInitAttr attr = base;
      attr.send_cq = hosts_[i].send_cq;
      attr.recv_cq = hosts_[i].recv_cq;
      auto qp = hosts_[i].context->CreateQp(hosts_[i].pd, attr);
      RequireOk(qp.status(), "CreateQp");
      qps[i] = *qp;
    }
    ConnectInProcess(qps, {hosts_[0].context.get(), hosts_[1].context.get()}, {psn_a, psn_b}, rts);
    return {qps[0], qps[1]};
  }

  // Lets both NICs pick up newly posted work.
  void Kick() {
    for (Host& h : hosts_) h.nic->Kick();
  }

  // Runs until `done()` holds, the simulation runs dry or `limit` of virtual
  // time passes. Returns done().
  template <typename Done>
  bool RunUntil(Done&& done, Duration limit = Duration::Seconds(2)) {
    Kick();
    const Time deadline = sim_.now() + limit;
    sim_.RunWhile([&] { return !done(); }, deadline);
    return done();
  }

 private:
  sim::Simulator sim_;
  sim::MultipathWire wire_;
  Host hosts_[2];
  Random rng_;
};

}  // namespace tern::testing
