// Out-of-band connection set-up: before their queue pairs move to RTS, two Tern
// processes swap endpoints, QP numbers, PSNs and memory keys over one TCP
// connection, as perftest does. The server listens, the client connects, then
// both call the same sequence of Exchange / Barrier / Send+Receive.
//
// Every call blocks for at most ChannelOptions::timeout, counted afresh per
// call, and reports failure as an absl::Status that names the step and the
// peer; nothing aborts, throws or raises SIGPIPE. A failure mid-transfer (a
// timeout, a closed peer, a malformed message) may leave the byte stream out
// of step, so every later call on that channel reports it; a refused argument
// or a setup mismatch leaves the channel usable. One thread at a time may use
// a channel.
//
// The I/O runs on io_uring, or on poll() where io_uring is refused (containers
// often block io_uring_setup). The two backends behave the same; the shared
// loops (short transfers, EINTR, retries) live in control_channel.cc.
//
// Wire format: control_wire.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "transport/wire.h"

namespace tern::control {

inline constexpr uint32_t kProtocolVersion = 1;
// perftest's default control port, so firewall rules written for it apply.
inline constexpr uint16_t kDefaultPort = 18515;

// Bounds both sides enforce, so a peer can never make us allocate without limit.
inline constexpr size_t kMaxCongestionControlBytes = 255;
inline constexpr size_t kMaxWorkloadBytes = 4096;
inline constexpr size_t kMaxQps = 65536;
inline constexpr size_t kMaxBarrierNameBytes = 255;
inline constexpr size_t kMaxMessageBytes = size_t{64} << 20;

enum class Backend : uint8_t {
  kAuto,     // io_uring, falling back to kSockets when the kernel refuses it
  kIoUring,  // io_uring only; an error where it is unavailable
  kSockets,  // plain sockets driven by poll()
};
const char* BackendName(Backend backend);
// OK when `backend` can run on this machine; otherwise why not (e.g. EPERM from
// io_uring_queue_init inside a container).
absl::Status CheckBackend(Backend backend);

// One queue pair's half of the connection: what the peer needs to reach it.
struct QpSetup {
  uint32_t qp_num = 0;  // non-zero, unique within one HostSetup
  uint32_t psn = 0;     // first PSN this QP sends (the peer's rq_psn)
  uint64_t addr = 0;    // remote-accessible region, for the peer's RDMA ops
  uint64_t length = 0;  // addr + length must not wrap
  uint32_t rkey = 0;
  bool operator==(const QpSetup&) const = default;
};

// What one side tells the other. mtu, paths, congestion_control, workload and
// the number of QPs must be equal on both sides.
struct HostSetup {
  Endpoint endpoint;  // MAC, IPv4 or IPv6 address, Tern UDP port (non-zero)
  uint32_t mtu = 4096;
  uint16_t paths = 8;
  std::string congestion_control = "fixed";  // CreateCongestionControl spec, printable
  // Application-defined, e.g. "write_bw size=65536 iters=1000 qps=2": equal
  // strings mean both sides will run the same test. Printable, may be empty.
  std::string workload;
  std::vector<QpSetup> qps;  // at most kMaxQps
  bool operator==(const HostSetup&) const = default;
};

struct ChannelOptions {
  std::chrono::milliseconds timeout{10000};  // per call
  Backend backend = Backend::kAuto;
};

class SocketIo;                     // socket_io.h
enum class MessageType : uint16_t;  // control_wire.h
class ControlChannel;

// Owns a file descriptor and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();

 private:
  int fd_ = -1;
};

// The server side before a peer arrives. Listening first and accepting second
// lets the caller learn the port (port 0 picks a free one) before the client
// is told where to connect.
class ControlListener {
 public:
  // Listens on bind_address:port. bind_address is an IPv4 or IPv6 literal
  // (brackets allowed); "" is every address, IPv6 and IPv4 where the host has
  // IPv6, else IPv4 only.
  static absl::StatusOr<ControlListener> Listen(const std::string& bind_address, uint16_t port,
                                                const ChannelOptions& options);

  // Waits up to the timeout for one peer and returns its channel.
  absl::StatusOr<ControlChannel> Accept();

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }  // e.g. "0.0.0.0:18515"
  Backend backend() const;

  ControlListener(ControlListener&&) noexcept;
  ControlListener& operator=(ControlListener&&) noexcept;
  ~ControlListener();

 private:
  ControlListener(UniqueFd fd, std::unique_ptr<SocketIo> io, ChannelOptions options, uint16_t port,
                  std::string address);
  UniqueFd fd_;
  std::unique_ptr<SocketIo> io_;
  ChannelOptions options_;
  uint16_t port_ = 0;
  std::string address_;
};

class ControlChannel {
 public:
  // Client: connects to host:port (a literal, or a name resolved by the system
  // resolver, which keeps its own timeouts), retrying on ECONNREFUSED until the
  // timeout because the server may start a little later.
  static absl::StatusOr<ControlChannel> Connect(const std::string& host, uint16_t port,
                                                const ChannelOptions& options);

  // Sends ours, receives theirs and checks it: version, field sanity, and that
  // mtu, paths, congestion_control, workload and the QP count equal ours (the
  // error names the field and both values). The client speaks first, so that
  // setups larger than the socket buffers cannot deadlock; the server answers
  // even a setup it refuses, so both sides report the same mismatch.
  absl::StatusOr<HostSetup> Exchange(const HostSetup& local);

  // Both sides call it with the same name (1..kMaxBarrierNameBytes bytes);
  // returns once the peer has reached it too. Fails on a name mismatch, a
  // closed peer or the timeout.
  absl::Status Barrier(std::string_view name);

  // One length-prefixed opaque message (at most kMaxMessageBytes). Send returns
  // once the kernel holds the bytes. Alternate directions: two peers that both
  // Send more than the socket buffers hold before either Receives stall until
  // the timeout.
  absl::Status Send(std::span<const uint8_t> message);
  absl::StatusOr<std::vector<uint8_t>> Receive();

  Backend backend() const;                           // the backend actually in use
  const std::string& peer() const { return peer_; }  // e.g. "[::1]:40312"
  bool is_server() const { return is_server_; }

  ControlChannel(ControlChannel&&) noexcept;
  ControlChannel& operator=(ControlChannel&&) noexcept;
  ~ControlChannel();

 private:
  friend class ControlListener;
  using Deadline = std::chrono::steady_clock::time_point;

  ControlChannel(UniqueFd fd, std::unique_ptr<SocketIo> io, ChannelOptions options, bool is_server,
                 std::string peer);
  Deadline StartCall() const;
  // Fails when an earlier call left the stream out of step.
  absl::Status CheckUsable() const;
  // Records the first failure; every later call reports it.
  absl::Status Fail(absl::Status status);
  absl::Status SendMessage(MessageType type, std::span<const uint8_t> body, Deadline deadline,
                           std::string_view during);
  absl::StatusOr<std::vector<uint8_t>> ReceiveMessage(MessageType expected_type, Deadline deadline,
                                                      std::string_view during);
  // Reads exactly bytes.size() bytes; `what` describes them for errors.
  absl::Status ReadFull(std::span<uint8_t> bytes, Deadline deadline, std::string_view during,
                        std::string_view what, bool at_message_start);

  UniqueFd fd_;
  std::unique_ptr<SocketIo> io_;
  ChannelOptions options_;
  bool is_server_ = false;
  std::string peer_;
  absl::Status broken_;
};

}  // namespace tern::control
