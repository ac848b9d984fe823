// Several poll-mode workers spread over the process's lcores: worker i steps
// on lcore i mod L, the main lcore (the caller's) first. With fewer lcores
// than workers an lcore steps several in turn. `Worker` has
// `void Step(uint64_t tsc)`: one loop iteration on one TSC reading.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dataplane/dpdk/eal.h"

namespace tern::dpdk {

template <typename Worker>
class LcoreLoops {
 public:
  explicit LcoreLoops(const std::vector<Worker*>& workers) {
    const std::vector<unsigned> lcores = WorkerLcores();
    loops_.resize(1 + std::min(lcores.size(), workers.empty() ? 0 : workers.size() - 1));
    for (size_t i = 0; i < workers.size(); ++i) {
      loops_[i % loops_.size()].workers.push_back(workers[i]);
    }
    for (size_t l = 1; l < loops_.size(); ++l) {
      loops_[l].lcore = lcores[l - 1];
      loops_[l].stop = &stop_;
    }
  }
  ~LcoreLoops() { Stop(); }
  LcoreLoops(const LcoreLoops&) = delete;
  LcoreLoops& operator=(const LcoreLoops&) = delete;

  // Starts the other lcores' loops; they step until Stop.
  absl::Status Launch() {
    for (size_t l = 1; l < loops_.size(); ++l) {
      if (!LaunchOnLcore(loops_[l].lcore, Run, &loops_[l])) {
        Stop();
        return absl::InternalError(
            absl::StrFormat("cannot launch a worker on lcore %d", loops_[l].lcore));
      }
      loops_[l].launched = true;
    }
    return absl::OkStatus();
  }
  // One iteration of the main lcore's workers; the caller loops.
  void StepMain(uint64_t tsc) {
    for (Worker* w : loops_[0].workers) w->Step(tsc);
  }
  // Stops the other lcores and waits for them.
  void Stop() {
    stop_.store(true, std::memory_order_release);
    for (Loop& loop : loops_) {
      if (loop.launched) WaitForLcore(loop.lcore);
      loop.launched = false;
    }
  }

 private:
  struct Loop {
    std::vector<Worker*> workers;
    unsigned lcore = 0;
    std::atomic<bool>* stop = nullptr;
    bool launched = false;
  };
  static int Run(void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    while (!loop->stop->load(std::memory_order_acquire)) {
      const uint64_t tsc = ReadTsc();
      for (Worker* w : loop->workers) w->Step(tsc);
    }
    return 0;
  }

  std::vector<Loop> loops_;
  std::atomic<bool> stop_{false};
};

}  // namespace tern::dpdk
