// What one random load costs on this machine as the memory it ranges over
// grows, on 4 KB pages and on transparent huge pages: the price a large
// simulated fabric pays per touch of link, host and frame state
// (docs/simulator.md, "Heap on transparent huge pages").
//
// A pointer chase: each cache line of the range holds the offset of the next
// one in a shuffled cycle, so every load waits for the one before it and no
// prefetcher can guess it. seconds_per_load is the figure (shown as ns).
//   build/dataplane/sim/memory_latency_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "transport/random.h"

namespace tern::sim {
namespace {

constexpr size_t kLine = 64;

void BM_RandomLoad(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  const bool huge = state.range(1) != 0;
  void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  if (huge && madvise(region, bytes, MADV_HUGEPAGE) != 0) {
    munmap(region, bytes);
    state.SkipWithError("madvise(MADV_HUGEPAGE) refused");
    return;
  }
  auto* base = static_cast<char*>(region);
  const size_t lines = bytes / kLine;
  std::vector<uint32_t> order(lines);
  std::iota(order.begin(), order.end(), 0);
  Random random(1);
  for (size_t i = lines - 1; i > 0; --i) {
    std::swap(order[i], order[random.Uniform(i + 1)]);
  }
  for (size_t i = 0; i < lines; ++i) {
    *reinterpret_cast<size_t*>(base + size_t{order[i]} * kLine) =
        size_t{order[(i + 1) % lines]} * kLine;
  }
  constexpr int kLoadsPerIteration = 1024;
  size_t at = 0;
  for (auto _ : state) {
    for (int i = 0; i < kLoadsPerIteration; ++i) at = *reinterpret_cast<size_t*>(base + at);
    benchmark::DoNotOptimize(at);
  }
  state.counters["seconds_per_load"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kLoadsPerIteration,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  munmap(region, bytes);
}
BENCHMARK(BM_RandomLoad)
    ->ArgNames({"range_mb", "huge_pages"})
    ->ArgsProduct({{8, 32, 128, 512, 2048}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tern::sim

BENCHMARK_MAIN();
