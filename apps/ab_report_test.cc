#include "apps/ab_report.h"

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "apps/perf_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/text.h"

namespace tern::ab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Whether `text` is exactly one well-formed JSON value. No JSON library is a
// dependency, and summary.json is read by ab_plots.py and by people's scripts:
// a stray comma, an inf or an unescaped quote must fail here, not there.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : text_(text) {}
  bool Valid() {
    if (!Value()) return false;
    Space();
    return pos_ == text_.size();
  }

 private:
  void Space() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != text_.npos) {
      ++pos_;
    }
  }
  bool Take(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool Eat(char c) {
    Space();
    return Take(c);
  }
  bool Digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool Number() {
    Take('-');
    if (!Take('0') && !Digits()) return false;
    if (Take('.') && !Digits()) return false;
    if (Take('e') || Take('E')) {
      if (!Take('+')) Take('-');
      if (!Digits()) return false;
    }
    return true;
  }
  bool String() {
    if (!Take('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\' && (pos_ >= text_.size() ||
                        std::string_view("\"\\/bfnrtu").find(text_[pos_++]) == text_.npos)) {
        return false;
      }
    }
    return false;
  }
  bool Word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  template <typename Item>
  bool Sequence(char close, Item item) {
    ++pos_;  // the opening bracket
    if (Eat(close)) return true;
    do {
      if (!item()) return false;
    } while (Eat(','));
    return Eat(close);
  }
  bool Value() {
    Space();
    if (pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return Sequence('}', [this] {
          Space();
          return String() && Eat(':') && Value();
        });
      case '[':
        return Sequence(']', [this] { return Value(); });
      case '"':
        return String();
      default:
        return Word("true") || Word("false") || Word("null") || Number();
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool IsJson(std::string_view text) { return JsonChecker(text).Valid(); }

// One side's runs, one per seed, each from that run's metrics.
std::vector<RunRecord> Runs(const std::vector<std::vector<MetricValue>>& metrics) {
  std::vector<RunRecord> runs;
  for (const std::vector<MetricValue>& m : metrics) {
    RunRecord run;
    run.metrics = m;
    runs.push_back(std::move(run));
  }
  return runs;
}

const MetricComparison* Find(const std::vector<MetricComparison>& metrics, std::string_view name,
                             std::string_view bucket) {
  for (const MetricComparison& m : metrics) {
    if (m.metric->name == name && m.bucket == bucket) return &m;
  }
  return nullptr;
}

TEST(CompareSidesTest, EachSideKeepsItsOwnValuesInTheFirstRunsOrder) {
  const std::vector<RunRecord> a = Runs({{{"retransmits", "", 10}, {"slowdown_p99", "", 1}},
                                         {{"retransmits", "", 20}, {"slowdown_p99", "", 2}},
                                         {{"retransmits", "", 30}, {"slowdown_p99", "", 3}}});
  // B's runs list the metrics in another order: found by name, not position.
  const std::vector<RunRecord> b = Runs({{{"slowdown_p99", "", 2}, {"retransmits", "", 20}},
                                         {{"slowdown_p99", "", 4}, {"retransmits", "", 40}},
                                         {{"slowdown_p99", "", 6}, {"retransmits", "", 60}}});
  const std::vector<MetricComparison> out = CompareSides(a, b, 0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].metric->name, "retransmits");
  EXPECT_EQ(out[1].metric->name, "slowdown_p99");
  const Comparison& c = out[1].comparison;
  EXPECT_THAT(c.a.values, ElementsAre(1, 2, 3));
  EXPECT_THAT(c.b.values, ElementsAre(2, 4, 6));
  // B is twice A on every seed: B/A is 2, not 1/2, and lower is better.
  EXPECT_DOUBLE_EQ(*c.ratio, 2);
  EXPECT_EQ(c.verdict, Verdict::kWorse);
  EXPECT_EQ(out[1].metric, FindMetric("slowdown_p99"));
  EXPECT_EQ(out[1].bucket, "");
}

TEST(CompareSidesTest, AMetricMissingFromAnyRunIsLeftOut) {
  const std::vector<RunRecord> a =
      Runs({{{"drops", "", 1}, {"trims", "", 5}, {"fct_p99_us", "", 100}, {"retransmits", "", 7}},
            {{"drops", "", 2}, {"trims", "", 6}, {"retransmits", "", 8}}});
  const std::vector<RunRecord> b =
      Runs({{{"drops", "", 3}, {"trims", "", 7}, {"fct_p99_us", "", 90}, {"retransmits", "", 9}},
            {{"drops", "", 4}, {"fct_p99_us", "", 80}, {"retransmits", "", 10}}});
  const std::vector<MetricComparison> out = CompareSides(a, b, 0);
  // fct_p99_us is missing from A's second run, trims from B's second run.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].metric->name, "drops");
  EXPECT_EQ(out[1].metric->name, "retransmits");
  EXPECT_THAT(out[1].comparison.b.values, ElementsAre(9, 10));
}

TEST(CompareSidesTest, BucketsAreMatchedByNameAndOneWithoutFlowsInARunIsLeftOut) {
  const std::vector<RunRecord> a = Runs(
      {{{"slowdown_p99", "", 3}, {"slowdown_p99", "<10KB", 1.5}, {"slowdown_p99", ">1MB", 8}},
       {{"slowdown_p99", "", 4}, {"slowdown_p99", "<10KB", 2.5}, {"slowdown_p99", ">1MB", 9}}});
  // B's second run had no flows over 1MB.
  const std::vector<RunRecord> b =
      Runs({{{"slowdown_p99", ">1MB", 7}, {"slowdown_p99", "<10KB", 3}, {"slowdown_p99", "", 6}},
            {{"slowdown_p99", "<10KB", 5}, {"slowdown_p99", "", 8}}});
  const std::vector<MetricComparison> out = CompareSides(a, b, 0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Find(out, "slowdown_p99", ">1MB"), nullptr);
  const MetricComparison* overall = Find(out, "slowdown_p99", "");
  const MetricComparison* small = Find(out, "slowdown_p99", "<10KB");
  ASSERT_NE(overall, nullptr);
  ASSERT_NE(small, nullptr);
  // The same name in another bucket is another metric: no values mixed up.
  EXPECT_THAT(overall->comparison.a.values, ElementsAre(3, 4));
  EXPECT_THAT(overall->comparison.b.values, ElementsAre(6, 8));
  EXPECT_THAT(small->comparison.a.values, ElementsAre(1.5, 2.5));
  EXPECT_THAT(small->comparison.b.values, ElementsAre(3, 5));
}

TEST(CompareSidesTest, UnknownMetricsAndUnpairedSidesGiveNothing) {
  const std::vector<RunRecord> one = Runs({{{"no_such_metric", "", 1}, {"drops", "", 1}}});
  const std::vector<RunRecord> two = Runs({{{"drops", "", 1}}, {{"drops", "", 2}}});
  const std::vector<MetricComparison> out = CompareSides(one, one, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].metric->name, "drops");
  // Runs are paired by seed: different counts cannot be paired.
  EXPECT_TRUE(CompareSides(one, two, 0).empty());
  EXPECT_TRUE(CompareSides({}, {}, 0).empty());
}

TEST(FormatNumberTest, FourSignificantDigits) {
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(2), "2");
  EXPECT_EQ(FormatNumber(1.23456), "1.235");
  EXPECT_EQ(FormatNumber(-2.5), "-2.5");
  EXPECT_EQ(FormatNumber(-0.0123456), "-0.01235");
  EXPECT_EQ(FormatNumber(1234), "1234");
  EXPECT_EQ(FormatNumber(12345.678), "1.235e+04");
  EXPECT_EQ(FormatNumber(0.0001234), "0.0001234");
  EXPECT_EQ(FormatNumber(0.00001234), "1.234e-05");
}

// A report over three seeds with an overall metric, a per-bucket one and a
// bucket-only one.
class AbReportTest : public ::testing::Test {
 protected:
  AbReportTest() {
    options_.a = {"A", "cc=dcqcn", {"--cc=dcqcn"}};
    options_.b = {"B", "cc=nscc,paths=16", {"--cc=nscc", "--paths=16"}};
    options_.common = {"--fabric=sim:topology=star,hosts=8", "--workload=incast"};
    options_.seeds = {1, 2, 3};
    report_.options = &options_;
    // A quote, so the JSON has to escape it.
    report_.command = "tern-ab --b=\"cc=nscc,paths=16\"";
    report_.commit = "4c7aaa1-dirty";
    report_.machine = "host, 2 cores";
    report_.fabric = "simulated";
    report_.runs = {{"a", 1, "runs/a-seed1", 12.34, false}, {"b", 1, "runs/b-seed1", 5, true}};
    report_.plots_note = "matplotlib is not installed";
    Add("slowdown_p99", "", {1, 2, 3}, {2, 4, 6});
    Add("queue_p99_bytes", "", {123456, 234567, 345678}, {61728, 117283.5, 172839});
    Add("slowdown_p99", "<10KB", {1.5, 1.5, 1.5}, {1.5, 1.5, 1.5});
    Add("slowdown_max", ">1MB", {10, 11, 12}, {5, 6, 7});
  }

  void Add(std::string_view name, std::string bucket, std::vector<double> a,
           std::vector<double> b) {
    const MetricDefinition* metric = FindMetric(name);
    ASSERT_NE(metric, nullptr) << name;
    report_.metrics.push_back(
        {metric, std::move(bucket), Compare(a, b, metric->better, options_.margin_percent / 100)});
  }

  AbOptions options_;
  AbReport report_;
};

TEST_F(AbReportTest, MarkdownPutsEachMetricInItsTable) {
  const std::string md = FormatReportMarkdown(report_);
  const size_t whole = md.find("## Whole run");
  const size_t by_size = md.find("## FCT slowdown by flow size");
  const size_t plots = md.find("## Plots");
  ASSERT_NE(whole, std::string::npos);
  ASSERT_LT(whole, by_size);
  ASSERT_LT(by_size, plots);
  // B = 2A on every seed: mean ± sd of each side, B/A 2, a zero-width interval.
  const size_t overall = md.find("| FCT slowdown p99 | 2 ± 1 | 4 ± 2 | 2 | [2, 2] | worse |\n");
  EXPECT_GT(overall, whole);
  EXPECT_LT(overall, by_size);
  const size_t small =
      md.find("| <10KB | FCT slowdown p99 | 1.5 ± 0 | 1.5 ± 0 | 1 | [1, 1] | negligible |\n");
  EXPECT_GT(small, by_size);
  EXPECT_LT(small, plots);
  EXPECT_THAT(md, HasSubstr("| >1MB | FCT slowdown max | 11 ± 1 | 6 ± 1 | "));
  EXPECT_THAT(md, HasSubstr("| bottleneck queue p99 (bytes) | 2.346e+05 ± 1.111e+05 | "));
  // A row per metric in the tables, and one per run in the runs table.
  size_t rows = 0;
  for (std::string_view line : SplitText(md, '\n')) {
    if (line.starts_with("| ") && !line.starts_with("| ---") && !line.starts_with("| metric") &&
        !line.starts_with("| flow size") && !line.starts_with("| side")) {
      ++rows;
    }
  }
  EXPECT_EQ(rows, report_.metrics.size() + report_.runs.size());
}

TEST_F(AbReportTest, MarkdownSaysHowToReproduce) {
  const std::string md = FormatReportMarkdown(report_);
  EXPECT_THAT(md, HasSubstr("- **A**: `cc=dcqcn`\n- **B**: `cc=nscc,paths=16`\n"));
  EXPECT_THAT(md, HasSubstr("- **seeds**: 3 "));
  EXPECT_THAT(md, HasSubstr("```\ntern-ab --b=\"cc=nscc,paths=16\"\n```\n"));
  EXPECT_THAT(md, HasSubstr("- commit: `4c7aaa1-dirty`\n"));
  EXPECT_THAT(md, HasSubstr("- machine: host, 2 cores\n"));
  EXPECT_THAT(md, HasSubstr("- shared tern-replay flags: `--fabric=sim:topology=star,hosts=8` "
                            "`--workload=incast`\n"));
  EXPECT_THAT(md, HasSubstr("- B's flags: `--cc=nscc` `--paths=16`\n"));
  EXPECT_THAT(md, HasSubstr("- seeds: 1 2 3\n"));
  EXPECT_THAT(md, HasSubstr("| A | 1 | 12.3 | ran | `runs/a-seed1` |\n"));
  EXPECT_THAT(md, HasSubstr("| B | 1 | 5.0 | reused | `runs/b-seed1` |\n"));
}

TEST_F(AbReportTest, MarkdownListsThePlotsOrSaysWhyThereAreNone) {
  EXPECT_THAT(FormatReportMarkdown(report_),
              HasSubstr("## Plots\n\nNo plots: matplotlib is not installed\n"));
  report_.plots = {"plots/slowdown.png", "plots/queue.png"};
  report_.bottleneck = "s0->h0";
  const std::string md = FormatReportMarkdown(report_);
  EXPECT_THAT(md, Not(HasSubstr("No plots")));
  EXPECT_THAT(md, HasSubstr("switch port `s0->h0`"));
  EXPECT_THAT(md, HasSubstr("![plots/slowdown.png](plots/slowdown.png)\n\n"
                            "![plots/queue.png](plots/queue.png)\n"));
}

TEST_F(AbReportTest, HeadlineCountsVerdictsTheSameInEveryRendering) {
  // slowdown_p99: worse (B = 2A); queue: better (B = A/2); <10KB: the same,
  // so negligible; >1MB max: better (B about half A on every seed).
  const std::string headline =
      "B is better on 2, worse on 1, negligibly different on 1, and not significantly different "
      "on 0 of 4 metrics";
  EXPECT_THAT(FormatReportMarkdown(report_), HasSubstr("- **" + headline + "**\n"));
  EXPECT_THAT(FormatSummaryJson(report_), HasSubstr("\"headline\": \"" + headline + "\""));
  EXPECT_THAT(FormatSideBySide(report_), HasSubstr("\n" + headline + "\n"));
}

TEST_F(AbReportTest, OneSeedHasNoIntervalsAndNoVerdicts) {
  options_.seeds = {7};
  report_.metrics.clear();
  Add("slowdown_p99", "", {2}, {1});
  const std::string md = FormatReportMarkdown(report_);
  // One value: no "± sd"; no interval.
  EXPECT_THAT(md, HasSubstr("| FCT slowdown p99 | 2 | 1 | 0.5 | — | one seed: no interval |\n"));
  EXPECT_THAT(md, HasSubstr("one seed: no intervals, no verdicts (1 metric)"));
  const std::string json = FormatSummaryJson(report_);
  EXPECT_TRUE(IsJson(json)) << json;
  EXPECT_THAT(json, HasSubstr("\"ratio\": 0.5, \"ci95\": [null, null]"));
}

TEST_F(AbReportTest, UnfinishedFlowsWarnAndAZeroAHasNoRatio) {
  EXPECT_THAT(FormatReportMarkdown(report_), Not(HasSubstr("Warning")));
  // All zero on both sides finished everything: still no warning.
  Add("unfinished_flows", "", {0, 0, 0}, {0, 0, 0});
  EXPECT_THAT(FormatReportMarkdown(report_), Not(HasSubstr("Warning")));
  EXPECT_THAT(FormatSideBySide(report_), Not(HasSubstr("warning")));
  report_.metrics.pop_back();
  Add("unfinished_flows", "", {0, 0, 0}, {2, 3, 2});
  const std::string md = FormatReportMarkdown(report_);
  EXPECT_THAT(md, HasSubstr("**Warning:** some runs left flows unfinished (A 0, B 2.333 per run"));
  EXPECT_THAT(md, HasSubstr("| unfinished flows | 0 ± 0 | 2.333 ± 0.5774 | ∞ | — | worse |\n"));
  EXPECT_THAT(FormatSideBySide(report_),
              HasSubstr("warning: flows left unfinished; see report.md\n"));
  const std::string json = FormatSummaryJson(report_);
  EXPECT_TRUE(IsJson(json)) << json;
  EXPECT_THAT(json, HasSubstr("\"ratio\": null, \"ci95\": [null, null], \"verdict\": \"worse\""));
}

// "∞" and "—" are three bytes each but one column: the verdicts still line up.
TEST_F(AbReportTest, SideBySideColumnsLineUpAroundSymbols) {
  Add("unfinished_flows", "", {0, 0, 0}, {2, 3, 2});
  const std::string text = FormatSideBySide(report_);
  const std::vector<std::string_view> lines = SplitText(text, '\n');
  std::vector<size_t> verdict_columns;
  for (std::string_view line : lines) {
    for (std::string_view verdict : {"worse", "better", "same", "verdict"}) {
      const size_t at = line.rfind("  " + std::string(verdict));
      if (at == std::string_view::npos || at + 2 + verdict.size() != line.size()) continue;
      size_t columns = 0;
      for (const char c : line.substr(0, at)) {
        columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      }
      verdict_columns.push_back(columns);
    }
  }
  ASSERT_EQ(verdict_columns.size(), 4u) << "header, two metrics and unfinished flows";
  for (size_t c : verdict_columns) EXPECT_EQ(c, verdict_columns[0]);
}

TEST_F(AbReportTest, SummaryIsJsonWithEveryMetricAndRun) {
  const std::string json = FormatSummaryJson(report_);
  EXPECT_TRUE(IsJson(json)) << json;
  EXPECT_THAT(json, HasSubstr("\"tool\": \"tern-ab\""));
  EXPECT_THAT(json, HasSubstr("\"command\": " + perf::JsonString(report_.command)));
  EXPECT_THAT(json, HasSubstr("\"commit\": \"4c7aaa1-dirty\""));
  EXPECT_THAT(json, HasSubstr("\"seeds\": [1, 2, 3]"));
  EXPECT_THAT(json, HasSubstr("\"b\": {\"label\": \"B: cc=nscc,paths=16\", \"spec\": "
                              "\"cc=nscc,paths=16\", \"args\": [\"--cc=nscc\", \"--paths=16\"]}"));
  EXPECT_THAT(json, HasSubstr("{\"side\": \"a\", \"seed\": 1, \"dir\": \"runs/a-seed1\", "
                              "\"wall_seconds\": 12.340, \"reused\": false}"));
  EXPECT_THAT(json, HasSubstr("\"reused\": true}"));
  EXPECT_THAT(json,
              HasSubstr("{\"name\": \"slowdown_p99\", \"bucket\": null, \"title\": \"FCT slowdown "
                        "p99\", \"better\": \"lower\",\n"
                        "     \"a\": {\"values\": [1, 2, 3], \"mean\": 2, \"sd\": 1},\n"
                        "     \"b\": {\"values\": [2, 4, 6], \"mean\": 4, \"sd\": 2},\n"
                        "     \"ratio\": 2, \"ci95\": [2, 2], \"verdict\": \"worse\"}"));
  EXPECT_THAT(json, HasSubstr("{\"name\": \"slowdown_p99\", \"bucket\": \"<10KB\""));
  EXPECT_THAT(json, HasSubstr("{\"name\": \"slowdown_max\", \"bucket\": \">1MB\""));
  EXPECT_THAT(json, HasSubstr("{\"name\": \"queue_p99_bytes\", \"bucket\": null"));
  EXPECT_THAT(json, HasSubstr("\"plots\": [],\n  \"plots_note\": \"matplotlib is not installed\""));
  // The check above has teeth: a non-finite number or a lost comma is refused.
  std::string broken = json;
  broken.replace(broken.find("null"), 4, "nan");
  EXPECT_FALSE(IsJson(broken));
  broken = json;
  broken.erase(broken.find(", \"seeds\""), 1);
  EXPECT_FALSE(IsJson(broken));
}

TEST_F(AbReportTest, TableFiguresAreTheJsonNumbersAtFourDigits) {
  // The JSON keeps all 17 digits; the table prints the same double through
  // FormatNumber, so either can be checked against the other.
  const std::string json = FormatSummaryJson(report_);
  const size_t metric = json.find("\"name\": \"queue_p99_bytes\"");
  ASSERT_NE(metric, std::string::npos);
  auto number_after = [&](std::string_view key, size_t from) {
    const size_t at = json.find(key, from);
    EXPECT_NE(at, std::string::npos) << key;
    return std::strtod(json.c_str() + at + key.size(), nullptr);
  };
  const size_t a = json.find("\"a\": {", metric);
  const size_t b = json.find("\"b\": {", metric);
  const double a_mean = number_after("\"mean\": ", a);
  const double a_sd = number_after("\"sd\": ", a);
  const double b_mean = number_after("\"mean\": ", b);
  const double b_sd = number_after("\"sd\": ", b);
  const double ratio = number_after("\"ratio\": ", metric);
  const double low = number_after("\"ci95\": [", metric);
  const double high = number_after(", ", json.find("\"ci95\": [", metric));
  const Comparison& c = report_.metrics[1].comparison;
  ASSERT_EQ(report_.metrics[1].metric->name, "queue_p99_bytes");
  EXPECT_EQ(a_mean, c.a.mean);  // bit for bit
  EXPECT_EQ(b_sd, c.b.sd);
  EXPECT_EQ(ratio, *c.ratio);
  const std::string row = "| bottleneck queue p99 (bytes) | " + FormatNumber(a_mean) + " ± " +
                          FormatNumber(a_sd) + " | " + FormatNumber(b_mean) + " ± " +
                          FormatNumber(b_sd) + " | " + FormatNumber(ratio) + " | [" +
                          FormatNumber(low) + ", " + FormatNumber(high) + "] | better |\n";
  EXPECT_THAT(FormatReportMarkdown(report_), HasSubstr(row));
  const std::string terminal = FormatSideBySide(report_);
  EXPECT_THAT(terminal, HasSubstr(" " + FormatNumber(a_mean) + " "));
  EXPECT_THAT(terminal, HasSubstr(" " + FormatNumber(b_mean) + " "));
}

TEST_F(AbReportTest, SideBySideHasALinePerOverallMetricOnly) {
  const std::string text = FormatSideBySide(report_);
  const std::vector<std::string_view> lines = SplitText(text, '\n');
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "A = cc=dcqcn");
  EXPECT_EQ(lines[1], "B = cc=nscc,paths=16");
  EXPECT_TRUE(lines[3].starts_with("metric (mean over seeds)")) << lines[3];
  // The metric lines run from the column header to the blank line.
  std::vector<std::string_view> rows;
  for (size_t i = 4; i < lines.size() && !lines[i].empty(); ++i) rows.push_back(lines[i]);
  ASSERT_EQ(rows.size(), 2u) << text;
  ASSERT_TRUE(rows[0].starts_with("FCT slowdown p99 ")) << rows[0];
  // A, then B, then B/A, the interval and the verdict.
  const std::vector<std::string> cells =
      absl::StrSplit(std::string(rows[0].substr(16)), ' ', absl::SkipEmpty());
  EXPECT_THAT(cells, ElementsAre("2", "4", "2", "[2,", "2]", "worse"));
  EXPECT_TRUE(rows[1].starts_with("bottleneck queue p99 (bytes) ")) << rows[1];
  // The <10KB bucket's figures and the bucket-only slowdown max are left out.
  EXPECT_THAT(text, Not(HasSubstr("1.5")));
  EXPECT_THAT(text, Not(HasSubstr("FCT slowdown max")));
}

}  // namespace
}  // namespace tern::ab
