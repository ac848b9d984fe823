#include "apps/replay_rank_file.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/file_io.h"
#include "cc/congestion_control.h"
#include "dataplane/sim/simulator.h"
#include "transport/text.h"

namespace tern::replay {
namespace {

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string Esc(std::string_view s) { return absl::CEscape(Absl(s)); }

// A whole-string integer, signed or not.
template <typename Int>
bool ParseInt(std::string_view text, Int* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

const char* FlowStatus(const FlowResult& f) {
  return f.failed ? "failed" : f.completed ? "ok" : "unfinished";
}

// Parses a rank file line by line; every error names the file and line.
class RankFileParser {
 public:
  RankFileParser(std::string_view text, std::string_view name) : text_(text), name_(name) {}

  absl::StatusOr<RankResult> Parse();

 private:
  absl::Status Error(std::string_view why) const {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", name_, line_, why));
  }
  absl::Status ParseHeader(std::string_view key, std::string_view value);
  absl::Status ParseRecord(const std::vector<std::string_view>& f);
  absl::StatusOr<std::string> Unescape(std::string_view s) const {
    std::string out;
    if (!absl::CUnescape(Absl(s), &out)) return Error(absl::StrFormat("bad escape in '%s'", s));
    return out;
  }
  template <typename T>
  absl::Status Number(std::string_view s, std::string_view what, T* out) const {
    if (!ParseInt(s, out)) return Error(absl::StrFormat("%s: '%s' is not a number", what, s));
    return absl::OkStatus();
  }

  absl::Status ParseCcSample(const std::vector<std::string_view>& f);

  std::string_view text_;
  std::string_view name_;
  int line_ = 0;
  RankResult r_;
  std::set<std::string> headers_;
  // The variables of the rank's algorithm, as it names them: a sample's
  // names must be among them and point at these literals, which outlive
  // every result (CcVariable::name).
  std::vector<std::string_view> cc_variable_names_;
};

// A value as FormatRankFile prints it (%.17g): any double, "inf" and "nan" too.
bool ParseCcValue(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

absl::Status RankFileParser::ParseHeader(std::string_view key, std::string_view value) {
  if (!headers_.insert(std::string(key)).second) {
    return Error(absl::StrFormat("'%s' given twice", key));
  }
  if (key == "rank") return Number(value, key, &r_.rank);
  if (key == "ranks") return Number(value, key, &r_.ranks);
  if (key == "seed") return Number(value, key, &r_.seed);
  if (key == "mtu") return Number(value, key, &r_.mtu);
  if (key == "paths") {
    if (absl::Status s = Number(value, key, &r_.paths); !s.ok()) return s;
    if (r_.paths < 1 || r_.paths > kMaxPaths) {
      return Error(absl::StrFormat("paths: %d is not in 1..%d", r_.paths, kMaxPaths));
    }
    return absl::OkStatus();
  }
  if (key == "path_policy") {
    if (!ParsePathPolicy(value)) {
      return Error(absl::StrFormat("path_policy: '%s' is none of %s", absl::CHexEscape(Absl(value)),
                                   PathPolicyNames()));
    }
    r_.path_policy = std::string(value);
    return absl::OkStatus();
  }
  if (key == "start_unix_ns") return Number(value, key, &r_.start_unix_ns);
  if (key == "steps_run") return Number(value, key, &r_.steps_run);
  if (key == "steps_done") return Number(value, key, &r_.steps_done);
  if (key == "frames_sent") return Number(value, key, &r_.frames_sent);
  if (key == "frames_received") return Number(value, key, &r_.frames_received);
  if (key == "fault_judged") return Number(value, key, &r_.faults.judged);
  if (key == "fault_dropped") return Number(value, key, &r_.faults.dropped);
  if (key == "fault_blackholed") return Number(value, key, &r_.faults.blackholed);
  if (key == "fault_duplicated") return Number(value, key, &r_.faults.duplicated);
  if (key == "fault_corrupted") return Number(value, key, &r_.faults.corrupted);
  if (key == "fault_delayed") return Number(value, key, &r_.faults.delayed);
  if (key == "link_gbps") {
    if (!ParseDouble(value, &r_.link_gbps)) return Error("link_gbps: not a number");
    return absl::OkStatus();
  }
  if (key == "timeline_interval_ps") {
    int64_t ps;
    if (absl::Status s = Number(value, key, &ps); !s.ok()) return s;
    if (ps < 0) return Error("timeline_interval_ps: negative");
    r_.timeline_interval = Duration::Picoseconds(ps);
    return absl::OkStatus();
  }
  if (key == "elapsed_ps") {
    int64_t ps;
    if (absl::Status s = Number(value, key, &ps); !s.ok()) return s;
    r_.elapsed = Duration::Picoseconds(ps);
    return absl::OkStatus();
  }
  if (key == "timed_out") {
    if (value != "0" && value != "1") return Error("timed_out: 0 or 1");
    r_.timed_out = value == "1";
    return absl::OkStatus();
  }
  std::string* text = key == "workload"      ? &r_.workload
                      : key == "fingerprint" ? &r_.fingerprint
                      : key == "verb"        ? &r_.verb
                      : key == "cc"          ? &r_.cc
                      : key == "port"        ? &r_.port
                                             : nullptr;
  if (text == nullptr) return Error(absl::StrFormat("unknown record '%s'", key));
  absl::StatusOr<std::string> v = Unescape(value);
  if (!v.ok()) return v.status();
  *text = *std::move(v);
  return absl::OkStatus();
}

absl::Status RankFileParser::ParseRecord(const std::vector<std::string_view>& f) {
  const std::string_view kind = f[0];
  auto want = [&](size_t n) -> absl::Status {
    if (f.size() != n) {
      return Error(absl::StrFormat("'%s' record has %d fields, expected %d", kind, f.size(), n));
    }
    return absl::OkStatus();
  };
  if (kind == "collective") {
    if (absl::Status s = want(6); !s.ok()) return s;
    Collective c;
    for (auto [i, out] : {std::pair{1, &c.name}, {2, &c.operation}, {3, &c.algorithm}}) {
      absl::StatusOr<std::string> v = Unescape(f[i]);
      if (!v.ok()) return v.status();
      *out = *std::move(v);
    }
    if (absl::Status s = Number(f[4], "collective bytes", &c.bytes); !s.ok()) return s;
    if (absl::Status s = Number(f[5], "collective ranks", &c.ranks); !s.ok()) return s;
    r_.collectives.push_back(std::move(c));
    return absl::OkStatus();
  }
  if (kind == "flow") {
    if (absl::Status s = want(11); !s.ok()) return s;
    FlowResult fl;
    int64_t start, finish, ideal;
    absl::Status s = Number(f[1], "step", &fl.step);
    if (s.ok()) s = Number(f[2], "src", &fl.src);
    if (s.ok()) s = Number(f[3], "dst", &fl.dst);
    if (s.ok()) s = Number(f[4], "bytes", &fl.bytes);
    if (s.ok()) s = Number(f[5], "start", &start);
    if (s.ok()) s = Number(f[6], "finish", &finish);
    if (s.ok()) s = Number(f[7], "ideal", &ideal);
    if (s.ok()) s = Number(f[9], "collective", &fl.collective);
    if (!s.ok()) return s;
    if (f[8] == "ok") {
      fl.completed = true;
    } else if (f[8] == "failed") {
      fl.failed = true;
    } else if (f[8] != "unfinished") {
      return Error(absl::StrFormat("flow status '%s': ok, failed or unfinished", f[8]));
    }
    if (fl.src != r_.rank) {
      return Error(absl::StrFormat("flow of step %d is sent by rank %d, not this rank (%d)",
                                   fl.step, fl.src, r_.rank));
    }
    if (fl.completed && (finish < start || start < 0)) {
      return Error(absl::StrFormat("flow of step %d finishes before it starts", fl.step));
    }
    fl.start = Time::FromPicoseconds(start);
    fl.finish = finish < 0 ? Time::Infinite() : Time::FromPicoseconds(finish);
    fl.ideal = Duration::Picoseconds(ideal);
    absl::StatusOr<std::string> label = Unescape(f[10]);
    if (!label.ok()) return label.status();
    fl.label = *std::move(label);
    r_.flows.push_back(std::move(fl));
    return absl::OkStatus();
  }
  if (kind == "recv") {
    if (absl::Status s = want(6); !s.ok()) return s;
    RankReceive rv;
    absl::Status s = Number(f[1], "step", &rv.step);
    if (s.ok()) s = Number(f[2], "src", &rv.src);
    if (s.ok()) s = Number(f[3], "bytes", &rv.bytes);
    if (s.ok()) s = Number(f[4], "received", &rv.received);
    if (s.ok()) s = Number(f[5], "errors", &rv.data_errors);
    if (!s.ok()) return s;
    r_.receives.push_back(rv);
    return absl::OkStatus();
  }
  if (kind == "qp") {
    if (f.size() < 2) return Error("'qp' record without a peer");
    RankQp qp;
    if (absl::Status s = Number(f[1], "qp peer", &qp.peer); !s.ok()) return s;
    for (size_t i = 2; i < f.size(); ++i) {
      const size_t eq = f[i].find('=');
      if (eq == std::string_view::npos)
        return Error(absl::StrFormat("'%s': expected NAME=VALUE", f[i]));
      const std::pair<std::string_view, std::string_view> kv{f[i].substr(0, eq),
                                                             f[i].substr(eq + 1)};
      const QpCounterField* field = nullptr;
      for (const QpCounterField& c : QpCounterFields()) {
        if (kv.first == c.name) field = &c;
      }
      if (field == nullptr) return Error(absl::StrFormat("unknown QP counter '%s'", kv.first));
      if (absl::Status s = Number(kv.second, kv.first, &(qp.counters.*(field->member))); !s.ok()) {
        return s;
      }
    }
    r_.qps.push_back(qp);
    return absl::OkStatus();
  }
  if (kind == "cc_sample") return ParseCcSample(f);
  if (f.size() != 2) return Error(absl::StrFormat("unknown record '%s'", kind));
  return ParseHeader(kind, f[1]);
}

absl::Status RankFileParser::ParseCcSample(const std::vector<std::string_view>& f) {
  // cc_sample, time, src, dst, qp, bytes, then NAME=VALUE per variable.
  constexpr size_t kFixedFields = 6;
  if (f.size() < kFixedFields) {
    return Error(absl::StrFormat("'cc_sample' record has %d fields, expected %d or more", f.size(),
                                 kFixedFields));
  }
  if (!headers_.contains("cc") || !headers_.contains("rank")) {
    return Error("'cc_sample' before the rank and cc records");
  }
  if (cc_variable_names_.empty()) {
    // The names do not depend on the parameters: the algorithm's defaults do.
    const std::string_view algorithm = std::string_view(r_.cc).substr(0, r_.cc.find(':'));
    absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
        CreateCongestionControl(algorithm, CcContext{});
    if (!cc.ok())
      return Error(absl::StrFormat("cc samples of '%s': %s", r_.cc, cc.status().message()));
    std::array<CcVariable, kMaxCcVariables> variables;
    const int n = (*cc)->DebugVariables(variables);
    for (int i = 0; i < n; ++i) cc_variable_names_.push_back(variables[i].name);
  }
  CcSample sample;
  int64_t at;
  absl::Status s = Number(f[1], "cc sample time", &at);
  if (s.ok()) s = Number(f[2], "cc sample src", &sample.src);
  if (s.ok()) s = Number(f[3], "cc sample dst", &sample.dst);
  if (s.ok()) s = Number(f[4], "cc sample qp", &sample.qp);
  if (s.ok()) s = Number(f[5], "cc sample bytes", &sample.bytes_sent);
  if (!s.ok()) return s;
  if (at < 0) return Error("cc sample time: negative");
  if (sample.src != r_.rank) {
    return Error(
        absl::StrFormat("cc sample of rank %d's QP, not this rank's (%d)", sample.src, r_.rank));
  }
  sample.at = Time::FromPicoseconds(at);
  if (f.size() - kFixedFields > cc_variable_names_.size()) {
    return Error(absl::StrFormat("cc sample has %d variables, '%s' has %d", f.size() - kFixedFields,
                                 r_.cc, cc_variable_names_.size()));
  }
  for (size_t i = kFixedFields; i < f.size(); ++i) {
    const size_t eq = f[i].find('=');
    const std::string_view name = f[i].substr(0, eq);
    const auto known = std::find(cc_variable_names_.begin(), cc_variable_names_.end(), name);
    if (eq == std::string_view::npos || known == cc_variable_names_.end()) {
      return Error(absl::StrFormat(
          "'%s': not NAME=VALUE with a variable of '%s' (%s)", f[i], r_.cc,
          absl::StrJoin(cc_variable_names_, ", ",
                        [](std::string* out, std::string_view n) { out->append(n); })));
    }
    CcVariable& v = sample.variables[sample.count++];
    v.name = *known;
    if (!ParseCcValue(f[i].substr(eq + 1), &v.value)) {
      return Error(absl::StrFormat("'%s': the value is not a number", f[i]));
    }
  }
  r_.cc_timeline.push_back(sample);
  return absl::OkStatus();
}

absl::StatusOr<RankResult> RankFileParser::Parse() {
  std::vector<std::string_view> lines = SplitText(text_, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: empty, not a rank file", name_));
  }
  line_ = 1;
  const std::vector<std::string_view> first = SplitText(lines[0], '\t');
  if (first.size() != 2 || first[0] != kRankFileMagic) {
    return Error(absl::StrFormat("not a tern-replay rank file (expected '%s<TAB>%d')",
                                 kRankFileMagic, kRankFileVersion));
  }
  uint32_t version = 0;
  if (!ParseInt(first[1], &version) || version != kRankFileVersion) {
    return Error(absl::StrFormat(
        "rank file version %s, this tern-replay reads version %d (merge with the build that ran)",
        first[1], kRankFileVersion));
  }
  bool ended = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    line_ = static_cast<int>(i + 1);
    if (ended) return Error("records after 'end'");
    const std::vector<std::string_view> f = SplitText(lines[i], '\t');
    if (f[0] == "end") {
      size_t count = 0;
      if (f.size() != 2 || !ParseInt(f[1], &count) || count != i - 1) {
        return Error(absl::StrFormat("'end' counts %s records, the file has %d",
                                     f.size() == 2 ? f[1] : "?", i - 1));
      }
      ended = true;
      continue;
    }
    if (absl::Status s = ParseRecord(f); !s.ok()) return s;
  }
  if (!ended) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: truncated: no 'end' record after %d lines (did the rank finish writing?)", name_,
        lines.size()));
  }
  for (const char* key : {"rank", "ranks", "seed", "workload", "fingerprint", "verb", "cc", "paths",
                          "path_policy", "elapsed_ps", "timed_out"}) {
    if (!headers_.contains(key)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: no '%s' record", name_, key));
    }
  }
  if (r_.rank >= r_.ranks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: rank %d of %d ranks", name_, r_.rank, r_.ranks));
  }
  return std::move(r_);
}

}  // namespace

std::string WorkloadFingerprint(const Workload& w) {
  // FNV-1a over a canonical text of the workload, mixed once more.
  uint64_t h = 0xcbf29ce484222325ull;
  auto add = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff;
    h *= 0x100000001b3ull;
  };
  add(absl::StrCat(w.hosts, " ", w.steps.size(), " ", w.collectives.size()));
  for (const Step& s : w.steps) {
    add(absl::StrCat(static_cast<int>(s.kind), " ", s.src, " ", s.dst, " ", s.bytes, " ",
                     s.duration.picoseconds(), " ", s.not_before.picoseconds(), " ", s.collective,
                     " ", absl::StrJoin(s.deps, ",")));
  }
  for (const Collective& c : w.collectives) {
    add(absl::StrCat(c.name, " ", c.operation, " ", c.algorithm, " ", c.bytes, " ", c.ranks));
  }
  return absl::StrFormat("%016x", sim::DeriveSeed(h, w.steps.size()));
}

std::string FormatRankFile(const RankResult& r) {
  std::vector<std::string> lines;
  auto header = [&lines](std::string_view key, const auto& value) {
    lines.push_back(absl::StrCat(std::string(key), "\t", value));
  };
  header("rank", r.rank);
  header("ranks", r.ranks);
  header("seed", r.seed);
  header("workload", Esc(r.workload));
  header("fingerprint", Esc(r.fingerprint));
  header("verb", Esc(r.verb));
  header("cc", Esc(r.cc));
  header("paths", r.paths);
  header("path_policy", r.path_policy);
  header("mtu", r.mtu);
  header("link_gbps", absl::StrFormat("%.17g", r.link_gbps));
  header("port", Esc(r.port));
  header("start_unix_ns", r.start_unix_ns);
  header("elapsed_ps", r.elapsed.picoseconds());
  header("timed_out", r.timed_out ? 1 : 0);
  header("steps_run", r.steps_run);
  header("steps_done", r.steps_done);
  header("frames_sent", r.frames_sent);
  header("frames_received", r.frames_received);
  header("fault_judged", r.faults.judged);
  header("fault_dropped", r.faults.dropped);
  header("fault_blackholed", r.faults.blackholed);
  header("fault_duplicated", r.faults.duplicated);
  header("fault_corrupted", r.faults.corrupted);
  header("fault_delayed", r.faults.delayed);
  header("timeline_interval_ps", r.timeline_interval.picoseconds());
  for (const Collective& c : r.collectives) {
    lines.push_back(absl::StrCat("collective\t", Esc(c.name), "\t", Esc(c.operation), "\t",
                                 Esc(c.algorithm), "\t", c.bytes, "\t", c.ranks));
  }
  for (const FlowResult& f : r.flows) {
    const bool finished = f.completed || f.failed;
    lines.push_back(absl::StrCat(
        "flow\t", f.step, "\t", f.src, "\t", f.dst, "\t", f.bytes, "\t", f.start.picoseconds(),
        "\t", finished && !f.finish.IsInfinite() ? f.finish.picoseconds() : -1, "\t",
        f.ideal.picoseconds(), "\t", FlowStatus(f), "\t", f.collective, "\t", Esc(f.label)));
  }
  for (const RankReceive& rv : r.receives) {
    lines.push_back(absl::StrCat("recv\t", rv.step, "\t", rv.src, "\t", rv.bytes, "\t", rv.received,
                                 "\t", rv.data_errors));
  }
  for (const RankQp& qp : r.qps) {
    std::string line = absl::StrCat("qp\t", qp.peer);
    for (const QpCounterField& c : QpCounterFields()) {
      absl::StrAppend(&line, "\t", c.name, "=", qp.counters.*(c.member));
    }
    lines.push_back(std::move(line));
  }
  for (const CcSample& c : r.cc_timeline) {
    std::string line = absl::StrCat("cc_sample\t", c.at.picoseconds(), "\t", c.src, "\t", c.dst,
                                    "\t", c.qp, "\t", c.bytes_sent);
    for (int i = 0; i < c.count; ++i) {
      absl::StrAppendFormat(&line, "\t%s=%.17g", c.variables[i].name, c.variables[i].value);
    }
    lines.push_back(std::move(line));
  }
  std::string out = absl::StrCat(std::string(kRankFileMagic), "\t", kRankFileVersion, "\n");
  for (const std::string& l : lines) absl::StrAppend(&out, l, "\n");
  absl::StrAppend(&out, "end\t", lines.size(), "\n");
  return out;
}

absl::StatusOr<RankResult> ParseRankFile(std::string_view text, std::string_view name) {
  return RankFileParser(text, name).Parse();
}

absl::StatusOr<ReplayResult> MergeRankResults(std::vector<RankResult> ranks) {
  if (ranks.empty()) return absl::InvalidArgumentError("--merge: no rank files");
  std::sort(ranks.begin(), ranks.end(),
            [](const RankResult& a, const RankResult& b) { return a.rank < b.rank; });
  const RankResult& r0 = ranks[0];
  // Everything the ranks must agree on, compared with the first.
  for (const RankResult& r : ranks) {
    auto differs = [&](std::string_view what, const auto& a, const auto& b) {
      return absl::InvalidArgumentError(
          absl::StrFormat("rank files disagree: rank %d has %s %s, rank %d has %s (not one run?)",
                          r0.rank, what, absl::StrCat(a), r.rank, absl::StrCat(b)));
    };
    if (r.ranks != r0.ranks) return differs("ranks", r0.ranks, r.ranks);
    if (r.seed != r0.seed) return differs("seed", r0.seed, r.seed);
    if (r.workload != r0.workload) return differs("workload", r0.workload, r.workload);
    if (r.fingerprint != r0.fingerprint) {
      return differs("workload fingerprint", r0.fingerprint, r.fingerprint);
    }
    if (r.verb != r0.verb) return differs("verb", r0.verb, r.verb);
    if (r.cc != r0.cc) return differs("cc", r0.cc, r.cc);
    if (r.paths != r0.paths) return differs("paths", r0.paths, r.paths);
    if (r.path_policy != r0.path_policy) {
      return differs("path_policy", r0.path_policy, r.path_policy);
    }
    if (r.start_unix_ns != r0.start_unix_ns) {
      return differs("start time (ns)", r0.start_unix_ns, r.start_unix_ns);
    }
    if (r.timeline_interval != r0.timeline_interval) {
      return differs("timeline interval (ps)", r0.timeline_interval.picoseconds(),
                     r.timeline_interval.picoseconds());
    }
    if (r.collectives.size() != r0.collectives.size()) {
      return differs("collectives", r0.collectives.size(), r.collectives.size());
    }
  }
  std::vector<uint32_t> seen(r0.ranks, 0);
  for (const RankResult& r : ranks) ++seen[r.rank];
  std::vector<std::string> missing, twice;
  for (uint32_t i = 0; i < r0.ranks; ++i) {
    if (seen[i] == 0) missing.push_back(absl::StrCat(i));
    if (seen[i] > 1) twice.push_back(absl::StrCat(i));
  }
  if (!twice.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rank files: rank %s given more than once", absl::StrJoin(twice, ", ")));
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("rank files: %d ranks, rank %s missing",
                                                      r0.ranks, absl::StrJoin(missing, ", ")));
  }

  ReplayResult out;
  DataplaneResult d;
  d.ranks = r0.ranks;
  d.workload = r0.workload;
  d.cc = r0.cc;
  d.verb = r0.verb;
  d.paths = r0.paths;
  d.path_policy = r0.path_policy;
  d.seed = r0.seed;
  d.port = r0.port;
  d.link_gbps = r0.link_gbps;
  out.topology = absl::StrFormat("dpdk: %d hosts (%s)", r0.ranks, r0.port);
  out.cc_name = r0.cc;
  std::map<uint32_t, uint32_t> sender_of_step;
  std::map<std::pair<uint32_t, uint32_t>, QpCounters> pairs;
  for (const RankResult& r : ranks) {
    for (const FlowResult& f : r.flows) {
      if (auto [it, fresh] = sender_of_step.emplace(f.step, r.rank); !fresh) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "rank files: step %d reported by rank %d and rank %d", f.step, it->second, r.rank));
      }
      out.flows.push_back(f);
      if (f.completed) ++out.steps_done;
    }
    for (const RankReceive& rv : r.receives) {
      d.bytes_expected += rv.bytes;
      d.bytes_verified += rv.received;
      d.data_errors += rv.data_errors;
    }
    for (const RankQp& qp : r.qps) {
      pairs[{std::min(r.rank, qp.peer), std::max(r.rank, qp.peer)}] += qp.counters;
    }
    for (const CcSample& c : r.cc_timeline) {
      if (c.dst >= r0.ranks) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "rank files: rank %d has a cc sample toward rank %d of %d", r.rank, c.dst, r0.ranks));
      }
      out.cc_timeline.push_back(c);
    }
    d.frames_sent += r.frames_sent;
    d.frames_received += r.frames_received;
    d.faults += r.faults;
    out.timed_out |= r.timed_out;
    out.end = std::max(out.end, Time::Zero() + r.elapsed);
    out.sim_packets += r.frames_sent;
  }
  std::sort(out.flows.begin(), out.flows.end(),
            [](const FlowResult& a, const FlowResult& b) { return a.step < b.step; });
  // FairnessTimeline reads the samples of one tick together.
  std::stable_sort(out.cc_timeline.begin(), out.cc_timeline.end(),
                   [](const CcSample& a, const CcSample& b) { return a.at < b.at; });
  out.timeline_interval = r0.timeline_interval;
  for (const auto& [pair, counters] : pairs) {
    out.connections.push_back(ConnectionResult{pair.first, pair.second, counters});
  }
  for (const Collective& c : r0.collectives) {
    out.collectives.push_back(CollectiveResult{c, Time::Infinite(), Time::Zero(), true});
  }
  for (const FlowResult& f : out.flows) {
    if (f.collective == kNoCollective) continue;
    if (f.collective < 0 || static_cast<size_t>(f.collective) >= out.collectives.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("rank files: step %d names collective %d of %d", f.step, f.collective,
                          out.collectives.size()));
    }
    CollectiveResult& c = out.collectives[f.collective];
    c.start = std::min(c.start, f.start);
    if (f.completed) {
      c.finish = std::max(c.finish, f.finish);
    } else {
      c.completed = false;
    }
  }
  out.wall_seconds = out.end.seconds();
  out.dataplane = std::move(d);
  return out;
}

absl::StatusOr<ReplayResult> MergeRankResults(const std::vector<std::string>& paths) {
  std::vector<RankResult> ranks;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> text = ReadWholeFile(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<RankResult> r = ParseRankFile(*text, path);
    if (!r.ok()) return r.status();
    ranks.push_back(*std::move(r));
  }
  return MergeRankResults(std::move(ranks));
}

RunDescription DescribeMergedRun(const ReplayResult& merged, std::string command) {
  RunDescription run;
  run.command = std::move(command);
  run.fabric = "dpdk";
  if (merged.dataplane) {
    run.workload = merged.dataplane->workload;
    run.cc = merged.dataplane->cc;
    run.paths = merged.dataplane->paths;
    run.path_policy = merged.dataplane->path_policy;
    run.seed = merged.dataplane->seed;
  }
  return run;
}

}  // namespace tern::replay
