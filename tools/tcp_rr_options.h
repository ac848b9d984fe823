// Command-line options of tern-tcp-rr, the Linux TCP request/response baseline
// that Tern's latency and rate are compared against: parsing and validation
// only. Every check that can be made before a socket is opened is made here,
// so a bad invocation fails at once with one line naming the flag.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::tcp_rr {

enum class RrMode : uint8_t {
  kServer,    // listen, echo one client (or every client, --forever)
  kClient,    // connect to --host, measure
  kLoopback,  // both sides in one process, two pinned threads, over 127.0.0.1
};
// "server", "client", "loopback": the command-line spelling.
const char* RrModeName(RrMode mode);

// Limits the parser enforces, exposed for the usage text and the tests.
inline constexpr uint64_t kMaxSize = uint64_t{1} << 20;  // 1 MiB
// Latency samples are kept for the percentiles (8 bytes each), as tern-perf.
inline constexpr uint64_t kMaxIters = 100'000'000;
inline constexpr double kMaxSeconds = 24 * 3600;
inline constexpr int kMaxCpu = 1023;  // CPU_SETSIZE - 1

struct TcpRrOptions {
  bool help = false;  // --help: print usage and exit 0; nothing else is checked
  RrMode mode = RrMode::kLoopback;

  std::string host;  // client: the server's name or address (required)
  // server: the address to listen on; loopback: always 127.0.0.1.
  std::string bind = "0.0.0.0";
  // server and loopback: 0 lets the kernel pick (the server prints it);
  // client: required, 1..65535.
  uint16_t port = 0;

  uint64_t size = 8;  // request and response bytes, 1..kMaxSize
  // Measured round trips; with --duration, the most the run may make.
  uint64_t iters = 100'000;
  uint64_t warmup = 100;    // round trips made before measuring, not reported
  double duration_sec = 0;  // 0: run `iters` round trips
  double timeout_sec = 10;  // connect, accept, and each send or receive
  bool busy_poll = false;   // spin on non-blocking I/O instead of sleeping
  bool forever = false;     // server: serve client after client
  // CPUs the two sides' threads are pinned to. Unset: the server takes the
  // first CPU the process may run on, the client the second (the first when
  // there is one). --no-pin: neither is pinned.
  std::optional<int> cpu_server;  // server (--cpu) and loopback (--cpu-server)
  std::optional<int> cpu_client;  // client (--cpu) and loopback (--cpu-client)
  bool pin = true;
  std::string json_path;  // empty: no JSON
};

// Parses the arguments after argv[0]: MODE [flags]. A usage error is
// InvalidArgumentError with a one-line message that names the flag and says
// what is valid.
absl::StatusOr<TcpRrOptions> ParseTcpRrOptions(std::span<const std::string_view> args);

// The --help text.
std::string TcpRrUsage();

}  // namespace tern::tcp_rr
