// pcapng capture of what a port sends and receives (rte_pcapng), for
// Wireshark with tools/wireshark/tern.lua. Debugging aid, not the fast path:
// every burst is copied and written at once, under a lock shared by the
// workers that capture into the same file. Frames sent with checksum
// offload are written with the checksums the port puts on the wire.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_pcapng;

namespace tern::dpdk {

class PacketCapture {
 public:
  enum class Direction { kIn, kOut };

  // Opens (truncates) `path`. Call after the ports exist: the file's
  // interface list is taken from them.
  static absl::StatusOr<std::unique_ptr<PacketCapture>> Open(const std::string& path);
  ~PacketCapture();
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // Copies and writes `count` frames seen on (port, queue) at TSC `tsc`.
  void Record(uint16_t port, uint16_t queue, rte_mbuf* const* frames, uint16_t count,
              Direction direction, uint64_t tsc);

  uint64_t frames_written() const { return frames_written_; }
  uint64_t frames_missed() const { return frames_missed_; }  // no copy buffer or write failed
  const std::string& path() const { return path_; }

 private:
  PacketCapture() = default;
  std::string path_;
  int fd_ = -1;
  rte_pcapng* writer_ = nullptr;
  rte_mempool* pool_ = nullptr;
  std::mutex mutex_;
  uint64_t frames_written_ = 0;
  uint64_t frames_missed_ = 0;
};

}  // namespace tern::dpdk
