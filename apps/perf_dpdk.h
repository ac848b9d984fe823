// tern-perf over DPDK. The EAL is initialised by the caller; the fabric opens
// the ports once and runs one message size at a time with fresh contexts and
// QPs. --loopback: client and server in this process over a net_ring pair,
// each on its own lcore when two are available. Nothing here prints except
// through spdlog.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "apps/perf_options.h"
#include "apps/perf_runner.h"

namespace tern::perf {

class DpdkPerfFabric {
 public:
  static absl::StatusOr<std::unique_ptr<DpdkPerfFabric>> Open(const PerfOptions& options);
  virtual ~DpdkPerfFabric() = default;
  // Runs options.test with `size`-byte messages.
  virtual absl::StatusOr<PerfResult> Run(uint64_t size, const ProgressFn& progress) = 0;
};

}  // namespace tern::perf
