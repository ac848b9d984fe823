// The io_uring backend: every operation is submitted linked to an
// IORING_OP_LINK_TIMEOUT at the caller's deadline, so the kernel cancels it
// when the deadline passes and no wait can outlive the timeout.
#include <fcntl.h>
#include <liburing.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dataplane/control/socket_io.h"

namespace tern::control {
namespace {

// One operation and its timeout are in flight at a time.
constexpr unsigned kRingEntries = 4;
constexpr uint64_t kOperationTag = 1;
constexpr uint64_t kTimeoutTag = 2;

class IoUringSocketIo final : public SocketIo {
 public:
  IoUringSocketIo() = default;
  IoUringSocketIo(const IoUringSocketIo&) = delete;
  IoUringSocketIo& operator=(const IoUringSocketIo&) = delete;
  ~IoUringSocketIo() override {
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  absl::Status Init() {
    if (int r = io_uring_queue_init(kRingEntries, &ring_, 0); r < 0) {
      return absl::UnavailableError(
          absl::StrCat("control: io_uring unavailable: io_uring_queue_init: ", std::strerror(-r)));
    }
    initialized_ = true;
    // Kernels before 5.6 have a ring but lack some of these opcodes.
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) {
      return absl::UnavailableError("control: io_uring unavailable: cannot probe opcodes");
    }
    const struct {
      int opcode;
      const char* name;
    } needed[] = {{IORING_OP_ACCEPT, "ACCEPT"},
                  {IORING_OP_CONNECT, "CONNECT"},
                  {IORING_OP_SEND, "SEND"},
                  {IORING_OP_RECV, "RECV"},
                  {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"}};
    for (const auto& op : needed) {
      if (!io_uring_opcode_supported(probe, op.opcode)) {
        io_uring_free_probe(probe);
        return absl::UnavailableError(
            absl::StrCat("control: io_uring unavailable: kernel lacks IORING_OP_", op.name));
      }
    }
    io_uring_free_probe(probe);
    return absl::OkStatus();
  }

  Backend backend() const override { return Backend::kIoUring; }

  int Adopt(int fd) override {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) return -errno;
    return 0;
  }

  int Accept(int listen_fd, Deadline deadline) override {
    return Run(deadline, [&](io_uring_sqe* sqe) {
      io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    });
  }

  int Connect(int fd, const sockaddr* address, socklen_t length, Deadline deadline) override {
    return Run(deadline,
               [&](io_uring_sqe* sqe) { io_uring_prep_connect(sqe, fd, address, length); });
  }

  ssize_t Send(int fd, std::span<const uint8_t> bytes, Deadline deadline) override {
    return Run(deadline, [&](io_uring_sqe* sqe) {
      io_uring_prep_send(sqe, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    });
  }

  ssize_t Receive(int fd, std::span<uint8_t> bytes, Deadline deadline) override {
    return Run(deadline, [&](io_uring_sqe* sqe) {
      io_uring_prep_recv(sqe, fd, bytes.data(), bytes.size(), 0);
    });
  }

 private:
  // Submits the operation `prepare` fills in, linked to a timeout at
  // `deadline`, and reaps both completions before returning: the kernel may
  // use the caller's buffers until then.
  template <typename Prepare>
  int Run(Deadline deadline, Prepare prepare) {
    if (broken_ != 0) return broken_;
    const auto remaining = deadline - std::chrono::steady_clock::now();
    if (remaining <= std::chrono::steady_clock::duration::zero()) return -ETIME;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count();
    // The kernel copies the timespec while the submission is processed.
    __kernel_timespec timeout{.tv_sec = ns / 1'000'000'000, .tv_nsec = ns % 1'000'000'000};

    // The ring is empty between calls, so both entries are there.
    io_uring_sqe* operation = io_uring_get_sqe(&ring_);
    io_uring_sqe* timer = io_uring_get_sqe(&ring_);
    prepare(operation);
    operation->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(operation, kOperationTag);
    io_uring_prep_link_timeout(timer, &timeout, 0);
    io_uring_sqe_set_data64(timer, kTimeoutTag);

    int submitted;
    do {
      submitted = io_uring_submit(&ring_);
    } while (submitted == -EINTR);
    if (submitted != 2) return Break(submitted < 0 ? submitted : -EIO);

    int result = -EIO;
    bool timer_fired = false;
    for (int reaped = 0; reaped < 2;) {
      io_uring_cqe* cqe = nullptr;
      const int r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR) continue;
      if (r < 0) return Break(r);
      if (io_uring_cqe_get_data64(cqe) == kOperationTag) {
        result = cqe->res;
      } else {
        // -EALREADY: the timer fired while the operation was running and could
        // only be interrupted, not cancelled.
        timer_fired = cqe->res == -ETIME || cqe->res == -EALREADY;
      }
      io_uring_cqe_seen(&ring_, cqe);
      ++reaped;
    }
    // An operation the timer cut short reports -ECANCELED or -EINTR; the
    // caller wants "timed out". One that completed first keeps its result.
    if (result < 0 && timer_fired) return -ETIME;
    return result;
  }

  // The ring's state is unknown after a failed submit or wait: refuse further
  // use rather than reap someone else's completion.
  int Break(int error) {
    broken_ = error;
    return error;
  }

  io_uring ring_{};
  bool initialized_ = false;
  int broken_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SocketIo>> MakeIoUringSocketIo() {
  auto io = std::make_unique<IoUringSocketIo>();
  if (absl::Status s = io->Init(); !s.ok()) return s;
  return io;
}

}  // namespace tern::control
