#include "apps/ab_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/perf_report.h"

namespace tern::ab {
namespace {

std::string MeanSd(const SideStats& s) {
  return s.values.size() > 1 ? absl::StrCat(FormatNumber(s.mean), " ± ", FormatNumber(s.sd))
                             : FormatNumber(s.mean);
}

std::string Ratio(const Comparison& c) { return c.ratio ? FormatNumber(*c.ratio) : "∞"; }

std::string Interval(const Comparison& c) {
  if (!c.ci_low || !c.ci_high) return "—";
  return absl::StrCat("[", FormatNumber(*c.ci_low), ", ", FormatNumber(*c.ci_high), "]");
}

// Pads `text` to `width` terminal columns, on the left (right-aligned) or
// the right: printf counts bytes, and "∞", "—", "±" or "µ" take two or three
// bytes for one column.
std::string PadColumns(const std::string& text, size_t width, bool align_right = true) {
  size_t columns = 0;
  for (const char c : text) columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (columns >= width) return text;
  const std::string fill(width - columns, ' ');
  return align_right ? fill + text : text + fill;
}

// All 17 digits, so a table's figures can be checked against the JSON exactly.
std::string JsonNumber(std::optional<double> v) {
  return v && std::isfinite(*v) ? absl::StrFormat("%.17g", *v) : "null";
}

std::string JsonValues(const SideStats& s) {
  std::string text = "[";
  for (size_t i = 0; i < s.values.size(); ++i) {
    absl::StrAppend(&text, i ? ", " : "", absl::StrFormat("%.17g", s.values[i]));
  }
  return text + "]";
}

std::string SideLabel(const AbSide& side) { return absl::StrCat(side.name, ": ", side.spec); }

// The mean unfinished flows per run of each side, when any run left some.
const MetricComparison* Unfinished(const std::vector<MetricComparison>& metrics) {
  for (const MetricComparison& m : metrics) {
    if (m.metric->name == "unfinished_flows" &&
        (m.comparison.a.mean > 0 || m.comparison.b.mean > 0)) {
      return &m;
    }
  }
  return nullptr;
}

// Counts per verdict, for the headline.
std::string Headline(const std::vector<MetricComparison>& metrics) {
  int better = 0, worse = 0, negligible = 0, same = 0, one = 0;
  for (const MetricComparison& m : metrics) {
    switch (m.comparison.verdict) {
      case Verdict::kBetter:
        ++better;
        break;
      case Verdict::kWorse:
        ++worse;
        break;
      case Verdict::kNegligible:
        ++negligible;
        break;
      case Verdict::kNoDifference:
        ++same;
        break;
      case Verdict::kOneSeed:
        ++one;
        break;
    }
  }
  if (one > 0) {
    return absl::StrFormat("one seed: no intervals, no verdicts (%d metric%s)", one,
                           one == 1 ? "" : "s");
  }
  return absl::StrFormat(
      "B is better on %d, worse on %d, negligibly different on %d, and not significantly "
      "different on %d of %d metrics",
      better, worse, negligible, same, metrics.size());
}

void AppendTable(std::string& md, const std::vector<MetricComparison>& metrics, bool buckets) {
  md += buckets ? "| flow size | metric | A mean ± sd | B mean ± sd | B/A | 95% CI | verdict |\n"
                  "| --- | --- | --- | --- | --- | --- | --- |\n"
                : "| metric | A mean ± sd | B mean ± sd | B/A | 95% CI | verdict |\n"
                  "| --- | --- | --- | --- | --- | --- |\n";
  for (const MetricComparison& m : metrics) {
    if (m.bucket.empty() == buckets) continue;
    const Comparison& c = m.comparison;
    if (buckets) absl::StrAppend(&md, "| ", m.bucket, " ");
    absl::StrAppend(&md, "| ", std::string(m.metric->title), " | ", MeanSd(c.a), " | ", MeanSd(c.b),
                    " | ", Ratio(c), " | ", Interval(c), " | ", std::string(VerdictName(c.verdict)),
                    " |\n");
  }
}

}  // namespace

std::vector<MetricComparison> CompareSides(std::span<const RunRecord> a,
                                           std::span<const RunRecord> b, double margin) {
  std::vector<MetricComparison> out;
  if (a.empty() || a.size() != b.size()) return out;
  // The first run's metrics set the order; a metric missing from any run is left out.
  for (const MetricValue& first : a.front().metrics) {
    std::vector<double> va, vb;
    auto collect = [&](std::span<const RunRecord> runs, std::vector<double>& values) {
      for (const RunRecord& run : runs) {
        const auto it = std::find_if(run.metrics.begin(), run.metrics.end(), [&](const auto& m) {
          return m.name == first.name && m.bucket == first.bucket;
        });
        if (it == run.metrics.end()) return false;
        values.push_back(it->value);
      }
      return true;
    };
    const MetricDefinition* metric = FindMetric(first.name);
    if (metric == nullptr || !collect(a, va) || !collect(b, vb)) continue;
    out.push_back({metric, first.bucket, Compare(va, vb, metric->better, margin)});
  }
  return out;
}

std::string FormatNumber(double value) { return absl::StrFormat("%.4g", value); }

std::string FormatReportMarkdown(const AbReport& r) {
  const AbOptions& o = *r.options;
  std::string md =
      absl::StrCat("# tern-ab: B against A\n\n- **A**: `", o.a.spec, "`\n- **B**: `", o.b.spec,
                   "`\n- **seeds**: ", o.seeds.size(),
                   " (each seed replays the same workload on both sides)\n- **fabric**: ", r.fabric,
                   "\n- **", Headline(r.metrics), "**\n\n");
  if (const MetricComparison* m = Unfinished(r.metrics)) {
    absl::StrAppend(&md, "**Warning:** some runs left flows unfinished (A ",
                    FormatNumber(m->comparison.a.mean), ", B ", FormatNumber(m->comparison.b.mean),
                    " per run on average). FCT and slowdown cover completed flows only, and a "
                    "metric is left out where a run completed none.\n\n");
  }
  absl::StrAppend(
      &md,
      "B/A is the geometric mean over seeds of B's value over A's, with a 95% t interval on the "
      "log ratio (ratio of means, interval from paired differences, when a value is zero). "
      "\"better\" and \"worse\" mean the interval excludes 1; \"negligible\" that it lies "
      "within ",
      FormatNumber(o.margin_percent), "% of 1 (--margin), significant or not.\n\n## Whole run\n\n");
  AppendTable(md, r.metrics, false);
  md += "\n## FCT slowdown by flow size\n\n";
  AppendTable(md, r.metrics, true);
  md += "\n## Plots\n\n";
  if (r.plots.empty()) {
    absl::StrAppend(&md, "No plots: ", r.plots_note, "\n");
  } else {
    if (!r.bottleneck.empty()) {
      absl::StrAppend(&md, "The bottleneck timelines show switch port `", r.bottleneck,
                      "` (the deepest queue of A's first run), first seed of each side.\n\n");
    }
    for (const std::string& plot : r.plots) absl::StrAppend(&md, "![", plot, "](", plot, ")\n\n");
  }
  md += "## Runs\n\n| side | seed | wall s | | directory |\n| --- | --- | --- | --- | --- |\n";
  for (const ReportRun& run : r.runs) {
    absl::StrAppend(&md, "| ", run.side == "a" ? "A" : "B", " | ", run.seed, " | ",
                    absl::StrFormat("%.1f", run.wall_seconds), " | ", run.reused ? "reused" : "ran",
                    " | `", run.dir, "` |\n");
  }
  absl::StrAppend(&md, "\n## Reproduce\n\n```\n", r.command, "\n```\n\n- commit: `", r.commit,
                  "`\n- machine: ", r.machine, "\n- shared tern-replay flags:");
  for (const std::string& arg : o.common) absl::StrAppend(&md, " `", arg, "`");
  absl::StrAppend(&md, "\n- A's flags:");
  for (const std::string& arg : o.a.args) absl::StrAppend(&md, " `", arg, "`");
  absl::StrAppend(&md, "\n- B's flags:");
  for (const std::string& arg : o.b.args) absl::StrAppend(&md, " `", arg, "`");
  absl::StrAppend(&md, "\n- seeds:");
  for (uint64_t seed : o.seeds) absl::StrAppend(&md, " ", seed);
  md +=
      "\n- one run by hand: `tern-replay` with the shared flags, the side's flags and "
      "`--seed=N`\n";
  return md;
}

std::string FormatSummaryJson(const AbReport& r) {
  const AbOptions& o = *r.options;
  auto strings = [](const std::vector<std::string>& v) {
    std::string text = "[";
    for (size_t i = 0; i < v.size(); ++i)
      absl::StrAppend(&text, i ? ", " : "", perf::JsonString(v[i]));
    return text + "]";
  };
  std::string seeds = "[";
  for (size_t i = 0; i < o.seeds.size(); ++i) absl::StrAppend(&seeds, i ? ", " : "", o.seeds[i]);
  seeds += "]";
  std::string json = absl::StrFormat(
      "{\n  \"tool\": \"tern-ab\",\n  \"version\": 1,\n"
      "  \"reproduce\": {\"command\": %s, \"commit\": %s, \"machine\": %s, \"seeds\": %s, "
      "\"common_args\": %s, \"fabric\": %s},\n"
      "  \"sides\": {\"a\": {\"label\": %s, \"spec\": %s, \"args\": %s},\n"
      "            \"b\": {\"label\": %s, \"spec\": %s, \"args\": %s}},\n"
      "  \"bottleneck_port\": %s,\n  \"runs\": [",
      perf::JsonString(r.command), perf::JsonString(r.commit), perf::JsonString(r.machine), seeds,
      strings(o.common), perf::JsonString(r.fabric), perf::JsonString(SideLabel(o.a)),
      perf::JsonString(o.a.spec), strings(o.a.args), perf::JsonString(SideLabel(o.b)),
      perf::JsonString(o.b.spec), strings(o.b.args), perf::JsonString(r.bottleneck));
  for (size_t i = 0; i < r.runs.size(); ++i) {
    const ReportRun& run = r.runs[i];
    absl::StrAppend(&json, i ? "," : "",
                    absl::StrFormat("\n    {\"side\": \"%s\", \"seed\": %d, \"dir\": %s, "
                                    "\"wall_seconds\": %.3f, \"reused\": %s}",
                                    run.side, run.seed, perf::JsonString(run.dir), run.wall_seconds,
                                    run.reused ? "true" : "false"));
  }
  json += "\n  ],\n  \"metrics\": [";
  for (size_t i = 0; i < r.metrics.size(); ++i) {
    const MetricComparison& m = r.metrics[i];
    const Comparison& c = m.comparison;
    absl::StrAppend(
        &json, i ? "," : "",
        absl::StrFormat(
            "\n    {\"name\": \"%s\", \"bucket\": %s, \"title\": %s, \"better\": \"%s\",\n"
            "     \"a\": {\"values\": %s, \"mean\": %.17g, \"sd\": %.17g},\n"
            "     \"b\": {\"values\": %s, \"mean\": %.17g, \"sd\": %.17g},\n"
            "     \"ratio\": %s, \"ci95\": [%s, %s], \"verdict\": \"%s\"}",
            m.metric->name, m.bucket.empty() ? "null" : perf::JsonString(m.bucket),
            perf::JsonString(m.metric->title),
            m.metric->better == Better::kLower ? "lower" : "higher", JsonValues(c.a), c.a.mean,
            c.a.sd, JsonValues(c.b), c.b.mean, c.b.sd, JsonNumber(c.ratio), JsonNumber(c.ci_low),
            JsonNumber(c.ci_high), VerdictName(c.verdict)));
  }
  absl::StrAppend(&json, "\n  ],\n  \"headline\": ", perf::JsonString(Headline(r.metrics)),
                  ",\n  \"plots\": ", strings(r.plots),
                  ",\n  \"plots_note\": ", perf::JsonString(r.plots_note), "\n}\n");
  return json;
}

std::string FormatSideBySide(const AbReport& r) {
  const AbOptions& o = *r.options;
  const auto row = [](const std::string& title, const std::string& a, const std::string& b,
                      const std::string& ratio, const std::string& interval,
                      std::string_view verdict) {
    // This Abseil's StrCat takes no std::string_view.
    return absl::StrCat(PadColumns(title, 30, /*align_right=*/false), " ", PadColumns(a, 18), " ",
                        PadColumns(b, 18), " ", PadColumns(ratio, 8), " ", PadColumns(interval, 18),
                        "  ", std::string(verdict), "\n");
  };
  std::string text =
      absl::StrCat("A = ", o.a.spec, "\nB = ", o.b.spec, "\n\n",
                   row("metric (mean over seeds)", "A", "B", "B/A", "95% CI", "verdict"));
  for (const MetricComparison& m : r.metrics) {
    if (!m.bucket.empty()) continue;
    const Comparison& c = m.comparison;
    absl::StrAppend(
        &text, row(std::string(m.metric->title), FormatNumber(c.a.mean), FormatNumber(c.b.mean),
                   Ratio(c), Interval(c), VerdictName(c.verdict)));
  }
  absl::StrAppend(&text, "\n", Headline(r.metrics), "\n");
  if (Unfinished(r.metrics) != nullptr) text += "warning: flows left unfinished; see report.md\n";
  return text;
}

}  // namespace tern::ab
