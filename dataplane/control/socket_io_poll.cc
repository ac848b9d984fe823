// The plain-socket backend, for kernels or containers that refuse io_uring:
// non-blocking sockets, each operation tried first and, while it would block,
// waited for with poll() until the deadline.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>

#include "dataplane/control/socket_io.h"

namespace tern::control {
namespace {

class PollSocketIo final : public SocketIo {
 public:
  Backend backend() const override { return Backend::kSockets; }

  int Adopt(int fd) override {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return 0;
  }

  int Accept(int listen_fd, Deadline deadline) override {
    for (;;) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return fd;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
      if (int r = WaitFor(listen_fd, POLLIN, deadline); r < 0) return r;
    }
  }

  int Connect(int fd, const sockaddr* address, socklen_t length, Deadline deadline) override {
    // EINTR does not stop a non-blocking connect; it goes on as for EINPROGRESS.
    if (connect(fd, address, length) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return -errno;
    if (int r = WaitFor(fd, POLLOUT, deadline); r < 0) return r;
    int error = 0;
    socklen_t error_length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length) < 0) return -errno;
    return -error;
  }

  ssize_t Send(int fd, std::span<const uint8_t> bytes, Deadline deadline) override {
    for (;;) {
      const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
      if (int r = WaitFor(fd, POLLOUT, deadline); r < 0) return r;
    }
  }

  ssize_t Receive(int fd, std::span<uint8_t> bytes, Deadline deadline) override {
    for (;;) {
      const ssize_t n = recv(fd, bytes.data(), bytes.size(), 0);
      if (n >= 0) return n;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
      if (int r = WaitFor(fd, POLLIN, deadline); r < 0) return r;
    }
  }

 private:
  // 0 once `fd` reports `events` (or an error or hang-up, which the retried
  // operation then returns), -ETIME at the deadline. EINTR restarts the wait
  // with the time that is left.
  static int WaitFor(int fd, short events, Deadline deadline) {
    for (;;) {
      const auto remaining = deadline - std::chrono::steady_clock::now();
      if (remaining <= std::chrono::steady_clock::duration::zero()) return -ETIME;
      // Rounded up: a wait of 0 ms would spin until the deadline.
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining).count();
      pollfd descriptor{.fd = fd, .events = events, .revents = 0};
      const int ready = poll(&descriptor, 1, static_cast<int>(std::min<int64_t>(ms, INT_MAX)));
      if (ready > 0) return 0;
      if (ready < 0 && errno != EINTR) return -errno;
    }
  }
};

}  // namespace

std::unique_ptr<SocketIo> MakePollSocketIo() { return std::make_unique<PollSocketIo>(); }

}  // namespace tern::control
