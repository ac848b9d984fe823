#include "dataplane/dpdk/capture.h"

#include <fcntl.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_udp.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace tern::dpdk {
namespace {
constexpr uint32_t kSnapLength = 16384;  // whole jumbo frames
constexpr uint16_t kMaxBurst = 64;
constexpr uint64_t kChecksumOffloads = RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;

// A frame handed to the port with checksum offload carries what the DPDK
// contract asks for (IPv4 header checksum 0, UDP checksum the pseudo-header
// sum), not what goes on the wire. The capture shows the wire: fill both in.
void FillOffloadedChecksums(rte_mbuf* m) {
  if (m->nb_segs != 1 || m->data_len < m->l2_len + m->l3_len + sizeof(rte_udp_hdr)) return;
  auto* udp = rte_pktmbuf_mtod_offset(m, rte_udp_hdr*, m->l2_len + m->l3_len);
  if ((m->ol_flags & RTE_MBUF_F_TX_IPV4) != 0) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, m->l2_len);
    if ((m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) != 0) {
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    if ((m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) != 0) {
      udp->dgram_cksum = 0;
      udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    }
  } else if ((m->ol_flags & (RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM)) ==
             (RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM)) {
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, m->l2_len);
    udp->dgram_cksum = 0;
    udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
  }
  m->ol_flags &= ~kChecksumOffloads;
}

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
      rte_mbuf* frame = frames[done + i];
      rte_mbuf* filled = nullptr;  // a linear copy with the checksums the port adds
      if (direction == Direction::kOut && (frame->ol_flags & kChecksumOffloads) != 0) {
        filled = rte_pktmbuf_copy(frame, pool_, 0, kSnapLength);
        if (filled == nullptr) {
          ++frames_missed_;
          continue;
        }
        FillOffloadedChecksums(filled);
        frame = filled;
      }
      rte_mbuf* copy = rte_pcapng_copy(
          port, queue, frame, pool_, kSnapLength, tsc,
          direction == Direction::kIn ? RTE_PCAPNG_DIRECTION_IN : RTE_PCAPNG_DIRECTION_OUT);
      rte_pktmbuf_free(filled);
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
