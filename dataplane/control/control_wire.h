// Control-channel wire format v1: every message two Tern processes swap over
// the set-up TCP connection, and nothing else. Big-endian throughout, written
// and read field by field (never a struct copy), and every length is checked
// against its bound before anything is allocated. Sans-IO: bytes in, bytes or
// a Status out.
//
// Message: a 12-byte header, then `length` body bytes.
//
//    0        4         6      8          12
//    | magic  | version | type | length   | body ...
//
//   magic    u32  0x546E4374 ("TnCt"): turns away strays (a wrong port, an HTTP
//                 client) with a clear error instead of a misparse
//   version  u16  kProtocolVersion; another version is refused, never guessed at
//   type     u16  MessageType
//   length   u32  body bytes, at most MaxBodyBytes(type)
//
// HostSetup body (39 + cc_len + workload_len + 28 * qp_count bytes):
//   mac[6] | ip_family u8 (4 or 6) | ip[16] (IPv4: first 4 bytes, rest zero) |
//   udp_port u16 | mtu u32 | paths u16 | cc_len u16 | cc[cc_len] |
//   workload_len u16 | workload[workload_len] | qp_count u32 |
//   qp_count x (qp_num u32 | psn u32 | addr u64 | length u64 | rkey u32)
// Barrier body: the barrier name, 1..kMaxBarrierNameBytes bytes.
// Opaque body: application bytes, 0..kMaxMessageBytes.
//
// Adding a message type: (1) add it to MessageType, (2) give it a bound in
// MaxBodyBytes() and a name in MessageTypeName(), (3) encode and decode its body
// here, (4) add decode tests to control_wire_test.cc, (5) bump kProtocolVersion
// if a peer of the previous version would misread the exchange.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/control/control_channel.h"

namespace tern::control {

inline constexpr uint32_t kMagic = 0x546E4374;
inline constexpr size_t kMessageHeaderBytes = 12;
inline constexpr size_t kQpSetupBytes = 28;
// HostSetup body without its strings and QPs.
inline constexpr size_t kHostSetupFixedBytes = 6 + 1 + 16 + 2 + 4 + 2 + 2 + 2 + 4;
static_assert(kHostSetupFixedBytes == 39);
inline constexpr size_t kMaxHostSetupBytes =
    kHostSetupFixedBytes + kMaxCongestionControlBytes + kMaxWorkloadBytes + kMaxQps * kQpSetupBytes;
// Paths a QP accepts (CreateQp in transport/verbs.cc).
inline constexpr uint16_t kMaxPaths = 0x3FFF;

enum class MessageType : uint16_t {
  kHostSetup = 1,
  kBarrier = 2,
  kOpaque = 3,
};
const char* MessageTypeName(MessageType type);
// Largest body a message of this type may carry; 0 for unknown types.
size_t MaxBodyBytes(MessageType type);

struct MessageHeader {
  MessageType type = MessageType::kOpaque;
  uint32_t length = 0;  // body bytes, within MaxBodyBytes(type)
};

void EncodeMessageHeader(MessageType type, uint32_t length,
                         std::span<uint8_t, kMessageHeaderBytes> out);
// Checks, in this order, magic, version, type and the length bound.
absl::StatusOr<MessageHeader> DecodeMessageHeader(
    std::span<const uint8_t, kMessageHeaderBytes> bytes);

// Field sanity of one side's setup: MTU and paths in the transport's ranges,
// an IP family of 4 or 6, a non-zero UDP port, printable bounded strings, at
// most kMaxQps QPs with unique non-zero numbers and regions that do not wrap.
absl::Status ValidateHostSetup(const HostSetup& setup);
// The body of a HostSetup message. Refuses (InvalidArgument) a setup that
// ValidateHostSetup refuses, so nothing malformed leaves this process.
absl::StatusOr<std::vector<uint8_t>> EncodeHostSetup(const HostSetup& setup);
// Decodes a HostSetup body and validates it. Every malformed input yields an
// error naming what was wrong; nothing is read outside `body`.
absl::StatusOr<HostSetup> DecodeHostSetup(std::span<const uint8_t> body);
// The fields both sides must agree on; the error names the first that differs
// with both values.
absl::Status CheckSetupsMatch(const HostSetup& ours, const HostSetup& peers);

}  // namespace tern::control
