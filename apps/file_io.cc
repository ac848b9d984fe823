#include "apps/file_io.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"

namespace tern {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot open: %s", path, std::strerror(errno)));
  }
  std::string text;
  char buffer[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, got);
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

namespace {

// Bytes in the well-formed UTF-8 sequence at the start of `s` that is not a
// C1 control (U+0080..U+009F); 0 when there is none.
size_t PrintableUtf8Length(absl::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint8_t low = 0x80;   // range of the first continuation byte, which rules
  uint8_t high = 0xBF;  // out overlong forms, surrogates and > U+10FFFF
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    if (lead == 0xC2) low = 0xA0;  // C2 80..C2 9F are the C1 controls
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
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

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
    if (const size_t length = PrintableUtf8Length(text.substr(i)); length > 0) {
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
