#include "cc/registry.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/fixed.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The message ParseCcSpec refuses `spec` with, against the real table; fails
// the test when it is accepted or refused with another code.
std::string ParseError(std::string_view spec,
                       const std::vector<CcAlgorithmInfo>& table = RegisteredAlgorithms()) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec(spec, table);
  EXPECT_FALSE(parsed.ok()) << spec << " was accepted";
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  return std::string(parsed.status().message());
}

absl::StatusOr<std::unique_ptr<CongestionControl>> AnyFactory(const CcParams& /*params*/,
                                                              const CcContext& /*context*/) {
  return std::make_unique<FixedCc>(1, Bandwidth::Unlimited());
}

// An algorithm with one parameter of every kind, to test the validators that
// `fixed` does not use.
CcAlgorithmInfo EveryKindInfo() {
  return CcAlgorithmInfo{
      .name = "every_kind",
      .description = "test algorithm with one parameter of each kind",
      .params =
          {
              {.name = "count",
               .kind = CcParamKind::kUnsigned,
               .default_value = "10",
               .description = "a count",
               .min = 2,
               .max = 100},
              {.name = "gain",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.5",
               .description = "a gain",
               .min = std::nullopt,
               .max = 1},
              {.name = "rate",
               .kind = CcParamKind::kGbps,
               .default_value = "0",
               .description = "a rate",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "step",
               .kind = CcParamKind::kMbps,
               .default_value = "40",
               .description = "a small rate",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "delay",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "25",
               .description = "a delay",
               .min = std::nullopt,
               .max = 1000},
              {.name = "enabled",
               .kind = CcParamKind::kBool,
               .default_value = "false",
               .description = "a switch",
               .min = std::nullopt,
               .max = std::nullopt},
          },
      .factory = &AnyFactory,
  };
}

const std::vector<CcAlgorithmInfo>& TestTable() {
  static const std::vector<CcAlgorithmInfo>* const table =
      new std::vector<CcAlgorithmInfo>{FixedCcInfo(), EveryKindInfo()};
  return *table;
}

// --- The registered table ---------------------------------------------------

TEST(RegistryTest, RegisteredTablePassesItsOwnCheck) {
  EXPECT_TRUE(CheckAlgorithmTable(RegisteredAlgorithms()).ok());
}

TEST(RegistryTest, RegisteredTableContainsFixed) {
  bool found = false;
  for (const CcAlgorithmInfo& a : RegisteredAlgorithms()) found = found || a.name == "fixed";
  EXPECT_TRUE(found);
}

TEST(RegistryTest, EveryRegisteredAlgorithmCreatesWithItsDefaults) {
  for (const CcAlgorithmInfo& a : RegisteredAlgorithms()) {
    absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
        CreateCongestionControl(a.name, CcContext{});
    ASSERT_TRUE(cc.ok()) << a.name << ": " << cc.status();
    EXPECT_EQ((*cc)->name(), a.name);
    EXPECT_GT((*cc)->window_bytes(), 0u);
  }
}

// --- Spec syntax -------------------------------------------------------------

TEST(RegistryTest, EmptySpecIsRefusedAndListsAlgorithms) {
  EXPECT_THAT(ParseError(""), AllOf(HasSubstr("empty"), HasSubstr("fixed")));
}

TEST(RegistryTest, WhitespaceIsRefusedWherever) {
  for (std::string_view spec :
       {" fixed", "fixed ", "fixed: window=1", "fixed:window=1,\trate=1", "fixed:window= 1"}) {
    EXPECT_THAT(ParseError(spec), HasSubstr("whitespace")) << spec;
  }
}

TEST(RegistryTest, WhitespaceErrorShowsTabEscaped) {
  EXPECT_THAT(ParseError("fixed\t"), HasSubstr("\"fixed\\t\""));
}

TEST(RegistryTest, UnknownAlgorithmErrorListsRegisteredNames) {
  EXPECT_THAT(ParseError("nosuch:window=1"),
              AllOf(HasSubstr("unknown congestion-control algorithm \"nosuch\""),
                    HasSubstr("registered algorithms: fixed")));
}

TEST(RegistryTest, UnknownAlgorithmErrorListsEveryNameOfTheTable) {
  EXPECT_THAT(ParseError("nope", TestTable()), HasSubstr("fixed, every_kind"));
}

TEST(RegistryTest, AlgorithmNamesAreCaseSensitive) {
  EXPECT_THAT(ParseError("Fixed"), HasSubstr("unknown congestion-control algorithm"));
}

TEST(RegistryTest, MissingNameBeforeColonIsRefused) {
  EXPECT_THAT(ParseError(":window=1"), AllOf(HasSubstr("no algorithm name"), HasSubstr("fixed")));
}

TEST(RegistryTest, ColonWithoutParametersIsRefused) {
  EXPECT_THAT(ParseError("fixed:"), AllOf(HasSubstr("ends with ':'"), HasSubstr("\"fixed\"")));
}

TEST(RegistryTest, EmptyParameterBetweenCommasIsRefused) {
  EXPECT_THAT(ParseError("fixed:window=1,,rate=2"), HasSubstr("parameter #2 is empty"));
}

TEST(RegistryTest, TrailingCommaIsRefused) {
  EXPECT_THAT(ParseError("fixed:window=1,"), HasSubstr("parameter #2 is empty"));
}

TEST(RegistryTest, ParameterWithoutEqualsIsRefused) {
  EXPECT_THAT(ParseError("fixed:window"),
              AllOf(HasSubstr("\"window\" has no '='"), HasSubstr("window (default 0)")));
}

TEST(RegistryTest, ParameterWithoutKeyIsRefusedAsUnknownKey) {
  EXPECT_THAT(ParseError("fixed:=5"), HasSubstr("unknown parameter \"\""));
}

TEST(RegistryTest, UnknownKeyErrorListsValidKeysWithDefaults) {
  EXPECT_THAT(ParseError("fixed:windw=1"),
              AllOf(HasSubstr("unknown parameter \"windw\""), HasSubstr("\"fixed\""),
                    HasSubstr("window (default 0), packets (default 0), rate (default 0)")));
}

TEST(RegistryTest, DuplicateKeyIsRefused) {
  EXPECT_THAT(ParseError("fixed:window=1,rate=2,window=3"),
              AllOf(HasSubstr("\"window\""), HasSubstr("twice")));
}

TEST(RegistryTest, DuplicateKeyWithTheSameValueIsRefused) {
  EXPECT_THAT(ParseError("fixed:rate=2,rate=2"), HasSubstr("twice"));
}

// --- Values ------------------------------------------------------------------

TEST(RegistryTest, EmptyValueIsRefusedNamingTheKey) {
  EXPECT_THAT(ParseError("fixed:window="),
              AllOf(HasSubstr("\"window\""), HasSubstr("got an empty value"),
                    HasSubstr("expected an unsigned integer in [0, 1099511627776]")));
}

TEST(RegistryTest, NegativeUnsignedIsRefusedWithExpectedRange) {
  EXPECT_THAT(ParseError("fixed:window=-5"),
              AllOf(HasSubstr("bad value for parameter \"window\""), HasSubstr("got \"-5\""),
                    HasSubstr("expected an unsigned integer in [0, 1099511627776]")));
}

TEST(RegistryTest, NonNumericUnsignedIsRefused) {
  for (std::string_view spec : {"fixed:window=abc", "fixed:window=64k", "fixed:window=0x10",
                                "fixed:window=+5", "fixed:window=1.5", "fixed:window=1e3"}) {
    EXPECT_THAT(ParseError(spec), HasSubstr("expected an unsigned integer")) << spec;
  }
}

TEST(RegistryTest, UnsignedAboveDeclaredMaxIsRefused) {
  EXPECT_THAT(ParseError("fixed:window=1099511627777"), HasSubstr("got \"1099511627777\""));
}

TEST(RegistryTest, UnsignedAboveDeclaredMaxIsAcceptedAtTheMax) {
  EXPECT_TRUE(ParseCcSpec("fixed:window=1099511627776").ok());
}

TEST(RegistryTest, UnsignedThatOverflowsIsRefused) {
  EXPECT_THAT(ParseError("fixed:window=99999999999999999999999"), HasSubstr("unsigned integer"));
}

TEST(RegistryTest, UnsignedBelowDeclaredMinIsRefused) {
  EXPECT_THAT(ParseError("every_kind:count=1", TestTable()),
              HasSubstr("expected an unsigned integer in [2, 100]"));
}

TEST(RegistryTest, NegativeBandwidthIsRefused) {
  EXPECT_THAT(ParseError("fixed:rate=-1"),
              AllOf(HasSubstr("\"rate\""), HasSubstr("got \"-1\""),
                    HasSubstr("expected a bandwidth in Gb/s in [0, 1000000]")));
}

TEST(RegistryTest, BandwidthAboveIntrinsicMaxIsRefused) {
  EXPECT_THAT(ParseError("fixed:rate=2e6"), HasSubstr("in [0, 1000000]"));
}

TEST(RegistryTest, NonzeroBandwidthThatRoundsToZeroIsRefused) {
  // 0.001 bit/s would round to 0, which means unlimited.
  EXPECT_THAT(ParseError("fixed:rate=1e-12"), HasSubstr("\"rate\""));
}

TEST(RegistryTest, NonFiniteNumbersAreRefused) {
  for (std::string_view spec : {"fixed:rate=inf", "fixed:rate=nan", "fixed:rate=1e999"}) {
    EXPECT_THAT(ParseError(spec), HasSubstr("expected a bandwidth in Gb/s")) << spec;
  }
}

TEST(RegistryTest, BadValueErrorQuotesTheParameterDescription) {
  EXPECT_THAT(ParseError("fixed:rate=fast"), HasSubstr("pacing rate in Gb/s"));
}

TEST(RegistryTest, PositiveDoubleRefusesZeroAndNegative) {
  EXPECT_THAT(ParseError("every_kind:gain=0", TestTable()),
              HasSubstr("expected a number in (0, 1]"));
  EXPECT_THAT(ParseError("every_kind:gain=-0.5", TestTable()), HasSubstr("\"gain\""));
}

TEST(RegistryTest, PositiveDoubleAboveDeclaredMaxIsRefused) {
  EXPECT_THAT(ParseError("every_kind:gain=1.5", TestTable()), HasSubstr("got \"1.5\""));
}

TEST(RegistryTest, PositiveDoubleIsParsed) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind:gain=0.125", TestTable());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->params.GetDouble("gain"), 0.125);
}

TEST(RegistryTest, MicrosecondsAreParsedToPicoseconds) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind:delay=2.5", TestTable());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->params.GetDuration("delay"), Duration::Nanoseconds(2500));
}

TEST(RegistryTest, NegativeDurationIsRefused) {
  EXPECT_THAT(ParseError("every_kind:delay=-1", TestTable()),
              HasSubstr("expected a duration in microseconds in [0, 1000]"));
}

TEST(RegistryTest, BoolAcceptsTrueFalseOneAndZero) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{
           {"true", true}, {"1", true}, {"false", false}, {"0", false}}) {
    absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind:enabled=" + text, TestTable());
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(parsed->params.GetBool("enabled"), expected) << text;
  }
}

TEST(CcParamsTest, MbpsIsReadInMegabitsPerSecond) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind:step=2.5", TestTable());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->params.GetBandwidth("step").bits_per_second(), 2'500'000);
  EXPECT_THAT(ParseError("every_kind:step=-1", TestTable()),
              HasSubstr("expected a bandwidth in Mb/s in [0, 1000000000]"));
}

TEST(RegistryTest, BoolRefusesOtherWords) {
  EXPECT_THAT(ParseError("every_kind:enabled=yes", TestTable()),
              HasSubstr("expected true or false (or 1 or 0)"));
}

// --- CcParams ----------------------------------------------------------------

TEST(CcParamsTest, UnsetKeysTakeTheirDefaults) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind:count=7", TestTable());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CcParams& params = parsed->params;
  EXPECT_EQ(params.GetUint("count"), 7u);
  EXPECT_EQ(params.GetDouble("gain"), 0.5);
  EXPECT_TRUE(params.GetBandwidth("rate").IsUnlimited());
  EXPECT_EQ(params.GetBandwidth("step"), Bandwidth::Gbps(0.04));
  EXPECT_EQ(params.GetDuration("delay"), Duration::Microseconds(25));
  EXPECT_FALSE(params.GetBool("enabled"));
}

TEST(CcParamsTest, WasGivenDistinguishesSpecFromDefault) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("fixed:window=0");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->params.WasGiven("window"));
  EXPECT_FALSE(parsed->params.WasGiven("rate"));
  EXPECT_FALSE(parsed->params.WasGiven("no_such_key"));
}

TEST(CcParamsTest, ToStringListsEveryKeyInDeclarationOrder) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("fixed:rate=12.5,window=65536");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->params.ToString(), "window=65536,packets=0,rate=12.5");
}

TEST(CcParamsDeathTest, GetterForAnUndeclaredKeyAborts) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("fixed");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_DEATH(parsed->params.GetUint("windw"), "no such parameter.*window, packets, rate");
}

TEST(CcParamsDeathTest, GetterOfTheWrongKindAborts) {
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("fixed");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_DEATH(parsed->params.GetUint("rate"), "declared as kGbps, not kUnsigned");
}

// --- CheckAlgorithmTable -----------------------------------------------------

TEST(CheckAlgorithmTableTest, TestTableIsValid) {
  EXPECT_TRUE(CheckAlgorithmTable(TestTable()).ok());
}

TEST(CheckAlgorithmTableTest, DuplicateAlgorithmNameIsRefused) {
  const absl::Status status = CheckAlgorithmTable({FixedCcInfo(), FixedCcInfo()});
  EXPECT_THAT(status.message(), HasSubstr("registered twice"));
}

TEST(CheckAlgorithmTableTest, MalformedAlgorithmNameIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.name = "Every-Kind";
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("[a-z0-9_]"));
}

TEST(CheckAlgorithmTableTest, MissingFactoryIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.factory = nullptr;
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("no factory"));
}

TEST(CheckAlgorithmTableTest, MissingDescriptionIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.description = "";
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("no description"));
}

TEST(CheckAlgorithmTableTest, DuplicateParameterIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.params.push_back(info.params.front());
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("\"count\": declared twice"));
}

TEST(CheckAlgorithmTableTest, DefaultOutsideItsOwnRangeIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.params[0].default_value = "1";  // min is 2
  EXPECT_THAT(CheckAlgorithmTable({info}).message(),
              HasSubstr("default \"1\" is not an unsigned integer in [2, 100]"));
}

TEST(CheckAlgorithmTableTest, MinAboveMaxIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.params[0].min = 200;
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("min 200 > max 100"));
}

TEST(CheckAlgorithmTableTest, FractionalUnsignedBoundIsRefused) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.params[0].max = 99.5;
  EXPECT_THAT(CheckAlgorithmTable({info}).message(), HasSubstr("not a whole number"));
}

TEST(ParseCcSpecTest, TableThatSkippedTheCheckGetsAnErrorNotACrash) {
  CcAlgorithmInfo info = EveryKindInfo();
  info.params[0].default_value = "lots";
  const std::vector<CcAlgorithmInfo> table = {info};
  absl::StatusOr<ParsedCcSpec> parsed = ParseCcSpec("every_kind", table);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInternal);
}

// --- CreateCongestionControl / ValidateCongestionControlSpec -----------------

TEST(CreateCongestionControlTest, ValidateAgreesWithCreate) {
  for (std::string_view spec :
       {"fixed", "fixed:window=65536", "fixed:packets=8,rate=100", "", "fixed:", "nope",
        "fixed:window=-1", "fixed:window=1,window=2", "fixed:windw=1", "fixed:window",
        "fixed:window=65536,packets=16", "fixed :rate=1"}) {
    const absl::Status validated = ValidateCongestionControlSpec(spec);
    const absl::Status created = CreateCongestionControl(spec, CcContext{}).status();
    EXPECT_EQ(validated, created) << spec;
  }
}

TEST(CreateCongestionControlTest, ValidateRefusesWhatOnlyTheFactoryChecks) {
  // Each key alone is fine; the combination is refused by fixed's factory.
  EXPECT_TRUE(ParseCcSpec("fixed:window=65536,packets=16").ok());
  EXPECT_EQ(ValidateCongestionControlSpec("fixed:window=65536,packets=16").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CreateCongestionControlTest, ContextWithZeroMtuIsRefused) {
  CcContext context;
  context.mtu_bytes = 0;
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc = CreateCongestionControl("fixed", context);
  ASSERT_FALSE(cc.ok());
  EXPECT_THAT(cc.status().message(), HasSubstr("mtu_bytes"));
}

TEST(CreateCongestionControlTest, ContextWithNegativeBaseRttIsRefused) {
  CcContext context;
  context.base_rtt = Duration::Microseconds(-1);
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc = CreateCongestionControl("fixed", context);
  ASSERT_FALSE(cc.ok());
  EXPECT_THAT(cc.status().message(), HasSubstr("base_rtt"));
}

// --- DescribeAlgorithms ------------------------------------------------------

TEST(DescribeAlgorithmsTest, ListsNamesParametersDefaultsAndRanges) {
  const std::string help = DescribeAlgorithms();
  EXPECT_THAT(
      help, AllOf(HasSubstr("NAME:key=value"), HasSubstr("  fixed: constant window"),
                  HasSubstr("    window=0 "), HasSubstr("    packets=0 "), HasSubstr("    rate=0 "),
                  HasSubstr("expects an unsigned integer in [0, 1099511627776]")));
}

TEST(DescribeAlgorithmsTest, EndsWithNewlineAndHasNoBlankLines) {
  const std::string help = DescribeAlgorithms(TestTable());
  ASSERT_FALSE(help.empty());
  EXPECT_EQ(help.back(), '\n');
  EXPECT_THAT(help, Not(HasSubstr("\n\n")));
}

}  // namespace
}  // namespace tern
