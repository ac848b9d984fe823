#include "apps/file_io.h"

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(FileIoTest, WrittenTextReadsBackByteForByte) {
  const std::string path = ::testing::TempDir() + "/file_io_roundtrip";
  const std::string text("line\n\0binary\xff", 13);
  ASSERT_TRUE(WriteWholeFile(path, text).ok());
  const absl::StatusOr<std::string> back = ReadWholeFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, text);
  ASSERT_TRUE(WriteWholeFile(path, "short").ok());
  EXPECT_EQ(*ReadWholeFile(path), "short") << "a write replaces, never appends";
}

TEST(FileIoTest, ErrorsNameTheFileAndTheReason) {
  const absl::Status written = WriteWholeFile("/nonexistent-dir/out.json", "{}");
  EXPECT_EQ(written.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(written.message(), "cannot write /nonexistent-dir/out.json: No such file or directory");
  const absl::StatusOr<std::string> read = ReadWholeFile("/nonexistent-dir/in.txt");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              StartsWith("/nonexistent-dir/in.txt: cannot open: "));
  const absl::StatusOr<std::string> dir = ReadWholeFile("/");
  EXPECT_FALSE(dir.ok()) << "a directory is not a file";
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr("/: cannot "));
}

TEST(FileIoTest, InputsLongerThanTheLimitAreRefusedNotReadToTheEnd) {
  const std::string path = ::testing::TempDir() + "/file_io_limit";
  ASSERT_TRUE(WriteWholeFile(path, "0123456789").ok());
  EXPECT_EQ(*ReadWholeFile(path, 10), "0123456789") << "the limit itself is allowed";
  const absl::StatusOr<std::string> regular = ReadWholeFile(path, 9);
  EXPECT_EQ(regular.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(regular.status().message(),
            path + ": more than 9 bytes, larger than any input this reads (a wrong path?)");
  // A device has no size to check first: its bytes are counted as they come.
  const absl::StatusOr<std::string> endless = ReadWholeFile("/dev/zero", 1 << 20);
  EXPECT_EQ(endless.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(endless.status().message()),
              StartsWith("/dev/zero: more than 1048576 bytes"));
}

TEST(FileIoTest, CheckWritableGivesWriteWholeFilesErrorAndLeavesNoTrace) {
  const std::string fresh = ::testing::TempDir() + "/file_io_check_fresh";
  std::remove(fresh.c_str());
  EXPECT_TRUE(CheckWritable(fresh).ok());
  EXPECT_FALSE(ReadWholeFile(fresh).ok()) << "the file created for the check is removed";

  const std::string existing = ::testing::TempDir() + "/file_io_check_existing";
  ASSERT_TRUE(WriteWholeFile(existing, "kept").ok());
  EXPECT_TRUE(CheckWritable(existing).ok());
  EXPECT_EQ(*ReadWholeFile(existing), "kept") << "an existing file is not truncated";

  const absl::Status missing_dir = CheckWritable("/nonexistent-dir/out.json");
  EXPECT_EQ(missing_dir, WriteWholeFile("/nonexistent-dir/out.json", "{}"));
  const absl::Status dir = CheckWritable(::testing::TempDir());
  EXPECT_EQ(dir.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(dir.message()), HasSubstr("Is a directory"));
  EXPECT_EQ(dir, WriteWholeFile(::testing::TempDir(), "{}"));
}

TEST(PrintableTextTest, KeepsWhatATerminalShowsAsItIs) {
  EXPECT_EQ(PrintableText("flows.txt:3: host 'x' is not a host index\n\tsee --help"),
            "flows.txt:3: host 'x' is not a host index\n\tsee --help");
  EXPECT_EQ(PrintableText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
      << "well-formed UTF-8 of 2, 3 and 4 bytes";
  EXPECT_EQ(PrintableText(""), "");
}

TEST(PrintableTextTest, EscapesControlBytesAndMalformedUtf8) {
  EXPECT_EQ(PrintableText(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(PrintableText("\x1b[2J\r\x7f"), "\\x1b[2J\\x0d\\x7f") << "escape, CR, DEL";
  EXPECT_EQ(PrintableText("\xc2\x9b"), "\\xc2\\x9b") << "C1 control CSI, U+009B";
  EXPECT_EQ(PrintableText("\xc0\xaf"), "\\xc0\\xaf") << "overlong '/'";
  EXPECT_EQ(PrintableText("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "UTF-16 surrogate";
  EXPECT_EQ(PrintableText("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80") << "beyond U+10FFFF";
  EXPECT_EQ(PrintableText("ok\xe2\x82"), "ok\\xe2\\x82") << "truncated at the end";
  EXPECT_EQ(PrintableText("\xe2(x"), "\\xe2(x") << "a bad continuation byte is kept";
  EXPECT_EQ(PrintableText("\xff\xfe"), "\\xff\\xfe");
}

}  // namespace
}  // namespace tern
