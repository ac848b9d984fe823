// Test support for congestion-control algorithms: create by spec (or fail the
// test), read the refusal message, build a context, read a debug variable.
// Every algorithm's tests use these instead of carrying their own copies.
#pragma once

#include <array>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern::cc_testing {

// Creates `spec` or fails the test (and returns null).
inline std::unique_ptr<CongestionControl> MustCreate(std::string_view spec,
                                                     const CcContext& context = CcContext{}) {
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc = CreateCongestionControl(spec, context);
  EXPECT_TRUE(cc.ok()) << spec << ": " << cc.status();
  return cc.ok() ? *std::move(cc) : nullptr;
}

// The message `spec` is refused with, as InvalidArgument; fails the test when
// it is accepted.
inline std::string CreateError(std::string_view spec, const CcContext& context = CcContext{}) {
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc = CreateCongestionControl(spec, context);
  EXPECT_FALSE(cc.ok()) << spec << " was accepted";
  if (cc.ok()) return "";
  EXPECT_EQ(cc.status().code(), absl::StatusCode::kInvalidArgument) << cc.status();
  return std::string(cc.status().message());
}

inline CcContext MakeContext(Bandwidth line_rate, Duration base_rtt, uint32_t mtu_bytes = 4096) {
  CcContext context;
  context.line_rate = line_rate;
  context.base_rtt = base_rtt;
  context.mtu_bytes = mtu_bytes;
  return context;
}

// The DebugVariables entry `name`; fails the test (and returns NaN) when absent.
inline double DebugVariable(const CongestionControl& cc, std::string_view name) {
  std::array<CcVariable, kMaxCcVariables> vars;
  const int n = cc.DebugVariables(std::span<CcVariable, kMaxCcVariables>(vars));
  for (int i = 0; i < n; ++i) {
    if (vars[i].name == name) return vars[i].value;
  }
  ADD_FAILURE() << "no debug variable " << name;
  return NAN;
}

}  // namespace tern::cc_testing
