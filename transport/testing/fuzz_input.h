// Fuzz support: reads a fuzzer's input as a stream of choices. Past its end
// every read gives 0, so any input, even an empty one, is a complete run and
// the choice that reads 0 is the one to make when the input has said nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

namespace tern::testing {

class FuzzInput {
 public:
  explicit FuzzInput(std::span<const uint8_t> data) : rest_(data) {}

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t b = rest_.front();
    rest_ = rest_.subspan(1);
    return b;
  }
  bool Bit() { return (Byte() & 1) != 0; }
  uint16_t Uint16() {
    const uint16_t high = Byte();
    return static_cast<uint16_t>(high << 8 | Byte());
  }
  uint32_t Uint32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | Byte();
    return v;
  }
  // A value in [0, bound); 0 when bound is 0. Reads as few bytes as the
  // bound needs, so small choices cost the fuzzer one byte.
  uint32_t Below(uint32_t bound) {
    if (bound <= 1) return 0;
    uint32_t v = 0;
    for (uint32_t range = bound - 1; range > 0; range >>= 8) v = v << 8 | Byte();
    return v % bound;
  }
  // Up to `n` bytes of the input itself (fewer when it runs out).
  std::span<const uint8_t> Bytes(size_t n) {
    const std::span<const uint8_t> taken = rest_.first(std::min(n, rest_.size()));
    rest_ = rest_.subspan(taken.size());
    return taken;
  }
  bool exhausted() const { return rest_.empty(); }

 private:
  std::span<const uint8_t> rest_;
};

}  // namespace tern::testing
