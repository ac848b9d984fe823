// Strong unit types for time, bytes-per-second and sizes, so that a duration
// cannot be passed where a timestamp is expected and a rate cannot be mixed up
// with a byte count. Time has picosecond resolution: one byte at 400 Gb/s lasts
// 20 ps, and int64 picoseconds still cover 106 days of virtual time.
#pragma once

#include <compare>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace tern {

// 32-bit counters and byte budgets that stop at their limits instead of
// wrapping (congestion-control state is held in 32 bits, as a NIC would).
constexpr uint32_t SaturatingAdd(uint32_t a, uint64_t b) {
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  const uint64_t sum = uint64_t{a} + (b < kMax ? b : kMax);
  return static_cast<uint32_t>(sum < kMax ? sum : kMax);
}
constexpr uint32_t SaturatingSub(uint32_t a, uint64_t b) {
  return b >= a ? 0 : static_cast<uint32_t>(a - b);
}

// 128-bit intermediates keep rate arithmetic exact; __extension__ silences
// -Wpedantic for this GCC/Clang built-in.
__extension__ using Int128 = __int128;
__extension__ using Uint128 = unsigned __int128;

namespace units_internal {
// x rounded to the nearest integer (halves away from zero), saturating at the
// int64 limits; NaN gives the maximum. Truncates first and rounds on the
// fraction, which is exact for every |x| < 2^63 (above 2^52 every double is a
// whole number), and stays constexpr unlike std::llround.
constexpr int64_t RoundToInt64(double x) {
  constexpr double kTwoTo63 = 9223372036854775808.0;
  if (x != x || x >= kTwoTo63) return std::numeric_limits<int64_t>::max();
  if (x <= -kTwoTo63) return std::numeric_limits<int64_t>::min();
  int64_t whole = static_cast<int64_t>(x);
  const double fraction = x - static_cast<double>(whole);
  if (fraction >= 0.5) ++whole;
  if (fraction <= -0.5) --whole;
  return whole;
}
}  // namespace units_internal

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration Picoseconds(int64_t ps) { return Duration(ps); }
  static constexpr Duration Nanoseconds(int64_t ns) { return Duration(ns * 1000); }
  static constexpr Duration Microseconds(int64_t us) { return Duration(us * 1000'000); }
  static constexpr Duration Milliseconds(int64_t ms) { return Duration(ms * 1000'000'000); }
  // A fractional count would silently truncate (Microseconds(2.5) == 2 us), so
  // it does not compile: use FractionalMicroseconds() or Seconds(double).
  template <std::floating_point F>
  static Duration Picoseconds(F) = delete;
  template <std::floating_point F>
  static Duration Nanoseconds(F) = delete;
  template <std::floating_point F>
  static Duration Microseconds(F) = delete;
  template <std::floating_point F>
  static Duration Milliseconds(F) = delete;
  // Rounded to the nearest picosecond, as Scaled() rounds.
  static constexpr Duration Seconds(double s) {
    return Duration(units_internal::RoundToInt64(s * 1e12));
  }
  // Flags and files give times in microseconds, often fractional (2.5 us).
  static constexpr Duration FractionalMicroseconds(double us) {
    return Duration(units_internal::RoundToInt64(us * 1e6));
  }
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Infinite() { return Duration(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t picoseconds() const { return ps_; }
  constexpr int64_t nanoseconds() const { return ps_ / 1000; }
  constexpr double microseconds() const { return static_cast<double>(ps_) / 1e6; }
  constexpr double seconds() const { return static_cast<double>(ps_) / 1e12; }
  constexpr bool IsZero() const { return ps_ == 0; }
  constexpr bool IsInfinite() const { return ps_ == std::numeric_limits<int64_t>::max(); }

  constexpr Duration operator+(Duration o) const { return Duration(ps_ + o.ps_); }
  constexpr Duration operator-(Duration o) const { return Duration(ps_ - o.ps_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ps_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ps_ / k); }
  // A floating-point factor would silently convert to int64_t (d * 0.5 == d * 0),
  // so it does not compile: use Scaled() to scale by a fraction.
  template <std::floating_point F>
  Duration operator*(F) const = delete;
  template <std::floating_point F>
  Duration operator/(F) const = delete;
  // This duration times `factor`, rounded to the nearest picosecond (halves
  // away from zero): the one way to scale a duration by a non-integer. An
  // infinite duration scaled by a positive factor stays infinite; a result
  // beyond the int64 range saturates (at Infinite() above, at the most
  // negative duration below), and a NaN result is Infinite().
  constexpr Duration Scaled(double factor) const {
    if (IsInfinite() && factor > 0) return Infinite();
    return Duration(units_internal::RoundToInt64(static_cast<double>(ps_) * factor));
  }
  constexpr Duration& operator+=(Duration o) {
    ps_ += o.ps_;
    return *this;
  }
  constexpr Duration& operator-=(Duration o) {
    ps_ -= o.ps_;
    return *this;
  }
  constexpr auto operator<=>(const Duration&) const = default;

  // Human-readable with a unit chosen by magnitude: "250ps", "1.500us".
  std::string ToString() const {
    if (IsInfinite()) return "inf";
    const double ps = static_cast<double>(ps_);
    const double mag = ps < 0 ? -ps : ps;
    char buf[32];
    if (mag < 1e3)
      std::snprintf(buf, sizeof buf, "%lldps", static_cast<long long>(ps_));
    else if (mag < 1e6)
      std::snprintf(buf, sizeof buf, "%.3fns", ps / 1e3);
    else if (mag < 1e9)
      std::snprintf(buf, sizeof buf, "%.3fus", ps / 1e6);
    else if (mag < 1e12)
      std::snprintf(buf, sizeof buf, "%.3fms", ps / 1e9);
    else
      std::snprintf(buf, sizeof buf, "%.3fs", ps / 1e12);
    return buf;
  }

 private:
  explicit constexpr Duration(int64_t ps) : ps_(ps) {}
  int64_t ps_ = 0;
};

// A point in time on the clock of whoever drives the transport: virtual time in
// the simulator, the TSC converted by the DPDK dataplane.
class Time {
 public:
  constexpr Time() = default;
  static constexpr Time FromPicoseconds(int64_t ps) { return Time(ps); }
  static constexpr Time FromNanoseconds(int64_t ns) { return Time(ns * 1000); }
  static constexpr Time Zero() { return Time(0); }
  // "Never": the deadline of something that has nothing scheduled.
  static constexpr Time Infinite() { return Time(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t picoseconds() const { return ps_; }
  constexpr int64_t nanoseconds() const { return ps_ / 1000; }
  constexpr double seconds() const { return static_cast<double>(ps_) / 1e12; }
  constexpr bool IsInfinite() const { return ps_ == std::numeric_limits<int64_t>::max(); }

  constexpr Time operator+(Duration d) const {
    if (IsInfinite() || d.IsInfinite()) return Infinite();
    return Time(ps_ + d.picoseconds());
  }
  constexpr Time operator-(Duration d) const { return Time(ps_ - d.picoseconds()); }
  constexpr Duration operator-(Time o) const { return Duration::Picoseconds(ps_ - o.ps_); }
  constexpr auto operator<=>(const Time&) const = default;

 private:
  explicit constexpr Time(int64_t ps) : ps_(ps) {}
  int64_t ps_ = 0;
};

// Bits per second. Zero means "unlimited" wherever a rate limits something.
class Bandwidth {
 public:
  constexpr Bandwidth() = default;
  static constexpr Bandwidth BitsPerSecond(int64_t bps) { return Bandwidth(bps); }
  // Rounded to the nearest bit per second.
  static constexpr Bandwidth Gbps(double g) {
    return Bandwidth(units_internal::RoundToInt64(g * 1e9));
  }
  static constexpr Bandwidth Unlimited() { return Bandwidth(0); }

  constexpr int64_t bits_per_second() const { return bps_; }
  constexpr double gbps() const { return static_cast<double>(bps_) / 1e9; }
  constexpr bool IsUnlimited() const { return bps_ == 0; }

  // Time to serialize `bytes` at this rate; zero for an unlimited rate.
  constexpr Duration TransferTime(uint64_t bytes) const {
    if (bps_ <= 0) return Duration::Zero();
    // ps = bytes * 8 * 1e12 / bps, computed without overflow for bytes < 2^40.
    const Int128 ps = static_cast<Int128>(bytes) * 8 * 1'000'000'000'000LL / bps_;
    return Duration::Picoseconds(static_cast<int64_t>(ps));
  }
  // Bytes this rate delivers in `time` (the bandwidth-delay product when
  // `time` is a round trip); 0 for an unlimited rate or a negative time.
  constexpr double BytesIn(Duration time) const {
    if (bps_ <= 0 || time.picoseconds() <= 0) return 0;
    return static_cast<double>(bps_) * static_cast<double>(time.picoseconds()) / 8e12;
  }
  constexpr auto operator<=>(const Bandwidth&) const = default;

 private:
  explicit constexpr Bandwidth(int64_t bps) : bps_(bps) {}
  int64_t bps_ = 0;
};

}  // namespace tern
