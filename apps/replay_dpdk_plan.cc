#include "apps/replay_dpdk_plan.h"

#include <set>
#include <string>
#include <unordered_map>

#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::replay {

absl::StatusOr<std::vector<RankHost>> ParseHostsFile(std::string_view text, std::string_view name,
                                                     uint16_t default_control_port) {
  std::vector<RankHost> hosts;
  std::set<std::string> seen;
  int line_no = 0;
  bool any_mac = false;
  bool any_gateway = false;
  for (std::string_view line : SplitText(text, '\n')) {
    ++line_no;
    auto error = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", name, line_no, why));
    };
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string_view> words = SplitWords(line);
    if (words.empty()) continue;
    RankHost h;
    h.control_port = default_control_port;
    std::optional<IpAddress> ip = IpAddress::Parse(words[0]);
    if (!ip) {
      return error(absl::StrFormat("'%s': expected an IPv4 or IPv6 address (rank %d)", words[0],
                                   hosts.size()));
    }
    if (!hosts.empty() && ip->is_v6 != hosts[0].ip.is_v6) {
      return error(absl::StrFormat("%s is not of rank 0's IP family (%s): ranks talk one family",
                                   words[0], hosts[0].ip.ToString()));
    }
    h.ip = *ip;
    if (!seen.insert(ip->ToString()).second) {
      return error(absl::StrFormat("%s is listed twice", words[0]));
    }
    for (size_t i = 1; i < words.size(); ++i) {
      const size_t eq = words[i].find('=');
      const std::pair<std::string_view, std::string_view> kv{
          words[i].substr(0, eq), eq == std::string_view::npos ? "" : words[i].substr(eq + 1)};
      if (kv.first == "mac") {
        std::optional<MacAddress> mac = MacAddress::Parse(kv.second);
        if (!mac) return error(absl::StrFormat("mac=%s: expected 02:00:00:00:00:01", kv.second));
        h.mac = *mac;
      } else if (kv.first == "gw") {
        std::optional<IpAddress> gateway = IpAddress::Parse(kv.second);
        if (!gateway || gateway->is_v6 != ip->is_v6) {
          return error(absl::StrFormat("gw=%s: expected an IPv%d address, as the rank's", kv.second,
                                       ip->is_v6 ? 6 : 4));
        }
        h.gateway = *gateway;
      } else if (kv.first == "control-port") {
        uint32_t port;
        if (!ParseUint(kv.second, &port) || port < 1 || port > 65535) {
          return error(absl::StrFormat("control-port=%s: expected 1..65535", kv.second));
        }
        h.control_port = static_cast<uint16_t>(port);
      } else {
        return error(
            absl::StrFormat("'%s': expected mac=MAC, gw=IP or control-port=PORT", words[i]));
      }
    }
    hosts.push_back(h);
    any_mac |= h.mac.has_value();
    any_gateway |= h.gateway.has_value();
    if (any_mac && any_gateway) {
      return error(
          "gw= and mac= do not mix: behind a router the next hop is the gateway, "
          "found with ARP or neighbor discovery, not a peer's MAC");
    }
  }
  if (hosts.size() < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d hosts; a run needs at least 2 (one line per rank)", name, hosts.size()));
  }
  return hosts;
}

absl::StatusOr<uint32_t> ResolveRank(std::optional<uint32_t> flag, const char* ompi_env,
                                     uint32_t ranks) {
  uint32_t rank = 0;
  if (flag) {
    rank = *flag;
  } else if (ompi_env != nullptr) {
    if (!ParseUint(std::string_view(ompi_env), &rank)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("OMPI_COMM_WORLD_RANK='%s' is not a rank", ompi_env));
    }
  } else {
    return absl::InvalidArgumentError(
        "--fabric=dpdk needs --rank R (or OMPI_COMM_WORLD_RANK, as mpirun sets it) (see --help)");
  }
  if (rank >= ranks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rank %d (from %s), but the hosts file lists %d hosts (ranks 0..%d)", rank,
                        flag ? "--rank" : "OMPI_COMM_WORLD_RANK", ranks, ranks - 1));
  }
  return rank;
}

uint64_t ChunkBytes(const Workload& workload) {
  uint64_t largest = 1;
  for (const Step& s : workload.steps) {
    if (s.kind == StepKind::kTransfer) largest = std::max(largest, s.bytes);
  }
  return std::min(largest, kMaxChunkBytes);
}

absl::Status CheckDependenciesObservable(const Workload& workload) {
  for (uint32_t i = 0; i < workload.steps.size(); ++i) {
    const Step& s = workload.steps[i];
    const uint32_t host = s.src;
    for (uint32_t d : s.deps) {
      const Step& dep = workload.steps[d];
      const bool seen = dep.src == host || (dep.kind == StepKind::kTransfer && dep.dst == host);
      if (seen) continue;
      return absl::InvalidArgumentError(absl::StrFormat(
          "step %d (%s, runs on host %d) depends on step %d (%s, host %d -> %d), which host %d "
          "neither runs nor receives: a DPDK rank cannot observe it; this workload runs in the "
          "simulator only",
          i, s.label, host, d, dep.label, dep.src,
          dep.kind == StepKind::kTransfer ? dep.dst : dep.src, host));
    }
  }
  return absl::OkStatus();
}

std::vector<uint16_t> StepWorkers(const Workload& workload, uint32_t workers) {
  std::vector<uint16_t> out(workload.steps.size(), 0);
  std::unordered_map<uint32_t, uint32_t> dealt;  // per source rank
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint16_t>(dealt[workload.steps[i].src]++ % workers);
  }
  return out;
}

RankPlan PlanRank(const Workload& workload, uint32_t rank, uint32_t ranks, uint64_t chunk_bytes,
                  uint32_t workers) {
  RankPlan p;
  p.rank = rank;
  p.workers = workers;
  p.step_worker = StepWorkers(workload, workers);
  std::set<uint32_t> peers;
  for (uint32_t i = 0; i < workload.steps.size(); ++i) {
    const Step& s = workload.steps[i];
    if (s.src == rank) p.runs.push_back(i);
    if (s.kind != StepKind::kTransfer) continue;
    if (s.dst == rank) p.receives.push_back(i);
    if (s.src == rank) peers.insert(s.dst);
    if (s.dst == rank) peers.insert(s.src);
  }
  p.data_peers.assign(peers.begin(), peers.end());
  p.chunks_from.assign(p.data_peers.size() * workers, 0);
  for (uint32_t i : p.receives) {
    const Step& s = workload.steps[i];
    const size_t k = static_cast<size_t>(
        std::lower_bound(p.data_peers.begin(), p.data_peers.end(), s.src) - p.data_peers.begin());
    p.chunks_from[k * workers + p.step_worker[i]] += ChunksOf(s.bytes, chunk_bytes);
  }
  std::set<uint32_t> control = peers;
  if (rank == 0) {
    for (uint32_t r = 1; r < ranks; ++r) control.insert(r);
  } else {
    control.insert(0);
  }
  p.control_peers.assign(control.begin(), control.end());
  return p;
}

}  // namespace tern::replay
