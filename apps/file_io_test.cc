#include "apps/file_io.h"

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

}  // namespace
}  // namespace tern
