// The control channel's two I/O backends behind one small interface. Each call
// performs one socket operation and waits for it until a deadline at most. The
// results read like system calls, so the loops around them (short transfers,
// EINTR, connect retries, error text) are written once, in control_channel.cc,
// and both backends behave the same.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "dataplane/control/control_channel.h"

namespace tern::control {

using Deadline = std::chrono::steady_clock::time_point;

class SocketIo {
 public:
  virtual ~SocketIo() = default;

  virtual Backend backend() const = 0;

  // Puts a socket this backend will drive into the mode it needs: blocking for
  // io_uring (the ring waits, not the caller), non-blocking for poll(). Returns
  // 0 or -errno.
  virtual int Adopt(int fd) = 0;

  // Each returns the system call's result (>= 0) or -errno; -ETIME when the
  // deadline passed first. -EINTR and -EAGAIN may come back; callers retry.
  // A new connected socket, close-on-exec, not yet adopted.
  virtual int Accept(int listen_fd, Deadline deadline) = 0;
  // 0 once connected. After any failure the socket is unusable.
  virtual int Connect(int fd, const sockaddr* address, socklen_t length, Deadline deadline) = 0;
  // Bytes sent, possibly fewer than given. Never raises SIGPIPE.
  virtual ssize_t Send(int fd, std::span<const uint8_t> bytes, Deadline deadline) = 0;
  // Bytes received, possibly fewer than asked; 0 when the peer closed.
  virtual ssize_t Receive(int fd, std::span<uint8_t> bytes, Deadline deadline) = 0;
};

// An io_uring ring sized for one operation and its linked timeout, or why the
// kernel refused it (io_uring_queue_init failed, or an opcode is missing).
absl::StatusOr<std::unique_ptr<SocketIo>> MakeIoUringSocketIo();
std::unique_ptr<SocketIo> MakePollSocketIo();
// kAuto: io_uring, else poll(). kIoUring: io_uring or the reason it is refused.
absl::StatusOr<std::unique_ptr<SocketIo>> MakeSocketIo(Backend backend);

}  // namespace tern::control
