#include "apps/perf_result_wire.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::perf {
namespace {

// Each message's fields in wire order: one list serves the writer and the
// reader, so the two cannot drift apart. The failure text is always last.
template <typename Report, typename Visit>
void ServerReportFields(Report& r, Visit& visit) {
  visit("bytes_verified", r.bytes_verified);
  visit("data_errors", r.data_errors);
  visit("failure", r.failure);
}

template <typename Result, typename Visit>
void ClientResultFields(Result& r, Visit& visit) {
  visit("ok", r.ok);
  visit("bw_peak_gbps", r.bw_peak_gbps);
  visit("bw_avg_gbps", r.bw_avg_gbps);
  visit("msg_rate_mpps", r.msg_rate_mpps);
  visit("has_latency", r.has_latency);
  visit("t_min", r.latency.t_min);
  visit("t_max", r.latency.t_max);
  visit("t_typical", r.latency.t_typical);
  visit("t_avg", r.latency.t_avg);
  visit("t_stdev", r.latency.t_stdev);
  visit("p99", r.latency.p99);
  visit("p99_9", r.latency.p99_9);
  visit("messages_posted", r.messages_posted);
  visit("messages_completed", r.messages_completed);
  visit("bytes_verified", r.bytes_verified);
  visit("data_errors", r.data_errors);
  visit("peak_window", r.peak_window);
  visit("virtual_seconds", r.virtual_seconds);
  visit("bytes", r.bytes);
  visit("mtu", r.mtu);
  visit("failure", r.failure);
}

class Writer {
 public:
  void operator()(std::string_view name, bool value) { Line(name, value ? "1" : "0"); }
  template <typename Unsigned>
  requires std::is_unsigned_v<Unsigned>
  void operator()(std::string_view name, Unsigned value) { Line(name, absl::StrCat(value)); }
  // %.17g reads back as the same double.
  void operator()(std::string_view name, double value) {
    Line(name, absl::StrFormat("%.17g", value));
  }
  void operator()(std::string_view name, const std::string& value) {
    text_.append(name).append("=").append(value);
  }
  std::vector<uint8_t> bytes() const { return {text_.begin(), text_.end()}; }

 private:
  void Line(std::string_view name, std::string_view value) {
    text_.append(name).append("=").append(value).append("\n");
  }
  std::string text_;
};

// Reads the fields in order and stops at the first fault, which it keeps.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes)
      : rest_(reinterpret_cast<const char*>(bytes.data()), bytes.size()) {}

  void operator()(std::string_view name, bool& out) {
    const std::optional<std::string_view> value = Line(name);
    if (!value) return;
    if (*value != "0" && *value != "1") return Fail(name, "not 0 or 1", *value);
    out = *value == "1";
  }
  template <typename Unsigned>
  requires std::is_unsigned_v<Unsigned>
  void operator()(std::string_view name, Unsigned& out) {
    const std::optional<std::string_view> value = Line(name);
    if (!value) return;
    const std::optional<uint64_t> number = ParseUnsigned(*value);
    if (!number || *number > std::numeric_limits<Unsigned>::max()) {
      return Fail(name, absl::StrFormat("not an unsigned %d-bit integer", 8 * sizeof(Unsigned)),
                  *value);
    }
    out = static_cast<Unsigned>(*number);
  }
  // Infinities and NaN are taken (a rate over no time is one): this is a
  // report to print, not a setting.
  void operator()(std::string_view name, double& out) {
    const std::optional<std::string_view> value = Line(name);
    if (!value) return;
    double number = 0;
    const char* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, number);
    if (value->empty() || ec != std::errc() || ptr != end) {
      return Fail(name, "not a number", *value);
    }
    out = number;
  }
  // The last field: the rest of the message, newlines and all.
  void operator()(std::string_view name, std::string& out) {
    if (!status_.ok()) return;
    if (!TakeName(name)) return;
    out = std::string(rest_);
    rest_ = {};
  }

  const absl::Status& status() const { return status_; }

 private:
  // The value of the next line, which must start with "name="; nullopt once
  // anything has failed.
  std::optional<std::string_view> Line(std::string_view name) {
    if (!status_.ok() || !TakeName(name)) return std::nullopt;
    const size_t newline = rest_.find('\n');
    if (newline == std::string_view::npos) {
      Fail(name, "the message ends inside it", rest_);
      return std::nullopt;
    }
    const std::string_view value = rest_.substr(0, newline);
    rest_.remove_prefix(newline + 1);
    return value;
  }
  bool TakeName(std::string_view name) {
    ++line_;
    if (!rest_.starts_with(name) || !rest_.substr(name.size()).starts_with('=')) {
      Fail(name, "missing", rest_.substr(0, rest_.find('\n')));
      return false;
    }
    rest_.remove_prefix(name.size() + 1);
    return true;
  }
  void Fail(std::string_view name, std::string_view why, std::string_view seen) {
    // Shows at most 40 bytes of what was there, escaped: it may be anything.
    constexpr size_t kShown = 40;
    status_ = absl::InvalidArgumentError(absl::StrFormat(
        "line %d, %s: %s (\"%s\"%s)", line_, name, why,
        absl::CHexEscape(absl::string_view(seen.data(), std::min(seen.size(), kShown))),
        seen.size() > kShown ? "..." : ""));
  }

  std::string_view rest_;
  int line_ = 0;
  absl::Status status_;
};

}  // namespace

std::vector<uint8_t> EncodeServerReport(const ServerReport& report) {
  Writer writer;
  ServerReportFields(report, writer);
  return writer.bytes();
}

absl::StatusOr<ServerReport> DecodeServerReport(std::span<const uint8_t> bytes) {
  ServerReport report;
  Reader reader(bytes);
  ServerReportFields(report, reader);
  if (!reader.status().ok()) return reader.status();
  return report;
}

std::vector<uint8_t> EncodeClientResult(const PerfResult& result) {
  Writer writer;
  ClientResultFields(result, writer);
  return writer.bytes();
}

absl::Status DecodeClientResult(std::span<const uint8_t> bytes, PerfResult* result) {
  PerfResult decoded = *result;
  Reader reader(bytes);
  ClientResultFields(decoded, reader);
  if (!reader.status().ok()) return reader.status();
  *result = std::move(decoded);
  return absl::OkStatus();
}

}  // namespace tern::perf
