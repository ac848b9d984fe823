#include "dataplane/sim/capture.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace tern::sim {
namespace {

// Blocks are assembled in memory, then written with one fwrite, so a block is
// never half-built when an error is reported.
class BlockBuilder {
 public:
  explicit BlockBuilder(uint32_t type) {
    Put32(type);
    Put32(0);  // total length, patched by Finish()
  }

  void Put8(uint8_t v) { bytes_.push_back(v); }
  void Put16(uint16_t v) {
    Put8(static_cast<uint8_t>(v));
    Put8(static_cast<uint8_t>(v >> 8));
  }
  void Put32(uint32_t v) {
    Put16(static_cast<uint16_t>(v));
    Put16(static_cast<uint16_t>(v >> 16));
  }
  void Put64(uint64_t v) {
    Put32(static_cast<uint32_t>(v));
    Put32(static_cast<uint32_t>(v >> 32));
  }
  // Bytes, then zeros up to the next 32-bit boundary: pcapng pads packet data
  // and option values that way.
  void PutPadded(std::span<const uint8_t> data) {
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    while (bytes_.size() % 4 != 0) Put8(0);
  }
  void PutOption(uint16_t code, std::span<const uint8_t> value) {
    Put16(code);
    Put16(static_cast<uint16_t>(value.size()));
    PutPadded(value);
  }
  void PutEndOfOptions() {
    Put16(PcapngWriter::kOptionEnd);
    Put16(0);
  }

  // Appends the trailing copy of the total length and patches the leading one.
  std::span<const uint8_t> Finish() {
    const auto total = static_cast<uint32_t>(bytes_.size() + 4);
    Put32(total);
    for (int i = 0; i < 4; ++i) bytes_[4 + i] = static_cast<uint8_t>(total >> (8 * i));
    return bytes_;
  }

 private:
  std::vector<uint8_t> bytes_;
};

// Option values longer than this are cut: the option length field is 16 bits.
constexpr size_t kMaxOptionBytes = 0xFFF0;

}  // namespace

absl::StatusOr<PcapngWriter> PcapngWriter::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrFormat("pcapng: cannot open '%s'", path));
  }
  PcapngWriter writer(path, file);

  BlockBuilder shb(kSectionHeaderBlock);
  shb.Put32(kByteOrderMagic);
  shb.Put16(1);             // major version
  shb.Put16(0);             // minor version
  shb.Put64(~uint64_t{0});  // section length: not given (-1)
  if (absl::Status s = writer.WriteBytes(shb.Finish()); !s.ok()) return s;

  BlockBuilder idb(kInterfaceDescriptionBlock);
  idb.Put16(kLinkTypeEthernet);
  idb.Put16(0);               // reserved
  idb.Put32(kMaxFrameBytes);  // snaplen
  const uint8_t tsresol = kNanosecondResolution;
  idb.PutOption(kOptionIfTsresol, std::span<const uint8_t>(&tsresol, 1));
  idb.PutEndOfOptions();
  if (absl::Status s = writer.WriteBytes(idb.Finish()); !s.ok()) return s;
  // Surface a full disk or an unwritable device now rather than at the first
  // frame.
  if (absl::Status s = writer.Flush(); !s.ok()) return s;
  return writer;
}

PcapngWriter::PcapngWriter(std::string path, std::FILE* file)
    : path_(std::move(path)), file_(file) {}

PcapngWriter::~PcapngWriter() { Close().IgnoreError(); }

absl::Status PcapngWriter::WriteBytes(std::span<const uint8_t> bytes) {
  if (!status_.ok()) return status_;
  if (file_ == nullptr) return absl::FailedPreconditionError("pcapng: writer is closed");
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) != bytes.size()) {
    status_ = absl::ErrnoToStatus(errno, absl::StrFormat("pcapng: write to '%s' failed", path_));
  }
  return status_;
}

absl::Status PcapngWriter::Write(Time at, std::span<const uint8_t> frame,
                                 std::string_view comment) {
  if (at < Time::Zero() || at.IsInfinite()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("pcapng: timestamp %d ps is not a finite time >= 0", at.picoseconds()));
  }
  if (frame.size() > kMaxFrameBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pcapng: frame of %d bytes exceeds the %d-byte snaplen", frame.size(), kMaxFrameBytes));
  }
  const auto ns = static_cast<uint64_t>(at.nanoseconds());
  BlockBuilder epb(kEnhancedPacketBlock);
  epb.Put32(0);  // interface id: the only IDB
  epb.Put32(static_cast<uint32_t>(ns >> 32));
  epb.Put32(static_cast<uint32_t>(ns));
  epb.Put32(static_cast<uint32_t>(frame.size()));  // captured length
  epb.Put32(static_cast<uint32_t>(frame.size()));  // original length
  epb.PutPadded(frame);
  if (!comment.empty()) {
    if (comment.size() > kMaxOptionBytes) comment = comment.substr(0, kMaxOptionBytes);
    epb.PutOption(
        kOptionComment,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(comment.data()), comment.size()));
    epb.PutEndOfOptions();
  }
  if (absl::Status s = WriteBytes(epb.Finish()); !s.ok()) return s;
  ++frames_written_;
  return absl::OkStatus();
}

absl::Status PcapngWriter::Flush() {
  if (!status_.ok()) return status_;
  if (file_ == nullptr) return absl::FailedPreconditionError("pcapng: writer is closed");
  if (std::fflush(file_.get()) != 0) {
    status_ = absl::ErrnoToStatus(errno, absl::StrFormat("pcapng: flush of '%s' failed", path_));
  }
  return status_;
}

absl::Status PcapngWriter::Close() {
  if (closed_ || file_ == nullptr) return status_;
  closed_ = true;
  const bool flushed = std::fflush(file_.get()) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(file_.release()) == 0;
  if (status_.ok() && (!flushed || !closed)) {
    status_ = absl::ErrnoToStatus(flushed ? errno : flush_errno,
                                  absl::StrFormat("pcapng: closing '%s' failed", path_));
  }
  return status_;
}

}  // namespace tern::sim
