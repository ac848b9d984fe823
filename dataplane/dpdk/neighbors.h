// IP -> MAC for the next hops a worker sends to, learned from ARP (IPv4) and
// neighbor discovery (IPv6) or set statically. Small and linear: a host
// talks to a handful of next hops.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "transport/wire.h"

namespace tern::dpdk {

class NeighborTable {
 public:
  void Learn(const IpAddress& ip, const MacAddress& mac);
  std::optional<MacAddress> Lookup(const IpAddress& ip) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    IpAddress ip;
    MacAddress mac;
  };
  std::vector<Entry> entries_;
};

}  // namespace tern::dpdk
