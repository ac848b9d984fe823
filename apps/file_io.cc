#include "apps/file_io.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"

namespace tern {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot open: %s", path, std::strerror(errno)));
  }
  const auto too_long = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: more than %d bytes, larger than any input this reads (a wrong path?)",
                        path, max_bytes));
  };
  struct stat status {};
  if (fstat(fileno(file), &status) == 0 && S_ISREG(status.st_mode) &&
      static_cast<uint64_t>(status.st_size) > max_bytes) {
    std::fclose(file);
    return too_long();
  }
  std::string text;
  char buffer[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    if (text.size() + got > max_bytes) {
      std::fclose(file);
      return too_long();
    }
    text.append(buffer, got);
  }
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot read: %s", path, std::strerror(error)));
  }
  return text;
}

absl::Status WriteWholeFile(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  bool ok = file != nullptr && std::fwrite(text.data(), 1, text.size(), file) == text.size();
  int error = errno;
  if (file != nullptr && std::fclose(file) != 0) {
    if (ok) error = errno;
    ok = false;
  }
  if (!ok) {
    return absl::UnavailableError(
        absl::StrFormat("cannot write %s: %s", path, std::strerror(error)));
  }
  return absl::OkStatus();
}

absl::Status CheckWritable(const std::string& path) {
  const auto fail = [&](int error) {
    return absl::UnavailableError(
        absl::StrFormat("cannot write %s: %s", path, std::strerror(error)));
  };
  // "r+" opens an existing file for writing without truncating it; fopen
  // fails with EISDIR on a directory.
  if (std::FILE* existing = std::fopen(path.c_str(), "r+b"); existing != nullptr) {
    std::fclose(existing);
    return absl::OkStatus();
  }
  if (errno != ENOENT) return fail(errno);
  std::FILE* created = std::fopen(path.c_str(), "wb");
  if (created == nullptr) return fail(errno);
  std::fclose(created);
  std::remove(path.c_str());
  return absl::OkStatus();
}

size_t Utf8SequenceLength(absl::string_view text) {
  if (text.empty()) return 0;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint8_t low = 0x80;   // range of the first continuation byte, which rules
  uint8_t high = 0xBF;  // out overlong forms, surrogates and > U+10FFFF
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

std::string PrintableText(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<uint8_t>(text[i]);
    if ((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    // C2 80..C2 9F encode the C1 controls (U+0080..U+009F): escaped too.
    const size_t length = Utf8SequenceLength(text.substr(i));
    const bool c1_control = length > 0 && c == 0xC2 && static_cast<uint8_t>(text[i + 1]) < 0xA0;
    if (length > 0 && !c1_control) {
      out.append(text.data() + i, length);
      i += length;
      continue;
    }
    absl::StrAppendFormat(&out, "\\x%02x", c);
    ++i;
  }
  return out;
}

}  // namespace tern
