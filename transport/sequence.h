// 32-bit packet sequence numbers with wraparound (serial-number arithmetic,
// RFC 1982): a precedes b when the signed distance from a to b is positive.
// Valid while every two compared PSNs are less than 2^31 apart, which the
// window limits (at most 2^16 packets in flight) guarantee.
#pragma once

#include <cstdint>

namespace tern {

using Psn = uint32_t;

// Signed distance from a to b: positive when b is after a.
constexpr int32_t PsnDistance(Psn a, Psn b) { return static_cast<int32_t>(b - a); }
constexpr bool PsnBefore(Psn a, Psn b) { return PsnDistance(a, b) > 0; }
constexpr bool PsnAtOrBefore(Psn a, Psn b) { return PsnDistance(a, b) >= 0; }
constexpr Psn PsnMax(Psn a, Psn b) { return PsnBefore(a, b) ? b : a; }

static_assert(PsnBefore(0xFFFFFFFFu, 0u), "wraparound: 2^32-1 precedes 0");
static_assert(!PsnBefore(5u, 5u));
static_assert(PsnDistance(0xFFFFFFF0u, 0x10u) == 0x20);

}  // namespace tern
