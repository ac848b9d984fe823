// Tern wire format v1: every header that crosses the wire, and nothing else.
//
// Encapsulation: Ethernet / IPv4 or IPv6 / UDP / Tern common header /
// type header / [RDMA extension] / payload. All multi-byte fields are big-endian
// (network order) and reached through the Be16/Be32/Be64 wrappers, so a missing
// byte swap does not compile. The UDP source port is the entropy value (path
// selector): fabric switches hash it for ECMP. Byte diagrams and field rules are
// in docs/protocol.md; keep the two in step.
//
// Adding a packet type: (1) add it to PacketType, (2) define its header struct
// here with a static_assert on its size, (3) teach DecodeTern() its length and
// checks, (4) give it a ToString(), (5) handle it in Connection::OnPacket and
// count it, (6) document it in docs/protocol.md and tools/ dissector, (7) add
// decode tests to wire_test.cc.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tern {

// ---------------------------------------------------------------------------
// Big-endian field wrappers. Plain byte arrays, so the structs below have
// alignment 1 and can be overlaid on any byte buffer.

struct Be16 {
  uint8_t b[2];
  constexpr uint16_t get() const { return static_cast<uint16_t>(b[0] << 8 | b[1]); }
  constexpr void set(uint16_t v) {
    b[0] = static_cast<uint8_t>(v >> 8);
    b[1] = static_cast<uint8_t>(v);
  }
};
struct Be32 {
  uint8_t b[4];
  uint32_t get() const {
    uint32_t v;
    __builtin_memcpy(&v, b, 4);
    return __builtin_bswap32(v);
  }
  void set(uint32_t v) {
    v = __builtin_bswap32(v);
    __builtin_memcpy(b, &v, 4);
  }
};
struct Be64 {
  uint8_t b[8];
  uint64_t get() const {
    uint64_t v;
    __builtin_memcpy(&v, b, 8);
    return __builtin_bswap64(v);
  }
  void set(uint64_t v) {
    v = __builtin_bswap64(v);
    __builtin_memcpy(b, &v, 8);
  }
};

// ---------------------------------------------------------------------------
// Outer headers (only what Tern needs: no VLAN, no IPv4 options, no IPv6
// extension headers; frames carrying them are rejected, not misparsed).

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint8_t kIpProtoUdp = 17;
// IPv4 TTL and IPv6 hop limit of every frame Tern sends; each router on the
// path takes one off.
inline constexpr uint8_t kInitialTtl = 64;
// Routers between the sender of a Tern frame and here, from the TTL (or hop
// limit) it arrived with; -1 when that cannot be Tern's (0, or above 64).
constexpr int HopsFromTtl(uint8_t ttl) {
  return ttl > 0 && ttl <= kInitialTtl ? kInitialTtl - ttl : -1;
}
// Default UDP destination port. Not 4791 (RoCEv2) nor 4793 (UET), so their
// dissectors and ECMP rules leave Tern alone; from the IANA dynamic range.
inline constexpr uint16_t kDefaultUdpPort = 49478;
// A host with several workers gives worker w port kDefaultUdpPort + w, so
// captures and the Wireshark dissector take this many ports from it as Tern.
inline constexpr uint16_t kTernUdpPortCount = 16;
inline constexpr uint16_t WorkerUdpPort(int worker) {
  return static_cast<uint16_t>(kDefaultUdpPort + worker);
}
inline constexpr bool IsWorkerUdpPort(uint16_t port) {
  return port >= kDefaultUdpPort && port - kDefaultUdpPort < kTernUdpPortCount;
}
// Entropy values are carried in the UDP source port. Ports below this base are
// avoided so a Tern flow never looks like a well-known service.
inline constexpr uint16_t kEntropyPortBase = 0xC000;

struct EthernetHeader {
  uint8_t dst[6];
  uint8_t src[6];
  Be16 ether_type;
};
static_assert(sizeof(EthernetHeader) == 14);

struct Ipv4Header {
  uint8_t version_ihl;  // 0x45: version 4, 5 words, no options
  uint8_t tos;          // DSCP (6 bits) | ECN (2 bits)
  Be16 total_length;
  Be16 identification;
  Be16 flags_fragment;  // DF set, never fragmented
  uint8_t ttl;
  uint8_t protocol;  // 17 (UDP)
  Be16 header_checksum;
  Be32 src;
  Be32 dst;
};
static_assert(sizeof(Ipv4Header) == 20);

struct Ipv6Header {
  Be32 version_class_flow;  // version 6 | traffic class (DSCP|ECN) | flow label
  Be16 payload_length;
  uint8_t next_header;  // 17 (UDP)
  uint8_t hop_limit;
  uint8_t src[16];
  uint8_t dst[16];
};
static_assert(sizeof(Ipv6Header) == 40);

struct UdpHeader {
  Be16 src_port;  // entropy
  Be16 dst_port;  // Tern port
  Be16 length;
  Be16 checksum;  // 0 on IPv4 (the Tern checksum covers the payload)
};
static_assert(sizeof(UdpHeader) == 8);

// ECN codepoints of the IP header's low two TOS / traffic-class bits (RFC 3168).
enum class Ecn : uint8_t { kNotEct = 0, kEct1 = 1, kEct0 = 2, kCe = 3 };
// The ECN bits of the IPv4 TOS / IPv6 traffic class byte; the rest is DSCP.
inline constexpr uint8_t kEcnMask = 0x03;
// A traffic class Tern can be given (ContextConfig::traffic_class, --tclass):
// a byte whose ECN bits are clear, since Tern sets them itself.
constexpr bool IsDscpTrafficClass(uint64_t value) {
  return value <= 0xFF && (value & kEcnMask) == 0;
}

// ---------------------------------------------------------------------------
// Tern headers.

inline constexpr uint8_t kTernVersion = 1;

enum class PacketType : uint8_t {
  kData = 1,  // carries payload or a READ request; has a PSN in the sender's space
  kAck = 2,   // cumulative + selective acknowledgement, flow-control window, feedback
  kNack = 3,  // negative acknowledgement of one PSN, with a reason
};

// Flags of TernHeader::flags.
enum TernFlag : uint16_t {
  kFlagTrimmed = 1 << 0,     // a switch cut the payload; header kept (DATA only)
  kFlagAckRequest = 1 << 1,  // the receiver must ACK at once (last packet, probes)
  kFlagRetransmit = 1 << 2,  // a resend of a PSN already sent (informational)
  kFlagFirst = 1 << 3,       // first packet of its message (DATA only)
  kFlagLast = 1 << 4,        // last packet of its message (DATA only)
  kFlagEcnEcho = 1 << 5,     // ACK: a CE mark arrived since the previous ACK
  kFlagCnp = 1 << 6,         // ACK: congestion notification (DCQCN's CNP), rate-limited
  kFlagTelemetry = 1 << 7,   // DATA: a TelemetryStack for switches to fill follows the
                             // headers; ACK: the stack of the acknowledged packet follows
  kFlagCoalesced = 1 << 8,   // ACK, NACK: another Tern packet follows in this datagram
  kKnownFlags = (1 << 9) - 1,
};

// Present on every Tern packet, first after the UDP header.
struct TernHeader {
  uint8_t version;  // kTernVersion
  uint8_t type;     // PacketType
  Be16 flags;       // TernFlag bits; unknown bits must be zero
  Be32 dst_qpn;     // queue pair number at the receiver
  Be32 src_qpn;     // queue pair number at the sender; must match the connected peer
  Be32 psn;         // DATA: this packet's PSN; ACK: cumulative (next expected); NACK: the PSN
  Be32 checksum;    // CRC32C over the Tern packet with this field zero
};
static_assert(sizeof(TernHeader) == 20);

enum class DataOpcode : uint8_t {
  kSend = 1,
  kSendWithImm = 2,
  kWrite = 3,
  kWriteWithImm = 4,
  kReadRequest = 5,   // no payload; asks the responder for msg_len bytes at va/rkey
  kReadResponse = 6,  // payload for the requester's READ message msg_id, at offset
};

// Follows TernHeader when type == kData.
struct DataHeader {
  uint8_t opcode;    // DataOpcode
  uint8_t reserved;  // zero
  Be16 payload_len;  // payload bytes the sender put after the headers (before any trim)
  Be32 msg_id;       // sender's message number; READ_RESPONSE: the requester's READ msg_id
  Be32 rsn;          // receive sequence number this message consumes (SEND*, WRITE_WITH_IMM)
  Be32 offset;       // byte offset of this payload within the message
  Be32 msg_len;      // total message length in bytes (READ_REQUEST: bytes to read)
  Be32 imm;          // immediate data (the *_WITH_IMM opcodes), else zero
  Be32 timestamp;    // sender clock in ns, mod 2^32; echoed by the ACK for RTT samples
};
static_assert(sizeof(DataHeader) == 28);

// Follows DataHeader for WRITE, WRITE_WITH_IMM and READ_REQUEST.
struct RdmaExtension {
  Be64 remote_va;  // address of the message's first byte in the responder's region
  Be32 rkey;       // remote key of that memory region
};
static_assert(sizeof(RdmaExtension) == 12);

// In-band telemetry (what HPCC needs): one record per switch egress port,
// written by the switch as the packet leaves. Times and byte counts wrap.
struct TelemetryRecord {
  Be32 timestamp_ns;  // switch clock at dequeue, ns mod 2^32
  Be32 tx_bytes;      // bytes the port had transmitted, mod 2^32
  Be32 queue_bytes;   // bytes queued at the port as the packet left
  Be32 rate_mbps;     // the port's line rate
};
static_assert(sizeof(TelemetryRecord) == 16);

inline constexpr int kTelemetryHops = 5;  // room for a 3-tier fat tree's switch hops

// Follows the DATA headers (after the RDMA extension, if any) when
// kFlagTelemetry is set; the sender writes it zeroed. A switch fills
// record[hops] and increments hops; when full, later hops add nothing. The
// Tern checksum counts a DATA packet's stack as zero, since it changes in
// flight. An ACK with kFlagTelemetry carries a copy after its AckHeader
// (checksummed: it no longer changes).
struct TelemetryStack {
  uint8_t hops;         // records filled
  uint8_t reserved[3];  // zero
  TelemetryRecord record[kTelemetryHops];
};
static_assert(sizeof(TelemetryStack) == 84);

inline constexpr int kSackBits = 128;

// Follows TernHeader when type == kAck. TernHeader::psn is the cumulative
// point: every PSN before it has arrived.
struct AckHeader {
  Be32 sack_base;       // PSN of bit 0 of sack_bitmap
  Be64 sack_bitmap[2];  // bit i of word i/64 (LSB first): sack_base + i has arrived
  Be32 window_end;      // flow control: the sender may send PSNs before this one
  Be32 ts_echo;         // DataHeader::timestamp of the packet that triggered this ACK
  Be16 echo_entropy;    // entropy (UDP source port) of that packet
  Be16 ce_count;        // CE-marked data packets since the previous ACK (saturating)
};
static_assert(sizeof(AckHeader) == 32);

enum class NackReason : uint8_t {
  kTrimmed = 1,          // payload cut in the fabric: resend at once
  kNoReceiveBuffer = 2,  // RNR: no receive posted; retry after `retry_after_ns`
  kAccessError = 3,      // bad rkey, access rights or bounds: fatal
  kInvalidRequest = 4,   // receive buffer too small, malformed request: fatal
};

// Follows TernHeader when type == kNack. TernHeader::psn is the PSN refused.
struct NackHeader {
  uint8_t reason;       // NackReason
  uint8_t reserved;     // zero
  Be16 echo_entropy;    // entropy of the refused packet
  Be32 ts_echo;         // DataHeader::timestamp of the refused packet
  Be32 retry_after_ns;  // kNoReceiveBuffer: how long the sender should wait
};
static_assert(sizeof(NackHeader) == 12);

inline constexpr size_t kMaxTernHeaderBytes =
    sizeof(TernHeader) + sizeof(DataHeader) + sizeof(RdmaExtension) + sizeof(TelemetryStack);
inline constexpr size_t kMaxOuterHeaderBytes =
    sizeof(EthernetHeader) + sizeof(Ipv6Header) + sizeof(UdpHeader);
// Ethernet + IP + UDP header bytes in front of every Tern packet.
constexpr size_t OuterHeaderBytes(bool is_v6) {
  return sizeof(EthernetHeader) + (is_v6 ? sizeof(Ipv6Header) : sizeof(Ipv4Header)) +
         sizeof(UdpHeader);
}

// ---------------------------------------------------------------------------
// Decoding. Total: every byte string yields a view or the reason it was
// rejected, and nothing is read outside the given span.

enum class DropReason : uint8_t {
  kNone = 0,
  kTruncated,          // shorter than its headers say
  kNotTern,            // not IPv4/IPv6 UDP to the Tern port
  kBadIpHeader,        // IP options, fragments, bad lengths
  kBadVersion,         // Tern version != kTernVersion
  kUnknownType,        // unknown PacketType
  kUnknownOpcode,      // unknown DataOpcode
  kBadFlags,           // unknown flag bits, or flags illegal for the type
  kBadLength,          // payload length disagrees with the header
  kBadChecksum,        // CRC32C mismatch
  kUnknownConnection,  // no such QP, or src_qpn is not its peer
  kCount,
};
const char* DropReasonName(DropReason reason);

// A decoded Tern packet: pointers into the caller's buffer, valid while it is.
struct TernView {
  const TernHeader* tern = nullptr;
  const DataHeader* data = nullptr;           // type == kData
  const RdmaExtension* rdma = nullptr;        // WRITE, WRITE_WITH_IMM, READ_REQUEST
  const AckHeader* ack = nullptr;             // type == kAck
  const NackHeader* nack = nullptr;           // type == kNack
  const TelemetryStack* telemetry = nullptr;  // kFlagTelemetry (DATA or ACK)
  std::span<const uint8_t> payload;           // data payload actually present (empty when trimmed)

  PacketType type() const { return static_cast<PacketType>(tern->type); }
  uint16_t flags() const { return tern->flags.get(); }
  DataOpcode opcode() const { return static_cast<DataOpcode>(data->opcode); }
};

struct TernDecodeResult {
  DropReason error = DropReason::kNone;
  TernView view;
  bool ok() const { return error == DropReason::kNone; }
};

// Decodes a Tern packet (the UDP payload). The checksum is checked only when
// `verify_checksum` is set: a port that verified it in hardware passes false.
TernDecodeResult DecodeTern(std::span<const uint8_t> bytes, bool verify_checksum);

// A UDP datagram may carry several ACKs and NACKs back to back, each with its
// own checksum and kFlagCoalesced on every one but the last (docs/protocol.md,
// "Coalesced control packets"). Returns the first packet of `datagram`: up to
// the end of its headers when it says another follows, the whole datagram
// otherwise (DecodeTern then judges it, truncation included). Never empty
// unless `datagram` is.
std::span<const uint8_t> FirstTernPacket(std::span<const uint8_t> datagram);
// Calls visit(packet, index) for each Tern packet of `datagram`, in order, as
// FirstTernPacket splits it: at least once (an empty datagram gives one empty
// packet, for DecodeTern to refuse).
template <typename Visit>
void ForEachTernPacket(std::span<const uint8_t> datagram, Visit&& visit) {
  size_t index = 0;
  do {
    const std::span<const uint8_t> packet = FirstTernPacket(datagram);
    visit(packet, index++);
    datagram = datagram.subspan(packet.size());
  } while (!datagram.empty());
}

// Header size a DATA packet with this opcode and these flags carries before
// its payload (the telemetry stack included when kFlagTelemetry is set).
size_t DataHeaderBytes(DataOpcode opcode, uint16_t flags = 0);
bool OpcodeHasRdmaExtension(DataOpcode opcode);
bool OpcodeIsValid(uint8_t opcode);

// ---------------------------------------------------------------------------
// Checksum: CRC32C (Castagnoli) over the whole Tern packet with the checksum
// field, and a DATA packet's telemetry stack, taken as zero. A trimming switch
// recomputes it over what it keeps.

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len);
uint32_t TernChecksum(std::span<const uint8_t> tern_packet);
// Same, for a packet whose headers and payload live in two buffers.
uint32_t TernChecksum(std::span<const uint8_t> headers, std::span<const uint8_t> payload);
void SealTernChecksum(std::span<uint8_t> tern_packet);

// ---------------------------------------------------------------------------
// Internet checksum (RFC 1071): IPv4 headers, UDP and ICMPv6 pseudo-headers.

// Adds `bytes`, taken as big-endian 16-bit words (an odd last byte padded
// with zero), to the one's-complement running sum `sum`; not yet folded.
uint32_t OnesComplementAdd(std::span<const uint8_t> bytes, uint32_t sum = 0);
// Folds a running sum to 16 bits and inverts it: the value a checksum field
// holds. Over data that includes a correct checksum field it gives 0.
uint16_t FoldChecksum(uint32_t sum);

// ---------------------------------------------------------------------------
// Outer frame: Ethernet / IPv4|IPv6 / UDP.

struct IpAddress {
  bool is_v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in bytes[0..3]

  static IpAddress V4(uint32_t host_order);
  static IpAddress V6(const std::array<uint8_t, 16>& b);
  uint32_t v4() const;  // host order
  bool operator==(const IpAddress&) const = default;
  std::string ToString() const;
  // "10.0.0.1" or "fd00::1"; nullopt for anything else.
  static std::optional<IpAddress> Parse(std::string_view text);
};

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  bool operator==(const MacAddress&) const = default;
  std::string ToString() const;
  // "02:00:00:00:00:01" (':' or '-' separated hex); nullopt for anything else.
  static std::optional<MacAddress> Parse(std::string_view text);
  bool IsZero() const { return bytes == std::array<uint8_t, 6>{}; }
};

// Where one end of a Tern connection lives on the fabric.
struct Endpoint {
  MacAddress mac;
  IpAddress ip;
  uint16_t udp_port = kDefaultUdpPort;  // Tern destination port of this host
  bool operator==(const Endpoint&) const = default;
};

struct FrameView {
  Endpoint src;  // udp_port: the sender's Tern port is unknown; holds dst port
  Endpoint dst;
  uint16_t entropy = 0;  // UDP source port
  Ecn ecn = Ecn::kNotEct;
  size_t ecn_offset = 0;          // byte offset of the IP byte holding the ECN bits
  uint8_t ttl = 0;                // IPv4 TTL or IPv6 hop limit, as received
  std::span<const uint8_t> tern;  // UDP payload
};

struct FrameDecodeResult {
  DropReason error = DropReason::kNone;
  FrameView frame;
  bool ok() const { return error == DropReason::kNone; }
};

// Parses Ethernet / IP / UDP and returns the Tern bytes. `tern_port` is the
// local Tern UDP port; other UDP traffic is kNotTern.
FrameDecodeResult DecodeFrame(std::span<const uint8_t> bytes, uint16_t tern_port);

// The UDP destination port of an IPv4 or IPv6 UDP frame, without validating
// anything else: enough to tell which worker's context a frame is for, whose
// DecodeFrame then checks it whole. nullopt for anything that is not UDP.
std::optional<uint16_t> PeekUdpDestinationPort(std::span<const uint8_t> frame);

// Writes Ethernet / IP / UDP headers for a Tern packet of `tern_len` bytes into
// `out` (at least kMaxOuterHeaderBytes) and returns the bytes written.
// src.ip and dst.ip must be the same family. The packet is sent ECN-capable
// (ECT(0)) so switches mark rather than drop. `traffic_class` is the IPv4 TOS
// or IPv6 traffic class byte less its ECN bits (DSCP << 2), which a fabric maps
// to a switch queue; 0 is best effort. An IPv6 packet's flow label is the
// entropy, for fabrics that hash it rather than the ports.
size_t EncodeFrameHeaders(uint8_t* out, const Endpoint& src, const Endpoint& dst, uint16_t entropy,
                          size_t tern_len, uint8_t traffic_class = 0);

// Sets the ECN bits of an encoded frame to CE, fixing the IPv4 header checksum.
void MarkCongestionExperienced(std::span<uint8_t> frame, size_t ecn_offset);

// Takes one off the IPv4 TTL (fixing the header checksum) or the IPv6 hop
// limit, as a router forwarding the frame does. False, changing nothing, when
// the frame is not IP or the value is 0 or 1: a router drops it instead.
bool DecrementTtl(std::span<uint8_t> frame);

// ---------------------------------------------------------------------------
// Printable forms, for tests and logs: one line, stable field order.

std::string ToString(const TernHeader& h);
std::string ToString(const DataHeader& h);
std::string ToString(const RdmaExtension& h);
std::string ToString(const AckHeader& h);
std::string ToString(const NackHeader& h);
std::string ToString(const TelemetryStack& t);
std::string ToString(const TernView& view);
const char* PacketTypeName(PacketType type);
const char* DataOpcodeName(DataOpcode opcode);
const char* NackReasonName(NackReason reason);

}  // namespace tern
