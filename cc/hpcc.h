// The `hpcc` algorithm: HPCC (Li et al., "HPCC: High Precision Congestion
// Control", SIGCOMM 2019), the sender side of Algorithm 1. Every ACK carries the
// in-band telemetry (INT) its data packet collected: per switch hop a
// timestamp, the port's transmitted-byte counter, its queue length and line
// rate. From two consecutive records of a hop the sender knows that link's
// utilisation exactly (queue plus transmit rate, §3.2), and sets its window to
// aim the most loaded link at the target utilisation eta (§3.2), keeping a
// reference window Wc that changes once per RTT (§3.3), paced at R = W / T
// (Algorithm 1, NewACK).
//
// Spec: hpcc[:eta=X,max_stage=N,ai_flows=N|w_ai=BYTES,base_rtt=US,fast_react=B,paths=N]
//   eta         target utilisation, (0, 1]; default 0.95 (paper's setting; simulator
//               TargetUtil)
//   max_stage   additive-increase updates before a multiplicative one; default 0, what the
//               paper's simulations ran (HPCC repository issue #24: the text's 5 is a typo
//               for them; 5 is the testbed's setting and the simulator's MiThresh default)
//   ai_flows    N in W_AI = W_init x (1 - eta) / N (the paper's rule for N flows); default 125
//   w_ai        W_AI in bytes; 0 (default) = from ai_flows. Excludes ai_flows.
//   base_rtt    T in microseconds; 0 (default) = CcContext::base_rtt
//   fast_react  react on every ACK (true, default) or only once per RTT (simulator FastReact)
//   paths       path records kept, 1..8; default 0: the connection's path count
//               (CcContext::paths), at most 8, so 1 without spraying. See Paths.
//
// W_init = line_rate x T (the BDP). The default N = 125 makes W_AI / T equal to
// the ns-3 simulator's RATE_AI of 10 Mb/s per 25 Gb/s of NIC rate (its run.py):
// W_init x 0.05 / 125 / T = line_rate / 2500, 160 Mb/s at 400 Gb/s.
//
// The RTT boundary. The paper updates the reference window Wc when an ACK's
// sequence number passes lastUpdateSeq, the snd_nxt of the last update: when
// the packet acknowledged left after the update. The interface has no
// sequence numbers, so this compares times: the packet's send time is the ACK's
// time minus its RTT sample (the timestamp the ACK echoes). Unlike a count of
// acknowledged bytes, packets lost before the update do not hold the next
// one back. An ACK without an RTT sample is no boundary.
//
// What it ignores. Losses, trims and timeouts do not change the window: HPCC
// keeps queues near empty and leaves loss recovery to the transport (the paper
// runs it over a lossless fabric). ACKs without telemetry change nothing.
//
// Paths. HPCC assumes one path per flow: the records of hop i must come from
// the same switch port. With paths=1 the stored records are reset (and the
// next record only stored) when the hop count, a hop's line rate or the ACK's
// entropy changes, so spraying over several entropies starves HPCC of
// measurements. With paths=N (Tern's extension, not the paper's; by default N
// is the number of entropies the connection sprays over) it keeps the
// records of up to N entropies and measures each ACK against its own path's
// previous record; U is then the EWMA over whichever paths report, so it
// follows the most loaded hop of each in turn. A path beyond N replaces the
// records of the one stored longest ago (round robin, as a NIC table would).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {

class HpccCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "hpcc";

  // Everything the factory derived from the parameters and the context.
  struct Config {
    Duration base_rtt;    // T; > 0
    Bandwidth line_rate;  // B_NIC; W_init = line_rate x T; > 0
    uint32_t mtu_bytes = 4096;
    double eta = 0.95;       // target utilisation, (0, 1]
    uint32_t max_stage = 0;  // additive rounds before a multiplicative one
    double w_ai_bytes = 1;   // additive step W_AI, >= 1 byte
    bool fast_react = true;  // per-ACK reaction between Wc updates
    uint32_t paths = 1;      // path records kept, 1..kMaxPaths
  };

  // Path records a connection can keep (the `paths` parameter's maximum).
  static constexpr int kMaxPaths = 8;

  explicit HpccCc(const Config& config);

  PathAdvice OnAck(const AckEvent& event) override;
  // HPCC does not react to losses; the transport retransmits.
  PathAdvice OnLoss(const LossEvent& event) override;
  bool wants_telemetry() const override { return true; }

  // max(W, mtu_bytes), W rounded to whole bytes: below one packet the pacing
  // rate does the limiting.
  uint64_t window_bytes() const override;
  // R = W / T (Algorithm 1), never Unlimited().
  Bandwidth pacing_rate() const override;
  std::string_view name() const override { return kName; }

  // window, rate_gbps, u, wc_bytes, inc_stage, hops.
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

  // The algorithm's variables, for tests: W (bytes), Wc (bytes), U, incStage.
  double window() const { return w_; }
  double reference_window() const { return wc_; }
  double utilization() const { return u_; }
  uint32_t inc_stage() const { return inc_stage_; }
  uint32_t path_count() const { return path_count_; }

 private:
  // L, the last record of each hop (Algorithm 1), for one path.
  struct PathRecords {
    uint16_t entropy = 0;
    uint8_t hops = 0;
    bool valid = false;
    std::array<HopTelemetry, kMaxTelemetryHops> last{};
  };

  // The records of `entropy`'s path, or null when none are kept.
  PathRecords* FindPath(uint16_t entropy);
  // True when `telemetry` came over the route `path` describes.
  static bool SameRoute(const PathRecords& path, const Telemetry& telemetry, int hops);
  // Algorithm 1 MeasureInflight: folds the hops' utilisation into U and stores
  // the records. False when no hop gave a measurement (U unchanged).
  bool MeasureInflight(const Telemetry& telemetry, int hops, PathRecords& path);
  // Algorithm 1 ComputeWind: sets W from U, and Wc too when `update_wc`.
  void ComputeWind(bool update_wc);
  static void StoreRecords(const Telemetry& telemetry, int hops, uint16_t entropy,
                           PathRecords& path);

  // Configuration. Floating point here and below; a NIC would hold T in ns as
  // u32, W and Wc in bytes as u32, U as u32 Q16.16 (1.0 = 65536), eta as Q0.16,
  // and divide by B_i x T with a per-link-rate reciprocal table.
  double t_ns_;
  double w_init_;
  double w_ai_;
  double eta_;
  uint32_t max_stage_;
  uint32_t mtu_bytes_;
  bool fast_react_;
  bool have_records_ = false;  // a telemetry record has arrived
  uint8_t path_count_;         // records kept, 1..kMaxPaths
  uint8_t next_replaced_ = 0;  // the slot a new path takes (round robin)
  uint8_t hops_ = 0;           // of the latest telemetry ACK's path (debug)

  std::array<PathRecords, kMaxPaths> paths_{};

  // Algorithm 1 state.
  uint32_t inc_stage_ = 0;
  double u_ = 1;  // U, the EWMA of the bottleneck's normalised inflight; 1 as in the simulator
  double w_;      // W, the window in use
  double wc_;     // Wc, the reference window, updated once per RTT

  // The RTT boundary (see the file comment): when Wc was last updated, or the
  // first telemetry record arrived.
  Time wc_updated_at_;
};

// 768 bytes on LP64: vtable pointer 8, seven doubles (T, W_init, W_AI, eta,
// U, W, Wc) 56, three u32 12, two flags and three u8 5, eight path records of
// 84 bytes (entropy, hop count, valid flag, five 16-byte hop records) 672, the
// time of the last Wc update 8, padding 7. Algorithm 1 keeps the previous INT
// record of every hop, which txRate and the min(qlen) filter need; a NIC
// keeps the same per flow, and would size the path table by `paths` (one
// path, the paper's case, is 84 bytes of records).
static_assert(sizeof(HpccCc) <= 768, "HpccCc state must fit in twelve 64-byte cache lines");

// Builds an HpccCc from checked parameters and the context. Refuses w_ai and
// ai_flows both given, a zero line rate and a zero T.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateHpccCc(const CcParams& params,
                                                                const CcContext& context);

// The registry entry: name, description, parameters and CreateHpccCc.
CcAlgorithmInfo HpccCcInfo();

}  // namespace tern
