// Data patterns of tern-perf's --verify and the message buffers they live in,
// shared by the simulated and the DPDK runs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/sim/simulator.h"

namespace tern::perf {

// Pattern of one message: 64-bit words key + i * K, with a key mixed from
// (seed, stream, message), so every message differs (a stale or foreign byte
// shows) and every word of a message differs (a misplaced one shows). A stream
// is one direction of one QP pair. One add per word: filling and checking run
// at memory speed, so --verify does not dominate long runs.
constexpr uint64_t kPatternStep = 0x9E3779B97F4A7C15ull;  // odd: i * K is distinct mod 2^64

inline uint64_t PatternBase(uint64_t seed, uint64_t stream, uint64_t message) {
  return sim::DeriveSeed(sim::DeriveSeed(seed, stream), message);
}

inline void FillPattern(uint8_t* p, uint64_t len, uint64_t base) {
  uint64_t word = base;
  uint64_t i = 0;
  for (; i + 8 <= len; i += 8, word += kPatternStep) std::memcpy(p + i, &word, 8);
  if (i < len) std::memcpy(p + i, &word, len - i);
}

// Bytes of [p, p+len) that differ from the pattern.
inline uint64_t CountPatternErrors(const uint8_t* p, uint64_t len, uint64_t base) {
  auto differing_bytes = [](uint64_t diff, uint64_t bytes) {
    uint64_t n = 0;
    for (uint64_t b = 0; b < bytes; ++b) n += ((diff >> (8 * b)) & 0xFF) != 0;
    return n;
  };
  constexpr uint64_t kChunkWords = 512;
  uint64_t errors = 0;
  uint64_t word = base;
  uint64_t i = 0;
  while (i + 8 <= len) {
    // Fast pass over a chunk; count bytes only in a chunk that differs.
    const uint64_t words = std::min(kChunkWords, (len - i) / 8);
    uint64_t any = 0;
    uint64_t w = word;
    for (uint64_t k = 0; k < words; ++k, w += kPatternStep) {
      uint64_t have;
      std::memcpy(&have, p + i + 8 * k, 8);
      any |= have ^ w;
    }
    if (any != 0) {
      w = word;
      for (uint64_t k = 0; k < words; ++k, w += kPatternStep) {
        uint64_t have;
        std::memcpy(&have, p + i + 8 * k, 8);
        errors += differing_bytes(have ^ w, 8);
      }
    }
    i += 8 * words;
    word += kPatternStep * words;
  }
  if (i < len) {
    uint64_t have = 0;
    uint64_t want = 0;
    std::memcpy(&have, p + i, len - i);
    std::memcpy(&want, &word, len - i);
    errors += differing_bytes(have ^ want, len - i);
  }
  return errors;
}

// Message buffers come from calloc unless a dataplane asks otherwise: large
// ones are mapped lazily and zeroed by the OS, so slots a run never touches
// cost no memory.
struct BufferDeleter {
  void (*release)(void*) = std::free;
  void operator()(uint8_t* p) const { release(p); }
};
using Buffer = std::unique_ptr<uint8_t, BufferDeleter>;

// Where a dataplane wants message buffers: zeroed memory, or null when it has
// none left (calloc is used then). DPDK's heap, so that the port can send
// payload by reference.
struct BufferAllocator {
  void* (*allocate)(size_t bytes) = nullptr;  // null: calloc only
  void (*release)(void*) = std::free;
};

inline Buffer AllocateBuffer(uint64_t bytes, const BufferAllocator& allocator = {}) {
  if (allocator.allocate != nullptr) {
    if (void* p = allocator.allocate(bytes)) {
      return Buffer(static_cast<uint8_t*>(p), BufferDeleter{allocator.release});
    }
  }
  return Buffer(static_cast<uint8_t*>(std::calloc(bytes, 1)));
}

}  // namespace tern::perf
