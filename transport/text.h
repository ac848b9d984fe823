// Strict text parsing shared by every layer's spec and file readers: a value
// is the whole string (no sign for unsigned, no spaces, no trailing junk), so
// "10x" or " 5" is refused rather than half-read. std::string_view throughout:
// Debian's Abseil has its own string_view, which std::string_view does not
// convert to.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tern {

template <typename Unsigned>
requires std::is_unsigned_v<Unsigned>
bool ParseUint(std::string_view text, Unsigned* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// The same, as an optional: a leading digit is required, so "+5" is refused too.
inline std::optional<uint64_t> ParseUnsigned(std::string_view text) {
  uint64_t value = 0;
  if (text.empty() || text.front() < '0' || text.front() > '9' || !ParseUint(text, &value)) {
    return std::nullopt;
  }
  return value;
}

// A finite decimal or scientific number.
inline bool ParseDouble(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end && std::isfinite(*out);
}

// The same without a sign, for amounts that cannot be negative: "2", ".5",
// "2e6"; "-0", "+1", "inf" and "nan" are refused.
inline std::optional<double> ParseNonNegativeDouble(std::string_view text) {
  double value = 0;
  if (text.empty() || text.front() == '-' || text.front() == '+' || !ParseDouble(text, &value)) {
    return std::nullopt;
  }
  return value;
}

// Pieces between `separator`s, empty ones kept ("a,,b" gives three).
inline std::vector<std::string_view> SplitText(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    pieces.push_back(text.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos) return pieces;
    begin = end + 1;
  }
}

// One item of a "key=value,key=value" spec, split at its first '='.
struct KeyValue {
  std::string_view item;   // as written, for error messages
  std::string_view key;    // before the first '='; the whole item if it has none
  std::string_view value;  // after the first '='; empty if it has none
  bool has_equals = false;
};

// The items of a "key=value,key=value" spec, empty ones kept (as SplitText).
// Nothing is refused here: specs differ in which of an empty item, a missing
// '=', an empty key or an empty value they refuse, and a caller that checks
// the items in order reports the leftmost fault, whatever its kind.
inline std::vector<KeyValue> SplitKeyValues(std::string_view spec) {
  std::vector<KeyValue> items;
  for (std::string_view item : SplitText(spec, ',')) {
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      items.push_back({item, item, {}, false});
    } else {
      items.push_back({item, item.substr(0, equals), item.substr(equals + 1), true});
    }
  }
  return items;
}

// Words separated by spaces, tabs or carriage returns.
inline std::vector<std::string_view> SplitWords(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > begin) words.push_back(line.substr(begin, i - begin));
  }
  return words;
}

}  // namespace tern
