// Software steering between the workers of one port. Each worker's Context
// listens on its own UDP port; the NIC puts a frame on that worker's queue
// where it can (Port::SteerUdpPort), and a worker that receives a frame for
// another (RSS spreading by entropy, a port without flow rules, queues shared)
// hands the mbuf to its owner through the owner's ring: no lock, no copy.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

struct rte_mbuf;
struct rte_ring;

namespace tern::dpdk {

class SoftwareSteering {
 public:
  // `udp_ports[i]` is worker i's Tern UDP port; ports must be distinct.
  // Each worker gets a ring of `ring_slots` frames.
  static absl::StatusOr<std::unique_ptr<SoftwareSteering>> Create(
      std::span<const uint16_t> udp_ports, uint32_t ring_slots = 4096);
  ~SoftwareSteering();  // frees the frames still queued
  SoftwareSteering(const SoftwareSteering&) = delete;
  SoftwareSteering& operator=(const SoftwareSteering&) = delete;

  int workers() const { return static_cast<int>(udp_ports_.size()); }
  // The worker whose context listens on `udp_port`, or -1.
  int OwnerOf(uint16_t udp_port) const;
  // Queues `frame` for worker `to` (any thread). False when that ring is full:
  // the frame is still the caller's.
  bool HandOver(int to, rte_mbuf* frame);
  // Frames handed to `worker`, at most out.size(); only from that worker.
  size_t Take(int worker, std::span<rte_mbuf*> out);

 private:
  SoftwareSteering() = default;
  std::vector<uint16_t> udp_ports_;
  std::vector<rte_ring*> rings_;  // rings_[i]: frames for worker i
};

class Port;

// Steers the frames of `workers` workers on `port` (worker w on queue w and
// UDP port WorkerUdpPort(w)): asks the NIC to put each worker's frames on its
// queue, logging what the port cannot do, and returns the software steering
// that hands over the frames that land on another worker's queue; null for
// one worker. Refuses a port with fewer queues than workers.
absl::StatusOr<std::unique_ptr<SoftwareSteering>> SteerWorkers(Port& port, int workers);

}  // namespace tern::dpdk
