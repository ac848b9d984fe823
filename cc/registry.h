// The congestion-control registry: algorithms by name, parameters by key.
//
// A spec names an algorithm and optionally sets some of its parameters:
//
//   fixed
//   fixed:window=262144,rate=100
//
// Every algorithm declares its parameters (name, default, kind, range) in one
// table entry; the registry parses and checks a spec against that declaration
// and hands the algorithm's factory a CcParams with every parameter filled in,
// so a factory never parses text and never sees a missing key.
//
// Everything here is control path: it allocates and returns Status. Nothing in
// this file is used per packet.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "transport/units.h"

namespace tern {

// How a parameter's text is read. Each kind has an intrinsic range; a
// parameter's `min`/`max` can only narrow it.
enum class CcParamKind : uint8_t {
  kUnsigned,        // decimal digits, 0..2^64-1 (no sign, no exponent)
  kPositiveDouble,  // a finite number > 0, e.g. "0.5" or "1e-3"
  kGbps,            // bandwidth in Gb/s, a finite number in [0, 1e6]; 0 = unlimited
  kMbps,            // bandwidth in Mb/s, a finite number in [0, 1e9]; 0 = unlimited
  kMicroseconds,    // duration in microseconds, a finite number in [0, 1e9]
  kBool,            // "true", "false", "1" or "0"
};

// Declaration of one parameter of an algorithm.
struct CcParamInfo {
  std::string_view name;  // lower-case key, e.g. "window"
  CcParamKind kind = CcParamKind::kUnsigned;
  std::string_view default_value;  // as a user would type it; must pass the checks below
  std::string_view description;    // one line, with the unit, e.g. "window in bytes; ..."
  // Optional inclusive bounds, in the kind's unit (bytes are plain numbers,
  // Gb/s for kGbps, Mb/s for kMbps, microseconds for kMicroseconds). Ignored for kBool. For
  // kUnsigned they must be whole numbers.
  std::optional<double> min;
  std::optional<double> max;
};

// The parameters of one algorithm instance, every declared key present: the
// value from the spec when it was given, the declared default otherwise.
//
// Getters take a key the algorithm declared, with the getter matching its kind
// (GetUint for kUnsigned, GetDouble for kPositiveDouble, GetBandwidth for
// kGbps or kMbps, GetDuration for kMicroseconds, GetBool for kBool). Anything else is a
// bug in the algorithm, not in the user's spec: it aborts with a message naming
// the key. Every algorithm's tests create it with its defaults, which catches
// such a bug before it ships.
class CcParams {
 public:
  using Value = std::variant<uint64_t, double, Bandwidth, Duration, bool>;

  struct Entry {
    std::string name;
    CcParamKind kind = CcParamKind::kUnsigned;
    Value value;
    std::string text;    // the text the value was read from
    bool given = false;  // true when the spec set it, false for the default
  };

  // Normally built by ParseCcSpec, which checks every value against its
  // declaration; the constructor takes entries as they are.
  CcParams() = default;
  explicit CcParams(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  uint64_t GetUint(std::string_view key) const;
  double GetDouble(std::string_view key) const;
  Bandwidth GetBandwidth(std::string_view key) const;
  Duration GetDuration(std::string_view key) const;
  bool GetBool(std::string_view key) const;

  // True when the spec set `key` explicitly (even to its default value).
  bool WasGiven(std::string_view key) const;

  // Every parameter as "key=value,key=value", in declaration order, defaults
  // included: the complete configuration, for logs and experiment reports.
  std::string ToString() const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Entry& Find(std::string_view key, CcParamKind kind, const char* getter) const;

  std::vector<Entry> entries_;
};

// Builds an algorithm instance from checked parameters. May refuse
// combinations the per-key checks cannot see (e.g. two keys that exclude each
// other) with absl::InvalidArgumentError. Must not depend on anything but its
// arguments: ValidateCongestionControlSpec calls it with a default CcContext to
// run the same checks as CreateCongestionControl.
using CcFactory = absl::StatusOr<std::unique_ptr<CongestionControl>> (*)(const CcParams& params,
                                                                         const CcContext& context);

// One row of the registry.
struct CcAlgorithmInfo {
  std::string_view name;         // lower-case, [a-z0-9_]+, e.g. "fixed"
  std::string_view description;  // one line for --help
  std::vector<CcParamInfo> params;
  CcFactory factory = nullptr;  // required
};

// The table of every algorithm, built on first call (thread-safe, no static
// initialisation order involved) and never modified afterwards, so references
// into it stay valid for the life of the process. The table is checked with
// CheckAlgorithmTable when built; a malformed entry aborts with a message, as a
// missing required hook does in Linux's tcp_register_congestion_control.
//
// To add an algorithm, see the comment above the table in registry.cc.
const std::vector<CcAlgorithmInfo>& RegisteredAlgorithms();

// Checks a table: names well-formed and unique, a factory present, every
// default accepted by its own parameter's checks, bounds consistent.
absl::Status CheckAlgorithmTable(const std::vector<CcAlgorithmInfo>& algorithms);

// A spec split and checked against a table.
struct ParsedCcSpec {
  const CcAlgorithmInfo* algorithm = nullptr;  // points into the table given
  CcParams params;
};

// Parses "NAME" or "NAME:key=value,..." against `algorithms`. Refuses with
// absl::InvalidArgumentError: an empty spec, whitespace anywhere, an unknown
// name (listing the registered names), an empty or '='-less parameter, an
// unknown key (listing the valid keys with defaults), a key given twice, and a
// value its kind or range refuses (naming the key, the value and what is
// expected). Does not call the factory.
absl::StatusOr<ParsedCcSpec> ParseCcSpec(
    std::string_view spec, const std::vector<CcAlgorithmInfo>& algorithms = RegisteredAlgorithms());

// Multi-line help: every algorithm with its description and parameters
// (default, kind, range, description). For apps' --help.
std::string DescribeAlgorithms(
    const std::vector<CcAlgorithmInfo>& algorithms = RegisteredAlgorithms());

}  // namespace tern
