#include "dataplane/dpdk/steering.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "absl/strings/str_format.h"
#include "dataplane/dpdk/port.h"
#include "spdlog/spdlog.h"
#include "transport/wire.h"

namespace tern::dpdk {

absl::StatusOr<std::unique_ptr<SoftwareSteering>> SoftwareSteering::Create(
    std::span<const uint16_t> udp_ports, uint32_t ring_slots) {
  if (udp_ports.empty()) return absl::InvalidArgumentError("steering: no workers");
  if (ring_slots == 0 || ring_slots > RTE_RING_SZ_MASK) {
    return absl::InvalidArgumentError(
        absl::StrFormat("steering: ring size %d is not in 1..%d", ring_slots, RTE_RING_SZ_MASK));
  }
  for (size_t i = 0; i < udp_ports.size(); ++i) {
    if (std::count(udp_ports.begin(), udp_ports.end(), udp_ports[i]) > 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("steering: UDP port %d belongs to more than one worker", udp_ports[i]));
    }
  }
  std::unique_ptr<SoftwareSteering> steering(new SoftwareSteering());
  steering->udp_ports_.assign(udp_ports.begin(), udp_ports.end());
  // Ring names are global to the EAL instance.
  static std::atomic<int> instances{0};
  const int instance = instances.fetch_add(1);
  for (size_t i = 0; i < udp_ports.size(); ++i) {
    const std::string name = absl::StrFormat("tern_st%d_%d_%d", getpid() % 100000, instance, i);
    // RING_F_EXACT_SZ: `ring_slots` frames fit, not ring_slots - 1.
    rte_ring* ring = rte_ring_create(name.c_str(), ring_slots, static_cast<int>(rte_socket_id()),
                                     RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (ring == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("steering: cannot create ring %s of %d frames: %s", name, ring_slots,
                          rte_strerror(rte_errno)));
    }
    steering->rings_.push_back(ring);
  }
  return steering;
}

SoftwareSteering::~SoftwareSteering() {
  for (rte_ring* ring : rings_) {
    rte_mbuf* frames[32];
    while (unsigned n = rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(frames),
                                               std::size(frames), nullptr)) {
      rte_pktmbuf_free_bulk(frames, n);
    }
    rte_ring_free(ring);
  }
}

int SoftwareSteering::OwnerOf(uint16_t udp_port) const {
  const auto it = std::find(udp_ports_.begin(), udp_ports_.end(), udp_port);
  return it == udp_ports_.end() ? -1 : static_cast<int>(it - udp_ports_.begin());
}

bool SoftwareSteering::HandOver(int to, rte_mbuf* frame) {
  return rte_ring_enqueue(rings_[static_cast<size_t>(to)], frame) == 0;
}

size_t SoftwareSteering::Take(int worker, std::span<rte_mbuf*> out) {
  return rte_ring_dequeue_burst(rings_[static_cast<size_t>(worker)],
                                reinterpret_cast<void**>(out.data()),
                                static_cast<unsigned>(out.size()), nullptr);
}

absl::StatusOr<std::unique_ptr<SoftwareSteering>> SteerWorkers(Port& port, int workers) {
  if (port.info().queues < workers) {
    return absl::FailedPreconditionError(
        absl::StrFormat("port %d has %d queue(s): --workers %d needs one per worker", port.id(),
                        port.info().queues, workers));
  }
  if (workers <= 1) return nullptr;
  std::vector<uint16_t> udp_ports;
  for (int w = 0; w < workers; ++w) udp_ports.push_back(WorkerUdpPort(w));
  for (int w = 0; w < workers; ++w) {
    const absl::Status st = port.SteerUdpPort(udp_ports[w], static_cast<uint16_t>(w));
    if (!st.ok()) {
      spdlog::info("{}; frames that land on another worker's queue are handed over in software",
                   std::string(st.message()));
      break;
    }
  }
  return SoftwareSteering::Create(udp_ports);
}

}  // namespace tern::dpdk
