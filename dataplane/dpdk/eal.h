// EAL start-up with DPDK's conventions: `app [EAL args] -- [app args]`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::dpdk {

class Eal {
 public:
  // Initialises the EAL from the arguments before "--" (argv[0] included) and
  // returns the handle; `app_args` receives what follows "--". Without "--"
  // every argument goes to the EAL. Only one Eal may exist per process.
  static absl::StatusOr<std::unique_ptr<Eal>> Init(const std::vector<std::string>& argv,
                                                   std::vector<std::string>* app_args);
  ~Eal();  // rte_eal_cleanup
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

 private:
  Eal() = default;
};

// The lcore services the apps need, without DPDK's headers.
uint64_t ReadTsc();  // rte_rdtsc
uint64_t TscHz();    // rte_get_tsc_hz
// The enabled worker lcores (every -l lcore but the main one), in order.
std::vector<unsigned> WorkerLcores();
// Runs fn(arg) on `lcore` (rte_eal_remote_launch); false when it cannot.
bool LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg);
// Waits for what LaunchOnLcore started there to return.
void WaitForLcore(unsigned lcore);

// Splits `argv` at the first "--": EAL part (with argv[0]) and app part.
// Exposed for tests.
void SplitEalArguments(const std::vector<std::string>& argv, std::vector<std::string>* eal,
                       std::vector<std::string>* app);

}  // namespace tern::dpdk
