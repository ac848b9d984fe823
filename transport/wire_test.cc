#include "transport/wire.h"

#include <cstdint>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transport/random.h"

namespace tern {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------
// Packet builders: fill the wire structs field by field, as a sender would.

template <typename T>
void Append(Bytes& out, const T& header) {
  const auto* p = reinterpret_cast<const uint8_t*>(&header);
  out.insert(out.end(), p, p + sizeof(T));
}

template <typename T>
T& At(Bytes& packet, size_t offset) {
  return *reinterpret_cast<T*>(packet.data() + offset);
}

constexpr size_t kDataOffset = sizeof(TernHeader);
constexpr size_t kRdmaOffset = sizeof(TernHeader) + sizeof(DataHeader);

TernHeader MakeTernHeader(PacketType type, uint16_t flags, uint32_t psn) {
  TernHeader h{};
  h.version = kTernVersion;
  h.type = static_cast<uint8_t>(type);
  h.flags.set(flags);
  h.dst_qpn.set(0x101);
  h.src_qpn.set(0x100);
  h.psn.set(psn);
  return h;
}

// DATA with `payload_len` payload bytes 0, 1, 2, ...; not sealed.
Bytes MakeData(DataOpcode opcode, uint16_t flags, uint16_t payload_len) {
  Bytes packet;
  Append(packet, MakeTernHeader(PacketType::kData, flags, 7));
  DataHeader data{};
  data.opcode = static_cast<uint8_t>(opcode);
  data.payload_len.set(payload_len);
  data.msg_id.set(3);
  data.rsn.set(0);
  data.offset.set(0);
  data.msg_len.set(payload_len);
  data.imm.set(0);
  data.timestamp.set(123);
  Append(packet, data);
  if (OpcodeHasRdmaExtension(opcode)) {
    RdmaExtension rdma{};
    rdma.remote_va.set(0x1000);
    rdma.rkey.set(0x5);
    Append(packet, rdma);
  }
  for (uint16_t i = 0; i < payload_len; ++i) packet.push_back(static_cast<uint8_t>(i));
  return packet;
}

Bytes MakeAck() {
  Bytes packet;
  Append(packet, MakeTernHeader(PacketType::kAck, 0, 10));
  AckHeader ack{};
  ack.sack_base.set(10);
  ack.sack_bitmap[0].set(0b100111);  // PSNs 10, 11, 12 and 15
  ack.sack_bitmap[1].set(0);
  ack.window_end.set(1034);
  ack.ts_echo.set(5);
  ack.echo_entropy.set(49153);
  ack.ce_count.set(0);
  Append(packet, ack);
  return packet;
}

Bytes MakeNack(uint8_t reason) {
  Bytes packet;
  Append(packet, MakeTernHeader(PacketType::kNack, 0, 42));
  NackHeader nack{};
  nack.reason = reason;
  nack.echo_entropy.set(49200);
  nack.ts_echo.set(77);
  nack.retry_after_ns.set(0);
  Append(packet, nack);
  return packet;
}

Bytes Sealed(Bytes packet) {
  SealTernChecksum(packet);
  return packet;
}

// Seals, then decodes with the checksum verified: the result names the one
// defect the test put in, not a stale checksum.
DropReason SealAndDecode(Bytes packet) {
  SealTernChecksum(packet);
  return DecodeTern(packet, /*verify_checksum=*/true).error;
}

// Bit-at-a-time CRC32C straight from the definition, to check the fast paths.
// `register_in` is the raw (inverted) register; returns the raw register.
uint32_t ReferenceCrc32cFrom(uint32_t register_in, const uint8_t* data, size_t len) {
  uint32_t crc = register_in;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
  }
  return crc;
}

uint32_t ReferenceCrc32c(const uint8_t* data, size_t len) {
  return ~ReferenceCrc32cFrom(0xFFFFFFFF, data, len);
}

uint32_t ChecksumWithFieldZeroed(Bytes packet) {
  for (size_t i = 16; i < 20 && i < packet.size(); ++i) packet[i] = 0;
  return ReferenceCrc32c(packet.data(), packet.size());
}

// ---------------------------------------------------------------------------
// CRC32C.

TEST(Crc32cTest, KnownVector) {
  const char* digits = "123456789";
  EXPECT_EQ(Crc32c(0, reinterpret_cast<const uint8_t*>(digits), 9), 0xE3069283u);
}

TEST(Crc32cTest, EmptyInputReturnsCrcUnchanged) {
  const uint8_t byte = 0;
  EXPECT_EQ(Crc32c(0, &byte, 0), 0u);
  EXPECT_EQ(Crc32c(0xDEADBEEF, &byte, 0), 0xDEADBEEFu);
}

TEST(Crc32cTest, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  Bytes buffer(80);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 37 + 11);
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; start + len <= buffer.size(); ++len) {
      ASSERT_EQ(Crc32c(0, buffer.data() + start, len), ReferenceCrc32c(buffer.data() + start, len))
          << "start=" << start << " len=" << len;
    }
  }
}

// Long buffers are hashed as parallel chains joined at the end (wire.cc); every
// way of cutting a length into blocks, and a few jumbo sizes, must still agree.
TEST(Crc32cTest, LongBuffersMatchBitwiseReference) {
  Bytes buffer(9003);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 131 + i / 7);
  for (size_t start : {0, 3}) {
    for (size_t len = 0; len <= 1700; ++len) {
      ASSERT_EQ(Crc32c(0x1234567, buffer.data() + start, len),
                ~ReferenceCrc32cFrom(~0x1234567u, buffer.data() + start, len))
          << "start=" << start << " len=" << len;
    }
  }
  for (size_t len : {1535, 1536, 1537, 3071, 3072, 4156, 4608, 9000}) {
    ASSERT_EQ(Crc32c(0, buffer.data() + 3, len), ReferenceCrc32c(buffer.data() + 3, len))
        << "len=" << len;
  }
}

TEST(Crc32cTest, ChainingEqualsOneShotAtEverySplit) {
  Bytes buffer(70);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(255 - i * 3);
  const uint32_t whole = Crc32c(0, buffer.data(), buffer.size());
  for (size_t split = 0; split <= buffer.size(); ++split) {
    const uint32_t first = Crc32c(0, buffer.data(), split);
    EXPECT_EQ(Crc32c(first, buffer.data() + split, buffer.size() - split), whole)
        << "split=" << split;
  }
}

// ---------------------------------------------------------------------------
// Tern checksum.

TEST(TernChecksumTest, EqualsCrcOfPacketWithChecksumFieldZeroed) {
  const Bytes packet = MakeData(DataOpcode::kWrite, kFlagFirst, 40);
  EXPECT_EQ(TernChecksum(packet), ChecksumWithFieldZeroed(packet));
}

TEST(TernChecksumTest, IgnoresChecksumFieldContents) {
  Bytes packet = MakeData(DataOpcode::kSend, 0, 10);
  const uint32_t before = TernChecksum(packet);
  At<TernHeader>(packet, 0).checksum.set(0xA5A5A5A5);
  EXPECT_EQ(TernChecksum(packet), before);
}

TEST(TernChecksumTest, TwoSpansEqualContiguousAtEverySplit) {
  const Bytes packet = MakeData(DataOpcode::kWriteWithImm, kFlagLast, 33);
  const uint32_t contiguous = TernChecksum(packet);
  const std::span<const uint8_t> all(packet);
  for (size_t split = 0; split <= packet.size(); ++split) {
    EXPECT_EQ(TernChecksum(all.first(split), all.subspan(split)), contiguous) << "split=" << split;
  }
}

TEST(TernChecksumTest, ShorterThanHeaderReadsOnlyTheSpan) {
  const Bytes packet = MakeData(DataOpcode::kSend, 0, 0);
  for (size_t len = 0; len < sizeof(TernHeader); ++len) {
    // An exact-size heap copy, so that ASan sees any read past the end.
    const Bytes prefix(packet.begin(), packet.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(TernChecksum(prefix), ChecksumWithFieldZeroed(prefix)) << "len=" << len;
  }
}

// RFC 1071 section 3's example: the words 0001 f203 f4f5 f6f7 sum to 2ddf0,
// which folds to ddf2; the checksum field takes its complement.
TEST(InternetChecksumTest, MatchesRfc1071Example) {
  const uint8_t words[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(OnesComplementAdd(words), 0x2ddf0u);
  EXPECT_EQ(FoldChecksum(OnesComplementAdd(words)), 0x220d);
  // Split anywhere on a word boundary, the running sum gives the same.
  EXPECT_EQ(
      OnesComplementAdd(std::span(words).subspan(4), OnesComplementAdd(std::span(words).first(4))),
      0x2ddf0u);
  // Data followed by its own checksum sums to all ones: folds to 0.
  const uint8_t sealed[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x22, 0x0d};
  EXPECT_EQ(FoldChecksum(OnesComplementAdd(sealed)), 0);
}

TEST(InternetChecksumTest, AnOddLastByteIsPaddedWithZero) {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t padded[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(OnesComplementAdd(odd), OnesComplementAdd(padded));
  EXPECT_EQ(OnesComplementAdd(std::span<const uint8_t>()), 0u);
}

TEST(SealTernChecksumTest, WritesChecksumThatDecodeVerifies) {
  Bytes packet = MakeData(DataOpcode::kSend, 0, 8);
  SealTernChecksum(packet);
  EXPECT_EQ(At<TernHeader>(packet, 0).checksum.get(), ChecksumWithFieldZeroed(packet));
  EXPECT_TRUE(DecodeTern(packet, /*verify_checksum=*/true).ok());
}

TEST(SealTernChecksumTest, ShorterThanHeaderIsLeftUnchanged) {
  const Bytes original = MakeData(DataOpcode::kSend, 0, 0);
  Bytes prefix(original.begin(), original.begin() + 19);
  SealTernChecksum(prefix);
  EXPECT_EQ(prefix, Bytes(original.begin(), original.begin() + 19));
}

// ---------------------------------------------------------------------------
// DecodeTern: accepted packets.

TEST(DecodeTernTest, SealedWriteDecodesAndPrints) {
  const Bytes packet = Sealed(MakeData(DataOpcode::kWrite, kFlagFirst | kFlagLast, 16));
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/true);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(ToString(result.view),
            "TERN v1 DATA flags=FIRST|LAST qpn=0x101<-0x100 psn=7 csum=0xea6785ed"
            " | DATA WRITE len=16 msg=3 rsn=0 off=0/16 imm=0 ts=123"
            " | RDMA va=0x1000 rkey=0x5 payload=16");
}

TEST(DecodeTernTest, WriteViewPointsIntoBuffer) {
  const Bytes packet = Sealed(MakeData(DataOpcode::kWrite, 0, 16));
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/true);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.view.type(), PacketType::kData);
  EXPECT_EQ(result.view.opcode(), DataOpcode::kWrite);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(result.view.tern), packet.data());
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(result.view.data), packet.data() + kDataOffset);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(result.view.rdma), packet.data() + kRdmaOffset);
  EXPECT_EQ(result.view.ack, nullptr);
  EXPECT_EQ(result.view.nack, nullptr);
  EXPECT_EQ(result.view.payload.data(), packet.data() + DataHeaderBytes(DataOpcode::kWrite));
  EXPECT_EQ(result.view.payload.size(), 16u);
}

TEST(DecodeTernTest, SendHasNoRdmaExtension) {
  const Bytes packet = Sealed(MakeData(DataOpcode::kSend, 0, 5));
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/true);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.view.rdma, nullptr);
  EXPECT_EQ(result.view.payload.data(), packet.data() + kRdmaOffset);
  EXPECT_EQ(result.view.payload.size(), 5u);
}

TEST(DecodeTernTest, ReadRequestWithoutPayloadAccepted) {
  Bytes packet = MakeData(DataOpcode::kReadRequest, 0, 0);
  At<DataHeader>(packet, kDataOffset).msg_len.set(65536);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kNone);
}

TEST(DecodeTernTest, AckDecodesAndPrintsSackRanges) {
  const Bytes packet = MakeAck();
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/false);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(ToString(result.view),
            "TERN v1 ACK flags=0 qpn=0x101<-0x100 psn=10 csum=0x00000000"
            " | ACK sack_base=10 sack=[10-12,15] wnd_end=1034 ts_echo=5 entropy=49153 ce=0"
            " payload=0");
}

TEST(DecodeTernTest, NackDecodesAndPrints) {
  const Bytes packet = MakeNack(static_cast<uint8_t>(NackReason::kTrimmed));
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/false);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(ToString(result.view),
            "TERN v1 NACK flags=0 qpn=0x101<-0x100 psn=42 csum=0x00000000"
            " | NACK TRIMMED entropy=49200 ts_echo=77 retry_after_ns=0 payload=0");
}

TEST(DecodeTernTest, TrimmedDataWithEmptyPayloadAccepted) {
  Bytes packet = MakeData(DataOpcode::kWrite, kFlagTrimmed, 16);
  packet.resize(DataHeaderBytes(DataOpcode::kWrite));
  SealTernChecksum(packet);
  const TernDecodeResult result = DecodeTern(packet, /*verify_checksum=*/true);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_TRUE(result.view.payload.empty());
  EXPECT_EQ(result.view.data->payload_len.get(), 16u);  // as sent, before the trim
}

TEST(DecodeTernTest, UnverifiedChecksumIsNotChecked) {
  Bytes packet = Sealed(MakeData(DataOpcode::kSend, 0, 4));
  At<TernHeader>(packet, 0).checksum.set(0x12345678);
  EXPECT_TRUE(DecodeTern(packet, /*verify_checksum=*/false).ok());
  EXPECT_EQ(DecodeTern(packet, /*verify_checksum=*/true).error, DropReason::kBadChecksum);
}

// ---------------------------------------------------------------------------
// DecodeTern: rejections, one per branch.

// Every proper prefix of a packet's headers is kTruncated, read from an
// exact-size buffer so that ASan catches any read past the end.
void ExpectTruncatedBelow(const Bytes& packet, size_t header_bytes) {
  for (size_t len = 0; len < header_bytes; ++len) {
    const Bytes prefix(packet.begin(), packet.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(DecodeTern(prefix, /*verify_checksum=*/true).error, DropReason::kTruncated)
        << "len=" << len;
  }
}

TEST(DecodeTernTest, WriteTruncatedAtEveryHeaderLengthRejected) {
  ExpectTruncatedBelow(Sealed(MakeData(DataOpcode::kWrite, 0, 8)),
                       DataHeaderBytes(DataOpcode::kWrite));
}

TEST(DecodeTernTest, SendTruncatedAtEveryHeaderLengthRejected) {
  ExpectTruncatedBelow(Sealed(MakeData(DataOpcode::kSend, 0, 8)),
                       DataHeaderBytes(DataOpcode::kSend));
}

TEST(DecodeTernTest, AckTruncatedAtEveryHeaderLengthRejected) {
  ExpectTruncatedBelow(Sealed(MakeAck()), sizeof(TernHeader) + sizeof(AckHeader));
}

TEST(DecodeTernTest, NackTruncatedAtEveryHeaderLengthRejected) {
  ExpectTruncatedBelow(Sealed(MakeNack(static_cast<uint8_t>(NackReason::kTrimmed))),
                       sizeof(TernHeader) + sizeof(NackHeader));
}

TEST(DecodeTernTest, BadVersionRejected) {
  for (uint8_t version : {0, 2, 255}) {
    Bytes packet = MakeData(DataOpcode::kSend, 0, 0);
    At<TernHeader>(packet, 0).version = version;
    EXPECT_EQ(SealAndDecode(packet), DropReason::kBadVersion) << "version=" << int{version};
  }
}

TEST(DecodeTernTest, UnknownTypeRejected) {
  for (uint8_t type : {0, 4, 255}) {
    Bytes packet = MakeData(DataOpcode::kSend, 0, 0);
    At<TernHeader>(packet, 0).type = type;
    EXPECT_EQ(SealAndDecode(packet), DropReason::kUnknownType) << "type=" << int{type};
  }
}

TEST(DecodeTernTest, EachUnknownFlagBitRejected) {
  for (int bit = 9; bit < 16; ++bit) {
    Bytes packet = MakeData(DataOpcode::kSend, 0, 0);
    At<TernHeader>(packet, 0).flags.set(static_cast<uint16_t>(1u << bit));
    EXPECT_EQ(SealAndDecode(packet), DropReason::kBadFlags) << "bit=" << bit;
  }
}

// --- In-band telemetry and CNP ---------------------------------------------------

// DATA carrying an empty telemetry stack between its headers and payload.
Bytes MakeDataWithTelemetry(DataOpcode opcode, uint16_t payload_len) {
  Bytes packet = MakeData(opcode, kFlagTelemetry, 0);
  TelemetryStack stack{};
  Append(packet, stack);
  for (uint16_t i = 0; i < payload_len; ++i) packet.push_back(static_cast<uint8_t>(i));
  At<DataHeader>(packet, kDataOffset).payload_len.set(payload_len);
  return packet;
}

TEST(TelemetryWireTest, DataStackSitsBetweenHeadersAndPayload) {
  const Bytes packet = Sealed(MakeDataWithTelemetry(DataOpcode::kWrite, 16));
  const TernDecodeResult r = DecodeTern(packet, true);
  ASSERT_TRUE(r.ok()) << DropReasonName(r.error);
  ASSERT_NE(r.view.telemetry, nullptr);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(r.view.telemetry),
            packet.data() + DataHeaderBytes(DataOpcode::kWrite));
  EXPECT_EQ(r.view.payload.size(), 16u);
  EXPECT_EQ(r.view.payload[1], 1);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kWrite, kFlagTelemetry),
            DataHeaderBytes(DataOpcode::kWrite) + sizeof(TelemetryStack));
}

TEST(TelemetryWireTest, SwitchWritesDoNotBreakTheChecksumButPayloadFlipsDo) {
  Bytes packet = Sealed(MakeDataWithTelemetry(DataOpcode::kSend, 32));
  auto& stack = At<TelemetryStack>(packet, DataHeaderBytes(DataOpcode::kSend));
  stack.hops = 2;
  stack.record[0].queue_bytes.set(12345);
  stack.record[1].tx_bytes.set(0xFFFFFFFF);
  EXPECT_TRUE(DecodeTern(packet, true).ok());
  packet.back() ^= 1;
  EXPECT_EQ(DecodeTern(packet, true).error, DropReason::kBadChecksum);
}

TEST(TelemetryWireTest, MoreHopsThanRecordsRejected) {
  Bytes packet = MakeDataWithTelemetry(DataOpcode::kSend, 0);
  At<TelemetryStack>(packet, DataHeaderBytes(DataOpcode::kSend)).hops = kTelemetryHops + 1;
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(TelemetryWireTest, TruncatedStackRejected) {
  Bytes packet = MakeDataWithTelemetry(DataOpcode::kSend, 0);
  packet.resize(packet.size() - 1);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kTruncated);
}

TEST(TelemetryWireTest, AckEchoesAStackAndIsChecksummedWholly) {
  Bytes packet = MakeAck();
  At<TernHeader>(packet, 0).flags.set(kFlagTelemetry | kFlagCnp);
  TelemetryStack stack{};
  stack.hops = 1;
  stack.record[0].rate_mbps.set(400000);
  Append(packet, stack);
  SealTernChecksum(packet);
  const TernDecodeResult r = DecodeTern(packet, true);
  ASSERT_TRUE(r.ok()) << DropReasonName(r.error);
  ASSERT_NE(r.view.telemetry, nullptr);
  EXPECT_EQ(r.view.telemetry->record[0].rate_mbps.get(), 400000u);
  // Unlike a DATA packet's, an ACK's stack no longer changes: it is covered.
  At<TelemetryStack>(packet, sizeof(TernHeader) + sizeof(AckHeader)).record[0].queue_bytes.set(1);
  EXPECT_EQ(DecodeTern(packet, true).error, DropReason::kBadChecksum);
}

TEST(TelemetryWireTest, AckWithoutTheStackItsFlagPromisesRejected) {
  Bytes packet = MakeAck();
  At<TernHeader>(packet, 0).flags.set(kFlagTelemetry);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kTruncated);
}

TEST(TelemetryWireTest, TelemetryOnNackRejected) {
  Bytes packet = MakeNack(static_cast<uint8_t>(NackReason::kTrimmed));
  At<TernHeader>(packet, 0).flags.set(kFlagTelemetry);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadFlags);
}

// --- Coalesced control packets ----------------------------------------------

Bytes Coalesced(Bytes packet) {
  At<TernHeader>(packet, 0).flags.set(
      static_cast<uint16_t>(At<TernHeader>(packet, 0).flags.get() | kFlagCoalesced));
  return Sealed(std::move(packet));
}

Bytes Concatenated(std::initializer_list<Bytes> packets) {
  Bytes datagram;
  for (const Bytes& p : packets) datagram.insert(datagram.end(), p.begin(), p.end());
  return datagram;
}

TEST(CoalescedWireTest, FirstTernPacketSplitsAtTheEndOfACoalescedPacketsHeaders) {
  const Bytes ack = Coalesced(MakeAck());
  const Bytes nack = Coalesced(MakeNack(static_cast<uint8_t>(NackReason::kTrimmed)));
  const Bytes last = Sealed(MakeAck());
  const Bytes datagram = Concatenated({ack, nack, last});
  std::span<const uint8_t> rest = datagram;
  std::vector<DropReason> verdicts;
  std::vector<size_t> lengths;
  while (!rest.empty()) {
    const std::span<const uint8_t> packet = FirstTernPacket(rest);
    lengths.push_back(packet.size());
    verdicts.push_back(DecodeTern(packet, true).error);
    rest = rest.subspan(packet.size());
  }
  EXPECT_EQ(lengths, (std::vector<size_t>{52, 32, 52}));
  EXPECT_EQ(verdicts, (std::vector<DropReason>(3, DropReason::kNone)));
}

TEST(CoalescedWireTest, AnAckEchoingTelemetryIsSplitAfterItsStack) {
  Bytes ack = MakeAck();
  At<TernHeader>(ack, 0).flags.set(kFlagTelemetry);
  Append(ack, TelemetryStack{});
  ack = Coalesced(std::move(ack));
  const Bytes datagram = Concatenated({ack, Sealed(MakeAck())});
  EXPECT_EQ(FirstTernPacket(datagram).size(),
            sizeof(TernHeader) + sizeof(AckHeader) + sizeof(TelemetryStack));
}

TEST(CoalescedWireTest, WithoutTheFlagTheWholeDatagramIsOnePacket) {
  const Bytes datagram = Concatenated({Sealed(MakeAck()), Sealed(MakeAck())});
  EXPECT_EQ(FirstTernPacket(datagram).size(), datagram.size());
  EXPECT_EQ(DecodeTern(datagram, true).error, DropReason::kBadChecksum)
      << "trailing bytes: bad length, and the checksum over them fails";
  EXPECT_EQ(DecodeTern(datagram, false).error, DropReason::kBadLength);
  EXPECT_TRUE(FirstTernPacket({}).empty());
  const Bytes stub(10, 0);
  EXPECT_EQ(FirstTernPacket(stub).size(), 10u) << "shorter than a header: DecodeTern's to refuse";
}

TEST(CoalescedWireTest, ACoalescedPacketCutShortIsTruncated) {
  const Bytes ack = Coalesced(MakeAck());
  const Bytes cut(ack.begin(), ack.begin() + 40);
  EXPECT_EQ(FirstTernPacket(cut).size(), 40u);
  EXPECT_EQ(DecodeTern(FirstTernPacket(cut), true).error, DropReason::kTruncated);
  // The last one may carry the flag with nothing after it.
  EXPECT_EQ(DecodeTern(FirstTernPacket(ack), true).error, DropReason::kNone);
}

TEST(CoalescedWireTest, OnlyControlPacketsMayBeCoalesced) {
  EXPECT_EQ(SealAndDecode(MakeData(DataOpcode::kSend, kFlagCoalesced, 0)), DropReason::kBadFlags);
  // A DATA packet's payload runs to the end: the flag does not split it.
  const Bytes data = Sealed(MakeData(DataOpcode::kWrite, kFlagCoalesced, 16));
  const Bytes datagram = Concatenated({data, Sealed(MakeAck())});
  EXPECT_EQ(FirstTernPacket(datagram).size(), datagram.size());
}

TEST(CnpWireTest, CnpIsAnAcksFlagOnly) {
  Bytes ack = MakeAck();
  At<TernHeader>(ack, 0).flags.set(kFlagCnp);
  EXPECT_EQ(SealAndDecode(ack), DropReason::kNone);
  EXPECT_EQ(SealAndDecode(MakeData(DataOpcode::kSend, kFlagCnp, 0)), DropReason::kBadFlags);
  Bytes nack = MakeNack(static_cast<uint8_t>(NackReason::kTrimmed));
  At<TernHeader>(nack, 0).flags.set(kFlagCnp);
  EXPECT_EQ(SealAndDecode(nack), DropReason::kBadFlags);
}

TEST(DecodeTernTest, TrimmedFlagOnAckRejected) {
  Bytes packet = MakeAck();
  At<TernHeader>(packet, 0).flags.set(kFlagTrimmed);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadFlags);
}

TEST(DecodeTernTest, TrimmedFlagOnNackRejected) {
  Bytes packet = MakeNack(static_cast<uint8_t>(NackReason::kTrimmed));
  At<TernHeader>(packet, 0).flags.set(kFlagTrimmed);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadFlags);
}

TEST(DecodeTernTest, MessageBoundaryFlagsOnAckRejected) {
  for (uint16_t flag : {kFlagFirst, kFlagLast}) {
    Bytes packet = MakeAck();
    At<TernHeader>(packet, 0).flags.set(flag);
    EXPECT_EQ(SealAndDecode(packet), DropReason::kBadFlags) << "flag=" << flag;
  }
}

TEST(DecodeTernTest, AckRequestAndEcnEchoOnAckAccepted) {
  Bytes packet = MakeAck();
  At<TernHeader>(packet, 0).flags.set(kFlagAckRequest | kFlagEcnEcho | kFlagRetransmit);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kNone);
}

TEST(DecodeTernTest, UnknownOpcodeRejected) {
  for (uint8_t opcode : {0, 7, 255}) {
    Bytes packet = MakeData(DataOpcode::kSend, 0, 0);
    At<DataHeader>(packet, kDataOffset).opcode = opcode;
    EXPECT_EQ(SealAndDecode(packet), DropReason::kUnknownOpcode) << "opcode=" << int{opcode};
  }
}

TEST(DecodeTernTest, PayloadShorterThanPayloadLenRejected) {
  Bytes packet = MakeData(DataOpcode::kSend, 0, 100);
  packet.pop_back();
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, PayloadLongerThanPayloadLenRejected) {
  Bytes packet = MakeData(DataOpcode::kSend, 0, 100);
  packet.push_back(0);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, TrimmedDataWithPayloadBytesLeftRejected) {
  for (size_t left : {size_t{1}, size_t{16}}) {
    Bytes packet = MakeData(DataOpcode::kWrite, kFlagTrimmed, 16);
    packet.resize(DataHeaderBytes(DataOpcode::kWrite) + left);
    EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength) << "left=" << left;
  }
}

TEST(DecodeTernTest, ReadRequestWithPayloadLenRejected) {
  Bytes packet = MakeData(DataOpcode::kReadRequest, 0, 8);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, ReadRequestWithTrailingBytesRejected) {
  Bytes packet = MakeData(DataOpcode::kReadRequest, 0, 0);
  packet.push_back(0);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, AckWithTrailingBytesRejected) {
  Bytes packet = MakeAck();
  packet.push_back(0);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, NackWithTrailingBytesRejected) {
  Bytes packet = MakeNack(static_cast<uint8_t>(NackReason::kTrimmed));
  packet.push_back(0);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadLength);
}

TEST(DecodeTernTest, NackWithUnknownReasonRejectedAsUnknownOpcode) {
  for (uint8_t reason : {0, 5, 255}) {
    EXPECT_EQ(SealAndDecode(MakeNack(reason)), DropReason::kUnknownOpcode)
        << "reason=" << int{reason};
  }
}

TEST(DecodeTernTest, DamagedHeaderFieldIsCountedAsBadChecksumWhenVerifying) {
  Bytes packet = Sealed(MakeData(DataOpcode::kWrite, kFlagFirst, 24));
  packet[0] ^= 0x40;  // the version byte, as a bit flip in flight would
  EXPECT_EQ(DecodeTern(packet, /*verify_checksum=*/true).error, DropReason::kBadChecksum);
  EXPECT_EQ(DecodeTern(packet, /*verify_checksum=*/false).error, DropReason::kBadVersion);
  EXPECT_EQ(SealAndDecode(packet), DropReason::kBadVersion) << "a sealed wrong version is a peer's";
}

TEST(DecodeTernTest, EverySingleByteCorruptionRejected) {
  const Bytes packet = Sealed(MakeData(DataOpcode::kWrite, kFlagFirst, 24));
  int caught_by_checksum_only = 0;
  for (size_t i = 0; i < packet.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      Bytes corrupt = packet;
      corrupt[i] ^= mask;
      EXPECT_FALSE(DecodeTern(corrupt, /*verify_checksum=*/true).ok())
          << "byte=" << i << " mask=" << int{mask};
      // Whatever the structural checks let through, the checksum must catch.
      if (DecodeTern(corrupt, /*verify_checksum=*/false).ok()) {
        EXPECT_EQ(DecodeTern(corrupt, /*verify_checksum=*/true).error, DropReason::kBadChecksum)
            << "byte=" << i << " mask=" << int{mask};
        ++caught_by_checksum_only;
      }
    }
  }
  // Most bytes (QPNs, PSN, payload...) have no structural check at all.
  EXPECT_GT(caught_by_checksum_only, static_cast<int>(packet.size()));
}

// ---------------------------------------------------------------------------
// Sizes and names.

TEST(DataHeaderBytesTest, RdmaExtensionOnlyForWriteAndReadRequest) {
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kSend), 48u);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kSendWithImm), 48u);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kWrite), 60u);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kWriteWithImm), 60u);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kReadRequest), 60u);
  EXPECT_EQ(DataHeaderBytes(DataOpcode::kReadResponse), 48u);
}

TEST(OpcodeIsValidTest, OnlyDefinedOpcodesValid) {
  for (int opcode = 0; opcode < 256; ++opcode) {
    EXPECT_EQ(OpcodeIsValid(static_cast<uint8_t>(opcode)), opcode >= 1 && opcode <= 6)
        << "opcode=" << opcode;
  }
}

TEST(WireNamesTest, OutOfRangeValuesAreUnknown) {
  EXPECT_STREQ(PacketTypeName(static_cast<PacketType>(0)), "unknown");
  EXPECT_STREQ(DataOpcodeName(static_cast<DataOpcode>(200)), "unknown");
  EXPECT_STREQ(NackReasonName(static_cast<NackReason>(9)), "unknown");
  EXPECT_STREQ(DropReasonName(DropReason::kCount), "unknown");
  EXPECT_STREQ(DropReasonName(static_cast<DropReason>(250)), "unknown");
}

TEST(WireNamesTest, KnownValuesHaveTheirNames) {
  EXPECT_STREQ(PacketTypeName(PacketType::kNack), "NACK");
  EXPECT_STREQ(DataOpcodeName(DataOpcode::kSendWithImm), "SEND_WITH_IMM");
  EXPECT_STREQ(NackReasonName(NackReason::kNoReceiveBuffer), "NO_RECEIVE_BUFFER");
  EXPECT_STREQ(DropReasonName(DropReason::kBadChecksum), "bad_checksum");
}

TEST(WireNamesTest, DropReasonNamesAreDistinctSnakeCase) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(DropReason::kCount); ++i) {
    const std::string name = DropReasonName(static_cast<DropReason>(i));
    EXPECT_NE(name, "unknown") << "reason=" << i;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(DropReason::kCount));
}

// ---------------------------------------------------------------------------
// Printable forms.

TEST(WireToStringTest, TernHeaderWithUnknownTypeAndFlagsPrintsNumbers) {
  TernHeader h = MakeTernHeader(static_cast<PacketType>(9), 0x0102, 1);
  EXPECT_EQ(ToString(h),
            "TERN v1 unknown(9) flags=ACK_REQUEST|0x100 qpn=0x101<-0x100 psn=1 csum=0x00000000");
}

TEST(WireToStringTest, AckSackRangesWrapAroundPsnSpace) {
  AckHeader ack{};
  ack.sack_base.set(0xFFFFFFFE);
  ack.sack_bitmap[0].set(0b1111);             // 2^32-2 .. 1
  ack.sack_bitmap[1].set(uint64_t{1} << 63);  // bit 127: base + 127
  EXPECT_EQ(ToString(ack),
            "ACK sack_base=4294967294 sack=[4294967294-1,125] wnd_end=0 ts_echo=0 entropy=0 ce=0");
}

TEST(WireToStringTest, AckRangeSpanningBitmapWords) {
  AckHeader ack{};
  ack.sack_base.set(100);
  ack.sack_bitmap[0].set(uint64_t{1} << 63);  // PSN 163
  ack.sack_bitmap[1].set(1);                  // PSN 164
  EXPECT_EQ(ToString(ack), "ACK sack_base=100 sack=[163-164] wnd_end=0 ts_echo=0 entropy=0 ce=0");
}

TEST(WireToStringTest, EmptySackPrintsEmptyList) {
  AckHeader ack{};
  EXPECT_EQ(ToString(ack), "ACK sack_base=0 sack=[] wnd_end=0 ts_echo=0 entropy=0 ce=0");
}

TEST(WireToStringTest, NackWithUnknownReasonPrintsNumber) {
  NackHeader nack{};
  nack.reason = 7;
  nack.retry_after_ns.set(2500);
  EXPECT_EQ(ToString(nack), "NACK unknown(7) entropy=0 ts_echo=0 retry_after_ns=2500");
}

TEST(WireToStringTest, EmptyViewDoesNotDereference) {
  EXPECT_EQ(ToString(TernView{}), "(no packet)");
}

// ---------------------------------------------------------------------------
// Addresses.

TEST(IpAddressTest, V4RoundTripsAndPrintsDottedQuad) {
  const IpAddress ip = IpAddress::V4(0x0A000102);
  EXPECT_FALSE(ip.is_v6);
  EXPECT_EQ(ip.v4(), 0x0A000102u);
  EXPECT_EQ(ip.bytes[0], 10);
  EXPECT_EQ(ip.ToString(), "10.0.1.2");
  EXPECT_EQ(IpAddress::V4(0xFFFFFFFF).ToString(), "255.255.255.255");
}

IpAddress V6FromGroups(std::array<uint16_t, 8> groups) {
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 8; ++i) {
    bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
    bytes[2 * i + 1] = static_cast<uint8_t>(groups[i]);
  }
  return IpAddress::V6(bytes);
}

TEST(IpAddressTest, V6PrintsRfc5952Form) {
  EXPECT_EQ(V6FromGroups({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}).ToString(), "2001:db8::1");
  EXPECT_EQ(V6FromGroups({0, 0, 0, 0, 0, 0, 0, 0}).ToString(), "::");
  EXPECT_EQ(V6FromGroups({0, 0, 0, 0, 0, 0, 0, 1}).ToString(), "::1");
  EXPECT_EQ(V6FromGroups({1, 0, 0, 0, 0, 0, 0, 0}).ToString(), "1::");
  EXPECT_EQ(V6FromGroups({1, 0, 2, 3, 4, 5, 6, 7}).ToString(), "1:0:2:3:4:5:6:7");
  EXPECT_EQ(V6FromGroups({1, 0, 0, 2, 0, 0, 3, 4}).ToString(), "1::2:0:0:3:4");
  EXPECT_EQ(V6FromGroups({0xfe80, 0, 0, 0, 1, 0, 0, 2}).ToString(), "fe80::1:0:0:2");
  EXPECT_EQ(V6FromGroups({1, 0, 0, 2, 0, 0, 0, 3}).ToString(), "1:0:0:2::3");
}

TEST(MacAddressTest, PrintsColonSeparatedLowerHex) {
  const MacAddress mac{{0x02, 0x00, 0x00, 0xab, 0x0c, 0x01}};
  EXPECT_EQ(mac.ToString(), "02:00:00:ab:0c:01");
}

TEST(IpAddressTest, ParsesBothFamiliesAndRejectsTheRest) {
  ASSERT_TRUE(IpAddress::Parse("10.1.2.3").has_value());
  EXPECT_EQ(*IpAddress::Parse("10.1.2.3"), IpAddress::V4(0x0A010203));
  const std::optional<IpAddress> v6 = IpAddress::Parse("fd00::1");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->is_v6);
  EXPECT_EQ(v6->ToString(), "fd00::1");
  for (const char* bad : {"", "10.1.2", "10.1.2.256", "host", "fd00:::1", "10.1.2.3 "}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
}

TEST(MacAddressTest, ParsesColonOrDashHexAndRejectsTheRest) {
  const std::optional<MacAddress> mac = MacAddress::Parse("02:AB:cd:00:10:ff");
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(mac->ToString(), "02:ab:cd:00:10:ff");
  EXPECT_EQ(*MacAddress::Parse("02-ab-cd-00-10-ff"), *mac);
  EXPECT_FALSE(mac->IsZero());
  EXPECT_TRUE(MacAddress{}.IsZero());
  for (const char* bad : {"", "02:ab:cd:00:10", "02:ab:cd:00:10:fg",
                          "02:ab:cd:00:10:ff:", "02.ab.cd.00.10.ff", "2:ab:cd:00:10:ff0"}) {
    EXPECT_FALSE(MacAddress::Parse(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------
// Frames.

Endpoint V4Endpoint(uint8_t host) {
  Endpoint e;
  e.mac.bytes = {0x02, 0, 0, 0, 0, host};
  e.ip = IpAddress::V4(0x0A000000u | host);
  return e;
}

Endpoint V6Endpoint(uint8_t host) {
  Endpoint e;
  e.mac.bytes = {0x02, 0, 0, 0, 0, host};
  e.ip = V6FromGroups({0xfd00, 0, 0, 0, 0, 0, 0, host});
  return e;
}

constexpr uint16_t kEntropy = 0xC123;

// Outer headers plus `tern`, padded to the Ethernet minimum of 60 bytes.
Bytes MakeFrame(const Endpoint& src, const Endpoint& dst, const Bytes& tern) {
  Bytes frame(kMaxOuterHeaderBytes);
  frame.resize(EncodeFrameHeaders(frame.data(), src, dst, kEntropy, tern.size()));
  frame.insert(frame.end(), tern.begin(), tern.end());
  if (frame.size() < 60) frame.resize(60, 0);
  return frame;
}

constexpr size_t kIpv4 = sizeof(EthernetHeader);
constexpr size_t kIpv4Udp = kIpv4 + sizeof(Ipv4Header);
constexpr size_t kIpv6Udp = kIpv4 + sizeof(Ipv6Header);

// Recomputes the IPv4 header checksum after a test edits the header, so the
// decoder reaches the check under test.
void ResealIpv4(Bytes& frame) {
  auto& ip = At<Ipv4Header>(frame, kIpv4);
  ip.header_checksum.set(0);
  uint32_t sum = 0;
  for (size_t i = 0; i < sizeof(Ipv4Header); i += 2) {
    sum += static_cast<uint32_t>(frame[kIpv4 + i] << 8 | frame[kIpv4 + i + 1]);
  }
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  ip.header_checksum.set(static_cast<uint16_t>(~sum));
}

bool Ipv4ChecksumValid(const Bytes& frame) {
  Bytes copy = frame;
  ResealIpv4(copy);
  return copy == frame;
}

TEST(EncodeFrameHeadersTest, Ipv4WritesExpectedBytes) {
  uint8_t out[kMaxOuterHeaderBytes];
  ASSERT_EQ(EncodeFrameHeaders(out, V4Endpoint(1), V4Endpoint(2), kEntropy, 52), 42u);
  const uint8_t expected[42] = {
      0x02, 0,    0,    0,    0,    0x02, 0x02, 0,    0,    0,    0, 0x01, 0x08, 0x00,  // Ethernet
      0x45, 0x02, 0x00, 0x50, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,                       // IPv4 ...
      0x26, 0x99,                                      // header checksum
      10,   0,    0,    1,    10,   0,    0,    2,     // addresses
      0xc1, 0x23, 0xc1, 0x46, 0x00, 0x3c, 0x00, 0x00,  // UDP
  };
  EXPECT_EQ(Bytes(out, out + 42), Bytes(expected, expected + 42));
}

TEST(EncodeFrameHeadersTest, Ipv6WritesExpectedBytes) {
  uint8_t out[kMaxOuterHeaderBytes];
  ASSERT_EQ(EncodeFrameHeaders(out, V6Endpoint(1), V6Endpoint(2), kEntropy, 52), 62u);
  const uint8_t expected[62] = {
      0x02, 0,    0,    0,    0,    0x02, 0x02, 0,    0, 0, 0, 0x01, 0x86, 0xdd,  // Ethernet
      0x60, 0x20, 0xc1, 0x23, 0x00, 0x3c, 0x11, 0x40,  // IPv6: ECT(0), flow = entropy, len, UDP, 64
      0xfd, 0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0,    0,    0,
      0,    0x01,  // source
      0xfd, 0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0,    0,    0,
      0,    0x02,                                      // destination
      0xc1, 0x23, 0xc1, 0x46, 0x00, 0x3c, 0x00, 0x00,  // UDP, checksum by offload
  };
  EXPECT_EQ(Bytes(out, out + 62), Bytes(expected, expected + 62));
}

// DSCP 26 (traffic class 104): the ECN bits stay ECT(0), marking keeps the
// DSCP, and the IPv4 header checksum covers the TOS.
TEST(EncodeFrameHeadersTest, TrafficClassCarriesTheDscp) {
  for (const bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    const Endpoint src = v6 ? V6Endpoint(1) : V4Endpoint(1);
    const Endpoint dst = v6 ? V6Endpoint(2) : V4Endpoint(2);
    Bytes frame(kMaxOuterHeaderBytes);
    frame.resize(EncodeFrameHeaders(frame.data(), src, dst, kEntropy, 52, 104));
    frame.resize(frame.size() + 52, 0);
    const auto traffic_class = [&] {
      return v6 ? static_cast<uint8_t>(At<Ipv6Header>(frame, kIpv4).version_class_flow.get() >> 20)
                : At<Ipv4Header>(frame, kIpv4).tos;
    };
    EXPECT_EQ(traffic_class(), 104 | 0x02);
    if (!v6) {
      EXPECT_TRUE(Ipv4ChecksumValid(frame));
    }
    FrameDecodeResult decoded = DecodeFrame(frame, dst.udp_port);
    ASSERT_EQ(decoded.error, DropReason::kNone);
    EXPECT_EQ(decoded.frame.ecn, Ecn::kEct0);
    MarkCongestionExperienced(frame, decoded.frame.ecn_offset);
    EXPECT_EQ(traffic_class(), 104 | 0x03);
    if (!v6) {
      EXPECT_TRUE(Ipv4ChecksumValid(frame));
    }
    // ECN bits given with the class are Tern's to set, not the caller's.
    frame.resize(kMaxOuterHeaderBytes);
    EncodeFrameHeaders(frame.data(), src, dst, kEntropy, 52, 104 | 0x01);
    EXPECT_EQ(traffic_class(), 104 | 0x02);
  }
}

TEST(EncodeFrameHeadersTest, MixedAddressFamiliesWriteNothing) {
  uint8_t out[kMaxOuterHeaderBytes] = {};
  EXPECT_EQ(EncodeFrameHeaders(out, V4Endpoint(1), V6Endpoint(2), kEntropy, 52), 0u);
  EXPECT_EQ(out[0], 0);
}

TEST(EncodeFrameHeadersTest, LengthBeyondIpLimitWritesNothing) {
  uint8_t out[kMaxOuterHeaderBytes];
  EXPECT_EQ(EncodeFrameHeaders(out, V4Endpoint(1), V4Endpoint(2), kEntropy, 65535 - 28), 42u);
  EXPECT_EQ(EncodeFrameHeaders(out, V4Endpoint(1), V4Endpoint(2), kEntropy, 65535 - 27), 0u);
  EXPECT_EQ(EncodeFrameHeaders(out, V6Endpoint(1), V6Endpoint(2), kEntropy, 65535 - 8), 62u);
  EXPECT_EQ(EncodeFrameHeaders(out, V6Endpoint(1), V6Endpoint(2), kEntropy, 65535 - 7), 0u);
}

void ExpectRoundTrip(const Endpoint& src, const Endpoint& dst, size_t header_bytes) {
  const Bytes tern = Sealed(MakeAck());
  const Bytes frame = MakeFrame(src, dst, tern);
  const FrameDecodeResult result = DecodeFrame(frame, kDefaultUdpPort);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(result.frame.src.mac, src.mac);
  EXPECT_EQ(result.frame.src.ip, src.ip);
  EXPECT_EQ(result.frame.dst, dst);
  // The sender's own Tern port is not on the wire; both hold the destination.
  EXPECT_EQ(result.frame.src.udp_port, kDefaultUdpPort);
  EXPECT_EQ(result.frame.entropy, kEntropy);
  EXPECT_EQ(result.frame.ecn, Ecn::kEct0);
  EXPECT_EQ(result.frame.ecn_offset, 15u);
  EXPECT_EQ(result.frame.tern.data(), frame.data() + header_bytes);
  EXPECT_EQ(Bytes(result.frame.tern.begin(), result.frame.tern.end()), tern);
}

TEST(DecodeFrameTest, Ipv4RoundTrip) { ExpectRoundTrip(V4Endpoint(1), V4Endpoint(2), 42); }

TEST(DecodeFrameTest, Ipv6RoundTrip) { ExpectRoundTrip(V6Endpoint(1), V6Endpoint(2), 62); }

TEST(DecodeFrameTest, EthernetPaddingIgnored) {
  const Bytes tern(10, 0xAB);
  const Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), tern);
  ASSERT_EQ(frame.size(), 60u);  // 52 bytes of packet, 8 of padding
  const FrameDecodeResult result = DecodeFrame(frame, kDefaultUdpPort);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(result.frame.tern.size(), 10u);
}

TEST(DecodeFrameTest, VlanTaggedFrameIsNotTern) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<EthernetHeader>(frame, 0).ether_type.set(0x8100);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kNotTern);
}

TEST(DecodeFrameTest, ArpIsNotTern) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<EthernetHeader>(frame, 0).ether_type.set(kEtherTypeArp);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kNotTern);
}

TEST(DecodeFrameTest, Ipv4NonUdpIsNotTern) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<Ipv4Header>(frame, kIpv4).protocol = 6;  // TCP
  ResealIpv4(frame);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kNotTern);
}

TEST(DecodeFrameTest, Ipv6NonUdpIsNotTern) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  At<Ipv6Header>(frame, kIpv4).next_header = 0;  // hop-by-hop extension header
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kNotTern);
}

TEST(DecodeFrameTest, OtherUdpPortIsNotTern) {
  const Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort + 1).error, DropReason::kNotTern);
}

TEST(WorkerUdpPortTest, WorkersTakeTheRangeAboveTheDefaultPort) {
  EXPECT_EQ(WorkerUdpPort(0), kDefaultUdpPort);
  EXPECT_EQ(WorkerUdpPort(3), kDefaultUdpPort + 3);
  EXPECT_TRUE(IsWorkerUdpPort(kDefaultUdpPort));
  EXPECT_TRUE(IsWorkerUdpPort(WorkerUdpPort(kTernUdpPortCount - 1)));
  EXPECT_FALSE(IsWorkerUdpPort(WorkerUdpPort(kTernUdpPortCount)));
  EXPECT_FALSE(IsWorkerUdpPort(kDefaultUdpPort - 1));
  EXPECT_FALSE(IsWorkerUdpPort(4791));
}

TEST(PeekUdpDestinationPortTest, ReadsThePortOfIpv4AndIpv6Frames) {
  Endpoint v4 = V4Endpoint(2);
  v4.udp_port = 7001;
  Endpoint v6 = V6Endpoint(2);
  v6.udp_port = 7002;
  EXPECT_EQ(PeekUdpDestinationPort(MakeFrame(V4Endpoint(1), v4, Sealed(MakeAck()))), 7001);
  EXPECT_EQ(PeekUdpDestinationPort(MakeFrame(V6Endpoint(1), v6, Sealed(MakeAck()))), 7002);
}

TEST(PeekUdpDestinationPortTest, NothingForFramesThatAreNotUdp) {
  const Bytes good = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  Bytes arp = good;
  At<EthernetHeader>(arp, 0).ether_type.set(kEtherTypeArp);
  EXPECT_EQ(PeekUdpDestinationPort(arp), std::nullopt);
  Bytes tcp = good;
  At<Ipv4Header>(tcp, kIpv4).protocol = 6;
  EXPECT_EQ(PeekUdpDestinationPort(tcp), std::nullopt);
  Bytes short_ihl = good;
  At<Ipv4Header>(short_ihl, kIpv4).version_ihl = 0x44;
  EXPECT_EQ(PeekUdpDestinationPort(short_ihl), std::nullopt);
  Bytes v6_extension = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  At<Ipv6Header>(v6_extension, kIpv4).next_header = 0;
  EXPECT_EQ(PeekUdpDestinationPort(v6_extension), std::nullopt);
  // Every truncation short of a whole UDP header.
  for (size_t len = 0; len < kIpv4Udp + sizeof(UdpHeader); ++len) {
    EXPECT_EQ(PeekUdpDestinationPort(std::span(good).first(len)), std::nullopt) << "len=" << len;
  }
  EXPECT_EQ(PeekUdpDestinationPort(std::span(good).first(kIpv4Udp + sizeof(UdpHeader))),
            kDefaultUdpPort);
}

TEST(DecodeFrameTest, Ipv4OptionsRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<Ipv4Header>(frame, kIpv4).version_ihl = 0x46;
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader);
}

TEST(DecodeFrameTest, Ipv4WrongVersionRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<Ipv4Header>(frame, kIpv4).version_ihl = 0x65;
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader);
}

TEST(DecodeFrameTest, Ipv4FragmentRejected) {
  // More-fragments set; then a non-zero fragment offset.
  for (uint16_t flags_fragment : {0x2000, 0x4001, 0x0001}) {
    Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
    At<Ipv4Header>(frame, kIpv4).flags_fragment.set(flags_fragment);
    ResealIpv4(frame);
    EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader)
        << "flags_fragment=" << flags_fragment;
  }
}

TEST(DecodeFrameTest, Ipv4BadHeaderChecksumRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<Ipv4Header>(frame, kIpv4).ttl = 63;  // a router that forgot the checksum
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadChecksum);
}

TEST(DecodeFrameTest, Ipv4TotalLengthBeyondFrameRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  auto& ip = At<Ipv4Header>(frame, kIpv4);
  ip.total_length.set(static_cast<uint16_t>(frame.size() - kIpv4 + 1));
  ResealIpv4(frame);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kTruncated);
}

TEST(DecodeFrameTest, Ipv4TotalLengthBelowUdpHeaderRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<Ipv4Header>(frame, kIpv4).total_length.set(27);
  ResealIpv4(frame);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader);
}

TEST(DecodeFrameTest, UdpLengthBeyondIpPacketRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  auto& udp = At<UdpHeader>(frame, kIpv4Udp);
  udp.length.set(static_cast<uint16_t>(udp.length.get() + 1));
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kTruncated);
}

TEST(DecodeFrameTest, UdpLengthShortOfIpPacketRejected) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  auto& udp = At<UdpHeader>(frame, kIpv4Udp);
  udp.length.set(static_cast<uint16_t>(udp.length.get() - 1));
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadLength);
}

TEST(DecodeFrameTest, UdpLengthBelowUdpHeaderRejected) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  At<UdpHeader>(frame, kIpv6Udp).length.set(7);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadLength);
}

TEST(DecodeFrameTest, Ipv6WrongVersionRejected) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  frame[kIpv4] = 0x40;
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader);
}

TEST(DecodeFrameTest, Ipv6PayloadLengthBeyondFrameRejected) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  auto& ip = At<Ipv6Header>(frame, kIpv4);
  ip.payload_length.set(static_cast<uint16_t>(ip.payload_length.get() + 1));
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kTruncated);
}

TEST(DecodeFrameTest, Ipv6PayloadLengthBelowUdpHeaderRejected) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  At<Ipv6Header>(frame, kIpv4).payload_length.set(7);
  EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).error, DropReason::kBadIpHeader);
}

void ExpectFrameTruncatedAtEveryLength(const Bytes& frame) {
  for (size_t len = 0; len < frame.size(); ++len) {
    const Bytes prefix(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(DecodeFrame(prefix, kDefaultUdpPort).error, DropReason::kTruncated) << "len=" << len;
  }
}

TEST(DecodeFrameTest, Ipv4TruncatedAtEveryLengthRejected) {
  ExpectFrameTruncatedAtEveryLength(MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck())));
}

TEST(DecodeFrameTest, Ipv6TruncatedAtEveryLengthRejected) {
  ExpectFrameTruncatedAtEveryLength(MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck())));
}

// ---------------------------------------------------------------------------
// ECN marking.

TEST(MarkCongestionExperiencedTest, Ipv4MarksCeAndKeepsChecksumValid) {
  Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  MarkCongestionExperienced(frame, DecodeFrame(frame, kDefaultUdpPort).frame.ecn_offset);
  EXPECT_TRUE(Ipv4ChecksumValid(frame));
  const FrameDecodeResult result = DecodeFrame(frame, kDefaultUdpPort);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(result.frame.ecn, Ecn::kCe);
  EXPECT_EQ(At<Ipv4Header>(frame, kIpv4).tos, 0x03);  // DSCP untouched
}

TEST(MarkCongestionExperiencedTest, Ipv4KeepsChecksumValidForEveryTos) {
  for (int tos = 0; tos < 256; ++tos) {
    Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
    At<Ipv4Header>(frame, kIpv4).tos = static_cast<uint8_t>(tos);
    ResealIpv4(frame);
    MarkCongestionExperienced(frame, 15);
    EXPECT_TRUE(Ipv4ChecksumValid(frame)) << "tos=" << tos;
    EXPECT_EQ(At<Ipv4Header>(frame, kIpv4).tos, tos | 0x03) << "tos=" << tos;
  }
}

TEST(MarkCongestionExperiencedTest, Ipv6MarksCeInTrafficClassOnly) {
  Bytes frame = MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()));
  auto& ip = At<Ipv6Header>(frame, kIpv4);
  ip.version_class_flow.set(0x6A812345);  // DSCP 0x2a, ECT(1)... flow label 0x12345
  MarkCongestionExperienced(frame, DecodeFrame(frame, kDefaultUdpPort).frame.ecn_offset);
  EXPECT_EQ(ip.version_class_flow.get(), 0x6AB12345u);
  const FrameDecodeResult result = DecodeFrame(frame, kDefaultUdpPort);
  ASSERT_TRUE(result.ok()) << DropReasonName(result.error);
  EXPECT_EQ(result.frame.ecn, Ecn::kCe);
}

// ---------------------------------------------------------------------------
// TTL: what a router takes off, and what the receiver reads as a hop count.

TEST(DecrementTtlTest, EachHopTakesOneOffAndKeepsTheIpv4ChecksumValid) {
  for (bool v6 : {false, true}) {
    Bytes frame = v6 ? MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()))
                     : MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
    EXPECT_EQ(DecodeFrame(frame, kDefaultUdpPort).frame.ttl, kInitialTtl) << "v6=" << v6;
    for (int hop = 1; hop <= 5; ++hop) {
      ASSERT_TRUE(DecrementTtl(frame)) << "v6=" << v6 << " hop " << hop;
      const FrameDecodeResult result = DecodeFrame(frame, kDefaultUdpPort);
      ASSERT_TRUE(result.ok()) << DropReasonName(result.error) << " v6=" << v6;
      EXPECT_EQ(HopsFromTtl(result.frame.ttl), hop) << "v6=" << v6;
    }
  }
}

TEST(DecrementTtlTest, Ipv4ChecksumStaysValidForEveryTtlAndProtocol) {
  for (int ttl = 2; ttl < 256; ++ttl) {
    for (int protocol : {0, 17, 255}) {
      Bytes frame = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
      At<Ipv4Header>(frame, kIpv4).ttl = static_cast<uint8_t>(ttl);
      At<Ipv4Header>(frame, kIpv4).protocol = static_cast<uint8_t>(protocol);
      ResealIpv4(frame);
      ASSERT_TRUE(DecrementTtl(frame));
      EXPECT_TRUE(Ipv4ChecksumValid(frame)) << "ttl=" << ttl << " protocol=" << protocol;
      EXPECT_EQ(At<Ipv4Header>(frame, kIpv4).ttl, ttl - 1);
    }
  }
}

TEST(DecrementTtlTest, ExpiredOrNonIpFramesAreLeftForTheRouterToDrop) {
  for (bool v6 : {false, true}) {
    for (uint8_t ttl : {0, 1}) {
      Bytes frame = v6 ? MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()))
                       : MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
      if (v6) {
        At<Ipv6Header>(frame, kIpv4).hop_limit = ttl;
      } else {
        At<Ipv4Header>(frame, kIpv4).ttl = ttl;
        ResealIpv4(frame);
      }
      const Bytes before = frame;
      EXPECT_FALSE(DecrementTtl(frame)) << "v6=" << v6 << " ttl=" << int{ttl};
      EXPECT_EQ(frame, before);
    }
  }
  Bytes arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_FALSE(DecrementTtl(arp));
  Bytes runt = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  runt.resize(kIpv4 + 8);
  EXPECT_FALSE(DecrementTtl(runt));
}

TEST(HopsFromTtlTest, CountsFromTernsInitialTtl) {
  EXPECT_EQ(HopsFromTtl(64), 0);
  EXPECT_EQ(HopsFromTtl(59), 5);
  EXPECT_EQ(HopsFromTtl(1), 63);
  EXPECT_EQ(HopsFromTtl(0), -1) << "expired: not a frame a router passed on";
  EXPECT_EQ(HopsFromTtl(65), -1) << "not sent by Tern";
  EXPECT_EQ(HopsFromTtl(255), -1);
}

TEST(MarkCongestionExperiencedTest, OffsetOutsideIpHeaderChangesNothing) {
  for (bool v6 : {false, true}) {
    const Bytes original = v6 ? MakeFrame(V6Endpoint(1), V6Endpoint(2), Sealed(MakeAck()))
                              : MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
    for (size_t offset : {size_t{0}, size_t{13}, v6 ? kIpv6Udp : kIpv4Udp, original.size(),
                          original.size() + 1000}) {
      Bytes frame = original;
      MarkCongestionExperienced(frame, offset);
      EXPECT_EQ(frame, original) << "v6=" << v6 << " offset=" << offset;
    }
  }
}

TEST(MarkCongestionExperiencedTest, TruncatedIpv4HeaderChangesNothing) {
  const Bytes full = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  const Bytes original(full.begin(), full.begin() + 30);
  Bytes frame = original;
  MarkCongestionExperienced(frame, 15);
  EXPECT_EQ(frame, original);
}

TEST(MarkCongestionExperiencedTest, NonIpFrameChangesNothing) {
  Bytes original = MakeFrame(V4Endpoint(1), V4Endpoint(2), Sealed(MakeAck()));
  At<EthernetHeader>(original, 0).ether_type.set(kEtherTypeArp);
  Bytes frame = original;
  MarkCongestionExperienced(frame, 15);
  EXPECT_EQ(frame, original);
}

// ---------------------------------------------------------------------------
// Robustness: the decoders are total. Run under ASan/UBSan, these find reads
// outside the span; here they check that every result is well formed.

testing::AssertionResult WellFormed(const TernDecodeResult& result, std::span<const uint8_t> buf) {
  if (!result.ok()) {
    if (result.error > DropReason::kNone && result.error < DropReason::kCount) {
      return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "reason " << static_cast<int>(result.error);
  }
  const TernView& view = result.view;
  if (reinterpret_cast<const uint8_t*>(view.tern) != buf.data()) {
    return testing::AssertionFailure() << "header not at the start";
  }
  if (!view.payload.empty() &&
      (view.payload.data() < buf.data() ||
       view.payload.data() + view.payload.size() > buf.data() + buf.size())) {
    return testing::AssertionFailure() << "payload outside the buffer";
  }
  if (ToString(view).empty()) return testing::AssertionFailure() << "empty ToString";
  return testing::AssertionSuccess();
}

testing::AssertionResult WellFormed(const FrameDecodeResult& result, std::span<const uint8_t> buf) {
  if (!result.ok()) {
    if (result.error > DropReason::kNone && result.error < DropReason::kCount) {
      return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "reason " << static_cast<int>(result.error);
  }
  const std::span<const uint8_t> tern = result.frame.tern;
  if (tern.data() < buf.data() || tern.data() + tern.size() > buf.data() + buf.size()) {
    return testing::AssertionFailure() << "tern span outside the buffer";
  }
  if (result.frame.ecn_offset >= buf.size()) {
    return testing::AssertionFailure() << "ecn_offset outside the buffer";
  }
  return testing::AssertionSuccess();
}

// Decodes `buf` every way there is, then marks it, and checks each result.
testing::AssertionResult DecodeEveryWay(const Bytes& buf) {
  for (bool verify : {false, true}) {
    const testing::AssertionResult tern = WellFormed(DecodeTern(buf, verify), buf);
    if (!tern) return tern;
  }
  const FrameDecodeResult frame = DecodeFrame(buf, kDefaultUdpPort);
  const testing::AssertionResult outer = WellFormed(frame, buf);
  if (!outer) return outer;
  if (frame.ok()) {
    const testing::AssertionResult inner =
        WellFormed(DecodeTern(frame.frame.tern, true), frame.frame.tern);
    if (!inner) return inner;
  }
  Bytes marked = buf;
  MarkCongestionExperienced(marked, 15);
  return testing::AssertionSuccess();
}

constexpr uint64_t kFuzzSeed = 0x7E51'2026'1121;

TEST(WireRobustnessTest, RandomBuffersAlwaysYieldAResult) {
  SCOPED_TRACE(absl::StrCat("seed=", kFuzzSeed));
  Random rng(kFuzzSeed);
  for (int i = 0; i < 100'000; ++i) {
    Bytes buf(rng.Uniform(201));
    for (uint8_t& b : buf) b = static_cast<uint8_t>(rng.Next());
    ASSERT_TRUE(DecodeEveryWay(buf)) << "iteration " << i;
  }
}

// Datagrams of coalesced control packets, mutated: the split always tiles
// the datagram with non-empty pieces, and each piece decodes to a result that
// stays inside it.
TEST(WireRobustnessTest, MutatedCoalescedDatagramsSplitAndDecodeSafely) {
  SCOPED_TRACE(absl::StrCat("seed=", kFuzzSeed));
  Random rng(kFuzzSeed);
  Bytes echo = MakeAck();
  At<TernHeader>(echo, 0).flags.set(kFlagTelemetry);
  Append(echo, TelemetryStack{});
  const std::vector<Bytes> followed = {
      Coalesced(MakeAck()), Coalesced(std::move(echo)),
      Coalesced(MakeNack(static_cast<uint8_t>(NackReason::kTrimmed)))};
  const std::vector<Bytes> last = {Sealed(MakeAck()),
                                   Sealed(MakeNack(static_cast<uint8_t>(NackReason::kTrimmed)))};
  uint64_t pieces = 0, accepted = 0;
  for (int i = 0; i < 50'000; ++i) {
    Bytes buf;
    for (uint64_t k = rng.Uniform(4); k > 0; --k) {
      const Bytes& p = followed[rng.Uniform(followed.size())];
      buf.insert(buf.end(), p.begin(), p.end());
    }
    const Bytes& tail = last[rng.Uniform(last.size())];
    buf.insert(buf.end(), tail.begin(), tail.end());
    for (uint64_t m = rng.Uniform(3); m > 0; --m) {
      buf[rng.Uniform(buf.size())] = static_cast<uint8_t>(rng.Next());
    }
    if (rng.Uniform(4) == 0) buf.resize(rng.Uniform(buf.size() + 1));
    std::span<const uint8_t> rest = buf;
    size_t consumed = 0;
    while (!rest.empty()) {
      const std::span<const uint8_t> piece = FirstTernPacket(rest);
      ASSERT_FALSE(piece.empty()) << "iteration " << i;
      ASSERT_EQ(piece.data(), rest.data()) << "iteration " << i;
      ASSERT_TRUE(WellFormed(DecodeTern(piece, true), piece)) << "iteration " << i;
      accepted += DecodeTern(piece, true).ok();
      ++pieces;
      consumed += piece.size();
      rest = rest.subspan(piece.size());
    }
    ASSERT_EQ(consumed, buf.size()) << "iteration " << i;
  }
  // Most datagrams carry several packets, and many survive the mutations.
  EXPECT_GT(pieces, 75'000u);
  EXPECT_GT(accepted, 50'000u);
}

TEST(WireRobustnessTest, MutatedValidPacketsAlwaysYieldAResult) {
  SCOPED_TRACE(absl::StrCat("seed=", kFuzzSeed));
  Random rng(kFuzzSeed);
  Bytes trimmed = MakeData(DataOpcode::kWrite, kFlagTrimmed, 64);
  trimmed.resize(DataHeaderBytes(DataOpcode::kWrite));
  const std::vector<Bytes> tern_packets = {
      Sealed(MakeData(DataOpcode::kWrite, kFlagFirst, 40)),
      Sealed(MakeData(DataOpcode::kSendWithImm, kFlagLast, 3)),
      Sealed(MakeData(DataOpcode::kReadRequest, 0, 0)),
      Sealed(std::move(trimmed)),
      Sealed(MakeAck()),
      Sealed(MakeNack(static_cast<uint8_t>(NackReason::kNoReceiveBuffer))),
  };
  std::vector<Bytes> seeds = tern_packets;
  for (const Bytes& tern : tern_packets) {
    seeds.push_back(MakeFrame(V4Endpoint(1), V4Endpoint(2), tern));
    seeds.push_back(MakeFrame(V6Endpoint(1), V6Endpoint(2), tern));
  }
  int accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    Bytes buf = seeds[rng.Uniform(seeds.size())];
    const uint64_t mutations = rng.Uniform(4);  // zero keeps some valid inputs
    for (uint64_t m = 0; m < mutations; ++m) {
      buf[rng.Uniform(buf.size())] = static_cast<uint8_t>(rng.Next());
    }
    switch (rng.Uniform(4)) {
      case 0:
        buf.resize(rng.Uniform(buf.size() + 1));
        break;
      case 1:
        buf.resize(buf.size() + 1 + rng.Uniform(16), static_cast<uint8_t>(rng.Next()));
        break;
      default:
        break;
    }
    ASSERT_TRUE(DecodeEveryWay(buf)) << "iteration " << i;
    if (DecodeTern(buf, false).ok() || DecodeFrame(buf, kDefaultUdpPort).ok()) ++accepted;
  }
  // The mutations must leave enough inputs valid to exercise the accept paths.
  EXPECT_GT(accepted, 10'000);
}

}  // namespace
}  // namespace tern
