// Tests of text.h's spec splitting.

#include "transport/text.h"

#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace tern {
namespace {

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
