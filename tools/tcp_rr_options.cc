#include "tools/tcp_rr_options.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "apps/perf_options.h"
#include "transport/text.h"

namespace tern::tcp_rr {
namespace {

using perf::ParseBytes;

// Which modes take a flag.
enum ModeMask : uint8_t {
  kServerFlag = 1 << 0,
  kClientFlag = 1 << 1,
  kLoopbackFlag = 1 << 2,
  kMeasuringFlag = kClientFlag | kLoopbackFlag,
  kAnyMode = kServerFlag | kClientFlag | kLoopbackFlag,
};

struct FlagInfo {
  std::string_view name;  // without "--"
  bool takes_value;
  uint8_t modes;  // ModeMask bits
};

constexpr FlagInfo kFlags[] = {
    {"host", true, kClientFlag},
    {"port", true, kAnyMode},
    {"bind", true, kServerFlag},
    {"size", true, kMeasuringFlag},
    {"iters", true, kMeasuringFlag},
    {"warmup", true, kMeasuringFlag},
    {"duration", true, kMeasuringFlag},
    {"timeout", true, kAnyMode},
    {"busy-poll", false, kAnyMode},
    {"forever", false, kServerFlag},
    {"cpu", true, kServerFlag | kClientFlag},
    {"cpu-server", true, kLoopbackFlag},
    {"cpu-client", true, kLoopbackFlag},
    {"no-pin", false, kAnyMode},
    {"json", true, kMeasuringFlag},
    {"help", false, kAnyMode},
};

const FlagInfo* FindFlag(std::string_view name) {
  for (const FlagInfo& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

uint8_t ModeBit(RrMode mode) {
  switch (mode) {
    case RrMode::kServer:
      return kServerFlag;
    case RrMode::kClient:
      return kClientFlag;
    case RrMode::kLoopback:
      return kLoopbackFlag;
  }
  return 0;
}

absl::Status FlagError(std::string_view flag, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrFormat("--%s: %s", flag, message));
}

absl::StatusOr<uint64_t> UnsignedIn(std::string_view flag, std::string_view text, uint64_t lo,
                                    uint64_t hi) {
  const std::optional<uint64_t> value = ParseUnsigned(text);
  if (!value || *value < lo || *value > hi) {
    return FlagError(flag, absl::StrFormat("'%s' is not a whole number in %d..%d", text, lo, hi));
  }
  return *value;
}

absl::StatusOr<double> SecondsIn(std::string_view flag, std::string_view text) {
  const std::optional<double> value = ParseNonNegativeDouble(text);
  if (!value || *value <= 0 || *value > kMaxSeconds) {
    return FlagError(
        flag, absl::StrFormat("'%s' is not a number of seconds in (0, %.0f]", text, kMaxSeconds));
  }
  return *value;
}

// Applies one flag's value to `options`.
absl::Status Apply(const FlagInfo& flag, std::string_view value, TcpRrOptions& options) {
  const std::string_view name = flag.name;
  if (name == "host") {
    if (value.empty()) return FlagError(name, "empty host");
    options.host = std::string(value);
  } else if (name == "bind") {
    if (value.empty()) return FlagError(name, "empty address");
    options.bind = std::string(value);
  } else if (name == "port") {
    // The client needs a real port; a server may ask for any free one.
    const uint64_t lo = options.mode == RrMode::kClient ? 1 : 0;
    absl::StatusOr<uint64_t> port = UnsignedIn(name, value, lo, 65535);
    if (!port.ok()) return port.status();
    options.port = static_cast<uint16_t>(*port);
  } else if (name == "size") {
    const std::optional<uint64_t> size = ParseBytes(value);
    if (!size || *size == 0 || *size > kMaxSize) {
      return FlagError(name, absl::StrFormat("'%s' is not a size in 1..%d bytes (K and M suffixes "
                                             "allowed)",
                                             value, kMaxSize));
    }
    options.size = *size;
  } else if (name == "iters") {
    absl::StatusOr<uint64_t> iters = UnsignedIn(name, value, 1, kMaxIters);
    if (!iters.ok()) return iters.status();
    options.iters = *iters;
  } else if (name == "warmup") {
    absl::StatusOr<uint64_t> warmup = UnsignedIn(name, value, 0, kMaxIters);
    if (!warmup.ok()) return warmup.status();
    options.warmup = *warmup;
  } else if (name == "duration") {
    absl::StatusOr<double> seconds = SecondsIn(name, value);
    if (!seconds.ok()) return seconds.status();
    options.duration_sec = *seconds;
  } else if (name == "timeout") {
    absl::StatusOr<double> seconds = SecondsIn(name, value);
    if (!seconds.ok()) return seconds.status();
    options.timeout_sec = *seconds;
  } else if (name == "busy-poll") {
    options.busy_poll = true;
  } else if (name == "forever") {
    options.forever = true;
  } else if (name == "cpu" || name == "cpu-server" || name == "cpu-client") {
    absl::StatusOr<uint64_t> cpu = UnsignedIn(name, value, 0, kMaxCpu);
    if (!cpu.ok()) return cpu.status();
    const bool server = name == "cpu-server" || (name == "cpu" && options.mode == RrMode::kServer);
    (server ? options.cpu_server : options.cpu_client) = static_cast<int>(*cpu);
  } else if (name == "no-pin") {
    options.pin = false;
  } else if (name == "json") {
    if (value.empty()) return FlagError(name, "empty file name");
    options.json_path = std::string(value);
  } else if (name == "help") {
    options.help = true;
  }
  return absl::OkStatus();
}

}  // namespace

const char* RrModeName(RrMode mode) {
  switch (mode) {
    case RrMode::kServer:
      return "server";
    case RrMode::kClient:
      return "client";
    case RrMode::kLoopback:
      return "loopback";
  }
  return "?";
}

absl::StatusOr<TcpRrOptions> ParseTcpRrOptions(std::span<const std::string_view> args) {
  TcpRrOptions options;
  if (args.empty()) {
    return absl::InvalidArgumentError("missing mode: server, client or loopback");
  }
  const std::string_view mode = args[0];
  if (mode == "--help" || mode == "-h" || mode == "help") {
    options.help = true;
    return options;
  }
  if (mode == "server") {
    options.mode = RrMode::kServer;
  } else if (mode == "client") {
    options.mode = RrMode::kClient;
  } else if (mode == "loopback") {
    options.mode = RrMode::kLoopback;
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown mode '%s': want server, client or loopback", mode));
  }

  bool port_given = false;
  bool iters_given = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg.size() < 3 || !arg.starts_with("--")) {
      return absl::InvalidArgumentError(absl::StrFormat("unexpected argument '%s'", arg));
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> value;
    if (const size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagInfo* flag = FindFlag(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag '--%s'", name));
    }
    if ((flag->modes & ModeBit(options.mode)) == 0) {
      return FlagError(name, absl::StrFormat("not a flag of %s mode", RrModeName(options.mode)));
    }
    if (flag->takes_value && !value) {
      if (i + 1 == args.size()) return FlagError(name, "needs a value");
      value = args[++i];
    } else if (!flag->takes_value && value) {
      return FlagError(name, "takes no value");
    }
    if (absl::Status status = Apply(*flag, value.value_or(""), options); !status.ok()) {
      return status;
    }
    port_given = port_given || name == "port";
    iters_given = iters_given || name == "iters";
  }
  if (options.help) return options;

  if (options.mode == RrMode::kClient) {
    if (options.host.empty()) return FlagError("host", "required in client mode");
    if (!port_given) return FlagError("port", "required in client mode");
  }
  if (options.mode == RrMode::kServer && !port_given) {
    return FlagError("port", "required in server mode (0: any free port, printed)");
  }
  if (options.mode == RrMode::kLoopback) options.bind = "127.0.0.1";
  // --duration alone runs for that long; with --iters, whichever ends first.
  if (options.duration_sec > 0 && !iters_given) options.iters = kMaxIters;
  if (!options.pin && (options.cpu_server || options.cpu_client)) {
    return FlagError("no-pin", "conflicts with a --cpu flag");
  }
  if (options.mode == RrMode::kLoopback && options.cpu_server && options.cpu_client &&
      *options.cpu_server == *options.cpu_client) {
    return FlagError("cpu-client", "same CPU as --cpu-server: the two threads would share it");
  }
  return options;
}

std::string TcpRrUsage() {
  return absl::StrFormat(
      R"(tern-tcp-rr: the Linux TCP request/response baseline for Tern (netperf TCP_RR
with perftest's latency report). One request of --size bytes, the same number
echoed back, one outstanding at a time; TCP_NODELAY; one thread per side.

usage:
  tern-tcp-rr server --port P [--bind ADDR] [--forever] [--cpu N] [common]
  tern-tcp-rr client --host H --port P [--size B] [--iters N] [--duration S]
                     [--warmup N] [--cpu N] [--json FILE] [common]
  tern-tcp-rr loopback [--size B] [--iters N] [--duration S] [--warmup N]
                     [--cpu-server N] [--cpu-client N] [--port P] [--json FILE] [common]
common: [--timeout S] [--busy-poll] [--no-pin]

  --port P           server: port to listen on, 0 for any free one (printed);
                     client: the server's port
  --bind ADDR        server: address to listen on (default 0.0.0.0)
  --host H           client: the server's name or address
  --forever          server: serve client after client (default: one, then exit)
  --size B           request and response bytes, 1..%d; K and M suffixes (default 8)
  --iters N          measured round trips, 1..%d (default 100000)
  --duration S       measure for S seconds (with --iters: whichever ends first)
  --warmup N         round trips before measuring, not reported (default 100)
  --cpu N            pin this side's thread to CPU N (default: server the first
                     allowed CPU, client the second)
  --cpu-server N, --cpu-client N   loopback: the two threads' CPUs
  --no-pin           do not pin
  --timeout S        limit on connect, accept and each send or receive (default 10)
  --busy-poll        spin on non-blocking send/recv instead of sleeping in the
                     kernel, and ask for SO_BUSY_POLL
  --json FILE        also write the result as JSON
  -h, --help         this text

Both --flag=value and --flag value work.

Latency is reported as perftest send_lat and tern-perf --test=send_lat report
it: round trip / 2, per iteration, in microseconds; t_typical is the median and
percentiles are nearest-rank. Transactions/s is round trips per second of the
measured phase.
Exit status: 0 success, 1 connection or I/O failure (a clear message; nothing
waits longer than --timeout), 2 usage error.
)",
      kMaxSize, kMaxIters);
}

}  // namespace tern::tcp_rr
