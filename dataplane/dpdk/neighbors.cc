#include "dataplane/dpdk/neighbors.h"

namespace tern::dpdk {

void NeighborTable::Learn(const IpAddress& ip, const MacAddress& mac) {
  for (Entry& e : entries_) {
    if (e.ip == ip) {
      e.mac = mac;
      return;
    }
  }
  entries_.push_back({ip, mac});
}

std::optional<MacAddress> NeighborTable::Lookup(const IpAddress& ip) const {
  for (const Entry& e : entries_) {
    if (e.ip == ip) return e.mac;
  }
  return std::nullopt;
}

}  // namespace tern::dpdk
