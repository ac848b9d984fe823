#include "cc/congestion_control.h"

#include <array>
#include <span>
#include <string>

#include "absl/strings/str_format.h"

namespace tern {

std::string CongestionControl::DebugState() const {
  std::array<CcVariable, kMaxCcVariables> vars;
  const int n = DebugVariables(std::span<CcVariable, kMaxCcVariables>(vars));
  std::string out(name());
  for (int i = 0; i < n; ++i) {
    // %.10g keeps byte counts exact up to 10 digits and fractions readable.
    absl::StrAppendFormat(&out, " %s=%.10g", std::string(vars[i].name), vars[i].value);
  }
  return out;
}

}  // namespace tern
