#include "apps/replay_flow_files.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "apps/file_io.h"
#include "transport/text.h"

namespace tern::replay {
namespace {

// Limits that catch a corrupt or mistyped file instead of replaying nonsense.
constexpr uint64_t kMaxHosts = uint64_t{1} << 20;
constexpr double kMaxStartSeconds = 86400;

template <typename... Args>
absl::Status LineError(std::string_view source, size_t line,
                       const absl::FormatSpec<Args...>& format, const Args&... args) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s:%d: %s", source, line, absl::StrFormat(format, args...)));
}

struct Line {
  size_t number = 0;  // 1-based, as an editor shows it
  std::vector<std::string_view> tokens;
};

std::vector<std::string_view> Tokens(std::string_view text) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
    const size_t begin = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\r') ++i;
    if (i > begin) tokens.push_back(text.substr(begin, i - begin));
  }
  return tokens;
}

// The lines that hold something: blank lines and '#' comments are dropped.
// `last_line` is the number of the file's last line, for "file ends" errors.
std::vector<Line> ContentLines(std::string_view text, size_t& last_line) {
  std::vector<Line> lines;
  last_line = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++last_line;
    std::vector<std::string_view> tokens = Tokens(line);
    if (tokens.empty() || tokens.front().front() == '#') continue;
    lines.push_back({last_line, std::move(tokens)});
  }
  return lines;
}

// Parses a host index; on failure returns an error for `line`.
absl::StatusOr<uint32_t> ParseHost(std::string_view text, std::string_view source, size_t line) {
  const std::optional<uint64_t> host = ParseUnsigned(text);
  if (!host) return LineError(source, line, "host '%s' is not a host index", text);
  if (*host >= kMaxHosts) {
    return LineError(source, line, "host %d is beyond the %d hosts a replay supports", *host,
                     kMaxHosts);
  }
  return static_cast<uint32_t>(*host);
}

absl::StatusOr<uint64_t> ParseFlowBytes(std::string_view text, std::string_view source,
                                        size_t line) {
  const std::optional<uint64_t> bytes = ParseUnsigned(text);
  if (!bytes) return LineError(source, line, "size '%s' is not a byte count", text);
  if (*bytes == 0) return LineError(source, line, "size is 0; a flow must carry bytes");
  if (*bytes >= kMaxTransferBytes) {
    return LineError(source, line, "size %d is 1 TiB or more", *bytes);
  }
  return *bytes;
}

absl::StatusOr<Time> StartFromSeconds(double seconds, std::string_view text,
                                      std::string_view source, size_t line) {
  if (seconds > kMaxStartSeconds) {
    return LineError(source, line, "start %s is more than a day into the run", text);
  }
  return Time::FromPicoseconds(std::llround(seconds * 1e12));
}

absl::Status Validated(const Workload& workload, std::string_view source) {
  const absl::Status status = ValidateWorkload(workload);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrFormat("%s: %s", source, status.message()));
}

// ---- htsim ----------------------------------------------------------------

enum class TriggerKind { kOneshot, kMultishot, kBarrier };

struct HtsimTrigger {
  size_t defined_on = 0;  // 0: no `trigger id` line (yet)
  TriggerKind kind = TriggerKind::kOneshot;
  std::optional<uint64_t> count;
  size_t first_used_on = 0;
  std::vector<uint32_t> firers;   // steps whose end activates the trigger, in file order
  std::vector<uint32_t> waiters;  // steps it starts, in file order
};

struct HtsimHeader {
  std::optional<uint64_t> value;
  size_t line = 0;
};

// What a flow or trigger line refers to by trigger id.
absl::StatusOr<uint32_t> ParseTriggerId(std::string_view text, std::string_view source,
                                        size_t line) {
  const std::optional<uint64_t> id = ParseUnsigned(text);
  if (!id || *id == 0 || *id > UINT32_MAX) {
    return LineError(source, line, "trigger id '%s' is not a number from 1 to %d", text,
                     UINT32_MAX);
  }
  return static_cast<uint32_t>(*id);
}

class HtsimParser {
 public:
  explicit HtsimParser(std::string_view source) : source_(source) {}

  absl::StatusOr<Workload> Parse(std::string_view text) {
    size_t last_line = 0;
    bool in_header = true;
    for (const Line& line : ContentLines(text, last_line)) {
      const std::string_view first = line.tokens.front();
      if (HtsimHeader* header = HeaderFor(first)) {
        if (!in_header) {
          return LineError(source_, line.number, "'%s' must come before the first flow or trigger",
                           first);
        }
        if (absl::Status s = ParseHeader(line, *header); !s.ok()) return s;
      } else if (first.find("->") != std::string_view::npos) {
        in_header = false;
        if (absl::Status s = ParseFlow(line); !s.ok()) return s;
      } else if (first == "trigger") {
        in_header = false;
        if (absl::Status s = ParseTrigger(line); !s.ok()) return s;
      } else if (first == "failure") {
        return LineError(source_, line.number,
                         "switch failures cannot be replayed; remove the failure lines");
      } else {
        return LineError(source_, line.number,
                         "'%s' is neither a header (Nodes, Connections, Triggers, Failures), "
                         "a flow (SRC->DST ...) nor a trigger",
                         first);
      }
    }
    if (workload_.steps.empty()) {
      return LineError(source_, std::max<size_t>(1, last_line),
                       "no flows (expected lines like '0->1 start 0 size 1000')");
    }
    if (absl::Status s = CheckCounts(); !s.ok()) return s;
    if (absl::Status s = ResolveTriggers(); !s.ok()) return s;
    workload_.description = std::string(source_);
    workload_.hosts = nodes_.value ? static_cast<uint32_t>(*nodes_.value) : max_host_ + 1;
    if (absl::Status s = Validated(workload_, source_); !s.ok()) return s;
    return std::move(workload_);
  }

 private:
  HtsimHeader* HeaderFor(std::string_view keyword) {
    if (keyword == "Nodes") return &nodes_;
    if (keyword == "Connections") return &connections_;
    if (keyword == "Triggers") return &triggers_;
    if (keyword == "Failures") return &failures_;
    return nullptr;
  }

  absl::Status ParseHeader(const Line& line, HtsimHeader& header) {
    const std::string_view keyword = line.tokens[0];
    if (header.line != 0) {
      return LineError(source_, line.number, "%s given twice (first on line %d)", keyword,
                       header.line);
    }
    if (line.tokens.size() != 2) {
      return LineError(source_, line.number, "expected '%s COUNT'", keyword);
    }
    const std::optional<uint64_t> value = ParseUnsigned(line.tokens[1]);
    if (!value) {
      return LineError(source_, line.number, "%s '%s' is not a count", keyword, line.tokens[1]);
    }
    if (&header == &nodes_ && (*value < 2 || *value > kMaxHosts)) {
      return LineError(source_, line.number, "Nodes %d is not in 2..%d", *value, kMaxHosts);
    }
    header.value = value;
    header.line = line.number;
    return absl::OkStatus();
  }

  HtsimTrigger& UseTrigger(uint32_t id, size_t line) {
    HtsimTrigger& trigger = trigger_table_[id];
    if (trigger.first_used_on == 0) trigger.first_used_on = line;
    return trigger;
  }

  absl::Status ParseFlow(const Line& line) {
    const size_t n = line.number;
    const std::string_view endpoints = line.tokens[0];
    const size_t arrow = endpoints.find("->");
    absl::StatusOr<uint32_t> src = ParseHost(endpoints.substr(0, arrow), source_, n);
    if (!src.ok()) return src.status();
    absl::StatusOr<uint32_t> dst = ParseHost(endpoints.substr(arrow + 2), source_, n);
    if (!dst.ok()) return dst.status();
    if (*src == *dst) return LineError(source_, n, "flow from host %d to itself", *src);
    if (nodes_.value && std::max(*src, *dst) >= *nodes_.value) {
      return LineError(source_, n, "host %d is not below Nodes %d (line %d)", std::max(*src, *dst),
                       *nodes_.value, nodes_.line);
    }

    const auto step_index = static_cast<uint32_t>(workload_.steps.size());
    Step step;
    step.src = *src;
    step.dst = *dst;
    std::optional<uint64_t> flow_id;
    std::optional<Time> start;
    std::optional<uint32_t> waits_on;
    std::vector<uint32_t> fires;
    std::map<std::string_view, bool> seen;
    for (size_t i = 1; i < line.tokens.size(); ++i) {
      const std::string_view name = line.tokens[i];
      if (seen[name]) return LineError(source_, n, "'%s' given twice", name);
      seen[name] = true;
      if (name == "addon") continue;  // an htsim-internal signalling flag; no effect on timing
      const bool known = name == "start" || name == "size" || name == "id" || name == "trigger" ||
                         name == "send_done_trigger" || name == "recv_done_trigger" ||
                         name == "prio";
      if (!known) return LineError(source_, n, "unknown flow attribute '%s'", name);
      if (i + 1 == line.tokens.size()) return LineError(source_, n, "'%s' needs a value", name);
      const std::string_view value = line.tokens[++i];
      if (name == "start") {
        const std::optional<double> ps = ParseNonNegativeDouble(value);
        if (!ps) {
          return LineError(source_, n, "start '%s' is not a non-negative number of picoseconds",
                           value);
        }
        absl::StatusOr<Time> t = StartFromSeconds(*ps / 1e12, value, source_, n);
        if (!t.ok()) return t.status();
        start = *t;
      } else if (name == "size") {
        absl::StatusOr<uint64_t> bytes = ParseFlowBytes(value, source_, n);
        if (!bytes.ok()) return bytes.status();
        step.bytes = *bytes;
      } else if (name == "id") {
        flow_id = ParseUnsigned(value);
        if (!flow_id || *flow_id == 0 || *flow_id > UINT32_MAX) {
          return LineError(source_, n, "flow id '%s' is not a number from 1 to %d", value,
                           UINT32_MAX);
        }
        const auto [it, inserted] = flow_lines_.emplace(*flow_id, n);
        if (!inserted) {
          return LineError(source_, n, "flow id %d already used on line %d", *flow_id, it->second);
        }
      } else if (name == "prio") {
        if (!ParseUnsigned(value)) return LineError(source_, n, "prio '%s' is not a number", value);
      } else {  // one of the three trigger attributes
        absl::StatusOr<uint32_t> id = ParseTriggerId(value, source_, n);
        if (!id.ok()) return id.status();
        if (name == "trigger") {
          waits_on = *id;
        } else {
          fires.push_back(*id);
        }
      }
    }
    if (step.bytes == 0) return LineError(source_, n, "flow has no size");
    if (!start && !waits_on) return LineError(source_, n, "flow has neither start nor trigger");
    if (start && waits_on) return LineError(source_, n, "flow has both start and trigger");

    step.not_before = start.value_or(Time::Zero());
    step.label =
        flow_id ? absl::StrFormat("htsim:%d", *flow_id) : absl::StrFormat("htsim:line %d", n);
    if (waits_on) UseTrigger(*waits_on, n).waiters.push_back(step_index);
    for (uint32_t id : fires) {
      std::vector<uint32_t>& firers = UseTrigger(id, n).firers;
      // A flow firing one trigger on both send and receive completion still ends once.
      if (firers.empty() || firers.back() != step_index) firers.push_back(step_index);
    }
    max_host_ = std::max({max_host_, step.src, step.dst});
    workload_.steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  absl::Status ParseTrigger(const Line& line) {
    const size_t n = line.number;
    std::optional<uint32_t> id;
    std::optional<TriggerKind> kind;
    std::optional<uint64_t> count;
    for (size_t i = 1; i < line.tokens.size(); ++i) {
      const std::string_view name = line.tokens[i];
      if (name == "oneshot" || name == "multishot" || name == "barrier") {
        if (kind) return LineError(source_, n, "trigger has two types");
        kind = name == "oneshot"     ? TriggerKind::kOneshot
               : name == "multishot" ? TriggerKind::kMultishot
                                     : TriggerKind::kBarrier;
      } else if (name == "id" || name == "count") {
        if ((name == "id" && id) || (name == "count" && count)) {
          return LineError(source_, n, "'%s' given twice", name);
        }
        if (i + 1 == line.tokens.size()) return LineError(source_, n, "'%s' needs a value", name);
        const std::string_view value = line.tokens[++i];
        if (name == "id") {
          absl::StatusOr<uint32_t> parsed = ParseTriggerId(value, source_, n);
          if (!parsed.ok()) return parsed.status();
          id = *parsed;
        } else {
          count = ParseUnsigned(value);
          if (!count || *count == 0) {
            return LineError(source_, n, "count '%s' is not a positive number", value);
          }
        }
      } else {
        return LineError(source_, n, "unknown trigger attribute '%s'", name);
      }
    }
    if (!id) return LineError(source_, n, "trigger has no id");
    if (!kind)
      return LineError(source_, n, "trigger %d has no type (oneshot, multishot, barrier)", *id);
    HtsimTrigger& trigger = UseTrigger(*id, n);
    if (trigger.defined_on != 0) {
      return LineError(source_, n, "trigger %d already defined on line %d", *id,
                       trigger.defined_on);
    }
    trigger.defined_on = n;
    trigger.kind = *kind;
    trigger.count = count;
    ++trigger_lines_seen_;
    return absl::OkStatus();
  }

  absl::Status CheckCount(const HtsimHeader& header, std::string_view keyword, size_t actual,
                          std::string_view what) {
    if (!header.value || *header.value == actual) return absl::OkStatus();
    return LineError(source_, header.line, "%s %d, but the file has %d %s", keyword, *header.value,
                     actual, what);
  }

  absl::Status CheckCounts() {
    if (absl::Status s = CheckCount(connections_, "Connections", workload_.steps.size(), "flows");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckCount(triggers_, "Triggers", trigger_lines_seen_, "trigger lines");
        !s.ok()) {
      return s;
    }
    return CheckCount(failures_, "Failures", 0, "failure lines");
  }

  // Turns each trigger into dependencies of the flows waiting on it (see the
  // header for how each kind is approximated).
  absl::Status ResolveTriggers() {
    for (const auto& [id, trigger] : trigger_table_) {
      if (trigger.defined_on == 0) {
        return LineError(source_, trigger.first_used_on,
                         "trigger %d is used but never defined (no 'trigger id %d ...' line)", id,
                         id);
      }
      if (trigger.waiters.empty()) continue;
      if (trigger.firers.empty()) {
        return LineError(source_, trigger.defined_on,
                         "trigger %d starts flows but no flow fires it "
                         "(send_done_trigger or recv_done_trigger %d)",
                         id, id);
      }
      switch (trigger.kind) {
        case TriggerKind::kBarrier:
          if (trigger.count && *trigger.count != trigger.firers.size()) {
            return LineError(source_, trigger.defined_on,
                             "barrier trigger %d has count %d but %d flows fire it", id,
                             *trigger.count, trigger.firers.size());
          }
          for (uint32_t waiter : trigger.waiters) {
            std::vector<uint32_t>& deps = workload_.steps[waiter].deps;
            deps.insert(deps.end(), trigger.firers.begin(), trigger.firers.end());
          }
          break;
        case TriggerKind::kOneshot:
          for (uint32_t waiter : trigger.waiters) {
            workload_.steps[waiter].deps.push_back(trigger.firers.front());
          }
          break;
        case TriggerKind::kMultishot:
          if (trigger.waiters.size() > trigger.firers.size()) {
            return LineError(source_, trigger.defined_on,
                             "multishot trigger %d starts one flow per firing: %d flows wait on "
                             "it but only %d fire it",
                             id, trigger.waiters.size(), trigger.firers.size());
          }
          for (size_t k = 0; k < trigger.waiters.size(); ++k) {
            workload_.steps[trigger.waiters[k]].deps.push_back(trigger.firers[k]);
          }
          break;
      }
    }
    return absl::OkStatus();
  }

  std::string_view source_;
  Workload workload_;
  HtsimHeader nodes_, connections_, triggers_, failures_;
  std::map<uint32_t, HtsimTrigger> trigger_table_;  // ordered: errors name the lowest id
  std::map<uint64_t, size_t> flow_lines_;           // flow id -> line
  size_t trigger_lines_seen_ = 0;
  uint32_t max_host_ = 0;
};

}  // namespace

absl::StatusOr<Workload> ParseHtsimConnectionMatrix(std::string_view text,
                                                    std::string_view source_name) {
  return HtsimParser(source_name).Parse(text);
}

absl::StatusOr<Workload> ParseHpccFlowFile(std::string_view text, std::string_view source_name) {
  size_t last_line = 0;
  const std::vector<Line> lines = ContentLines(text, last_line);
  if (lines.empty())
    return LineError(source_name, std::max<size_t>(1, last_line), "empty flow file");
  const Line& header = lines.front();
  const std::optional<uint64_t> announced =
      header.tokens.size() == 1 ? ParseUnsigned(header.tokens[0]) : std::nullopt;
  if (!announced) {
    return LineError(source_name, header.number,
                     "the first line must be the number of flows, alone");
  }
  if (*announced == 0) return LineError(source_name, header.number, "no flows");

  Workload workload;
  workload.description = std::string(source_name);
  uint32_t max_host = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const Line& line = lines[i];
    const size_t n = line.number;
    if (i > *announced) {
      return LineError(source_name, n, "more flows than the %d announced on line %d", *announced,
                       header.number);
    }
    if (line.tokens.size() != 6) {
      return LineError(source_name, n, "expected 'SRC DST PG DPORT SIZE START_SECONDS', got %d %s",
                       line.tokens.size(), line.tokens.size() == 1 ? "field" : "fields");
    }
    absl::StatusOr<uint32_t> src = ParseHost(line.tokens[0], source_name, n);
    if (!src.ok()) return src.status();
    absl::StatusOr<uint32_t> dst = ParseHost(line.tokens[1], source_name, n);
    if (!dst.ok()) return dst.status();
    if (*src == *dst) return LineError(source_name, n, "flow from host %d to itself", *src);
    if (!ParseUnsigned(line.tokens[2])) {
      return LineError(source_name, n, "priority group '%s' is not a number", line.tokens[2]);
    }
    const std::optional<uint64_t> dport = ParseUnsigned(line.tokens[3]);
    if (!dport || *dport > 65535) {
      return LineError(source_name, n, "port '%s' is not a number from 0 to 65535", line.tokens[3]);
    }
    absl::StatusOr<uint64_t> bytes = ParseFlowBytes(line.tokens[4], source_name, n);
    if (!bytes.ok()) return bytes.status();
    const std::optional<double> seconds = ParseNonNegativeDouble(line.tokens[5]);
    if (!seconds) {
      return LineError(source_name, n, "start '%s' is not a non-negative number of seconds",
                       line.tokens[5]);
    }
    absl::StatusOr<Time> start = StartFromSeconds(*seconds, line.tokens[5], source_name, n);
    if (!start.ok()) return start.status();

    Step step;
    step.src = *src;
    step.dst = *dst;
    step.bytes = *bytes;
    step.not_before = *start;
    step.label = absl::StrFormat("hpcc:%d", n);
    max_host = std::max({max_host, step.src, step.dst});
    workload.steps.push_back(std::move(step));
  }
  if (workload.steps.size() < *announced) {
    return LineError(source_name, last_line,
                     "line %d announced %d flows but the file ends after %d", header.number,
                     *announced, workload.steps.size());
  }
  workload.hosts = max_host + 1;
  if (absl::Status s = Validated(workload, source_name); !s.ok()) return s;
  return workload;
}

absl::StatusOr<Workload> LoadFlowFile(const std::string& path) {
  absl::StatusOr<std::string> read = ReadWholeFile(path);
  if (!read.ok()) return read.status();
  const std::string& text = *read;
  // htsim flows are the only lines with "->"; HPCC files hold numbers only.
  if (text.find("->") != std::string::npos) return ParseHtsimConnectionMatrix(text, path);
  return ParseHpccFlowFile(text, path);
}

}  // namespace tern::replay
