// Schedules, per algorithm (positions are indices into spec.ranks):
//
// ring (allreduce, allgather, reducescatter, barrier): at every step, position
//   i sends one chunk to i+1 (mod n). Step s > 0 of position i waits for the
//   chunk it received in step s-1 (and, as every step, for the rank's entry
//   dependencies), so each rank moves in lockstep with its ring neighbour, as
//   NCCL's ring kernels do. It does not wait for its own send of step s-1 to
//   complete: NCCL posts a step's data as soon as the receiver has a free
//   slot (NCCL_STEPS of them per channel), never for the previous step's
//   ACK, and one QP keeps the sends in order anyway.
//   allreduce: 2(n-1) steps (reduce-scatter, then allgather) over n chunks of
//   bytes/n; allgather and reducescatter: n-1 steps. barrier: n-1 steps of one
//   byte, the fewest after which every rank has (transitively) heard from
//   every other, so no rank leaves before all have arrived.
// recursive_doubling (allreduce, n a power of two): in round k, position i
//   exchanges all `bytes` with position i XOR 2^k; round k waits for the
//   rank's own send and its receive of round k-1 (the round reduces into the
//   buffer the previous send read from, so that send must be done).
// direct (alltoall): every position sends bytes/n to each other position at
//   once, depending only on its entry dependencies.
// ring (broadcast, reduce): NCCL's ring without its closing edge, a chain
//   ranks[0] -> ranks[1] -> ... -> ranks[n-1] for broadcast and
//   ranks[1] -> ... -> ranks[n-1] -> ranks[0] for reduce, pipelined in n chunks
//   of bytes/n: a rank forwards chunk c once it has received it (the root
//   posts every chunk at its entry), not once its send of chunk c-1 is
//   acknowledged, as for the ring.
//
// Chunks split `bytes` as evenly as possible (the first bytes % n chunks are a
// byte larger) but never below one byte: a library still sends a message for
// an empty chunk.
#include "apps/replay_collectives.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tern::replay {
namespace {

using StepList = std::vector<uint32_t>;
using PerRank = std::vector<StepList>;

uint64_t ChunkBytes(uint64_t total, uint64_t parts, uint64_t index) {
  const uint64_t bytes = total / parts + (index < total % parts ? 1 : 0);
  return std::max<uint64_t>(bytes, 1);
}

size_t Mod(int64_t value, size_t n) {
  const int64_t m = static_cast<int64_t>(n);
  return static_cast<size_t>(((value % m) + m) % m);
}

// Appends the transfers of one collective; positions index spec.ranks.
class Builder {
 public:
  Builder(const CollectiveSpec& spec, const PerRank& entry_deps, Workload& workload)
      : spec_(spec),
        entry_deps_(entry_deps),
        workload_(workload),
        collective_(static_cast<int32_t>(workload.collectives.size())) {}

  size_t ranks() const { return spec_.ranks.size(); }

  StepList Entry(size_t position) const {
    return entry_deps_.empty() ? StepList{} : entry_deps_[position];
  }

  uint32_t Transfer(size_t from, size_t to, uint64_t bytes, size_t step, StepList deps) {
    Step transfer;
    transfer.kind = StepKind::kTransfer;
    transfer.src = spec_.ranks[from];
    transfer.dst = spec_.ranks[to];
    transfer.bytes = bytes;
    transfer.not_before = spec_.not_before;
    transfer.deps = std::move(deps);
    transfer.collective = collective_;
    transfer.label =
        absl::StrCat(spec_.name, "/step", step, "/r", transfer.src, "->r", transfer.dst);
    workload_.steps.push_back(std::move(transfer));
    return static_cast<uint32_t>(workload_.steps.size() - 1);
  }

 private:
  const CollectiveSpec& spec_;
  const PerRank& entry_deps_;
  Workload& workload_;
  int32_t collective_;
};

// `chunk(position, step)` is the bytes position sends in that step.
template <typename ChunkFn>
PerRank Ring(Builder& b, size_t steps, ChunkFn chunk) {
  const size_t n = b.ranks();
  StepList previous(n), current(n);
  for (size_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < n; ++i) {
      StepList deps = b.Entry(i);
      if (s > 0) deps.push_back(previous[(i + n - 1) % n]);
      current[i] = b.Transfer(i, (i + 1) % n, chunk(i, s), s, std::move(deps));
    }
    std::swap(previous, current);
  }
  PerRank done(n);
  for (size_t i = 0; i < n; ++i) done[i] = {previous[i], previous[(i + n - 1) % n]};
  return done;
}

PerRank RecursiveDoubling(Builder& b, uint64_t bytes) {
  const size_t n = b.ranks();
  const size_t rounds = static_cast<size_t>(std::countr_zero(n));
  StepList previous(n), current(n);
  for (size_t k = 0; k < rounds; ++k) {
    for (size_t i = 0; i < n; ++i) {
      StepList deps =
          k == 0 ? b.Entry(i) : StepList{previous[i], previous[i ^ (size_t{1} << (k - 1))]};
      current[i] = b.Transfer(i, i ^ (size_t{1} << k), bytes, k, std::move(deps));
    }
    std::swap(previous, current);
  }
  PerRank done(n);
  for (size_t i = 0; i < n; ++i) done[i] = {previous[i], previous[i ^ (n >> 1)]};
  return done;
}

PerRank Direct(Builder& b, uint64_t bytes) {
  const size_t n = b.ranks();
  PerRank done(n);
  for (size_t i = 0; i < n; ++i) {
    // Staggered destinations (i+1, i+2, ...), as alltoall implementations do,
    // so that the ranks do not all start on the same receiver.
    for (size_t k = 1; k < n; ++k) {
      const size_t j = (i + k) % n;
      const uint32_t t = b.Transfer(i, j, ChunkBytes(bytes, n, j), 0, b.Entry(i));
      done[i].push_back(t);
      done[j].push_back(t);
    }
  }
  return done;
}

// A pipelined chain through `order` (positions): order[0] holds the data,
// order[n-1] ends with it.
PerRank Chain(Builder& b, uint64_t bytes, const std::vector<size_t>& order) {
  const size_t n = order.size();
  const size_t chunks = n;
  // sent[h][c]: hop h (order[h] -> order[h+1]) carrying chunk c.
  std::vector<StepList> sent(n - 1, StepList(chunks));
  for (size_t c = 0; c < chunks; ++c) {
    for (size_t h = 0; h + 1 < n; ++h) {
      StepList deps = b.Entry(order[h]);
      if (h > 0) deps.push_back(sent[h - 1][c]);
      sent[h][c] =
          b.Transfer(order[h], order[h + 1], ChunkBytes(bytes, chunks, c), c, std::move(deps));
    }
  }
  PerRank done(n);
  for (size_t h = 0; h < n; ++h) {
    StepList& d = done[order[h]];
    if (h + 1 < n) d.push_back(sent[h][chunks - 1]);
    if (h > 0) d.push_back(sent[h - 1][chunks - 1]);
  }
  // The last rank never sends, so nothing it did so far would otherwise come
  // before its completion.
  const StepList sink_entry = b.Entry(order[n - 1]);
  StepList& sink = done[order[n - 1]];
  sink.insert(sink.end(), sink_entry.begin(), sink_entry.end());
  return done;
}

// The algorithm `spec` asks for, resolved to a name, or an error.
absl::StatusOr<std::string> ResolveAlgorithm(const CollectiveSpec& spec) {
  const std::string& op = spec.operation;
  const std::string& algorithm = spec.algorithm;
  const bool ring_only = op == "allgather" || op == "reducescatter" || op == "broadcast" ||
                         op == "reduce" || op == "barrier";
  if (op == "allreduce") {
    if (algorithm.empty() || algorithm == "ring") return std::string("ring");
    if (algorithm == "recursive_doubling") return algorithm;
  } else if (op == "alltoall") {
    if (algorithm.empty() || algorithm == "direct") return std::string("direct");
  } else if (ring_only) {
    if (algorithm.empty() || algorithm == "ring") return std::string("ring");
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "collective ", spec.name, ": unknown operation '", op,
        "' (allreduce, allgather, reducescatter, alltoall, broadcast, reduce, barrier)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("collective ", spec.name, ": algorithm '", algorithm, "' does not do ", op));
}

absl::Status CheckSpec(const CollectiveSpec& spec, const std::string& algorithm,
                       const PerRank& entry_deps) {
  const size_t n = spec.ranks.size();
  if (n < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("collective ", spec.name, ": needs at least two ranks, has ", n));
  }
  absl::flat_hash_set<uint32_t> seen;
  for (uint32_t rank : spec.ranks) {
    if (!seen.insert(rank).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("collective ", spec.name, ": rank ", rank, " appears twice"));
    }
  }
  if (algorithm == "recursive_doubling" && !std::has_single_bit(n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collective ", spec.name, ": recursive doubling needs a power-of-two rank count, has ", n));
  }
  if (!entry_deps.empty() && entry_deps.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("collective ", spec.name, ": ",
                                                   entry_deps.size(),
                                                   " entry dependency lists for ", n, " ranks"));
  }
  if (spec.bytes == 0 && spec.operation != "barrier") {
    return absl::InvalidArgumentError(
        absl::StrCat("collective ", spec.name, ": ", spec.operation, " of zero bytes"));
  }
  return absl::OkStatus();
}

// The transfers the expansion below appends for `n` ranks.
uint64_t TransfersOf(const std::string& operation, const std::string& algorithm, uint64_t n) {
  if (operation == "allreduce" && algorithm == "recursive_doubling") {
    return n * static_cast<uint64_t>(std::countr_zero(n));
  }
  if (operation == "allreduce") return 2 * (n - 1) * n;
  return (n - 1) * n;  // the other rings, direct alltoall, and chains of n chunks
}

}  // namespace

absl::StatusOr<PerRank> ExpandCollective(const CollectiveSpec& spec, const PerRank& entry_deps,
                                         Workload& workload) {
  absl::StatusOr<std::string> algorithm = ResolveAlgorithm(spec);
  if (!algorithm.ok()) return algorithm.status();
  if (absl::Status status = CheckSpec(spec, *algorithm, entry_deps); !status.ok()) return status;
  if (workload.collectives.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("too many collectives for 32-bit indices");
  }
  const uint64_t transfers = TransfersOf(spec.operation, *algorithm, spec.ranks.size());
  if (workload.steps.size() + transfers > kMaxWorkloadSteps) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s %s over %d ranks is %d transfers, and a workload holds at most %d steps%s", *algorithm,
        spec.operation, spec.ranks.size(), transfers, kMaxWorkloadSteps,
        spec.operation == "allreduce" && *algorithm == "ring"
            ? " (recursive_doubling takes n log2 n on a power-of-two count)"
            : ""));
  }

  Builder b(spec, entry_deps, workload);
  const size_t n = spec.ranks.size();
  const uint64_t bytes = spec.bytes;
  PerRank done;
  const std::string& op = spec.operation;
  if (op == "allreduce" && *algorithm == "recursive_doubling") {
    done = RecursiveDoubling(b, bytes);
  } else if (op == "allreduce") {
    // Reduce-scatter: position i sends chunk i-s; it then holds the reduced
    // chunk i+1, and the allgather half passes reduced chunks on the same way.
    done = Ring(b, 2 * (n - 1), [&](size_t i, size_t s) {
      const int64_t chunk = s < n - 1
                                ? static_cast<int64_t>(i) - static_cast<int64_t>(s)
                                : static_cast<int64_t>(i + 1) - static_cast<int64_t>(s - (n - 1));
      return ChunkBytes(bytes, n, Mod(chunk, n));
    });
  } else if (op == "allgather" || op == "reducescatter") {
    done = Ring(b, n - 1, [&](size_t i, size_t s) {
      return ChunkBytes(bytes, n, Mod(static_cast<int64_t>(i) - static_cast<int64_t>(s), n));
    });
  } else if (op == "barrier") {
    done = Ring(b, n - 1, [](size_t, size_t) { return uint64_t{1}; });
  } else if (op == "alltoall") {
    done = Direct(b, bytes);
  } else {
    std::vector<size_t> order(n);
    for (size_t k = 0; k < n; ++k) order[k] = op == "broadcast" ? k : (k + 1) % n;
    done = Chain(b, bytes, order);
  }

  workload.collectives.push_back({.name = spec.name,
                                  .operation = spec.operation,
                                  .algorithm = *algorithm,
                                  .bytes = spec.bytes,
                                  .ranks = static_cast<uint32_t>(n)});
  return done;
}

}  // namespace tern::replay
