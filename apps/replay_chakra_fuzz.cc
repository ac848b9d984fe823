// Coverage-guided fuzzing of the Chakra trace reader: the input becomes a
// directory of one to four rank files (NAME.RANK.et) and, optionally, an
// ASTRA-sim communicator-groups file, which LoadChakraTrace then reads.
// Passing means each trace is loaded or refused with an error, with no crash,
// hang or sanitizer report. See transport/connection_fuzz.cc for how fuzz
// targets are built and run.
//
// Input: a flags byte (bits 0-1: ranks - 1; bit 2: a groups file follows the
// ranks), then each file as a 2-byte big-endian length and its bytes.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "apps/file_io.h"
#include "apps/replay_chakra.h"
#include "transport/testing/fuzz_input.h"

namespace tern::replay {
namespace {

constexpr int kMaxRanks = 4;

const std::string& TraceDirectory();

std::string RankFile(int rank) { return TraceDirectory() + "/t." + std::to_string(rank) + ".et"; }

// The directory every run writes its files into, made once per process and
// removed at exit (the string is never destroyed, so the exit handler can
// still read it).
const std::string& TraceDirectory() {
  static const std::string* const dir = [] {
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/tern-chakra-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] {
      for (int rank = 0; rank < kMaxRanks; ++rank) {
        unlink(RankFile(rank).c_str());
      }
      unlink((TraceDirectory() + "/groups.json").c_str());
      rmdir(TraceDirectory().c_str());
    });
    return new std::string(pattern);
  }();
  return *dir;
}

void WriteFile(const std::string& path, std::span<const uint8_t> bytes) {
  const absl::Status written = WriteWholeFile(path, std::string(bytes.begin(), bytes.end()));
  if (!written.ok()) {
    std::fprintf(stderr, "%s\n", written.ToString().c_str());
    std::abort();
  }
}

void RunOne(std::span<const uint8_t> data) {
  testing::FuzzInput in(data);
  const uint8_t flags = in.Byte();
  const int ranks = 1 + (flags & 3);
  const std::string& dir = TraceDirectory();
  for (int rank = 0; rank < kMaxRanks; ++rank) {
    if (rank < ranks) {
      WriteFile(RankFile(rank), in.Bytes(in.Uint16()));
    } else {
      unlink(RankFile(rank).c_str());
    }
  }
  ChakraOptions options;
  if ((flags & 4) != 0) {
    options.comm_groups_file = dir + "/groups.json";
    WriteFile(options.comm_groups_file, in.Bytes(in.Uint16()));
  }
  (void)LoadChakraTrace(dir, options);
}

}  // namespace
}  // namespace tern::replay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::replay::RunOne({data, size});
  return 0;
}
