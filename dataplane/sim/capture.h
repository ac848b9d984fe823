// A minimal pcapng writer for the simulated wire: frames are stamped with the
// simulator's virtual time, so a capture of a run opens in Wireshark with the
// same timeline the transport saw.
//
// Layout (pcapng, draft-ietf-opsawg-pcapng): one Section Header Block, one
// Interface Description Block (LINKTYPE_ETHERNET, if_tsresol = 9, so
// timestamps are nanoseconds), then one Enhanced Packet Block per frame. Every
// number is written little-endian; the SHB's byte-order magic tells readers
// so. Frames are whole Ethernet frames without FCS, as sim::Frame holds them.
//
// Errors are returned, never fatal: a file that cannot be created fails
// Open(), and a failed write fails that Write() and every later one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "transport/units.h"

namespace tern::sim {

class PcapngWriter {
 public:
  // pcapng block types and the constants this writer emits.
  static constexpr uint32_t kSectionHeaderBlock = 0x0A0D0D0A;
  static constexpr uint32_t kInterfaceDescriptionBlock = 0x00000001;
  static constexpr uint32_t kEnhancedPacketBlock = 0x00000006;
  static constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
  static constexpr uint16_t kLinkTypeEthernet = 1;
  static constexpr uint16_t kOptionEnd = 0;
  static constexpr uint16_t kOptionComment = 1;
  static constexpr uint16_t kOptionIfTsresol = 9;
  // if_tsresol value: 10^-9 s per timestamp unit.
  static constexpr uint8_t kNanosecondResolution = 9;
  // Frames longer than this are refused: it is the snaplen the IDB declares,
  // and Wireshark's own limit for Ethernet.
  static constexpr uint32_t kMaxFrameBytes = 262144;

  // Creates (or truncates) `path` and writes the section and interface
  // headers. Fails when the file cannot be opened or the headers not written.
  static absl::StatusOr<PcapngWriter> Open(const std::string& path);

  PcapngWriter(PcapngWriter&& other) noexcept = default;
  PcapngWriter& operator=(PcapngWriter&& other) noexcept = default;
  // Flushes and closes; an error at this point is lost, so call Close() first
  // when it matters.
  ~PcapngWriter();

  // Appends one frame seen at virtual time `at` (rounded down to the
  // nanosecond). `comment`, when not empty, is stored as the packet's
  // opt_comment (Wireshark shows it as frame.comment). Fails for a negative or
  // infinite time, a frame over kMaxFrameBytes, a closed writer, or an I/O
  // error; after an I/O error every call fails with that error.
  absl::Status Write(Time at, std::span<const uint8_t> frame, std::string_view comment = {});

  // Pushes buffered blocks to the file.
  absl::Status Flush();
  // Flushes and closes the file. Later calls to Write() fail; a second Close()
  // returns the first one's result.
  absl::Status Close();

  uint64_t frames_written() const { return frames_written_; }
  const std::string& path() const { return path_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };

  PcapngWriter(std::string path, std::FILE* file);
  // Writes `bytes` or records the first error in status_.
  absl::Status WriteBytes(std::span<const uint8_t> bytes);

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  absl::Status status_;  // the first I/O error, or Close()'s result; sticky
  bool closed_ = false;
  uint64_t frames_written_ = 0;
};

}  // namespace tern::sim
