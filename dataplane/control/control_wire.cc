#include "dataplane/control/control_wire.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transport/connection.h"

namespace tern::control {
namespace {

// Appends big-endian fields.
class Writer {
 public:
  explicit Writer(size_t expected_bytes) { bytes_.reserve(expected_bytes); }
  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Big(v, 2); }
  void U32(uint32_t v) { Big(v, 4); }
  void U64(uint64_t v) { Big(v, 8); }
  void Bytes(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  void Text(std::string_view s) { bytes_.insert(bytes_.end(), s.begin(), s.end()); }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  void Big(uint64_t v, int width) {
    for (int shift = 8 * (width - 1); shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<uint8_t>(v >> shift));
    }
  }
  std::vector<uint8_t> bytes_;
};

// Reads big-endian fields from a bounded span. The first read past the end
// fails and records how many bytes the message would have needed; later reads
// return zeros, so a decoder checks ok() once per variable-length step.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t U8() { return static_cast<uint8_t>(Big(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Big(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Big(4)); }
  uint64_t U64() { return Big(8); }
  std::span<const uint8_t> Bytes(size_t n) {
    if (!Need(n)) return {};
    std::span<const uint8_t> out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }
  std::string Text(size_t n) {
    std::span<const uint8_t> b = Bytes(n);
    return std::string(b.begin(), b.end());
  }
  bool ok() const { return needed_ == 0; }
  size_t needed() const { return needed_; }
  size_t remaining() const { return bytes_.size() - offset_; }

 private:
  bool Need(size_t n) {
    if (needed_ != 0) return false;
    if (n > bytes_.size() - offset_) {
      needed_ = offset_ + n;
      return false;
    }
    return true;
  }
  uint64_t Big(size_t width) {
    if (!Need(width)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v = v << 8 | bytes_[offset_ + i];
    offset_ += width;
    return v;
  }
  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
  size_t needed_ = 0;
};

absl::Status Truncated(const Reader& reader, size_t have) {
  return absl::DataLossError(absl::StrFormat("control: truncated HostSetup: need %u bytes, have %u",
                                             reader.needed(), have));
}

// Printable ASCII only: these strings end up in logs and error messages.
absl::Status CheckPrintable(std::string_view field, std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is %u bytes, limit %u", field, text.size(), max_bytes));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s has non-printable byte 0x%02x at offset %u", field, c, i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHostSetup:
      return "HostSetup";
    case MessageType::kBarrier:
      return "Barrier";
    case MessageType::kOpaque:
      return "Opaque";
  }
  return "unknown";
}

size_t MaxBodyBytes(MessageType type) {
  switch (type) {
    case MessageType::kHostSetup:
      return kMaxHostSetupBytes;
    case MessageType::kBarrier:
      return kMaxBarrierNameBytes;
    case MessageType::kOpaque:
      return kMaxMessageBytes;
  }
  return 0;
}

void EncodeMessageHeader(MessageType type, uint32_t length,
                         std::span<uint8_t, kMessageHeaderBytes> out) {
  Writer writer(kMessageHeaderBytes);
  writer.U32(kMagic);
  writer.U16(static_cast<uint16_t>(kProtocolVersion));
  writer.U16(static_cast<uint16_t>(type));
  writer.U32(length);
  const std::vector<uint8_t> bytes = writer.Take();
  std::copy(bytes.begin(), bytes.end(), out.begin());
}

absl::StatusOr<MessageHeader> DecodeMessageHeader(
    std::span<const uint8_t, kMessageHeaderBytes> bytes) {
  Reader reader(bytes);
  const uint32_t magic = reader.U32();
  const uint16_t version = reader.U16();
  const uint16_t type = reader.U16();
  const uint32_t length = reader.U32();
  if (magic != kMagic) {
    return absl::DataLossError(absl::StrFormat(
        "control: peer sent bad magic 0x%08x (expected 0x%08x): not a Tern control channel", magic,
        kMagic));
  }
  if (version != kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "control: peer sent version %u, this build speaks %u", version, kProtocolVersion));
  }
  const auto message_type = static_cast<MessageType>(type);
  const size_t max_bytes = MaxBodyBytes(message_type);
  if (max_bytes == 0) {
    return absl::DataLossError(absl::StrFormat("control: peer sent unknown message type %u", type));
  }
  if (length > max_bytes) {
    return absl::DataLossError(
        absl::StrFormat("control: peer's %s message claims %u bytes, limit %u",
                        MessageTypeName(message_type), length, max_bytes));
  }
  return MessageHeader{message_type, length};
}

absl::Status ValidateHostSetup(const HostSetup& setup) {
  const Endpoint& endpoint = setup.endpoint;
  if (!endpoint.ip.is_v6) {
    for (size_t i = 4; i < endpoint.ip.bytes.size(); ++i) {
      if (endpoint.ip.bytes[i] != 0) {
        return absl::InvalidArgumentError("IPv4 address has non-zero bytes past the fourth");
      }
    }
  }
  if (endpoint.udp_port == 0) return absl::InvalidArgumentError("udp_port is 0");
  if (setup.mtu < kMinMtu || setup.mtu > kMaxMtu) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mtu %u outside [%u, %u]", setup.mtu, kMinMtu, kMaxMtu));
  }
  if (setup.paths == 0 || setup.paths > kMaxPaths) {
    return absl::InvalidArgumentError(
        absl::StrFormat("paths %u outside [1, %u]", setup.paths, kMaxPaths));
  }
  if (setup.congestion_control.empty()) {
    return absl::InvalidArgumentError("congestion_control is empty");
  }
  if (absl::Status s = CheckPrintable("congestion_control", setup.congestion_control,
                                      kMaxCongestionControlBytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPrintable("workload", setup.workload, kMaxWorkloadBytes); !s.ok()) {
    return s;
  }
  if (setup.qps.size() > kMaxQps) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%u QPs, limit %u", setup.qps.size(), kMaxQps));
  }
  std::vector<uint32_t> qp_nums;
  qp_nums.reserve(setup.qps.size());
  for (size_t i = 0; i < setup.qps.size(); ++i) {
    const QpSetup& qp = setup.qps[i];
    if (qp.qp_num == 0)
      return absl::InvalidArgumentError(absl::StrFormat("qps[%u].qp_num is 0", i));
    if (qp.length > UINT64_MAX - qp.addr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("qps[%u] region 0x%x + %u wraps past 2^64", i, qp.addr, qp.length));
    }
    qp_nums.push_back(qp.qp_num);
  }
  std::sort(qp_nums.begin(), qp_nums.end());
  if (auto dup = std::adjacent_find(qp_nums.begin(), qp_nums.end()); dup != qp_nums.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("qp_num %u appears twice", *dup));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> EncodeHostSetup(const HostSetup& setup) {
  if (absl::Status s = ValidateHostSetup(setup); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control: our HostSetup is invalid: ", s.message()));
  }
  Writer writer(kHostSetupFixedBytes + setup.congestion_control.size() + setup.workload.size() +
                setup.qps.size() * kQpSetupBytes);
  writer.Bytes(setup.endpoint.mac.bytes);
  writer.U8(setup.endpoint.ip.is_v6 ? 6 : 4);
  writer.Bytes(setup.endpoint.ip.bytes);
  writer.U16(setup.endpoint.udp_port);
  writer.U32(setup.mtu);
  writer.U16(setup.paths);
  writer.U16(static_cast<uint16_t>(setup.congestion_control.size()));
  writer.Text(setup.congestion_control);
  writer.U16(static_cast<uint16_t>(setup.workload.size()));
  writer.Text(setup.workload);
  writer.U32(static_cast<uint32_t>(setup.qps.size()));
  for (const QpSetup& qp : setup.qps) {
    writer.U32(qp.qp_num);
    writer.U32(qp.psn);
    writer.U64(qp.addr);
    writer.U64(qp.length);
    writer.U32(qp.rkey);
  }
  return writer.Take();
}

absl::StatusOr<HostSetup> DecodeHostSetup(std::span<const uint8_t> body) {
  Reader reader(body);
  HostSetup setup;
  std::span<const uint8_t> mac = reader.Bytes(setup.endpoint.mac.bytes.size());
  const uint8_t ip_family = reader.U8();
  std::span<const uint8_t> ip = reader.Bytes(setup.endpoint.ip.bytes.size());
  setup.endpoint.udp_port = reader.U16();
  setup.mtu = reader.U32();
  setup.paths = reader.U16();
  const uint16_t cc_len = reader.U16();
  if (!reader.ok()) return Truncated(reader, body.size());
  if (ip_family != 4 && ip_family != 6) {
    return absl::DataLossError(
        absl::StrFormat("control: peer's HostSetup has IP family %u, expected 4 or 6", ip_family));
  }
  // Length bounds before the bytes are read, so the error names the real fault.
  if (cc_len > kMaxCongestionControlBytes) {
    return absl::DataLossError(
        absl::StrFormat("control: peer's congestion_control is %u bytes, limit %u", cc_len,
                        kMaxCongestionControlBytes));
  }
  setup.congestion_control = reader.Text(cc_len);
  const uint16_t workload_len = reader.U16();
  if (!reader.ok()) return Truncated(reader, body.size());
  if (workload_len > kMaxWorkloadBytes) {
    return absl::DataLossError(absl::StrFormat("control: peer's workload is %u bytes, limit %u",
                                               workload_len, kMaxWorkloadBytes));
  }
  setup.workload = reader.Text(workload_len);
  const uint32_t qp_count = reader.U32();
  if (!reader.ok()) return Truncated(reader, body.size());
  if (qp_count > kMaxQps) {
    return absl::DataLossError(
        absl::StrFormat("control: peer sent %u QPs, limit %u", qp_count, kMaxQps));
  }
  // Checked before the resize, so a lying count cannot allocate.
  if (reader.remaining() < size_t{qp_count} * kQpSetupBytes) {
    return absl::DataLossError(absl::StrFormat(
        "control: truncated HostSetup: need %u bytes, have %u",
        body.size() - reader.remaining() + size_t{qp_count} * kQpSetupBytes, body.size()));
  }
  setup.qps.resize(qp_count);
  for (QpSetup& qp : setup.qps) {
    qp.qp_num = reader.U32();
    qp.psn = reader.U32();
    qp.addr = reader.U64();
    qp.length = reader.U64();
    qp.rkey = reader.U32();
  }
  if (!reader.ok()) return Truncated(reader, body.size());
  if (reader.remaining() != 0) {
    return absl::DataLossError(
        absl::StrFormat("control: HostSetup has %u unexpected bytes after its %u QPs",
                        reader.remaining(), qp_count));
  }
  std::copy(mac.begin(), mac.end(), setup.endpoint.mac.bytes.begin());
  std::copy(ip.begin(), ip.end(), setup.endpoint.ip.bytes.begin());
  setup.endpoint.ip.is_v6 = ip_family == 6;
  if (absl::Status s = ValidateHostSetup(setup); !s.ok()) {
    return absl::DataLossError(absl::StrCat("control: peer's HostSetup is invalid: ", s.message()));
  }
  return setup;
}

absl::Status CheckSetupsMatch(const HostSetup& ours, const HostSetup& peers) {
  auto mismatch = [](const char* field, const auto& our_value, const auto& peer_value) {
    return absl::FailedPreconditionError(
        absl::StrCat("control: ", field, " mismatch: ours ", our_value, ", peer's ", peer_value));
  };
  auto quoted = [](const std::string& s) { return absl::StrCat("\"", s, "\""); };
  if (ours.mtu != peers.mtu) return mismatch("mtu", ours.mtu, peers.mtu);
  if (ours.paths != peers.paths) return mismatch("paths", ours.paths, peers.paths);
  if (ours.congestion_control != peers.congestion_control) {
    return mismatch("congestion_control", quoted(ours.congestion_control),
                    quoted(peers.congestion_control));
  }
  if (ours.workload != peers.workload) {
    return mismatch("workload", quoted(ours.workload), quoted(peers.workload));
  }
  if (ours.qps.size() != peers.qps.size()) {
    return mismatch("QP count", ours.qps.size(), peers.qps.size());
  }
  return absl::OkStatus();
}

}  // namespace tern::control
