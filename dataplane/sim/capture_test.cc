#include "dataplane/sim/capture.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern::sim {
namespace {

using ::testing::HasSubstr;

// A file name under the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& name) {
    const char* dir = std::getenv("TEST_TMPDIR");
    if (dir == nullptr) dir = std::getenv("TMPDIR");
    if (dir == nullptr) dir = "/tmp";
    path_ = std::string(dir) + "/" + name + "." + std::to_string(::getpid()) + ".pcapng";
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Little-endian readers over the file bytes, bounds-checked by the caller.
uint16_t Le16(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}
uint32_t Le32(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint32_t>(Le16(b, at)) | static_cast<uint32_t>(Le16(b, at + 2)) << 16;
}

// One block as found in the file: its type, body (between the length fields)
// and where it starts.
struct Block {
  uint32_t type = 0;
  size_t offset = 0;
  std::vector<uint8_t> body;
};

// Splits the file into blocks, checking that each one's leading and trailing
// lengths agree and are multiples of 4.
std::vector<Block> SplitBlocks(const std::vector<uint8_t>& file) {
  std::vector<Block> blocks;
  size_t at = 0;
  while (at < file.size()) {
    EXPECT_GE(file.size() - at, 12u) << "block header at " << at;
    if (file.size() - at < 12) break;
    const uint32_t length = Le32(file, at + 4);
    EXPECT_EQ(length % 4, 0u) << "block at " << at;
    EXPECT_LE(length, file.size() - at) << "block at " << at;
    if (length < 12 || length > file.size() - at) break;
    EXPECT_EQ(Le32(file, at + length - 4), length) << "trailing length of block at " << at;
    Block block;
    block.type = Le32(file, at);
    block.offset = at;
    block.body.assign(file.begin() + static_cast<ptrdiff_t>(at + 8),
                      file.begin() + static_cast<ptrdiff_t>(at + length - 4));
    blocks.push_back(std::move(block));
    at += length;
  }
  return blocks;
}

TEST(PcapngWriterTest, EmptyCaptureHasSectionAndInterfaceBlocks) {
  TempFile file("empty");
  {
    auto writer = PcapngWriter::Open(file.path());
    ASSERT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE(writer->Close().ok());
  }
  const std::vector<uint8_t> bytes = ReadAll(file.path());
  const std::vector<Block> blocks = SplitBlocks(bytes);
  ASSERT_EQ(blocks.size(), 2u);

  EXPECT_EQ(blocks[0].type, PcapngWriter::kSectionHeaderBlock);
  ASSERT_EQ(blocks[0].body.size(), 16u);  // magic, versions, section length; no options
  EXPECT_EQ(Le32(blocks[0].body, 0), PcapngWriter::kByteOrderMagic);
  EXPECT_EQ(Le16(blocks[0].body, 4), 1);  // major
  EXPECT_EQ(Le16(blocks[0].body, 6), 0);  // minor
  EXPECT_EQ(Le32(blocks[0].body, 8), 0xFFFFFFFFu);
  EXPECT_EQ(Le32(blocks[0].body, 12), 0xFFFFFFFFu);

  EXPECT_EQ(blocks[1].type, PcapngWriter::kInterfaceDescriptionBlock);
  ASSERT_EQ(blocks[1].body.size(), 20u);
  EXPECT_EQ(Le16(blocks[1].body, 0), PcapngWriter::kLinkTypeEthernet);
  EXPECT_EQ(Le32(blocks[1].body, 4), PcapngWriter::kMaxFrameBytes);
  // if_tsresol = 9 (nanoseconds), padded to 4 bytes, then opt_endofopt.
  EXPECT_EQ(Le16(blocks[1].body, 8), PcapngWriter::kOptionIfTsresol);
  EXPECT_EQ(Le16(blocks[1].body, 10), 1);
  EXPECT_EQ(blocks[1].body[12], 9);
  EXPECT_EQ(Le32(blocks[1].body, 16), 0u);
}

TEST(PcapngWriterTest, EnhancedPacketBlocksCarryNanosecondTimeAndPaddedFrame) {
  TempFile file("frames");
  const std::vector<uint8_t> frame1 = {1, 2, 3, 4, 5};  // padded to 8
  const std::vector<uint8_t> frame2(64, 0xAB);          // no padding
  // 2^32 ns + 7.5 ns: the high word is used and picoseconds round down.
  const Time t2 = Time::FromPicoseconds((int64_t{1} << 32) * 1000 + 7500);
  {
    auto writer = PcapngWriter::Open(file.path());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->Write(Time::FromNanoseconds(1234), frame1).ok());
    ASSERT_TRUE(writer->Write(t2, frame2).ok());
    EXPECT_EQ(writer->frames_written(), 2u);
  }  // the destructor flushes and closes
  const std::vector<Block> blocks = SplitBlocks(ReadAll(file.path()));
  ASSERT_EQ(blocks.size(), 4u);

  const Block& epb1 = blocks[2];
  EXPECT_EQ(epb1.type, PcapngWriter::kEnhancedPacketBlock);
  ASSERT_EQ(epb1.body.size(), 20u + 8u);
  EXPECT_EQ(Le32(epb1.body, 0), 0u);     // interface 0
  EXPECT_EQ(Le32(epb1.body, 4), 0u);     // timestamp high
  EXPECT_EQ(Le32(epb1.body, 8), 1234u);  // timestamp low
  EXPECT_EQ(Le32(epb1.body, 12), 5u);    // captured
  EXPECT_EQ(Le32(epb1.body, 16), 5u);    // original
  EXPECT_EQ(std::vector<uint8_t>(epb1.body.begin() + 20, epb1.body.begin() + 25), frame1);
  EXPECT_EQ(std::vector<uint8_t>(epb1.body.begin() + 25, epb1.body.end()),
            std::vector<uint8_t>(3, 0));

  const Block& epb2 = blocks[3];
  ASSERT_EQ(epb2.body.size(), 20u + 64u);
  EXPECT_EQ(Le32(epb2.body, 4), 1u);
  EXPECT_EQ(Le32(epb2.body, 8), 7u);
  EXPECT_EQ(Le32(epb2.body, 12), 64u);
  EXPECT_EQ(std::vector<uint8_t>(epb2.body.begin() + 20, epb2.body.end()), frame2);
}

TEST(PcapngWriterTest, CommentBecomesPaddedOptionAfterThePacket) {
  TempFile file("comment");
  const std::vector<uint8_t> frame(4, 0x11);
  {
    auto writer = PcapngWriter::Open(file.path());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->Write(Time::Zero(), frame, "hello").ok());
    ASSERT_TRUE(writer->Close().ok());
  }
  const std::vector<Block> blocks = SplitBlocks(ReadAll(file.path()));
  ASSERT_EQ(blocks.size(), 3u);
  const std::vector<uint8_t>& body = blocks[2].body;
  // 20 fixed bytes, 4 of frame, option header 4 + "hello" padded to 8, end 4.
  ASSERT_EQ(body.size(), 20u + 4u + 4u + 8u + 4u);
  EXPECT_EQ(Le16(body, 24), PcapngWriter::kOptionComment);
  EXPECT_EQ(Le16(body, 26), 5);
  EXPECT_EQ(std::string(body.begin() + 28, body.begin() + 33), "hello");
  EXPECT_EQ(Le32(body, 36), 0u);
}

TEST(PcapngWriterTest, OpenFailsForAMissingDirectory) {
  auto writer = PcapngWriter::Open("/nonexistent-dir-for-tern/x.pcapng");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(writer.status().message(), HasSubstr("cannot open"));
}

TEST(PcapngWriterTest, OpenFailsWhenTheHeadersCannotBeWritten) {
  // /dev/full accepts the open and fails every write with ENOSPC.
  if (std::FILE* probe = std::fopen("/dev/full", "wb"); probe != nullptr) {
    std::fclose(probe);
  } else {
    GTEST_SKIP() << "no /dev/full";
  }
  auto writer = PcapngWriter::Open("/dev/full");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PcapngWriterTest, BadTimeAndOversizedFrameAreRefusedWithoutWriting) {
  TempFile file("refused");
  auto writer = PcapngWriter::Open(file.path());
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::vector<uint8_t> frame(10);
  EXPECT_EQ(writer->Write(Time::FromNanoseconds(-1), frame).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->Write(Time::Infinite(), frame).code(), absl::StatusCode::kInvalidArgument);
  const std::vector<uint8_t> huge(PcapngWriter::kMaxFrameBytes + 1);
  EXPECT_EQ(writer->Write(Time::Zero(), huge).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->frames_written(), 0u);
  // The writer is still usable.
  EXPECT_TRUE(writer->Write(Time::Zero(), frame).ok());
}

TEST(PcapngWriterTest, WriteAfterCloseFails) {
  TempFile file("closed");
  auto writer = PcapngWriter::Open(file.path());
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(writer->Close().ok());
  const std::vector<uint8_t> frame(10);
  EXPECT_EQ(writer->Write(Time::Zero(), frame).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PcapngWriterTest, MovedWriterKeepsWritingToTheSameFile) {
  TempFile file("moved");
  const std::vector<uint8_t> frame(10, 0x22);
  {
    auto opened = PcapngWriter::Open(file.path());
    ASSERT_TRUE(opened.ok()) << opened.status();
    PcapngWriter writer = std::move(*opened);
    ASSERT_TRUE(writer.Write(Time::Zero(), frame).ok());
  }
  EXPECT_EQ(SplitBlocks(ReadAll(file.path())).size(), 3u);
}

}  // namespace
}  // namespace tern::sim
