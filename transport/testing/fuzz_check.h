// A fuzz target's own checks, beyond "no crash": a broken invariant aborts,
// so that the fuzz driver (or libFuzzer) reports the input that broke it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tern::testing {

[[noreturn]] inline void FuzzCheckFailed(std::string_view what) {
  std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace tern::testing
