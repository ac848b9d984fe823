#include "dataplane/control/control_channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/control/control_wire.h"
#include "dataplane/control/socket_io.h"

namespace tern::control {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// First pause between connect attempts the server refused, doubled up to the cap.
constexpr milliseconds kFirstRetryPause{5};
constexpr milliseconds kMaxRetryPause{100};

std::string ErrnoText(int error) {
  const char* text = strerrordesc_np(error);
  return text != nullptr ? text : absl::StrCat("errno ", error);
}

absl::Status ErrnoStatus(int error, std::string_view context) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrFormat("control: %s: %s", context, ErrnoText(error)));
}

// A socket address of either family, and its printed form.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }

  // "10.0.0.9:18515" or "[fd00::1]:18515"; IPv4-mapped IPv6 prints as IPv4.
  std::string ToString() const {
    char text[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
      inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
      return absl::StrCat(text, ":", ntohs(v4->sin_port));
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof(text));
      return absl::StrCat(text, ":", ntohs(v6->sin6_port));
    }
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return absl::StrCat("[", text, "]:", ntohs(v6->sin6_port));
  }
  uint16_t port() const {
    return ntohs(family() == AF_INET ? reinterpret_cast<const sockaddr_in*>(&storage)->sin_port
                                     : reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
};

SocketAddress AnyAddress(int family, uint16_t port) {
  SocketAddress address;
  if (family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons(port);
    address.length = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    v4->sin_port = htons(port);
    address.length = sizeof(sockaddr_in);
  }
  return address;
}

// "[::1]" -> "::1": the bracketed form is how IPv6 hosts are usually written.
std::string StripBrackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

std::string HostPort(const std::string& host, uint16_t port) {
  const std::string bare = StripBrackets(host);
  return bare.find(':') != std::string::npos ? absl::StrCat("[", bare, "]:", port)
                                             : absl::StrCat(bare, ":", port);
}

// A literal when `numeric_only`; otherwise also a name, through the system
// resolver (whose timeouts are its own: resolv.conf's, not ours).
absl::StatusOr<std::vector<SocketAddress>> Resolve(const std::string& host, uint16_t port,
                                                   bool numeric_only) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
  const std::string bare = StripBrackets(host);
  const std::string service = absl::StrCat(port);
  addrinfo* found = nullptr;
  const int r = getaddrinfo(bare.c_str(), service.c_str(), &hints, &found);
  if (r != 0) {
    const std::string reason = r == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(r);
    const absl::StatusCode code =
        r == EAI_AGAIN ? absl::StatusCode::kUnavailable : absl::StatusCode::kInvalidArgument;
    return absl::Status(
        code, numeric_only ? absl::StrFormat("control: \"%s\" is not an IPv4 or IPv6 address: %s",
                                             host, reason)
                           : absl::StrFormat("control: cannot resolve \"%s\": %s", host, reason));
  }
  std::vector<SocketAddress> addresses;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress address;
    std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
    address.length = a->ai_addrlen;
    addresses.push_back(address);
  }
  freeaddrinfo(found);
  if (addresses.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("control: \"%s\" has no address", host));
  }
  return addresses;
}

SocketAddress LocalAddress(int fd) {
  SocketAddress address;
  address.length = sizeof(address.storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage), &address.length) < 0) {
    address.length = 0;
  }
  return address;
}

std::string PeerName(int fd) {
  SocketAddress address;
  address.length = sizeof(address.storage);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address.storage), &address.length) < 0) {
    return "?";
  }
  return address.ToString();
}

// Set-up traffic is a few small messages each way: send each at once rather
// than wait for Nagle to coalesce.
void DisableNagle(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Abseil's own string_view here is not std::string_view.
std::string Quoted(std::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(text.data(), text.size())), "\"");
}

}  // namespace

// ---------------------------------------------------------------------------
// Backends.

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kAuto:
      return "auto";
    case Backend::kIoUring:
      return "io_uring";
    case Backend::kSockets:
      return "sockets";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<SocketIo>> MakeSocketIo(Backend backend) {
  switch (backend) {
    case Backend::kIoUring:
      return MakeIoUringSocketIo();
    case Backend::kSockets:
      return MakePollSocketIo();
    case Backend::kAuto:
      break;
  }
  absl::StatusOr<std::unique_ptr<SocketIo>> io_uring = MakeIoUringSocketIo();
  if (io_uring.ok()) return io_uring;
  return MakePollSocketIo();
}

absl::Status CheckBackend(Backend backend) { return MakeSocketIo(backend).status(); }

// ---------------------------------------------------------------------------
// UniqueFd.

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

int UniqueFd::Release() { return std::exchange(fd_, -1); }

// ---------------------------------------------------------------------------
// ControlListener.

ControlListener::ControlListener(UniqueFd fd, std::unique_ptr<SocketIo> io, ChannelOptions options,
                                 uint16_t port, std::string address)
    : fd_(std::move(fd)),
      io_(std::move(io)),
      options_(options),
      port_(port),
      address_(std::move(address)) {}
ControlListener::ControlListener(ControlListener&&) noexcept = default;
ControlListener& ControlListener::operator=(ControlListener&&) noexcept = default;
ControlListener::~ControlListener() = default;

Backend ControlListener::backend() const {
  return io_ != nullptr ? io_->backend() : Backend::kAuto;
}

absl::StatusOr<ControlListener> ControlListener::Listen(const std::string& bind_address,
                                                        uint16_t port,
                                                        const ChannelOptions& options) {
  absl::StatusOr<std::unique_ptr<SocketIo>> io = MakeSocketIo(options.backend);
  if (!io.ok()) return io.status();

  SocketAddress address;
  const bool any = bind_address.empty();
  if (any) {
    address = AnyAddress(AF_INET6, port);
  } else {
    absl::StatusOr<std::vector<SocketAddress>> resolved =
        Resolve(bind_address, port, /*numeric_only=*/true);
    if (!resolved.ok()) return resolved.status();
    address = resolved->front();
  }
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() && any && errno == EAFNOSUPPORT) {
    // A host without IPv6: every IPv4 address is "any" then.
    address = AnyAddress(AF_INET, port);
    fd = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  const std::string where = address.ToString();
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create a socket for ", where));

  // A restarted server must not wait out the previous run's TIME_WAIT.
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (any && address.family() == AF_INET6) {
    const int zero = 0;  // dual stack: IPv4 clients arrive as IPv4-mapped addresses
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (bind(fd.get(), address.get(), address.length) < 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot listen on ", where));
  }
  // One peer is expected; a short queue still holds a client that is early.
  if (listen(fd.get(), 4) < 0) return ErrnoStatus(errno, absl::StrCat("cannot listen on ", where));
  if (int r = (*io)->Adopt(fd.get()); r < 0) {
    return ErrnoStatus(-r, absl::StrCat("cannot set up the socket for ", where));
  }
  const SocketAddress bound = LocalAddress(fd.get());
  return ControlListener(std::move(fd), *std::move(io), options, bound.port(), bound.ToString());
}

absl::StatusOr<ControlChannel> ControlListener::Accept() {
  if (!fd_.valid()) return absl::FailedPreconditionError("control: listener was moved from");
  const Deadline deadline = Clock::now() + options_.timeout;
  int accepted;
  for (;;) {
    accepted = io_->Accept(fd_.get(), deadline);
    if (accepted >= 0) break;
    // ECONNABORTED: a client gave up while queued; keep waiting for another.
    if (accepted == -EINTR || accepted == -EAGAIN || accepted == -ECONNABORTED) continue;
    if (accepted == -ETIME) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "control: no peer connected to %s within %d ms", address_, options_.timeout.count()));
    }
    return ErrnoStatus(-accepted, absl::StrCat("accept on ", address_, " failed"));
  }
  UniqueFd fd(accepted);
  // The channel gets a backend of its own, of the kind the listener runs.
  absl::StatusOr<std::unique_ptr<SocketIo>> io = MakeSocketIo(io_->backend());
  if (!io.ok()) return io.status();
  if (int r = (*io)->Adopt(fd.get()); r < 0) {
    return ErrnoStatus(-r, "cannot set up the accepted socket");
  }
  DisableNagle(fd.get());
  std::string peer = PeerName(fd.get());
  return ControlChannel(std::move(fd), *std::move(io), options_, /*is_server=*/true,
                        std::move(peer));
}

// ---------------------------------------------------------------------------
// ControlChannel: connection set-up.

ControlChannel::ControlChannel(UniqueFd fd, std::unique_ptr<SocketIo> io, ChannelOptions options,
                               bool is_server, std::string peer)
    : fd_(std::move(fd)),
      io_(std::move(io)),
      options_(options),
      is_server_(is_server),
      peer_(std::move(peer)) {}
ControlChannel::ControlChannel(ControlChannel&&) noexcept = default;
ControlChannel& ControlChannel::operator=(ControlChannel&&) noexcept = default;
ControlChannel::~ControlChannel() = default;

Backend ControlChannel::backend() const { return io_ != nullptr ? io_->backend() : Backend::kAuto; }

absl::StatusOr<ControlChannel> ControlChannel::Connect(const std::string& host, uint16_t port,
                                                       const ChannelOptions& options) {
  const Deadline deadline = Clock::now() + options.timeout;
  const std::string target = HostPort(host, port);
  absl::StatusOr<std::vector<SocketAddress>> addresses =
      Resolve(host, port, /*numeric_only=*/false);
  if (!addresses.ok()) return addresses.status();
  absl::StatusOr<std::unique_ptr<SocketIo>> io = MakeSocketIo(options.backend);
  if (!io.ok()) return io.status();

  auto refused_error = [&] {
    return absl::UnavailableError(
        absl::StrFormat("control: cannot connect to %s: %s (retried for %d ms)", target,
                        ErrnoText(ECONNREFUSED), options.timeout.count()));
  };
  milliseconds pause = kFirstRetryPause;
  for (;;) {
    bool refused = false;
    int last_error = 0;
    for (const SocketAddress& address : *addresses) {
      UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd.valid()) {
        last_error = errno;
        continue;
      }
      if (int r = (*io)->Adopt(fd.get()); r < 0) {
        last_error = -r;
        continue;
      }
      const int r = (*io)->Connect(fd.get(), address.get(), address.length, deadline);
      if (r == 0) {
        DisableNagle(fd.get());
        return ControlChannel(std::move(fd), *std::move(io), options, /*is_server=*/false,
                              address.ToString());
      }
      if (r == -ETIME) {
        return absl::DeadlineExceededError(
            absl::StrFormat("control: cannot connect to %s: no answer within %d ms", target,
                            options.timeout.count()));
      }
      // An interrupted connect is retried on a fresh socket, like a refused one.
      if (r == -ECONNREFUSED || r == -EINTR) {
        refused = true;
      } else {
        last_error = -r;
      }
    }
    if (!refused) return ErrnoStatus(last_error, absl::StrCat("cannot connect to ", target));
    // Nobody listens yet: the server may start a little after the client.
    const auto remaining = deadline - Clock::now();
    if (remaining <= Clock::duration::zero()) return refused_error();
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, remaining));
    pause = std::min(pause * 2, kMaxRetryPause);
    if (Clock::now() >= deadline) return refused_error();
  }
}

// ---------------------------------------------------------------------------
// ControlChannel: messages.

ControlChannel::Deadline ControlChannel::StartCall() const {
  return Clock::now() + options_.timeout;
}

absl::Status ControlChannel::CheckUsable() const {
  if (!fd_.valid()) return absl::FailedPreconditionError("control: channel was moved from");
  if (!broken_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("control: channel unusable after an earlier error (", broken_.message(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ControlChannel::Fail(absl::Status status) {
  if (broken_.ok()) broken_ = status;
  return status;
}

absl::Status ControlChannel::SendMessage(MessageType type, std::span<const uint8_t> body,
                                         Deadline deadline, std::string_view during) {
  // Header and body in one buffer: one send for small messages, and no
  // half-written header if the body cannot follow.
  std::vector<uint8_t> bytes(kMessageHeaderBytes);
  EncodeMessageHeader(type, static_cast<uint32_t>(body.size()),
                      std::span<uint8_t, kMessageHeaderBytes>(bytes.data(), kMessageHeaderBytes));
  bytes.insert(bytes.end(), body.begin(), body.end());
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = io_->Send(fd_.get(), std::span(bytes).subspan(sent), deadline);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n == -EINTR || n == -EAGAIN) continue;
    const std::string progress = absl::StrFormat("sent %u of %u bytes of the %s message", sent,
                                                 bytes.size(), MessageTypeName(type));
    if (n == -ETIME) {
      return absl::DeadlineExceededError(
          absl::StrFormat("control: timed out after %d ms during %s: %s; is the peer %s reading?",
                          options_.timeout.count(), during, progress, peer_));
    }
    if (n == -EPIPE || n == -ECONNRESET) {
      return absl::UnavailableError(
          absl::StrFormat("control: peer closed the connection during %s (%s)", during, progress));
    }
    return ErrnoStatus(static_cast<int>(-n), absl::StrFormat("send to %s failed during %s (%s)",
                                                             peer_, during, progress));
  }
  return absl::OkStatus();
}

absl::Status ControlChannel::ReadFull(std::span<uint8_t> bytes, Deadline deadline,
                                      std::string_view during, std::string_view what,
                                      bool at_message_start) {
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = io_->Receive(fd_.get(), bytes.subspan(got), deadline);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == -EINTR || n == -EAGAIN) continue;
    // Mid-message, say how far the peer got; between messages there is nothing to add.
    const bool nothing = at_message_start && got == 0;
    const std::string progress = absl::StrFormat("%u of %u bytes of %s", got, bytes.size(), what);
    if (n == 0 || n == -ECONNRESET) {
      return absl::UnavailableError(
          absl::StrFormat("control: peer closed the connection during %s%s", during,
                          nothing ? "" : absl::StrCat(" after ", progress)));
    }
    if (n == -ETIME) {
      return absl::DeadlineExceededError(
          absl::StrFormat("control: timed out after %d ms during %s: peer %s sent %s",
                          options_.timeout.count(), during, peer_, nothing ? "nothing" : progress));
    }
    return ErrnoStatus(static_cast<int>(-n),
                       absl::StrFormat("receive from %s failed during %s", peer_, during));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ControlChannel::ReceiveMessage(MessageType expected_type,
                                                                    Deadline deadline,
                                                                    std::string_view during) {
  std::array<uint8_t, kMessageHeaderBytes> header_bytes;
  if (absl::Status s = ReadFull(header_bytes, deadline, during, "the message header",
                                /*at_message_start=*/true);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<MessageHeader> header = DecodeMessageHeader(header_bytes);
  if (!header.ok()) return header.status();
  if (header->type != expected_type) {
    return absl::DataLossError(absl::StrFormat("control: expected %s during %s, peer sent %s",
                                               MessageTypeName(expected_type), during,
                                               MessageTypeName(header->type)));
  }
  std::vector<uint8_t> body(header->length);
  const std::string what = absl::StrCat("the ", MessageTypeName(header->type), " message");
  if (absl::Status s = ReadFull(body, deadline, during, what, /*at_message_start=*/false); !s.ok())
    return s;
  return body;
}

// ---------------------------------------------------------------------------
// ControlChannel: the calls.

absl::StatusOr<HostSetup> ControlChannel::Exchange(const HostSetup& local) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  // Refused before anything is sent, so the channel stays usable.
  absl::StatusOr<std::vector<uint8_t>> ours = EncodeHostSetup(local);
  if (!ours.ok()) return ours.status();
  const Deadline deadline = StartCall();
  constexpr std::string_view kDuring = "Exchange";

  absl::StatusOr<std::vector<uint8_t>> theirs;
  if (is_server_) {
    theirs = ReceiveMessage(MessageType::kHostSetup, deadline, kDuring);
    // Answer even a setup we cannot use: a peer of another version or with
    // other settings then reports the same fault from its side.
    absl::Status sent = SendMessage(MessageType::kHostSetup, *ours, deadline, kDuring);
    if (!theirs.ok()) return Fail(theirs.status());
    if (!sent.ok()) return Fail(sent);
  } else {
    if (absl::Status s = SendMessage(MessageType::kHostSetup, *ours, deadline, kDuring); !s.ok()) {
      return Fail(s);
    }
    theirs = ReceiveMessage(MessageType::kHostSetup, deadline, kDuring);
    if (!theirs.ok()) return Fail(theirs.status());
  }
  absl::StatusOr<HostSetup> peer = DecodeHostSetup(*theirs);
  if (!peer.ok()) return Fail(peer.status());
  // The stream is still in step after a mismatch; the caller decides what next.
  if (absl::Status s = CheckSetupsMatch(local, *peer); !s.ok()) return s;
  return peer;
}

absl::Status ControlChannel::Barrier(std::string_view name) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (name.empty() || name.size() > kMaxBarrierNameBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "control: barrier name must be 1..%u bytes, got %u", kMaxBarrierNameBytes, name.size()));
  }
  const Deadline deadline = StartCall();
  const std::string during = absl::StrCat("Barrier ", Quoted(name));
  // A name fits any socket buffer, so both sides may send before receiving.
  const auto name_bytes = std::span(reinterpret_cast<const uint8_t*>(name.data()), name.size());
  if (absl::Status s = SendMessage(MessageType::kBarrier, name_bytes, deadline, during); !s.ok()) {
    return Fail(s);
  }
  absl::StatusOr<std::vector<uint8_t>> theirs =
      ReceiveMessage(MessageType::kBarrier, deadline, during);
  if (!theirs.ok()) return Fail(theirs.status());
  const std::string_view peer_name(reinterpret_cast<const char*>(theirs->data()), theirs->size());
  if (peer_name != name) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "control: barrier name mismatch: ours %s, peer's %s", Quoted(name), Quoted(peer_name)));
  }
  return absl::OkStatus();
}

absl::Status ControlChannel::Send(std::span<const uint8_t> message) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (message.size() > kMaxMessageBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "control: message of %u bytes exceeds the limit of %u", message.size(), kMaxMessageBytes));
  }
  if (absl::Status s = SendMessage(MessageType::kOpaque, message, StartCall(), "Send"); !s.ok()) {
    return Fail(s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ControlChannel::Receive() {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> message =
      ReceiveMessage(MessageType::kOpaque, StartCall(), "Receive");
  if (!message.ok()) return Fail(message.status());
  return message;
}

}  // namespace tern::control
