#include "cc/hpcc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {
namespace {

// A timestamp difference of 2^31 ns or more, taken modulo 2^32, is a record
// older than the stored one (reordering, or a retransmission's stale stamp):
// the hop is not measured, and the new record replaces the old one.
constexpr uint32_t kMaxForwardNs = uint32_t{1} << 31;

constexpr double kMbpsToBytesPerNs = 1e6 / 8 / 1e9;

}  // namespace

HpccCc::HpccCc(const Config& config)
    : t_ns_(std::max(static_cast<double>(config.base_rtt.picoseconds()) / 1e3, 1e-3)),
      w_init_(std::max(config.line_rate.BytesIn(config.base_rtt), 1.0)),
      w_ai_(std::max(config.w_ai_bytes, 1.0)),
      eta_(config.eta),
      max_stage_(config.max_stage),
      mtu_bytes_(std::max<uint32_t>(config.mtu_bytes, 1)),
      fast_react_(config.fast_react),
      path_count_(static_cast<uint8_t>(std::clamp<uint32_t>(config.paths, 1, kMaxPaths))),
      w_(w_init_),
      wc_(w_init_) {}

PathAdvice HpccCc::OnAck(const AckEvent& event) {
  if (event.telemetry == nullptr) return PathAdvice::kKeep;
  const Telemetry& telemetry = *event.telemetry;
  const int hops = std::min<int>(telemetry.hops, kMaxTelemetryHops);

  hops_ = static_cast<uint8_t>(hops);
  PathRecords* path = FindPath(event.entropy);
  if (path == nullptr || !SameRoute(*path, telemetry, hops)) {
    // Nothing to difference against: keep this record for the next ACK. The
    // very first one also starts the RTT clock, as the simulator does.
    if (!have_records_) wc_updated_at_ = event.now;
    have_records_ = true;
    if (path == nullptr) {
      path = &paths_[next_replaced_];
      next_replaced_ = static_cast<uint8_t>((next_replaced_ + 1) % path_count_);
    }
    StoreRecords(telemetry, hops, event.entropy, *path);
    return PathAdvice::kKeep;
  }

  // Algorithm 1 NewACK: ack.seq > lastUpdateSeq, i.e. the acknowledged packet
  // left after the last update. Its send time is the timestamp it echoes.
  const bool update_wc = !event.rtt.IsZero() && event.now - event.rtt > wc_updated_at_;
  // Without fast reaction the simulator ignores ACKs between updates, so each
  // measurement spans a whole RTT.
  if (!update_wc && !fast_react_) return PathAdvice::kKeep;

  if (!MeasureInflight(telemetry, hops, *path)) return PathAdvice::kKeep;  // a due update waits
  ComputeWind(update_wc);
  if (update_wc) wc_updated_at_ = event.now;  // lastUpdateSeq = snd_nxt
  return PathAdvice::kKeep;
}

PathAdvice HpccCc::OnLoss(const LossEvent& /*event*/) { return PathAdvice::kKeep; }

HpccCc::PathRecords* HpccCc::FindPath(uint16_t entropy) {
  for (int i = 0; i < path_count_; ++i) {
    if (paths_[i].valid && paths_[i].entropy == entropy) return &paths_[i];
  }
  return nullptr;
}

bool HpccCc::SameRoute(const PathRecords& path, const Telemetry& telemetry, int hops) {
  if (hops != path.hops) return false;
  for (int i = 0; i < hops; ++i) {
    if (telemetry.hop[i].rate_mbps != path.last[i].rate_mbps) return false;
  }
  return true;
}

void HpccCc::StoreRecords(const Telemetry& telemetry, int hops, uint16_t entropy,
                          PathRecords& path) {
  for (int i = 0; i < hops; ++i) path.last[i] = telemetry.hop[i];
  path.hops = static_cast<uint8_t>(hops);
  path.entropy = entropy;
  path.valid = true;
}

bool HpccCc::MeasureInflight(const Telemetry& telemetry, int hops, PathRecords& path) {
  bool measured = false;
  double max_u = 0;
  double tau_ns = 0;
  for (int i = 0; i < hops; ++i) {
    const HopTelemetry& now = telemetry.hop[i];
    HopTelemetry& last = path.last[i];
    // Both counters wrap modulo 2^32 on the wire: unsigned differences.
    const uint32_t dt_ns = now.timestamp_ns - last.timestamp_ns;
    const uint32_t dtx_bytes = now.tx_bytes - last.tx_bytes;
    if (dt_ns != 0 && dt_ns < kMaxForwardNs && now.rate_mbps != 0) {
      const double b = now.rate_mbps * kMbpsToBytesPerNs;  // B_i in bytes/ns
      const double tx_rate = static_cast<double>(dtx_bytes) / dt_ns;
      // §3.2: queued bytes over the link's BDP plus the rate over
      // capacity. The smaller of the two queue samples filters out a queue
      // this flow's own burst just built (Algorithm 1, min(qlen)).
      const double qlen = std::min(now.queue_bytes, last.queue_bytes);
      const double u = qlen / (b * t_ns_) + tx_rate / b;
      if (!measured || u > max_u) {
        max_u = u;
        tau_ns = dt_ns;
      }
      measured = true;
    }
    last = now;
  }
  if (!measured) return false;
  // The EWMA weighs the sample by the time it covers, at most one T.
  const double weight = std::min(tau_ns, t_ns_) / t_ns_;
  u_ = (1 - weight) * u_ + weight * max_u;
  return true;
}

void HpccCc::ComputeWind(bool update_wc) {
  double w;
  if (u_ >= eta_ || inc_stage_ >= max_stage_) {
    // §3.2: scale the reference window to bring U to eta. U = 0 (an
    // idle path after max_stage additive rounds) would divide by zero; it
    // means the window may be as large as it can be.
    w = u_ > 0 ? wc_ / (u_ / eta_) + w_ai_ : w_init_;
    if (update_wc) inc_stage_ = 0;
  } else {
    w = wc_ + w_ai_;
    if (update_wc) ++inc_stage_;
  }
  // The simulator caps the rate at the NIC's: W at most W_init.
  w_ = std::min(w, w_init_);
  if (update_wc) wc_ = w_;
}

uint64_t HpccCc::window_bytes() const {
  return std::max<uint64_t>(static_cast<uint64_t>(std::llround(w_)), mtu_bytes_);
}

Bandwidth HpccCc::pacing_rate() const {
  // W <= W_init = line_rate x T, so the rate is at most the line rate.
  const double bps = w_ * 8 * 1e9 / t_ns_;
  return Bandwidth::BitsPerSecond(std::max<int64_t>(std::llround(bps), 1));
}

int HpccCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  out[0] = {"window", static_cast<double>(window_bytes())};
  out[1] = {"rate_gbps", pacing_rate().gbps()};
  out[2] = {"u", u_};
  out[3] = {"wc_bytes", wc_};
  out[4] = {"inc_stage", static_cast<double>(inc_stage_)};
  out[5] = {"hops", static_cast<double>(hops_)};
  out[6] = {"paths", static_cast<double>(path_count_)};
  return 7;
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateHpccCc(const CcParams& params,
                                                                const CcContext& context) {
  const uint64_t w_ai = params.GetUint("w_ai");
  const uint64_t ai_flows = params.GetUint("ai_flows");
  if (w_ai != 0 && params.WasGiven("ai_flows")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "congestion-control algorithm \"hpcc\": w_ai=", w_ai, " and ai_flows=", ai_flows,
        " are both set; give one of them (w_ai in bytes, or ai_flows for W_init x (1 - eta) / N)"));
  }
  HpccCc::Config config;
  config.base_rtt = params.GetDuration("base_rtt");
  if (config.base_rtt.IsZero()) config.base_rtt = context.base_rtt;
  if (config.base_rtt <= Duration::Zero()) {
    return absl::InvalidArgumentError(
        "congestion-control algorithm \"hpcc\": T is 0 (CcContext.base_rtt is 0 and base_rtt is "
        "not set); HPCC normalises by T, give base_rtt=MICROSECONDS");
  }
  config.line_rate = context.line_rate;
  if (config.line_rate.bits_per_second() <= 0) {
    return absl::InvalidArgumentError(
        "congestion-control algorithm \"hpcc\": CcContext.line_rate is unknown (0); HPCC starts "
        "at W_init = line_rate x T and needs it");
  }
  config.mtu_bytes = context.mtu_bytes;
  config.eta = params.GetDouble("eta");
  config.max_stage = static_cast<uint32_t>(params.GetUint("max_stage"));
  config.fast_react = params.GetBool("fast_react");
  // 0: a record set per entropy the connection sprays over (one, the
  // paper's case, without spraying); HpccCc clamps it to the table's size.
  const uint64_t paths = params.GetUint("paths");
  config.paths = static_cast<uint32_t>(paths != 0 ? paths : context.paths);
  if (w_ai != 0) {
    config.w_ai_bytes = static_cast<double>(w_ai);
  } else {
    // The paper's rule: N flows' additive steps together take at most the
    // (1 - eta) headroom of a link.
    const double w_init = config.line_rate.BytesIn(config.base_rtt);
    config.w_ai_bytes = w_init * (1 - config.eta) / static_cast<double>(ai_flows);
  }
  return std::make_unique<HpccCc>(config);
}

CcAlgorithmInfo HpccCcInfo() {
  return CcAlgorithmInfo{
      .name = HpccCc::kName,
      .description = "HPCC (SIGCOMM 2019): window from in-band telemetry, paced at W / T",
      .params =
          {
              {.name = "eta",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.95",
               .description = "target utilisation of the bottleneck link (paper eta)",
               .min = std::nullopt,
               .max = 1},
              {.name = "max_stage",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "additive-increase updates before a multiplicative one (paper "
                              "maxStage; 0 as the paper's simulations, 5 as its testbed)",
               .min = 0,
               .max = 1000},
              {.name = "ai_flows",
               .kind = CcParamKind::kUnsigned,
               .default_value = "125",
               .description = "N in W_AI = W_init x (1 - eta) / N: flows whose additive steps "
                              "share a link's headroom",
               .min = 1,
               .max = 1'000'000},
              {.name = "w_ai",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "additive step W_AI in bytes; 0 = from ai_flows; excludes ai_flows",
               .min = 0,
               .max = static_cast<double>(uint64_t{1} << 30)},
              {.name = "base_rtt",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "T in microseconds: normalises queues and paces W / T; 0 = the "
                              "context's base RTT",
               .min = std::nullopt,
               .max = 1e6},
              {.name = "fast_react",
               .kind = CcParamKind::kBool,
               .default_value = "true",
               .description = "adjust the window on every ACK (true) or only once per RTT",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "paths",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "path records kept, one per entropy for up to this many; 0: one "
                              "per entropy the connection sprays over (1 without spraying, the "
                              "paper's case), at most 8",
               .min = 0,
               .max = HpccCc::kMaxPaths},
          },
      .factory = &CreateHpccCc,
  };
}

}  // namespace tern
