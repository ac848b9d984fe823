// Tests of text.h's number parsers and spec splitting.

#include "transport/text.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace tern {
namespace {

TEST(ParseUnsignedTest, TakesOnlyWholeDecimalNumbersThatFit) {
  EXPECT_EQ(ParseUnsigned("0"), 0u);
  EXPECT_EQ(ParseUnsigned("18446744073709551615"), UINT64_MAX);
  for (std::string_view bad :
       {"", "+5", "-1", " 5", "5 ", "10x", "0x10", "1e3", "1.0", "18446744073709551616"}) {
    EXPECT_EQ(ParseUnsigned(bad), std::nullopt) << bad;
  }
}

TEST(ParseDoubleTest, TakesFiniteNumbersWithASignAndAnExponent) {
  double value = 0;
  ASSERT_TRUE(ParseDouble("-2.5e3", &value));
  EXPECT_EQ(value, -2500.0);
  ASSERT_TRUE(ParseDouble(".5", &value));
  EXPECT_EQ(value, 0.5);
  for (std::string_view bad : {"", "inf", "nan", "1e999", "0x10", "1.5 ", " 1", "2s", "+1"}) {
    EXPECT_FALSE(ParseDouble(bad, &value)) << bad;
  }
}

TEST(ParseNonNegativeDoubleTest, RefusesAnySign) {
  EXPECT_EQ(ParseNonNegativeDouble("2e6"), 2e6);
  EXPECT_EQ(ParseNonNegativeDouble("0.000002"), 0.000002);
  EXPECT_EQ(ParseNonNegativeDouble("0"), 0.0);
  for (std::string_view bad : {"", "-0", "-1", "+1", "inf", "nan", "1e999", "1,5"}) {
    EXPECT_EQ(ParseNonNegativeDouble(bad), std::nullopt) << bad;
  }
}

TEST(SplitKeyValuesTest, SplitsEachItemAtItsFirstEquals) {
  const std::vector<KeyValue> items = SplitKeyValues("loss=0.5,cc=dcqcn:g=0.5");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].item, "loss=0.5");
  EXPECT_EQ(items[0].key, "loss");
  EXPECT_EQ(items[0].value, "0.5");
  EXPECT_TRUE(items[0].has_equals);
  EXPECT_EQ(items[1].key, "cc");
  EXPECT_EQ(items[1].value, "dcqcn:g=0.5");
}

// Callers quote these in their errors, so each fault must be visible.
TEST(SplitKeyValuesTest, KeepsMalformedItemsForTheCaller) {
  const std::vector<KeyValue> items = SplitKeyValues("size,=4,size=,=");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_FALSE(items[0].has_equals);
  EXPECT_EQ(items[0].key, "size");  // the whole item, as item.substr(0, find('=')) gave
  EXPECT_EQ(items[0].value, "");
  EXPECT_TRUE(items[1].has_equals);
  EXPECT_EQ(items[1].key, "");
  EXPECT_EQ(items[1].value, "4");
  EXPECT_TRUE(items[2].has_equals);
  EXPECT_EQ(items[2].key, "size");
  EXPECT_EQ(items[2].value, "");
  EXPECT_TRUE(items[3].has_equals);
  EXPECT_EQ(items[3].item, "=");
  EXPECT_EQ(items[3].key, "");
  EXPECT_EQ(items[3].value, "");
}

TEST(SplitKeyValuesTest, KeepsEmptyItemsLikeSplitText) {
  const std::vector<KeyValue> items = SplitKeyValues(",a=1,,");
  ASSERT_EQ(items.size(), 4u);
  for (size_t i : {0u, 2u, 3u}) {
    EXPECT_EQ(items[i].item, "") << i;
    EXPECT_FALSE(items[i].has_equals) << i;
  }
  EXPECT_EQ(items[1].key, "a");

  const std::vector<KeyValue> empty = SplitKeyValues("");
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].item, "");
}

// The pieces are views into the spec, valid as long as the spec is.
TEST(SplitKeyValuesTest, PiecesPointIntoTheSpec) {
  const std::string_view spec = "a=1,bb=22";
  const std::vector<KeyValue> items = SplitKeyValues(spec);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].item.data(), spec.data() + 4);
  EXPECT_EQ(items[1].key.data(), spec.data() + 4);
  EXPECT_EQ(items[1].value.data(), spec.data() + 7);
}

}  // namespace
}  // namespace tern
