#include "dataplane/dpdk/eal.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>

#include "absl/strings/str_format.h"

namespace tern::dpdk {

void SplitEalArguments(const std::vector<std::string>& argv, std::vector<std::string>* eal,
                       std::vector<std::string>* app) {
  eal->clear();
  app->clear();
  size_t i = 0;
  for (; i < argv.size() && argv[i] != "--"; ++i) eal->push_back(argv[i]);
  for (++i; i < argv.size(); ++i) app->push_back(argv[i]);
}

absl::StatusOr<std::unique_ptr<Eal>> Eal::Init(const std::vector<std::string>& argv,
                                               std::vector<std::string>* app_args) {
  static std::atomic<bool> initialised{false};
  if (initialised.exchange(true)) {
    return absl::FailedPreconditionError("the DPDK EAL is already initialised in this process");
  }
  std::vector<std::string> eal_args;
  SplitEalArguments(argv, &eal_args, app_args);
  // rte_eal_init may permute argv; give it copies it can own.
  std::vector<char*> raw;
  for (std::string& a : eal_args) raw.push_back(a.data());
  raw.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(raw.size() - 1), raw.data());
  if (rc < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EAL initialisation failed: %s (check the EAL arguments before '--': -l CORES, "
        "--file-prefix NAME, --no-huge or hugepages, -a/--vdev devices)",
        rte_strerror(rte_errno)));
  }
  return std::unique_ptr<Eal>(new Eal());
}

Eal::~Eal() { rte_eal_cleanup(); }

uint64_t ReadTsc() { return rte_rdtsc(); }
uint64_t TscHz() { return rte_get_tsc_hz(); }

std::vector<unsigned> WorkerLcores() {
  std::vector<unsigned> lcores;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) { lcores.push_back(lcore); }
  return lcores;
}

bool LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg) {
  return rte_eal_remote_launch(fn, arg, lcore) == 0;
}

void WaitForLcore(unsigned lcore) { rte_eal_wait_lcore(lcore); }

}  // namespace tern::dpdk
