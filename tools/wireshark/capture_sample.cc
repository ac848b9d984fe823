// capture_sample: runs the real transport over the simulator and writes what
// crossed the wire as a pcapng capture, plus an "expected" file of what the C++
// decoder (DecodeFrame / DecodeTern in transport/wire.h) reads in each frame.
// tools/wireshark/dissector_test.py compares the Lua dissector against it.
//
//   capture_sample [--seed=N] CAPTURE.pcapng EXPECTED.jsonl
//
// The capture is a tap on the wire's two outputs: every frame the wire hands
// to a host, after the wire's loss, reordering, duplication, corruption and
// trimming, stamped with the simulator's virtual time. Frames the wire lost are
// therefore absent, and trimmed or corrupted frames appear as received.
//
// Two runs share the capture, one over IPv4 and one over IPv6 (later in time).
// Each run: a SEND posted before any receive (NACK NO_RECEIVE_BUFFER, then the
// retry once the receive is posted), SEND_WITH_IMM, a multi-packet RDMA WRITE,
// WRITE_WITH_IMM and an RDMA READ (request and responses), over 4 entropies
// on a 4-path wire with a delay spread (out-of-order arrival, so ACKs carry
// SACK bits), loss, duplication, corruption and trimming (NACK TRIMMED). More
// WRITEs follow until the run has shown every packet kind the test needs.
// Last come hand-made frames the decoder must refuse (truncated, unknown
// version, type, opcode and NACK reason, bad flags, bad length, bad checksum),
// the test vectors of docs/protocol.md section 2.9, and the in-band telemetry
// and CNP cases the simulated wire never makes: DATA whose telemetry stack the
// simulator's switch ports stamped after the sender sealed it
// (StampTelemetry), an ACK with CNP echoing that stack, and their refusals.
//
// Output is a function of the seed.
//
//   capture_sample --read CAPTURE.pcapng EXPECTED.jsonl
//
// reads an existing capture instead, e.g. one tern-perf wrote over DPDK with
// --pcap, and writes the same expected lines for it, plus each frame's pcapng
// interface id and direction. The reader is minimal: little-endian pcapng,
// Ethernet interfaces, Enhanced Packet Blocks (other packet blocks are
// refused, other blocks skipped).
//
// Exit status: 0 written, 1 the scenario, an I/O step or reading the capture
// failed, 2 usage error.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/perf_report.h"
#include "dataplane/sim/capture.h"
#include "dataplane/sim/link.h"
#include "dataplane/sim/multipath_wire.h"
#include "dataplane/sim/sim_host.h"
#include "dataplane/sim/simulator.h"
#include "transport/random.h"
#include "transport/units.h"
#include "transport/verbs.h"
#include "transport/wire.h"

namespace tern::wireshark {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: capture_sample [--seed=N] CAPTURE.pcapng EXPECTED.jsonl\n"
    "       capture_sample --read CAPTURE.pcapng EXPECTED.jsonl\n"
    "Runs Tern over the simulated wire (IPv4, then IPv6) and writes the frames\n"
    "as pcapng, and one JSON object per frame with the fields the C++ decoder\n"
    "reads, for tools/wireshark/dissector_test.py. N: unsigned 64-bit, default 1.\n"
    "--read: reads an existing pcapng capture instead (little-endian, Ethernet,\n"
    "e.g. tern-perf --pcap over DPDK) and writes only its expected file.\n";

constexpr uint32_t kAccessAll = kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead;

// ---------------------------------------------------------------------------
// The expected file: one JSON object per frame.

using perf::JsonString;

// Builds one object; keys keep their insertion order.
class JsonObject {
 public:
  void Add(std::string_view key, uint64_t value) { Raw(key, absl::StrCat(value)); }
  void AddHex(std::string_view key, uint64_t value) {
    Raw(key, JsonString(absl::StrFormat("0x%x", value)));
  }
  void AddString(std::string_view key, std::string_view value) { Raw(key, JsonString(value)); }
  void AddBool(std::string_view key, bool value) { Raw(key, value ? "true" : "false"); }
  void AddList(std::string_view key, const std::vector<uint64_t>& values) {
    std::string list = "[";
    for (size_t i = 0; i < values.size(); ++i) {
      absl::StrAppend(&list, i == 0 ? "" : ",", values[i]);
    }
    Raw(key, list + "]");
  }
  // A list of objects, each already Finish()ed.
  void AddObjects(std::string_view key, const std::vector<std::string>& objects) {
    Raw(key, "[" + absl::StrJoin(objects, ",") + "]");
  }
  std::string Finish() const { return "{" + body_ + "}"; }

 private:
  void Raw(std::string_view key, std::string_view value) {
    absl::StrAppend(&body_, body_.empty() ? "" : ",", JsonString(key), ":", std::string(value));
  }
  std::string body_;
};

// What the captured frames have shown so far; the scenario repeats WRITEs
// until Complete().
struct Coverage {
  std::set<uint8_t> opcodes;
  std::set<uint8_t> nack_reasons;
  std::set<uint16_t> data_entropies;
  bool multi_packet_write = false;
  bool ack_with_sack = false;
  bool trimmed_data = false;
  bool retransmit = false;
  bool coalesced_control = false;  // a datagram carried more than one Tern packet

  bool Complete() const {
    return opcodes.size() == 6 && nack_reasons.count(1) && nack_reasons.count(2) &&
           data_entropies.size() >= 2 && multi_packet_write && ack_with_sack && trimmed_data &&
           retransmit;
  }
  std::string Missing() const {
    std::string out;
    auto need = [&out](bool ok, std::string_view what) {
      if (!ok) absl::StrAppend(&out, out.empty() ? "" : ", ", std::string(what));
    };
    need(opcodes.size() == 6, "every DATA opcode");
    need(nack_reasons.count(1) > 0, "NACK TRIMMED");
    need(nack_reasons.count(2) > 0, "NACK NO_RECEIVE_BUFFER");
    need(data_entropies.size() >= 2, "two entropies");
    need(multi_packet_write, "a multi-packet WRITE");
    need(ack_with_sack, "an ACK with SACK bits");
    need(trimmed_data, "a trimmed DATA packet");
    need(retransmit, "a retransmission");
    return out;
  }
};

// Appends the fields of a Tern packet that decoded (checksum aside).
void AddViewFields(const TernView& view, JsonObject& json, Coverage& coverage, uint16_t entropy) {
  const uint16_t flags = view.flags();
  switch (view.type()) {
    case PacketType::kData: {
      const DataHeader& d = *view.data;
      json.Add("data.opcode", d.opcode);
      json.AddString("data.opcode_name", DataOpcodeName(view.opcode()));
      json.Add("data.reserved", d.reserved);
      json.Add("data.payload_len", d.payload_len.get());
      json.Add("data.msg_id", d.msg_id.get());
      json.Add("data.rsn", d.rsn.get());
      json.Add("data.offset", d.offset.get());
      json.Add("data.msg_len", d.msg_len.get());
      json.AddHex("data.imm", d.imm.get());
      json.Add("data.timestamp", d.timestamp.get());
      if (view.rdma != nullptr) {
        json.AddHex("rdma.remote_va", view.rdma->remote_va.get());
        json.AddHex("rdma.rkey", view.rdma->rkey.get());
      }
      json.Add("payload_bytes", view.payload.size());
      coverage.opcodes.insert(d.opcode);
      coverage.data_entropies.insert(entropy);
      if (view.opcode() == DataOpcode::kWrite && d.offset.get() > 0) {
        coverage.multi_packet_write = true;
      }
      if ((flags & kFlagTrimmed) != 0) coverage.trimmed_data = true;
      if ((flags & kFlagRetransmit) != 0) coverage.retransmit = true;
      break;
    }
    case PacketType::kAck: {
      const AckHeader& a = *view.ack;
      const uint32_t base = a.sack_base.get();
      const uint64_t words[2] = {a.sack_bitmap[0].get(), a.sack_bitmap[1].get()};
      std::vector<uint64_t> offsets, psns;
      for (int i = 0; i < kSackBits; ++i) {
        if (((words[i / 64] >> (i % 64)) & 1) == 0) continue;
        offsets.push_back(static_cast<uint64_t>(i));
        psns.push_back(static_cast<uint32_t>(base + static_cast<uint32_t>(i)));
      }
      json.Add("ack.cumulative", view.tern->psn.get());
      json.Add("ack.sack_base", base);
      json.AddHex("ack.sack_bitmap0", words[0]);
      json.AddHex("ack.sack_bitmap1", words[1]);
      json.Add("ack.sack_count", offsets.size());
      json.AddList("ack.sack_offset", offsets);
      json.AddList("ack.sack_psn", psns);
      json.Add("ack.window_end", a.window_end.get());
      json.Add("ack.ts_echo", a.ts_echo.get());
      json.Add("ack.echo_entropy", a.echo_entropy.get());
      json.Add("ack.ce_count", a.ce_count.get());
      if (!offsets.empty()) coverage.ack_with_sack = true;
      break;
    }
    case PacketType::kNack: {
      const NackHeader& n = *view.nack;
      json.Add("nack.reason", n.reason);
      json.AddString("nack.reason_name", NackReasonName(static_cast<NackReason>(n.reason)));
      json.Add("nack.reserved", n.reserved);
      json.Add("nack.echo_entropy", n.echo_entropy.get());
      json.Add("nack.ts_echo", n.ts_echo.get());
      json.Add("nack.retry_after_ns", n.retry_after_ns.get());
      coverage.nack_reasons.insert(n.reason);
      break;
    }
  }
  if (view.telemetry != nullptr) {
    const TelemetryStack& t = *view.telemetry;
    json.Add("telemetry.hops", t.hops);
    json.AddHex("telemetry.reserved",
                uint32_t{t.reserved[0]} << 16 | uint32_t{t.reserved[1]} << 8 | t.reserved[2]);
    // Only the records filled; DecodeTern bounds hops by kTelemetryHops.
    std::vector<uint64_t> timestamps, tx_bytes, queue_bytes, rates;
    for (int i = 0; i < std::min<int>(t.hops, kTelemetryHops); ++i) {
      const TelemetryRecord& r = t.record[i];
      timestamps.push_back(r.timestamp_ns.get());
      tx_bytes.push_back(r.tx_bytes.get());
      queue_bytes.push_back(r.queue_bytes.get());
      rates.push_back(r.rate_mbps.get());
    }
    json.AddList("telemetry.timestamp_ns", timestamps);
    json.AddList("telemetry.tx_bytes", tx_bytes);
    json.AddList("telemetry.queue_bytes", queue_bytes);
    json.AddList("telemetry.rate_mbps", rates);
  }
}

// One frame of a capture, as the expected file describes it.
struct CapturedFrame {
  uint64_t number = 0;   // 1-based, as Wireshark numbers frames
  uint64_t time_ns = 0;  // the pcapng timestamp in nanoseconds
  std::span<const uint8_t> bytes;
  std::string_view comment;
  // Read from an existing pcapng file only (--read): the interface id, the
  // epb_flags direction ("in", "out", or empty when not given) and the
  // original length when the capture cut the frame.
  std::optional<uint32_t> interface;
  std::string_view direction;
  std::optional<uint64_t> original_length;
};

// One line of the expected file. Keys other than frame, time_ns, comment,
// interface, direction, original_length, ip, length, frame_error,
// drop_reason_unverified, *_name, payload_bytes and checksum_ok are the
// dissector's field names without the "tern." prefix.
void AddTernPacketFields(std::span<const uint8_t> tern, JsonObject& json, Coverage& coverage,
                         uint16_t entropy);

std::string DescribeFrame(const CapturedFrame& captured, Coverage& coverage) {
  const std::span<const uint8_t> frame = captured.bytes;
  JsonObject json;
  json.Add("frame", captured.number);
  json.Add("time_ns", captured.time_ns);
  if (!captured.comment.empty()) json.AddString("comment", captured.comment);
  if (captured.interface.has_value()) json.Add("interface", *captured.interface);
  if (!captured.direction.empty()) json.AddString("direction", captured.direction);
  if (captured.original_length.has_value()) {
    json.Add("original_length", *captured.original_length);
  }
  // Any worker's port, not only worker 0's.
  const std::optional<uint16_t> udp_port = PeekUdpDestinationPort(frame);
  const bool worker_port = udp_port && IsWorkerUdpPort(*udp_port);
  const FrameDecodeResult outer = DecodeFrame(frame, worker_port ? *udp_port : kDefaultUdpPort);
  if (!outer.ok()) {
    json.AddString("frame_error", DropReasonName(outer.error));
    return json.Finish();
  }
  json.Add("ip", outer.frame.dst.ip.is_v6 ? 6 : 4);
  json.Add("entropy", outer.frame.entropy);
  json.Add("udp_port", outer.frame.dst.udp_port);
  // The datagram's first Tern packet here; the control packets coalesced
  // after it, each described alike, under "coalesced".
  std::vector<std::string> coalesced;
  ForEachTernPacket(outer.frame.tern, [&](std::span<const uint8_t> tern, size_t index) {
    if (index == 0) return AddTernPacketFields(tern, json, coverage, outer.frame.entropy);
    JsonObject follower;
    AddTernPacketFields(tern, follower, coverage, outer.frame.entropy);
    coalesced.push_back(follower.Finish());
    coverage.coalesced_control = true;
  });
  if (!coalesced.empty()) json.AddObjects("coalesced", coalesced);
  return json.Finish();
}

// One Tern packet of a datagram: its length, the receiver's verdicts and the
// fields the C++ decoder reads.
void AddTernPacketFields(std::span<const uint8_t> tern, JsonObject& json, Coverage& coverage,
                         uint16_t entropy) {
  json.Add("length", tern.size());
  // The verdict of a receiver that verifies the checksum in software.
  const TernDecodeResult strict = DecodeTern(tern, /*verify_checksum=*/true);
  json.AddString("drop_reason", DropReasonName(strict.error));
  // ...and of one whose NIC verified it (checksum offload): no checksum check.
  const TernDecodeResult loose = DecodeTern(tern, /*verify_checksum=*/false);
  json.AddString("drop_reason_unverified", DropReasonName(loose.error));
  if (tern.size() < sizeof(TernHeader)) return;

  TernHeader h;
  std::memcpy(&h, tern.data(), sizeof h);
  json.Add("version", h.version);
  json.Add("type", h.type);
  json.AddString("type_name", PacketTypeName(static_cast<PacketType>(h.type)));
  json.AddHex("flags", h.flags.get());
  json.AddHex("dst_qpn", h.dst_qpn.get());
  json.AddHex("src_qpn", h.src_qpn.get());
  json.Add("psn", h.psn.get());
  json.AddHex("checksum", h.checksum.get());
  const uint32_t calculated = TernChecksum(tern);
  json.AddHex("checksum.calculated", calculated);
  json.AddBool("checksum_ok", calculated == h.checksum.get());

  // Type fields only when the headers decode, the checksum aside; a packet
  // refused for its structure is described by its common header alone.
  if (loose.ok()) AddViewFields(loose.view, json, coverage, entropy);
}

// Appends DescribeFrame's line to the expected file.
absl::Status WriteExpectedLine(std::FILE* expected, const CapturedFrame& frame,
                               Coverage& coverage) {
  const std::string line = DescribeFrame(frame, coverage) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), expected) != line.size()) {
    return absl::DataLossError("writing the expected file failed");
  }
  return absl::OkStatus();
}

// Writes every tapped frame to both outputs.
class Recorder {
 public:
  Recorder(sim::PcapngWriter& pcapng, std::FILE* expected) : pcapng_(pcapng), expected_(expected) {}

  void Record(Time at, std::span<const uint8_t> frame, std::string_view comment = {}) {
    if (!status_.ok()) return;
    status_ = pcapng_.Write(at, frame, comment);
    if (!status_.ok()) return;
    ++frames_;
    CapturedFrame captured;
    captured.number = frames_;
    captured.time_ns = static_cast<uint64_t>(at.nanoseconds());
    captured.bytes = frame;
    captured.comment = comment;
    status_ = WriteExpectedLine(expected_, captured, coverage_);
  }

  const absl::Status& status() const { return status_; }
  Coverage& coverage() { return coverage_; }
  void ResetCoverage() { coverage_ = Coverage(); }
  uint64_t frames() const { return frames_; }

 private:
  sim::PcapngWriter& pcapng_;
  std::FILE* expected_;
  absl::Status status_;
  Coverage coverage_;
  uint64_t frames_ = 0;
};

// ---------------------------------------------------------------------------
// One run of the scenario over the simulated wire.

Endpoint HostEndpoint(int host, bool v6) {
  Endpoint e;
  e.mac.bytes = {0x02, 0, 0, 0, static_cast<uint8_t>(v6 ? 6 : 4), static_cast<uint8_t>(host + 1)};
  if (v6) {
    // fd00:7e2e::1 and ::2, from the unique-local range (RFC 4193).
    std::array<uint8_t, 16> bytes{0xfd, 0x00, 0x7e, 0x2e};
    bytes[15] = static_cast<uint8_t>(host + 1);
    e.ip = IpAddress::V6(bytes);
  } else {
    e.ip = IpAddress::V4(0x0A000001u + static_cast<uint32_t>(host));  // 10.0.0.1, .2
  }
  return e;
}

// Zeroed memory mapped at a fixed virtual address when the kernel allows, so
// that remote_va, and the checksums covering it, are the same on every run of
// a seed. Elsewhere (the address is taken) the kernel picks one and only the
// addresses vary.
class PinnedMemory {
 public:
  PinnedMemory(uint64_t address, size_t bytes) : bytes_(bytes) {
    void* want = reinterpret_cast<void*>(address);
    void* got = ::mmap(want, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got != MAP_FAILED && got != want) {
      // A kernel before 4.17 takes the flag as a hint and may map elsewhere.
      ::munmap(got, bytes);
      got = MAP_FAILED;
    }
    if (got == MAP_FAILED) {
      std::fprintf(stderr,
                   "capture_sample: address 0x%llx is taken; remote_va will differ between runs\n",
                   static_cast<unsigned long long>(address));
      got = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    data_ = got == MAP_FAILED ? nullptr : static_cast<uint8_t*>(got);
  }
  ~PinnedMemory() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
  }
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;

  // Null when even the fallback mapping failed.
  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  size_t bytes_;
  uint8_t* data_ = nullptr;
};

class ScenarioRun {
 public:
  static constexpr size_t kRegionBytes = 1 << 18;
  static constexpr uint32_t kMtu = 1024;
  static constexpr uint16_t kPaths = 4;
  // Where the hosts' registered memory lives: host i of the IPv4 run at
  // kRegionBase + i * 256 MiB, the IPv6 run's 512 MiB higher.
  static constexpr uint64_t kRegionBase = 0x7e2e'0000'0000;

  ScenarioRun(uint64_t seed, bool v6, Duration time_offset, Recorder& recorder)
      : v6_(v6), offset_(time_offset), recorder_(recorder), rng_(seed) {
    sim::MultipathWireConfig wire;
    wire.paths = kPaths;
    wire.delay = Duration::Microseconds(2);
    wire.reorder = Duration::Microseconds(3);
    wire.loss = 0.02;
    wire.dup = 0.01;
    wire.corrupt = 0.005;
    wire.trim = 0.03;
    wire.seed = sim::DeriveSeed(seed, 1);
    wire_ = std::make_unique<sim::MultipathWire>(sim_, wire);
    for (int i = 0; i < 2; ++i) {
      ContextConfig config;
      config.local = HostEndpoint(i, v6);
      config.seed = sim::DeriveSeed(seed, 10 + static_cast<uint64_t>(i));
      // Distinct QP numbers on the two hosts, so dst_qpn and src_qpn differ.
      config.first_qp_num = 0x100u * static_cast<uint32_t>(i + 1);
      auto context = Context::Create(config);
      if (!context.ok()) {
        status_ = context.status();
        return;
      }
      Host& h = hosts_[i];
      h.context = std::move(*context);
      h.pd = h.context->AllocPd();
      h.send_cq = *h.context->CreateCq(4096);
      h.recv_cq = *h.context->CreateCq(4096);
      h.memory = std::make_unique<PinnedMemory>(
          kRegionBase + (v6 ? 0x2000'0000u : 0) + 0x1000'0000u * static_cast<uint64_t>(i),
          kRegionBytes);
      if (h.memory->data() == nullptr) {
        status_ = absl::ResourceExhaustedError("cannot map the hosts' memory");
        return;
      }
      std::span<uint8_t> bytes(h.memory->data(), h.memory->size());
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng_.Next());
      auto mr = h.pd->RegisterMemory(h.memory->data(), h.memory->size(), kAccessAll);
      if (!mr.ok()) {
        status_ = mr.status();
        return;
      }
      h.mr = *mr;
      const auto port = static_cast<sim::WirePort>(i);
      h.nic = std::make_unique<sim::SimHost>(
          sim_, *h.context, Bandwidth::Gbps(100),
          [this, port](sim::Frame frame) { wire_->Send(port, std::move(frame)); });
      // The tap: what the wire delivers to this host, then the host gets it.
      wire_->Connect(port, [this, nic = h.nic.get()](sim::Frame frame) {
        recorder_.Record(sim_.now() + offset_, frame);
        nic->Deliver(frame);
      });
    }
    Connect();
  }

  // Runs the scenario; fails when a step does not complete in time or a work
  // request completes with an error.
  absl::Status Run() {
    if (!status_.ok()) return status_;
    // 1. RNR: a SEND reaches a QP with no receive posted; the receive comes
    // 25 us later and the sender's retry after the RNR hold lands in it.
    PostSend(WrOpcode::kSend, 0, 2000);
    sim_.ScheduleAfter(Duration::Microseconds(25), [this] {
      PostRecv(kRegionBytes / 2, 4096);
      hosts_[1].nic->Kick();
    });
    if (absl::Status s = Wait("SEND before any receive"); !s.ok()) return s;

    // 2. Every opcode once: receives for the two that consume one first.
    PostRecv(kRegionBytes / 2 + 4096, 4096);
    PostRecv(kRegionBytes / 2 + 8192, 4096);
    PostSend(WrOpcode::kSendWithImm, 4096, 3000, 0xC0FFEE01);
    PostSend(WrOpcode::kRdmaWrite, 8192, 48 * 1024, 0, 8192);
    PostSend(WrOpcode::kRdmaWriteWithImm, 65536, 4000, 0xC0FFEE02, 65536);
    PostRead(kRegionBytes / 2 + 16384, 16 * 1024, 81920);
    if (absl::Status s = Wait("every opcode"); !s.ok()) return s;

    // 3. More WRITEs (and a READ) until the lossy wire has shown a trim, a
    // SACK hole and a retransmission; deterministic for the seed.
    for (int round = 0; round < kMaxRounds && !recorder_.coverage().Complete(); ++round) {
      PostSend(WrOpcode::kRdmaWrite, 8192, 32 * 1024, 0, 8192 + 32768 * (round % 2));
      PostRead(kRegionBytes / 2 + 16384, 8 * 1024, 81920);
      if (absl::Status s = Wait("coverage round"); !s.ok()) return s;
    }
    if (!recorder_.coverage().Complete()) {
      return absl::InternalError(absl::StrFormat("%s run never showed: %s", v6_ ? "IPv6" : "IPv4",
                                                 recorder_.coverage().Missing()));
    }
    // Let the last ACKs cross.
    sim_.RunUntil(sim_.now() + Duration::Microseconds(50));
    return recorder_.status();
  }

  Time now() const { return sim_.now() + offset_; }

 private:
  static constexpr int kMaxRounds = 40;

  struct Host {
    // First, so it is unmapped after everything that may point into it.
    std::unique_ptr<PinnedMemory> memory;
    std::unique_ptr<Context> context;
    std::unique_ptr<sim::SimHost> nic;
    ProtectionDomain* pd = nullptr;
    CompletionQueue* send_cq = nullptr;
    CompletionQueue* recv_cq = nullptr;
    MemoryRegion* mr = nullptr;
    QueuePair* qp = nullptr;
  };

  void Connect() {
    QueuePair* qps[2];
    for (int i = 0; i < 2; ++i) {
      QpInitAttr attr;
      attr.send_cq = hosts_[i].send_cq;
      attr.recv_cq = hosts_[i].recv_cq;
      attr.transport.paths = kPaths;
      attr.transport.path_policy = PathPolicy::kOblivious;
      auto qp = hosts_[i].context->CreateQp(hosts_[i].pd, attr);
      if (!qp.ok()) {
        status_ = qp.status();
        return;
      }
      qps[i] = *qp;
      hosts_[i].qp = *qp;
      if (absl::Status s = qps[i]->ToInit({}); !s.ok()) {
        status_ = s;
        return;
      }
    }
    const Psn first[2] = {static_cast<Psn>(rng_.Next()), static_cast<Psn>(rng_.Next())};
    for (int i = 0; i < 2; ++i) {
      QpRtrAttr rtr;
      rtr.dest_qp_num = qps[1 - i]->qp_num();
      rtr.rq_psn = first[1 - i];
      rtr.remote = hosts_[1 - i].context->local();
      rtr.path_mtu = kMtu;
      QpRtsAttr rts;
      rts.sq_psn = first[i];
      if (absl::Status s = qps[i]->ToRtr(rtr); !s.ok()) {
        status_ = s;
        return;
      }
      if (absl::Status s = qps[i]->ToRts(rts); !s.ok()) {
        status_ = s;
        return;
      }
    }
  }

  uint64_t Address(const Host& h, size_t offset) const {
    return reinterpret_cast<uint64_t>(h.memory->data()) + offset;
  }

  // Host 0 posts a signaled send-side WR from its region at `local`; RDMA
  // opcodes target host 1's region at `remote`.
  void PostSend(WrOpcode opcode, size_t local, uint32_t length, uint32_t imm = 0,
                size_t remote = 0) {
    Host& a = hosts_[0];
    const Sge sge{Address(a, local), length, a.mr->lkey()};
    SendWr wr;
    wr.wr_id = next_wr_id_++;
    wr.opcode = opcode;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {&sge, 1};
    wr.imm_data = imm;
    wr.remote_addr = Address(hosts_[1], remote);
    wr.rkey = hosts_[1].mr->rkey();
    if (absl::Status s = a.qp->PostSend(wr); !s.ok()) {
      status_ = s;
      return;
    }
    ++expected_send_completions_;
    a.nic->Kick();
  }

  // Host 0 reads `length` bytes of host 1's region at `remote` into its own at
  // `local`.
  void PostRead(size_t local, uint32_t length, size_t remote) {
    PostSend(WrOpcode::kRdmaRead, local, length, 0, remote);
  }

  // Host 1 posts a receive into its region at `offset`.
  void PostRecv(size_t offset, uint32_t length) {
    Host& b = hosts_[1];
    const Sge sge{Address(b, offset), length, b.mr->lkey()};
    RecvWr wr;
    wr.wr_id = next_wr_id_++;
    wr.sg_list = {&sge, 1};
    if (absl::Status s = b.qp->PostRecv(wr); !s.ok()) {
      status_ = s;
      return;
    }
    ++expected_recv_completions_;
  }

  // Runs until every posted WR has completed; any error completion fails.
  absl::Status Wait(std::string_view step) {
    if (!status_.ok()) return status_;
    for (Host& h : hosts_) h.nic->Kick();
    auto drain = [this](CompletionQueue* cq, uint64_t& done) {
      WorkCompletion wcs[32];
      for (size_t n; (n = cq->Poll(wcs)) > 0;) {
        for (size_t i = 0; i < n; ++i) {
          if (wcs[i].status != WcStatus::kSuccess && status_.ok()) {
            status_ = absl::InternalError(absl::StrFormat(
                "work request %u completed with %s", wcs[i].wr_id, WcStatusName(wcs[i].status)));
          }
          ++done;
        }
      }
    };
    const Time deadline = sim_.now() + Duration::Milliseconds(200);
    sim_.RunWhile(
        [&] {
          drain(hosts_[0].send_cq, send_completions_);
          drain(hosts_[1].recv_cq, recv_completions_);
          return status_.ok() && (send_completions_ < expected_send_completions_ ||
                                  recv_completions_ < expected_recv_completions_);
        },
        deadline);
    if (!status_.ok()) {
      return absl::InternalError(absl::StrCat(std::string(step), ": ", status_.message()));
    }
    if (send_completions_ < expected_send_completions_ ||
        recv_completions_ < expected_recv_completions_) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "%s: %u/%u sends and %u/%u receives completed", step, send_completions_,
          expected_send_completions_, recv_completions_, expected_recv_completions_));
    }
    return recorder_.status();
  }

  bool v6_;
  Duration offset_;
  Recorder& recorder_;
  Random rng_;
  sim::Simulator sim_;
  std::unique_ptr<sim::MultipathWire> wire_;
  Host hosts_[2];
  absl::Status status_;
  uint64_t next_wr_id_ = 1;
  uint64_t expected_send_completions_ = 0;
  uint64_t expected_recv_completions_ = 0;
  uint64_t send_completions_ = 0;
  uint64_t recv_completions_ = 0;
};

// ---------------------------------------------------------------------------
// Hand-made frames: the refusals the dissector must flag, and the spec's test
// vectors.

// Header fields of a hand-made packet; the defaults make a valid 8-byte
// WRITE (the protocol.md section 2.9 vector).
struct Crafted {
  uint8_t version = kTernVersion;
  uint8_t type = static_cast<uint8_t>(PacketType::kData);
  uint16_t flags = kFlagFirst | kFlagLast | kFlagAckRequest;
  uint32_t psn = 7;
  uint8_t opcode = static_cast<uint8_t>(DataOpcode::kWrite);
  uint16_t payload_len = 8;
  size_t payload = 8;         // payload bytes actually present
  bool rdma = true;           // carry the RDMA extension
  size_t keep = SIZE_MAX;     // cut the Tern packet to this many bytes
  uint32_t checksum_xor = 0;  // spoil the sealed checksum
  size_t trailing = 0;        // zero bytes after the packet
  uint8_t nack_reason = 2;
  // Append `telemetry` after the type header (DATA: after the RDMA extension,
  // before the payload). The flag is set separately, in `flags`.
  bool stack = false;
  TelemetryStack telemetry{};
  int stamp_hops = 0;                 // switch ports stamping the sealed frame (StampTelemetry)
  size_t flip_after_seal = SIZE_MAX;  // Tern byte XORed with 0x01 after sealing
};

std::vector<uint8_t> BuildTern(const Crafted& c) {
  std::vector<uint8_t> p(sizeof(TernHeader));
  TernHeader th{};
  th.version = c.version;
  th.type = c.type;
  th.flags.set(c.flags);
  // As in the spec vectors: DATA goes 0x100 -> 0x101, ACK and NACK come back.
  const bool data = c.type != static_cast<uint8_t>(PacketType::kAck) &&
                    c.type != static_cast<uint8_t>(PacketType::kNack);
  th.dst_qpn.set(data ? 0x101 : 0x100);
  th.src_qpn.set(data ? 0x100 : 0x101);
  th.psn.set(c.psn);
  std::memcpy(p.data(), &th, sizeof th);
  // resize + memcpy rather than insert: GCC 12's -Warray-bounds misreads the
  // inlined insert of a struct's bytes.
  auto append = [&p](const auto& header) {
    const size_t at = p.size();
    p.resize(at + sizeof header);
    std::memcpy(p.data() + at, &header, sizeof header);
  };
  if (c.type == static_cast<uint8_t>(PacketType::kAck)) {
    AckHeader ack{};
    ack.sack_base.set(100);
    ack.sack_bitmap[0].set(uint64_t{0xC});
    ack.sack_bitmap[1].set(uint64_t{1} << 63 | 1);
    ack.window_end.set(1124);
    ack.ts_echo.set(0x12345678);
    ack.echo_entropy.set(0xC123);
    ack.ce_count.set(1);
    append(ack);
    if (c.stack) append(c.telemetry);
  } else if (c.type == static_cast<uint8_t>(PacketType::kNack)) {
    NackHeader nack{};
    nack.reason = c.nack_reason;
    nack.echo_entropy.set(0xC123);
    nack.ts_echo.set(0x12345678);
    nack.retry_after_ns.set(c.nack_reason == 2 ? 10000 : 0);
    append(nack);
    if (c.stack) append(c.telemetry);
  } else {
    DataHeader dh{};
    dh.opcode = c.opcode;
    dh.payload_len.set(c.payload_len);
    dh.msg_id.set(2);
    dh.msg_len.set(8);
    dh.timestamp.set(0x12345678);
    append(dh);
    if (c.rdma) {
      RdmaExtension rdma{};
      rdma.remote_va.set(0x7f0000001000);
      rdma.rkey.set(0x1a5);
      append(rdma);
    }
    if (c.stack) append(c.telemetry);
    for (size_t i = 0; i < c.payload; ++i) p.push_back(static_cast<uint8_t>(0xA0 + i));
  }
  p.resize(p.size() + c.trailing, 0);
  if (c.keep < p.size()) p.resize(c.keep);
  SealTernChecksum(p);
  if (c.checksum_xor != 0 && p.size() >= sizeof(TernHeader)) {
    p[19] = static_cast<uint8_t>(p[19] ^ c.checksum_xor);
  }
  if (c.flip_after_seal < p.size()) p[c.flip_after_seal] ^= 0x01;
  return p;
}

std::vector<uint8_t> WrapInFrame(const std::vector<uint8_t>& tern, bool v6) {
  std::vector<uint8_t> frame(kMaxOuterHeaderBytes + tern.size());
  const size_t outer = EncodeFrameHeaders(frame.data(), HostEndpoint(0, v6), HostEndpoint(1, v6),
                                          0xC000, tern.size());
  std::copy(tern.begin(), tern.end(), frame.begin() + static_cast<ptrdiff_t>(outer));
  frame.resize(outer + tern.size());
  return frame;
}

// What `hops` switch egress ports write into the telemetry stack of a framed
// DATA packet as it leaves them (dataplane/sim/link.h StampTelemetry): a
// 400 Gb/s port, then 100 Gb/s ones, 1.5 us apart, each with a deeper queue;
// the byte counters exceed 2^32, so the records show them wrapped.
void StampHops(std::vector<uint8_t>& frame, int hops) {
  for (int h = 0; h < hops; ++h) {
    const Time now = Time::FromNanoseconds(1'000'000 + 1'500 * int64_t{h});
    const uint64_t tx_bytes = (uint64_t{5} << 32) + 1'000'000 * uint64_t(h + 1);
    sim::StampTelemetry(frame, now, tx_bytes, 4096 * uint64_t(h + 1),
                        Bandwidth::Gbps(h == 0 ? 400 : 100));
  }
}

// The stack a Crafted DATA packet carries once `hops` ports have stamped it.
TelemetryStack StampedStack(Crafted c, int hops) {
  c.stack = true;
  c.flags |= kFlagTelemetry;
  std::vector<uint8_t> frame = WrapInFrame(BuildTern(c), /*v6=*/false);
  StampHops(frame, hops);
  TelemetryStack stack{};
  const FrameDecodeResult outer = DecodeFrame(frame, kDefaultUdpPort);
  if (!outer.ok()) return stack;
  const TernDecodeResult tern = DecodeTern(outer.frame.tern, /*verify_checksum=*/true);
  if (tern.ok() && tern.view.telemetry != nullptr) stack = *tern.view.telemetry;
  return stack;
}

void WriteCraftedFrames(Recorder& recorder, Time start) {
  using PT = PacketType;
  const auto data = static_cast<uint8_t>(PT::kData);
  const auto ack = static_cast<uint8_t>(PT::kAck);
  const auto nack = static_cast<uint8_t>(PT::kNack);
  struct Case {
    const char* comment;
    Crafted c;
  };
  std::vector<Case> cases;
  auto add = [&cases](const char* comment, auto&& tweak) {
    Crafted c;
    tweak(c);
    cases.push_back({comment, c});
  };
  // docs/protocol.md section 2.9 test vectors.
  add("crafted: spec vector DATA WRITE", [](Crafted&) {});
  add("crafted: spec vector trimmed WRITE", [](Crafted& c) {
    c.flags |= kFlagTrimmed;
    c.payload = 0;
  });
  add("crafted: spec vector ACK", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagEcnEcho;
    c.psn = 100;
  });
  add("crafted: spec vector NACK", [&](Crafted& c) {
    c.type = nack;
    c.flags = 0;
  });
  // Refusals, one per DecodeTern check.
  add("crafted: bad checksum", [](Crafted& c) { c.checksum_xor = 0x01; });
  add("crafted: truncated common header", [](Crafted& c) { c.keep = 12; });
  add("crafted: truncated DATA header", [](Crafted& c) { c.keep = 30; });
  add("crafted: truncated RDMA extension", [](Crafted& c) { c.keep = 52; });
  add("crafted: truncated ACK", [&](Crafted& c) {
    c.type = ack;
    c.flags = 0;
    c.keep = 40;
  });
  add("crafted: unknown version", [](Crafted& c) { c.version = 2; });
  add("crafted: unknown version and bad checksum", [](Crafted& c) {
    c.version = 2;
    c.checksum_xor = 0x80;
  });
  add("crafted: unknown type", [](Crafted& c) { c.type = 9; });
  add("crafted: unknown opcode", [](Crafted& c) {
    c.opcode = 42;
    c.rdma = false;
  });
  add("crafted: unknown NACK reason", [&](Crafted& c) {
    c.type = nack;
    c.flags = 0;
    c.nack_reason = 9;
  });
  add("crafted: unknown flag bit", [](Crafted& c) { c.flags |= 0x0200; });
  add("crafted: COALESCED on DATA", [](Crafted& c) { c.flags |= kFlagCoalesced; });
  add("crafted: FIRST on an ACK", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagFirst;
  });
  add("crafted: ACK with trailing bytes", [&](Crafted& c) {
    c.type = ack;
    c.flags = 0;
    c.trailing = 4;
  });
  add("crafted: READ_REQUEST with payload_len", [](Crafted& c) {
    c.opcode = static_cast<uint8_t>(DataOpcode::kReadRequest);
    c.payload = 0;
    c.payload_len = 5;
  });
  add("crafted: payload shorter than payload_len", [](Crafted& c) { c.payload = 6; });
  add("crafted: trimmed packet still carrying payload",
      [](Crafted& c) { c.flags |= kFlagTrimmed; });
  add("crafted: SEND_WITH_IMM over IPv4", [&](Crafted& c) {
    c.opcode = static_cast<uint8_t>(DataOpcode::kSendWithImm);
    c.rdma = false;
    c.type = data;
  });
  // In-band telemetry and CNP. The DATA stack is sealed empty and stamped
  // afterwards, as switches do: the checksum still holds, since it counts the
  // stack as zero. The ACK echoes that stack, covered by its checksum.
  auto telemetry = [](Crafted& c) {
    c.flags |= kFlagTelemetry;
    c.stack = true;
  };
  add("crafted: spec vector DATA WRITE with telemetry", [&](Crafted& c) {
    telemetry(c);
    c.stamp_hops = 2;
  });
  add("crafted: spec vector ACK with CNP and telemetry", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagEcnEcho | kFlagCnp | kFlagTelemetry;
    c.psn = 100;
    c.stack = true;
    c.telemetry = StampedStack(Crafted(), 2);
  });
  add("crafted: SEND with an empty telemetry stack", [&](Crafted& c) {
    telemetry(c);
    c.opcode = static_cast<uint8_t>(DataOpcode::kSend);
    c.rdma = false;
  });
  add("crafted: telemetry stack full after 6 switches", [&](Crafted& c) {
    telemetry(c);
    c.stamp_hops = 6;  // the sixth port finds no room and adds nothing
  });
  add("crafted: trimmed DATA keeps its telemetry stack", [&](Crafted& c) {
    telemetry(c);
    c.flags |= kFlagTrimmed;
    c.payload = 0;
    c.stamp_hops = 1;
  });
  add("crafted: ACK with CNP, no telemetry", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagEcnEcho | kFlagCnp;
  });
  add("crafted: telemetry hops above 5", [&](Crafted& c) {
    telemetry(c);
    c.telemetry.hops = kTelemetryHops + 1;
  });
  add("crafted: truncated telemetry stack", [&](Crafted& c) {
    telemetry(c);
    c.keep = DataHeaderBytes(DataOpcode::kWrite) + 40;
  });
  add("crafted: truncated telemetry echo on an ACK", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagTelemetry;
    c.stack = true;
    c.keep = sizeof(TernHeader) + sizeof(AckHeader) + 20;
  });
  add("crafted: ACK telemetry echo changed after sealing", [&](Crafted& c) {
    c.type = ack;
    c.flags = kFlagTelemetry;
    c.stack = true;
    c.telemetry = StampedStack(Crafted(), 2);
    // The low byte of the first record's queue_bytes: the echo is covered.
    c.flip_after_seal = sizeof(TernHeader) + sizeof(AckHeader) + 4 + 8 + 3;
  });
  add("crafted: CNP on DATA", [](Crafted& c) { c.flags |= kFlagCnp; });
  add("crafted: CNP on a NACK", [&](Crafted& c) {
    c.type = nack;
    c.flags = kFlagCnp;
  });
  add("crafted: TELEMETRY on a NACK", [&](Crafted& c) {
    c.type = nack;
    c.flags = kFlagTelemetry;
    c.stack = true;
  });
  Time at = start;
  for (const Case& k : cases) {
    std::vector<uint8_t> frame = WrapInFrame(BuildTern(k.c), /*v6=*/false);
    StampHops(frame, k.c.stamp_hops);
    recorder.Record(at, frame, k.comment);
    at = at + Duration::Microseconds(1);
  }
  // Datagrams of several control packets (kFlagCoalesced on all but the
  // last), each packet sealed alone.
  Crafted first_ack;
  first_ack.type = ack;
  first_ack.flags = kFlagCoalesced;
  first_ack.psn = 100;
  Crafted echo_ack = first_ack;
  echo_ack.flags = kFlagCoalesced | kFlagTelemetry;
  echo_ack.psn = 200;
  echo_ack.stack = true;
  echo_ack.telemetry = StampedStack(Crafted(), 1);
  Crafted last_nack;
  last_nack.type = nack;
  last_nack.flags = 0;
  Crafted cut_nack = last_nack;
  cut_nack.keep = 24;
  const struct {
    const char* comment;
    std::vector<Crafted> packets;
  } coalesced[] = {
      {"crafted: two ACKs and a NACK coalesced", {first_ack, echo_ack, last_nack}},
      {"crafted: coalesced ACK and a truncated NACK", {first_ack, cut_nack}},
  };
  for (const auto& k : coalesced) {
    std::vector<uint8_t> datagram;
    for (const Crafted& c : k.packets) {
      const std::vector<uint8_t> packet = BuildTern(c);
      datagram.insert(datagram.end(), packet.begin(), packet.end());
    }
    recorder.Record(at, WrapInFrame(datagram, /*v6=*/false), k.comment);
    at = at + Duration::Microseconds(1);
  }
}

// ---------------------------------------------------------------------------
// --read: the expected file of an existing capture, e.g. one tern-perf wrote
// over DPDK with --pcap (rte_pcapng), or capture_sample's own.

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(Le16(p)) | static_cast<uint32_t>(Le16(p + 2)) << 16;
}

// A minimal pcapng reader: little-endian sections only (a big-endian one is
// refused), Section Header, Interface Description and Enhanced Packet Blocks;
// other blocks (statistics, name resolution, ...) are skipped. Every length is
// checked against the block and the file, so a damaged file gives an error,
// never a read out of bounds.
class PcapngReader {
 public:
  using Writer = sim::PcapngWriter;
  static constexpr uint32_t kObsoletePacketBlock = 0x00000002;
  static constexpr uint32_t kSimplePacketBlock = 0x00000003;
  static constexpr uint32_t kSwappedByteOrderMagic = 0x4D3C2B1A;
  static constexpr uint16_t kOptionEpbFlags = 2;
  // Larger blocks are refused rather than allocated: a frame is at most 256
  // KiB (Wireshark's limit), options add little.
  static constexpr uint32_t kMaxBlockBytes = 16u << 20;

  struct Packet {
    uint32_t interface = 0;
    uint64_t time_ns = 0;
    uint64_t original_length = 0;
    std::vector<uint8_t> bytes;  // as captured: perhaps cut short
    std::string comment;         // the first opt_comment, if any
    std::string_view direction;  // epb_flags bits 0-1: "in", "out" or ""
  };

  static absl::StatusOr<PcapngReader> Open(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrFormat("cannot open '%s'", path));
    }
    return PcapngReader(file);
  }

  // Reads up to the next Enhanced Packet Block: true with `packet` filled,
  // false at the end of the file, or an error naming the byte offset.
  absl::StatusOr<bool> Next(Packet& packet) {
    for (;;) {
      const uint64_t at = offset_;
      uint8_t head[12];
      const size_t got = Read(head, 8);
      if (got == 0 && std::feof(file_.get())) {
        if (!in_section_) return absl::InvalidArgumentError("empty file: not pcapng");
        return false;
      }
      if (got < 8) return Truncated(at, 8, got);
      const uint32_t type = Le32(head);
      const uint32_t length = Le32(head + 4);
      if (!in_section_ && type != Writer::kSectionHeaderBlock) {
        const uint32_t magic = Le32(head);
        if (magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 || magic == 0xA1B23C4D ||
            magic == 0x4D3CB2A1) {
          return absl::InvalidArgumentError("a classic pcap file, not pcapng");
        }
        return absl::InvalidArgumentError(absl::StrFormat(
            "not pcapng: the file starts with block type 0x%08x, not a section header", type));
      }
      if (type == Writer::kSectionHeaderBlock) {
        // The byte order is known only from the magic, after the length.
        if (const size_t n = Read(head + 8, 4); n < 4) return Truncated(at, 12, 8 + n);
        const uint32_t magic = Le32(head + 8);
        if (magic == kSwappedByteOrderMagic) {
          return absl::UnimplementedError(absl::StrFormat(
              "big-endian section at offset %d: only little-endian pcapng is supported", at));
        }
        if (magic != Writer::kByteOrderMagic) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "section header at offset %d: bad byte-order magic 0x%08x", at, magic));
        }
      }
      const size_t head_bytes = type == Writer::kSectionHeaderBlock ? 12 : 8;
      if (length < head_bytes + 4 || length % 4 != 0 || length > kMaxBlockBytes) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "block at offset %d (type 0x%08x): bad total length %d", at, type, length));
      }
      // The body between the header and the trailing length.
      std::vector<uint8_t> body(length - head_bytes);
      if (const size_t n = Read(body.data(), body.size()); n < body.size()) {
        return Truncated(at, length, head_bytes + n);
      }
      if (Le32(body.data() + body.size() - 4) != length) {
        return absl::InvalidArgumentError(
            absl::StrFormat("block at offset %d (type 0x%08x): trailing length %d differs from %d",
                            at, type, Le32(body.data() + body.size() - 4), length));
      }
      body.resize(body.size() - 4);
      switch (type) {
        case Writer::kSectionHeaderBlock:
          if (absl::Status s = SectionHeader(at, body); !s.ok()) return s;
          break;
        case Writer::kInterfaceDescriptionBlock:
          if (absl::Status s = InterfaceDescription(at, body); !s.ok()) return s;
          break;
        case Writer::kEnhancedPacketBlock:
          if (absl::Status s = EnhancedPacket(at, body, packet); !s.ok()) return s;
          return true;
        case kObsoletePacketBlock:
        case kSimplePacketBlock:
          // Skipping them would shift every later frame number off tshark's.
          return absl::UnimplementedError(absl::StrFormat(
              "block at offset %d: %s packet blocks are not supported, only enhanced ones", at,
              type == kSimplePacketBlock ? "simple" : "obsolete"));
        default:
          break;  // statistics, name resolution, decryption secrets, custom
      }
    }
  }

 private:
  struct Interface {
    uint16_t link_type = 0;
    uint64_t units_per_second = 1'000'000;  // if_tsresol, default 10^-6 s
  };
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };

  explicit PcapngReader(std::FILE* file) : file_(file) {}

  size_t Read(uint8_t* out, size_t bytes) {
    const size_t got = std::fread(out, 1, bytes, file_.get());
    offset_ += got;
    return got;
  }

  absl::Status Truncated(uint64_t at, uint64_t want, uint64_t got) const {
    if (std::ferror(file_.get())) {
      return absl::DataLossError(absl::StrFormat("read error at offset %d", at + got));
    }
    return absl::DataLossError(
        absl::StrFormat("truncated: the block at offset %d needs %d bytes, the file ends %d "
                        "bytes into it",
                        at, want, got));
  }

  // Calls `option(code, value)` for each option in `bytes` up to opt_endofopt.
  template <typename Fn>
  static absl::Status ForEachOption(uint64_t at, std::span<const uint8_t> bytes, Fn option) {
    size_t i = 0;
    while (i + 4 <= bytes.size()) {
      const uint16_t code = Le16(&bytes[i]);
      const size_t length = Le16(&bytes[i + 2]);
      if (code == Writer::kOptionEnd) return absl::OkStatus();
      const size_t padded = (length + 3) & ~size_t{3};
      if (padded > bytes.size() - i - 4) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "block at offset %d: option %d of %d bytes runs past the block", at, code, length));
      }
      if (absl::Status s = option(code, bytes.subspan(i + 4, length)); !s.ok()) return s;
      i += 4 + padded;
    }
    if (i != bytes.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "block at offset %d: %d stray bytes after the options", at, bytes.size() - i));
    }
    return absl::OkStatus();
  }

  absl::Status SectionHeader(uint64_t at, std::span<const uint8_t> body) {
    // body, after the byte-order magic: versions, section length, options.
    if (body.size() < 12) {
      return absl::InvalidArgumentError(
          absl::StrFormat("section header at offset %d is too short", at));
    }
    const uint16_t major = Le16(&body[0]);
    if (major != 1) {
      return absl::UnimplementedError(
          absl::StrFormat("section header at offset %d: pcapng version %d.%d is not supported", at,
                          major, Le16(&body[2])));
    }
    // A new section starts its own interface list.
    interfaces_.clear();
    in_section_ = true;
    return ForEachOption(at, body.subspan(12), [](uint16_t, auto) { return absl::OkStatus(); });
  }

  absl::Status InterfaceDescription(uint64_t at, std::span<const uint8_t> body) {
    if (body.size() < 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("interface description at offset %d is too short", at));
    }
    Interface interface;
    interface.link_type = Le16(&body[0]);
    absl::Status status =
        ForEachOption(at, body.subspan(8), [&](uint16_t code, std::span<const uint8_t> value) {
          if (code != Writer::kOptionIfTsresol) return absl::OkStatus();
          // Decimal resolutions up to the nanosecond convert exactly; others
          // would round, and the comparison with tshark's times is exact.
          if (value.size() != 1 || (value[0] & 0x80) != 0 || value[0] > 9) {
            return absl::UnimplementedError(absl::StrFormat(
                "interface description at offset %d: if_tsresol 0x%02x is not supported "
                "(10^-0 to 10^-9 s only)",
                at, value.empty() ? 0 : value[0]));
          }
          interface.units_per_second = 1;
          for (int k = 0; k < value[0]; ++k) interface.units_per_second *= 10;
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    interfaces_.push_back(interface);
    return absl::OkStatus();
  }

  absl::Status EnhancedPacket(uint64_t at, std::span<const uint8_t> body, Packet& packet) {
    if (body.size() < 20) {
      return absl::InvalidArgumentError(
          absl::StrFormat("packet block at offset %d is too short", at));
    }
    const uint32_t id = Le32(&body[0]);
    if (id >= interfaces_.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("packet block at offset %d: interface %d, but the section describes %d",
                          at, id, interfaces_.size()));
    }
    const Interface& interface = interfaces_[id];
    if (interface.link_type != Writer::kLinkTypeEthernet) {
      return absl::UnimplementedError(absl::StrFormat(
          "packet block at offset %d: interface %d has link type %d; only Ethernet (1) is "
          "supported",
          at, id, interface.link_type));
    }
    const uint64_t units = uint64_t{Le32(&body[4])} << 32 | Le32(&body[8]);
    const uint64_t ns_per_unit = 1'000'000'000 / interface.units_per_second;
    if (units > UINT64_MAX / ns_per_unit) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "packet block at offset %d: timestamp %d overflows 64-bit nanoseconds", at, units));
    }
    const size_t captured = Le32(&body[12]);
    const size_t padded = (captured + 3) & ~size_t{3};
    if (padded > body.size() - 20) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "packet block at offset %d: captured length %d exceeds the block", at, captured));
    }
    packet.interface = id;
    packet.time_ns = units * ns_per_unit;
    packet.original_length = Le32(&body[16]);
    packet.bytes.assign(body.begin() + 20, body.begin() + 20 + static_cast<ptrdiff_t>(captured));
    packet.comment.clear();
    packet.direction = {};
    bool have_comment = false;
    return ForEachOption(at, body.subspan(20 + padded),
                         [&](uint16_t code, std::span<const uint8_t> value) {
                           if (code == Writer::kOptionComment && !have_comment) {
                             packet.comment.assign(value.begin(), value.end());
                             have_comment = true;
                           } else if (code == kOptionEpbFlags && value.size() == 4) {
                             const uint32_t direction = Le32(value.data()) & 3;
                             packet.direction = direction == 1 ? "in" : direction == 2 ? "out" : "";
                           }
                           return absl::OkStatus();
                         });
  }

  std::unique_ptr<std::FILE, FileCloser> file_;
  uint64_t offset_ = 0;
  bool in_section_ = false;
  std::vector<Interface> interfaces_;
};

// Writes the expected file of every packet in `capture_path`. On an error the
// expected file is removed rather than left half-written.
absl::Status ReadCapture(const std::string& capture_path, const std::string& expected_path,
                         uint64_t& frames) {
  absl::StatusOr<PcapngReader> reader = PcapngReader::Open(capture_path);
  if (!reader.ok()) return reader.status();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> expected(std::fopen(expected_path.c_str(), "w"),
                                                           &std::fclose);
  if (expected == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrFormat("cannot open '%s'", expected_path));
  }
  auto fail = [&](const absl::Status& status) {
    expected.reset();
    std::remove(expected_path.c_str());
    return status;
  };
  Coverage coverage;  // unused: the scenario's stopping rule
  PcapngReader::Packet packet;
  for (;;) {
    absl::StatusOr<bool> more = reader->Next(packet);
    if (!more.ok()) {
      return fail(absl::Status(more.status().code(),
                               absl::StrCat(capture_path, ": ", more.status().message())));
    }
    if (!*more) break;
    CapturedFrame captured;
    captured.number = ++frames;
    captured.time_ns = packet.time_ns;
    captured.bytes = packet.bytes;
    captured.comment = packet.comment;
    captured.interface = packet.interface;
    captured.direction = packet.direction;
    if (packet.original_length != packet.bytes.size()) {
      captured.original_length = packet.original_length;
    }
    if (absl::Status s = WriteExpectedLine(expected.get(), captured, coverage); !s.ok()) {
      return fail(s);
    }
  }
  if (std::fclose(expected.release()) != 0) {
    return fail(absl::DataLossError("closing the expected file failed"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------

struct Options {
  bool read = false;  // --read: describe an existing capture
  bool seed_given = false;
  uint64_t seed = 1;
  std::string capture_path;
  std::string expected_path;
};

bool ParseArgs(int argc, char** argv, Options& options, std::string& error) {
  std::vector<std::string_view> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--read") {
      options.read = true;
    } else if (arg.starts_with("--seed=")) {
      options.seed_given = true;
      const std::string_view value = arg.substr(7);
      const auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), options.seed);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        error = absl::StrFormat("bad --seed value '%s'", value);
        return false;
      }
    } else if (arg.starts_with("-")) {
      error = absl::StrFormat("unknown option '%s'", arg);
      return false;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    error = "expected CAPTURE.pcapng and EXPECTED.jsonl";
    return false;
  }
  if (options.read && options.seed_given) {
    error = "--seed has no meaning with --read";
    return false;
  }
  options.capture_path = std::string(positional[0]);
  options.expected_path = std::string(positional[1]);
  return true;
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  }
  Options options;
  std::string error;
  if (!ParseArgs(argc, argv, options, error)) {
    std::fprintf(stderr, "capture_sample: %s\n%s", error.c_str(), kUsage);
    return kExitUsage;
  }

  if (options.read) {
    uint64_t frames = 0;
    if (absl::Status s = ReadCapture(options.capture_path, options.expected_path, frames);
        !s.ok()) {
      std::fprintf(stderr, "capture_sample: %s\n", s.ToString().c_str());
      return kExitFailed;
    }
    std::printf("capture_sample: read %llu frames from %s -> %s\n",
                static_cast<unsigned long long>(frames), options.capture_path.c_str(),
                options.expected_path.c_str());
    return kExitOk;
  }

  absl::StatusOr<sim::PcapngWriter> pcapng = sim::PcapngWriter::Open(options.capture_path);
  if (!pcapng.ok()) {
    std::fprintf(stderr, "capture_sample: %s\n", pcapng.status().ToString().c_str());
    return kExitFailed;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> expected(
      std::fopen(options.expected_path.c_str(), "w"), &std::fclose);
  if (expected == nullptr) {
    std::fprintf(stderr, "capture_sample: cannot open '%s'\n", options.expected_path.c_str());
    return kExitFailed;
  }

  Recorder recorder(*pcapng, expected.get());
  Time end = Time::Zero();
  for (const bool v6 : {false, true}) {
    recorder.ResetCoverage();
    // Each run starts at virtual time 0; the second is shifted to begin 1 ms
    // after the first ended.
    const Duration offset = end - Time::Zero();
    ScenarioRun run(sim::DeriveSeed(options.seed, v6 ? 6 : 4), v6, offset, recorder);
    if (absl::Status s = run.Run(); !s.ok()) {
      std::fprintf(stderr, "capture_sample: seed %llu: %s\n",
                   static_cast<unsigned long long>(options.seed), s.ToString().c_str());
      return kExitFailed;
    }
    end = run.now() + Duration::Milliseconds(1);
  }
  WriteCraftedFrames(recorder, end);

  absl::Status status = recorder.status();
  if (status.ok()) status = pcapng->Close();
  if (status.ok() && std::fclose(expected.release()) != 0) {
    status = absl::DataLossError("closing the expected file failed");
  }
  if (!status.ok()) {
    std::fprintf(stderr, "capture_sample: %s\n", status.ToString().c_str());
    return kExitFailed;
  }
  std::printf("capture_sample: seed %llu: %llu frames -> %s, %s\n",
              static_cast<unsigned long long>(options.seed),
              static_cast<unsigned long long>(recorder.frames()), options.capture_path.c_str(),
              options.expected_path.c_str());
  return kExitOk;
}

}  // namespace
}  // namespace tern::wireshark

int main(int argc, char** argv) { return tern::wireshark::Main(argc, argv); }
