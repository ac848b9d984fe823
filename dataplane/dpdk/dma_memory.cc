#include "dataplane/dpdk/dma_memory.h"

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_memory.h>

namespace tern::dpdk {
namespace {
constexpr uintptr_t kMissWindowShift = 21;  // 2 MiB
}  // namespace

void* AllocateDmaMemory(size_t bytes) {
  return rte_zmalloc("tern_region", bytes, RTE_CACHE_LINE_SIZE);
}

void FreeDmaMemory(void* p) { rte_free(p); }

std::optional<uint64_t> DmaAddressMap::Lookup(const void* bytes, size_t len) {
  const auto begin = reinterpret_cast<uintptr_t>(bytes);
  const uintptr_t end = begin + len;
  if (begin < begin_ || end > end_) {
    if (begin >> kMissWindowShift == miss_window_) return std::nullopt;
    const rte_memseg_list* msl = rte_mem_virt2memseg_list(bytes);
    const rte_memseg* ms = msl != nullptr ? rte_mem_virt2memseg(bytes, msl) : nullptr;
    if (ms == nullptr) {
      miss_window_ = begin >> kMissWindowShift;
      return std::nullopt;
    }
    if ((rte_eal_iova_mode() == RTE_IOVA_VA && msl->external == 0) || ms->iova == RTE_BAD_IOVA) {
      // The whole list shares one rule: IOVA equals VA, or there is none.
      begin_ = reinterpret_cast<uintptr_t>(msl->base_va);
      end_ = begin_ + msl->len;
      delta_ = 0;
      no_iova_ = ms->iova == RTE_BAD_IOVA;
    } else {
      // Physical addresses: contiguous within one memseg (page) only.
      begin_ = reinterpret_cast<uintptr_t>(ms->addr);
      end_ = begin_ + ms->len;
      delta_ = ms->iova - begin_;
      no_iova_ = false;
    }
    if (begin < begin_ || end > end_) return std::nullopt;
  }
  if (no_iova_) return RTE_BAD_IOVA;
  return begin + delta_;
}

}  // namespace tern::dpdk
