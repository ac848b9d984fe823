#include "cc/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cc/congestion_control.h"
#include "cc/dcqcn.h"
#include "cc/fixed.h"
#include "cc/hpcc.h"
#include "cc/nscc.h"
#include "cc/swift.h"
#include "cc/timely.h"
#include "transport/text.h"

namespace tern {
namespace {

// This Abseil build has its own string_view, distinct from std::string_view;
// the CC interface speaks std::string_view, Abseil's string helpers the other.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Quotes text for an error message, escaping control characters so that a
// stray tab or newline is visible.
std::string Quote(std::string_view s) { return absl::StrCat("\"", absl::CEscape(Av(s)), "\""); }

// The intrinsic ranges of the floating-point kinds. They keep the conversions
// to int64 bits per second and picoseconds far from overflow.
constexpr double kMaxGbps = 1e6;                             // 1 Pb/s
constexpr double kMaxMicroseconds = 1e9;                     // 1000 s
constexpr double kMaxUnsignedBound = 9223372036854775808.0;  // 2^63, exact in a double

// Prints a bound without exponent when it is a whole number ("1099511627776",
// not "1.09951e+12").
std::string FormatNumber(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e19) return absl::StrFormat("%.0f", v);
  return absl::StrCat(v);
}

const char* KindNoun(CcParamKind kind) {
  switch (kind) {
    case CcParamKind::kUnsigned:
      return "an unsigned integer";
    case CcParamKind::kPositiveDouble:
      return "a number greater than 0";
    case CcParamKind::kGbps:
      return "a bandwidth in Gb/s";
    case CcParamKind::kMbps:
      return "a bandwidth in Mb/s";
    case CcParamKind::kMicroseconds:
      return "a duration in microseconds";
    case CcParamKind::kBool:
      return "true or false (or 1 or 0)";
  }
  return "a value";
}

const char* KindName(CcParamKind kind) {
  switch (kind) {
    case CcParamKind::kUnsigned:
      return "kUnsigned";
    case CcParamKind::kPositiveDouble:
      return "kPositiveDouble";
    case CcParamKind::kGbps:
      return "kGbps";
    case CcParamKind::kMbps:
      return "kMbps";
    case CcParamKind::kMicroseconds:
      return "kMicroseconds";
    case CcParamKind::kBool:
      return "kBool";
  }
  return "?";
}

// The inclusive bounds a value of `param` must lie in: the kind's intrinsic
// range narrowed by the declared min/max. Not used for kBool.
struct Bounds {
  std::optional<double> min;
  std::optional<double> max;
};

Bounds EffectiveBounds(const CcParamInfo& param) {
  Bounds b{param.min, param.max};
  switch (param.kind) {
    case CcParamKind::kGbps:
      b.min = std::max(b.min.value_or(0.0), 0.0);
      b.max = std::min(b.max.value_or(kMaxGbps), kMaxGbps);
      break;
    case CcParamKind::kMbps:
      b.min = std::max(b.min.value_or(0.0), 0.0);
      b.max = std::min(b.max.value_or(kMaxGbps * 1e3), kMaxGbps * 1e3);
      break;
    case CcParamKind::kMicroseconds:
      b.min = std::max(b.min.value_or(0.0), 0.0);
      b.max = std::min(b.max.value_or(kMaxMicroseconds), kMaxMicroseconds);
      break;
    case CcParamKind::kUnsigned:
    case CcParamKind::kPositiveDouble:
    case CcParamKind::kBool:
      break;
  }
  return b;
}

// "an unsigned integer in [0, 1099511627776]": what a value must look like.
std::string Expectation(const CcParamInfo& param) {
  std::string out = KindNoun(param.kind);
  if (param.kind == CcParamKind::kBool) return out;
  const Bounds b = EffectiveBounds(param);
  // Zero itself is out for this kind: "a number in (0, 1]", not "a number
  // greater than 0 <= 1".
  if (param.kind == CcParamKind::kPositiveDouble && !b.min && b.max) {
    return absl::StrCat("a number in (0, ", FormatNumber(*b.max), "]");
  }
  if (b.min && b.max) {
    absl::StrAppend(&out, " in [", FormatNumber(*b.min), ", ", FormatNumber(*b.max), "]");
  } else if (b.min) {
    absl::StrAppend(&out, " >= ", FormatNumber(*b.min));
  } else if (b.max) {
    absl::StrAppend(&out, " <= ", FormatNumber(*b.max));
  }
  return out;
}

bool InBounds(double v, const Bounds& b) {
  return (!b.min || v >= *b.min) && (!b.max || v <= *b.max);
}

// Reads `text` as a value of `param`, or nullopt when its kind or range
// refuses it. The caller turns nullopt into a message built from Expectation().
std::optional<CcParams::Value> ParseValue(const CcParamInfo& param, std::string_view text) {
  const Bounds b = EffectiveBounds(param);
  switch (param.kind) {
    case CcParamKind::kUnsigned: {
      const std::optional<uint64_t> v = ParseUnsigned(text);
      if (!v) return std::nullopt;
      // CheckAlgorithmTable guarantees whole bounds in [0, 2^63], so the
      // comparison is exact in integers.
      if (b.min && *v < static_cast<uint64_t>(*b.min)) return std::nullopt;
      if (b.max && *v > static_cast<uint64_t>(*b.max)) return std::nullopt;
      return CcParams::Value(*v);
    }
    case CcParamKind::kPositiveDouble: {
      double v = 0;
      if (!ParseDouble(text, &v) || !(v > 0) || !InBounds(v, b)) return std::nullopt;
      return CcParams::Value(v);
    }
    case CcParamKind::kGbps:
    case CcParamKind::kMbps: {
      double v = 0;
      if (!ParseDouble(text, &v) || !InBounds(v, b)) return std::nullopt;
      const Bandwidth bw = Bandwidth::Gbps(param.kind == CcParamKind::kGbps ? v : v / 1e3);
      // A positive rate that rounds to 0 bit/s would silently mean
      // "unlimited": refuse it instead.
      if (v > 0 && bw.IsUnlimited()) return std::nullopt;
      return CcParams::Value(bw);
    }
    case CcParamKind::kMicroseconds: {
      double v = 0;
      if (!ParseDouble(text, &v) || !InBounds(v, b)) return std::nullopt;
      return CcParams::Value(Duration::FractionalMicroseconds(v));
    }
    case CcParamKind::kBool:
      if (text == "true" || text == "1") return CcParams::Value(true);
      if (text == "false" || text == "0") return CcParams::Value(false);
      return std::nullopt;
  }
  return std::nullopt;
}

bool IsWellFormedName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string ListNames(const std::vector<CcAlgorithmInfo>& algorithms) {
  std::string out;
  for (const CcAlgorithmInfo& a : algorithms) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Av(a.name));
  }
  return out.empty() ? "(none)" : out;
}

// "window (default 0), packets (default 0), rate (default 0)".
std::string ListParams(const CcAlgorithmInfo& algorithm) {
  if (algorithm.params.empty()) return "none: it takes no parameters";
  std::string out;
  for (const CcParamInfo& p : algorithm.params) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Av(p.name), " (default ", Av(p.default_value),
                    ")");
  }
  return out;
}

absl::Status CheckContext(const CcContext& context) {
  if (context.mtu_bytes == 0) {
    return absl::InvalidArgumentError(
        "CcContext.mtu_bytes is 0; it must be the payload bytes of a "
        "full packet");
  }
  if (context.line_rate.bits_per_second() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CcContext.line_rate is negative (", context.line_rate.bits_per_second(),
                     " bit/s); use a rate >= 0, where 0 means unknown/unlimited"));
  }
  if (context.base_rtt < Duration::Zero() || context.base_rtt.IsInfinite()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CcContext.base_rtt is ", context.base_rtt.ToString(), "; it must be finite and >= 0"));
  }
  return absl::OkStatus();
}

[[noreturn]] void DieWithMessage(const std::string& message) {
  std::fprintf(stderr, "tern: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace

// ---------------------------------------------------------------------------
// CcParams

const CcParams::Entry& CcParams::Find(std::string_view key, CcParamKind kind,
                                      const char* getter) const {
  for (const Entry& e : entries_) {
    if (e.name != key) continue;
    if (e.kind != kind) {
      DieWithMessage(absl::StrCat("CcParams::", getter, "(\"", Av(key), "\"): the parameter is ",
                                  "declared as ", KindName(e.kind), ", not ", KindName(kind),
                                  "; this is a bug in the algorithm's factory"));
    }
    return e;
  }
  std::string declared;
  for (const Entry& e : entries_) absl::StrAppend(&declared, declared.empty() ? "" : ", ", e.name);
  DieWithMessage(absl::StrCat(
      "CcParams::", getter, "(\"", Av(key), "\"): no such parameter declared (declared: ",
      declared.empty() ? "none" : declared, "); this is a bug in the algorithm's factory"));
}

uint64_t CcParams::GetUint(std::string_view key) const {
  return std::get<uint64_t>(Find(key, CcParamKind::kUnsigned, "GetUint").value);
}

double CcParams::GetDouble(std::string_view key) const {
  return std::get<double>(Find(key, CcParamKind::kPositiveDouble, "GetDouble").value);
}

Bandwidth CcParams::GetBandwidth(std::string_view key) const {
  // Both bandwidth kinds hold a Bandwidth; they differ only in the unit typed.
  for (const Entry& e : entries_) {
    if (e.name == key && e.kind == CcParamKind::kMbps) return std::get<Bandwidth>(e.value);
  }
  return std::get<Bandwidth>(Find(key, CcParamKind::kGbps, "GetBandwidth").value);
}

Duration CcParams::GetDuration(std::string_view key) const {
  return std::get<Duration>(Find(key, CcParamKind::kMicroseconds, "GetDuration").value);
}

bool CcParams::GetBool(std::string_view key) const {
  return std::get<bool>(Find(key, CcParamKind::kBool, "GetBool").value);
}

bool CcParams::WasGiven(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.name == key) return e.given;
  }
  return false;
}

std::string CcParams::ToString() const {
  std::string out;
  for (const Entry& e : entries_) {
    absl::StrAppend(&out, out.empty() ? "" : ",", e.name, "=", e.text);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The registry table.
//
// One entry per algorithm; the order here is the order of --help and of the
// name list in error messages. To add an algorithm "foo":
//   1. Write cc/foo.h and cc/foo.cc: a `final` class deriving from
//      CongestionControl with a static_assert on its size, and a function
//      `CcAlgorithmInfo FooCcInfo()` returning its name, one-line description,
//      parameter declarations and factory (see FixedCcInfo in cc/fixed.cc).
//   2. `#include "cc/foo.h"` above and add `FooCcInfo(),` to the list below.
//   3. In cc/meson.build, add foo.cc to tern_cc and foo_test.cc to cc_test.
//   4. Write cc/foo_test.cc: defaults, each parameter, each refusal, and the
//      algorithm's responses to events (docs/cc.md, "Adding an algorithm").
//   5. Add a section to docs/cc.md with the parameters and the state size.
// Nothing else changes: parsing, validation, --help and the error messages all
// read this table.
const std::vector<CcAlgorithmInfo>& RegisteredAlgorithms() {
  // Built on first use and intentionally never destroyed, so references into
  // it stay valid during static destruction too.
  static const std::vector<CcAlgorithmInfo>* const table = [] {
    auto* algorithms = new std::vector<CcAlgorithmInfo>{
        FixedCcInfo(), DcqcnCcInfo(), TimelyCcInfo(), SwiftCcInfo(), HpccCcInfo(), NsccCcInfo(),
    };
    if (const absl::Status status = CheckAlgorithmTable(*algorithms); !status.ok()) {
      DieWithMessage(absl::StrCat("congestion-control registry: ", status.message()));
    }
    return algorithms;
  }();
  return *table;
}

absl::Status CheckAlgorithmTable(const std::vector<CcAlgorithmInfo>& algorithms) {
  for (size_t i = 0; i < algorithms.size(); ++i) {
    const CcAlgorithmInfo& a = algorithms[i];
    const std::string where = absl::StrCat("algorithm #", i, " ", Quote(a.name));
    if (!IsWellFormedName(a.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the name must be non-empty and use only [a-z0-9_]"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (algorithms[j].name == a.name) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": registered twice"));
      }
    }
    if (a.description.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no description"));
    }
    if (a.factory == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no factory"));
    }
    for (size_t k = 0; k < a.params.size(); ++k) {
      const CcParamInfo& p = a.params[k];
      const std::string pwhere = absl::StrCat(where, ", parameter ", Quote(p.name));
      if (!IsWellFormedName(p.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(pwhere, ": the name must be non-empty and use only [a-z0-9_]"));
      }
      for (size_t m = 0; m < k; ++m) {
        if (a.params[m].name == p.name) {
          return absl::InvalidArgumentError(absl::StrCat(pwhere, ": declared twice"));
        }
      }
      if (p.description.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(pwhere, ": no description"));
      }
      if (p.min && p.max && *p.min > *p.max) {
        return absl::InvalidArgumentError(
            absl::StrCat(pwhere, ": min ", FormatNumber(*p.min), " > max ", FormatNumber(*p.max)));
      }
      if (p.kind == CcParamKind::kUnsigned) {
        for (const std::optional<double>& bound : {p.min, p.max}) {
          if (bound && (*bound < 0 || *bound > kMaxUnsignedBound || *bound != std::floor(*bound))) {
            return absl::InvalidArgumentError(absl::StrCat(pwhere, ": bound ", FormatNumber(*bound),
                                                           " is not a whole number in [0, 2^63]"));
          }
        }
      }
      if (!ParseValue(p, p.default_value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(pwhere, ": default ", Quote(p.default_value), " is not ", Expectation(p)));
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Parsing

absl::StatusOr<ParsedCcSpec> ParseCcSpec(std::string_view spec,
                                         const std::vector<CcAlgorithmInfo>& algorithms) {
  if (spec.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty congestion-control spec; expected NAME or NAME:key=value,... ",
                     "(registered algorithms: ", ListNames(algorithms), ")"));
  }
  for (size_t i = 0; i < spec.size(); ++i) {
    const char c = spec[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      return absl::InvalidArgumentError(
          absl::StrCat("congestion-control spec ", Quote(spec), " contains whitespace at offset ",
                       i, "; write NAME:key=value,key=value without spaces"));
    }
  }

  const size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("congestion-control spec ", Quote(spec), " has no algorithm name before ':' ",
                     "(registered algorithms: ", ListNames(algorithms), ")"));
  }
  const auto it = std::find_if(algorithms.begin(), algorithms.end(),
                               [name](const CcAlgorithmInfo& a) { return a.name == name; });
  if (it == algorithms.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown congestion-control algorithm ", Quote(name), " in spec ", Quote(spec),
                     "; registered algorithms: ", ListNames(algorithms)));
  }
  const CcAlgorithmInfo& algorithm = *it;

  // Collect the given key=value pairs, refusing malformed, unknown, duplicate
  // and out-of-range ones, left to right.
  std::vector<std::optional<std::pair<CcParams::Value, std::string>>> given(
      algorithm.params.size());
  if (colon != std::string_view::npos) {
    const std::string_view list = spec.substr(colon + 1);
    if (list.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "congestion-control spec ", Quote(spec), " ends with ':'; give key=value pairs after ",
          "it, or write just ", Quote(name), " for the defaults"));
    }
    int index = 0;
    for (const auto& [item, key, value, has_equals] : SplitKeyValues(list)) {
      ++index;
      if (item.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("congestion-control spec ", Quote(spec), ": parameter #", index,
                         " is empty; separate key=value pairs with single commas"));
      }
      if (!has_equals) {
        return absl::InvalidArgumentError(
            absl::StrCat("congestion-control spec ", Quote(spec), ": parameter ", Quote(item),
                         " has no '='; write key=value (valid parameters of ",
                         Quote(algorithm.name), ": ", ListParams(algorithm), ")"));
      }
      // An empty key or value is refused below, as an unknown key or a bad value.
      const auto pit = std::find_if(algorithm.params.begin(), algorithm.params.end(),
                                    [&key = key](const CcParamInfo& p) { return p.name == key; });
      if (pit == algorithm.params.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown parameter ", Quote(key), " for congestion-control algorithm ",
                         Quote(algorithm.name), " in spec ", Quote(spec),
                         "; valid parameters: ", ListParams(algorithm)));
      }
      const size_t slot = static_cast<size_t>(pit - algorithm.params.begin());
      if (given[slot]) {
        return absl::InvalidArgumentError(absl::StrCat("congestion-control spec ", Quote(spec),
                                                       ": parameter ", Quote(key),
                                                       " is given twice; give each key once"));
      }
      std::optional<CcParams::Value> parsed = ParseValue(*pit, value);
      if (!parsed) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad value for parameter ", Quote(key), " of congestion-control algorithm ",
            Quote(algorithm.name), ": got ", value.empty() ? "an empty value" : Quote(value),
            ", expected ", Expectation(*pit), " (", Av(pit->description), ")"));
      }
      given[slot].emplace(*std::move(parsed), std::string(value));
    }
  }

  // Fill in the defaults.
  std::vector<CcParams::Entry> entries;
  entries.reserve(algorithm.params.size());
  for (size_t i = 0; i < algorithm.params.size(); ++i) {
    const CcParamInfo& p = algorithm.params[i];
    if (given[i]) {
      entries.push_back({std::string(p.name), p.kind, std::move(given[i]->first),
                         std::move(given[i]->second), /*given=*/true});
    } else {
      // CheckAlgorithmTable verified every default of the registered table;
      // a caller-supplied table that skipped the check is refused here.
      std::optional<CcParams::Value> def = ParseValue(p, p.default_value);
      if (!def) {
        return absl::InternalError(absl::StrCat("congestion-control algorithm ",
                                                Quote(algorithm.name), ": default of ",
                                                Quote(p.name), " is not ", Expectation(p)));
      }
      entries.push_back({std::string(p.name), p.kind, *std::move(def), std::string(p.default_value),
                         /*given=*/false});
    }
  }
  return ParsedCcSpec{&algorithm, CcParams(std::move(entries))};
}

// ---------------------------------------------------------------------------
// congestion_control.h

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateCongestionControl(
    std::string_view spec, const CcContext& context) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec(spec);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status status = CheckContext(context); !status.ok()) return status;
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
      parsed->algorithm->factory(parsed->params, context);
  if (cc.ok() && *cc == nullptr) {
    return absl::InternalError(absl::StrCat("congestion-control algorithm ",
                                            Quote(parsed->algorithm->name),
                                            ": factory returned no object"));
  }
  return cc;
}

absl::Status ValidateCongestionControlSpec(std::string_view spec) {
  // Run the factory too, so that checks across parameters (which only the
  // algorithm knows) refuse exactly what CreateCongestionControl refuses.
  return CreateCongestionControl(spec, CcContext{}).status();
}

// ---------------------------------------------------------------------------
// Help

std::string DescribeAlgorithms(const std::vector<CcAlgorithmInfo>& algorithms) {
  std::string out =
      "Congestion control: NAME or NAME:key=value[,key=value...], no spaces.\n"
      "Unset parameters take their defaults. Algorithms:\n";
  for (const CcAlgorithmInfo& a : algorithms) {
    absl::StrAppend(&out, "  ", Av(a.name), ": ", Av(a.description), "\n");
    size_t width = 0;
    for (const CcParamInfo& p : a.params) {
      width = std::max(width, p.name.size() + 1 + p.default_value.size());
    }
    for (const CcParamInfo& p : a.params) {
      const std::string key_default = absl::StrCat(Av(p.name), "=", Av(p.default_value));
      const std::string indent(width + 2, ' ');
      absl::StrAppend(&out, "    ", key_default, std::string(width - key_default.size() + 2, ' '),
                      Av(p.description), "\n    ", indent, "expects ", Expectation(p), "\n");
    }
  }
  return out;
}

}  // namespace tern
