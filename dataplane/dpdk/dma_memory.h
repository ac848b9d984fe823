// Memory a port can transmit from without a copy: what DPDK manages (its
// heap, hugepages or the --no-huge arena, and memory added with
// rte_extmem_register), because only there does DPDK know the I/O address
// (IOVA) a NIC's DMA engine needs. Message buffers anywhere else are copied
// into mbufs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tern::dpdk {

// Zeroed memory from DPDK's heap (the calling lcore's socket first), or null
// when the heap has no room; free with FreeDmaMemory. Registering it as a
// memory region lets the port send its payload by reference (PortWorker's
// zero-copy).
void* AllocateDmaMemory(size_t bytes);
void FreeDmaMemory(void* p);

// Finds the IOVA of a buffer, remembering the last piece of DPDK memory it
// found and the last 2 MiB window it did not, so the lookup costs a compare on
// the fast path. Per worker: not thread-safe.
class DmaAddressMap {
 public:
  // The IOVA of `bytes`, or nullopt when it is not DPDK memory, or crosses
  // from one physically contiguous piece to another. The value may be
  // RTE_BAD_IOVA where DPDK has none (--no-huge without IOVA-as-VA): its own
  // mbufs there have none either, so only PMDs that never DMA run there.
  std::optional<uint64_t> Lookup(const void* bytes, size_t len);

 private:
  uintptr_t begin_ = 0;  // [begin_, end_) is DPDK memory at iova = va + delta_
  uintptr_t end_ = 0;
  uint64_t delta_ = 0;
  bool no_iova_ = false;
  uintptr_t miss_window_ = UINTPTR_MAX;  // a 2 MiB window found not to be DPDK memory
};

}  // namespace tern::dpdk
