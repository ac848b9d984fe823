// Converts TSC readings to the transport's Time. The worker reads the TSC once
// per loop iteration and hands the converted value to the protocol, which
// never reads a clock itself. Pure arithmetic, tested with made-up rates.
#pragma once

#include <cstdint>

#include "transport/units.h"

namespace tern::dpdk {

class TscClock {
 public:
  // `hz`: TSC ticks per second (rte_get_tsc_hz()); `origin`: the tick that is
  // Time zero.
  TscClock(uint64_t hz, uint64_t origin)
      : origin_(origin),
        // Picoseconds per tick in 32.32 fixed point: one multiply per reading.
        ps_per_tick_q32_(static_cast<uint64_t>((static_cast<Uint128>(1'000'000'000'000) << 32) /
                                               (hz == 0 ? 1 : hz))) {}

  Time ToTime(uint64_t tsc) const {
    const uint64_t ticks = tsc - origin_;
    return Time::FromPicoseconds(
        static_cast<int64_t>((static_cast<Uint128>(ticks) * ps_per_tick_q32_) >> 32));
  }
  // Ticks from the origin to `t` (for arming TSC deadlines).
  uint64_t ToTsc(Time t) const {
    return origin_ +
           static_cast<uint64_t>((static_cast<Uint128>(t.picoseconds()) << 32) / ps_per_tick_q32_);
  }

 private:
  uint64_t origin_;
  uint64_t ps_per_tick_q32_;
};

}  // namespace tern::dpdk
