// tern-tcp-rr: the Linux TCP baseline for Tern's latency and rate. The small
// request/response pattern of netperf TCP_RR (one request of --size bytes, the
// same number echoed, one outstanding at a time) over kernel TCP with
// TCP_NODELAY, one pinned thread per side, reported as perftest's send_lat
// reports (round trip / 2), so the rows line up with tern-perf --test=send_lat.
//
// The connection starts with a 16-byte hello (magic, size) that the server
// echoes; after it, the server echoes `size`-byte messages until the client
// closes. Every wait (connect, accept, each send and receive) is bounded by
// --timeout, so nothing hangs. Exit status: 0 success, 1 connection or I/O
// failure, 2 usage error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/file_io.h"
#include "tools/tcp_rr_options.h"
#include "tools/tcp_rr_report.h"

namespace tern::tcp_rr {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

using Clock = std::chrono::steady_clock;

// The hello both sides exchange before the first request: kMagic, then the
// message size as a big-endian u32, then 4 reserved zero bytes.
constexpr char kMagic[8] = {'T', 'E', 'R', 'N', 'T', 'C', 'P', '1'};
constexpr size_t kHelloBytes = 16;
// SO_BUSY_POLL microseconds asked for with --busy-poll (the kernel may refuse).
constexpr int kBusyPollUsec = 50;
// Longest single sleep in poll(), so a stop request is noticed promptly.
constexpr int kPollSliceMs = 200;

// Set by SIGINT and SIGTERM; checked between round trips and on EINTR.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "g_stop is written by a signal handler");

void OnStopSignal(int /*signo*/) { g_stop.store(true, std::memory_order_relaxed); }

// False on loopback's server thread: there the client alone decides when the
// run ends (by closing the connection), so the server never drops a request
// the client has already sent.
thread_local bool t_obeys_stop = true;

bool StopRequested() { return t_obeys_stop && g_stop.load(std::memory_order_relaxed); }

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// "10.77.0.1:5000" or "[::1]:5000".
std::string AddressText(const sockaddr* address, socklen_t length) {
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (getnameinfo(address, length, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (address->sa_family == AF_INET6) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string LocalAddress(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
  return AddressText(reinterpret_cast<sockaddr*>(&address), length);
}

uint16_t LocalPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

struct AddrInfoFree {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoFree>;

absl::StatusOr<AddrInfoList> Resolve(const std::string& host, uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  const std::string service = absl::StrCat(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    return absl::NotFoundError(
        absl::StrFormat("cannot resolve '%s': %s", host, std::string(gai_strerror(rc))));
  }
  return AddrInfoList(list);
}

// Waits until `fd` has one of `events`, up to `deadline` (none: forever), in
// slices so that a stop request ends the wait.
absl::Status WaitFor(int fd, int16_t events, std::optional<Clock::time_point> deadline,
                     std::string_view what) {
  for (;;) {
    if (StopRequested()) {
      return absl::CancelledError(absl::StrFormat("stopped while %s", what));
    }
    int slice = kPollSliceMs;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0)
        return absl::DeadlineExceededError(absl::StrFormat("timed out %s", what));
      slice = static_cast<int>(std::min<int64_t>(left.count(), kPollSliceMs));
    }
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int rc = poll(&p, 1, slice);
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
    }
  }
}

// How RecvAll treats the end of the connection and a stop request.
enum class RecvMode : uint8_t {
  kMessage,      // the whole message must arrive: end of connection is an error
  kNextRequest,  // the server between requests: the client may close, a stop may end it
};

// One connected TCP socket and the I/O the benchmark does on it. Every call
// gives up after `timeout` without progress.
class RrSocket {
 public:
  RrSocket(Fd fd, double timeout_sec, bool busy_poll)
      : fd_(std::move(fd)),
        timeout_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(timeout_sec))),
        timeout_sec_(timeout_sec),
        busy_poll_(busy_poll) {}

  int fd() const { return fd_.get(); }

  // TCP_NODELAY, the send/receive timeouts, and SO_BUSY_POLL with --busy-poll.
  absl::Status Configure() {
    const int one = 1;
    if (setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      return absl::InternalError(absl::StrCat("setsockopt(TCP_NODELAY): ", ErrnoText(errno)));
    }
    const auto usec = static_cast<int64_t>(timeout_sec_ * 1e6);
    timeval tv{.tv_sec = static_cast<time_t>(usec / 1'000'000),
               .tv_usec = static_cast<suseconds_t>(usec % 1'000'000)};
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
      return absl::InternalError(absl::StrCat("setsockopt(SO_RCVTIMEO): ", ErrnoText(errno)));
    }
    if (busy_poll_) {
      // Best effort: without CAP_NET_ADMIN the kernel may refuse, and on
      // loopback it changes nothing; the userspace spin below is what counts.
      const int busy = kBusyPollUsec;
      (void)setsockopt(fd(), SOL_SOCKET, SO_BUSY_POLL, &busy, sizeof(busy));
    }
    return absl::OkStatus();
  }

  absl::Status SendAll(const char* data, size_t length) {
    const int flags = MSG_NOSIGNAL | (busy_poll_ ? MSG_DONTWAIT : 0);
    Clock::time_point deadline = Clock::now() + timeout_;
    size_t done = 0;
    while (done < length) {
      const ssize_t n = send(fd(), data + done, length - done, flags);
      if (n > 0) {
        done += static_cast<size_t>(n);
        if (busy_poll_) deadline = Clock::now() + timeout_;
        continue;
      }
      if (absl::Status status = OnNoProgress(errno, deadline, /*stoppable=*/false, "sending");
          !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }

  // Receives exactly `length` bytes. kNextRequest: returns false when the peer
  // closed the connection before the first byte, and CancelledError when a
  // stop was requested before it.
  absl::StatusOr<bool> RecvAll(char* data, size_t length, RecvMode mode) {
    const int flags = busy_poll_ ? MSG_DONTWAIT : 0;
    Clock::time_point deadline = Clock::now() + timeout_;
    size_t done = 0;
    while (done < length) {
      const ssize_t n = recv(fd(), data + done, length - done, flags);
      if (n > 0) {
        done += static_cast<size_t>(n);
        if (busy_poll_) deadline = Clock::now() + timeout_;
        continue;
      }
      if (n == 0) {
        if (done == 0 && mode == RecvMode::kNextRequest) return false;
        return absl::UnavailableError(absl::StrFormat(
            "peer closed the connection after %d of %d bytes of a message", done, length));
      }
      const bool stoppable = done == 0 && mode == RecvMode::kNextRequest;
      if (absl::Status status = OnNoProgress(errno, deadline, stoppable, "receiving");
          !status.ok()) {
        return status;
      }
    }
    return true;
  }

 private:
  // After a send or recv that moved nothing: fine to retry (OkStatus), or why
  // not. A stop request ends only a `stoppable` wait: one between messages.
  // Inside a message the wait goes on (the timeout bounds it), so a stopped
  // client never leaves a reply unread, which would reset the connection.
  absl::Status OnNoProgress(int err, Clock::time_point deadline, bool stoppable,
                            std::string_view what) const {
    const bool stop = stoppable && StopRequested();
    if (err == EINTR) {
      if (stop) {
        return absl::CancelledError(absl::StrFormat("stopped while %s", what));
      }
      return absl::OkStatus();
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // Blocking: SO_RCVTIMEO/SO_SNDTIMEO expired. Busy-poll: nothing yet.
      if (!busy_poll_ || Clock::now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrFormat("timed out %s: no progress for %g s (--timeout)", what, timeout_sec_));
      }
      if (stop) return absl::CancelledError(absl::StrFormat("stopped while %s", what));
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrFormat("%s: %s", what, ErrnoText(err)));
  }

  Fd fd_;
  Clock::duration timeout_;
  double timeout_sec_;
  bool busy_poll_;
};

// --- set-up ----------------------------------------------------------------------

struct Listener {
  Fd fd;
  std::string address;  // as bound, port included
  uint16_t port = 0;
};

absl::StatusOr<Listener> Listen(const std::string& bind_address, uint16_t port, int backlog) {
  absl::StatusOr<AddrInfoList> list = Resolve(bind_address, port, /*passive=*/true);
  if (!list.ok()) return list.status();
  std::string last_error = "no address";
  for (const addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
    Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = absl::StrCat("socket: ", ErrnoText(errno));
      continue;
    }
    const int one = 1;
    (void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last_error =
          absl::StrCat("bind ", AddressText(ai->ai_addr, ai->ai_addrlen), ": ", ErrnoText(errno));
      continue;
    }
    if (listen(fd.get(), backlog) != 0) {
      last_error = absl::StrCat("listen: ", ErrnoText(errno));
      continue;
    }
    Listener listener;
    listener.address = LocalAddress(fd.get());
    listener.port = LocalPort(fd.get());
    listener.fd = std::move(fd);
    return listener;
  }
  return absl::UnavailableError(
      absl::StrFormat("cannot listen on %s port %d: %s", bind_address, port, last_error));
}

// Waits for one client, up to `timeout_sec` (none: forever).
absl::StatusOr<RrSocket> AcceptOne(const Listener& listener, std::optional<double> timeout_sec,
                                   const TcpRrOptions& options, std::string& peer) {
  std::optional<Clock::time_point> deadline;
  if (timeout_sec) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(*timeout_sec));
  }
  if (absl::Status status = WaitFor(listener.fd.get(), POLLIN, deadline,
                                    absl::StrFormat("waiting for a client on %s (--timeout %g s)",
                                                    listener.address, timeout_sec.value_or(0)));
      !status.ok()) {
    return status;
  }
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  Fd fd(accept4(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC));
  if (fd.get() < 0) return absl::UnavailableError(absl::StrCat("accept: ", ErrnoText(errno)));
  peer = AddressText(reinterpret_cast<sockaddr*>(&address), length);
  RrSocket socket(std::move(fd), options.timeout_sec, options.busy_poll);
  if (absl::Status status = socket.Configure(); !status.ok()) return status;
  return socket;
}

// Connects to host:port, trying each address the name has, each for at most
// --timeout.
absl::StatusOr<RrSocket> Connect(const std::string& host, uint16_t port,
                                 const TcpRrOptions& options, std::string& peer) {
  absl::StatusOr<AddrInfoList> list = Resolve(host, port, /*passive=*/false);
  if (!list.ok()) return list.status();
  std::vector<std::string> errors;  // "ADDRESS: why", one per address tried
  for (const addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
    const std::string address = AddressText(ai->ai_addr, ai->ai_addrlen);
    Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      errors.push_back(absl::StrCat(address, ": socket: ", ErrnoText(errno)));
      continue;
    }
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        errors.push_back(absl::StrCat(address, ": ", ErrnoText(errno)));
        continue;
      }
      const Clock::time_point deadline =
          Clock::now() + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options.timeout_sec));
      if (absl::Status status =
              WaitFor(fd.get(), POLLOUT, deadline,
                      absl::StrFormat("connecting (--timeout %g s)", options.timeout_sec));
          !status.ok()) {
        if (absl::IsCancelled(status)) return status;
        errors.push_back(absl::StrCat(address, ": ", std::string(status.message())));
        continue;
      }
      int err = 0;
      socklen_t length = sizeof(err);
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
      if (err != 0) {
        errors.push_back(absl::StrCat(address, ": ", ErrnoText(err)));
        continue;
      }
    }
    // Blocking from here on: the timeouts are SO_RCVTIMEO and SO_SNDTIMEO.
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
      return absl::InternalError(absl::StrCat("fcntl: ", ErrnoText(errno)));
    }
    peer = address;
    RrSocket socket(std::move(fd), options.timeout_sec, options.busy_poll);
    if (absl::Status status = socket.Configure(); !status.ok()) return status;
    return socket;
  }
  if (errors.size() == 1)
    return absl::UnavailableError(absl::StrCat("cannot connect to ", errors[0]));
  return absl::UnavailableError(
      absl::StrFormat("cannot connect to %s port %d: %s", host, port, absl::StrJoin(errors, "; ")));
}

std::array<char, kHelloBytes> Hello(uint64_t size) {
  std::array<char, kHelloBytes> hello{};
  std::memcpy(hello.data(), kMagic, sizeof(kMagic));
  const uint32_t be = htonl(static_cast<uint32_t>(size));
  std::memcpy(hello.data() + sizeof(kMagic), &be, sizeof(be));
  return hello;
}

// The client's side of the hello: sends it, expects it back unchanged.
absl::Status ClientHello(RrSocket& socket, uint64_t size) {
  const std::array<char, kHelloBytes> hello = Hello(size);
  if (absl::Status status = socket.SendAll(hello.data(), hello.size()); !status.ok()) {
    return status;
  }
  std::array<char, kHelloBytes> reply{};
  absl::StatusOr<bool> got = socket.RecvAll(reply.data(), reply.size(), RecvMode::kMessage);
  if (!got.ok()) {
    return absl::Status(got.status().code(),
                        absl::StrFormat("no answer to the hello (is the server tern-tcp-rr?): %s",
                                        std::string(got.status().message())));
  }
  if (reply != hello) {
    return absl::FailedPreconditionError(
        "a wrong answer to the hello: the server is not tern-tcp-rr");
  }
  return absl::OkStatus();
}

// The server's side: reads and checks the hello, echoes it; returns the size.
absl::StatusOr<uint64_t> ServerHello(RrSocket& socket) {
  std::array<char, kHelloBytes> hello{};
  absl::StatusOr<bool> got = socket.RecvAll(hello.data(), hello.size(), RecvMode::kMessage);
  if (!got.ok()) return got.status();
  uint32_t be = 0;
  std::memcpy(&be, hello.data() + sizeof(kMagic), sizeof(be));
  const uint64_t size = ntohl(be);
  if (std::memcmp(hello.data(), kMagic, sizeof(kMagic)) != 0 || size == 0 || size > kMaxSize ||
      hello != Hello(size)) {
    return absl::FailedPreconditionError("bad hello: the client is not tern-tcp-rr");
  }
  if (absl::Status status = socket.SendAll(hello.data(), hello.size()); !status.ok()) {
    return status;
  }
  return size;
}

// Pins the calling thread to `cpu`.
absl::Status PinThisThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0) {
    return absl::InternalError(absl::StrFormat("cannot pin to CPU %d: %s", cpu, ErrnoText(rc)));
  }
  return absl::OkStatus();
}

// The CPUs this process may run on, in order.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// Resolves the CPU defaults against the allowed set: the server takes the
// first allowed CPU, the client the second (the first when there is one).
// An explicit CPU the process may not use is a usage error.
absl::Status ResolveCpus(TcpRrOptions& options) {
  if (!options.pin) return absl::OkStatus();
  const std::vector<int> allowed = AllowedCpus();
  if (allowed.empty()) return absl::InternalError("sched_getaffinity failed");
  auto check = [&](std::optional<int>& cpu, std::string_view flag, size_t default_index) {
    if (!cpu) {
      cpu = allowed[std::min(default_index, allowed.size() - 1)];
      return absl::OkStatus();
    }
    if (std::find(allowed.begin(), allowed.end(), *cpu) == allowed.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--%s: CPU %d is not one this process may run on (allowed: %s)", flag,
                          *cpu, absl::StrJoin(allowed, ",")));
    }
    return absl::OkStatus();
  };
  const bool loopback = options.mode == RrMode::kLoopback;
  if (absl::Status s = check(options.cpu_server, loopback ? "cpu-server" : "cpu", 0); !s.ok()) {
    return s;
  }
  return check(options.cpu_client, loopback ? "cpu-client" : "cpu", 1);
}

int CpuOrNone(const std::optional<int>& cpu, bool pin) { return pin && cpu ? *cpu : -1; }

// --- the two sides ---------------------------------------------------------------

// Echoes messages until the client closes. Returns the round trips served.
absl::StatusOr<uint64_t> Serve(RrSocket& socket) {
  absl::StatusOr<uint64_t> size = ServerHello(socket);
  if (!size.ok()) return size.status();
  std::vector<char> buffer(*size);
  uint64_t served = 0;
  for (;;) {
    if (StopRequested()) {
      return absl::CancelledError(absl::StrFormat("stopped after %d round trips", served));
    }
    absl::StatusOr<bool> got = socket.RecvAll(buffer.data(), buffer.size(), RecvMode::kNextRequest);
    if (!got.ok()) return got.status();
    if (!*got) return served;
    if (absl::Status status = socket.SendAll(buffer.data(), buffer.size()); !status.ok()) {
      return status;
    }
    ++served;
  }
}

// The client's run: hello, warm-up, then measured round trips until --iters,
// --duration or a stop signal, which ends the run between round trips (and is
// CancelledError only before the first measured one).
absl::StatusOr<RrResult> Measure(RrSocket& socket, const TcpRrOptions& options) {
  if (absl::Status status = ClientHello(socket, options.size); !status.ok()) return status;
  std::vector<char> request(options.size);
  std::vector<char> reply(options.size);
  const size_t tag_bytes = std::min<size_t>(sizeof(uint64_t), options.size);
  // One round trip with a per-iteration tag in its first bytes, checked in the echo.
  auto round_trip = [&](uint64_t tag) -> absl::StatusOr<int64_t> {
    std::memcpy(request.data(), &tag, tag_bytes);
    const Clock::time_point start = Clock::now();
    if (absl::Status status = socket.SendAll(request.data(), request.size()); !status.ok()) {
      return status;
    }
    absl::StatusOr<bool> got = socket.RecvAll(reply.data(), reply.size(), RecvMode::kMessage);
    const Clock::time_point end = Clock::now();
    if (!got.ok()) return got.status();
    if (std::memcmp(request.data(), reply.data(), tag_bytes) != 0) {
      return absl::DataLossError(absl::StrFormat("the echo of round trip %d differs", tag));
    }
    return std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
  };

  uint64_t tag = 0;
  for (uint64_t i = 0; i < options.warmup; ++i) {
    if (StopRequested()) {
      return absl::CancelledError("stopped during the warm-up");
    }
    absl::StatusOr<int64_t> rtt = round_trip(++tag);
    if (!rtt.ok()) return rtt.status();
  }
  RrResult result;
  result.bytes = options.size;
  result.warmup = options.warmup;
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(
      std::min<uint64_t>(options.iters, options.duration_sec > 0 ? 1'000'000 : options.iters)));
  const Clock::time_point start = Clock::now();
  const auto duration = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.duration_sec));
  Clock::time_point now = start;
  while (samples.size() < options.iters) {
    if (options.duration_sec > 0 && now - start >= duration) break;
    if (StopRequested()) {
      result.stopped_early = true;
      break;
    }
    absl::StatusOr<int64_t> rtt = round_trip(++tag);
    if (!rtt.ok()) return rtt.status();
    samples.push_back(static_cast<double>(*rtt) / 2000.0);  // ns -> round trip / 2 in usec
    now = Clock::now();
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  if (samples.empty()) return absl::CancelledError("stopped before the first measured round trip");
  Summarize(std::move(samples), wall, result);
  return result;
}

// Prints the table, writes the JSON. Returns the exit status.
int Report(const TcpRrOptions& options, const RrResult& result) {
  std::fputs(FormatRrTable(result).c_str(), stdout);
  std::fflush(stdout);
  if (!options.json_path.empty()) {
    if (const absl::Status written =
            WriteWholeFile(options.json_path, FormatRrJson(options, result));
        !written.ok()) {
      std::fprintf(stderr, "tern-tcp-rr: %s\n", std::string(written.message()).c_str());
      return kExitFailed;
    }
  }
  return kExitOk;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tern-tcp-rr: %s\n", std::string(status.message()).c_str());
  return kExitFailed;
}

int RunServer(const TcpRrOptions& options) {
  if (options.pin) {
    if (absl::Status status = PinThisThread(*options.cpu_server); !status.ok()) return Fail(status);
  }
  absl::StatusOr<Listener> listener = Listen(options.bind, options.port, /*backlog=*/16);
  if (!listener.ok()) return Fail(listener.status());
  std::printf("tern-tcp-rr: listening on %s (CPU %s)\n", listener->address.c_str(),
              options.pin ? absl::StrCat(*options.cpu_server).c_str() : "not pinned");
  std::fflush(stdout);
  do {
    std::string peer;
    absl::StatusOr<RrSocket> socket = AcceptOne(
        *listener, options.forever ? std::nullopt : std::optional<double>(options.timeout_sec),
        options, peer);
    if (!socket.ok()) {
      if (absl::IsCancelled(socket.status())) return kExitOk;
      return Fail(socket.status());
    }
    absl::StatusOr<uint64_t> served = Serve(*socket);
    if (absl::IsCancelled(served.status())) {
      std::printf("tern-tcp-rr: client %s: %s\n", peer.c_str(),
                  std::string(served.status().message()).c_str());
      return kExitOk;
    }
    if (!served.ok()) {
      if (!options.forever) return Fail(served.status());
      std::fprintf(stderr, "tern-tcp-rr: client %s: %s\n", peer.c_str(),
                   std::string(served.status().message()).c_str());
      continue;
    }
    std::printf("tern-tcp-rr: served %s: %llu round trips\n", peer.c_str(),
                static_cast<unsigned long long>(*served));
    std::fflush(stdout);
  } while (options.forever && !StopRequested());
  return kExitOk;
}

int RunClient(const TcpRrOptions& options) {
  if (options.pin) {
    if (absl::Status status = PinThisThread(*options.cpu_client); !status.ok()) return Fail(status);
  }
  RrResult banner;
  absl::StatusOr<RrSocket> socket = Connect(options.host, options.port, options, banner.peer);
  if (!socket.ok()) return Fail(socket.status());
  banner.bytes = options.size;
  banner.warmup = options.warmup;
  banner.cpu_client = CpuOrNone(options.cpu_client, options.pin);
  std::fputs(FormatRrBanner(options, banner).c_str(), stdout);
  std::fflush(stdout);
  absl::StatusOr<RrResult> result = Measure(*socket, options);
  if (!result.ok()) return Fail(result.status());
  result->peer = banner.peer;
  result->cpu_client = banner.cpu_client;
  return Report(options, *result);
}

// Both sides in this process: a server thread and this (client) thread, each
// pinned, over 127.0.0.1.
int RunLoopback(const TcpRrOptions& options) {
  absl::StatusOr<Listener> listener = Listen(options.bind, options.port, /*backlog=*/1);
  if (!listener.ok()) return Fail(listener.status());

  absl::Status server_status;
  auto server = [&] {
    t_obeys_stop = false;
    if (options.pin) {
      server_status = PinThisThread(*options.cpu_server);
      if (!server_status.ok()) return;
    }
    std::string peer;
    absl::StatusOr<RrSocket> socket = AcceptOne(*listener, options.timeout_sec, options, peer);
    if (!socket.ok()) {
      server_status = socket.status();
      return;
    }
    server_status = Serve(*socket).status();
  };
  // Signals go to the client thread, whose blocking calls they interrupt.
  sigset_t stop_signals;
  sigset_t previous;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
  std::thread server_thread(server);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  absl::StatusOr<RrResult> result;
  RrResult banner;
  {
    absl::Status pinned = options.pin ? PinThisThread(*options.cpu_client) : absl::OkStatus();
    absl::StatusOr<RrSocket> socket =
        pinned.ok() ? Connect(options.bind, listener->port, options, banner.peer)
                    : absl::StatusOr<RrSocket>(pinned);
    if (socket.ok()) {
      banner.bytes = options.size;
      banner.warmup = options.warmup;
      banner.cpu_server = CpuOrNone(options.cpu_server, options.pin);
      banner.cpu_client = CpuOrNone(options.cpu_client, options.pin);
      std::fputs(FormatRrBanner(options, banner).c_str(), stdout);
      std::fflush(stdout);
      result = Measure(*socket, options);
    } else {
      result = socket.status();
    }
    // Closing the connection ends Serve(); shutting the listener wakes an
    // accept that never got its client.
  }
  shutdown(listener->fd.get(), SHUT_RDWR);
  server_thread.join();
  if (!result.ok()) return Fail(result.status());
  if (!server_status.ok()) return Fail(server_status);
  result->peer = banner.peer;
  result->cpu_server = banner.cpu_server;
  result->cpu_client = banner.cpu_client;
  return Report(options, *result);
}

int Main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  absl::StatusOr<TcpRrOptions> parsed = ParseTcpRrOptions(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tern-tcp-rr: %s (see --help)\n",
                 std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  TcpRrOptions& options = *parsed;
  if (options.help) {
    std::fputs(TcpRrUsage().c_str(), stdout);
    return kExitOk;
  }
  if (absl::Status status = ResolveCpus(options); !status.ok()) {
    std::fprintf(stderr, "tern-tcp-rr: %s\n", std::string(status.message()).c_str());
    return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailed;
  }
  // No SA_RESTART: a signal interrupts a blocking send or recv (EINTR), which
  // then sees the stop request.
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  switch (options.mode) {
    case RrMode::kServer:
      return RunServer(options);
    case RrMode::kClient:
      return RunClient(options);
    case RrMode::kLoopback:
      return RunLoopback(options);
  }
  return kExitFailed;
}

}  // namespace
}  // namespace tern::tcp_rr

int main(int argc, char** argv) { return tern::tcp_rr::Main(argc, argv); }
