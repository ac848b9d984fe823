// Test support: seeded random damage to an input file's bytes, for the
// parsers' robustness tests (a corrupt or mistyped file is refused with the
// file and what is wrong, never a crash).
#pragma once

#include <algorithm>
#include <string>

#include "transport/random.h"

namespace tern::testing {

// 1 to 4 of: a byte overwritten, inserted or deleted, or the text cut short.
inline std::string MutateBytes(std::string text, Random& rng) {
  for (uint64_t i = 0, n = 1 + rng.Uniform(4); i < n && !text.empty(); ++i) {
    const size_t at = rng.Uniform(text.size());
    const char byte = static_cast<char>(rng.Next());
    switch (rng.Uniform(4)) {
      case 0:
        text[at] = byte;
        break;
      case 1:
        text.insert(text.begin() + static_cast<ptrdiff_t>(at), byte);
        break;
      case 2:
        text.erase(at, 1);
        break;
      default:
        text.resize(at);
        break;
    }
  }
  return text;
}

}  // namespace tern::testing
