#include "dataplane/dpdk/capture.h"

#include <fcntl.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace tern::dpdk {
namespace {
constexpr uint32_t kSnapLength = 16384;  // whole jumbo frames
constexpr uint16_t kMaxBurst = 64;
}  // namespace

absl::StatusOr<std::unique_ptr<PacketCapture>> PacketCapture::Open(const std::string& path) {
  std::unique_ptr<PacketCapture> capture(new PacketCapture());
  capture->path_ = path;
  capture->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (capture->fd_ < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--pcap: cannot create %s: %s", path, std::strerror(errno)));
  }
  // Each process needs its own pool name: several captures may share a
  // machine but not a file prefix, and a process may open more than one.
  static std::atomic<int> instance{0};
  const std::string pool_name = absl::StrFormat("tern_pcapng%d", instance++);
  capture->pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), 4095, 64, 0,
                                           static_cast<uint16_t>(rte_pcapng_mbuf_size(kSnapLength)),
                                           static_cast<int>(rte_socket_id()));
  if (capture->pool_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("--pcap: no memory for capture buffers: %s", rte_strerror(rte_errno)));
  }
  capture->writer_ = rte_pcapng_fdopen(capture->fd_, nullptr, nullptr, "tern", nullptr);
  if (capture->writer_ == nullptr) {
    return absl::InternalError(absl::StrFormat("--pcap: cannot start a pcapng file in %s: %s", path,
                                               rte_strerror(rte_errno)));
  }
  capture->fd_ = -1;  // owned by the writer now
  return capture;
}

PacketCapture::~PacketCapture() {
  if (writer_ != nullptr) rte_pcapng_close(writer_);
  if (fd_ >= 0) ::close(fd_);
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

void PacketCapture::Record(uint16_t port, uint16_t queue, rte_mbuf* const* frames, uint16_t count,
                           Direction direction, uint64_t tsc) {
  const std::lock_guard<std::mutex> lock(mutex_);
  rte_mbuf* copies[kMaxBurst];
  for (uint16_t done = 0; done < count;) {
    const uint16_t n = std::min<uint16_t>(kMaxBurst, static_cast<uint16_t>(count - done));
    uint16_t copied = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* copy = rte_pcapng_copy(
          port, queue, frames[done + i], pool_, kSnapLength, tsc,
          direction == Direction::kIn ? RTE_PCAPNG_DIRECTION_IN : RTE_PCAPNG_DIRECTION_OUT);
      if (copy == nullptr) {
        ++frames_missed_;
        continue;
      }
      copies[copied++] = copy;
    }
    if (copied > 0) {
      if (rte_pcapng_write_packets(writer_, copies, copied) < 0) {
        frames_missed_ += copied;
      } else {
        frames_written_ += copied;
      }
      rte_pktmbuf_free_bulk(copies, copied);
    }
    done = static_cast<uint16_t>(done + n);
  }
}

}  // namespace tern::dpdk
